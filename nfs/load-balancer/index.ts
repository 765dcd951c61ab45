// load-balancer: an L4 (TCP/UDP) load balancer in NAT mode, as IPVS's masquerading. Packets
// to a virtual IP and port (a VIP) go to one backend of its pool: the destination address and
// port are rewritten to the backend's. The backend is chosen by Maglev consistent hashing
// (maglev.ts) of the connection's 5-tuple and remembered in a connection table, so a
// connection keeps its backend when the pool changes (`setBackends` message) for as long as
// that backend stays in the pool; only connections of a removed backend move. Replies from a
// backend to a client of a live connection get the VIP back as their source.
//
// Checksums are patched incrementally (RFC 1624): the IPv4 header's, and the TCP/UDP checksum
// for the port and for the address through the pseudo-header (RFC 9293 §3.1, RFC 768, RFC
// 8200 §8.1). IPv4 and IPv6 VIPs; a VIP and its backends share a version.
//
// Backends must route their replies back through the balancer (it does not rewrite the
// client's address). Other packets pass untouched. Fragments of VIP traffic are dropped and
// counted (a non-first fragment has no ports to balance on). Malformed packets are dropped.
import { defineNF, type NFContext, type Packet, type PacketBatch } from '../../src/nflib/index.js';
import { setIpv4DstCsum, setIpv4SrcCsum } from '../../src/proto/ipv4.js';
import { setTcpDstPortCsum, setTcpSrcPortCsum, tcpCsumReplace32 } from '../../src/proto/tcp.js';
import { setUdpDstPortCsum, setUdpSrcPortCsum, udpCsumReplace32 } from '../../src/proto/udp.js';
import { Args, ok, parsePrefix, type Prefix, type Raw } from '../_lib/args.js';
import { ConnTable } from '../_lib/conn-table.js';
import { isPrime, populate } from './maglev.js';

export interface Backend {
  version: 4 | 6;
  words: Uint32Array;
  port: number;
  /** Canonical text ("198.51.100.1:8080", "[2001:db8::1]:80"): names its counter and seeds Maglev. */
  name: string;
}
export interface VipSpec {
  address: Prefix;
  port: number;
  proto: 6 | 17;
  backends: Backend[];
}
export interface LoadBalancerArgs {
  vips: VipSpec[];
  tableSize: number;
  maxConnections: number;
  timeouts: { tcp: number; tcpClosing: number; udp: number };
  clock: 'wall' | 'packet';
}

const NF = 'load-balancer';

/** "198.51.100.1:8080", "198.51.100.1", "[2001:db8::1]:8080" or "2001:db8::1"; port defaults to `dfltPort`. */
export function parseBackend(text: unknown, dfltPort: number): Backend | string {
  if (typeof text !== 'string') return `must be "address:port" or "address", got ${JSON.stringify(text)}`;
  let addr = text;
  let port = dfltPort;
  const m = /^\[([^\]]+)\](?::([0-9]{1,5}))?$/.exec(text) ?? (/^([0-9.]+):([0-9]{1,5})$/.exec(text) as RegExpExecArray | null);
  if (m !== null) {
    addr = m[1];
    if (m[2] !== undefined) port = Number(m[2]);
  }
  if (port < 1 || port > 65535) return `has port ${port}; must be 1..65535`;
  const p = parsePrefix(addr);
  if (typeof p === 'string' || p.len !== (p.version === 4 ? 32 : 128))
    return `must be "address:port", "address", "[ipv6]:port" or an IPv6 address, got ${JSON.stringify(text)}`;
  const name = p.version === 4 ? `${addr}:${port}` : `[${addr}]:${port}`;
  return { version: p.version, words: p.words, port, name };
}

function parseBackends(a: Args, field: string, list: unknown[], vip: { version: number; port: number }): Backend[] {
  const out: Backend[] = [];
  list.forEach((x, i) => {
    const b = ok(a, `${field}[${i}]`, parseBackend(x, vip.port));
    if (b.version !== vip.version) a.fail(`${field}[${i}]`, `is IPv${b.version} but the VIP is IPv${vip.version}`);
    if (out.some((o) => o.name === b.name)) a.fail(`${field}[${i}]`, `lists ${b.name} twice`);
    out.push(b);
  });
  return out;
}

