// The afxdp port driver: a Linux interface through an AF_XDP socket (kernel doc
// networking/af_xdp.rst), with the packet pool itself as the socket's UMEM.
//
// The kernel writes each received frame straight into a pool buffer taken from the fill
// ring, and sends from the pool buffer a TX descriptor names: netvm copies no packet byte in
// either direction (the afpacket port copies twice, ring to pool and pool to ring). On a NIC
// without zero-copy AF_XDP support, and on veth, the socket runs in copy mode: the kernel
// still makes its own copy, as it does for a packet socket.
//
// The native addon (native/src/xdp.cc) opens the socket, registers the UMEM, maps the four
// rings, loads a five-instruction XDP program that redirects the bound queue to the socket,
// attaches it with a BPF link, and makes the sendto() that starts transmission, at most one
// per txBurst. Everything per packet is here: each ring is a single-producer single-consumer
// array of 2^n entries with free-running 32-bit producer and consumer indices (af_xdp.rst,
// "Rings"); the side that owns an index publishes it with a store after writing its entries.
//
// Buffers. The port holds `ringSize` buffers in the kernel's fill ring and `ringSize` spare
// buffers for transmission (heldBuffers()). rxBurst swaps: each received buffer goes to the
// caller, and one of the caller's free buffers goes to the fill ring in its place. txBurst
// swaps the other way: a sent buffer stays with the kernel until its completion, and the
// caller gets a spare to free instead (completions refill the spares). A per-buffer byte says
// whether the kernel has it, so close() can give back exactly the buffers the port holds.
import { native, type XdpOpenOptions, type XdpSocket } from '../../../native/loader.js';
import { NetvmError } from '../../core/errors.js';
import { interfaceName, noSuchInterface } from '../interface-errors.js';
import { EACCES, EAFNOSUPPORT, EAGAIN, EBUSY, EEXIST, EINVAL, ENOBUFS, ENOMEM, EOPNOTSUPP, EPERM, IFF_RUNNING, IFF_UP } from '../linux.js';
import { META_BYTES, M_DATA_OFF, M_FLAGS, M_LEN, M_STAMP_F64, M_TS_NSEC, M_TS_SEC } from '../../core/layout.js';
import type { BufferAccess, PortDriver, PortStats } from '../port-driver.js';

export interface AfXdpOptions {
  interface: string;
  queue?: number;
  ringSize?: number;
  mode?: 'auto' | 'native' | 'generic';
  promiscuous?: boolean;
}

/** The system calls the port uses: the native addon, or a test's stand-in. */
export type AfXdpSys = Pick<typeof native, 'xdpOpen' | 'xdpKick' | 'xdpStats' | 'xdpClose'>;

export const DEFAULT_XDP_RING_SIZE = 2048;
const MODES = { auto: 0, native: 1, generic: 2 } as const;
const ETH_HLEN = 14;
const VLAN_HLEN = 4;

function bad(option: string, msg: string): NetvmError {
  return new NetvmError('NETVM_PORT_OPEN', `afxdp: option "${option}" ${msg}`);
}

/** A mapped ring as word indices into an Int32Array over its mapping. */
class XRing {
  readonly w: Int32Array;
  readonly prodW: number;
  readonly consW: number;
  readonly descW: number;
  readonly mask: number;
  constructor(r: XdpSocket['rx']) {
    this.w = new Int32Array(r.sab);
    this.prodW = r.producer >> 2;
    this.consW = r.consumer >> 2;
    this.descW = r.desc >> 2;
    this.mask = r.size - 1;
  }
}

