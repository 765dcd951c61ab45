// The afpacket port's ring logic against a stand-in kernel (test/helpers/fake-tpacket.ts): no
// root needed. How it walks TPACKET_V3 blocks, restores VLAN tags, completes partial
// checksums, fills and kicks the TX ring, reports errors and counters. The same driver on
// real veth interfaces is tested in test/privileged/afpacket-port.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AfPacketPort, type AfPacketOptions } from '../src/ports/afpacket/afpacket-port.js';
import { copyBytes } from '../src/ports/afpacket/copy.js';
import { createPortDriver } from '../src/ports/index.js';
import { M_DATA_OFF, M_FLAGS, M_LEN, M_STAMP_F64, M_TS_NSEC, M_TS_SEC } from '../src/core/layout.js';
import { NetvmError } from '../src/core/errors.js';
import { buildPacket } from '../src/proto/build.js';
import { ParsedPacket, parsePacket } from '../src/proto/parse.js';
import { verifyPacketChecksums } from '../src/proto/packet-checksum.js';
import * as T from '../src/ports/afpacket/tpacket.js';
import { FakeTpacket } from './helpers/fake-tpacket.js';
import { makeAccess, type FakePool } from './helpers/fake-pool.js';
import { portCompliance } from './port-compliance.js';
import { loadConfigFile } from '../src/config/load-config.js';
import { repoRoot } from './helpers/cli.js';
import path from 'node:path';

const hex = (u: Uint8Array): string => Buffer.from(u).toString('hex');

function udp(i: number, size = 64, extra: Partial<Parameters<typeof buildPacket>[0]> = {}): Uint8Array {
  return buildPacket({ src: '198.18.0.1', dst: '198.18.0.2', proto: 'udp', srcPort: 1000 + i, dstPort: 7, size, ...extra });
}

async function openFake(
  opts: Partial<AfPacketOptions> = {},
  pool: FakePool = makeAccess({ bufCount: 1024 }),
): Promise<{ port: AfPacketPort; fake: FakeTpacket; pool: FakePool }> {
  const fake = new FakeTpacket();
  const port = new AfPacketPort({ interface: 'veth-test', ringFrames: 64, ...opts }, fake);
  await port.open(pool.access);
  return { port, fake, pool };
}

