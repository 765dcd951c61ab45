// Target "port": port drivers' rxBurst through the PortDriver interface on inputs built from
// corrupted capture files. Today the one driver that reads files is pcap (created by the
// driver factory, as the manager does); a driver that reads files later goes in DRIVERS.
//
// Invariants: open() either succeeds or throws a NetvmError (NETVM_PCAP_FORMAT or
// NETVM_PORT_OPEN) that names the file, and allocates no more than a bounded multiple of the
// file's size; rxBurst never throws, returns 0..count, and fills exactly the buffers it
// reports with the records readPcap gives for the same file (length 1..dataRoom, data offset
// = headroom, timestamps), writing nothing into the buffers it does not fill nor outside the
// data room; the input ends — exhausted() — within records × repeat + 2 calls, after which
// rxBurst returns 0; odd counts (0, negative, NaN, more than the array) neither throw nor
// overrun; paced replay (option rate, on a fake clock) delivers the same; the driver's
// counters add up (packetsRead, filePackets = delivered + oversize + empty per pass); every
// descriptor comes back and the pool is whole.
//
// Now and then a case also sends buffers out through a writing pcap port (txBurst) with
// their metadata corrupted as an NF can leave it (length 0, negative, beyond the data room,
// data offset inside the metadata or past the buffer): txBurst never throws, writes exactly the
// valid ones (first, in order; the rest after them), counts the others in txInvalid, and the
// file it writes reads back as those packets.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NetvmError } from '../../../src/core/errors.js';
import { M_DATA_OFF, M_FLAGS, M_LEN, M_TS_NSEC, M_TS_SEC, META_BYTES } from '../../../src/core/layout.js';
import { readPcap } from '../../../src/ports/pcap/pcap-format.js';
import { createPortDriver } from '../../../src/ports/index.js';
import type { PortDriver } from '../../../src/ports/port-driver.js';
import { makeAccess, type FakePool } from '../../helpers/fake-pool.js';
import { corruptCapture, genCapture } from '../captures.js';
import { genFrame } from '../frames.js';
import { AllocMeter, BudgetExceeded, withAllocMeter } from '../meter.js';
import type { Rng } from '../prng.js';
import { check, defineTarget } from '../registry.js';

const BUF_COUNT = 128;
const POISON = 0xa5;

interface DriverSpec {
  name: string;
  /** The driver, how many times it replays the file, and its pace (packets/s, 0 = unpaced). */
  make(file: string, rng: Rng): { driver: PortDriver; repeat: number; rate: number };
}

/** File-reading drivers, built through the driver factory (src/ports/index.ts). */
const DRIVERS: DriverSpec[] = [
  {
    name: 'pcap',
    make: (file, rng) => {
      const repeat = rng.pick([1, 1, 2, 3]);
      const rate = rng.pick([0, 0, 0, 1, 100, 1e6]);
      return { driver: createPortDriver('pcap', { read: file, repeat, rate }), repeat, rate };
    },
  },
];

interface State {
  dir: string;
  pool: FakePool;
  delivered: number;
  calls: number;
  txCases: number;
}

/** Fills every buffer's data room with POISON (their metadata stays as the pool keeps it). */
function poison(pool: FakePool): void {
  const { u8, headroom, dataRoom } = pool.access;
  for (let i = 0; i < pool.bufCount; i++) {
    const base = pool.access.bufferOffset(i);
    u8.fill(POISON, base + headroom, base + headroom + dataRoom);
  }
}

/** Index of the first non-POISON byte in u8[from, to), or -1. */
function firstTouched(u8: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) if (u8[i] !== POISON) return i;
  return -1;
}

