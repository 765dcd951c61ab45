// speed-tester: OpenNetVM's speed tester (examples/speed_tester) for netvm. It creates a fixed
// set of packets in the shared pool (ctx.alloc), sends them to a destination service and,
// whenever one comes back, sends it out again — so `count` packets circle through the chain
// (NF → NF rings, no port, no copy) as fast as it can move them. It reports the loop rate in
// Mpps and the round-trip latency: each packet is stamped when sent and read when it returns.
//
// As in OpenNetVM: a packet of its own is recognised by its buffer (here: the descriptor it
// allocated), other packets are dropped (or passed on), the test packets are built (UDP, a
// size) or loaded from a pcap file. With `dest` left out the NF sends to itself — one NF's
// loop through its own ring (`./go.sh 1 -d 1`); with `dest: fwd` and a forward NF whose
// `to` is this service, the loop crosses two processes, and so on.
//
// Ending: after `packets` returns or `seconds`, returning packets are dropped (or sent out of
// `finalPort`) instead of resent, so every buffer goes back to the pool — and `netvm run`, which
// waits for that, exits. The final summary is logged and kept in the counters.
import {
  ArgReader,
  argError,
  buildPacket,
  defineNF,
  parsePacket,
  ParsedPacket,
  SYMMETRIC_RSS_KEY,
  Toeplitz,
  type NFContext,
  type Packet,
  type PacketBatch,
} from '../../src/nflib/index.js';
import { readPcapFile } from '../../src/ports/pcap/pcap-format.js';

export interface SpeedTesterArgs {
  /** Service the packets are sent to (default: this NF's own service). */
  dest?: string;
  /** Packets in flight (OpenNetVM's -c, default 128). */
  count: number;
  /** Frame size in bytes of the built packets (without FCS). */
  size: number;
  /** Distinct flows (UDP source ports) among the built packets. */
  flows: number;
  ipVersion: 4 | 6;
  /** Load the packets from a pcap file instead (OpenNetVM's -o), cycling through its records. */
  pcap?: string;
  /** End after this many returns (0: never). */
  packets: number;
  /** End after this many seconds (0: never). */
  seconds: number;
  /** Seconds between reports (0: only the final summary). */
  interval: number;
  /** Services that must have an instance before the first send (default: dest and this one). */
  waitFor?: string[];
  /** A port to send the packets out of when the test ends (default: they are dropped). */
  finalPort?: string;
  /** Packets that are not the tester's: drop (as OpenNetVM does) or pass on. */
  other: 'drop' | 'next';
}

const NF = 'speed-tester';
const KNOWN = ['dest', 'count', 'size', 'flows', 'ipVersion', 'pcap', 'packets', 'seconds', 'interval', 'waitFor', 'finalPort', 'other'];
/** NF receive rings hold 4096 descriptors by default: more in flight could not fit a self-loop. */
const MAX_COUNT = 4096;

function parseArgs(raw: Record<string, unknown>): SpeedTesterArgs {
  const r = new ArgReader(NF, raw, KNOWN);
  const out: SpeedTesterArgs = {
    count: r.int('count', 1, MAX_COUNT, 128),
    size: r.int('size', 60, 1514, 64),
    flows: r.int('flows', 1, 65535, 1),
    ipVersion: r.int('ipVersion', 4, 6, 4) as 4 | 6,
    packets: r.int('packets', 0, Number.MAX_SAFE_INTEGER, 0),
    seconds: r.number('seconds', { min: 0, max: 86400 * 365 }, 0),
    interval: r.number('interval', { min: 0, max: 86400 }, 1),
    other: r.oneOf('other', ['drop', 'next'] as const, 'drop'),
  };
  if (out.ipVersion !== 4 && out.ipVersion !== 6) throw r.error('ipVersion', 'must be 4 or 6');
  const dest = r.string('dest', false, 'a service name');
  if (dest !== undefined) out.dest = dest;
  const pcap = r.string('pcap', false, 'a pcap file path');
  if (pcap !== undefined) {
    if (r.has('size') || r.has('flows') || r.has('ipVersion'))
      throw r.error('pcap', 'replaces size, flows and ipVersion: give one or the other');
    out.pcap = pcap;
  }
  const fp = r.string('finalPort', false, 'a port name');
  if (fp !== undefined) out.finalPort = fp;
  if (r.has('waitFor')) {
    const w = r.raw.waitFor;
    if (!Array.isArray(w) || !w.every((x) => typeof x === 'string' && x.length > 0))
      throw r.error('waitFor', `must be a list of service names, got ${JSON.stringify(w)}`);
    out.waitFor = w as string[];
  }
  return out;
}

