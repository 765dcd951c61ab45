// End to end through the real CLI and real NF processes: pcap in, pcap out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCli, tmpDir, uniqueName, describeFailure } from '../helpers/cli.js';
import { mixedTraffic, type TrafficRecord } from '../fixtures/traffic.js';
import { balance, type StatsJson } from '../helpers/accounting.js';
import { readPcapFile, writePcapFile } from '../../src/ports/pcap/pcap-format.js';
import { parsePacket, ParsedPacket } from '../../src/proto/parse.js';

interface Rec {
  data: Uint8Array;
  tsSec: number;
  tsNsec: number;
}

const hex = (r: Rec): string => `${r.tsSec}.${r.tsNsec}:${Buffer.from(r.data).toString('hex')}`;

/** The input's records grouped by flow, in order. */
function byFlow(recs: TrafficRecord[]): Map<number, string[]> {
  const m = new Map<number, string[]>();
  for (const r of recs) {
    const l = m.get(r.flow) ?? [];
    l.push(hex(r));
    m.set(r.flow, l);
  }
  return m;
}

/** Output records regrouped by the input flow they belong to (looked up by exact bytes). */
function outputByFlow(out: Rec[], flowOf: Map<string, number>): Map<number, string[]> {
  const m = new Map<number, string[]>();
  for (const r of out) {
    const key = hex(r);
    const f = flowOf.get(key);
    assert.notEqual(f, undefined, `an output packet is not byte-identical to any input packet: ${key.slice(0, 120)}`);
    const l = m.get(f!) ?? [];
    l.push(key);
    m.set(f!, l);
  }
  return m;
}

test('e2e: mixed IPv4/IPv6 TCP/UDP/ICMP pcap through 3 NF processes comes out byte-identical, in order per flow', async () => {
  const dir = tmpDir();
  const input = mixedTraffic(3000, 7, 96);
  const kinds = new Set(input.map((r) => r.kind));
  for (const k of ['tcp4', 'udp4', 'icmp4', 'tcp6', 'udp6', 'icmp6']) assert.ok(kinds.has(k), `fixture lacks ${k}`);
  writePcapFile(path.join(dir, 'in.pcap'), input, { format: 'pcap', precision: 'us' });
  fs.writeFileSync(
    path.join(dir, 'chain.yaml'),
    `ports:
  in:  { driver: pcap, read: in.pcap }
  out: { driver: pcap, write: out.pcap }
services:
  mon:  { nf: monitor }
  fwd:  { nf: forward, instances: 2 }
  last: { nf: forward }
chains:
  default: [mon, fwd, last, out]
`,
  );
  const stats = path.join(dir, 'stats.json');
  const r = await runCli([
    'run',
    '--config',
    path.join(dir, 'chain.yaml'),
    '--name',
    uniqueName('chain'),
    '--stats-json',
    stats,
    '--quiet',
  ]);
  assert.equal(r.code, 0, describeFailure(r));
  const out = readPcapFile(path.join(dir, 'out.pcap')).packets;
  assert.equal(out.length, input.length, 'every packet comes out');
  const flowOf = new Map(input.map((x) => [hex(x), x.flow]));
  assert.equal(flowOf.size, input.length, 'fixture packets are distinct');
  const want = byFlow(input);
  const got = outputByFlow(out, flowOf);
  for (const [f, seq] of want) assert.deepEqual(got.get(f), seq, `flow ${f} differs or is out of order`);

  const s = JSON.parse(fs.readFileSync(stats, 'utf8'));
  assert.equal(s.pool.free, s.pool.size, 'every buffer is back in the pool');
  assert.equal(s.ports.in.rx, input.length);
  assert.equal(s.ports.out.tx, input.length);
  assert.equal(s.services.fwd.instances.length, 2);
  const fwdRx = s.services.fwd.instances.reduce((a: number, i: { rx: number }) => a + i.rx, 0);
  assert.equal(fwdRx, input.length, 'the two fwd instances together saw every packet');
  for (const i of s.services.fwd.instances) assert.ok(i.rx > 0, 'both fwd instances got flows');
  assert.equal(s.services.mon.instances[0].rx, input.length);
  assert.equal(s.services.last.instances[0].tx, input.length);
  assert.match(r.stdout, /pool: \d+\/\d+ buffers free/);
});

