// The afpacket port: a Linux network interface through an AF_PACKET socket with PACKET_MMAP
// rings (Documentation/networking/packet_mmap.rst): a TPACKET_V3 receive ring, whose blocks
// the kernel fills and hands over whole, and a transmit ring of fixed frames.
//
// The native addon only opens the socket, sets the rings up, maps them, kicks transmission
// and reads counters. Everything per packet is here, in TypeScript: rxBurst walks the blocks
// the kernel has handed over and copies each frame into a pool buffer; txBurst copies pool
// buffers into free TX frames and marks them for sending. No allocation and no exception per
// packet; every failure is a counter.
//
// Who makes the send() that transmits marked frames (the kick): by default a transmit thread
// of the port's own (native/src/addon.cc), told through a control block of shared words, so
// the kernel's transmit work — on a veth that is the receiving host's whole stack, most of
// the CPU per packet — runs on another core while the manager goes on receiving and filling
// the ring. With `txThread: false` the manager kicks itself, once per burst.
import { NetvmError } from '../../core/errors.js';
import { interfaceName, noSuchInterface } from '../interface-errors.js';
import { M_DATA_OFF, M_FLAGS, M_LEN, M_STAMP_F64, M_TS_NSEC, M_TS_SEC, META_BYTES } from '../../core/layout.js';
import { native, type AfPacketOpenOptions, type AfPacketSocket } from '../../../native/loader.js';
import { ParsedPacket, parsePacket } from '../../proto/parse.js';
import { fillPacketChecksums } from '../../proto/packet-checksum.js';
import type { BufferAccess, PortDriver, PortStats } from '../port-driver.js';
import { copyBytes } from './copy.js';
import * as T from './tpacket.js';

export interface AfPacketOptions {
  /** Interface name (`ip -br link`), at most 15 characters. */
  interface: string;
  /** Receive frames not addressed to the interface (a PACKET_MR_PROMISC membership). Default true. */
  promiscuous?: boolean;
  /** Join a PACKET_FANOUT group: sockets of one group share the interface's traffic. */
  fanout?: { group: number; mode?: T.FanoutMode };
  /** Send without the queueing discipline (PACKET_QDISC_BYPASS). Default false. */
  qdiscBypass?: boolean;
  /** Frames in each ring (the RX ring holds as many bytes). Default 4096. */
  ringFrames?: number;
  /** Do not receive packets leaving the interface (PACKET_IGNORE_OUTGOING). Default true. */
  ignoreOutgoing?: boolean;
  /** Make the send() calls on a thread of the port's own instead of the manager's loop. Default true. */
  txThread?: boolean;
}

/** The system calls the port uses: the native addon, or a test's stand-in. */
export type AfPacketSys = Pick<
  typeof native,
  'afPacketOpen' | 'afPacketKick' | 'afPacketStats' | 'afPacketClose' | 'afPacketTxStart' | 'afPacketTxStop' | 'futexWake'
>;

export const DEFAULT_RING_FRAMES = 4096;
/** RX blocks are at least this big (and hold at least 4 of the largest frames). */
const MIN_BLOCK_SIZE = 1 << 16;
/**
 * tp_retire_blk_tov: the kernel hands over a partly filled block after this many ms, so a
 * lone packet waits at most this long (rounded up to a jiffy by the kernel).
 */
const BLOCK_TIMEOUT_MS = 1;
/** How often an idle manager looks at the ring (ms): via nextDue(), the manager's sleep bound. */
const IDLE_POLL_MS = 1;
/** Ethernet header, and the 802.1Q tag the kernel strips into tp_vlan_tci. */
const ETH_HLEN = 14;
const VLAN_HLEN = 4;
const ETH_P_8021Q = 0x8100;
const ETH_P_8021AD = 0x88a8;
/**
 * Frames at least this long are copied with one copyWithin on the copy view (a memmove, about
 * 35 ns to call); shorter ones by the word loop, which is faster for them (10 ns for 64 bytes).
 */
const COPY_VIEW_MIN = 160;
/** Plain stores reach other cores in program order (x86-TSO): no fence needed to publish a frame. */
const STORES_IN_ORDER = process.arch === 'x64' || process.arch === 'ia32';

function bad(option: string, msg: string): NetvmError {
  return new NetvmError('NETVM_PORT_OPEN', `afpacket: option "${option}" ${msg}`);
}

