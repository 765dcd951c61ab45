// End to end: untrusted NFs (docs/untrusted-nfs.md) through the real CLI and real processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { once } from 'node:events';
import { runCli, startCli, tmpDir, uniqueName, waitFor, describeFailure, repoRoot, type CliProcess } from '../helpers/cli.js';
import { mixedTraffic } from '../fixtures/traffic.js';
import { readPcapFile, writePcapFile } from '../../src/ports/pcap/pcap-format.js';
import { controlSocketPath, secretPath } from '../../src/core/paths.js';
import { lineReader } from '../../src/core/control-protocol.js';
import { attachExchange, ExchangeRing } from '../../src/core/exchange.js';
import { ACTION_DROP, ACTION_TO_PORT, ACTION_TO_SERVICE, M_ACTION, M_DEST, M_LEN } from '../../src/core/layout.js';
import type { UntrustedStats } from '../../src/manager/untrusted.js';

interface Instance {
  instance: number;
  pid: number;
  rx: number;
  tx: number;
  trust: string;
  drops: { invalid: number; action: number; ringFull: number; noRoute: number };
  actions: { next: number; drop: number; toService: number; toPort: number };
  counters: Record<string, number>;
  untrusted?: UntrustedStats;
}
interface Stats {
  region: { file: string };
  pool: { size: number; free: number };
  ports: Record<string, { rx: number; tx: number }>;
  services: Record<string, { instances: Instance[]; departed: { instances: number } }>;
  manager: { nfDeaths: number };
}

async function stats(name: string): Promise<Stats | undefined> {
  const r = await runCli(['stats', '--name', name, '--json'], { timeoutMs: 15_000 });
  if (r.code !== 0) return undefined;
  return JSON.parse(r.stdout) as Stats;
}

async function stop(p: CliProcess): Promise<void> {
  p.child.kill('SIGTERM');
  const r = await p.exited;
  assert.equal(r.code, 0, describeFailure(r));
}

/** Every packet an untrusted instance received is accounted for, by cause. */
function assertAccounted(i: Instance): void {
  const u = i.untrusted!;
  const rejected = u.rejectedLength + u.rejectedAction + u.rejectedDest;
  assert.equal(i.rx, u.given + u.droppedStalled + u.droppedTooLong, 'received = given to the NF + dropped before');
  assert.equal(
    u.given,
    u.returned + rejected + u.timedOut + u.droppedNfGone + u.outstanding,
    'given = returned + rejected + timed out + in hand',
  );
  assert.equal(i.drops.invalid, rejected);
  assert.equal(u.returned, i.actions.next + i.actions.drop + i.actions.toService + i.actions.toPort, 'every accepted result was routed');
}

/** The files a process maps: the path column of /proc/<pid>/maps (proc(5)). */
function mappedFiles(pid: number): Set<string> {
  const out = new Set<string>();
  for (const line of fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    const m = /^\S+ \S+ \S+ \S+ \S+\s+(\/.*?)( \(deleted\))?$/.exec(line);
    if (m) out.add(m[1]);
  }
  return out;
}