/** Buffers out through a writing pcap port, some with metadata an NF may have left broken. */
async function txLeg(s: State, rng: Rng, index: number): Promise<string> {
  const { pool } = s;
  const { access } = pool;
  const { i32, u8 } = access;
  const bufSize = access.headroom + access.dataRoom;
  const file = path.join(s.dir, `tx-${index}.pcap`);
  const format = rng.pick(['pcap', 'pcapng'] as const);
  const snaplen = rng.pick([65535, 65535, 100]);
  const driver = createPortDriver('pcap', { write: file, format, snaplen });
  await driver.open(access);
  const n = rng.int(1, 32);
  const descs = pool.alloc(n);
  const good: number[] = [];
  const bad: number[] = [];
  const expect: Uint8Array[] = [];
  try {
    for (let j = 0; j < n; j++) {
      const d = descs[j];
      pool.put(d, genFrame(rng).frame);
      const m = access.bufferOffset(d) >> 2;
      i32[m + M_TS_SEC] = rng.chance(0.5) ? 0 : rng.u32() | 0;
      i32[m + M_TS_NSEC] = rng.below(1_000_000_000);
      if (rng.chance(0.35)) {
        if (rng.bool()) i32[m + M_LEN] = rng.pick([0, -1, access.dataRoom + 1, 0x7fffffff, -0x80000000, rng.int(1, access.dataRoom)]);
        else i32[m + M_DATA_OFF] = rng.pick([0, 3, META_BYTES - 1, META_BYTES, bufSize, bufSize - 10, -64, 0x7fffffff]);
      }
      const len = i32[m + M_LEN];
      const off = i32[m + M_DATA_OFF];
      const base = access.bufferOffset(d);
      if (len >= 1 && len <= access.dataRoom && off >= META_BYTES && off + len <= bufSize) {
        good.push(d);
        expect.push(u8.slice(base + off, base + off + Math.min(len, snaplen)));
      } else bad.push(d);
    }
    const before = driver.stats().txInvalid;
    const arr = descs.slice();
    const k = driver.txBurst(arr, n, 1000);
    const where = `pcap tx (${format}, snaplen ${snaplen}): ${good.length} valid of ${n}`;
    check(k === good.length, () => `${where}: txBurst sent ${k}`);
    check(
      Array.from(arr).join() === [...good, ...bad].join(),
      () => `${where}: descriptors not reordered as sent-then-rest: ${Array.from(arr).join()} vs ${[...good, ...bad].join()}`,
    );
    check(
      driver.stats().txInvalid - before === bad.length,
      () => `${where}: txInvalid grew by ${driver.stats().txInvalid - before}, ${bad.length} invalid`,
    );
    await driver.close();
    const back = readPcap(fs.readFileSync(file), file).packets;
    check(back.length === expect.length, () => `${where}: the file holds ${back.length} records`);
    back.forEach((r, i) => check(Buffer.compare(r.data, expect[i]) === 0, () => `${where}: record ${i} differs from the packet sent`));
    return `tx ${good.length}/${n}`;
  } finally {
    await driver.close();
    pool.free(descs);
    fs.rmSync(file, { force: true });
  }
}

