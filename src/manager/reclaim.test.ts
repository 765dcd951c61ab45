import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testRegion } from '../core/test-region.js';
import { Pool } from '../core/pool.js';
import { Ring, ringOccupancy } from '../core/ring.js';
import { Router } from '../core/router.js';
import { PacketSource } from '../nflib/packet-source.js';
import {
  ACTION_COUNTED,
  ACTION_CREATING,
  ACTION_DROP,
  ACTION_NEXT,
  bufferOffset,
  C_CREATED,
  C_DROP_ACTION,
  M_ACTION,
  M_DEST,
  M_STAMP_F64,
  nfRingId,
  POOL_RING,
  R_CONS_HEAD,
  S_CACHE,
  S_RESV_RING,
  S_STATE,
  SLOT_ACTIVE,
  SLOT_DEAD,
  slotCountersF64,
  slotOffset,
  type Layout,
} from '../core/layout.js';
import { Reclaimer } from './reclaim.js';

/** What the manager's receive path writes: these buffers are packets now, not free buffers. */
function received(i32: Int32Array, layout: Layout, descs: Int32Array): void {
  for (const d of descs) i32[(bufferOffset(layout, d) >> 2) + M_ACTION] = ACTION_NEXT;
}

test('reclaim: every buffer a dead NF held — in its ring, in its hands, in its pool cache — goes back to the pool', () => {
  const r = testRegion({ bufCount: 1024, maxSlots: 8 });
  const { i32, f64, layout } = r;
  const size = 1024;
  const mgrPool = new Pool(i32, layout, 0, 64);
  const dead = 3;
  Atomics.store(i32, (slotOffset(layout, dead) >> 2) + S_STATE, SLOT_ACTIVE);
  // The manager allocates 200 buffers and enqueues them to the NF's ring (capacity 256).
  const d = new Int32Array(200);
  assert.equal(mgrPool.alloc(d, 0, 200), 200);
  received(i32, layout, d);
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
  const rec = new Reclaimer(i32, f64, layout, mgrPool);
  assert.equal(rec.repair(dead, (s) => s !== dead).done, true);
  const res = rec.reclaim(dead);
  assert.equal(res.drained, 100, 'the 100 still queued in its ring');
  assert.equal(res.inFlight, 188, '100 it dequeued (60 in hand, 40 freed to its cache) + 88 its cache refilled from the pool');
  assert.equal(res.packets, 160, 'lost with it: the 100 queued and the 60 in its hands; the free buffers are not packets');
  i32[(slotOffset(layout, dead) >> 2) + S_CACHE] = 0; // the manager clears the slot after reclaiming
  mgrPool.flush();
  assert.equal(ringOccupancy(i32, layout, POOL_RING), size, `pool whole (in flight reclaimed: ${res.inFlight})`);
  assert.equal(ringOccupancy(i32, layout, nfRingId(dead)), 0);
});

test('reclaim: buffers of a live NF and buffers queued in other rings are left alone', () => {
  const r = testRegion({ bufCount: 1024, maxSlots: 8 });
  const { i32, f64, layout } = r;
  const mgrPool = new Pool(i32, layout, 0, 64);
  const d = new Int32Array(64);
  mgrPool.alloc(d, 0, 64);
  const live = new Ring(i32, layout, nfRingId(2), 0);
  live.enqueue(d, 0, 32); // queued for live slot 2
  const liveRx = new Ring(i32, layout, nfRingId(2), 2);
  const h = new Int32Array(8);
  liveRx.dequeue(h, 0, 8, 2); // 8 in live slot 2's hands
  const rec = new Reclaimer(i32, f64, layout, mgrPool);
  const res = rec.reclaim(5);
  assert.deepEqual({ drained: res.drained, inFlight: res.inFlight }, { drained: 0, inFlight: 0 });
  assert.equal(live.count(), 24);
});

test('reclaim: each packet of an NF killed mid-drop is counted once — as its drop or as lost with it, never both', () => {
  // The faults chaos test saw the balance go negative by a few packets under kill -9: drops
  // the NF had counted and not yet freed were counted again as lost. Here the NF is "killed"
  // in each state a drop passes through.
  const r = testRegion({ bufCount: 1024, maxSlots: 8 });
  const { i32, f64, layout } = r;
  const mgrPool = new Pool(i32, layout, 0, 64);
  const dead = 3;
  Atomics.store(i32, (slotOffset(layout, dead) >> 2) + S_STATE, SLOT_ACTIVE);
  const d = new Int32Array(100);
  assert.equal(mgrPool.alloc(d, 0, 100), 100);
  received(i32, layout, d);
  assert.equal(new Ring(i32, layout, nfRingId(dead), 0).enqueue(d, 0, 100), 100);
  const held = new Int32Array(100);
  assert.equal(new Ring(i32, layout, nfRingId(dead), dead).dequeue(held, 0, 100, dead), 100);
  const nfPool = new Pool(i32, layout, dead, 64);
  const router = new Router(i32, f64, layout, dead, nfPool, 32);
  const drop = (k: number): void => {
    i32[(bufferOffset(layout, held[k]) >> 2) + M_ACTION] = ACTION_DROP;
    router.route(held[k]);
  };
  // 10 dropped, counted and freed into its cache; S_CACHE as if the kill came before it was
  // published.
  for (let k = 0; k < 10; k++) drop(k);
  router.flush();
  i32[(slotOffset(layout, dead) >> 2) + S_CACHE] = 0;
  // 30 dropped and counted, still waiting in its drop list to be freed.
  for (let k = 10; k < 40; k++) drop(k);
  const counter = slotCountersF64(layout, dead) + C_DROP_ACTION;
  assert.equal(f64[counter], 40);
  // One marked by the drop path and killed before the counter store.
  const m = bufferOffset(layout, held[40]);
  i32[(m >> 2) + M_DEST] = C_DROP_ACTION;
  f64[(m >> 3) + M_STAMP_F64] = f64[counter] + 1;
  i32[(m >> 2) + M_ACTION] = ACTION_COUNTED;
  // 59 in its hands, untouched.
  Atomics.store(i32, (slotOffset(layout, dead) >> 2) + S_STATE, SLOT_DEAD);
  const rec = new Reclaimer(i32, f64, layout, mgrPool);
  const res = rec.reclaim(dead);
  assert.equal(res.inFlight, 100);
  assert.equal(res.packets, 60, 'lost: the 59 in its hands and the one whose drop was not counted');
  assert.equal(f64[counter] + res.packets, 100, 'received = dropped + lost, nothing twice');
  mgrPool.flush();
  i32[(slotOffset(layout, dead) >> 2) + S_CACHE] = 0;
  assert.equal(ringOccupancy(i32, layout, POOL_RING), 1024, 'pool whole');
});

