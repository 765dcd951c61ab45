// The manager's HTTP control plane (fastify): the JSON API under /api/v1, server-sent events,
// Prometheus /metrics, the OpenAPI description and the web dashboard. It runs in the
// manager's process and event loop: handlers call the Manager's methods between slices of
// the data-path loop.
//
// Access: the server listens on a loopback address or a Unix socket only (address.ts), and
// every /api and /metrics request must carry `Authorization: Bearer <token>`, a random token
// made at start and written to a file only the owner can read (RFC 6750 section 2.1). The
// dashboard's static files carry no data and need no token; the page gets the token from its
// URL fragment (which browsers never send to the server) and sends it as that header.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import swagger from '@fastify/swagger';
import { NetvmError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Manager } from '../manager/manager.js';
import { snapshot } from '../manager/stats.js';
import { apiTokenPath, readApiInfoFile, removeApiFiles, writeApiFiles, type ApiAddress, type ApiInfo } from './address.js';
import { processAlive } from '../core/region.js';
import { registerApiRoutes, registerEventStream } from './api-routes.js';
import { Metrics } from './metrics.js';
import { Sampler } from './sampler.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The package root, from src/control or dist/src/control. */
function packageRoot(): string {
  for (let d = here; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json'))) return d;
    if (path.dirname(d) === d) throw new NetvmError('NETVM_API', `cannot find netvm's package.json above ${here}`);
  }
}

/** HTTP status for each error code a handler may throw. */
const STATUS: Partial<Record<string, number>> = {
  NETVM_BAD_REQUEST: 400,
  NETVM_USAGE: 400,
  NETVM_CONFIG_INVALID: 400,
  NETVM_NF_LOAD: 400,
  NETVM_NF_ARGS: 400,
  NETVM_UNKNOWN_SERVICE: 404,
  NETVM_UNKNOWN_INSTANCE: 404,
  NETVM_UNKNOWN_CHAIN: 404,
  NETVM_UNKNOWN_RULE: 404,
  NETVM_UNKNOWN_PORT: 404,
  NETVM_CONFLICT: 409,
  NETVM_LIMIT: 409,
  NETVM_REGISTER: 422,
  NETVM_NOT_READY: 503,
};

const REASON: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  408: 'Request Timeout',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** The one shape of every refusal the API sends (docs/control-plane.md, "Errors"). */
function errorBody(status: number, code: string, message: string): { statusCode: number; code: string; error: string; message: string } {
  return { statusCode: status, code, error: REASON[status] ?? 'Error', message };
}

export interface ControlServerOptions {
  manager: Manager;
  address: ApiAddress;
  log: Logger;
  /** Instance name (the api/token files are named after it). */
  name: string;
  version: string;
  /** Sample period of the rate stream (tests shorten it). */
  sampleMs?: number;
}

export class ControlServer {
  readonly app: FastifyInstance;
  readonly token = crypto.randomBytes(32).toString('base64url');
  readonly sampler: Sampler;
  readonly metrics: Metrics;
  private readonly streams = new Set<FastifyReply>();
  /** The last 200 manager events, for clients that connect later. */
  private readonly recent: Record<string, unknown>[] = [];
  private readonly onEvent = (e: Record<string, unknown>): void => {
    this.recent.push(e);
    if (this.recent.length > 200) this.recent.shift();
  };
  private readonly opts: ControlServerOptions;
  info: ApiInfo | null = null;

  constructor(opts: ControlServerOptions) {
    this.opts = opts;
    const m = opts.manager;
    this.sampler = new Sampler(() => snapshot(m), opts.sampleMs ?? 1000);
    this.metrics = new Metrics(() => snapshot(m));
    m.events.on('event', this.onEvent);
    this.app = Fastify({
      loggerInstance: opts.log.child({ component: 'api' }) as FastifyBaseLogger,
      // Requests are logged at debug level by the onResponse hook below, not at info.
      logController: new LogController({ disableRequestLogging: true }),
      forceCloseConnections: true,
      bodyLimit: 1 << 20,
      // Requests are validated as they are: no type coercion, no stripped keys, so what the
      // schema does not allow is an error the caller sees.
      ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
      // A URL the router cannot decode (bad percent-escapes) or a path parameter over 100
      // characters: answered like every other refusal, with a NETVM_ code, before any route runs.
      // The token is still checked first, so without it every /api and /metrics URL answers 401
      // whatever its shape. Found by the control fuzz target (test/fuzz/targets/control.ts).
      frameworkErrors: (err, req, reply) => {
        const r = reply as unknown as FastifyReply;
        if (/^\/(api|metrics)(\/|\?|$)/.test(req.url) && !this.authorized(req.headers.authorization)) void this.refuseUnauthorized(r);
        else if (err.code === 'FST_ERR_MAX_PARAM_LENGTH')
          void r
            .code(414)
            .send(
              errorBody(414, 'NETVM_URL_TOO_LONG', 'a name in the URL is longer than 100 characters; names are 1-64 of A-Z a-z 0-9 _ . -'),
            );
        else
          void r
            .code(400)
            .send(
              errorBody(
                400,
                'NETVM_BAD_URL',
                'the URL is not valid: a percent-escape is malformed or does not decode to UTF-8 (RFC 3986 section 2.1)',
              ),
            );
      },
      // Requests the HTTP parser refuses (malformed request line or headers, RFC 9112) never reach
      // fastify: the answer is written on the socket, in the API's error format.
      clientErrorHandler: (err: NodeJS.ErrnoException, socket) => {
        if (err.code === 'ECONNRESET' || socket.destroyed) return;
        const [status, code, message] =
          err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [408, 'NETVM_REQUEST_TIMEOUT', 'the request was not received in time']
            : err.code === 'HPE_HEADER_OVERFLOW'
              ? [431, 'NETVM_HEADERS_TOO_LARGE', 'the request headers are larger than 16 KiB']
              : [400, 'NETVM_BAD_REQUEST', `the request is not valid HTTP/1.1 (${err.code ?? err.message})`];
        const body = JSON.stringify(errorBody(status, code, message));
        if (socket.writable)
          socket.write(
            `HTTP/1.1 ${status} ${REASON[status] ?? 'Error'}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`,
          );
        socket.destroy();
      },
    });
  }

