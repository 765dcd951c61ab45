// `npm run fuzz -- [--target NAME[,NAME...]] [--cases N] [--seed S] [--from K] [--list]`
//
// Runs fuzz targets for as many cases as asked (default: each target's CI count) and prints
// each report. Exit status 1 if any case failed; each failure prints the command replaying it.
import { loadTargets } from './registry.js';
import { DEFAULT_SEED, formatReport, runTarget } from './runner.js';

const USAGE = `usage: npm run fuzz -- [--target NAME[,NAME...]] [--cases N] [--seed S] [--from K] [--max-failures N] [--list]
  --target        targets to run (default: all); --list shows them
  --cases N       cases per target (default: the target's CI count)
  --seed S        run seed, an unsigned 32-bit integer (default ${DEFAULT_SEED}); printed in every report
  --from K        first case index (default 0): --from K --cases 1 replays case K
  --max-failures  stop a target after this many failing cases (default 10)`;

function fail(msg: string): never {
  process.stderr.write(`fuzz: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function intArg(name: string, v: string | undefined, max: number): number {
  if (v === undefined || !/^[0-9]+$/.test(v) || Number(v) > max) fail(`${name} needs an integer 0..${max} (got ${v ?? 'nothing'})`);
  return Number(v);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let names: string[] | null = null;
  let cases: number | null = null;
  let seed = DEFAULT_SEED;
  let from = 0;
  let maxFailures = 10;
  let list = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    if (flag === '--target') names = (value() ?? '').split(',').filter((s) => s !== '');
    else if (flag === '--cases') cases = intArg('--cases', value(), 1e9);
    else if (flag === '--seed') seed = intArg('--seed', value(), 0xffffffff);
    else if (flag === '--from') from = intArg('--from', value(), 1e12);
    else if (flag === '--max-failures') maxFailures = Math.max(1, intArg('--max-failures', value(), 1e6));
    else if (flag === '--list') list = true;
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return;
    } else fail(`unknown argument "${a}"`);
  }
  const all = await loadTargets();
  if (list) {
    for (const t of all) process.stdout.write(`${t.name.padEnd(8)} ${String(t.ciCases).padStart(6)} CI cases  ${t.description}\n`);
    return;
  }
  const chosen =
    names === null
      ? all
      : names.map((n) => all.find((t) => t.name === n) ?? fail(`no target "${n}" (have: ${all.map((t) => t.name).join(', ')})`));
  let failed = 0;
  let total = 0;
  for (const t of chosen) {
    const r = await runTarget(t, { seed, cases: cases ?? t.ciCases, from, maxFailures });
    process.stdout.write(`${formatReport(r)}\n`);
    failed += r.failures.length;
    total += r.cases;
  }
  process.stdout.write(
    `fuzz: ${total} cases over ${chosen.length} target(s), seed ${seed}: ${failed === 0 ? 'no failures' : `${failed} failing`}\n`,
  );
  if (failed > 0) process.exitCode = 1;
}

await main();
