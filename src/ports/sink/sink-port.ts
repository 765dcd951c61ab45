// The sink port: an output that takes every packet and discards it, counting packets and
// bytes — the far end of a benchmark chain (OpenNetVM's speed tester measures the same way).
// When the generator stamps its packets (performance.now() in the buffer's f64 metadata, same
// process, same clock), the sink measures one-way latency through the chain into min, max,
// sum and a fixed log2 histogram (preallocated; recording allocates nothing).
//
// With `rate`, the sink stands for a slower link: a token bucket lets through at most `rate`
// packets a second (bursts of up to 10 ms of them) and leaves the rest to the caller as
// deferred (PortDriver.txDeferred), as a NIC whose transmit queue is full would. That is how
// the manager's transmit backpressure is tested without a NIC.
import { NetvmError } from '../../core/errors.js';
import { M_LEN, M_STAMP_F64 } from '../../core/layout.js';
import type { BufferAccess, PortDriver, PortStats } from '../port-driver.js';

export interface SinkOptions {
  /** Measure latency from generator stamps (default true). */
  latency?: boolean;
  /** Packets per second it takes at most; 0 (default): all it is given. */
  rate?: number;
}

/** A rate-limited sink takes bursts of up to this much time's worth of packets (ms). */
const BURST_MS = 10;

/** Histogram buckets: bucket b holds latencies in [2^(b-1), 2^b) ns; bucket 0 is < 1 ns. */
const BUCKETS = 64;

export class SinkPort implements PortDriver {
  readonly kind = 'sink';
  readonly canReceive = false;
  readonly canTransmit = true;
  private readonly latency: boolean;
  private access: BufferAccess | null = null;
  private packets = 0;
  private bytes = 0;
  private invalid = 0;
  private latCount = 0;
  private latSumMs = 0;
  private latMinMs = Infinity;
  private latMaxMs = 0;
  private readonly hist = new Float64Array(BUCKETS);
  private readonly rate: number;
  private tokens = 0;
  private refilledAt = -1;
  private deferred = 0;
  /** PortDriver.txDeferred: packets of the last txBurst the rate limit left. */
  txDeferred = 0;

  constructor(options: SinkOptions = {}) {
    const o = options ?? {};
    const v = o.latency;
    if (v !== undefined && typeof v !== 'boolean')
      throw new NetvmError('NETVM_PORT_OPEN', `sink: option "latency" must be true or false (got ${JSON.stringify(v)})`);
    this.latency = v ?? true;
    const r = o.rate ?? 0;
    if (typeof r !== 'number' || !Number.isFinite(r) || r < 0 || r > 1e9)
      throw new NetvmError(
        'NETVM_PORT_OPEN',
        `sink: option "rate" must be a number of packets per second in 0..1e9 (got ${JSON.stringify(r)})`,
      );
    this.rate = r;
  }

  async open(access: BufferAccess): Promise<void> {
    this.access = access;
  }

  rxBurst(): number {
    return 0;
  }

  txBurst(descs: Int32Array, count: number, now: number): number {
    this.txDeferred = 0;
    const a = this.access;
    if (a === null || !(count > 0)) return 0;
    if (count > descs.length) count = descs.length;
    if (this.rate > 0) {
      const cap = Math.max(1, (this.rate * BURST_MS) / 1000);
      if (this.refilledAt < 0) this.tokens = cap;
      else if (now > this.refilledAt) this.tokens = Math.min(cap, this.tokens + ((now - this.refilledAt) * this.rate) / 1000);
      this.refilledAt = now;
      const take = Math.min(count, Math.floor(this.tokens));
      this.tokens -= take;
      this.txDeferred = count - take;
      this.deferred += count - take;
      count = take;
    }
    const i32 = a.i32;
    const f64 = a.f64;
    const room = a.dataRoom;
    const lat = this.latency;
    let bytes = 0;
    for (let k = 0; k < count; k++) {
      const base = a.bufferOffset(descs[k]);
      const len = i32[(base >> 2) + M_LEN];
      if (len >= 1 && len <= room) bytes += len;
      else this.invalid++;
      if (lat) {
        const stamp = f64[(base >> 3) + M_STAMP_F64];
        if (stamp > 0) {
          const ms = now - stamp;
          if (ms >= 0 && ms < 3.6e6) this.record(ms);
        }
      }
    }
    this.packets += count;
    this.bytes += bytes;
    return count;
  }

  private record(ms: number): void {
    this.latCount++;
    this.latSumMs += ms;
    if (ms < this.latMinMs) this.latMinMs = ms;
    if (ms > this.latMaxMs) this.latMaxMs = ms;
    const ns = ms * 1e6;
    let b: number;
    if (ns < 1) b = 0;
    else if (ns < 2147483648) b = 32 - Math.clz32(ns);
    else b = Math.min(BUCKETS - 1, Math.floor(Math.log2(ns)) + 1);
    this.hist[b]++;
  }

  /** The q-quantile in µs from the histogram, interpolated within its log2 bucket. */
  private quantileUs(q: number): number {
    const n = this.latCount;
    if (n === 0) return 0;
    const target = q * n;
    let cum = 0;
    for (let b = 0; b < BUCKETS; b++) {
      const c = this.hist[b];
      if (c === 0) continue;
      if (cum + c >= target) {
        const lo = b === 0 ? 0 : 2 ** (b - 1);
        const hi = 2 ** b;
        let ns = lo + ((target - cum) / c) * (hi - lo);
        const minNs = this.latMinMs * 1e6;
        const maxNs = this.latMaxMs * 1e6;
        if (ns < minNs) ns = minNs;
        if (ns > maxNs) ns = maxNs;
        return ns / 1000;
      }
      cum += c;
    }
    return this.latMaxMs * 1000;
  }

  exhausted(): boolean {
    return true; // not an input
  }

  stats(): PortStats {
    const n = this.latCount;
    return {
      packets: this.packets,
      bytes: this.bytes,
      invalid: this.invalid,
      deferred: this.deferred,
      latencyCount: n,
      latencyAvgUs: n > 0 ? (this.latSumMs / n) * 1000 : 0,
      latencyMinUs: n > 0 ? this.latMinMs * 1000 : 0,
      latencyMaxUs: n > 0 ? this.latMaxMs * 1000 : 0,
      latencyP50Us: this.quantileUs(0.5),
      latencyP99Us: this.quantileUs(0.99),
    };
  }

  async close(): Promise<void> {
    this.access = null;
  }
}
