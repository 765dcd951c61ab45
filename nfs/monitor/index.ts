// monitor: counts traffic and passes every packet on unchanged. Per protocol (ipv4, ipv6,
// tcp, udp, icmp, other, malformed): packets and bytes. Per flow (the 5-tuple, both
// directions as one flow): packets and bytes, in a preallocated open-addressing table keyed
// by the 5-tuple with its endpoints put in order, so both directions find the same entry
// whatever hash the port gave the packet (a NIC's RSS hash need not be symmetric, nor well
// spread). Every `interval` seconds it logs a summary with the top flows by bytes.
//
// Hot path: numbers in typed arrays, no allocation, no exceptions. A malformed packet
// (truncated, bad lengths) is counted, never thrown on; a flow that finds no room in the
// table is counted in `tableFull` (its packets still count per protocol).
import {
  defineNF,
  argError,
  dstAddrWord,
  formatIpv4,
  formatIpv6,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  srcAddrWord,
  type NFContext,
  type PacketBatch,
} from '../../src/nflib/index.js';

export interface MonitorArgs {
  /** Seconds between summaries (whole seconds); 0 = never. */
  interval: number;
  /** Flows listed in a summary, by bytes. */
  top: number;
  /** Flow table entries (power of two). */
  maxFlows: number;
}

const NF = 'monitor';
const KNOWN = ['interval', 'top', 'maxFlows'];
const MAX_FLOWS_LIMIT = 1 << 22;
/** Table entries examined per lookup before the flow counts as not fitting. */
const MAX_PROBE = 32;

// Protocol classes (indices into the per-protocol arrays).
const P_IPV4 = 0;
const P_IPV6 = 1;
const P_TCP = 2;
const P_UDP = 3;
const P_ICMP = 4;
const P_OTHER = 5;
const P_MALFORMED = 6;
const PROTO_NAMES = ['ipv4', 'ipv6', 'tcp', 'udp', 'icmp', 'other', 'malformed'] as const;

function intArg(raw: Record<string, unknown>, field: string, dflt: number, min: number, max: number, what: string): number {
  const v = raw[field] ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw argError(NF, field, `must be ${what}, got ${JSON.stringify(v)}`);
  return v;
}

/** Per-instance state: the flow table and the totals, all in typed arrays. */
export class MonitorState {
  readonly cap: number;
  readonly mask: number;
  readonly probe: number;
  readonly used: Uint8Array;
  /** The entry's key hash (over the ordered 5-tuple). */
  readonly fHash: Int32Array;
  /** ipVersion << 8 | protocol. */
  readonly fInfo: Int32Array;
  /** portA << 16 | portB. */
  readonly fPorts: Int32Array;
  /** Four words per flow for each endpoint (IPv4 uses the first). A is the lower endpoint. */
  readonly fAddrA: Int32Array;
  readonly fAddrB: Int32Array;
  /** 1 when the flow's first packet went from A to B. */
  readonly fAFirst: Uint8Array;
  readonly fPkts: Float64Array;
  readonly fBytes: Float64Array;
  flows = 0;
  tableFull = 0;
  packets = 0;
  bytes = 0;
  readonly protoPkts = new Float64Array(PROTO_NAMES.length);
  readonly protoBytes = new Float64Array(PROTO_NAMES.length);
  /** Scratch for one packet's addresses (unsigned words). */
  private readonly src = new Uint32Array(4);
  private readonly dst = new Uint32Array(4);
  /** Ticks since the last summary, and packets/bytes at it (for rates). */
  ticks = 0;
  lastPackets = 0;
  lastBytes = 0;

  constructor(maxFlows: number) {
    this.cap = maxFlows;
    this.mask = maxFlows - 1;
    this.probe = Math.min(MAX_PROBE, maxFlows);
    this.used = new Uint8Array(maxFlows);
    this.fHash = new Int32Array(maxFlows);
    this.fInfo = new Int32Array(maxFlows);
    this.fPorts = new Int32Array(maxFlows);
    this.fAddrA = new Int32Array(maxFlows * 4);
    this.fAddrB = new Int32Array(maxFlows * 4);
    this.fAFirst = new Uint8Array(maxFlows);
    this.fPkts = new Float64Array(maxFlows);
    this.fBytes = new Float64Array(maxFlows);
  }

