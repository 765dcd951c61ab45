import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testRegion } from './test-region.js';
import { Pool } from './pool.js';
import { Router } from './router.js';
import { H_EPOCH, serviceOffset, slotOffset, SV_COUNT, SV_SLOTS, S_KEY } from './layout.js';
import {
  bufferOffset,
  chainStepI32,
  C_DROP_RING_FULL,
  M_ACTION,
  M_CHAIN,
  M_HASH,
  M_STEP,
  nfRingId,
  POOL_RING,
  slotCountersF64,
  STEP_SERVICE,
} from './layout.js';
import { Ring, ringOccupancy } from './ring.js';

function setup(slots: number[]): { router: Router; set: (slots: number[]) => void } {
  const r = testRegion({ maxSlots: 8 });
  const { i32, f64, layout } = r;
  for (const s of [1, 2, 3, 4]) i32[(slotOffset(layout, s) >> 2) + S_KEY] = (Math.imul(1, 0x01000193) ^ s) | 0;
  const set = (list: number[]): void => {
    const b = serviceOffset(layout, 0) >> 2;
    list.forEach((s, k) => (i32[b + SV_SLOTS + k] = s));
    i32[b + SV_COUNT] = list.length;
    Atomics.add(i32, H_EPOCH, 1);
  };
  set(slots);
  const router = new Router(i32, f64, layout, 0, new Pool(i32, layout, 0), 32);
  return { router, set };
}

test('router: rendezvous hashing spreads 10,000 flows over 3 instances and removing one moves only its flows', () => {
  const { router, set } = setup([1, 2, 3]);
  const hashes = Array.from({ length: 10_000 }, (_, i) => Math.imul(i + 1, 0x9e3779b1) | 0);
  const before = hashes.map((h) => router.pickInstance(0, h));
  const per = [1, 2, 3].map((s) => before.filter((x) => x === s).length);
  for (const n of per) assert.ok(n > 2800 && n < 3900, `balanced: ${per}`);
  set([1, 3]);
  router.refresh();
  const after = hashes.map((h) => router.pickInstance(0, h));
  let moved = 0;
  for (let i = 0; i < hashes.length; i++) {
    if (before[i] !== after[i]) {
      moved++;
      assert.equal(before[i], 2, 'only flows of the removed instance move');
    }
  }
  assert.equal(moved, per[1], `moved ${moved} = the removed instance's ${per[1]} flows`);
  // It comes back (same key): its flows return, nothing else moves.
  set([1, 3, 2]);
  router.refresh();
  assert.deepEqual(
    hashes.map((h) => router.pickInstance(0, h)),
    before,
  );
  // A fourth instance takes about a quarter, each from whichever instance had it.
  set([1, 2, 3, 4]);
  router.refresh();
  const four = hashes.map((h) => router.pickInstance(0, h));
  const taken = four.filter((x, i) => x !== before[i]);
  assert.ok(
    taken.every((x) => x === 4),
    'flows only move to the new instance',
  );
  assert.ok(taken.length > 2000 && taken.length < 3000, `~1/4 move: ${taken.length}`);
});

test('router: a service without instances gives -1', () => {
  const { router } = setup([]);
  assert.equal(router.pickInstance(0, 1234), -1);
});

/** Metadata of a packet just received: chain 0, before its first step. */
function freshPacket(i32: Int32Array, layout: ReturnType<typeof testRegion>['layout'], desc: number): void {
  const m = bufferOffset(layout, desc) >> 2;
  i32[m + M_CHAIN] = 0;
  i32[m + M_STEP] = -1;
  i32[m + M_ACTION] = 0;
}

