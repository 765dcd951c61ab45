import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import tester from './index.js';
import { createNFHarness } from '../../src/nflib/testing.js';
import { buildPacket } from '../../src/proto/build.js';
import { parsePacket, ParsedPacket } from '../../src/proto/parse.js';
import { writePcapFile } from '../../src/ports/pcap/pcap-format.js';
import { describeFailure, runCli, tmpDir, uniqueName } from '../../test/helpers/cli.js';

test('speed-tester: bad args are refused at start, naming the field', async () => {
  const bad: [Record<string, unknown>, RegExp, string?][] = [
    [{ count: 0 }, /args\.count must be an integer >= 1 and <= 4096/],
    [{ size: 59 }, /args\.size must be an integer >= 60/],
    [{ ipVersion: 5 }, /args\.ipVersion must be 4 or 6/],
    [{ pcap: 'x.pcap', size: 100 }, /args\.pcap replaces size, flows and ipVersion/],
    [{ waitFor: 'fwd' }, /args\.waitFor must be a list of service names/],
    [{ dest: 'nowhere' }, /unknown service "nowhere"/, 'NETVM_UNKNOWN_SERVICE'],
    [{ finalPort: 'nowhere' }, /unknown port "nowhere"/, 'NETVM_UNKNOWN_PORT'],
    [{ pcap: '/nonexistent.pcap' }, /args\.pcap cannot be read/],
    [{ count: 300 }, /args\.count is more than the free buffers in the pool/],
  ];
  for (const [args, re, code] of bad)
    await assert.rejects(createNFHarness(tester, { args }), { code: code ?? 'NETVM_NF_ARGS', message: re }, JSON.stringify(args));
});

test('speed-tester: allocates `count` packets at setup and sends them to dest once dest has an instance', async () => {
  const h = await createNFHarness(tester, {
    args: { count: 16, size: 128, flows: 4, dest: 'fwd' },
    services: ['fwd'],
    instances: { fwd: 0 },
  });
  assert.equal(h.pendingAllocs, 16, 'allocated at setup, held');
  h.tick();
  assert.equal(h.emitted.length, 0, 'fwd has no instance yet: nothing sent');
  const h2 = await createNFHarness(tester, { args: { count: 16, size: 128, flows: 4, dest: 'fwd' }, services: ['fwd'] });
  h2.tick();
  assert.equal(h2.emitted.length, 16);
  const p = new ParsedPacket();
  const ports = new Set<number>();
  for (const r of h2.emitted) {
    assert.deepEqual([r.action, r.dest], ['toService', 'fwd']);
    assert.equal(r.data.length, 128);
    assert.ok(parsePacket(r.data, 0, r.data.length, p) && p.l4Proto === 17);
    ports.add(p.srcPort);
  }
  assert.equal(ports.size, 4, 'four flows');
  assert.equal(h2.counters.sent, 16);
  assert.equal(h2.counters.inFlight, 16);
});

test('speed-tester: packets that are not its own are dropped by default, passed with other: next', async () => {
  const f = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', srcPort: 1, dstPort: 2 });
  const h = await createNFHarness(tester, { args: { count: 4 } });
  assert.equal(h.push([f])[0].action, 'drop');
  assert.equal(h.counters.foreign, 1);
  const n = await createNFHarness(tester, { args: { count: 4, other: 'next' } });
  assert.equal(n.push([f])[0].action, 'next');
});

test('speed-tester: pcap templates keep their bytes and capture times, cycling through the file', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 't.pcap');
  const frames = [60, 200].map((size) => buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', srcPort: size, dstPort: 2, size }));
  writePcapFile(
    file,
    frames.map((data, i) => ({ data, tsSec: 1000 + i, tsNsec: 0 })),
  );
  const h = await createNFHarness(tester, { args: { count: 5, pcap: file } });
  h.tick();
  assert.deepEqual(
    h.emitted.map((r) => r.data.length),
    [60, 200, 60, 200, 60],
  );
  assert.deepEqual(h.emitted[1].data, frames[1]);
});

test('speed-tester: a self-loop through its own ring via netvm run ends after `packets` with every buffer back', async (t) => {
  const dir = tmpDir();
  fs.writeFileSync(
    path.join(dir, 'c.yaml'),
    `ports:
  sink: { driver: sink }
services:
  st: { nf: speed-tester, args: { count: 64, packets: 20000, interval: 0 } }
`,
  );
  const stats = path.join(dir, 's.json');
  const r = await runCli(['run', '--config', 'c.yaml', '--name', uniqueName('st'), '--stats-json', stats, '--quiet'], { cwd: dir });
  assert.equal(r.code, 0, describeFailure(r));
  const s = JSON.parse(fs.readFileSync(stats, 'utf8'));
  const c = s.services.st.instances[0].counters;
  assert.equal(s.pool.free, s.pool.size, 'every buffer is back in the pool');
  assert.equal(c.received, 20000 + 64, '20000 returns, then the 64 in flight come back and are dropped');
  assert.equal(c.inFlight, 0);
  assert.equal(c.done, 1);
  assert.ok(c.avgMpps > 0 && c.latencyAvgUs > 0);
  assert.match(r.stderr, /speed-tester: 20064 packets in [\d.]+ s: [\d.]+ Mpps, latency avg [\d.]+ us/);
  t.diagnostic(`self-loop, 64 in flight: ${c.avgMpps} Mpps, latency avg ${c.latencyAvgUs} us (loaded shared machine)`);
});
