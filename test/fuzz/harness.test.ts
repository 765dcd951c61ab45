// Tests of the fuzz harness itself: its randomness is a pure function of the seed, its meters
// catch what they exist to catch (reads outside a window, runaway loops, huge allocations),
// and the runner reports failing cases with a command that replays them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseSeed, Rng } from './prng.js';
import { AllocMeter, BudgetExceeded, meteredBytes, ReadMeter, withAllocMeter, withDataViewMeter } from './meter.js';
import { check, defineTarget } from './registry.js';
import { formatReport, runTarget } from './runner.js';
import { genFrame, mutateFrame } from './frames.js';
import { corruptCapture, genCapture } from './captures.js';
import { readPcap } from '../../src/ports/pcap/pcap-format.js';

const draw = (r: Rng, n: number): number[] => Array.from({ length: n }, () => r.u32());

test('fuzz prng: a seed fixes the stream; seeds, targets and case indices give different ones', () => {
  assert.deepEqual(draw(new Rng(42), 64), draw(new Rng(42), 64));
  assert.notDeepEqual(draw(new Rng(42), 8), draw(new Rng(43), 8));
  // Pinned: a printed seed must mean the same cases in every version of the harness.
  assert.equal(caseSeed(1, 'parse', 0), caseSeed(1, 'parse', 0));
  assert.deepEqual(draw(new Rng(caseSeed(1, 'parse', 0)), 3), [260833522, 2022592430, 1864633985]);
  const seeds = new Set<number>();
  for (const t of ['parse', 'nf']) for (let i = 0; i < 1000; i++) seeds.add(caseSeed(7, t, i));
  assert.equal(seeds.size, 2000, 'no two cases share a seed');
  const r = new Rng(5);
  const counts = new Array<number>(10).fill(0);
  for (let i = 0; i < 10000; i++) counts[r.below(10)]++;
  for (const c of counts) assert.ok(c > 850 && c < 1150, `below(10) is roughly uniform: ${counts.join(' ')}`);
  for (let i = 0; i < 1000; i++) {
    const v = r.int(-3, 3);
    assert.ok(Number.isInteger(v) && v >= -3 && v <= 3);
  }
});

test('fuzz generators: the same seed gives the same frames, captures and mutations', () => {
  for (let i = 0; i < 50; i++) {
    const a = new Rng(i);
    const b = new Rng(i);
    const ga = genFrame(a);
    const gb = genFrame(b);
    assert.deepEqual(ga.frame, gb.frame);
    assert.deepEqual(mutateFrame(a, ga, 4096), mutateFrame(b, gb, 4096));
    const ca = genCapture(a);
    assert.deepEqual(corruptCapture(a, ca).bytes, corruptCapture(b, genCapture(b)).bytes);
  }
});

test('fuzz captures: generated files read back as generated', () => {
  for (let i = 0; i < 200; i++) {
    const c = genCapture(new Rng(i));
    const f = readPcap(c.bytes, `gen-${i}`);
    assert.equal(f.format, c.format);
    assert.equal(f.packets.length, c.records.length);
    f.packets.forEach((p, k) => {
      assert.deepEqual(p.data, c.records[k].data);
      assert.equal(p.tsSec, c.records[k].tsSec, `capture ${i} record ${k}`);
      assert.equal(p.tsNsec, c.records[k].tsNsec, `capture ${i} record ${k}`);
    });
  }
});

