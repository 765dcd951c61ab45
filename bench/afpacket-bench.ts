// `npm run bench:afpacket` (root): real traffic through real interfaces. On the namespace
// bench (scripts/netns-bench.sh: h1 and h2 joined to the root namespace by veth pairs),
// trafgen (netsniff-ng) in h1 sends UDP at the highest rate it can, and we count what
// arrives on h2's interface while each forwarder in turn sits between them:
//
//   netvm     netvm start: afpacket ports nv-h1 -> [forward] -> nv-h2 (a 1-NF chain), pinned
//             (`cpus`) to the CPU testpmd forwards on: the same placement for both
//   netvm-afxdp the same chain with afxdp ports: AF_XDP sockets whose UMEM is netvm's packet
//             pool (copy mode on veth), so netvm itself copies no packet byte
//   netvm-free the same as netvm, not pinned: the kernel's scheduler places its threads
//   bridge    a Linux bridge with nv-h1 and nv-h2 as its ports
//   mirred    tc: an ingress u32 filter on nv-h1 with `mirred egress redirect dev nv-h2`
//   testpmd   DPDK dpdk-testpmd, io forwarding between two net_af_packet devices (--no-huge)
//   testpmd-afxdp the same with two net_af_xdp devices: DPDK on the interface netvm-afxdp uses
//
// Placement: trafgen pins its one worker to CPU 0 (`--cpus 1`); testpmd runs its forwarding
// lcore on CPU 1 (`-l 0-1`: main lcore 0, which only waits for a key); netvm runs on CPU 1
// (`--netvm-cpus`, default 1), its manager, transmit thread and NF together.
//
// The forwarders run one after the other, `--repeat` rounds interleaved (every other round
// in reverse order, so netvm and testpmd run back to back and neither is always first), each
// for `--seconds` after `--warmup`; the best round of each counts (the one least disturbed by
// other load: the machine is shared). Prints Mpps and netvm's ratio to each, and the paired
// ratios: per round, netvm's rate over the other's measured in the same round, and their
// median — on a host whose speed drifts by 2x over minutes, rounds measured close together
// compare better than two bests picked from different minutes. On 2 cores the traffic source
// shares the CPUs with the forwarder, so compare only within one run.
//
//   npm run bench:afpacket -- [--sizes 64,1514] [--seconds 4] [--warmup 1.5] [--repeat 2] [--only netvm,testpmd]
//                             [--region '{ bufCount: 8192, ringSize: 256 }'] [--ring-frames 512] [--xdp-ring 512]
//                             [--netvm-cpus 1] [--json]
//
// Sizes are Ethernet frame lengths without the FCS. Docs: docs/netns-bench.md.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = fs.existsSync(path.resolve(here, '../package.json')) ? path.resolve(here, '..') : path.resolve(here, '../..');
const bin = path.join(root, 'bin', 'netvm.js');
const benchScript = path.join(root, 'scripts', 'netns-bench.sh');