  /** Registers everything and listens; throws NETVM_API_LISTEN with what to do when it cannot. */
  async listen(): Promise<ApiInfo> {
    const app = this.app;
    const { address, name } = this.opts;
    // The API files are per instance name: never take over those of a running manager.
    const other = readApiInfoFile(name);
    if (other !== null && other.pid !== process.pid && processAlive(other.pid))
      throw new NetvmError(
        'NETVM_REGION_EXISTS',
        `a netvm manager named "${name}" is already running (pid ${other.pid}, API ${other.url}); stop it, or choose another --name`,
      );
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'netvm control API',
          version: this.opts.version,
          description:
            'Control and observe a running netvm manager: NF instances, chains, flow rules, ports, counters, events. ' +
            'Every /api and /metrics request needs `Authorization: Bearer <token>`; the token is in the file the manager prints. ' +
            'Reference: docs/control-plane.md.',
        },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        tags: [
          { name: 'manager', description: 'The manager itself' },
          { name: 'nfs', description: 'Services and their NF instances' },
          { name: 'chains', description: 'Service chains' },
          { name: 'rules', description: 'Flow rules' },
          { name: 'ports', description: 'Ports' },
          { name: 'stats', description: 'Counters, rates, events, topology' },
        ],
      },
    });

    app.addHook('onRequest', async (req, reply) => {
      if ((req.routeOptions.config as { public?: boolean } | undefined)?.public === true) return;
      if (!this.authorized(req.headers.authorization)) return this.refuseUnauthorized(reply);
    });

    app.addHook('onResponse', async (req, reply) => {
      req.log.debug({ method: req.method, url: req.url.split('?')[0], status: reply.statusCode, ms: reply.elapsedTime }, 'request');
    });

    app.setErrorHandler((err: FastifyError, req, reply) => {
      let status: number;
      let code: string;
      if (err.validation !== undefined) {
        status = 400;
        code = 'NETVM_BAD_REQUEST';
      } else if (err instanceof NetvmError) {
        code = err.code;
        status = STATUS[code] ?? 500;
      } else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
        status = err.statusCode;
        code = 'NETVM_BAD_REQUEST';
      } else {
        status = 500;
        code = 'NETVM_INTERNAL';
      }
      if (status === 500) req.log.error({ err, url: req.url, method: req.method }, 'control API request failed');
      else req.log.debug({ url: req.url, method: req.method, status, code, msg: err.message }, 'control API request refused');
      return reply.code(status).send(errorBody(status, code, err.message));
    });

    app.setNotFoundHandler((req, reply) =>
      reply
        .code(404)
        .send(errorBody(404, 'NETVM_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}; the routes are listed in /openapi.json`)),
    );

    const deps = { manager: this.opts.manager, sampler: this.sampler, info: () => this.describe(), recentEvents: () => this.recent };
    registerApiRoutes(app, deps);
    registerEventStream(app, deps, this.streams);

    app.get(
      '/metrics',
      { schema: { tags: ['stats'], summary: 'Prometheus exposition of every counter.', security: [{ bearer: [] }] } },
      async (_req, reply) => {
        reply.header('content-type', this.metrics.contentType);
        return this.metrics.render();
      },
    );
    app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, () => app.swagger());
    this.registerDashboard();

    try {
      if (address.kind === 'tcp') await app.listen({ host: address.host, port: address.port });
      else {
        fs.rmSync(address.path, { force: true });
        await app.listen({ path: address.path });
        fs.chmodSync(address.path, 0o600);
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const where = address.kind === 'tcp' ? `${address.host}:${address.port}` : address.path;
      const why =
        e.code === 'EADDRINUSE'
          ? `${where} is already in use (another netvm manager, or another program); choose another with --api HOST:PORT (e.g. --api 127.0.0.1:7781), or --api off`
          : e.code === 'EADDRNOTAVAIL'
            ? `${where} is not an address of this host`
            : e.code === 'EACCES'
              ? `no permission to listen on ${where}`
              : `cannot listen on ${where}: ${e.message}`;
      await app.close().catch(() => {});
      throw new NetvmError('NETVM_API_LISTEN', `control API: ${why}`, { cause: err });
    }
    let url: string;
    let dashboard: string | undefined;
    if (address.kind === 'tcp') {
      const a = app.server.address();
      const port = typeof a === 'object' && a !== null ? a.port : address.port;
      const host = address.host.includes(':') ? `[${address.host}]` : address.host;
      url = `http://${host}:${port}`;
      dashboard = `${url}/`;
    } else url = 'http://localhost';
    this.info = {
      name,
      pid: process.pid,
      url,
      ...(address.kind === 'unix' ? { socketPath: address.path } : {}),
      tokenFile: apiTokenPath(name),
      ...(dashboard !== undefined ? { dashboard } : {}),
    };
    writeApiFiles(this.info, this.token);
    return this.info;
  }

  /** Starts the per-second rate samples; call once the manager runs. */
  startSampling(): void {
    this.sampler.start();
  }

  /** The dashboard URL with the token in its fragment (never sent to the server). */
  dashboardUrl(): string | null {
    return this.info?.dashboard !== undefined ? `${this.info.dashboard}#token=${this.token}` : null;
  }

  private describe(): Record<string, unknown> {
    return {
      name: this.opts.name,
      version: this.opts.version,
      pid: process.pid,
      url: this.info?.url,
      dashboard: this.info?.dashboard ?? null,
      config: this.opts.manager.opts.config.file,
    };
  }

  private refuseUnauthorized(reply: FastifyReply): FastifyReply {
    return reply
      .header('www-authenticate', 'Bearer realm="netvm"')
      .code(401)
      .send(
        errorBody(
          401,
          'NETVM_UNAUTHORIZED',
          `send "Authorization: Bearer <token>"; the token is in ${apiTokenPath(this.opts.name)} (readable by the manager's user only)`,
        ),
      );
  }

  private authorized(header: string | undefined): boolean {
    if (header === undefined) return false;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (m === null) return false;
    const got = Buffer.from(m[1]);
    const want = Buffer.from(this.token);
    return got.length === want.length && crypto.timingSafeEqual(got, want);
  }

  private registerDashboard(): void {
    const root = packageRoot();
    const web = path.join(root, 'web');
    const uplot = path.dirname(createRequire(import.meta.url).resolve('uplot/package.json'));
    const files: Record<string, { file: string; type: string }> = {
      '/': { file: path.join(web, 'index.html'), type: 'text/html; charset=utf-8' },
      '/app.js': { file: path.join(web, 'app.js'), type: 'text/javascript; charset=utf-8' },
      '/topology.js': { file: path.join(web, 'topology.js'), type: 'text/javascript; charset=utf-8' },
      '/style.css': { file: path.join(web, 'style.css'), type: 'text/css; charset=utf-8' },
      // uPlot (MIT), served from its npm package as it is.
      '/vendor/uPlot.iife.min.js': { file: path.join(uplot, 'dist', 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
      '/vendor/uPlot.min.css': { file: path.join(uplot, 'dist', 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
    };
    for (const [url, f] of Object.entries(files)) {
      this.app.get(url, { config: { public: true }, schema: { hide: true } }, async (_req, reply) => {
        let body: Buffer;
        try {
          body = await fs.promises.readFile(f.file);
        } catch {
          throw new NetvmError('NETVM_API', `dashboard file ${f.file} is missing from this installation`);
        }
        return reply
          .header('content-type', f.type)
          .header('cache-control', 'no-cache')
          .header('x-content-type-options', 'nosniff')
          .header(
            'content-security-policy',
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
          )
          .send(body);
      });
    }
    this.app.get('/favicon.ico', { config: { public: true }, schema: { hide: true } }, (_req, reply) => reply.code(204).send());
  }

  /** Ends event streams, stops sampling, closes the server, removes the api/token files. */
  async close(): Promise<void> {
    this.sampler.stop();
    this.opts.manager.events.off('event', this.onEvent);
    for (const r of this.streams) r.raw.end();
    this.streams.clear();
    await this.app.close().catch(() => {});
    if (this.info !== null) removeApiFiles(this.opts.name, process.pid);
    if (this.opts.address.kind === 'unix') fs.rmSync(this.opts.address.path, { force: true });
  }
}
