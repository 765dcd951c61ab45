// The flow director: for each packet from a port, a symmetric Toeplitz hash of its 5-tuple
// (the port's own hash when it has one, as a NIC's RSS gives), an exact-match flow-table
// lookup, and on a miss the first matching rule's chain (or the default chain). The flow
// table lives in the shared region (layout F_*), written only by the manager.
import { F_CHAIN, F_DST, F_HASH, F_HITS, F_KEYINFO, F_PORTS, F_SRC, F_STATE, flowEntryI32, type Layout } from '../core/layout.js';
import { ParsedPacket, parsePacket } from '../proto/parse.js';
import { SYMMETRIC_RSS_KEY, Toeplitz } from '../proto/toeplitz.js';

/** A rule as the config resolves it (see src/config/types.ts). */
export interface RuleInput {
  match: {
    inPort?: number;
    ipVersion?: 4 | 6;
    src?: { version: 4 | 6; addr: ArrayLike<number>; prefixLen: number };
    dst?: { version: 4 | 6; addr: ArrayLike<number>; prefixLen: number };
    proto?: number;
    srcPort?: readonly [number, number];
    dstPort?: readonly [number, number];
  };
  chain: number;
}

interface Prefix {
  version: 4 | 6;
  bytes: Uint8Array;
  len: number;
}

interface CompiledRule {
  inPort: number;
  ipVersion: number;
  src: Prefix | null;
  dst: Prefix | null;
  proto: number;
  sLo: number;
  sHi: number;
  dLo: number;
  dHi: number;
  chain: number;
}

const PROBE = 8;
/** F_KEYINFO bit for a non-first fragment (above ipVersion << 16 | proto << 8 | inPort). */
const KEY_LATER_FRAGMENT = 1 << 20;

function prefix(p: RuleInput['match']['src']): Prefix | null {
  if (p === undefined) return null;
  const n = p.version === 4 ? 4 : 16;
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = p.addr[i] ?? 0;
  return { version: p.version, bytes, len: p.prefixLen };
}

function prefixMatch(pr: Prefix, u8: Uint8Array, off: number): boolean {
  let bits = pr.len;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((u8[off + i] & mask) !== (pr.bytes[i] & mask)) return false;
  }
  return true;
}

export class Classifier {
  private rules: CompiledRule[] = [];
  private defaultChain = -1;
  private readonly toeplitz = new Toeplitz(SYMMETRIC_RSS_KEY);
  /** Parsed headers of the packet being classified (one object, reused). */
  readonly parsed = new ParsedPacket();
  private readonly i32: Int32Array;
  private readonly layout: Layout;
  private readonly mask: number;
  private readonly entryBase: number;
  private readonly entryWords: number;
  private generation = 1;
  /** Flow-table statistics. */
  hits = 0;
  misses = 0;
  evictions = 0;
  parseErrors = 0;

  constructor(i32: Int32Array, layout: Layout) {
    this.i32 = i32;
    this.layout = layout;
    this.mask = layout.params.flowEntries - 1;
    this.entryBase = flowEntryI32(layout, 0);
    this.entryWords = flowEntryI32(layout, 1) - this.entryBase;
  }

  /** Replaces the rules and default chain; cached decisions are forgotten. */
  setRules(rules: readonly RuleInput[], defaultChain: number): void {
    this.rules = rules.map((r) => ({
      inPort: r.match.inPort ?? -1,
      ipVersion: r.match.ipVersion ?? 0,
      src: prefix(r.match.src),
      dst: prefix(r.match.dst),
      proto: r.match.proto ?? -1,
      sLo: r.match.srcPort?.[0] ?? 0,
      sHi: r.match.srcPort?.[1] ?? 65535,
      dLo: r.match.dstPort?.[0] ?? 0,
      dHi: r.match.dstPort?.[1] ?? 65535,
      chain: r.chain,
    }));
    this.defaultChain = defaultChain;
    // Bumping the generation empties the table without touching it (entries of an older
    // generation are treated as free).
    this.generation = (this.generation % 0x7ffffffe) + 1;
  }

