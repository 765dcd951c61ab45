// A connection table for the stateful NFs (firewall state, NAT mappings, load-balancer
// connections): exact match on (IP version, protocol, source, destination, ports), with an
// expiry time per entry. Open addressing with linear probing over typed arrays, so a lookup
// or insert allocates nothing; at most `probe` slots are examined, after which the table
// counts as full for that key (the caller counts it and decides).
//
// Entries are never unlinked: an expired entry keeps its key so probe chains stay intact,
// and is reused by the next insert that passes it. The caller keeps its own per-entry data
// in arrays indexed by slot and, when `reused` is set after an insert, releases what the
// expired entry held (a NAT port, say) before overwriting it.
import { dstAddrWord, srcAddrWord } from '../../src/proto/parse.js';

/** Words per key: info (version << 8 | proto), ports (a << 16 | b), 4 source, 4 destination. */
const KW = 10;
const MAX_PROBE = 32;

export class ConnTable {
  readonly cap: number;
  private readonly mask: number;
  private readonly probe: number;
  /** Key words per slot. */
  readonly keys: Int32Array;
  /** 0: never used (ends a probe chain), 1: used (live until `expires`). */
  readonly used: Uint8Array;
  readonly expires: Float64Array;
  /** The key that find/insert work on; fill with setKey/setKeyFromPacket. */
  readonly k = new Int32Array(KW);
  /** Set by insert when it overwrote an expired entry. */
  reused = false;
  /** Slots taken over the table's life that were never used before (a gauge of fill). */
  filled = 0;

  constructor(capacity: number) {
    if ((capacity & (capacity - 1)) !== 0 || capacity < 1) throw new Error(`ConnTable capacity ${capacity} must be a power of two`);
    this.cap = capacity;
    this.mask = capacity - 1;
    this.probe = Math.min(MAX_PROBE, capacity);
    this.keys = new Int32Array(capacity * KW);
    this.used = new Uint8Array(capacity);
    this.expires = new Float64Array(capacity);
  }

  /**
   * Loads the key from a parsed packet's addresses (IP header at `l3`), as seen (`reverse`
   * false) or as its reply would carry them (`reverse` true: source and destination swapped,
   * and the two ports swapped).
   */
  setKeyFromPacket(u8: Uint8Array, l3: number, v: number, proto: number, a: number, b: number, reverse: boolean): void {
    const k = this.k;
    k[0] = (v << 8) | proto;
    k[1] = reverse ? (b << 16) | a : (a << 16) | b;
    for (let w = 0; w < 4; w++) {
      const s = w === 0 || v === 6 ? srcAddrWord(u8, l3, v, w) | 0 : 0;
      const d = w === 0 || v === 6 ? dstAddrWord(u8, l3, v, w) | 0 : 0;
      k[2 + w] = reverse ? d : s;
      k[6 + w] = reverse ? s : d;
    }
  }

  /** Sets the key from values (IPv4: only word 0 of each address is used). */
  setKey(v: number, proto: number, a: number, b: number, src: ArrayLike<number>, dst: ArrayLike<number>): void {
    const k = this.k;
    k[0] = (v << 8) | proto;
    k[1] = (a << 16) | b;
    for (let w = 0; w < 4; w++) {
      k[2 + w] = w === 0 || v === 6 ? src[w] | 0 : 0;
      k[6 + w] = w === 0 || v === 6 ? dst[w] | 0 : 0;
    }
  }

  /** 32-bit hash of the current key (murmur3's finaliser over a word-wise mix). */
  hash(): number {
    const k = this.k;
    let h = 0x9747b28c;
    for (let i = 0; i < KW; i++) {
      let x = Math.imul(k[i], 0xcc9e2d51);
      x = (x << 15) | (x >>> 17);
      h ^= Math.imul(x, 0x1b873593);
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  private same(e: number): boolean {
    const k = this.k;
    const o = e * KW;
    const keys = this.keys;
    for (let i = 0; i < KW; i++) if (keys[o + i] !== k[i]) return false;
    return true;
  }

  /** Slot of the live entry (expires > now) with the current key, or -1. */
  find(now: number): number {
    let e = this.hash() & this.mask;
    for (let n = 0; n < this.probe; n++) {
      if (this.used[e] === 0) return -1;
      if (this.expires[e] > now && this.same(e)) return e;
      e = (e + 1) & this.mask;
    }
    return -1;
  }

  /**
   * Stores the current key (call after find returned -1) in the first never-used or expired
   * slot of its probe chain, expiring at `expires`. Returns the slot, or -1 when every slot
   * examined is live (table full for this key).
   */
  insert(now: number, expires: number): number {
    let e = this.hash() & this.mask;
    for (let n = 0; n < this.probe; n++) {
      const fresh = this.used[e] === 0;
      if (fresh || this.expires[e] <= now) {
        this.reused = !fresh;
        if (fresh) this.filled++;
        this.used[e] = 1;
        this.expires[e] = expires;
        this.keys.set(this.k, e * KW);
        return e;
      }
      e = (e + 1) & this.mask;
    }
    return -1;
  }

  /** Key word i (0..9) of slot e: 0 info, 1 ports, 2..5 source, 6..9 destination. */
  keyWord(e: number, i: number): number {
    return this.keys[e * KW + i];
  }

  /** Live entries at `now` (a scan: reports and tests only). */
  live(now: number): number {
    let n = 0;
    for (let e = 0; e < this.cap; e++) if (this.used[e] === 1 && this.expires[e] > now) n++;
    return n;
  }
}