const pow2ceil = (n: number): number => 2 ** Math.ceil(Math.log2(n));

export class AfPacketPort implements PortDriver {
  readonly kind = 'afpacket';
  readonly canReceive = true;
  readonly canTransmit = true;
  readonly ifname: string;
  private readonly promiscuous: boolean;
  private readonly fanoutGroup: number;
  private readonly fanoutMode: number;
  private readonly qdiscBypass: boolean;
  private readonly ringFrames: number;
  private readonly ignoreOutgoing: boolean;
  private readonly txThread: boolean;
  private readonly sys: AfPacketSys;
  private sock: AfPacketSocket | null = null;
  private fd = -1;
  private access: BufferAccess | null = null;
  private r8: Uint8Array = new Uint8Array(0);
  private r32: Int32Array = new Int32Array(0);
  private readonly parsed = new ParsedPacket();
  // RX ring walk: the block we read, packets left in it (0: not holding one), next header.
  private blockSize = 0;
  private rxBlocks = 0;
  private rxBlock = 0;
  private rxLeft = 0;
  private rxOff = 0;
  private rxEnd = 0;
  // TX ring: frames from txBase, the next one we fill.
  private txBase = 0;
  private txFrameSize = 0;
  private txFrames = 0;
  private txCursor = 0;
  private txDataMax = 0;
  private mtu = 1500;
  /** PACKET_VNET_HDR is on: each TX frame starts with a virtio_net_hdr (tpacket.ts VNET_HDR_LEN). */
  private vnet = false;
  /** The copy view (native afPacketOpen): the region at 0, the rings from cvRing; null: none. */
  private cv: Uint8Array | null = null;
  private cvRing = 0;
  /** A kick failed (send buffer full, link down): frames wait in the ring; retry at `kickRetryAt`. */
  private kickPending = false;
  private kickRetryAt = 0;
  private failedScratch = new Int32Array(256);
  // The transmit thread: its handle (-1: none, the manager kicks) and control block.
  private txHandle = -1;
  private txCtlBuf = new SharedArrayBuffer(T.TXC_WORDS * 4);
  private txCtl = new Int32Array(this.txCtlBuf);
  private txWakeups = 0;
  /** PortDriver.txDeferred: frames of the last txBurst left for want of a free TX frame. */
  txDeferred = 0;
  // counters
  private rxPackets = 0;
  private rxBytes = 0;
  private rxTruncated = 0;
  private rxOversize = 0;
  private rxVlanRestored = 0;
  private rxChecksumFilled = 0;
  private txPackets = 0;
  private txBytes = 0;
  private txInvalid = 0;
  private txOversize = 0;
  private txRingFull = 0;
  private txKernelRejected = 0;
  private txKicks = 0;
  private txKickErrors = 0;
  private kernelPackets = 0;
  private kernelDrops = 0;
  private kernelFreezes = 0;
  private link = 0;

  constructor(options: AfPacketOptions, sys?: AfPacketSys) {
    const o = (options ?? {}) as unknown as Record<string, unknown>;
    this.ifname = interfaceName('afpacket', o.interface);
    const bool = (k: string, def: boolean): boolean => {
      const v = o[k];
      if (v === undefined) return def;
      if (typeof v !== 'boolean') throw bad(k, `must be true or false (got ${JSON.stringify(v)})`);
      return v;
    };
    this.promiscuous = bool('promiscuous', true);
    this.qdiscBypass = bool('qdiscBypass', false);
    this.ignoreOutgoing = bool('ignoreOutgoing', true);
    this.txThread = bool('txThread', true);
    const rf = o.ringFrames ?? DEFAULT_RING_FRAMES;
    if (typeof rf !== 'number' || !Number.isInteger(rf) || rf < 16 || rf > 1048576)
      throw bad('ringFrames', `must be an integer in 16..1048576 (got ${JSON.stringify(rf)})`);
    this.ringFrames = rf;
    const f = o.fanout;
    if (f === undefined) {
      this.fanoutGroup = -1;
      this.fanoutMode = 0;
    } else {
      const fo = f as Record<string, unknown>;
      if (
        typeof f !== 'object' ||
        f === null ||
        typeof fo.group !== 'number' ||
        !Number.isInteger(fo.group) ||
        fo.group < 0 ||
        fo.group > 65535
      )
        throw bad('fanout', `must be { group: 0..65535, mode?: ${Object.keys(T.FANOUT_MODES).join('|')} } (got ${JSON.stringify(f)})`);
      const mode = fo.mode ?? 'hash';
      if (typeof mode !== 'string' || !(mode in T.FANOUT_MODES))
        throw bad('fanout', `mode must be one of ${Object.keys(T.FANOUT_MODES).join(', ')} (got ${JSON.stringify(mode)})`);
      this.fanoutGroup = fo.group;
      this.fanoutMode = T.FANOUT_MODES[mode as T.FanoutMode];
    }
    this.sys = sys ?? native;
  }

