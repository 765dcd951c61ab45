// The READMEs of rate-limiter, payload-scan, aes-encrypt, aes-decrypt, flow-tracker,
// speed-tester, tap and vlan (catalog-readmes.test.ts does the others the same way): the
// example config under "## Example" must pass `netvm check` (the real CLI); every service of
// the NF in the README's yaml examples must pass its argument validation and setup (names
// resolved against the example's ports and services, test/helpers/nf-readme.ts); and every
// counter the NF publishes must be named in the README's "## Counters" section.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describeFailure, repoRoot, runCli, tmpDir } from '../helpers/cli.js';
import { checkReadmeExamples, enterReadmeWorkdir } from '../helpers/nf-readme.js';
import { buildPacket } from '../../src/proto/build.js';
import type { NFDefinition } from '../../src/nflib/define-nf.js';
import rateLimiter from '../../nfs/rate-limiter/index.js';
import payloadScan from '../../nfs/payload-scan/index.js';
import aesEncrypt from '../../nfs/aes-encrypt/index.js';
import aesDecrypt from '../../nfs/aes-decrypt/index.js';
import flowTracker from '../../nfs/flow-tracker/index.js';
import speedTester from '../../nfs/speed-tester/index.js';
import tap from '../../nfs/tap/index.js';
import vlan from '../../nfs/vlan/index.js';

const NFS: Record<string, NFDefinition<unknown>> = {
  'rate-limiter': rateLimiter as NFDefinition<unknown>,
  'payload-scan': payloadScan as NFDefinition<unknown>,
  'aes-encrypt': aesEncrypt as NFDefinition<unknown>,
  'aes-decrypt': aesDecrypt as NFDefinition<unknown>,
  'flow-tracker': flowTracker as NFDefinition<unknown>,
  'speed-tester': speedTester as NFDefinition<unknown>,
  tap: tap as NFDefinition<unknown>,
  vlan: vlan as NFDefinition<unknown>,
};
/** Counter families documented as one entry (`match:<name>`). */
const FAMILIES = [/^match:/];

// Setup may create the files the examples name or read them: run in a scratch directory.
// (node --test runs each file in its own process, so changing directory touches no other test.)
enterReadmeWorkdir();

for (const [name, def] of Object.entries(NFS)) {
  test(`catalog README: ${name}: the example config checks, its args validate and set up, every counter is documented`, async () => {
    const readme = fs.readFileSync(path.join(repoRoot, 'nfs', name, 'README.md'), 'utf8');
    const example = /## Example[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(example, 'the README has a yaml example under "## Example"');
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'example.yaml'), example);
    const r = await runCli(['check', '--config', 'example.yaml'], { cwd: dir });
    assert.equal(r.code, 0, describeFailure(r));
    assert.match(r.stdout, new RegExp(`: ${name} x\\d`), `the example runs ${name}`);
    const start = readme.indexOf('## Counters');
    assert.ok(start >= 0, 'the README has a Counters section');
    const end = readme.indexOf('\n## ', start + 1);
    const section = readme.slice(start, end < 0 ? undefined : end);
    const documented = new Set([...section.matchAll(/`([^`]+)`/g)].map((m) => m[1]));
    const n = await checkReadmeExamples(name, def, (h) => {
      h.push([buildPacket({ src: '198.18.0.1', dst: '198.19.0.1', proto: 'udp', srcPort: 1024, dstPort: 5001, payload: 'x'.repeat(40) })]);
      h.tick();
      for (const k of Object.keys(h.counters))
        assert.ok(documented.has(k) || FAMILIES.some((f) => f.test(k)), `counter "${k}" is not in the README's Counters section`);
    });
    assert.ok(n >= 1);
  });
}
