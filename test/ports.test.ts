// Port drivers: the compliance suite for every driver, then what is specific to each —
// pcap/pcapng reading (byte orders, precisions, if_tsresol, sections, unknown blocks,
// truncation, link types), writing (round trips byte-identical), replay (repeat, rate,
// oversize), the sink's latency statistics and the generator's packets.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FLAG_HASH } from '../src/ports/port-driver.js';
import { GeneratorPort } from '../src/ports/generator/generator-port.js';
import { SinkPort } from '../src/ports/sink/sink-port.js';
import { PcapPort } from '../src/ports/pcap/pcap-port.js';
import { PcapWriter, readPcap, readPcapFile, writePcap, writePcapFile, type PcapWriteRecord } from '../src/ports/pcap/pcap-format.js';
import { createPortDriver } from '../src/ports/index.js';
import { M_DATA_OFF, M_FLAGS, M_HASH, M_LEN, M_STAMP_F64, M_TS_NSEC, M_TS_SEC } from '../src/core/layout.js';
import { buildPacket } from '../src/proto/build.js';
import { ParsedPacket, parsePacket } from '../src/proto/parse.js';
import { verifyPacketChecksums } from '../src/proto/packet-checksum.js';
import { SYMMETRIC_RSS_KEY, Toeplitz } from '../src/proto/toeplitz.js';
import { NetvmError } from '../src/core/errors.js';
import { portCompliance } from './port-compliance.js';
import { makeAccess } from './helpers/fake-pool.js';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'netvm-ports-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let tmpSeq = 0;
const tmpFile = (name: string): string => path.join(tmpRoot, `${tmpSeq++}-${name}`);

/** n distinct frames of varied sizes and protocols, timestamps 1 ms apart with ns detail. */
function fixture(n: number, sizes: number[] = [60, 64, 128, 333, 1514, 90, 1000]): PcapWriteRecord[] {
  const out: PcapWriteRecord[] = [];
  for (let i = 0; i < n; i++) {
    const v6 = i % 3 === 2;
    const data = buildPacket({
      src: v6 ? '2001:db8::1' : '198.18.0.1',
      dst: v6 ? `2001:db8::2:${(i + 1).toString(16)}` : `198.19.${i >> 8}.${i & 0xff}`,
      proto: (['udp', 'tcp', 'icmp'] as const)[i % 3],
      srcPort: 1000 + i,
      dstPort: 80,
      icmpId: i,
      size: v6 ? Math.max(sizes[i % sizes.length], 70) : sizes[i % sizes.length],
    });
    out.push({ data, tsSec: 1_700_000_000 + i, tsNsec: (i * 1_001_001) % 1_000_000_000 });
  }
  return out;
}

const usRecords = (recs: PcapWriteRecord[]): PcapWriteRecord[] => recs.map((r) => ({ ...r, tsNsec: Math.floor(r.tsNsec / 1000) * 1000 }));
const hex = (u: Uint8Array): string => Buffer.from(u).toString('hex');

function codeOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    return { code: (e as NetvmError).code, message: (e as Error).message };
  }
  assert.fail('expected an error');
}

async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: NetvmError) => {
    assert.equal(e.code, code);
    assert.match(e.message, re);
    return true;
  });
}

// ----------------------------------------------------------------------------- compliance

portCompliance('generator (count 1000)', async () => ({ driver: new GeneratorPort({ count: 1000 }), expectRx: 1000 }));
portCompliance('generator (unbounded, rate 50000, stamped, IPv6 TCP)', async () => ({
  driver: new GeneratorPort({ rate: 50000, stamp: true, ipVersion: 6, proto: 'tcp', flows: 7, size: 90 }),
}));
portCompliance('sink', async () => ({ driver: new SinkPort({}) }));
portCompliance('sink (latency off)', async () => ({ driver: new SinkPort({ latency: false }) }));
portCompliance('sink (rate 2000: defers most of a burst)', async () => ({ driver: new SinkPort({ rate: 2000 }) }));
portCompliance('pcap read', async () => {
  const file = tmpFile('compliance-in.pcap');
  writePcapFile(file, fixture(40), { format: 'pcap', precision: 'us' });
  return { driver: new PcapPort({ read: file }), expectRx: 40, cleanup: async () => fs.rmSync(file, { force: true }) };
});
portCompliance('pcap read (pcapng, repeat 3, rate 2000)', async () => {
  const file = tmpFile('compliance-in.pcapng');
  writePcapFile(file, fixture(25), { format: 'pcapng', precision: 'ns' });
  return { driver: new PcapPort({ read: file, repeat: 3, rate: 2000 }), expectRx: 75 };
});
portCompliance('pcap write', async () => {
  const file = tmpFile('compliance-out.pcap');
  return { driver: new PcapPort({ write: file }), cleanup: async () => fs.rmSync(file, { force: true }) };
});
portCompliance('pcap read + write (pcapng ns)', async () => {
  const inFile = tmpFile('rw-in.pcap');
  writePcapFile(inFile, fixture(10), {});
  return { driver: new PcapPort({ read: inFile, write: tmpFile('rw-out.pcapng'), format: 'pcapng', precision: 'ns' }), expectRx: 10 };
});

// ----------------------------------------------------------------------- hand-made captures

interface RawRec {
  sec: number;
  frac: number;
  data: Uint8Array;
  orig?: number;
}

