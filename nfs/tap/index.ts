// tap: copies packets into a pcap file and passes every packet on unchanged — a port mirror
// in the chain. An optional filter on the 5-tuple (protocol, IP version, source, destination or
// either address prefix, source, destination or either port range) picks what is copied.
//
// The copy never waits for the disk: records go into preallocated buffers that are written
// asynchronously (async-pcap-writer.ts); if the disk falls so far behind that every buffer is
// waiting, the copy of that packet is dropped and counted — the packet itself still goes on.
// Timestamps are the packets' capture times (as the input port set them), or the wall clock
// for packets without one.
import {
  ArgReader,
  argError,
  defineNF,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  parseIpv4,
  parseIpv6,
  type NFContext,
  type PacketBatch,
  type ParsedPacket,
} from '../../src/nflib/index.js';
import { AsyncPcapWriter } from './async-pcap-writer.js';

export interface TapFilter {
  proto?: string | number;
  ipVersion?: 4 | 6;
  src?: string;
  dst?: string;
  /** Source or destination. */
  host?: string;
  srcPort?: number | string;
  dstPort?: number | string;
  /** Source or destination. */
  port?: number | string;
}

export interface TapArgs {
  file: string;
  filter?: TapFilter;
  snaplen: number;
  precision: 'us' | 'ns';
  bufferSize: number;
  buffers: number;
}

const NF = 'tap';
const KNOWN = ['file', 'filter', 'snaplen', 'precision', 'bufferSize', 'buffers'];
const FILTER_KEYS = ['proto', 'ipVersion', 'src', 'dst', 'host', 'srcPort', 'dstPort', 'port'];
const PROTOS: Record<string, number> = {
  tcp: IPPROTO_TCP,
  udp: IPPROTO_UDP,
  icmp: IPPROTO_ICMP,
  icmpv6: IPPROTO_ICMPV6,
  sctp: IPPROTO_SCTP,
};

/** An address prefix: version, 4 words of address, prefix length. */
interface Prefix {
  v: number;
  words: Int32Array;
  bits: number;
}

function parsePrefix(field: string, text: unknown): Prefix {
  if (typeof text !== 'string')
    throw argError(NF, field, `must be an address or prefix ("10.0.0.0/8", "2001:db8::/32"), got ${JSON.stringify(text)}`);
  const [addr, len, extra] = text.split('/');
  const v6 = addr.includes(':');
  const max = v6 ? 128 : 32;
  const bits = len === undefined ? max : Number(len);
  if (extra !== undefined || !Number.isInteger(bits) || bits < 0 || bits > max || (len !== undefined && !/^\d+$/.test(len)))
    throw argError(NF, field, `has a bad prefix length in ${JSON.stringify(text)} (0..${max})`);
  const words = new Int32Array(4);
  try {
    if (v6) {
      const b = parseIpv6(addr);
      for (let w = 0; w < 4; w++) words[w] = (b[w * 4] << 24) | (b[w * 4 + 1] << 16) | (b[w * 4 + 2] << 8) | b[w * 4 + 3];
    } else words[0] = parseIpv4(addr) | 0;
  } catch {
    throw argError(NF, field, `is not an IPv4 or IPv6 address or prefix: ${JSON.stringify(text)}`);
  }
  return { v: v6 ? 6 : 4, words, bits };
}

function parsePortRange(field: string, v: unknown): [number, number] {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535) return [v, v];
  const m = typeof v === 'string' ? /^(\d{1,5})-(\d{1,5})$/.exec(v) : null;
  if (m !== null) {
    const lo = Number(m[1]);
    const hi = Number(m[2]);
    if (lo <= hi && hi <= 65535) return [lo, hi];
  }
  throw argError(NF, field, `must be a port 0..65535 or a range "lo-hi", got ${JSON.stringify(v)}`);
}

