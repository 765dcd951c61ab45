// The afpacket port on real interfaces: veth pairs this file creates (and always removes).
// The PortDriver compliance suite, then what only a real kernel shows: frames byte for byte
// both ways, VLAN tags, PACKET_IGNORE_OUTGOING, PACKET_FANOUT hash, promiscuous mode,
// PACKET_QDISC_BYPASS, kernel counters, and the errors for a missing interface and a missing
// CAP_NET_RAW. Needs root; skipped with the reason otherwise.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { AfPacketPort, type AfPacketOptions } from '../../src/ports/afpacket/afpacket-port.js';
import { NetvmError } from '../../src/core/errors.js';
import { portCompliance } from '../port-compliance.js';
import { hex, receive, send, sleep, udp } from '../helpers/port-frames.js';
import { makeAccess, type FakePool } from '../helpers/fake-pool.js';
import { createRegion, removeRegion } from '../../src/core/region.js';
import { DEFAULT_PARAMS } from '../../src/core/layout.js';
import { alwaysCleanup, privilegedSkip, run, syncRun, tryRun, vethPair, withHugeRegion } from './sys.js';

const skip = privilegedSkip('creates veth pairs and opens AF_PACKET sockets', ['tc', 'setpriv']);
// Names unique to this process, so a parallel run elsewhere on the machine does not clash.
const tag = (process.pid % 10000).toString(36);
const A = `nvpa${tag}`;
const B = `nvpb${tag}`;

async function open(pool: FakePool, opts: Partial<AfPacketOptions> & { interface: string }): Promise<AfPacketPort> {
  const p = new AfPacketPort({ ringFrames: 256, ...opts });
  await p.open(pool.access);
  return p;
}