  async open(access: BufferAccess): Promise<void> {
    if (this.sock !== null) return;
    // Frames hold a header, a virtio_net_hdr, up to 3 bytes of alignment and the largest
    // packet a buffer holds.
    const txFrameSize = Math.max(2048, pow2ceil(T.TX_DATA_OFF + T.VNET_HDR_LEN + 3 + access.dataRoom));
    const blockSize = Math.max(MIN_BLOCK_SIZE, 4 * txFrameSize);
    const rxBlocks = Math.max(2, Math.ceil((this.ringFrames * txFrameSize) / blockSize));
    const opts: AfPacketOpenOptions = {
      interface: this.ifname,
      blockSize,
      rxBlocks,
      txFrameSize,
      txFrames: this.ringFrames,
      blockTimeoutMs: BLOCK_TIMEOUT_MS,
      promiscuous: this.promiscuous ? 1 : 0,
      qdiscBypass: this.qdiscBypass ? 1 : 0,
      ignoreOutgoing: this.ignoreOutgoing ? 1 : 0,
      fanoutGroup: this.fanoutGroup,
      fanoutMode: this.fanoutMode,
      // Room for the whole TX ring in flight (the kernel doubles it for bookkeeping).
      sndBuf: Math.min(2 ** 31 - 1, this.ringFrames * txFrameSize),
      // Whole frames into the skb's linear part (see native/src/addon.cc, PACKET_VNET_HDR).
      vnetHdr: 1,
    };
    // Ask for a copy view when the pool's views cover their whole region (defensively: a
    // missing interface or capability must be reported as such whatever the pool looks like).
    const view = (access as Partial<BufferAccess>).u8;
    const region = view?.buffer;
    if (view !== undefined && region instanceof SharedArrayBuffer && view.byteOffset === 0 && view.byteLength === region.byteLength) {
      opts.region = region;
      if (typeof access.file === 'string') opts.regionFile = access.file;
    }
    let s: AfPacketSocket;
    try {
      s = this.sys.afPacketOpen(opts);
    } catch (err) {
      throw this.openError(err as Error & { errno?: number; syscall?: string });
    }
    this.sock = s;
    this.fd = s.fd;
    this.access = access;
    this.r8 = new Uint8Array(s.ring);
    this.r32 = new Int32Array(s.ring);
    this.blockSize = blockSize;
    this.rxBlocks = Math.floor(s.rxBytes / blockSize);
    this.rxBlock = 0;
    this.rxLeft = 0;
    this.txBase = s.rxBytes;
    this.txFrameSize = txFrameSize;
    this.txFrames = s.txFrames;
    this.txCursor = 0;
    this.mtu = s.mtu;
    this.vnet = s.vnetHdr === 1;
    this.cv = s.copyView !== undefined ? new Uint8Array(s.copyView) : null;
    this.cvRing = s.copyViewRingOffset ?? 0;
    this.txDataMax = Math.min(access.dataRoom, txFrameSize - T.TX_DATA_OFF - T.VNET_HDR_LEN - 3);
    if (this.txThread) {
      this.txCtlBuf = new SharedArrayBuffer(T.TXC_WORDS * 4);
      this.txCtl = new Int32Array(this.txCtlBuf);
      try {
        this.txHandle = this.sys.afPacketTxStart(s.fd, this.txCtlBuf, `nv-tx-${this.ifname}`.slice(0, 15));
      } catch (err) {
        this.sys.afPacketClose(s.fd, s.ring, s.copyView);
        this.sock = null;
        this.fd = -1;
        this.cv = null;
        throw new NetvmError(
          'NETVM_PORT_OPEN',
          `afpacket: cannot start the transmit thread of "${this.ifname}": ${(err as Error).message}; set txThread: false to send from the manager's loop`,
          { cause: err },
        );
      }
    }
    this.refreshKernelStats();
  }

