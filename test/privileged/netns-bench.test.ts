// Real clients through netvm. scripts/netns-bench.sh makes two hosts, h1 (198.18.0.1) and h2
// (198.18.0.2), in network namespaces, each joined to the root namespace by a veth pair;
// `netvm start` runs with the two root-side veths as afpacket ports and a chain
// monitor -> forward -> the other port for each direction, chosen by inPort rules. Then:
// ping, an iperf3 TCP transfer, curl of a 10 MiB file, a UDP rule to [drop], and tcpdump
// on h2 counting exactly what netvm says it sent there. Everything is removed afterwards,
// also when a test fails. Needs root; skipped with the reason otherwise.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runCli, startCli, tmpDir, uniqueName, waitFor, describeFailure, type CliProcess } from '../helpers/cli.js';
import { readPcapFile } from '../../src/ports/pcap/pcap-format.js';
import type { StatsSnapshot } from '../../src/manager/stats.js';
import { alwaysCleanup, background, bench, benchScript, inNs, privilegedSkip, run, syncRun, tryRun } from './sys.js';
import { HTTP_FILES, UDP_ECHO, UDP_PROBE } from './hosts.js';

const skip = privilegedSkip('creates network namespaces h1/h2 and veth pairs', ['ping', 'iperf3', 'curl', 'tcpdump', 'ethtool']);
const H1 = process.env.NETVM_BENCH_H1 ?? 'h1';
const H2 = process.env.NETVM_BENCH_H2 ?? 'h2';
const IP1 = '198.18.0.1';
const IP2 = '198.18.0.2';
/** An address the chain itself owns on h1's link (arp-responder). */
const OWNED = '198.18.0.254';
const OWNED_MAC = '02:00:5e:00:00:fe';

const config = (driver: Driver): string => `# written by test/privileged/netns-bench.test.ts
ports:
  h1: { driver: ${driver}, interface: nv-${H1} }
  h2: { driver: ${driver}, interface: nv-${H2} }
services:
  arp: { nf: arp-responder, args: { addresses: [{ ip: ${OWNED}, port: h1 }], mac: '${OWNED_MAC}' } }
  mon: { nf: monitor, args: { interval: 0 } }
  fwd: { nf: forward }
chains:
  to-h2: [arp, mon, fwd, h2]
  to-h1: [mon, fwd, h1]
  mdns-drop: [drop]
rules:
  - match: { inPort: h1, proto: udp, dstPort: 5353 }
    chain: mdns-drop
  - match: { inPort: h1 }
    chain: to-h2
  - match: { inPort: h2 }
    chain: to-h1
`;

type Driver = 'afpacket' | 'afxdp';

// The same clients through both drivers that put netvm on a Linux interface.
for (const driver of ['afpacket', 'afxdp'] as const) realClients(driver);

