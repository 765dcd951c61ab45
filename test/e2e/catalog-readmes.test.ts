// Each catalog NF's README is part of the product: its example config must pass
// `netvm check`, its args must pass the NF's own validation and setup (names resolved against
// the example's ports and services, test/helpers/nf-readme.ts), and every counter the NF publishes must be documented.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describeFailure, repoRoot, runCli, tmpDir } from '../helpers/cli.js';
import { checkReadmeExamples } from '../helpers/nf-readme.js';
import { buildPacket } from '../../src/proto/build.js';
import type { NFDefinition } from '../../src/nflib/define-nf.js';
import firewall from '../../nfs/firewall/index.js';
import router from '../../nfs/router/index.js';
import nat from '../../nfs/nat/index.js';
import loadBalancer from '../../nfs/load-balancer/index.js';

const NFS: Record<string, NFDefinition<unknown>> = {
  firewall: firewall as NFDefinition<unknown>,
  router: router as NFDefinition<unknown>,
  nat: nat as NFDefinition<unknown>,
  'load-balancer': loadBalancer as NFDefinition<unknown>,
};
/** Counter families documented as one row (`rule0 …`, `<backend address:port>`). */
const FAMILIES = [/^rule\d+$/, /^route\d+$/, /^\S+:\d+$/];

for (const [name, def] of Object.entries(NFS)) {
  test(`catalog README: ${name}: the example config checks, its args validate, every counter is documented`, async () => {
    const readme = fs.readFileSync(path.join(repoRoot, 'nfs', name, 'README.md'), 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(example, 'the README has a yaml example');
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'example.yaml'), example);
    const r = await runCli(['check', '--config', 'example.yaml'], { cwd: dir });
    assert.equal(r.code, 0, describeFailure(r));
    const section = readme.slice(readme.indexOf('## Counters'));
    const documented = new Set([...section.matchAll(/^\| `([^`]+)`/gm)].map((m) => m[1]));
    await checkReadmeExamples(name, def, (h) => {
      h.push([buildPacket({ src: '198.18.0.1', dst: '198.19.0.1', proto: 'udp', srcPort: 1024, dstPort: 5001 })]);
      h.tick();
      for (const k of Object.keys(h.counters))
        assert.ok(documented.has(k) || FAMILIES.some((f) => f.test(k)), `counter "${k}" is not in the README's Counters table`);
    });
  });
}
