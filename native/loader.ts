// The one loader for the native addon (native/src/addon.cc). Everything else imports from
// here; nothing outside this folder knows the addon exists.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Options of afPacketOpen; sizes in bytes, as packet_mmap.rst's tpacket_req3. */
export interface AfPacketOpenOptions {
  interface: string;
  /** RX block size (a multiple of the page size); TX blocks are at least this big. */
  blockSize: number;
  rxBlocks: number;
  txFrameSize: number;
  txFrames: number;
  /** tp_retire_blk_tov: ms after which the kernel hands over a partly filled RX block. */
  blockTimeoutMs: number;
  promiscuous: number;
  qdiscBypass: number;
  ignoreOutgoing: number;
  /** -1: no fanout. */
  fanoutGroup: number;
  fanoutMode: number;
  /** Socket send buffer (SO_SNDBUFFORCE); 0 keeps the default. */
  sndBuf: number;
  /** 1: ask for PACKET_VNET_HDR (TX frames start with a virtio_net_hdr); the answer says if the kernel took it. */
  vnetHdr: number;
  /** The packet pool's region (a shared file mapping): asks for a copy view of it and the rings. */
  region?: SharedArrayBuffer;
  /** The region's file: mapped again for the copy view (needed on hugetlbfs, where mremap cannot duplicate). */
  regionFile?: string;
}

export interface AfPacketSocket {
  fd: number;
  /** The mapped rings: RX ring at 0, TX ring at rxBytes. */
  ring: SharedArrayBuffer;
  rxBytes: number;
  txBytes: number;
  txFrames: number;
  ifindex: number;
  mtu: number;
  /** 1: PACKET_VNET_HDR is on, each TX frame's data starts with a 10-byte virtio_net_hdr. */
  vnetHdr: number;
  /**
   * One mapping of the `region` (at 0, same offsets) and of the rings (at copyViewRingOffset),
   * so frames and pool buffers are copied with one copyWithin. Absent when it could not be made.
   */
  copyView?: ArrayBuffer;
  copyViewRingOffset?: number;
}

export interface XdpOpenOptions {
  interface: string;
  /** The interface's receive queue the socket binds to (the XSKMAP slot). */
  queue: number;
  /** The packet pool's region; [umemOffset, umemOffset + umemLength) becomes the UMEM. */
  region: SharedArrayBuffer;
  umemOffset: number;
  umemLength: number;
  /** Bytes per UMEM chunk: the pool's buffer size (2048 or 4096, aligned chunks). */
  chunkSize: number;
  /** Entries in each of the four rings (a power of two). */
  ringSize: number;
  /** 0: native XDP if the driver has it, else generic; 1: native only; 2: generic only. */
  mode: number;
  /** XDP_MAX_TX_SKB_BUDGET (Linux 6.17): frames one sendto() may send; 0: the kernel's 32. */
  txBudget: number;
  promiscuous: number;
}

/** One of an AF_XDP socket's rings: its mapping and the byte offsets in it (XDP_MMAP_OFFSETS). */
export interface XdpRing {
  sab: SharedArrayBuffer;
  producer: number;
  consumer: number;
  desc: number;
  flags: number;
  size: number;
}

export interface XdpSocket {
  fd: number;
  linkFd: number;
  progFd: number;
  mapFd: number;
  promiscFd: number;
  ifindex: number;
  mtu: number;
  /** What was attached: 1 native (driver) XDP, 2 generic. */
  mode: number;
  /** The TX budget the kernel took (0: none, its default of 32 frames per sendto). */
  txBudget: number;
  rx: XdpRing;
  tx: XdpRing;
  fill: XdpRing;
  completion: XdpRing;
}

export interface NativeBinding {
  /** mmap a file MAP_SHARED as a SharedArrayBuffer; create=true makes it (O_EXCL, 0600). */
  mapFile(file: string, size: number, create: boolean, hugePages: boolean): SharedArrayBuffer;
  /** futex(FUTEX_WAIT) on a shared word: 0 woken, 1 value differed, 2 timed out. */
  futexWait(sab: SharedArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): number;
  /** futex(FUTEX_WAKE): how many waiters were woken. */
  futexWake(sab: SharedArrayBuffer, byteOffset: number, count: number): number;
  /** prctl(PR_SET_NAME): the name `top` shows (15 bytes at most). */
  setThreadName(name: string): boolean;
  /** sched_yield(2): give the core to another process (slow paths only). */
  schedYield(): void;
  /** sched_setaffinity(2) of one thread (0: the calling one); later threads and children inherit it. */
  setAffinity(tid: number, cpus: number[]): void;
  /** Opens an AF_PACKET socket on an interface with TPACKET_V3 RX and TX rings, mapped. */
  afPacketOpen(opts: AfPacketOpenOptions): AfPacketSocket;
  /** send(fd, NULL, 0, MSG_DONTWAIT): transmits the TX ring's requested frames; bytes or -errno. */
  afPacketKick(fd: number): number;
  /** [packets, drops, freezeQueueCount] since the last call (PACKET_STATISTICS), interface flags (-1: gone). */
  afPacketStats(fd: number, ifname: string): [number, number, number, number];
  /**
   * Starts a thread that makes the socket's send() calls (the kicks) from now on, driven by
   * the int32 control block `ctl` (layout: src/ports/afpacket/tpacket.ts TXC_*). Returns a
   * handle for afPacketTxStop.
   */
  afPacketTxStart(fd: number, ctl: SharedArrayBuffer, name: string): number;
  /** Stops a transmit thread and waits for it (at most about 100 ms). False if unknown. */
  afPacketTxStop(handle: number): boolean;
  /** Closes the socket (stopping its transmit thread first) and releases the ring memory (the buffer stays readable, zeroed). */
  afPacketClose(fd: number, ring: SharedArrayBuffer, copyView?: ArrayBuffer): boolean;
  /** Opens an AF_XDP socket (copy mode) with the pool as its UMEM, its rings mapped, and the redirecting XDP program attached. */
  xdpOpen(opts: XdpOpenOptions): XdpSocket;
  /** sendto(fd, NULL, 0, MSG_DONTWAIT): the kernel sends TX ring entries; 0 or -errno. */
  xdpKick(fd: number): number;
  /** XDP_STATISTICS totals [rxDropped, rxInvalid, txInvalid, rxRingFull, fillRingEmpty, txRingEmpty] and the interface flags (-1: gone). */
  xdpStats(fd: number, ifname: string): [number, number, number, number, number, number, number];
  /** Detaches the program, closes the socket and descriptors, and zeroes the ring mappings in place. */
  xdpClose(fd: number, linkFd: number, progFd: number, mapFd: number, rings: SharedArrayBuffer[], promiscFd: number): boolean;
}

const here = path.dirname(fileURLToPath(import.meta.url));
// Compiled to dist/native/loader.js; the addon is built into native/build/Release.
const candidates = [
  path.resolve(here, '../../native/build/Release/netvm_native.node'),
  path.resolve(here, 'build/Release/netvm_native.node'),
];

function load(): NativeBinding {
  const require = createRequire(import.meta.url);
  let lastError: unknown;
  for (const file of candidates) {
    try {
      return require(file) as NativeBinding;
    } catch (err) {
      lastError = err;
    }
  }
  const e = new Error(
    `netvm's native addon is not built (looked in ${candidates.join(', ')}). ` +
      `Run \`npm install\` (or \`npm run install\`) in the netvm folder; it needs python3, make and g++.`,
  ) as Error & { code: string; cause: unknown };
  e.code = 'NETVM_NATIVE_MISSING';
  e.cause = lastError;
  throw e;
}

export const native: NativeBinding = load();
