// rate-limiter: a token-bucket policer, for all traffic together or per flow, per source or
// per destination address, in packets or bytes per second. A packet that finds enough tokens
// conforms and takes them; one that does not exceeds and is dropped, or marked — its DSCP
// rewritten (RFC 2474 §3; the IPv4 header checksum patched incrementally, RFC 1624) — and
// passed on. Marked packets take no tokens (a policer, RFC 2697's single-rate idea with one
// bucket: exceeding traffic does not borrow from the future).
//
// Bucket: `burst` tokens deep, filled at `rate` tokens per second, full at the start.
// Time is the wall clock (once per batch), or with clock: "packet" the packets' capture
// timestamps — to see offline, deterministically, what the policer would do to a capture.
//
// Per-key buckets live in a FlowTable; entries idle for `idleTimeout` seconds are reclaimed
// at each tick (an idle bucket is full anyway). Packets that cannot be keyed (not IP, or
// malformed) and packets of keys that find the table full share one extra bucket, so nothing
// escapes the limit; they are counted.
import {
  ArgReader,
  defineNF,
  FlowTable,
  KEY_5TUPLE,
  KEY_DST_ADDR,
  KEY_SRC_ADDR,
  setIpv4TosCsum,
  type NFContext,
  type PacketBatch,
} from '../../src/nflib/index.js';

export interface RateLimiterArgs {
  /** Tokens per second: packets/s or bytes/s. */
  rate: number;
  unit: 'packets' | 'bytes';
  /** Bucket depth in tokens. */
  burst: number;
  mode: 'aggregate' | 'flow' | 'src' | 'dst';
  action: 'drop' | 'mark';
  /** DSCP written into exceeding packets (action mark). */
  dscp: number;
  maxFlows: number;
  /** Seconds after which an unused per-key bucket is forgotten. */
  idleTimeout: number;
  clock: 'wall' | 'packet';
}

const NF = 'rate-limiter';
const KNOWN = ['rate', 'unit', 'burst', 'mode', 'action', 'dscp', 'maxFlows', 'idleTimeout', 'clock'];
/** The largest Ethernet frame without FCS: the least byte burst that lets every frame through. */
const MAX_FRAME = 1514;

function parseArgs(raw: Record<string, unknown>): RateLimiterArgs {
  const r = new ArgReader(NF, raw, KNOWN);
  const rate = r.number('rate', { min: 0, exclusiveMin: true, max: 1e12 });
  const unit = r.oneOf('unit', ['packets', 'bytes'] as const, 'packets');
  // Default: a tenth of a second of traffic, and at least one packet (or one full frame).
  const burst = r.number('burst', { min: 0, exclusiveMin: true, max: 1e12 }, Math.max(rate / 10, unit === 'bytes' ? MAX_FRAME : 1));
  if (unit === 'packets' && burst < 1) throw r.error('burst', `must be at least 1 packet (a smaller bucket never conforms), got ${burst}`);
  const mode = r.oneOf('mode', ['aggregate', 'flow', 'src', 'dst'] as const, 'aggregate');
  const action = r.oneOf('action', ['drop', 'mark'] as const, 'drop');
  // RFC 8622: the lower-effort PHB is DSCP 1.
  const dscp = r.int('dscp', 0, 63, 1);
  if (action === 'drop' && r.has('dscp')) throw r.error('dscp', 'applies to action "mark" only');
  const maxFlows = r.int('maxFlows', 1, 1 << 22, 65536);
  if (mode === 'aggregate' && r.has('maxFlows')) throw r.error('maxFlows', 'applies to the per-key modes (flow, src, dst) only');
  const idleTimeout = r.number('idleTimeout', { min: 0, exclusiveMin: true, max: 86400 }, 60);
  const clock = r.oneOf('clock', ['wall', 'packet'] as const, 'wall');
  return { rate, unit, burst, mode, action, dscp, maxFlows, idleTimeout, clock };
}

export class RateLimiterState {
  readonly rate: number;
  readonly burst: number;
  readonly bytes: boolean;
  readonly mark: boolean;
  readonly dscp: number;
  readonly idle: number;
  readonly packetClock: boolean;
  /** Per-key tables; null in aggregate mode. */
  readonly table: FlowTable | null;
  /** Bucket state per table entry, plus the shared bucket at index `shared`. */
  readonly tokens: Float64Array;
  readonly last: Float64Array;
  readonly shared: number;
  /** The packet clock's origin (first timestamp seen, seconds). */
  private base = -1;
  /** Latest time seen (seconds, on this NF's clock). */
  now = 0;
  packets = 0;
  bytesIn = 0;
  conformed = 0;
  exceeded = 0;
  dropped = 0;
  marked = 0;
  unmarkable = 0;
  unkeyed = 0;
  expired = 0;

  constructor(a: RateLimiterArgs) {
    this.rate = a.rate;
    this.burst = a.burst;
    this.bytes = a.unit === 'bytes';
    this.mark = a.action === 'mark';
    this.dscp = a.dscp;
    this.idle = a.idleTimeout;
    this.packetClock = a.clock === 'packet';
    const fields = a.mode === 'flow' ? KEY_5TUPLE : a.mode === 'src' ? KEY_SRC_ADDR : a.mode === 'dst' ? KEY_DST_ADDR : 0;
    this.table = a.mode === 'aggregate' ? null : new FlowTable(a.maxFlows, fields);
    const n = this.table === null ? 1 : a.maxFlows + 1;
    this.shared = n - 1;
    this.tokens = new Float64Array(n);
    this.last = new Float64Array(n);
    this.tokens[this.shared] = this.burst;
    this.last[this.shared] = -1;
  }

