// Helpers for the tests that need root: running commands (in network namespaces too), veth
// pairs that are always removed, and the reason a test is skipped when they cannot run.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { repoRoot } from '../helpers/cli.js';
import { createRegion, removeRegion, type Region } from '../../src/core/region.js';
import type { LayoutParams } from '../../src/core/layout.js';

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Commands the privileged tests need, by Debian package (see .ci/run). */
export function missingTools(tools: string[]): string[] {
  return tools.filter((t) => {
    try {
      execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
}

/** The skip reason for a privileged test: false when it can run. */
export function privilegedSkip(what: string, tools: string[] = []): string | false {
  if (!isRoot) return `needs root: ${what} (run the tests as root, as CI does)`;
  const missing = missingTools(['ip', ...tools]);
  if (missing.length > 0) return `needs ${missing.join(', ')} (see the package list in .ci/run)`;
  return false;
}

/** Runs a command to completion; rejects with its output on a non-zero exit. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(stdout + stderr);
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/** Like run, but a non-zero exit resolves too (with its code). */
export function tryRun(cmd: string, args: string[], timeoutMs = 30_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: stdout + stderr });
    });
  });
}

/** `ip netns exec NS cmd args...` */
export const inNs = (ns: string, cmd: string, args: string[], timeoutMs?: number): Promise<string> =>
  run('ip', ['netns', 'exec', ns, cmd, ...args], { timeoutMs });

/** A long-running process in a namespace; resolves `ready` once `readyRe` appears in its output. */
export interface Bg {
  child: ChildProcess;
  output(): string;
  ready: Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<string>;
}

export function background(ns: string | null, cmd: string, args: string[], readyRe?: RegExp, readyTimeoutMs = 10_000): Bg {
  const argv = ns === null ? [cmd, ...args] : ['ip', 'netns', 'exec', ns, cmd, ...args];
  // Its own process group, so stopping it reaches any process it forked.
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let exited = false;
  const onExit = new Promise<void>((r) => child.on('exit', () => ((exited = true), r())));
  const group = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // gone
    }
  };
  const ready = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${argv.join(' ')} not ready in ${readyTimeoutMs} ms:\n${out}`)), readyTimeoutMs);
    const check = (): void => {
      if (readyRe === undefined || readyRe.test(out)) {
        clearTimeout(t);
        resolve();
      }
    };
    const onData = (d: Buffer): void => {
      out += d.toString();
      check();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('close', (code) => {
      clearTimeout(t);
      reject(new Error(`${argv.join(' ')} exited (${code}) before it was ready:\n${out}`));
    });
    check();
  });
  ready.catch(() => {});
  return {
    child,
    output: () => out,
    ready,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (!exited) group(signal);
      const t = setTimeout(() => group('SIGKILL'), 5000);
      await onExit;
      clearTimeout(t);
      group('SIGKILL');
      // Let the last output arrive.
      await new Promise((r) => setTimeout(r, 20));
      return out;
    },
  };
}

/** Creates a veth pair in the root namespace (up, no IPv6); `remove` deletes it. */
export async function vethPair(a: string, b: string): Promise<{ remove: () => Promise<void> }> {
  await tryRun('ip', ['link', 'del', a]);
  await run('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
  const remove = async (): Promise<void> => void (await tryRun('ip', ['link', 'del', a]));
  try {
    for (const x of [a, b]) {
      await tryRun('sysctl', ['-qw', `net.ipv6.conf.${x}.disable_ipv6=1`]);
      await run('ip', ['link', 'set', x, 'up']);
    }
  } catch (err) {
    await remove();
    throw err;
  }
  return { remove };
}

export const benchScript = path.join(repoRoot, 'scripts', 'netns-bench.sh');

/** The namespace bench (scripts/netns-bench.sh) with its own namespace names. */
export function bench(
  h1: string,
  h2: string,
  opts: { csumOffload?: boolean } = {},
): { up: () => Promise<string>; down: () => Promise<string> } {
  const env = {
    ...process.env,
    NETVM_BENCH_H1: h1,
    NETVM_BENCH_H2: h2,
    ...(opts.csumOffload === false ? { NETVM_BENCH_CSUM_OFFLOAD: 'off' } : {}),
  };
  const sh = (verb: string): Promise<string> =>
    new Promise((resolve, reject) =>
      execFile('bash', [benchScript, verb], { env, timeout: 60_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`netns-bench.sh ${verb}: ${err.message}\n${stdout}${stderr}`)) : resolve(stdout + stderr),
      ),
    );
  return { up: () => sh('up'), down: () => sh('down') };
}

/**
 * Runs `cleanup` when the process exits by any path (a test failure that skips `after`, an
 * uncaught error, SIGINT/SIGTERM), once. Returns a function that runs it now.
 */
export function alwaysCleanup(cleanupSync: () => void): () => void {
  let done = false;
  const once = (): void => {
    if (done) return;
    done = true;
    try {
      cleanupSync();
    } catch {
      // best effort at exit
    }
  };
  process.once('exit', once);
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      once();
      process.exit(130);
    });
  return once;
}

/** Synchronous `ip link del` / `netns-bench.sh down` for exit handlers. */
export function syncRun(cmd: string, args: string[], env?: NodeJS.ProcessEnv): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', env: env ?? process.env, timeout: 30_000 });
  } catch {
    // already gone
  }
}

/**
 * Runs `body` with a region on hugetlbfs: reserves 16 more huge pages, mounts a hugetlbfs for
 * netvm to find, creates the region there; undoes all of it afterwards. Skips the test (with
 * the reason) when the kernel gives no huge pages.
 */
export async function withHugeRegion(
  t: TestContext,
  name: string,
  params: LayoutParams,
  body: (region: Region) => Promise<void>,
): Promise<void> {
  const NR = '/proc/sys/vm/nr_hugepages';
  const free = (): number => Number(/HugePages_Free:\s+(\d+)/.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  const before = Number(fs.readFileSync(NR, 'utf8'));
  const dir = fs.mkdtempSync('/tmp/netvm-huge-');
  let mounted = false;
  let region: Region | null = null;
  try {
    try {
      fs.writeFileSync(NR, String(before + 16));
    } catch (err) {
      t.skip(`cannot reserve huge pages: ${(err as Error).message}`);
      return;
    }
    if (free() < 8) {
      t.skip(`the kernel gave only ${free()} free huge pages`);
      return;
    }
    await run('mount', ['-t', 'hugetlbfs', '-o', 'mode=0700', 'none', dir]);
    mounted = true;
    region = createRegion(`${name}-${process.pid}`, params, 'always');
    if (!region.hugePages || !region.file.startsWith(dir))
      throw new Error(`the region is not on the hugetlbfs mount ${dir}: ${region.file}`);
    await body(region);
  } finally {
    if (region) removeRegion(region);
    // Lazily: the test's views of the region stay mapped until they are collected.
    if (mounted) await tryRun('umount', ['-l', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.writeFileSync(NR, String(before));
  }
}