describe('afpacket port on veth', { skip }, () => {
  let cleanupNow = (): void => {};
  before(async () => {
    cleanupNow = alwaysCleanup(() => syncRun('ip', ['link', 'del', A]));
    await vethPair(A, B);
  });
  after(() => cleanupNow());

  // The suite's receive tests read without waiting: frames are made to arrive in open().
  portCompliance(`afpacket on veth ${A}`, async () => {
    const feederPool = makeAccess({ bufCount: 512 });
    const feeder = new AfPacketPort({ interface: B, ringFrames: 64 });
    class Fed extends AfPacketPort {
      override async open(access: Parameters<AfPacketPort['open']>[0]): Promise<void> {
        await super.open(access);
        await feeder.open(feederPool.access);
        await send(
          feeder,
          feederPool,
          Array.from({ length: 300 }, (_, i) => udp(i, 60 + ((i * 37) % 1400))),
        );
        for (let i = 0; i < 200 && !this.rxReady(); i++) await sleep(5);
        await sleep(20); // the rest of the frames' blocks
      }
    }
    return { driver: new Fed({ interface: A, ringFrames: 256 }), cleanup: () => feeder.close() };
  });

  test('frames of every size cross the veth byte for byte, both ways; counters agree with the kernel', async () => {
    const pool = makeAccess({ bufCount: 2048 });
    const a = await open(pool, { interface: A });
    const b = await open(pool, { interface: B });
    try {
      const frames = Array.from({ length: 200 }, (_, i) => udp(i, 60 + ((i * 89) % 1455)));
      assert.equal(await send(b, pool, frames), 200);
      const got = await receive(a, pool, 3000, 200);
      assert.deepEqual(got.map(hex), frames.map(hex), 'B -> A');
      const back = Array.from({ length: 50 }, (_, i) => udp(1000 + i, 1514));
      assert.equal(await send(a, pool, back), 50);
      assert.deepEqual((await receive(b, pool, 3000, 50)).map(hex), back.map(hex), 'A -> B');
      const s = a.stats();
      assert.equal(s.link, 1);
      assert.equal(s.rxPackets, 200);
      assert.equal(s.txPackets, 50);
      assert.equal(s.kernelPackets, 200, 'PACKET_STATISTICS: every received frame');
      assert.equal(s.kernelDrops, 0);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('an 802.1Q-tagged frame arrives with its tag (the kernel strips it into tp_vlan_tci; the port puts it back)', async () => {
    const pool = makeAccess({ bufCount: 512 });
    const a = await open(pool, { interface: A });
    const b = await open(pool, { interface: B });
    try {
      const frames = [udp(1, 200, { vlan: [0x2005] }), udp(2, 300), udp(3, 1518, { vlan: [100] })];
      assert.equal(await send(b, pool, frames), 3);
      assert.deepEqual((await receive(a, pool, 3000, 3)).map(hex), frames.map(hex));
      assert.equal(a.stats().rxVlanRestored, 2);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('ignoreOutgoing: a socket with it never sees frames leaving the interface; one without does', async () => {
    const pool = makeAccess({ bufCount: 512 });
    const quiet = await open(pool, { interface: A });
    const all = await open(pool, { interface: A, ignoreOutgoing: false });
    try {
      const frames = Array.from({ length: 20 }, (_, i) => udp(i, 100));
      assert.equal(await send(quiet, pool, frames), 20);
      assert.deepEqual((await receive(all, pool, 2000, 20)).map(hex), frames.map(hex), 'the frames left the interface');
      assert.equal((await receive(quiet, pool, 100)).length, 0, 'not even its own transmissions come back');
    } finally {
      await quiet.close();
      await all.close();
    }
  });

  test('fanout hash: two sockets in a group share the traffic by flow, both directions of a flow on one socket', async () => {
    const pool = makeAccess({ bufCount: 4096 });
    const group = 1000 + (process.pid % 20000);
    const s1 = await open(pool, { interface: A, fanout: { group } });
    const s2 = await open(pool, { interface: A, fanout: { group, mode: 'hash' } });
    const b = await open(pool, { interface: B });
    try {
      const flows = 48;
      const frames: Uint8Array[] = [];
      for (let r = 0; r < 3; r++)
        for (let f = 0; f < flows; f++) {
          frames.push(udp(f, 80));
          // The reverse direction of the same flow.
          frames.push(udp(0, 80, { src: '198.18.0.2', dst: '198.18.0.1', srcPort: 7, dstPort: 1000 + f }));
        }
      assert.equal(await send(b, pool, frames), frames.length);
      const [g1, g2] = await Promise.all([receive(s1, pool, 1500), receive(s2, pool, 1500)]);
      assert.equal(g1.length + g2.length, frames.length, 'each frame reaches exactly one socket of the group');
      const flowOf = (u: Uint8Array): number => {
        const sp = (u[34] << 8) | u[35];
        const dp = (u[36] << 8) | u[37];
        return sp === 7 ? dp - 1000 : sp - 1000;
      };
      const on1 = new Set(g1.map(flowOf));
      const on2 = new Set(g2.map(flowOf));
      assert.equal([...on1].filter((f) => on2.has(f)).length, 0, 'no flow is split, in either direction');
      assert.ok(on1.size > 0 && on2.size > 0, `both sockets get flows (${on1.size} and ${on2.size} of ${flows})`);
    } finally {
      await s1.close();
      await s2.close();
      await b.close();
    }
  });

  test('promiscuous: the interface is promiscuous while the port is open, and not after', async () => {
    const flags = (): number => parseInt(fs.readFileSync(`/sys/class/net/${A}/flags`, 'utf8'), 16);
    const IFF_PROMISC = 0x100;
    const pool = makeAccess({ bufCount: 256 });
    assert.equal(flags() & IFF_PROMISC, 0);
    const p = await open(pool, { interface: A });
    assert.equal(flags() & IFF_PROMISC, IFF_PROMISC);
    await p.close();
    assert.equal(flags() & IFF_PROMISC, 0, 'the membership ends with the socket');
    const q = await open(pool, { interface: A, promiscuous: false });
    assert.equal(flags() & IFF_PROMISC, 0);
    await q.close();
  });

  test('qdiscBypass: frames skip the interface queueing discipline (its counters do not move)', async () => {
    await run('tc', ['qdisc', 'add', 'dev', A, 'root', 'pfifo']);
    const qdiscSent = async (): Promise<number> => {
      const out = await run('tc', ['-s', 'qdisc', 'show', 'dev', A]);
      return Number(/Sent \d+ bytes (\d+) pkt/.exec(out)![1]);
    };
    const pool = makeAccess({ bufCount: 512 });
    try {
      const frames = Array.from({ length: 30 }, (_, i) => udp(i, 100));
      const viaQdisc = await open(pool, { interface: A });
      const q0 = await qdiscSent();
      await send(viaQdisc, pool, frames);
      await viaQdisc.close();
      assert.equal((await qdiscSent()) - q0, 30, 'without bypass: through the qdisc');
      const bypass = await open(pool, { interface: A, qdiscBypass: true });
      const q1 = await qdiscSent();
      assert.equal(await send(bypass, pool, frames), 30);
      await bypass.close();
      assert.equal((await qdiscSent()) - q1, 0, 'with bypass: straight to the device');
    } finally {
      await tryRun('tc', ['qdisc', 'del', 'dev', A, 'root']);
    }
  });

  /** Frames of every size around the copy view's switch, both ways between A (on `pa`) and B (on `pb`). */
  async function crossBothWays(pa: FakePool, pb: FakePool): Promise<void> {
    let a: AfPacketPort | null = null;
    let b: AfPacketPort | null = null;
    try {
      a = await open(pa, { interface: A });
      b = await open(pb, { interface: B });
      assert.equal(a.stats().copyView, 1, 'the region file and the rings mapped side by side');
      assert.equal(b.stats().copyView, 1);
      // Both sides of the 160-byte switch between the word loop and copyWithin, every
      // alignment, the largest frame, and a tagged one (restored by the word loop).
      const sizes = [60, 64, 159, 160, 161, 162, 163, 333, 1000, 1513, 1514];
      const frames = sizes.map((n, i) => udp(i, n));
      frames.push(udp(99, 1518, { vlan: [42] }));
      assert.equal(await send(b, pb, frames), frames.length);
      assert.deepEqual((await receive(a, pa, 3000, frames.length)).map(hex), frames.map(hex));
      const back = sizes.map((n, i) => udp(i, n, { src: '198.18.0.2', dst: '198.18.0.1' }));
      assert.equal(await send(a, pa, back), back.length);
      assert.deepEqual((await receive(b, pb, 3000, back.length)).map(hex), back.map(hex));
    } finally {
      await a?.close();
      await b?.close();
    }
  }

  const smallRegion = { ...DEFAULT_PARAMS, bufCount: 1024, ringSize: 256, flowEntries: 1024, maxSlots: 8, maxPorts: 4 };

  test('a pool in a region file (as the manager has): frames cross by one copyWithin on the copy view, byte for byte, both ways', async () => {
    const region = createRegion(`afpacket-test-${process.pid}`, smallRegion, 'never');
    try {
      // A maps the region's file again; B, given no file name, duplicates the mapping (mremap).
      await crossBothWays(makeAccess({ region }), makeAccess({ region, withFile: false }));
    } finally {
      removeRegion(region);
    }
  });

  test('a region on hugetlbfs: the copy view maps its file again at a huge-page boundary', async (t) => {
    await withHugeRegion(t, 'afpacket-huge', smallRegion, async (region) => {
      const pool = makeAccess({ region });
      await crossBothWays(pool, pool);
    });
  });

  test('link state follows the interface', async () => {
    const pool = makeAccess({ bufCount: 256 });
    const p = await open(pool, { interface: A });
    try {
      assert.equal(p.stats().link, 1);
      await run('ip', ['link', 'set', B, 'down']); // the peer down: no carrier on A
      // IFF_RUNNING follows the carrier through the kernel's linkwatch work, a moment later.
      for (let i = 0; i < 100 && p.stats().link === 1; i++) await sleep(10);
      assert.equal(p.stats().link, 0);
      await run('ip', ['link', 'set', B, 'up']);
      for (let i = 0; i < 100 && p.stats().link === 0; i++) await sleep(10);
      assert.equal(p.stats().link, 1);
    } finally {
      await p.close();
    }
  });

  test('without CAP_NET_RAW: NETVM_PERMISSION, saying which capability and how to grant it', async () => {
    const mod = new URL('../../src/ports/afpacket/afpacket-port.js', import.meta.url).pathname;
    const script = `import(${JSON.stringify(mod)}).then(async (m) => {
      try { await new m.AfPacketPort({ interface: ${JSON.stringify(A)} }).open({ dataRoom: 1920, headroom: 128 }); console.log('OPENED'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
    })`;
    // Root without CAP_NET_RAW: dropped from the bounding set, so exec leaves it out.
    const r = await tryRun('setpriv', ['--bounding-set', '-net_raw', '--inh-caps', '-net_raw', process.execPath, '-e', script]);
    const e = JSON.parse(r.out.trim().split('\n').pop()!) as { code: string; message: string };
    assert.equal(e.code, 'NETVM_PERMISSION', r.out);
    assert.match(e.message, /CAP_NET_RAW/);
    assert.match(e.message, /setcap cap_net_raw/);
  });
});

test('a missing interface is NETVM_PORT_OPEN naming it (no root needed to find out)', async () => {
  const p = new AfPacketPort({ interface: 'nv-no-such0' });
  await assert.rejects(
    p.open(makeAccess().access),
    (e: NetvmError) => e.code === 'NETVM_PORT_OPEN' && /interface "nv-no-such0" does not exist/.test(e.message),
  );
});
