// The fuzzer's only source of randomness: a small seeded PRNG (sfc32, seeded through
// splitmix32), so a run is fully determined by its seed. Every case gets its own generator,
// seeded from (run seed, target name, case index), so case i of seed S is the same bytes
// whatever ran before it, and `--from i --cases 1` replays exactly one case.

/** splitmix32 step: a well-mixed 32-bit value from a 32-bit state (Vigna's splitmix, 32-bit variant). */
export function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** FNV-1a of a string: a stable 32-bit tag for a target name. */
export function hashName(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The seed of case `index` of target `target` in a run with seed `seed`. */
export function caseSeed(seed: number, target: string, index: number): number {
  return mix32(mix32(seed ^ hashName(target)) ^ mix32(index));
}

/** sfc32 (Chris Doty-Humphrey's Small Fast Counting generator): 32-bit output, 128-bit state. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = mix32(seed);
    this.b = mix32(this.a ^ 0x5bd1e995);
    this.c = mix32(this.b ^ 0x27d4eb2f);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** Uniform unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform integer in [0, n) (n >= 1, n <= 2^32). */
  below(n: number): number {
    return Math.floor((this.u32() / 4294967296) * n);
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }

  bool(): boolean {
    return (this.u32() & 1) === 1;
  }

  byte(): number {
    return this.u32() & 0xff;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }

  /** Picks by weight: `[[weight, value], ...]`. */
  weighted<T>(items: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of items) total += w;
    let r = (this.u32() / 4294967296) * total;
    for (const [w, v] of items) {
      if (r < w) return v;
      r -= w;
    }
    return items[items.length - 1][1];
  }

  /** n random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** An integer biased towards small values: about half below 2^(bits/2). */
  small(max: number): number {
    const bits = 1 + this.below(Math.max(1, Math.ceil(Math.log2(max + 1))));
    return Math.min(max, this.below(2 ** bits));
  }
}