/** A classic pcap file built field by field (independent of the writer under test). */
function classic(opts: { le: boolean; ns: boolean; linkType?: number; snaplen?: number; major?: number }, recs: RawRec[]): Uint8Array {
  const size = 24 + recs.reduce((a, r) => a + 16 + r.data.length, 0);
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, opts.ns ? 0xa1b23c4d : 0xa1b2c3d4, opts.le);
  dv.setUint16(4, opts.major ?? 2, opts.le);
  dv.setUint16(6, 4, opts.le);
  dv.setUint32(16, opts.snaplen ?? 262144, opts.le);
  dv.setUint32(20, opts.linkType ?? 1, opts.le);
  let o = 24;
  for (const r of recs) {
    dv.setUint32(o, r.sec, opts.le);
    dv.setUint32(o + 4, r.frac, opts.le);
    dv.setUint32(o + 8, r.data.length, opts.le);
    dv.setUint32(o + 12, r.orig ?? r.data.length, opts.le);
    b.set(r.data, o + 16);
    o += 16 + r.data.length;
  }
  return b;
}

/** pcapng blocks built field by field. */
class Ng {
  private parts: Uint8Array[] = [];
  constructor(private le: boolean) {}
  private block(type: number, body: Uint8Array): this {
    const padded = (body.length + 3) & ~3;
    const len = 12 + padded;
    const b = new Uint8Array(len);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, type, this.le);
    dv.setUint32(4, len, this.le);
    b.set(body, 8);
    dv.setUint32(len - 4, len, this.le);
    this.parts.push(b);
    return this;
  }
  private body(n: number, fill: (dv: DataView, b: Uint8Array) => void): Uint8Array {
    const b = new Uint8Array(n);
    fill(new DataView(b.buffer), b);
    return b;
  }
  shb(): this {
    return this.block(
      0x0a0d0d0a,
      this.body(16, (dv) => {
        dv.setUint32(0, 0x1a2b3c4d, this.le);
        dv.setUint16(4, 1, this.le);
        dv.setUint16(6, 0, this.le);
        dv.setInt32(8, -1, this.le);
        dv.setInt32(12, -1, this.le);
      }),
    );
  }
  idb(linkType: number, snaplen: number, tsresol?: number, tsoffset?: number): this {
    const b = this.body(8 + (tsresol !== undefined ? 8 : 0) + (tsoffset !== undefined ? 12 : 0) + 4 + 8, (dv, u8) => {
      dv.setUint16(0, linkType, this.le);
      dv.setUint32(4, snaplen, this.le);
      let o = 8;
      // An unknown option first (if_name), to be skipped.
      dv.setUint16(o, 2, this.le);
      dv.setUint16(o + 2, 3, this.le);
      u8.set([101, 116, 104], o + 4);
      o += 8;
      if (tsresol !== undefined) {
        dv.setUint16(o, 9, this.le);
        dv.setUint16(o + 2, 1, this.le);
        u8[o + 4] = tsresol;
        o += 8;
      }
      if (tsoffset !== undefined) {
        dv.setUint16(o, 14, this.le);
        dv.setUint16(o + 2, 8, this.le);
        dv.setBigInt64(o + 4, BigInt(tsoffset), this.le);
        o += 12;
      }
      dv.setUint32(o, 0, this.le); // opt_endofopt
    });
    return this.block(1, b);
  }
  epb(ifId: number, ts: bigint, data: Uint8Array, orig = data.length): this {
    return this.block(
      6,
      this.body(20 + ((data.length + 3) & ~3), (dv, u8) => {
        dv.setUint32(0, ifId, this.le);
        dv.setUint32(4, Number(ts >> 32n), this.le);
        dv.setUint32(8, Number(ts & 0xffffffffn), this.le);
        dv.setUint32(12, data.length, this.le);
        dv.setUint32(16, orig, this.le);
        u8.set(data, 20);
      }),
    );
  }
  spb(data: Uint8Array, orig = data.length): this {
    return this.block(
      3,
      this.body(4 + data.length, (dv, u8) => {
        dv.setUint32(0, orig, this.le);
        u8.set(data, 4);
      }),
    );
  }
  unknown(type: number, n: number): this {
    return this.block(type, new Uint8Array(n).fill(0xee));
  }
  /** Switches byte order for a following section. */
  order(le: boolean): this {
    this.le = le;
    return this;
  }
  bytes(): Uint8Array {
    return Buffer.concat(this.parts);
  }
}

const pkt = (i: number, size = 60): Uint8Array =>
  buildPacket({ src: '198.18.0.1', dst: '198.19.0.1', proto: 'udp', srcPort: 1000 + i, dstPort: 53, size });

// ------------------------------------------------------------------------------ pcap read