// waitMs is short by default to keep tests quick; tests that assert something happens *before*
// waitMs runs out use a longer one, so a stall of the shared CI machine cannot fail them.
function fullRingSetup(onFull: 'wait' | 'hold' | 'drop', waitMs = 5) {
  const r = testRegion({ maxSlots: 8, ringSize: 256, bufCount: 1024 });
  const { i32, f64, layout } = r;
  const b = serviceOffset(layout, 0) >> 2;
  i32[b + SV_SLOTS] = 1;
  i32[b + SV_COUNT] = 1;
  i32[chainStepI32(layout, 0, 0)] = (STEP_SERVICE << 24) | 0;
  Atomics.add(i32, H_EPOCH, 1);
  const pool = new Pool(i32, layout, 0, 64);
  const router = new Router(i32, f64, layout, 0, pool, 256);
  router.onFull = onFull;
  router.waitMs = waitMs;
  const d = new Int32Array(300);
  assert.equal(pool.alloc(d, 0, 300), 300);
  for (const x of d) {
    freshPacket(i32, layout, x);
    i32[(bufferOffset(layout, x) >> 2) + M_HASH] = x;
  }
  const ringFull = (): number => f64[slotCountersF64(layout, 0) + C_DROP_RING_FULL];
  const free = (): number => ringOccupancy(i32, layout, POOL_RING) + pool.cachedCount;
  return { r, router, d, ringFull, free, consumer: new Ring(i32, layout, nfRingId(1), 1) };
}

test('router: a full ring drops and counts with onFull drop', () => {
  const { router, d, ringFull, free } = fullRingSetup('drop');
  for (const x of d) router.route(x);
  router.flush();
  assert.equal(ringFull(), 300 - 256);
  assert.equal(free(), 1024 - 256, 'dropped buffers are back in the pool');
});

test('router: onFull hold keeps what did not fit and delivers it once there is room — nothing lost', () => {
  const { router, d, ringFull, consumer } = fullRingSetup('hold');
  for (const x of d) router.route(x);
  router.flush();
  assert.equal(router.held, 300 - 256);
  assert.equal(ringFull(), 0);
  const out = new Int32Array(300);
  let got = consumer.dequeue(out, 0, 100, 1);
  router.flush();
  assert.equal(router.held, 0);
  got += consumer.dequeue(out, got, 300 - got, 1);
  assert.equal(got, 300);
  assert.deepEqual([...out].sort(), [...d].sort(), 'every descriptor delivered exactly once');
});

test('router: onFull wait gives up after waitMs with no consumer, counting ring-full drops', () => {
  const { router, d, ringFull, free } = fullRingSetup('wait');
  for (const x of d) router.route(x);
  const t0 = performance.now();
  router.flush();
  assert.ok(performance.now() - t0 >= 4, 'it waited');
  assert.equal(ringFull(), 300 - 256);
  assert.equal(free(), 1024 - 256);
});

test('router: held packets whose instance leaves are dropped by refresh() and back in the pool at once (no flush needed)', () => {
  // The manager bumps the epoch (and refreshes) when an NF leaves, also during shutdown when
  // its data loop no longer runs: re-routing must not leave drops waiting for a flush.
  const { r, router, d, free } = fullRingSetup('hold');
  for (const x of d) router.route(x);
  router.flush();
  assert.equal(router.held, 300 - 256);
  const { i32, layout } = r;
  i32[(serviceOffset(layout, 0) >> 2) + SV_COUNT] = 0;
  Atomics.add(i32, H_EPOCH, 1);
  router.refresh();
  assert.equal(router.held, 0);
  assert.equal(free(), 1024 - 256, 'the 44 held buffers are back without a flush');
});

test('router: dropHeld() frees what is held and what is pending', () => {
  const { router, d, free } = fullRingSetup('hold');
  for (const x of d) router.route(x);
  router.flush();
  router.dropHeld();
  assert.equal(router.held, 0);
  assert.equal(free(), 1024 - 256);
});

