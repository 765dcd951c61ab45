// A fixed-capacity flow table for NFs that keep per-flow state (rate limiter, payload
// scanner, flow tracker): the key is taken from a parsed IPv4/IPv6 packet — IP version,
// protocol, addresses and ports, or a subset of them — and each flow gets an entry index
// 0..capacity-1 that the NF uses to index its own typed arrays of state.
//
// Hot path: keys live in typed arrays, buckets are chained through an index array with a
// free list (so entries can be removed, unlike the monitor's open addressing), lookups and
// inserts allocate nothing and never throw. A full table is a counter (`full`), not an error.
//
// A symmetric table puts both directions of a conversation in one entry (the endpoints are
// ordered, as conntrack does) and reports after each lookup which direction the packet went
// relative to the flow's first packet.
import { formatIpv4, formatIpv6 } from '../proto/address.js';
import { dstAddrWord, srcAddrWord, type ParsedPacket } from '../proto/parse.js';

/** Key fields (bit mask). The IP version is always part of the key. */
export const KEY_SRC_ADDR = 1;
export const KEY_DST_ADDR = 2;
export const KEY_SRC_PORT = 4;
export const KEY_DST_PORT = 8;
export const KEY_PROTO = 16;
/** The classic 5-tuple: addresses, ports and protocol. */
export const KEY_5TUPLE = 31;

export interface FlowKeyText {
  ipVersion: number;
  proto: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
}

