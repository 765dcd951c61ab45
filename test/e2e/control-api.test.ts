// End to end: the HTTP control API of a running manager (`netvm start`), every route with and
// without its token, good and bad input, the OpenAPI description, /metrics and the event
// stream; then how the API refuses to listen where it must not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { apiRequest, openEventStream, type ApiEndpoint } from '../../src/control/client.js';
import { apiInfoPath, apiTokenPath } from '../../src/control/address.js';
import { runCli, startCli, tmpDir, uniqueName, waitFor, describeFailure, repoRoot } from '../helpers/cli.js';
import { API_TEST_CONFIG as CONFIG, startManager } from '../helpers/control.js';

/** Every route of the API, with a request that would succeed given the token. */
const ROUTES: [string, string, unknown?][] = [
  ['GET', '/api/v1'],
  ['GET', '/api/v1/nfs'],
  ['GET', '/api/v1/services'],
  ['POST', '/api/v1/services/fwd/instances', {}],
  ['DELETE', '/api/v1/services/fwd/instances/1'],
  ['PUT', '/api/v1/services/fwd/scale', { instances: 2 }],
  ['GET', '/api/v1/chains'],
  ['PUT', '/api/v1/chains/x', { steps: ['sink'] }],
  ['DELETE', '/api/v1/chains/side'],
  ['GET', '/api/v1/rules'],
  ['POST', '/api/v1/rules', { match: { proto: 'udp' }, chain: 'default' }],
  ['DELETE', '/api/v1/rules/1'],
  ['GET', '/api/v1/ports'],
  ['GET', '/api/v1/stats'],
  ['GET', '/api/v1/samples'],
  ['GET', '/api/v1/events'],
  ['GET', '/api/v1/events/recent'],
  ['GET', '/api/v1/topology'],
  ['GET', '/metrics'],
];

type Obj = Record<string, unknown>;
const req = <T = Obj>(ep: ApiEndpoint, method: string, p: string, body?: unknown) => apiRequest<T>(ep, method, p, body);

