// Getting every buffer back from a dead NF (exit, crash, kill -9). OpenNetVM left dead NFs'
// buffers stranded; netvm reclaims them:
//   1. repair any ring the NF died in the middle of (ring.ts repairAbandoned);
//   2. wait until every live process has refreshed past the service-map change that removed
//      the NF (its `seenEpoch`, or it is asleep), so nobody routes into its ring any more;
//   3. drain its rx ring;
//   4. owner scan: every buffer whose M_OWNER is the dead slot and that sits in no ring was in
//      its hands (in flight or in its private pool cache): give it back to the pool.
// Each buffer it gives back is also counted, exactly once, by what its metadata says it was
// (M_ACTION): a free buffer (ACTION_FREE, in its cache), a packet it had already counted as
// dropped (ACTION_COUNTED, and its counter reached the recorded value), a buffer it was making
// into a packet of its own and had not counted as created yet (ACTION_CREATING), or else a
// packet lost with the NF (`packets`, the manager's reclaimedPackets). Nothing here trusts a
// count the NF published, since kill -9 can land between any two of its stores.
import {
  ACTION_COUNTED,
  ACTION_CREATING,
  ACTION_FREE,
  bufferOffset,
  DESC_INDEX_MASK,
  M_ACTION,
  M_OWNER,
  makeDesc,
  markCounted,
  nfRingId,
  POOL_RING,
  ringCount,
  S_SEEN_EPOCH,
  S_SLEEP,
  S_STATE,
  SLOT_ACTIVE,
  slotCountersF64,
  slotOffset,
  type Layout,
} from '../core/layout.js';
import { Ring, repairAbandoned } from '../core/ring.js';
import type { Pool } from '../core/pool.js';

export interface ReclaimResult {
  /** Packets taken from its rx ring. */
  drained: number;
  /** Buffers found by the owner scan: packets in its hands and its pool cache's free buffers. */
  inFlight: number;
  repaired: number;
  /** Packets lost with the NF: drained + those in its hands it had not counted as dropped. */
  packets: number;
}

export class Reclaimer {
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly layout: Layout;
  private readonly pool: Pool;
  private readonly rings: Ring[] = [];
  private readonly mark: Uint8Array;
  private readonly scratch = new Int32Array(256);

  constructor(i32: Int32Array, f64: Float64Array, layout: Layout, pool: Pool) {
    this.i32 = i32;
    this.f64 = f64;
    this.layout = layout;
    this.pool = pool;
    for (let r = 0; r < ringCount(layout.params); r++) this.rings.push(new Ring(i32, layout, r, 0));
    this.mark = new Uint8Array(layout.params.segments * layout.params.bufCount);
  }

  /**
   * Step 1; `done` is false while an earlier reservation still has to publish (retry).
   * `packets`: of the buffers it gives back (taken off a ring by the dead NF and not yet
   * stamped as its own), those that were packets, not free buffers of the pool ring.
   */
  repair(deadSlot: number, isAlive: (slot: number) => boolean): { done: boolean; repaired: number; packets: number } {
    const res = repairAbandoned(this.i32, this.layout, deadSlot, isAlive);
    if (res.pending) return { done: false, repaired: 0, packets: 0 };
    for (const d of res.giveBack) {
      this.i32[(bufferOffset(this.layout, d) >> 2) + M_OWNER] = 0;
      this.pool.freeOne(d);
    }
    // Every ring but the pool's carries packets.
    const packets = res.ring === POOL_RING ? 0 : res.giveBack.length;
    return { done: true, repaired: res.giveBack.length, packets };
  }

  /** Was the buffer at byte offset `b`, owned by `slot`, a packet not yet counted anywhere? */
  private uncounted(b: number, slot: number): boolean {
    const a = this.i32[(b >> 2) + M_ACTION];
    if (a === ACTION_FREE) return false;
    // A drop not counted yet is still a packet; a creation not counted yet is not one yet.
    if (a === ACTION_COUNTED) return !markCounted(this.i32, this.f64, b, slotCountersF64(this.layout, slot));
    if (a === ACTION_CREATING) return markCounted(this.i32, this.f64, b, slotCountersF64(this.layout, slot));
    return true;
  }

