// Packets an NF creates itself (ctx.alloc / ctx.emit): a speed tester's test traffic, an ARP
// or ICMP reply, a copy. OpenNetVM's NFs do this with rte_pktmbuf_alloc on the shared pool
// and onvm_nflib_return_pkt; here a buffer comes from the process's pool cache (no shared
// index touched most of the time), is initialised as the manager's RX path would initialise
// a received one — minus the chain, which only the classifier gives — and is routed by its
// action through the same Router as a batch's packets. The NF runtime and the offline test
// harness share this class, so a unit test allocates and emits exactly as a real run does.
import {
  ACTION_CREATING,
  ACTION_DROP,
  bufferOffset,
  C_CREATED,
  M_ACTION,
  M_CHAIN,
  M_DATA_OFF,
  M_DEST,
  M_FLAGS,
  M_HASH,
  M_INPORT,
  M_LEN,
  M_OWNER,
  META_BYTES,
  M_STEP,
  markThenCount,
  slotCountersF64,
  type Layout,
} from '../core/layout.js';
import type { Pool } from '../core/pool.js';
import { Packet, type NameTable } from './packet.js';

export class PacketSource {
  private readonly u8: Uint8Array;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  /** This slot's counters (f64 index): C_CREATED counts what alloc hands out. */
  private readonly c0: number;
  private readonly layout: Layout;
  private readonly slot: number;
  private readonly pool: Pool;
  private readonly names: NameTable;
  private readonly route: (desc: number) => void;
  private readonly scratch = new Int32Array(1);
  /** Descriptors handed out by alloc and not emitted yet. */
  private readonly outstanding = new Set<number>();
  /** Buffers asked for when the pool had none. */
  allocFailures = 0;
  /** Packets emitted so far. */
  emitted = 0;

  constructor(
    u8: Uint8Array,
    i32: Int32Array,
    f64: Float64Array,
    layout: Layout,
    slot: number,
    pool: Pool,
    names: NameTable,
    route: (desc: number) => void,
  ) {
    this.u8 = u8;
    this.i32 = i32;
    this.f64 = f64;
    this.c0 = slotCountersF64(layout, slot);
    this.layout = layout;
    this.slot = slot;
    this.pool = pool;
    this.names = names;
    this.route = route;
  }

  alloc(view?: Packet): Packet | null {
    if (this.pool.alloc(this.scratch, 0, 1) !== 1) {
      this.allocFailures++;
      return null;
    }
    const d = this.scratch[0];
    const b = bufferOffset(this.layout, d);
    const m = b >> 2;
    const i32 = this.i32;
    // A packet enters the system here, as one a port receives: counted as created (the packet
    // balance, docs/faults.md). The buffer says first which count makes it a packet, so that
    // if this process is killed in between, the reclaimer counts it once (manager/reclaim.ts).
    markThenCount(i32, this.f64, b, this.c0, C_CREATED, ACTION_CREATING);
    // Every metadata word but the owner (this process since the pool gave it, so a crash
    // reclaims it) cleared (timestamps, send stamp, scratch words), then the fields a created
    // packet has: no chain, no port.
    i32.fill(0, m + M_OWNER + 1, m + META_BYTES / 4);
    i32[m + M_LEN] = 0;
    i32[m + M_DATA_OFF] = this.layout.params.headroom;
    i32[m + M_HASH] = 0;
    i32[m + M_CHAIN] = -1;
    i32[m + M_STEP] = -1;
    i32[m + M_ACTION] = ACTION_DROP;
    i32[m + M_DEST] = -1;
    i32[m + M_INPORT] = -1;
    i32[m + M_FLAGS] = 0;
    this.outstanding.add(d);
    const p = view ?? new Packet(this.u8, i32, this.layout, this.names);
    p.bind(d);
    return p;
  }

  emit(pkt: Packet): boolean {
    if (!this.outstanding.delete(pkt.desc)) return false;
    this.emitted++;
    this.route(pkt.desc);
    return true;
  }

  /** Allocated and not emitted. */
  get pending(): number {
    return this.outstanding.size;
  }

  /**
   * Gives every allocated, un-emitted buffer back (the NF is stopping): to `discard` (the
   * runtime's router, which counts them as dropped: they were counted as created), else to
   * the pool.
   */
  release(discard?: (desc: number) => void): number {
    const n = this.outstanding.size;
    for (const d of this.outstanding) {
      if (discard !== undefined) discard(d);
      else this.pool.freeOne(d);
    }
    this.outstanding.clear();
    return n;
  }
}
