import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testRegion } from './test-region.js';
import { Pool } from './pool.js';
import { POOL_RING, S_CACHE, slotOffset } from './layout.js';
import { ringOccupancy } from './ring.js';

test('pool: alloc larger than the cache, free, flush — every descriptor distinct, count exact', () => {
  const r = testRegion({ bufCount: 1024 });
  const { i32, layout } = r;
  const p = new Pool(i32, layout, 1, 16);
  const d = new Int32Array(1024);
  assert.equal(p.alloc(d, 0, 700), 700);
  assert.equal(new Set(d.subarray(0, 700)).size, 700);
  assert.equal(p.alloc(d, 700, 400), 324, 'only what is left');
  assert.equal(p.allocFailures, 76);
  assert.equal(new Set(d).size, 1024);
  p.free(d, 0, 1024);
  const free = ringOccupancy(i32, layout, POOL_RING) + i32[(slotOffset(layout, 1) >> 2) + S_CACHE];
  assert.equal(free, 1024, 'pool ring + published cache size = every buffer');
  p.flush();
  assert.equal(ringOccupancy(i32, layout, POOL_RING), 1024);
});
