// Every catalog NF of part B survives any packet (as catalog-fuzz.test.ts does for part A):
// valid frames of every kind — VLAN-tagged, IPv4 with options and fragments, IPv6 with
// extension headers, TCP/UDP/ICMP/GRE, with payloads that carry the payload scanner's patterns —
// damaged at random (cut anywhere, header bytes and length fields overwritten), go through the
// NF in the offline harness, which fails on any exception. And every packet is counted
// exactly once: the NF's outcome counters add up to the packets pushed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createNFHarness } from '../src/nflib/testing.js';
import type { NFDefinition } from '../src/nflib/define-nf.js';
import { buildPacket, type PacketSpec } from '../src/proto/build.js';
import { rng } from './fixtures/traffic.js';
import { oddFrames } from './helpers/odd-frames.js';
import { tmpDir } from './helpers/cli.js';
import rateLimiter from '../nfs/rate-limiter/index.js';
import payloadScan from '../nfs/payload-scan/index.js';
import aesEncrypt from '../nfs/aes-encrypt/index.js';
import aesDecrypt from '../nfs/aes-decrypt/index.js';
import flowTracker from '../nfs/flow-tracker/index.js';
import speedTester from '../nfs/speed-tester/index.js';
import tap from '../nfs/tap/index.js';
import vlan from '../nfs/vlan/index.js';

const N = 20000;
const KEY = '000102030405060708090a0b0c0d0e0f';

function frames(seed: number): Uint8Array[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const bases: Uint8Array[] = oddFrames().map((f) => f.data);
  for (let i = 0; i < 200; i++) {
    const v6 = r() < 0.4;
    const spec: PacketSpec = {
      src: v6 ? pick(['2001:db8::1', '2001:db8:1::1']) : pick(['10.0.0.1', '10.0.0.2', '198.51.100.1']),
      dst: v6 ? pick(['2001:db8::80', '2001:db8:1::9']) : pick(['203.0.113.10', '10.0.0.1']),
      proto: pick(['tcp', 'udp', 'udp', 'icmp', 47] as const),
      srcPort: pick([53, 80, 4789, 40000]),
      dstPort: pick([53, 80, 4789, 40000]),
      tcpFlags: pick([0x02, 0x12, 0x10, 0x11, 0x04, 0x18]),
      payload: pick(['', 'hello', 'GET /admin HTTP/1.1', 'x'.repeat(40) + 'password=1', 'y'.repeat(300)]),
    };
    if (r() < 0.2) spec.vlan = r() < 0.5 ? [pick([1, 10, 100])] : [100, 200];
    if (!v6 && r() < 0.2) spec.ipv4Options = Uint8Array.of(1, 1, 1, 0);
    if (!v6 && r() < 0.1) spec.fragOffset = 3;
    if (!v6 && r() < 0.1) spec.moreFragments = true;
    if (v6 && r() < 0.2) spec.ipv6Ext = [{ type: pick([0, 43, 60]) }, ...(r() < 0.3 ? [{ type: 44, fragOffset: pick([0, 5]) }] : [])];
    bases.push(buildPacket(spec));
  }
  const out: Uint8Array[] = [];
  for (let i = 0; i < N; i++) {
    let f = pick(bases).slice();
    const m = r();
    if (m < 0.3) f = f.slice(0, Math.floor(r() * f.length));
    else if (m < 0.8) for (let k = 1 + Math.floor(r() * 4); k > 0; k--) f[Math.floor(r() * Math.min(f.length, 80))] = Math.floor(r() * 256);
    out.push(f);
  }
  return out;
}

const sum = (c: Record<string, number>, keys: string[]): number => keys.reduce((a, k) => a + (c[k] ?? 0), 0);
const dir = tmpDir();

interface Case {
  nf: string;
  def: NFDefinition<unknown>;
  args: Record<string, unknown>;
  /** Checks the counters (and files) after N packets and close(). */
  check: (c: Record<string, number>, actions: Record<string, number>) => void;
  services?: string[];
}

