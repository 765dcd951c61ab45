// Reading and writing capture files: classic pcap and pcapng, Ethernet only.
//
// Classic pcap: draft-ietf-opsawg-pcap ("PCAP Capture File Format") and pcap-savefile(5).
//   File header (24 bytes): magic, version major 2 / minor 4, two reserved words, snaplen,
//   LinkType (low 16 bits; the FCS bits above are ignored). Magic 0xA1B2C3D4 means
//   microsecond timestamps, 0xA1B23C4D nanoseconds; read byte-swapped, the file was written
//   on a machine of the other byte order. Each record: ts seconds, ts µs-or-ns, captured
//   length, original length (16 bytes), then the captured bytes.
// pcapng: draft-ietf-opsawg-pcapng. Blocks of type, total length, body, total length again
//   (§3.1), all 32-bit aligned. A Section Header Block (§4.1, type 0x0A0D0D0A, byte-order
//   magic 0x1A2B3C4D) starts each section and fixes its byte order; Interface Description
//   Blocks (§4.2) are numbered from 0 within their section and carry the link type, snaplen
//   and options: if_tsresol (code 9: 10^-n, or 2^-n when the top bit is set; default 10^-6)
//   and if_tsoffset (code 14, seconds added to every timestamp). Packets come in Enhanced
//   Packet Blocks (§4.3: interface, 64-bit timestamp in the interface's units, captured and
//   original length), Simple Packet Blocks (§4.4: no timestamp, interface 0) and the
//   obsolete Packet Block (type 2). Every other block type is skipped.
//
// Truncated files: libpcap (sf-pcap.c / sf-pcapng.c) reports "truncated dump file" as an
// error after handing out every complete record; tcpdump prints those packets, then the
// error, and exits with status 1. readPcap does the same by default — it throws a
// NETVM_PCAP_FORMAT error that names the file, the byte offset of the cut record and how
// many complete records came before it — because replaying a silently shortened capture
// through a chain gives wrong results. With { allowTruncated: true } it keeps the complete
// records, stops at the cut one and sets `truncated` (what tcpdump shows before its error).
//
// The writer always writes little-endian, one interface (pcapng), no options beyond
// if_tsresol, so the same records and options always give the same bytes: a little-endian
// file written here, read and written again with the same format, precision and snaplen, is
// byte-identical.
import fs from 'node:fs';
import { NetvmError } from '../../core/errors.js';

export type PcapFormat = 'pcap' | 'pcapng';
export type PcapPrecision = 'us' | 'ns';

export interface PcapRecord {
  tsSec: number;
  tsNsec: number;
  /** The captured bytes: a subarray of the file's bytes (not a copy). */
  data: Uint8Array;
  /** The packet's length on the wire (>= data.length when the capture was cut at snaplen). */
  origLen: number;
}

export interface PcapFile {
  format: PcapFormat;
  /** 'ns' when any timestamp resolution is finer than a microsecond. */
  precision: PcapPrecision;
  /** Always 1 (LINKTYPE_ETHERNET): other link types are rejected. */
  linkType: number;
  /** The file's snaplen (pcapng: the first interface's; 0 means no limit). */
  snaplen: number;
  packets: PcapRecord[];
  /** Set (only with allowTruncated) when the file ended inside a record; the byte offset. */
  truncatedAt?: number;
}

export interface PcapReadOptions {
  /** Keep the complete records of a file cut inside a record instead of throwing. */
  allowTruncated?: boolean;
}

/** A record to write; origLen defaults to data.length. */
export interface PcapWriteRecord {
  data: Uint8Array;
  tsSec: number;
  tsNsec: number;
  origLen?: number;
}

export interface PcapWriteOptions {
  /** Default 'pcap'. */
  format?: PcapFormat;
  /** Default 'us'. */
  precision?: PcapPrecision;
  /** Longest captured length; longer packets are cut (origLen keeps the real length). Default 65535. */
  snaplen?: number;
}

