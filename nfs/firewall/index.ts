// firewall: ordered rules over in-port, IPv4/IPv6 source and destination prefixes, protocol,
// port ranges and TCP flags; the first matching rule decides — allow (next step), deny (drop)
// or divert to a service — and the default policy decides the rest. In stateful mode, the
// connections that rules allowed are remembered, and later packets of them, in both
// directions, are allowed without walking the rules: replies of allowed connections pass
// even where the rules would deny them (as `ct state established accept` in nftables).
//
// Hot path: rules in typed arrays, the connection table in typed arrays, no allocation and
// no exceptions per packet. Malformed packets (truncated, bad lengths) are dropped and counted.
import { argError, defineNF, type NFContext, type PacketBatch } from '../../src/nflib/index.js';
import { Args, type Raw } from '../_lib/args.js';
import { ConnTable } from '../_lib/conn-table.js';
import { ACT_ALLOW, ACT_DENY, CompiledRules, parseRule, type RuleSpec } from './rules.js';

export interface FirewallArgs {
  rules: RuleSpec[];
  default: 'allow' | 'deny';
  stateful: boolean;
  maxConnections: number;
  /** Idle timeouts of remembered connections, seconds. */
  timeouts: { tcp: number; tcpClosing: number; udp: number; icmp: number; other: number };
  clock: 'wall' | 'packet';
}

const NF = 'firewall';
const KNOWN = ['rules', 'default', 'stateful', 'maxConnections', 'timeouts', 'clock'];

export function parseFirewallArgs(raw: Raw): FirewallArgs {
  const a = new Args(NF, raw).known(KNOWN);
  const rules = a.list('rules', true).map((r, i) => parseRule(a.item('rules', i, r)));
  const t = a.obj('timeouts', true) ?? new Args(NF, {}, 'timeouts.');
  t.known(['tcp', 'tcpClosing', 'udp', 'icmp', 'other']);
  const secs = (f: string, d: number): number => t.num(f, d, 0.001, 1e7, 'seconds, 0.001..1e7');
  const maxConnections = a.int('maxConnections', 65536, 1, 1 << 22, 'a power of two, 1..4194304');
  if ((maxConnections & (maxConnections - 1)) !== 0) a.fail('maxConnections', `must be a power of two, got ${maxConnections}`);
  return {
    rules,
    default: a.oneOf('default', 'deny', ['allow', 'deny'] as const),
    stateful: a.bool('stateful', false),
    maxConnections,
    // Established TCP: RFC 5382 REQ-5's 2 h 4 min; closing as conntrack's TIME_WAIT order;
    // UDP: RFC 4787 REQ-5's 2 min floor; ICMP: RFC 5508 REQ-1's 60 s floor halved like Linux.
    timeouts: {
      tcp: secs('tcp', 7440),
      tcpClosing: secs('tcpClosing', 10),
      udp: secs('udp', 120),
      icmp: secs('icmp', 30),
      other: secs('other', 600),
    },
    clock: a.oneOf('clock', 'wall', ['wall', 'packet'] as const),
  };
}

/** Per instance. */
export class FirewallState {
  packets = 0;
  allowed = 0;
  denied = 0;
  diverted = 0;
  defaulted = 0;
  stateHits = 0;
  stateFull = 0;
  malformed = 0;
  nonIp = 0;
  fragments = 0;
  readonly conns: ConnTable | null;
  constructor(
    readonly rules: CompiledRules,
    readonly args: FirewallArgs,
  ) {
    this.conns = args.stateful ? new ConnTable(args.maxConnections) : null;
  }
}

const states = new WeakMap<object, FirewallState>();
export function firewallState(ctx: object): FirewallState | undefined {
  return states.get(ctx);
}

/** The key ports of a packet for the connection table: TCP/UDP/SCTP ports, ICMP echo id. */
function keyPorts(u8: Uint8Array, proto: number, l4: number, sport: number, dport: number, out: Int32Array): boolean {
  if (proto === 1 || proto === 58) {
    // RFC 792 / RFC 4443 §4: echo request (8 / 128) and reply (0 / 129) share the identifier;
    // the request is keyed (id, 0) and the reply (0, id), so a reply is the request reversed.
    const type = u8[l4];
    const id = (u8[l4 + 4] << 8) | u8[l4 + 5];
    if (type === 8 || type === 128) {
      out[0] = id;
      out[1] = 0;
    } else if (type === 0 || type === 129) {
      out[0] = 0;
      out[1] = id;
    } else return false; // other ICMP is not tracked: rules decide
    return true;
  }
  out[0] = sport;
  out[1] = dport;
  return true;
}

