// router: L3 forwarding. Each IPv4/IPv6 packet's destination is looked up in a longest-prefix
// match table (lpm.ts); the route gives the output port and the next hop's MAC. The router
// decrements the TTL / hop limit (IPv4: the header checksum patched incrementally, RFC 1624 /
// RFC 1812 §5.3.1), rewrites the source MAC to the output interface's and the destination MAC
// to the next hop's, and sends the packet out of the route's port. A packet whose TTL / hop
// limit would reach 0 is dropped and, when `icmp` is on, answered with ICMP Time Exceeded
// (RFC 792, RFC 4443 §3.3) out of the port it came in on.
//
// Hot path: no allocation, no exceptions. Malformed packets, IPv4 headers with a bad checksum
// (RFC 1812 §5.2.2), packets without a route and non-IP frames are counted and dropped.
import { argError, defineNF, type NFContext, type PacketBatch } from '../../src/nflib/index.js';
import { verifyIpv4HeaderChecksum } from '../../src/proto/checksum.js';
import { decIpv4Ttl } from '../../src/proto/ipv4.js';
import { decIpv6HopLimit } from '../../src/proto/ipv6.js';
import { parseIpv6 } from '../../src/proto/address.js';
import { Args, ok, parseAddr4, parseMacArg, parsePrefix, type Prefix, type Raw } from '../_lib/args.js';
import { Lpm } from './lpm.js';
import { mayReplyV4, mayReplyV6, timeExceededV4, timeExceededV6 } from './icmp-error.js';

export interface RouterInterface {
  mac: Uint8Array;
  ipv4?: number;
  ipv6?: Uint8Array;
}
export interface RouteSpec {
  prefix: Prefix;
  port: string;
  nextHopMac: Uint8Array;
}
export interface RouterArgs {
  /** By netvm port name: the router's interface on that port. */
  interfaces: Record<string, RouterInterface>;
  routes: RouteSpec[];
  icmp: boolean;
  verifyChecksum: boolean;
  nonIp: 'drop' | 'next';
}

const NF = 'router';

export function parseRouterArgs(raw: Raw): RouterArgs {
  const a = new Args(NF, raw).known(['interfaces', 'routes', 'icmp', 'verifyChecksum', 'nonIp']);
  const ifs = a.obj('interfaces');
  const interfaces: Record<string, RouterInterface> = {};
  for (const name of Object.keys(ifs.raw)) {
    const f = ifs.obj(name).known(['mac', 'ipv4', 'ipv6']);
    const it: RouterInterface = { mac: ok(f, 'mac', parseMacArg(f.raw.mac)) };
    if (f.has('ipv4')) it.ipv4 = ok(f, 'ipv4', parseAddr4(f.raw.ipv4));
    if (f.has('ipv6')) {
      const p = parsePrefix(f.raw.ipv6);
      if (typeof p === 'string' || p.version !== 6 || p.len !== 128)
        f.fail('ipv6', `must be one IPv6 address, got ${JSON.stringify(f.raw.ipv6)}`);
      it.ipv6 = parseIpv6(f.raw.ipv6 as string);
    }
    interfaces[name] = it;
  }
  if (Object.keys(interfaces).length === 0) a.fail('interfaces', 'must name at least one port');
  const routes = a.list('routes', false, 1).map((x, i) => {
    const r = a.item('routes', i, x).known(['prefix', 'port', 'nextHopMac']);
    const port = r.str('port');
    if (interfaces[port] === undefined)
      r.fail('port', `"${port}" has no entry in args.interfaces (known: ${Object.keys(interfaces).join(', ')})`);
    return { prefix: ok(r, 'prefix', parsePrefix(r.raw.prefix)), port, nextHopMac: ok(r, 'nextHopMac', parseMacArg(r.raw.nextHopMac)) };
  });
  return {
    interfaces,
    routes,
    icmp: a.bool('icmp', true),
    verifyChecksum: a.bool('verifyChecksum', true),
    nonIp: a.oneOf('nonIp', 'drop', ['drop', 'next'] as const),
  };
}

export class RouterState {
  readonly v4 = new Lpm(32);
  readonly v6 = new Lpm(128);
  /** Per route: output port id, and 12 bytes: destination MAC, then source MAC. */
  readonly routePort: Int32Array;
  readonly routeMacs: Uint8Array;
  readonly routeHits: Float64Array;
  /** Per port id: the interface's MAC and addresses (for ICMP errors), if configured. */
  readonly ifMac: (Uint8Array | undefined)[] = [];
  readonly ifIp4: Float64Array;
  readonly ifIp6: (Uint8Array | undefined)[] = [];
  readonly txByPort: Float64Array;
  readonly portNames: string[] = [];
  packets = 0;
  forwarded = 0;
  noRoute = 0;
  ttlExceeded = 0;
  icmpSent = 0;
  icmpSuppressed = 0;
  badChecksum = 0;
  malformed = 0;
  nonIp = 0;

  constructor(args: RouterArgs, portId: (name: string, field: string) => number, maxPorts: number) {
    const n = args.routes.length;
    this.routePort = new Int32Array(n);
    this.routeMacs = new Uint8Array(n * 12);
    this.routeHits = new Float64Array(n);
    this.ifIp4 = new Float64Array(maxPorts).fill(-1);
    this.txByPort = new Float64Array(maxPorts);
    for (const [name, it] of Object.entries(args.interfaces)) {
      const id = portId(name, `interfaces.${name}`);
      this.ifMac[id] = it.mac;
      if (it.ipv4 !== undefined) this.ifIp4[id] = it.ipv4;
      this.ifIp6[id] = it.ipv6;
      this.portNames[id] = name;
    }
    args.routes.forEach((r, i) => {
      this.routePort[i] = portId(r.port, `routes[${i}].port`);
      this.routeMacs.set(r.nextHopMac, i * 12);
      this.routeMacs.set(args.interfaces[r.port].mac, i * 12 + 6);
      const bytes = new Uint8Array(16);
      for (let w = 0; w < 4; w++) {
        const x = r.prefix.words[w];
        bytes[w * 4] = x >>> 24;
        bytes[w * 4 + 1] = x >>> 16;
        bytes[w * 4 + 2] = x >>> 8;
        bytes[w * 4 + 3] = x;
      }
      (r.prefix.version === 4 ? this.v4 : this.v6).insert(bytes, r.prefix.len, i);
    });
  }
}

