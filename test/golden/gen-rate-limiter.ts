// Golden case for nfs/rate-limiter, on the packet clock (capture timestamps), three chains:
//   agg   aggregate, 64 packets/s, burst 4, drop
//   flow  per 5-tuple, 6400 bytes/s, burst 1600, mark DSCP 10 (IPv4 checksum patched)
//   src   per source address, 16 packets/s, burst 2, drop
// Timestamps sit on a 1/64 s grid and rates are multiples of 16, so every token count is an
// exact binary fraction: the expected outputs below come from a plain token-bucket model
// (written here, not the NF's code) with no rounding question at any decision.
// Run `npx tsx test/golden/gen-rate-limiter.ts` to rewrite test/golden/rate-limiter/.
import { buildPacket } from '../../src/proto/build.js';
import { parsePacket, ParsedPacket } from '../../src/proto/parse.js';
import { formatIpv4, formatIpv6 } from '../../src/proto/address.js';
import type { PcapWriteRecord } from '../../src/ports/pcap/pcap-format.js';
import { isMain, writeGolden, type GoldenFiles } from './golden-run.js';
import { nastyFrames, pcap, records, rng } from './gen-common.js';

const TICK_US = 15625; // 1/64 s

interface Limiter {
  rate: number;
  burst: number;
  bytes: boolean;
  /** null: one bucket for everything (aggregate). */
  key: ((f: Uint8Array, p: ParsedPacket) => string) | null;
  mark: number; // -1: drop
}

function ipText(f: Uint8Array, o: number, v: number): string {
  return v === 4 ? formatIpv4(((f[o] << 24) | (f[o + 1] << 16) | (f[o + 2] << 8) | f[o + 3]) >>> 0) : formatIpv6(f, o);
}

/** One-bucket-per-key policer over the records; returns the output and the counters. */
function police(recs: PcapWriteRecord[], lim: Limiter): { out: PcapWriteRecord[]; counters: Record<string, number> } {
  const buckets = new Map<string, { tokens: number; last: number }>();
  const p = new ParsedPacket();
  const out: PcapWriteRecord[] = [];
  const c = { packets: 0, conformed: 0, exceeded: 0, dropped: 0, marked: 0, unmarkable: 0, unkeyed: 0 };
  const t0 = recs[0].tsSec;
  for (const r of recs) {
    const f = r.data;
    c.packets++;
    const t = r.tsSec - t0 + r.tsNsec / 1e9;
    const ok = parsePacket(f, 0, f.length, p);
    const ip = ok && p.ipVersion !== 0;
    let key = '<shared>';
    if (lim.key !== null) {
      if (ip) key = lim.key(f, p);
      else c.unkeyed++; // not IP or malformed: the shared bucket
    }
    let b = buckets.get(key);
    if (b === undefined) buckets.set(key, (b = { tokens: lim.burst, last: t }));
    if (t > b.last) {
      b.tokens = Math.min(lim.burst, b.tokens + (t - b.last) * lim.rate);
      b.last = t;
    }
    const cost = lim.bytes ? f.length : 1;
    if (b.tokens >= cost) {
      b.tokens -= cost;
      c.conformed++;
      out.push(r);
      continue;
    }
    c.exceeded++;
    if (lim.mark < 0) {
      c.dropped++;
      continue;
    }
    if (!ip) {
      c.unmarkable++;
      out.push(r);
      continue;
    }
    const g = Uint8Array.from(f);
    const l3 = p.l3Offset;
    if (p.ipVersion === 4) {
      g[l3 + 1] = (lim.mark << 2) | (f[l3 + 1] & 3);
      // The whole header checksum, recomputed (RFC 791).
      g[l3 + 10] = 0;
      g[l3 + 11] = 0;
      let sum = 0;
      for (let i = 0; i < (f[l3] & 15) * 4; i += 2) sum += (g[l3 + i] << 8) | g[l3 + i + 1];
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      const ck = ~sum & 0xffff;
      g[l3 + 10] = ck >> 8;
      g[l3 + 11] = ck & 0xff;
    } else {
      const tc = (lim.mark << 2) | ((((f[l3] & 15) << 4) | (f[l3 + 1] >> 4)) & 3);
      g[l3] = 0x60 | (tc >> 4);
      g[l3 + 1] = ((tc & 15) << 4) | (f[l3 + 1] & 15);
    }
    c.marked++;
    out.push({ ...r, data: g });
  }
  return { out, counters: c };
}

