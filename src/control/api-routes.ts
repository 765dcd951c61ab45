// The routes of the control API (/api/v1/...), each with a JSON schema for what it takes —
// fastify validates requests with it (a bad request gets 400 naming the field) and
// @fastify/swagger builds the OpenAPI description from it. The manager does the work; see
// docs/control-plane.md for the reference.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CONFIG_SCHEMA } from '../config/schema.js';
import { NetvmError } from '../core/errors.js';
import type { Manager } from '../manager/manager.js';
import { snapshot, type StatsSnapshot } from '../manager/stats.js';
import { describeMatch, resolveMatch, type MatchSpec } from './rules.js';
import type { Sampler } from './sampler.js';

type JsonSchema = Record<string, unknown>;

const NAME = { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' };
const error = {
  type: 'object',
  description: 'What went wrong, and what to do.',
  properties: { statusCode: { type: 'integer' }, code: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' } },
};
const anyObject = { type: 'object', additionalProperties: true };
const errors = { 400: error, 401: error, 404: error, 409: error, 503: error };

const instanceItem = {
  type: 'object',
  additionalProperties: true,
  properties: {
    service: { type: 'string' },
    instance: { type: 'integer' },
    slot: { type: 'integer' },
    pid: { type: 'integer' },
    state: { type: 'string' },
    mode: { type: 'string' },
    nf: { type: 'string' },
    rx: { type: 'number' },
    tx: { type: 'number' },
  },
};

/** The rule object of the config schema, plus `position`. */
const ruleDef = CONFIG_SCHEMA.definitions!.rule as JsonSchema;
const ruleBody: JsonSchema = {
  ...ruleDef,
  properties: {
    ...(ruleDef.properties as JsonSchema),
    position: { type: 'integer', minimum: 0, description: 'Where to insert (0 = first); default: last.' },
  },
};
const serviceDef = CONFIG_SCHEMA.definitions!.service.properties!;

export interface RouteDeps {
  manager: Manager;
  sampler: Sampler;
  info: () => Record<string, unknown>;
  recentEvents: () => readonly Record<string, unknown>[];
}

export function registerApiRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const m = deps.manager;
  const ready = (): void => {
    if (!m.accepting) throw new NetvmError('NETVM_NOT_READY', 'the manager is not running (it is starting or stopping); retry');
  };
  const snap = (): StatsSnapshot => {
    ready();
    return snapshot(m);
  };
  const portNames = (): { name: string; id: number; input: boolean }[] => m.ports.map((p) => ({ name: p.name, id: p.id, input: p.input }));
  const tag = (t: string, summary: string, extra: JsonSchema = {}): { schema: JsonSchema } => ({
    schema: { tags: [t], summary, security: [{ bearer: [] }], ...extra },
  });

  const instances = (s: StatsSnapshot): Record<string, unknown>[] =>
    Object.entries(s.services).flatMap(([service, sv]) => sv.instances.map((i) => ({ service, ...i })));

  app.get('/api/v1', tag('manager', 'The manager: name, version, uptime, addresses.', { response: { 200: anyObject } }), () => {
    return { ...deps.info(), running: m.accepting, uptimeSeconds: m.uptimeSeconds() };
  });

  // ---------------------------------------------------------------- NFs and services

  app.get(
    '/api/v1/nfs',
    tag('nfs', 'NF instances with their counters.', { response: { 200: { type: 'array', items: instanceItem } } }),
    () => instances(snap()),
  );

  app.get(
    '/api/v1/services',
    tag('nfs', 'Services: NF, mode, desired instance count, instances.', { response: { 200: { type: 'array', items: anyObject } } }),
    () => {
      const s = snap();
      return m.services.map((sv) => ({
        name: sv.name,
        id: sv.id,
        nf: sv.nf,
        mode: sv.mode,
        args: sv.args,
        desired: sv.configured,
        instances: s.services[sv.name]?.instances ?? [],
        departed: s.services[sv.name]?.departed ?? { instances: 0 },
      }));
    },
  );

  app.post<{ Params: { service: string }; Body: { nf?: string; mode?: 'shared' | 'poll'; args?: Record<string, unknown> } | undefined }>(
    '/api/v1/services/:service/instances',
    tag('nfs', 'Start one instance of a service (creating the service when `nf` is given and the name is new).', {
      params: { type: 'object', required: ['service'], properties: { service: NAME } },
      body: {
        type: 'object',
        additionalProperties: false,
        properties: { nf: serviceDef.nf, mode: { enum: ['shared', 'poll'] }, args: { type: 'object' } },
      },
      response: { 201: instanceItem, ...errors, 422: error },
    }),
    async (req, reply) => {
      ready();
      const r = await m.startInstance(req.params.service, req.body ?? {});
      reply.code(201);
      return { ...r, state: 'active' };
    },
  );

  app.delete<{ Params: { service: string; instance: string } }>(
    '/api/v1/services/:service/instances/:instance',
    tag('nfs', 'Stop one instance: it leaves the service map, drains its ring, exits.', {
      params: {
        type: 'object',
        required: ['service', 'instance'],
        properties: { service: NAME, instance: { type: 'string', pattern: '^[0-9]{1,4}$' } },
      },
      response: { 200: anyObject, ...errors },
    }),
    (req) => {
      ready();
      return m.stopInstance(req.params.service, Number(req.params.instance));
    },
  );

  app.put<{ Params: { service: string }; Body: { instances: number } }>(
    '/api/v1/services/:service/scale',
    tag('nfs', 'Start or stop instances until `instances` run.', {
      params: { type: 'object', required: ['service'], properties: { service: NAME } },
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['instances'],
        properties: { instances: { type: 'integer', minimum: 0, maximum: 64 } },
      },
      response: { 200: anyObject, ...errors, 422: error },
    }),
    (req) => {
      ready();
      return m.scaleService(req.params.service, req.body.instances);
    },
  );

  // ---------------------------------------------------------------- chains

  const chainView = (): Record<string, unknown>[] => {
    const cfg = m.opts.config;
    const rules = m.ruleList();
    return cfg.chains.map((c) => ({
      name: c.name,
      default: c.id === cfg.defaultChain,
      steps: c.steps.map((st) => (st.kind === 'drop' ? 'drop' : st.name)),
      packets: m.chainPackets[c.id],
      rules: rules.filter((r) => r.rule.chainName === c.name).map((r) => r.id),
    }));
  };

  app.get(
    '/api/v1/chains',
    tag('chains', 'Chains, their steps, packets and the rules that use them.', { response: { 200: { type: 'array', items: anyObject } } }),
    () => {
      ready();
      return chainView();
    },
  );

  app.put<{ Params: { chain: string }; Body: { steps: string[] } }>(
    '/api/v1/chains/:chain',
    tag('chains', 'Create or replace a chain, live: new flows take the new steps at once, packets in flight finish the old ones.', {
      params: { type: 'object', required: ['chain'], properties: { chain: NAME } },
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['steps'],
        properties: {
          steps: { type: 'array', minItems: 1, maxItems: 15, items: { type: 'string', minLength: 1, maxLength: 64 } },
        },
      },
      response: { 200: anyObject, 201: anyObject, ...errors },
    }),
    async (req, reply) => {
      ready();
      const r = await m.setChain(req.params.chain, req.body.steps);
      reply.code(r.created ? 201 : 200);
      return r;
    },
  );

  app.delete<{ Params: { chain: string } }>(
    '/api/v1/chains/:chain',
    tag('chains', 'Remove a chain that no rule uses.', {
      params: { type: 'object', required: ['chain'], properties: { chain: NAME } },
      response: { 200: anyObject, ...errors },
    }),
    (req) => {
      ready();
      return m.removeChain(req.params.chain);
    },
  );

  // ---------------------------------------------------------------- rules

  const ruleView = (): Record<string, unknown>[] =>
    m.ruleList().map((r, position) => ({ id: r.id, position, match: describeMatch(r.rule.match, portNames()), chain: r.rule.chainName }));

  app.get(
    '/api/v1/rules',
    tag('rules', 'Flow rules in evaluation order (the first match wins).', { response: { 200: { type: 'array', items: anyObject } } }),
    () => {
      ready();
      return ruleView();
    },
  );

  app.post<{ Body: { match: MatchSpec; chain: string; position?: number } }>(
    '/api/v1/rules',
    tag('rules', 'Add a flow rule (config syntax); the flow table is emptied so every flow is matched again.', {
      body: ruleBody,
      response: { 201: anyObject, ...errors },
    }),
    async (req, reply) => {
      ready();
      const match = resolveMatch(req.body.match, portNames());
      const r = await m.addRule({ match, chainName: req.body.chain }, req.body.position);
      reply.code(201);
      return { ...r, match: describeMatch(match, portNames()), chain: req.body.chain };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/v1/rules/:id',
    tag('rules', 'Remove a flow rule by id.', {
      params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[0-9]{1,9}$' } } },
      response: { 200: anyObject, ...errors },
    }),
    (req) => {
      ready();
      return m.removeRule(Number(req.params.id));
    },
  );

  // ---------------------------------------------------------------- ports, counters, topology

  app.get(
    '/api/v1/ports',
    tag('ports', 'Ports with their driver, direction and counters.', { response: { 200: { type: 'array', items: anyObject } } }),
    () => {
      const s = snap();
      return m.ports.map((p) => ({
        name: p.name,
        id: p.id,
        driver: p.driver.kind,
        input: p.input,
        output: p.output,
        counters: s.ports[p.name],
      }));
    },
  );

  app.get(
    '/api/v1/stats',
    tag('stats', 'Every counter: the JSON of `netvm stats --json` and `--stats-json`.', { response: { 200: anyObject } }),
    () => snap(),
  );

  app.get<{ Querystring: { since?: string } }>(
    '/api/v1/samples',
    tag('stats', 'Per-second rate samples of the last minutes (oldest first).', {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          since: { type: 'string', pattern: '^[0-9]{1,16}$', description: 'Only samples after this time (ms since the epoch).' },
        },
      },
      response: { 200: { type: 'array', items: anyObject } },
    }),
    (req) => {
      const since = req.query.since === undefined ? -1 : Number(req.query.since);
      return deps.sampler.history.filter((s) => s.t > since);
    },
  );

  app.get(
    '/api/v1/events/recent',
    tag('stats', 'The latest NF lifecycle and configuration events (oldest first), as the event stream sends them.', {
      response: { 200: { type: 'array', items: anyObject } },
    }),
    () => deps.recentEvents(),
  );

  app.get(
    '/api/v1/topology',
    tag('stats', 'Ports, services with their instances, chains and rules: what the dashboard draws.', { response: { 200: anyObject } }),
    () => {
      const s = snap();
      const cfg = m.opts.config;
      return {
        ports: m.ports.map((p) => ({ name: p.name, driver: p.driver.kind, input: p.input, output: p.output })),
        services: m.services.map((sv) => ({
          name: sv.name,
          nf: sv.nf,
          mode: sv.mode,
          desired: sv.configured,
          instances: (s.services[sv.name]?.instances ?? []).map((i) => ({
            instance: i.instance,
            slot: i.slot,
            pid: i.pid,
            state: i.state,
          })),
        })),
        chains: chainView(),
        rules: ruleView(),
        defaultChain: cfg.chains.find((c) => c.id === cfg.defaultChain)?.name ?? null,
      };
    },
  );
}

