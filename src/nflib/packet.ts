// Zero-copy packet views. One Packet object exists per batch position and is re-bound to a
// buffer for each batch, so a handler allocates nothing. The bytes are the shared region's
// own: reading or writing `pkt.u8[pkt.offset + i]` reads or writes the packet in place.
import {
  ACTION_DROP,
  ACTION_NEXT,
  ACTION_TO_PORT,
  ACTION_TO_SERVICE,
  DESC_INDEX_MASK,
  DESC_SEGMENT_SHIFT,
  M_ACTION,
  M_CHAIN,
  M_DATA_OFF,
  M_DEST,
  M_HASH,
  M_INPORT,
  M_LEN,
  M_STEP,
  M_TS_NSEC,
  M_TS_SEC,
  M_USER,
  META_BYTES,
  type Layout,
} from '../core/layout.js';
import { ParsedPacket, parsePacket } from '../proto/parse.js';

/** Name → id lookups for toService/toPort with names (kept current by the runtime). */
export interface NameTable {
  services: Map<string, number>;
  ports: Map<string, number>;
}

export class Packet {
  /** The region's bytes; the packet is u8[offset, offset + length). */
  readonly u8: Uint8Array;
  private readonly i32: Int32Array;
  private readonly segBase: Int32Array;
  private readonly shift: number;
  private readonly bufSize: number;
  private readonly names: NameTable;
  private readonly parsedView = new ParsedPacket();
  private parsedFor = -1;
  /** The buffer's descriptor ((segment << 24) | index). */
  desc = 0;
  /** Byte offset of the packet's first byte (Ethernet destination MAC). */
  offset = 0;
  private meta = 0;
  /** Byte offset of the buffer (its metadata). */
  private base = 0;

  constructor(u8: Uint8Array, i32: Int32Array, layout: Layout, names: NameTable) {
    this.u8 = u8;
    this.i32 = i32;
    this.segBase = Int32Array.from(layout.segmentOffsets);
    this.shift = layout.bufShift;
    this.bufSize = 1 << layout.bufShift;
    this.names = names;
  }

  /** Re-binds the view to a buffer (the runtime does this for each batch). */
  bind(desc: number): void {
    const base = this.segBase[desc >>> DESC_SEGMENT_SHIFT] + ((desc & DESC_INDEX_MASK) << this.shift);
    this.desc = desc;
    this.base = base;
    this.meta = base >> 2;
    this.offset = base + this.i32[this.meta + M_DATA_OFF];
    this.parsedFor = -1;
  }

  get length(): number {
    return this.i32[this.meta + M_LEN];
  }
  /** Shrinks or grows the packet (within the buffer's data room). */
  set length(n: number) {
    this.i32[this.meta + M_LEN] = n;
    this.parsedFor = -1;
  }
  /**
   * Bytes free in front of the packet (after the buffer's metadata): room to push headers
   * (a VLAN tag, an encapsulation) with `prepend`.
   */
  get headroom(): number {
    return this.offset - this.base - META_BYTES;
  }

  /** Bytes free behind the packet in its buffer: how much `length` may grow. */
  get tailroom(): number {
    return this.base + this.bufSize - this.offset - this.length;
  }

  /**
   * Grows the packet by `n` bytes at the front (DPDK's rte_pktmbuf_prepend): the packet then
   * starts `n` bytes earlier, and those bytes hold whatever the headroom held. Returns false,
   * changing nothing, when the headroom is smaller than `n`.
   */
  prepend(n: number): boolean {
    if (!(n >= 0 && n <= this.headroom)) return false;
    this.moveStart(-n);
    return true;
  }

  /**
   * Removes `n` bytes from the front of the packet (DPDK's rte_pktmbuf_adj): it then starts
   * `n` bytes later. Returns false, changing nothing, when the packet is shorter than `n`.
   */
  trimFront(n: number): boolean {
    if (!(n >= 0 && n <= this.length)) return false;
    this.moveStart(n);
    return true;
  }

  private moveStart(delta: number): void {
    const m = this.meta;
    this.i32[m + M_DATA_OFF] += delta;
    this.i32[m + M_LEN] -= delta;
    this.offset += delta;
    this.parsedFor = -1;
  }