/** Frames of `flows` flows with random sizes, arriving in bursts on the 1/64 s grid. */
function traffic(seed: number, n: number, flows: number, maxSize: number): PcapWriteRecord[] {
  const rand = rng(seed);
  const frames: Uint8Array[] = [];
  const times: number[] = [];
  let slot = 0;
  const nasty = nastyFrames();
  for (let i = 0; i < n; i++) {
    const r = rand();
    slot += r < 0.5 ? 0 : r < 0.8 ? 1 : 3; // half the packets share a slot with the previous one
    const f = Math.floor(rand() * flows);
    const v6 = f % 3 === 2;
    const size = 60 + Math.floor(rand() * (maxSize - 60));
    if (i % 25 === 24) frames.push(nasty[((i / 25) % nasty.length) | 0].data);
    else
      frames.push(
        buildPacket({
          src: v6 ? `2001:db8::a:${(f % 4) + 1}` : `198.18.0.${(f % 4) + 1}`,
          dst: v6 ? `2001:db8::b:${f + 1}` : `198.19.0.${f + 1}`,
          proto: f % 2 === 0 ? 'udp' : 'tcp',
          srcPort: 1000 + f,
          dstPort: 80,
          tos: f % 5 === 0 ? 0x03 : 0x00, // ECN bits set on some flows: marking must keep them
          size: v6 && size < 74 ? 74 : size,
        }),
      );
    times.push(slot * TICK_US);
  }
  return records(frames, 0, times);
}

export interface RateLimiterGolden {
  files: GoldenFiles;
  counters: Record<string, Record<string, number>>;
}

export function generate(): RateLimiterGolden {
  const aggIn = traffic(11, 400, 6, 300);
  const flowIn = traffic(12, 600, 9, 1000);
  const srcIn = traffic(13, 400, 8, 200);
  const tuple = (f: Uint8Array, p: ParsedPacket): string =>
    `${p.ipVersion}|${p.l4Proto}|${ipText(f, p.l3Offset + (p.ipVersion === 4 ? 12 : 8), p.ipVersion)}|${ipText(f, p.l3Offset + (p.ipVersion === 4 ? 16 : 24), p.ipVersion)}|${p.srcPort}|${p.dstPort}`;
  const agg = police(aggIn, { rate: 64, burst: 4, bytes: false, key: null, mark: -1 });
  const flow = police(flowIn, { rate: 6400, burst: 1600, bytes: true, key: tuple, mark: 10 });
  const src = police(srcIn, {
    rate: 16,
    burst: 2,
    bytes: false,
    key: (f, p) => `${p.ipVersion}|${ipText(f, p.l3Offset + (p.ipVersion === 4 ? 12 : 8), p.ipVersion)}`,
    mark: -1,
  });
  const config = `# Generated by test/golden/gen-rate-limiter.ts: do not edit; run npx tsx test/golden/gen-rate-limiter.ts
ports:
  agg-in: { driver: pcap, read: agg-in.pcap }
  flow-in: { driver: pcap, read: flow-in.pcap }
  src-in: { driver: pcap, read: src-in.pcap }
  agg-out: { driver: pcap, write: agg-out.pcap }
  flow-out: { driver: pcap, write: flow-out.pcap }
  src-out: { driver: pcap, write: src-out.pcap }
services:
  agg: { nf: rate-limiter, args: { rate: 64, burst: 4, clock: packet } }
  flow: { nf: rate-limiter, args: { rate: 6400, unit: bytes, burst: 1600, mode: flow, action: mark, dscp: 10, clock: packet } }
  src: { nf: rate-limiter, args: { rate: 16, burst: 2, mode: src, clock: packet } }
chains:
  agg: [agg, agg-out]
  flow: [flow, flow-out]
  src: [src, src-out]
rules:
  - { match: { inPort: agg-in }, chain: agg }
  - { match: { inPort: flow-in }, chain: flow }
  - { match: { inPort: src-in }, chain: src }
`;
  return {
    files: {
      'config.yaml': config,
      'agg-in.pcap': pcap(aggIn),
      'flow-in.pcap': pcap(flowIn),
      'src-in.pcap': pcap(srcIn),
      'expected/agg-out.pcap': pcap(agg.out),
      'expected/flow-out.pcap': pcap(flow.out),
      'expected/src-out.pcap': pcap(src.out),
    },
    counters: { agg: agg.counters, flow: flow.counters, src: src.counters },
  };
}

if (isMain(import.meta.url)) writeGolden('rate-limiter', generate().files);