describe('afpacket port (stand-in kernel)', () => {
  portCompliance('afpacket (stand-in kernel)', async () => {
    const fake = new FakeTpacket();
    // Packets arrive as soon as the socket is open, as on a busy link.
    class Fed extends AfPacketPort {
      override async open(access: Parameters<AfPacketPort['open']>[0]): Promise<void> {
        await super.open(access);
        for (let b = 0; b < 4; b++) fake.deliver(Array.from({ length: 20 }, (_, i) => ({ data: udp(b * 20 + i, 60 + i * 7) })));
      }
    }
    return { driver: new Fed({ interface: 'veth-test', ringFrames: 256 }, fake) };
  });

  test('options are checked, each error names its option', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{}, /"interface"/],
      [{ interface: '' }, /"interface"/],
      [{ interface: 'a-very-long-interface-name' }, /"interface"/],
      [{ interface: 'eth0', promiscuous: 'yes' }, /"promiscuous"/],
      [{ interface: 'eth0', qdiscBypass: 1 }, /"qdiscBypass"/],
      [{ interface: 'eth0', ignoreOutgoing: null }, /"ignoreOutgoing"/],
      [{ interface: 'eth0', txThread: 'yes' }, /"txThread"/],
      [{ interface: 'eth0', ringFrames: 8 }, /"ringFrames"/],
      [{ interface: 'eth0', ringFrames: 100.5 }, /"ringFrames"/],
      [{ interface: 'eth0', fanout: { group: 70000 } }, /"fanout"/],
      [{ interface: 'eth0', fanout: { group: 1, mode: 'roundrobin' } }, /"fanout".*mode/],
    ];
    for (const [o, re] of bad)
      assert.throws(
        () => new AfPacketPort(o as never, new FakeTpacket()),
        (e: NetvmError) => e.code === 'NETVM_PORT_OPEN' && re.test(e.message),
        JSON.stringify(o),
      );
    assert.ok(createPortDriver('afpacket', { interface: 'eth1' }) instanceof AfPacketPort);
  });

  test('open() asks for TPACKET_V3 rings sized from ringFrames and the buffer size, with the socket options given', async () => {
    const { fake } = await openFake({ ringFrames: 4096, promiscuous: false, qdiscBypass: true, fanout: { group: 9, mode: 'lb' } });
    const o = fake.opts!;
    assert.equal(o.interface, 'veth-test');
    assert.equal(o.txFrameSize, 2048, 'a 2 KiB buffer (1920 data bytes) fits a 2 KiB frame');
    assert.equal(o.blockSize, 65536);
    assert.equal(o.rxBlocks * o.blockSize, 4096 * 2048, 'the RX ring holds ringFrames frames');
    assert.equal(o.txFrames, 4096);
    assert.deepEqual([o.promiscuous, o.qdiscBypass, o.ignoreOutgoing, o.fanoutGroup, o.fanoutMode], [0, 1, 1, 9, T.FANOUT_MODES.lb]);
    const d = await openFake({ fanout: { group: 3 } });
    assert.deepEqual(
      [d.fake.opts!.promiscuous, d.fake.opts!.fanoutMode, d.fake.opts!.qdiscBypass],
      [1, T.FANOUT_MODES.hash, 0],
      'defaults',
    );
    assert.equal((await openFake()).fake.opts!.fanoutGroup, -1, 'no fanout unless asked');
    const jumbo = await openFake({}, makeAccess({ bufCount: 1024, bufSize: 16384 }));
    assert.equal(jumbo.fake.opts!.txFrameSize, 16384);
    assert.ok(jumbo.fake.opts!.blockSize >= 4 * 16384, 'an RX block holds several of the largest frames');
  });

  test('open() errors: missing interface, no CAP_NET_RAW, old kernel, fanout clash, ring too big', async () => {
    const cases: [Error & { errno?: number; syscall?: string }, string, RegExp][] = [
      [
        Object.assign(new Error('x'), { errno: T.ENODEV, syscall: 'if_nametoindex' }),
        'NETVM_PORT_OPEN',
        /interface "veth-test" does not exist/,
      ],
      [Object.assign(new Error('x'), { errno: T.EPERM, syscall: 'socket(AF_PACKET)' }), 'NETVM_PERMISSION', /CAP_NET_RAW.*setcap/],
      [
        Object.assign(new Error('x'), { errno: T.ENOPROTOOPT, syscall: 'setsockopt(PACKET_IGNORE_OUTGOING)' }),
        'NETVM_PORT_OPEN',
        /4\.20.*ignoreOutgoing: false/,
      ],
      [
        Object.assign(new Error('Invalid argument'), { errno: T.EINVAL, syscall: 'setsockopt(PACKET_FANOUT)' }),
        'NETVM_PORT_OPEN',
        /fanout group/,
      ],
      [
        Object.assign(new Error('Cannot allocate memory'), { errno: T.ENOMEM, syscall: 'setsockopt(PACKET_RX_RING)' }),
        'NETVM_PORT_OPEN',
        /smaller ringFrames/,
      ],
    ];
    for (const [err, code, re] of cases) {
      const fake = new FakeTpacket();
      fake.openError = err;
      const port = new AfPacketPort({ interface: 'veth-test' }, fake);
      await assert.rejects(port.open(makeAccess().access), (e: NetvmError) => e.code === code && re.test(e.message), err.syscall);
      assert.equal(port.rxBurst(new Int32Array(4), 4, 0), 0, 'a port that failed to open receives nothing');
    }
  });

  test('rxBurst walks blocks in order, across bursts, and gives a block back only once read', async () => {
    const { port, fake, pool } = await openFake();
    const frames = Array.from({ length: 30 }, (_, i) => udp(i, 60 + ((i * 97) % 1400)));
    assert.ok(fake.deliver(frames.slice(0, 12).map((data, i) => ({ data, sec: 100 + i, nsec: i * 1000 }))));
    assert.ok(fake.deliver(frames.slice(12).map((data, i) => ({ data, sec: 200 + i, nsec: 7 }))));
    assert.equal(fake.userBlocks(), 2);
    const d = pool.alloc(8);
    const got: string[] = [];
    const { i32, f64 } = pool.access;
    let first = true;
    for (let k; (k = port.rxBurst(d, 8, 0)) > 0;) {
      for (let j = 0; j < k; j++) {
        const m = pool.access.bufferOffset(d[j]) >> 2;
        const idx = got.length;
        assert.equal(i32[m + M_TS_SEC], idx < 12 ? 100 + idx : 200 + idx - 12);
        assert.equal(i32[m + M_TS_NSEC], idx < 12 ? idx * 1000 : 7);
        assert.equal(i32[m + M_FLAGS], 0, 'no hash: the kernel hash is not symmetric, the classifier computes one');
        assert.equal(f64[(m >> 1) + M_STAMP_F64], 0);
        got.push(hex(pool.packet(d[j])));
      }
      if (first) assert.equal(fake.userBlocks(), 2, 'a block partly read stays with us');
      first = false;
    }
    assert.deepEqual(got, frames.map(hex), 'every frame, byte for byte, in order');
    assert.equal(fake.userBlocks(), 0, 'both blocks went back to the kernel');
    assert.equal(port.stats().rxPackets, 30);
    // The ring wraps: blocks given back are filled again.
    for (let round = 0; round < 40; round++) {
      assert.ok(fake.deliver([{ data: udp(round) }]), `block ${round} free again`);
      assert.equal(port.rxBurst(d, 8, 0), 1);
      assert.equal(hex(pool.packet(d[0])), hex(udp(round)));
    }
    pool.free(d);
  });

  test('rxBurst copies with the source alignment (word copy) and handles a word-aligned tp_mac too', async () => {
    for (const mac of [82, 84, 83]) {
      const { port, fake, pool } = await openFake();
      fake.macOffset = mac;
      const frames = [udp(1, 61), udp(2, 1514), udp(3, 77)];
      fake.deliver(frames.map((data) => ({ data })));
      const d = pool.alloc(4);
      assert.equal(port.rxBurst(d, 4, 0), 3);
      for (let j = 0; j < 3; j++) {
        const off = pool.access.i32[(pool.access.bufferOffset(d[j]) >> 2) + M_DATA_OFF];
        assert.equal(off & 3, mac & 3, `data offset ${off} keeps tp_mac's alignment ${mac & 3}`);
        assert.equal(hex(pool.packet(d[j])), hex(frames[j]));
      }
      pool.free(d);
    }
  });

  test('an 802.1Q tag the kernel took out is put back (TPID 0x8100, or the one the kernel reports)', async () => {
    const { port, fake, pool } = await openFake();
    const tagged = udp(5, 100, { vlan: [0x2064] });
    const tagged8a = udp(6, 100, { vlan: [0x0123], vlanTpids: [0x88a8] });
    const strip = (f: Uint8Array): Uint8Array => new Uint8Array([...f.subarray(0, 12), ...f.subarray(16)]);
    fake.deliver([
      { data: strip(tagged), vlanTci: 0x2064 },
      { data: strip(tagged8a), vlanTci: 0x0123, vlanTpid: 0x88a8 },
    ]);
    const d = pool.alloc(2);
    assert.equal(port.rxBurst(d, 2, 0), 2);
    assert.equal(hex(pool.packet(d[0])), hex(tagged));
    assert.equal(hex(pool.packet(d[1])), hex(tagged8a));
    assert.equal(port.stats().rxVlanRestored, 2);
    pool.free(d);
  });

  test('TP_STATUS_CSUMNOTREADY: the partial TCP/UDP checksum (pseudo-header only) is completed', async () => {
    const { port, fake, pool } = await openFake();
    const frames = [
      udp(1, 300),
      buildPacket({ src: '198.18.0.1', dst: '198.18.0.2', proto: 'tcp', srcPort: 5000, dstPort: 80, size: 1000 }),
      buildPacket({ src: '2001:db8::1', dst: '2001:db8::2', proto: 'udp', srcPort: 5000, dstPort: 53, size: 200 }),
    ];
    const p = new ParsedPacket();
    const partial = frames.map((f) => {
      const c = f.slice();
      parsePacket(c, 0, c.length, p);
      const at = p.l4Offset + (p.l4Proto === 6 ? 16 : 6);
      c[at] = 0x12; // what the stack leaves: not the real checksum
      c[at + 1] = 0x34;
      assert.equal(verifyPacketChecksums(c, p), false);
      return c;
    });
    fake.deliver(partial.map((data) => ({ data, csumNotReady: true })));
    const d = pool.alloc(3);
    assert.equal(port.rxBurst(d, 3, 0), 3);
    for (let j = 0; j < 3; j++) assert.equal(hex(pool.packet(d[j])), hex(frames[j]), `frame ${j} has its full checksum`);
    assert.equal(port.stats().rxChecksumFilled, 3);
    pool.free(d);
  });

  test('truncated and oversize frames are counted and skipped without using a buffer', async () => {
    const pool = makeAccess({ bufCount: 1024, bufSize: 1024 }); // 896 data bytes
    const { port, fake } = await openFake({}, pool);
    fake.deliver([
      { data: udp(1, 200), wireLen: 9000 },
      { data: udp(2, 1000) },
      { data: udp(3, 893) },
      { data: udp(4, 60).subarray(0, 10) },
      { data: udp(5, 120) },
    ]);
    const d = pool.alloc(4);
    assert.equal(port.rxBurst(d, 4, 0), 2);
    assert.equal(hex(pool.packet(d[0])), hex(udp(3, 893)), 'fits: 893 bytes + 2 bytes of alignment <= 896');
    assert.equal(hex(pool.packet(d[1])), hex(udp(5, 120)));
    const s = port.stats();
    assert.equal(s.rxTruncated, 1);
    assert.equal(s.rxOversize, 2, 'the 1000-byte frame and the 10-byte runt');
    pool.free(d);
  });

  test('txBurst copies each packet into a TX frame, keeps its bytes whatever its alignment, one kick per burst', async () => {
    const { port, fake, pool } = await openFake();
    const d = pool.alloc(6);
    const frames = [udp(0, 60), udp(1, 1514), udp(2, 333), udp(3, 64), udp(4, 999), udp(5, 128)];
    const { i32, u8, bufferOffset, headroom } = pool.access;
    frames.forEach((f, i) => {
      const base = bufferOffset(d[i]);
      u8.set(f, base + headroom + (i % 4));
      i32[(base >> 2) + M_LEN] = f.length;
      i32[(base >> 2) + M_DATA_OFF] = headroom + (i % 4);
    });
    assert.equal(port.txBurst(d, 6, 0), 6);
    assert.equal(fake.kicks, 1);
    assert.deepEqual(fake.sent.map(hex), frames.map(hex));
    const s = port.stats();
    assert.equal(s.txPackets, 6);
    assert.equal(
      s.txBytes,
      frames.reduce((a, f) => a + f.length, 0),
    );
    assert.equal(port.txBurst(d, 0, 0), 0);
    assert.equal(fake.kicks, 1, 'an empty burst makes no system call');
    pool.free(d);
  });

  test('txBurst: invalid and oversize packets go after the sent ones and are counted', async () => {
    const { port, fake, pool } = await openFake();
    const d = pool.alloc(6);
    pool.put(d[0], udp(0, 100));
    pool.put(d[1], udp(1, 100));
    pool.access.i32[(pool.access.bufferOffset(d[1]) >> 2) + M_LEN] = 5; // shorter than an Ethernet header
    pool.put(d[2], udp(2, 1515)); // MTU 1500 + 14 + 1
    pool.put(d[3], udp(3, 1518, { vlan: [7] })); // tagged: 4 more bytes allowed
    pool.put(d[4], udp(4, 200));
    pool.put(d[5], udp(5, 200));
    pool.access.i32[(pool.access.bufferOffset(d[5]) >> 2) + M_DATA_OFF] = 2047;
    const order = Array.from(d);
    assert.equal(port.txBurst(d, 6, 0), 3);
    assert.deepEqual(Array.from(d), [order[0], order[3], order[4], order[1], order[2], order[5]]);
    assert.deepEqual(fake.sent.map(hex), [hex(udp(0, 100)), hex(udp(3, 1518, { vlan: [7] })), hex(udp(4, 200))]);
    const s = port.stats();
    assert.equal(s.txInvalid, 2);
    assert.equal(s.txOversize, 1);
    pool.free(d);
  });

  test('a full TX ring: txBurst sends what fits, counts the rest, and continues once the kernel frees frames', async () => {
    const { port, fake, pool } = await openFake({ ringFrames: 16 });
    fake.stall = true;
    const ring = fake.sock!.txFrames;
    const d = pool.alloc(ring + 8);
    for (let i = 0; i < d.length; i++) pool.put(d[i], udp(i, 64));
    const order = Array.from(d);
    assert.equal(port.txBurst(d, d.length, 0), ring, `a ring of ${ring} frames`);
    assert.deepEqual(Array.from(d), order, 'nothing reordered: the unsent follow the sent');
    assert.equal(port.txDeferred, 8, 'the 8 that found no frame are deferred (the manager offers them again)');
    assert.equal(port.stats().txRingFull, 1);
    assert.equal(port.txQueued(), ring);
    const rest = d.slice(ring);
    assert.equal(port.txBurst(rest, 8, 0), 0, 'still full');
    assert.equal(port.txDeferred, 8);
    fake.stall = false;
    fake.drainStalled();
    assert.equal(port.txBurst(rest, 8, 0), 8);
    assert.equal(port.txDeferred, 0);
    assert.deepEqual(
      fake.sent.map(hex),
      order.slice(ring).map((_, i) => hex(udp(ring + i, 64))),
      'the deferred ones go out in their order once frames are free (the stalled ones were dropped by the stand-in)',
    );
    pool.free(d);
  });

  test('txThread: false — a failed kick leaves the frames queued; rxBurst retries it a millisecond later; real errors are counted', async () => {
    const { port, fake, pool } = await openFake({ txThread: false });
    assert.equal(fake.txThreadStarts, 0, 'no transmit thread: the manager kicks');
    assert.equal(port.stats().txThread, 0);
    const d = pool.alloc(4);
    for (let i = 0; i < 4; i++) pool.put(d[i], udp(i));
    fake.kickErrors.push(-T.EAGAIN);
    assert.equal(port.txBurst(d, 2, 10), 2, 'copied into the ring: they will go');
    assert.equal(fake.sent.length, 0);
    port.rxBurst(d, 4, 10.5);
    assert.equal(fake.kicks, 1, 'not before a millisecond has passed');
    port.rxBurst(d, 4, 11);
    assert.equal(fake.kicks, 2);
    assert.equal(fake.sent.length, 2, 'the retry sent them');
    fake.kickErrors.push(-100); // ENETDOWN
    port.txBurst(d, 1, 20);
    assert.equal(port.stats().txKickErrors, 1);
    assert.equal(port.stats().txKicks, 3);
    port.rxBurst(d, 4, 21);
    assert.equal(fake.sent.length, 3);
    pool.free(d);
  });

  test('the transmit thread: started on open, woken only while it sleeps, its failures counted, stopped before the socket closes', async () => {
    const { port, fake, pool } = await openFake();
    assert.equal(fake.txThreadStarts, 1);
    const ctl = fake.txCtl!;
    const d = pool.alloc(8);
    for (let i = 0; i < 8; i++) pool.put(d[i], udp(i));
    assert.equal(port.txBurst(d, 2, 0), 2);
    assert.equal(fake.kicks, 1, 'it slept: one wake-up, one send()');
    assert.equal(fake.sent.length, 2);
    assert.equal(Atomics.load(ctl, T.TXC_SEQ), 1, 'each burst is announced on the sequence word');
    // Busy (not sleeping): the port only bumps the sequence; the thread's send() loop finds the frames.
    Atomics.store(ctl, T.TXC_SLEEPING, 0);
    assert.equal(port.txBurst(d, 3, 0), 3);
    assert.equal(fake.kicks, 1, 'no wake-up for a thread that is awake');
    assert.equal(Atomics.load(ctl, T.TXC_SEQ), 2);
    assert.equal(port.txQueued(), 3, 'marked, waiting for the send() in progress');
    Atomics.store(ctl, T.TXC_SLEEPING, 1);
    assert.equal(port.txBurst(d, 1, 0), 1);
    assert.equal(fake.sent.length, 6, 'the next send() takes every marked frame, in order');
    assert.deepEqual(
      fake.sent.slice(2).map(hex),
      [d[0], d[1], d[2], d[0]].map((_, i) => hex(udp(i < 3 ? i : 0))),
    );
    fake.kickErrors.push(-T.EAGAIN);
    port.txBurst(d, 1, 0);
    fake.kickErrors.push(-100); // ENETDOWN
    port.txBurst(d, 1, 0);
    let s = port.stats();
    assert.equal(s.txThread, 1);
    assert.equal(s.txThreadWakeups, 4);
    assert.equal(s.txKicks, 4);
    assert.equal(s.txKickRetries, 1, 'a full send buffer is retried, not an error');
    assert.equal(s.txKickErrors, 1);
    assert.equal(Atomics.load(ctl, T.TXC_LAST_ERR), 100);
    await port.close();
    assert.equal(fake.txThreadStops, 1);
    assert.ok(fake.closed);
    s = port.stats();
    assert.ok(s.txKicks >= 4, 'counters survive the close');
    assert.equal(s.txThread, 0);
    pool.free(d);
  });

  test('a transmit thread that cannot start fails open() with NETVM_PORT_OPEN and closes the socket', async () => {
    const fake = new FakeTpacket();
    fake.txStartError = Object.assign(new Error('pthread_create failed for the transmit thread: Resource temporarily unavailable'), {
      errno: 11,
    });
    const port = new AfPacketPort({ interface: 'veth-test', ringFrames: 64 }, fake);
    await assert.rejects(
      port.open(makeAccess({ bufCount: 64 }).access),
      (e: NetvmError) => e.code === 'NETVM_PORT_OPEN' && /txThread: false/.test(e.message),
    );
    assert.ok(fake.closed);
  });

  test('TX frames carry a plain virtio_net_hdr (hdr_len = the frame) when the kernel takes PACKET_VNET_HDR, and none otherwise', async () => {
    for (const vnet of [true, false]) {
      const fake = new FakeTpacket();
      fake.vnet = vnet;
      const pool = makeAccess({ bufCount: 64 });
      const port = new AfPacketPort({ interface: 'veth-test', ringFrames: 64 }, fake);
      await port.open(pool.access);
      assert.equal(fake.opts!.vnetHdr, 1, 'always asked for');
      assert.equal(port.stats().txVnetHdr, vnet ? 1 : 0);
      const frames = [udp(0, 60), udp(1, 1514), udp(2, 61), udp(3, 62), udp(4, 63)];
      const d = pool.alloc(frames.length);
      frames.forEach((f, i) => pool.put(d[i], f));
      // Every alignment of the data in the pool buffer (the frame offset follows it).
      frames.forEach((f, i) => {
        const base = pool.access.bufferOffset(d[i]);
        pool.access.u8.set(f, base + pool.access.headroom + i);
        pool.access.i32[(base >> 2) + M_DATA_OFF] = pool.access.headroom + i;
      });
      assert.equal(port.txBurst(d, d.length, 0), d.length);
      assert.deepEqual(fake.sent.map(hex), frames.map(hex), `vnet ${vnet}: the fake checked each header and stripped it`);
      pool.free(d);
      await port.close();
    }
  });

  test('a frame the kernel rejected (TP_STATUS_WRONG_FORMAT) is counted when its slot comes round again', async () => {
    const { port, fake, pool } = await openFake({ ringFrames: 16 });
    fake.rejectAt = 1;
    const ring = fake.sock!.txFrames;
    const d = pool.alloc(8);
    for (let i = 0; i < 8; i++) pool.put(d[i], udp(i));
    for (let sent = 0; sent < ring + 8; sent += 8) port.txBurst(d, 8, 0);
    assert.equal(port.stats().txKernelRejected, 1);
    assert.equal(fake.sent.length, ring + 8 - 1);
    pool.free(d);
  });

  test('stats: kernel counters add up over reads (the kernel resets them), link follows IFF_UP and IFF_RUNNING', async () => {
    const fresh = new AfPacketPort({ interface: 'veth-test' }, new FakeTpacket());
    for (const v of Object.values(fresh.stats())) assert.ok(Number.isFinite(v));
    assert.equal(fresh.stats().link, 0, 'not open: no link');
    const { port, fake } = await openFake();
    fake.kernel.packets = 10;
    fake.kernel.drops = 2;
    fake.kernel.freezes = 1;
    let s = port.stats();
    assert.deepEqual([s.kernelPackets, s.kernelDrops, s.kernelFreezes, s.link], [10, 2, 1, 1]);
    fake.kernel.packets = 5;
    fake.kernel.drops = 1;
    fake.kernel.flags = T.IFF_UP; // no carrier
    s = port.stats();
    assert.deepEqual([s.kernelPackets, s.kernelDrops, s.kernelFreezes, s.link], [15, 3, 1, 0]);
    fake.kernel.flags = -1; // interface gone
    assert.equal(port.stats().link, 0);
  });

  test('close() releases the socket; bursts afterwards do nothing', async () => {
    const { port, fake, pool } = await openFake();
    fake.deliver([{ data: udp(1) }]);
    await port.close();
    assert.equal(fake.closed, true);
    const d = pool.alloc(2);
    pool.put(d[0], udp(0));
    assert.equal(port.rxBurst(d, 2, 0), 0);
    assert.equal(port.txBurst(d, 1, 0), 0);
    await port.close();
    pool.free(d);
  });
});