export class AfXdpPort implements PortDriver {
  readonly kind = 'afxdp';
  readonly canReceive = true;
  readonly canTransmit = true;
  readonly ifname: string;
  private readonly queue: number;
  private readonly ringSize: number;
  private readonly mode: number;
  private readonly promiscuous: boolean;
  private readonly sys: AfXdpSys;
  private sock: XdpSocket | null = null;
  private fd = -1;
  private access: BufferAccess | null = null;
  private rx: XRing | null = null;
  private tx: XRing | null = null;
  private fill: XRing | null = null;
  private comp: XRing | null = null;
  // Our own copies of the indices we publish (the kernel only reads them).
  private rxCons = 0;
  private fillProd = 0;
  private txProd = 0;
  private compCons = 0;
  private segOff = 0;
  private bufShift = 11;
  private bufCount = 0;
  private mtu = 1500;
  /** Per buffer: 1 while the kernel has it (fill ring, RX ring, TX ring, completion ring). */
  private withKernel = new Uint8Array(0);
  private spares = new Int32Array(0);
  private spareCount = 0;
  private held = 0;
  private failedScratch = new Int32Array(256);
  private kickPending = false;
  private kickRetryAt = 0;
  /** PortDriver.txDeferred: descriptors of the last txBurst left for want of a spare buffer. */
  txDeferred = 0;
  /** PortDriver.txSentBytes: bytes the last txBurst sent (the caller gets spares, not the packets). */
  txSentBytes = 0;
  // counters
  private rxPackets = 0;
  private rxBytes = 0;
  private rxInvalid = 0;
  private txPackets = 0;
  private txBytes = 0;
  private txInvalid = 0;
  private txOversize = 0;
  private txRingFull = 0;
  private txKicks = 0;
  private txKickErrors = 0;
  private kernel = [0, 0, 0, 0, 0, 0];
  private link = 0;
  private attached = 0;
  private txBudget = 0;

  constructor(options: AfXdpOptions, sys?: AfXdpSys) {
    const o = (options ?? {}) as unknown as Record<string, unknown>;
    this.ifname = interfaceName('afxdp', o.interface);
    const q = o.queue ?? 0;
    if (typeof q !== 'number' || !Number.isInteger(q) || q < 0 || q > 1023)
      throw bad('queue', `must be an integer in 0..1023 (got ${JSON.stringify(q)})`);
    this.queue = q;
    const rs = o.ringSize ?? DEFAULT_XDP_RING_SIZE;
    if (typeof rs !== 'number' || !Number.isInteger(rs) || rs < 64 || rs > 65536 || (rs & (rs - 1)) !== 0)
      throw bad('ringSize', `must be a power of two in 64..65536 (got ${JSON.stringify(rs)})`);
    this.ringSize = rs;
    const m = o.mode ?? 'auto';
    if (typeof m !== 'string' || !(m in MODES)) throw bad('mode', `must be one of auto, native, generic (got ${JSON.stringify(m)})`);
    this.mode = MODES[m as keyof typeof MODES];
    const p = o.promiscuous ?? true;
    if (typeof p !== 'boolean') throw bad('promiscuous', `must be true or false (got ${JSON.stringify(p)})`);
    this.promiscuous = p;
    this.sys = sys ?? native;
  }

