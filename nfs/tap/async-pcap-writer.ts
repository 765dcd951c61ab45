// A pcap writer that never blocks its caller: records are encoded into one of a few
// preallocated buffers; a full buffer is handed to an asynchronous fs.write (libuv's thread
// pool does the system call) and the next free buffer takes over. Only when every buffer is
// waiting for the disk is a record refused — counted by the caller as a capture drop, the way
// a kernel ring overflow shows up as "packets dropped by kernel" in tcpdump. The data path
// never waits for the disk.
//
// Format: classic pcap (draft-ietf-opsawg-pcap §4–5): the 24-byte file header written by
// src/ports/pcap's writer (so both produce identical headers), then per record ts_sec,
// ts_usec (or ts_nsec with the nanosecond magic), captured length, original length — all
// little-endian — and the captured bytes.
import fs from 'node:fs';
import { writePcap } from '../../src/ports/pcap/pcap-format.js';

export interface AsyncPcapOptions {
  precision: 'us' | 'ns';
  snaplen: number;
  /** Bytes per buffer. */
  bufferSize: number;
  /** Buffers (one being filled, the others written or free). */
  buffers: number;
}

export class AsyncPcapWriter {
  /** Records accepted. */
  records = 0;
  /** Records refused because every buffer was waiting to be written. */
  refused = 0;
  /** Bytes handed to the file system and written. */
  fileBytes = 0;
  /** Write errors (the first one stops all writing). */
  errors = 0;
  /** Buffers written. */
  writes = 0;
  private fd = -1;
  private readonly free: Uint8Array[] = [];
  private readonly queue: { buf: Uint8Array; len: number }[] = [];
  private cur: Uint8Array;
  private dv: DataView;
  private pos = 0;
  private writing = false;
  private failed = false;
  private readonly ns: boolean;
  private readonly snaplen: number;
  private idleWaiters: (() => void)[] = [];
  private srcU8: Uint8Array | null = null;
  private srcDv: DataView | null = null;

  constructor(opts: AsyncPcapOptions) {
    this.ns = opts.precision === 'ns';
    this.snaplen = opts.snaplen;
    // Every record must fit in an empty buffer.
    const size = Math.max(opts.bufferSize, 16 + opts.snaplen + 24);
    for (let i = 0; i < opts.buffers; i++) this.free.push(new Uint8Array(size));
    this.cur = this.free.pop() as Uint8Array;
    this.dv = new DataView(this.cur.buffer);
  }

  /** Creates (or truncates) the file and buffers its header. Throws on failure (setup). */
  open(path: string): void {
    this.fd = fs.openSync(path, 'w');
    const header = writePcap([], { format: 'pcap', precision: this.ns ? 'ns' : 'us', snaplen: this.snaplen });
    this.cur.set(header, 0);
    this.pos = header.length;
  }

  /**
   * Appends u8[off, off+len) as a record stamped sec.nsec. Returns false (and counts it) when no
   * buffer is free or writing has failed. No allocation, no system call.
   */
  append(u8: Uint8Array, off: number, len: number, sec: number, nsec: number): boolean {
    if (this.failed || this.fd < 0) {
      this.refused++;
      return false;
    }
    const incl = len > this.snaplen ? this.snaplen : len;
    if (this.pos + 16 + incl > this.cur.length && !this.rotate()) {
      this.refused++;
      return false;
    }
    const dv = this.dv;
    let o = this.pos;
    dv.setUint32(o, sec >>> 0, true);
    dv.setUint32(o + 4, this.ns ? nsec : Math.floor(nsec / 1000), true);
    dv.setUint32(o + 8, incl, true);
    dv.setUint32(o + 12, len, true);
    o += 16;
    // Four bytes at a time through DataViews (neither side is aligned), then the tail.
    if (this.srcU8 !== u8) {
      this.srcU8 = u8;
      this.srcDv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
    }
    const s = this.srcDv as DataView;
    const words = incl & ~3;
    let i = 0;
    for (; i < words; i += 4) dv.setUint32(o + i, s.getUint32(off + i, true), true);
    const b = this.cur;
    for (; i < incl; i++) b[o + i] = u8[off + i];
    this.pos = o + incl;
    this.records++;
    return true;
  }

  /** Hands the current buffer to the writer and takes a free one; false if none is free. */
  private rotate(): boolean {
    const next = this.free.pop();
    if (next === undefined) return false;
    this.queue.push({ buf: this.cur, len: this.pos });
    this.cur = next;
    this.dv = new DataView(next.buffer);
    this.pos = 0;
    this.kick();
    return true;
  }

  private kick(): void {
    if (this.writing) return;
    const job = this.queue.shift();
    if (job === undefined) {
      for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    this.writing = true;
    this.writeAll(job.buf, 0, job.len, () => {
      this.writing = false;
      this.free.push(job.buf);
      this.kick();
    });
  }

  private writeAll(buf: Uint8Array, from: number, len: number, done: () => void): void {
    if (this.failed || len === 0) {
      done();
      return;
    }
    fs.write(this.fd, buf, from, len, null, (err, n) => {
      if (err) {
        this.errors++;
        this.failed = true;
        done();
        return;
      }
      this.fileBytes += n;
      if (n < len) this.writeAll(buf, from + n, len - n, done);
      else {
        this.writes++;
        done();
      }
    });
  }

  /** Sends what the current buffer holds to the file (the NF's tick), without waiting. */
  flush(): void {
    if (this.pos > 0 && !this.failed) this.rotate();
  }

  /** Bytes waiting in buffers (current and queued). */
  get pending(): number {
    return this.pos + this.queue.reduce((a, j) => a + j.len, 0);
  }

  /** Writes everything out and closes the file. */
  async close(): Promise<void> {
    if (this.fd < 0) return;
    // The current buffer may not get a free one to swap with; queue it directly.
    if (this.pos > 0 && !this.failed) {
      this.queue.push({ buf: this.cur, len: this.pos });
      this.pos = 0;
      this.kick();
    }
    if (this.writing || this.queue.length > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
    fs.closeSync(this.fd);
    this.fd = -1;
  }
}