test('e2e untrusted: the NF process never maps the region (its /proc/<pid>/maps), a trusted one does; kill -9 of an untrusted NF under load loses no buffer', async () => {
  const dir = tmpDir();
  const name = uniqueName('untr-iso');
  fs.writeFileSync(
    path.join(dir, 'chain.yaml'),
    `ports:
  gen:  { driver: generator, flows: 256, size: 64, rate: 200000 }
  sink: { driver: sink }
services:
  ufwd: { nf: forward, trust: untrusted, instances: 2 }
  mon:  { nf: monitor }
chains:
  default: [ufwd, mon, sink]
`,
  );
  const statsFile = path.join(dir, 'stats.json');
  const m = startCli(['start', '--config', path.join(dir, 'chain.yaml'), '--name', name, '--stats-json', statsFile, '--quiet']);
  let victimExchange = '';
  try {
    const s1 = await waitFor(
      'two untrusted instances and the monitor moving packets',
      async () => {
        const s = await stats(name);
        return s &&
          s.services.ufwd.instances.length === 2 &&
          s.services.ufwd.instances.every((i) => i.rx > 2000) &&
          s.services.mon.instances[0]?.rx > 4000
          ? s
          : undefined;
      },
      60_000,
    );
    const regionFile = s1.region.file;
    for (const i of s1.services.ufwd.instances) {
      assert.equal(i.trust, 'untrusted');
      const maps = mappedFiles(i.pid);
      assert.ok(!maps.has(regionFile), `untrusted NF ${i.pid} maps the region ${regionFile}: ${[...maps].join(' ')}`);
      assert.ok(
        maps.has(i.untrusted!.exchange),
        `untrusted NF ${i.pid} maps its exchange area ${i.untrusted!.exchange}: ${[...maps].join(' ')}`,
      );
      for (const other of s1.services.ufwd.instances)
        if (other !== i) assert.ok(!maps.has(other.untrusted!.exchange), 'nor the exchange area of another instance');
      assert.ok(i.untrusted!.given > 2000 && i.untrusted!.returned > 2000);
    }
    const mon = s1.services.mon.instances[0];
    assert.equal(mon.trust, 'trusted');
    assert.ok(mappedFiles(mon.pid).has(regionFile), 'a trusted NF maps the region (so the check above can fail)');
    console.log(
      `isolation: untrusted pids ${s1.services.ufwd.instances.map((i) => i.pid).join(', ')} map ${s1.services.ufwd.instances.map((i) => path.basename(i.untrusted!.exchange)).join(', ')}, not ${path.basename(regionFile)}`,
    );

    const [victim, survivor] = s1.services.ufwd.instances;
    victimExchange = victim.untrusted!.exchange;
    process.kill(victim.pid, 'SIGKILL');
    const s2 = await waitFor('the manager to notice the death', async () => {
      const s = await stats(name);
      return s && s.manager.nfDeaths === 1 && s.services.ufwd.instances.length === 1 ? s : undefined;
    });
    assert.equal(s2.services.ufwd.instances[0].pid, survivor.pid);
    assert.equal(fs.existsSync(victimExchange), false, 'the dead instance’s exchange file is removed');
    const before = s2.ports.sink.tx;
    await waitFor('the survivor to carry the traffic', async () => ((await stats(name))?.ports.sink.tx ?? 0) > before + 2000, 60_000);
    assert.equal(m.child.exitCode, null, 'the manager is still up');
  } finally {
    await stop(m);
  }
  const s = JSON.parse(fs.readFileSync(statsFile, 'utf8')) as Stats;
  const gone = m
    .stderr()
    .split('\n')
    .filter((l) => l.includes('untrusted NF detached') && l.includes(path.basename(victimExchange)));
  console.log(`untrusted kill -9: sink tx ${s.ports.sink.tx}; pool free ${s.pool.free} of ${s.pool.size}; ${gone[0]?.slice(0, 400) ?? ''}`);
  assert.equal(s.pool.free, s.pool.size, `pool free ${s.pool.free} != size ${s.pool.size}`);
  assert.equal(s.manager.nfDeaths, 1);
  assert.equal(s.services.ufwd.departed.instances, 1);
  assertAccounted(s.services.ufwd.instances[0]);
});

/**
 * A hostile NF that does not use netvm's NF library at all: it speaks the control protocol,
 * maps its exchange area and writes what it likes there. This test process plays it.
 */
