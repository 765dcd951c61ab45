import { test } from 'node:test';
import assert from 'node:assert/strict';
import limiter, { rateLimiterState } from './index.js';
import { createNFHarness, type HarnessFrame } from '../../src/nflib/testing.js';
import { buildArp, buildPacket } from '../../src/proto/build.js';
import { verifyIpv4HeaderChecksum } from '../../src/proto/checksum.js';

const T0 = 1_700_000_000;
const udp = (src: string, size = 100, tos = 0): Uint8Array =>
  buildPacket({ src, dst: src.includes(':') ? '2001:db8::ff' : '10.9.9.9', proto: 'udp', srcPort: 7, dstPort: 9, size, tos });
/** A frame stamped `ms` milliseconds after T0 (for clock: packet). */
const at = (data: Uint8Array, ms: number): HarnessFrame => ({ data, tsSec: T0 + Math.floor(ms / 1000), tsNsec: (ms % 1000) * 1e6 });

test('rate-limiter: bad args are refused at start, naming the field', async () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{}, /args\.rate is required/],
    [{ rate: 0 }, /args\.rate must be a number > 0/],
    [{ rate: 10, unit: 'bits' }, /args\.unit must be one of "packets", "bytes"/],
    [{ rate: 10, burst: 0.5 }, /args\.burst must be at least 1 packet/],
    [{ rate: 10, mode: 'host' }, /args\.mode must be one of/],
    [{ rate: 10, dscp: 5 }, /args\.dscp applies to action "mark" only/],
    [{ rate: 10, action: 'mark', dscp: 64 }, /args\.dscp must be an integer >= 0 and <= 63/],
    [{ rate: 10, maxFlows: 8 }, /args\.maxFlows applies to the per-key modes/],
    [{ rate: 10, clock: 'tsc' }, /args\.clock must be one of "wall", "packet"/],
    [{ rate: 10, ratee: 1 }, /args\.ratee is not an argument of rate-limiter/],
  ];
  for (const [args, re] of bad)
    await assert.rejects(createNFHarness(limiter, { args }), { code: 'NETVM_NF_ARGS', message: re }, JSON.stringify(args));
});

test('rate-limiter: wall clock, aggregate — a burst of 20 back-to-back packets lets the bucket depth through', async () => {
  const h = await createNFHarness(limiter, { args: { rate: 1, burst: 5 } });
  const rs = h.push(Array.from({ length: 20 }, (_, i) => udp(`10.0.0.${i + 1}`)));
  assert.equal(rs.filter((r) => r.action === 'next').length, 5);
  assert.deepEqual(
    rs.slice(0, 6).map((r) => r.action),
    ['next', 'next', 'next', 'next', 'next', 'drop'],
  );
  assert.equal(h.counters.dropped, 15);
  assert.equal(h.counters.conformed, 5);
});

test('rate-limiter: packet clock — refill follows the capture timestamps; bytes mode charges frame lengths', async () => {
  const h = await createNFHarness(limiter, { args: { rate: 1000, unit: 'bytes', burst: 300, clock: 'packet' } });
  const f = udp('10.0.0.1', 100);
  // t=0: 3 × 100 bytes fit the 300-byte bucket, the 4th does not. t=100 ms: +100 bytes, one fits.
  const rs = h.push([at(f, 0), at(f, 0), at(f, 0), at(f, 0), at(f, 100), at(f, 100), at(f, 1000), at(f, 1000), at(f, 1000), at(f, 1000)]);
  assert.deepEqual(
    rs.map((r) => (r.action === 'next' ? 1 : 0)),
    [1, 1, 1, 0, 1, 0, 1, 1, 1, 0],
  );
});

test('rate-limiter: per-flow buckets are independent; per-source groups a host', async () => {
  const flow = await createNFHarness(limiter, { args: { rate: 1, burst: 2, mode: 'flow', clock: 'packet' } });
  const a = udp('10.0.0.1');
  const b = udp('10.0.0.2');
  const rs = flow.push([at(a, 0), at(a, 0), at(a, 0), at(b, 0), at(b, 0), at(b, 0)]);
  assert.deepEqual(
    rs.map((r) => r.action),
    ['next', 'next', 'drop', 'next', 'next', 'drop'],
  );
  assert.equal(flow.counters.flows, 2);
  const src = await createNFHarness(limiter, { args: { rate: 1, burst: 2, mode: 'src', clock: 'packet' } });
  const sameHost = [
    buildPacket({ src: '10.0.0.1', dst: '10.1.1.1', proto: 'tcp', srcPort: 1, dstPort: 2 }),
    udp('10.0.0.1'),
    udp('10.0.0.1'),
  ];
  assert.deepEqual(
    src.push(sameHost.map((d) => at(d, 0))).map((r) => r.action),
    ['next', 'next', 'drop'],
  );
  assert.equal(src.counters.flows, 1);
});

test('rate-limiter: mark rewrites DSCP, keeps ECN, patches the IPv4 checksum; IPv6 traffic class too; non-IP passes unmarked', async () => {
  const h = await createNFHarness(limiter, { args: { rate: 1, burst: 1, action: 'mark', dscp: 46, clock: 'packet' } });
  const v4 = udp('10.0.0.1', 100, 0x03);
  const v6 = udp('2001:db8::1', 100, 0x01);
  const arp = buildArp({ senderMac: '02:00:00:00:00:09', senderIp: '10.0.0.9', targetIp: '10.0.0.1' });
  const rs = h.push([at(v4, 0), at(v4, 0), at(v6, 0), at(arp, 0)]);
  assert.deepEqual(rs[0].data, v4, 'the conforming packet is untouched');
  assert.equal(rs[1].action, 'next', 'marked packets pass');
  assert.equal(rs[1].data[15], (46 << 2) | 3, 'DSCP 46 (EF), ECN bits kept');
  assert.ok(verifyIpv4HeaderChecksum(rs[1].data, 14), 'IPv4 header checksum updated');
  const tc = ((rs[2].data[14] & 0x0f) << 4) | (rs[2].data[15] >> 4);
  assert.equal(tc, (46 << 2) | 1);
  assert.equal(rs[2].data[14] >> 4, 6, 'version untouched');
  assert.deepEqual(rs[3].data, arp);
  assert.equal(rs[3].action, 'next');
  assert.deepEqual([h.counters.marked, h.counters.unmarkable, h.counters.dropped], [2, 1, 0]);
});

test('rate-limiter: malformed packets and a full table share one bucket (nothing escapes); idle full buckets are forgotten', async () => {
  const h = await createNFHarness(limiter, { args: { rate: 1, burst: 1, mode: 'flow', maxFlows: 2, idleTimeout: 5, clock: 'packet' } });
  const runt = udp('10.0.0.1').slice(0, 20);
  const rs = h.push([at(udp('10.0.0.1'), 0), at(udp('10.0.0.2'), 0), at(udp('10.0.0.3'), 0), at(runt, 0), at(udp('10.0.0.4'), 0)]);
  assert.deepEqual(
    rs.map((r) => r.action),
    ['next', 'next', 'next', 'drop', 'drop'],
    'the third flow takes the shared bucket; the runt and the fourth flow find it empty',
  );
  assert.equal(h.counters.tableFull, 2);
  assert.equal(h.counters.unkeyed, 3);
  // Ten seconds later one flow is seen again; a sweep then forgets the other (idle and full).
  h.push([at(udp('10.0.0.1'), 10_000)]);
  h.tick();
  assert.equal(h.counters.expired, 1);
  assert.equal(h.counters.flows, 1);
  const st = rateLimiterState(h.ctx);
  assert.ok(st !== undefined && st.now === 10);
});
