import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rateSample, Sampler } from './sampler.js';
import type { InstanceStats, StatsSnapshot } from '../manager/stats.js';

function inst(o: {
  slot: number;
  pid: number;
  rx: number;
  ringFull?: number;
  wakeups?: number;
  occupancy?: number;
  state?: string;
}): InstanceStats {
  return {
    instance: o.slot,
    slot: o.slot,
    pid: o.pid,
    nf: 'forward',
    mode: 'shared',
    trust: 'trusted',
    state: o.state ?? 'active',
    rx: o.rx,
    tx: o.rx,
    drops: { action: 0, ringFull: o.ringFull ?? 0, noRoute: 0, invalid: 0, handlerErrors: 0 },
    actions: { next: o.rx, drop: 0, toService: 0, toPort: 0 },
    txToNf: 0,
    txToPort: o.rx,
    created: 0,
    batches: 0,
    wakeups: o.wakeups ?? 0,
    sleeps: 0,
    asleep: false,
    ring: { occupancy: o.occupancy ?? 0, capacity: 4096 },
    counters: {},
  };
}

function snap(t: number, rx: number, instances: InstanceStats[]): StatsSnapshot {
  return {
    time: new Date(1_700_000_000_000 + t * 1000).toISOString(),
    uptimeSeconds: t,
    region: { file: '/dev/shm/x', hugePages: false, bytes: 1 },
    pool: { size: 100, free: 90, inUse: 10, staged: 0 },
    ports: { gen: { driver: 'generator', rx, tx: 0, rxBytes: rx * 64, txBytes: 0, rxNoBuffer: 0, rxDropNoRoute: 0 } },
    services: { fwd: { nf: 'forward', instances, departed: { instances: 0 }, restarts: 0 } },
    chains: { default: { packets: rx } },
    manager: { dropNoRoute: 0, dropRingFull: 0, flows: 3, flowHits: 0, flowMisses: 0, nfDeaths: 0, reclaimedPackets: 0 },
  };
}

test('rate samples: counter differences over the elapsed time, per port, instance, chain and drop cause', () => {
  const a = snap(10, 1000, [inst({ slot: 1, pid: 11, rx: 500 }), inst({ slot: 2, pid: 12, rx: 500, ringFull: 5 })]);
  const b = snap(12, 5000, [
    inst({ slot: 1, pid: 11, rx: 2500, wakeups: 40 }),
    inst({ slot: 2, pid: 12, rx: 2500, ringFull: 25, occupancy: 1024 }),
    inst({ slot: 3, pid: 13, rx: 700 }), // new: no previous counters, so no rate yet
  ]);
  const s = rateSample(b, a);
  assert.equal(s.ports.gen.rxPps, 2000);
  assert.equal(s.ports.gen.rxBps, 2000 * 64 * 8);
  assert.equal(s.chains.default.pps, 2000);
  const [i1, i2, i3] = s.instances;
  assert.equal(i1.rxPps, 1000);
  assert.equal(i1.wakeupsPs, 20);
  assert.equal(i2.drops.ringFull, 10);
  assert.equal(i2.dropPps, 10);
  assert.equal(i2.ringFill, 0.25);
  assert.equal(i3.rxPps, 0);
  assert.equal(s.drops.ringFull, 10);
  assert.deepEqual(s.services.fwd, { rxPps: 2000, txPps: 2000, instances: 3 });
  // An instance whose pid changed in the same slot is another process: no rate across it.
  const c = snap(13, 5000, [inst({ slot: 1, pid: 99, rx: 10 })]);
  assert.equal(rateSample(c, b).instances[0].rxPps, 0);
});

test('sampler: keeps the last samples and emits each', () => {
  let t = 0;
  const s = new Sampler(() => snap(++t, t * 100, []), 1000, 3);
  const seen: number[] = [];
  s.on('sample', (x: { ports: { gen: { rxPps: number } } }) => seen.push(x.ports.gen.rxPps));
  for (let k = 0; k < 5; k++) s.tick();
  assert.equal(s.history.length, 3);
  assert.deepEqual(seen, [0, 100, 100, 100, 100]);
  assert.deepEqual(
    s.history.map((x) => x.uptimeSeconds),
    [3, 4, 5],
  );
});
