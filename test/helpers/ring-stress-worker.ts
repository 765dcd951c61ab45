// A producer process for the cross-process ring stress test: attaches to the region by
// name and enqueues `count` descriptors in batches into one ring. Producer p sends buffer
// indices p*span + (seq % span), so the consumer can check each producer's sequence.
import { attachRegion } from '../../src/core/region.js';
import { Ring } from '../../src/core/ring.js';
import { nfRingId } from '../../src/core/layout.js';
import { native } from '../../native/loader.js';

const [name, slotArg, countArg, spanArg] = process.argv.slice(2);
const slot = Number(slotArg);
const count = Number(countArg);
const span = Number(spanArg);
const region = attachRegion(name);
const ring = new Ring(region.i32, region.layout, nfRingId(0), slot);
const p = slot - 1;
const batch = new Int32Array(64);
let seq = 0;
while (seq < count) {
  const n = Math.min(1 + (seq % 61), count - seq);
  for (let k = 0; k < n; k++) batch[k] = p * span + ((seq + k) % span);
  let done = 0;
  while (done < n) {
    const put = ring.enqueue(batch, done, n - done);
    if (put === 0) native.schedYield(); // full: let the consumer run (2 cores, 5 processes)
    done += put;
  }
  seq += n;
}
process.exit(0);
