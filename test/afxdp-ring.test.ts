// The afxdp port's ring logic against a stand-in kernel (test/helpers/fake-xsk.ts): no root
// needed. The fill/RX swap, the TX/completion swap with spares, index wrap-around, deferral
// when every TX entry is in use, kick retries, invalid descriptors, and close() giving back
// exactly the buffers the port held. The same driver on real veth interfaces is tested in
// test/privileged/afxdp-port.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AfXdpPort, type AfXdpOptions } from '../src/ports/afxdp/afxdp-port.js';
import { createPortDriver } from '../src/ports/index.js';
import { M_DATA_OFF, M_LEN, M_TS_NSEC } from '../src/core/layout.js';
import { FakeXsk } from './helpers/fake-xsk.js';
import { makeAccess, type FakePool } from './helpers/fake-pool.js';
import { portCompliance } from './port-compliance.js';
import { hex, udp } from './helpers/port-frames.js';

async function openFake(
  opts: Partial<AfXdpOptions> = {},
  pool: FakePool = makeAccess({ bufCount: 1024 }),
): Promise<{ port: AfXdpPort; fake: FakeXsk; pool: FakePool }> {
  const fake = new FakeXsk();
  const port = new AfXdpPort({ interface: 'veth-test', ringSize: 64, ...opts }, fake);
  await port.open(pool.access);
  return { port, fake, pool };
}