describe('pcap format: reading', () => {
  for (const le of [true, false]) {
    for (const ns of [false, true]) {
      test(`classic pcap, ${le ? 'little' : 'big'}-endian, ${ns ? 'nanosecond' : 'microsecond'} timestamps`, () => {
        const recs: RawRec[] = [
          { sec: 1_700_000_000, frac: ns ? 123_456_789 : 123_456, data: pkt(0, 60) },
          { sec: 4_000_000_000, frac: ns ? 999_999_999 : 999_999, data: pkt(1, 200), orig: 1500 },
          { sec: 0, frac: 0, data: pkt(2, 64) },
        ];
        const f = readPcap(classic({ le, ns, snaplen: 9000 }, recs), 'x.pcap');
        assert.equal(f.format, 'pcap');
        assert.equal(f.precision, ns ? 'ns' : 'us');
        assert.equal(f.linkType, 1);
        assert.equal(f.snaplen, 9000);
        assert.equal(f.packets.length, 3);
        for (let i = 0; i < 3; i++) {
          assert.equal(f.packets[i].tsSec, recs[i].sec);
          assert.equal(f.packets[i].tsNsec, ns ? recs[i].frac : recs[i].frac * 1000);
          assert.equal(hex(f.packets[i].data), hex(recs[i].data));
          assert.equal(f.packets[i].origLen, recs[i].orig ?? recs[i].data.length);
        }
      });
    }
  }

  test('classic pcap: the FCS bits above the link type are ignored', () => {
    const f = readPcap(classic({ le: true, ns: false, linkType: 0x10000001 }, [{ sec: 1, frac: 0, data: pkt(0) }]));
    assert.equal(f.linkType, 1);
    assert.equal(f.packets.length, 1);
  });

  test('pcapng: if_tsresol (10^-9, 2^-3, default 10^-6), if_tsoffset, EPB, SPB, unknown blocks, two sections in both byte orders', () => {
    const d = [pkt(0, 60), pkt(1, 61), pkt(2, 99), pkt(3, 1514), pkt(4, 70), pkt(5, 64)];
    const bytes = new Ng(true)
      .shb()
      .unknown(0x00000bad, 20) // custom / unknown block before any interface
      .idb(1, 65535, 9) // interface 0: nanoseconds
      .idb(1, 100, 0x83, 1000) // interface 1: 1/8 s units, offset +1000 s, snaplen 100
      .epb(0, 1_700_000_000_123_456_789n, d[0])
      .epb(1, 8n * 5n + 3n, d[1], 1000) // 5.375 s + 1000
      .unknown(4, 8) // name resolution block
      .unknown(5, 16) // interface statistics block
      .spb(d[3]) // interface 0 snaplen 65535: whole packet
      .order(false)
      .shb() // a new section, big-endian: interfaces restart
      .idb(1, 0) // default resolution: microseconds
      .epb(0, 1_700_000_001_000_002n, d[4])
      .spb(d[5])
      .bytes();
    const f = readPcap(bytes, 'two-sections.pcapng');
    assert.equal(f.format, 'pcapng');
    assert.equal(f.precision, 'ns');
    assert.equal(f.linkType, 1);
    assert.equal(f.snaplen, 65535);
    assert.deepEqual(
      f.packets.map((p) => [p.tsSec, p.tsNsec, p.data.length, p.origLen]),
      [
        [1_700_000_000, 123_456_789, 60, 60],
        [1005, 375_000_000, 61, 1000],
        [0, 0, 1514, 1514],
        [1_700_000_001, 2000, 70, 70],
        [0, 0, 64, 64],
      ],
    );
    assert.equal(hex(f.packets[0].data), hex(d[0]));
    assert.equal(hex(f.packets[2].data), hex(d[3]));
    assert.equal(hex(f.packets[4].data), hex(d[5]));
  });

  test('pcapng: microsecond-only interfaces report precision us; SPB is cut to the snaplen', () => {
    const big = pkt(0, 300);
    const f = readPcap(new Ng(false).shb().idb(1, 128, 6).spb(big).epb(0, 5_000_001n, pkt(1)).bytes());
    assert.equal(f.precision, 'us');
    assert.equal(f.snaplen, 128);
    assert.equal(f.packets[0].data.length, 128);
    assert.equal(f.packets[0].origLen, 300);
    assert.deepEqual([f.packets[1].tsSec, f.packets[1].tsNsec], [5, 1000]);
  });

  test('non-Ethernet link types are rejected naming the file and the link type', () => {
    let e = codeOf(() => readPcap(classic({ le: true, ns: false, linkType: 113 }, []), 'cooked.pcap'));
    assert.equal(e.code, 'NETVM_PCAP_FORMAT');
    assert.match(e.message, /cooked\.pcap/);
    assert.match(e.message, /link type 113 \(LINUX_SLL\)/);
    e = codeOf(() => readPcap(new Ng(true).shb().idb(1, 0).idb(101, 0).bytes(), 'raw.pcapng'));
    assert.equal(e.code, 'NETVM_PCAP_FORMAT');
    assert.match(e.message, /raw\.pcapng.*link type 101/);
  });

  test('corrupt magic, short files, bad versions and bad blocks are NETVM_PCAP_FORMAT errors', () => {
    const good = classic({ le: true, ns: false }, [{ sec: 1, frac: 0, data: pkt(0) }]);
    const bad = good.slice();
    bad[0] ^= 0xff;
    let e = codeOf(() => readPcap(bad, 'bad.pcap'));
    assert.equal(e.code, 'NETVM_PCAP_FORMAT');
    assert.match(e.message, /bad\.pcap: not a pcap or pcapng file/);
    assert.equal(codeOf(() => readPcap(new Uint8Array(0), 'empty')).code, 'NETVM_PCAP_FORMAT');
    assert.equal(codeOf(() => readPcap(classic({ le: true, ns: false, major: 1 }, []))).code, 'NETVM_PCAP_FORMAT');
    const ng = new Ng(true).shb().idb(1, 0).epb(0, 1n, pkt(0)).bytes();
    const lenMismatch = ng.slice();
    lenMismatch[lenMismatch.length - 4] ^= 0x04;
    e = codeOf(() => readPcap(lenMismatch, 'm.pcapng'));
    assert.match(e.message, /m\.pcapng.*mismatched/);
    // An EPB naming an interface the section does not describe.
    e = codeOf(() => readPcap(new Ng(true).shb().idb(1, 0).epb(3, 1n, pkt(0)).bytes(), 'if.pcapng'));
    assert.match(e.message, /interface 3/);
    // A record claiming a captured length no capture has.
    const huge = good.slice();
    new DataView(huge.buffer).setUint32(24 + 8, 0x7fffffff, true);
    e = codeOf(() => readPcap(huge, 'huge.pcap'));
    assert.match(e.message, /huge\.pcap: record at byte offset 24 .*corrupt/);
  });

  test('a truncated file is an error naming the file and byte offset (as libpcap); allowTruncated keeps the complete records', () => {
    const recs = [0, 1, 2].map((i) => ({ sec: 10 + i, frac: 0, data: pkt(i, 100) }));
    const full = classic({ le: true, ns: false }, recs);
    const cutData = full.subarray(0, full.length - 10);
    let e = codeOf(() => readPcap(cutData, 'cut.pcap'));
    assert.equal(e.code, 'NETVM_PCAP_FORMAT');
    assert.match(e.message, /cut\.pcap: truncated file: .* byte offset 256 .*2 complete packets/);
    const kept = readPcap(cutData, 'cut.pcap', { allowTruncated: true });
    assert.equal(kept.packets.length, 2);
    assert.equal(kept.truncatedAt, 256);
    const cutHeader = full.subarray(0, 24 + 116 + 5);
    e = codeOf(() => readPcap(cutHeader, 'cut2.pcap'));
    assert.match(e.message, /cut2\.pcap: truncated file: the record header at byte offset 140/);
    const ng = new Ng(true).shb().idb(1, 0, 9).epb(0, 5n, pkt(0)).epb(0, 6n, pkt(1)).bytes();
    e = codeOf(() => readPcap(ng.subarray(0, ng.length - 8), 'cut.pcapng'));
    assert.match(e.message, /cut\.pcapng: truncated file: .*byte offset \d+ .*1 complete packet\b/);
    assert.equal(readPcap(ng.subarray(0, ng.length - 8), 'x', { allowTruncated: true }).packets.length, 1);
  });

  test('a header-only file has no packets', () => {
    assert.equal(readPcap(writePcap([], { format: 'pcap' })).packets.length, 0);
    const ng = readPcap(writePcap([], { format: 'pcapng', precision: 'ns', snaplen: 1500 }));
    assert.deepEqual([ng.packets.length, ng.precision, ng.snaplen], [0, 'ns', 1500]);
  });
});

