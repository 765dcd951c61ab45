// Lock-free descriptor rings over the shared region. This is the only file that uses
// `Atomics` on ring indices (and on the sleep words consumers wait on).
//
// The design is DPDK's rte_ring (lib/ring): producers reserve slots by moving the producer
// head with compare-and-swap, write their descriptors, wait until the producer tail reaches
// their reservation, and publish by storing the tail; so reservations are published in
// order. This ring has a single consumer for NF and port rings (head and tail move
// together) and multiple consumers for the pool ring (CAS on the consumer head). Indices are
// free-running 32-bit counters; `(a - b) | 0` is the distance even across wrap-around.
//
// Robustness beyond rte_ring: a process may die (kill -9) between reserving and publishing.
// Before its CAS it writes a reservation record (ring, start, end, side) into its process
// slot; `repairAbandoned` uses the record of a dead process to fill its slots with NULL_DESC
// and move the tail past them, so the ring never stays blocked. Consumers skip NULL_DESC.
//
// Every dequeue stamps the taker's slot id into each buffer's M_OWNER *before* publishing the
// consumer tail, so that when a process dies the manager can find the buffers it held: owned
// by the dead slot and not in any ring (see manager/reclaim.ts).
import type { Layout } from './layout.js';
import {
  ACTION_FREE,
  DESC_INDEX_MASK,
  DESC_SEGMENT_SHIFT,
  M_ACTION,
  M_OWNER,
  NULL_DESC,
  RING_HEADER_BYTES,
  R_CAPACITY,
  R_CONS_HEAD,
  R_CONS_TAIL,
  R_ID,
  R_MASK,
  R_PROD_HEAD,
  R_PROD_TAIL,
  R_WAITER,
  S_RESV_RING,
  S_SLEEP,
  slotOffset,
} from './layout.js';
import { native } from '../../native/loader.js';

const SIDE_PROD = 0;
const SIDE_CONS = 1;
/** Spins waiting for an earlier producer/consumer before yielding the core to it: on an
 *  oversubscribed machine it was most likely preempted mid-publish. */
const YIELD_SPINS = 256;
/** Yields before asking `onStuck` for help (the other process may be dead). */
const STUCK_YIELDS = 2000;

/** Initializes a ring header in a fresh region. */
export function initRing(i32: Int32Array, byteOffset: number, id: number, capacity: number, waiterI32: number): void {
  const b = byteOffset >> 2;
  i32[b + R_PROD_HEAD] = 0;
  i32[b + R_PROD_TAIL] = 0;
  i32[b + R_CONS_HEAD] = 0;
  i32[b + R_CONS_TAIL] = 0;
  i32[b + R_CAPACITY] = capacity;
  i32[b + R_MASK] = capacity - 1;
  i32[b + R_WAITER] = waiterI32;
  i32[b + R_ID] = id;
  i32.fill(NULL_DESC, b + RING_HEADER_BYTES / 4, b + RING_HEADER_BYTES / 4 + capacity);
}

export class Ring {
  readonly id: number;
  readonly capacity: number;
  private readonly mask: number;
  private readonly base: number;
  private readonly slots: number;
  private readonly i32: Int32Array;
  private readonly sab: SharedArrayBuffer;
  /** i32 index of this process's reservation record (S_RESV_RING). */
  private readonly resv: number;
  private readonly segBase: Int32Array;
  private readonly bufShift: number;
  /** Wakes a sleeping consumer counted here (per ring handle, read by stats). */
  wakeups = 0;
  /** Called after long spinning behind another process's reservation (it may be dead). */
  onStuck: ((ring: Ring) => void) | null = null;

  constructor(i32: Int32Array, layout: Layout, ringId: number, mySlot: number) {
    this.i32 = i32;
    this.sab = i32.buffer as SharedArrayBuffer;
    this.id = ringId;
    this.base = layout.ringOffsets[ringId] >> 2;
    this.slots = this.base + RING_HEADER_BYTES / 4;
    this.capacity = i32[this.base + R_CAPACITY];
    this.mask = i32[this.base + R_MASK];
    this.resv = (slotOffset(layout, mySlot) >> 2) + S_RESV_RING;
    this.segBase = Int32Array.from(layout.segmentOffsets);
    this.bufShift = layout.bufShift;
  }