describe('afxdp port (stand-in kernel)', () => {
  portCompliance('afxdp (stand-in kernel)', async () => {
    const fake = new FakeXsk();
    class Fed extends AfXdpPort {
      override async open(access: Parameters<AfXdpPort['open']>[0]): Promise<void> {
        await super.open(access);
        fake.deliver(Array.from({ length: 60 }, (_, i) => udp(i, 60 + ((i * 37) % 1400))));
      }
    }
    return { driver: new Fed({ interface: 'veth-test', ringSize: 64 }, fake) };
  });

  test('open registers the pool as the UMEM and lends the kernel ringSize fill buffers and ringSize spares', async () => {
    const { port, fake, pool } = await openFake();
    const o = fake.opened!;
    assert.equal(o.region, pool.access.u8.buffer);
    assert.equal(o.umemOffset, pool.access.segmentOffset);
    assert.equal(o.umemLength, 1024 * 2048);
    assert.equal(o.chunkSize, 2048);
    assert.equal(o.txBudget, 64, 'one sendto() may send a whole ring');
    assert.equal(fake.fill.entries(), 64);
    assert.equal(port.heldBuffers(), 128);
    assert.equal(pool.inUse(), 128);
    await port.close();
    assert.equal(pool.inUse(), 0, 'close gives every one back');
    assert.equal(fake.closed, 1);
  });

  test("rxBurst swaps: the received buffers go to the caller, the caller's go to the fill ring; bytes and metadata are right", async () => {
    const { port, fake, pool } = await openFake();
    const frames = Array.from({ length: 40 }, (_, i) => udp(i, 60 + i * 30));
    assert.equal(fake.deliver(frames), 40);
    assert.equal(fake.fill.entries(), 24);
    const d = pool.alloc(64);
    const given = new Set(d);
    const k = port.rxBurst(d, 64, performance.now());
    assert.equal(k, 40);
    for (let i = 0; i < k; i++) {
      assert.equal(hex(pool.packet(d[i])), hex(frames[i]), `frame ${i}`);
      const m = pool.access.bufferOffset(d[i]) >> 2;
      assert.equal(pool.access.i32[m + M_DATA_OFF], 256, 'XDP_PACKET_HEADROOM into the chunk');
      assert.equal(pool.access.i32[m + M_LEN], frames[i].length);
      const ns = pool.access.i32[m + M_TS_NSEC];
      assert.ok(ns >= 0 && ns < 1e9);
      assert.ok(!given.has(d[i]), 'a buffer the kernel wrote, not one the caller gave');
    }
    for (let i = k; i < 64; i++) assert.ok(given.has(d[i]), "the unused ones stay the caller's");
    assert.equal(fake.fill.entries(), 64, 'the fill ring is full again');
    assert.equal(port.stats().rxPackets, 40);
    pool.free(d);
    await port.close();
    assert.equal(pool.inUse(), 0);
  });

  test('many rounds through small rings: indices wrap, nothing leaks, every frame arrives once and in order', async () => {
    const { port, fake, pool } = await openFake({ ringSize: 64 });
    const d = pool.alloc(32);
    const got: string[] = [];
    const want: string[] = [];
    for (let round = 0; round < 300; round++) {
      const frames = Array.from({ length: 1 + (round % 29) }, (_, i) => udp(round * 32 + i, 64 + ((round + i) % 700)));
      fake.deliver(frames);
      want.push(...frames.map(hex));
      const k = port.rxBurst(d, 32, performance.now());
      for (let i = 0; i < k; i++) got.push(hex(pool.packet(d[i])));
      // Send what arrived straight back out: the TX side wraps too.
      const s = port.txBurst(d, k, performance.now());
      assert.equal(s, k);
    }
    assert.deepEqual(got, want);
    assert.deepEqual(fake.sent.map(hex), want, 'sent in order, byte for byte');
    assert.ok(fake.rx.prod > 64 * 10 && fake.tx.prod > 64 * 10, 'the indices went round the rings many times');
    pool.free(d);
    await port.close();
    assert.equal(pool.inUse(), 0);
    assert.equal(pool.poolFree(), pool.bufCount);
  });

  test('txBurst swaps in spares and reports the bytes sent; with every entry in use the rest is deferred until completions come', async () => {
    const { port, fake, pool } = await openFake({ ringSize: 64 });
    fake.completeLater = true; // the device holds what it sent
    const frames = Array.from({ length: 80 }, (_, i) => udp(i, 100 + i));
    const d = pool.alloc(80);
    frames.forEach((f, i) => pool.put(d[i], f));
    const mine = new Set(d);
    const k = port.txBurst(d, 80, performance.now());
    assert.equal(k, 64, 'as many as there are spares');
    assert.equal(port.txDeferred, 16);
    for (let i = 0; i < 64; i++) assert.ok(!mine.has(d[i]), 'a spare in exchange');
    assert.equal(
      port.txSentBytes,
      frames.slice(0, 64).reduce((a, f) => a + f.length, 0),
      'txSentBytes: what the caller can no longer read from the spares',
    );
    for (let i = 64; i < 80; i++) assert.equal(d[i], [...mine][i], 'the deferred ones untouched, in order');
    assert.equal(port.stats().txRingFull, 1);
    assert.equal(port.txBurst(d.subarray(64), 16, performance.now()), 0, 'still nothing free');
    fake.complete();
    assert.equal(port.txBurst(d.subarray(64), 16, performance.now()), 16, 'completions are spares again');
    assert.deepEqual(fake.sent.map(hex), frames.map(hex));
    pool.free(d);
    await port.close();
    assert.equal(pool.inUse(), 0, 'the buffers still in the device come back at close');
  });

  test('invalid and oversized packets are refused and counted; the valid ones around them are sent', async () => {
    const { port, fake, pool } = await openFake();
    const d = pool.alloc(4);
    pool.put(d[0], udp(0, 64));
    pool.put(d[1], udp(1, 64));
    pool.access.i32[(pool.access.bufferOffset(d[1]) >> 2) + M_LEN] = 5; // shorter than an Ethernet header
    pool.put(d[2], udp(2, 1600)); // longer than MTU 1500 + 14
    pool.put(d[3], udp(3, 64));
    const ids = [...d];
    assert.equal(port.txBurst(d, 4, performance.now()), 2);
    assert.deepEqual([d[2], d[3]], [ids[1], ids[2]], 'the refused ones follow the sent ones, in order');
    const s = port.stats();
    assert.equal(s.txInvalid, 1);
    assert.equal(s.txOversize, 1);
    assert.equal(fake.sent.length, 2);
    pool.free(d);
    await port.close();
    assert.equal(pool.inUse(), 0);
  });

  test('a kick the kernel refuses for now (EAGAIN) is retried by a later rxBurst; other errors are counted', async () => {
    const { port, fake, pool } = await openFake();
    fake.kickErrors = [-11];
    const d = pool.alloc(2);
    pool.put(d[0], udp(0));
    pool.put(d[1], udp(1));
    assert.equal(port.txBurst(d, 2, 1000), 2);
    assert.equal(fake.sent.length, 0, 'queued in the TX ring');
    const r = pool.alloc(8);
    port.rxBurst(r, 8, 1000.5);
    assert.equal(fake.sent.length, 0, 'not before a millisecond');
    port.rxBurst(r, 8, 1001.5);
    assert.equal(fake.sent.length, 2, 'sent by the retry');
    assert.equal(port.stats().txKickErrors, 0);
    fake.kickErrors = [-100];
    pool.put(d[0], udp(2));
    port.txBurst(d, 1, 2000);
    assert.equal(port.stats().txKickErrors, 1, 'ENETDOWN counts');
    pool.free(d);
    pool.free(r);
    await port.close();
    assert.equal(pool.inUse(), 0);
  });

  test('an RX entry that names no buffer of the pool is skipped and counted, not handed on', async () => {
    const { port, fake, pool } = await openFake();
    fake.deliver([udp(0), udp(1)]);
    const e = fake.rx.at(0);
    fake.rx.w[e] = 5000 * 2048 + 256; // past the pool's 1024 buffers
    const d = pool.alloc(8);
    assert.equal(port.rxBurst(d, 8, performance.now()), 1);
    assert.equal(hex(pool.packet(d[0])), hex(udp(1)));
    assert.equal(port.stats().rxInvalid, 1);
    pool.free(d);
    await port.close();
  });

  test('the registry makes it from a config entry; open errors are mapped to codes that say what to do', async () => {
    assert.ok(createPortDriver('afxdp', { interface: 'eth1' }) instanceof AfXdpPort);
    const cases: [Partial<Error & { errno: number; syscall: string }>, string, RegExp][] = [
      [{ errno: 1, syscall: 'socket(AF_XDP)' }, 'NETVM_PERMISSION', /CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF/],
      [{ errno: 97, syscall: 'socket(AF_XDP)' }, 'NETVM_PORT_OPEN', /no AF_XDP sockets/],
      [{ errno: 12, syscall: 'setsockopt(XDP_UMEM_REG)' }, 'NETVM_PORT_OPEN', /locked-memory limit/],
      [{ errno: 16, syscall: 'bpf(BPF_LINK_CREATE) attaching the XDP program' }, 'NETVM_PORT_OPEN', /already has an XDP program/],
      [{ errno: 95, syscall: 'bpf(BPF_LINK_CREATE) attaching the XDP program' }, 'NETVM_PORT_OPEN', /try mode: generic/],
      [{ errno: 22, syscall: 'bind(AF_XDP)' }, 'NETVM_PORT_OPEN', /has no receive queue 3/],
    ];
    for (const [err, code, re] of cases) {
      const fake = new FakeXsk();
      fake.openError = Object.assign(new Error(`${err.syscall} failed`), err);
      const pool = makeAccess({ bufCount: 1024 });
      const port = new AfXdpPort(
        { interface: 'eth1', ringSize: 64, queue: 3, mode: code === 'NETVM_PORT_OPEN' && err.errno === 95 ? 'native' : 'auto' },
        fake,
      );
      await assert.rejects(port.open(pool.access), (e: Error & { code: string }) => e.code === code && re.test(e.message), err.syscall);
      assert.equal(pool.inUse(), 0);
    }
  });

  test('link follows the interface flags; xdpMode says where the program runs', async () => {
    const { port, fake } = await openFake();
    assert.equal(port.stats().link, 1);
    assert.equal(port.stats().xdpMode, 1);
    fake.link = 0;
    assert.equal(port.stats().link, 0);
    await port.close();
  });
});