export const LINKTYPE_ETHERNET = 1;
/** libpcap's MAXIMUM_SNAPLEN: no sane capture has a larger record. */
export const MAX_SNAPLEN = 262144;
export const DEFAULT_SNAPLEN = 65535;

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;
const BT_IDB = 1;
const BT_PB_OBSOLETE = 2;
const BT_SPB = 3;
const BT_EPB = 6;
const OPT_ENDOFOPT = 0;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;
const PCAP_HEADER_LEN = 24;
const PCAP_RECORD_HEADER_LEN = 16;

const LINKTYPE_NAMES: Record<number, string> = {
  0: 'NULL (BSD loopback)',
  1: 'ETHERNET',
  101: 'RAW (IP)',
  105: 'IEEE802_11',
  108: 'LOOP',
  113: 'LINUX_SLL',
  127: 'IEEE802_11_RADIOTAP',
  228: 'IPV4',
  229: 'IPV6',
  276: 'LINUX_SLL2',
};

const hex32 = (v: number): string => '0x' + (v >>> 0).toString(16).padStart(8, '0');

function formatError(name: string, msg: string): NetvmError {
  return new NetvmError('NETVM_PCAP_FORMAT', `${name}: ${msg}`);
}

function checkLinkType(name: string, lt: number, where: string): void {
  if (lt === LINKTYPE_ETHERNET) return;
  const label = LINKTYPE_NAMES[lt] ? ` (${LINKTYPE_NAMES[lt]})` : '';
  throw formatError(
    name,
    `link type ${lt}${label}${where} is not supported: netvm reads Ethernet captures only (LINKTYPE_ETHERNET = 1); ` +
      'capture on an Ethernet interface, not "any" (Linux cooked)',
  );
}

