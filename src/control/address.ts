// Where the control API listens (`--api`), and the files through which the CLI finds it.
// The API is for the local operator only: a loopback address or a Unix socket, never a
// routable interface (an API that can start processes must not be reachable from a network).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { NetvmError } from '../core/errors.js';
import { ensureRunDir, runDir } from '../core/paths.js';

export const DEFAULT_API = '127.0.0.1:7780';

export type ApiAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  if (net.isIPv6(host)) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/**
 * Parses `--api`: `HOST:PORT` (HOST a loopback address: 127.0.0.0/8, ::1 in brackets, or
 * localhost), `:PORT` (127.0.0.1), `unix:PATH` or an absolute PATH (a Unix socket), or
 * `off` (null).
 */
export function parseApiAddress(text: string): ApiAddress | null {
  const v = text.trim();
  if (v === 'off' || v === 'none' || v === 'false') return null;
  if (v.startsWith('unix:')) return { kind: 'unix', path: path.resolve(v.slice(5)) };
  if (v.startsWith('/')) return { kind: 'unix', path: v };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(v);
  if (m === null)
    throw new NetvmError(
      'NETVM_USAGE',
      `--api: expected HOST:PORT on a loopback address (e.g. 127.0.0.1:7780, [::1]:7780), unix:PATH, or off (got "${text}")`,
    );
  const host = m[1] ?? (m[2] === '' ? '127.0.0.1' : m[2]);
  const port = Number(m[3]);
  if (port > 65535) throw new NetvmError('NETVM_USAGE', `--api: port ${port} is above 65535`);
  if (!isLoopback(host))
    throw new NetvmError(
      'NETVM_USAGE',
      `--api: ${host} is not a loopback address; the control API listens on 127.0.0.0/8, ::1 or a Unix socket only (use an SSH tunnel to reach it from elsewhere)`,
    );
  return { kind: 'tcp', host, port };
}

/** What `<run dir>/<name>.api.json` holds: how a client reaches the manager's API. */
export interface ApiInfo {
  name: string;
  pid: number;
  /** http://127.0.0.1:7780 for TCP; for a Unix socket, http://localhost plus socketPath. */
  url: string;
  socketPath?: string;
  /** The file holding the bearer token (mode 0600). */
  tokenFile: string;
  /** The dashboard's address (TCP only). */
  dashboard?: string;
}

export const apiInfoPath = (name: string): string => path.join(runDir(), `${name}.api.json`);
export const apiTokenPath = (name: string): string => path.join(runDir(), `${name}.token`);

/** Writes the token (0600, created exclusively after removing a stale one) and the info file. */
export function writeApiFiles(info: ApiInfo, token: string): void {
  ensureRunDir();
  for (const f of [info.tokenFile, apiInfoPath(info.name)]) fs.rmSync(f, { force: true });
  fs.writeFileSync(info.tokenFile, token + '\n', { mode: 0o600, flag: 'wx' });
  fs.writeFileSync(apiInfoPath(info.name), JSON.stringify(info, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
}

export function removeApiFiles(name: string, pid: number): void {
  // Only our own: a newer manager of the same name may have replaced them.
  const info = readApiInfoFile(name);
  if (info !== null && info.pid !== pid) return;
  fs.rmSync(apiInfoPath(name), { force: true });
  fs.rmSync(apiTokenPath(name), { force: true });
}

export function readApiInfoFile(name: string): ApiInfo | null {
  try {
    return JSON.parse(fs.readFileSync(apiInfoPath(name), 'utf8')) as ApiInfo;
  } catch {
    return null;
  }
}
