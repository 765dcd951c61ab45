// Golden test for nfs/speed-tester through the real CLI (see golden-run.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCommitted, nfCounters, runGolden } from './golden-run.js';
import { generate } from './gen-speed-tester.js';

test('golden speed-tester: the committed files are what gen-speed-tester.ts generates', () => {
  checkCommitted('speed-tester', generate().files);
});

test('golden speed-tester: 8 packets loop st -> fwd -> st 100 times and leave unchanged, in order; foreign traffic passes', async (t) => {
  const { stats, stdout } = await runGolden('speed-tester');
  const got = nfCounters(stats, 'st');
  for (const [k, v] of Object.entries(generate().counters.st)) assert.equal(got[k], v, `st.${k}`);
  assert.ok(got.avgMpps > 0 && got.latencyAvgUs > 0, 'a rate and a latency are reported');
  assert.equal(stats.services.fwd.instances[0].rx, 808, 'every loop crossed the forward NF');
  // Its 8 packets entered the system in the NF: counted as created (the exact balance is
  // checked by runGolden), and the summary says so.
  const st = stats.services.st.instances[0] as unknown as { created: number };
  assert.equal(st.created, 8);
  assert.match(stdout, /^ {2}created st#1: 8 packets of its own \(ctx\.alloc\)$/m);
  t.diagnostic(`speed-tester counters: ${JSON.stringify(got)}`);
});
