// Golden test for nfs/flow-tracker through the real CLI (see golden-run.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { checkCommitted, nfCounters, runGolden } from './golden-run.js';
import { generate } from './gen-flow-tracker.js';

test('golden flow-tracker: the committed files are what gen-flow-tracker.ts generates', () => {
  checkCommitted('flow-tracker', generate().files);
});

test('golden flow-tracker: the exported JSON lines (TCP states, idle splits, both directions) match the model byte for byte', async (t) => {
  const { stats, dir } = await runGolden('flow-tracker');
  const want = generate().counters.flows;
  const got = nfCounters(stats, 'flows');
  for (const [k, v] of Object.entries(want)) assert.equal(got[k], v, `flows.${k}`);
  const lines = fs
    .readFileSync(path.join(dir, 'flows.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const states = new Set(lines.map((l) => l.tcpState).filter((s) => s !== undefined));
  for (const s of ['closed', 'reset', 'established', 'syn-sent']) assert.ok(states.has(s), `a flow ends in TCP state ${s}`);
  assert.ok(lines.some((l) => l.end === 'idle') && lines.some((l) => l.end === 'closed'));
  t.diagnostic(`flow-tracker: ${lines.length} flow records; counters ${JSON.stringify(got)}`);
});
