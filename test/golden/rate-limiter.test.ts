// Golden test for nfs/rate-limiter through the real CLI (see golden-run.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCommitted, nfCounters, runGolden } from './golden-run.js';
import { generate } from './gen-rate-limiter.js';

test('golden rate-limiter: the committed files are what gen-rate-limiter.ts generates', () => {
  checkCommitted('rate-limiter', generate().files);
});

test('golden rate-limiter: aggregate drop, per-flow byte marking and per-source drop match the token-bucket model byte for byte', async (t) => {
  const { stats } = await runGolden('rate-limiter');
  const want = generate().counters;
  for (const [svc, counters] of Object.entries(want)) {
    const got = nfCounters(stats, svc);
    for (const [k, v] of Object.entries(counters)) assert.equal(got[k], v, `${svc}.${k}`);
    assert.ok(counters.exceeded > 20 && counters.conformed > 20, `${svc}: the case exercises both outcomes`);
  }
  assert.ok(want.flow.marked > 0 && want.flow.unkeyed > 0);
  t.diagnostic(`rate-limiter counters: ${JSON.stringify(Object.fromEntries(Object.keys(want).map((s) => [s, nfCounters(stats, s)])))}`);
});
