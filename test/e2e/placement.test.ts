// End to end: `cpus` pins the manager (every thread, the afpacket transmit threads among them
// when there are afpacket ports) and the NFs it launches; a service's own `cpus` moves its NFs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCli, startCli, tmpDir, uniqueName, waitFor, describeFailure } from '../helpers/cli.js';
import { allowedCpus, formatCpuList, onlineCpus } from '../../src/core/affinity.js';

interface Stats {
  ports: Record<string, { tx: number }>;
  services: Record<string, { instances: { pid: number }[] }>;
}

/** Cpus_allowed_list of every thread of a process, as a set of strings. */
function threadLists(pid: number): Set<string> {
  const out = new Set<string>();
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      out.add(formatCpuList(allowedCpus(`${pid}/task/${t}`)));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

test('e2e: cpus pins the manager and its NFs; a service with its own cpus runs there; config check shows it', async () => {
  const online = onlineCpus();
  const managerCpu = online[0];
  const nfCpu = online[online.length - 1];
  const dir = tmpDir();
  const name = uniqueName('cpus');
  const cfg = path.join(dir, 'chain.yaml');
  fs.writeFileSync(
    cfg,
    `cpus: [${managerCpu}]
ports:
  gen:  { driver: generator, rate: 20000 }
  sink: { driver: sink }
services:
  fwd: { nf: forward, cpus: "${nfCpu}" }
  mon: { nf: monitor }
chains:
  default: [fwd, mon, sink]
`,
  );
  const check = await runCli(['config', 'check', cfg]);
  assert.equal(check.code, 0, describeFailure(check));
  assert.match(check.stdout, new RegExp(`manager on CPUs ${managerCpu}\\b`));
  assert.match(check.stdout, new RegExp(`service 0 fwd: forward x1 \\(shared, CPUs ${nfCpu}\\)`));

  const p = startCli(['start', '--config', cfg, '--name', name, '--quiet']);
  try {
    const s = await waitFor('both NFs registered and packets flowing', async () => {
      const r = await runCli(['stats', '--name', name, '--json'], { timeoutMs: 10_000 });
      if (r.code !== 0) return undefined;
      const st = JSON.parse(r.stdout) as Stats;
      return st.services.fwd.instances.length === 1 && st.services.mon.instances.length === 1 && st.ports.sink.tx > 0 ? st : undefined;
    });
    assert.deepEqual([...threadLists(p.child.pid!)], [String(managerCpu)], 'every thread of the manager');
    assert.deepEqual([...threadLists(s.services.fwd.instances[0].pid)], [String(nfCpu)], "the service's own cpus");
    assert.deepEqual([...threadLists(s.services.mon.instances[0].pid)], [String(managerCpu)], 'inherited from the manager');
  } finally {
    p.child.kill('SIGTERM');
    const r = await p.exited;
    assert.equal(r.code, 0, describeFailure(r));
  }
});

test('e2e: a CPU that is not online stops the manager at start with NETVM_CONFIG_INVALID naming the online ones', async () => {
  const online = onlineCpus();
  const dir = tmpDir();
  const cfg = path.join(dir, 'chain.yaml');
  fs.writeFileSync(
    cfg,
    `cpus: [${Math.max(...online) + 1}]\nports:\n  gen: { driver: generator, count: 10 }\n  sink: { driver: sink }\nchains:\n  default: [sink]\n`,
  );
  const r = await runCli(['run', '--config', cfg, '--name', uniqueName('cpus-bad')]);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    new RegExp(
      `NETVM_CONFIG_INVALID: cpus: CPU ${Math.max(...online) + 1} is not online on this machine \\(online: ${formatCpuList(online)}\\)`,
    ),
    describeFailure(r),
  );
});
