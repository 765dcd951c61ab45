// nat: source NAT (masquerade) for IPv4 TCP, UDP and ICMP echo. A packet from an inside
// address (`inside` prefixes) to anywhere but the external address leaves with its source
// rewritten to `external` and its port (ICMP: echo identifier) to one allocated from
// `ports`; the mapping is kept in a connection table. A packet to the external address is
// a reply: the port (identifier) it is addressed to finds the mapping, whose remote end must
// be the packet's source, and the destination is translated back. ICMP errors about a mapped
// connection (destination unreachable, time exceeded, parameter problem) are translated back
// too, the quoted packet included (RFC 5508 §4.2, REQ-4).
//
// Checksums are patched incrementally (RFC 1624): the IPv4 header's, and the TCP/UDP
// checksum for both the port and the address it covers through the pseudo-header (RFC 9293
// §3.1, RFC 768; a zero UDP checksum stays zero). Mappings are per connection (5-tuple) with
// address-and-port-dependent filtering (RFC 4787 §4.1, §5), ports allocated in order from the
// range's start, first free (deterministic; RFC 6056 randomisation is not done), and idle
// timeouts per protocol (RFC 5382 REQ-5, RFC 4787 REQ-5, RFC 5508 REQ-1).
//
// IPv6 and non-IP frames pass untouched. Fragments are dropped and counted: netvm does not
// reassemble, and a NAT cannot translate a non-first fragment without the first.
import { defineNF, type NFContext, type Packet, type PacketBatch } from '../../src/nflib/index.js';
import { csumReplace16, csumReplace32 } from '../../src/proto/checksum.js';
import { setIpv4DstCsum, setIpv4SrcCsum } from '../../src/proto/ipv4.js';
import { setTcpDstPortCsum, setTcpSrcPortCsum, tcpCsumReplace32 } from '../../src/proto/tcp.js';
import { setUdpDstPortCsum, setUdpSrcPortCsum, udpCsumReplace32 } from '../../src/proto/udp.js';
import { setIcmpEchoIdCsum } from '../../src/proto/icmp.js';
import { formatIpv4 } from '../../src/proto/address.js';
import { Args, maskWord, ok, parseAddr4, parsePortRange, parsePrefix, type Raw } from '../_lib/args.js';
import { ConnTable } from '../_lib/conn-table.js';

export interface NatArgs {
  external: number;
  /** Inside prefixes (IPv4) as [address, mask] pairs. */
  inside: [number, number][];
  ports: [number, number];
  timeouts: { tcp: number; tcpTransitory: number; udp: number; icmp: number };
  maxConnections: number;
  clock: 'wall' | 'packet';
}

const NF = 'nat';
const P_TCP = 0;
const P_UDP = 1;
const P_ICMP = 2;
const PROTO_OF = [6, 17, 1];
/** TCP state bits per mapping. */
const SEEN_OUT = 1;
const SEEN_IN = 2;
const CLOSING = 4;

export function parseNatArgs(raw: Raw): NatArgs {
  const a = new Args(NF, raw).known(['external', 'inside', 'ports', 'timeouts', 'maxConnections', 'clock']);
  const external = ok(a, 'external', parseAddr4(a.raw.external));
  const insideRaw = a.has('inside') ? a.list('inside', false, 1) : ['0.0.0.0/0'];
  const inside = insideRaw.map((x, i): [number, number] => {
    const p = ok(a, `inside[${i}]`, parsePrefix(x));
    if (p.version !== 4) a.fail(`inside[${i}]`, `must be an IPv4 prefix (this NAT translates IPv4), got ${JSON.stringify(x)}`);
    return [p.words[0], maskWord(p.len, 0)];
  });
  const ports = ok(a, 'ports', parsePortRange(a.raw.ports ?? '1024-65535'));
  if (ports[0] === 0) a.fail('ports', 'must not include port 0');
  const t = a.obj('timeouts', true) ?? new Args(NF, {}, 'timeouts.');
  t.known(['tcp', 'tcpTransitory', 'udp', 'icmp']);
  const secs = (f: string, d: number): number => t.num(f, d, 0.001, 1e7, 'seconds, 0.001..1e7');
  const maxConnections = a.int('maxConnections', 65536, 1, 1 << 22, 'a power of two, 1..4194304');
  if ((maxConnections & (maxConnections - 1)) !== 0) a.fail('maxConnections', `must be a power of two, got ${maxConnections}`);
  return {
    external,
    inside,
    ports,
    // RFC 5382 REQ-5 (TCP established >= 2 h 4 min, transitory >= 4 min), RFC 4787 REQ-5
    // (UDP >= 2 min, 5 min recommended), RFC 5508 REQ-1 (ICMP query >= 60 s).
    timeouts: { tcp: secs('tcp', 7440), tcpTransitory: secs('tcpTransitory', 240), udp: secs('udp', 300), icmp: secs('icmp', 60) },
    maxConnections,
    clock: a.oneOf('clock', 'wall', ['wall', 'packet'] as const),
  };
}