class Tester {
  readonly views: Packet[] = [];
  /** Descriptor → index of one of our packets. */
  readonly owned = new Map<number, number>();
  readonly stamp: Float64Array;
  readonly dest: number;
  readonly finalPort: number;
  readonly dropOther: boolean;
  readonly limit: number;
  readonly seconds: number;
  readonly wait: number[];
  started = false;
  ending = false;
  finished = false;
  reported = false;
  t0 = 0;
  tEnd = 0;
  sent = 0;
  received = 0;
  foreign = 0;
  inFlight = 0;
  // Latency over the current report interval and over the whole run (ms).
  latSum = 0;
  latN = 0;
  latMin = Infinity;
  latMax = 0;
  totSum = 0;
  totN = 0;
  totMin = Infinity;
  totMax = 0;
  lastReport = 0;
  lastReceived = 0;
  mpps = 0;

  constructor(count: number, dest: number, finalPort: number, a: SpeedTesterArgs, wait: number[]) {
    this.stamp = new Float64Array(count);
    this.dest = dest;
    this.finalPort = finalPort;
    this.dropOther = a.other === 'drop';
    this.limit = a.packets;
    this.seconds = a.seconds;
    this.wait = wait;
  }

  /** Sends every packet for the first time (tick, once the destination exists). */
  start(ctx: NFContext<SpeedTesterArgs>): void {
    const now = performance.now();
    this.t0 = now;
    this.lastReport = now;
    for (let i = 0; i < this.views.length; i++) {
      const p = this.views[i];
      this.stamp[i] = now;
      p.toService(this.dest);
      ctx.emit(p);
      this.sent++;
      this.inFlight++;
    }
    this.started = true;
  }

  process(batch: PacketBatch): void {
    const now = performance.now();
    const owned = this.owned;
    for (let i = 0; i < batch.length; i++) {
      const pkt = batch.packets[i];
      const k = owned.get(pkt.desc);
      if (k === undefined) {
        this.foreign++;
        if (this.dropOther) pkt.drop();
        else pkt.next();
        continue;
      }
      this.received++;
      const lat = now - this.stamp[k];
      this.latSum += lat;
      this.latN++;
      if (lat < this.latMin) this.latMin = lat;
      if (lat > this.latMax) this.latMax = lat;
      if (this.ending) {
        // The test is over: the packet leaves the loop for good.
        owned.delete(pkt.desc);
        this.inFlight--;
        if (this.finalPort >= 0) pkt.toPort(this.finalPort);
        else pkt.drop();
        continue;
      }
      this.stamp[k] = now;
      pkt.toService(this.dest);
      this.sent++;
      if (this.limit > 0 && this.received >= this.limit) this.end(now);
    }
    if (this.seconds > 0 && !this.ending && now - this.t0 >= this.seconds * 1000) this.end(now);
  }

  private end(now: number): void {
    this.ending = true;
    this.tEnd = now;
  }

