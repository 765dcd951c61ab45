import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNFHarness } from '../../src/nflib/testing.js';
import { buildPacket, type PacketSpec } from '../../src/proto/build.js';
import { formatIpv4 } from '../../src/proto/address.js';
import { parsePacket, ParsedPacket } from '../../src/proto/parse.js';
import { verifyPacketChecksums } from '../../src/proto/packet-checksum.js';
import { oddFrames } from '../../test/helpers/odd-frames.js';
import lb from './index.js';
import { populate } from './maglev.js';

const VIP = '203.0.113.10';
const B = ['198.51.100.1:8080', '198.51.100.2:8080', '198.51.100.3:8080', '198.51.100.4:8080'];
const ARGS = {
  vips: [
    { address: VIP, port: 80, proto: 'tcp', backends: B },
    { address: VIP, port: 53, proto: 'udp', backends: ['198.51.100.1', '198.51.100.2'] },
    { address: '2001:db8::80', port: 443, proto: 'tcp', backends: ['[2001:db8:1::1]:8443', '2001:db8:1::2'] },
  ],
  clock: 'packet',
  timeouts: { udp: 30 },
};
const client = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const req = (i: number, s: Partial<PacketSpec> = {}): Uint8Array =>
  buildPacket({ src: client(i), dst: VIP, proto: 'tcp', srcPort: 1024 + (i % 50000), dstPort: 80, payload: 'GET', ...s } as PacketSpec);
const parsed = (d: Uint8Array): ParsedPacket => {
  const p = new ParsedPacket();
  parsePacket(d, 0, d.length, p);
  return p;
};
const backendOf = (d: Uint8Array): string =>
  `${formatIpv4(((d[30] << 24) | (d[31] << 16) | (d[32] << 8) | d[33]) >>> 0)}:${(d[36] << 8) | d[37]}`;

test('load-balancer: args are validated at start; errors name the field', async () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{}, /args\.vips is required|args\.vips must be a list/],
    [{ vips: [{ address: VIP, port: 80, backends: [] }] }, /args\.vips\[0\]\.backends must have at least 1 entry/],
    [{ vips: [{ address: '203.0.113.0/24', port: 80, backends: B }] }, /args\.vips\[0\]\.address must be one address/],
    [{ vips: [{ address: VIP, port: 80, backends: ['2001:db8::1'] }] }, /args\.vips\[0\]\.backends\[0\] is IPv6 but the VIP is IPv4/],
    [{ vips: [{ address: VIP, port: 80, backends: ['198.51.100.1:99999'] }] }, /args\.vips\[0\]\.backends\[0\] has port 99999/],
    [{ vips: [{ address: VIP, port: 80, backends: [B[0], B[0]] }] }, /args\.vips\[0\]\.backends\[1\] lists 198\.51\.100\.1:8080 twice/],
    [{ vips: [{ address: VIP, port: 80, proto: 'sctp', backends: B }] }, /args\.vips\[0\]\.proto must be one of tcp, udp/],
    [{ vips: [{ address: VIP, port: 80, backends: B }], tableSize: 65536 }, /args\.tableSize must be a prime/],
  ];
  for (const [args, re] of bad)
    await assert.rejects(
      createNFHarness(lb, { args }),
      (e: Error & { code?: string }) => e.code === 'NETVM_NF_ARGS' && re.test(e.message),
      JSON.stringify(args),
    );
});

test('load-balancer: VIP traffic goes to one backend per connection; replies get the VIP back, byte for byte', async () => {
  const h = await createNFHarness(lb, { args: ARGS });
  const out = h.push([1, 2, 3, 1].map((i) => req(i)));
  const be = out.map((r) => backendOf(r.data));
  assert.equal(be[0], be[3], 'a connection keeps its backend');
  for (const [k, r] of out.entries()) {
    const [addr, port] = be[k].split(':');
    assert.ok(B.includes(be[k]));
    assert.deepEqual(r.data, req([1, 2, 3, 1][k], { dst: addr, dstPort: Number(port) }), `request ${k}`);
  }
  const [addr, port] = be[0].split(':');
  const reply = buildPacket({ src: addr, dst: client(1), proto: 'tcp', srcPort: Number(port), dstPort: 1025, payload: 'OK' });
  const [rr] = h.push([reply]);
  assert.deepEqual(rr.data, buildPacket({ src: VIP, dst: client(1), proto: 'tcp', srcPort: 80, dstPort: 1025, payload: 'OK' }));
  // UDP VIP with backends that take the VIP's port, and an IPv6 VIP.
  const [u] = h.push([req(9, { proto: 'udp', dstPort: 53 })]);
  assert.match(backendOf(u.data), /^198\.51\.100\.[12]:53$/);
  const v6 = buildPacket({ src: '2001:db8:ff::1', dst: '2001:db8::80', proto: 'tcp', srcPort: 5000, dstPort: 443 });
  const [r6] = h.push([v6]);
  const b6 = r6.data.subarray(14 + 24, 14 + 40);
  const got = Buffer.from(b6).toString('hex');
  const want1 = buildPacket({ src: '2001:db8:ff::1', dst: '2001:db8:1::1', proto: 'tcp', srcPort: 5000, dstPort: 8443 });
  const want2 = buildPacket({ src: '2001:db8:ff::1', dst: '2001:db8:1::2', proto: 'tcp', srcPort: 5000, dstPort: 443 });
  assert.ok(
    Buffer.from(r6.data).equals(Buffer.from(want1)) || Buffer.from(r6.data).equals(Buffer.from(want2)),
    `IPv6 request rewritten to a backend (got ${got})`,
  );
  const from6 = Buffer.from(r6.data).equals(Buffer.from(want1)) ? ['2001:db8:1::1', 8443] : ['2001:db8:1::2', 443];
  const [back6] = h.push([
    buildPacket({ src: from6[0] as string, dst: '2001:db8:ff::1', proto: 'tcp', srcPort: from6[1] as number, dstPort: 5000 }),
  ]);
  assert.deepEqual(back6.data, buildPacket({ src: '2001:db8::80', dst: '2001:db8:ff::1', proto: 'tcp', srcPort: 443, dstPort: 5000 }));
  const c = h.counters;
  assert.deepEqual([c.forwarded, c.replies, c.newConnections], [6, 2, 5]);
});

