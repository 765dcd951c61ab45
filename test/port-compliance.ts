// The compliance suite every PortDriver passes (generator, sink, pcap today; AF_PACKET,
// AF_XDP, VXLAN later). It only uses the PortDriver interface and a fake pool, so a new
// driver gets the whole contract by one call:
//
//   portCompliance('af_packet', async () => ({ driver: new AfPacketPort({...}), cleanup }));
//
// The suite owns every buffer: it allocates, hands descriptors to rxBurst/txBurst and frees
// them all afterwards, then checks the pool is whole (a driver that swaps, invents or loses a
// descriptor fails; the fake pool throws on a descriptor it never gave out). A driver that
// lends buffers to the kernel (afxdp) may swap, with buffers it allocated from the same pool.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { M_DATA_OFF, M_FLAGS, M_LEN, M_STAMP_F64, M_TS_NSEC, M_TS_SEC } from '../src/core/layout.js';
import type { PortDriver } from '../src/ports/port-driver.js';
import { buildPacket } from '../src/proto/build.js';
import { makeAccess, type FakePool } from './helpers/fake-pool.js';

export interface ComplianceSubject {
  driver: PortDriver;
  /** Runs after the driver is closed (remove temp files...). */
  cleanup?: () => Promise<void>;
  /** For a finite input: how many packets it produces in all before exhausted(). */
  expectRx?: number;
  /** The pool to run with (a driver that needs the manager's region file: afxdp); default a fresh one. */
  pool?: FakePool;
}

const BUF_COUNT = 512;

interface Ctx {
  driver: PortDriver;
  pool: FakePool;
  subject: ComplianceSubject;
  /** A fake clock: each call moves 1 s on, so rate-limited inputs always have tokens. */
  tick(): number;
  alloc(n: number): Int32Array;
}

/** Runs `body` with a fresh driver and pool, then closes, frees everything and checks the pool. */
async function withPort(
  make: () => Promise<ComplianceSubject>,
  body: (c: Ctx) => Promise<void> | void,
  opts: { open?: boolean } = {},
): Promise<void> {
  const subject = await make();
  const { driver } = subject;
  const pool = subject.pool ?? makeAccess({ bufCount: BUF_COUNT });
  const held: Int32Array[] = [];
  let clock = performance.now();
  const c: Ctx = {
    driver,
    pool,
    subject,
    tick: () => (clock += 1000),
    alloc: (n) => {
      const d = pool.alloc(n);
      held.push(d);
      return d;
    },
  };
  try {
    if (opts.open !== false) await driver.open(pool.access);
    await body(c);
  } finally {
    await driver.close();
    if (subject.cleanup) await subject.cleanup();
    // The suite owns freeing: every descriptor it allocated goes back exactly once.
    for (const d of held) pool.free(d);
  }
  assert.equal(pool.inUse(), 0, 'every descriptor allocated by the test was freed');
  assert.equal(pool.poolFree(), pool.bufCount, 'the pool is whole: no buffer leaked, duplicated or invented');
}

/**
 * After a burst the caller still holds as many buffers as it gave: the same ones, or, for a
 * driver that lends buffers to the kernel (heldBuffers(): afxdp), distinct allocated ones.
 */
function assertKept(driver: PortDriver, pool: FakePool, before: number[], descs: ArrayLike<number>, n: number): void {
  const after = sorted(descs, n);
  if (driver.heldBuffers === undefined) {
    assert.deepEqual(after, before, 'the driver keeps the set of descriptors it was given');
    return;
  }
  assert.equal(new Set(after).size, n, 'the descriptors the driver gave in exchange are distinct');
  for (const x of after) assert.ok(pool.isAllocated(x), `descriptor ${x} the driver gave in exchange is an allocated buffer`);
}

const sorted = (a: ArrayLike<number>, n: number): number[] =>
  Array.from(a)
    .slice(0, n)
    .sort((x, y) => x - y);