function parseArgs(raw: Record<string, unknown>): TapArgs {
  const r = new ArgReader(NF, raw, KNOWN);
  const file = r.string('file', true, 'the pcap file to write');
  const out: TapArgs = {
    file,
    snaplen: r.int('snaplen', 1, 262144, 65535),
    precision: r.oneOf('precision', ['us', 'ns'] as const, 'us'),
    bufferSize: r.int('bufferSize', 65536, 1 << 26, 1 << 20),
    buffers: r.int('buffers', 2, 64, 4),
  };
  if (r.has('filter')) {
    const f = r.raw.filter;
    if (typeof f !== 'object' || f === null || Array.isArray(f)) throw r.error('filter', 'must be an object of 5-tuple fields');
    const o = f as Record<string, unknown>;
    for (const k of Object.keys(o))
      if (!FILTER_KEYS.includes(k)) throw r.error(`filter.${k}`, `is not a filter field (${FILTER_KEYS.join(', ')})`);
    // Validate now, so a bad filter fails at start with its field named.
    compileFilter(o as TapFilter);
    out.filter = o as TapFilter;
  }
  return out;
}

/** The filter as numbers for the hot path; every condition present must hold. */
export class CompiledFilter {
  readonly any: boolean;
  readonly proto: number;
  readonly ipVersion: number;
  readonly src: Prefix | null;
  readonly dst: Prefix | null;
  readonly host: Prefix | null;
  readonly sp: [number, number] | null;
  readonly dp: [number, number] | null;
  readonly p: [number, number] | null;

  constructor(f: TapFilter | undefined) {
    const g = f ?? {};
    this.any = Object.keys(g).length === 0;
    let proto = -1;
    if (g.proto !== undefined) {
      if (typeof g.proto === 'number' && Number.isInteger(g.proto) && g.proto >= 0 && g.proto <= 255) proto = g.proto;
      else if (typeof g.proto === 'string' && PROTOS[g.proto] !== undefined) proto = PROTOS[g.proto];
      else throw argError(NF, 'filter.proto', `must be tcp, udp, icmp, icmpv6, sctp or a number 0..255, got ${JSON.stringify(g.proto)}`);
    }
    this.proto = proto;
    if (g.ipVersion !== undefined && g.ipVersion !== 4 && g.ipVersion !== 6)
      throw argError(NF, 'filter.ipVersion', `must be 4 or 6, got ${JSON.stringify(g.ipVersion)}`);
    this.ipVersion = g.ipVersion ?? 0;
    this.src = g.src !== undefined ? parsePrefix('filter.src', g.src) : null;
    this.dst = g.dst !== undefined ? parsePrefix('filter.dst', g.dst) : null;
    this.host = g.host !== undefined ? parsePrefix('filter.host', g.host) : null;
    this.sp = g.srcPort !== undefined ? parsePortRange('filter.srcPort', g.srcPort) : null;
    this.dp = g.dstPort !== undefined ? parsePortRange('filter.dstPort', g.dstPort) : null;
    this.p = g.port !== undefined ? parsePortRange('filter.port', g.port) : null;
  }
}

function compileFilter(f: TapFilter): CompiledFilter {
  return new CompiledFilter(f);
}

/** Does the address at u8[o] (IP version v) fall in prefix `x`? */
function inPrefix(x: Prefix, u8: Uint8Array, o: number, v: number): boolean {
  if (x.v !== v) return false;
  let bits = x.bits;
  for (let w = 0; bits > 0; w++, bits -= 32) {
    const a = (u8[o + w * 4] << 24) | (u8[o + w * 4 + 1] << 16) | (u8[o + w * 4 + 2] << 8) | u8[o + w * 4 + 3];
    const mask = bits >= 32 ? -1 : ~(-1 >>> bits);
    if ((a & mask) !== (x.words[w] & mask)) return false;
  }
  return true;
}

class TapState {
  readonly filter: CompiledFilter;
  readonly writer: AsyncPcapWriter;
  packets = 0;
  captured = 0;
  filtered = 0;
  dropped = 0;
  malformed = 0;
  bytes = 0;

  constructor(a: TapArgs) {
    this.filter = new CompiledFilter(a.filter);
    this.writer = new AsyncPcapWriter({ precision: a.precision, snaplen: a.snaplen, bufferSize: a.bufferSize, buffers: a.buffers });
  }

