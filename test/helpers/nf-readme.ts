// Keeps each catalog NF's README honest: every ```yaml block in nfs/<nf>/README.md must be a
// valid config, and the NF must accept the args it gives to each service running it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfigText, resolveConfig } from '../../src/config/load-config.js';
import { packageRoot } from '../../src/config/catalog.js';
import type { ResolvedConfig } from '../../src/config/types.js';
import type { NFDefinition } from '../../src/nflib/define-nf.js';
import { createNFHarness, type NFHarness } from '../../src/nflib/testing.js';

type Service = ResolvedConfig['services'][number];

/** One service running catalog NF `nf` in a README example, with what a harness needs for it. */
/**
 * README examples create files (tap, flow-tracker) or read them (the aes NFs' `keyFile:
 * tunnel.key`), relative to the working directory: this moves into a fresh scratch directory
 * holding that key, and returns the function that moves back.
 */
export function enterReadmeWorkdir(): () => void {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'netvm-readme-'));
  fs.writeFileSync(path.join(work, 'tunnel.key'), '000102030405060708090a0b0c0d0e0f\n');
  const before = process.cwd();
  process.chdir(work);
  return () => process.chdir(before);
}

export interface ReadmeService {
  label: string;
  service: Service;
  cfg: ResolvedConfig;
  /** createNFHarness options: the service's args, its name, and the config's services and ports. */
  harness: { args: Record<string, unknown>; service: string; services: string[]; ports: string[] };
}

/** Every service of catalog NF `nf` in the ```yaml blocks of nfs/<nf>/README.md (each block resolved as a config). */
export function readmeServices(nf: string): ReadmeService[] {
  const dir = path.join(packageRoot(), 'nfs', nf);
  const text = fs.readFileSync(path.join(dir, 'README.md'), 'utf8');
  const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length > 0, `nfs/${nf}/README.md has a yaml example`);
  const out: ReadmeService[] = [];
  for (const [i, yaml] of blocks.entries()) {
    const label = `nfs/${nf}/README.md yaml block ${i}`;
    const cfg = resolveConfig(parseConfigText(yaml, label), { file: null, baseDir: dir, label });
    for (const s of cfg.services) {
      if (s.nf.kind !== 'catalog' || s.nf.name !== nf) continue;
      out.push({
        label,
        service: s,
        cfg,
        harness: { args: s.args, service: s.name, services: cfg.services.map((x) => x.name), ports: cfg.ports.map((p) => p.name) },
      });
    }
  }
  return out;
}

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
  let checked = 0;
  for (const { label, service, cfg, harness } of readmeServices(nf)) {
    const h = await createNFHarness(def, harness);
    try {
      if (check) await check(h, service, cfg, label);
    } finally {
      await h.close();
    }
    checked++;
  }
  assert.ok(checked >= 1, `nfs/${nf}/README.md runs ${nf} in at least one example`);
  return checked;
}
