// End to end: NF processes dying, joining and leaving a running manager.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCli, startCli, tmpDir, uniqueName, waitFor, describeFailure, repoRoot, type CliProcess } from '../helpers/cli.js';

interface Instance {
  instance: number;
  pid: number;
  rx: number;
  tx: number;
  state: string;
}
interface Stats {
  pool: { size: number; free: number };
  ports: Record<string, { rx: number; tx: number }>;
  services: Record<string, { instances: Instance[]; departed: { instances: number; rx: number } }>;
  manager: { nfDeaths: number };
}

async function stats(name: string): Promise<Stats | undefined> {
  const r = await runCli(['stats', '--name', name, '--json'], { timeoutMs: 10_000 });
  if (r.code !== 0) return undefined;
  return JSON.parse(r.stdout) as Stats;
}

async function stop(p: CliProcess): Promise<void> {
  p.child.kill('SIGTERM');
  const r = await p.exited;
  assert.equal(r.code, 0, describeFailure(r));
}

test('e2e: kill -9 of an NF under full-rate generator traffic loses no buffer; its replica takes the flows', async () => {
  const dir = tmpDir();
  const name = uniqueName('kill');
  fs.writeFileSync(
    path.join(dir, 'chain.yaml'),
    `ports:
  gen:  { driver: generator, flows: 256, size: 64 }
  sink: { driver: sink }
services:
  fwd: { nf: forward, instances: 2 }
chains:
  default: [fwd, sink]
`,
  );
  const statsFile = path.join(dir, 'stats.json');
  const m = startCli(['start', '--config', path.join(dir, 'chain.yaml'), '--name', name, '--stats-json', statsFile, '--quiet']);
  try {
    const s1 = await waitFor('two fwd instances moving packets', async () => {
      const s = await stats(name);
      return s && s.services.fwd.instances.length === 2 && s.services.fwd.instances.every((i) => i.rx > 10_000) ? s : undefined;
    });
    const [victim, survivor] = s1.services.fwd.instances;
    process.kill(victim.pid, 'SIGKILL');
    const s2 = await waitFor('the manager to notice the death', async () => {
      const s = await stats(name);
      return s && s.manager.nfDeaths === 1 && s.services.fwd.instances.length === 1 ? s : undefined;
    });
    assert.equal(s2.services.fwd.instances[0].pid, survivor.pid);
    const before = s2.services.fwd.instances[0].rx;
    const sinkBefore = s2.ports.sink.tx;
    await new Promise((r) => setTimeout(r, 700));
    const s3 = (await stats(name))!;
    assert.ok(s3.services.fwd.instances[0].rx > before + 10_000, 'the survivor carries the traffic');
    assert.ok(s3.ports.sink.tx > sinkBefore + 10_000, 'packets still reach the sink');
    assert.equal(m.child.exitCode, null, 'the manager is still up');
  } finally {
    await stop(m);
  }
  const s = JSON.parse(fs.readFileSync(statsFile, 'utf8')) as Stats;
  const reclaimed = m
    .stderr()
    .split('\n')
    .filter((l) => /reclaim/i.test(l))
    .join(' | ');
  console.log(
    `kill -9: sink tx ${s.ports.sink.tx}; pool free ${s.pool.free} of ${s.pool.size}; nfDeaths ${s.manager.nfDeaths}; ${reclaimed.slice(0, 600)}`,
  );
  assert.equal(s.pool.free, s.pool.size, `pool free ${s.pool.free} != size ${s.pool.size}`);
  assert.equal(s.manager.nfDeaths, 1, 'the killed instance (stopping with the manager is not a death)');
  assert.equal(s.services.fwd.departed.instances, 1);
  assert.equal(s.services.fwd.instances.length, 1, 'the survivor, stopped with the manager, with its final counters');
  assert.match(m.stderr(), /NF is gone; reclaiming its buffers/);
});

interface RecorderDump {
  instance: number;
  pid: number;
  at: number;
  flows: Record<string, [number, number]>;
}

function readDumps(dir: string): RecorderDump[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f.startsWith('rec-'))
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as RecorderDump);
}