export function parseLoadBalancerArgs(raw: Raw): LoadBalancerArgs {
  const a = new Args(NF, raw).known(['vips', 'tableSize', 'maxConnections', 'timeouts', 'clock']);
  const vips = a.list('vips', false, 1).map((x, i): VipSpec => {
    const v = a.item('vips', i, x).known(['address', 'port', 'proto', 'backends']);
    const address = ok(v, 'address', parsePrefix(v.raw.address));
    if (address.len !== (address.version === 4 ? 32 : 128)) v.fail('address', `must be one address, not a prefix: ${address.text}`);
    const port = v.int('port', undefined, 1, 65535, 'a port 1..65535');
    const proto = v.oneOf('proto', 'tcp', ['tcp', 'udp'] as const) === 'tcp' ? 6 : 17;
    const backends = parseBackends(v, 'backends', v.list('backends', false, 1), { version: address.version, port });
    return { address, port, proto, backends };
  });
  vips.forEach((v, i) => {
    const j = vips.findIndex((w) => w.address.text === v.address.text && w.port === v.port && w.proto === v.proto);
    if (j !== i) a.fail(`vips[${i}]`, `repeats vips[${j}] (same address, port and protocol)`);
  });
  const tableSize = a.int('tableSize', 65537, 3, 16777259, 'a prime 3..16777259');
  if (!isPrime(tableSize)) a.fail('tableSize', `must be a prime (Maglev needs it), got ${tableSize}`);
  const maxConnections = a.int('maxConnections', 65536, 1, 1 << 22, 'a power of two, 1..4194304');
  if ((maxConnections & (maxConnections - 1)) !== 0) a.fail('maxConnections', `must be a power of two, got ${maxConnections}`);
  const t = a.obj('timeouts', true) ?? new Args(NF, {}, 'timeouts.');
  t.known(['tcp', 'tcpClosing', 'udp']);
  const secs = (f: string, d: number): number => t.num(f, d, 0.001, 1e7, 'seconds, 0.001..1e7');
  return {
    vips,
    tableSize,
    maxConnections,
    timeouts: { tcp: secs('tcp', 3600), tcpClosing: secs('tcpClosing', 10), udp: secs('udp', 300) },
    clock: a.oneOf('clock', 'wall', ['wall', 'packet'] as const),
  };
}

export class LoadBalancerState {
  readonly fwd: ConnTable;
  readonly rev: ConnTable;
  /** Per forward slot: backend id, VIP index, reverse slot. Per reverse slot: forward slot. */
  readonly fBackend: Int32Array;
  readonly fVip: Int32Array;
  readonly fRev: Int32Array;
  readonly rFwd: Int32Array;
  /** VIPs: version, protocol, address words, port, Maglev table of backend ids. */
  readonly vVersion: Int32Array;
  readonly vProto: Int32Array;
  readonly vAddr: Uint32Array;
  readonly vPort: Int32Array;
  readonly vTable: Int32Array[];
  readonly vBackends: Backend[][];
  /** Backend registry (ids are never reused): address, port, whether in a pool, packets. */
  bAddr = new Uint32Array(64 * 4);
  bPort = new Int32Array(64);
  bAlive = new Uint8Array(64);
  bPackets = new Float64Array(64);
  readonly bNames: string[] = [];
  private readonly scratch = new Int32Array(4);
  packets = 0;
  forwarded = 0;
  replies = 0;
  newConnections = 0;
  rehomed = 0;
  passed = 0;
  noBackend = 0;
  tableFull = 0;
  fragments = 0;
  malformed = 0;

  constructor(readonly args: LoadBalancerArgs) {
    const n = args.maxConnections;
    this.fwd = new ConnTable(n);
    this.rev = new ConnTable(n);
    this.fBackend = new Int32Array(n);
    this.fVip = new Int32Array(n);
    this.fRev = new Int32Array(n);
    this.rFwd = new Int32Array(n);
    const v = args.vips.length;
    this.vVersion = new Int32Array(v);
    this.vProto = new Int32Array(v);
    this.vAddr = new Uint32Array(v * 4);
    this.vPort = new Int32Array(v);
    this.vTable = [];
    this.vBackends = [];
    args.vips.forEach((vip, i) => {
      this.vVersion[i] = vip.address.version;
      this.vProto[i] = vip.proto;
      this.vAddr.set(vip.address.words, i * 4);
      this.vPort[i] = vip.port;
      this.vTable.push(new Int32Array(args.tableSize));
      this.vBackends.push([]);
      this.setBackends(i, vip.backends);
    });
  }

