// The untrusted-NF proxy in one process: a test region, the proxy acting in slot 1, and the
// "NF" played by this test through a second mapping of the exchange file — writing whatever
// it likes there, as a hostile NF could.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { testRegion } from '../core/test-region.js';
import { Pool } from '../core/pool.js';
import { Ring, ringOccupancy } from '../core/ring.js';
import {
  ACTION_DROP,
  ACTION_TO_PORT,
  ACTION_TO_SERVICE,
  bufferOffset,
  chainStepI32,
  C_ACT_NEXT,
  C_DROP_INVALID,
  C_RX,
  C_TX,
  H_EPOCH,
  M_ACTION,
  M_CHAIN,
  M_DATA_OFF,
  M_DEST,
  M_HASH,
  M_INPORT,
  M_LEN,
  M_STEP,
  M_USER,
  nfRingId,
  POOL_RING,
  portRingId,
  R_WAITER,
  S_CACHE,
  S_KEY,
  S_SLEEP,
  S_STATE,
  serviceOffset,
  SLOT_ACTIVE,
  slotCountersF64,
  slotOffset,
  STEP_PORT,
  STEP_SERVICE,
  SV_COUNT,
  SV_SLOTS,
} from '../core/layout.js';
import { attachExchange, ExchangeRing, type Exchange } from '../core/exchange.js';
import { UntrustedProxy, type UntrustedOptions } from './untrusted.js';

const HEADROOM = 128;
let seq = 0;

function setup(opts: UntrustedOptions = { timeoutMs: 50, exchangeSlots: 64 }) {
  const r = testRegion({ maxSlots: 8, maxPorts: 4 });
  const { i32, u8, f64, layout } = r;
  // Chain 0: service 0 (slot 1, the untrusted NF) -> port 1. Port 0 is input only.
  i32[chainStepI32(layout, 0, 0)] = (STEP_SERVICE << 24) | 0;
  i32[chainStepI32(layout, 0, 1)] = (STEP_PORT << 24) | 1;
  const sv = serviceOffset(layout, 0) >> 2;
  i32[sv + SV_SLOTS] = 1;
  i32[sv + SV_COUNT] = 1;
  i32[(slotOffset(layout, 1) >> 2) + S_KEY] = 77;
  i32[(slotOffset(layout, 1) >> 2) + S_STATE] = SLOT_ACTIVE;
  Atomics.add(i32, H_EPOCH, 1);
  const mgrPool = new Pool(i32, layout, 0);
  const logs: string[] = [];
  const proxy = new UntrustedProxy(
    {
      region: r,
      name: `test-untrusted-${process.pid}-${++seq}`,
      batch: 32,
      isService: (id) => id === 0,
      isOutputPort: (id) => id === 1,
      onStuck: () => {},
      log: (_l, _f, msg) => logs.push(msg),
    },
    1,
    opts,
  );
  const x: Exchange = attachExchange(proxy.file);
  const nfIn = new ExchangeRing(x, x.layout.toNf);
  const nfOut = new ExchangeRing(x, x.layout.fromNf);
  const toSlot = new Ring(i32, layout, nfRingId(1), 0);
  const portOut = new Ring(i32, layout, portRingId(layout.params, 1), 0);
  const size = layout.params.bufCount;

  /** The manager's side: packets of these lengths into slot 1's ring (bytes: a pattern, then 0xEE). */
  const feed = (lens: number[]): number[] => {
    const d = new Int32Array(lens.length);
    assert.equal(mgrPool.alloc(d, 0, lens.length), lens.length);
    lens.forEach((len, k) => {
      const b = bufferOffset(layout, d[k]);
      const m = b >> 2;
      i32[m + M_LEN] = len;
      i32[m + M_CHAIN] = 0;
      i32[m + M_STEP] = 0;
      i32[m + M_ACTION] = 0;
      i32[m + M_DATA_OFF] = HEADROOM;
      i32[m + M_HASH] = 1000 + k;
      i32[m + M_INPORT] = 0;
      i32[m + M_USER] = 5;
      i32[m + M_USER + 1] = 6;
      for (let j = 0; j < len; j++) u8[b + HEADROOM + j] = (k * 7 + j) & 0xff;
      for (let j = len; j < len + 8; j++) u8[b + HEADROOM + j] = 0xee;
    });
    assert.equal(toSlot.enqueue(d, 0, d.length), d.length);
    return [...d];
  };
  /** The NF's side: what it has been given (slot indices). */
  const take = (): number[] => {
    const d = new Int32Array(1024);
    const n = nfIn.dequeue(d, 0, d.length);
    return [...d.subarray(0, n)];
  };
  const give = (idx: number[]): void => assert.equal(nfOut.enqueue(Int32Array.from(idx), 0, idx.length), idx.length);
  const slotMeta = (idx: number): number => (x.layout.arena + idx * x.layout.slotSize) >> 2;
  const slotData = (idx: number): number => x.layout.arena + idx * x.layout.slotSize + HEADROOM;
  const sent = (): number[] => {
    const d = new Int32Array(1024);
    const n = portOut.dequeue(d, 0, d.length, 0);
    const out = [...d.subarray(0, n)];
    mgrPool.free(d, 0, n);
    return out;
  };
  const poolFree = (): number => {
    let free = ringOccupancy(i32, layout, POOL_RING);
    for (let s = 0; s < layout.params.maxSlots; s++) free += i32[(slotOffset(layout, s) >> 2) + S_CACHE];
    return free;
  };
  const counter = (c: number): number => f64[slotCountersF64(layout, 1) + c];
  const cleanup = (): void => {
    proxy.close();
    fs.rmSync(proxy.file, { force: true });
  };
  return { r, proxy, x, feed, take, give, slotMeta, slotData, sent, poolFree, size, counter, cleanup, logs, mgrPool };
}

