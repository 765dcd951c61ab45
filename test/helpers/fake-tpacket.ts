// A stand-in for the kernel side of an AF_PACKET socket with TPACKET_V3 rings, so the afpacket
// port's ring walking can be tested without root. It lays RX blocks out as net/packet/
// af_packet.c does (block descriptor, then packets at TPACKET_ALIGN'd offsets, tp_mac 82 for
// an Ethernet frame) and consumes TX frames marked TP_STATUS_SEND_REQUEST on a kick. With
// PACKET_VNET_HDR (on unless `vnet` is false) each TX frame must start with a plain
// virtio_net_hdr whose hdr_len is the frame's length. The transmit thread is modelled as one
// that is always asleep: every wake-up (futexWake on its control block) is one send().
import type { AfPacketOpenOptions, AfPacketSocket } from '../../native/loader.js';
import type { AfPacketSys } from '../../src/ports/afpacket/afpacket-port.js';
import * as T from '../../src/ports/afpacket/tpacket.js';

export interface FakeRxFrame {
  data: Uint8Array;
  /** Length on the wire when the kernel had to cut the frame (tp_len > tp_snaplen). */
  wireLen?: number;
  /** An 802.1Q tag the "kernel" took out of the frame into tp_vlan_tci. */
  vlanTci?: number;
  vlanTpid?: number;
  /** TP_STATUS_CSUMNOTREADY: the L4 checksum is only the pseudo-header sum. */
  csumNotReady?: boolean;
  sec?: number;
  nsec?: number;
}

const hex = (u: Uint8Array): string => Buffer.from(u).toString('hex');
const align16 = (n: number): number => (n + 15) & ~15;
/** BLK_PLUS_PRIV(0): ALIGN(sizeof(struct tpacket_block_desc), 8). */
const FIRST_PKT = 48;

export class FakeTpacket implements AfPacketSys {
  opts: AfPacketOpenOptions | null = null;
  sock: AfPacketSocket | null = null;
  private r32: Int32Array = new Int32Array(0);
  private r8: Uint8Array = new Uint8Array(0);
  private nextBlock = 0;
  private txHead = 0;
  /** Frames the "device" sent, in order. */
  readonly sent: Uint8Array[] = [];
  /** Kick results to return instead of sending (e.g. -11 for EAGAIN), consumed in order. */
  readonly kickErrors: number[] = [];
  /** When set, kicks mark frames SENDING and leave them (a stalled device). */
  stall = false;
  /** A TX frame at this position (0-based, over all kicks) comes back TP_STATUS_WRONG_FORMAT. */
  rejectAt = -1;
  private txSeen = 0;
  kicks = 0;
  closed = false;
  /** What the next afPacketStats call returns. */
  kernel = { packets: 0, drops: 0, freezes: 0, flags: T.IFF_UP | T.IFF_RUNNING };
  /** An error afPacketOpen throws instead of opening. */
  openError: (Error & { errno?: number; syscall?: string }) | null = null;
  /** tp_mac of received frames (82 in the kernel for Ethernet: 2 bytes off word alignment). */
  macOffset = 82;
  /** Whether this "kernel" accepts PACKET_VNET_HDR. */
  vnet = true;
  /** The transmit thread's control block, while one runs. */
  txCtl: Int32Array | null = null;
  txThreadStarts = 0;
  txThreadStops = 0;
  /** An error afPacketTxStart throws. */
  txStartError: Error | null = null;