function run(st: FirewallState, batch: PacketBatch): void {
  const rules = st.rules;
  const conns = st.conns;
  const a = st.args;
  const to = a.timeouts;
  const defAllow = a.default === 'allow';
  const ports = scratchPorts;
  const wallNow = performance.now() / 1000;
  const packetClock = a.clock === 'packet';
  for (let i = 0; i < batch.length; i++) {
    const pkt = batch.packets[i];
    st.packets++;
    const p = pkt.parsed;
    if (!p.ok) {
      st.malformed++;
      pkt.drop();
      continue;
    }
    const u8 = pkt.u8;
    const v = p.ipVersion;
    if (v === 0) st.nonIp++;
    else if (p.fragment) st.fragments++;
    let tracked = false;
    let now = 0;
    if (conns !== null && v !== 0 && p.fragOffset === 0) {
      tracked = keyPorts(u8, p.l4Proto, p.l4Offset, p.srcPort, p.dstPort, ports);
      if (tracked) {
        now = packetClock ? pkt.tsSec + pkt.tsNsec / 1e9 : wallNow;
        conns.setKeyFromPacket(u8, p.l3Offset, v, p.l4Proto, ports[0], ports[1], false);
        let e = conns.find(now);
        if (e < 0) {
          conns.setKeyFromPacket(u8, p.l3Offset, v, p.l4Proto, ports[0], ports[1], true);
          e = conns.find(now);
        }
        if (e >= 0) {
          conns.expires[e] = now + timeoutFor(p.l4Proto, p.tcpFlags, to);
          st.stateHits++;
          st.allowed++;
          pkt.next();
          continue;
        }
      }
    }
    const r = rules.match(u8, p, pkt.inPort);
    let act: number;
    if (r >= 0) {
      rules.hits[r]++;
      act = rules.action[r];
    } else {
      st.defaulted++;
      act = defAllow ? ACT_ALLOW : ACT_DENY;
    }
    if (act === ACT_DENY) {
      st.denied++;
      pkt.drop();
      continue;
    }
    if (act === ACT_ALLOW) {
      st.allowed++;
      pkt.next();
    } else {
      st.diverted++;
      pkt.toService(rules.service[r]);
    }
    if (tracked && conns !== null) {
      // Remember the connection in the direction of the packet the rules allowed.
      conns.setKeyFromPacket(u8, p.l3Offset, v, p.l4Proto, ports[0], ports[1], false);
      if (conns.insert(now, now + timeoutFor(p.l4Proto, p.tcpFlags, to)) < 0) st.stateFull++;
    }
  }
}
const scratchPorts = new Int32Array(2);
/** Counter names of the per-rule hit counts, made once. */
const RULE_NAMES = Array.from({ length: 256 }, (_, i) => `rule${i}`);

function timeoutFor(proto: number, flags: number, to: FirewallArgs['timeouts']): number {
  if (proto === 6) return (flags & 0x05) !== 0 ? to.tcpClosing : to.tcp; // FIN or RST: closing
  if (proto === 17) return to.udp;
  if (proto === 1 || proto === 58) return to.icmp;
  return to.other;
}

function publish(st: FirewallState, c: Record<string, number>): void {
  c.packets = st.packets;
  c.allowed = st.allowed;
  c.denied = st.denied;
  c.diverted = st.diverted;
  c.defaultPolicy = st.defaulted;
  c.stateHits = st.stateHits;
  c.stateFull = st.stateFull;
  c.malformed = st.malformed;
  c.nonIp = st.nonIp;
  c.fragments = st.fragments;
}

/** Per-rule hits: once a second (tick) and at the end, not per batch (there may be many rules). */
function publishRules(st: FirewallState, c: Record<string, number>): void {
  const h = st.rules.hits;
  for (let i = 0; i < h.length; i++) c[RULE_NAMES[i] ?? `rule${i}`] = h[i];
}

export default defineNF<FirewallArgs>({
  name: NF,
  args: parseFirewallArgs,
  setup: (ctx: NFContext<FirewallArgs>) => {
    // Port and service names resolve here, so an unknown one fails at start with the list.
    const named =
      (field: string, lookup: (n: string) => number) =>
      (n: string, i: number): number => {
        try {
          return lookup(n);
        } catch (err) {
          throw argError(NF, `rules[${i}].${field}`, (err as Error).message);
        }
      };
    const rules = new CompiledRules(ctx.args.rules, named('inPort', ctx.portId), named('service', ctx.serviceId));
    const st = new FirewallState(rules, ctx.args);
    states.set(ctx, st);
    publish(st, ctx.counters);
    publishRules(st, ctx.counters);
  },
  tick: (ctx) => {
    const st = states.get(ctx);
    if (st !== undefined) publishRules(st, ctx.counters);
  },
  teardown: (ctx) => {
    const st = states.get(ctx);
    if (st !== undefined) publishRules(st, ctx.counters);
  },
  process: (batch, ctx) => {
    const st = states.get(ctx);
    if (st === undefined) return;
    run(st, batch);
    publish(st, ctx.counters);
  },
});
