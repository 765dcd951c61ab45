// The catalog's promise (issue #4, docs/nfs.md): every NF has its folder with code, README and
// tests, a golden case (pcap in, expected pcap out, run through the real CLI), and a row in the
// per-NF benchmark. This test fails when an NF is added without one of those.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './helpers/cli.js';
import { NF_BENCH_CASES } from '../bench/nf-cases.js';

/** The NFs of the catalog. The core NFs (forward, drop, monitor, bridge) are covered by the chain tests. */
const CATALOG = [
  'firewall',
  'router',
  'nat',
  'load-balancer',
  'rate-limiter',
  'payload-scan',
  'aes-encrypt',
  'aes-decrypt',
  'arp-responder',
  'flow-tracker',
  'speed-tester',
  'tap',
  'vlan',
];
/** speed-tester generates its own traffic and reports its own rate: it has no generator row. */
const NO_BENCH_ROW = new Set(['speed-tester']);

const goldenDir = path.join(repoRoot, 'test', 'golden');
const goldenConfigs = fs
  .readdirSync(goldenDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && fs.existsSync(path.join(goldenDir, d.name, 'config.yaml')))
  .map((d) => ({ dir: d.name, text: fs.readFileSync(path.join(goldenDir, d.name, 'config.yaml'), 'utf8') }));

for (const nf of CATALOG) {
  test(`catalog: ${nf} has code, README, unit tests, a golden case and a benchmark row`, () => {
    const dir = path.join(repoRoot, 'nfs', nf);
    assert.ok(fs.existsSync(path.join(dir, 'index.ts')), `nfs/${nf}/index.ts`);
    assert.ok(fs.existsSync(path.join(dir, 'README.md')), `nfs/${nf}/README.md`);
    const ownTests = fs.readdirSync(dir).filter((f) => f.endsWith('.test.ts'));
    const nfUse = new RegExp(`nf:\\s*${nf.replace('-', '\\-')}\\b`);
    const golden = goldenConfigs.filter((g) => nfUse.test(g.text));
    assert.ok(golden.length > 0, `a golden case under test/golden/ whose config.yaml uses nf: ${nf}`);
    for (const g of golden) {
      const expected = path.join(goldenDir, g.dir, 'expected');
      const hasExpected =
        (fs.existsSync(expected) && fs.readdirSync(expected).length > 0) ||
        fs.readdirSync(path.join(goldenDir, g.dir)).some((f) => f.startsWith('expected'));
      assert.ok(hasExpected, `test/golden/${g.dir} has expected output`);
    }
    // aes-decrypt's unit and openssl tests live beside aes-encrypt's (one format, both directions).
    assert.ok(ownTests.length > 0 || nf === 'aes-decrypt', `nfs/${nf} has its own *.test.ts`);
    if (!NO_BENCH_ROW.has(nf))
      assert.ok(
        NF_BENCH_CASES.some((c) => c.nf === nf),
        `bench/nf-cases.ts has a row for ${nf}`,
      );
  });
}

test('catalog: every folder under nfs/ is either in the catalog or a core NF', () => {
  const core = new Set(['forward', 'drop', 'monitor', 'bridge', '_lib']);
  const dirs = fs.readdirSync(path.join(repoRoot, 'nfs'), { withFileTypes: true }).filter((d) => d.isDirectory());
  for (const d of dirs) assert.ok(core.has(d.name) || CATALOG.includes(d.name), `nfs/${d.name} is listed in test/catalog-coverage.test.ts`);
});
