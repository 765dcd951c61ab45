// The free-buffer pool: a multi-producer multi-consumer ring of descriptors holding every
// free buffer, fronted by a per-process cache (like DPDK's mempool cache) so most alloc and
// free calls touch no shared index at all. The cache's size is published in the process's
// slot (S_CACHE) so the manager can count free buffers: pool ring + every cache.
//
// In an NF process (any slot but the manager's 0), every buffer that enters the cache — freed,
// or taken from the pool ring to refill it — is marked ACTION_FREE in its metadata (M_ACTION):
// when the NF is killed, the reclaimer tells its free buffers from its packets by the buffers
// alone, whatever store the kill interrupted (S_CACHE is published once per call and may lag).
// The metadata line is the one the ring stamps M_OWNER into, so the mark costs a store, not a
// miss. The manager is never reclaimed and skips the marks.
import type { Layout } from './layout.js';
import { ACTION_FREE, DESC_INDEX_MASK, DESC_SEGMENT_SHIFT, M_ACTION, POOL_RING, S_CACHE, slotOffset } from './layout.js';
import { Ring } from './ring.js';

export const POOL_CACHE = 512;

export class Pool {
  readonly ring: Ring;
  private readonly cache: Int32Array;
  private cached = 0;
  private readonly owner: number;
  private readonly i32: Int32Array;
  private readonly cacheWord: number;
  private readonly segBase: Int32Array;
  private readonly bufShift: number;
  /** Mark buffers ACTION_FREE (NF processes: see the file comment). */
  private readonly mark: boolean;
  /** Buffers asked for and not given (the pool was empty). */
  allocFailures = 0;

  constructor(i32: Int32Array, layout: Layout, mySlot: number, cacheSize = POOL_CACHE) {
    this.i32 = i32;
    this.ring = new Ring(i32, layout, POOL_RING, mySlot);
    this.cache = new Int32Array(cacheSize * 2);
    this.owner = mySlot;
    this.cacheWord = (slotOffset(layout, mySlot) >> 2) + S_CACHE;
    this.segBase = Int32Array.from(layout.segmentOffsets);
    this.bufShift = layout.bufShift;
    this.mark = mySlot !== 0;
  }

  /** Puts up to n free descriptors into dst[off..). Returns how many it got. */
  alloc(dst: Int32Array, off: number, n: number): number {
    const cache = this.cache;
    if (this.cached < n) {
      // Refill to half the cache beyond this request, never past the cache's end.
      const room = cache.length - this.cached;
      const want = this.cached + (cache.length >> 1) + n > cache.length ? room : (cache.length >> 1) + n - this.cached;
      this.cached += this.ring.dequeueMC(cache, this.cached, want, this.owner, this.mark);
    }
    let k = n < this.cached ? n : this.cached;
    const from = this.cached - k;
    for (let i = 0; i < k; i++) dst[off + i] = cache[from + i];
    this.cached = from;
    this.i32[this.cacheWord] = from;
    // A request larger than the cache takes the rest straight from the ring.
    if (k < n) k += this.ring.dequeueMC(dst, off + k, n - k, this.owner, this.mark);
    if (k < n) this.allocFailures += n - k;
    return k;
  }

  /** Returns src[off..off+n) to the pool (they must be owned by this process). */
  free(src: Int32Array, off: number, n: number): void {
    const cache = this.cache;
    if (this.mark) for (let i = off; i < off + n; i++) this.markFree(src[i]);
    for (let i = 0; i < n; i++) {
      if (this.cached === cache.length) this.spill();
      cache[this.cached++] = src[off + i];
    }
    this.i32[this.cacheWord] = this.cached;
  }

  /** Marks a buffer entering the cache ACTION_FREE (NF processes: see the file comment). */
  private markFree(desc: number): void {
    this.i32[((this.segBase[desc >>> DESC_SEGMENT_SHIFT] + ((desc & DESC_INDEX_MASK) << this.bufShift)) >> 2) + M_ACTION] = ACTION_FREE;
  }

  /** Frees one descriptor (control paths; the data path frees batches). */
  freeOne(desc: number): void {
    if (this.cached === this.cache.length) this.spill();
    if (this.mark) this.markFree(desc);
    this.cache[this.cached++] = desc;
    this.i32[this.cacheWord] = this.cached;
  }

  private spill(): void {
    // Keep half, give the older half back; the pool ring has room for every buffer, so this
    // always succeeds.
    const half = this.cache.length >> 1;
    const put = this.ring.enqueue(this.cache, 0, half);
    this.cache.copyWithin(0, put, this.cached);
    this.cached -= put;
  }

  /** Gives the whole cache back (on exit, so the pool is whole). */
  flush(): void {
    while (this.cached > 0) {
      const put = this.ring.enqueue(this.cache, 0, this.cached);
      this.cache.copyWithin(0, put, this.cached);
      this.cached -= put;
    }
    this.i32[this.cacheWord] = 0;
  }

  get cachedCount(): number {
    return this.cached;
  }
}
