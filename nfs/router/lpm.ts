// Longest-prefix match for IPv4 and IPv6: a multibit trie with a 16-bit first stride and
// 8-bit strides after it (as DPDK's rte_lpm DIR-24-8 and rte_lpm6, with a smaller first
// level), built by controlled prefix expansion. A lookup is one array read per stride that
// the address needs: 1 to 3 for IPv4, 1 to 15 for IPv6; no allocation.
//
// Entry encoding: 0 = no route, n > 0 = route n - 1, n < 0 = a child table at offset -n.
// Each entry also remembers the length of the prefix that set it, so prefixes may be inserted
// in any order: a longer prefix is never overwritten by a shorter one.

const ROOT_BITS = 16;
const ROOT_SIZE = 1 << ROOT_BITS;
const CHILD_SIZE = 256;

export class Lpm {
  /** 32 (IPv4) or 128 (IPv6). */
  readonly bits: number;
  private tab: Int32Array;
  private depth: Uint8Array;
  private used = ROOT_SIZE;
  /** Routes inserted. */
  size = 0;

  constructor(bits: 32 | 128) {
    this.bits = bits;
    this.tab = new Int32Array(ROOT_SIZE + 16 * CHILD_SIZE);
    this.depth = new Uint8Array(this.tab.length);
  }

  /** Child tables allocated (a memory gauge: 1 KiB each, after the 256 KiB root). */
  get childTables(): number {
    return (this.used - ROOT_SIZE) / CHILD_SIZE;
  }

  /**
   * Adds `bytes` (4 or 16 network-order bytes)/`len` → route id `id` (0-based). A second
   * route for the same prefix replaces the first.
   */
  insert(bytes: ArrayLike<number>, len: number, id: number): void {
    if (len < 0 || len > this.bits) throw new Error(`prefix length ${len} out of 0..${this.bits}`);
    this.size++;
    this.fill(0, 0, bytes, len, id + 1);
  }

  private alloc(): number {
    if (this.used + CHILD_SIZE > this.tab.length) {
      const t = new Int32Array(this.tab.length * 2);
      t.set(this.tab);
      const d = new Uint8Array(t.length);
      d.set(this.depth);
      this.tab = t;
      this.depth = d;
    }
    const off = this.used;
    this.used += CHILD_SIZE;
    return off;
  }

  private fill(off: number, level: number, bytes: ArrayLike<number>, len: number, value: number): void {
    const start = level === 0 ? 0 : ROOT_BITS + 8 * (level - 1);
    const stride = level === 0 ? ROOT_BITS : 8;
    const end = start + stride;
    const idx = level === 0 ? (bytes[0] << 8) | bytes[1] : bytes[level + 1];
    if (len <= end) {
      // The prefix ends in this table: it covers 2^(end - len) consecutive entries.
      const span = 1 << (end - len);
      const base = idx & ~(span - 1);
      for (let e = base; e < base + span; e++) this.setLeaf(off + e, len, value);
      return;
    }
    const pos = off + idx;
    let child = -this.tab[pos];
    if (child <= 0) {
      // Expand: the new table inherits this entry's route for the addresses it covers.
      child = this.alloc();
      const v = this.tab[pos];
      const d = this.depth[pos];
      for (let e = 0; e < CHILD_SIZE; e++) {
        this.tab[child + e] = v;
        this.depth[child + e] = d;
      }
      this.tab[pos] = -child;
    }
    this.fill(child, level + 1, bytes, len, value);
  }

  private setLeaf(pos: number, len: number, value: number): void {
    const v = this.tab[pos];
    if (v < 0) {
      const child = -v;
      for (let e = 0; e < CHILD_SIZE; e++) this.setLeaf(child + e, len, value);
    } else if (this.depth[pos] <= len) {
      this.tab[pos] = value;
      this.depth[pos] = len;
    }
  }

  /** Route id for an IPv4 address (unsigned 32-bit), or -1. */
  lookup4(addr: number): number {
    const tab = this.tab;
    let v = tab[addr >>> 16];
    if (v >= 0) return v - 1;
    v = tab[-v + ((addr >>> 8) & 0xff)];
    if (v >= 0) return v - 1;
    return tab[-v + (addr & 0xff)] - 1;
  }

  /** Route id for the 16-byte IPv6 address at u8[off], or -1. */
  lookup6(u8: Uint8Array, off: number): number {
    const tab = this.tab;
    let v = tab[(u8[off] << 8) | u8[off + 1]];
    let k = 2;
    while (v < 0) v = tab[-v + u8[off + k++]];
    return v - 1;
  }
}