// ------------------------------------------------------------------------------ pcap write

describe('pcap format: writing', () => {
  for (const format of ['pcap', 'pcapng'] as const) {
    for (const precision of ['us', 'ns'] as const) {
      test(`${format} ${precision}: write -> read -> write is byte-identical and keeps every field`, () => {
        const recs = fixture(50);
        recs.push({ data: pkt(99, 80), tsSec: 4_294_967_295, tsNsec: 999_999_999 }); // the 32-bit edge
        const a = writePcap(recs, { format, precision });
        const f = readPcap(a, 'a');
        assert.equal(f.format, format);
        assert.equal(f.precision, precision);
        assert.equal(f.snaplen, 65535);
        assert.equal(f.packets.length, recs.length);
        const want = precision === 'us' ? usRecords(recs) : recs;
        for (let i = 0; i < recs.length; i++) {
          assert.equal(f.packets[i].tsSec, want[i].tsSec, `record ${i} seconds`);
          assert.equal(f.packets[i].tsNsec, want[i].tsNsec, `record ${i} nanoseconds`);
          assert.equal(hex(f.packets[i].data), hex(recs[i].data));
          assert.equal(f.packets[i].origLen, recs[i].data.length);
        }
        const b = writePcap(f.packets, { format, precision });
        assert.equal(Buffer.compare(Buffer.from(a), Buffer.from(b)), 0, 'byte-identical');
      });
    }
  }

  test('snaplen cuts long packets and keeps the original length', () => {
    const f = readPcap(writePcap([{ data: pkt(0, 1000), tsSec: 1, tsNsec: 0 }], { snaplen: 128 }));
    assert.equal(f.snaplen, 128);
    assert.equal(f.packets[0].data.length, 128);
    assert.equal(f.packets[0].origLen, 1000);
  });

  test('bad writer options are rejected', () => {
    assert.throws(() => writePcap([], { snaplen: 0 }), /snaplen/);
    assert.throws(() => writePcap([], { format: 'pcapx' as 'pcap' }), /format/);
  });

  test('PcapWriter streams through its buffer and gives the same bytes as writePcap', () => {
    const recs = fixture(1200); // more than the 1 MiB buffer: several flushes
    const file = tmpFile('stream.pcapng');
    const w = new PcapWriter().open(file, { format: 'pcapng', precision: 'ns' });
    for (const r of recs) assert.ok(w.append(r.data, 0, r.data.length, r.tsSec, r.tsNsec));
    assert.equal(w.append(new Uint8Array(10), 5, 10, 0, 0), false, 'out of bounds is refused, not thrown');
    assert.ok(w.close());
    assert.ok(w.close(), 'close twice');
    assert.equal(w.written, recs.length);
    assert.equal(Buffer.compare(fs.readFileSync(file), Buffer.from(writePcap(recs, { format: 'pcapng', precision: 'ns' }))), 0);
    assert.equal(readPcapFile(file).packets.length, 1200);
  });
});

// ------------------------------------------------------------------------------- pcap port

/** Runs a read port to exhaustion, returning the packets' bytes and timestamps. */
function drain(port: PcapPort, pool: ReturnType<typeof makeAccess>, burst = 32): { data: string; sec: number; nsec: number }[] {
  const out: { data: string; sec: number; nsec: number }[] = [];
  const d = pool.alloc(burst);
  let now = 0;
  for (let i = 0; i < 100000 && !port.exhausted(); i++) {
    const k = port.rxBurst(d, burst, (now += 1000));
    for (let j = 0; j < k; j++) {
      const m = pool.access.bufferOffset(d[j]) >> 2;
      out.push({ data: hex(pool.packet(d[j])), sec: pool.access.i32[m + M_TS_SEC] >>> 0, nsec: pool.access.i32[m + M_TS_NSEC] });
    }
  }
  pool.free(d);
  return out;
}