  /** Descriptors published and not yet consumed. */
  count(): number {
    return (Atomics.load(this.i32, this.base + R_PROD_TAIL) - Atomics.load(this.i32, this.base + R_CONS_TAIL)) | 0;
  }

  /**
   * Multi-producer burst enqueue of src[off..off+n): as many as fit, in order. Returns how
   * many were enqueued; the caller counts and frees the rest. Wakes a sleeping consumer.
   */
  enqueue(src: Int32Array, off: number, n: number): number {
    const i32 = this.i32;
    const b = this.base;
    const r = this.resv;
    let head: number;
    let take: number;
    for (;;) {
      head = Atomics.load(i32, b + R_PROD_HEAD);
      const free = this.capacity - ((head - Atomics.load(i32, b + R_CONS_TAIL)) | 0);
      take = n < free ? n : free;
      if (take <= 0) return 0;
      // Reservation record first: if we die after the CAS, the manager can repair the ring.
      i32[r + 1] = head;
      i32[r + 2] = (head + take) | 0;
      i32[r + 3] = SIDE_PROD;
      Atomics.store(i32, r, this.id + 1);
      if (Atomics.compareExchange(i32, b + R_PROD_HEAD, head, (head + take) | 0) === head) break;
    }
    const s = this.slots;
    const m = this.mask;
    for (let k = 0; k < take; k++) i32[s + ((head + k) & m)] = src[off + k];
    // Publish in order: wait for earlier reservations (other producers) to publish theirs.
    let spins = 0;
    while (Atomics.load(i32, b + R_PROD_TAIL) !== head) {
      if (++spins >= YIELD_SPINS) this.yieldBehind(spins);
    }
    Atomics.store(i32, b + R_PROD_TAIL, (head + take) | 0);
    Atomics.store(i32, r, 0);
    const w = i32[b + R_WAITER];
    if (w >= 0 && Atomics.load(i32, w) !== 0 && Atomics.compareExchange(i32, w, 1, 0) === 1) {
      native.futexWake(this.sab, w << 2, 1);
      this.wakeups++;
    }
    return take;
  }

  /**
   * Single-consumer burst dequeue into dst[off..): returns how many descriptors were taken.
   * Stamps `owner` into each buffer's metadata before releasing the slots.
   */
  dequeue(dst: Int32Array, off: number, n: number, owner: number): number {
    const i32 = this.i32;
    const b = this.base;
    const head = i32[b + R_CONS_HEAD];
    const avail = (Atomics.load(i32, b + R_PROD_TAIL) - head) | 0;
    const take = n < avail ? n : avail;
    if (take <= 0) return 0;
    const got = this.copyOut(dst, off, head, take, owner);
    i32[b + R_CONS_HEAD] = (head + take) | 0;
    Atomics.store(i32, b + R_CONS_TAIL, (head + take) | 0);
    return got;
  }

  /**
   * Multi-consumer burst dequeue (the pool ring): CAS on the consumer head, release in order.
   * `markFree`: also mark each buffer ACTION_FREE, before stamping its owner (see pool.ts).
   */
  dequeueMC(dst: Int32Array, off: number, n: number, owner: number, markFree = false): number {
    const i32 = this.i32;
    const b = this.base;
    const r = this.resv;
    let head: number;
    let take: number;
    for (;;) {
      head = Atomics.load(i32, b + R_CONS_HEAD);
      const avail = (Atomics.load(i32, b + R_PROD_TAIL) - head) | 0;
      take = n < avail ? n : avail;
      if (take <= 0) return 0;
      i32[r + 1] = head;
      i32[r + 2] = (head + take) | 0;
      i32[r + 3] = SIDE_CONS;
      Atomics.store(i32, r, this.id + 1);
      if (Atomics.compareExchange(i32, b + R_CONS_HEAD, head, (head + take) | 0) === head) break;
    }
    const got = this.copyOut(dst, off, head, take, owner, markFree);
    let spins = 0;
    while (Atomics.load(i32, b + R_CONS_TAIL) !== head) {
      if (++spins >= YIELD_SPINS) this.yieldBehind(spins);
    }
    Atomics.store(i32, b + R_CONS_TAIL, (head + take) | 0);
    Atomics.store(i32, r, 0);
    return got;
  }

