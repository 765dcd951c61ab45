// Writes the golden cases into test/golden/<nf>/: node --import tsx test/golden/gen.ts [nf ...]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeCase, type GoldenCase } from './golden-lib.js';
import { firewallCase } from './gen-firewall.js';
import { routerCase } from './gen-router.js';
import { natCase } from './gen-nat.js';
import { loadBalancerCase } from './gen-load-balancer.js';

export const CASES: Record<string, () => GoldenCase> = {
  firewall: firewallCase,
  router: routerCase,
  nat: natCase,
  'load-balancer': loadBalancerCase,
};

const here = path.dirname(fileURLToPath(import.meta.url));
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const names = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(CASES);
  for (const n of names) {
    const make = CASES[n];
    if (make === undefined) throw new Error(`no golden case "${n}" (have: ${Object.keys(CASES).join(', ')})`);
    writeCase(path.join(here, n), make());
    process.stdout.write(`wrote ${path.join(here, n)}\n`);
  }
}
