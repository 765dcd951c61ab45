// The exchange area of an untrusted NF (docs/untrusted-nfs.md): a small file that the manager
// creates for one untrusted NF instance and maps together with that NF, *instead of* the
// region. The NF never maps the region; the manager copies each packet the NF may see into a
// slot here and copies the result back (src/manager/untrusted.ts). This file is the only one
// that knows the exchange area's byte layout and the only one using Atomics on its rings —
// what layout.ts and ring.ts are for the region.
//
//   header (4 KiB) | ring to the NF | ring from the NF | slot arena (slots x slotSize)
//
// A slot is laid out like a pool buffer (layout.ts: the M_* metadata words, headroom, data),
// so the NF library's Packet views work on it unchanged: the NF sees slot indices where a
// trusted NF sees descriptors.
//
// The NF may be hostile, and it can write every byte of this area. The manager therefore
// reads everything here as untrusted input, and the rings differ from the region's
// (rte_ring-style, multi-producer, ring.ts) in three ways: they are single-producer
// single-consumer; each side keeps its own index in private memory (it publishes it but never
// reads it back) and reads only the other side's; and an impossible distance between the two
// indices counts as an empty (or full) ring instead of being trusted or waited on. A forged
// index can thus neither hang the manager nor make it read outside the ring; the values read
// (slot indices) are checked by the caller.
import { native } from '../../native/loader.js';
import { CACHE_LINE, M_DATA_OFF, META_BYTES } from './layout.js';

export const EXCHANGE_MAGIC = 0x4e455858; // "NEXX"
export const EXCHANGE_VERSION = 1;

const PAGE = 4096;

// ---- header (i32 indices) ----
export const X_MAGIC = 0;
export const X_VERSION = 1;
export const X_SLOTS = 2;
export const X_SLOT_SIZE = 3;
export const X_HEADROOM = 4;
/** 1 running, 2 stopping (the manager is stopping or the NF was detached). */
export const X_STATE = 5;
/** The futex word the NF sleeps on: 1 = asleep (wake me), 0 = awake. */
export const X_NF_SLEEP = 6;
export const X_TOTAL_SIZE = 7;
export const X_STATE_RUNNING = 1;
export const X_STATE_STOPPING = 2;

/** Counters the NF reports about itself (f64 indices). Informational: the NF writes them. */
export const XF_BATCHES = 16;
export const XF_SLEEPS = 17;
export const XF_WAKEUPS = 18;
export const XF_HANDLER_ERRORS = 19;

// ---- ring header (i32 indices from the ring base): the two indices on separate cache lines ----
const XR_PROD = 0;
const XR_CONS = CACHE_LINE / 4;
const XR_HEADER_BYTES = 2 * CACHE_LINE;

export interface ExchangeLayout {
  slots: number;
  slotSize: number;
  headroom: number;
  /** Byte offsets of the two rings and of slot 0. */
  toNf: number;
  fromNf: number;
  arena: number;
  totalSize: number;
  /** log2(slotSize): slot i starts at arena + (i << bufShift), as a pool buffer would. */
  bufShift: number;
  /** The same shape as the region's Layout where a Packet view needs it. */
  segmentOffsets: number[];
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;
const isPow2 = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;

/** Every offset from three numbers; the manager and the NF run the same function. */
export function computeExchangeLayout(slots: number, slotSize: number, headroom: number): ExchangeLayout {
  if (!isPow2(slots) || slots < 2 || slots > 65536) throw new RangeError(`exchange slots ${slots} must be a power of two, 2..65536`);
  if (!isPow2(slotSize) || slotSize < 256) throw new RangeError(`exchange slot size ${slotSize} must be a power of two >= 256`);
  if (headroom < META_BYTES || headroom % CACHE_LINE !== 0 || headroom >= slotSize - 64)
    throw new RangeError(`exchange headroom ${headroom} must be a multiple of 64, >= ${META_BYTES} and leave room for data`);
  let off = PAGE;
  const toNf = off;
  off = alignUp(off + XR_HEADER_BYTES + slots * 4, CACHE_LINE);
  const fromNf = off;
  off = alignUp(off + XR_HEADER_BYTES + slots * 4, PAGE);
  const arena = off;
  off += slots * slotSize;
  return {
    slots,
    slotSize,
    headroom,
    toNf,
    fromNf,
    arena,
    totalSize: off,
    bufShift: Math.log2(slotSize),
    segmentOffsets: [arena],
  };
}

export interface Exchange {
  readonly file: string;
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly layout: ExchangeLayout;
}

function views(file: string, sab: SharedArrayBuffer, layout: ExchangeLayout): Exchange {
  return { file, u8: new Uint8Array(sab), i32: new Int32Array(sab), f64: new Float64Array(sab), layout };
}

/** Creates a fresh exchange file (manager): mode 0600, zeroed, header written last. */
export function createExchange(file: string, layout: ExchangeLayout): Exchange {
  const x = views(file, native.mapFile(file, layout.totalSize, true, false), layout);
  const i32 = x.i32;
  for (let s = 0; s < layout.slots; s++) i32[((layout.arena + s * layout.slotSize) >> 2) + M_DATA_OFF] = layout.headroom;
  i32[X_VERSION] = EXCHANGE_VERSION;
  i32[X_SLOTS] = layout.slots;
  i32[X_SLOT_SIZE] = layout.slotSize;
  i32[X_HEADROOM] = layout.headroom;
  i32[X_TOTAL_SIZE] = layout.totalSize;
  i32[X_STATE] = X_STATE_RUNNING;
  Atomics.store(i32, X_MAGIC, EXCHANGE_MAGIC);
  return x;
}

/** Maps an exchange file the manager created (NF). Throws a RangeError naming what is wrong. */
export function attachExchange(file: string): Exchange {
  const sab = native.mapFile(file, 0, false, false);
  const i32 = new Int32Array(sab);
  if (sab.byteLength < PAGE || Atomics.load(i32, X_MAGIC) !== EXCHANGE_MAGIC || i32[X_VERSION] !== EXCHANGE_VERSION)
    throw new RangeError(`${file} is not a netvm exchange area of this version`);
  const layout = computeExchangeLayout(i32[X_SLOTS], i32[X_SLOT_SIZE], i32[X_HEADROOM]);
  if (layout.totalSize !== i32[X_TOTAL_SIZE] || layout.totalSize > sab.byteLength)
    throw new RangeError(`${file}: size does not match its header`);
  return views(file, sab, layout);
}

/**
 * One direction of the exchange: a single-producer single-consumer ring of slot indices. Each
 * side uses its own handle and only one of enqueue (producer) or dequeue (consumer).
 */
export class ExchangeRing {
  private readonly i32: Int32Array;
  private readonly prodIdx: number;
  private readonly consIdx: number;
  private readonly entries: number;
  /** Capacity and mask come from the creator's own knowledge, never from shared memory. */
  private readonly capacity: number;
  private readonly mask: number;
  /** This side's index, kept privately: the peer can overwrite the published copy. */
  private own = 0;
  /** How often the peer's index was impossible (forged or corrupt). */
  badIndex = 0;

