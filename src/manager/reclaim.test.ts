import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testRegion } from '../core/test-region.js';
import { Pool } from '../core/pool.js';
import { Ring, ringOccupancy } from '../core/ring.js';
import { nfRingId, POOL_RING, S_CACHE, S_STATE, SLOT_ACTIVE, SLOT_DEAD, slotOffset } from '../core/layout.js';
import { Reclaimer } from './reclaim.js';

test('reclaim: every buffer a dead NF held — in its ring, in its hands, in its pool cache — goes back to the pool', () => {
  const r = testRegion({ bufCount: 1024, maxSlots: 8 });
  const { i32, layout } = r;
  const size = 1024;
  const mgrPool = new Pool(i32, layout, 0, 64);
  const dead = 3;
  Atomics.store(i32, (slotOffset(layout, dead) >> 2) + S_STATE, SLOT_ACTIVE);
  // The manager allocates 200 buffers and enqueues them to the NF's ring (capacity 256).
  const d = new Int32Array(200);
  assert.equal(mgrPool.alloc(d, 0, 200), 200);
  const nfRing = new Ring(i32, layout, nfRingId(dead), 0);
  assert.equal(nfRing.enqueue(d, 0, 200), 200);
  // The NF dequeues 100 (now in its hands), frees 40 of them into its own pool cache, and
  // allocates 50 more for itself.
  const nfRx = new Ring(i32, layout, nfRingId(dead), dead);
  const held = new Int32Array(100);
  assert.equal(nfRx.dequeue(held, 0, 100, dead), 100);
  const nfPool = new Pool(i32, layout, dead, 64);
  nfPool.free(held, 0, 40);
  const mine = new Int32Array(50);
  assert.equal(nfPool.alloc(mine, 0, 50), 50);
  // ... and is killed. Count what is free before reclaiming: the dead cache must not count.
  Atomics.store(i32, (slotOffset(layout, dead) >> 2) + S_STATE, SLOT_DEAD);
  const rec = new Reclaimer(i32, layout, mgrPool);
  assert.equal(rec.repair(dead, (s) => s !== dead).done, true);
  const res = rec.reclaim(dead);
  assert.equal(res.drained, 100, 'the 100 still queued in its ring');
  assert.equal(res.inFlight, 188, '100 it dequeued (60 in hand, 40 freed to its cache) + 88 its cache refilled from the pool');
  i32[(slotOffset(layout, dead) >> 2) + S_CACHE] = 0; // the manager clears the slot after reclaiming
  mgrPool.flush();
  assert.equal(ringOccupancy(i32, layout, POOL_RING), size, `pool whole (in flight reclaimed: ${res.inFlight})`);
  assert.equal(ringOccupancy(i32, layout, nfRingId(dead)), 0);
});

test('reclaim: buffers of a live NF and buffers queued in other rings are left alone', () => {
  const r = testRegion({ bufCount: 1024, maxSlots: 8 });
  const { i32, layout } = r;
  const mgrPool = new Pool(i32, layout, 0, 64);
  const d = new Int32Array(64);
  mgrPool.alloc(d, 0, 64);
  const live = new Ring(i32, layout, nfRingId(2), 0);
  live.enqueue(d, 0, 32); // queued for live slot 2
  const liveRx = new Ring(i32, layout, nfRingId(2), 2);
  const h = new Int32Array(8);
  liveRx.dequeue(h, 0, 8, 2); // 8 in live slot 2's hands
  const rec = new Reclaimer(i32, layout, mgrPool);
  const res = rec.reclaim(5);
  assert.deepEqual({ drained: res.drained, inFlight: res.inFlight }, { drained: 0, inFlight: 0 });
  assert.equal(live.count(), 24);
});