  reset(): void {
    this.used.fill(0);
    this.fPkts.fill(0);
    this.fBytes.fill(0);
    this.protoPkts.fill(0);
    this.protoBytes.fill(0);
    this.flows = 0;
    this.tableFull = 0;
    this.packets = 0;
    this.bytes = 0;
    this.ticks = 0;
    this.lastPackets = 0;
    this.lastBytes = 0;
  }

  /** Counts one packet of `len` bytes of the flow (parsed IP packet at l3 in u8). */
  countFlow(u8: Uint8Array, l3: number, v: number, proto: number, sport: number, dport: number, len: number): void {
    const src = this.src;
    const dst = this.dst;
    const words = v === 4 ? 1 : 4;
    // Order the endpoints (address, then port) so both directions give the same key.
    let cmp = 0;
    for (let w = 0; w < 4; w++) {
      const s = w < words ? srcAddrWord(u8, l3, v, w) : 0;
      const d = w < words ? dstAddrWord(u8, l3, v, w) : 0;
      src[w] = s;
      dst[w] = d;
      if (cmp === 0 && s !== d) cmp = s < d ? -1 : 1;
    }
    if (cmp === 0) cmp = sport < dport ? -1 : sport > dport ? 1 : 0;
    const aIsSrc = cmp <= 0;
    const a = aIsSrc ? src : dst;
    const b = aIsSrc ? dst : src;
    const info = (v << 8) | proto;
    const ports = aIsSrc ? (sport << 16) | dport : (dport << 16) | sport;
    // The table's own hash of the ordered key (murmur3-style mixing; no allocation). The
    // packet's flow hash is not used: it comes from the port and may differ per direction.
    let h = Math.imul(info ^ ports, 0x9e3779b1);
    for (let w = 0; w < words; w++) {
      h = Math.imul(h ^ a[w], 0x85ebca6b);
      h = Math.imul(h ^ (h >>> 15) ^ b[w], 0xc2b2ae35);
    }
    h ^= h >>> 16;
    const mask = this.mask;
    const used = this.used;
    for (let k = 0; k < this.probe; k++) {
      const e = (h + k) & mask;
      const e4 = e << 2;
      if (used[e] === 0) {
        used[e] = 1;
        this.fHash[e] = h;
        this.fInfo[e] = info;
        this.fPorts[e] = ports;
        for (let w = 0; w < 4; w++) {
          this.fAddrA[e4 + w] = a[w] | 0;
          this.fAddrB[e4 + w] = b[w] | 0;
        }
        this.fAFirst[e] = aIsSrc ? 1 : 0;
        this.fPkts[e] = 1;
        this.fBytes[e] = len;
        this.flows++;
        return;
      }
      if (
        this.fHash[e] === h &&
        this.fInfo[e] === info &&
        this.fPorts[e] === ports &&
        this.fAddrA[e4] === (a[0] | 0) &&
        this.fAddrB[e4] === (b[0] | 0) &&
        this.fAddrA[e4 + 1] === (a[1] | 0) &&
        this.fAddrB[e4 + 1] === (b[1] | 0) &&
        this.fAddrA[e4 + 2] === (a[2] | 0) &&
        this.fAddrB[e4 + 2] === (b[2] | 0) &&
        this.fAddrA[e4 + 3] === (a[3] | 0) &&
        this.fAddrB[e4 + 3] === (b[3] | 0)
      ) {
        this.fPkts[e]++;
        this.fBytes[e] += len;
        return;
      }
    }
    this.tableFull++;
  }

