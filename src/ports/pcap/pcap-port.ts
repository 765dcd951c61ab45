// The pcap port: replays a capture file as input and/or records output into one — the NF
// developer's offline test loop (pcap in, pcap out, compare). Reading happens entirely in
// open(): the file is parsed once and its packets repacked into a 4-byte aligned arena, so
// rxBurst is a word copy per packet with no syscall and no allocation. Writing goes through
// PcapWriter's 1 MiB buffer (one write(2) per MiB). Replay can loop (`repeat`) and be paced
// (`rate`, a token bucket like the generator's).
import fs from 'node:fs';
import path from 'node:path';
import { NetvmError } from '../../core/errors.js';
import { M_DATA_OFF, M_FLAGS, M_LEN, M_STAMP_F64, M_TS_NSEC, M_TS_SEC, META_BYTES } from '../../core/layout.js';
import type { BufferAccess, PortDriver, PortStats } from '../port-driver.js';
import { DEFAULT_SNAPLEN, MAX_SNAPLEN, PcapWriter, readPcap, type PcapFormat, type PcapPrecision } from './pcap-format.js';

export interface PcapPortOptions {
  /** Capture file to replay (pcap or pcapng, Ethernet). */
  read?: string;
  /** Capture file to write (created or truncated). */
  write?: string;
  /** Times to replay the file; 0 = forever. Default 1. */
  repeat?: number;
  /** Replay pace in packets per second; 0 = as fast as the chain takes them. */
  rate?: number;
  /** Output format (default pcap). */
  format?: PcapFormat;
  /** Output timestamp precision (default us). */
  precision?: PcapPrecision;
  /** Output snaplen (default 65535): longer packets are cut, keeping their original length. */
  snaplen?: number;
}

function bad(option: string, msg: string): NetvmError {
  return new NetvmError('NETVM_PORT_OPEN', `pcap: option "${option}" ${msg}`);
}

export class PcapPort implements PortDriver {
  readonly kind = 'pcap';
  readonly canReceive: boolean;
  readonly canTransmit: boolean;
  /** A file can wait for a slow chain. */
  readonly lossless = true;
  private readonly readPath: string | undefined;
  private readonly writePath: string | undefined;
  private readonly repeat: number;
  private readonly rate: number;
  private readonly format: PcapFormat;
  private readonly precision: PcapPrecision;
  private readonly snaplen: number;
  private readonly burst: number;
  private access: BufferAccess | null = null;
  // The replayed packets: data words in `arena`, per record its first word, length and time.
  private arena = new Int32Array(0);
  private arenaU8 = new Uint8Array(0);
  private recWord = new Int32Array(0);
  private recLen = new Int32Array(0);
  private recSec = new Int32Array(0);
  private recNsec = new Int32Array(0);
  private nrec = 0;
  private pos = 0;
  private opened = false;
  private done = false;
  private writer: PcapWriter | null = null;
  /** Failed descriptors of one txBurst, moved behind the written ones (grows, never per packet). */
  private failedScratch = new Int32Array(256);
  private tokens = 0;
  private last = -1;
  // stats
  private packetsRead = 0;
  private loops = 0;
  private oversize = 0;
  private empty = 0;
  private filePackets = 0;
  private txInvalid = 0;
  private writeErrors = 0;
  // The writer's counters, kept after close() releases it.
  private writtenFinal = 0;
  private bytesWrittenFinal = 0;
  private writerErrorsFinal = 0;

