// Multi-pattern byte matching: Aho–Corasick (Aho & Corasick, "Efficient string matching: an
// aid to bibliographic search", CACM 18(6), 1975), compiled to a deterministic automaton so a
// scan is one table lookup per byte with no failure-link walking.
//
// Build (setup, allocates freely): a trie of the patterns; failure links by breadth-first
// search (the failure of a node is the longest proper suffix of its string that is also a
// trie path); then the full transition function δ(s, c) = goto(s, c) if defined, else
// δ(fail(s), c). A state's output is the lowest pattern id ending there or at any state on its
// failure chain, so a scan can stop at the first byte where some pattern ends.
//
// Size: bytes that occur in no pattern all behave alike, so the table has one column per
// distinct pattern byte plus one for "any other byte" (an alphabet compression), not 256.
//
// Case-insensitive mode folds ASCII letters only (A–Z = a–z), as `grep -i` does in the C locale.

/** Most table entries (states × byte classes) allowed: 16 MiB of Int32. */
export const MAX_TABLE_ENTRIES = 1 << 22;

const foldAscii = (b: number): number => (b >= 0x41 && b <= 0x5a ? b + 32 : b);

export class AhoCorasick {
  /** Byte → column. */
  readonly classOf = new Uint8Array(256);
  readonly classes: number;
  readonly states: number;
  /** δ as states × classes. */
  readonly delta: Int32Array;
  /** Per state: the lowest pattern id that ends here (directly or by a suffix), or -1. */
  readonly output: Int32Array;
  readonly patternCount: number;

  constructor(patterns: readonly Uint8Array[], caseInsensitive: boolean) {
    if (patterns.length === 0) throw new RangeError('Aho-Corasick needs at least one pattern');
    const fold = caseInsensitive ? foldAscii : (b: number): number => b;
    // Columns: one per distinct (folded) byte in the patterns; column 0 is every other byte.
    const col = new Int32Array(256).fill(0);
    let classes = 1;
    for (const p of patterns) {
      if (p.length === 0) throw new RangeError('empty pattern');
      for (const b of p) {
        const f = fold(b);
        if (col[f] === 0) col[f] = classes++;
      }
    }
    for (let b = 0; b < 256; b++) this.classOf[b] = col[fold(b)];
    if (classes > 256) throw new RangeError('too many byte classes');
    this.classes = classes;

    // Trie, with per-node child maps (column → node).
    const children: Map<number, number>[] = [new Map()];
    const out: number[] = [-1];
    patterns.forEach((p, id) => {
      let s = 0;
      for (const b of p) {
        const c = col[fold(b)];
        let t = children[s].get(c);
        if (t === undefined) {
          t = children.length;
          children.push(new Map());
          out.push(-1);
          children[s].set(c, t);
        }
        s = t;
      }
      if (out[s] < 0 || id < out[s]) out[s] = id;
    });
    const n = children.length;
    if (n * classes > MAX_TABLE_ENTRIES)
      throw new RangeError(`the patterns need ${n} states × ${classes} byte classes, more than ${MAX_TABLE_ENTRIES} table entries`);
    this.states = n;
    const delta = new Int32Array(n * classes);
    const fail = new Int32Array(n);
    const output = Int32Array.from(out);
    // BFS: the root's missing transitions loop back to it; depth-1 nodes fail to the root.
    const queue = new Int32Array(n);
    let qh = 0;
    let qt = 0;
    for (let c = 0; c < classes; c++) {
      const t = children[0].get(c);
      if (t === undefined) delta[c] = 0;
      else {
        delta[c] = t;
        fail[t] = 0;
        queue[qt++] = t;
      }
    }
    while (qh < qt) {
      const s = queue[qh++];
      const f = fail[s];
      // A pattern ending at a suffix of s also ends at s.
      const fo = output[f];
      if (fo >= 0 && (output[s] < 0 || fo < output[s])) output[s] = fo;
      for (let c = 0; c < classes; c++) {
        const t = children[s].get(c);
        if (t === undefined) delta[s * classes + c] = delta[f * classes + c];
        else {
          delta[s * classes + c] = t;
          fail[t] = delta[f * classes + c];
          queue[qt++] = t;
        }
      }
    }
    this.delta = delta;
    this.output = output;
    this.patternCount = patterns.length;
  }

  /**
   * Scans u8[from, to) from the start state. Returns the id of the first pattern found — the
   * one ending earliest; among those ending at the same byte, the lowest id — or -1.
   */
  scan(u8: Uint8Array, from: number, to: number): number {
    const delta = this.delta;
    const output = this.output;
    const classOf = this.classOf;
    const nc = this.classes;
    let s = 0;
    for (let i = from; i < to; i++) {
      s = delta[s * nc + classOf[u8[i]]];
      const o = output[s];
      if (o >= 0) return o;
    }
    return -1;
  }
}
