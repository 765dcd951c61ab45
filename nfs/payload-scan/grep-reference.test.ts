// payload-scan against a reference implementation: GNU grep's fixed-string matcher
// (`grep -F`, and `-i`), in the C locale so both work on bytes and fold ASCII letters only.
// Random pattern sets and thousands of random payloads, half of them with a pattern planted in
// them (in random letter case); each payload is one line of a file, each packet carries one
// payload. The set of packets the NF drops must be the set of lines grep matches, and grep -c
// must count them. A mismatch fails with the case printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import scan from './index.js';
import { createNFHarness } from '../../src/nflib/testing.js';
import { buildPacket } from '../../src/proto/build.js';
import { rng } from '../../test/fixtures/traffic.js';
import { tmpDir } from '../../test/helpers/cli.js';

const hasGrep = spawnSync('grep', ['--version']).status === 0;
const ROUNDS = 25;
const PAYLOADS = 200;

/** A random byte that is not a newline (lines are the unit of grep). Letters are frequent. */
function byte(rand: () => number): number {
  const r = rand();
  if (r < 0.3) return 'abcdeABCDE'.charCodeAt(Math.floor(rand() * 10));
  for (;;) {
    const b = Math.floor(rand() * 256);
    if (b !== 0x0a) return b;
  }
}

function run(caseInsensitive: boolean, seed: number): Promise<{ cases: number; matches: number }> {
  return (async () => {
    const rand = rng(seed);
    const dir = tmpDir('netvm-grep-');
    let cases = 0;
    let matches = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const nPat = 1 + Math.floor(rand() * 25);
      const patterns: Uint8Array[] = [];
      for (let i = 0; i < nPat; i++)
        patterns.push(Uint8Array.from({ length: (i === 0 ? 1 : 3) + Math.floor(rand() * 6) }, () => byte(rand)));
      const payloads: Uint8Array[] = [];
      for (let i = 0; i < PAYLOADS; i++) {
        const p = Array.from({ length: Math.floor(rand() * 300) }, () => byte(rand));
        if (rand() < 0.5 && p.length > 0) {
          // Plant a pattern, flipping letter case at random.
          const pat = patterns[Math.floor(rand() * nPat)];
          const at = Math.floor(rand() * p.length);
          pat.forEach((b, k) => (p[at + k] = rand() < 0.5 && (b | 32) >= 0x61 && (b | 32) <= 0x7a ? b ^ 32 : b));
        }
        payloads.push(Uint8Array.from(p));
      }
      const patFile = path.join(dir, `p${round}.txt`);
      const dataFile = path.join(dir, `d${round}.txt`);
      fs.writeFileSync(patFile, Buffer.concat(patterns.map((p) => Buffer.concat([Buffer.from(p), Buffer.from('\n')]))));
      fs.writeFileSync(dataFile, Buffer.concat(payloads.map((p) => Buffer.concat([Buffer.from(p), Buffer.from('\n')]))));
      const flags = ['-a', '-F', ...(caseInsensitive ? ['-i'] : []), '-f', patFile, dataFile];
      const env = { ...process.env, LC_ALL: 'C' };
      const grepLines = spawnSync('grep', ['-n', ...flags], { env, maxBuffer: 1 << 26 });
      assert.ok(grepLines.status === 0 || grepLines.status === 1, `grep failed: ${grepLines.stderr}`);
      const want = new Set<number>();
      for (const line of grepLines.stdout.toString('latin1').split('\n')) {
        const m = /^(\d+):/.exec(line);
        if (m !== null) want.add(Number(m[1]) - 1);
      }
      const grepCount = Number(
        execFileSync('grep', ['-c', ...flags], { env })
          .toString()
          .trim() || '0',
      );
      const h = await createNFHarness(scan, { args: { patternFile: patFile, caseInsensitive, action: 'drop', scope: 'packet' } });
      const frames = payloads.map((p, i) =>
        buildPacket({
          src: i % 3 === 0 ? '2001:db8::1' : '10.0.0.1',
          dst: i % 3 === 0 ? '2001:db8::2' : '10.0.0.2',
          proto: i % 2 ? 'tcp' : 'udp',
          srcPort: 1000 + i,
          dstPort: 80,
          payload: p,
          pad: false,
        }),
      );
      const got = h.push(frames);
      await h.close();
      for (let i = 0; i < PAYLOADS; i++) {
        const nf = got[i].action === 'drop';
        if (nf !== want.has(i))
          assert.fail(
            `case round ${round} payload ${i} (${caseInsensitive ? '-i' : 'case-sensitive'}): NF ${nf ? 'matched' : 'did not match'}, grep ${want.has(i) ? 'matched' : 'did not'}\n` +
              `  patterns: ${patterns.map((p) => Buffer.from(p).toString('hex')).join(' ')}\n  payload:  ${Buffer.from(payloads[i]).toString('hex')}`,
          );
        cases++;
      }
      assert.equal(h.counters.matched, grepCount, `round ${round}: the NF's match count equals grep -c`);
      matches += grepCount;
    }
    fs.rmSync(dir, { recursive: true, force: true });
    return { cases, matches };
  })();
}

test('payload-scan agrees with grep -c -F on 5000 random payloads', { skip: hasGrep ? false : 'needs grep' }, async (t) => {
  const r = await run(false, 7);
  t.diagnostic(`case-sensitive: ${r.cases} payloads, ${r.matches} matched (grep and the NF agree on every one)`);
  assert.ok(r.matches > r.cases / 4 && r.matches < r.cases, 'both outcomes are frequent');
});

test(
  'payload-scan caseInsensitive agrees with grep -c -F -i on 5000 random payloads',
  { skip: hasGrep ? false : 'needs grep' },
  async (t) => {
    const r = await run(true, 8);
    t.diagnostic(`case-insensitive: ${r.cases} payloads, ${r.matches} matched (grep and the NF agree on every one)`);
    assert.ok(r.matches > r.cases / 4 && r.matches < r.cases, 'both outcomes are frequent');
  },
);