  /** The port id the packet entered on (-1 for a packet an NF created with ctx.alloc). */
  get inPort(): number {
    return this.i32[this.meta + M_INPORT];
  }
  /** The symmetric Toeplitz hash of its 5-tuple (same for both directions of a flow). */
  get hash(): number {
    return this.i32[this.meta + M_HASH] >>> 0;
  }
  /**
   * When the packet was received, as the input port stamped it: a pcap record's capture time,
   * or the receive time the port gives (seconds may be 0 when the port gives none). NFs with
   * timeouts use it as a clock that replays deterministically (`clock: packet`).
   */
  get tsSec(): number {
    return this.i32[this.meta + M_TS_SEC] >>> 0;
  }
  get tsNsec(): number {
    return this.i32[this.meta + M_TS_NSEC];
  }

  /**
   * Sets the flow hash, which picks the instance of a service the packet goes to. Meant for
   * packets an NF creates (ctx.alloc starts them at 0); a forwarded packet keeps its flow's.
   */
  set hash(v: number) {
    this.i32[this.meta + M_HASH] = v | 0;
  }

  /**
   * Sets the capture time (a pcap port writes it as the record's time; 0 seconds means "now").
   * Meant for packets an NF creates.
   */
  setTimestamp(sec: number, nsec: number): void {
    this.i32[this.meta + M_TS_SEC] = sec | 0;
    this.i32[this.meta + M_TS_NSEC] = nsec | 0;
  }

  get chain(): number {
    return this.i32[this.meta + M_CHAIN];
  }
  get step(): number {
    return this.i32[this.meta + M_STEP];
  }
  /** Two 32-bit words (i = 0 or 1) of per-packet scratch space an NF may use; the next NF sees what this one left. */
  userWord(i: number): number {
    return this.i32[this.meta + M_USER + (i & 1)];
  }
  setUserWord(i: number, v: number): void {
    this.i32[this.meta + M_USER + (i & 1)] = v;
  }

  /** Headers, parsed on first use for this packet (VLAN, IPv4/IPv6, extension headers, L4). */
  get parsed(): ParsedPacket {
    if (this.parsedFor !== this.desc) {
      parsePacket(this.u8, this.offset, this.length, this.parsedView);
      this.parsedFor = this.desc;
    }
    return this.parsedView;
  }
  /** Call after changing headers in place so `parsed` is recomputed. */
  invalidate(): void {
    this.parsedFor = -1;
  }

  /** Continue along the packet's chain (the default). */
  next(): void {
    this.i32[this.meta + M_ACTION] = ACTION_NEXT;
  }
  /** Free the buffer; counted as a drop by action. */
  drop(): void {
    this.i32[this.meta + M_ACTION] = ACTION_DROP;
  }
  /** Send to a service (by id, or by name), to the instance its flow hash picks. */
  toService(service: number | string): void {
    const id = typeof service === 'number' ? service : (this.names.services.get(service) ?? -1);
    this.i32[this.meta + M_ACTION] = ACTION_TO_SERVICE;
    this.i32[this.meta + M_DEST] = id;
  }
  /** Send out of a port (by id, or by name). */
  toPort(port: number | string): void {
    const id = typeof port === 'number' ? port : (this.names.ports.get(port) ?? -1);
    this.i32[this.meta + M_ACTION] = ACTION_TO_PORT;
    this.i32[this.meta + M_DEST] = id;
  }
  /** The action set so far (ACTION_NEXT, ACTION_DROP, ACTION_TO_SERVICE, ACTION_TO_PORT). */
  get action(): number {
    return this.i32[this.meta + M_ACTION];
  }
}

/** The packets an NF gets per call: `packets[0..length)` are valid. */
export class PacketBatch {
  readonly packets: Packet[];
  length = 0;
  constructor(packets: Packet[]) {
    this.packets = packets;
  }
  /** Per-packet convenience; the callback should be created once, not per batch. */
  forEach(fn: (pkt: Packet) => void): void {
    for (let i = 0; i < this.length; i++) fn(this.packets[i]);
  }
}