test('examples/netns-bench.yaml: two afpacket ports, a chain per direction chosen by inPort', () => {
  const c = loadConfigFile(path.join(repoRoot, 'examples', 'netns-bench.yaml'));
  assert.deepEqual(
    c.ports.map((p) => [p.name, p.driver, p.options.interface, p.input, p.output]),
    [
      ['h1', 'afpacket', 'nv-h1', true, true],
      ['h2', 'afpacket', 'nv-h2', true, true],
    ],
  );
  assert.deepEqual(
    c.rules.map((r) => [r.match.inPort, r.chainName]),
    [
      [0, 'to-h2'],
      [1, 'to-h1'],
    ],
  );
  assert.deepEqual(
    c.chains.map((ch) => ch.steps.map((st) => (st.kind === 'drop' ? 'drop' : st.name))),
    [
      ['mon', 'fwd', 'h2'],
      ['mon', 'fwd', 'h1'],
    ],
  );
});

describe('copyBytes', () => {
  test('copies exactly len bytes for every alignment pair and length, touching nothing else', () => {
    const src = new Uint8Array(256);
    for (let i = 0; i < src.length; i++) src[i] = (i * 131 + 7) & 0xff;
    const s32 = new Int32Array(src.buffer);
    for (let s = 0; s < 8; s++)
      for (let d = 0; d < 8; d++)
        for (const len of [0, 1, 3, 15, 16, 17, 31, 64, 65, 150]) {
          const dst = new Uint8Array(256).fill(0xee);
          copyBytes(src, s32, s, dst, new Int32Array(dst.buffer), d, len);
          assert.equal(hex(dst.subarray(d, d + len)), hex(src.subarray(s, s + len)), `s ${s} d ${d} len ${len}`);
          assert.ok(
            dst.subarray(0, d).every((x) => x === 0xee) && dst.subarray(d + len).every((x) => x === 0xee),
            'nothing outside is written',
          );
        }
  });
});