/** Parses a whole pcap or pcapng file held in memory. Packet data are subarrays of `bytes`. */
export function readPcap(bytes: Uint8Array, name = '<memory>', opts: PcapReadOptions = {}): PcapFile {
  if (bytes.length < 4) throw formatError(name, `${bytes.length} bytes is too short to be a pcap or pcapng file`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicLE = dv.getUint32(0, true);
  if (magicLE === PCAPNG_SHB) return readPcapng(bytes, dv, name, opts);
  const magicBE = dv.getUint32(0, false);
  for (const [m, le] of [
    [magicLE, true],
    [magicBE, false],
  ] as const) {
    if (m === PCAP_MAGIC_US || m === PCAP_MAGIC_NS) return readClassic(bytes, dv, name, le, m === PCAP_MAGIC_NS ? 'ns' : 'us', opts);
  }
  throw formatError(
    name,
    `not a pcap or pcapng file: magic ${hex32(magicBE)} at byte offset 0 ` +
      `(expected a1b2c3d4 or a1b23c4d for pcap, 0a0d0d0a for pcapng, in either byte order)`,
  );
}

function truncated(name: string, offset: number, what: string, complete: number): NetvmError {
  return formatError(
    name,
    `truncated file: ${what} at byte offset ${offset} is cut short ` +
      `(${complete} complete packet${complete === 1 ? '' : 's'} before it); ` +
      'libpcap calls this "truncated dump file"',
  );
}

function readClassic(
  bytes: Uint8Array,
  dv: DataView,
  name: string,
  le: boolean,
  precision: PcapPrecision,
  opts: PcapReadOptions,
): PcapFile {
  if (bytes.length < PCAP_HEADER_LEN) throw truncated(name, 0, `the ${PCAP_HEADER_LEN}-byte file header`, 0);
  const major = dv.getUint16(4, le);
  const minor = dv.getUint16(6, le);
  if (major !== 2) throw formatError(name, `unsupported pcap version ${major}.${minor} (expected 2.x)`);
  const snaplen = dv.getUint32(16, le);
  // LinkType is the low 16 bits; bits 26..31 say whether and how long an FCS is attached
  // (libpcap's LT_LINKTYPE / LT_FCS_LENGTH). 0x03FFFFFF keeps what libpcap treats as type.
  const linkType = dv.getUint32(20, le) & 0x03ffffff;
  checkLinkType(name, linkType, '');
  const packets: PcapRecord[] = [];
  const fracMul = precision === 'us' ? 1000 : 1;
  const fracMax = precision === 'us' ? 1_000_000 : 1_000_000_000;
  let off = PCAP_HEADER_LEN;
  const end = bytes.length;
  let truncatedAt: number | undefined;
  while (off < end) {
    if (end - off < PCAP_RECORD_HEADER_LEN) {
      if (!opts.allowTruncated) throw truncated(name, off, 'the record header', packets.length);
      truncatedAt = off;
      break;
    }
    let sec = dv.getUint32(off, le);
    let frac = dv.getUint32(off + 4, le);
    if (frac >= fracMax) {
      // Out of range (some writers emit 1000000 µs); libpcap passes it on, we carry it.
      sec += Math.floor(frac / fracMax);
      frac %= fracMax;
    }
    const incl = dv.getUint32(off + 8, le);
    const orig = dv.getUint32(off + 12, le);
    if (incl > MAX_SNAPLEN)
      throw formatError(
        name,
        `record at byte offset ${off} claims ${incl} captured bytes, more than the maximum ${MAX_SNAPLEN}: the file is corrupt`,
      );
    if (end - off - PCAP_RECORD_HEADER_LEN < incl) {
      if (!opts.allowTruncated) throw truncated(name, off, `the record of ${incl} captured bytes`, packets.length);
      truncatedAt = off;
      break;
    }
    const start = off + PCAP_RECORD_HEADER_LEN;
    packets.push({ tsSec: sec, tsNsec: frac * fracMul, data: bytes.subarray(start, start + incl), origLen: orig });
    off = start + incl;
  }
  const file: PcapFile = { format: 'pcap', precision, linkType, snaplen, packets };
  if (truncatedAt !== undefined) file.truncatedAt = truncatedAt;
  return file;
}

interface Iface {
  /** Timestamp units per second when they are 10^n with n <= 9 (exact double maths), else 0. */
  unitsDec: number;
  /** The same as a BigInt, for every resolution. */
  units: bigint;
  offsetSec: number;
  snaplen: number;
}

function readPcapng(bytes: Uint8Array, dv: DataView, name: string, opts: PcapReadOptions): PcapFile {
  const packets: PcapRecord[] = [];
  const end = bytes.length;
  let off = 0;
  let le = true;
  let ifaces: Iface[] = [];
  let firstSnaplen = -1;
  let finest = 1_000_000n;
  let truncatedAt: number | undefined;
  let sawShb = false;
  const cut = (what: string): boolean => {
    if (!opts.allowTruncated) throw truncated(name, off, what, packets.length);
    truncatedAt = off;
    return true;
  };
  while (off < end) {
    if (end - off < 12 && cut('the block header')) break;
    const type = dv.getUint32(off, le);
    if (type === PCAPNG_SHB) {
      // The byte-order magic decides how to read everything in the section, including this
      // block's own length (§4.1).
      const bom = dv.getUint32(off + 8, true);
      if (bom === PCAPNG_BOM) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else throw formatError(name, `bad pcapng byte-order magic ${hex32(bom)} at byte offset ${off + 8}`);
      if (end - off < 16 && cut('the section header block')) break;
      const major = dv.getUint16(off + 12, le);
      const minor = dv.getUint16(off + 14, le);
      if (major !== 1) throw formatError(name, `unsupported pcapng version ${major}.${minor} at byte offset ${off} (expected 1.x)`);
      ifaces = [];
      sawShb = true;
    } else if (!sawShb) {
      throw formatError(name, `pcapng file does not start with a section header block`);
    }
    const len = dv.getUint32(off + 4, le);
    if (len < 12 || len % 4 !== 0)
      throw formatError(name, `bad pcapng block length ${len} at byte offset ${off} (block type ${hex32(type)}): the file is corrupt`);
    if (len > end - off) {
      if (cut(`the block of ${len} bytes (type ${hex32(type)})`)) break;
    }
    if (dv.getUint32(off + len - 4, le) !== len)
      throw formatError(name, `pcapng block at byte offset ${off} has mismatched leading and trailing lengths: the file is corrupt`);
    const body = off + 8;
    const bodyLen = len - 12;
    const need = (n: number, what: string): void => {
      if (bodyLen < n) throw formatError(name, `pcapng ${what} at byte offset ${off} is too short (${len} bytes)`);
    };
    if (type === BT_IDB) {
      need(8, 'interface description block');
      const linkType = dv.getUint16(body, le);
      checkLinkType(name, linkType, ` (interface ${ifaces.length} at byte offset ${off})`);
      const snaplen = dv.getUint32(body + 4, le);
      let units = 1_000_000n;
      let unitsDec = 1_000_000;
      let offsetSec = 0;
      // Options (§3.5): code, length, value padded to 32 bits, until opt_endofopt or the end.
      let o = body + 8;
      const oEnd = body + bodyLen;
      while (o + 4 <= oEnd) {
        const code = dv.getUint16(o, le);
        const olen = dv.getUint16(o + 2, le);
        if (code === OPT_ENDOFOPT) break;
        if (o + 4 + olen > oEnd) throw formatError(name, `pcapng option ${code} at byte offset ${o} runs past its block`);
        if (code === IF_TSRESOL && olen >= 1) {
          const v = bytes[o + 4];
          const exp = v & 0x7f;
          units = v & 0x80 ? 1n << BigInt(exp) : 10n ** BigInt(exp);
          unitsDec = v & 0x80 || exp > 9 ? 0 : 10 ** exp;
        } else if (code === IF_TSOFFSET && olen >= 8) {
          offsetSec = Number(dv.getBigInt64(o + 4, le));
        }
        o += 4 + ((olen + 3) & ~3);
      }
      if (units > finest) finest = units;
      if (firstSnaplen < 0) firstSnaplen = snaplen;
      ifaces.push({ units, unitsDec, offsetSec, snaplen });
    } else if (type === BT_EPB || type === BT_PB_OBSOLETE) {
      const what = type === BT_EPB ? 'enhanced packet block' : 'packet block';
      need(20, what);
      const ifId = type === BT_EPB ? dv.getUint32(body, le) : dv.getUint16(body, le);
      const iface = ifaces[ifId];
      if (iface === undefined)
        throw formatError(name, `pcapng ${what} at byte offset ${off} names interface ${ifId}, but the section describes ${ifaces.length}`);
      const hi = dv.getUint32(body + 4, le);
      const lo = dv.getUint32(body + 8, le);
      const incl = dv.getUint32(body + 12, le);
      const orig = dv.getUint32(body + 16, le);
      if (incl > bodyLen - 20)
        throw formatError(name, `pcapng ${what} at byte offset ${off} claims ${incl} captured bytes but holds ${bodyLen - 20}`);
      const rec: PcapRecord = { tsSec: 0, tsNsec: 0, data: bytes.subarray(body + 20, body + 20 + incl), origLen: orig };
      setTimestamp(rec, hi, lo, iface);
      packets.push(rec);
    } else if (type === BT_SPB) {
      need(4, 'simple packet block');
      const iface = ifaces[0];
      if (iface === undefined)
        throw formatError(name, `pcapng simple packet block at byte offset ${off} comes before any interface description block`);
      const orig = dv.getUint32(body, le);
      // §4.4: the captured length is the smaller of the original length, the interface's
      // snaplen (0 = none) and what the block holds.
      let incl = Math.min(orig, bodyLen - 4);
      if (iface.snaplen > 0 && incl > iface.snaplen) incl = iface.snaplen;
      packets.push({ tsSec: 0, tsNsec: 0, data: bytes.subarray(body + 4, body + 4 + incl), origLen: orig });
    }
    // Any other block (name resolution, interface statistics, secrets, custom...) is skipped.
    off += len;
  }
  const file: PcapFile = {
    format: 'pcapng',
    precision: finest > 1_000_000n ? 'ns' : 'us',
    linkType: LINKTYPE_ETHERNET,
    snaplen: firstSnaplen < 0 ? 0 : firstSnaplen,
    packets,
  };
  if (truncatedAt !== undefined) file.truncatedAt = truncatedAt;
  return file;
}

const TWO32 = 4294967296;

function setTimestamp(rec: PcapRecord, hi: number, lo: number, iface: Iface): void {
  const u = iface.unitsDec;
  if (u > 0 && hi < 0x200000) {
    // Below 2^53 and with decimal units the double arithmetic is exact.
    const ts = hi * TWO32 + lo;
    let sec = Math.floor(ts / u);
    let rem = ts - sec * u;
    if (rem < 0) {
      sec--;
      rem += u;
    } else if (rem >= u) {
      sec++;
      rem -= u;
    }
    rec.tsSec = sec + iface.offsetSec;
    rec.tsNsec = rem * (1_000_000_000 / u);
    return;
  }
  const ts = (BigInt(hi) << 32n) | BigInt(lo);
  const units = iface.units;
  rec.tsSec = Number(ts / units) + iface.offsetSec;
  rec.tsNsec = Number(((ts % units) * 1_000_000_000n) / units);
}

/** Reads a capture file from disk (the whole file at once). fs errors propagate as they are. */
export function readPcapFile(path: string, opts: PcapReadOptions = {}): PcapFile {
  return readPcap(fs.readFileSync(path), path, opts);
}

// ---------------------------------------------------------------------------------- writing

/** Resolved writer options. */
interface WriteParams {
  format: PcapFormat;
  precision: PcapPrecision;
  snaplen: number;
}

export function resolveWriteOptions(opts: PcapWriteOptions = {}): WriteParams {
  const format = opts.format ?? 'pcap';
  const precision = opts.precision ?? 'us';
  const snaplen = opts.snaplen ?? DEFAULT_SNAPLEN;
  if (format !== 'pcap' && format !== 'pcapng')
    throw new NetvmError('NETVM_PCAP_FORMAT', `pcap writer: format "${String(format)}" must be pcap or pcapng`);
  if (precision !== 'us' && precision !== 'ns')
    throw new NetvmError('NETVM_PCAP_FORMAT', `pcap writer: precision "${String(precision)}" must be us or ns`);
  if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > MAX_SNAPLEN)
    throw new NetvmError('NETVM_PCAP_FORMAT', `pcap writer: snaplen ${snaplen} must be an integer 1..${MAX_SNAPLEN}`);
  return { format, precision, snaplen };
}

