// Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
// Load Balancer", NSDI '16, §3.4): a lookup table of M entries (M prime) filled by letting
// each backend claim entries in the order of its own permutation of 0..M-1, round robin.
// Every backend gets M/N entries (±1), and when a backend is added or removed only about
// 1/N of the entries change owner, so most new flows keep hashing to the same backend.

/** FNV-1a over the text, from `seed` (distinct seeds give the paper's two hash functions). */
export function fnv1a(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // A final avalanche so short names that differ in one character spread over M.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  return h >>> 0;
}

export function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/**
 * Fills `table` (length M, prime) with indices into `names` (the backends' names, which
 * seed their permutations). An empty list fills it with -1.
 */
export function populate(names: readonly string[], table: Int32Array): void {
  const m = table.length;
  const n = names.length;
  table.fill(-1);
  if (n === 0) return;
  const offset = new Float64Array(n);
  const skip = new Float64Array(n);
  const next = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    offset[i] = fnv1a(names[i], 0x5bd1e995) % m;
    skip[i] = (fnv1a(names[i], 0x1b873593) % (m - 1)) + 1;
  }
  let filled = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      let c = (offset[i] + next[i] * skip[i]) % m;
      while (table[c] >= 0) {
        next[i]++;
        c = (offset[i] + next[i] * skip[i]) % m;
      }
      table[c] = i;
      next[i]++;
      if (++filled === m) return;
    }
  }
}
