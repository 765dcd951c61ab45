// The afxdp port on real interfaces: veth pairs this file creates (and always removes). The
// PortDriver compliance suite, then what only a real kernel shows: frames byte for byte both
// ways against an afpacket port on the peer, every buffer back in the pool after close, the
// XDP program gone with the port, and clear errors. Needs root; skipped with the reason
// otherwise. The option and pool checks that need no kernel are at the end, unskipped.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AfXdpPort, type AfXdpOptions } from '../../src/ports/afxdp/afxdp-port.js';
import { AfPacketPort } from '../../src/ports/afpacket/afpacket-port.js';
import { NetvmError } from '../../src/core/errors.js';
import { portCompliance } from '../port-compliance.js';
import { hex, receive, send, sleep, udp } from '../helpers/port-frames.js';
import { makeAccess, type FakePool } from '../helpers/fake-pool.js';
import { createRegion, removeRegion, type Region } from '../../src/core/region.js';
import { DEFAULT_PARAMS } from '../../src/core/layout.js';
import { alwaysCleanup, privilegedSkip, run, syncRun, tryRun, vethPair, withHugeRegion } from './sys.js';
import fs from 'node:fs';
import path from 'node:path';
import { writePcapFile } from '../../src/ports/pcap/pcap-format.js';
import { runCli, startCli, tmpDir, uniqueName, waitFor, describeFailure } from '../helpers/cli.js';

const skip = privilegedSkip('creates veth pairs, opens AF_XDP sockets and attaches XDP programs', ['setpriv']);
const tag = (process.pid % 10000).toString(36);
const A = `nvxa${tag}`;
const B = `nvxb${tag}`;
const smallRegion = { ...DEFAULT_PARAMS, bufCount: 1024, ringSize: 256, flowEntries: 1024, maxSlots: 8, maxPorts: 4 };
let regions = 0;

/** A pool in a region file in /dev/shm, as the manager has (an AF_XDP UMEM must be page-aligned shared memory). */
function regionPool(): { pool: FakePool; region: Region } {
  const region = createRegion(`afxdp-test-${process.pid}-${regions++}`, smallRegion, 'never');
  return { pool: makeAccess({ region }), region };
}

async function xdpProgs(ifname: string): Promise<string> {
  const out = await run('ip', ['-d', 'link', 'show', ifname]);
  return /prog\/xdp/.test(out) ? out : '';
}

