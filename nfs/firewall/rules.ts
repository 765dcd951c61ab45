// The firewall's rules: parsed from args once (errors name the field), compiled into typed
// arrays, and matched against a parsed packet without allocating.
import { Args, parsePortRange, parsePrefix, parseProto, maskWord, ok, type Prefix } from '../_lib/args.js';
import { dstAddrWord, srcAddrWord, type ParsedPacket } from '../../src/proto/parse.js';
import { TCP_ACK, TCP_CWR, TCP_ECE, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG } from '../../src/proto/constants.js';

export const ACT_ALLOW = 0;
export const ACT_DENY = 1;
export const ACT_SERVICE = 2;

/** One rule as written (names unresolved): what `args` returns. */
export interface RuleSpec {
  action: 'allow' | 'deny' | 'service';
  service?: string;
  inPort?: string;
  ipVersion?: 4 | 6;
  src?: Prefix;
  dst?: Prefix;
  proto?: number;
  srcPort?: [number, number];
  dstPort?: [number, number];
  /** (flags & mask) === set. */
  tcpFlags?: { mask: number; set: number };
}

const RULE_KEYS = ['action', 'service', 'inPort', 'ipVersion', 'src', 'dst', 'proto', 'srcPort', 'dstPort', 'tcpFlags', 'comment'];
const FLAG_BITS: Record<string, number> = {
  fin: TCP_FIN,
  syn: TCP_SYN,
  rst: TCP_RST,
  psh: TCP_PSH,
  ack: TCP_ACK,
  urg: TCP_URG,
  ece: TCP_ECE,
  cwr: TCP_CWR,
};

/** "syn !ack" or "syn,!ack": flags that must be set, and (with !) clear; the others are free. */
export function parseTcpFlags(v: unknown): { mask: number; set: number } | string {
  const bad = `must list TCP flags to be set or (with !) clear, e.g. "syn !ack" (flags: ${Object.keys(FLAG_BITS).join(' ')}), got ${JSON.stringify(v)}`;
  if (typeof v !== 'string') return bad;
  const toks = v.split(/[\s,]+/).filter((t) => t.length > 0);
  if (toks.length === 0) return bad;
  let mask = 0;
  let set = 0;
  for (const t of toks) {
    const neg = t.startsWith('!');
    const bit = FLAG_BITS[(neg ? t.slice(1) : t).toLowerCase()];
    if (bit === undefined || (mask & bit) !== 0) return bad;
    mask |= bit;
    if (!neg) set |= bit;
  }
  return { mask, set };
}

/** Reads rules[i] into a RuleSpec, checking every field and the rule's consistency. */
export function parseRule(a: Args): RuleSpec {
  a.known(RULE_KEYS);
  const action = a.oneOf('action', undefined, ['allow', 'deny', 'service'] as const);
  const r: RuleSpec = { action };
  if (action === 'service') r.service = a.str('service');
  else if (a.has('service')) a.fail('service', 'is only for action "service"');
  if (a.has('inPort')) r.inPort = a.str('inPort');
  if (a.has('ipVersion')) {
    const iv = a.raw.ipVersion;
    if (iv !== 4 && iv !== 6) a.fail('ipVersion', `must be 4 or 6, got ${JSON.stringify(iv)}`);
    r.ipVersion = iv;
  }
  if (a.has('src')) r.src = ok(a, 'src', parsePrefix(a.raw.src));
  if (a.has('dst')) r.dst = ok(a, 'dst', parsePrefix(a.raw.dst));
  if (a.has('proto')) r.proto = ok(a, 'proto', parseProto(a.raw.proto));
  if (a.has('srcPort')) r.srcPort = ok(a, 'srcPort', parsePortRange(a.raw.srcPort));
  if (a.has('dstPort')) r.dstPort = ok(a, 'dstPort', parsePortRange(a.raw.dstPort));
  if (a.has('tcpFlags')) {
    r.tcpFlags = ok(a, 'tcpFlags', parseTcpFlags(a.raw.tcpFlags));
    if (r.proto === undefined) r.proto = 6;
    else if (r.proto !== 6) a.fail('tcpFlags', `needs proto tcp, but proto is ${r.proto}`);
  }
  // A rule that could never match is an error, not a silent no-op.
  const v = r.ipVersion ?? r.src?.version ?? r.dst?.version;
  for (const f of ['src', 'dst'] as const) {
    const p = r[f];
    if (p !== undefined && p.version !== v)
      a.fail(f, `is IPv${p.version} but the rule is IPv${v} (from ${r.ipVersion ? 'ipVersion' : 'src'})`);
  }
  if (v !== undefined) r.ipVersion = v;
  if ((r.srcPort || r.dstPort) && r.proto !== undefined && r.proto !== 6 && r.proto !== 17 && r.proto !== 132)
    a.fail(r.srcPort ? 'srcPort' : 'dstPort', `needs proto tcp, udp or sctp (ports exist only there), but proto is ${r.proto}`);
  if (r.proto === 1 && v === 6) a.fail('proto', 'icmp (1) never occurs over IPv6: use icmpv6 (58)');
  if (r.proto === 58 && v === 4) a.fail('proto', 'icmpv6 (58) never occurs over IPv4: use icmp (1)');
  return r;
}