  /** Entry indices of the `n` flows with the most bytes, most first (off the hot path). */
  topFlows(n: number): number[] {
    const top: number[] = [];
    if (n <= 0) return top;
    const bytes = this.fBytes;
    for (let e = 0; e < this.cap; e++) {
      if (this.used[e] === 0) continue;
      if (top.length === n && bytes[e] <= bytes[top[n - 1]]) continue;
      let i = top.length < n ? top.length : n - 1;
      while (i > 0 && bytes[top[i - 1]] < bytes[e]) {
        if (i < n) top[i] = top[i - 1];
        i--;
      }
      top[i] = e;
    }
    return top;
  }

  /** A flow's description: endpoints in the direction of its first packet. */
  describe(e: number): { src: string; dst: string; proto: string; packets: number; bytes: number } {
    const info = this.fInfo[e];
    const v = info >>> 8;
    const proto = info & 0xff;
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
    const withPort = (addr: string, port: number): string => {
      const hasPorts = proto === IPPROTO_TCP || proto === IPPROTO_UDP || port !== 0;
      if (!hasPorts) return addr;
      return v === 6 ? `[${addr}]:${port}` : `${addr}:${port}`;
    };
    const pa = this.fPorts[e] >>> 16;
    const pb = this.fPorts[e] & 0xffff;
    const A = withPort(fmt(this.fAddrA), pa);
    const B = withPort(fmt(this.fAddrB), pb);
    const aFirst = this.fAFirst[e] === 1;
    return {
      src: aFirst ? A : B,
      dst: aFirst ? B : A,
      proto: protoName(proto),
      packets: this.fPkts[e],
      bytes: this.fBytes[e],
    };
  }
}

function protoName(p: number): string {
  if (p === IPPROTO_TCP) return 'tcp';
  if (p === IPPROTO_UDP) return 'udp';
  if (p === IPPROTO_ICMP) return 'icmp';
  if (p === IPPROTO_ICMPV6) return 'icmpv6';
  return `proto${p}`;
}

const states = new WeakMap<object, MonitorState>();

/** The monitor's state for an instance (tests and tools read the flow table through it). */
export function monitorState(ctx: object): MonitorState | undefined {
  return states.get(ctx);
}

function countBatch(st: MonitorState, batch: PacketBatch): void {
  const pp = st.protoPkts;
  const pb = st.protoBytes;
  for (let i = 0; i < batch.length; i++) {
    const pkt = batch.packets[i];
    pkt.next();
    const n = pkt.length;
    const len = n > 0 ? n : 0;
    st.packets++;
    st.bytes += len;
    const p = pkt.parsed;
    if (!p.ok) {
      pp[P_MALFORMED]++;
      pb[P_MALFORMED] += len;
      continue;
    }
    const v = p.ipVersion;
    if (v === 0) {
      // Not IP (ARP, LLDP, ...): no flow.
      pp[P_OTHER]++;
      pb[P_OTHER] += len;
      continue;
    }
    const l3 = v === 4 ? P_IPV4 : P_IPV6;
    pp[l3]++;
    pb[l3] += len;
    const proto = p.l4Proto;
    const c =
      proto === IPPROTO_TCP ? P_TCP : proto === IPPROTO_UDP ? P_UDP : proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6 ? P_ICMP : P_OTHER;
    pp[c]++;
    pb[c] += len;
    st.countFlow(pkt.u8, p.l3Offset, v, proto, p.srcPort, p.dstPort, len);
  }
}

function publish(st: MonitorState, counters: Record<string, number>): void {
  counters.packets = st.packets;
  counters.bytes = st.bytes;
  counters.flows = st.flows;
  counters.ipv4 = st.protoPkts[P_IPV4];
  counters.ipv6 = st.protoPkts[P_IPV6];
  counters.tcp = st.protoPkts[P_TCP];
  counters.udp = st.protoPkts[P_UDP];
  counters.icmp = st.protoPkts[P_ICMP];
  counters.otherProto = st.protoPkts[P_OTHER];
  counters.malformed = st.protoPkts[P_MALFORMED];
  counters.tableFull = st.tableFull;
}

/**
 * Logs a summary: totals, per protocol, top flows and — for the periodic one (`seconds` > 0)
 * — rates since the previous periodic summary.
 */