  process(batch: PacketBatch): void {
    const f = this.filter;
    const w = this.writer;
    let wallSec = -1;
    let wallNsec = 0;
    for (let i = 0; i < batch.length; i++) {
      const pkt = batch.packets[i];
      this.packets++;
      // Without a filter nothing is parsed: every frame is copied as it is.
      if (!f.any && !this.matches(pkt.u8, pkt.parsed)) {
        this.filtered++;
        continue;
      }
      let sec = pkt.tsSec;
      let nsec = pkt.tsNsec;
      if (sec === 0) {
        if (wallSec < 0) {
          const ms = performance.timeOrigin + performance.now();
          wallSec = Math.floor(ms / 1000);
          wallNsec = Math.floor((ms - wallSec * 1000) * 1e6);
        }
        sec = wallSec;
        nsec = wallNsec;
      }
      if (w.append(pkt.u8, pkt.offset, pkt.length, sec, nsec)) {
        this.captured++;
        this.bytes += pkt.length;
      } else this.dropped++;
    }
  }

  private matches(u8: Uint8Array, p: ParsedPacket): boolean {
    const f = this.filter;
    if (!p.ok) {
      this.malformed++;
      return false;
    }
    const v = p.ipVersion;
    if (v === 0) return false;
    if (f.ipVersion !== 0 && f.ipVersion !== v) return false;
    if (f.proto >= 0 && p.l4Proto !== f.proto) return false;
    const so = p.l3Offset + (v === 4 ? 12 : 8);
    const dO = p.l3Offset + (v === 4 ? 16 : 24);
    if (f.src !== null && !inPrefix(f.src, u8, so, v)) return false;
    if (f.dst !== null && !inPrefix(f.dst, u8, dO, v)) return false;
    if (f.host !== null && !inPrefix(f.host, u8, so, v) && !inPrefix(f.host, u8, dO, v)) return false;
    if (f.sp !== null || f.dp !== null || f.p !== null) {
      // Ports exist only in TCP, UDP and SCTP headers, and only in the first fragment.
      const q = p.l4Proto;
      if ((q !== IPPROTO_TCP && q !== IPPROTO_UDP && q !== IPPROTO_SCTP) || p.fragOffset !== 0) return false;
      const s = p.srcPort;
      const d = p.dstPort;
      if (f.sp !== null && (s < f.sp[0] || s > f.sp[1])) return false;
      if (f.dp !== null && (d < f.dp[0] || d > f.dp[1])) return false;
      if (f.p !== null && (s < f.p[0] || s > f.p[1]) && (d < f.p[0] || d > f.p[1])) return false;
    }
    return true;
  }

  publish(c: Record<string, number>): void {
    c.packets = this.packets;
    c.captured = this.captured;
    c.filtered = this.filtered;
    c.dropped = this.dropped;
    c.malformed = this.malformed;
    c.bytes = this.bytes;
    c.fileBytes = this.writer.fileBytes;
    c.writes = this.writer.writes;
    c.writeErrors = this.writer.errors;
  }
}

const states = new WeakMap<object, TapState>();

export default defineNF<TapArgs>({
  name: NF,
  args: parseArgs,
  setup: (ctx: NFContext<TapArgs>) => {
    const st = new TapState(ctx.args);
    try {
      st.writer.open(ctx.args.file);
    } catch (err) {
      throw argError(NF, 'file', `cannot be created: ${(err as Error).message}`);
    }
    states.set(ctx, st);
    st.publish(ctx.counters);
  },
  process: (batch, ctx) => {
    const st = states.get(ctx);
    if (st === undefined) return;
    st.process(batch);
    st.publish(ctx.counters);
  },
  // Each tick sends what is buffered to the file, so it is at most this old.
  tickMs: 250,
  tick: (ctx) => {
    const st = states.get(ctx);
    if (st === undefined) return;
    st.writer.flush();
    st.publish(ctx.counters);
  },
  teardown: async (ctx) => {
    const st = states.get(ctx);
    if (st === undefined) return;
    await st.writer.close();
    st.publish(ctx.counters);
  },
});
