// Tests of the bridge NF through the offline harness (src/nflib/testing.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import bridge from './index.js';
import { createNFHarness, type HarnessFrame } from '../../src/nflib/testing.js';
import { buildPacket, buildArp } from '../../src/proto/build.js';
import { checkReadmeExamples } from '../../test/helpers/nf-readme.js';

// The bridged ports are deliberately not ids 0 and 1, so a mix-up of names and ids shows.
const PORTS = ['mgmt', 'west', 'east', 'lab'];

const udp = (sport: number): Uint8Array =>
  buildPacket({ src: '198.51.100.1', dst: '198.51.100.2', proto: 'udp', srcPort: sport, dstPort: 9, payload: 'x' });
const arp = buildArp({ senderMac: '02:00:00:00:00:0a', senderIp: '198.51.100.1', targetIp: '198.51.100.2' });
const from = (inPort: string, data: Uint8Array = udp(1)): HarnessFrame => ({ data, inPort });

async function rejectsArg(args: Record<string, unknown>, field: string, detail: RegExp): Promise<void> {
  await assert.rejects(createNFHarness(bridge, { args, ports: PORTS }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'NETVM_NF_ARGS');
    assert.match(err.message, new RegExp(`^NF "bridge": args\\.${field} `));
    assert.match(err.message, detail);
    return true;
  });
}

test('bridge: a packet from port a leaves by port b, and one from b by a, unchanged', async () => {
  const h = await createNFHarness(bridge, { args: { a: 'west', b: 'east' }, ports: PORTS, batchSize: 4 });
  assert.deepEqual(h.counters, { aToB: 0, bToA: 0, other: 0 }, 'setup publishes the counters');
  const frames = [from('west', udp(1)), from('east', udp(2)), from('west', arp), from('west', udp(3)), from('east', udp(4)), from('west')];
  const rs = h.push(frames);
  assert.deepEqual(
    rs.map((r) => [r.inPort, r.action, r.dest, r.destId]),
    [
      ['west', 'toPort', 'east', 2],
      ['east', 'toPort', 'west', 1],
      ['west', 'toPort', 'east', 2],
      ['west', 'toPort', 'east', 2],
      ['east', 'toPort', 'west', 1],
      ['west', 'toPort', 'east', 2],
    ],
  );
  rs.forEach((r, i) => assert.deepEqual(r.data, frames[i].data));
  assert.deepEqual(h.counters, { aToB: 4, bToA: 2, other: 0 });
  h.push([from('east'), from('east')]);
  assert.deepEqual(h.counters, { aToB: 4, bToA: 4, other: 0 }, 'the counters accumulate over batches');
});

test('bridge: packets from any other port are dropped by default, and counted', async () => {
  const h = await createNFHarness(bridge, { args: { a: 'west', b: 'east' }, ports: PORTS });
  const rs = h.push([from('mgmt'), from('lab'), from('west'), from('lab', arp)]);
  assert.deepEqual(
    rs.map((r) => r.action),
    ['drop', 'drop', 'toPort', 'drop'],
  );
  assert.deepEqual(h.counters, { aToB: 1, bToA: 0, other: 3 });
});

test('bridge: `other: next` passes packets from other ports along their chain', async () => {
  const h = await createNFHarness(bridge, { args: { a: 'west', b: 'east', other: 'next' }, ports: PORTS });
  const rs = h.push([from('mgmt'), from('east'), from('lab')]);
  assert.deepEqual(
    rs.map((r) => [r.action, r.dest]),
    [
      ['next', undefined],
      ['toPort', 'west'],
      ['next', undefined],
    ],
  );
  assert.deepEqual(h.counters, { aToB: 0, bToA: 1, other: 2 });
  // `other: drop` spelled out is the default.
  const d = await createNFHarness(bridge, { args: { a: 'west', b: 'east', other: 'drop' }, ports: PORTS });
  assert.equal(d.push([from('lab')])[0].action, 'drop');
});

test('bridge: a and b may be given in either order', async () => {
  const h = await createNFHarness(bridge, { args: { a: 'east', b: 'west' }, ports: PORTS });
  const rs = h.push([from('west'), from('east')]);
  assert.deepEqual(
    rs.map((r) => r.dest),
    ['east', 'west'],
  );
  assert.deepEqual(h.counters, { aToB: 1, bToA: 1, other: 0 });
});

test('bridge: malformed and truncated frames are bridged too, without throwing', async () => {
  const h = await createNFHarness(bridge, { args: { a: 'west', b: 'east' }, ports: PORTS });
  const cut = udp(5).subarray(0, 30);
  const rs = h.push([from('west', new Uint8Array(0)), from('east', new Uint8Array(3)), from('west', cut), from('lab', cut)]);
  assert.deepEqual(
    rs.map((r) => [r.action, r.dest]),
    [
      ['toPort', 'east'],
      ['toPort', 'west'],
      ['toPort', 'east'],
      ['drop', undefined],
    ],
  );
  assert.deepEqual(rs[2].data, cut);
  assert.deepEqual(h.counters, { aToB: 2, bToA: 1, other: 1 });
});

test('bridge: the same port as a and b is rejected, naming b', async () => {
  await rejectsArg({ a: 'west', b: 'west' }, 'b', /must be a different port from args\.a \("west"\)/);
});

test('bridge: missing, mistyped and unknown arguments are rejected, naming the field', async () => {
  await rejectsArg({ b: 'east' }, 'a', /is required/);
  await rejectsArg({ a: 'west' }, 'b', /is required/);
  await rejectsArg({}, 'a', /is required/);
  await rejectsArg({ a: '', b: 'east' }, 'a', /must be a port name .*got ""/);
  await rejectsArg({ a: 'west', b: 2 }, 'b', /must be a port name .*got 2/);
  await rejectsArg({ a: 'west', b: 'east', other: 'pass' }, 'other', /must be "drop" or "next", got "pass"/);
  await rejectsArg({ a: 'west', b: 'east', other: true }, 'other', /must be "drop" or "next", got true/);
  await rejectsArg({ a: 'west', b: 'east', c: 'lab' }, 'c', /is not an argument of bridge \(known: a, b, other\)/);
});

test('bridge: an unknown port name fails in setup, listing the known ports', async () => {
  await assert.rejects(createNFHarness(bridge, { args: { a: 'west', b: 'eth9' }, ports: PORTS }), {
    code: 'NETVM_UNKNOWN_PORT',
    message: /unknown port "eth9"; known: mgmt, west, east, lab/,
  });
  await assert.rejects(createNFHarness(bridge, { args: { a: 'nowhere', b: 'east' }, ports: PORTS }), {
    code: 'NETVM_UNKNOWN_PORT',
    message: /unknown port "nowhere"/,
  });
});

// ---------------------------------------------------------------- the README's example

test('bridge: the YAML examples in README.md are valid configs whose args the NF accepts', async () => {
  await checkReadmeExamples('bridge', bridge, (h, s, cfg, label) => {
    // Both bridged ports must be inputs and outputs for the bridge to work both ways.
    for (const name of [s.args.a, s.args.b]) {
      const p = cfg.ports.find((x) => x.name === name);
      assert.ok(p?.input && p.output, `${label}: port ${String(name)} is an input and an output`);
    }
    const [r] = h.push([from(String(s.args.a))]);
    assert.deepEqual([r.action, r.dest], ['toPort', s.args.b]);
  });
});