async function hostileJoin(name: string, service: string) {
  const sock = net.createConnection(controlSocketPath(name));
  await once(sock, 'connect');
  const replies: Array<{ type: string; exchange?: string; message?: string }> = [];
  sock.on(
    'data',
    lineReader(
      (m) => replies.push(m as { type: string }),
      () => {},
    ),
  );
  // It runs as the manager's user, so it can read the per-run secret like any NF started by hand.
  const secret = fs.readFileSync(secretPath(name), 'utf8').trim();
  sock.write(
    JSON.stringify({ type: 'register', service, nf: 'hostile', pid: process.pid, mode: 'shared', trust: 'untrusted', secret }) + '\n',
  );
  const reply = await waitFor('registration', () => replies.find((r) => r.type === 'registered' || r.type === 'error'));
  assert.equal(reply.type, 'registered', reply.message ?? '');
  const x = attachExchange(reply.exchange!);
  sock.write(JSON.stringify({ type: 'ready' }) + '\n');
  const toNf = new ExchangeRing(x, x.layout.toNf);
  const fromNf = new ExchangeRing(x, x.layout.fromNf);
  const buf = new Int32Array(x.layout.slots);
  return {
    sock,
    x,
    take: (): number[] => [...buf.subarray(0, toNf.dequeue(buf, 0, buf.length))],
    give: (idx: number[]): number => fromNf.enqueue(Int32Array.from(idx), 0, idx.length),
    meta: (idx: number): number => (x.layout.arena + idx * x.layout.slotSize) >> 2,
  };
}

test('e2e untrusted: forged slot indices, lengths, actions, destinations and ring indices from a hostile NF are rejected and counted; no buffer is lost', async () => {
  const dir = tmpDir();
  const name = uniqueName('untr-forge');
  fs.writeFileSync(
    path.join(dir, 'chain.yaml'),
    `ports:
  gen:  { driver: generator, flows: 64, size: 128, rate: 2000 }
  sink: { driver: sink }
services:
  evil: { nf: forward, trust: untrusted, timeoutMs: 2000 }
chains:
  default: [evil, sink]
`,
  );
  const statsFile = path.join(dir, 'stats.json');
  const m = startCli(['start', '--config', path.join(dir, 'chain.yaml'), '--name', name, '--stats-json', statsFile, '--quiet']);
  try {
    await waitFor('the manager', async () => (await stats(name))?.services.evil.instances.length === 1, 60_000);
    // A service configured untrusted refuses an NF that wants the region.
    const trusted = await runCli(['nf', 'run', 'forward', '--service', 'evil', '--name', name], { timeoutMs: 30_000 });
    assert.notEqual(trusted.code, 0);
    assert.match(trusted.stderr, /untrusted.*--untrusted/);

    const h = await hostileJoin(name, 'evil');
    const { x } = h;
    // Collect at least 12 packets (a few ms at this rate; the exchange has 256 slots, so the
    // highest slot is never given and returning it is a forgery).
    const held: number[] = [];
    await waitFor('12 packets for the hostile instance', () => (held.push(...h.take()), held.length >= 12));
    const s = held.slice(0, 12);
    const set = (k: number, len: number, action: number, dest: number): void => {
      const mm = h.meta(s[k]);
      x.i32[mm + M_LEN] = len;
      x.i32[mm + M_ACTION] = action;
      x.i32[mm + M_DEST] = dest;
    };
    set(1, 100_000, 0, 0); // beyond the slot and the buffer
    set(2, 3, 0, 0); // shorter than an Ethernet header
    set(3, 128, 9, 0); // no such action
    set(4, 128, -1, 0);
    set(5, 128, ACTION_TO_SERVICE, 40); // no service 40
    set(6, 128, ACTION_TO_PORT, 0); // port 0 (gen) does not transmit
    set(7, 128, ACTION_TO_PORT, 77); // no port 77
    set(8, 128, ACTION_DROP, 0); // valid
    const forged = [100_000, -5, x.layout.slots - 1];
    const script = [...forged, s[0], s[0], ...s.slice(1), ...held.slice(12)];
    assert.equal(h.give(script), script.length);
    // Then behave: every packet straight back, also while the counters are read.
    const served = held.length - 12;
    const server = setInterval(() => h.give(h.take()), 5);
    let st1: Instance;
    try {
      st1 = await waitFor('the results to be counted', async () => {
        const q = await stats(name);
        const i = q?.services.evil.instances.find((y) => y.pid === process.pid);
        return i && i.untrusted!.returned >= 5 + served + 100 ? i : undefined;
      });
    } finally {
      clearInterval(server);
    }
    const u1 = st1.untrusted!;
    assert.equal(u1.rejectedSlot, 4, 'out of range (2), never given, given back twice');
    assert.equal(u1.rejectedLength, 2);
    assert.equal(u1.rejectedAction, 2);
    assert.equal(u1.rejectedDest, 3);
    assert.equal(st1.drops.invalid, 7);
    assert.equal(u1.timedOut, 0);
    assertAccounted(st1);

    // Now a forged producer index, and nothing given back any more: counted, then every
    // packet it holds times out, and once it holds every slot, arrivals are dropped.
    x.i32[x.layout.fromNf >> 2] = 0x7fff0000;
    const st2 = await waitFor(
      'time-outs and stall drops',
      async () => {
        const q = await stats(name);
        const i = q?.services.evil.instances.find((y) => y.pid === process.pid);
        return i && i.untrusted!.badRingIndex > 0 && i.untrusted!.timedOut > 0 && i.untrusted!.droppedStalled > 0 ? i : undefined;
      },
      30_000,
    );
    assertAccounted(st2);
    const benign = (await stats(name))!.services.evil.instances.find((y) => y.pid !== process.pid)!;
    assert.equal(benign.untrusted!.rejectedSlot + benign.drops.invalid + benign.untrusted!.timedOut, 0, 'the other instance is unaffected');
    console.log(`hostile NF: ${JSON.stringify(st2.untrusted)}`);
    h.sock.destroy();
    await waitFor('the manager to drop the hostile instance', async () => (await stats(name))?.manager.nfDeaths === 1);
  } finally {
    await stop(m);
  }
  const final = JSON.parse(fs.readFileSync(statsFile, 'utf8')) as Stats;
  assert.equal(final.pool.free, final.pool.size, `pool free ${final.pool.free} != size ${final.pool.size}`);
});