  constructor(x: Exchange, byteOffset: number) {
    this.i32 = x.i32;
    this.prodIdx = (byteOffset >> 2) + XR_PROD;
    this.consIdx = (byteOffset >> 2) + XR_CONS;
    this.entries = (byteOffset + XR_HEADER_BYTES) >> 2;
    this.capacity = x.layout.slots;
    this.mask = x.layout.slots - 1;
  }

  /** Producer: appends src[off..off+n), as many as fit; returns how many. */
  enqueue(src: Int32Array, off: number, n: number): number {
    const i32 = this.i32;
    const head = this.own;
    const used = (head - Atomics.load(i32, this.consIdx)) | 0;
    if (used < 0 || used > this.capacity) {
      this.badIndex++;
      return 0;
    }
    const free = this.capacity - used;
    const take = n < free ? n : free;
    for (let k = 0; k < take; k++) i32[this.entries + ((head + k) & this.mask)] = src[off + k];
    this.own = (head + take) | 0;
    Atomics.store(i32, this.prodIdx, this.own); // publishes the entries written above
    return take;
  }

  /** Consumer: takes up to n entries into dst[off..); returns how many. */
  dequeue(dst: Int32Array, off: number, n: number): number {
    const i32 = this.i32;
    const tail = this.own;
    const avail = (Atomics.load(i32, this.prodIdx) - tail) | 0;
    if (avail < 0 || avail > this.capacity) {
      this.badIndex++;
      return 0;
    }
    const take = n < avail ? n : avail;
    for (let k = 0; k < take; k++) dst[off + k] = i32[this.entries + ((tail + k) & this.mask)];
    this.own = (tail + take) | 0;
    Atomics.store(i32, this.consIdx, this.own);
    return take;
  }

  /** Consumer: entries waiting (0 when the peer's index is impossible). */
  count(): number {
    const avail = (Atomics.load(this.i32, this.prodIdx) - this.own) | 0;
    return avail < 0 || avail > this.capacity ? 0 : avail;
  }
}

/**
 * The NF's sleep on X_NF_SLEEP (the shared-mode protocol of ring.ts's Sleeper): announce,
 * re-check, futex-wait. The manager wakes it after giving it packets.
 */
export class ExchangeSleeper {
  private readonly i32: Int32Array;
  private readonly sab: SharedArrayBuffer;
  constructor(x: Exchange) {
    this.i32 = x.i32;
    this.sab = x.i32.buffer as SharedArrayBuffer;
  }
  /** Returns true if it slept (woken or timed out), false if work appeared first. */
  sleep(hasWork: () => boolean, timeoutMs: number): boolean {
    Atomics.store(this.i32, X_NF_SLEEP, 1);
    if (hasWork()) {
      Atomics.store(this.i32, X_NF_SLEEP, 0);
      return false;
    }
    native.futexWait(this.sab, X_NF_SLEEP << 2, 1, timeoutMs);
    Atomics.store(this.i32, X_NF_SLEEP, 0);
    return true;
  }
  /** Wakes the NF if it announced sleep (manager; once per batch given). */
  wake(): boolean {
    if (Atomics.load(this.i32, X_NF_SLEEP) !== 1 || Atomics.compareExchange(this.i32, X_NF_SLEEP, 1, 0) !== 1) return false;
    native.futexWake(this.sab, X_NF_SLEEP << 2, 1);
    return true;
  }
}

/** Marks the area stopping and wakes the NF (manager, when it detaches or stops). */
export function stopExchange(x: Exchange): void {
  Atomics.store(x.i32, X_STATE, X_STATE_STOPPING);
  new ExchangeSleeper(x).wake();
}

export const exchangeStopping = (x: Exchange): boolean => Atomics.load(x.i32, X_STATE) === X_STATE_STOPPING;
