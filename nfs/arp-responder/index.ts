// arp-responder: answers ARP requests (RFC 826) for the IPv4 addresses it is given, so a
// chain can own an address on a link: the request is turned into the reply in place and
// sent back out of the port it came in on. Everything else — other ARP, IP traffic — goes on
// along the chain (or is dropped with `others: drop`).
//
// Per RFC 5227 it answers ARP probes (sender address 0.0.0.0: someone checking whether the
// address is free) and does not answer a request whose sender claims the address itself (an
// announcement, or a conflict): that is counted in `conflicts`.
//
// Hot path: one table lookup per ARP request in preallocated typed arrays; no allocation.
import {
  defineNF,
  argError,
  ARP_OP_REQUEST,
  ARP_IPV4_LEN,
  arpIsEthIpv4,
  arpMakeReply,
  arpOp,
  arpSenderIp,
  arpTargetIp,
  ETH_P_ARP,
  formatIpv4,
  parseIpv4,
  parseMac,
  type NFContext,
  type PacketBatch,
} from '../../src/nflib/index.js';

export interface ArpAddress {
  /** The IPv4 address answered for. */
  ip: string;
  /** The MAC given in replies (default: the NF's `mac`). */
  mac?: string;
  /** Answer only requests that came in on this port (default: any port). */
  port?: string;
}

export interface ArpResponderArgs {
  addresses: ArpAddress[];
  /** MAC for addresses that do not give their own. */
  mac?: string;
  /** What happens to packets that are not answered: `next` (default) or `drop`. */
  others: 'next' | 'drop';
}

const NF = 'arp-responder';
const KNOWN = ['addresses', 'mac', 'others'];
const ADDRESS_KEYS = ['ip', 'mac', 'port'];
const MAX_ADDRESSES = 4096;

function macArg(v: unknown, field: string): Uint8Array {
  if (typeof v !== 'string') throw argError(NF, field, `must be a MAC address like "02:00:00:00:00:01", got ${JSON.stringify(v)}`);
  let m: Uint8Array;
  try {
    m = parseMac(v);
  } catch {
    throw argError(NF, field, `must be a MAC address like "02:00:00:00:00:01", got ${JSON.stringify(v)}`);
  }
  if ((m[0] & 1) !== 0) throw argError(NF, field, `must be a unicast MAC (its first byte even), got ${JSON.stringify(v)}`);
  return m;
}

function ipArg(v: unknown, field: string): number {
  if (typeof v === 'string') {
    try {
      return parseIpv4(v) >>> 0;
    } catch {
      // reported below
    }
  }
  throw argError(NF, field, `must be an IPv4 address like "198.18.0.254", got ${JSON.stringify(v)}`);
}

/** The address table: open addressing on the IPv4 address, sized at setup. */
class Table {
  readonly mask: number;
  private readonly shift: number;
  readonly used: Uint8Array;
  readonly ip: Uint32Array;
  /** MAC of each entry, 6 bytes per entry. */
  readonly mac: Uint8Array;
  /** Port id the entry is restricted to, or -1. */
  readonly port: Int32Array;
  constructor(n: number) {
    let cap = 8;
    while (cap < n * 2) cap *= 2;
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
    this.used = new Uint8Array(cap);
    this.ip = new Uint32Array(cap);
    this.mac = new Uint8Array(cap * 6);
    this.port = new Int32Array(cap);
  }
  add(ip: number, mac: Uint8Array, port: number): void {
    for (let e = this.slot(ip); ; e = (e + 1) & this.mask) {
      if (this.used[e] === 0) {
        this.used[e] = 1;
        this.ip[e] = ip;
        this.mac.set(mac, e * 6);
        this.port[e] = port;
        return;
      }
    }
  }
  /** Entry index for `ip`, or -1. */
  find(ip: number): number {
    for (let e = this.slot(ip); this.used[e] !== 0; e = (e + 1) & this.mask) if (this.ip[e] === ip) return e;
    return -1;
  }
  private slot(ip: number): number {
    // Fibonacci hashing: neighbouring addresses spread over the table.
    return Math.imul(ip, 0x9e3779b1) >>> this.shift;
  }
}

interface State {
  table: Table;
  dropOthers: boolean;
  requests: number;
  replies: number;
  notOurs: number;
  wrongPort: number;
  conflicts: number;
}
const states = new WeakMap<object, State>();

function publish(st: State, c: Record<string, number>): void {
  c.requests = st.requests;
  c.replies = st.replies;
  c.notOurs = st.notOurs;
  c.wrongPort = st.wrongPort;
  c.conflicts = st.conflicts;
}

