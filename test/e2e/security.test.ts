// Region permissions and NF registration (issue #6, part 5): the region file, the control
// socket, the secret file and the run directory are owner-only, and an NF must present the
// manager's per-run secret to register.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { runCli, startCli, tmpDir, uniqueName, waitFor, describeFailure } from '../helpers/cli.js';
import { liveStats } from '../helpers/accounting.js';
import { controlSocketPath, runDir, secretPath } from '../../src/core/paths.js';

const mode = (f: string): number => fs.statSync(f).mode & 0o777;

/** Sends one register request on the control socket and returns the manager's first reply. */
function register(name: string, secret: string | undefined): Promise<{ type: string; code?: string; message?: string }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(controlSocketPath(name));
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        resolve(JSON.parse(buf.slice(0, nl)) as { type: string; code?: string; message?: string });
        sock.destroy();
      }
    });
    sock.on('error', reject);
    sock.write(JSON.stringify({ type: 'register', service: 'intruder', nf: 'x', pid: process.pid, mode: 'shared', secret }) + '\n');
  });
}

test('security: owner-only files; registration needs the per-run secret', async () => {
  const dir = tmpDir();
  const name = uniqueName('sec');
  const cfg = path.join(dir, 'chain.yaml');
  fs.writeFileSync(
    cfg,
    `ports:
  gen:  { driver: generator, flows: 16, size: 64, rate: 10000 }
  sink: { driver: sink }
services:
  fwd: { nf: forward }
chains:
  default: [fwd, sink]
`,
  );
  const statsFile = path.join(dir, 'stats.json');
  const m = startCli(['start', '--config', cfg, '--name', name, '--stats-json', statsFile, '--quiet']);
  try {
    const s = await waitFor('the manager', async () => {
      const x = await liveStats(name);
      return x && x.ports.sink.tx > 0 ? x : undefined;
    });
    const region = (s as unknown as { region: { file: string } }).region.file;
    assert.equal(mode(region), 0o600, `region ${region}`);
    assert.equal(mode(controlSocketPath(name)), 0o600, 'control socket');
    assert.equal(mode(secretPath(name)), 0o600, 'secret file');
    assert.equal(mode(runDir()), 0o700, 'run directory');

    for (const secret of [undefined, '', 'not-the-secret', fs.readFileSync(secretPath(name), 'utf8').trim().replace(/.$/, 'x')]) {
      const r = await register(name, secret);
      assert.equal(r.type, 'error', `secret ${JSON.stringify(secret)} must be refused`);
      assert.equal(r.code, 'NETVM_AUTH');
      assert.match(r.message ?? '', /secret/);
    }
    // `netvm nf run` with a wrong NETVM_SECRET is refused with the same code, exit status 2.
    const bad = await runCli(['nf', 'run', 'forward', '--service', 'late', '--name', name], {
      env: { NETVM_SECRET: 'wrong' },
      timeoutMs: 30_000,
    });
    assert.equal(bad.code, 2, describeFailure(bad));
    assert.match(bad.stderr, /NETVM_AUTH/);
    // The refused attempts registered nothing.
    const after = (await liveStats(name))!;
    assert.deepEqual(Object.keys(after.services), ['fwd']);
    assert.equal(after.services.fwd.instances.length, 1);
  } finally {
    m.child.kill('SIGTERM');
    const r = await m.exited;
    assert.equal(r.code, 0, describeFailure(r));
  }
  assert.equal(fs.existsSync(secretPath(name)), false, 'the secret file is removed at exit');
});
