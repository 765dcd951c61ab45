import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNFHarness } from '../../src/nflib/testing.js';
import { buildPacket, type PacketSpec } from '../../src/proto/build.js';
import { parsePacket, ParsedPacket } from '../../src/proto/parse.js';
import { verifyPacketChecksums } from '../../src/proto/packet-checksum.js';
import { rng } from '../../test/fixtures/traffic.js';
import { oddFrames } from '../../test/helpers/odd-frames.js';
import router from './index.js';
import { Lpm } from './lpm.js';

const MAC_LAN = '02:00:00:00:01:01';
const MAC_WAN = '02:00:00:00:02:01';
const NH_LAN = '02:00:00:00:01:fe';
const NH_WAN = '02:00:00:00:02:fe';
const ARGS = {
  interfaces: {
    lan: { mac: MAC_LAN, ipv4: '10.0.0.1', ipv6: '2001:db8::1' },
    wan: { mac: MAC_WAN, ipv4: '203.0.113.1' },
  },
  routes: [
    { prefix: '10.0.0.0/8', port: 'lan', nextHopMac: NH_LAN },
    { prefix: '10.9.0.0/16', port: 'wan', nextHopMac: NH_WAN },
    { prefix: '0.0.0.0/0', port: 'wan', nextHopMac: NH_WAN },
    { prefix: '2001:db8::/32', port: 'lan', nextHopMac: NH_LAN },
    { prefix: '2001:db8:9::/48', port: 'wan', nextHopMac: NH_WAN },
  ],
};
const opts = { args: ARGS, ports: ['lan', 'wan'] };
const pk = (s: Partial<PacketSpec>): Uint8Array =>
  buildPacket({ src: '198.51.100.7', dst: '10.1.2.3', proto: 'udp', srcPort: 1, dstPort: 2, ...s } as PacketSpec);
const parse = (d: Uint8Array): ParsedPacket => {
  const p = new ParsedPacket();
  parsePacket(d, 0, d.length, p);
  return p;
};

test('router: args are validated at start; errors name the field', async () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ routes: ARGS.routes }, /args\.interfaces is required|args\.interfaces must be an object/],
    [{ ...ARGS, interfaces: { lan: { mac: 'zz' } } }, /args\.interfaces\.lan\.mac must be a MAC address/],
    [
      { ...ARGS, interfaces: { ...ARGS.interfaces, lan: { mac: MAC_LAN, ipv4: '10.0.0.300' } } },
      /args\.interfaces\.lan\.ipv4 must be an IPv4 address/,
    ],
    [{ ...ARGS, routes: [] }, /args\.routes must have at least 1 entry/],
    [{ ...ARGS, routes: [{ prefix: '10.0.0.0/40', port: 'lan', nextHopMac: NH_LAN }] }, /args\.routes\[0\]\.prefix invalid prefix length/],
    [
      { ...ARGS, routes: [{ prefix: '10.0.0.0/8', port: 'dmz', nextHopMac: NH_LAN }] },
      /args\.routes\[0\]\.port "dmz" has no entry in args\.interfaces/,
    ],
    [{ ...ARGS, routes: [{ prefix: '10.0.0.0/8', port: 'lan' }] }, /args\.routes\[0\]\.nextHopMac must be a MAC/],
    [{ ...ARGS, nonIp: 'flood' }, /args\.nonIp must be one of drop, next/],
  ];
  for (const [args, re] of bad)
    await assert.rejects(
      createNFHarness(router, { args, ports: ['lan', 'wan'] }),
      (e: Error & { code?: string }) => e.code === 'NETVM_NF_ARGS' && re.test(e.message),
      JSON.stringify(args),
    );
  await assert.rejects(createNFHarness(router, { args: ARGS, ports: ['lan'] }), /args\.interfaces\.wan unknown port "wan"/);
});