test('e2e untrusted: catalog NFs and a rewriting NF give byte-identical output untrusted and trusted on a mixed pcap', async () => {
  const dir = tmpDir();
  const input = mixedTraffic(3000, 23, 96);
  writePcapFile(path.join(dir, 'in.pcap'), input, { format: 'pcap', precision: 'us' });
  const rw = path.join(repoRoot, 'test', 'fixtures', 'nfs', 'rewrite.ts');
  const run = async (trust: string): Promise<{ out: string[]; s: Stats }> => {
    // Generous: this test is about bytes, not deadlines (a cold NF on a busy machine is slow).
    const timeout = trust === 'untrusted' ? ', timeoutMs: 20000' : '';
    fs.writeFileSync(
      path.join(dir, `${trust}.yaml`),
      `ports:
  in:  { driver: pcap, read: in.pcap }
  out: { driver: pcap, write: ${trust}.pcap }
services:
  mon: { nf: monitor, trust: ${trust}${timeout} }
  rw:  { nf: ${JSON.stringify(rw)}, trust: ${trust}${timeout} }
  fwd: { nf: forward, trust: ${trust}${timeout} }
chains:
  default: [mon, rw, fwd, out]
`,
    );
    const statsFile = path.join(dir, `${trust}.json`);
    const r = await runCli(
      ['run', '--config', `${trust}.yaml`, '--name', uniqueName(`untr-${trust}`), '--stats-json', statsFile, '--quiet'],
      {
        cwd: dir,
      },
    );
    assert.equal(r.code, 0, describeFailure(r));
    const out = readPcapFile(path.join(dir, `${trust}.pcap`)).packets.map(
      (p) => `${p.tsSec}.${p.tsNsec}:${Buffer.from(p.data).toString('hex')}`,
    );
    return { out, s: JSON.parse(fs.readFileSync(statsFile, 'utf8')) as Stats };
  };
  const t = await run('trusted');
  const u = await run('untrusted');
  assert.equal(t.out.length, input.length);
  assert.equal(u.out.length, input.length);
  const changed = t.out.filter((p, k) => p !== `${input[k].tsSec}.${input[k].tsNsec}:${Buffer.from(input[k].data).toString('hex')}`);
  assert.ok(changed.length > 2000, `the rewriting NF changed ${changed.length} packets`);
  for (let k = 0; k < input.length; k++) assert.equal(u.out[k], t.out[k], `packet ${k} differs between untrusted and trusted`);
  for (const name of ['mon', 'rw', 'fwd']) {
    const i = u.s.services[name].instances[0];
    assert.equal(i.trust, 'untrusted');
    assert.equal(i.untrusted!.given, input.length);
    assert.equal(i.untrusted!.returned, input.length);
    assertAccounted(i);
    assert.equal(t.s.services[name].instances[0].trust, 'trusted');
  }
  assert.deepEqual(u.s.services.mon.instances[0].counters, t.s.services.mon.instances[0].counters, 'the monitor saw the same traffic');
  assert.equal(u.s.pool.free, u.s.pool.size);
});

