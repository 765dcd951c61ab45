// Golden test for nfs/aes-encrypt and nfs/aes-decrypt through the real CLI (see golden-run.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCommitted, nfCounters, runGolden } from './golden-run.js';
import { generate } from './gen-aes.js';

test('golden aes: the committed files are what gen-aes.ts generates', () => {
  checkCommitted('aes', generate().files);
});

test('golden aes: encryption, decryption and the round trip match node:crypto aes-ctr byte for byte', async (t) => {
  const { stats } = await runGolden('aes');
  const want = generate().counters;
  for (const [svc, counters] of Object.entries(want)) {
    const got = nfCounters(stats, svc);
    for (const [k, v] of Object.entries(counters)) assert.equal(got[k], v, `${svc}.${k}`);
  }
  assert.ok(want.enc.encrypted > 50 && want.enc.skipped > 10 && want.enc.fragments > 0 && want.enc.malformed > 0);
  t.diagnostic(
    `aes counters: ${JSON.stringify(Object.fromEntries(['enc', 'dec', 'rt-enc', 'rt-dec'].map((s) => [s, nfCounters(stats, s)])))}`,
  );
});