  afPacketOpen(opts: AfPacketOpenOptions): AfPacketSocket {
    if (this.openError) throw this.openError;
    this.opts = opts;
    const rxBytes = opts.blockSize * opts.rxBlocks;
    const txBlock = Math.max(opts.blockSize, opts.txFrameSize);
    const txBlocks = Math.ceil((opts.txFrames * opts.txFrameSize) / txBlock);
    const txFrames = txBlocks * (txBlock / opts.txFrameSize);
    const ring = new SharedArrayBuffer(rxBytes + txBlocks * txBlock);
    this.r32 = new Int32Array(ring);
    this.r8 = new Uint8Array(ring);
    const vnetHdr = opts.vnetHdr === 1 && this.vnet ? 1 : 0;
    const sock: AfPacketSocket = { fd: 42, ring, rxBytes, txBytes: txBlocks * txBlock, txFrames, ifindex: 7, mtu: 1500, vnetHdr };
    this.sock = sock;
    return sock;
  }

  /** Fills the next block the user side gave back with `frames` and retires it. False if none is free. */
  deliver(frames: FakeRxFrame[]): boolean {
    const o = this.opts!;
    const b = this.nextBlock * o.blockSize;
    if (Atomics.load(this.r32, (b >> 2) + T.BD_STATUS) !== T.TP_STATUS_KERNEL) return false;
    let off = b + FIRST_PKT;
    let prev = -1;
    for (const f of frames) {
      const snap = f.data.length;
      const next = align16(this.macOffset + snap);
      if (off + next > b + o.blockSize) throw new Error('fake tpacket: frames do not fit one block');
      const w = off >> 2;
      this.r32.fill(0, w, w + 12);
      this.r32[w + T.H3_SEC] = f.sec ?? 1000;
      this.r32[w + T.H3_NSEC] = f.nsec ?? 500;
      this.r32[w + T.H3_SNAPLEN] = snap;
      this.r32[w + T.H3_LEN] = f.wireLen ?? snap;
      let status = T.TP_STATUS_USER;
      if (f.vlanTci !== undefined) {
        status |= T.TP_STATUS_VLAN_VALID;
        this.r32[w + T.H3_VLAN_TCI] = f.vlanTci;
        if (f.vlanTpid !== undefined) {
          status |= T.TP_STATUS_VLAN_TPID_VALID;
          this.r32[w + T.H3_VLAN_TPID] = f.vlanTpid;
        }
      }
      if (f.csumNotReady) status |= T.TP_STATUS_CSUMNOTREADY;
      this.r32[w + T.H3_STATUS] = status;
      this.r32[w + T.H3_MAC_NET] = this.macOffset | ((this.macOffset + 14) << 16);
      this.r8.set(f.data, off + this.macOffset);
      if (prev >= 0) this.r32[(prev >> 2) + T.H3_NEXT] = off - prev;
      prev = off;
      off += next;
    }
    const bw = b >> 2;
    this.r32[bw] = 3; // version: TPACKET_V3
    this.r32[bw + T.BD_NUM_PKTS] = frames.length;
    this.r32[bw + T.BD_FIRST_PKT] = FIRST_PKT;
    Atomics.store(this.r32, bw + T.BD_STATUS, T.TP_STATUS_USER);
    this.nextBlock = (this.nextBlock + 1) % o.rxBlocks;
    return true;
  }

  /** RX blocks currently handed to the user side. */
  userBlocks(): number {
    const o = this.opts!;
    let n = 0;
    for (let i = 0; i < o.rxBlocks; i++) if (Atomics.load(this.r32, ((i * o.blockSize) >> 2) + T.BD_STATUS) !== 0) n++;
    return n;
  }

  afPacketTxStart(fd: number, ctl: SharedArrayBuffer): number {
    if (this.txStartError) throw this.txStartError;
    if (fd !== 42) throw new Error('fake tpacket: transmit thread on an unknown socket');
    this.txCtl = new Int32Array(ctl);
    Atomics.store(this.txCtl, T.TXC_SLEEPING, 1);
    this.txThreadStarts++;
    return this.txThreadStarts - 1;
  }

  afPacketTxStop(): boolean {
    this.txThreadStops++;
    this.txCtl = null;
    return true;
  }