/** `GET /api/v1/events`: server-sent events (text/event-stream, one JSON object per event). */
export function registerEventStream(app: FastifyInstance, deps: RouteDeps, streams: Set<FastifyReply>): void {
  app.get(
    '/api/v1/events',
    {
      schema: {
        tags: ['stats'],
        summary:
          'Server-sent events: `sample` (per-second rates, as /api/v1/samples), `nf-ready`, `nf-stopping`, `nf-exit`, `scaled`, `service-added`, `chain-added`, `chain-replaced`, `chain-removed`, `rule-added`, `rule-removed`.',
        security: [{ bearer: [] }],
        response: { 200: { description: 'text/event-stream', type: 'string' } },
      },
    },
    (req: FastifyRequest, reply: FastifyReply) => {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      const send = (event: string, data: unknown): void => {
        if (!res.writableEnded) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      };
      res.write('retry: 2000\n\n');
      send('hello', deps.info());
      const onSample = (s: unknown): void => send('sample', s);
      const onEvent = (e: { type: string }): void => send(e.type, e);
      // A comment line now and then keeps proxies and idle timers from closing the stream.
      const keepAlive = setInterval(() => {
        if (!res.writableEnded) res.write(': keep-alive\n\n');
      }, 15_000);
      deps.sampler.on('sample', onSample);
      deps.manager.events.on('event', onEvent);
      streams.add(reply);
      const close = (): void => {
        clearInterval(keepAlive);
        deps.sampler.off('sample', onSample);
        deps.manager.events.off('event', onEvent);
        streams.delete(reply);
      };
      req.raw.on('close', close);
      res.on('close', close);
    },
  );
}
