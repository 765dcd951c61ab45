// ctx.alloc / ctx.emit / ctx.instanceCount and the Packet head/tail room API, through the
// offline harness (which shares PacketSource and the context with the NF runtime).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineNF, type Packet } from './index.js';
import { createNFHarness } from './testing.js';
import { buildPacket } from '../proto/build.js';

const frame = (n: number): Uint8Array =>
  buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', srcPort: n, dstPort: 9, payload: 'x' });

test('alloc/emit: created packets leave by their action, with their bytes, hash and timestamp', async () => {
  const made: Packet[] = [];
  const nf = defineNF({
    name: 'maker',
    setup: (ctx) => {
      for (let i = 0; i < 3; i++) {
        const p = ctx.alloc();
        assert.ok(p !== null);
        assert.equal(p.length, 0);
        assert.equal(p.inPort, -1);
        assert.equal(p.hash, 0);
        assert.equal(p.headroom, 64, 'the standard headroom (128) minus the 64 bytes of metadata');
        const f = frame(100 + i);
        p.u8.set(f, p.offset);
        p.length = f.length;
        p.hash = 0xabc0 + i;
        p.setTimestamp(1700000000 + i, 5);
        if (i === 0) p.toService('next-nf');
        else if (i === 1) p.toPort('out');
        // i === 2: left at the default action, drop
        made.push(p);
      }
    },
    tick: (ctx) => {
      for (const p of made) assert.equal(ctx.emit(p), true);
      // Emitting the same packet twice would send one buffer to two places.
      assert.equal(ctx.emit(made[0]), false);
    },
    process: () => {},
  });
  const h = await createNFHarness(nf, { services: ['next-nf'], ports: ['out'] });
  assert.equal(h.pendingAllocs, 3);
  assert.equal(h.emitted.length, 0, 'nothing leaves before emit');
  h.tick();
  assert.equal(h.pendingAllocs, 0);
  assert.deepEqual(
    h.emitted.map((r) => [r.action, r.dest, r.inPort]),
    [
      ['toService', 'next-nf', 'port-1'],
      ['toPort', 'out', 'port-1'],
      ['drop', undefined, 'port-1'],
    ],
  );
  h.emitted.forEach((r, i) => assert.deepEqual(r.data, frame(100 + i)));
  await h.close();
});

test('alloc: null when the pool is empty; un-emitted buffers go back at close; a batch packet cannot be emitted', async () => {
  let got = 0;
  let batchEmit: boolean | undefined;
  const nf = defineNF({
    name: 'hog',
    setup: (ctx) => {
      while (ctx.alloc() !== null) got++;
    },
    process: (batch, ctx) => {
      batchEmit = ctx.emit(batch.packets[0]);
    },
  });
  const h = await createNFHarness(nf, { poolSize: 64, batchSize: 8 });
  assert.equal(got, 64 - 8, 'every buffer not held by the harness batch');
  assert.equal(h.pendingAllocs, got);
  const [r] = h.push([frame(1)]);
  assert.equal(batchEmit, false);
  assert.equal(r.action, 'next', 'the batch packet is routed by the runtime as usual');
  await h.close();
  assert.equal(h.pendingAllocs, 0, 'released at close');
});

test('alloc(view) reuses the Packet object; instanceCount reads the service table', async () => {
  const seen: number[] = [];
  const nf = defineNF({
    name: 'reuse',
    setup: (ctx) => {
      const a = ctx.alloc();
      assert.ok(a !== null);
      a.toService('x');
      ctx.emit(a);
      const b = ctx.alloc(a);
      assert.equal(b, a, 'the same view, bound to a new buffer');
      ctx.emit(b!);
      seen.push(ctx.instanceCount('x'), ctx.instanceCount('y'), ctx.instanceCount('nope'), ctx.instanceCount('reuse'));
    },
    process: () => {},
  });
  const h = await createNFHarness(nf, { services: ['x', 'y'], instances: { y: 0 } });
  assert.deepEqual(seen, [1, 0, 0, 1]);
  assert.equal(h.emitted.length, 2);
  await h.close();
});

test('packet: prepend and trimFront move the start within the buffer; tail room bounds growth', async () => {
  const nf = defineNF({
    name: 'room',
    packet: (pkt) => {
      const len = pkt.length;
      const head = pkt.headroom;
      const tail = pkt.tailroom;
      assert.equal(head, 64);
      assert.equal(tail, 2048 - 128 - len);
      assert.equal(pkt.prepend(head + 1), false, 'no more than the headroom');
      assert.equal(pkt.length, len, 'a refused prepend changes nothing');
      assert.equal(pkt.prepend(4), true);
      assert.equal(pkt.length, len + 4);
      assert.equal(pkt.headroom, 60);
      // Write a marker into the new front bytes: it must be in the output.
      pkt.u8.set([0xde, 0xad, 0xbe, 0xef], pkt.offset);
      assert.equal(pkt.trimFront(len + 5), false, 'no more than the length');
      assert.equal(pkt.trimFront(2), true);
      assert.equal(pkt.length, len + 2);
      assert.equal(pkt.tailroom, tail, 'the end did not move');
      assert.equal(pkt.tsSec, 1234);
      assert.equal(pkt.tsNsec, 5678);
    },
  });
  const h = await createNFHarness(nf);
  const f = frame(7);
  const [r] = h.push([{ data: f, tsSec: 1234, tsNsec: 5678 }]);
  assert.deepEqual(r.data, Uint8Array.from([0xbe, 0xef, ...f]));
  await h.close();
});