test('router: longest prefix wins; TTL/hop limit decremented with a valid checksum; MACs rewritten', async () => {
  const h = await createNFHarness(router, opts);
  const cases: [Partial<PacketSpec>, string, string][] = [
    [{ dst: '10.1.2.3' }, 'lan', NH_LAN],
    [{ dst: '10.9.7.7' }, 'wan', NH_WAN], // /16 inside the /8
    [{ dst: '8.8.8.8', proto: 'tcp', ttl: 2 }, 'wan', NH_WAN], // default route
    [{ src: '2001:db8:5::1', dst: '2001:db8:1::1' }, 'lan', NH_LAN],
    [{ src: '2001:db8:5::1', dst: '2001:db8:9::1', proto: 'icmp' }, 'wan', NH_WAN],
  ];
  const res = h.push(cases.map(([s]) => pk(s)));
  cases.forEach(([s, port, nh], i) => {
    const r = res[i];
    assert.equal(r.action, 'toPort');
    assert.equal(r.dest, port, JSON.stringify(s));
    // Exactly what the builder makes with TTL - 1 and the new MACs: nothing else changed.
    const want = pk({ ...s, ttl: (s.ttl ?? 64) - 1, dstMac: nh, srcMac: port === 'lan' ? MAC_LAN : MAC_WAN });
    assert.deepEqual(r.data, want, JSON.stringify(s));
    assert.ok(verifyPacketChecksums(r.data, parse(r.data)));
  });
  h.tick(); // per-route counts are published once a second
  assert.deepEqual([h.counters.forwarded, h.counters.route0, h.counters.route1, h.counters.route2], [5, 1, 1, 1]);
});

test('router: TTL 1 becomes ICMP time exceeded out of the in-port (RFC 792 / RFC 4443), quoting the packet', async () => {
  const h = await createNFHarness(router, opts);
  const v4 = pk({ ttl: 1, src: '10.5.5.5', dst: '8.8.8.8', srcMac: '02:aa:00:00:00:01', payload: new Uint8Array(100).fill(7) });
  const v6 = pk({ ttl: 1, src: '2001:db8:7::7', dst: '2001:db8:9::9', srcMac: '02:aa:00:00:00:02', size: 1400 });
  const [r4, r6] = h.push([
    { data: v4, inPort: 'lan' },
    { data: v6, inPort: 'lan' },
  ]);
  assert.equal(r4.action, 'toPort');
  assert.equal(r4.dest, 'lan');
  const p4 = parse(r4.data);
  assert.ok(p4.ok && p4.l4Proto === 1 && verifyPacketChecksums(r4.data, p4));
  assert.deepEqual([...r4.data.subarray(0, 12)], [2, 0xaa, 0, 0, 0, 1, 2, 0, 0, 0, 1, 1]);
  assert.deepEqual([r4.data[p4.l4Offset], r4.data[p4.l4Offset + 1]], [11, 0]);
  assert.deepEqual([...r4.data.subarray(p4.l3Offset + 12, p4.l3Offset + 20)], [10, 0, 0, 1, 10, 5, 5, 5]);
  // The quote is the whole original IP packet (it fits in 576 bytes).
  assert.deepEqual(r4.data.subarray(p4.l4Offset + 8), v4.subarray(14, 14 + 20 + 8 + 100));
  const p6 = parse(r6.data);
  assert.ok(p6.ok && p6.l4Proto === 58 && verifyPacketChecksums(r6.data, p6));
  assert.deepEqual([r6.data[p6.l4Offset], r6.data[p6.l4Offset + 1]], [3, 0]);
  assert.equal(r6.data.length - 14, 1280, 'the ICMPv6 error is cut at the minimum MTU');
  assert.deepEqual(r6.data.subarray(p6.l4Offset + 8), v6.subarray(14, 14 + 1280 - 48));
  assert.deepEqual([h.counters.ttlExceeded, h.counters.icmpSent], [2, 2]);
});

