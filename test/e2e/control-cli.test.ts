// End to end: the control CLI (`netvm nf|chain|rule|top|config`) against a running manager,
// finding it by --name alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { apiRequest } from '../../src/control/client.js';
import { runCli, tmpDir, waitFor, describeFailure, type CliResult } from '../helpers/cli.js';
import { startManager } from '../helpers/control.js';

function ok(r: CliResult): string {
  assert.equal(r.code, 0, describeFailure(r));
  return r.stdout;
}

test('e2e: control CLI — nf list/start/stop/scale, chain list/set/rm, rule list/add/rm, stats, top', async () => {
  const m = await startManager(
    'cli',
    `ports:
  gen:   { driver: generator, flows: 64, size: 64, rate: 20000 }
  sink:  { driver: sink }
  sink2: { driver: sink }
services:
  fwd: { nf: forward, instances: 2 }
chains:
  default: [fwd, sink]
`,
  );
  const n = ['--name', m.name];
  try {
    await waitFor('traffic', async () => {
      const r = await apiRequest<{ ports: { sink: { tx: number } } }>(m.ep, 'GET', '/api/v1/stats');
      return r.body.ports.sink.tx > 1000;
    });

    // ---- nf
    const list = ok(await runCli(['nf', 'list', ...n]));
    assert.match(list, /^SERVICE\s+INST\s+SLOT\s+PID\s+STATE\s+MODE\s+RX\s+TX\s+RING\s+NF$/m);
    assert.match(list, /^fwd\s+1\s+[0-9]+\s+[0-9]+\s+active\s+shared\s+[1-9][0-9]*\s+[1-9][0-9]*\s+[0-9]+\/4096\s+forward$/m);
    assert.match(list, /^fwd\s+2\s+/m);
    const json = JSON.parse(ok(await runCli(['nf', 'list', ...n, '--json']))) as { service: string; instance: number }[];
    assert.deepEqual(
      json.map((i) => `${i.service}#${i.instance}`),
      ['fwd#1', 'fwd#2'],
    );

    assert.match(ok(await runCli(['nf', 'start', 'fwd', ...n])), /^started fwd#3 \(pid [0-9]+, slot [0-9]+\)$/m);
    assert.match(ok(await runCli(['nf', 'stop', 'fwd#3', ...n])), /^stopped fwd#3 \(pid [0-9]+, ring drained\)$/m);
    assert.match(ok(await runCli(['nf', 'scale', 'fwd', '1', ...n])), /^fwd: 1 instance \(stopped #2\)$/m);
    assert.match(ok(await runCli(['nf', 'scale', 'fwd', '2', ...n])), /^fwd: 2 instances \(started #2\)$/m);
    assert.match(ok(await runCli(['nf', 'start', 'watch', '--nf', 'monitor', ...n])), /^started watch#1 /m);
    assert.match(ok(await runCli(['nf', 'stop', 'watch', '1', ...n])), /^stopped watch#1 /m);

    const noInst = await runCli(['nf', 'stop', 'fwd#9', ...n]);
    assert.equal(noInst.code, 2);
    assert.match(noInst.stderr, /^netvm: NETVM_UNKNOWN_INSTANCE: service "fwd" has no running instance 9 \(running: 1, 2\) \(HTTP 404\)$/m);
    const noNf = await runCli(['nf', 'start', 'other', ...n]);
    assert.equal(noNf.code, 2);
    assert.match(noNf.stderr, /NETVM_UNKNOWN_SERVICE: no service "other".*give the NF to run/);
    assert.equal((await runCli(['nf', 'stop', 'fwd', ...n])).code, 64);

    // ---- chain and rule
    assert.match(ok(await runCli(['chain', 'set', 'alt', 'fwd -> sink2', ...n])), /^chain alt created: fwd -> sink2$/m);
    assert.match(
      ok(await runCli(['rule', 'add', '--chain', 'alt', '--proto', 'udp', '--dst-port', '1-65535', '--position', '0', ...n])),
      /^rule 1 added at position 0: proto=udp dstPort=1-65535 -> alt$/m,
    );
    const rules = ok(await runCli(['rule', 'list', ...n]));
    assert.match(rules, /^ID\s+POS\s+CHAIN\s+MATCH$/m);
    assert.match(rules, /^1\s+0\s+alt\s+proto=udp dstPort=1-65535$/m);
    await waitFor('UDP to leave by sink2', async () => {
      const r = await apiRequest<{ ports: { sink2: { tx: number } } }>(m.ep, 'GET', '/api/v1/stats');
      return r.body.ports.sink2.tx > 1000;
    });
    const chains = ok(await runCli(['chain', 'list', ...n]));
    assert.match(chains, /^default\s+[0-9]+\s+default\s+fwd -> sink$/m);
    assert.match(chains, /^alt\s+[1-9][0-9]*\s+rules 1\s+fwd -> sink2$/m);
    const inUse = await runCli(['chain', 'rm', 'alt', ...n]);
    assert.equal(inUse.code, 2);
    assert.match(inUse.stderr, /NETVM_CONFLICT: chain "alt" is used by rule 1; remove it first \(HTTP 409\)/);
    const badStep = await runCli(['chain', 'set', 'x', 'fwd', 'nope', ...n]);
    assert.equal(badStep.code, 2);
    assert.match(badStep.stderr, /NETVM_BAD_REQUEST: chains\.x\[1\]: unknown step "nope"/);
    assert.match(ok(await runCli(['rule', 'rm', '1', ...n])), /^rule 1 removed$/m);
    assert.match(ok(await runCli(['chain', 'rm', 'alt', ...n])), /^chain alt removed \([0-9]+ packets took it\)$/m);
    assert.match(ok(await runCli(['rule', 'list', ...n])), /^no rules/m);
    assert.equal((await runCli(['rule', 'rm', 'abc', ...n])).code, 64);
    assert.equal((await runCli(['rule', 'add', '--chain', 'default', ...n])).code, 64);

    // ---- stats over the control socket still works
    const st = JSON.parse(ok(await runCli(['stats', '--json', ...n]))) as { services: Record<string, unknown> };
    assert.deepEqual(Object.keys(st.services), ['fwd', 'watch']);

    // ---- top: two frames (not a terminal: one after the other)
    const top = ok(await runCli(['top', '--count', '2', ...n]));
    const frames = top.split(/\n(?=netvm top — )/);
    assert.equal(frames.length, 2, top);
    const last = frames[1];
    assert.match(last, new RegExp(`^netvm top — ${m.name}\\s+up [0-9]+ s\\s+pool [0-9]+/65536 free`, 'm'));
    assert.match(last, /^PORT\s+DRIVER\s+RX pps\s+TX pps/m);
    const gen = /^gen\s+generator\s+([0-9.]+)(k?)\s/m.exec(last);
    assert.ok(gen && Number(gen[1]) > 0, `gen rate in\n${last}`);
    assert.match(last, /^NF\s+MODE\s+RX pps\s+TX pps\s+drops\/s\s+RING\s+wakeups\/s\s+STATE$/m);
    assert.match(last, /^fwd#1\s+shared\s+[0-9.]+k?\s+[0-9.]+k?\s+[0-9.]+k?\s+\[[#.]{12}\]\s+[0-9]+%\s+[0-9.]+k?\s+(active|asleep)$/m);
    assert.match(last, /^drops\/s {2}action 0 {2}ring-full 0/m);
  } finally {
    const { stats } = await m.stop();
    assert.equal(stats.pool.free, stats.pool.size);
  }
});

test('e2e: netvm config check FILE (alias of check --config) names the file and the field; config schema', async () => {
  const dir = tmpDir();
  fs.writeFileSync(
    path.join(dir, 'good.yaml'),
    'ports:\n  gen: { driver: generator }\n  out: { driver: sink }\nservices:\n  f: { nf: forward }\nchains:\n  default: [f, out]\n',
  );
  fs.writeFileSync(
    path.join(dir, 'bad.yaml'),
    'ports:\n  gen: { driver: generator }\n  out: { driver: sink }\nservices:\n  f: { nf: forward }\nchains:\n  default: [f, outt]\n',
  );
  const good = await runCli(['config', 'check', 'good.yaml'], { cwd: dir });
  const alias = await runCli(['check', '--config', 'good.yaml'], { cwd: dir });
  assert.equal(ok(good), ok(alias));
  assert.match(good.stdout, /good\.yaml: OK/);
  const bad = await runCli(['config', 'check', 'bad.yaml'], { cwd: dir });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^netvm: NETVM_CONFIG_INVALID: bad\.yaml: chains\.default\[1\]: unknown step "outt" \(valid: f, out, drop\)/m);
  assert.equal((await runCli(['config', 'check'], { cwd: dir })).code, 64);
  const schema = JSON.parse(ok(await runCli(['config', 'schema']))) as { $schema: string; properties: Record<string, unknown> };
  assert.match(schema.$schema, /json-schema\.org/);
  assert.ok(schema.properties.chains);
  assert.match(ok(await runCli(['nf', 'catalog'])), /^forward$/m);
});

test('e2e: --log-level sets the level of the manager and its NFs; logs are JSON lines on stderr', async () => {
  const dir = tmpDir();
  const cfg = path.join(dir, 'c.yaml');
  fs.writeFileSync(
    cfg,
    'ports:\n  gen: { driver: generator, count: 2000 }\n  out: { driver: sink }\nservices:\n  f: { nf: forward }\nchains:\n  default: [f, out]\n',
  );
  const info = await runCli(['run', '--config', cfg, '--quiet', '--log-level', 'info'], { env: { NETVM_LOG_LEVEL: 'error' } });
  ok(info);
  const lines = info.stderr.split('\n').filter((l) => l.startsWith('{'));
  const parsed = lines.map((l) => JSON.parse(l) as { level: number; msg: string; time: number; pid: number });
  assert.ok(
    parsed.some((l) => l.level === 30 && l.msg === 'NF ready'),
    info.stderr.slice(0, 2000),
  );
  assert.ok(parsed.some((l) => l.level === 30 && l.msg === 'control API listening'));
  assert.ok(parsed.every((l) => typeof l.time === 'number' && typeof l.pid === 'number'));

  const warn = await runCli(['run', '--config', cfg, '--quiet', '--log-level', 'warn']);
  ok(warn);
  assert.doesNotMatch(warn.stderr, /"level":30/, 'no info lines at --log-level warn');

  const bad = await runCli(['run', '--config', cfg, '--log-level', 'loud']);
  assert.equal(bad.code, 64);
  assert.match(bad.stderr, /--log-level must be one of fatal, error, warn, info, debug, trace, silent \(got loud\)/);
});