  private backendId(b: Backend): number {
    let id = this.bNames.indexOf(b.name);
    if (id >= 0) return id;
    id = this.bNames.length;
    this.bNames.push(b.name);
    if (id >= this.bPort.length) {
      const grow = <T extends Uint32Array | Int32Array | Uint8Array | Float64Array>(x: T): T => {
        const y = new (x.constructor as new (n: number) => T)(x.length * 2);
        y.set(x as never);
        return y;
      };
      this.bAddr = grow(this.bAddr);
      this.bPort = grow(this.bPort);
      this.bAlive = grow(this.bAlive);
      this.bPackets = grow(this.bPackets);
    }
    this.bAddr.set(b.words, id * 4);
    this.bPort[id] = b.port;
    return id;
  }

  /** Replaces VIP i's pool and rebuilds its Maglev table (setup and `setBackends`; off the hot path). */
  setBackends(i: number, backends: Backend[]): void {
    const ids = backends.map((b) => this.backendId(b));
    const t = this.vTable[i];
    populate(
      backends.map((b) => b.name),
      t,
    );
    for (let e = 0; e < t.length; e++) if (t[e] >= 0) t[e] = ids[t[e]];
    this.vBackends[i] = backends;
    this.bAlive.fill(0);
    for (const pool of this.vBackends) for (const b of pool) this.bAlive[this.bNames.indexOf(b.name)] = 1;
  }

  /** Index of the VIP the packet is addressed to (any port and protocol when `dport` is -1), or -1. */
  vipOf(u8: Uint8Array, l3: number, v: number, proto: number, dport: number): number {
    const n = this.vPort.length;
    for (let i = 0; i < n; i++) {
      if (this.vVersion[i] !== v || (dport >= 0 && (this.vProto[i] !== proto || this.vPort[i] !== dport))) continue;
      const a = this.vAddr;
      if (v === 4) {
        if (readWord(u8, l3 + 16) === a[i * 4]) return i;
      } else if (
        readWord(u8, l3 + 24) === a[i * 4] &&
        readWord(u8, l3 + 28) === a[i * 4 + 1] &&
        readWord(u8, l3 + 32) === a[i * 4 + 2] &&
        readWord(u8, l3 + 36) === a[i * 4 + 3]
      )
        return i;
    }
    return -1;
  }

  timeout(proto: number, flags: number): number {
    const t = this.args.timeouts;
    if (proto === 17) return t.udp;
    return (flags & 0x05) !== 0 ? t.tcpClosing : t.tcp;
  }

  /** Links forward slot f to a fresh reverse entry (backend → client); false when the table is full. */
  linkReverse(f: number, b: number, u8: Uint8Array, l3: number, v: number, proto: number, sport: number, now: number): boolean {
    const rev = this.rev;
    const s = this.scratch;
    for (let w = 0; w < 4; w++) s[w] = this.bAddr[b * 4 + w];
    const client = this.clientScratch;
    for (let w = 0; w < 4; w++) client[w] = v === 4 ? (w === 0 ? readWord(u8, l3 + 12) : 0) : readWord(u8, l3 + 8 + w * 4);
    rev.setKey(v, proto, this.bPort[b], sport, s, client);
    let r = rev.find(now);
    if (r < 0) r = rev.insert(now, this.fwd.expires[f]);
    if (r < 0) return false;
    rev.expires[r] = this.fwd.expires[f];
    this.rFwd[r] = f;
    this.fRev[f] = r;
    return true;
  }
  private readonly clientScratch = new Int32Array(4);
}

function readWord(u8: Uint8Array, o: number): number {
  return ((u8[o] << 24) | (u8[o + 1] << 16) | (u8[o + 2] << 8) | u8[o + 3]) >>> 0;
}

