// The CLI's side of the control API: finds a running manager's address and token by its
// instance name (the files the manager writes next to its control socket), sends requests,
// and reads the event stream. node:http, so a Unix-socket API works as well as TCP.
import fs from 'node:fs';
import http from 'node:http';
import { NetvmError, type NetvmErrorCode } from '../core/errors.js';
import { processAlive } from '../core/region.js';
import { apiInfoPath, readApiInfoFile, type ApiInfo } from './address.js';

export interface ApiEndpoint {
  info: ApiInfo;
  token: string;
}

/** The API of manager `name`, or a NETVM_MANAGER_UNREACHABLE error that says what to do. */
export function discover(name: string): ApiEndpoint {
  const info = readApiInfoFile(name);
  if (info === null)
    throw new NetvmError(
      'NETVM_MANAGER_UNREACHABLE',
      `no control API for netvm manager "${name}" (no ${apiInfoPath(name)}); start one with \`netvm start --config FILE\`` +
        ' (its API must not be --api off), or pass --name for another instance',
    );
  if (!processAlive(info.pid))
    throw new NetvmError(
      'NETVM_MANAGER_UNREACHABLE',
      `netvm manager "${name}" (pid ${info.pid}) is not running; ${apiInfoPath(name)} is stale`,
    );
  let token: string;
  try {
    token = fs.readFileSync(info.tokenFile, 'utf8').trim();
  } catch (err) {
    throw new NetvmError(
      'NETVM_MANAGER_UNREACHABLE',
      `cannot read the API token ${info.tokenFile} (${(err as NodeJS.ErrnoException).code ?? String(err)}); run as the manager's user`,
    );
  }
  return { info, token };
}

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
  headers: http.IncomingHttpHeaders;
}

function requestOptions(ep: ApiEndpoint, method: string, urlPath: string, token: string | null): http.RequestOptions {
  const u = new URL(urlPath, ep.info.url);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  return ep.info.socketPath !== undefined
    ? { socketPath: ep.info.socketPath, path: u.pathname + u.search, method, headers }
    : { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port, path: u.pathname + u.search, method, headers };
}

/** One request; the body parsed as JSON when it is JSON. Never throws for an HTTP status. */
export function apiRequest<T = unknown>(
  ep: ApiEndpoint,
  method: string,
  urlPath: string,
  body?: unknown,
  opts: { token?: string | null; timeoutMs?: number } = {},
): Promise<ApiResponse<T>> {
  const o = requestOptions(ep, method, urlPath, opts.token === undefined ? ep.token : opts.token);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  if (payload !== undefined) (o.headers as Record<string, string>)['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = http.request(o, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        if ((res.headers['content-type'] ?? '').includes('json') && text.length > 0) {
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = text;
          }
        }
        resolve({ status: res.statusCode ?? 0, body: parsed as T, headers: res.headers });
      });
    });
    req.setTimeout(opts.timeoutMs ?? 60_000, () => req.destroy(new Error('timed out')));
    req.on('error', (err) =>
      reject(
        new NetvmError(
          'NETVM_MANAGER_UNREACHABLE',
          `cannot reach the control API at ${ep.info.socketPath ?? ep.info.url} (${(err as NodeJS.ErrnoException).code ?? err.message})`,
        ),
      ),
    );
    if (payload !== undefined) req.end(payload);
    else req.end();
  });
}

/** As apiRequest, but a status >= 400 becomes the NetvmError the server described. */
export async function apiCall<T = unknown>(ep: ApiEndpoint, method: string, urlPath: string, body?: unknown): Promise<T> {
  const r = await apiRequest<T>(ep, method, urlPath, body);
  if (r.status >= 400) {
    const b = r.body as { code?: string; message?: string } | string;
    const code = (typeof b === 'object' && b !== null && typeof b.code === 'string' ? b.code : 'NETVM_API') as NetvmErrorCode;
    const msg = typeof b === 'object' && b !== null && typeof b.message === 'string' ? b.message : String(b);
    throw new NetvmError(code, `${msg} (HTTP ${r.status})`);
  }
  return r.body;
}

export interface EventStream {
  close(): void;
  /** Resolves when the stream ends (the manager stopped, or close()). */
  ended: Promise<void>;
}

/** Reads `GET /api/v1/events` (server-sent events), calling onEvent(type, data) for each. */
export function openEventStream(ep: ApiEndpoint, onEvent: (type: string, data: unknown) => void): EventStream {
  const o = requestOptions(ep, 'GET', '/api/v1/events', ep.token);
  (o.headers as Record<string, string>).accept = 'text/event-stream';
  let req: http.ClientRequest | null = null;
  const ended = new Promise<void>((resolve, reject) => {
    req = http.request(o, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new NetvmError('NETVM_API', `event stream: HTTP ${res.statusCode}`));
        return;
      }
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        // Events end with a blank line (WHATWG HTML, "Server-sent events", 9.2.6).
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let type = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) type = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
          }
          if (data.length === 0) continue;
          try {
            onEvent(type, JSON.parse(data.join('\n')));
          } catch {
            onEvent(type, data.join('\n'));
          }
        }
      });
      res.on('end', () => resolve());
      res.on('error', () => resolve());
    });
    req.on('error', (err) =>
      reject(new NetvmError('NETVM_MANAGER_UNREACHABLE', `event stream: ${(err as NodeJS.ErrnoException).code ?? err.message}`)),
    );
    req.end();
  });
  return {
    close: () => (req as http.ClientRequest | null)?.destroy(),
    ended: ended.catch((err: unknown) => {
      if ((err as NetvmError).code === 'NETVM_MANAGER_UNREACHABLE' && (req as http.ClientRequest | null)?.destroyed) return;
      throw err;
    }),
  };
}