  /** Seconds on the packet clock: capture time relative to the first packet's second. */
  packetTime(sec: number, nsec: number): number {
    if (this.base < 0) this.base = sec;
    // nsec / 1e9 (not × 1e-9): exact for binary fractions of a second, so tests can be exact.
    const t = sec - this.base + nsec / 1e9;
    if (t > this.now) this.now = t;
    return t;
  }

  /** Takes `cost` tokens from bucket `b` at time `t` if it has them. */
  take(b: number, t: number, cost: number): boolean {
    const tokens = this.tokens;
    const last = this.last;
    if (last[b] < 0) last[b] = t; // the shared bucket's first use
    const dt = t - last[b];
    if (dt > 0) {
      const v = tokens[b] + dt * this.rate;
      tokens[b] = v > this.burst ? this.burst : v;
      last[b] = t;
    }
    if (tokens[b] >= cost) {
      tokens[b] -= cost;
      return true;
    }
    return false;
  }

  process(batch: PacketBatch, wallNow: number): void {
    const table = this.table;
    for (let i = 0; i < batch.length; i++) {
      const pkt = batch.packets[i];
      pkt.next();
      const len = pkt.length;
      this.packets++;
      this.bytesIn += len;
      const t = this.packetClock ? this.packetTime(pkt.tsSec, pkt.tsNsec) : wallNow;
      const p = pkt.parsed;
      const ip = p.ok && p.ipVersion !== 0;
      let b = this.shared;
      if (table !== null) {
        const e = ip ? table.lookup(pkt.u8, p, true) : -1;
        if (e >= 0) {
          b = e;
          if (table.isNew) {
            this.tokens[e] = this.burst;
            this.last[e] = t;
          }
        } else this.unkeyed++;
      }
      if (this.take(b, t, this.bytes ? len : 1)) {
        this.conformed++;
        continue;
      }
      this.exceeded++;
      if (!this.mark) {
        pkt.drop();
        this.dropped++;
      } else if (ip) {
        const u8 = pkt.u8;
        const l3 = p.l3Offset;
        if (p.ipVersion === 4) {
          // DSCP is the upper 6 bits of the old TOS byte; the 2 ECN bits stay (RFC 3168 §5).
          setIpv4TosCsum(u8, l3, (this.dscp << 2) | (u8[l3 + 1] & 3));
        } else {
          // IPv6 traffic class straddles bytes 0 and 1 (RFC 8200 §3): DSCP is its upper 6 bits.
          const tc = (this.dscp << 2) | ((u8[l3 + 1] >>> 4) & 3);
          u8[l3] = 0x60 | (tc >>> 4);
          u8[l3 + 1] = ((tc & 0x0f) << 4) | (u8[l3 + 1] & 0x0f);
        }
        pkt.invalidate();
        this.marked++;
      } else {
        this.unmarkable++; // no IP header to mark: passed as it is
      }
    }
  }

  /**
   * Forgets per-key buckets unused for `idle` seconds (tick) — only those that have refilled
   * completely by now, so forgetting one changes nothing: its key would get a full bucket
   * either way. (Output then does not depend on when ticks happen to run.)
   */
  sweep(now: number): void {
    const table = this.table;
    if (table === null) return;
    const used = table.used;
    for (let e = 0; e < table.capacity; e++) {
      if (used[e] === 0) continue;
      const idleFor = now - this.last[e];
      if (idleFor > this.idle && this.tokens[e] + idleFor * this.rate >= this.burst) {
        table.remove(e);
        this.expired++;
      }
    }
  }

  publish(c: Record<string, number>): void {
    c.packets = this.packets;
    c.bytes = this.bytesIn;
    c.conformed = this.conformed;
    c.exceeded = this.exceeded;
    c.dropped = this.dropped;
    c.marked = this.marked;
    c.unmarkable = this.unmarkable;
    c.flows = this.table === null ? 0 : this.table.size;
    c.tableFull = this.table === null ? 0 : this.table.full;
    c.unkeyed = this.unkeyed;
    c.expired = this.expired;
  }
}

const states = new WeakMap<object, RateLimiterState>();

/** The limiter's state for an instance (tests read buckets through it). */
export function rateLimiterState(ctx: object): RateLimiterState | undefined {
  return states.get(ctx);
}

const wallSeconds = (): number => performance.now() / 1000;

export default defineNF<RateLimiterArgs>({
  name: NF,
  args: parseArgs,
  setup: (ctx: NFContext<RateLimiterArgs>) => {
    const st = new RateLimiterState(ctx.args);
    states.set(ctx, st);
    st.publish(ctx.counters);
  },
  process: (batch, ctx) => {
    const st = states.get(ctx);
    if (st === undefined) return;
    const now = st.packetClock ? 0 : wallSeconds();
    if (!st.packetClock) st.now = now;
    st.process(batch, now);
    st.publish(ctx.counters);
  },
  tickMs: 1000,
  tick: (ctx) => {
    const st = states.get(ctx);
    if (st === undefined) return;
    st.sweep(st.packetClock ? st.now : wallSeconds());
    st.publish(ctx.counters);
  },
});