test('load-balancer: Maglev spreads flows evenly and moves few when the pool changes; connections keep their backend', async () => {
  const N = 4000;
  const h = await createNFHarness(lb, { args: ARGS });
  const first = h.push(Array.from({ length: N }, (_, i) => req(i))).map((r) => backendOf(r.data));
  const share = new Map<string, number>();
  for (const b of first) share.set(b, (share.get(b) ?? 0) + 1);
  for (const b of B) assert.ok(Math.abs((share.get(b) ?? 0) - N / 4) < N * 0.06, `backend ${b} got ${share.get(b)} of ${N}`);
  // Add a fifth backend: every live connection keeps its backend.
  h.message({ cmd: 'setBackends', vip: 0, backends: [...B, '198.51.100.5:8080'] });
  const again = h.push(Array.from({ length: N }, (_, i) => req(i))).map((r) => backendOf(r.data));
  assert.deepEqual(again, first);
  // New connections: about 1/5 go to the new backend, the others mostly where they would have.
  const fresh = h.push(Array.from({ length: N }, (_, i) => req(100000 + i))).map((r) => backendOf(r.data));
  const onNew = fresh.filter((b) => b === '198.51.100.5:8080').length;
  assert.ok(Math.abs(onNew - N / 5) < N * 0.05, `${onNew} new flows on the new backend`);
  // Remove backend 2: its connections move (and only they); the others stay.
  h.message({ cmd: 'setBackends', vip: 0, backends: [B[0], B[1], B[3], '198.51.100.5:8080'] });
  const third = h.push(Array.from({ length: N }, (_, i) => req(i))).map((r) => backendOf(r.data));
  let moved = 0;
  third.forEach((b, i) => {
    if (first[i] === B[2]) assert.notEqual(b, B[2]);
    else assert.equal(b, first[i], `flow ${i} moved off a backend that stayed`);
    if (b !== first[i]) moved++;
  });
  assert.equal(moved, share.get(B[2]));
  assert.equal(h.counters.rehomed, moved);
  assert.match(h.logs.at(-1)!.msg, /vip 0 now has 4 backends/);
  h.message({ cmd: 'setBackends', vip: 7, backends: B });
  assert.match(h.logs.at(-1)!.msg, /setBackends refused: unknown vip 7/);
});

test('maglev: tables of 5 and 4 backends differ in about a fifth of their entries', () => {
  const m = 65537;
  const names = ['a:1', 'b:1', 'c:1', 'd:1', 'e:1'];
  const t5 = new Int32Array(m);
  const t4 = new Int32Array(m);
  populate(names, t5);
  populate(names.slice(0, 4), t4);
  let diff = 0;
  for (let i = 0; i < m; i++) if (t5[i] !== t4[i]) diff++;
  // The paper (§3.4, figure 8) reports a little above the ideal 1/5 for small pools.
  assert.ok(diff / m > 0.19 && diff / m < 0.3, `${((100 * diff) / m).toFixed(1)}% of entries changed`);
  for (let b = 0; b < 5; b++) {
    const n = t5.filter((x) => x === b).length;
    assert.ok(Math.abs(n - m / 5) <= 1, `backend ${b} owns ${n}`);
  }
});

test('load-balancer: idle connections time out; malformed and VIP fragments are dropped; the rest passes', async () => {
  const h = await createNFHarness(lb, { args: ARGS });
  const [r] = h.push([{ data: req(1, { proto: 'udp', dstPort: 53 }), tsSec: 10 }]);
  const be = backendOf(r.data).split(':')[0];
  const reply = buildPacket({ src: be, dst: client(1), proto: 'udp', srcPort: 53, dstPort: 1025 });
  const res = h.push([
    { data: reply, tsSec: 39 },
    { data: reply, tsSec: 70 }, // 31 s after the last packet: expired, passes untranslated
  ]);
  assert.equal(backendOf(res[0].data).startsWith('10.'), true);
  assert.deepEqual([...res[0].data.subarray(26, 30)], [203, 0, 113, 10]);
  assert.deepEqual(res[1].data, reply);
  const frames = oddFrames({ dst: VIP });
  const out = h.push(frames.map((f) => f.data));
  const by = new Map(frames.map((f, i) => [f.name, out[i]]));
  for (const f of frames) if (f.malformed) assert.equal(by.get(f.name)!.action, 'drop', f.name);
  assert.equal(h.counters.malformed, frames.filter((f) => f.malformed).length);
  assert.equal(by.get('ipv4 first fragment')!.action, 'drop');
  assert.equal(by.get('ipv4 non-first fragment')!.action, 'drop');
  assert.equal(h.counters.fragments, 2);
  // IPv4 options: the TCP header sits 8 bytes later; the request is balanced all the same.
  const opt = by.get('ipv4 with options')!.data;
  assert.ok(B.includes(`${formatIpv4(((opt[30] << 24) | (opt[31] << 16) | (opt[32] << 8) | opt[33]) >>> 0)}:${(opt[44] << 8) | opt[45]}`));
  assert.ok(verifyPacketChecksums(opt, parsed(opt)));
  for (const n of ['ipv6 fragment', 'arp']) assert.deepEqual(by.get(n)!.data, frames.find((f) => f.name === n)!.data, n);
});