export class NatState {
  readonly conns: ConnTable;
  /** Per slot: allocated external port / identifier, protocol index, TCP state bits. */
  readonly extPort: Int32Array;
  readonly protoIdx: Int8Array;
  readonly tcpState: Uint8Array;
  /** Per protocol index, per external port: slot + 1 of its mapping (0: none). */
  readonly rev: Int32Array[] = [new Int32Array(65536), new Int32Array(65536), new Int32Array(65536)];
  readonly cursor = new Int32Array(3);
  readonly insideAddr: Uint32Array;
  readonly insideMask: Uint32Array;
  packets = 0;
  outbound = 0;
  inbound = 0;
  icmpErrorsIn = 0;
  newMappings = 0;
  expiredReused = 0;
  passed = 0;
  inboundNoMapping = 0;
  portsExhausted = 0;
  tableFull = 0;
  unsupported = 0;
  fragments = 0;
  malformed = 0;
  now = 0;

  constructor(readonly args: NatArgs) {
    this.conns = new ConnTable(args.maxConnections);
    this.extPort = new Int32Array(args.maxConnections);
    this.protoIdx = new Int8Array(args.maxConnections);
    this.tcpState = new Uint8Array(args.maxConnections);
    this.insideAddr = Uint32Array.from(args.inside.map((x) => x[0]));
    this.insideMask = Uint32Array.from(args.inside.map((x) => x[1]));
    this.cursor.fill(args.ports[0]);
  }

  isInside(addr: number): boolean {
    for (let i = 0; i < this.insideAddr.length; i++) if ((addr & this.insideMask[i]) >>> 0 === this.insideAddr[i]) return true;
    return false;
  }

  /** A free external port for protocol index `pi` (first free from the cursor), or -1. */
  allocPort(pi: number, now: number): number {
    const [lo, hi] = this.args.ports;
    const rev = this.rev[pi];
    const n = hi - lo + 1;
    let p = this.cursor[pi];
    for (let k = 0; k < n; k++) {
      const s = rev[p] - 1;
      if (s < 0 || this.conns.expires[s] <= now || this.extPort[s] !== p || this.protoIdx[s] !== pi) {
        this.cursor[pi] = p === hi ? lo : p + 1;
        return p;
      }
      p = p === hi ? lo : p + 1;
    }
    return -1;
  }

  timeout(pi: number, slot: number): number {
    const t = this.args.timeouts;
    if (pi === P_UDP) return t.udp;
    if (pi === P_ICMP) return t.icmp;
    const s = this.tcpState[slot];
    return (s & (SEEN_OUT | SEEN_IN)) === (SEEN_OUT | SEEN_IN) && (s & CLOSING) === 0 ? t.tcp : t.tcpTransitory;
  }

  /** Slot of the live mapping that external port `port` of protocol `pi` names, or -1. */
  mappingOf(pi: number, port: number, now: number): number {
    const s = this.rev[pi][port] - 1;
    if (s < 0 || this.conns.expires[s] <= now || this.extPort[s] !== port || this.protoIdx[s] !== pi) return -1;
    return s;
  }
}

const states = new WeakMap<object, NatState>();
export function natState(ctx: object): NatState | undefined {
  return states.get(ctx);
}