/** Poisons metadata so a driver that forgets to set a field is caught. */
function poison(pool: FakePool, descs: Int32Array, n: number, len: number, off: number): void {
  const { i32, f64 } = pool.access;
  for (let i = 0; i < n; i++) {
    const base = pool.access.bufferOffset(descs[i]);
    i32[(base >> 2) + M_LEN] = len;
    i32[(base >> 2) + M_DATA_OFF] = off;
    i32[(base >> 2) + M_FLAGS] = -1;
    i32[(base >> 2) + M_TS_SEC] = -1;
    i32[(base >> 2) + M_TS_NSEC] = -1;
    f64[(base >> 3) + M_STAMP_F64] = Number.NaN;
  }
}

function checkFilled(pool: FakePool, descs: Int32Array, k: number, where: string): void {
  const a = pool.access;
  const bufSize = a.headroom + a.dataRoom;
  for (let i = 0; i < k; i++) {
    const base = a.bufferOffset(descs[i]);
    const len = a.i32[(base >> 2) + M_LEN];
    const off = a.i32[(base >> 2) + M_DATA_OFF];
    assert.ok(Number.isInteger(len) && len >= 1 && len <= a.dataRoom, `${where}: packet ${i} has M_LEN ${len}, not in 1..${a.dataRoom}`);
    assert.ok(
      off >= a.headroom && off + len <= bufSize,
      `${where}: packet ${i} has M_DATA_OFF ${off} (len ${len}) outside ${a.headroom}..${bufSize}`,
    );
    const nsec = a.i32[(base >> 2) + M_TS_NSEC];
    assert.ok(nsec >= 0 && nsec < 1e9, `${where}: packet ${i} has M_TS_NSEC ${nsec}`);
  }
}

function assertCount(k: number, max: number, where: string): void {
  assert.ok(Number.isInteger(k) && k >= 0 && k <= max, `${where} returned ${k}, expected an integer in 0..${max}`);
}

function assertFiniteStats(driver: PortDriver, when: string): void {
  const s = driver.stats();
  assert.ok(s !== null && typeof s === 'object', `stats() ${when} returns an object`);
  for (const [k, v] of Object.entries(s))
    assert.ok(typeof v === 'number' && Number.isFinite(v), `stats().${k} ${when} is ${String(v)}, not a finite number`);
}

/** A valid frame of `size` bytes for transmit tests. */
function frame(i: number, size: number): Uint8Array {
  return buildPacket({ src: '198.18.0.1', dst: '198.19.0.1', proto: 'udp', srcPort: 1024 + i, dstPort: 9, size });
}

