// The C reference of `npm run bench`: builds bench/c/chain-ref.c with the system compiler
// (`cc`, from Debian's build-essential) into bench/c/build/ and runs it. The reference uses the
// same ring, pool and futex sleep/wake design as netvm (see the comment at the top of the C
// file), so netvm / C is the cost of TypeScript on Node.js for this design, not of the design.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// Runs from bench/ (tsx) or from dist/bench/ (compiled): find the folder with the C source.
const benchDir = fs.existsSync(path.join(here, 'c', 'chain-ref.c')) ? here : path.resolve(here, '../../bench');
const source = path.join(benchDir, 'c', 'chain-ref.c');
const binary = path.join(benchDir, 'c', 'build', 'chain-ref');

export interface CRefResult {
  mpps: number;
  packets: number;
  seconds: number;
}

/** Compiles the reference unless the binary is newer than its source. Throws with the compiler's output. */
export function buildCRef(): string {
  if (fs.existsSync(binary) && fs.statSync(binary).mtimeMs >= fs.statSync(source).mtimeMs) return binary;
  fs.mkdirSync(path.dirname(binary), { recursive: true });
  const cc = process.env.CC ?? 'cc';
  const r = spawnSync(cc, ['-O2', '-march=native', '-std=gnu11', '-pthread', '-o', binary, source], { encoding: 'utf8' });
  if (r.error) throw new Error(`bench: cannot run the C compiler '${cc}' (${r.error.message}); install build-essential`);
  if (r.status !== 0) throw new Error(`bench: building ${source} failed:\n${r.stderr}`);
  return binary;
}

/** Runs generator -> k forward NFs -> sink in C and returns its rate. Throws if the reference reports a leak. */
export function runCRef(opts: { nfs: number; mode: 'shared' | 'poll'; seconds: number; warmup: number }): CRefResult {
  const args = ['--nfs', String(opts.nfs), '--mode', opts.mode, '--seconds', String(opts.seconds), '--warmup', String(opts.warmup)];
  const r = spawnSync(buildCRef(), args, { encoding: 'utf8', timeout: (opts.seconds + opts.warmup + 30) * 1000 });
  if (r.error) throw new Error(`bench: C reference failed to run: ${r.error.message}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0) throw new Error(`bench: C reference exited with ${r.status}: ${r.stderr.trim()} ${line}`);
  const out = JSON.parse(line) as { mpps: number; packets: number; seconds: number };
  return { mpps: out.mpps, packets: out.packets, seconds: out.seconds };
}
