// Target "control": the HTTP control API of a real running manager (`netvm start`, generator
// traffic flowing through two chains). Each case sends one request built from the API's own
// routes: the right or a wrong method; path parameters that are real names, odd names
// (`__proto__`, `..`, percent-escapes, 300 characters, huge or negative numbers) or random
// bytes; a valid, missing, wrong or malformed bearer token; and a body that is absent, valid,
// a mutated JSON tree (keys deleted, added, renamed to `__proto__`; values of the wrong type,
// edge numbers, long strings, deep nesting), bytes that are not JSON, a wrong content type, or
// larger than the 1 MiB body limit. Valid requests change the manager (rules added, chains
// replaced, instances started and stopped), so later cases meet a manager in many states.
//
// Invariants: every request is answered within 10 s; never with a 5xx (a 503 only as
// NETVM_NOT_READY); every error is JSON with a NETVM_ code and a message; a request without
// the right token gets 401 on every /api and /metrics path; the manager answers GET /api/v1
// every 20 cases and is still running at the end; stopped with SIGINT, it exits 0 and its
// final counters add up (received = transmitted + dropped + in flight) — the API cannot make
// it lose a buffer.
//
// Replay: a case's outcome can depend on what earlier cases changed, so replay a failing case
// with `--from 0 --cases <index + 1>`. GET /api/v1/events (a stream that stays open) is left
// to test/e2e/control-api.test.ts.
import http from 'node:http';
import net from 'node:net';
import type { ApiEndpoint } from '../../../src/control/client.js';
import { API_TEST_CONFIG as CONFIG, startManager, type RunningManager } from '../../helpers/control.js';
import { balance, type StatsJson as AccountingStats } from '../../helpers/accounting.js';
import type { Rng } from '../prng.js';
import { check, defineTarget, FuzzFailure } from '../registry.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

interface Route {
  method: string;
  path: string;
  /** Bodies the route accepts (seeds for mutation). */
  bodies?: Json[];
}

const ROUTES: Route[] = [
  { method: 'GET', path: '/api/v1' },
  { method: 'GET', path: '/api/v1/nfs' },
  { method: 'GET', path: '/api/v1/services' },
  { method: 'POST', path: '/api/v1/services/:service/instances', bodies: [{}, { mode: 'poll' }, { nf: 'forward', args: {} }] },
  { method: 'DELETE', path: '/api/v1/services/:service/instances/:instance' },
  { method: 'PUT', path: '/api/v1/services/:service/scale', bodies: [{ instances: 1 }, { instances: 2 }, { instances: 0 }] },
  { method: 'GET', path: '/api/v1/chains' },
  {
    method: 'PUT',
    path: '/api/v1/chains/:chain',
    bodies: [{ steps: ['sink'] }, { steps: ['fwd', 'sink'] }, { steps: ['mon', 'fwd', 'sink2'] }],
  },
  { method: 'DELETE', path: '/api/v1/chains/:chain' },
  { method: 'GET', path: '/api/v1/rules' },
  {
    method: 'POST',
    path: '/api/v1/rules',
    bodies: [
      { match: { proto: 'udp' }, chain: 'default' },
      { match: { proto: 'tcp', dstPort: 80 }, chain: 'side', position: 0 },
      { match: { src: '198.18.0.0/16', inPort: 'gen' }, chain: 'default' },
    ],
  },
  { method: 'DELETE', path: '/api/v1/rules/:id' },
  { method: 'GET', path: '/api/v1/ports' },
  { method: 'GET', path: '/api/v1/stats' },
  { method: 'GET', path: '/api/v1/samples' },
  { method: 'GET', path: '/api/v1/events/recent' },
  { method: 'GET', path: '/api/v1/topology' },
  { method: 'GET', path: '/metrics' },
  { method: 'GET', path: '/openapi.json' },
];

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];
const NAMES: Record<string, string[]> = {
  service: ['fwd', 'mon', 'sink', 'nope'],
  instance: ['0', '1', '2', '3', '99'],
  chain: ['default', 'side', 'x', 'y', 'sink'],
  id: ['0', '1', '2', '3', '10'],
};
const ODD = [
  '__proto__',
  'constructor',
  'prototype',
  '..',
  '.',
  '%2e%2e',
  '%00',
  '%ff',
  '%',
  '-1',
  '1.5',
  '1e999',
  '9007199254740993',
  '0x10',
  '%20',
  'a'.repeat(300),
  '%E2%82%AC',
  'fwd%2Fsink',
  '',
];
const STATUSES = new Set([200, 201, 202, 204, 400, 401, 404, 405, 406, 409, 413, 414, 415, 422, 431, 503]);

