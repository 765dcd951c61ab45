// `node dist/bench/untrusted-bench.js`: the CPU cost of one untrusted NF hop, in one process,
// by packet size. It runs the same hop twice over an in-memory region:
//   trusted:   the NF dequeues from its ring and routes with its own Router (as runtime.ts);
//   untrusted: the manager's proxy (src/manager/untrusted.ts) gives the packets to an
//              exchange area, a stand-in NF hands every slot straight back, the proxy checks,
//              copies back and routes.
// Both include the same "manager" work around the hop (allocate, fill the metadata, enqueue;
// then drain the port ring and free), so the difference is what untrusted costs. The time is
// the process's CPU time (process.cpuUsage), not wall time: other load on a shared machine
// stretches wall time but not, to first order, the CPU a single thread uses.
// Options: --packets 2000000  --sizes 64,512,1500  --json
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { testRegion } from '../src/core/test-region.js';
import { Pool } from '../src/core/pool.js';
import { Ring } from '../src/core/ring.js';
import { Router } from '../src/core/router.js';
import {
  bufferOffset,
  chainStepI32,
  H_EPOCH,
  M_ACTION,
  M_CHAIN,
  M_DATA_OFF,
  M_LEN,
  M_STEP,
  nfRingId,
  portRingId,
  S_KEY,
  S_STATE,
  serviceOffset,
  SLOT_ACTIVE,
  slotOffset,
  STEP_PORT,
  STEP_SERVICE,
  SV_COUNT,
  SV_SLOTS,
} from '../src/core/layout.js';
import { attachExchange, ExchangeRing } from '../src/core/exchange.js';
import { UntrustedProxy } from '../src/manager/untrusted.js';

const { values } = parseArgs({
  options: {
    packets: { type: 'string', default: '2000000' },
    sizes: { type: 'string', default: '64,512,1500' },
    json: { type: 'boolean' },
  },
});
const PACKETS = Number(values.packets);
const SIZES = String(values.sizes).split(',').map(Number);
const BATCH = 64;

function region() {
  const r = testRegion({ bufCount: 8192, ringSize: 4096, maxSlots: 8, maxPorts: 4 });
  const { i32, layout } = r;
  i32[chainStepI32(layout, 0, 0)] = (STEP_SERVICE << 24) | 0;
  i32[chainStepI32(layout, 0, 1)] = (STEP_PORT << 24) | 1;
  const sv = serviceOffset(layout, 0) >> 2;
  i32[sv + SV_SLOTS] = 1;
  i32[sv + SV_COUNT] = 1;
  i32[(slotOffset(layout, 1) >> 2) + S_KEY] = 7;
  i32[(slotOffset(layout, 1) >> 2) + S_STATE] = SLOT_ACTIVE;
  Atomics.add(i32, H_EPOCH, 1);
  return r;
}

/** CPU nanoseconds per packet of `hop` (which moves one batch) around the shared manager work. */
function measure(size: number, untrusted: boolean): number {
  const r = region();
  const { i32, f64, layout } = r;
  const mgrPool = new Pool(i32, layout, 0);
  const toSlot = new Ring(i32, layout, nfRingId(1), 0);
  const portOut = new Ring(i32, layout, portRingId(layout.params, 1), 0);
  const descs = new Int32Array(BATCH);
  const out = new Int32Array(4096);
  let hop: () => void;
  let close = (): void => {};
  if (untrusted) {
    const proxy = new UntrustedProxy(
      {
        region: r,
        name: `bench-${process.pid}`,
        batch: BATCH,
        isService: (id) => id === 0,
        isOutputPort: (id) => id === 1,
        onStuck: () => {},
        log: () => {},
      },
      1,
      { timeoutMs: 60_000, exchangeSlots: 256 },
    );
    const x = attachExchange(proxy.file);
    const nfIn = new ExchangeRing(x, x.layout.toNf);
    const nfOut = new ExchangeRing(x, x.layout.fromNf);
    const idx = new Int32Array(BATCH);
    let now = 0;
    hop = () => {
      proxy.poll(now++); // give
      const n = nfIn.dequeue(idx, 0, BATCH);
      nfOut.enqueue(idx, 0, n);
      proxy.poll(now++); // collect, check, copy back, route
    };
    close = () => {
      proxy.close();
      fs.rmSync(proxy.file, { force: true });
    };
  } else {
    const nfPool = new Pool(i32, layout, 1);
    const nfRx = new Ring(i32, layout, nfRingId(1), 1);
    const router = new Router(i32, f64, layout, 1, nfPool, BATCH * 4);
    const got = new Int32Array(BATCH);
    hop = () => {
      const n = nfRx.dequeue(got, 0, BATCH, 1);
      for (let k = 0; k < n; k++) router.route(got[k]);
      router.flush();
    };
  }
  const round = (): void => {
    const n = mgrPool.alloc(descs, 0, BATCH);
    for (let k = 0; k < n; k++) {
      const m = bufferOffset(layout, descs[k]) >> 2;
      i32[m + M_LEN] = size;
      i32[m + M_CHAIN] = 0;
      i32[m + M_STEP] = 0;
      i32[m + M_ACTION] = 0;
      i32[m + M_DATA_OFF] = layout.params.headroom;
    }
    toSlot.enqueue(descs, 0, n);
    hop();
    const sent = portOut.dequeue(out, 0, out.length, 0);
    mgrPool.free(out, 0, sent);
  };
  for (let k = 0; k < 20_000; k++) round(); // warm-up: let V8 optimize
  const rounds = Math.ceil(PACKETS / BATCH);
  const t0 = process.cpuUsage();
  for (let k = 0; k < rounds; k++) round();
  const t = process.cpuUsage(t0);
  close();
  return ((t.user + t.system) * 1000) / (rounds * BATCH);
}

const results: Array<{ size: number; trustedNs: number; untrustedNs: number; extraNs: number }> = [];
process.stdout.write(`untrusted hop, CPU ns per packet (one process, ${PACKETS} packets per point)\n`);
process.stdout.write(`${'size'.padEnd(6)}${'trusted'.padStart(10)}${'untrusted'.padStart(11)}${'extra'.padStart(9)}\n`);
for (const size of SIZES) {
  // Alternate and keep the best of three: the least disturbed run.
  let t = Infinity;
  let u = Infinity;
  for (let rep = 0; rep < 3; rep++) {
    t = Math.min(t, measure(size, false));
    u = Math.min(u, measure(size, true));
  }
  const row = { size, trustedNs: Math.round(t), untrustedNs: Math.round(u), extraNs: Math.round(u - t) };
  results.push(row);
  process.stdout.write(
    `${String(size).padEnd(6)}${String(row.trustedNs).padStart(10)}${String(row.untrustedNs).padStart(11)}${String(row.extraNs).padStart(9)}\n`,
  );
}
if (values.json === true) process.stdout.write(JSON.stringify({ results }) + '\n');