test('router: no ICMP about ICMP errors, non-first fragments, multicast, or without an in-port address; icmp: false drops', async () => {
  const h = await createNFHarness(router, opts);
  const res = h.push([
    { data: pk({ ttl: 1, proto: 'icmp', icmpType: 3, dst: '8.8.8.8' }), inPort: 'lan' },
    { data: pk({ ttl: 1, fragOffset: 20, dst: '8.8.8.8' }), inPort: 'lan' },
    { data: pk({ ttl: 1, dst: '10.1.1.1' }), inPort: 'wan' }, // wan has no IPv6, but this is IPv4: sent
    { data: pk({ ttl: 1, src: '2001:db8:5::1', dst: '2001:db8::9' }), inPort: 'wan' }, // wan has no IPv6 address
    { data: pk({ ttl: 0, src: '224.0.0.5', dst: '10.1.1.1' }), inPort: 'lan' },
  ]);
  assert.deepEqual(
    res.map((r) => r.action),
    ['drop', 'drop', 'toPort', 'drop', 'drop'],
  );
  assert.deepEqual([h.counters.icmpSent, h.counters.icmpSuppressed, h.counters.ttlExceeded], [1, 4, 5]);
  const quiet = await createNFHarness(router, { ...opts, args: { ...ARGS, icmp: false } });
  assert.equal(quiet.push([{ data: pk({ ttl: 1 }), inPort: 'lan' }])[0].action, 'drop');
  assert.equal(quiet.counters.icmpSent, 0);
});

test('router: malformed, bad header checksum, no route and non-IP are counted and dropped (nonIp: next passes)', async () => {
  const noDefault = { ...ARGS, routes: ARGS.routes.filter((r) => r.prefix !== '0.0.0.0/0') };
  const h = await createNFHarness(router, { ...opts, args: noDefault });
  const frames = oddFrames({ dst: '10.1.1.1' });
  const badSum = pk({});
  badSum[14 + 10] ^= 0xff;
  const res = h.push([...frames.map((f) => f.data), badSum, pk({ dst: '8.8.8.8' })]);
  const by = new Map(frames.map((f, i) => [f.name, res[i]]));
  for (const f of frames) if (f.malformed) assert.equal(by.get(f.name)!.action, 'drop', f.name);
  assert.equal(h.counters.malformed, frames.filter((f) => f.malformed).length);
  assert.equal(h.counters.badChecksum, 1);
  assert.equal(h.counters.noRoute, 1);
  assert.equal(h.counters.nonIp, 1);
  // Options, extension headers and fragments are forwarded like any packet.
  for (const n of [
    'ipv4 with options',
    'ipv4 first fragment',
    'ipv4 non-first fragment',
    'ipv6 hop-by-hop + routing + destination options',
    'ipv6 fragment',
  ]) {
    const r = by.get(n)!;
    assert.equal(r.action, 'toPort', n);
    const p = parse(r.data);
    assert.ok(p.ok && p.ttl === 63, n);
    if (p.ipVersion === 4) assert.ok(verifyPacketChecksums(r.data, p) || p.fragment, n);
  }
  const pass = await createNFHarness(router, { ...opts, args: { ...ARGS, nonIp: 'next' } });
  assert.equal(pass.push([frames.find((f) => f.name === 'arp')!.data])[0].action, 'next');
});

test('lpm: equals a linear longest-prefix scan on random tables, whatever the insertion order', () => {
  const r = rng(4242);
  for (let t = 0; t < 20; t++) {
    const n = 1 + Math.floor(r() * 200);
    const pre: [number, number][] = [];
    const lpm = new Lpm(32);
    for (let i = 0; i < n; i++) {
      const len = Math.floor(r() * 33);
      const a = len === 0 ? 0 : (Math.floor(r() * 2 ** 32) & (0xffffffff << (32 - len))) >>> 0;
      pre.push([a, len]);
      lpm.insert([a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255], len, i);
    }
    for (let k = 0; k < 500; k++) {
      const base = pre[Math.floor(r() * n)][0];
      const x = r() < 0.7 ? (base ^ Math.floor(r() * 2 ** Math.floor(r() * 33))) >>> 0 : Math.floor(r() * 2 ** 32) >>> 0;
      let best = -1;
      let bestLen = -1;
      pre.forEach(([a, len], i) => {
        const m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
        if ((x & m) >>> 0 === a && len >= bestLen) [best, bestLen] = [i, len];
      });
      assert.equal(lpm.lookup4(x), best, `table ${t} addr ${x}`);
    }
  }
});