  private openError(e: Error & { errno?: number; syscall?: string }): NetvmError {
    const name = this.ifname;
    const sc = e.syscall ?? '';
    const errno = e.errno ?? 0;
    if (sc === 'if_nametoindex') return noSuchInterface('afpacket', name, e);
    if (errno === T.EPERM || errno === T.EACCES)
      return new NetvmError(
        'NETVM_PERMISSION',
        `afpacket: opening a packet socket on "${name}" needs the CAP_NET_RAW capability: run netvm as root, ` +
          `or grant it to node: sudo setcap cap_net_raw,cap_net_admin+ep "$(readlink -f "$(command -v node)")"`,
        { cause: e },
      );
    if (sc.includes('PACKET_IGNORE_OUTGOING') && errno === T.ENOPROTOOPT)
      return new NetvmError(
        'NETVM_PORT_OPEN',
        `afpacket: this kernel has no PACKET_IGNORE_OUTGOING (Linux >= 4.20); set ignoreOutgoing: false`,
        {
          cause: e,
        },
      );
    if (sc.includes('PACKET_FANOUT'))
      return new NetvmError(
        'NETVM_PORT_OPEN',
        `afpacket: cannot join fanout group ${this.fanoutGroup} on "${name}": ${e.message} (every socket of a group must use the same mode and interface)`,
        { cause: e },
      );
    if (sc.includes('RING') || sc.startsWith('mmap'))
      return new NetvmError(
        'NETVM_PORT_OPEN',
        `afpacket: cannot set up the rings of "${name}" (${this.ringFrames} frames): ${e.message}; try a smaller ringFrames`,
        { cause: e },
      );
    return new NetvmError('NETVM_PORT_OPEN', `afpacket: ${e.message}`, { cause: e });
  }

  rxBurst(descs: Int32Array, count: number, now: number): number {
    if (this.fd < 0 || count <= 0) return 0;
    if (this.kickPending && now >= this.kickRetryAt) this.kick(now);
    if (count > descs.length) count = descs.length;
    const a = this.access!;
    const u8 = a.u8;
    const i32 = a.i32;
    const f64 = a.f64;
    const r8 = this.r8;
    const r32 = this.r32;
    const headroom = a.headroom;
    const room = a.dataRoom;
    const cv = this.cv;
    const cvRing = this.cvRing;
    let n = 0;
    let bytes = 0;
    while (n < count) {
      if (this.rxLeft === 0) {
        // Block ownership passes by block_status: TP_STATUS_USER means the kernel has retired
        // the block (full, or its timeout passed) and will not touch it until we give it back.
        const b = this.rxBlock * this.blockSize;
        if ((Atomics.load(r32, (b >> 2) + T.BD_STATUS) & T.TP_STATUS_USER) === 0) break;
        const np = r32[(b >> 2) + T.BD_NUM_PKTS];
        if (np <= 0) {
          this.releaseBlock();
          continue;
        }
        this.rxLeft = np;
        this.rxOff = b + r32[(b >> 2) + T.BD_FIRST_PKT];
        this.rxEnd = b + this.blockSize;
      }
      const h = this.rxOff;
      const hw = h >> 2;
      const snap = r32[hw + T.H3_SNAPLEN];
      const wire = r32[hw + T.H3_LEN];
      const status = r32[hw + T.H3_STATUS];
      const src = h + (r32[hw + T.H3_MAC_NET] & 0xffff);
      const vlan = (status & T.TP_STATUS_VLAN_VALID) !== 0 ? VLAN_HLEN : 0;
      // Keep the source's alignment modulo 4 so copyBytes moves words.
      const off = headroom + (src & 3);
      const len = snap + vlan;
      if (snap !== wire) this.rxTruncated++;
      else if (snap < ETH_HLEN || len + (src & 3) > room || src + snap > this.rxEnd) this.rxOversize++;
      else {
        const base = a.bufferOffset(descs[n]);
        const dst = base + off;
        if (vlan === 0) {
          if (cv !== null && snap >= COPY_VIEW_MIN) cv.copyWithin(dst, cvRing + src, cvRing + src + snap);
          else copyBytes(r8, r32, src, u8, i32, dst, snap);
        } else {
          // The kernel moved the 802.1Q tag into tp_vlan_tci: put it back after the MACs so the
          // chain sees the frame as it was on the wire.
          copyBytes(r8, r32, src, u8, i32, dst, 12);
          const tpid = (status & T.TP_STATUS_VLAN_TPID_VALID) !== 0 ? r32[hw + T.H3_VLAN_TPID] & 0xffff : ETH_P_8021Q;
          const tci = r32[hw + T.H3_VLAN_TCI] & 0xffff;
          u8[dst + 12] = tpid >>> 8;
          u8[dst + 13] = tpid & 0xff;
          u8[dst + 14] = tci >>> 8;
          u8[dst + 15] = tci & 0xff;
          copyBytes(r8, r32, src + 12, u8, i32, dst + 16, snap - 12);
          this.rxVlanRestored++;
        }
        const m = base >> 2;
        i32[m + M_LEN] = len;
        i32[m + M_DATA_OFF] = off;
        i32[m + M_FLAGS] = 0;
        i32[m + M_TS_SEC] = r32[hw + T.H3_SEC];
        i32[m + M_TS_NSEC] = r32[hw + T.H3_NSEC];
        f64[(base >> 3) + M_STAMP_F64] = 0;
        // CHECKSUM_PARTIAL: a packet sent by this host's own stack with checksum offload
        // carries only the pseudo-header sum; the NIC would have finished it. A forwarder
        // must, or the receiver drops the packet.
        if ((status & T.TP_STATUS_CSUMNOTREADY) !== 0) {
          parsePacket(u8, dst, len, this.parsed);
          fillPacketChecksums(u8, this.parsed);
          this.rxChecksumFilled++;
        }
        bytes += len;
        n++;
      }
      if (--this.rxLeft === 0) this.releaseBlock();
      else this.rxOff = h + r32[hw + T.H3_NEXT];
    }
    this.rxPackets += n;
    this.rxBytes += bytes;
    return n;
  }