/** Rewrites the destination (dst true) or source address and port, patching every checksum. */
function rewrite(
  u8: Uint8Array,
  l3: number,
  l4: number,
  v: number,
  proto: number,
  dst: boolean,
  addr: Uint32Array,
  ao: number,
  port: number,
): void {
  const tcp = proto === 6;
  if (v === 4) {
    const at = l3 + (dst ? 16 : 12);
    const old = readWord(u8, at);
    const nw = addr[ao];
    if (dst) setIpv4DstCsum(u8, l3, nw);
    else setIpv4SrcCsum(u8, l3, nw);
    if (tcp) tcpCsumReplace32(u8, l4, old, nw);
    else udpCsumReplace32(u8, l4, old, nw);
  } else {
    const at = l3 + (dst ? 24 : 8);
    for (let w = 0; w < 4; w++) {
      const o = at + w * 4;
      const old = readWord(u8, o);
      const nw = addr[ao + w];
      if (old === nw) continue;
      u8[o] = nw >>> 24;
      u8[o + 1] = nw >>> 16;
      u8[o + 2] = nw >>> 8;
      u8[o + 3] = nw;
      if (tcp) tcpCsumReplace32(u8, l4, old, nw);
      else udpCsumReplace32(u8, l4, old, nw);
    }
  }
  if (tcp) (dst ? setTcpDstPortCsum : setTcpSrcPortCsum)(u8, l4, port);
  else (dst ? setUdpDstPortCsum : setUdpSrcPortCsum)(u8, l4, port);
}

function toBackend(st: LoadBalancerState, pkt: Packet, vip: number, now: number): void {
  const p = pkt.parsed;
  const u8 = pkt.u8;
  const v = p.ipVersion;
  const proto = p.l4Proto;
  const l3 = p.l3Offset;
  const fwd = st.fwd;
  fwd.setKeyFromPacket(u8, l3, v, proto, p.srcPort, p.dstPort, false);
  const h = fwd.hash();
  let f = fwd.find(now);
  let b = f >= 0 ? st.fBackend[f] : -1;
  if (b < 0 || st.bAlive[b] === 0) {
    const t = st.vTable[vip];
    const nb = t[h % t.length];
    if (nb < 0) {
      st.noBackend++;
      pkt.drop();
      return;
    }
    if (f >= 0) {
      st.rehomed++;
      st.rev.expires[st.fRev[f]] = 0; // the old backend's reverse entry
    } else {
      f = fwd.insert(now, now + 1);
      if (f < 0) {
        // No room to remember it: still balanced consistently, by the hash alone.
        st.tableFull++;
        b = nb;
        rewrite(u8, l3, p.l4Offset, v, proto, true, st.bAddr, b * 4, st.bPort[b]);
        st.bPackets[b]++;
        st.forwarded++;
        pkt.invalidate();
        pkt.next();
        return;
      }
      st.newConnections++;
    }
    b = nb;
    st.fBackend[f] = b;
    st.fVip[f] = vip;
    fwd.expires[f] = now + st.timeout(proto, p.tcpFlags);
    if (!st.linkReverse(f, b, u8, l3, v, proto, p.srcPort, now)) st.tableFull++;
  } else {
    fwd.expires[f] = now + st.timeout(proto, p.tcpFlags);
    st.rev.expires[st.fRev[f]] = fwd.expires[f];
  }
  rewrite(u8, l3, p.l4Offset, v, proto, true, st.bAddr, b * 4, st.bPort[b]);
  st.bPackets[b]++;
  st.forwarded++;
  pkt.invalidate();
  pkt.next();
}

/** A reply from a backend of a live connection: source back to the VIP. False if it is not one. */
function fromBackend(st: LoadBalancerState, pkt: Packet, now: number): boolean {
  const p = pkt.parsed;
  const u8 = pkt.u8;
  const rev = st.rev;
  rev.setKeyFromPacket(u8, p.l3Offset, p.ipVersion, p.l4Proto, p.srcPort, p.dstPort, false);
  const r = rev.find(now);
  if (r < 0) return false;
  const f = st.rFwd[r];
  const fwd = st.fwd;
  if (fwd.expires[f] <= now || st.fRev[f] !== r) return false;
  const exp = now + st.timeout(p.l4Proto, p.tcpFlags);
  fwd.expires[f] = exp;
  rev.expires[r] = exp;
  const vip = st.fVip[f];
  rewrite(u8, p.l3Offset, p.l4Offset, p.ipVersion, p.l4Proto, false, st.vAddr, vip * 4, st.vPort[vip]);
  st.replies++;
  pkt.invalidate();
  pkt.next();
  return true;
}