/** Largest record the encoder ever writes: an EPB header and trailer around MAX_SNAPLEN bytes. */
const MAX_RECORD = 32 + MAX_SNAPLEN;

/**
 * Encodes headers and records into a fixed buffer and hands it to `sink` when the next
 * record would not fit. Allocation-free per record; little-endian throughout.
 */
class Encoder {
  readonly buf: Uint8Array;
  pos = 0;
  private readonly p: WriteParams;
  private readonly sink: (buf: Uint8Array, len: number) => boolean;
  private srcU8: Uint8Array | null = null;
  private srcDv: DataView | null = null;
  private readonly dv: DataView;

  constructor(p: WriteParams, capacity: number, sink: (buf: Uint8Array, len: number) => boolean) {
    this.p = p;
    this.buf = new Uint8Array(Math.max(capacity, MAX_RECORD));
    this.dv = new DataView(this.buf.buffer);
    this.sink = sink;
  }

  private put32(v: number): void {
    const b = this.buf;
    const o = this.pos;
    b[o] = v;
    b[o + 1] = v >>> 8;
    b[o + 2] = v >>> 16;
    b[o + 3] = v >>> 24;
    this.pos = o + 4;
  }

  private put16(v: number): void {
    this.buf[this.pos] = v;
    this.buf[this.pos + 1] = v >>> 8;
    this.pos += 2;
  }