interface Req {
  /** Bytes written as they are on a fresh connection instead of an HTTP request (malformed HTTP). */
  raw?: Buffer;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** The request carries the right token. */
  authorized: boolean;
  what: string;
}

interface State {
  m: RunningManager;
  ep: ApiEndpoint;
  sent: number;
  mutated: number;
  finalBalance?: string;
}

function randomSegment(rng: Rng): string {
  const n = rng.int(1, 12);
  let s = '';
  for (let i = 0; i < n; i++) {
    const b = rng.byte();
    s += /[A-Za-z0-9_.-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`;
  }
  return s;
}

function fillPath(rng: Rng, template: string): string {
  return template.replace(/:([a-z]+)/g, (_m, p: string) =>
    rng.weighted<() => string>([
      [6, () => rng.pick(NAMES[p] ?? ['x'])],
      [3, () => rng.pick(ODD)],
      [1, () => randomSegment(rng)],
    ])(),
  );
}

const EDGE: Json[] = [0, -1, 1.5, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, '', 'x'.repeat(5000), true, false, null, [], {}, '0', 'NaN'];

function randomValue(rng: Rng, depth = 0): Json {
  return rng.weighted<() => Json>([
    [4, () => rng.pick(EDGE)],
    [2, () => rng.int(-5, 70000)],
    [2, () => rng.pick(['fwd', 'mon', 'sink', 'sink2', 'default', 'side', 'forward', 'udp', 'tcp', 'poll', 'shared', 'gen'])],
    [1, () => (depth < 3 ? [randomValue(rng, depth + 1), randomValue(rng, depth + 1)] : [])],
    [
      1,
      () =>
        depth < 3
          ? { [rng.pick(['steps', 'match', 'chain', 'instances', 'nf', 'args', 'mode', 'position'])]: randomValue(rng, depth + 1) }
          : {},
    ],
  ])();
}

function deepNest(n: number): Json {
  let v: Json = 1;
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

function mutate(rng: Rng, v: Json, depth = 0): Json {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const o: { [k: string]: Json } = { ...v };
    const keys = Object.keys(o);
    const op = rng.below(6);
    if (op === 0 && keys.length > 0) delete o[rng.pick(keys)];
    else if (op === 1) o[rng.pick(['extra', 'instances', 'steps', 'chain', 'match', 'position', 'nf', 'args', 'mode'])] = randomValue(rng);
    else if (op === 2 && keys.length > 0) {
      const k = rng.pick(keys);
      o[k] = depth < 3 ? mutate(rng, o[k], depth + 1) : randomValue(rng);
    } else if (op === 3) {
      // A literal "__proto__" key, as JSON.parse makes it: an own property, not the prototype.
      return JSON.parse(
        JSON.stringify(o).replace(/^\{/, `{"__proto__":${JSON.stringify(randomValue(rng))}${keys.length > 0 ? ',' : ''}`),
      ) as Json;
    } else if (op === 4 && keys.length > 0) o[rng.pick(keys)] = randomValue(rng);
    else return randomValue(rng);
    return o;
  }
  if (Array.isArray(v)) {
    const a = [...v];
    if (a.length > 0 && rng.bool()) a[rng.below(a.length)] = randomValue(rng);
    else a.push(randomValue(rng));
    return a;
  }
  return randomValue(rng);
}

/** Requests the HTTP parser must refuse (RFC 9112): the answer comes from the server's clientError handler. */
function makeRawRequest(rng: Rng, token: string): Req {
  const auth = `Authorization: Bearer ${token}\r\n`;
  const raw = rng.pick<() => string>([
    () => `GET /api/v1/chains/a b HTTP/1.1\r\nHost: x\r\n${auth}\r\n`,
    () => `GET /api/v1 HTTP/1.1\r\nHost: x\r\n${auth}X-Pad: ${'p'.repeat(20_000)}\r\n\r\n`,
    () => `GET /api/v1 HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n${auth}\r\n`,
    () => `GET /api/v1 HTTP/9.9\r\nHost: x\r\n${auth}\r\n`,
    () => `POST /api/v1/rules HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 5\r\nContent-Length: 7\r\n\r\n{}`,
    () => `POST /api/v1/rules HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\nzz\r\n`,
    () => {
      let g = '';
      for (let i = rng.int(1, 200); i > 0; i--) g += String.fromCharCode(rng.byte());
      return `${g}\r\n\r\n`;
    },
  ])();
  return {
    raw: Buffer.from(raw, 'latin1'),
    method: 'RAW',
    path: JSON.stringify(raw.slice(0, 60)),
    headers: {},
    authorized: true,
    what: 'malformed HTTP',
  };
}

function makeRequest(rng: Rng, token: string): Req {
  if (rng.chance(0.04)) return makeRawRequest(rng, token);
  const route = rng.pick(ROUTES);
  let method = rng.chance(0.85) ? route.method : rng.pick(METHODS);
  let path = rng.chance(0.05) ? `/${randomSegment(rng)}/${randomSegment(rng)}` : fillPath(rng, route.path);
  if (rng.chance(0.1)) path += `?${rng.pick(['since=', 'since=-1', 'since=abc', 'since=1e400', 'x=1&x=2', '%zz', 'since=5'])}`;
  if (rng.chance(0.03)) path += '/';
  const headers: Record<string, string> = {};
  const auth = rng.weighted<string>([
    [88, 'good'],
    [4, 'none'],
    [4, 'wrong'],
    [4, 'malformed'],
  ]);
  if (auth === 'good') headers.authorization = `Bearer ${token}`;
  else if (auth === 'wrong') headers.authorization = `Bearer ${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
  else if (auth === 'malformed')
    headers.authorization = rng.pick([`bearer${token}`, `Basic ${token}`, 'Bearer', `Bearer  ${token} x`, `Bearer ${token.slice(1)}`]);
  let body: Buffer | undefined;
  let what = 'no body';
  const seeds = route.bodies ?? [{}];
  const kind = rng.weighted<string>([
    [route.bodies !== undefined ? 2 : 6, 'none'],
    [3, 'valid'],
    [6, 'mutated'],
    [1, 'garbage'],
    [1, 'wrong type'],
    [1, 'deep'],
    [0.3, 'huge'],
  ]);
  if (kind !== 'none') {
    headers['content-type'] = 'application/json';
    if (kind === 'valid') body = Buffer.from(JSON.stringify(rng.pick(seeds)));
    else if (kind === 'mutated') body = Buffer.from(JSON.stringify(mutate(rng, rng.pick(seeds))));
    else if (kind === 'garbage') {
      const n = rng.int(0, 64);
      body = Buffer.alloc(n);
      for (let i = 0; i < n; i++) body[i] = rng.byte();
      if (rng.bool()) body = Buffer.concat([Buffer.from('{"steps":["sink"'), body]);
    } else if (kind === 'wrong type') {
      headers['content-type'] = rng.pick([
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/json; charset=latin1',
        'multipart/form-data',
        '',
      ]);
      body = Buffer.from(JSON.stringify(rng.pick(seeds)));
    } else if (kind === 'deep') body = Buffer.from(JSON.stringify(deepNest(rng.int(100, 3000))));
    else body = Buffer.from(`{"steps":["${'a'.repeat((1 << 20) + 10)}"]}`);
    what = kind;
    // Half the time, POST/PUT on a route that takes a body; else whatever the method was.
    if (route.bodies !== undefined && method === 'GET') method = route.method;
  }
  return { method, path, headers, body, authorized: auth === 'good', what };
}

function sendRaw(ep: ApiEndpoint, raw: Buffer): Promise<{ status: number; type: string; text: string }> {
  const u = ep.info.socketPath === undefined ? new URL(ep.info.url as string) : null;
  return new Promise((resolve, reject) => {
    const sock = u === null ? net.connect(ep.info.socketPath as string) : net.connect(Number(u.port), u.hostname.replace(/^\[|\]$/g, ''));
    const chunks: Buffer[] = [];
    sock.setTimeout(10_000, () =>
      sock.destroy(new FuzzFailure(`no answer within 10 s to malformed HTTP ${JSON.stringify(raw.subarray(0, 60).toString('latin1'))}`)),
    );
    sock.on('data', (c: Buffer) => chunks.push(c));
    // The server may close before reading everything it was sent; what it answered still counts.
    sock.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    sock.on('close', () => {
      const all = Buffer.concat(chunks).toString('utf8');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(all);
      const head = all.slice(0, Math.max(0, all.indexOf('\r\n\r\n')));
      resolve({
        status: m === null ? 0 : Number(m[1]),
        type: /content-type: *([^\r\n]*)/i.exec(head)?.[1] ?? '',
        text: all.indexOf('\r\n\r\n') >= 0 ? all.slice(all.indexOf('\r\n\r\n') + 4) : all,
      });
    });
    sock.end(raw);
  });
}

function send(ep: ApiEndpoint, r: Req): Promise<{ status: number; type: string; text: string }> {
  if (r.raw !== undefined) return sendRaw(ep, r.raw);
  const base =
    ep.info.socketPath !== undefined
      ? { socketPath: ep.info.socketPath }
      : (() => {
          const u = new URL(ep.info.url as string);
          return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port };
        })();
  return new Promise((resolve, reject) => {
    // A connection per request (no keep-alive): a body the server refused unread must not be
    // parsed as the next request.
    const headers = { ...r.headers, ...(r.body !== undefined ? { 'content-length': String(r.body.length) } : {}) };
    const req = http.request({ ...base, agent: false, method: r.method, path: r.path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers['content-type'] ?? ''),
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new FuzzFailure(`no answer within 10 s to ${r.method} ${r.path.slice(0, 120)}`)));
    req.on('error', (err) => {
      // The server may close the connection on a body over the limit before reading it all.
      if ((err as NodeJS.ErrnoException).code === 'EPIPE' || (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
        if (r.body !== undefined && r.body.length > 1 << 20)
          return resolve({ status: 413, type: 'application/json', text: '{"code":"NETVM_BAD_REQUEST","message":"closed"}' });
      }
      reject(err);
    });
    req.end(r.body);
  });
}

async function alive(s: State): Promise<void> {
  check(s.m.proc.child.exitCode === null, () => `the manager exited (code ${s.m.proc.child.exitCode})\n${s.m.proc.stderr().slice(-2000)}`);
  const r = await send(s.ep, {
    method: 'GET',
    path: '/api/v1',
    headers: { authorization: `Bearer ${s.ep.token}` },
    authorized: true,
    what: 'probe',
  });
  check(
    r.status === 200 && (JSON.parse(r.text) as { running?: boolean }).running === true,
    `GET /api/v1 answered ${r.status} ${r.text.slice(0, 200)}`,
  );
}

export default defineTarget<State>({
  name: 'control',
  description:
    'HTTP control API of a running manager: mutated routes, tokens and bodies; no 5xx, errors coded, manager keeps running, counters add up',
  ciCases: 300,
  async setup() {
    const m = await startManager('fuzz-api', CONFIG);
    return { m, ep: m.ep, sent: 0, mutated: 0 };
  },
  async run(s, rng, index) {
    const r = makeRequest(rng, s.ep.token as string);
    const res = await send(s.ep, r);
    s.sent++;
    const where = `${r.method} ${r.path.slice(0, 160)} (${r.what}, ${r.authorized ? 'token' : 'no/bad token'})`;
    check(STATUSES.has(res.status), `${where}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
    let code = '';
    // A HEAD answer has headers only (RFC 9110 section 9.3.2): its status is all there is to check.
    if (res.status >= 400 && r.method !== 'HEAD') {
      let body: { code?: unknown; message?: unknown } = {};
      try {
        body = JSON.parse(res.text) as typeof body;
      } catch {
        throw new FuzzFailure(`${where}: HTTP ${res.status} with a body that is not JSON: ${res.text.slice(0, 200)}`);
      }
      check(
        typeof body.code === 'string' && body.code.startsWith('NETVM_'),
        `${where}: HTTP ${res.status} without a NETVM_ code: ${res.text.slice(0, 200)}`,
      );
      check(typeof body.message === 'string' && body.message.length > 0, `${where}: HTTP ${res.status} without a message`);
      code = body.code as string;
      check(res.status !== 503 || code === 'NETVM_NOT_READY', `${where}: 503 ${code}`);
    } else if (r.method !== 'GET' && r.method !== 'HEAD' && r.method !== 'OPTIONS') s.mutated++;
    check(r.raw === undefined || res.status === 400 || res.status === 431, `${where}: malformed HTTP answered ${res.status}`);
    const protectedPath = r.raw === undefined && /^\/(api|metrics)(\/|\?|$)/.test(r.path);
    if (!r.authorized && protectedPath) check(res.status === 401, `${where}: answered ${res.status} without the right token`);
    if (index % 20 === 19) await alive(s);
    return res.status >= 400 ? `${res.status} ${code}` : `${res.status}`;
  },
  summary(s) {
    return [`${s.sent} requests, ${s.mutated} of them changed the manager`, ...(s.finalBalance ? [s.finalBalance] : [])];
  },
  async teardown(s) {
    await alive(s);
    const { stats } = await s.m.stop(0);
    const b = balance(stats as unknown as AccountingStats);
    s.finalBalance = `after SIGINT: received ${b.received}, transmitted ${b.transmitted}, dropped ${b.dropped}, in flight ${b.inFlight}, unaccounted ${b.unaccounted}`;
    check(b.unaccounted === 0, s.finalBalance);
  },
});