  /**
   * Classifies the packet at u8[off, off+len) from `inPort`. `portHash` is the port's hash when
   * `hasHash` (any 32-bit value: a Toeplitz hash may have its top bit set).
   * Returns the chain id (-1: no chain, drop) and leaves the flow hash in `lastHash`.
   */
  lastHash = 0;
  classify(u8: Uint8Array, off: number, len: number, inPort: number, hasHash: boolean, portHash: number): number {
    // Fast path for most traffic: an untagged IPv4 packet without options, not a fragment,
    // TCP or UDP, whose flow is in the table. Reads the 5-tuple straight from its fixed
    // offsets (RFC 791 3.1, RFC 768, RFC 9293 3.1) and returns on a hit; everything else —
    // and every miss — takes the full parse below.
    if (len >= 54 && u8[off + 12] === 0x08 && u8[off + 13] === 0 && u8[off + 14] === 0x45) {
      const proto = u8[off + 23];
      const totalLen = (u8[off + 16] << 8) | u8[off + 17];
      if ((proto === 6 || proto === 17) && (u8[off + 20] & 0x3f) === 0 && u8[off + 21] === 0 && totalLen >= 40 && totalLen <= len - 14) {
        const src = ipv4At(u8, off + 26);
        const dst = ipv4At(u8, off + 30);
        const ports = ipv4At(u8, off + 34);
        const h = hasHash ? portHash : this.toeplitz.hashIpv4(src, dst, ports >>> 16, ports & 0xffff);
        this.lastHash = h;
        const keyinfo = (4 << 16) | (proto << 8) | (inPort & 0xff);
        const i32 = this.i32;
        const gen = this.generation;
        for (let k = 0; k < PROBE; k++) {
          const e = this.entryBase + ((h + k) & this.mask) * this.entryWords;
          if (i32[e + F_STATE] !== gen || i32[e + F_HASH] !== (h | 0)) continue;
          if (i32[e + F_KEYINFO] !== keyinfo || i32[e + F_PORTS] !== ports || i32[e + F_SRC] !== src || i32[e + F_DST] !== dst) continue;
          this.hits++;
          return i32[e + F_CHAIN];
        }
      }
    }
    return this.classifySlow(u8, off, len, inPort, hasHash, portHash);
  }