  private yieldBehind(spins: number): void {
    native.schedYield();
    if ((spins - YIELD_SPINS) % STUCK_YIELDS === STUCK_YIELDS - 1 && this.onStuck !== null) this.onStuck(this);
  }

  private copyOut(dst: Int32Array, off: number, head: number, take: number, owner: number, markFree = false): number {
    const i32 = this.i32;
    const s = this.slots;
    const m = this.mask;
    const seg = this.segBase;
    const shift = this.bufShift;
    let got = 0;
    for (let k = 0; k < take; k++) {
      const d = i32[s + ((head + k) & m)];
      if (d === NULL_DESC) continue; // abandoned by a dead producer
      const meta = (seg[d >>> DESC_SEGMENT_SHIFT] + ((d & DESC_INDEX_MASK) << shift)) >> 2;
      // Free first, owner second: a buffer the owner scan finds is then always marked.
      if (markFree) i32[meta + M_ACTION] = ACTION_FREE;
      i32[meta + M_OWNER] = owner;
      dst[off + got++] = d;
    }
    return got;
  }

  /** Calls fn for every descriptor published and not yet released (for leak scans). */
  forEachQueued(fn: (desc: number) => void): void {
    const i32 = this.i32;
    const b = this.base;
    const tail = Atomics.load(i32, b + R_CONS_TAIL);
    const n = (Atomics.load(i32, b + R_PROD_TAIL) - tail) | 0;
    for (let k = 0; k < n; k++) {
      const d = i32[this.slots + ((tail + k) & this.mask)];
      if (d !== NULL_DESC) fn(d);
    }
  }
}

/**
 * Repairs rings left mid-operation by a dead process, from the reservation record in its
 * slot. `isAlive(slot)` tells whether a slot's process still runs: a live process whose
 * record names the same ring and start owns the reservation (the dead one's CAS failed).
 * Returns `pending` when earlier reservations of other processes are still unpublished (call
 * again later), else the descriptors of a consumer-side repair that the dead process never
 * stamped (they must go back to the pool), and `ring`, the id of the ring repaired (-1: none).
 */