test('e2e untrusted: a stalled NF is timed out — its packets dropped and counted, the other chain keeps flowing, nothing leaks', async () => {
  const dir = tmpDir();
  const name = uniqueName('untr-stall');
  const stallNf = path.join(repoRoot, 'test', 'fixtures', 'nfs', 'stall.ts');
  fs.writeFileSync(
    path.join(dir, 'chain.yaml'),
    `ports:
  a:     { driver: generator, flows: 16, size: 64, rate: 5000 }
  b:     { driver: generator, flows: 16, size: 64, rate: 5000, proto: tcp }
  sinkA: { driver: sink }
  sinkB: { driver: sink }
services:
  st:  { nf: ${JSON.stringify(stallNf)}, trust: untrusted, timeoutMs: 100, args: { after: 500, stallMs: 3000 } }
  fwd: { nf: forward }
chains:
  default: [fwd, sinkB]
  stalled: [st, sinkA]
rules:
  - match: { inPort: a }
    chain: stalled
`,
  );
  const statsFile = path.join(dir, 'stats.json');
  const m = startCli(['start', '--config', path.join(dir, 'chain.yaml'), '--name', name, '--stats-json', statsFile, '--quiet']);
  try {
    const s1 = await waitFor(
      'the stalled NF’s packets to time out and arrivals to be dropped',
      async () => {
        const s = await stats(name);
        const u = s?.services.st.instances[0]?.untrusted;
        return s && u && u.timedOut > 0 && u.droppedStalled > 0 ? s : undefined;
      },
      30_000,
    );
    const st = s1.services.st.instances[0];
    assertAccounted(st);
    // While it hangs, the manager reads both inputs and the other chain delivers.
    const s2 = await waitFor('chain b to keep delivering', async () => {
      const s = await stats(name);
      return s && s.ports.sinkB.tx > s1.ports.sinkB.tx + 500 && s.ports.a.rx > s1.ports.a.rx ? s : undefined;
    });
    assert.ok(s2.services.st.instances[0].untrusted!.droppedStalled >= st.untrusted!.droppedStalled);
    // The NF wakes up: its overdue slots come back late, and it works again.
    const s3 = await waitFor(
      'the NF to recover',
      async () => {
        const s = await stats(name);
        const i = s?.services.st.instances[0];
        return s && i && i.untrusted!.lateReturns > 0 && i.untrusted!.returned > st.untrusted!.returned + 100 ? s : undefined;
      },
      30_000,
    );
    const st3 = s3.services.st.instances[0];
    assertAccounted(st3);
    console.log(`stall: ${JSON.stringify(st3.untrusted)}; sinkA ${s3.ports.sinkA.tx} sinkB ${s3.ports.sinkB.tx}`);
    process.kill(st3.pid, 'SIGKILL');
    await waitFor('the manager to notice the death', async () => (await stats(name))?.manager.nfDeaths === 1);
  } finally {
    await stop(m);
  }
  const s = JSON.parse(fs.readFileSync(statsFile, 'utf8')) as Stats;
  assert.equal(s.pool.free, s.pool.size, `pool free ${s.pool.free} != size ${s.pool.size}`);
});