const states = new WeakMap<object, RouterState>();
export function routerState(ctx: object): RouterState | undefined {
  return states.get(ctx);
}

function run(st: RouterState, batch: PacketBatch, args: RouterArgs): void {
  const macs = st.routeMacs;
  for (let i = 0; i < batch.length; i++) {
    const pkt = batch.packets[i];
    st.packets++;
    const p = pkt.parsed;
    if (!p.ok) {
      st.malformed++;
      pkt.drop();
      continue;
    }
    const v = p.ipVersion;
    if (v === 0) {
      st.nonIp++;
      if (args.nonIp === 'next') pkt.next();
      else pkt.drop();
      continue;
    }
    const u8 = pkt.u8;
    const l3 = p.l3Offset;
    if (v === 4 && args.verifyChecksum && !verifyIpv4HeaderChecksum(u8, l3)) {
      st.badChecksum++;
      pkt.drop();
      continue;
    }
    const r =
      v === 4
        ? st.v4.lookup4(((u8[l3 + 16] << 24) | (u8[l3 + 17] << 16) | (u8[l3 + 18] << 8) | u8[l3 + 19]) >>> 0)
        : st.v6.lookup6(u8, l3 + 24);
    if (r < 0) {
      st.noRoute++;
      pkt.drop();
      continue;
    }
    // RFC 1812 §5.3.1 / RFC 8200 §3: a packet that arrives with TTL / hop limit 1 or 0 is not
    // forwarded (its TTL would be 0 on the next link).
    if (p.ttl <= 1) {
      st.ttlExceeded++;
      timeExceeded(st, pkt, args);
      continue;
    }
    if (v === 4) decIpv4Ttl(u8, l3);
    else decIpv6HopLimit(u8, l3);
    const off = pkt.offset;
    const m = r * 12;
    for (let b = 0; b < 12; b++) u8[off + b] = macs[m + b];
    const port = st.routePort[r];
    st.routeHits[r]++;
    st.txByPort[port]++;
    st.forwarded++;
    pkt.toPort(port);
  }
}

function timeExceeded(st: RouterState, pkt: PacketBatch['packets'][number], args: RouterArgs): void {
  const p = pkt.parsed;
  const inPort = pkt.inPort;
  const mac = st.ifMac[inPort];
  const v4 = p.ipVersion === 4;
  const src4 = inPort >= 0 && inPort < st.ifIp4.length ? st.ifIp4[inPort] : -1;
  const src6 = st.ifIp6[inPort];
  const can = args.icmp && mac !== undefined && (v4 ? src4 >= 0 : src6 !== undefined);
  if (!can || !(v4 ? mayReplyV4(pkt.u8, pkt.offset, p) : mayReplyV6(pkt.u8, p))) {
    if (args.icmp) st.icmpSuppressed++;
    pkt.drop();
    return;
  }
  pkt.length = v4
    ? timeExceededV4(pkt.u8, pkt.offset, p, mac, src4)
    : timeExceededV6(pkt.u8, pkt.offset, pkt.length, p, mac, src6 as Uint8Array);
  st.icmpSent++;
  pkt.toPort(inPort);
}

const ROUTE_NAMES = Array.from({ length: 1024 }, (_, i) => `route${i}`);

function publish(st: RouterState, c: Record<string, number>): void {
  c.packets = st.packets;
  c.forwarded = st.forwarded;
  c.noRoute = st.noRoute;
  c.ttlExceeded = st.ttlExceeded;
  c.icmpSent = st.icmpSent;
  c.icmpSuppressed = st.icmpSuppressed;
  c.badChecksum = st.badChecksum;
  c.malformed = st.malformed;
  c.nonIp = st.nonIp;
}

/** Per-route hits: once a second (tick) and at the end, not per batch (there may be many). */
function publishRoutes(st: RouterState, c: Record<string, number>): void {
  for (let i = 0; i < st.routeHits.length && i < ROUTE_NAMES.length; i++) c[ROUTE_NAMES[i]] = st.routeHits[i];
}

export default defineNF<RouterArgs>({
  name: NF,
  args: parseRouterArgs,
  setup: (ctx: NFContext<RouterArgs>) => {
    const portId = (name: string, field: string): number => {
      try {
        return ctx.portId(name);
      } catch (err) {
        throw argError(NF, field, (err as Error).message);
      }
    };
    const st = new RouterState(ctx.args, portId, 256);
    states.set(ctx, st);
    publish(st, ctx.counters);
    publishRoutes(st, ctx.counters);
  },
  tick: (ctx) => {
    const st = states.get(ctx);
    if (st !== undefined) publishRoutes(st, ctx.counters);
  },
  teardown: (ctx) => {
    const st = states.get(ctx);
    if (st !== undefined) publishRoutes(st, ctx.counters);
  },
  process: (batch, ctx) => {
    const st = states.get(ctx);
    if (st === undefined) return;
    run(st, batch, ctx.args);
    publish(st, ctx.counters);
  },
});