const cases: Case[] = [
  {
    nf: 'rate-limiter',
    def: rateLimiter as NFDefinition<unknown>,
    args: { rate: 1000, unit: 'bytes', burst: 3000, mode: 'flow', action: 'mark', dscp: 46, maxFlows: 64 },
    check: (c) => {
      assert.equal(c.conformed + c.exceeded, N);
      assert.equal(c.exceeded, sum(c, ['dropped', 'marked', 'unmarkable']));
      assert.ok(c.marked > 0 && c.unkeyed > 0 && c.tableFull > 0);
    },
  },
  {
    nf: 'payload-scan',
    def: payloadScan as NFDefinition<unknown>,
    args: { patterns: ['GET /admin', 'password=', { hex: '0000' }], caseInsensitive: true, action: 'divert', to: 'ids', maxFlows: 64 },
    services: ['ids'],
    check: (c, a) => {
      assert.equal(c.scanned + c.flowHits, N);
      assert.equal(c.matched + c.flowHits, c.diverted);
      assert.equal(a.toService, c.diverted);
      assert.ok(c.matched > 0 && c.malformed > 0);
    },
  },
  {
    nf: 'aes-encrypt',
    def: aesEncrypt as NFDefinition<unknown>,
    args: { key: KEY, mtu: 300 },
    check: (c, a) => {
      assert.equal(sum(c, ['encrypted', 'skipped', 'malformed', 'fragments', 'tooBig', 'noRoom']), N);
      assert.equal(a.drop, sum(c, ['malformed', 'fragments', 'tooBig', 'noRoom']));
      assert.ok(c.encrypted > 0 && c.tooBig > 0 && c.fragments > 0);
    },
  },
  {
    nf: 'aes-decrypt',
    def: aesDecrypt as NFDefinition<unknown>,
    args: { key: KEY },
    check: (c, a) => {
      assert.equal(sum(c, ['decrypted', 'skipped', 'malformed', 'fragments', 'tooShort']), N);
      assert.equal(a.drop, sum(c, ['malformed', 'fragments', 'tooShort']));
    },
  },
  {
    nf: 'flow-tracker',
    def: flowTracker as NFDefinition<unknown>,
    args: { file: path.join(dir, 'flows.jsonl'), maxFlows: 64, interval: 0 },
    check: (c) => {
      const lines = fs
        .readFileSync(path.join(dir, 'flows.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { packets: number });
      assert.equal(lines.length, c.exported);
      assert.equal(c.exported, c.flowsStarted);
      assert.equal(
        lines.reduce((x, l) => x + l.packets, 0) + sum(c, ['malformed', 'nonIp', 'tableFull']),
        N,
        'every packet is in a flow or counted',
      );
    },
  },
  {
    nf: 'tap',
    def: tap as NFDefinition<unknown>,
    args: { file: path.join(dir, 'tap.pcap'), filter: { proto: 'udp', port: '50-5000' } },
    check: (c, a) => {
      assert.equal(c.captured + c.filtered + c.dropped, N);
      assert.equal(a.next, N, 'a tap passes everything');
      assert.ok(c.captured > 0 && c.malformed > 0);
    },
  },
  {
    nf: 'vlan',
    def: vlan as NFDefinition<unknown>,
    args: { action: 'pop', matchVid: 100 },
    check: (c) => assert.equal(sum(c, ['popped', 'untagged', 'unmatched', 'malformed']), N),
  },
  {
    nf: 'speed-tester',
    def: speedTester as NFDefinition<unknown>,
    args: { count: 8, other: 'next' },
    check: (c, a) => {
      assert.equal(c.foreign, N);
      assert.equal(a.next, N);
    },
  },
];

for (const k of cases) {
  test(`fuzz: ${k.nf} takes ${N} damaged packets without an exception and counts each once`, async () => {
    const h = await createNFHarness(k.def, { args: k.args, services: k.services });
    const actions: Record<string, number> = { next: 0, drop: 0, toService: 0, toPort: 0 };
    for (const r of h.push(frames(7))) actions[r.action]++;
    await h.close();
    k.check(h.counters, actions);
  });
}