  header(): void {
    const p = this.p;
    if (p.format === 'pcap') {
      this.put32(p.precision === 'ns' ? PCAP_MAGIC_NS : PCAP_MAGIC_US);
      this.put16(2); // version 2.4
      this.put16(4);
      this.put32(0); // reserved1 (thiszone)
      this.put32(0); // reserved2 (sigfigs)
      this.put32(p.snaplen);
      this.put32(LINKTYPE_ETHERNET);
      return;
    }
    // SHB: no options, section length -1 (unknown; we stream).
    this.put32(PCAPNG_SHB);
    this.put32(28);
    this.put32(PCAPNG_BOM);
    this.put16(1);
    this.put16(0);
    this.put32(0xffffffff);
    this.put32(0xffffffff);
    this.put32(28);
    // IDB: Ethernet, snaplen, if_tsresol (6 or 9), opt_endofopt.
    this.put32(BT_IDB);
    this.put32(32);
    this.put16(LINKTYPE_ETHERNET);
    this.put16(0);
    this.put32(p.snaplen);
    this.put16(IF_TSRESOL);
    this.put16(1);
    this.put32(p.precision === 'ns' ? 9 : 6); // the value byte and three bytes of padding
    this.put32(0); // opt_endofopt
    this.put32(32);
  }

