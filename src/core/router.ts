// Routes descriptors to their next hop by the action each packet's NF (or the manager's
// classifier) wrote into its metadata: the next chain step, a service, a port, or the pool.
// Used by the manager's RX loop and by every NF process, so an NF hands packets straight
// to the next NF's ring (as OpenNetVM does since v17.11), and the manager only moves port
// traffic.
//
// Hot path: no allocation; descriptors are staged per destination ring and each ring gets
// one batched enqueue per flush. A packet that cannot be delivered (no instance, bad step)
// is counted by cause and its buffer freed.
//
// A full ring is backpressure, not loss, by default: an NF waits (bounded) for its
// downstream ring to make room, so a slow NF slows its upstream down to the manager; the
// manager never waits (it must keep draining port tx rings, or the chain could deadlock
// through it) but *holds* what did not fit and stops pulling from its inputs until the
// backlog is gone — as a NIC stops taking descriptors when the host falls behind. With
// `onFull: 'drop'` a full ring drops and counts instead (OpenNetVM's behaviour).
//
// Backpressure is for bursts. A ring that stays full longer than `waitMs` (an NF that is
// slower than its offered load, or stuck) is marked overloaded: from then on, packets for it
// are dropped and counted at once — no more waiting or holding — until a flush finds room in
// it again. So a slow NF drops its own chain's excess instead of stalling the producer, and
// the other chains that producer serves keep flowing (issue #6: "a slow NF slows or drops
// only its own chain").
import {
  ACTION_COUNTED,
  ACTION_DROP,
  ACTION_NEXT,
  ACTION_TO_PORT,
  ACTION_TO_SERVICE,
  bufferOffset,
  chainStepI32,
  C_ACT_DROP,
  C_ACT_NEXT,
  C_ACT_TO_PORT,
  C_ACT_TO_SERVICE,
  C_DROP_ACTION,
  C_DROP_NO_ROUTE,
  C_DROP_RING_FULL,
  C_TX,
  C_TX_TO_NF,
  C_TX_TO_PORT,
  DESC_INDEX_MASK,
  DESC_SEGMENT_SHIFT,
  H_EPOCH,
  M_ACTION,
  M_CHAIN,
  M_DEST,
  M_HASH,
  markThenCount,
  M_STEP,
  nfRingId,
  portRingId,
  serviceOffset,
  slotCountersF64,
  STEP_DROP,
  STEP_PORT,
  STEP_SERVICE,
  SV_COUNT,
  SV_SLOTS,
  S_KEY,
  slotOffset,
  type Layout,
} from './layout.js';
import { Ring } from './ring.js';
import { native } from '../../native/loader.js';
import type { Pool } from './pool.js';

/** Rendezvous (highest random weight) hashing: a flow keeps its instance when others come
 *  or go; only the flows of a removed instance move (Thaler & Ravishankar, 1998). */