/** murmur3's 32-bit finaliser: every input bit affects every output bit. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

export class FlowTable {
  readonly capacity: number;
  readonly fields: number;
  readonly symmetric: boolean;
  /** 1 where an entry is in use (iterate 0..capacity-1 for sweeps). */
  readonly used: Uint8Array;
  /** Flows in the table. */
  size = 0;
  /** Lookups that wanted to insert and found no free entry. */
  full = 0;
  /** After a lookup that found or made an entry: 0 if the packet goes the way the flow's
   *  first packet went, 1 if it goes the other way (always 0 in a directional table). */
  direction = 0;
  /** After a lookup: true if the entry was just created. */
  isNew = false;
  private readonly mask: number;
  private readonly buckets: Int32Array;
  private readonly next: Int32Array;
  private freeHead: number;
  private readonly kHash: Int32Array;
  /** ipVersion << 8 | protocol. */
  private readonly kInfo: Int32Array;
  /** portA << 16 | portB. */
  private readonly kPorts: Int32Array;
  /** Four words per entry per endpoint (IPv4 uses the first). A is the lower endpoint in a symmetric table. */
  private readonly kA: Int32Array;
  private readonly kB: Int32Array;
  /** Symmetric: 1 when the flow's first packet went from A to B. */
  private readonly aFirst: Uint8Array;
  private readonly s = new Int32Array(4);
  private readonly d = new Int32Array(4);

  /**
   * @param capacity entries (1..2^22)
   * @param fields which fields make the key (KEY_* bits)
   * @param symmetric both directions share an entry
   */
  constructor(capacity: number, fields = KEY_5TUPLE, symmetric = false) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 22)
      throw new RangeError(`flow table capacity ${capacity}: 1..4194304`);
    this.capacity = capacity;
    this.fields = fields;
    this.symmetric = symmetric;
    let nb = 1;
    while (nb < capacity) nb <<= 1;
    this.mask = nb - 1;
    this.buckets = new Int32Array(nb).fill(-1);
    this.next = new Int32Array(capacity);
    this.used = new Uint8Array(capacity);
    this.kHash = new Int32Array(capacity);
    this.kInfo = new Int32Array(capacity);
    this.kPorts = new Int32Array(capacity);
    this.kA = new Int32Array(capacity * 4);
    this.kB = new Int32Array(capacity * 4);
    this.aFirst = new Uint8Array(capacity);
    this.freeHead = 0;
    for (let e = 0; e < capacity; e++) this.next[e] = e + 1 < capacity ? e + 1 : -1;
  }

  /**
   * The entry of the flow of `p` (a packet parsed ok with ipVersion 4 or 6, from `u8`), or
   * -1 when it has none and `insert` is false or the table is full. Sets `direction` and
   * `isNew`.
   */
  lookup(u8: Uint8Array, p: ParsedPacket, insert: boolean): number {
    const v = p.ipVersion;
    const l3 = p.l3Offset;
    const f = this.fields;
    const s = this.s;
    const d = this.d;
    const words = v === 4 ? 1 : 4;
    const useS = (f & KEY_SRC_ADDR) !== 0;
    const useD = (f & KEY_DST_ADDR) !== 0;
    for (let w = 0; w < 4; w++) {
      s[w] = useS && w < words ? srcAddrWord(u8, l3, v, w) | 0 : 0;
      d[w] = useD && w < words ? dstAddrWord(u8, l3, v, w) | 0 : 0;
    }
    const sp = (f & KEY_SRC_PORT) !== 0 ? p.srcPort : 0;
    const dp = (f & KEY_DST_PORT) !== 0 ? p.dstPort : 0;
    const proto = (f & KEY_PROTO) !== 0 ? p.l4Proto : 0;
    let aIsSrc = true;
    if (this.symmetric) {
      // Order the endpoints (address as unsigned words, then port): both directions give one key.
      let cmp = 0;
      for (let w = 0; w < 4 && cmp === 0; w++) if (s[w] !== d[w]) cmp = s[w] >>> 0 < d[w] >>> 0 ? -1 : 1;
      if (cmp === 0) cmp = sp < dp ? -1 : sp > dp ? 1 : 0;
      aIsSrc = cmp <= 0;
    }
    const a = aIsSrc ? s : d;
    const b = aIsSrc ? d : s;
    const info = (v << 8) | proto;
    const ports = aIsSrc ? (sp << 16) | dp : (dp << 16) | sp;
    let h = fmix(info ^ 0x5bd1e995);
    h = fmix(h ^ ports);
    for (let w = 0; w < words; w++) h = fmix(h ^ Math.imul(a[w], 0x9e3779b1) ^ b[w]);
    const bucket = h & this.mask;
    const kA = this.kA;
    const kB = this.kB;
    for (let e = this.buckets[bucket]; e >= 0; e = this.next[e]) {
      if (this.kHash[e] !== h || this.kInfo[e] !== info || this.kPorts[e] !== ports) continue;
      const e4 = e << 2;
      if (kA[e4] !== a[0] || kB[e4] !== b[0] || kA[e4 + 1] !== a[1] || kB[e4 + 1] !== b[1]) continue;
      if (kA[e4 + 2] !== a[2] || kB[e4 + 2] !== b[2] || kA[e4 + 3] !== a[3] || kB[e4 + 3] !== b[3]) continue;
      this.isNew = false;
      this.direction = (this.aFirst[e] === 1) === aIsSrc ? 0 : 1;
      return e;
    }
    this.isNew = false;
    if (!insert) return -1;
    const e = this.freeHead;
    if (e < 0) {
      this.full++;
      return -1;
    }
    this.freeHead = this.next[e];
    this.next[e] = this.buckets[bucket];
    this.buckets[bucket] = e;
    this.used[e] = 1;
    this.kHash[e] = h;
    this.kInfo[e] = info;
    this.kPorts[e] = ports;
    const e4 = e << 2;
    for (let w = 0; w < 4; w++) {
      kA[e4 + w] = a[w];
      kB[e4 + w] = b[w];
    }
    this.aFirst[e] = aIsSrc ? 1 : 0;
    this.size++;
    this.isNew = true;
    this.direction = 0;
    return e;
  }

  /** Removes entry `e` (a no-op for a free entry). Its index may be handed out again. */
  remove(e: number): void {
    if (e < 0 || e >= this.capacity || this.used[e] === 0) return;
    const bucket = this.kHash[e] & this.mask;
    let prev = -1;
    for (let x = this.buckets[bucket]; x >= 0; prev = x, x = this.next[x]) {
      if (x !== e) continue;
      if (prev < 0) this.buckets[bucket] = this.next[x];
      else this.next[prev] = this.next[x];
      break;
    }
    this.used[e] = 0;
    this.next[e] = this.freeHead;
    this.freeHead = e;
    this.size--;
  }

  /** Empties the table. */
  clear(): void {
    for (let e = 0; e < this.capacity; e++) if (this.used[e] === 1) this.remove(e);
    this.full = 0;
  }

  /** The flow's key as text, in the direction of its first packet (off the hot path). */
  describe(e: number): FlowKeyText {
    const info = this.kInfo[e];
    const v = info >>> 8;
    const e4 = e << 2;
    const fmt = (arr: Int32Array): string => {
      if (v === 4) return formatIpv4(arr[e4] >>> 0);
      const b = new Uint8Array(16);
      for (let w = 0; w < 4; w++) {
        const x = arr[e4 + w];
        b[w * 4] = x >>> 24;
        b[w * 4 + 1] = x >>> 16;
        b[w * 4 + 2] = x >>> 8;
        b[w * 4 + 3] = x;
      }
      return formatIpv6(b);
    };
    const A = fmt(this.kA);
    const B = fmt(this.kB);
    const pa = this.kPorts[e] >>> 16;
    const pb = this.kPorts[e] & 0xffff;
    const aFirst = this.aFirst[e] === 1;
    return {
      ipVersion: v,
      proto: info & 0xff,
      src: aFirst ? A : B,
      dst: aFirst ? B : A,
      srcPort: aFirst ? pa : pb,
      dstPort: aFirst ? pb : pa,
    };
  }
}