  /** Flushes the buffer through the sink. */
  flush(): boolean {
    if (this.pos === 0) return true;
    const ok = this.sink(this.buf, this.pos);
    this.pos = 0;
    return ok;
  }

  /**
   * Appends one record of `len` bytes from u8[off..) (cut to snaplen). Returns the bytes
   * captured, or -1 when flushing failed (the record is then not written).
   */
  record(u8: Uint8Array, off: number, len: number, origLen: number, sec: number, nsec: number): number {
    const p = this.p;
    const incl = len > p.snaplen ? p.snaplen : len;
    const ng = p.format === 'pcapng';
    const padded = (incl + 3) & ~3;
    const size = ng ? 32 + padded : 16 + incl;
    if (this.pos + size > this.buf.length && !this.flush()) return -1;
    sec = sec >>> 0;
    if (!(nsec >= 0 && nsec < 1_000_000_000)) nsec = 0;
    const mult = p.precision === 'ns' ? 1_000_000_000 : 1_000_000;
    const frac = p.precision === 'ns' ? nsec : Math.floor(nsec / 1000);
    if (ng) {
      this.put32(BT_EPB);
      this.put32(size);
      this.put32(0); // interface 0
      // 64-bit units since 1970 = sec * mult + frac, split into 32-bit halves without BigInt
      // or precision loss: sec = sh * 2^16 + sl keeps every partial product below 2^53.
      const sh = Math.floor(sec / 65536);
      const a = (sec - sh * 65536) * mult + frac;
      const b = sh * mult;
      const bHi = Math.floor(b / 65536);
      const t = (b - bHi * 65536) * 65536 + a;
      const tHi = Math.floor(t / TWO32);
      this.put32(bHi + tHi);
      this.put32(t - tHi * TWO32);
      this.put32(incl);
      this.put32(origLen);
    } else {
      this.put32(sec);
      this.put32(frac);
      this.put32(incl);
      this.put32(origLen);
    }
    this.copy(u8, off, incl);
    if (ng) {
      const b = this.buf;
      for (let i = incl; i < padded; i++) b[this.pos++] = 0;
      this.put32(size);
    }
    return incl;
  }

  private copy(u8: Uint8Array, off: number, len: number): void {
    const b = this.buf;
    let o = this.pos;
    let i = 0;
    if (len >= 32) {
      // Four bytes at a time through DataViews (unaligned on both sides).
      if (this.srcU8 !== u8) {
        this.srcU8 = u8;
        this.srcDv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
      }
      const s = this.srcDv as DataView;
      const d = this.dv;
      const words = len & ~3;
      for (; i < words; i += 4) d.setUint32(o + i, s.getUint32(off + i, true), true);
    }
    for (; i < len; i++) b[o + i] = u8[off + i];
    o += len;
    this.pos = o;
  }
}