function be32(u8: Uint8Array, o: number): number {
  return ((u8[o] << 24) | (u8[o + 1] << 16) | (u8[o + 2] << 8) | u8[o + 3]) >>> 0;
}

function outbound(st: NatState, pkt: Packet, pi: number, now: number): void {
  const p = pkt.parsed;
  const u8 = pkt.u8;
  const l3 = p.l3Offset;
  const l4 = p.l4Offset;
  const conns = st.conns;
  const a = pi === P_ICMP ? (u8[l4 + 4] << 8) | u8[l4 + 5] : p.srcPort;
  const b = pi === P_ICMP ? 0 : p.dstPort;
  conns.setKeyFromPacket(u8, l3, 4, PROTO_OF[pi], a, b, false);
  let s = conns.find(now);
  if (s < 0) {
    const port = st.allocPort(pi, now);
    if (port < 0) {
      st.portsExhausted++;
      pkt.drop();
      return;
    }
    s = conns.insert(now, now + 1);
    if (s < 0) {
      st.tableFull++;
      pkt.drop();
      return;
    }
    if (conns.reused) {
      // The expired mapping this slot held gives its port back.
      st.expiredReused++;
      const op = st.extPort[s];
      const oldRev = st.rev[st.protoIdx[s]];
      if (oldRev[op] === s + 1) oldRev[op] = 0;
    }
    st.extPort[s] = port;
    st.protoIdx[s] = pi;
    st.tcpState[s] = 0;
    st.rev[pi][port] = s + 1;
    st.newMappings++;
  }
  if (pi === P_TCP) st.tcpState[s] |= SEEN_OUT | ((p.tcpFlags & 0x05) !== 0 ? CLOSING : 0);
  conns.expires[s] = now + st.timeout(pi, s);
  const ext = st.args.external;
  const oldSrc = be32(u8, l3 + 12);
  const port = st.extPort[s];
  setIpv4SrcCsum(u8, l3, ext);
  if (pi === P_TCP) {
    tcpCsumReplace32(u8, l4, oldSrc, ext);
    setTcpSrcPortCsum(u8, l4, port);
  } else if (pi === P_UDP) {
    udpCsumReplace32(u8, l4, oldSrc, ext);
    setUdpSrcPortCsum(u8, l4, port);
  } else setIcmpEchoIdCsum(u8, l4, port); // ICMPv4's checksum has no pseudo-header
  st.outbound++;
  pkt.invalidate();
  pkt.next();
}

function inbound(st: NatState, pkt: Packet, pi: number, now: number): void {
  const p = pkt.parsed;
  const u8 = pkt.u8;
  const l3 = p.l3Offset;
  const l4 = p.l4Offset;
  const port = pi === P_ICMP ? (u8[l4 + 4] << 8) | u8[l4 + 5] : p.dstPort;
  const s = st.mappingOf(pi, port, now);
  const conns = st.conns;
  // Address-and-port-dependent filtering: only the mapping's remote end may answer.
  if (s < 0 || conns.keyWord(s, 6) >>> 0 !== be32(u8, l3 + 12) || (pi !== P_ICMP && (conns.keyWord(s, 1) & 0xffff) !== p.srcPort)) {
    st.inboundNoMapping++;
    pkt.drop();
    return;
  }
  if (pi === P_TCP) st.tcpState[s] |= SEEN_IN | ((p.tcpFlags & 0x05) !== 0 ? CLOSING : 0);
  conns.expires[s] = now + st.timeout(pi, s);
  const inAddr = conns.keyWord(s, 2) >>> 0;
  const inPort = conns.keyWord(s, 1) >>> 16;
  const ext = st.args.external;
  setIpv4DstCsum(u8, l3, inAddr);
  if (pi === P_TCP) {
    tcpCsumReplace32(u8, l4, ext, inAddr);
    setTcpDstPortCsum(u8, l4, inPort);
  } else if (pi === P_UDP) {
    udpCsumReplace32(u8, l4, ext, inAddr);
    setUdpDstPortCsum(u8, l4, inPort);
  } else setIcmpEchoIdCsum(u8, l4, inPort);
  st.inbound++;
  pkt.invalidate();
  pkt.next();
}

