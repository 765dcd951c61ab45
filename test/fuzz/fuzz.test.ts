// The fuzz targets in CI: every target in test/fuzz/targets/ for its CI case count, with the
// fixed default seed (or NETVM_FUZZ_SEED), each report printed with its case counts. Longer
// runs: `npm run fuzz -- --cases N --seed S --target NAME` (docs/fuzzing.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadTargets } from './registry.js';
import { DEFAULT_SEED, formatReport, runTarget } from './runner.js';

const envSeed = process.env.NETVM_FUZZ_SEED;
const seed = envSeed !== undefined && /^[0-9]+$/.test(envSeed) ? Number(envSeed) >>> 0 : DEFAULT_SEED;
const targets = await loadTargets();

test('fuzz: the targets are registered (parse, nf, pcap, config, port, classify, control)', () => {
  const names = targets.map((t) => t.name);
  for (const n of ['parse', 'nf', 'pcap', 'config', 'port', 'classify', 'control'])
    assert.ok(names.includes(n), `target ${n} is missing (have ${names.join(', ')})`);
});

for (const t of targets) {
  test(`fuzz ${t.name}: ${t.ciCases} cases, seed ${seed} — ${t.description}`, async () => {
    const r = await runTarget(t, { seed, cases: t.ciCases });
    console.log(formatReport(r));
    assert.equal(r.cases, t.ciCases, 'every case ran');
    assert.equal(
      r.failures.length,
      0,
      `failing cases:\n${r.failures.map((f) => `case ${f.index}: ${f.message}\n  ${f.replay}`).join('\n')}`,
    );
  });
}
