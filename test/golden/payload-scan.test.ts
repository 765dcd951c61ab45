// Golden test for nfs/payload-scan through the real CLI (see golden-run.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCommitted, nfCounters, runGolden } from './golden-run.js';
import { generate } from './gen-payload-scan.js';

test('golden payload-scan: the committed files are what gen-payload-scan.ts generates', () => {
  checkCommitted('payload-scan', generate().files);
});

test('golden payload-scan: flow drop, case-insensitive divert and alert match a naive search byte for byte', async (t) => {
  const { stats } = await runGolden('payload-scan');
  const want = generate().counters;
  for (const [svc, counters] of Object.entries(want)) {
    const got = nfCounters(stats, svc);
    for (const [k, v] of Object.entries(counters)) assert.equal(got[k], v, `${svc}.${k}`);
  }
  assert.ok(want['scan-drop'].flowHits > 0 && want['scan-drop'].matched > 0 && want['scan-divert'].diverted > 0);
  t.diagnostic(`payload-scan counters: ${JSON.stringify(Object.fromEntries(Object.keys(want).map((s) => [s, nfCounters(stats, s)])))}`);
});
