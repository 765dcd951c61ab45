// Golden test for nfs/arp-responder through the real CLI (see golden-run.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCommitted, nfCounters, runGolden } from './golden-run.js';
import { generate } from './gen-arp-responder.js';

test('golden arp-responder: the committed files are what gen-arp-responder.ts generates', () => {
  checkCommitted('arp-responder', generate().files);
});

test('golden arp-responder: replies out of the in-port, the rest on to wan, conflicts dropped, byte for byte', async (t) => {
  const { stats } = await runGolden('arp-responder');
  const want = generate().counters;
  const got = nfCounters(stats, 'arp');
  for (const [k, v] of Object.entries(want)) assert.equal(got[k], v, `arp.${k}`);
  t.diagnostic(`arp-responder counters: ${JSON.stringify(got)}`);
});