  private classifySlow(u8: Uint8Array, off: number, len: number, inPort: number, hasHash: boolean, portHash: number): number {
    const p = this.parsed;
    if (!parsePacket(u8, off, len, p) && p.ipVersion === 0) this.parseErrors++;
    const v = p.ipVersion;
    let h = portHash;
    if (!hasHash) {
      // Every fragment of a datagram must reach the same instance, and only the first carries
      // ports: fragments hash on the addresses alone (ports 0 add nothing to a Toeplitz hash),
      // as toeplitz.ts hashFromPacket defines the RSS hash.
      const sp = p.fragment ? 0 : p.srcPort;
      const dp = p.fragment ? 0 : p.dstPort;
      if (v === 4) h = this.toeplitz.hashIpv4(ipv4At(u8, p.l3Offset + 12), ipv4At(u8, p.l3Offset + 16), sp, dp);
      else if (v === 6) h = this.toeplitz.hashIpv6(u8, p.l3Offset + 8, p.l3Offset + 24, sp, dp);
      else h = 0;
    }
    this.lastHash = h;
    if (v === 0) return this.evaluate(u8, inPort);
    // Exact-match lookup over the window of PROBE entries starting at the hash's bucket.
    const i32 = this.i32;
    // A later fragment (no ports: port rules skip it) must not share an entry with a packet of
    // the same addresses whose ports read 0 (port rules apply to it): the key says which it is.
    const keyinfo = (v << 16) | (p.l4Proto << 8) | (inPort & 0xff) | (p.fragOffset !== 0 ? KEY_LATER_FRAGMENT : 0);
    const ports = (p.srcPort << 16) | p.dstPort;
    const words = v === 4 ? 1 : 4;
    const sOff = p.l3Offset + (v === 4 ? 12 : 8);
    const dOff = p.l3Offset + (v === 4 ? 16 : 24);
    let free = -1;
    for (let k = 0; k < PROBE; k++) {
      const e = flowEntryI32(this.layout, (h + k) & this.mask);
      if (i32[e + F_STATE] !== this.generation) {
        if (free < 0) free = e;
        continue;
      }
      if (i32[e + F_HASH] !== (h | 0) || i32[e + F_KEYINFO] !== keyinfo || i32[e + F_PORTS] !== ports) continue;
      let same = true;
      for (let w = 0; w < words && same; w++) {
        same = i32[e + F_SRC + w] === ipv4At(u8, sOff + 4 * w) && i32[e + F_DST + w] === ipv4At(u8, dOff + 4 * w);
      }
      if (!same) continue;
      this.hits++;
      return i32[e + F_CHAIN];
    }
    this.misses++;
    const chain = this.evaluate(u8, inPort);
    if (free < 0) {
      free = flowEntryI32(this.layout, h & this.mask);
      this.evictions++;
    }
    i32[free + F_HASH] = h | 0;
    i32[free + F_KEYINFO] = keyinfo;
    i32[free + F_PORTS] = ports;
    for (let w = 0; w < 4; w++) {
      i32[free + F_SRC + w] = w < words ? ipv4At(u8, sOff + 4 * w) : 0;
      i32[free + F_DST + w] = w < words ? ipv4At(u8, dOff + 4 * w) : 0;
    }
    i32[free + F_CHAIN] = chain;
    i32[free + F_HITS] = 1;
    i32[free + F_STATE] = this.generation;
    return chain;
  }

  /** First matching rule wins; else the default chain. */
  private evaluate(u8: Uint8Array, inPort: number): number {
    const p = this.parsed;
    const v = p.ipVersion;
    for (const r of this.rules) {
      if (r.inPort >= 0 && r.inPort !== inPort) continue;
      if (r.ipVersion !== 0 && r.ipVersion !== v) continue;
      if (r.proto >= 0 && (v === 0 || r.proto !== p.l4Proto)) continue;
      if (r.src !== null && (r.src.version !== v || !prefixMatch(r.src, u8, p.l3Offset + (v === 4 ? 12 : 8)))) continue;
      if (r.dst !== null && (r.dst.version !== v || !prefixMatch(r.dst, u8, p.l3Offset + (v === 4 ? 16 : 24)))) continue;
      const portRule = r.sLo !== 0 || r.sHi !== 65535 || r.dLo !== 0 || r.dHi !== 65535;
      if (portRule) {
        // Port ranges only match packets that have ports (TCP/UDP first fragments).
        const hasPorts = (p.l4Proto === 6 || p.l4Proto === 17 || p.l4Proto === 132) && p.fragOffset === 0 && v !== 0;
        if (!hasPorts) continue;
        if (p.srcPort < r.sLo || p.srcPort > r.sHi || p.dstPort < r.dLo || p.dstPort > r.dHi) continue;
      }
      return r.chain;
    }
    return this.defaultChain;
  }

  /** Entries of the current generation (for stats). */
  flowCount(): number {
    let n = 0;
    for (let i = 0; i <= this.mask; i++) if (this.i32[flowEntryI32(this.layout, i) + F_STATE] === this.generation) n++;
    return n;
  }
}

function ipv4At(u8: Uint8Array, o: number): number {
  return (u8[o] << 24) | (u8[o + 1] << 16) | (u8[o + 2] << 8) | u8[o + 3];
}
