// Every catalog NF README of rate-limiter, payload-scan, aes-encrypt, aes-decrypt,
// flow-tracker, speed-tester, tap and vlan has an example config under "## Example": it must
// pass `netvm check` (the real CLI), and the args it gives each service must pass that NF's own
// argument validation — so the documented example is one a user can run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describeFailure, repoRoot, runCli, tmpDir } from './helpers/cli.js';
import { isNFDefinition, type NFDefinition } from '../src/nflib/define-nf.js';

const NFS = ['rate-limiter', 'payload-scan', 'aes-encrypt', 'aes-decrypt', 'flow-tracker', 'speed-tester', 'tap', 'vlan'];

function exampleOf(nf: string): string {
  const md = fs.readFileSync(path.join(repoRoot, 'nfs', nf, 'README.md'), 'utf8');
  const m = /## Example[\s\S]*?```yaml\n([\s\S]*?)```/.exec(md);
  assert.ok(m !== null, `nfs/${nf}/README.md has a yaml block under "## Example"`);
  return m[1];
}

for (const nf of NFS) {
  test(`nfs/${nf}/README.md: the example config passes netvm check and ${nf}'s argument validation`, async () => {
    const text = exampleOf(nf);
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'example.yaml'), text);
    const r = await runCli(['check', '--config', 'example.yaml'], { cwd: dir });
    assert.equal(r.code, 0, describeFailure(r));
    assert.match(r.stdout, new RegExp(`: ${nf} x\\d`), `the example runs ${nf}`);
    const cfg = parseYaml(text) as { services: Record<string, { nf: string; args?: Record<string, unknown> }> };
    let validated = 0;
    for (const [name, svc] of Object.entries(cfg.services)) {
      const mod = (await import(path.join(repoRoot, 'dist', 'nfs', svc.nf, 'index.js'))) as { default: unknown };
      assert.ok(isNFDefinition(mod.default));
      const def = mod.default as NFDefinition<unknown>;
      assert.doesNotThrow(() => def.args?.(svc.args ?? {}), `service ${name}: its args are valid`);
      validated++;
    }
    assert.ok(validated > 0);
  });
}