test('e2e: control API — every route, token, bad input, OpenAPI, metrics, events', async (t) => {
  const m = await startManager('api', CONFIG);
  const events: { type: string; data: Obj }[] = [];
  const stream = openEventStream(m.ep, (type, data) => events.push({ type, data: data as Obj }));
  try {
    await t.test('the token file and the API file are readable by the owner only', () => {
      for (const f of [apiTokenPath(m.name), apiInfoPath(m.name)]) assert.equal(fs.statSync(f).mode & 0o777, 0o600, f);
      const info = JSON.parse(fs.readFileSync(apiInfoPath(m.name), 'utf8')) as Obj;
      assert.match(String(info.url), /^http:\/\/127\.0\.0\.1:[0-9]+$/);
      assert.equal(info.tokenFile, apiTokenPath(m.name));
      assert.match(m.proc.stderr(), new RegExp(`netvm: dashboard ${String(info.url)}/#token=${m.ep.token}`));
    });

    await t.test('every route answers 401 without the token, with a wrong one, or with another scheme', async () => {
      for (const [method, p, body] of ROUTES) {
        for (const token of [null, 'x'.repeat(43), m.ep.token.slice(0, -1) + (m.ep.token.endsWith('A') ? 'B' : 'A')]) {
          const r = await apiRequest<Obj>(m.ep, method, p, body, { token });
          assert.equal(r.status, 401, `${method} ${p} with ${token === null ? 'no' : 'a wrong'} token`);
          assert.equal(r.body.code, 'NETVM_UNAUTHORIZED');
          assert.match(String(r.body.message), new RegExp(apiTokenPath(m.name).replace(/\./g, '\\.')));
          assert.match(String(r.headers['www-authenticate']), /^Bearer/);
        }
      }
      // The right token under another scheme is refused too.
      const basic = Buffer.from(`netvm:${m.ep.token}`).toString('base64');
      for (const auth of [`Basic ${basic}`, m.ep.token, `Bearer ${m.ep.token} extra`]) {
        const r = await rawRequest(m.ep, 'GET', '/api/v1/nfs', { authorization: auth }, '');
        assert.equal(r.status, 401, auth);
      }
    });

    await t.test('read routes: manager, NFs, services, chains, rules, ports, stats, samples, topology', async () => {
      const info = await req(m.ep, 'GET', '/api/v1');
      assert.equal(info.status, 200);
      assert.equal(info.body.name, m.name);
      assert.equal(info.body.running, true);

      const nfs = await waitFor('fwd instances to move packets', async () => {
        const r = await req<Obj[]>(m.ep, 'GET', '/api/v1/nfs');
        return r.body.filter((i) => i.service === 'fwd' && (i.rx as number) > 0).length === 2 ? r.body : undefined;
      });
      assert.deepEqual(nfs.map((i) => `${String(i.service)}#${String(i.instance)}`).sort(), ['fwd#1', 'fwd#2', 'mon#1']);

      const services = (await req<Obj[]>(m.ep, 'GET', '/api/v1/services')).body;
      assert.deepEqual(
        services.map((s) => [s.name, s.nf, s.desired, (s.instances as unknown[]).length]),
        [
          ['fwd', 'forward', 2, 2],
          ['mon', 'monitor', 1, 1],
        ],
      );

      const chains = (await req<Obj[]>(m.ep, 'GET', '/api/v1/chains')).body;
      assert.deepEqual(
        chains.map((c) => [c.name, c.default, c.steps, c.rules]),
        [
          ['default', true, ['fwd', 'sink'], []],
          ['side', false, ['mon', 'sink2'], [1]],
        ],
      );
      assert.ok((chains[0].packets as number) > 0);

      const rules = (await req<Obj[]>(m.ep, 'GET', '/api/v1/rules')).body;
      assert.deepEqual(rules, [{ id: 1, position: 0, match: { proto: 'tcp' }, chain: 'side' }]);

      const ports = (await req<Obj[]>(m.ep, 'GET', '/api/v1/ports')).body;
      assert.deepEqual(
        ports.map((p) => [p.name, p.driver, p.input, p.output]),
        [
          ['gen', 'generator', true, false],
          ['sink', 'sink', false, true],
          ['sink2', 'sink', false, true],
        ],
      );

      // The same JSON as `netvm stats --json` (over the control socket).
      const api = (await req<Obj>(m.ep, 'GET', '/api/v1/stats')).body;
      const cli = await runCli(['stats', '--name', m.name, '--json']);
      assert.equal(cli.code, 0, describeFailure(cli));
      const sock = JSON.parse(cli.stdout) as Obj;
      assert.deepEqual(Object.keys(api).sort(), Object.keys(sock).sort());
      assert.deepEqual(Object.keys(api.ports as Obj), Object.keys(sock.ports as Obj));
      assert.deepEqual(Object.keys((api.ports as Obj).gen as Obj).sort(), Object.keys((sock.ports as Obj).gen as Obj).sort());
      assert.deepEqual(Object.keys(api.services as Obj), Object.keys(sock.services as Obj));

      const samples = await waitFor('two rate samples with traffic', async () => {
        const r = await req<{ ports: Record<string, { rxPps: number }> }[]>(m.ep, 'GET', '/api/v1/samples');
        return r.body.length >= 2 && r.body[r.body.length - 1].ports.gen.rxPps > 0 ? r.body : undefined;
      });
      const last = samples[samples.length - 1] as unknown as { t: number };
      const since = await req<unknown[]>(m.ep, 'GET', `/api/v1/samples?since=${last.t}`);
      assert.deepEqual(since.body, []);
      assert.equal((await req(m.ep, 'GET', '/api/v1/samples?since=yesterday')).status, 400);

      const topo = (await req<Obj>(m.ep, 'GET', '/api/v1/topology')).body;
      assert.equal(topo.defaultChain, 'default');
      assert.deepEqual(
        (topo.services as Obj[]).map((s) => s.name),
        ['fwd', 'mon'],
      );
      const recent = (await req<Obj[]>(m.ep, 'GET', '/api/v1/events/recent')).body;
      assert.equal(recent.filter((e) => e.type === 'nf-ready').length, 3);
    });

    await t.test('the OpenAPI description is valid OpenAPI 3 and lists every route', async () => {
      const r = await apiRequest<Obj>(m.ep, 'GET', '/openapi.json', undefined, { token: null });
      assert.equal(r.status, 200);
      const doc = r.body as { openapi: string; paths: Record<string, Record<string, unknown>> };
      assert.match(doc.openapi, /^3\./);
      await SwaggerParser.validate(structuredClone(doc) as never);
      for (const [method, p] of ROUTES) {
        const templ = p
          .replace(/\/services\/fwd\//, '/services/{service}/')
          .replace(/\/instances\/1$/, '/instances/{instance}')
          .replace(/\/chains\/(x|side)$/, '/chains/{chain}')
          .replace(/\/rules\/1$/, '/rules/{id}');
        assert.ok(doc.paths[templ]?.[method.toLowerCase()] !== undefined, `${method} ${templ} missing from /openapi.json`);
      }
    });

    await t.test('docs/control-plane.md documents every route and every netvm_ metric', async () => {
      const doc = fs.readFileSync(path.join(repoRoot, 'docs', 'control-plane.md'), 'utf8');
      const spec = (await apiRequest<{ paths: Record<string, Record<string, unknown>> }>(m.ep, 'GET', '/openapi.json')).body;
      for (const [p, methods] of Object.entries(spec.paths))
        for (const method of Object.keys(methods))
          assert.match(
            doc,
            new RegExp(`\\| ${method.toUpperCase()}\\s+\\| \`${p.replace(/[{}]/g, '\\$&')}\``),
            `${method} ${p} is not in the route table`,
          );
      const metrics = (await apiRequest<string>(m.ep, 'GET', '/metrics')).body;
      const names = new Set([...metrics.matchAll(/^# TYPE (netvm_[a-z_]+) /gm)].map((x) => x[1]));
      assert.ok(names.size >= 20, [...names].join(', '));
      for (const n of names) assert.ok(doc.includes(`\`${n}\``), `${n} is not documented`);
    });

    await t.test('/metrics: Prometheus names and labels, values from the counters', async () => {
      const r = await apiRequest<string>(m.ep, 'GET', '/metrics');
      assert.equal(r.status, 200);
      assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      const text = r.body;
      const value = (re: RegExp): number => {
        const x = re.exec(text);
        assert.ok(x, `no ${re} in\n${text.slice(0, 3000)}`);
        return Number(x[1]);
      };
      assert.match(text, /^# TYPE netvm_nf_rx_packets_total counter$/m);
      assert.match(text, /^# TYPE netvm_nf_ring_occupancy gauge$/m);
      assert.ok(value(/^netvm_nf_rx_packets_total\{service="fwd",instance="1"\} ([0-9e.+]+)$/m) > 0);
      assert.equal(value(/^netvm_nf_created_packets_total\{service="fwd",instance="1"\} ([0-9e.+]+)$/m), 0, 'a forward NF creates none');
      assert.ok(value(/^netvm_port_rx_packets_total\{port="gen"\} ([0-9e.+]+)$/m) > 0);
      assert.ok(value(/^netvm_port_tx_packets_total\{port="sink"\} ([0-9e.+]+)$/m) > 0);
      assert.ok(value(/^netvm_chain_packets_total\{chain="default"\} ([0-9e.+]+)$/m) > 0);
      value(/^netvm_nf_dropped_packets_total\{service="mon",instance="1",cause="ring_full"\} ([0-9e.+]+)$/m);
      value(/^netvm_port_rx_dropped_packets_total\{port="gen",cause="no_buffer"\} ([0-9e.+]+)$/m);
      assert.equal(value(/^netvm_pool_size_buffers ([0-9]+)$/m), 65536);
      assert.equal(value(/^netvm_service_instances\{service="fwd"\} ([0-9]+)$/m), 2);
      assert.match(text, /^process_cpu_seconds_total /m);
    });

    await t.test('bad requests get 4xx with a message, and the manager keeps running', async () => {
      const bad: [string, string, unknown, number, RegExp][] = [
        ['PUT', '/api/v1/chains/x', { steps: [] }, 400, /steps must NOT have fewer than 1 items/],
        ['PUT', '/api/v1/chains/x', { steps: ['nope'] }, 400, /chains\.x\[0\]: unknown step "nope" \(valid: fwd, mon, sink, sink2, drop\)/],
        ['PUT', '/api/v1/chains/x', { steps: ['sink', 'fwd'] }, 400, /chains\.x\[1\]: unreachable/],
        ['PUT', '/api/v1/chains/x', { steps: ['gen'] }, 400, /port "gen" cannot be a step/],
        ['PUT', '/api/v1/chains/x', { steps: ['fwd'], extra: 1 }, 400, /must NOT have additional properties/],
        ['PUT', '/api/v1/chains/x', { steps: 'fwd' }, 400, /steps must be array/],
        ['PUT', '/api/v1/chains/bad%20name', { steps: ['fwd'] }, 400, /params\/chain must match pattern/],
        ['PUT', '/api/v1/chains/123', { steps: ['fwd'] }, 400, /not all digits/],
        ['DELETE', '/api/v1/chains/nope', undefined, 404, /no chain "nope" \(chains: default, side\)/],
        ['DELETE', '/api/v1/chains/side', undefined, 409, /chain "side" is used by rule 1; remove it first/],
        ['POST', '/api/v1/rules', { match: { proto: 'xyz' }, chain: 'default' }, 400, /match\/proto/],
        ['POST', '/api/v1/rules', { match: { dst: '300.1.1.1' }, chain: 'default' }, 400, /match\.dst: invalid address "300\.1\.1\.1"/],
        ['POST', '/api/v1/rules', { match: { proto: 'udp' }, chain: 'nope' }, 400, /unknown chain "nope"/],
        ['POST', '/api/v1/rules', { match: { proto: 'udp' }, chain: 'default', position: 99 }, 400, /position must be 0\.\.1/],
        ['POST', '/api/v1/rules', { match: {}, chain: 'default' }, 400, /must NOT have fewer than 1 properties/],
        ['POST', '/api/v1/rules', { chain: 'default' }, 400, /must have required property 'match'/],
        ['DELETE', '/api/v1/rules/999', undefined, 404, /no rule 999 \(rules: 1\)/],
        ['DELETE', '/api/v1/rules/abc', undefined, 400, /params\/id must match pattern/],
        ['POST', '/api/v1/services/fwd/instances', { mode: 'poll' }, 409, /its mode are set when it is created/],
        ['POST', '/api/v1/services/fwd/instances', { nf: 'monitor' }, 409, /runs NF forward, not monitor/],
        ['POST', '/api/v1/services/fwd/instances', { nf: 5 }, 400, /body\/nf must be string/],
        ['POST', '/api/v1/services/newsvc/instances', {}, 404, /no service "newsvc".*give the NF to run \(nf\)/],
        ['POST', '/api/v1/services/newsvc/instances', { nf: 'no-such-nf' }, 400, /unknown NF "no-such-nf" \(catalog: /],
        ['POST', '/api/v1/services/newsvc/instances', { nf: '/nonexistent/nf.ts' }, 400, /NF module \/nonexistent\/nf\.ts does not exist/],
        ['POST', '/api/v1/services/sink/instances', { nf: 'forward' }, 409, /"sink" is a port/],
        ['DELETE', '/api/v1/services/fwd/instances/9', undefined, 404, /service "fwd" has no running instance 9 \(running: 1, 2\)/],
        ['DELETE', '/api/v1/services/nope/instances/1', undefined, 404, /no service "nope" \(services: fwd, mon\)/],
        ['PUT', '/api/v1/services/fwd/scale', { instances: -1 }, 400, /instances must be >= 0/],
        ['PUT', '/api/v1/services/fwd/scale', { instances: 'two' }, 400, /instances must be integer/],
        ['PUT', '/api/v1/services/fwd/scale', {}, 400, /must have required property 'instances'/],
        ['PUT', '/api/v1/services/fwd/scale', { instances: 17 }, 400, /instances must be an integer 0\.\.16/],
        ['GET', '/api/v1/nope', undefined, 404, /no route GET \/api\/v1\/nope/],
      ];
      for (const [method, p, body, status, re] of bad) {
        const r = await req(m.ep, method, p, body);
        assert.equal(r.status, status, `${method} ${p} ${JSON.stringify(body)} -> ${r.status} ${JSON.stringify(r.body)}`);
        assert.match(String(r.body.message), re, `${method} ${p} ${JSON.stringify(body)}`);
        assert.equal(typeof r.body.code, 'string');
      }
      // Not JSON, and not a JSON content type.
      for (const [ct, payload, status] of [
        ['application/json', '{"steps": [', 400],
        ['text/plain', 'fwd sink', 400],
        ['application/xml', '<steps/>', 415],
      ] as const) {
        const r = await rawRequest(m.ep, 'PUT', '/api/v1/chains/x', { authorization: `Bearer ${m.ep.token}`, 'content-type': ct }, payload);
        assert.equal(r.status, status, `${ct}: ${r.text}`);
        assert.ok((JSON.parse(r.text) as Obj).message);
      }
      assert.equal((await req(m.ep, 'GET', '/api/v1')).body.running, true);
      assert.equal(m.proc.child.exitCode, null);
    });

    await t.test('NF routes: start, stop (drained), scale down and up, new service; lifecycle events', async () => {
      const started = await req(m.ep, 'POST', '/api/v1/services/fwd/instances', {});
      assert.equal(started.status, 201, JSON.stringify(started.body));
      assert.equal(started.body.instance, 3);
      assert.equal((await req<Obj[]>(m.ep, 'GET', '/api/v1/nfs')).body.filter((i) => i.service === 'fwd').length, 3);

      const stopped = await req(m.ep, 'DELETE', '/api/v1/services/fwd/instances/3');
      assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
      assert.equal(stopped.body.drained, true);
      assert.equal(stopped.body.pid, started.body.pid);

      const down = await req(m.ep, 'PUT', '/api/v1/services/fwd/scale', { instances: 1 });
      assert.equal(down.status, 200, JSON.stringify(down.body));
      assert.deepEqual(down.body, { service: 'fwd', instances: 1, started: [], stopped: [2] });
      const up = await req(m.ep, 'PUT', '/api/v1/services/fwd/scale', { instances: 2 });
      assert.deepEqual(up.body, { service: 'fwd', instances: 2, started: [2], stopped: [] });

      const created = await req(m.ep, 'POST', '/api/v1/services/mon2/instances', { nf: 'monitor', args: {} });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const services = (await req<Obj[]>(m.ep, 'GET', '/api/v1/services')).body;
      assert.deepEqual(
        services.map((s) => [s.name, (s.instances as unknown[]).length]),
        [
          ['fwd', 2],
          ['mon', 1],
          ['mon2', 1],
        ],
      );
      await waitFor('the lifecycle events on the stream', () => events.some((e) => e.type === 'service-added'));
      const types = events.map((e) => e.type);
      for (const ty of ['hello', 'sample', 'nf-ready', 'nf-stopping', 'nf-exit', 'scaled', 'service-added'])
        assert.ok(types.includes(ty), `no ${ty} event in ${[...new Set(types)].join(', ')}`);
      const exits = events.filter((e) => e.type === 'nf-exit');
      assert.equal(exits.length, 2);
      assert.ok(exits.every((e) => e.data.requested === true && e.data.service === 'fwd'));
      const st = (await req<{ manager: { nfDeaths: number } }>(m.ep, 'GET', '/api/v1/stats')).body;
      assert.equal(st.manager.nfDeaths, 0, 'stopping on request is not a death');
    });

    await t.test('chain and rule routes: add a chain, steer UDP into it, remove both', async () => {
      const put = await req(m.ep, 'PUT', '/api/v1/chains/alt', { steps: ['fwd', 'sink2'] });
      assert.equal(put.status, 201, JSON.stringify(put.body));
      assert.deepEqual(put.body.steps, ['fwd', 'sink2']);
      const sink2Before = ((await req<Obj>(m.ep, 'GET', '/api/v1/stats')).body.ports as Record<string, Obj>).sink2.tx as number;
      const add = await req(m.ep, 'POST', '/api/v1/rules', { match: { proto: 'udp', dstPort: '0-65535' }, chain: 'alt', position: 0 });
      assert.equal(add.status, 201, JSON.stringify(add.body));
      assert.deepEqual(add.body, { id: 2, position: 0, match: { proto: 'udp', dstPort: '0-65535' }, chain: 'alt' });
      await waitFor('UDP flows to take chain alt (out of sink2)', async () => {
        const s = (await req<Obj>(m.ep, 'GET', '/api/v1/stats')).body;
        return (
          ((s.ports as Record<string, Obj>).sink2.tx as number) > sink2Before + 1000 &&
          ((s.chains as Record<string, Obj>).alt.packets as number) > 0
        );
      });
      assert.deepEqual(
        (await req<Obj[]>(m.ep, 'GET', '/api/v1/rules')).body.map((r) => [r.id, r.chain]),
        [
          [2, 'alt'],
          [1, 'side'],
        ],
      );
      // Replacing a chain in place keeps its name and its rules.
      const replace = await req(m.ep, 'PUT', '/api/v1/chains/alt', { steps: ['mon', 'sink2'] });
      assert.equal(replace.status, 200);
      assert.equal(replace.body.created, false);
      assert.equal((await req(m.ep, 'DELETE', '/api/v1/chains/alt')).status, 409);
      assert.equal((await req(m.ep, 'DELETE', '/api/v1/rules/2')).status, 200);
      assert.equal((await req(m.ep, 'DELETE', '/api/v1/chains/alt')).status, 200);
      assert.deepEqual(
        (await req<Obj[]>(m.ep, 'GET', '/api/v1/chains')).body.map((c) => c.name),
        ['default', 'side'],
      );
      await waitFor('the chain events', () => events.some((e) => e.type === 'chain-removed'));
      const types = events.map((e) => e.type);
      for (const ty of ['chain-added', 'chain-replaced', 'rule-added', 'rule-removed', 'chain-removed']) assert.ok(types.includes(ty), ty);
    });
  } finally {
    stream.close();
    const { stats } = await m.stop();
    assert.equal(stats.pool.free, stats.pool.size, 'every buffer back in the pool at exit');
    assert.equal(stats.manager.nfDeaths, 0);
    assert.ok(!fs.existsSync(apiInfoPath(m.name)), 'the API file is removed at exit');
    assert.ok(!fs.existsSync(apiTokenPath(m.name)), 'the token file is removed at exit');
    console.log(
      `# control API: gen rx ${stats.ports.gen.rx}, sink tx ${stats.ports.sink.tx}, sink2 tx ${stats.ports.sink2.tx}, pool ${stats.pool.free}/${stats.pool.size}`,
    );
  }
});

/** A request written by hand, for what a well-behaved client would not send. */
function rawRequest(
  ep: ApiEndpoint,
  method: string,
  p: string,
  headers: Record<string, string>,
  payload: string,
): Promise<{ status: number; text: string }> {
  const u = new URL(p, ep.info.url);
  const head = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(u.port), u.hostname, () => {
      s.end(
        `${method} ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\n${head}` +
          `Content-Length: ${Buffer.byteLength(payload)}\r\nConnection: close\r\n\r\n${payload}`,
      );
    });
    let data = '';
    s.on('data', (d: Buffer) => (data += d.toString()));
    s.on('error', reject);
    s.on('close', () => {
      const status = Number(/^HTTP\/1\.1 ([0-9]+)/.exec(data)?.[1] ?? 0);
      resolve({ status, text: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
  });
}

test('e2e: control API — a taken port is a clear error before anything starts; --api off; loopback only', async () => {
  const busy = net.createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as net.AddressInfo).port;
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'c.yaml'), CONFIG);
  try {
    const r = await runCli(['start', '--config', path.join(dir, 'c.yaml'), '--name', uniqueName('busy'), '--api', `127.0.0.1:${port}`]);
    assert.equal(r.code, 2, describeFailure(r));
    assert.match(
      r.stderr,
      new RegExp(
        `netvm: NETVM_API_LISTEN: control API: 127\\.0\\.0\\.1:${port} is already in use .*--api 127\\.0\\.0\\.1:7781.*or --api off`,
      ),
    );
    assert.doesNotMatch(r.stderr, /NF registered/, 'no NF was started');
  } finally {
    busy.close();
  }

  const bad = await runCli(['start', '--config', path.join(dir, 'c.yaml'), '--api', '0.0.0.0:7780']);
  assert.equal(bad.code, 64, describeFailure(bad));
  assert.match(bad.stderr, /--api: 0\.0\.0\.0 is not a loopback address/);

  const name = uniqueName('off');
  const p = startCli(['run', '--config', path.join(dir, 'c.yaml'), '--name', name, '--api', 'off', '--quiet', '--timeout', '60'], {
    env: { NETVM_API: '127.0.0.1:1' },
  });
  try {
    await waitFor('the manager to start', () => /NF ready/.test(p.stderr()) || p.child.exitCode !== null, 60_000);
    assert.ok(!fs.existsSync(apiInfoPath(name)), '--api off writes no API file');
    const r = await runCli(['nf', 'list', '--name', name]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /NETVM_MANAGER_UNREACHABLE: no control API for netvm manager/);
  } finally {
    p.child.kill('SIGINT');
    await p.exited;
  }
});

test('e2e: control API on a Unix socket (mode 0600); the CLI finds it by name', async () => {
  const dir = tmpDir();
  const sock = path.join(dir, 'api.sock');
  const m = await startManager('unix', CONFIG, ['--api', `unix:${sock}`]);
  try {
    assert.equal(m.ep.info.socketPath, sock);
    assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
    const r = await runCli(['nf', 'list', '--name', m.name, '--json']);
    assert.equal(r.code, 0, describeFailure(r));
    assert.equal((JSON.parse(r.stdout) as unknown[]).length, 3);
    const noToken = await apiRequest(m.ep, 'GET', '/api/v1/nfs', undefined, { token: null });
    assert.equal(noToken.status, 401);
  } finally {
    await m.stop();
  }
  assert.ok(!fs.existsSync(sock), 'the socket is removed at exit');
});