/**
 * RFC 5508 §4.2: an ICMP error to the external address quotes a packet we sent (source =
 * external, source port = a mapped port). Translate the quoted source back and the outer
 * destination, patching the quoted IP header checksum, the quoted L4 checksum when the quote
 * holds it, and the ICMP checksum (which covers the quote). Returns false when no mapping
 * matches (the caller drops).
 */
function inboundIcmpError(st: NatState, pkt: Packet, now: number): boolean {
  const p = pkt.parsed;
  const u8 = pkt.u8;
  const l3 = p.l3Offset;
  const icmp = p.l4Offset;
  const end = icmp + p.l4Len;
  const q = icmp + 8; // the quoted IP header
  if (q + 20 > end || u8[q] >>> 4 !== 4) return false;
  const qhl = (u8[q] & 0x0f) << 2;
  const ql4 = q + qhl;
  if (qhl < 20 || ql4 + 8 > end || (((u8[q + 6] << 8) | u8[q + 7]) & 0x1fff) !== 0) return false;
  const qproto = u8[q + 9];
  const pi = qproto === 6 ? P_TCP : qproto === 17 ? P_UDP : qproto === 1 ? P_ICMP : -1;
  if (pi < 0) return false;
  const ext = st.args.external;
  if (be32(u8, q + 12) !== ext) return false;
  if (pi === P_ICMP && u8[ql4] !== 8) return false; // only our echo requests are mapped
  const port = pi === P_ICMP ? (u8[ql4 + 4] << 8) | u8[ql4 + 5] : (u8[ql4] << 8) | u8[ql4 + 1];
  const s = st.mappingOf(pi, port, now);
  const conns = st.conns;
  if (s < 0 || conns.keyWord(s, 6) >>> 0 !== be32(u8, q + 16)) return false;
  const inAddr = conns.keyWord(s, 2) >>> 0;
  const inPort = conns.keyWord(s, 1) >>> 16;
  // Every 16-bit word changed inside the quote also changes the ICMP checksum (RFC 792).
  let ic = (u8[icmp + 2] << 8) | u8[icmp + 3];
  const oldQcs = (u8[q + 10] << 8) | u8[q + 11];
  // Quoted source address, and its header checksum.
  u8[q + 12] = inAddr >>> 24;
  u8[q + 13] = inAddr >>> 16;
  u8[q + 14] = inAddr >>> 8;
  u8[q + 15] = inAddr;
  const newQcs = csumReplace32(oldQcs, ext, inAddr);
  u8[q + 10] = newQcs >>> 8;
  u8[q + 11] = newQcs;
  ic = csumReplace32(ic, ext, inAddr);
  ic = csumReplace16(ic, oldQcs, newQcs);
  // Quoted source port (echo id) and, when quoted, the L4 checksum over it.
  const portOff = pi === P_ICMP ? ql4 + 4 : ql4;
  u8[portOff] = inPort >>> 8;
  u8[portOff + 1] = inPort;
  ic = csumReplace16(ic, port, inPort);
  const csOff = pi === P_TCP ? ql4 + 16 : pi === P_UDP ? ql4 + 6 : ql4 + 2;
  if (csOff + 2 <= end) {
    const old = (u8[csOff] << 8) | u8[csOff + 1];
    if (!(pi === P_UDP && old === 0)) {
      let c = csumReplace16(old, port, inPort);
      if (pi !== P_ICMP) c = csumReplace32(c, ext, inAddr);
      if (pi === P_UDP && c === 0) c = 0xffff;
      u8[csOff] = c >>> 8;
      u8[csOff + 1] = c;
      ic = csumReplace16(ic, old, c);
    }
  }
  u8[icmp + 2] = ic >>> 8;
  u8[icmp + 3] = ic;
  setIpv4DstCsum(u8, l3, inAddr);
  conns.expires[s] = Math.max(conns.expires[s], now + 1);
  st.icmpErrorsIn++;
  pkt.invalidate();
  pkt.next();
  return true;
}

