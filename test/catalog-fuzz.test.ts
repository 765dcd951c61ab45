// Every catalog NF of part A survives any packet: valid frames of every kind, damaged at
// random (truncated anywhere, header bytes and length fields overwritten), go through the NF
// in the offline harness, which fails on any exception. And every packet is counted exactly
// once: the NF's outcome counters add up to its `packets`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNFHarness } from '../src/nflib/testing.js';
import type { NFDefinition } from '../src/nflib/define-nf.js';
import { buildPacket, type PacketSpec } from '../src/proto/build.js';
import { rng } from './fixtures/traffic.js';
import { oddFrames } from './helpers/odd-frames.js';
import firewall from '../nfs/firewall/index.js';
import router from '../nfs/router/index.js';
import nat from '../nfs/nat/index.js';
import loadBalancer from '../nfs/load-balancer/index.js';

const N = 20000;

function frames(seed: number): Uint8Array[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const bases: Uint8Array[] = oddFrames().map((f) => f.data);
  for (let i = 0; i < 200; i++) {
    const v6 = r() < 0.4;
    const spec: PacketSpec = {
      src: v6 ? pick(['2001:db8::1', '2001:db8:1::1', '2001:db8:1::2']) : pick(['10.0.0.1', '10.0.0.2', '203.0.113.1', '198.51.100.1']),
      dst: v6 ? pick(['2001:db8::80', '2001:db8:1::9']) : pick(['203.0.113.10', '203.0.113.1', '10.0.0.1', '198.51.100.1']),
      proto: pick(['tcp', 'udp', 'icmp', 47] as const),
      srcPort: pick([53, 80, 8080, 20000, 40000]),
      dstPort: pick([53, 80, 8080, 20000, 40000]),
      ttl: pick([0, 1, 2, 64]),
      icmpType: pick([0, 3, 8, 11, 128, 129]),
      payload: new Uint8Array(Math.floor(r() * 80)),
    };
    if (!v6 && r() < 0.2) spec.ipv4Options = Uint8Array.of(1, 1, 1, 0);
    if (!v6 && r() < 0.1) spec.fragOffset = 3;
    if (v6 && r() < 0.2) spec.ipv6Ext = [{ type: pick([0, 43, 60]) }, ...(r() < 0.3 ? [{ type: 44, fragOffset: pick([0, 5]) }] : [])];
    bases.push(buildPacket(spec));
  }
  const out: Uint8Array[] = [];
  for (let i = 0; i < N; i++) {
    const b = pick(bases);
    let f = b.slice();
    const m = r();
    if (m < 0.3) f = f.slice(0, Math.floor(r() * f.length));
    else if (m < 0.8) {
      // Overwrite 1-4 bytes in the headers (lengths, IHL, next headers, data offsets, ports).
      for (let k = 1 + Math.floor(r() * 4); k > 0; k--) f[Math.floor(r() * Math.min(f.length, 80))] = Math.floor(r() * 256);
    }
    out.push(f);
  }
  return out;
}

const sum = (c: Record<string, number>, keys: string[]): number => keys.reduce((a, k) => a + (c[k] ?? 0), 0);

const cases: [string, NFDefinition<unknown>, Record<string, unknown>, string[]][] = [
  [
    'firewall',
    firewall as NFDefinition<unknown>,
    {
      default: 'deny',
      stateful: true,
      rules: [
        { action: 'allow', proto: 'tcp', dstPort: '80-8080' },
        { action: 'service', service: 'ids', proto: 'udp' },
        { action: 'allow', src: '2001:db8::/32', tcpFlags: 'syn !ack' },
        { action: 'allow', proto: 'icmp' },
      ],
    },
    ['allowed', 'denied', 'diverted', 'malformed'],
  ],
  [
    'router',
    router as NFDefinition<unknown>,
    {
      interfaces: { p0: { mac: '02:00:00:00:00:01', ipv4: '10.0.0.254', ipv6: '2001:db8::fe' }, p1: { mac: '02:00:00:00:00:02' } },
      routes: [
        { prefix: '10.0.0.0/8', port: 'p0', nextHopMac: '02:00:00:00:00:0a' },
        { prefix: '203.0.113.0/24', port: 'p1', nextHopMac: '02:00:00:00:00:0b' },
        { prefix: '2001:db8::/33', port: 'p1', nextHopMac: '02:00:00:00:00:0b' },
      ],
    },
    ['forwarded', 'noRoute', 'ttlExceeded', 'badChecksum', 'malformed', 'nonIp'],
  ],
  [
    'nat',
    nat as NFDefinition<unknown>,
    { external: '203.0.113.1', inside: ['10.0.0.0/8'], ports: '20000-20063' },
    [
      'outbound',
      'inbound',
      'icmpErrorsIn',
      'passed',
      'inboundNoMapping',
      'portsExhausted',
      'tableFull',
      'unsupported',
      'fragments',
      'malformed',
    ],
  ],
  [
    'load-balancer',
    loadBalancer as NFDefinition<unknown>,
    {
      vips: [
        { address: '203.0.113.10', port: 80, backends: ['198.51.100.1:8080', '198.51.100.2:8080'] },
        { address: '203.0.113.10', port: 53, proto: 'udp', backends: ['198.51.100.1'] },
        { address: '2001:db8::80', port: 80, backends: ['2001:db8:1::1'] },
      ],
    },
    ['forwarded', 'replies', 'passed', 'noBackend', 'fragments', 'malformed'],
  ],
];

for (const [name, def, args, outcomes] of cases) {
  test(`fuzz: ${name} survives ${N} damaged packets and counts each exactly once`, async () => {
    const h = await createNFHarness(def, { args, ports: ['p0', 'p1'], services: ['ids'] });
    const fs = frames(name.length * 7919);
    const res = h.push(fs.map((data, i) => ({ data, inPort: i & 1, tsSec: i >> 6 })));
    assert.equal(res.length, N);
    assert.equal(h.counters.packets, N);
    assert.equal(sum(h.counters, outcomes), N, `${outcomes.join(' + ')} = packets: ${JSON.stringify(h.counters)}`);
    assert.ok(h.counters.malformed > N / 10, `the damage made malformed packets (${h.counters.malformed})`);
    console.log(`fuzz ${name}: ${outcomes.map((k) => `${k} ${h.counters[k]}`).join(', ')}`);
    await h.close();
  });
}