/** Encodes records into a complete pcap or pcapng file in memory. */
export function writePcap(records: Iterable<PcapWriteRecord>, opts: PcapWriteOptions = {}): Uint8Array {
  const p = resolveWriteOptions(opts);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const enc = new Encoder(p, 1 << 20, (buf, len) => {
    chunks.push(buf.slice(0, len));
    total += len;
    return true;
  });
  enc.header();
  for (const r of records) enc.record(r.data, 0, r.data.length, r.origLen ?? r.data.length, r.tsSec, r.tsNsec);
  enc.flush();
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Writes records to a file (created or truncated). */
export function writePcapFile(path: string, records: Iterable<PcapWriteRecord>, opts: PcapWriteOptions = {}): void {
  fs.writeFileSync(path, writePcap(records, opts));
}

/** Size of the PcapWriter's buffer: one write(2) per MiB of capture. */
export const WRITER_BUFFER = 1 << 20;

/**
 * A streaming writer for the data path: append() copies the packet into a preallocated 1 MiB
 * buffer and writes the buffer with fs.writeSync only when it is full (and on flush/close).
 * Never throws after open(): write failures are counted in `errors` and make append return
 * false from then on (a file with a hole in it is worse than one that stops).
 */
export class PcapWriter {
  /** Records appended. */
  written = 0;
  /** Captured packet bytes appended (without pcap headers). */
  bytesWritten = 0;
  /** Bytes that reached the file (headers included). */
  fileBytes = 0;
  /** Failed writes (each failure also fails every later append). */
  errors = 0;
  private fd = -1;
  private enc: Encoder | null = null;
  private failed = false;
  private path = '';

  /** Creates or truncates `path` and buffers the file header. Throws NETVM_PORT_OPEN on failure. */
  open(path: string, opts: PcapWriteOptions = {}): this {
    const p = resolveWriteOptions(opts);
    if (this.fd >= 0) throw new NetvmError('NETVM_PORT_OPEN', `pcap writer: already open on ${this.path}`);
    try {
      this.fd = fs.openSync(path, 'w');
    } catch (err) {
      throw new NetvmError('NETVM_PORT_OPEN', `pcap: cannot create ${path}: ${(err as Error).message}`, { cause: err });
    }
    this.path = path;
    this.failed = false;
    this.enc = new Encoder(p, WRITER_BUFFER, (buf, len) => this.writeOut(buf, len));
    this.enc.header();
    return this;
  }

  get isOpen(): boolean {
    return this.fd >= 0;
  }

  private writeOut(buf: Uint8Array, len: number): boolean {
    if (this.failed || this.fd < 0) return false;
    try {
      let done = 0;
      while (done < len) done += fs.writeSync(this.fd, buf, done, len - done);
      this.fileBytes += len;
      return true;
    } catch {
      this.errors++;
      this.failed = true;
      return false;
    }
  }

  /** Appends one packet u8[off..off+len). Returns false if it could not be written. */
  append(u8: Uint8Array, off: number, len: number, tsSec: number, tsNsec: number, origLen = len): boolean {
    const enc = this.enc;
    if (enc === null || this.failed) return false;
    if (!(len >= 0 && off >= 0 && off + len <= u8.length && origLen >= 0)) return false;
    const incl = enc.record(u8, off, len, origLen, tsSec, tsNsec);
    if (incl < 0) return false;
    this.written++;
    this.bytesWritten += incl;
    return true;
  }

  /** Writes what is buffered. */
  flush(): boolean {
    if (this.enc === null) return false;
    if (this.failed) return false;
    return this.enc.flush();
  }

  /** Flushes and closes the file; safe to call twice. Returns false if anything failed. */
  close(): boolean {
    if (this.fd < 0) return !this.failed;
    const ok = this.flush();
    try {
      fs.closeSync(this.fd);
    } catch {
      this.errors++;
    }
    this.fd = -1;
    this.enc = null;
    return ok && !this.failed;
  }
}