  constructor(options: PcapPortOptions = {}) {
    const o = (options ?? {}) as Record<string, unknown>;
    const str = (k: string): string | undefined => {
      const v = o[k];
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || v.length === 0) throw bad(k, 'must be a non-empty file path');
      return v;
    };
    const num = (k: string, def: number, min: number, max: number, integer: boolean): number => {
      const v = o[k];
      if (v === undefined) return def;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
        throw bad(k, `must be ${integer ? 'an integer' : 'a number'} in ${min}..${max} (got ${JSON.stringify(v)})`);
      return v;
    };
    this.readPath = str('read');
    this.writePath = str('write');
    if (this.readPath === undefined && this.writePath === undefined)
      throw new NetvmError('NETVM_PORT_OPEN', 'pcap: give option "read" (a file to replay), "write" (a file to record), or both');
    this.repeat = num('repeat', 1, 0, 2 ** 31 - 1, true);
    this.rate = num('rate', 0, 0, 1e9, false);
    this.snaplen = num('snaplen', DEFAULT_SNAPLEN, 1, MAX_SNAPLEN, true);
    const format = o.format ?? 'pcap';
    if (format !== 'pcap' && format !== 'pcapng') throw bad('format', `must be "pcap" or "pcapng" (got ${JSON.stringify(format)})`);
    const precision = o.precision ?? 'us';
    if (precision !== 'us' && precision !== 'ns') throw bad('precision', `must be "us" or "ns" (got ${JSON.stringify(precision)})`);
    this.format = format;
    this.precision = precision;
    this.canReceive = this.readPath !== undefined;
    this.canTransmit = this.writePath !== undefined;
    this.burst = Math.max(32, Math.ceil(this.rate / 1000)); // at most 1 ms worth of packets at once
  }

  async open(access: BufferAccess): Promise<void> {
    if (this.readPath !== undefined) this.load(this.readPath, access);
    if (this.writePath !== undefined) {
      this.writer = new PcapWriter().open(this.writePath, { format: this.format, precision: this.precision, snaplen: this.snaplen });
    }
    this.access = access;
    this.opened = true;
  }

  private load(file: string, access: BufferAccess): void {
    let bytes: Uint8Array;
    try {
      bytes = fs.readFileSync(file);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'ENOENT' ? 'no such file' : e.message;
      throw new NetvmError('NETVM_PORT_OPEN', `pcap: cannot read ${path.resolve(file)}: ${why}`, { cause: err });
    }
    const cap = readPcap(bytes, file);
    const room = access.dataRoom;
    let words = 0;
    let n = 0;
    for (const r of cap.packets) {
      const len = r.data.length;
      if (len < 1 || len > room) continue;
      words += (len + 3) >> 2;
      n++;
    }
    this.filePackets = cap.packets.length;
    this.oversize = 0;
    this.empty = 0;
    this.arena = new Int32Array(words);
    const arenaU8 = new Uint8Array(this.arena.buffer);
    this.arenaU8 = arenaU8;
    this.recWord = new Int32Array(n);
    this.recLen = new Int32Array(n);
    this.recSec = new Int32Array(n);
    this.recNsec = new Int32Array(n);
    let w = 0;
    let k = 0;
    for (const r of cap.packets) {
      const len = r.data.length;
      if (len < 1 || len > room) {
        // Larger than a buffer holds (or empty): skipped and counted, not an error.
        if (len < 1) this.empty++;
        else this.oversize++;
        continue;
      }
      arenaU8.set(r.data, w * 4);
      this.recWord[k] = w;
      this.recLen[k] = len;
      this.recSec[k] = r.tsSec | 0;
      this.recNsec[k] = r.tsNsec;
      w += (len + 3) >> 2;
      k++;
    }
    this.nrec = n;
    this.pos = 0;
    this.done = n === 0;
  }

  rxBurst(descs: Int32Array, count: number, now: number): number {
    const a = this.access;
    if (a === null || this.done || !(count > 0) || this.nrec === 0) return 0;
    let n = count > descs.length ? descs.length : count;
    if (this.rate > 0) {
      if (this.last < 0) this.last = now;
      if (now > this.last) {
        this.tokens += ((now - this.last) * this.rate) / 1000;
        this.last = now;
      }
      if (this.tokens > this.burst) this.tokens = this.burst;
      if (n > this.tokens) n = Math.floor(this.tokens);
    }
    if (n <= 0) return 0;
    const u8 = a.u8;
    const i32 = a.i32;
    const f64 = a.f64;
    const head = a.headroom;
    const arena = this.arena;
    const nrec = this.nrec;
    let pos = this.pos;
    let k = 0;
    while (k < n) {
      const base = a.bufferOffset(descs[k]);
      const len = this.recLen[pos];
      const d = base + head;
      const src = this.recWord[pos];
      if ((d & 3) === 0) {
        const d32 = d >> 2;
        const words = (len + 3) >> 2;
        for (let w = 0; w < words; w++) i32[d32 + w] = arena[src + w];
      } else {
        // Unaligned headroom (not in netvm's layout, but the interface allows it).
        const from = src << 2;
        const bytes = this.arenaU8;
        for (let b = 0; b < len; b++) u8[d + b] = bytes[from + b];
      }
      const m = base >> 2;
      i32[m + M_LEN] = len;
      i32[m + M_DATA_OFF] = head;
      i32[m + M_FLAGS] = 0;
      i32[m + M_TS_SEC] = this.recSec[pos];
      i32[m + M_TS_NSEC] = this.recNsec[pos];
      f64[(base >> 3) + M_STAMP_F64] = 0;
      k++;
      if (++pos === nrec) {
        pos = 0;
        this.loops++;
        if (this.repeat > 0 && this.loops >= this.repeat) {
          this.done = true;
          break;
        }
      }
    }
    this.pos = pos;
    this.packetsRead += k;
    if (this.rate > 0) this.tokens -= k;
    return k;
  }

  txBurst(descs: Int32Array, count: number, now: number): number {
    const wr = this.writer;
    const a = this.access;
    if (wr === null || a === null || !(count > 0)) return 0;
    if (count > descs.length) count = descs.length;
    const u8 = a.u8;
    const i32 = a.i32;
    const bufSize = a.headroom + a.dataRoom;
    const room = a.dataRoom;
    // Wall time for packets without a timestamp (computed once per burst).
    let wallSec = -1;
    let wallNsec = 0;
    let ok = 0;
    let failed = 0;
    for (let k = 0; k < count; k++) {
      const desc = descs[k];
      const base = a.bufferOffset(desc);
      const m = base >> 2;
      const len = i32[m + M_LEN];
      const off = i32[m + M_DATA_OFF];
      let sent = false;
      if (base >= 0 && base + bufSize <= u8.length && len >= 1 && len <= room && off >= META_BYTES && off + len <= bufSize) {
        let sec = i32[m + M_TS_SEC] >>> 0;
        let nsec = i32[m + M_TS_NSEC];
        if (sec === 0) {
          if (wallSec < 0) {
            const ms = performance.timeOrigin + now;
            wallSec = Math.floor(ms / 1000);
            wallNsec = Math.floor((ms - wallSec * 1000) * 1e6);
            if (!(wallNsec >= 0 && wallNsec < 1e9)) wallNsec = 0;
          }
          sec = wallSec;
          nsec = wallNsec;
        }
        sent = wr.append(u8, base + off, len, sec, nsec);
        if (!sent) this.writeErrors++;
      } else {
        this.txInvalid++;
      }
      if (sent) {
        descs[ok++] = desc;
      } else {
        if (failed === this.failedScratch.length) {
          const bigger = new Int32Array(this.failedScratch.length * 2);
          bigger.set(this.failedScratch);
          this.failedScratch = bigger;
        }
        this.failedScratch[failed++] = desc;
      }
    }
    // The first `ok` descriptors were written, in order; the failed ones follow them, so the
    // caller's "first k sent, drop or retry the rest" holds.
    for (let i = 0; i < failed; i++) descs[ok + i] = this.failedScratch[i];
    return ok;
  }

  exhausted(): boolean {
    if (!this.canReceive) return true;
    return this.opened && this.done;
  }

  nextDue(): number {
    if (this.rate <= 0 || this.last < 0 || this.tokens >= 1) return this.last < 0 ? 0 : this.last;
    return this.last + ((1 - this.tokens) * 1000) / this.rate;
  }

  stats(): PortStats {
    const w = this.writer;
    return {
      packetsRead: this.packetsRead,
      loops: this.loops,
      oversize: this.oversize,
      empty: this.empty,
      filePackets: this.filePackets,
      written: w ? w.written : this.writtenFinal,
      bytesWritten: w ? w.bytesWritten : this.bytesWrittenFinal,
      writeErrors: this.writeErrors + (w ? w.errors : this.writerErrorsFinal),
      txInvalid: this.txInvalid,
    };
  }

  async close(): Promise<void> {
    const w = this.writer;
    if (w !== null) {
      w.close();
      this.writtenFinal = w.written;
      this.bytesWrittenFinal = w.bytesWritten;
      this.writerErrorsFinal = w.errors;
      this.writer = null;
    }
    this.access = null;
    this.arena = new Int32Array(0);
    this.arenaU8 = new Uint8Array(0);
  }
}