const { values } = parseArgs({
  options: {
    json: { type: 'boolean' },
    sizes: { type: 'string', default: '64,1514' },
    seconds: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '1.5' },
    repeat: { type: 'string', default: '2' },
    only: { type: 'string', default: 'netvm,netvm-afxdp,testpmd,testpmd-afxdp,bridge,mirred,netvm-free' },
    // The CPU testpmd forwards on (its lcore 1), or "none".
    'netvm-cpus': { type: 'string', default: '1' },
    // Sized for forwarding, so that what a frame touches stays in the CPU's caches: a small
    // pool with 256-deep rings (the default 65,536 x 2 KiB pool with 4,096-deep rings cycles
    // through 8+ MiB and cost twice the CPU per packet here), and kernel rings of 512 frames
    // (1 MiB each way, testpmd's own size) instead of the driver's 4,096. At 1514 B the
    // smaller rings took 6-12% off the CPU per packet (docs/performance.md); at 64 B no change.
    region: { type: 'string', default: '{ bufCount: 8192, ringSize: 256 }' },
    'ring-frames': { type: 'string', default: '512' },
    // afxdp ports' ringSize: as many entries as the afpacket rings have frames (512 and 2048
    // forwarded alike here; the port then keeps 2 x 512 buffers of the pool each).
    'xdp-ring': { type: 'string', default: '512' },
  },
});
const sizes = String(values.sizes).split(',').map(Number);
const ringFrames = Number(values['ring-frames']);
const xdpRing = Number(values['xdp-ring']);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const repeat = Math.max(1, Number(values.repeat));
const H1 = process.env.NETVM_BENCH_H1 ?? 'h1';
const H2 = process.env.NETVM_BENCH_H2 ?? 'h2';
const P1 = `nv-${H1}`;
const P2 = `nv-${H2}`;
const benchEnv = { ...process.env, NETVM_BENCH_H1: H1, NETVM_BENCH_H2: H2 };
const log = (s: string): void => void process.stdout.write(s + '\n');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function sh(cmd: string, args: string[], opts: { allowFail?: boolean } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: benchEnv });
  if (r.status !== 0 && opts.allowFail !== true) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout || r.error}`);
  return (r.stdout ?? '') + (r.stderr ?? '');
}

const has = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** Packets received by (rx) or sent from (tx) a namespace's eth0, and when it was read (ms). */
function counter(ns: string, dir: 'rx' | 'tx'): { n: number; t: number } {
  const t0 = performance.now();
  const j = JSON.parse(sh('ip', ['-n', ns, '-s', '-j', 'link', 'show', 'dev', 'eth0'])) as {
    stats64: Record<string, { packets: number }>;
  }[];
  return { n: j[0].stats64[dir].packets, t: (t0 + performance.now()) / 2 };
}

function mac(ns: string): string {
  return (JSON.parse(sh('ip', ['-n', ns, '-j', 'link', 'show', 'dev', 'eth0'])) as { address: string }[])[0].address;
}

/** A trafgen packet: UDP/IPv4 from h1 to h2, 64 flows (source port 1024..1087), `size` bytes. */
function trafgenConfig(size: number): string {
  const payload = size - 14 - 20 - 8;
  return `{
  eth(da=${mac(H2)}, sa=${mac(H1)}),
  ipv4(sa=198.18.0.1, da=198.18.0.2, ttl=64),
  udp(sp=dinc(1024, 1087), dp=9, csum=0),
  fill(0x41, ${payload})
}
`;
}

interface Running {
  stop(): Promise<void>;
  /** The forwarder's process (its CPU time, children included, is measured); none for kernel forwarders. */
  pid?: number;
}

function spawnLogged(cmd: string, args: string[], stdin: 'ignore' | 'pipe' = 'ignore'): { child: ChildProcess; out: () => string } {
  // Its own process group: trafgen forks a worker per CPU, and a signal must reach them all.
  const child = spawn(cmd, args, { stdio: [stdin, 'pipe', 'pipe'], env: { ...benchEnv, NETVM_LOG_LEVEL: 'warn' }, detached: true });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, out: () => out };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    killGroup(child, 'SIGKILL'); // stragglers of an exited leader
    return;
  }
  const done = new Promise<void>((r) => child.once('exit', () => r()));
  killGroup(child, signal);
  const t = setTimeout(() => killGroup(child, 'SIGKILL'), 8000);
  await done;
  clearTimeout(t);
  killGroup(child, 'SIGKILL');
}

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux

/** CPU seconds (user + system) used so far by a process and every process below it. */
function treeCpu(pid: number): number {
  let ticks = 0;
  const walk = (p: number): void => {
    try {
      // Fields after the command name: utime and stime are the 12th and 13th (stat(5) 14, 15).
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
      for (const t of fs.readdirSync(`/proc/${p}/task`))
        for (const c of fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) walk(Number(c));
    } catch {
      // exited meanwhile
    }
  };
  walk(pid);
  return ticks / CLK_TCK;
}

async function startNetvm(cpus: string | null, driver: 'afpacket' | 'afxdp' = 'afpacket'): Promise<Running> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netvm-afbench-'));
  const cfg = path.join(dir, 'bench.yaml');
  const port = (ifname: string): string =>
    driver === 'afxdp'
      ? `{ driver: afxdp, interface: ${ifname}, ringSize: ${xdpRing} }`
      : `{ driver: afpacket, interface: ${ifname}, qdiscBypass: true, ringFrames: ${ringFrames} }`;
  fs.writeFileSync(
    cfg,
    `${cpus !== null ? `cpus: "${cpus}"\n` : ''}region: ${String(values.region)}
