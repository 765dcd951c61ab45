// An in-process region over a plain SharedArrayBuffer, for unit tests of the core data
// structures (no file, no native mapping).
import { computeLayout, DEFAULT_PARAMS, type LayoutParams } from './layout.js';
import { initRegionViews, type Region } from './region.js';

export function testRegion(overrides: Partial<LayoutParams> = {}): Region {
  const params: LayoutParams = {
    ...DEFAULT_PARAMS,
    bufCount: 1024,
    ringSize: 256,
    flowEntries: 1024,
    maxSlots: 8,
    maxPorts: 4,
    ...overrides,
  };
  const layout = computeLayout(params);
  return initRegionViews('test', '<memory>', new SharedArrayBuffer(layout.totalSize), layout);
}