  /** Folds the interval's latency into the totals and returns the interval's figures. */
  roll(now: number): { mpps: number; avgUs: number; minUs: number; maxUs: number; packets: number } {
    const dt = now - this.lastReport;
    const n = this.received - this.lastReceived;
    this.mpps = dt > 0 ? n / dt / 1000 : 0;
    const r = {
      mpps: this.mpps,
      avgUs: this.latN > 0 ? (this.latSum / this.latN) * 1000 : 0,
      minUs: this.latN > 0 ? this.latMin * 1000 : 0,
      maxUs: this.latMax * 1000,
      packets: n,
    };
    this.totSum += this.latSum;
    this.totN += this.latN;
    if (this.latMin < this.totMin) this.totMin = this.latMin;
    if (this.latMax > this.totMax) this.totMax = this.latMax;
    this.latSum = 0;
    this.latN = 0;
    this.latMin = Infinity;
    this.latMax = 0;
    this.lastReport = now;
    this.lastReceived = this.received;
    return r;
  }

  publish(c: Record<string, number>): void {
    c.sent = this.sent;
    c.received = this.received;
    c.inFlight = this.inFlight;
    c.foreign = this.foreign;
    c.mpps = round3(this.mpps);
    const n = this.totN + this.latN;
    c.latencyAvgUs = n > 0 ? round3(((this.totSum + this.latSum) / n) * 1000) : 0;
    c.latencyMinUs = n > 0 ? round3(Math.min(this.totMin, this.latMin) * 1000) : 0;
    c.latencyMaxUs = round3(Math.max(this.totMax, this.latMax) * 1000);
    const elapsed = this.started ? (this.ending ? this.tEnd : performance.now()) - this.t0 : 0;
    c.elapsedMs = round3(elapsed);
    c.avgMpps = elapsed > 0 ? round3(this.received / elapsed / 1000) : 0;
    c.done = this.finished ? 1 : 0;
  }
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** The test packets' frames and capture times. */
function templates(a: SpeedTesterArgs): { data: Uint8Array; tsSec: number; tsNsec: number }[] {
  if (a.pcap !== undefined) {
    let recs;
    try {
      recs = readPcapFile(a.pcap).packets;
    } catch (err) {
      throw argError(NF, 'pcap', `cannot be read: ${(err as Error).message}`);
    }
    if (recs.length === 0) throw argError(NF, 'pcap', `has no packets (${a.pcap})`);
    return Array.from({ length: a.count }, (_, i) => recs[i % recs.length]);
  }
  const v6 = a.ipVersion === 6;
  const frames: Uint8Array[] = [];
  for (let f = 0; f < Math.min(a.flows, a.count); f++) {
    // RFC 2544 benchmarking addresses (IPv4), RFC 3849 documentation prefix (IPv6).
    frames.push(
      buildPacket({
        src: v6 ? '2001:db8::1:0' : '198.18.0.0',
        dst: v6 ? '2001:db8::2:1' : '198.19.0.1',
        proto: 'udp',
        srcPort: 1024 + f,
        dstPort: 5001,
        size: Math.max(a.size, v6 ? 62 : 60),
      }),
    );
  }
  return Array.from({ length: a.count }, (_, i) => ({ data: frames[i % frames.length], tsSec: 0, tsNsec: 0 }));
}

const testers = new WeakMap<object, Tester>();

/** The tester of an instance (tests read it). */
export function speedTester(ctx: object): Tester | undefined {
  return testers.get(ctx);
}

function report(t: Tester, ctx: NFContext<SpeedTesterArgs>, final: boolean): void {
  const r = t.roll(performance.now());
  if (final) {
    const elapsed = (t.ending ? t.tEnd : performance.now()) - t.t0;
    const avgUs = t.totN > 0 ? (t.totSum / t.totN) * 1000 : 0;
    ctx.log(
      `speed-tester: ${t.received} packets in ${(elapsed / 1000).toFixed(3)} s: ${(t.received / elapsed / 1000).toFixed(3)} Mpps, ` +
        `latency avg ${avgUs.toFixed(1)} us (min ${(t.totMin * 1000).toFixed(1)}, max ${(t.totMax * 1000).toFixed(1)}), ${ctx.args.count} packets in flight`,
      { packets: t.received, seconds: elapsed / 1000, mpps: t.received / elapsed / 1000, latencyAvgUs: avgUs, count: ctx.args.count },
    );
  } else {
    ctx.log(
      `speed-tester: ${r.mpps.toFixed(3)} Mpps, latency avg ${r.avgUs.toFixed(1)} us (min ${r.minUs.toFixed(1)}, max ${r.maxUs.toFixed(1)}), total ${t.received}`,
      { mpps: r.mpps, latencyAvgUs: r.avgUs, latencyMinUs: r.minUs, latencyMaxUs: r.maxUs, total: t.received },
    );
  }
}

export default defineNF<SpeedTesterArgs>({
  name: NF,
  args: parseArgs,
  setup: (ctx: NFContext<SpeedTesterArgs>) => {
    const a = ctx.args;
    // Names fail here, at start, with the list of known ones.
    const dest = ctx.serviceId(a.dest ?? ctx.service);
    const finalPort = a.finalPort !== undefined ? ctx.portId(a.finalPort) : -1;
    const wait = (a.waitFor ?? [a.dest ?? ctx.service, ctx.service]).map((s) => ctx.serviceId(s));
    const t = new Tester(a.count, dest, finalPort, a, wait);
    const toeplitz = new Toeplitz(SYMMETRIC_RSS_KEY);
    const p = new ParsedPacket();
    for (const tpl of templates(a)) {
      const pkt = ctx.alloc();
      if (pkt === null) throw argError(NF, 'count', `is more than the free buffers in the pool (${t.views.length} allocated)`);
      if (tpl.data.length > pkt.tailroom)
        throw argError(NF, 'pcap', `holds a ${tpl.data.length}-byte packet, more than a buffer's ${pkt.tailroom}`);
      pkt.u8.set(tpl.data, pkt.offset);
      pkt.length = tpl.data.length;
      pkt.setTimestamp(tpl.tsSec, tpl.tsNsec);
      // The flow hash a NIC's RSS would give (the instance of `dest` it goes to follows it).
      if (parsePacket(tpl.data, 0, tpl.data.length, p) && p.ipVersion !== 0) {
        const u8 = tpl.data;
        const l3 = p.l3Offset;
        const w = (o: number): number => ((u8[o] << 24) | (u8[o + 1] << 16) | (u8[o + 2] << 8) | u8[o + 3]) >>> 0;
        pkt.hash =
          p.ipVersion === 4
            ? toeplitz.hashIpv4(w(l3 + 12), w(l3 + 16), p.srcPort, p.dstPort)
            : toeplitz.hashIpv6(u8, l3 + 8, l3 + 24, p.srcPort, p.dstPort);
      }
      t.owned.set(pkt.desc, t.views.length);
      t.views.push(pkt);
    }
    testers.set(ctx, t);
    t.publish(ctx.counters);
  },
  process: (batch, ctx) => {
    const t = testers.get(ctx);
    if (t === undefined) return;
    t.process(batch);
    if (t.ending && t.inFlight === 0 && !t.finished) t.finished = true;
    t.publish(ctx.counters);
  },
  tickMs: 10,
  tick: (ctx) => {
    const t = testers.get(ctx);
    if (t === undefined) return;
    if (!t.started) {
      if (t.wait.every((s) => ctx.instanceCount(s) > 0)) t.start(ctx);
      t.publish(ctx.counters);
      return;
    }
    const now = performance.now();
    if (t.seconds > 0 && !t.ending && now - t.t0 >= t.seconds * 1000) {
      // Nothing came back for a while (all packets lost?): end anyway.
      t.ending = true;
      t.tEnd = now;
    }
    if (t.finished && !t.reported) {
      t.reported = true;
      report(t, ctx, true);
    } else if (ctx.args.interval > 0 && now - t.lastReport >= ctx.args.interval * 1000 && !t.ending) report(t, ctx, false);
    t.publish(ctx.counters);
  },
  teardown: (ctx) => {
    const t = testers.get(ctx);
    if (t === undefined) return;
    if (t.started && !t.reported) {
      t.reported = true;
      report(t, ctx, true);
    }
    t.publish(ctx.counters);
  },
});