  /** Step 2: has every other active process moved past `epoch`? */
  quiescent(deadSlot: number, epoch: number): boolean {
    const l = this.layout;
    for (let s = 1; s < l.params.maxSlots; s++) {
      if (s === deadSlot) continue;
      const b = slotOffset(l, s) >> 2;
      if (Atomics.load(this.i32, b + S_STATE) !== SLOT_ACTIVE) continue;
      if (Atomics.load(this.i32, b + S_SLEEP) === 1) continue;
      if (Atomics.load(this.i32, b + S_SEEN_EPOCH) - epoch < 0) return false;
    }
    return true;
  }

  /** Steps 3 and 4. The dead slot must be out of every route (after `quiescent`). */
  reclaim(deadSlot: number): ReclaimResult {
    const i32 = this.i32;
    const l = this.layout;
    let drained = 0;
    const rx = this.rings[nfRingId(deadSlot)];
    for (;;) {
      const n = rx.dequeue(this.scratch, 0, this.scratch.length, 0);
      if (n === 0 && rx.count() === 0) break;
      this.pool.free(this.scratch, 0, n);
      drained += n;
    }
    // Owner scan: mark what sits in rings, then take back the dead slot's unmarked buffers.
    const mark = this.mark;
    mark.fill(0);
    const bufCount = l.params.bufCount;
    const note = (d: number): void => {
      mark[(d >>> 24) * bufCount + (d & DESC_INDEX_MASK)] = 1;
    };
    for (const r of this.rings) r.forEachQueued(note);
    let inFlight = 0;
    let lost = 0;
    for (let s = 0; s < l.params.segments; s++) {
      for (let i = 0; i < bufCount; i++) {
        const d = makeDesc(s, i);
        const b = bufferOffset(l, d);
        const m = (b >> 2) + M_OWNER;
        if (i32[m] !== deadSlot || mark[s * bufCount + i] === 1) continue;
        if (this.uncounted(b, deadSlot)) lost++;
        i32[m] = 0;
        this.pool.freeOne(d);
        inFlight++;
      }
    }
    return { drained, inFlight, repaired: 0, packets: drained + lost };
  }

  /**
   * At exit, once no NF process is left: frees whatever still sits in any NF or port ring
   * (for example what a stopping NF routed into a ring after it had been reclaimed) and
   * returns how many came from each ring, by ring id.
   */
  sweepRings(): Map<number, number> {
    const out = new Map<number, number>();
    for (let r = 1; r < this.rings.length; r++) {
      const ring = this.rings[r];
      let n = 0;
      for (;;) {
        const k = ring.dequeue(this.scratch, 0, this.scratch.length, 0);
        if (k === 0) break;
        this.pool.free(this.scratch, 0, k);
        n += k;
      }
      if (n > 0) out.set(r, n);
    }
    return out;
  }

  /**
   * At exit, after every cache was flushed: the buffers that are not in the pool ring,
   * counted by their last owner slot (M_OWNER) — the diagnosis of a leak, nothing is freed.
   */
  audit(): { missing: number; byOwner: Record<string, number> } {
    const i32 = this.i32;
    const l = this.layout;
    const bufCount = l.params.bufCount;
    const mark = this.mark;
    mark.fill(0);
    this.rings[0].forEachQueued((d) => (mark[(d >>> 24) * bufCount + (d & DESC_INDEX_MASK)] = 1));
    let missing = 0;
    const byOwner: Record<string, number> = {};
    for (let s = 0; s < l.params.segments; s++)
      for (let i = 0; i < bufCount; i++) {
        if (mark[s * bufCount + i] === 1) continue;
        missing++;
        const m = bufferOffset(l, makeDesc(s, i)) >> 2;
        const owner = `${i32[m + M_OWNER]}`;
        byOwner[owner] = (byOwner[owner] ?? 0) + 1;
      }
    return { missing, byOwner };
  }
}
