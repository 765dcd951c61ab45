// Drives the real `netvm` command (bin/netvm.js → dist) as a separate process, as a user would.
import { after } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root, from src (test/helpers) or from dist (dist/test/helpers). */
export const repoRoot = fs.existsSync(path.resolve(here, '../../package.json'))
  ? path.resolve(here, '../..')
  : path.resolve(here, '../../..');
export const netvmBin = path.join(repoRoot, 'bin', 'netvm.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<CliResult>;
}

/**
 * Every CLI process a test file started and that is still running. A test that fails before it
 * stops its manager must not leave it running (the test file's process would never end): the
 * file's root `after` hook kills what is left.
 */
const live = new Set<ChildProcess>();
after(() => {
  for (const c of live) c.kill('SIGKILL');
});

/** Starts `netvm ...args`; collects its output. */
export function startCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): CliProcess {
  const child = spawn(process.execPath, [netvmBin, ...args], {
    cwd: opts.cwd ?? repoRoot,
    // Managers started by tests take an ephemeral API port (tests find it through the API
    // file), so concurrent runs never compete for the default 7780.
    env: {
      ...process.env,
      NETVM_LOG_LEVEL: process.env.NETVM_LOG_LEVEL ?? 'info',
      NETVM_API: process.env.NETVM_API ?? '127.0.0.1:0',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.on('close', () => live.delete(child));
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<CliResult>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout: out, stderr: err })),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Runs `netvm ...args` to completion (killing it after timeoutMs). */
export async function runCli(
  args: string[],
  opts: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<CliResult> {
  const p = startCli(args, opts);
  const t = setTimeout(() => p.child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const r = await p.exited;
  clearTimeout(t);
  return r;
}

export function tmpDir(prefix = 'netvm-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A manager name no other test (or concurrent run) uses. */
let seq = 0;
export function uniqueName(tag: string): string {
  return `t-${tag}-${process.pid}-${++seq}`;
}

export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  // Generous: on a shared 2-core machine under load, starting a manager and its NFs can take
  // well over 20 s; this only bounds how long a failure takes to show.
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function describeFailure(r: CliResult): string {
  return `exit ${r.code} ${r.signal ?? ''}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-6000)}`;
}
