// A stand-in for the kernel side of an AF_XDP socket in copy mode, so the afxdp port's ring
// logic can be tested without root. Four rings as af_xdp.rst lays them out (u32 producer and
// consumer, then the entries: struct xdp_desc { u64 addr; u32 len; u32 options } for RX and
// TX, u64 addresses for fill and completion), over the UMEM the port registers: the pool's
// own memory. deliver() does what xsk_rcv does (takes a fill address, writes the frame
// XDP_PACKET_HEADROOM into that chunk, posts an RX entry); a kick sends TX entries, up to a
// budget, and posts their addresses to the completion ring.
import type { XdpOpenOptions, XdpRing, XdpSocket } from '../../native/loader.js';
import type { AfXdpSys } from '../../src/ports/afxdp/afxdp-port.js';

const HEADROOM = 256;
/** The offsets a real kernel reports (XDP_MMAP_OFFSETS on Linux 6.x, cache-line separated). */
const PRODUCER = 0;
const CONSUMER = 64;
const FLAGS = 128;
const DESC = 192;

class Ring {
  readonly sab: SharedArrayBuffer;
  readonly w: Int32Array;
  constructor(
    readonly size: number,
    readonly entryBytes: number,
  ) {
    this.sab = new SharedArrayBuffer(DESC + size * entryBytes);
    this.w = new Int32Array(this.sab);
  }
  get prod(): number {
    return Atomics.load(this.w, PRODUCER >> 2);
  }
  set prod(v: number) {
    Atomics.store(this.w, PRODUCER >> 2, v | 0);
  }
  get cons(): number {
    return Atomics.load(this.w, CONSUMER >> 2);
  }
  set cons(v: number) {
    Atomics.store(this.w, CONSUMER >> 2, v | 0);
  }
  /** Word index of entry `i` (free-running index). */
  at(i: number): number {
    return (DESC + (i & (this.size - 1)) * this.entryBytes) >> 2;
  }
  entries(): number {
    return (this.prod - this.cons) | 0;
  }
  view(): XdpRing {
    return { sab: this.sab, producer: PRODUCER, consumer: CONSUMER, desc: DESC, flags: FLAGS, size: this.size };
  }
}

export class FakeXsk implements AfXdpSys {
  opened: XdpOpenOptions | null = null;
  closed = 0;
  kicks = 0;
  /** Frames the "device" sent, in order. */
  sent: Uint8Array[] = [];
  /** Frames sent per kick (Linux before 6.17: 32; `txBudget` when the kernel takes it). */
  budget = 1 << 30;
  /** What the next kicks return (-errno), one per kick; then 0. */
  kickErrors: number[] = [];
  /** Send on a kick (false: the device holds the entries until this is set again). */
  sending = true;
  /** Postpone completions (as a device still holding the skbs would). */
  completeLater = false;
  link = 1;
  mode = 1;
  openError: (Error & { errno?: number; syscall?: string }) | null = null;
  private u8: Uint8Array = new Uint8Array(0);
  private umem = 0;
  private chunk = 2048;
  rx!: Ring;
  tx!: Ring;
  fill!: Ring;
  comp!: Ring;
  private pendingComp: number[] = [];

  xdpOpen(o: XdpOpenOptions): XdpSocket {
    if (this.openError) throw this.openError;
    this.opened = o;
    this.u8 = new Uint8Array(o.region);
    this.umem = o.umemOffset;
    this.chunk = o.chunkSize;
    this.rx = new Ring(o.ringSize, 16);
    this.tx = new Ring(o.ringSize, 16);
    this.fill = new Ring(o.ringSize, 8);
    this.comp = new Ring(o.ringSize, 8);
    return {
      fd: 42,
      linkFd: 43,
      progFd: 44,
      mapFd: 45,
      promiscFd: o.promiscuous ? 46 : -1,
      ifindex: 7,
      mtu: 1500,
      mode: this.mode,
      txBudget: o.txBudget,
      rx: this.rx.view(),
      tx: this.tx.view(),
      fill: this.fill.view(),
      completion: this.comp.view(),
    };
  }

  /** Frames arriving on the wire: each takes a fill buffer; false once one found none (counted as a drop). */
  deliver(frames: Uint8Array[]): number {
    let n = 0;
    for (const f of frames) {
      if (this.fill.entries() === 0 || this.rx.entries() === this.rx.size) break;
      const fe = this.fill.at(this.fill.cons);
      const chunkAddr = this.fill.w[fe] & ~(this.chunk - 1);
      this.fill.cons = this.fill.cons + 1;
      const addr = chunkAddr + HEADROOM;
      this.u8.set(f, this.umem + addr);
      const re = this.rx.at(this.rx.prod);
      this.rx.w[re] = addr;
      this.rx.w[re + 1] = 0;
      this.rx.w[re + 2] = f.length;
      this.rx.w[re + 3] = 0;
      this.rx.prod = this.rx.prod + 1;
      n++;
    }
    return n;
  }

  xdpKick(fd: number): number {
    this.kicks++;
    if (fd !== 42) return -9;
    const err = this.kickErrors.shift();
    if (err !== undefined && err !== 0) return err;
    if (!this.sending) return 0;
    for (let k = 0; k < this.budget && this.tx.entries() > 0; k++) {
      const e = this.tx.at(this.tx.cons);
      const addr = this.tx.w[e];
      const len = this.tx.w[e + 2];
      this.sent.push(this.u8.slice(this.umem + addr, this.umem + addr + len));
      this.tx.cons = this.tx.cons + 1;
      this.pendingComp.push(addr);
    }
    if (!this.completeLater) this.complete();
    return 0;
  }

  /** The device is done with what it sent: their addresses go to the completion ring. */
  complete(): void {
    for (const addr of this.pendingComp.splice(0)) {
      const e = this.comp.at(this.comp.prod);
      this.comp.w[e] = addr;
      this.comp.w[e + 1] = 0;
      this.comp.prod = this.comp.prod + 1;
    }
  }

  xdpStats(): [number, number, number, number, number, number, number] {
    return [0, 0, 0, 0, 0, 0, this.link ? 0x41 : 0x1];
  }

  xdpClose(): boolean {
    this.closed++;
    return true;
  }
}
