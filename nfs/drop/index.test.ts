// Tests of the drop NF through the offline harness (src/nflib/testing.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import drop from './index.js';
import { createNFHarness } from '../../src/nflib/testing.js';
import { buildPacket } from '../../src/proto/build.js';
import { checkReadmeExamples } from '../../test/helpers/nf-readme.js';

const pkt = (i: number): Uint8Array =>
  buildPacket({ src: '203.0.113.1', dst: '203.0.113.2', proto: 'tcp', srcPort: 40000 + i, dstPort: 80, payload: `#${i}` });
const frames = (n: number): Uint8Array[] => Array.from({ length: n }, (_, i) => pkt(i + 1));
/** 1-based numbers of the dropped packets. */
const droppedOf = (actions: string[]): number[] => actions.flatMap((a, i) => (a === 'drop' ? [i + 1] : []));

async function rejectsEvery(every: unknown, got: string): Promise<void> {
  await assert.rejects(createNFHarness(drop, { args: { every } }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'NETVM_NF_ARGS');
    assert.match(err.message, /^NF "drop": args\.every must be an integer >= 1/);
    assert.ok(err.message.endsWith(`got ${got}`), err.message);
    return true;
  });
}

test('drop: by default every packet is dropped and counted', async () => {
  const h = await createNFHarness(drop, { batchSize: 8 });
  assert.equal(h.counters.dropped, 0, 'setup publishes the counter');
  const rs = h.push(frames(20));
  assert.ok(
    rs.every((r) => r.action === 'drop'),
    'every packet dropped',
  );
  assert.equal(h.counters.dropped, 20);
  h.push(frames(3));
  assert.equal(h.counters.dropped, 23);
});

test('drop: `every: 3` drops packets 3, 6, 9, ... and passes the rest on, across batches and pushes', async () => {
  const h = await createNFHarness(drop, { args: { every: 3 }, batchSize: 4 });
  const rs = h.push(frames(10));
  assert.deepEqual(droppedOf(rs.map((r) => r.action)), [3, 6, 9]);
  assert.ok(rs.filter((r) => r.action !== 'drop').every((r) => r.action === 'next'));
  assert.equal(h.counters.dropped, 3);
  // The count carries on from packet 10: the next push's 2nd and 5th packets are 12 and 15.
  const more = h.push(frames(5));
  assert.deepEqual(droppedOf(more.map((r) => r.action)), [2, 5]);
  assert.equal(h.counters.dropped, 5);
});

test('drop: `every: n` drops exactly one packet in n', async () => {
  for (const every of [1, 2, 5, 32, 33]) {
    const h = await createNFHarness(drop, { args: { every }, batchSize: 32 });
    const rs = h.push(frames(330));
    const dropped = droppedOf(rs.map((r) => r.action));
    assert.equal(dropped.length, Math.floor(330 / every), `every ${every}`);
    assert.ok(
      dropped.every((n) => n % every === 0),
      `every ${every}: only multiples dropped`,
    );
    assert.equal(h.counters.dropped, dropped.length);
  }
});

test('drop: packets are not changed, and malformed or truncated frames count like any other', async () => {
  const h = await createNFHarness(drop, { args: { every: 2 } });
  const fs4 = [new Uint8Array(0), pkt(1).subarray(0, 17), new Uint8Array(9).fill(0xff), pkt(2)];
  const rs = h.push(fs4);
  assert.deepEqual(
    rs.map((r) => r.action),
    ['next', 'drop', 'next', 'drop'],
  );
  rs.forEach((r, i) => assert.deepEqual(r.data, fs4[i]));
  assert.equal(h.counters.dropped, 2);
});

test('drop: a bad `every` is rejected, naming the field', async () => {
  await rejectsEvery(0, '0');
  await rejectsEvery(-3, '-3');
  await rejectsEvery(1.5, '1.5');
  await rejectsEvery('3', '"3"');
  await rejectsEvery(true, 'true');
  await rejectsEvery(Number.NaN, 'null');
});

test('drop: unknown arguments are rejected, naming them', async () => {
  await assert.rejects(createNFHarness(drop, { args: { evry: 3 } }), {
    code: 'NETVM_NF_ARGS',
    message: 'NF "drop": args.evry is not an argument of drop (known: every)',
  });
});

// ---------------------------------------------------------------- the README's example

test('drop: the YAML examples in README.md are valid configs whose args the NF accepts', async () => {
  await checkReadmeExamples('drop', drop);
});