ports:
  h1: ${port(P1)}
  h2: ${port(P2)}
services:
  fwd: { nf: forward }
chains:
  to-h2: [fwd, h2]
rules:
  - match: { inPort: h1 }
    chain: to-h2
`,
  );
  const name = `afbench-${process.pid}`;
  const p = spawnLogged(process.execPath, [bin, 'start', '--config', cfg, '--name', name, '--quiet']);
  const deadline = Date.now() + 30_000;
  for (;;) {
    await sleep(200);
    if (p.child.exitCode !== null) throw new Error(`netvm start exited: ${p.out()}`);
    const r = spawnSync(process.execPath, [bin, 'stats', '--name', name, '--json'], { encoding: 'utf8' });
    if (r.status === 0 && (JSON.parse(r.stdout) as { services: { fwd: { instances: unknown[] } } }).services.fwd.instances.length > 0)
      break;
    if (Date.now() > deadline) throw new Error(`netvm did not start in 30 s: ${p.out()}`);
  }
  return {
    pid: p.child.pid,
    async stop() {
      await stopChild(p.child);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** netvm's rows (the ratio columns); netvm-free is netvm's unpinned control, compared like the others. */
const OURS = ['netvm', 'netvm-afxdp'];
const netvmCpus = String(values['netvm-cpus']) === 'none' || os.cpus().length < 2 ? null : String(values['netvm-cpus']);

const forwarders: Record<string, { available: () => string | null; start: () => Promise<Running> }> = {
  netvm: { available: () => null, start: () => startNetvm(netvmCpus) },
  'netvm-afxdp': { available: () => null, start: () => startNetvm(netvmCpus, 'afxdp') },
  'netvm-free': { available: () => null, start: () => startNetvm(null) },
  bridge: {
    available: () => null,
    async start() {
      sh('ip', ['link', 'add', 'nvbench-br', 'type', 'bridge']);
      sh('ip', ['link', 'set', 'nvbench-br', 'up']);
      sh('ip', ['link', 'set', P1, 'master', 'nvbench-br']);
      sh('ip', ['link', 'set', P2, 'master', 'nvbench-br']);
      // Let the bridge learn where h2 is, so it forwards instead of flooding.
      sh('ip', ['netns', 'exec', H2, 'ping', '-c', '1', '-W', '1', '198.18.0.1'], { allowFail: true });
      return { stop: async () => void sh('ip', ['link', 'del', 'nvbench-br'], { allowFail: true }) };
    },
  },
  mirred: {
    available: () => null,
    async start() {
      sh('tc', ['qdisc', 'add', 'dev', P1, 'ingress']);
      sh('tc', [
        'filter',
        'add',
        'dev',
        P1,
        'parent',
        'ffff:',
        'protocol',
        'all',
        'u32',
        'match',
        'u32',
        '0',
        '0',
        'action',
        'mirred',
        'egress',
        'redirect',
        'dev',
        P2,
      ]);
      return { stop: async () => void sh('tc', ['qdisc', 'del', 'dev', P1, 'ingress'], { allowFail: true }) };
    },
  },
  testpmd: {
    available: () => (has('dpdk-testpmd') ? null : 'dpdk-testpmd not installed (apt-get install dpdk-dev)'),
    start: () => startTestpmd('af_packet'),
  },
  'testpmd-afxdp': {
    available: () =>
      !has('dpdk-testpmd')
        ? 'dpdk-testpmd not installed (apt-get install dpdk-dev)'
        : spawnSync('sh', ['-c', 'ls /usr/lib/*/dpdk/pmds-*/librte_net_af_xdp.so*']).status !== 0
          ? "this DPDK has no net_af_xdp driver (Debian's librte-net-af-xdp23)"
          : null,
    start: () => startTestpmd('af_xdp'),
  },
};

/** dpdk-testpmd, io forwarding between two devices of the given PMD on nv-h1 and nv-h2. */
async function startTestpmd(pmd: 'af_packet' | 'af_xdp'): Promise<Running> {
  const dev = (i: number, ifname: string): string =>
    pmd === 'af_xdp' ? `--vdev=net_af_xdp${i},iface=${ifname},start_queue=0,queue_count=1` : `--vdev=net_af_packet${i},iface=${ifname}`;
  {
    // stdbuf: testpmd's stdout is a pipe here; line buffering lets us see it start.
    const p = spawnLogged(
      'stdbuf',
      [
        '-oL',
        '-eL',
        'dpdk-testpmd',
        '--no-huge',
        '-m',
        '1024',
        '--no-pci',
        '--file-prefix',
        `netvm-afbench-${process.pid}`,
        '-l',
        '0-1',
        dev(0, P1),
        dev(1, P2),
        '--',
        '--forward-mode=io',
        '--auto-start',
        '--total-num-mbufs=16384',
      ],
      'pipe', // testpmd without -i runs until its stdin gives a line (or closes)
    );
    const deadline = Date.now() + 30_000;
    while (!/Press enter to exit|start packet forwarding/i.test(p.out())) {
      const failed =
        p.child.exitCode !== null
          ? 'exited'
          : Date.now() > deadline
            ? 'did not start in 30 s'
            : /EAL: Error|Cause:/.test(p.out())
              ? 'failed'
              : '';
      if (failed) {
        await stopChild(p.child);
        const why = p
          .out()
          .split('\n')
          .filter((l) => /error|cause|fail/i.test(l));
        throw new Error(`dpdk-testpmd ${failed}: ${why.join('; ') || p.out().slice(-300)}`);
      }
      await sleep(100);
    }
    return {
      pid: p.child.pid,
      async stop() {
        p.child.stdin!.end('\n');
        await sleep(300);
        await stopChild(p.child);
      },
    };
  }
}

/** Runs trafgen in h1 and measures what arrives in h2 (Mpps) and what trafgen sent. */
async function measure(cfgFile: string, pid?: number): Promise<{ mpps: number; offered: number; cpu: number; note: string }> {
  const tg = spawnLogged('ip', ['netns', 'exec', H1, 'trafgen', '--dev', 'eth0', '--conf', cfgFile, '--cpus', '1', '-n', '0']);
  try {
    await sleep(warmup * 1000);
    if (tg.child.exitCode !== null) throw new Error(`trafgen exited: ${tg.out()}`);
    const a = counter(H2, 'rx');
    const s0 = counter(H1, 'tx');
    const c0 = pid === undefined ? 0 : treeCpu(pid);
    await sleep(seconds * 1000);
    const c1 = pid === undefined ? 0 : treeCpu(pid);
    const b = counter(H2, 'rx');
    const s1 = counter(H1, 'tx');
    const note = tg.child.exitCode !== null ? `trafgen stopped early: ${tg.out().trim().split('\n').pop()}` : '';
    const mpps = (b.n - a.n) / (b.t - a.t) / 1e3;
    // CPU the forwarder's processes got, in cores (only meaningful for netvm and testpmd:
    // the kernel forwarders run inside trafgen's system calls).
    return { mpps, offered: (s1.n - s0.n) / (s1.t - s0.t) / 1e3, cpu: pid === undefined ? 0 : (c1 - c0) / seconds, note };
  } finally {
    await stopChild(tg.child);
  }
}

interface Row {
  size: number;
  forwarder: string;
  mpps: number | null;
  runs: number[];
  /** Per round: Mpps, NaN when the round failed (for the paired ratios). */
  byRound: number[];
  offeredMpps: number;
  /** Per run: cores of CPU time the forwarder's own processes got (netvm, testpmd). */
  cpu: number[];
  note?: string;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    log('bench:afpacket needs root (network namespaces, veth pairs, AF_PACKET sockets): run it with sudo');
    process.exit(2);
  }
  const missing = ['ip', 'tc', 'trafgen'].filter((t) => !has(t));
  if (missing.length > 0) {
    log(`bench:afpacket needs ${missing.join(', ')}: apt-get install iproute2 netsniff-ng`);
    process.exit(2);
  }
  const names = String(values.only)
    .split(',')
    .filter((n) => n in forwarders);
  const cleanup = (): void => {
    spawnSync('ip', ['link', 'del', 'nvbench-br']);
    spawnSync('bash', [benchScript, 'down'], { env: benchEnv });
  };
  process.once('exit', cleanup);
  process.once('SIGINT', () => process.exit(130));
  process.once('SIGTERM', () => process.exit(143));
  sh('bash', [benchScript, 'up']);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netvm-trafgen-'));
  const rows: Row[] = [];
  const cpus = os.cpus();
  log(
    `AF_PACKET benchmark: trafgen in ${H1} -> forwarder -> ${H2}, UDP, ${seconds} s per point after ${warmup} s warm-up, best of ${repeat}; ` +
      `${cpus.length} cores (${cpus[0]?.model ?? '?'}), Linux ${os.release()}, load average ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}`,
  );
  try {
    for (const size of sizes) {
      const cfgFile = path.join(dir, `udp-${size}.trafgen`);
      fs.writeFileSync(cfgFile, trafgenConfig(size));
      const bySize = new Map<string, Row>();
      for (const n of names) {
        const why = forwarders[n].available();
        bySize.set(n, { size, forwarder: n, mpps: null, runs: [], byRound: [], cpu: [], offeredMpps: 0, ...(why ? { note: why } : {}) });
      }
      for (let round = 0; round < repeat; round++) {
        for (const n of round % 2 === 0 ? names : [...names].reverse()) {
          const row = bySize.get(n)!;
          row.byRound[round] = NaN;
          if (forwarders[n].available() !== null) continue;
          let running: Running | null = null;
          try {
            running = await forwarders[n].start();
            const m = await measure(cfgFile, running.pid);
            row.byRound[round] = Math.round(m.mpps * 1e4) / 1e4;
            row.runs.push(row.byRound[round]);
            row.cpu.push(Math.round(m.cpu * 100) / 100);
            row.offeredMpps = Math.max(row.offeredMpps, Math.round(m.offered * 1e4) / 1e4);
            if (m.note) row.note = m.note;
          } catch (err) {
            row.note = (err as Error).message.split('\n')[0].slice(0, 200);
          } finally {
            if (running) await running.stop();
          }
        }
      }
      for (const row of bySize.values()) {
        row.mpps = row.runs.length > 0 ? Math.max(...row.runs) : null;
        rows.push(row);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  log(
    `netvm and netvm-afxdp ${netvmCpus !== null ? `pinned to CPU ${netvmCpus}` : 'not pinned'}; netvm-free: not pinned; testpmd forwards on CPU 1; trafgen on CPU 0`,
  );
  log(`netvm region ${String(values.region)}, afpacket ringFrames ${ringFrames}, afxdp ringSize ${xdpRing}`);
  log(
    `${'size'.padEnd(6)}${'forwarder'.padEnd(15)}${'Mpps'.padStart(9)}${'offered'.padStart(10)}${'netvm/x'.padStart(10)}${'afxdp/x'.padStart(10)}  runs`,
  );
  for (const size of sizes) {
    const mine = (name: string): number | null => rows.find((r) => r.size === size && r.forwarder === name)?.mpps ?? null;
    const ratioTo = (ours: string, r: Row): string => {
      const v = mine(ours);
      return r.forwarder === ours || OURS.includes(r.forwarder) ? '' : v !== null && r.mpps ? (v / r.mpps).toFixed(2) : '-';
    };
    for (const r of rows.filter((x) => x.size === size)) {
      log(
        `${String(size).padEnd(6)}${r.forwarder.padEnd(15)}${(r.mpps === null ? 'n/a' : r.mpps.toFixed(3)).padStart(9)}${r.offeredMpps.toFixed(3).padStart(10)}${ratioTo('netvm', r).padStart(10)}${ratioTo('netvm-afxdp', r).padStart(10)}  ${r.runs.map((x) => x.toFixed(3)).join(' ')}${r.note ? `  (${r.note})` : ''}`,
      );
    }
  }
  // CPU per packet, for the forwarders that run as processes: what each got from the
  // scheduler divided by what it forwarded. On a loaded machine the rates above follow the
  // CPU share each process gets; this column does not.
  log('');
  log(
    `${'size'.padEnd(6)}${'forwarder'.padEnd(15)}${'CPU us/pkt'.padStart(11)}${'cores'.padStart(7)}${'testpmd/netvm'.padStart(15)}  runs (us/pkt)`,
  );
  const usPerPkt = (r: Row): number[] => r.runs.map((m, i) => (m > 0 && r.cpu[i] > 0 ? r.cpu[i] / m : Infinity));
  for (const size of sizes) {
    const best = (name: string): number => {
      const r = rows.find((x) => x.size === size && x.forwarder === name);
      return r ? Math.min(...usPerPkt(r)) : Infinity;
    };
    for (const r of rows.filter((x) => x.size === size && x.cpu.some((c) => c > 0))) {
      const us = usPerPkt(r);
      const b = Math.min(...us);
      const ratio = OURS.includes(r.forwarder) && Number.isFinite(best('testpmd')) ? (best('testpmd') / b).toFixed(2) : '';
      log(
        `${String(size).padEnd(6)}${r.forwarder.padEnd(15)}${b.toFixed(2).padStart(11)}${Math.max(...r.cpu)
          .toFixed(2)
          .padStart(7)}${ratio.padStart(15)}  ${us.map((x) => x.toFixed(2)).join(' ')}`,
      );
    }
  }
  // Paired: netvm (each driver) over each other forwarder, round by round.
  log('');
  log(`${'size'.padEnd(6)}${'ours'.padEnd(13)}${'x'.padEnd(15)}${'median'.padStart(7)}  per round`);
  const median = (xs: number[]): number => {
    const a = [...xs].sort((p, q) => p - q);
    return a.length === 0 ? NaN : a.length % 2 === 1 ? a[a.length >> 1] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
  };
  for (const size of sizes)
    for (const ours of OURS) {
      const netvm = rows.find((r) => r.size === size && r.forwarder === ours);
      if (!netvm) continue;
      for (const r of rows.filter((x) => x.size === size && !OURS.includes(x.forwarder))) {
        const ratios = netvm.byRound
          .map((v, i) => v / r.byRound[i])
          .filter((x) => Number.isFinite(x))
          .map((x) => Math.round(x * 100) / 100);
        if (ratios.length === 0) continue;
        log(
          `${String(size).padEnd(6)}${ours.padEnd(13)}${r.forwarder.padEnd(15)}${median(ratios).toFixed(2).padStart(7)}  ${ratios.map((x) => x.toFixed(2)).join(' ')}`,
        );
      }
    }
  if (values.json === true) log(JSON.stringify({ results: rows }));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:afpacket: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