function processBatch(st: State, batch: PacketBatch): void {
  const t = st.table;
  for (let i = 0; i < batch.length; i++) {
    const pkt = batch.packets[i];
    const p = pkt.parsed;
    const u8 = pkt.u8;
    const o = p.l3Offset;
    if (
      !p.ok ||
      p.etherType !== ETH_P_ARP ||
      o + ARP_IPV4_LEN > pkt.offset + pkt.length ||
      !arpIsEthIpv4(u8, o) ||
      arpOp(u8, o) !== ARP_OP_REQUEST
    ) {
      if (st.dropOthers) pkt.drop();
      else pkt.next();
      continue;
    }
    st.requests++;
    const tpa = arpTargetIp(u8, o);
    const e = t.find(tpa);
    if (e < 0) {
      st.notOurs++;
      if (st.dropOthers) pkt.drop();
      else pkt.next();
      continue;
    }
    const inPort = pkt.inPort;
    if (t.port[e] >= 0 && t.port[e] !== inPort) {
      st.wrongPort++;
      if (st.dropOthers) pkt.drop();
      else pkt.next();
      continue;
    }
    if (arpSenderIp(u8, o) === tpa) {
      // Someone announces (or claims) our address: answering would not help it (RFC 5227 §2.4).
      st.conflicts++;
      pkt.drop();
      continue;
    }
    // RFC 826: swap sender into target, put ours in as sender, opcode reply. The Ethernet
    // reply goes to the requester's Ethernet source, from our MAC; VLAN tags stay as they were.
    const f = pkt.offset;
    for (let k = 0; k < 6; k++) u8[f + k] = u8[f + 6 + k];
    for (let k = 0; k < 6; k++) u8[f + 6 + k] = t.mac[e * 6 + k];
    arpMakeReply(u8, o, t.mac, e * 6, tpa);
    pkt.invalidate();
    pkt.toPort(inPort);
    st.replies++;
  }
}

export default defineNF<ArpResponderArgs>({
  name: NF,
  args: (raw) => {
    for (const k of Object.keys(raw))
      if (!KNOWN.includes(k)) throw argError(NF, k, `is not an argument of ${NF} (known: ${KNOWN.join(', ')})`);
    const others = raw.others ?? 'next';
    if (others !== 'next' && others !== 'drop') throw argError(NF, 'others', `must be "next" or "drop", got ${JSON.stringify(others)}`);
    const mac = raw.mac === undefined ? undefined : macArg(raw.mac, 'mac');
    const list = raw.addresses;
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_ADDRESSES)
      throw argError(NF, 'addresses', `must be a list of 1..${MAX_ADDRESSES} addresses ("198.18.0.254" or { ip, mac?, port? })`);
    const seen = new Set<number>();
    const addresses: ArpAddress[] = list.map((a: unknown, i: number) => {
      const at = `addresses[${i}]`;
      const obj = typeof a === 'string' ? { ip: a } : a;
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
        throw argError(NF, at, `must be an address or { ip, mac?, port? }, got ${JSON.stringify(a)}`);
      const o = obj as Record<string, unknown>;
      for (const k of Object.keys(o))
        if (!ADDRESS_KEYS.includes(k)) throw argError(NF, `${at}.${k}`, `is not a key of an address (known: ${ADDRESS_KEYS.join(', ')})`);
      const ip = ipArg(o.ip, `${at}.ip`);
      if (seen.has(ip)) throw argError(NF, `${at}.ip`, `${formatIpv4(ip)} is listed twice`);
      seen.add(ip);
      if (o.mac === undefined && mac === undefined)
        throw argError(NF, `${at}.mac`, 'is needed: give the address a mac, or give args.mac for all');
      if (o.mac !== undefined) macArg(o.mac, `${at}.mac`);
      if (o.port !== undefined && (typeof o.port !== 'string' || o.port.length === 0))
        throw argError(NF, `${at}.port`, `must be a port name, got ${JSON.stringify(o.port)}`);
      const out: ArpAddress = { ip: formatIpv4(ip) };
      if (o.mac !== undefined) out.mac = o.mac as string;
      if (o.port !== undefined) out.port = o.port as string;
      return out;
    });
    const args: ArpResponderArgs = { addresses, others };
    if (raw.mac !== undefined) args.mac = raw.mac as string;
    return args;
  },
  setup: (ctx: NFContext<ArpResponderArgs>) => {
    const { addresses, mac, others } = ctx.args;
    const table = new Table(addresses.length);
    for (const a of addresses) {
      // Unknown port names fail here, at start, with the list of known ones.
      const port = a.port === undefined ? -1 : ctx.portId(a.port);
      table.add(parseIpv4(a.ip) >>> 0, parseMac(a.mac ?? mac!), port);
    }
    const st: State = { table, dropOthers: others === 'drop', requests: 0, replies: 0, notOurs: 0, wrongPort: 0, conflicts: 0 };
    states.set(ctx, st);
    publish(st, ctx.counters);
  },
  process: (batch, ctx) => {
    const st = states.get(ctx);
    if (st === undefined) return;
    processBatch(st, batch);
    publish(st, ctx.counters);
  },
});
