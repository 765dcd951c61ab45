// Cross-process ring stress: 4 producer processes and one consumer move 10 million
// descriptors through one multi-producer ring; none may be lost, duplicated or reordered
// within a producer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createRegion, removeRegion } from '../src/core/region.js';
import { Ring } from '../src/core/ring.js';
import { DEFAULT_PARAMS, nfRingId } from '../src/core/layout.js';

const TOTAL = Number(process.env.NETVM_STRESS_TOTAL ?? 10_000_000);
const PRODUCERS = 4;

test(`ring stress: ${PRODUCERS} producer processes, 1 consumer, ${TOTAL} descriptors`, async () => {
  const name = `stress-${process.pid}`;
  const region = createRegion(name, { ...DEFAULT_PARAMS, bufCount: 4096, ringSize: 1024 }, 'never');
  try {
    const span = region.layout.params.bufCount / PRODUCERS;
    const per = TOTAL / PRODUCERS;
    const worker = fileURLToPath(new URL('./helpers/ring-stress-worker.js', import.meta.url));
    const exits = [];
    const children: ReturnType<typeof spawn>[] = [];
    for (let p = 0; p < PRODUCERS; p++) {
      const child = spawn(process.execPath, [worker, name, String(p + 1), String(per), String(span)], {
        stdio: 'inherit',
      });
      children.push(child);
      exits.push(new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1))));
    }
    const ring = new Ring(region.i32, region.layout, nfRingId(0), 0);
    const next = new Float64Array(PRODUCERS);
    const dst = new Int32Array(256);
    let received = 0;
    let errors = 0;
    let firstError = '';
    const deadline = Date.now() + 120_000;
    while (received < TOTAL && Date.now() < deadline) {
      const n = ring.dequeue(dst, 0, 256, 0);
      for (let k = 0; k < n; k++) {
        const d = dst[k];
        const p = Math.floor(d / span);
        const want = p * span + (next[p] % span);
        if (d !== want && errors++ === 0) firstError = `producer ${p}: got ${d}, expected ${want} (seq ${next[p]})`;
        next[p]++;
      }
      received += n;
      if (n === 0) await new Promise((r) => setImmediate(r));
    }
    if (received < TOTAL) for (const c of children) c.kill('SIGKILL');
    const codes = await Promise.all(exits);
    assert.deepEqual(codes, [0, 0, 0, 0], 'producers exited cleanly');
    assert.equal(errors, 0, firstError);
    assert.equal(received, TOTAL, 'every descriptor arrived');
    assert.deepEqual(Array.from(next), new Array(PRODUCERS).fill(per), 'each producer fully received, in order');
    assert.equal(ring.count(), 0, 'nothing left over');
    console.log(`ring stress: ${PRODUCERS} producers -> 1 consumer, ${received} descriptors, ${errors} lost/duplicated/out of order`);
  } finally {
    removeRegion(region);
  }
});