test('router: a ring that stays full past waitMs is overloaded — later flushes drop at once instead of waiting, until it has room', () => {
  const { r, router, d, ringFull, consumer } = fullRingSetup('wait', 100);
  // A descriptor routed again must start its chain again (route() advances M_STEP).
  const again = (x: number): number => {
    r.i32[(bufferOffset(r.layout, x) >> 2) + M_STEP] = -1;
    return x;
  };
  for (let k = 0; k < 256; k++) router.route(d[k]);
  router.flush(); // fills the ring exactly
  router.route(d[256]);
  let t0 = performance.now();
  router.flush(); // waits waitMs (100 ms), then drops: the ring is now overloaded
  assert.ok(performance.now() - t0 >= 99, 'the first time it waits');
  assert.equal(ringFull(), 1);
  router.route(d[257]);
  t0 = performance.now();
  router.flush();
  const quick = performance.now() - t0;
  assert.equal(ringFull(), 2, 'dropped at once');
  assert.ok(quick < 50, `no second wait (${quick.toFixed(2)} ms)`);
  // The consumer drains: the next flush fits and the ring is no longer overloaded.
  const out = new Int32Array(300);
  assert.equal(consumer.dequeue(out, 0, 300, 1), 256);
  router.route(d[258]);
  router.flush();
  assert.equal(ringFull(), 2);
  for (let k = 0; k < 255; k++) router.route(again(d[k]));
  router.flush(); // fills it again (256), nothing dropped
  assert.equal(ringFull(), 2);
  assert.equal(consumer.count(), 256);
  router.route(d[299]);
  t0 = performance.now();
  router.flush();
  assert.ok(performance.now() - t0 >= 99, 'back to waiting once it had room');
});

test('router: onFull hold stops holding for a ring that makes no progress for waitMs and drops for it instead', async () => {
  const { router, d, ringFull, free } = fullRingSetup('hold', 100);
  for (const x of d) router.route(x);
  router.flush();
  assert.equal(router.held, 300 - 256);
  router.flush();
  assert.equal(router.held, 300 - 256, 'still held within waitMs');
  await new Promise((r) => setTimeout(r, 110)); // > waitMs (100 ms), nobody consumed
  router.flush();
  assert.equal(router.held, 0, 'no longer held');
  assert.equal(ringFull(), 300 - 256, 'dropped and counted');
  assert.equal(free(), 1024 - 256, 'their buffers are back in the pool');
});

test('router: onFull hold — a consumer slower than its load, taking a little now and then, ends in overload within waitMs, not a stall', () => {
  const { r, router, d, ringFull, consumer } = fullRingSetup('hold');
  const { i32, layout } = r;
  for (const x of d) router.route(x); // the ring full, 44 held
  const pool = new Pool(i32, layout, 0, 64);
  const batch = new Int32Array(64);
  const out = new Int32Array(64);
  const offer = (): void => {
    const n = pool.alloc(batch, 0, 64);
    for (let i = 0; i < n; i++) {
      freshPacket(i32, layout, batch[i]);
      router.route(batch[i]);
    }
  };
  // The manager's loop: read inputs only while nothing is held; the consumer takes 32 every
  // millisecond, so each held batch fits at last and the next one is held again. (Before the
  // fix, every held batch that fitted restarted the clock: held for ever, never a drop.)
  // Time passes by spinning, not timers, so the rounds are 1 ms apart whatever the machine.
  let heldRounds = 0;
  let rounds = 0;
  for (; rounds < 200 && ringFull() === 0; rounds++) {
    if (router.held === 0) offer();
    router.flush();
    if (router.held > 0) heldRounds++;
    const until = performance.now() + 1;
    while (performance.now() < until) {
      /* 1 ms */
    }
    pool.free(out, 0, consumer.dequeue(out, 0, 32, 1));
  }
  assert.ok(heldRounds > 0, 'the producer was held');
  assert.ok(
    ringFull() > 0,
    `overloaded (waitMs 5 ms) within ${rounds} rounds of 1 ms: drops counted, so the producer is no longer held back`,
  );
  offer();
  router.flush();
  assert.equal(router.held, 0, 'while overloaded, nothing is held: the excess is dropped at once');
});