function summary(st: MonitorState, ctx: NFContext<MonitorArgs>, seconds: number): void {
  const dp = st.packets - st.lastPackets;
  const db = st.bytes - st.lastBytes;
  if (seconds > 0) {
    st.lastPackets = st.packets;
    st.lastBytes = st.bytes;
  }
  const proto: Record<string, { packets: number; bytes: number }> = {};
  PROTO_NAMES.forEach((name, i) => (proto[name] = { packets: st.protoPkts[i], bytes: st.protoBytes[i] }));
  const top = st.topFlows(ctx.args.top).map((e) => st.describe(e));
  const pps = seconds > 0 ? Math.round(dp / seconds) : 0;
  const bps = seconds > 0 ? Math.round((db * 8) / seconds) : 0;
  const lines = top.map((f, i) => `  ${i + 1}. ${f.src} -> ${f.dst} ${f.proto}: ${f.packets} pkts, ${f.bytes} bytes`);
  ctx.log(
    `monitor: ${st.packets} pkts, ${st.bytes} bytes${seconds > 0 ? ` (${pps} pps, ${bps} bit/s)` : ''}, ${st.flows} flows` +
      (st.tableFull > 0 ? ` (${st.tableFull} pkts did not fit the flow table)` : '') +
      `; tcp ${st.protoPkts[P_TCP]} udp ${st.protoPkts[P_UDP]} icmp ${st.protoPkts[P_ICMP]} other ${st.protoPkts[P_OTHER]} malformed ${st.protoPkts[P_MALFORMED]}` +
      (lines.length > 0 ? `\n${lines.join('\n')}` : ''),
    seconds > 0
      ? { packets: st.packets, bytes: st.bytes, pps, bps, flows: st.flows, tableFull: st.tableFull, proto, top }
      : { packets: st.packets, bytes: st.bytes, flows: st.flows, tableFull: st.tableFull, proto, top },
  );
}

export default defineNF<MonitorArgs>({
  name: NF,
  args: (raw) => {
    for (const k of Object.keys(raw))
      if (!KNOWN.includes(k)) throw argError(NF, k, `is not an argument of ${NF} (known: ${KNOWN.join(', ')})`);
    const interval = intArg(raw, 'interval', 5, 0, 86400, 'whole seconds between summaries, 0..86400 (0 = never)');
    const top = intArg(raw, 'top', 5, 0, 1000, 'the number of flows to list, 0..1000');
    const maxFlows = intArg(raw, 'maxFlows', 65536, 1, MAX_FLOWS_LIMIT, `a power of two, 1..${MAX_FLOWS_LIMIT}`);
    if ((maxFlows & (maxFlows - 1)) !== 0) throw argError(NF, 'maxFlows', `must be a power of two, got ${maxFlows}`);
    return { interval, top, maxFlows };
  },
  setup: (ctx) => {
    const st = new MonitorState(ctx.args.maxFlows);
    states.set(ctx, st);
    publish(st, ctx.counters);
  },
  process: (batch, ctx) => {
    const st = states.get(ctx);
    if (st === undefined) return;
    countBatch(st, batch);
    publish(st, ctx.counters);
  },
  tickMs: 1000,
  tick: (ctx) => {
    const st = states.get(ctx);
    const interval = ctx.args.interval;
    if (st === undefined || interval === 0) return;
    if (++st.ticks < interval) return;
    st.ticks = 0;
    summary(st, ctx, interval);
  },
  /** `{ cmd: 'summary' }` logs a summary now; `{ cmd: 'reset' }` clears every count. */
  onMessage: (data, _from, ctx) => {
    const st = states.get(ctx);
    if (st === undefined || typeof data !== 'object' || data === null) return;
    const cmd = (data as { cmd?: unknown }).cmd;
    if (cmd === 'summary') summary(st, ctx, 0);
    else if (cmd === 'reset') {
      st.reset();
      publish(st, ctx.counters);
    }
  },
  teardown: (ctx) => {
    const st = states.get(ctx);
    if (st !== undefined && ctx.args.interval > 0 && st.packets > 0) summary(st, ctx, 0);
  },
});
