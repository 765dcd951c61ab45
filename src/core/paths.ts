// Where a netvm instance keeps its control socket and files (the region lives in
// /dev/shm or on hugetlbfs, see region.ts).
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';

export function runDir(): string {
  if (process.env.NETVM_RUN_DIR) return process.env.NETVM_RUN_DIR;
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return '/run/netvm';
  return path.join(process.env.XDG_RUNTIME_DIR ?? os.tmpdir(), `netvm-${uid}`);
}

export function ensureRunDir(): string {
  const d = runDir();
  fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  // An existing directory keeps its mode: make sure it is ours alone.
  if (fs.statSync(d).uid === (process.getuid?.() ?? 0)) fs.chmodSync(d, 0o700);
  return d;
}

export const controlSocketPath = (name: string): string => path.join(runDir(), `${name}.sock`);

/** The manager's per-run secret (mode 0600): an NF presents it to register. */
export const secretPath = (name: string): string => path.join(runDir(), `${name}.secret`);
