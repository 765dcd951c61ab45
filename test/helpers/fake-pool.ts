// An in-memory packet pool for port driver tests: a real region layout over a plain
// SharedArrayBuffer (src/core/test-region.ts) and the real Pool, plus strict bookkeeping so a
// test notices a leaked, invented or doubly freed descriptor.
import { bufferOffset, M_DATA_OFF, M_LEN, POOL_RING, S_CACHE, slotOffset } from '../../src/core/layout.js';
import { ringOccupancy } from '../../src/core/ring.js';
import { Pool } from '../../src/core/pool.js';
import { testRegion } from '../../src/core/test-region.js';
import type { Region } from '../../src/core/region.js';
import type { BufferAccess } from '../../src/ports/port-driver.js';

export interface FakePool {
  access: BufferAccess;
  region: Region;
  bufSize: number;
  bufCount: number;
  /** n fresh descriptors (throws if the pool has fewer free). */
  alloc(n: number): Int32Array;
  /** Returns descriptors; throws on one that is not allocated (double free, invented). */
  free(descs: ArrayLike<number>): void;
  /** Descriptors allocated and not freed. */
  inUse(): number;
  /** Whether a descriptor is allocated now (by the test or by the driver). */
  isAllocated(desc: number): boolean;
  /** Free buffers as the pool itself counts them (ring + cache); bufCount when whole. */
  poolFree(): number;
  /** Writes a packet at headroom and sets M_LEN / M_DATA_OFF. */
  put(desc: number, data: Uint8Array): void;
  /** A copy of the packet bytes of a buffer per its M_DATA_OFF and M_LEN. */
  packet(desc: number): Uint8Array;
}

/** A pool over a plain SharedArrayBuffer, or over `region` (e.g. a mapped region file) when given. */
export function makeAccess(
  opts: { bufCount?: number; bufSize?: number; headroom?: number; region?: Region; withFile?: boolean } = {},
): FakePool {
  const bufCount = opts.region?.layout.params.bufCount ?? opts.bufCount ?? 256;
  const bufSize = opts.region?.layout.params.bufSize ?? opts.bufSize ?? 2048;
  const headroom = opts.region?.layout.params.headroom ?? opts.headroom ?? 128;
  const region = opts.region ?? testRegion({ bufCount, bufSize, headroom });
  const { layout, u8, i32, f64 } = region;
  const pool = new Pool(i32, layout, 1, 64);
  const access: BufferAccess = {
    u8,
    i32,
    f64,
    bufferOffset: (d: number) => bufferOffset(layout, d),
    headroom,
    dataRoom: bufSize - headroom,
    // As the manager's: the region's file, unless the test asks for a pool without it.
    ...(opts.region !== undefined && opts.withFile !== false ? { file: opts.region.file } : {}),
    bufCount,
    segments: layout.params.segments,
    segmentOffset: layout.segmentOffsets[0],
    // The driver's own loans (afxdp's fill ring) go through the same strict bookkeeping.
    alloc: (descs: Int32Array, offset: number, count: number): number => {
      const got = pool.alloc(descs, offset, count);
      for (let i = 0; i < got; i++) held.add(descs[offset + i]);
      return got;
    },
    free: (descs: Int32Array, offset: number, count: number): void => {
      for (let i = 0; i < count; i++) {
        const x = descs[offset + i];
        if (!held.delete(x))
          throw new Error(`fake pool: the driver freed descriptor ${x}, which is not allocated (double free or invented)`);
      }
      pool.free(descs, offset, count);
    },
  };
  const held = new Set<number>();
  return {
    access,
    region,
    bufSize,
    bufCount,
    alloc(n: number): Int32Array {
      const d = new Int32Array(n);
      const got = pool.alloc(d, 0, n);
      if (got < n) {
        pool.free(d, 0, got);
        throw new Error(`fake pool: asked for ${n} buffers, only ${got} free`);
      }
      for (const x of d) held.add(x);
      return d;
    },
    free(descs: ArrayLike<number>): void {
      const arr = Int32Array.from(descs);
      for (const x of arr) {
        if (!held.delete(x)) throw new Error(`fake pool: freeing descriptor ${x}, which is not allocated (double free or invented)`);
      }
      pool.free(arr, 0, arr.length);
    },
    inUse: () => held.size,
    isAllocated: (d: number) => held.has(d),
    poolFree: () => ringOccupancy(i32, layout, POOL_RING) + i32[(slotOffset(layout, 1) >> 2) + S_CACHE],
    put(desc: number, data: Uint8Array): void {
      const base = bufferOffset(layout, desc);
      u8.set(data, base + headroom);
      i32[(base >> 2) + M_LEN] = data.length;
      i32[(base >> 2) + M_DATA_OFF] = headroom;
    },
    packet(desc: number): Uint8Array {
      const base = bufferOffset(layout, desc);
      const off = i32[(base >> 2) + M_DATA_OFF];
      const len = i32[(base >> 2) + M_LEN];
      return u8.slice(base + off, base + off + len);
    },
  };
}