function run(st: NatState, batch: PacketBatch): void {
  const ext = st.args.external;
  const packetClock = st.args.clock === 'packet';
  const wall = performance.now() / 1000;
  for (let i = 0; i < batch.length; i++) {
    const pkt = batch.packets[i];
    st.packets++;
    const p = pkt.parsed;
    if (!p.ok) {
      st.malformed++;
      pkt.drop();
      continue;
    }
    if (p.ipVersion !== 4) {
      st.passed++;
      pkt.next();
      continue;
    }
    const u8 = pkt.u8;
    const l3 = p.l3Offset;
    const toExt = be32(u8, l3 + 16) === ext;
    if (!toExt && !st.isInside(be32(u8, l3 + 12))) {
      st.passed++;
      pkt.next();
      continue;
    }
    if (p.fragment) {
      st.fragments++;
      pkt.drop();
      continue;
    }
    const now = packetClock ? pkt.tsSec + pkt.tsNsec / 1e9 : wall;
    st.now = now;
    const proto = p.l4Proto;
    let pi = proto === 6 ? P_TCP : proto === 17 ? P_UDP : -1;
    if (proto === 1) {
      const t = u8[p.l4Offset];
      if (toExt && (t === 3 || t === 11 || t === 12)) {
        if (!inboundIcmpError(st, pkt, now)) {
          st.inboundNoMapping++;
          pkt.drop();
        }
        continue;
      }
      if ((toExt && t === 0) || (!toExt && t === 8)) pi = P_ICMP;
    }
    if (pi < 0) {
      st.unsupported++;
      pkt.drop();
      continue;
    }
    if (toExt) inbound(st, pkt, pi, now);
    else outbound(st, pkt, pi, now);
  }
}

function publish(st: NatState, c: Record<string, number>): void {
  c.packets = st.packets;
  c.outbound = st.outbound;
  c.inbound = st.inbound;
  c.icmpErrorsIn = st.icmpErrorsIn;
  c.newMappings = st.newMappings;
  c.expiredReused = st.expiredReused;
  c.passed = st.passed;
  c.inboundNoMapping = st.inboundNoMapping;
  c.portsExhausted = st.portsExhausted;
  c.tableFull = st.tableFull;
  c.unsupported = st.unsupported;
  c.fragments = st.fragments;
  c.malformed = st.malformed;
}

export default defineNF<NatArgs>({
  name: NF,
  args: parseNatArgs,
  setup: (ctx: NFContext<NatArgs>) => {
    const st = new NatState(ctx.args);
    states.set(ctx, st);
    publish(st, ctx.counters);
    ctx.counters.mappings = 0;
  },
  process: (batch, ctx) => {
    const st = states.get(ctx);
    if (st === undefined) return;
    run(st, batch);
    publish(st, ctx.counters);
  },
  tick: (ctx) => {
    // Live mappings (a scan of the table: once a second, off the packet path).
    const st = states.get(ctx);
    if (st === undefined) return;
    const now = ctx.args.clock === 'packet' ? st.now : performance.now() / 1000;
    ctx.counters.mappings = st.conns.live(now);
  },
  onMessage: (data, _from, ctx) => {
    // `{ cmd: 'mappings' }` logs the live mappings (inside → external), for debugging.
    const st = states.get(ctx);
    if (st === undefined || (data as { cmd?: unknown } | null)?.cmd !== 'mappings') return;
    const c = st.conns;
    const now = ctx.args.clock === 'packet' ? st.now : performance.now() / 1000;
    const list: string[] = [];
    for (let s = 0; s < c.cap && list.length < 1000; s++) {
      if (c.used[s] === 0 || c.expires[s] <= now) continue;
      list.push(
        `${['tcp', 'udp', 'icmp'][st.protoIdx[s]]} ${formatIpv4(c.keyWord(s, 2) >>> 0)}:${c.keyWord(s, 1) >>> 16} -> ${formatIpv4(c.keyWord(s, 6) >>> 0)} as :${st.extPort[s]}`,
      );
    }
    ctx.log(`nat: ${list.length} mappings`, { mappings: list });
  },
});
