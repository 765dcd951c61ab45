import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testRegion } from './test-region.js';
import { Ring, repairAbandoned, ringOccupancy } from './ring.js';
import { Pool } from './pool.js';
import {
  bufferOffset,
  M_OWNER,
  NULL_DESC,
  nfRingId,
  POOL_RING,
  R_PROD_HEAD,
  R_PROD_TAIL,
  S_RESV_END,
  S_RESV_RING,
  S_RESV_START,
  slotOffset,
} from './layout.js';

test('ring: burst enqueue/dequeue keeps order and stops at capacity', () => {
  const r = testRegion();
  const ring = new Ring(r.i32, r.layout, nfRingId(1), 0);
  assert.equal(ring.capacity, 256);
  const src = Int32Array.from({ length: 300 }, (_, i) => i);
  assert.equal(ring.enqueue(src, 0, 300), 256, 'burst takes only what fits');
  assert.equal(ring.count(), 256);
  assert.equal(ring.enqueue(src, 0, 1), 0, 'full ring takes nothing');
  const dst = new Int32Array(300);
  assert.equal(ring.dequeue(dst, 0, 100, 5), 100);
  assert.deepEqual(Array.from(dst.subarray(0, 100)), Array.from(src.subarray(0, 100)));
  assert.equal(ring.dequeue(dst, 100, 300, 5), 156);
  assert.deepEqual(Array.from(dst.subarray(0, 256)), Array.from(src.subarray(0, 256)));
  assert.equal(ring.count(), 0);
  assert.equal(ring.dequeue(dst, 0, 10, 5), 0);
});

test('ring: indices wrap around 2^32 without losing order', () => {
  const r = testRegion();
  const id = nfRingId(1);
  const base = r.layout.ringOffsets[id] >> 2;
  const start = 2 ** 31 - 100; // near the signed overflow of the free-running counters
  for (const i of [R_PROD_HEAD, R_PROD_TAIL, 16, 17]) r.i32[base + i] = start | 0;
  const ring = new Ring(r.i32, r.layout, id, 0);
  const dst = new Int32Array(64);
  let next = 0;
  let expect = 0;
  for (let round = 0; round < 20; round++) {
    const src = Int32Array.from({ length: 37 }, () => next++ % 1024);
    assert.equal(ring.enqueue(src, 0, 37), 37);
    const got = ring.dequeue(dst, 0, 64, 1);
    assert.equal(got, 37);
    for (let k = 0; k < got; k++) assert.equal(dst[k], expect++ % 1024);
  }
});

test('ring: dequeue stamps the owner in each buffer and skips abandoned slots', () => {
  const r = testRegion();
  const ring = new Ring(r.i32, r.layout, nfRingId(2), 0);
  ring.enqueue(Int32Array.of(7, NULL_DESC, 9), 0, 3);
  const dst = new Int32Array(3);
  assert.equal(ring.dequeue(dst, 0, 3, 4), 2);
  assert.deepEqual(Array.from(dst.subarray(0, 2)), [7, 9]);
  assert.equal(r.i32[(bufferOffset(r.layout, 7) >> 2) + M_OWNER], 4);
  assert.equal(r.i32[(bufferOffset(r.layout, 9) >> 2) + M_OWNER], 4);
});

test('ring: a producer that died between reserving and publishing is repaired', () => {
  const r = testRegion();
  const id = nfRingId(1);
  const base = r.layout.ringOffsets[id] >> 2;
  const dead = 3;
  const rec = (slotOffset(r.layout, dead) >> 2) + S_RESV_RING;
  // The dead producer reserved [0,4) (its record and the head say so) and never published.
  r.i32[rec + 1] = 0;
  r.i32[rec + 2] = 4;
  r.i32[rec + 3] = 0;
  r.i32[rec] = id + 1;
  r.i32[base + R_PROD_HEAD] = 4;
  const live = new Ring(r.i32, r.layout, id, 1);
  // A live producer behind it: its own enqueue would spin; give it an onStuck that repairs.
  let repaired = 0;
  live.onStuck = () => {
    const res = repairAbandoned(r.i32, r.layout, dead, (s) => s !== dead);
    assert.equal(res.pending, false);
    repaired++;
  };
  assert.equal(live.enqueue(Int32Array.of(11, 12), 0, 2), 2);
  assert.equal(repaired, 1);
  assert.equal(r.i32[rec], 0, 'record cleared');
  assert.equal(ringOccupancy(r.i32, r.layout, id), 6);
  const dst = new Int32Array(8);
  assert.equal(live.dequeue(dst, 0, 8, 1), 2, 'the four abandoned slots are skipped');
  assert.deepEqual(Array.from(dst.subarray(0, 2)), [11, 12]);
});

test('ring: repair leaves a reservation that a live process owns alone', () => {
  const r = testRegion();
  const id = nfRingId(1);
  const base = r.layout.ringOffsets[id] >> 2;
  for (const s of [2, 3]) {
    const rec = (slotOffset(r.layout, s) >> 2) + S_RESV_RING;
    r.i32[rec + 1] = 0;
    r.i32[rec + 2] = 4;
    r.i32[rec] = id + 1;
  }
  r.i32[base + R_PROD_HEAD] = 4;
  const res = repairAbandoned(r.i32, r.layout, 3, () => true);
  assert.equal(res.pending, false);
  assert.equal(r.i32[base + R_PROD_TAIL], 0, 'slot 2 (alive) still owns the reservation');
  assert.equal(r.i32[(slotOffset(r.layout, 2) >> 2) + S_RESV_START], 0);
  assert.equal(r.i32[(slotOffset(r.layout, 2) >> 2) + S_RESV_END], 4);
});

test('pool: alloc and free through the cache keep every buffer exactly once', () => {
  const r = testRegion();
  const total = r.layout.params.bufCount;
  const a = new Pool(r.i32, r.layout, 1, 64);
  const b = new Pool(r.i32, r.layout, 2, 64);
  const held = new Int32Array(total);
  let n = 0;
  while (n < total) {
    const got = (n & 1 ? a : b).alloc(held, n, Math.min(50, total - n));
    if (got === 0) break;
    n += got;
  }
  assert.equal(n, total, 'every buffer can be allocated');
  assert.equal(new Set(held).size, total, 'no buffer handed out twice');
  assert.equal(a.alloc(held, 0, 1), 0);
  assert.equal(a.allocFailures, 1);
  a.free(held, 0, total >> 1);
  b.free(held, total >> 1, total - (total >> 1));
  a.flush();
  b.flush();
  assert.equal(ringOccupancy(r.i32, r.layout, POOL_RING), total);
});
