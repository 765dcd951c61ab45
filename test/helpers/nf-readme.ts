// Keeps each catalog NF's README honest: every ```yaml block in nfs/<nf>/README.md must be a
// valid config, and the NF must accept the args it gives to each service running it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseConfigText, resolveConfig } from '../../src/config/load-config.js';
import { packageRoot } from '../../src/config/catalog.js';
import type { ResolvedConfig } from '../../src/config/types.js';
import type { NFDefinition } from '../../src/nflib/define-nf.js';
import { createNFHarness, type NFHarness } from '../../src/nflib/testing.js';

type Service = ResolvedConfig['services'][number];

/**
 * Runs every service of catalog NF `nf` found in the README's YAML examples through the
 * offline harness (args validation and setup), then `check` if given. Returns how many it ran
 * and fails if there were none.
 */
export async function checkReadmeExamples<A>(
  nf: string,
  def: NFDefinition<A>,
  check?: (h: NFHarness<A>, service: Service, cfg: ResolvedConfig, label: string) => void | Promise<void>,
): Promise<number> {
  const dir = path.join(packageRoot(), 'nfs', nf);
  const text = fs.readFileSync(path.join(dir, 'README.md'), 'utf8');
  const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length > 0, `nfs/${nf}/README.md has a yaml example`);
  let checked = 0;
  for (const [i, yaml] of blocks.entries()) {
    const label = `nfs/${nf}/README.md yaml block ${i}`;
    const cfg = resolveConfig(parseConfigText(yaml, label), { file: null, baseDir: dir, label });
    for (const s of cfg.services) {
      if (s.nf.kind !== 'catalog' || s.nf.name !== nf) continue;
      const h = await createNFHarness(def, {
        args: s.args,
        service: s.name,
        services: cfg.services.map((x) => x.name),
        ports: cfg.ports.map((p) => p.name),
      });
      try {
        if (check) await check(h, s, cfg, label);
      } finally {
        await h.close();
      }
      checked++;
    }
  }
  assert.ok(checked >= 1, `nfs/${nf}/README.md runs ${nf} in at least one example`);
  return checked;
}
