// Helpers for the reference comparisons against Linux (nftables, ip route): a network
// namespace of our own, commands run in it, and whether this machine can run them at all.
// Nothing here touches the host's own network: every link and rule lives in the namespace.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../helpers/cli.js';

export const injectScript = path.join(repoRoot, 'test', 'reference', 'inject.py');

function which(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin')
    .split(':')
    .concat(['/usr/sbin', '/sbin'])
    .some((d) => fs.existsSync(path.join(d, cmd)));
}

/** A skip reason, or false when root and every command needed is installed. */
export function referenceSkip(cmds: string[]): string | false {
  if (process.getuid?.() !== 0) return `needs root: creates a network namespace (and needs ${cmds.join(', ')})`;
  const missing = cmds.filter((c) => !which(c));
  if (missing.length > 0)
    return `needs ${missing.join(', ')} (Debian: ${missing.map((m) => (m === 'nft' ? 'nftables' : m === 'ip' ? 'iproute2' : m)).join(', ')})`;
  return false;
}

export function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export class Netns {
  readonly name: string;
  constructor(tag: string) {
    this.name = `netvm-${tag}-${process.pid}`;
    run('ip', ['netns', 'add', this.name]);
  }
  exec(cmd: string, args: string[], input?: string): string {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args], input);
  }
  ip(args: string[], input?: string): string {
    return run('ip', ['-n', this.name, ...args], input);
  }
  remove(): void {
    spawnSync('ip', ['netns', 'del', this.name]);
  }
}

/** Frames as inject.py reads them: 4-byte big-endian length, then the frame. */
export function frameFile(file: string, frames: Uint8Array[]): void {
  const total = frames.reduce((a, f) => a + 4 + f.length, 0);
  const out = Buffer.alloc(total);
  let o = 0;
  for (const f of frames) {
    out.writeUInt32BE(f.length, o);
    out.set(f, o + 4);
    o += 4 + f.length;
  }
  fs.writeFileSync(file, out);
}