  async open(access: BufferAccess): Promise<void> {
    if (this.sock !== null) return;
    // Copy mode writes a frame XDP_PACKET_HEADROOM (256) bytes into its chunk: after the
    // buffer's metadata, so frames up to bufSize - 256 bytes fit (1792 with 2048-byte buffers).
    const bufSize = access.headroom + access.dataRoom;
    if (bufSize !== 2048 && bufSize !== 4096)
      throw new NetvmError(
        'NETVM_PORT_OPEN',
        `afxdp: the pool's buffers are ${bufSize} bytes; an AF_XDP UMEM needs 2048 or 4096 (set region.bufSize to one of them)`,
      );
    if (access.segments !== undefined && access.segments !== 1)
      throw new NetvmError(
        'NETVM_PORT_OPEN',
        `afxdp: the pool has ${access.segments} segments; the UMEM is one of them, so afxdp needs region.segments: 1`,
      );
    const region = access.u8.buffer;
    if (
      !(region instanceof SharedArrayBuffer) ||
      access.u8.byteOffset !== 0 ||
      access.bufCount === undefined ||
      access.segmentOffset === undefined ||
      access.alloc === undefined ||
      access.free === undefined
    )
      throw new NetvmError(
        'NETVM_PORT_OPEN',
        "afxdp: this port needs the manager's shared packet pool (it cannot run in a test harness without one)",
      );
    if (access.bufCount < 4 * this.ringSize)
      throw new NetvmError(
        'NETVM_PORT_OPEN',
        `afxdp: port "${this.ifname}" keeps 2 x ringSize = ${2 * this.ringSize} buffers, but the pool has ${access.bufCount}; ` +
          `raise region.bufCount to at least ${4 * this.ringSize} or lower ringSize`,
      );
    const opts: XdpOpenOptions = {
      interface: this.ifname,
      queue: this.queue,
      region,
      umemOffset: access.segmentOffset,
      umemLength: access.bufCount * bufSize,
      chunkSize: bufSize,
      ringSize: this.ringSize,
      mode: this.mode,
      // One sendto() may send a whole ring (Linux >= 6.17; older kernels send 32 per call).
      txBudget: this.ringSize,
      promiscuous: this.promiscuous ? 1 : 0,
    };
    let s: XdpSocket | null = null;
    // The kernel lets go of a queue some time after the socket bound to it closes (the
    // release is deferred to a work queue): a port reopened at once, or a manager restarted,
    // can find it still taken for a moment. Wait up to a second before saying so.
    for (let attempt = 0; s === null; attempt++) {
      try {
        s = this.sys.xdpOpen(opts);
      } catch (err) {
        const e = err as Error & { errno?: number; syscall?: string };
        if (attempt < 20 && e.errno === EBUSY && (e.syscall ?? '').startsWith('bind')) {
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        throw this.openError(e);
      }
    }
    this.sock = s;
    this.fd = s.fd;
    this.access = access;
    this.rx = new XRing(s.rx);
    this.tx = new XRing(s.tx);
    this.fill = new XRing(s.fill);
    this.comp = new XRing(s.completion);
    this.rxCons = Atomics.load(this.rx.w, this.rx.consW);
    this.fillProd = Atomics.load(this.fill.w, this.fill.prodW);
    this.txProd = Atomics.load(this.tx.w, this.tx.prodW);
    this.compCons = Atomics.load(this.comp.w, this.comp.consW);
    this.segOff = access.segmentOffset;
    this.bufShift = Math.log2(bufSize);
    this.bufCount = access.bufCount;
    this.mtu = s.mtu;
    this.attached = s.mode;
    this.txBudget = s.txBudget;
    this.withKernel = new Uint8Array(access.bufCount);
    // The fill ring full, and as many spares as the TX ring has entries.
    const n = this.ringSize;
    const got = new Int32Array(2 * n);
    const k = access.alloc(got, 0, 2 * n);
    if (k < 2 * n) {
      access.free(got, 0, k);
      await this.closeSocket();
      throw new NetvmError(
        'NETVM_PORT_OPEN',
        `afxdp: port "${this.ifname}" needs ${2 * n} free pool buffers and got ${k}; raise region.bufCount or lower ringSize`,
      );
    }
    this.held = 2 * n;
    const f = this.fill;
    for (let i = 0; i < n; i++) {
      const d = got[i];
      const e = f.descW + (((this.fillProd + i) & f.mask) << 1);
      f.w[e] = d << this.bufShift;
      f.w[e + 1] = 0;
      this.withKernel[d] = 1;
    }
    this.fillProd = (this.fillProd + n) | 0;
    Atomics.store(f.w, f.prodW, this.fillProd);
    this.spares = got.slice(n);
    this.spareCount = n;
    this.refreshKernelStats();
  }

  private openError(e: Error & { errno?: number; syscall?: string }): NetvmError {
    const name = this.ifname;
    const sc = e.syscall ?? '';
    const errno = e.errno ?? 0;
    if (sc === 'if_nametoindex') return noSuchInterface('afxdp', name, e);
    if (errno === EPERM || errno === EACCES)
      return new NetvmError(
        'NETVM_PERMISSION',
        `afxdp: an AF_XDP socket and its XDP program on "${name}" need CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF (${sc}: ${e.message}): run netvm as root`,
        { cause: e },
      );
    if (sc.startsWith('socket(AF_XDP)') && errno === EAFNOSUPPORT)
      return new NetvmError('NETVM_PORT_OPEN', 'afxdp: this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS); use the afpacket driver', {
        cause: e,
      });
    if (sc.includes('UMEM_REG') && errno === ENOMEM)
      return new NetvmError(
        'NETVM_PORT_OPEN',
        `afxdp: the kernel cannot pin the packet pool as a UMEM (${e.message}): raise the locked-memory limit (ulimit -l) or lower region.bufCount`,
        { cause: e },
      );
    if (sc.includes('LINK_CREATE') && (errno === EBUSY || errno === EEXIST))
      return new NetvmError(
        'NETVM_PORT_OPEN',
        `afxdp: "${name}" already has an XDP program attached (\`ip link show ${name}\` shows it); remove it or use the afpacket driver`,
        { cause: e },
      );
    if (sc.includes('LINK_CREATE') && (errno === EOPNOTSUPP || errno === EINVAL))
      return new NetvmError(
        'NETVM_PORT_OPEN',
        `afxdp: cannot attach an XDP program to "${name}" in ${this.mode === 1 ? 'native' : this.mode === 2 ? 'generic' : 'native or generic'} mode: ${e.message}` +
          (this.mode === 1 ? '; try mode: generic' : ''),
        { cause: e },
      );
    if (sc.startsWith('bind') && errno === EBUSY)
      return new NetvmError(
        'NETVM_PORT_OPEN',
        `afxdp: queue ${this.queue} of "${name}" is already bound by another AF_XDP socket (another port on the same interface and queue?); give each port its own queue`,
        { cause: e },
      );
    if (sc.startsWith('bind') && errno === EINVAL)
      return new NetvmError(
        'NETVM_PORT_OPEN',
        `afxdp: "${name}" has no receive queue ${this.queue} (\`ethtool -l ${name}\`); check queue`,
        {
          cause: e,
        },
      );
    return new NetvmError('NETVM_PORT_OPEN', `afxdp: ${e.message}`, { cause: e });
  }

  rxBurst(descs: Int32Array, count: number, now: number): number {
    const r = this.rx;
    if (r === null || count <= 0) return 0;
    if (this.kickPending && now >= this.kickRetryAt) this.kick(now);
    const f = this.fill!;
    const rw = r.w;
    const avail = (Atomics.load(rw, r.prodW) - this.rxCons) | 0;
    if (avail <= 0) return 0;
    if (count > descs.length) count = descs.length;
    const todo = avail < count ? avail : count;
    const a = this.access!;
    const i32 = a.i32;
    const f64 = a.f64;
    const fw = f.w;
    const shift = this.bufShift;
    const bufMask = (1 << shift) - 1;
    const segOff = this.segOff;
    const bufCount = this.bufCount;
    const wk = this.withKernel;
    // The kernel gives no timestamp in copy mode: one per burst, wall clock.
    const ms = performance.timeOrigin + now;
    const sec = Math.floor(ms / 1000);
    const nsec = Math.floor((ms - sec * 1000) * 1e6);
    let cons = this.rxCons;
    let fprod = this.fillProd;
    let n = 0;
    let bytes = 0;
    for (let i = 0; i < todo; i++, cons++) {
      const e = r.descW + ((cons & r.mask) << 2);
      const addr = rw[e]; // struct xdp_desc { u64 addr; u32 len; u32 options }: the UMEM is < 4 GiB
      const len = rw[e + 2];
      const idx = addr >>> shift;
      const off = addr & bufMask;
      if (rw[e + 1] !== 0 || idx >= bufCount || off < META_BYTES || len < ETH_HLEN || off + len > bufMask + 1) {
        this.rxInvalid++; // not a buffer we gave it: nothing to give back
        continue;
      }
      // The caller's free buffer takes the received one's place in the fill ring.
      const free = descs[n];
      const fe = f.descW + ((fprod & f.mask) << 1);
      fw[fe] = free << shift;
      fw[fe + 1] = 0;
      fprod++;
      wk[free] = 1;
      wk[idx] = 0;
      descs[n++] = idx;
      const base = segOff + (idx << shift);
      const m = base >> 2;
      i32[m + M_LEN] = len;
      i32[m + M_DATA_OFF] = off;
      i32[m + M_FLAGS] = 0;
      i32[m + M_TS_SEC] = sec;
      i32[m + M_TS_NSEC] = nsec;
      f64[(base >> 3) + M_STAMP_F64] = 0;
      bytes += len;
    }
    // Entries first, then the index that publishes them (x86-TSO keeps the order; Atomics
    // stores are sequentially consistent elsewhere).
    this.fillProd = fprod | 0;
    Atomics.store(fw, f.prodW, this.fillProd);
    this.rxCons = cons | 0;
    Atomics.store(rw, r.consW, this.rxCons);
    this.rxPackets += n;
    this.rxBytes += bytes;
    return n;
  }

  /** Completed transmissions: their buffers become spares. */
  private reap(): void {
    const c = this.comp!;
    const cw = c.w;
    const avail = (Atomics.load(cw, c.prodW) - this.compCons) | 0;
    if (avail <= 0) return;
    const shift = this.bufShift;
    const wk = this.withKernel;
    let cons = this.compCons;
    for (let i = 0; i < avail; i++, cons++) {
      const idx = cw[c.descW + ((cons & c.mask) << 1)] >>> shift;
      if (idx < this.bufCount && wk[idx] === 1 && this.spareCount < this.spares.length) {
        wk[idx] = 0;
        this.spares[this.spareCount++] = idx;
      }
    }
    this.compCons = cons | 0;
    Atomics.store(cw, c.consW, this.compCons);
  }

  txBurst(descs: Int32Array, count: number, now: number): number {
    this.txDeferred = 0;
    this.txSentBytes = 0;
    const t = this.tx;
    if (t === null || count <= 0) return 0;
    if (count > descs.length) count = descs.length;
    this.reap();
    const a = this.access!;
    const u8 = a.u8;
    const i32 = a.i32;
    const tw = t.w;
    const shift = this.bufShift;
    const bufSize = 1 << shift;
    const segOff = this.segOff;
    const bufCount = this.bufCount;
    const mtuFrame = this.mtu + ETH_HLEN;
    const wk = this.withKernel;
    const spares = this.spares;
    let prod = this.txProd;
    let sent = 0;
    let failed = 0;
    let bytes = 0;
    let k = 0;
    for (; k < count; k++) {
      const desc = descs[k];
      // Segment 0 only (open() checked there is one): the descriptor is the buffer's index.
      let ok = desc >= 0 && desc < bufCount;
      let len = 0;
      let off = 0;
      if (ok) {
        const m = (segOff + (desc << shift)) >> 2;
        len = i32[m + M_LEN];
        off = i32[m + M_DATA_OFF];
        ok = len >= ETH_HLEN && off >= META_BYTES && off + len <= bufSize;
        if (!ok) this.txInvalid++;
        else {
          const p = segOff + (desc << shift) + off;
          const et = (u8[p + 12] << 8) | u8[p + 13];
          if (len > mtuFrame + (et === 0x8100 || et === 0x88a8 ? VLAN_HLEN : 0)) {
            this.txOversize++;
            ok = false;
          }
        }
      } else this.txInvalid++;
      if (!ok) {
        if (failed === this.failedScratch.length) {
          const bigger = new Int32Array(failed * 2);
          bigger.set(this.failedScratch);
          this.failedScratch = bigger;
        }
        this.failedScratch[failed++] = desc;
        continue;
      }
      // A spare for the caller; none left means every TX entry is in use.
      if (this.spareCount === 0) {
        this.txRingFull++;
        break;
      }
      const e = t.descW + ((prod & t.mask) << 2);
      tw[e] = (desc << shift) + off;
      tw[e + 1] = 0;
      tw[e + 2] = len;
      tw[e + 3] = 0;
      prod++;
      wk[desc] = 1;
      // The caller frees a spare in its place, without touching it (txSentBytes has the bytes).
      descs[sent++] = spares[--this.spareCount];
      bytes += len;
    }
    for (let i = 0; i < failed; i++) descs[sent + i] = this.failedScratch[i];
    this.txDeferred = count - k;
    this.txSentBytes = bytes;
    if (sent > 0) {
      this.txProd = prod | 0;
      Atomics.store(tw, t.prodW, this.txProd);
      this.txPackets += sent;
      this.txBytes += bytes;
      this.kick(now);
    }
    return sent;
  }

  /** One sendto(): copy mode sends TX ring entries only inside it. */
  private kick(now: number): void {
    this.txKicks++;
    const r = this.sys.xdpKick(this.fd);
    if (r >= 0) {
      this.kickPending = false;
      return;
    }
    // EAGAIN/EBUSY/ENOBUFS: the device queue or send buffer is full; the entries stay in the
    // TX ring and rxBurst retries (at most once a millisecond). Others: link down, and so on.
    if (r !== -EAGAIN && r !== -EBUSY && r !== -ENOBUFS) this.txKickErrors++;
    this.kickPending = true;
    this.kickRetryAt = now + 1;
  }

  exhausted(): boolean {
    return false;
  }

  /** An idle manager sleeps at most until then before looking at the RX ring again. */
  nextDue(): number {
    return performance.now() + 1;
  }

  /** True when the kernel has handed over packets not read yet (tests and tools; not per packet). */
  rxReady(): boolean {
    const r = this.rx;
    return r !== null && Atomics.load(r.w, r.prodW) !== this.rxCons;
  }

  heldBuffers(): number {
    return this.held;
  }

  /** Entries the kernel has not sent yet (TX ring) or not completed. */
  txQueued(): number {
    if (this.tx === null) return 0;
    return this.spares.length - this.spareCount;
  }

  private refreshKernelStats(): void {
    if (this.fd < 0) return;
    const r = this.sys.xdpStats(this.fd, this.ifname);
    for (let i = 0; i < 6; i++) this.kernel[i] = r[i];
    const flags = r[6];
    this.link = flags >= 0 && (flags & IFF_UP) !== 0 && (flags & IFF_RUNNING) !== 0 ? 1 : 0;
  }

  stats(): PortStats {
    this.refreshKernelStats();
    return {
      link: this.link,
      mtu: this.mtu,
      xdpMode: this.attached,
      rxPackets: this.rxPackets,
      rxBytes: this.rxBytes,
      rxInvalid: this.rxInvalid,
      txPackets: this.txPackets,
      txBytes: this.txBytes,
      txInvalid: this.txInvalid,
      txOversize: this.txOversize,
      txRingFull: this.txRingFull,
      txKicks: this.txKicks,
      txKickErrors: this.txKickErrors,
      txBudget: this.txBudget,
      heldBuffers: this.held,
      // XDP_STATISTICS: frames the kernel dropped for want of room in the RX ring or of fill
      // buffers (kernelDrops, as the afpacket port reports them), and the details.
      kernelDrops: this.kernel[0],
      kernelRxInvalid: this.kernel[1],
      kernelTxInvalid: this.kernel[2],
      kernelRxRingFull: this.kernel[3],
      kernelFillRingEmpty: this.kernel[4],
      kernelTxRingEmpty: this.kernel[5],
    };
  }

  async close(): Promise<void> {
    if (this.sock === null) return;
    // Let queued frames leave before the socket goes (bounded: a link that is down never
    // takes them).
    for (let i = 0; i < 20 && this.txQueued() > 0; i++) {
      this.sys.xdpKick(this.fd);
      await new Promise((r) => setTimeout(r, 5));
      this.reap();
    }
    this.refreshKernelStats();
    await this.closeSocket();
    // The kernel lets go of the UMEM with the socket: every buffer it had is ours again.
    const a = this.access!;
    const back = new Int32Array(this.held);
    let n = 0;
    for (let i = 0; i < this.spareCount; i++) back[n++] = this.spares[i];
    const wk = this.withKernel;
    for (let d = 0; d < wk.length && n < back.length; d++) if (wk[d] === 1) back[n++] = d;
    a.free!(back, 0, n);
    this.spareCount = 0;
    this.held = 0;
    this.withKernel = new Uint8Array(0);
  }

  private async closeSocket(): Promise<void> {
    const s = this.sock;
    if (s === null) return;
    this.sock = null;
    this.fd = -1;
    this.link = 0;
    this.rx = this.tx = this.fill = this.comp = null;
    this.sys.xdpClose(s.fd, s.linkFd, s.progFd, s.mapFd, [s.rx.sab, s.tx.sab, s.fill.sab, s.completion.sab], s.promiscFd);
  }
}