  /** Gives the current block back to the kernel and moves to the next one. */
  private releaseBlock(): void {
    Atomics.store(this.r32, ((this.rxBlock * this.blockSize) >> 2) + T.BD_STATUS, T.TP_STATUS_KERNEL);
    this.rxLeft = 0;
    if (++this.rxBlock === this.rxBlocks) this.rxBlock = 0;
  }

  txBurst(descs: Int32Array, count: number, now: number): number {
    this.txDeferred = 0;
    if (this.fd < 0 || count <= 0) return 0;
    if (count > descs.length) count = descs.length;
    const a = this.access!;
    const u8 = a.u8;
    const i32 = a.i32;
    const r8 = this.r8;
    const r32 = this.r32;
    const bufSize = a.headroom + a.dataRoom;
    const maxData = this.txDataMax;
    const mtuFrame = this.mtu + ETH_HLEN;
    const threaded = this.txHandle >= 0;
    const cv = this.cv;
    const cvRing = this.cvRing;
    const hdr = this.vnet ? T.VNET_HDR_LEN : 0;
    let sent = 0;
    let failed = 0;
    let bytes = 0;
    let k = 0;
    for (; k < count; k++) {
      const desc = descs[k];
      const base = a.bufferOffset(desc);
      const m = base >> 2;
      const len = i32[m + M_LEN];
      const off = i32[m + M_DATA_OFF];
      let ok = base >= 0 && base + bufSize <= u8.length && len >= ETH_HLEN && len <= maxData && off >= META_BYTES && off + len <= bufSize;
      if (!ok) this.txInvalid++;
      else {
        // The kernel refuses frames longer than the MTU plus the Ethernet header (and a VLAN
        // tag if the frame has one) with EMSGSIZE; PACKET_LOSS would skip them silently.
        const et = (u8[base + off + 12] << 8) | u8[base + off + 13];
        if (len > mtuFrame + (et === ETH_P_8021Q || et === ETH_P_8021AD ? VLAN_HLEN : 0)) {
          this.txOversize++;
          ok = false;
        }
      }
      if (!ok) {
        if (failed === this.failedScratch.length) {
          const bigger = new Int32Array(failed * 2);
          bigger.set(this.failedScratch);
          this.failedScratch = bigger;
        }
        this.failedScratch[failed++] = desc;
        continue;
      }
      const f = this.txBase + this.txCursor * this.txFrameSize;
      const fw = f >> 2;
      // A plain read of the status word: the kernel sets AVAILABLE only after it is done with
      // the frame, and a stale read can only make the ring look fuller than it is.
      const st = r32[fw + T.H3_STATUS];
      if ((st & (T.TP_STATUS_SEND_REQUEST | T.TP_STATUS_SENDING)) !== 0) {
        // The kernel has not sent this frame yet: the ring is full.
        this.txRingFull++;
        break;
      }
      if ((st & T.TP_STATUS_WRONG_FORMAT) !== 0) this.txKernelRejected++;
      // The frame's data (tp_mac) starts at TX_DATA_OFF or a little after; the Ethernet frame
      // follows the virtio_net_hdr, at the pool data's alignment modulo 4 so copyBytes moves words.
      const ethOff = T.TX_DATA_OFF + hdr + ((base + off - T.TX_DATA_OFF - hdr) & 3);
      if (cv !== null && len >= COPY_VIEW_MIN) cv.copyWithin(cvRing + f + ethOff, base + off, base + off + len);
      else copyBytes(u8, i32, base + off, r8, r32, f + ethOff, len);
      const mac = ethOff - hdr;
      if (hdr !== 0) {
        // struct virtio_net_hdr: no flags, GSO_NONE, hdr_len = the whole frame (copied into the
        // skb's linear part), gso_size, csum_start and csum_offset 0.
        const v = f + mac;
        r8[v] = 0;
        r8[v + 1] = 0;
        r8[v + T.VNET_HDR_LEN_OFF] = len & 0xff;
        r8[v + T.VNET_HDR_LEN_OFF + 1] = len >>> 8;
        for (let b = 4; b < T.VNET_HDR_LEN; b++) r8[v + b] = 0;
      }
      r32[fw + T.H3_NEXT] = 0; // V3 TX: fixed frames, tp_next_offset must be 0
      r32[fw + T.H3_LEN] = len + hdr;
      r32[fw + T.H3_SNAPLEN] = len + hdr;
      r32[fw + T.H3_MAC_NET] = mac; // tp_mac (PACKET_TX_HAS_OFF), tp_net 0
      // The transmit thread's send() may be walking the ring right now, so the kernel must not
      // see the status before the frame's data. Without the thread the kernel looks only
      // inside our own kick, below. On x86-64 a plain store is enough either way: stores
      // become visible to other cores in program order (x86-TSO), and V8 keeps typed-array
      // stores in program order (they are effects). Elsewhere (arm64) a sequentially
      // consistent store orders it after the data (about 10 ns more per frame).
      if (threaded && !STORES_IN_ORDER) Atomics.store(r32, fw + T.H3_STATUS, T.TP_STATUS_SEND_REQUEST);
      else r32[fw + T.H3_STATUS] = T.TP_STATUS_SEND_REQUEST;
      if (++this.txCursor === this.txFrames) this.txCursor = 0;
      descs[sent++] = desc;
      bytes += len;
    }
    // Sent first, in order; then the ones that failed validation; then, untouched in their
    // places, those the full ring left (txDeferred: the caller may offer them again).
    for (let i = 0; i < failed; i++) descs[sent + i] = this.failedScratch[i];
    this.txDeferred = count - k;
    if (sent > 0) {
      this.txPackets += sent;
      this.txBytes += bytes;
      if (threaded) this.wakeTxThread();
      else this.kick(now);
    }
    return sent;
  }