test('untrusted proxy: packets are copied out and back; what the NF changed reaches the port; the NF sees slot indices only', () => {
  const t = setup();
  try {
    const { r, x } = t;
    const lens = [60, 61, 62, 63, 64, 200, 1514, 99];
    const descs = t.feed(lens);
    assert.equal(t.proxy.poll(0), lens.length);
    const got = t.take();
    assert.equal(got.length, lens.length);
    for (const idx of got) assert.ok(idx >= 0 && idx < 64, `a slot index, not a region descriptor: ${idx}`);
    got.forEach((idx, k) => {
      const m = t.slotMeta(idx);
      assert.equal(x.i32[m + M_LEN], lens[k]);
      assert.equal(x.i32[m + M_HASH], 1000 + k);
      assert.deepEqual([x.i32[m + M_USER], x.i32[m + M_USER + 1]], [5, 6]);
      const o = t.slotData(idx);
      for (let j = 0; j < lens[k]; j++) assert.equal(x.u8[o + j], (k * 7 + j) & 0xff);
      // Not one byte past the packet's length crosses over (the region has 0xEE there).
      for (let j = lens[k]; j < lens[k] + 8; j++) assert.notEqual(x.u8[o + j], 0xee, `byte ${j} of a ${lens[k]}-byte packet leaked`);
      // The NF rewrites its packet: first byte, a shorter length, a user word.
      x.u8[o] ^= 0xff;
      x.i32[m + M_LEN] = lens[k] - 1;
      x.i32[m + M_USER] = 42 + k;
      // A forged data offset is ignored: the manager copies from where it put the data.
      x.i32[m + M_DATA_OFF] = 0;
    });
    t.give(got);
    t.proxy.poll(1);
    const out = t.sent();
    assert.deepEqual(out, descs, 'the same buffers, in order, out of port 1');
    out.forEach((d, k) => {
      const b = bufferOffset(r.layout, d);
      assert.equal(r.i32[(b >> 2) + M_LEN], lens[k] - 1);
      assert.equal(r.i32[(b >> 2) + M_USER], 42 + k);
      assert.equal(r.u8[b + HEADROOM], (k * 7) ^ 0xff);
      for (let j = 1; j < lens[k] - 1; j++) assert.equal(r.u8[b + HEADROOM + j], (k * 7 + j) & 0xff);
    });
    const s = t.proxy.stats();
    assert.equal(s.given, lens.length);
    assert.equal(s.returned, lens.length);
    assert.equal(t.counter(C_RX), lens.length);
    assert.equal(t.counter(C_TX), lens.length);
    assert.equal(t.counter(C_ACT_NEXT), lens.length);
  } finally {
    t.cleanup();
  }
  assert.equal(t.poolFree(), t.size, 'every buffer back in the pool');
});

test('untrusted proxy: forged slot indices, lengths, actions and destinations are rejected and counted; no buffer is lost', () => {
  const t = setup();
  try {
    const { x } = t;
    t.feed(Array.from({ length: 12 }, () => 100));
    t.proxy.poll(0);
    const s = t.take();
    assert.equal(s.length, 12);
    const meta = (k: number, len: number, action: number, dest: number): void => {
      const m = t.slotMeta(s[k]);
      x.i32[m + M_LEN] = len;
      x.i32[m + M_ACTION] = action;
      x.i32[m + M_DEST] = dest;
    };
    meta(1, 100_000, 0, 0); // longer than the slot and the buffer
    meta(2, 3, 0, 0); // shorter than an Ethernet header
    meta(3, 100, 9, 0); // no such action
    meta(4, 100, -1, 0);
    meta(5, 100, ACTION_TO_SERVICE, 40); // no service 40
    meta(6, 100, ACTION_TO_PORT, 0); // port 0 is an input, not an output
    meta(7, 100, ACTION_TO_PORT, 77); // no port 77
    meta(8, 100, ACTION_DROP, 0); // a valid drop
    const neverGiven = 63;
    t.give([100_000, -5, neverGiven, s[0], s[0], ...s.slice(1)]);
    t.proxy.poll(1);
    const st = t.proxy.stats();
    assert.equal(st.rejectedSlot, 4, 'out of range (2), never given, given back twice');
    assert.equal(st.rejectedLength, 2);
    assert.equal(st.rejectedAction, 2);
    assert.equal(st.rejectedDest, 3);
    assert.equal(st.returned, 5, 's0 and s8..s11');
    assert.equal(st.outstanding, 0);
    assert.equal(t.counter(C_DROP_INVALID), 7);
    assert.equal(t.sent().length, 4, 's0, s9, s10, s11 go out; s8 was dropped by its action');
    // Slots given back stay free: giving one back again is rejected too.
    t.give([s[0]]);
    t.proxy.poll(2);
    assert.equal(t.proxy.stats().rejectedSlot, 5);
  } finally {
    t.cleanup();
  }
  assert.equal(t.poolFree(), t.size);
});

