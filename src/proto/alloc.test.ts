import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PerformanceObserver } from 'node:perf_hooks';
import { buildPacket } from './build.js';
import { verifyPacketChecksums } from './packet-checksum.js';
import { ParsedPacket, parsePacket } from './parse.js';
import { SYMMETRIC_RSS_KEY, Toeplitz } from './toeplitz.js';

// The hot path must not allocate: an allocation per packet shows up as young-generation GCs
// within a few hundred thousand packets. Count GCs over a mixed workload after warm-up.
test('hot path: parse + RSS hash + checksum verify run without garbage collection', async () => {
  const frames = [
    buildPacket({
      src: '10.0.0.1',
      dst: '200.0.0.2',
      proto: 'tcp',
      srcPort: 1,
      dstPort: 2,
      vlan: [5],
    }),
    buildPacket({
      src: '2001:db8::1',
      dst: 'ff02::2',
      proto: 'udp',
      srcPort: 3,
      dstPort: 4,
      ipv6Ext: [{ type: 0 }],
    }),
    buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', size: 300 }),
    buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'icmp' }),
    buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', fragOffset: 3 }),
  ];
  const p = new ParsedPacket();
  const rss = new Toeplitz(SYMMETRIC_RSS_KEY);
  const run = (n: number): number => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const f = frames[i % frames.length];
      parsePacket(f, 0, f.length, p);
      acc = (acc + (rss.hashFromPacket(f, p) & 0xff) + (verifyPacketChecksums(f, p) ? 1 : 0)) | 0;
    }
    return acc;
  };
  // Warm up with several calls, not one long one: one call gets only its loop compiled
  // on-stack, and the measured call could then start in unoptimized code (seen as a dozen GCs
  // in about a third of runs, from tiering, not from the code under test).
  for (let k = 0; k < 20; k++) run(50_000);
  await new Promise((r) => setTimeout(r, 10));
  let gcs = 0;
  const obs = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  obs.observe({ entryTypes: ['gc'] });
  const acc = run(2_000_000);
  await new Promise((r) => setTimeout(r, 10));
  obs.disconnect();
  assert.ok(acc !== 0);
  assert.ok(gcs <= 1, `expected no GC, saw ${gcs}`);
});