export function rendezvousWeight(hash: number, key: number): number {
  let x = (hash ^ Math.imul(key, 0x9e3779b1)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

export class Router {
  private readonly i32: Int32Array;
  private readonly layout: Layout;
  private readonly slot: number;
  private readonly pool: Pool;
  private readonly counters: Float64Array;
  private readonly c0: number;
  /** Local copies of the chain and service tables, refreshed when H_EPOCH moves. */
  private readonly chains: Int32Array;
  private readonly svcCount: Int32Array;
  private readonly svcSlots: Int32Array;
  private readonly svcKeys: Int32Array;
  private readonly maxSteps: number;
  private readonly maxInst: number;
  private epoch = -1;
  private readonly rings: Ring[];
  private readonly stage: Int32Array[];
  private readonly staged: Int32Array;
  private readonly touched: Int32Array;
  private nTouched = 0;
  private readonly drops: Int32Array;
  private nDrops = 0;
  private readonly segBase: Int32Array;
  private readonly bufShift: number;
  /** Hook for the manager: called with a ring that stays blocked by another process. */
  onStuck: ((ring: Ring) => void) | null = null;
  /** What a flush does when a destination ring is full: see the file comment. */
  onFull: 'wait' | 'hold' | 'drop' = 'wait';
  /**
   * Longest wait for room ('wait'), or longest a ring may stay full while packets are held
   * for it ('hold'); then the ring counts as overloaded (see the file comment).
   */
  waitMs = 100;
  /** Per ring: when it was first found full while holding (ms), 0 if it was not. */
  private readonly fullSince: Float64Array;
  /** Per ring: 1 while what is staged for it was held back by an earlier flush. */
  private readonly wasHeld: Uint8Array;
  /** Per ring: 1 while it is overloaded (full for longer than waitMs). */
  private readonly overloaded: Uint8Array;
  /** Descriptors held back by 'hold' (staged, not yet enqueued). */
  held = 0;
  /** Set by the owner when the region is stopping: waits end at once. */
  stopping = false;
  private readonly firstPortRing: number;
  private readonly rerouteScratch: Int32Array;
  /** Mark dropped packets' buffers before counting them (NF processes: see countDrop). */
  private readonly markDrops: boolean;

  constructor(i32: Int32Array, f64: Float64Array, layout: Layout, slot: number, pool: Pool, batchMax: number) {
    const p = layout.params;
    this.i32 = i32;
    this.layout = layout;
    this.slot = slot;
    this.pool = pool;
    this.counters = f64;
    this.c0 = slotCountersF64(layout, slot);
    this.maxSteps = p.maxSteps;
    this.maxInst = p.maxInstances;
    this.chains = new Int32Array(p.maxChains * p.maxSteps);
    this.svcCount = new Int32Array(p.maxServices);
    this.svcSlots = new Int32Array(p.maxServices * p.maxInstances);
    this.svcKeys = new Int32Array(p.maxServices * p.maxInstances);
    const nRings = layout.ringOffsets.length;
    this.rings = new Array<Ring>(nRings);
    this.stage = new Array<Int32Array>(nRings);
    this.staged = new Int32Array(nRings);
    this.fullSince = new Float64Array(nRings);
    this.overloaded = new Uint8Array(nRings);
    this.wasHeld = new Uint8Array(nRings);
    this.touched = new Int32Array(nRings);
    this.drops = new Int32Array(batchMax * 2);
    this.segBase = Int32Array.from(layout.segmentOffsets);
    this.bufShift = layout.bufShift;
    this.firstPortRing = portRingId(p, 0);
    this.rerouteScratch = new Int32Array(this.drops.length);
    this.markDrops = slot !== 0;
    this.refresh();
  }

  /** Re-reads chains and services if the manager changed them. Once per batch. */
  refresh(): number {
    const e = Atomics.load(this.i32, H_EPOCH);
    if (e === this.epoch) return e;
    const l = this.layout;
    const p = l.params;
    this.chains.set(this.i32.subarray(chainStepI32(l, 0, 0), chainStepI32(l, p.maxChains, 0)));
    for (let s = 0; s < p.maxServices; s++) {
      const b = serviceOffset(l, s) >> 2;
      const n = Math.min(this.i32[b + SV_COUNT], this.maxInst);
      this.svcCount[s] = n;
      for (let k = 0; k < n; k++) {
        const slot = this.i32[b + SV_SLOTS + k];
        this.svcSlots[s * this.maxInst + k] = slot;
        this.svcKeys[s * this.maxInst + k] = this.i32[(slotOffset(l, slot) >> 2) + S_KEY];
      }
    }
    this.epoch = e;
    // Packets held for a ring whose instance may now be gone go back through routing.
    if (this.held > 0) this.rerouteHeld();
    return e;
  }

  private rerouteHeld(): void {
    const nRings = this.staged.length;
    const tmp = this.rerouteScratch;
    for (let id = 0; id < nRings; id++) {
      const n = this.staged[id];
      if (n === 0) continue;
      tmp.set(this.stage[id].subarray(0, n));
      this.staged[id] = 0;
      this.held -= n;
      for (let k = 0; k < n; k++) {
        const d = tmp[k];
        // Only the manager holds, and it routes by ACTION_NEXT alone: step back and re-route.
        const m = (this.segBase[d >>> DESC_SEGMENT_SHIFT] + ((d & DESC_INDEX_MASK) << this.bufShift)) >> 2;
        this.i32[m + M_STEP]--;
        this.counters[this.c0 + C_ACT_NEXT]--;
        this.route(d);
      }
    }
    this.nTouched = 0;
    for (let id = 0; id < nRings; id++) if (this.staged[id] > 0) this.touched[this.nTouched++] = id;
    // refresh() also runs outside the data path (the manager bumps the epoch when an NF
    // leaves, also at shutdown): what re-routing dropped must not wait for a flush() that
    // may never come.
    if (this.nDrops > 0) {
      this.pool.free(this.drops, 0, this.nDrops);
      this.nDrops = 0;
    }
  }

  /** Live instances of `service` as of the last refresh (0 for an unknown id). */
  instanceCount(service: number): number {
    return service >= 0 && service < this.svcCount.length ? this.svcCount[service] : 0;
  }

  /** The instance slot of `service` for a flow hash, or -1 if the service has none. */
  pickInstance(service: number, hash: number): number {
    const n = this.svcCount[service];
    const b = service * this.maxInst;
    if (n === 1) return this.svcSlots[b];
    if (n === 0) return -1;
    let best = -1;
    let bestW = -1;
    for (let k = 0; k < n; k++) {
      const w = rendezvousWeight(hash, this.svcKeys[b + k]);
      if (w > bestW) {
        bestW = w;
        best = this.svcSlots[b + k];
      }
    }
    return best;
  }

  private ring(id: number): Ring {
    let r = this.rings[id];
    if (r === undefined) {
      r = new Ring(this.i32, this.layout, id, this.slot);
      r.onStuck = this.onStuck;
      this.rings[id] = r;
      this.stage[id] = new Int32Array(this.drops.length);
    }
    return r;
  }

  private push(ringId: number, desc: number): void {
    if (this.rings[ringId] === undefined) this.ring(ringId);
    const n = this.staged[ringId];
    if (n === 0) this.touched[this.nTouched++] = ringId;
    const st = this.stage[ringId];
    if (n === st.length) {
      this.flushRing(ringId); // stays in `touched`
      if (this.staged[ringId] === st.length) {
        // Held back and still full: this one cannot wait anywhere.
        this.drop(desc, C_DROP_RING_FULL);
        return;
      }
    }
    st[this.staged[ringId]++] = desc;
  }

  /**
   * Counts one dropped packet, marking its buffer first (ACTION_COUNTED, the counter and the
   * value it reaches): if this process is killed before the buffer is back in the pool, the
   * reclaimer sees from the buffer alone whether the count happened, so the packet is counted
   * exactly once — as a drop here or as lost with the NF there (manager/reclaim.ts). The
   * manager (slot 0) is never reclaimed and only counts.
   */
  private countDrop(desc: number, cause: number): void {
    if (!this.markDrops) {
      this.counters[this.c0 + cause]++;
      return;
    }
    const b = this.segBase[desc >>> DESC_SEGMENT_SHIFT] + ((desc & DESC_INDEX_MASK) << this.bufShift);
    markThenCount(this.i32, this.counters, b, this.c0, cause, ACTION_COUNTED);
  }

  /** Drops a packet this process holds (an NF's unsent creations at stop), counted as an action drop. */
  discard(desc: number): void {
    this.drop(desc, C_DROP_ACTION);
  }

  private drop(desc: number, cause: number): void {
    this.countDrop(desc, cause);
    this.drops[this.nDrops++] = desc;
    if (this.nDrops === this.drops.length) {
      this.pool.free(this.drops, 0, this.nDrops);
      this.nDrops = 0;
    }
  }

  /**
   * Routes one packet by its metadata action. The action is reset to NEXT for the next hop.
   */
  route(desc: number): void {
    const i32 = this.i32;
    const m = (this.segBase[desc >>> DESC_SEGMENT_SHIFT] + ((desc & DESC_INDEX_MASK) << this.bufShift)) >> 2;
    const action = i32[m + M_ACTION];
    const c = this.counters;
    const c0 = this.c0;
    i32[m + M_ACTION] = ACTION_NEXT;
    if (action === ACTION_NEXT) {
      c[c0 + C_ACT_NEXT]++;
      const step = i32[m + M_STEP] + 1;
      const chain = i32[m + M_CHAIN];
      if (step >= this.maxSteps || chain < 0 || chain * this.maxSteps >= this.chains.length) {
        this.drop(desc, C_DROP_NO_ROUTE);
        return;
      }
      const code = this.chains[chain * this.maxSteps + step];
      const kind = code >>> 24;
      const target = code & 0xffffff;
      i32[m + M_STEP] = step;
      if (kind === STEP_SERVICE) this.toService(desc, target, i32[m + M_HASH]);
      else if (kind === STEP_PORT) this.push(portRingId(this.layout.params, target), desc);
      else if (kind === STEP_DROP) this.drop(desc, C_DROP_ACTION);
      else this.drop(desc, C_DROP_NO_ROUTE); // ran off the end of the chain
    } else if (action === ACTION_DROP) {
      c[c0 + C_ACT_DROP]++;
      this.drop(desc, C_DROP_ACTION);
    } else if (action === ACTION_TO_SERVICE) {
      c[c0 + C_ACT_TO_SERVICE]++;
      const service = i32[m + M_DEST];
      // Continue the chain after the service's step if the chain has it later on.
      const chain = i32[m + M_CHAIN];
      if (chain >= 0 && chain * this.maxSteps < this.chains.length) {
        const want = (STEP_SERVICE << 24) | service;
        for (let s = i32[m + M_STEP] + 1; s < this.maxSteps; s++) {
          if (this.chains[chain * this.maxSteps + s] === want) {
            i32[m + M_STEP] = s;
            break;
          }
        }
      }
      this.toService(desc, service, i32[m + M_HASH]);
    } else if (action === ACTION_TO_PORT) {
      c[c0 + C_ACT_TO_PORT]++;
      const port = i32[m + M_DEST];
      if (port >= 0 && port < this.layout.params.maxPorts) this.push(portRingId(this.layout.params, port), desc);
      else this.drop(desc, C_DROP_NO_ROUTE);
    } else {
      this.drop(desc, C_DROP_NO_ROUTE);
    }
  }

  private toService(desc: number, service: number, hash: number): void {
    if (service < 0 || service >= this.svcCount.length) {
      this.drop(desc, C_DROP_NO_ROUTE);
      return;
    }
    const slot = this.pickInstance(service, hash);
    if (slot < 0) this.drop(desc, C_DROP_NO_ROUTE);
    else this.push(nfRingId(slot), desc);
  }

  private flushRing(id: number): void {
    const n = this.staged[id];
    const st = this.stage[id];
    const ring = this.rings[id];
    let put = ring.enqueue(st, 0, n);
    // Out of overload only once the consumer has caught up (the ring at most half full):
    // one batch that happens to fit after the consumer took one is not recovery.
    if (put === n) {
      if (this.overloaded[id] === 1 && ring.count() <= ring.capacity >> 1) this.overloaded[id] = 0;
    } else if (this.onFull === 'wait' && !this.stopping && this.overloaded[id] === 0) {
      // Backpressure: wait for the consumer to make room, yielding the core to it.
      const deadline = performance.now() + this.waitMs;
      for (let spin = 0; put < n; spin++) {
        put += ring.enqueue(st, put, n - put);
        if (put >= n || (spin & 15) !== 15) continue;
        native.schedYield();
        if (this.stopping || performance.now() > deadline) break;
      }
      if (put < n) this.overloaded[id] = 1; // full for waitMs: drop for it until it has room
    }
    const c = this.counters;
    c[this.c0 + C_TX] += put;
    c[this.c0 + (id >= this.firstPortRing ? C_TX_TO_PORT : C_TX_TO_NF)] += put;
    if (put < n && this.onFull === 'hold' && this.overloaded[id] === 0) {
      // Held since the first flush that did not fit; partial progress does not reset it (a
      // slow consumer takes some, never all): only a flush that fits does.
      const now = performance.now();
      if (this.fullSince[id] === 0) this.fullSince[id] = now;
      if (now - this.fullSince[id] <= this.waitMs) {
        st.copyWithin(0, put, n);
        this.staged[id] = n - put;
        this.held += n - put;
        this.wasHeld[id] = 1;
        return;
      }
      this.overloaded[id] = 1; // no progress for waitMs: stop holding for it
    }
    // Only a batch that fits at its first flush ends a full spell. A held batch that fits at
    // last does not: a consumer slower than its load takes the held packets a few at a time,
    // the producer reads its inputs again and at once finds the ring full again, so every
    // batch is held and the producer runs at the slow consumer's pace — the stall that
    // overload detection exists to end (the faults test "a slow NF drops only its own chain").
    if (put === n && this.wasHeld[id] === 0) this.fullSince[id] = 0;
    this.wasHeld[id] = 0;
    if (put < n) {
      for (let k = put; k < n; k++) this.countDrop(st[k], C_DROP_RING_FULL);
      this.pool.free(st, put, n - put);
    }
    this.staged[id] = 0;
  }

  /** Enqueues everything staged (one batched enqueue per ring) and frees drops. */
  flush(): void {
    const nt = this.nTouched;
    this.nTouched = 0;
    this.held = 0;
    for (let t = 0; t < nt; t++) {
      const id = this.touched[t];
      if (this.staged[id] > 0) {
        this.flushRing(id);
        // Held back (onFull 'hold'): stays staged and touched for the next flush.
        if (this.staged[id] > 0) this.touched[this.nTouched++] = id;
      }
    }
    if (this.nDrops > 0) {
      this.pool.free(this.drops, 0, this.nDrops);
      this.nDrops = 0;
    }
  }

  /** Frees everything held and every pending drop (shutdown). */
  dropHeld(): void {
    for (let t = 0; t < this.nTouched; t++) {
      const id = this.touched[t];
      const n = this.staged[id];
      if (n === 0) continue;
      const st = this.stage[id];
      for (let k = 0; k < n; k++) this.countDrop(st[k], C_DROP_RING_FULL);
      this.pool.free(st, 0, n);
      this.staged[id] = 0;
    }
    this.nTouched = 0;
    this.held = 0;
    if (this.nDrops > 0) {
      this.pool.free(this.drops, 0, this.nDrops);
      this.nDrops = 0;
    }
  }
}

/** Byte offset of a buffer, re-exported for modules that route by hand. */
export { bufferOffset };