describe('pcap port', () => {
  test('replays a file: data, M_LEN, M_DATA_OFF = headroom, M_FLAGS 0, timestamps, no stamp', async () => {
    const recs = fixture(12);
    const file = tmpFile('replay.pcap');
    writePcapFile(file, recs, { format: 'pcapng', precision: 'ns' });
    const pool = makeAccess();
    const port = new PcapPort({ read: file });
    assert.equal(port.kind, 'pcap');
    assert.equal(port.canReceive, true);
    assert.equal(port.canTransmit, false);
    await port.open(pool.access);
    assert.equal(port.exhausted(), false);
    const d = pool.alloc(32);
    const { i32, f64 } = pool.access;
    for (const x of d) {
      const b = pool.access.bufferOffset(x);
      i32[(b >> 2) + M_FLAGS] = 7;
      f64[(b >> 3) + M_STAMP_F64] = 42;
    }
    assert.equal(port.rxBurst(d, 32, 0), 12);
    for (let i = 0; i < 12; i++) {
      const b = pool.access.bufferOffset(d[i]);
      assert.equal(hex(pool.packet(d[i])), hex(recs[i].data));
      assert.equal(i32[(b >> 2) + M_LEN], recs[i].data.length);
      assert.equal(i32[(b >> 2) + M_DATA_OFF], pool.access.headroom);
      assert.equal(i32[(b >> 2) + M_FLAGS], 0);
      assert.equal(i32[(b >> 2) + M_TS_SEC], recs[i].tsSec);
      assert.equal(i32[(b >> 2) + M_TS_NSEC], recs[i].tsNsec);
      assert.equal(f64[(b >> 3) + M_STAMP_F64], 0);
    }
    assert.equal(port.exhausted(), true);
    assert.equal(port.rxBurst(d, 32, 1), 0);
    assert.deepEqual(port.stats(), {
      packetsRead: 12,
      loops: 1,
      oversize: 0,
      empty: 0,
      filePackets: 12,
      written: 0,
      bytesWritten: 0,
      writeErrors: 0,
      txInvalid: 0,
    });
    await port.close();
    pool.free(d);
  });

  test('an access with unaligned headroom gets a byte copy', async () => {
    const recs = fixture(4);
    const file = tmpFile('unaligned.pcap');
    writePcapFile(file, recs);
    const sab = new SharedArrayBuffer(8 * 2048);
    const access = {
      u8: new Uint8Array(sab),
      i32: new Int32Array(sab),
      f64: new Float64Array(sab),
      bufferOffset: (d: number) => d * 2048,
      headroom: 130,
      dataRoom: 2048 - 130,
    };
    const port = new PcapPort({ read: file });
    await port.open(access);
    const d = Int32Array.of(3, 5, 1, 7);
    assert.equal(port.rxBurst(d, 4, 0), 4);
    for (let i = 0; i < 4; i++) {
      const base = d[i] * 2048;
      assert.equal(access.i32[(base >> 2) + M_DATA_OFF], 130);
      assert.equal(hex(access.u8.subarray(base + 130, base + 130 + recs[i].data.length)), hex(recs[i].data));
    }
    await port.close();
  });

  test('repeat: 3 loops of a 5-packet file give 15 packets in file order, then exhausted', async () => {
    const recs = fixture(5);
    const file = tmpFile('five.pcap');
    writePcapFile(file, recs);
    const pool = makeAccess();
    const port = new PcapPort({ read: file, repeat: 3 });
    await port.open(pool.access);
    const got = drain(port, pool, 4); // bursts that straddle the loop boundary
    assert.equal(got.length, 15);
    for (let i = 0; i < 15; i++) assert.equal(got[i].data, hex(recs[i % 5].data));
    assert.equal(port.exhausted(), true);
    assert.equal(port.stats().loops, 3);
    assert.equal(port.stats().packetsRead, 15);
    await port.close();
  });

  test('repeat 0 loops forever', async () => {
    const file = tmpFile('loop.pcap');
    writePcapFile(file, fixture(3));
    const pool = makeAccess();
    const port = new PcapPort({ read: file, repeat: 0 });
    await port.open(pool.access);
    const d = pool.alloc(32);
    let total = 0;
    for (let i = 0; i < 100; i++) total += port.rxBurst(d, 32, i);
    assert.equal(total, 3200);
    assert.equal(port.exhausted(), false);
    assert.equal(port.stats().loops, Math.floor(3200 / 3));
    await port.close();
    pool.free(d);
  });

  test('rate: 1000 pps on a fake clock gives 10 packets per 10 ms, and nextDue() says when the next is due', async () => {
    const file = tmpFile('rate.pcap');
    writePcapFile(file, fixture(7));
    const pool = makeAccess();
    const port = new PcapPort({ read: file, rate: 1000, repeat: 0 });
    await port.open(pool.access);
    const d = pool.alloc(64);
    assert.equal(port.rxBurst(d, 64, 1000), 0, 'the bucket starts empty');
    assert.equal(port.nextDue(), 1001, 'one packet per ms');
    assert.equal(port.rxBurst(d, 64, 1010), 10);
    assert.equal(port.nextDue(), 1011);
    assert.equal(port.rxBurst(d, 64, 1010.5), 0);
    assert.equal(port.nextDue(), 1011);
    assert.equal(port.rxBurst(d, 64, 1011), 1);
    assert.equal(port.rxBurst(d, 3, 1020), 3, 'count limits a burst; the tokens stay');
    assert.equal(port.nextDue(), 1020, 'tokens left: due now');
    assert.equal(port.rxBurst(d, 64, 1020), 6);
    // Over a second in 10 ms steps: ~1000 packets.
    let total = 0;
    for (let t = 1030; t <= 2020; t += 10) total += port.rxBurst(d, 64, t);
    assert.ok(Math.abs(total - 1000) <= 1, `${total} packets in 1 s at 1000 pps`);
    // A long pause does not turn into a huge burst: at most max(32, rate/1000) at once.
    assert.ok(port.rxBurst(d, 64, 60_000) <= 32);
    await port.close();
    pool.free(d);
  });

  test('packets larger than the buffer data room are counted as oversize and skipped', async () => {
    const recs = [pkt(0, 100), pkt(1, 1000), pkt(2, 200), pkt(3, 896), pkt(4, 897)].map((data, i) => ({ data, tsSec: 1 + i, tsNsec: 0 }));
    const file = tmpFile('oversize.pcap');
    writePcapFile(file, recs);
    const pool = makeAccess({ bufSize: 1024, headroom: 128 }); // data room 896
    const port = new PcapPort({ read: file });
    await port.open(pool.access);
    const got = drain(port, pool);
    assert.deepEqual(
      got.map((g) => g.data.length / 2),
      [100, 200, 896],
    );
    assert.equal(port.stats().oversize, 2);
    await port.close();
  });

  test('a file of oversize packets only is an input that is exhausted at once', async () => {
    const file = tmpFile('all-big.pcap');
    writePcapFile(file, [{ data: pkt(0, 1500), tsSec: 1, tsNsec: 0 }]);
    const pool = makeAccess({ bufSize: 1024 });
    const port = new PcapPort({ read: file });
    await port.open(pool.access);
    assert.equal(port.exhausted(), true);
    await port.close();
  });

  test('a missing file is NETVM_PORT_OPEN naming the path; a corrupt one NETVM_PCAP_FORMAT', async () => {
    const missing = path.join(tmpRoot, 'does-not-exist.pcap');
    await rejectsWith(new PcapPort({ read: missing }).open(makeAccess().access), 'NETVM_PORT_OPEN', /does-not-exist\.pcap: no such file/);
    const corrupt = tmpFile('corrupt.pcap');
    fs.writeFileSync(corrupt, Buffer.from('this is not a capture file at all'));
    await rejectsWith(new PcapPort({ read: corrupt }).open(makeAccess().access), 'NETVM_PCAP_FORMAT', /corrupt\.pcap: not a pcap/);
    await rejectsWith(
      new PcapPort({ write: path.join(tmpRoot, 'no-such-dir', 'out.pcap') }).open(makeAccess().access),
      'NETVM_PORT_OPEN',
      /no-such-dir/,
    );
  });

  test('the constructor validates options and names the bad one', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{}, /"read".*"write"/],
      [{ read: '' }, /"read"/],
      [{ read: 'a', repeat: -1 }, /"repeat"/],
      [{ read: 'a', repeat: 1.5 }, /"repeat"/],
      [{ read: 'a', rate: -5 }, /"rate"/],
      [{ read: 'a', rate: 'fast' }, /"rate"/],
      [{ write: 'a', format: 'pcapx' }, /"format"/],
      [{ write: 'a', precision: 'ms' }, /"precision"/],
      [{ write: 'a', snaplen: 0 }, /"snaplen"/],
      [{ write: 'a', snaplen: 1e6 }, /"snaplen"/],
    ];
    for (const [opts, re] of bad) {
      assert.throws(
        () => new PcapPort(opts as never),
        (e: NetvmError) => e.code === 'NETVM_PORT_OPEN' && re.test(e.message),
        JSON.stringify(opts),
      );
    }
    const w = new PcapPort({ write: 'x.pcap' });
    assert.equal(w.canReceive, false);
    assert.equal(w.canTransmit, true);
    assert.equal(w.exhausted(), true, 'a write-only port is not an input');
    assert.ok(createPortDriver('pcap', { read: 'x.pcap' }) instanceof PcapPort);
    assert.ok(createPortDriver('sink', {}) instanceof SinkPort);
  });

  for (const [format, precision] of [
    ['pcap', 'us'],
    ['pcap', 'ns'],
    ['pcapng', 'us'],
    ['pcapng', 'ns'],
  ] as const) {
    test(`pcap in -> port -> pcap out is byte-identical (${format}, ${precision})`, async () => {
      const recs = fixture(300);
      const inFile = tmpFile(`in.${format}`);
      const outFile = tmpFile(`out.${format}`);
      writePcapFile(inFile, recs, { format, precision });
      const pool = makeAccess();
      const src = new PcapPort({ read: inFile });
      const dst = new PcapPort({ write: outFile, format, precision });
      await src.open(pool.access);
      await dst.open(pool.access);
      const d = pool.alloc(32);
      let moved = 0;
      while (!src.exhausted()) {
        const k = src.rxBurst(d, 32, 0);
        assert.equal(dst.txBurst(d, k, 0), k);
        moved += k;
      }
      await dst.close();
      await src.close();
      pool.free(d);
      assert.equal(moved, 300);
      assert.equal(Buffer.compare(fs.readFileSync(inFile), fs.readFileSync(outFile)), 0, 'byte-identical');
      const s = dst.stats();
      assert.equal(s.written, 300);
      assert.equal(
        s.bytesWritten,
        recs.reduce((a, r) => a + r.data.length, 0),
      );
      assert.equal(s.writeErrors, 0);
    });
  }

  test('txBurst: a packet without a timestamp gets the wall time; invalid metadata goes behind the written ones', async () => {
    const outFile = tmpFile('wall.pcap');
    const pool = makeAccess();
    const port = new PcapPort({ write: outFile, precision: 'ns' });
    await port.open(pool.access);
    const d = pool.alloc(4);
    for (let i = 0; i < 4; i++) pool.put(d[i], pkt(i, 64 + i));
    const { i32 } = pool.access;
    const m = (x: number): number => pool.access.bufferOffset(x) >> 2;
    for (const x of d) i32[m(x) + M_TS_SEC] = 0;
    i32[m(d[2]) + M_TS_SEC] = 1234;
    i32[m(d[2]) + M_TS_NSEC] = 5678;
    i32[m(d[1]) + M_LEN] = 0; // invalid
    const order = Array.from(d);
    const now = performance.now();
    const before = Date.now() / 1000;
    assert.equal(port.txBurst(d, 4, now), 3);
    assert.deepEqual(Array.from(d), [order[0], order[2], order[3], order[1]], 'written first, in order; the invalid one last');
    await port.close();
    pool.free(d);
    const f = readPcapFile(outFile);
    assert.equal(f.packets.length, 3);
    assert.ok(Math.abs(f.packets[0].tsSec + f.packets[0].tsNsec / 1e9 - before) < 5, 'wall time');
    assert.deepEqual([f.packets[1].tsSec, f.packets[1].tsNsec], [1234, 5678]);
    assert.equal(hex(f.packets[2].data), hex(pkt(3, 67)));
    assert.equal(port.stats().txInvalid, 1);
  });

  test(
    'a failing disk is counted: txBurst returns fewer, writeErrors grows, nothing throws',
    { skip: !fs.existsSync('/dev/full') },
    async () => {
      const pool = makeAccess();
      const port = new PcapPort({ write: '/dev/full' });
      await port.open(pool.access);
      const d = pool.alloc(64);
      for (let i = 0; i < 64; i++) pool.put(d[i], pkt(i, 1500));
      let short = false;
      for (let round = 0; round < 40 && !short; round++) short = port.txBurst(d, 64, 0) < 64; // 40 * 96 KB > 1 MiB
      assert.ok(short, 'a burst came back short once the buffer could not be written');
      assert.equal(port.txBurst(d, 64, 0), 0, 'and later bursts write nothing');
      assert.ok(port.stats().writeErrors > 0);
      await port.close();
      pool.free(d);
    },
  );
});