describe('afxdp port on veth', { skip }, () => {
  let cleanupNow = (): void => {};
  before(async () => {
    cleanupNow = alwaysCleanup(() => syncRun('ip', ['link', 'del', A]));
    await vethPair(A, B);
  });
  after(() => cleanupNow());

  // The suite's receive tests read without waiting: frames are made to arrive in open().
  portCompliance(`afxdp on veth ${A}`, async () => {
    const { pool, region } = regionPool();
    const feederPool = makeAccess({ bufCount: 512 });
    const feeder = new AfPacketPort({ interface: B, ringFrames: 64 });
    class Fed extends AfXdpPort {
      override async open(access: Parameters<AfXdpPort['open']>[0]): Promise<void> {
        await super.open(access);
        await feeder.open(feederPool.access);
        await send(
          feeder,
          feederPool,
          Array.from({ length: 100 }, (_, i) => udp(i, 60 + ((i * 37) % 1400))),
        );
        for (let i = 0; i < 200 && !this.rxReady(); i++) await sleep(5);
        await sleep(20);
      }
    }
    return {
      driver: new Fed({ interface: A, ringSize: 64 }),
      pool,
      cleanup: async () => {
        await feeder.close();
        removeRegion(region);
      },
    };
  });

  test('frames of every size cross byte for byte, both ways (afpacket on the peer); every buffer is back after close', async () => {
    const { pool, region } = regionPool();
    const peerPool = makeAccess({ bufCount: 1024 });
    const a = new AfXdpPort({ interface: A, ringSize: 128 });
    const b = new AfPacketPort({ interface: B, ringFrames: 256 });
    try {
      await a.open(pool.access);
      await b.open(peerPool.access);
      assert.equal(a.heldBuffers(), 256, 'the fill ring and as many spares');
      assert.equal(pool.inUse(), 256);
      assert.ok(await xdpProgs(A), 'an XDP program is attached while the port is open');
      // More frames than the fill ring has buffers, in three rounds: the buffers rxBurst takes
      // from the caller go back to the kernel.
      const frames = Array.from({ length: 300 }, (_, i) => udp(i, 60 + ((i * 89) % 1455)));
      const got: Uint8Array[] = [];
      for (let r = 0; r < 3; r++) {
        assert.equal(await send(b, peerPool, frames.slice(r * 100, r * 100 + 100)), 100);
        got.push(...(await receive(a, pool, 3000, 100)));
      }
      assert.deepEqual(got.map(hex), frames.map(hex), 'B -> A');
      const back = Array.from({ length: 300 }, (_, i) => udp(1000 + i, [60, 1514, 777][i % 3]));
      assert.equal(await send(a, pool, back), 300, 'more than the TX ring holds: spares come back with completions');
      assert.deepEqual((await receive(b, peerPool, 3000, 300)).map(hex), back.map(hex), 'A -> B');
      const s = a.stats();
      assert.equal(s.link, 1);
      assert.equal(s.rxPackets, 300);
      assert.equal(s.txPackets, 300);
      assert.equal(s.kernelDrops, 0);
      assert.ok(s.xdpMode === 1 || s.xdpMode === 2);
    } finally {
      await a.close();
      await b.close();
      removeRegion(region);
    }
    assert.equal(pool.inUse(), 0, 'close() gave back every buffer it held');
    assert.equal(pool.poolFree(), pool.bufCount);
    assert.equal(await xdpProgs(A), '', 'the XDP program is gone with the port');
  });

  test('mode generic attaches in the generic hook; frames still cross', async () => {
    const { pool, region } = regionPool();
    const peerPool = makeAccess({ bufCount: 512 });
    const a = new AfXdpPort({ interface: A, ringSize: 64, mode: 'generic' });
    const b = new AfPacketPort({ interface: B, ringFrames: 64 });
    try {
      await a.open(pool.access);
      await b.open(peerPool.access);
      assert.equal(a.stats().xdpMode, 2);
      assert.match(await run('ip', ['-d', 'link', 'show', A]), /xdpgeneric/);
      const frames = Array.from({ length: 20 }, (_, i) => udp(i, 100 + i));
      assert.equal(await send(b, peerPool, frames), 20);
      assert.deepEqual((await receive(a, pool, 3000, 20)).map(hex), frames.map(hex));
    } finally {
      await a.close();
      await b.close();
      removeRegion(region);
    }
  });

  test('netvm start: a pcap replayed out of an afxdp port, every frame reaches the peer; at exit the pool is whole', async () => {
    const dir = tmpDir('netvm-afxdp-');
    const frames = Array.from({ length: 500 }, (_, i) => udp(i, 60 + ((i * 53) % 1455)));
    writePcapFile(
      path.join(dir, 'in.pcap'),
      frames.map((data, i) => ({ data, tsSec: 1, tsNsec: i })),
    );
    fs.writeFileSync(
      path.join(dir, 'chain.yaml'),
      `region: { bufCount: 4096, ringSize: 256 }
ports:
  in: { driver: pcap, read: in.pcap }
  out: { driver: afxdp, interface: ${A}, ringSize: 256 }
services:
  fwd: { nf: forward }
chains:
  default: [fwd, out]
`,
    );
    const peerPool = makeAccess({ bufCount: 2048 });
    const peer = new AfPacketPort({ interface: B, ringFrames: 1024 });
    await peer.open(peerPool.access);
    try {
      const stats = path.join(dir, 'stats.json');
      const name = uniqueName('afxdp');
      const mgr = startCli(['start', '--config', 'chain.yaml', '--name', name, '--stats-json', stats, '--quiet'], { cwd: dir });
      try {
        await waitFor('500 packets out of the afxdp port', async () => {
          if (mgr.child.exitCode !== null) throw new Error(`netvm start exited:\n${mgr.stderr()}`);
          const r = await runCli(['stats', '--name', name, '--json'], { timeoutMs: 5000 });
          return r.code === 0 && (JSON.parse(r.stdout) as { ports: Record<string, { tx: number }> }).ports.out.tx === 500;
        });
      } finally {
        mgr.child.kill('SIGINT');
      }
      // An afxdp port is a live input, so the manager runs until stopped; closing the port gives
      // back the buffers it lent the kernel, and the manager exits 0 only with the pool whole.
      const r = await mgr.exited;
      assert.equal(r.code, 0, describeFailure(r));
      const s = JSON.parse(fs.readFileSync(stats, 'utf8')) as {
        ports: Record<string, { tx: number; txBytes: number }>;
        pool: { size: number; free: number };
      };
      assert.equal(s.ports.out.tx, 500);
      assert.equal(
        s.ports.out.txBytes,
        frames.reduce((a, f) => a + f.length, 0),
        'txBytes counted from the port (it hands back spares, not the packets)',
      );
      assert.equal(s.pool.free, s.pool.size, 'the buffers the port lent the kernel are back');
      assert.deepEqual((await receive(peer, peerPool, 3000, 500)).map(hex), frames.map(hex), 'in order, byte for byte');
    } finally {
      await peer.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a pool on hugetlbfs (region hugePages: always) is a UMEM too: frames cross both ways', async (t) => {
    await withHugeRegion(t, 'afxdp-huge', smallRegion, async (region) => {
      const a = new AfXdpPort({ interface: A, ringSize: 64 });
      const b = new AfPacketPort({ interface: B, ringFrames: 64 });
      const pool = makeAccess({ region });
      const peerPool = makeAccess({ bufCount: 512 });
      try {
        await a.open(pool.access);
        await b.open(peerPool.access);
        const frames = Array.from({ length: 40 }, (_, i) => udp(i, 60 + i * 35));
        assert.equal(await send(b, peerPool, frames), 40);
        assert.deepEqual((await receive(a, pool, 3000, 40)).map(hex), frames.map(hex), 'B -> A');
        assert.equal(await send(a, pool, frames), 40);
        assert.deepEqual((await receive(b, peerPool, 3000, 40)).map(hex), frames.map(hex), 'A -> B');
      } finally {
        await a.close();
        await b.close();
      }
      assert.equal(pool.inUse(), 0);
    });
  });

  test('link state follows the interface', async () => {
    const { pool, region } = regionPool();
    const p = new AfXdpPort({ interface: A, ringSize: 64 });
    try {
      await p.open(pool.access);
      assert.equal(p.stats().link, 1);
      await run('ip', ['link', 'set', B, 'down']);
      for (let i = 0; i < 100 && p.stats().link === 1; i++) await sleep(10);
      assert.equal(p.stats().link, 0);
      await run('ip', ['link', 'set', B, 'up']);
      for (let i = 0; i < 100 && p.stats().link === 0; i++) await sleep(10);
      assert.equal(p.stats().link, 1);
    } finally {
      await run('ip', ['link', 'set', B, 'up']);
      await p.close();
      removeRegion(region);
    }
  });

  test('without CAP_NET_RAW: NETVM_PERMISSION, saying what it needs', async () => {
    const mod = new URL('../../src/ports/afxdp/afxdp-port.js', import.meta.url).pathname;
    const pool = new URL('../helpers/fake-pool.js', import.meta.url).pathname;
    const script = `Promise.all([import(${JSON.stringify(mod)}), import(${JSON.stringify(pool)})]).then(async ([m, f]) => {
      try { await new m.AfXdpPort({ interface: ${JSON.stringify(A)}, ringSize: 64 }).open(f.makeAccess({ bufCount: 1024 }).access); console.log('OPENED'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
    })`;
    const r = await tryRun('setpriv', ['--bounding-set', '-net_raw', '--inh-caps', '-net_raw', process.execPath, '-e', script]);
    const e = JSON.parse(r.out.trim().split('\n').pop()!) as { code: string; message: string };
    assert.equal(e.code, 'NETVM_PERMISSION', r.out);
    assert.match(e.message, /CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF/);
  });

  test('a second port on the same interface and queue: NETVM_PORT_OPEN saying the queue is taken', async () => {
    const { pool, region } = regionPool();
    const a = new AfXdpPort({ interface: A, ringSize: 64 });
    try {
      await a.open(pool.access);
      const again = new AfXdpPort({ interface: A, ringSize: 64 });
      await assert.rejects(
        again.open(pool.access),
        (e: NetvmError) => e.code === 'NETVM_PORT_OPEN' && /queue 0 of "nvxa\w+" is already bound/.test(e.message),
      );
    } finally {
      await a.close();
      removeRegion(region);
    }
    assert.equal(pool.inUse(), 0, 'the failed open gave back what it took');
  });
});

describe('afxdp port: checks that need no kernel', () => {
  test('a missing interface is NETVM_PORT_OPEN naming it (no root needed to find out)', async () => {
    const p = new AfXdpPort({ interface: 'nv-no-such0' });
    const pool = makeAccess({ bufCount: 8192 });
    await assert.rejects(
      p.open(pool.access),
      (e: NetvmError) => e.code === 'NETVM_PORT_OPEN' && /interface "nv-no-such0" does not exist/.test(e.message),
    );
    assert.equal(pool.inUse(), 0);
  });

  test('bad options are NETVM_PORT_OPEN naming the option', () => {
    const cases: [Partial<AfXdpOptions>, RegExp][] = [
      [{ interface: 'a b' }, /"interface"/],
      [{ interface: 'eth0', ringSize: 1000 }, /"ringSize" must be a power of two/],
      [{ interface: 'eth0', ringSize: 32 }, /"ringSize"/],
      [{ interface: 'eth0', mode: 'fast' as never }, /"mode" must be one of auto, native, generic/],
      [{ interface: 'eth0', queue: -1 }, /"queue"/],
      [{ interface: 'eth0', promiscuous: 'yes' as never }, /"promiscuous"/],
    ];
    for (const [o, re] of cases)
      assert.throws(
        () => new AfXdpPort(o as AfXdpOptions),
        (e: NetvmError) => e.code === 'NETVM_PORT_OPEN' && re.test(e.message),
        JSON.stringify(o),
      );
  });

  test('a pool the UMEM cannot be: buffer size, segments, too few buffers', async () => {
    await assert.rejects(
      new AfXdpPort({ interface: 'lo' }).open(makeAccess({ bufCount: 8192, bufSize: 1024 }).access),
      /buffers are 1024 bytes; an AF_XDP UMEM needs 2048 or 4096/,
    );
    const access = { ...makeAccess({ bufCount: 8192 }).access, segments: 2 };
    await assert.rejects(new AfXdpPort({ interface: 'lo' }).open(access), /needs region.segments: 1/);
    await assert.rejects(
      new AfXdpPort({ interface: 'lo', ringSize: 2048 }).open(makeAccess({ bufCount: 4096 }).access),
      /keeps 2 x ringSize = 4096 buffers, but the pool has 4096; raise region.bufCount to at least 8192/,
    );
  });
});