test('untrusted proxy: packets kept past the timeout are dropped and freed; a stalled NF cannot hold up its ring; late returns free the slots', () => {
  const t = setup({ timeoutMs: 50, exchangeSlots: 64 });
  try {
    const { r } = t;
    t.feed(Array.from({ length: 64 }, () => 80));
    t.proxy.poll(0);
    t.proxy.poll(0); // a batch (32) per round
    const held = t.take();
    assert.equal(held.length, 64);
    // Every slot is with the NF, none overdue: new packets wait in its ring (backpressure).
    t.feed(Array.from({ length: 10 }, () => 80));
    t.proxy.poll(10);
    assert.equal(ringOccupancy(r.i32, r.layout, nfRingId(1)), 10);
    assert.equal(t.proxy.stats().droppedStalled, 0);
    assert.equal(t.proxy.busy(), true);
    // Past the deadline: the 64 are dropped and their buffers freed.
    const freeBefore = t.poolFree();
    t.proxy.poll(60);
    let st = t.proxy.stats();
    assert.equal(st.timedOut, 64);
    assert.equal(st.quarantined, 64);
    assert.equal(st.outstanding, 0);
    assert.equal(t.poolFree(), freeBefore + 64);
    // Stalled (all slots overdue): arrivals are dropped and counted, the ring drains.
    t.proxy.poll(61);
    assert.equal(ringOccupancy(r.i32, r.layout, nfRingId(1)), 0);
    assert.equal(t.proxy.stats().droppedStalled, 10);
    // The NF wakes up and gives 5 back: late, ignored, but their slots are usable again.
    t.give(held.slice(0, 5));
    t.feed([70, 70, 70]);
    t.proxy.poll(62);
    st = t.proxy.stats();
    assert.equal(st.lateReturns, 5);
    assert.equal(st.quarantined, 59);
    assert.equal(st.given, 67);
    const again = t.take();
    assert.equal(again.length, 3);
    t.give(again);
    t.proxy.poll(63);
    assert.equal(t.sent().length, 3, 'the new packets, not the late ones, go out');
    assert.equal(t.proxy.stats().returned, 3);
    assert.equal(t.counter(C_RX), 64 + 10 + 3);
  } finally {
    t.cleanup();
  }
  assert.equal(t.poolFree(), t.size);
});

test('untrusted proxy: a forged ring index is counted; the NF going away frees what it held and restores its slot', () => {
  const t = setup({ timeoutMs: 50, exchangeSlots: 64 });
  const { r, x } = t;
  const waiterWord = (r.layout.ringOffsets[nfRingId(1)] >> 2) + R_WAITER;
  assert.equal(r.i32[waiterWord], (slotOffset(r.layout, 0) >> 2) + S_SLEEP, 'producers wake the manager, which consumes for the NF');
  t.feed([60, 60, 60, 60, 60]);
  t.proxy.poll(0);
  assert.equal(t.take().length, 5);
  x.i32[x.layout.fromNf >> 2] = 123_456; // the results ring's producer index
  t.proxy.poll(1);
  assert.ok(t.proxy.stats().badRingIndex >= 1);
  assert.equal(t.proxy.stats().outstanding, 5);
  t.proxy.close();
  const st = t.proxy.stats();
  assert.equal(st.droppedNfGone, 5);
  assert.equal(st.outstanding, 0);
  assert.equal(t.poolFree(), t.size, 'every buffer back, the proxy pool cache flushed');
  assert.equal(r.i32[waiterWord], (slotOffset(r.layout, 1) >> 2) + S_SLEEP, 'the ring wakes its slot again');
  assert.equal(fs.existsSync(t.proxy.file), false, 'exchange file removed');
  assert.equal(t.proxy.poll(2), 0, 'a closed proxy does nothing');
});