function realClients(driver: Driver): void {
  describe(`netns bench: real clients through a netvm chain (${driver} ports)`, { skip }, () => {
    const dir = tmpDir('netvm-netns-');
    const name = uniqueName('netns');
    // An AF_XDP socket is not told which checksums the sending host left partial (the afpacket
    // port is, and completes them): with afxdp ports the hosts compute them in full.
    const topo = bench(H1, H2, { csumOffload: driver !== 'afxdp' });
    let mgr: CliProcess | null = null;
    let cleanupNow = (): void => {};

    const stats = async (): Promise<StatsSnapshot> => {
      const r = await runCli(['stats', '--name', name, '--json'], { timeoutMs: 10_000 });
      assert.equal(r.code, 0, describeFailure(r));
      return JSON.parse(r.stdout) as StatsSnapshot;
    };
    const portTx = async (port: string): Promise<number> => (await stats()).ports[port].tx as number;

    before(async () => {
      // Runs even if the process dies half way: the manager goes, then the namespaces.
      cleanupNow = alwaysCleanup(() => {
        if (mgr?.child.pid !== undefined && mgr.child.exitCode === null) mgr.child.kill('SIGKILL');
        syncRun('bash', [benchScript, 'down'], { ...process.env, NETVM_BENCH_H1: H1, NETVM_BENCH_H2: H2 });
        fs.rmSync(dir, { recursive: true, force: true });
      });
      await topo.up();
      fs.writeFileSync(path.join(dir, 'chain.yaml'), config(driver));
      mgr = startCli(['start', '--config', path.join(dir, 'chain.yaml'), '--name', name, '--quiet']);
      await waitFor('the manager and its NFs', async () => {
        if (mgr!.child.exitCode !== null) throw new Error(`netvm start exited:\n${mgr!.stderr()}`);
        const r = await runCli(['stats', '--name', name, '--json'], { timeoutMs: 5000 });
        if (r.code !== 0) return false;
        const s = JSON.parse(r.stdout) as StatsSnapshot;
        return ['arp', 'mon', 'fwd'].every((x) => s.services[x].instances.length === 1);
      });
    });

    after(async () => {
      try {
        if (mgr !== null && mgr.child.exitCode === null) {
          mgr.child.kill('SIGINT');
          const r = await mgr.exited;
          assert.equal(r.code, 0, `netvm stops cleanly on SIGINT, every buffer back in the pool\n${describeFailure(r)}`);
        }
      } finally {
        await topo.down();
        cleanupNow();
      }
    });

    test('ping -c 100 -i 0.01 from h1 to h2: 0% loss', async (t) => {
      const out = await inNs(H1, 'ping', ['-c', '100', '-i', '0.01', '-q', IP2], 60_000);
      const m = /(\d+) packets transmitted, (\d+) received.*?(\d+(?:\.\d+)?)% packet loss/.exec(out);
      assert.ok(m, out);
      t.diagnostic(out.trim().split('\n').slice(-2).join(' | '));
      console.log(`[netns] ping: ${out.trim().split('\n').slice(-2).join(' | ')}`);
      assert.equal(Number(m[1]), 100);
      assert.equal(Number(m[2]), 100);
      assert.equal(Number(m[3]), 0, 'no loss');
      const s = await stats();
      assert.ok((s.chains['to-h2'].packets as number) >= 100 && (s.chains['to-h1'].packets as number) >= 100, 'both chains carried it');
      assert.equal(s.ports.h1.link, 1);
      assert.equal(s.ports.h2.link, 1);
    });

    test('iperf3: a 5 s TCP transfer from h1 to h2 completes; throughput logged', async (t) => {
      const server = background(H2, 'iperf3', ['-s', '-1', '--forceflush', '-B', IP2, '-p', '5201'], /Server listening/);
      try {
        await server.ready;
        const out = await inNs(H1, 'iperf3', ['-c', IP2, '-p', '5201', '-t', '5', '-J'], 60_000);
        const j = JSON.parse(out) as {
          end: { sum_received: { bytes: number; bits_per_second: number }; sum_sent: { retransmits: number } };
        };
        const mbps = j.end.sum_received.bits_per_second / 1e6;
        const line = `iperf3 TCP h1 -> h2 through netvm: ${mbps.toFixed(1)} Mbit/s, ${(j.end.sum_received.bytes / 2 ** 20).toFixed(1)} MiB received, ${j.end.sum_sent.retransmits} retransmits`;
        t.diagnostic(line);
        console.log(`[netns] ${line}`);
        assert.ok(j.end.sum_received.bytes > 0 && mbps > 0, 'data arrived');
      } finally {
        await server.stop();
      }
    });

    test('curl in h1 fetches a 10 MiB file from an HTTP server in h2; the checksum matches', async (t) => {
      const files = path.join(dir, 'www');
      fs.mkdirSync(files);
      const data = crypto.randomBytes(10 * 2 ** 20);
      fs.writeFileSync(path.join(files, 'ten.bin'), data);
      const want = crypto.createHash('sha256').update(data).digest('hex');
      const server = background(H2, process.execPath, ['-e', HTTP_FILES, files, IP2, '8080'], /listening/);
      try {
        await server.ready;
        const got = path.join(dir, 'got.bin');
        const out = await inNs(
          H1,
          'curl',
          ['-sS', '--max-time', '60', '-o', got, '-w', '%{size_download} bytes in %{time_total} s', `http://${IP2}:8080/ten.bin`],
          90_000,
        );
        t.diagnostic(`curl: ${out}`);
        console.log(`[netns] curl: ${out}`);
        assert.equal(fs.statSync(got).size, data.length);
        assert.equal(crypto.createHash('sha256').update(fs.readFileSync(got)).digest('hex'), want);
      } finally {
        await server.stop();
      }
    });

    test('a rule sends UDP to port 5353 to a [drop] chain: no answer there, while port 7777 answers', async () => {
      const server = background(H2, process.execPath, ['-e', UDP_ECHO, IP2, '5353', '7777'], /listening/);
      try {
        await server.ready;
        const before = await stats();
        const probe = async (port: number): Promise<{ answered: boolean; sent: number }> =>
          JSON.parse(await inNs(H1, process.execPath, ['-e', UDP_PROBE, IP2, String(port), '3', '700'], 20_000)) as {
            answered: boolean;
            sent: number;
          };
        const open = await probe(7777);
        const dropped = await probe(5353);
        assert.equal(open.answered, true, 'UDP 7777 answers through the chain');
        assert.equal(dropped.answered, false, 'UDP 5353 gets no answer');
        assert.equal(dropped.sent, 3);
        const s = await stats();
        assert.equal(
          (s.chains['mdns-drop'].packets as number) - (before.chains['mdns-drop'].packets as number),
          3,
          'the three probes took the drop chain',
        );
      } finally {
        await server.stop();
      }
    });

    test('tcpdump on h2 sees exactly the packets netvm counts as sent out of port h2', async (t) => {
      // A quiet link: permanent neighbours, so no ARP refresh can cross the moment the counter is read.
      const mac = async (ns: string): Promise<string> =>
        (JSON.parse(await inNs(ns, 'ip', ['-j', 'link', 'show', 'eth0'])) as { address: string }[])[0].address;
      await inNs(H1, 'ip', ['neigh', 'replace', IP2, 'lladdr', await mac(H2), 'dev', 'eth0', 'nud', 'permanent']);
      await inNs(H2, 'ip', ['neigh', 'replace', IP1, 'lladdr', await mac(H1), 'dev', 'eth0', 'nud', 'permanent']);
      const pcap = path.join(dir, 'h2-in.pcap');
      // Immediate mode: libpcap reads packet by packet, so nothing sits in a half-filled block at exit.
      const dump = background(H2, 'tcpdump', ['-i', 'eth0', '-Q', 'in', '-n', '-U', '--immediate-mode', '-w', pcap], /listening on/);
      const echo = background(H2, process.execPath, ['-e', UDP_ECHO, IP2, '7777'], /listening/);
      try {
        await Promise.all([dump.ready, echo.ready]);
        const tx0 = await portTx('h2');
        await inNs(H1, 'ping', ['-c', '30', '-i', '0.01', '-q', IP2], 30_000);
        for (let i = 0; i < 5; i++) await inNs(H1, process.execPath, ['-e', UDP_PROBE, IP2, '7777', '1', '500'], 10_000);
        // Wait until netvm has nothing more in flight for h2.
        let tx1 = await portTx('h2');
        for (let prev = -1; prev !== tx1;) {
          prev = tx1;
          await new Promise((r) => setTimeout(r, 300));
          tx1 = await portTx('h2');
        }
        await new Promise((r) => setTimeout(r, 300));
        await dump.stop('SIGINT');
        const seen = readPcapFile(pcap).packets.length;
        const line = `port h2 tx counter +${tx1 - tx0}, tcpdump -Q in on ${H2}/eth0 captured ${seen}`;
        t.diagnostic(line);
        console.log(`[netns] ${line}`);
        assert.ok(tx1 - tx0 >= 35, 'the traffic went through');
        assert.equal(seen, tx1 - tx0);
      } finally {
        await dump.stop('SIGINT');
        await echo.stop();
        await inNs(H1, 'ip', ['neigh', 'del', IP2, 'dev', 'eth0']).catch(() => {});
        await inNs(H2, 'ip', ['neigh', 'del', IP1, 'dev', 'eth0']).catch(() => {});
      }
    });

    test('arp-responder: h1 resolves an address the chain owns to the configured MAC', async () => {
      await inNs(H1, 'ip', ['neigh', 'flush', 'dev', 'eth0']);
      // Nothing answers pings for it, but the ping makes h1 ask who has it.
      await tryRun('ip', ['netns', 'exec', H1, 'ping', '-c', '2', '-i', '0.2', '-W', '1', OWNED], 15_000);
      const neigh = JSON.parse(await inNs(H1, 'ip', ['-j', 'neigh', 'show', OWNED, 'dev', 'eth0'])) as {
        lladdr?: string;
        state: string[];
      }[];
      assert.equal(neigh.length, 1, JSON.stringify(neigh));
      assert.equal(neigh[0].lladdr, OWNED_MAC, `h1's neighbour entry: ${JSON.stringify(neigh[0])}`);
      assert.ok(!neigh[0].state.includes('FAILED') && !neigh[0].state.includes('INCOMPLETE'), JSON.stringify(neigh[0]));
      const s = await stats();
      const arp = s.services.arp.instances[0].counters;
      assert.ok(arp.replies >= 1, `arp-responder counters: ${JSON.stringify(arp)}`);
    });

    test('idle: with no traffic the manager and its NFs sleep instead of spinning on the rings', async () => {
      // The manager looks at the afpacket RX rings once a millisecond while idle; shared-mode
      // NFs sleep on their futex. A busy loop here shows as a whole core per process.
      const s = await stats();
      const pids = [mgr!.child.pid!, ...Object.values(s.services).flatMap((sv) => sv.instances.map((i) => i.pid as number))];
      const cpuSeconds = (pid: number): number => {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return (Number(f[11]) + Number(f[12])) / 100; // utime + stime in clock ticks (stat(5))
      };
      const before = pids.map(cpuSeconds);
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 2000));
      const wall = (performance.now() - t0) / 1000;
      const cores = pids.map((p, i) => (cpuSeconds(p) - before[i]) / wall);
      const report = pids.map((p, i) => `pid ${p}: ${cores[i].toFixed(2)} cores`).join(', ');
      for (const c of cores) assert.ok(c < 0.25, `an idle process used ${c.toFixed(2)} cores (${report})`);
    });

    test('netns-bench.sh down removes every namespace and veth it made', async () => {
      // Checked on a second pair of names so the running bench is not disturbed.
      const other = bench(`${H1}x`, `${H2}x`);
      await other.up();
      const listed = await run('ip', ['netns', 'list']);
      assert.match(listed, new RegExp(`\\b${H1}x\\b`));
      await other.down();
      const after = await run('ip', ['netns', 'list']);
      assert.doesNotMatch(after, new RegExp(`\\b${H1}x\\b`));
      assert.doesNotMatch(after, new RegExp(`\\b${H2}x\\b`));
      assert.doesNotMatch(await run('ip', ['-br', 'link']), new RegExp(`nv-${H1}x`));
    });
  });
}
