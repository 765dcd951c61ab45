// The PortDriver interface: every way packets enter or leave netvm (generator, sink, pcap
// files, and later AF_PACKET, AF_XDP, VXLAN) implements this, and passes one compliance
// suite (test/port-compliance.ts). Modeled on ixy's device ops: batch I/O only, counts in
// and out, the caller owns buffer lifetimes.

/** What a driver sees of the packet pool: the region's views and how to find a buffer. */
export interface BufferAccess {
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  /** Byte offset of the buffer (its metadata) in the views, from a descriptor. */
  bufferOffset(desc: number): number;
  /** Byte offset of packet data from the buffer start (metadata + headroom). */
  readonly headroom: number;
  /** Largest packet a buffer holds, in bytes. */
  readonly dataRoom: number;
  /** The file the views map (the region's), for a driver that maps it again (afpacket's copy view). */
  readonly file?: string;
  /** Buffers per pool segment, and segments (a descriptor of segment 0 is the buffer's index). */
  readonly bufCount?: number;
  readonly segments?: number;
  /** Byte offset of segment 0's first buffer in the views. */
  readonly segmentOffset?: number;
  /**
   * The manager's pool, for a driver that lends buffers to the kernel for as long as it is
   * open (afxdp's fill ring): take them in open(), give them back in close(). Never per packet.
   */
  alloc?(descs: Int32Array, offset: number, count: number): number;
  free?(descs: Int32Array, offset: number, count: number): void;
}

export interface PortStats {
  [counter: string]: number;
}

export interface PortDriver {
  /** The driver's kind, as in the config: "generator", "pcap", ... */
  readonly kind: string;
  /** Whether the port produces packets (rxBurst) and accepts them (txBurst). */
  readonly canReceive: boolean;
  readonly canTransmit: boolean;
  /**
   * An input that can wait (a file, a generator with a fixed count): when every input of a
   * manager is lossless, a full ring holds its packets back for as long as it takes
   * (backpressure reaches the input). A live input (a NIC, an endless generator) cannot
   * wait: a chain that stays full sheds its own excess so the others keep flowing.
   */
  readonly lossless?: boolean;
  /** Prepare files, sockets, templates. Throws NetvmError with a clear code on bad setup. */
  open(access: BufferAccess): Promise<void>;
  /**
   * Receive up to `count` packets into the buffers `descs[0..count)`, already allocated by the
   * caller. Fills `descs[0..k)` in order and returns k; the caller keeps the rest for the next
   * call. For each filled buffer the driver sets metadata M_LEN, M_DATA_OFF, M_TS_SEC/NSEC and,
   * if it knows the flow hash (as a NIC's RSS would), M_HASH with M_FLAGS bit FLAG_HASH.
   * `now` is performance.now() in ms. Never throws; failures are counted.
   * A driver whose device wrote the packets into buffers of its own (afxdp) may put those in
   * descs[0..k) and keep the caller's buffers there in exchange.
   */
  rxBurst(descs: Int32Array, count: number, now: number): number;
  /**
   * Transmit buffers `descs[0..count)`. Returns k: the first k were sent (the data was copied
   * out or written), and the caller frees them. The caller retries or drops the rest.
   * A driver that keeps the buffers it sends (afxdp: the kernel reads them later) puts free
   * buffers of its own in descs[0..k) instead, for the caller to free, and reports the bytes
   * it sent in `txSentBytes`. Never throws.
   */
  txBurst(descs: Int32Array, count: number, now: number): number;
  /**
   * Set by each txBurst of a driver whose device has a queue that can fill (afpacket's TX
   * ring, a rate-limited sink): how many of the unsent descriptors, the last ones of
   * `descs[k..count)`, it did not take only because that queue was full. They are intact and
   * can be offered again, in order, once the device drains; the manager holds them (and reads
   * no more for the port) instead of dropping them. The other unsent ones were rejected for
   * good (invalid, too big). Undefined or 0: every unsent descriptor was rejected.
   */
  readonly txDeferred?: number;
  /**
   * Set by each txBurst of a driver that swaps the buffers it sends (see txBurst): the bytes
   * of the packets it sent, which the caller can no longer read from descs[0..k).
   */
  readonly txSentBytes?: number;
  /** True once an input port will never produce another packet (file replayed, count reached). */
  exhausted(): boolean;
  /** For rate-limited inputs: the performance.now() time (ms) when the next packet is due. */
  nextDue?(): number;
  /**
   * Pool buffers the driver holds while open that are not packets (afxdp: the kernel's fill
   * ring and its spare stock); the pool's accounting counts them with the staged ones.
   */
  heldBuffers?(): number;
  /** Driver-specific counters shown with the port's stats (file position, kernel drops...). */
  stats(): PortStats;
  /** Flush buffered output and release resources. */
  close(): Promise<void>;
}

/** M_FLAGS bits. */
export const FLAG_HASH = 1;
