// Golden test for nfs/tap through the real CLI (see golden-run.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCommitted, nfCounters, runGolden } from './golden-run.js';
import { generate } from './gen-tap.js';

test('golden tap: the committed files are what gen-tap.ts generates', () => {
  checkCommitted('tap', generate().files);
});

test('golden tap: the tap files (all, filtered + snaplen, IPv6 host + ns) and the passed-on traffic match byte for byte', async (t) => {
  const { stats } = await runGolden('tap');
  const want = generate().counters;
  for (const [svc, counters] of Object.entries(want)) {
    const got = nfCounters(stats, svc);
    for (const [k, v] of Object.entries(counters)) assert.equal(got[k], v, `${svc}.${k}`);
  }
  assert.ok(want['tap-udp'].captured > 10 && want['tap-udp'].filtered > 10 && want['tap-v6'].captured > 10);
  t.diagnostic(`tap counters: ${JSON.stringify(Object.fromEntries(Object.keys(want).map((s) => [s, nfCounters(stats, s)])))}`);
});