test('e2e: the README example — a rule sends UDP port 53 to its own chain and port', async () => {
  const dir = tmpDir();
  const input = mixedTraffic(2000, 11, 64);
  writePcapFile(path.join(dir, 'traffic.pcap'), input, { format: 'pcap', precision: 'us' });
  // The configuration exactly as the issue and the README give it.
  fs.writeFileSync(
    path.join(dir, 'chain.yaml'),
    `ports:
  in:  { driver: pcap, read: traffic.pcap }
  out: { driver: pcap, write: result.pcap }
  dns: { driver: pcap, write: dns.pcap }
services:
  mon: { nf: monitor }
  fwd: { nf: forward, instances: 2 }
chains:
  default: [mon, fwd, out]      # steps: a service name, a port name, or drop
  dns:     [mon, dns]
rules:
  - match: { proto: udp, dstPort: 53 }
    chain: dns
`,
  );
  const stats = path.join(dir, 'stats.json');
  const r = await runCli(['run', '--config', 'chain.yaml', '--name', uniqueName('rule'), '--stats-json', stats, '--quiet'], { cwd: dir });
  assert.equal(r.code, 0, describeFailure(r));
  const p = new ParsedPacket();
  const isDns = (d: Uint8Array): boolean => parsePacket(d, 0, d.length, p) && p.l4Proto === 17 && p.dstPort === 53;
  const wantDns = input.filter((x) => isDns(x.data));
  const wantRest = input.filter((x) => !isDns(x.data));
  assert.ok(wantDns.length > 100 && wantRest.length > 1000, 'fixture has both kinds');
  const dns = readPcapFile(path.join(dir, 'dns.pcap')).packets;
  const rest = readPcapFile(path.join(dir, 'result.pcap')).packets;
  // One instance on the dns chain: the whole file is in input order.
  assert.deepEqual(dns.map(hex), wantDns.map(hex), 'dns.pcap holds exactly the UDP/53 packets, in order');
  assert.equal(rest.length, wantRest.length);
  const flowOf = new Map(wantRest.map((x) => [hex(x), x.flow]));
  const got = outputByFlow(rest, flowOf);
  for (const [f, seq] of byFlow(wantRest)) assert.deepEqual(got.get(f), seq, `flow ${f}`);
  const s = JSON.parse(fs.readFileSync(stats, 'utf8'));
  assert.equal(s.chains.dns.packets, wantDns.length);
  assert.equal(s.chains.default.packets, wantRest.length);
  assert.equal(s.ports.dns.tx, wantDns.length);
  assert.equal(s.pool.free, s.pool.size);
});

/** One input port, one forward NF, and a port `slow` that takes `rate` packets a second. */
function slowPortConfig(input: string, rate: number): string {
  return `region: { ringSize: 256 }
ports:
  in:   ${input}
  slow: { driver: sink, rate: ${rate}, latency: false }
services:
  fwd: { nf: forward }
chains:
  default: [fwd, slow]
`;
}

test('e2e: transmit backpressure — a pcap replayed into a port slower than the chain (sink rate 20000) loses nothing', async () => {
  const dir = tmpDir();
  const input = mixedTraffic(3000, 11, 64);
  writePcapFile(path.join(dir, 'in.pcap'), input, { format: 'pcap', precision: 'us' });
  fs.writeFileSync(path.join(dir, 'slow.yaml'), slowPortConfig('{ driver: pcap, read: in.pcap }', 20000));
  const stats = path.join(dir, 'stats.json');
  const r = await runCli(['run', '--config', 'slow.yaml', '--name', uniqueName('slow'), '--stats-json', stats, '--quiet'], { cwd: dir });
  assert.equal(r.code, 0, describeFailure(r));
  const s = JSON.parse(fs.readFileSync(stats, 'utf8'));
  // The sink took 20000 a second out of a file that the chain reads far faster: it deferred
  // most bursts, and the manager held them (and the NF waited) instead of dropping any.
  assert.ok(s.ports.slow.driverStats.deferred > 0, `the sink deferred packets: ${JSON.stringify(s.ports.slow.driverStats)}`);
  assert.equal(s.ports.slow.driverStats.packets, input.length, 'every packet reached the slow port');
  assert.equal(s.ports.slow.tx, input.length);
  assert.equal(s.ports.slow.txErrors, 0);
  assert.equal(s.ports.slow.txHeld, 0, 'nothing left held at the end');
  assert.equal(s.pool.free, s.pool.size);
});

test('e2e: transmit backpressure with a live input — a port that drains slower than the load sheds the excess before its chain, every packet accounted for', async () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'live.yaml'), slowPortConfig('{ driver: generator, rate: 200000 }', 5000));
  const stats = path.join(dir, 'stats.json');
  const r = await runCli(
    ['run', '--config', 'live.yaml', '--name', uniqueName('live'), '--stats-json', stats, '--timeout', '2', '--quiet'],
    {
      cwd: dir,
    },
  );
  const s = JSON.parse(fs.readFileSync(stats, 'utf8'));
  const sunk = s.ports.slow.driverStats.packets;
  // About 5000 a second for the 2 s (plus the bucket's first 10 ms), not the 200000 offered.
  assert.ok(sunk > 2000 && sunk < 15000, `the slow port took ${sunk} (${describeFailure(r)})`);
  assert.ok(s.ports.in.rx > 5 * sunk, `the generator offered far more: ${s.ports.in.rx}`);
  // The NF waits for the held port, its ring fills, and the manager drops for that ring (a
  // live input cannot wait): counted, and the balance is exact.
  assert.ok(s.manager.dropRingFull > s.ports.in.rx / 2, `manager.dropRingFull ${s.manager.dropRingFull}`);
  assert.equal(balance(s as StatsJson).unaccounted, 0, JSON.stringify(balance(s as StatsJson)));
  assert.equal(s.pool.free, s.pool.size, 'every buffer is back in the pool');
});