export default defineTarget<State>({
  name: 'port',
  description:
    'PortDriver rxBurst (pcap driver via createPortDriver) on corrupted capture files; pool whole, records as readPcap gives them',
  ciCases: 1200,
  setup: () => {
    const pool = makeAccess({ bufCount: BUF_COUNT });
    return { dir: fs.mkdtempSync(path.join(os.tmpdir(), 'netvm-fuzz-port-')), pool, delivered: 0, calls: 0, txCases: 0 };
  },
  teardown: (s) => fs.rmSync(s.dir, { recursive: true, force: true }),
  run: async (s, rng, index) => {
    if (rng.chance(0.3)) {
      await txLeg(s, rng, index);
      s.txCases++;
    }
    const spec = rng.pick(DRIVERS);
    const c = genCapture(rng);
    const { bytes, applied } = rng.chance(0.15) ? { bytes: c.bytes, applied: ['intact'] } : corruptCapture(rng, c);
    const file = path.join(s.dir, `case-${index}.${c.format}`);
    fs.writeFileSync(file, bytes);
    const where = `${spec.name} port on ${c.format} ${applied.join(', ')} (${bytes.length} bytes)`;
    // What the reader makes of the same bytes is what the driver must deliver.
    let expected: Uint8Array[] | null = null;
    let ts: { sec: number; nsec: number }[] = [];
    try {
      const f = readPcap(bytes, file);
      expected = f.packets.map((p) => p.data);
      ts = f.packets.map((p) => ({ sec: p.tsSec | 0, nsec: p.tsNsec }));
    } catch (err) {
      if (!(err instanceof NetvmError)) throw err;
    }
    const { pool } = s;
    const { access } = pool;
    const { driver, repeat, rate } = spec.make(file, rng);
    // The fake clock moves enough per call for at least one packet's worth of tokens.
    const step = rate > 0 ? Math.max(1000, 2000 / rate) * 1000 : 1000;
    const alloc = new AllocMeter((1 << 20) + 4 * bytes.length, (4 << 20) + 16 * bytes.length, `${spec.name} open`);
    try {
      await withAllocMeter(alloc, () => driver.open(access));
    } catch (err) {
      if (err instanceof BudgetExceeded) throw err;
      check(err instanceof NetvmError, () => `${where}: open threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
      check(err.code === 'NETVM_PCAP_FORMAT' || err.code === 'NETVM_PORT_OPEN', () => `${where}: open failed with ${err.code}`);
      check(err.message.includes(file), () => `${where}: the error does not name the file: ${err.message}`);
      check(expected === null, () => `${where}: open rejected a file readPcap reads: ${err.message}`);
      await driver.close();
      fs.rmSync(file);
      return `rejected at open`;
    }
    fs.rmSync(file);
    check(expected !== null, () => `${where}: open accepted a file readPcap rejects`);
    const room = access.dataRoom;
    const fits = expected.map((d, i) => ({ d, t: ts[i] })).filter((x) => x.d.length >= 1 && x.d.length <= room);
    const total = fits.length * repeat;
    let got = 0;
    let calls = 0;
    let odd = 0;
    const maxCalls = total + 2;
    try {
      while (!driver.exhausted()) {
        check(++calls - odd <= maxCalls, () => `${where}: not exhausted after ${maxCalls} rxBurst calls (${got} of ${total} packets)`);
        const have = rng.int(1, 48);
        const descs = pool.alloc(have);
        try {
          poison(pool);
          // Now and then an odd count: none, negative, not a number, more than the array holds.
          const count = rng.chance(0.1) ? rng.pick([0, -1, NaN, have + 7]) : have;
          const want = count > have ? have : count > 0 ? count : 0;
          const k = driver.rxBurst(descs, count, step * calls);
          check(Number.isInteger(k) && k >= 0 && k <= want, () => `${where}: rxBurst returned ${k} for count ${count} (${have} buffers)`);
          if (want === 0) odd++; // a call that could take nothing does not count against the bound
          for (let j = 0; j < have; j++) {
            const base = access.bufferOffset(descs[j]);
            const m = base >> 2;
            const dataStart = base + access.headroom;
            if (j >= k) {
              const t = firstTouched(access.u8, dataStart, dataStart + room);
              check(t < 0, () => `${where}: rxBurst wrote byte ${t - dataStart} of buffer ${j}, which it did not fill (k = ${k})`);
              continue;
            }
            const exp = fits[got % Math.max(1, fits.length)];
            check(got < total, () => `${where}: more than the ${total} packets the file holds × repeat ${repeat}`);
            const len = access.i32[m + M_LEN];
            check(
              access.i32[m + M_DATA_OFF] === access.headroom,
              () => `${where}: packet ${got} data offset ${access.i32[m + M_DATA_OFF]}`,
            );
            check(len === exp.d.length, () => `${where}: packet ${got} has length ${len}, the record ${exp.d.length}`);
            check(
              Buffer.compare(access.u8.subarray(dataStart, dataStart + len), exp.d) === 0,
              () => `${where}: packet ${got} bytes differ`,
            );
            const tail = firstTouched(access.u8, dataStart + ((len + 3) & ~3), dataStart + room);
            check(tail < 0, () => `${where}: packet ${got} (${len} bytes) wrote byte ${tail - dataStart} of its buffer`);
            check(
              access.i32[m + M_TS_SEC] === exp.t.sec && access.i32[m + M_TS_NSEC] === exp.t.nsec,
              () => `${where}: packet ${got} timestamp`,
            );
            check(access.i32[m + M_FLAGS] === 0, () => `${where}: packet ${got} flags ${access.i32[m + M_FLAGS]}`);
            got++;
          }
        } finally {
          pool.free(descs);
        }
      }
      check(got === total, () => `${where}: exhausted after ${got} packets, the file holds ${total} (× repeat ${repeat})`);
      const d = pool.alloc(8);
      try {
        check(driver.rxBurst(d, 8, step * (calls + 10)) === 0, `${where}: rxBurst gives packets after exhausted()`);
      } finally {
        pool.free(d);
      }
      const st = driver.stats();
      check(st.packetsRead === total, () => `${where}: stats.packetsRead ${st.packetsRead}, delivered ${total}`);
      check(st.filePackets === expected.length, () => `${where}: stats.filePackets ${st.filePackets}, the file holds ${expected!.length}`);
      check(st.oversize + st.empty === expected.length - fits.length, () => `${where}: oversize ${st.oversize} + empty ${st.empty}`);
    } finally {
      await driver.close();
    }
    check(pool.inUse() === 0 && pool.poolFree() === BUF_COUNT, () => `${where}: pool not whole (${pool.poolFree()} of ${BUF_COUNT} free)`);
    s.delivered += got;
    s.calls += calls;
    return total > 0 ? `delivered ${c.format}` : `opened, nothing to deliver`;
  },
  summary: (s) => [`${s.delivered} packets delivered in ${s.calls} rxBurst calls; ${s.txCases} cases also sent through txBurst`],
});