test('e2e: replica stickiness — 3 instances, 10,000 flows; removing one moves only its flows', async () => {
  const dir = tmpDir();
  const rec = path.join(dir, 'rec');
  fs.mkdirSync(rec);
  const name = uniqueName('sticky');
  const nf = path.join(repoRoot, 'test', 'fixtures', 'nfs', 'flow-recorder.ts');
  fs.writeFileSync(
    path.join(dir, 'chain.yaml'),
    `ports:
  gen:  { driver: generator, flows: 10000, rate: 100000 }
  sink: { driver: sink }
services:
  rec: { nf: ${JSON.stringify(nf)}, instances: 3, args: { dir: ${JSON.stringify(rec)} } }
chains:
  default: [rec, sink]
`,
  );
  const m = startCli(['start', '--config', path.join(dir, 'chain.yaml'), '--name', name, '--quiet']);
  try {
    const dumps = await waitFor(
      'all 10,000 flows seen by the 3 instances',
      () => {
        const d = readDumps(rec);
        const all = new Set(d.flatMap((x) => Object.keys(x.flows)));
        return d.length === 3 && all.size === 10_000 ? d : undefined;
      },
      30_000,
    );
    const owner = new Map<string, number>();
    for (const d of dumps)
      for (const h of Object.keys(d.flows)) {
        assert.equal(owner.get(h), undefined, `flow ${h} on two instances before the removal`);
        owner.set(h, d.instance);
      }
    const victim = dumps[1];
    const victimFlows = new Set(Object.keys(victim.flows));
    const tKill = Date.now();
    process.kill(victim.pid, 'SIGKILL');
    // Let every flow come round (10,000 flows at 100,000 pps: every 100 ms) until the two
    // survivors have seen all of them since the removal settled (on a loaded machine some
    // packets may be shed on the way, so wait for coverage rather than a fixed time).
    const settled = tKill + 400;
    const after = await waitFor(
      'survivors to see every flow after the removal',
      () => {
        const d = readDumps(rec).filter((x) => x.pid !== victim.pid);
        const seen = new Set(
          d.flatMap((x) =>
            Object.entries(x.flows)
              .filter(([, [, last]]) => last >= settled)
              .map(([h]) => h),
          ),
        );
        return d.length === 2 && seen.size === 10_000 ? d : undefined;
      },
      30_000,
    );
    let moved = 0;
    let stayed = 0;
    for (const d of after)
      for (const [h, [, last]] of Object.entries(d.flows)) {
        if (last < settled) continue; // not seen since the removal
        if (owner.get(h) === d.instance) stayed++;
        else {
          moved++;
          assert.ok(victimFlows.has(h), `flow ${h} moved from surviving instance ${owner.get(h)} to ${d.instance}`);
        }
      }
    console.log(`stickiness: ${victimFlows.size} flows on the removed instance; ${moved} flows moved, ${stayed} stayed`);
    assert.equal(moved, victimFlows.size, 'exactly the removed instance’s flows moved');
    assert.equal(stayed, 10_000 - victimFlows.size, 'every other flow stayed where it was');
  } finally {
    await stop(m);
  }
});

test('e2e: `netvm nf run ./my-nf.ts` joins a running manager as another instance and shares the flows', async () => {
  const dir = tmpDir();
  const name = uniqueName('join');
  fs.writeFileSync(
    path.join(dir, 'chain.yaml'),
    `ports:
  gen:  { driver: generator, flows: 1024, rate: 200000 }
  sink: { driver: sink }
services:
  mine: { nf: forward }
chains:
  default: [mine, sink]
`,
  );
  // An NF in TypeScript, outside the package, importing 'netvm': runs without a compile step.
  fs.writeFileSync(
    path.join(dir, 'my-nf.ts'),
    `import { defineNF } from 'netvm';
let seen: number = 0;
export default defineNF({
  name: 'my-nf',
  packet: (pkt, ctx) => {
    seen++;
    ctx.counters.seen = seen;
    pkt.next();
  },
});
`,
  );
  const m = startCli(['start', '--config', 'chain.yaml', '--name', name, '--quiet'], { cwd: dir });
  let nf: CliProcess | null = null;
  try {
    await waitFor('the manager', async () => (await stats(name))?.services.mine.instances.length === 1);
    nf = startCli(['nf', 'run', './my-nf.ts', '--service', 'mine', '--name', name], { cwd: dir });
    const s = await waitFor('the second instance to carry packets', async () => {
      const x = await stats(name);
      return x && x.services.mine.instances.length === 2 && x.services.mine.instances.every((i) => i.rx > 1000) ? x : undefined;
    });
    const joined = s.services.mine.instances.find((i) => i.pid === nf!.child.pid);
    assert.ok(joined, 'the joined process is an instance of mine');
    assert.equal(joined.instance, 2);
    const ps = fs.readFileSync(`/proc/${nf.child.pid}/cmdline`, 'utf8');
    assert.match(ps, /netvm-nf mine#2/, 'the process names itself by service and instance');
  } finally {
    nf?.child.kill('SIGTERM');
    if (nf) await nf.exited;
    await stop(m);
  }
});

test('e2e: SIGINT stops NFs, drains, and removes the region and the control socket', async () => {
  const name = uniqueName('sigint');
  const m = startCli(['demo', '--name', name, '--rate', '100000', '--quiet']);
  await waitFor('the demo to move packets', async () => ((await stats(name))?.ports.sink.tx ?? 0) > 10_000);
  const region = fs.readdirSync('/dev/shm').find((f) => f.includes(name));
  assert.ok(region, 'a region file exists while running');
  m.child.kill('SIGINT');
  const r = await m.exited;
  assert.equal(r.code, 0, describeFailure(r));
  assert.equal(
    fs.readdirSync('/dev/shm').find((f) => f.includes(name)),
    undefined,
    'region removed',
  );
  assert.match(r.stdout, /pool: (\d+)\/\1 buffers free/);
  const s = await runCli(['stats', '--name', name]);
  assert.notEqual(s.code, 0);
  assert.match(s.stderr, /NETVM_MANAGER_UNREACHABLE/);
});
