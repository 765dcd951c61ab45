// Tests of the forward NF through the offline harness (src/nflib/testing.ts): the same args
// validation, context, setup and batch invocation as a real NF process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import forward from './index.js';
import { createNFHarness } from '../../src/nflib/testing.js';
import { buildPacket } from '../../src/proto/build.js';
import { checkReadmeExamples } from '../../test/helpers/nf-readme.js';

const udp = (sport: number, size = 64): Uint8Array =>
  buildPacket({ src: '192.0.2.1', dst: '192.0.2.2', proto: 'udp', srcPort: sport, dstPort: 53, size });
const tcp6 = (sport: number): Uint8Array =>
  buildPacket({ src: '2001:db8::1', dst: '2001:db8::2', proto: 'tcp', srcPort: sport, dstPort: 443 });

/** Rejects with the NF's args error, naming `field`. */
async function rejectsArg(args: Record<string, unknown>, field: string, detail: RegExp, opts: { services?: string[] } = {}): Promise<void> {
  await assert.rejects(createNFHarness(forward, { args, ports: ['in', 'out'], ...opts }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'NETVM_NF_ARGS');
    assert.match(err.message, new RegExp(`^NF "forward": args\\.${field} `));
    assert.match(err.message, detail);
    return true;
  });
}

test('forward: by default every packet goes to the next step, unchanged, and is counted', async () => {
  const h = await createNFHarness(forward, { batchSize: 8 });
  assert.equal(h.counters.forwarded, 0, 'setup publishes the counter');
  const frames = [...Array.from({ length: 12 }, (_, i) => udp(1000 + i, 60 + i)), tcp6(5)];
  const rs = h.push(frames);
  assert.equal(rs.length, frames.length);
  rs.forEach((r, i) => {
    assert.equal(r.action, 'next');
    assert.equal(r.dest, undefined);
    assert.deepEqual(r.data, frames[i]);
  });
  assert.equal(h.counters.forwarded, 13);
  h.push([udp(1)]);
  assert.equal(h.counters.forwarded, 14, 'the counter accumulates over pushes');
  await h.close();
});

test('forward: `to` sends every packet to that service', async () => {
  const h = await createNFHarness(forward, { args: { to: 'fw' }, services: ['nat', 'fw'], ports: ['in', 'out'] });
  const rs = h.push([udp(1), tcp6(2), udp(3)]);
  assert.deepEqual(
    rs.map((r) => [r.action, r.dest, r.destId]),
    [
      ['toService', 'fw', 1],
      ['toService', 'fw', 1],
      ['toService', 'fw', 1],
    ],
  );
  assert.equal(h.counters.forwarded, 3);
});

test('forward: `port` sends every packet out of that port', async () => {
  const h = await createNFHarness(forward, { args: { port: 'out' }, ports: ['in', 'mirror', 'out'] });
  const rs = h.push([udp(1), { data: tcp6(2), inPort: 'mirror' }]);
  assert.deepEqual(
    rs.map((r) => [r.action, r.dest, r.destId]),
    [
      ['toPort', 'out', 2],
      ['toPort', 'out', 2],
    ],
  );
  assert.equal(h.counters.forwarded, 2);
});

test('forward: malformed and truncated frames are passed on like any other, without throwing', async () => {
  const full = udp(7);
  const frames = [new Uint8Array(0), new Uint8Array(5), full.subarray(0, 20), full.subarray(0, 40)];
  for (const args of [{}, { to: 'fw' }, { port: 'out' }]) {
    const h = await createNFHarness(forward, { args, services: ['fw'], ports: ['in', 'out'] });
    const rs = h.push(frames);
    const want = 'to' in args ? 'toService' : 'port' in args ? 'toPort' : 'next';
    assert.deepEqual(
      rs.map((r) => r.action),
      [want, want, want, want],
    );
    rs.forEach((r, i) => assert.deepEqual(r.data, frames[i]));
    assert.equal(h.counters.forwarded, 4);
  }
});

test('forward: `to` and `port` together are rejected, naming the field', async () => {
  await rejectsArg({ to: 'fw', port: 'out' }, 'port', /cannot be combined with args\.to/, { services: ['fw'] });
});

test('forward: bad values and unknown arguments are rejected, naming the field', async () => {
  await rejectsArg({ to: '' }, 'to', /must be a service name .*got ""/);
  await rejectsArg({ to: 3 }, 'to', /must be a service name .*got 3/);
  await rejectsArg({ port: '' }, 'port', /must be a port name/);
  await rejectsArg({ port: ['out'] }, 'port', /must be a port name .*got \["out"\]/);
  await rejectsArg({ too: 'fw' }, 'too', /is not an argument of forward \(known: to, port\)/);
});

test('forward: unknown service and port names fail in setup, listing the known ones', async () => {
  await assert.rejects(createNFHarness(forward, { args: { to: 'nope' }, services: ['fw', 'nat'] }), {
    code: 'NETVM_UNKNOWN_SERVICE',
    message: /unknown service "nope"; known: fw, nat/,
  });
  await assert.rejects(createNFHarness(forward, { args: { port: 'eth9' }, ports: ['in', 'out'] }), {
    code: 'NETVM_UNKNOWN_PORT',
    message: /unknown port "eth9"; known: in, out/,
  });
});

test("forward: `to` naming the NF's own service is rejected (it would loop for ever)", async () => {
  await assert.rejects(createNFHarness(forward, { args: { to: 'fwd' }, service: 'fwd', services: ['fwd', 'fw'] }), {
    code: 'NETVM_NF_ARGS',
    message: /args\.to names this NF's own service "fwd"/,
  });
  // Another service is fine.
  const h = await createNFHarness(forward, { args: { to: 'fw' }, service: 'fwd', services: ['fwd', 'fw'] });
  assert.equal(h.push([udp(1)])[0].dest, 'fw');
});

// ---------------------------------------------------------------- the README's example

test('forward: the YAML examples in README.md are valid configs whose args the NF accepts', async () => {
  await checkReadmeExamples('forward', forward);
});
