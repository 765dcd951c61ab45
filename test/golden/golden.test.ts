// The golden cases (test/golden/gen-*.ts) through the real CLI: the committed files are what
// the generators make today, and `netvm run` on each case's config writes output captures
// equal byte for byte to the expected ones, with the NF's counters as the case says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describeFailure, repoRoot, runCli, tmpDir, uniqueName } from '../helpers/cli.js';
import { readPcapFile } from '../../src/ports/pcap/pcap-format.js';
import { caseFiles } from './golden-lib.js';
import { CASES } from './gen.js';

const goldenDir = path.join(repoRoot, 'test', 'golden');

for (const [nf, make] of Object.entries(CASES)) {
  test(`golden: ${nf}`, async () => {
    const c = make();
    const dir = path.join(goldenDir, nf);
    // 1. The committed case is what the generator makes (deterministic, and not edited by hand).
    const files = caseFiles(c);
    for (const [name, bytes] of files) {
      const file = path.join(dir, name);
      assert.ok(fs.existsSync(file), `${file} is missing: run node --import tsx test/golden/gen.ts ${nf}`);
      assert.ok(Buffer.from(bytes).equals(fs.readFileSync(file)), `${file} differs from what gen-${nf}.ts makes: regenerate and review`);
    }
    // 2. The real CLI on a copy of the case.
    const work = tmpDir(`netvm-golden-${nf}-`);
    for (const name of files.keys()) if (!name.startsWith('expected-')) fs.copyFileSync(path.join(dir, name), path.join(work, name));
    const stats = path.join(work, 'stats.json');
    const r = await runCli(['run', '--config', 'config.yaml', '--name', uniqueName(`golden-${nf}`), '--stats-json', stats, '--quiet'], {
      cwd: work,
    });
    assert.equal(r.code, 0, describeFailure(r));
    for (const out of Object.keys(c.expected)) {
      const got = fs.readFileSync(path.join(work, out));
      const want = fs.readFileSync(path.join(dir, `expected-${out}`));
      if (!got.equals(want)) {
        const g = readPcapFile(path.join(work, out)).packets;
        const w = readPcapFile(path.join(dir, `expected-${out}`)).packets;
        const first = w.findIndex(
          (p, i) => g[i] === undefined || !Buffer.from(p.data).equals(Buffer.from(g[i].data)) || p.tsNsec !== g[i].tsNsec,
        );
        assert.fail(
          `${out}: ${g.length} packets, expected ${w.length}; first difference at packet ${first}:\n  got  ${g[first] ? Buffer.from(g[first].data).toString('hex') : '(none)'}\n  want ${w[first] ? Buffer.from(w[first].data).toString('hex') : '(none)'}`,
        );
      }
    }
    // 3. Counters.
    const s = JSON.parse(fs.readFileSync(stats, 'utf8'));
    assert.equal(s.pool.free, s.pool.size, 'every buffer is back in the pool');
    for (const [svc, want] of Object.entries(c.counters)) {
      const got = s.services[svc].instances[0].counters as Record<string, number>;
      for (const [k, v] of Object.entries(want)) assert.equal(got[k], v, `${svc}.${k}`);
    }
    const n = Object.values(c.inputs).reduce((a, f) => a + f.length, 0);
    console.log(
      `golden ${nf}: ${n} input packets, ${Object.entries(c.expected)
        .map(([k, f]) => `${k} ${f.length} packets`)
        .join(', ')} byte-identical; ${c.what}`,
    );
    fs.rmSync(work, { recursive: true, force: true });
  });
}