// ------------------------------------------------------------------------------------ sink

describe('sink port', () => {
  test('counts packets and bytes; latency from stamped buffers: count, min, max, avg, p50, p99', async () => {
    const pool = makeAccess();
    const sink = new SinkPort({});
    assert.equal(sink.kind, 'sink');
    assert.equal(sink.canReceive, false);
    assert.equal(sink.exhausted(), true);
    await sink.open(pool.access);
    assert.equal(sink.stats().latencyCount, 0);
    assert.equal(sink.stats().latencyAvgUs, 0);
    const d = pool.alloc(100);
    const { f64 } = pool.access;
    const now = 5000;
    // Latencies 10 µs .. 1000 µs in 10 µs steps; one unstamped packet (stamp 0).
    for (let i = 0; i < 100; i++) {
      pool.put(d[i], pkt(i, 100));
      f64[(pool.access.bufferOffset(d[i]) >> 3) + M_STAMP_F64] = i === 99 ? 0 : now - (i + 1) * 0.01;
    }
    assert.equal(sink.txBurst(d, 100, now), 100);
    const s = sink.stats();
    assert.equal(s.packets, 100);
    assert.equal(s.bytes, 100 * 100);
    assert.equal(s.latencyCount, 99);
    assert.ok(Math.abs(s.latencyMinUs - 10) < 0.01, `min ${s.latencyMinUs}`);
    assert.ok(Math.abs(s.latencyMaxUs - 990) < 0.01, `max ${s.latencyMaxUs}`);
    assert.ok(Math.abs(s.latencyAvgUs - 500) < 0.01, `avg ${s.latencyAvgUs}`);
    // log2 buckets: within a factor of two of the truth.
    assert.ok(s.latencyP50Us >= 250 && s.latencyP50Us <= 1000, `p50 ${s.latencyP50Us}`);
    assert.ok(s.latencyP99Us >= 495 && s.latencyP99Us <= 990, `p99 ${s.latencyP99Us}`);
    assert.ok(s.latencyP50Us <= s.latencyP99Us);
    await sink.close();
    pool.free(d);
  });

  test('the generator stamps and the sink measures the difference', async () => {
    const pool = makeAccess();
    const gen = new GeneratorPort({ stamp: true, count: 64 });
    const sink = new SinkPort();
    await gen.open(pool.access);
    await sink.open(pool.access);
    const d = pool.alloc(64);
    assert.equal(gen.rxBurst(d, 64, 100), 64);
    assert.equal(sink.txBurst(d, 64, 100.25), 64);
    const s = sink.stats();
    assert.equal(s.latencyCount, 64);
    assert.ok(Math.abs(s.latencyAvgUs - 250) < 1e-6);
    assert.ok(Math.abs(s.latencyP50Us - 250) < 1e-6, 'one value: every percentile is it');
    pool.free(d);
  });

  test('latency: false measures nothing; an invalid option is rejected', async () => {
    const pool = makeAccess();
    const gen = new GeneratorPort({ stamp: true });
    const sink = new SinkPort({ latency: false });
    await gen.open(pool.access);
    await sink.open(pool.access);
    const d = pool.alloc(8);
    gen.rxBurst(d, 8, 1);
    assert.equal(sink.txBurst(d, 8, 2), 8);
    assert.equal(sink.stats().latencyCount, 0);
    assert.equal(sink.stats().packets, 8);
    pool.free(d);
    assert.throws(
      () => new SinkPort({ latency: 'yes' as never }),
      (e: NetvmError) => e.code === 'NETVM_PORT_OPEN' && /latency/.test(e.message),
    );
  });

  test('rate: takes a 10 ms burst, then rate/1000 packets a millisecond; the rest is deferred, not lost', async () => {
    const pool = makeAccess();
    const sink = new SinkPort({ rate: 1000, latency: false });
    await sink.open(pool.access);
    const d = pool.alloc(32);
    for (let i = 0; i < 32; i++) pool.put(d[i], pkt(i, 100));
    assert.equal(sink.txBurst(d, 32, 1000), 10, 'a full bucket: 10 ms at 1000 pps');
    assert.equal(sink.txDeferred, 22);
    assert.equal(sink.txBurst(d, 22, 1000), 0, 'empty bucket');
    assert.equal(sink.txDeferred, 22);
    assert.equal(sink.txBurst(d, 22, 1003), 3, '3 ms later: 3 more');
    assert.equal(sink.txBurst(d, 19, 2000), 10, 'a long pause refills the bucket only up to its 10 ms');
    const s = sink.stats();
    assert.equal(s.packets, 23);
    assert.equal(s.deferred, 22 + 22 + 19 + 9);
    const unlimited = new SinkPort();
    await unlimited.open(pool.access);
    assert.equal(unlimited.txBurst(d, 32, 0), 32);
    assert.equal(unlimited.txDeferred, 0);
    pool.free(d);
    for (const bad of [-1, Infinity, 'fast', 2e9])
      assert.throws(
        () => new SinkPort({ rate: bad as never }),
        (e: NetvmError) => e.code === 'NETVM_PORT_OPEN' && /"rate"/.test(e.message),
        `rate ${String(bad)}`,
      );
  });
});