  /** New frames for the transmit thread: one atomic add, and a futex wake only if it sleeps. */
  private wakeTxThread(): void {
    Atomics.add(this.txCtl, T.TXC_SEQ, 1);
    if (Atomics.load(this.txCtl, T.TXC_SLEEPING) !== 0) {
      this.txWakeups++;
      this.sys.futexWake(this.txCtlBuf, T.TXC_SEQ * 4, 1);
    }
  }

  /** One send(2) for everything marked in the TX ring. */
  private kick(now: number): void {
    this.txKicks++;
    const r = this.sys.afPacketKick(this.fd);
    if (r >= 0) {
      this.kickPending = false;
      return;
    }
    // EAGAIN/ENOBUFS: the send buffer is full; ENETDOWN/ENXIO: the link is down. The frames
    // stay marked; rxBurst retries the kick (at most once a millisecond).
    if (r !== -T.EAGAIN && r !== -T.ENOBUFS) this.txKickErrors++;
    this.kickPending = true;
    this.kickRetryAt = now + 1;
  }

  exhausted(): boolean {
    return false;
  }

  /** An idle manager sleeps at most until then before looking at the RX ring again. */
  nextDue(): number {
    return performance.now() + IDLE_POLL_MS;
  }

  /** True when the kernel has handed over packets not read yet (tests and tools; not per packet). */
  rxReady(): boolean {
    if (this.fd < 0) return false;
    if (this.rxLeft > 0) return true;
    return (Atomics.load(this.r32, ((this.rxBlock * this.blockSize) >> 2) + T.BD_STATUS) & T.TP_STATUS_USER) !== 0;
  }