/** The rules compiled into typed arrays (one index per rule), with names resolved to ids. */
export class CompiledRules {
  readonly n: number;
  readonly inPort: Int32Array;
  readonly version: Int32Array;
  readonly srcLen: Int32Array;
  readonly dstLen: Int32Array;
  /** Four words per rule: the prefix, and its mask. */
  readonly srcAddr: Uint32Array;
  readonly srcMask: Uint32Array;
  readonly dstAddr: Uint32Array;
  readonly dstMask: Uint32Array;
  readonly proto: Int32Array;
  /** Port ranges; lo -1 = no condition. */
  readonly sLo: Int32Array;
  readonly sHi: Int32Array;
  readonly dLo: Int32Array;
  readonly dHi: Int32Array;
  readonly flagMask: Int32Array;
  readonly flagSet: Int32Array;
  /** 1 when the rule has any condition beyond inPort (so non-IP packets never match it). */
  readonly needsIp: Uint8Array;
  readonly action: Int32Array;
  readonly service: Int32Array;
  readonly hits: Float64Array;

  constructor(specs: RuleSpec[], portId: (n: string, rule: number) => number, serviceId: (n: string, rule: number) => number) {
    const n = (this.n = specs.length);
    this.inPort = new Int32Array(n).fill(-1);
    this.version = new Int32Array(n);
    this.srcLen = new Int32Array(n).fill(-1);
    this.dstLen = new Int32Array(n).fill(-1);
    this.srcAddr = new Uint32Array(n * 4);
    this.srcMask = new Uint32Array(n * 4);
    this.dstAddr = new Uint32Array(n * 4);
    this.dstMask = new Uint32Array(n * 4);
    this.proto = new Int32Array(n).fill(-1);
    this.sLo = new Int32Array(n).fill(-1);
    this.sHi = new Int32Array(n);
    this.dLo = new Int32Array(n).fill(-1);
    this.dHi = new Int32Array(n);
    this.flagMask = new Int32Array(n);
    this.flagSet = new Int32Array(n);
    this.needsIp = new Uint8Array(n);
    this.action = new Int32Array(n);
    this.service = new Int32Array(n).fill(-1);
    this.hits = new Float64Array(n);
    specs.forEach((r, i) => {
      if (r.inPort !== undefined) this.inPort[i] = portId(r.inPort, i);
      this.version[i] = r.ipVersion ?? 0;
      const put = (p: Prefix | undefined, len: Int32Array, addr: Uint32Array, mask: Uint32Array): void => {
        if (p === undefined) return;
        len[i] = p.len;
        for (let w = 0; w < 4; w++) {
          addr[i * 4 + w] = p.words[w];
          mask[i * 4 + w] = p.version === 4 && w > 0 ? 0 : maskWord(p.len, w);
        }
      };
      put(r.src, this.srcLen, this.srcAddr, this.srcMask);
      put(r.dst, this.dstLen, this.dstAddr, this.dstMask);
      if (r.proto !== undefined) this.proto[i] = r.proto;
      // A full range places no condition (it also matches packets without ports).
      if (r.srcPort && !(r.srcPort[0] === 0 && r.srcPort[1] === 65535)) [this.sLo[i], this.sHi[i]] = r.srcPort;
      if (r.dstPort && !(r.dstPort[0] === 0 && r.dstPort[1] === 65535)) [this.dLo[i], this.dHi[i]] = r.dstPort;
      if (r.tcpFlags) {
        this.flagMask[i] = r.tcpFlags.mask;
        this.flagSet[i] = r.tcpFlags.set;
      }
      this.needsIp[i] = r.ipVersion !== undefined || r.proto !== undefined || this.sLo[i] >= 0 || this.dLo[i] >= 0 ? 1 : 0;
      this.action[i] = r.action === 'allow' ? ACT_ALLOW : r.action === 'deny' ? ACT_DENY : ACT_SERVICE;
      if (r.action === 'service') this.service[i] = serviceId(r.service as string, i);
    });
  }

  /**
   * Index of the first rule the packet matches, or -1. `p` must be parsed ok. Port and flag
   * conditions need the transport header: they match TCP/UDP/SCTP (flags: TCP) packets that
   * carry it — unfragmented packets and first fragments — and never a non-first fragment.
   */
  match(u8: Uint8Array, p: ParsedPacket, inPort: number): number {
    const v = p.ipVersion;
    const l3 = p.l3Offset;
    const proto = p.l4Proto;
    const hasPorts = v !== 0 && p.fragOffset === 0 && (proto === 6 || proto === 17 || proto === 132);
    for (let i = 0; i < this.n; i++) {
      if (this.inPort[i] >= 0 && this.inPort[i] !== inPort) continue;
      if (v === 0) {
        if (this.needsIp[i] === 1) continue;
      } else {
        if (this.version[i] !== 0 && this.version[i] !== v) continue;
        if (this.proto[i] >= 0 && this.proto[i] !== proto) continue;
        if (this.srcLen[i] > 0 && !this.prefixMatch(u8, l3, v, i, true)) continue;
        if (this.dstLen[i] > 0 && !this.prefixMatch(u8, l3, v, i, false)) continue;
        if (this.sLo[i] >= 0 && (!hasPorts || p.srcPort < this.sLo[i] || p.srcPort > this.sHi[i])) continue;
        if (this.dLo[i] >= 0 && (!hasPorts || p.dstPort < this.dLo[i] || p.dstPort > this.dHi[i])) continue;
        if (this.flagMask[i] !== 0 && (!hasPorts || (p.tcpFlags & this.flagMask[i]) !== this.flagSet[i])) continue;
      }
      return i;
    }
    return -1;
  }

  private prefixMatch(u8: Uint8Array, l3: number, v: number, i: number, src: boolean): boolean {
    const addr = src ? this.srcAddr : this.dstAddr;
    const mask = src ? this.srcMask : this.dstMask;
    const words = v === 4 ? 1 : 4;
    for (let w = 0; w < words; w++) {
      const m = mask[i * 4 + w];
      if (m === 0) break;
      const a = src ? srcAddrWord(u8, l3, v, w) : dstAddrWord(u8, l3, v, w);
      if ((a & m) >>> 0 !== addr[i * 4 + w]) return false;
    }
    return true;
  }
}