export function repairAbandoned(
  i32: Int32Array,
  layout: Layout,
  deadSlot: number,
  isAlive: (slot: number) => boolean,
): { pending: boolean; giveBack: number[]; ring: number } {
  const done = { pending: false, giveBack: [] as number[], ring: -1 };
  const rec = (slotOffset(layout, deadSlot) >> 2) + S_RESV_RING;
  const ringPlus1 = Atomics.load(i32, rec);
  if (ringPlus1 === 0) return done;
  const ringId = ringPlus1 - 1;
  done.ring = ringId;
  const start = i32[rec + 1];
  const end = i32[rec + 2];
  const side = i32[rec + 3];
  for (let s = 0; s < layout.params.maxSlots; s++) {
    if (s === deadSlot || !isAlive(s)) continue;
    const o = (slotOffset(layout, s) >> 2) + S_RESV_RING;
    if (Atomics.load(i32, o) === ringPlus1 && i32[o + 1] === start && i32[o + 3] === side) {
      Atomics.store(i32, rec, 0);
      return done;
    }
  }
  const b = layout.ringOffsets[ringId] >> 2;
  const slots = b + RING_HEADER_BYTES / 4;
  const mask = i32[b + R_MASK];
  const n = (end - start) | 0;
  const giveBack = done.giveBack;
  // The reservation is live only if the head moved past it and the tail has not: if the tail
  // is still before it, earlier reservations must publish first (retry later); if it is past
  // it, the dead process published before it died.
  const tailIdx = b + (side === SIDE_PROD ? R_PROD_TAIL : R_CONS_TAIL);
  const headIdx = b + (side === SIDE_PROD ? R_PROD_HEAD : R_CONS_HEAD);
  const tail = Atomics.load(i32, tailIdx);
  if (((Atomics.load(i32, headIdx) - end) | 0) < 0 || ((tail - start) | 0) > 0) {
    Atomics.store(i32, rec, 0);
    return done;
  }
  if (tail !== start) return { pending: true, giveBack, ring: ringId };
  if (side === SIDE_PROD) {
    // Whatever the dead producer wrote there is still owned by it and will be reclaimed by
    // the owner scan; the slots become holes the consumer skips.
    for (let k = 0; k < n; k++) i32[slots + ((start + k) & mask)] = NULL_DESC;
    Atomics.store(i32, b + R_PROD_TAIL, end);
  } else {
    const seg = layout.segmentOffsets;
    for (let k = 0; k < n; k++) {
      const d = i32[slots + ((start + k) & mask)];
      if (d === NULL_DESC) continue;
      const meta = (seg[d >>> DESC_SEGMENT_SHIFT] + ((d & DESC_INDEX_MASK) << layout.bufShift)) >> 2;
      // Stamped by the dead consumer: the owner scan reclaims it. Not stamped: give it back.
      if (i32[meta + M_OWNER] !== deadSlot) giveBack.push(d);
    }
    Atomics.store(i32, b + R_CONS_TAIL, end);
  }
  Atomics.store(i32, rec, 0);
  return done;
}

/**
 * Sleeping on a slot's futex word, the consumer side of the shared (sleep/wake) mode:
 * announce sleep, re-check for work (a producer that published before seeing the flag is
 * caught here), then futex-wait. Producers clear the flag and wake (Ring.enqueue).
 */
export class Sleeper {
  private readonly i32: Int32Array;
  private readonly sab: SharedArrayBuffer;
  readonly word: number;
  constructor(i32: Int32Array, layout: Layout, slot: number) {
    this.i32 = i32;
    this.sab = i32.buffer as SharedArrayBuffer;
    this.word = (slotOffset(layout, slot) >> 2) + S_SLEEP;
  }
  /** Returns true if it slept (and was woken or timed out), false if work appeared first. */
  sleep(hasWork: () => boolean, timeoutMs: number): boolean {
    Atomics.store(this.i32, this.word, 1);
    if (hasWork()) {
      Atomics.store(this.i32, this.word, 0);
      return false;
    }
    native.futexWait(this.sab, this.word << 2, 1, timeoutMs);
    Atomics.store(this.i32, this.word, 0);
    return true;
  }
  /** Wakes the sleeper from any process (control path: stop, new config). */
  wake(): void {
    if (Atomics.compareExchange(this.i32, this.word, 1, 0) === 1) native.futexWake(this.sab, this.word << 2, 1);
  }
}

/** Reads a ring's occupancy without a handle (stats). */
export function ringOccupancy(i32: Int32Array, layout: Layout, ringId: number): number {
  const b = layout.ringOffsets[ringId] >> 2;
  return (Atomics.load(i32, b + R_PROD_TAIL) - Atomics.load(i32, b + R_CONS_TAIL)) | 0;
}

/**
 * Points a ring's consumer sleep word somewhere else (i32 index in the region). The manager
 * does this for the ring of an untrusted NF's slot: the manager consumes that ring on the NF's
 * behalf, so producers must wake the manager, not the slot.
 */
export function setRingWaiter(i32: Int32Array, layout: Layout, ringId: number, waiterI32: number): void {
  Atomics.store(i32, (layout.ringOffsets[ringId] >> 2) + R_WAITER, waiterI32);
}