  /** Frames still waiting in the TX ring for the kernel. */
  txQueued(): number {
    if (this.fd < 0) return 0;
    let q = 0;
    for (let i = 0; i < this.txFrames; i++) {
      const st = Atomics.load(this.r32, ((this.txBase + i * this.txFrameSize) >> 2) + T.H3_STATUS);
      if ((st & (T.TP_STATUS_SEND_REQUEST | T.TP_STATUS_SENDING)) !== 0) q++;
    }
    return q;
  }

  private refreshKernelStats(): void {
    if (this.fd < 0) return;
    const [packets, drops, freezes, flags] = this.sys.afPacketStats(this.fd, this.ifname);
    // PACKET_STATISTICS counts since the previous read (the kernel resets it), and its
    // packet count includes the drops.
    this.kernelPackets += packets;
    this.kernelDrops += drops;
    this.kernelFreezes += freezes;
    this.link = flags >= 0 && (flags & T.IFF_UP) !== 0 && (flags & T.IFF_RUNNING) !== 0 ? 1 : 0;
  }

  stats(): PortStats {
    this.refreshKernelStats();
    return {
      link: this.link,
      mtu: this.mtu,
      rxPackets: this.rxPackets,
      rxBytes: this.rxBytes,
      rxTruncated: this.rxTruncated,
      rxOversize: this.rxOversize,
      rxVlanRestored: this.rxVlanRestored,
      rxChecksumFilled: this.rxChecksumFilled,
      txPackets: this.txPackets,
      txBytes: this.txBytes,
      txInvalid: this.txInvalid,
      txOversize: this.txOversize,
      txRingFull: this.txRingFull,
      txKernelRejected: this.txKernelRejected,
      // The control block counts the running thread's calls (zero without one; close() folds them in).
      txKicks: this.txKicks + Atomics.load(this.txCtl, T.TXC_KICKS),
      txKickErrors: this.txKickErrors + Atomics.load(this.txCtl, T.TXC_ERRORS),
      txKickRetries: Atomics.load(this.txCtl, T.TXC_RETRIES),
      txThread: this.txHandle >= 0 ? 1 : 0,
      txThreadWakeups: this.txWakeups,
      txVnetHdr: this.vnet ? 1 : 0,
      copyView: this.cv !== null ? 1 : 0,
      kernelPackets: this.kernelPackets,
      kernelDrops: this.kernelDrops,
      kernelFreezes: this.kernelFreezes,
    };
  }

  async close(): Promise<void> {
    if (this.sock === null) return;
    if (this.txHandle >= 0) {
      // Its counters stay readable in the control block; from here on close() kicks itself.
      this.sys.afPacketTxStop(this.txHandle);
      this.txKicks += Atomics.load(this.txCtl, T.TXC_KICKS);
      this.txKickErrors += Atomics.load(this.txCtl, T.TXC_ERRORS);
      Atomics.store(this.txCtl, T.TXC_KICKS, 0);
      Atomics.store(this.txCtl, T.TXC_ERRORS, 0);
      this.txHandle = -1;
    }
    // Let queued frames leave before the ring goes away (a bounded wait: a link that is down
    // never takes them).
    for (let i = 0; i < 20 && this.txQueued() > 0; i++) {
      this.sys.afPacketKick(this.fd);
      await new Promise((r) => setTimeout(r, 5));
    }
    this.refreshKernelStats();
    const s = this.sock;
    this.sock = null;
    this.fd = -1;
    this.link = 0;
    this.sys.afPacketClose(s.fd, s.ring, s.copyView);
    this.cv = null;
    this.r8 = new Uint8Array(0);
    this.r32 = new Int32Array(0);
  }
}
