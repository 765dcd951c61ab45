import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import tracker, { flowTrackerState, isoTime } from './index.js';
import { createNFHarness, type HarnessFrame } from '../../src/nflib/testing.js';
import { buildPacket } from '../../src/proto/build.js';
import { tmpDir } from '../../test/helpers/cli.js';

const T0 = 1_700_000_000;
const tcp = (fromServer: boolean, flags: number, ms: number, bytes = 0): HarnessFrame => ({
  data: fromServer
    ? buildPacket({
        src: '10.0.0.2',
        dst: '10.0.0.1',
        proto: 'tcp',
        srcPort: 80,
        dstPort: 5555,
        tcpFlags: flags,
        payload: new Uint8Array(bytes),
      })
    : buildPacket({
        src: '10.0.0.1',
        dst: '10.0.0.2',
        proto: 'tcp',
        srcPort: 5555,
        dstPort: 80,
        tcpFlags: flags,
        payload: new Uint8Array(bytes),
      }),
  tsSec: T0 + Math.floor(ms / 1000),
  tsNsec: (ms % 1000) * 1e6,
});
const readLines = (file: string): Record<string, unknown>[] =>
  fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test('flow-tracker: bad args are refused at start, naming the field', async () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ maxFlows: 0 }, /args\.maxFlows must be an integer >= 1/],
    [{ idleTimeout: 0 }, /args\.idleTimeout must be a number > 0/],
    [{ top: -1 }, /args\.top must be/],
    [{ clock: 'cpu' }, /args\.clock must be one of "wall", "packet"/],
    [{ file: '/nonexistent/dir/flows.jsonl' }, /args\.file cannot be created/],
    [{ files: 'x' }, /args\.files is not an argument of flow-tracker/],
  ];
  for (const [args, re] of bad)
    await assert.rejects(createNFHarness(tracker, { args }), { code: 'NETVM_NF_ARGS', message: re }, JSON.stringify(args));
});

test('flow-tracker: a TCP connection through handshake, data and FINs; counts per direction; JSON line at the end', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'f.jsonl');
  const h = await createNFHarness(tracker, { args: { file, clock: 'packet', interval: 0 } });
  const st = () => flowTrackerState(h.ctx)!;
  const steps: [HarnessFrame, string][] = [
    [tcp(false, 0x02, 0), 'syn-sent'],
    [tcp(true, 0x12, 1), 'syn-received'],
    [tcp(false, 0x10, 2), 'established'],
    [tcp(false, 0x18, 3, 100), 'established'],
    [tcp(true, 0x11, 4), 'fin-wait'],
    [tcp(false, 0x11, 5), 'closed'],
    [tcp(true, 0x10, 6), 'closed'],
  ];
  for (const [f, want] of steps) {
    const [r] = h.push([f]);
    assert.equal(r.action, 'next');
    assert.deepEqual(r.data, f.data, 'packets pass unchanged');
    const e = st().top(1)[0];
    assert.equal(['', 'new', 'syn-sent', 'syn-received', 'established', 'fin-wait', 'closed', 'reset'][st().tcp[e]], want);
  }
  await h.close();
  const [rec] = readLines(file);
  assert.deepEqual(
    [rec.src, rec.srcPort, rec.dst, rec.dstPort, rec.proto, rec.fwdPackets, rec.revPackets, rec.tcpState, rec.end],
    ['10.0.0.1', 5555, '10.0.0.2', 80, 'tcp', 4, 3, 'closed', 'shutdown'],
  );
  assert.equal(rec.firstSeen, isoTime(T0, 0));
  assert.equal(rec.lastSeen, '2023-11-14T22:13:20.006000000Z');
});

test('flow-tracker: RST, mid-stream pickup; the same 5-tuple after the timeout is a new flow', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'f.jsonl');
  const h = await createNFHarness(tracker, { args: { file, clock: 'packet', idleTimeout: 5, closedTimeout: 1, interval: 0 } });
  h.push([tcp(true, 0x18, 0, 10), tcp(false, 0x10, 1)]); // mid-stream: the server spoke first
  h.push([tcp(false, 0x04, 2)]); // reset
  h.push([tcp(false, 0x02, 2000)]); // 2 s later (> closedTimeout): a new connection
  await h.close();
  const recs = readLines(file);
  assert.equal(recs.length, 2);
  assert.deepEqual([recs[0].src, recs[0].tcpState, recs[0].end, recs[0].packets], ['10.0.0.2', 'reset', 'reset', 3]);
  assert.deepEqual([recs[1].src, recs[1].tcpState, recs[1].end], ['10.0.0.1', 'syn-sent', 'shutdown']);
  assert.equal(h.counters.flowsStarted, 2);
});

test('flow-tracker: wall clock — an idle flow is exported by the tick sweep; top-N is logged every interval; malformed and non-IP are counted', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'f.jsonl');
  const h = await createNFHarness(tracker, { args: { file, idleTimeout: 0.3, interval: 1, top: 2 } });
  const udp = (sport: number, size: number): Uint8Array =>
    buildPacket({ src: '10.1.0.1', dst: '10.1.0.2', proto: 'udp', srcPort: sport, dstPort: 9, size });
  h.push([udp(1, 100), udp(2, 500), udp(2, 500), udp(3, 60), udp(1, 100).slice(0, 20)]);
  assert.equal(h.counters.malformed, 1);
  h.tick();
  assert.match(h.logs[0].msg, /3 flows/);
  assert.match(
    h.logs[0].msg,
    /1\. 10\.1\.0\.1:2 -> 10\.1\.0\.2:9 udp: 2 pkts, 1000 bytes\n {2}2\. 10\.1\.0\.1:1 -> 10\.1\.0\.2:9 udp: 1 pkts, 100 bytes$/,
  );
  await new Promise((r) => setTimeout(r, 400));
  h.tick(); // all three idle longer than 0.3 s: exported
  assert.equal(h.counters.exported, 3);
  assert.equal(h.counters.flows, 0);
  h.push([udp(3, 60)]); // the same 5-tuple again: a new flow
  await h.close();
  assert.deepEqual(
    readLines(file).map((l) => [l.srcPort, l.packets, l.end]),
    [
      [1, 1, 'idle'],
      [2, 2, 'idle'],
      [3, 1, 'idle'],
      [3, 1, 'shutdown'],
    ],
  );
  assert.equal(h.counters.flowsStarted, 4);
});

test('flow-tracker: a full table counts packets of new flows; on the packet clock expired flows make room', async () => {
  const h = await createNFHarness(tracker, { args: { maxFlows: 2, idleTimeout: 1, clock: 'packet', interval: 0 } });
  const at = (sport: number, ms: number): HarnessFrame => ({
    data: buildPacket({ src: '10.2.0.1', dst: '10.2.0.2', proto: 'udp', srcPort: sport, dstPort: 9 }),
    tsSec: T0 + Math.floor(ms / 1000),
    tsNsec: (ms % 1000) * 1e6,
  });
  h.push([at(1, 0), at(2, 0), at(3, 10)]);
  assert.equal(h.counters.tableFull, 1);
  h.push([at(3, 3000)]); // flows 1 and 2 expired by now: ended to make room
  assert.equal(h.counters.exported, 2);
  assert.equal(h.counters.flows, 1);
  assert.equal(h.counters.tableFull, 1);
});