function run(st: LoadBalancerState, batch: PacketBatch): void {
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
    const proto = p.l4Proto;
    if (p.ipVersion === 0 || (proto !== 6 && proto !== 17)) {
      st.passed++;
      pkt.next();
      continue;
    }
    if (p.fragment) {
      // A first fragment has ports but its followers do not: balance neither, for VIP traffic
      // (a non-first fragment is VIP traffic when it is addressed to a VIP's address).
      const port = p.fragOffset !== 0 ? -1 : p.dstPort;
      if (st.vipOf(pkt.u8, p.l3Offset, p.ipVersion, proto, port) >= 0) {
        st.fragments++;
        pkt.drop();
      } else {
        st.passed++;
        pkt.next();
      }
      continue;
    }
    const now = packetClock ? pkt.tsSec + pkt.tsNsec / 1e9 : wall;
    const vip = st.vipOf(pkt.u8, p.l3Offset, p.ipVersion, proto, p.dstPort);
    if (vip >= 0) toBackend(st, pkt, vip, now);
    else if (!fromBackend(st, pkt, now)) {
      st.passed++;
      pkt.next();
    }
  }
}

function publish(st: LoadBalancerState, c: Record<string, number>): void {
  c.packets = st.packets;
  c.forwarded = st.forwarded;
  c.replies = st.replies;
  c.newConnections = st.newConnections;
  c.rehomed = st.rehomed;
  c.passed = st.passed;
  c.noBackend = st.noBackend;
  c.tableFull = st.tableFull;
  c.fragments = st.fragments;
  c.malformed = st.malformed;
}

/** Per-backend packet counts: once a second (tick) and at the end, not per batch. */
function publishBackends(st: LoadBalancerState, c: Record<string, number>): void {
  const names = st.bNames;
  for (let b = 0; b < names.length; b++) c[names[b]] = st.bPackets[b];
}

const states = new WeakMap<object, LoadBalancerState>();
export function loadBalancerState(ctx: object): LoadBalancerState | undefined {
  return states.get(ctx);
}

export default defineNF<LoadBalancerArgs>({
  name: NF,
  args: parseLoadBalancerArgs,
  setup: (ctx: NFContext<LoadBalancerArgs>) => {
    const st = new LoadBalancerState(ctx.args);
    states.set(ctx, st);
    publish(st, ctx.counters);
    publishBackends(st, ctx.counters);
  },
  tick: (ctx) => {
    const st = states.get(ctx);
    if (st !== undefined) publishBackends(st, ctx.counters);
  },
  teardown: (ctx) => {
    const st = states.get(ctx);
    if (st !== undefined) publishBackends(st, ctx.counters);
  },
  process: (batch, ctx) => {
    const st = states.get(ctx);
    if (st === undefined) return;
    run(st, batch);
    publish(st, ctx.counters);
  },
  /**
   * `{ cmd: 'setBackends', vip: 0, backends: ['198.51.100.3:8080', ...] }` replaces VIP 0's
   * pool (vip: its index in args.vips, or "address:port"). Connections to backends still in
   * the pool keep them; the others move on their next packet. Errors are logged.
   */
  onMessage: (data, _from, ctx) => {
    const st = states.get(ctx);
    const m = data as { cmd?: unknown; vip?: unknown; backends?: unknown } | null;
    if (st === undefined || m === null || typeof m !== 'object' || m.cmd !== 'setBackends') return;
    try {
      const vips = ctx.args.vips;
      const i =
        typeof m.vip === 'number'
          ? m.vip
          : vips.findIndex((v) => `${v.address.version === 6 ? `[${v.address.text}]` : v.address.text}:${v.port}` === m.vip);
      if (!Number.isInteger(i) || i < 0 || i >= vips.length) throw new Error(`unknown vip ${JSON.stringify(m.vip)}`);
      if (!Array.isArray(m.backends)) throw new Error('backends must be a list');
      const a = new Args(NF, { backends: m.backends }, 'setBackends.');
      const backends = parseBackends(a, 'backends', m.backends, { version: vips[i].address.version, port: vips[i].port });
      st.setBackends(i, backends);
      publishBackends(st, ctx.counters);
      ctx.log(`load-balancer: vip ${i} now has ${backends.length} backends`, { backends: backends.map((b) => b.name) });
    } catch (err) {
      ctx.log(`load-balancer: setBackends refused: ${(err as Error).message}`);
    }
  },
});