test('fuzz meters: reads outside the window are noted, a runaway loop hits the budget', () => {
  const u8 = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  const m = new ReadMeter(100, 2, 6, 'test');
  const v = meteredBytes(u8, m);
  assert.equal(v[2] + v[5], 3 + 6);
  assert.equal(v.length, 8);
  assert.equal(m.outside, null);
  assert.equal(v[6], 7);
  assert.equal(m.outside, 6, 'index 6 is past the window');
  m.reset(100, 0, 8);
  assert.equal(v[-1], undefined);
  assert.equal(m.outside, -1, 'a negative index is outside too');
  assert.deepEqual(v.subarray(1, 3), Uint8Array.of(2, 3), 'methods still work');
  m.reset(50, 0, 8);
  assert.throws(() => {
    for (let i = 0; ; i = (i + 1) & 7) void v[i];
  }, BudgetExceeded);
  const dvm = new ReadMeter(10, 0, 0, 'dv');
  const dv = new DataView(u8.buffer);
  withDataViewMeter(dvm, () => {
    dv.getUint32(0);
    dv.getUint16(4, true);
  });
  assert.equal(dvm.reads, 2);
  dv.getUint32(0);
  assert.equal(dvm.reads, 2, 'DataView is restored afterwards');
});

test('fuzz meters: an allocation beyond the budget fails before it is made; globals are restored', async () => {
  const origU8 = Uint8Array;
  const m = new AllocMeter(1 << 20, 4 << 20, 'test');
  await withAllocMeter(m, () => {
    const a = new Uint8Array(1000);
    const b = new Float64Array(10);
    assert.ok(a instanceof origU8 && a instanceof Uint8Array);
    assert.equal(b.length, 10);
    new Uint8Array(a.buffer, 10, 10); // a view: free
  });
  assert.equal(m.total, 1080);
  assert.equal(m.largest, 1000);
  assert.equal(Uint8Array, origU8);
  const huge = new AllocMeter(1 << 20, 4 << 20, 'huge');
  await assert.rejects(
    withAllocMeter(huge, () => new Int32Array(2 ** 30)),
    (e: Error) => e instanceof BudgetExceeded && /asked for 4294967296 bytes in one new Int32Array/.test(e.message),
  );
  await assert.rejects(
    withAllocMeter(new AllocMeter(1 << 20, 1 << 20, 'total'), () => {
      for (let i = 0; i < 5; i++) new ArrayBuffer(300000);
    }),
    /allocated 1200000 bytes in all/,
  );
  assert.equal(Int32Array.name, 'Int32Array');
});

test('fuzz runner: every case runs once with its own stream; failures name their case and how to replay it', async () => {
  const seen: number[] = [];
  const firstDraw = new Map<number, number>();
  const t = defineTarget<{ n: number }>({
    name: 'selftest',
    description: 'fails on multiples of 7',
    ciCases: 30,
    setup: () => ({ n: 0 }),
    run: (s, rng, i) => {
      s.n++;
      seen.push(i);
      firstDraw.set(i, rng.u32());
      check(i % 7 !== 0, `case ${i} is a multiple of 7`);
      return i % 2 === 0 ? 'even' : 'odd';
    },
    summary: (s) => [`${s.n} runs`],
  });
  const r = await runTarget(t, { seed: 9, cases: 30, from: 5 });
  assert.deepEqual(
    seen,
    Array.from({ length: 30 }, (_, k) => k + 5),
  );
  assert.equal(r.cases, 30);
  assert.deepEqual(
    r.failures.map((f) => f.index),
    [7, 14, 21, 28],
  );
  assert.equal(r.failures[0].replay, 'npm run fuzz -- --target selftest --seed 9 --from 7 --cases 1');
  assert.equal((r.outcomes.get('even') ?? 0) + (r.outcomes.get('odd') ?? 0), 26);
  const text = formatReport(r);
  assert.match(text, /^fuzz selftest: 30 cases tried \(seed 9, cases 5\.\.34\), 4 failing/);
  assert.match(text, /30 runs/);
  assert.match(text, /FAIL case 7: FuzzFailure: case 7 is a multiple of 7/);
  // Replaying one case gives it the same stream as in the full run.
  seen.length = 0;
  const first21 = firstDraw.get(21);
  const one = await runTarget(t, { seed: 9, cases: 1, from: 21 });
  assert.deepEqual(seen, [21]);
  assert.equal(firstDraw.get(21), first21);
  assert.equal(one.failures.length, 1);
  const capped = await runTarget(t, { seed: 9, cases: 100, maxFailures: 2 });
  assert.equal(capped.failures.length, 2, 'stops after maxFailures');
});