test('reclaim: packets a dead NF had taken off its ring but not yet stamped are counted as lost; free buffers it was taking from the pool are not', () => {
  const r = testRegion({ bufCount: 1024, maxSlots: 8 });
  const { i32, f64, layout } = r;
  const mgrPool = new Pool(i32, layout, 0, 64);
  const dead = 3;
  const d = new Int32Array(8);
  assert.equal(mgrPool.alloc(d, 0, 8), 8);
  received(i32, layout, d);
  const id = nfRingId(dead);
  assert.equal(new Ring(i32, layout, id, 0).enqueue(d, 0, 8), 8);
  /** The dead NF reserved [start, start+n) as a consumer (its record and the head) and died. */
  const reserve = (ring: number, start: number, n: number): void => {
    const rec = (slotOffset(layout, dead) >> 2) + S_RESV_RING;
    i32[rec + 1] = start;
    i32[rec + 2] = start + n;
    i32[rec + 3] = 1;
    i32[rec] = ring + 1;
    i32[(layout.ringOffsets[ring] >> 2) + R_CONS_HEAD] = start + n;
  };
  const rec = new Reclaimer(i32, f64, layout, mgrPool);
  reserve(id, 0, 8);
  assert.deepEqual(
    rec.repair(dead, (s) => s !== dead),
    { done: true, repaired: 8, packets: 8 },
  );
  mgrPool.flush();
  assert.equal(ringOccupancy(i32, layout, POOL_RING), 1024, 'pool whole');
  // The same on the pool ring (refilling its cache): free buffers, no packet lost.
  const head = i32[(layout.ringOffsets[POOL_RING] >> 2) + R_CONS_HEAD];
  reserve(POOL_RING, head, 16);
  assert.deepEqual(
    rec.repair(dead, (s) => s !== dead),
    { done: true, repaired: 16, packets: 0 },
  );
  mgrPool.flush();
  assert.equal(ringOccupancy(i32, layout, POOL_RING), 1024, 'pool whole');
});

test('reclaim: packets a killed NF created count once — created and lost — and one it had not counted as created is no packet', () => {
  const r = testRegion({ bufCount: 1024, maxSlots: 8 });
  const { u8, i32, f64, layout } = r;
  const mgrPool = new Pool(i32, layout, 0, 64);
  const dead = 3;
  Atomics.store(i32, (slotOffset(layout, dead) >> 2) + S_STATE, SLOT_ACTIVE);
  const nfPool = new Pool(i32, layout, dead, 64);
  const names = { services: new Map<string, number>(), ports: new Map<string, number>() };
  const src = new PacketSource(u8, i32, f64, layout, dead, nfPool, names, () => assert.fail('nothing is emitted'));
  assert.ok(src.alloc() !== null && src.alloc() !== null);
  const created = slotCountersF64(layout, dead) + C_CREATED;
  assert.equal(f64[created], 2, 'alloc counts a created packet');
  // A third alloc killed after marking the buffer and before counting it.
  const x = new Int32Array(1);
  assert.equal(nfPool.alloc(x, 0, 1), 1);
  const b = bufferOffset(layout, x[0]);
  i32[(b >> 2) + M_DEST] = C_CREATED;
  f64[(b >> 3) + M_STAMP_F64] = f64[created] + 1;
  i32[(b >> 2) + M_ACTION] = ACTION_CREATING;
  Atomics.store(i32, (slotOffset(layout, dead) >> 2) + S_STATE, SLOT_DEAD);
  const res = new Reclaimer(i32, f64, layout, mgrPool).reclaim(dead);
  assert.equal(res.packets, 2, 'the two it created are lost with it; the third never was a packet');
  assert.equal(f64[created] - res.packets, 0, 'created = lost: balanced');
  mgrPool.flush();
  i32[(slotOffset(layout, dead) >> 2) + S_CACHE] = 0;
  assert.equal(ringOccupancy(i32, layout, POOL_RING), 1024, 'pool whole');
});
