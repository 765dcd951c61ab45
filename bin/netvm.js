#!/usr/bin/env node
// The `netvm` command. The TypeScript is compiled to dist/ by `npm install` (prepare) or
// `npm run build`; this file only finds it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('netvm: NETVM_NOT_BUILT: dist/ is missing; run `npm install` (or `npm run build`) in the netvm folder\n');
  process.exit(70);
}
const { runCli } = await import(main.href);
runCli();