export function portCompliance(name: string, make: () => Promise<ComplianceSubject>): void {
  describe(`port compliance: ${name}`, () => {
    test('kind is a non-empty string; capabilities are booleans', async () => {
      await withPort(
        make,
        ({ driver }) => {
          assert.equal(typeof driver.kind, 'string');
          assert.ok(driver.kind.length > 0);
          assert.equal(typeof driver.canReceive, 'boolean');
          assert.equal(typeof driver.canTransmit, 'boolean');
          assert.ok(driver.lossless === undefined || typeof driver.lossless === 'boolean', 'lossless is a boolean when given');
          assert.ok(driver.canReceive || driver.canTransmit, 'a port does at least one of receive and transmit');
        },
        { open: false },
      );
    });

    test('open() then close() works; close() twice is safe', async () => {
      await withPort(make, async ({ driver }) => {
        await driver.close();
        await driver.close();
      });
    });

    test('bursts before open() and after close() return 0 without throwing', async () => {
      const subject = await make();
      const pool = subject.pool ?? makeAccess({ bufCount: BUF_COUNT });
      const d = pool.alloc(8);
      for (let i = 0; i < 8; i++) pool.put(d[i], frame(i, 64));
      try {
        assert.equal(subject.driver.rxBurst(d, 8, performance.now()), 0);
        assert.equal(subject.driver.txBurst(d, 8, performance.now()), 0);
        await subject.driver.open(pool.access);
        await subject.driver.close();
        assert.equal(subject.driver.rxBurst(d, 8, performance.now() + 1e6), 0);
        assert.equal(subject.driver.txBurst(d, 8, performance.now() + 1e6), 0);
      } finally {
        await subject.driver.close();
        if (subject.cleanup) await subject.cleanup();
        pool.free(d);
      }
      assert.equal(pool.poolFree(), pool.bufCount);
    });

    test('rxBurst with count 0 returns 0', async () => {
      await withPort(make, ({ driver, alloc, tick }) => {
        const d = alloc(4);
        assert.equal(driver.rxBurst(d, 0, tick()), 0);
      });
    });

    test('rxBurst returns at most count, keeps the descriptors, fills descs[0..k) with valid metadata', async () => {
      await withPort(make, ({ driver, pool, alloc, subject, tick }) => {
        const descs = alloc(64);
        let total = 0;
        for (let iter = 0; iter < 60 && !driver.exhausted(); iter++) {
          const count = 1 + ((iter * 7) % 64);
          poison(pool, descs, 64, -1, -1);
          const before = sorted(descs, 64);
          const k = driver.rxBurst(descs, count, tick());
          assertCount(k, count, `rxBurst(count ${count})`);
          assertKept(driver, pool, before, descs, 64);
          checkFilled(pool, descs, k, `rxBurst #${iter}`);
          total += k;
        }
        if (!driver.canReceive) assert.equal(total, 0);
        else if (subject.expectRx !== 0) assert.ok(total > 0, 'an input produced packets');
      });
    });

    test('a port that cannot receive returns 0 from rxBurst and is exhausted()', async (t) => {
      await withPort(make, ({ driver, alloc, tick }) => {
        if (driver.canReceive) {
          t.skip('port receives');
          return;
        }
        const d = alloc(16);
        assert.equal(driver.rxBurst(d, 16, tick()), 0);
        assert.equal(driver.exhausted(), true);
      });
    });

    test('a port that cannot transmit returns 0 from txBurst without throwing', async (t) => {
      await withPort(make, ({ driver, pool, alloc, tick }) => {
        if (driver.canTransmit) {
          t.skip('port transmits');
          return;
        }
        const d = alloc(16);
        for (let i = 0; i < 16; i++) pool.put(d[i], frame(i, 64));
        assert.equal(driver.txBurst(d, 16, tick()), 0);
      });
    });

    test('txBurst of valid packets returns k <= n and keeps the descriptors', async () => {
      await withPort(make, ({ driver, pool, alloc, tick }) => {
        const d = alloc(32);
        for (let i = 0; i < 32; i++) pool.put(d[i], frame(i, 60 + i * 40));
        const before = sorted(d, 32);
        const k = driver.txBurst(d, 32, tick());
        assertCount(k, 32, 'txBurst');
        assertKept(driver, pool, before, d, 32);
        const deferred = driver.txDeferred ?? 0;
        assert.ok(
          Number.isInteger(deferred) && deferred >= 0 && deferred <= 32 - k,
          `txDeferred ${deferred} is within the ${32 - k} unsent`,
        );
        assertCount(driver.txBurst(d, 0, tick()), 0, 'txBurst(count 0)');
        assert.equal(driver.txDeferred ?? 0, 0, 'txBurst(count 0) defers nothing');
      });
    });

    test('rxBurst and txBurst never throw on garbage metadata', async () => {
      await withPort(make, ({ driver, pool, alloc, tick }) => {
        const { i32, f64, bufferOffset } = pool.access;
        const d = alloc(48);
        const garbage: [number, number][] = [
          [0, 128],
          [2 ** 31 - 1, 128],
          [-1, 128],
          [64, -100000],
          [64, 2 ** 31 - 1],
          [pool.access.dataRoom + 1, 128],
          [1000, pool.bufSize - 10],
          [0, 0],
        ];
        for (let i = 0; i < 48; i++) {
          pool.put(d[i], frame(i, 64));
          const [len, off] = garbage[i % garbage.length];
          const m = bufferOffset(d[i]) >> 2;
          if (i % 3 !== 2) {
            i32[m + M_LEN] = len;
            i32[m + M_DATA_OFF] = off;
          }
          i32[m + M_TS_SEC] = i % 2 ? -1 : 0;
          i32[m + M_TS_NSEC] = i % 2 ? 2 ** 31 - 1 : -5;
          f64[(m >> 1) + M_STAMP_F64] = [Number.NaN, -1, 1e300, Infinity][i % 4];
        }
        const k = driver.txBurst(d, 48, tick());
        assertCount(k, 48, 'txBurst with garbage');
        poison(pool, d, 48, 2 ** 31 - 1, -7);
        const r = driver.rxBurst(d, 48, tick());
        assertCount(r, 48, 'rxBurst over garbage metadata');
        checkFilled(pool, d, r, 'rxBurst over garbage metadata');
        assertFiniteStats(driver, 'after garbage');
      });
    });

    test('stats() returns finite numbers only (before open, during traffic, after close)', async () => {
      const subject = await make();
      const pool = subject.pool ?? makeAccess({ bufCount: BUF_COUNT });
      const d = pool.alloc(32);
      try {
        assertFiniteStats(subject.driver, 'before open');
        await subject.driver.open(pool.access);
        assertFiniteStats(subject.driver, 'after open');
        let now = performance.now();
        for (let i = 0; i < 4; i++) {
          now += 1000;
          const k = subject.driver.rxBurst(d, 32, now);
          if (k === 0) for (let j = 0; j < 32; j++) pool.put(d[j], frame(j, 64));
          subject.driver.txBurst(d, Math.max(k, 32), now);
          if (subject.driver.nextDue) assert.ok(Number.isFinite(subject.driver.nextDue()), 'nextDue() is finite');
        }
        assertFiniteStats(subject.driver, 'after traffic');
        await subject.driver.close();
        assertFiniteStats(subject.driver, 'after close');
      } finally {
        await subject.driver.close();
        if (subject.cleanup) await subject.cleanup();
        pool.free(d);
      }
      assert.equal(pool.poolFree(), pool.bufCount);
    });

    test('a finite input produces exactly its packets, then is exhausted() and rxBurst returns 0', async (t) => {
      await withPort(make, ({ driver, pool, alloc, subject, tick }) => {
        const want = subject.expectRx;
        if (!driver.canReceive || want === undefined) {
          t.skip(driver.canReceive ? 'infinite input' : 'not an input');
          return;
        }
        const d = alloc(32);
        let total = 0;
        const maxIter = Math.ceil(want / 1) + 100;
        for (let i = 0; i < maxIter && !driver.exhausted(); i++) {
          const k = driver.rxBurst(d, 32, tick());
          assertCount(k, 32, 'rxBurst');
          checkFilled(pool, d, k, 'rxBurst');
          total += k;
        }
        assert.equal(driver.exhausted(), true, 'exhausted() after the input ran out');
        assert.equal(total, want, 'packets produced');
        for (let i = 0; i < 3; i++) assert.equal(driver.rxBurst(d, 32, tick()), 0, 'nothing after exhausted()');
        assert.equal(driver.exhausted(), true, 'stays exhausted');
      });
    });

    test('no buffer is leaked over many receive/transmit cycles', async () => {
      await withPort(make, ({ driver, pool, alloc, tick }) => {
        const d = alloc(64);
        for (let round = 0; round < 20; round++) {
          const now = tick();
          const k = driver.rxBurst(d, 64, now);
          if (k === 0) for (let j = 0; j < 64; j++) pool.put(d[j], frame(j, 64 + j));
          const n = k > 0 ? k : 64;
          const before = sorted(d, 64);
          const s = driver.txBurst(d, n, now);
          assertCount(s, n, 'txBurst');
          assertKept(driver, pool, before, d, 64);
        }
      });
    });
  });
}
