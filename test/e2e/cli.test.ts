// The CLI's user-facing behaviour: the demo, summaries, and errors that say what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCli, tmpDir, uniqueName, describeFailure } from '../helpers/cli.js';

test('cli: `netvm demo --count N` runs generator -> 3 NFs -> sink and exits with every buffer back', async () => {
  const dir = tmpDir();
  const r = await runCli(['demo', '--count', '300000', '--name', uniqueName('demo'), '--stats-json', path.join(dir, 's.json')]);
  assert.equal(r.code, 0, describeFailure(r));
  const s = JSON.parse(fs.readFileSync(path.join(dir, 's.json'), 'utf8'));
  assert.equal(s.ports.gen.rx, 300000);
  assert.equal(s.ports.sink.tx, 300000);
  assert.deepEqual(Object.keys(s.services), ['mon', 'fwd', 'last']);
  assert.equal(s.pool.free, s.pool.size);
  assert.ok(s.ports.sink.driverStats.latencyCount > 0, 'the sink measured latency from generator stamps');
  assert.match(r.stdout, /PORT\s+DRIVER/);
});

test('cli: a bad config names the file and the field, exit status 2', async () => {
  const dir = tmpDir();
  const f = path.join(dir, 'bad.yaml');
  fs.writeFileSync(
    f,
    'ports:\n  gen: { driver: generator }\nservices:\n  fwd: { nf: forward, instances: 40 }\nchains:\n  default: [fwd, nowhere]\n',
  );
  const r = await runCli(['run', '--config', f]);
  assert.equal(r.code, 2, describeFailure(r));
  assert.match(r.stderr, /NETVM_CONFIG_INVALID/);
  assert.match(r.stderr, /bad\.yaml/);
  assert.match(r.stderr, /services\.fwd\.instances|chains\.default/);
});

test('cli: `nf run` without a manager says how to start one', async () => {
  const r = await runCli(['nf', 'run', 'forward', '--service', 'x', '--name', uniqueName('none')]);
  assert.equal(r.code, 2, describeFailure(r));
  assert.match(r.stderr, /NETVM_MANAGER_UNREACHABLE/);
  assert.match(r.stderr, /netvm start --config/);
});

test('cli: unknown command and --help', async () => {
  const r = await runCli(['frobnicate']);
  assert.equal(r.code, 64);
  assert.match(r.stderr, /unknown command "frobnicate"/);
  const h = await runCli(['--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /netvm demo/);
});

test('cli: `netvm check` prints what a config resolves to', async () => {
  const dir = tmpDir();
  const f = path.join(dir, 'c.yaml');
  fs.writeFileSync(
    f,
    'ports:\n  gen: { driver: generator }\n  out: { driver: sink }\nservices:\n  fwd: { nf: forward }\nchains:\n  default: [fwd, out]\n',
  );
  const r = await runCli(['check', '--config', f]);
  assert.equal(r.code, 0, describeFailure(r));
  assert.match(r.stdout, /chain 0 default \(default\): fwd -> out/);
});