// ------------------------------------------------------------------------------- generator

describe('generator port', () => {
  const tz = new Toeplitz(SYMMETRIC_RSS_KEY);
  const cases = [
    { ipVersion: 4, proto: 'udp', size: 64 },
    { ipVersion: 4, proto: 'tcp', size: 128 },
    { ipVersion: 4, proto: 'icmp', size: 98 },
    { ipVersion: 6, proto: 'udp', size: 1514 },
    { ipVersion: 6, proto: 'tcp', size: 86 },
    { ipVersion: 6, proto: 'icmp', size: 118 },
  ] as const;
  for (const c of cases) {
    test(`IPv${c.ipVersion} ${c.proto} ${c.size} B: packets parse, checksums hold, flows are distinct 5-tuples, hash is the Toeplitz hash, count is respected`, async () => {
      const flows = 100;
      const count = 250;
      const pool = makeAccess();
      const gen = new GeneratorPort({ ...c, flows, count });
      await gen.open(pool.access);
      const d = pool.alloc(64);
      const p = new ParsedPacket();
      const tuples: string[] = [];
      let total = 0;
      while (!gen.exhausted()) {
        const k = gen.rxBurst(d, 64, 0);
        assert.ok(k > 0);
        for (let j = 0; j < k; j++) {
          const data = pool.packet(d[j]);
          const m = pool.access.bufferOffset(d[j]) >> 2;
          assert.equal(data.length, c.size);
          assert.ok(parsePacket(data, 0, data.length, p), `parses (error ${p.error})`);
          assert.equal(p.ipVersion, c.ipVersion);
          assert.equal(p.l4Proto, c.proto === 'udp' ? 17 : c.proto === 'tcp' ? 6 : c.ipVersion === 4 ? 1 : 58);
          assert.ok(verifyPacketChecksums(data, p), `checksums of packet ${total + j}`);
          const l3 = p.l3Offset;
          const srcOff = l3 + (c.ipVersion === 4 ? 12 : 8);
          const dstOff = l3 + (c.ipVersion === 4 ? 16 : 24);
          const addrLen = c.ipVersion === 4 ? 4 : 16;
          const icmp = c.proto === 'icmp';
          const idOrPort = icmp ? (data[p.l4Offset + 4] << 8) | data[p.l4Offset + 5] : p.srcPort;
          tuples.push(
            [
              hex(data.subarray(srcOff, srcOff + addrLen)),
              hex(data.subarray(dstOff, dstOff + addrLen)),
              p.l4Proto,
              idOrPort,
              p.dstPort,
            ].join('/'),
          );
          const be32 = (o: number): number => ((data[o] << 24) | (data[o + 1] << 16) | (data[o + 2] << 8) | data[o + 3]) >>> 0;
          const want =
            c.ipVersion === 4
              ? tz.hashIpv4(be32(srcOff), be32(dstOff), p.srcPort, p.dstPort)
              : tz.hashIpv6(data, srcOff, dstOff, p.srcPort, p.dstPort);
          assert.equal(pool.access.i32[m + M_HASH] >>> 0, want, 'M_HASH is the Toeplitz hash of the 5-tuple');
          assert.equal(pool.access.i32[m + M_FLAGS] & FLAG_HASH, FLAG_HASH);
        }
        total += k;
      }
      assert.equal(total, count, 'count respected');
      assert.equal(gen.rxBurst(d, 64, 0), 0);
      assert.equal(new Set(tuples).size, flows, `${flows} distinct flows`);
      for (let i = 0; i < count; i++) assert.equal(tuples[i], tuples[i % flows], 'flows repeat round-robin');
      await gen.close();
      pool.free(d);
    });
  }
});