  /** A wake-up of the transmit thread: it makes one send() and counts it, as the native one does. */
  futexWake(sab: SharedArrayBuffer, byteOffset: number): number {
    const c = this.txCtl;
    if (c === null || sab !== c.buffer || byteOffset !== T.TXC_SEQ * 4) return 0;
    const r = this.afPacketKick(42);
    Atomics.add(c, T.TXC_KICKS, 1);
    if (r < 0) {
      Atomics.store(c, T.TXC_LAST_ERR, -r);
      Atomics.add(c, r === -T.EAGAIN || r === -T.ENOBUFS ? T.TXC_RETRIES : T.TXC_ERRORS, 1);
    }
    return 1;
  }

  afPacketKick(fd: number): number {
    this.kicks++;
    if (fd !== 42) return -9; // EBADF
    const err = this.kickErrors.shift();
    if (err !== undefined) return err;
    const s = this.sock!;
    const fs = this.opts!.txFrameSize;
    let bytes = 0;
    for (;;) {
      const f = s.rxBytes + this.txHead * fs;
      const w = f >> 2;
      if (Atomics.load(this.r32, w + T.H3_STATUS) !== T.TP_STATUS_SEND_REQUEST) break;
      if (this.stall) {
        Atomics.store(this.r32, w + T.H3_STATUS, T.TP_STATUS_SENDING);
      } else if (this.txSeen === this.rejectAt) {
        Atomics.store(this.r32, w + T.H3_STATUS, T.TP_STATUS_WRONG_FORMAT);
      } else {
        if (this.r32[w + T.H3_NEXT] !== 0) throw new Error('fake tpacket: V3 TX frame with tp_next_offset != 0');
        let len = this.r32[w + T.H3_LEN];
        let mac = this.r32[w + T.H3_MAC_NET] & 0xffff;
        if (mac < T.TX_DATA_OFF || mac + len > fs) throw new Error(`fake tpacket: TX frame data at ${mac}+${len} outside the frame`);
        if (s.vnetHdr === 1) {
          // __packet_snd_vnet_parse and tpacket_fill_skb: a plain frame, copied whole.
          const v = f + mac;
          const hdrLen = this.r8[v + 2] | (this.r8[v + 3] << 8);
          const rest = this.r8.subarray(v + 4, v + T.VNET_HDR_LEN);
          len -= T.VNET_HDR_LEN;
          if (this.r8[v] !== 0 || this.r8[v + 1] !== 0 || rest.some((b) => b !== 0) || hdrLen !== len)
            throw new Error(`fake tpacket: virtio_net_hdr ${hex(this.r8.subarray(v, v + T.VNET_HDR_LEN))} for a ${len}-byte frame`);
          mac += T.VNET_HDR_LEN;
        }
        this.sent.push(this.r8.slice(f + mac, f + mac + len));
        bytes += len;
        Atomics.store(this.r32, w + T.H3_STATUS, T.TP_STATUS_AVAILABLE);
      }
      this.txSeen++;
      this.txHead = (this.txHead + 1) % s.txFrames;
    }
    return bytes;
  }

  /** Completes frames a stalled device left SENDING. */
  drainStalled(): void {
    const s = this.sock!;
    const fs = this.opts!.txFrameSize;
    for (let i = 0; i < s.txFrames; i++) {
      const w = (s.rxBytes + i * fs) >> 2;
      if (Atomics.load(this.r32, w + T.H3_STATUS) === T.TP_STATUS_SENDING) Atomics.store(this.r32, w + T.H3_STATUS, T.TP_STATUS_AVAILABLE);
    }
  }

  afPacketStats(): [number, number, number, number] {
    const k = this.kernel;
    const r: [number, number, number, number] = [k.packets, k.drops, k.freezes, k.flags];
    // PACKET_STATISTICS resets on read.
    k.packets = 0;
    k.drops = 0;
    k.freezes = 0;
    return r;
  }

  afPacketClose(): boolean {
    this.closed = true;
    this.r32.fill(0);
    return true;
  }
}
