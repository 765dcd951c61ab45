// The fuzz target registry: the one extension point of the harness. A target is a module in
// test/fuzz/targets/ that default-exports `defineTarget({...})`; loadTargets() finds every
// module in that directory by listing it, so adding a target (the control API's, when it
// lands) is adding one file — no list to edit. See docs/fuzzing.md.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Rng } from './prng.js';

/** A broken invariant. Anything else a case throws is reported as a failure too. */
export class FuzzFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FuzzFailure';
  }
}

/** Throws a FuzzFailure with `message` unless `cond`. */
export function check(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new FuzzFailure(typeof message === 'string' ? message : message());
}

export interface FuzzTarget<S = unknown> {
  /** Short name for --target and the report. */
  readonly name: string;
  /** One line: what is fuzzed and what must hold. */
  readonly description: string;
  /** Cases per run in CI (`npm test`): sized so every target together stays within ~60 s on 2 cores. */
  readonly ciCases: number;
  /** Once per run, before the first case: build corpora, open harnesses. */
  setup?(): S | Promise<S>;
  /**
   * One case, from its own generator. Returns the outcome's label (counted in the report, e.g.
   * "ok" or "rejected NETVM_PCAP_FORMAT"); throws on a broken invariant.
   */
  run(state: S, rng: Rng, index: number): string | Promise<string>;
  /** Extra report lines (per-NF counts, budgets used...). */
  summary?(state: S): string[];
  /** Once per run, after the last case. */
  teardown?(state: S): void | Promise<void>;
}

export function defineTarget<S>(t: FuzzTarget<S>): FuzzTarget<S> {
  return t;
}

const TARGET_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'targets');

/** Every target in test/fuzz/targets/, sorted by name. */
export async function loadTargets(): Promise<FuzzTarget[]> {
  // Built (dist/**/*.js) or run from source through tsx (*.ts): load the kind this file is.
  const ext = path.extname(fileURLToPath(import.meta.url));
  const files = fs
    .readdirSync(TARGET_DIR)
    .filter((f) => f.endsWith(ext) && !f.endsWith('.d.ts') && !f.includes('.test.'))
    .sort();
  const out: FuzzTarget[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(path.join(TARGET_DIR, f)).href)) as { default?: FuzzTarget };
    const t = mod.default;
    if (t === undefined || typeof t.run !== 'function' || typeof t.name !== 'string')
      throw new Error(`test/fuzz/targets/${f} does not default-export defineTarget({...})`);
    if (out.some((o) => o.name === t.name)) throw new Error(`fuzz target name "${t.name}" is used twice`);
    out.push(t);
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
