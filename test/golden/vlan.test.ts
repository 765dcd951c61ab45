// Golden test for nfs/vlan through the real CLI (see golden-run.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCommitted, nfCounters, runGolden } from './golden-run.js';
import { generate } from './gen-vlan.js';

test('golden vlan: the committed files are what gen-vlan.ts generates', () => {
  checkCommitted('vlan', generate().files);
});

test('golden vlan: push, pop, rewrite and S-tag push through netvm run match the expected captures byte for byte', async (t) => {
  const { stats } = await runGolden('vlan');
  const want = generate().counters;
  for (const [svc, counters] of Object.entries(want)) {
    const got = nfCounters(stats, svc);
    for (const [k, v] of Object.entries(counters)) assert.equal(got[k], v, `${svc}.${k}`);
  }
  t.diagnostic(`vlan counters: ${JSON.stringify(Object.fromEntries(Object.keys(want).map((s) => [s, nfCounters(stats, s)])))}`);
});
