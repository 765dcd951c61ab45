// Runs a fuzz target for a range of case indices and reports what happened: cases tried,
// outcomes by label, and the failing cases with the command that replays each one.
import { caseSeed, Rng } from './prng.js';
import type { FuzzTarget } from './registry.js';

/** The seed `npm test` uses unless NETVM_FUZZ_SEED says otherwise. */
export const DEFAULT_SEED = 1;

export interface RunOptions {
  seed: number;
  /** Number of cases. */
  cases: number;
  /** First case index (default 0). */
  from?: number;
  /** Stop after this many failing cases (default 10). */
  maxFailures?: number;
}

export interface CaseFailure {
  index: number;
  message: string;
  replay: string;
}

export interface FuzzReport {
  target: string;
  seed: number;
  from: number;
  /** Cases actually run. */
  cases: number;
  outcomes: Map<string, number>;
  failures: CaseFailure[];
  summary: string[];
}

export function replayCommand(target: string, seed: number, index: number): string {
  return `npm run fuzz -- --target ${target} --seed ${seed} --from ${index} --cases 1`;
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const head = `${err.name}${typeof code === 'string' ? ` [${code}]` : ''}: ${err.message}`;
    // A FuzzFailure's message is the whole story; for anything else the stack shows where.
    return err.name === 'FuzzFailure' ? head : `${head}\n${(err.stack ?? '').split('\n').slice(1, 8).join('\n')}`;
  }
  return String(err);
}

export async function runTarget<S>(t: FuzzTarget<S>, opts: RunOptions): Promise<FuzzReport> {
  const from = opts.from ?? 0;
  const maxFailures = opts.maxFailures ?? 10;
  const state = (t.setup ? await t.setup() : undefined) as S;
  const outcomes = new Map<string, number>();
  const failures: CaseFailure[] = [];
  let ran = 0;
  try {
    for (let i = from; i < from + opts.cases; i++) {
      const rng = new Rng(caseSeed(opts.seed, t.name, i));
      ran++;
      try {
        const label = await t.run(state, rng, i);
        outcomes.set(label, (outcomes.get(label) ?? 0) + 1);
      } catch (err) {
        failures.push({ index: i, message: describeError(err), replay: replayCommand(t.name, opts.seed, i) });
        if (failures.length >= maxFailures) break;
      }
    }
  } finally {
    if (t.teardown) await t.teardown(state);
  }
  const summary = t.summary ? t.summary(state) : [];
  return { target: t.name, seed: opts.seed, from, cases: ran, outcomes, failures, summary };
}

/** The report as printed by `npm run fuzz` and by the CI tests. */
export function formatReport(r: FuzzReport): string {
  const lines: string[] = [];
  const range = r.cases > 0 ? `cases ${r.from}..${r.from + r.cases - 1}` : 'no cases';
  lines.push(`fuzz ${r.target}: ${r.cases} cases tried (seed ${r.seed}, ${range}), ${r.failures.length} failing`);
  const sorted = [...r.outcomes.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  for (const [label, n] of sorted) lines.push(`  ${String(n).padStart(8)}  ${label}`);
  for (const s of r.summary) lines.push(`  ${s}`);
  for (const f of r.failures) {
    lines.push(`  FAIL case ${f.index}: ${f.message.split('\n').join('\n    ')}`);
    lines.push(`    replay: ${f.replay}`);
  }
  return lines.join('\n');
}
