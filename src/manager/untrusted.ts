// The manager's side of untrusted NFs (docs/untrusted-nfs.md). NetVM shares packet memory
// only with trusted VMs and gives untrusted ones copies; netvm does the same for NF processes.
// An untrusted NF never maps the region. The manager stands in its slot as a proxy: it
// dequeues from the slot's receive ring as the NF would, copies each packet into the NF's own
// exchange area (src/core/exchange.ts), and when the NF hands a slot back it checks the
// result — slot index, length, action, destination — copies the bytes back into the packet's
// buffer and routes it with a Router acting for the slot (so the slot's counters, ownership
// stamps and reclaim work as for a trusted NF).
//
// Everything the NF can write is untrusted input, and every failure is a counter, never an
// exception (this runs in the manager's data loop):
//   - the NF names exchange slots only, never region descriptors; a slot index that is out
//     of range, not given, or given back twice is rejected and counted (`rejectedSlot`);
//   - a result with a length outside [14, data room], an unknown action, or a destination
//     that names no service or output port is dropped and counted (`rejected*`);
//   - a packet the NF keeps longer than `timeoutMs` is dropped and counted (`timedOut`), its
//     buffer freed; its slot stays quarantined until the NF gives it back (`lateReturns`), so
//     a late answer can never be mistaken for a newer packet's;
//   - at most `exchangeSlots` packets are with the NF; while it holds them all, packets wait
//     in its ring (backpressure, as for a trusted NF) — unless one is overdue, then arrivals
//     are dropped and counted (`droppedStalled`) so a stalled NF cannot stall the manager.
import fs from 'node:fs';
import path from 'node:path';
import {
  ACTION_DROP,
  ACTION_NEXT,
  ACTION_TO_PORT,
  ACTION_TO_SERVICE,
  C_BATCHES,
  C_DROP_INVALID,
  C_HANDLER_ERRORS,
  C_RX,
  C_SLEEPS,
  C_WAKEUPS,
  DESC_INDEX_MASK,
  DESC_SEGMENT_SHIFT,
  M_ACTION,
  M_CHAIN,
  M_DATA_OFF,
  M_DEST,
  M_FLAGS,
  M_HASH,
  M_INPORT,
  M_LEN,
  M_OWNER,
  M_STEP,
  M_USER,
  nfRingId,
  S_SEEN_EPOCH,
  S_SLEEP,
  slotCountersF64,
  slotOffset,
} from '../core/layout.js';
import {
  computeExchangeLayout,
  createExchange,
  ExchangeRing,
  ExchangeSleeper,
  stopExchange,
  XF_BATCHES,
  XF_HANDLER_ERRORS,
  XF_SLEEPS,
  XF_WAKEUPS,
  type Exchange,
} from '../core/exchange.js';
import { Ring, setRingWaiter } from '../core/ring.js';
import { Pool } from '../core/pool.js';
import { Router } from '../core/router.js';
import { NetvmError } from '../core/errors.js';
import type { Region } from '../core/region.js';

export interface UntrustedOptions {
  /** Longest time the NF may keep a packet (ms); then it is dropped and counted. */
  timeoutMs: number;
  /** Packets with the NF at most (a power of two): the exchange area's slots. */
  exchangeSlots: number;
}

export const UNTRUSTED_DEFAULTS: UntrustedOptions = { timeoutMs: 1000, exchangeSlots: 256 };

/** An untrusted instance's counters (in `netvm stats` under `untrusted`). */
export interface UntrustedStats {
  exchange: string;
  exchangeSlots: number;
  timeoutMs: number;
  /** Packets copied to the NF. */
  given: number;
  /** Results accepted, copied back and routed. */
  returned: number;
  /** Slot indices the NF sent back that were out of range, not given, or already back. */
  rejectedSlot: number;
  /** Packets dropped because the NF's result was invalid (also in drops.invalid). */
  rejectedLength: number;
  rejectedAction: number;
  rejectedDest: number;
  /** Packets the NF kept past timeoutMs: dropped, buffers freed. */
  timedOut: number;
  /** Overdue slots the NF gave back later (freed; their contents ignored). */
  lateReturns: number;
  /** Packets dropped on arrival while the NF held every slot and one was overdue. */
  droppedStalled: number;
  /** Packets longer than an exchange slot's data room (cannot be given). */
  droppedTooLong: number;
  /** Packets with the NF when it went away. */
  droppedNfGone: number;
  /** Looks at the NF's ring index that found it impossible (forged); counts every look. */
  badRingIndex: number;
  /** Right now: packets with the NF, and overdue slots not given back. */
  outstanding: number;
  quarantined: number;
}

/** What the proxies need from the manager. */
export interface UntrustedHost {
  region: Region;
  /** The manager's instance name (exchange files are named after it). */
  name: string;
  batch: number;
  isService(id: number): boolean;
  isOutputPort(id: number): boolean;
  /** The Router's hook for a ring blocked by a dead process. */
  onStuck(): void;
  log(level: 'info' | 'warn', fields: Record<string, unknown>, msg: string): void;
}

const SLOT_FREE = 0;
const SLOT_WITH_NF = 1;
const SLOT_OVERDUE = 2;
/** The shortest frame a port can send: an Ethernet header (IEEE 802.3 clause 3.1.1). */
const MIN_FRAME = 14;
const EXCHANGE_DIR = '/dev/shm';

export const exchangeFileName = (name: string, slot: number): string => path.join(EXCHANGE_DIR, `netvm-${name}.nf${slot}`);

/** One untrusted NF instance: the proxy that acts in its slot. */
export class UntrustedProxy {
  readonly slot: number;
  readonly file: string;
  readonly opts: UntrustedOptions;
  private readonly host: UntrustedHost;
  private readonly x: Exchange;
  private readonly toNf: ExchangeRing;
  private readonly fromNf: ExchangeRing;
  private readonly nfSleeper: ExchangeSleeper;
  private readonly ri32: Int32Array;
  private readonly ru8: Uint8Array;
  private readonly rf64: Float64Array;
  private readonly xi32: Int32Array;
  private readonly xu8: Uint8Array;
  private readonly xf64: Float64Array;
  private readonly segBase: Int32Array;
  private readonly bufShift: number;
  private readonly bufSize: number;
  private readonly xArena: number;
  private readonly xShift: number;
  private readonly xHeadroom: number;
  private readonly xRoom: number;
  private readonly c0: number;
  private readonly seenEpoch: number;
  private readonly rx: Ring;
  private readonly pool: Pool;
  private readonly router: Router;
  private readonly batch: number;
  private readonly slots: number;
  private readonly state: Uint8Array;
  private readonly slotDesc: Int32Array;
  private readonly givenAt: Float64Array;
  private readonly freeList: Int32Array;
  private nFree: number;
  private readonly descs: Int32Array;
  private readonly send: Int32Array;
  private readonly back: Int32Array;
  private readonly drops: Int32Array;
  private nDrops = 0;
  private lastScan = 0;
  private readonly scanEveryMs: number;
  private polls = 0;
  private closed = false;
  private reportedRejects = 0;
  private reportedAt = -Infinity;
  private readonly c = {
    given: 0,
    returned: 0,
    rejectedSlot: 0,
    rejectedLength: 0,
    rejectedAction: 0,
    rejectedDest: 0,
    timedOut: 0,
    lateReturns: 0,
    droppedStalled: 0,
    droppedTooLong: 0,
    droppedNfGone: 0,
    outstanding: 0,
    quarantined: 0,
  };

  constructor(host: UntrustedHost, slot: number, opts: UntrustedOptions) {
    const { region } = host;
    const layout = region.layout;
    const p = layout.params;
    this.host = host;
    this.slot = slot;
    this.opts = opts;
    this.file = exchangeFileName(host.name, slot);
    // A file left by a crashed manager of the same name: this slot is ours now.
    fs.rmSync(this.file, { force: true });
    try {
      this.x = createExchange(this.file, computeExchangeLayout(opts.exchangeSlots, p.bufSize, p.headroom));
    } catch (err) {
      throw new NetvmError('NETVM_NO_MEMORY', `cannot create the exchange area ${this.file}: ${(err as Error).message}`, { cause: err });
    }
    const xl = this.x.layout;
    this.toNf = new ExchangeRing(this.x, xl.toNf);
    this.fromNf = new ExchangeRing(this.x, xl.fromNf);
    this.nfSleeper = new ExchangeSleeper(this.x);
    this.ri32 = region.i32;
    this.ru8 = region.u8;
    this.rf64 = region.f64;
    this.xi32 = this.x.i32;
    this.xu8 = this.x.u8;
    this.xf64 = this.x.f64;
    this.segBase = Int32Array.from(layout.segmentOffsets);
    this.bufShift = layout.bufShift;
    this.bufSize = p.bufSize;
    this.xArena = xl.arena;
    this.xShift = xl.bufShift;
    this.xHeadroom = xl.headroom;
    this.xRoom = xl.slotSize - xl.headroom;
    this.c0 = slotCountersF64(layout, slot);
    this.seenEpoch = (slotOffset(layout, slot) >> 2) + S_SEEN_EPOCH;
    this.batch = host.batch;
    this.rx = new Ring(region.i32, layout, nfRingId(slot), slot);
    this.pool = new Pool(region.i32, layout, slot, 256);
    this.router = new Router(region.i32, region.f64, layout, slot, this.pool, host.batch * 4);
    this.router.onStuck = () => host.onStuck();
    // The proxy runs in the manager's loop, which must never wait on a full ring (see
    // router.ts): what does not fit downstream is dropped and counted as ring-full.
    this.router.onFull = 'drop';
    this.slots = opts.exchangeSlots;
    this.state = new Uint8Array(this.slots);
    this.slotDesc = new Int32Array(this.slots);
    this.givenAt = new Float64Array(this.slots);
    this.freeList = new Int32Array(this.slots);
    for (let i = 0; i < this.slots; i++) this.freeList[i] = this.slots - 1 - i;
    this.nFree = this.slots;
    this.descs = new Int32Array(host.batch);
    this.send = new Int32Array(host.batch);
    this.back = new Int32Array(this.slots);
    this.drops = new Int32Array(this.slots + host.batch);
    this.scanEveryMs = Math.max(0.5, Math.min(5, opts.timeoutMs / 8));
    // Producers into this slot's ring wake the manager, which consumes it for the NF.
    setRingWaiter(region.i32, layout, nfRingId(slot), (slotOffset(layout, 0) >> 2) + S_SLEEP);
  }

  /** One round: results back from the NF, new packets to it, overdue packets out. */
  poll(now: number): number {
    if (this.closed) return 0;
    Atomics.store(this.ri32, this.seenEpoch, this.router.refresh());
    let work = this.collect();
    work += this.give(now);
    if (this.c.outstanding > 0 && now - this.lastScan >= this.scanEveryMs) this.expire(now);
    if (this.nDrops > 0) this.freeDrops();
    if ((++this.polls & 1023) === 0) this.report(now);
    return work;
  }

  /** Packets waiting in its ring or results waiting in the exchange (the manager's wake check). */
  hasWork(): boolean {
    return !this.closed && (this.rx.count() > 0 || this.fromNf.count() > 0);
  }

  /** Packets are with the NF: the manager must come back soon to collect or expire them. */
  busy(): boolean {
    return !this.closed && this.c.outstanding > 0;
  }

  private drop(d: number): void {
    this.drops[this.nDrops++] = d;
    if (this.nDrops === this.drops.length) this.freeDrops();
  }

  private freeDrops(): void {
    this.pool.free(this.drops, 0, this.nDrops);
    this.nDrops = 0;
  }

  private release(idx: number): void {
    this.state[idx] = SLOT_FREE;
    this.freeList[this.nFree++] = idx;
  }

  /** Results from the NF: validate, copy back, route. */
  collect(): number {
    const n = this.fromNf.dequeue(this.back, 0, this.back.length);
    if (n === 0) return 0;
    const ri32 = this.ri32;
    const xi32 = this.xi32;
    const c = this.c;
    const slots = this.slots;
    const router = this.router;
    for (let k = 0; k < n; k++) {
      const idx = this.back[k];
      if (idx < 0 || idx >= slots) {
        c.rejectedSlot++;
        continue;
      }
      const st = this.state[idx];
      if (st === SLOT_OVERDUE) {
        c.lateReturns++;
        c.quarantined--;
        this.release(idx);
        continue;
      }
      if (st !== SLOT_WITH_NF) {
        c.rejectedSlot++; // never given, or already given back
        continue;
      }
      const d = this.slotDesc[idx];
      this.release(idx);
      c.outstanding--;
      const xb = this.xArena + (idx << this.xShift);
      const xm = xb >> 2;
      const len = xi32[xm + M_LEN];
      const action = xi32[xm + M_ACTION];
      const dest = xi32[xm + M_DEST];
      const pb = this.segBase[d >>> DESC_SEGMENT_SHIFT] + ((d & DESC_INDEX_MASK) << this.bufShift);
      const pm = pb >> 2;
      const pdo = ri32[pm + M_DATA_OFF];
      const room = this.bufSize - pdo < this.xRoom ? this.bufSize - pdo : this.xRoom;
      if (len < MIN_FRAME || len > room) {
        c.rejectedLength++;
        this.rf64[this.c0 + C_DROP_INVALID]++;
        this.drop(d);
        continue;
      }
      if (action === ACTION_TO_SERVICE ? !this.host.isService(dest) : action === ACTION_TO_PORT ? !this.host.isOutputPort(dest) : false) {
        c.rejectedDest++;
        this.rf64[this.c0 + C_DROP_INVALID]++;
        this.drop(d);
        continue;
      }
      if (action !== ACTION_NEXT && action !== ACTION_DROP && action !== ACTION_TO_SERVICE && action !== ACTION_TO_PORT) {
        c.rejectedAction++;
        this.rf64[this.c0 + C_DROP_INVALID]++;
        this.drop(d);
        continue;
      }
      copyBytes(this.xu8, xi32, xb + this.xHeadroom, this.ru8, ri32, pb + pdo, len);
      ri32[pm + M_LEN] = len;
      ri32[pm + M_ACTION] = action;
      ri32[pm + M_DEST] = dest;
      ri32[pm + M_USER] = xi32[xm + M_USER];
      ri32[pm + M_USER + 1] = xi32[xm + M_USER + 1];
      c.returned++;
      router.route(d);
    }
    router.flush();
    return n;
  }

  /** New packets from the slot's ring into free exchange slots. */
  private give(now: number): number {
    const rf64 = this.rf64;
    if (this.nFree === 0) {
      // Every slot is with the NF. Within its deadline that is backpressure: packets wait in
      // its ring. Once one is overdue the NF is stalled: drop what arrives for it, so its
      // ring never fills and the manager keeps reading its inputs for everyone else.
      if (this.c.quarantined === 0) return 0;
      const n = this.rx.dequeue(this.descs, 0, this.descs.length, this.slot);
      if (n === 0) return 0;
      rf64[this.c0 + C_RX] += n;
      this.c.droppedStalled += n;
      for (let k = 0; k < n; k++) this.drop(this.descs[k]);
      return n;
    }
    const want = this.nFree < this.batch ? this.nFree : this.batch;
    const n = this.rx.dequeue(this.descs, 0, want, this.slot);
    if (n === 0) return 0;
    rf64[this.c0 + C_RX] += n;
    rf64[this.c0 + C_BATCHES]++;
    const ri32 = this.ri32;
    const xi32 = this.xi32;
    let given = 0;
    for (let k = 0; k < n; k++) {
      const d = this.descs[k];
      const pb = this.segBase[d >>> DESC_SEGMENT_SHIFT] + ((d & DESC_INDEX_MASK) << this.bufShift);
      const pm = pb >> 2;
      const len = ri32[pm + M_LEN];
      if (len < 0 || len > this.xRoom) {
        this.c.droppedTooLong++;
        this.drop(d);
        continue;
      }
      const idx = this.freeList[--this.nFree];
      this.state[idx] = SLOT_WITH_NF;
      this.slotDesc[idx] = d;
      this.givenAt[idx] = now;
      const xb = this.xArena + (idx << this.xShift);
      const xm = xb >> 2;
      // What the Packet API shows of the packet's metadata; nothing else leaves the region.
      xi32[xm + M_OWNER] = 0;
      xi32[xm + M_LEN] = len;
      xi32[xm + M_HASH] = ri32[pm + M_HASH];
      xi32[xm + M_CHAIN] = ri32[pm + M_CHAIN];
      xi32[xm + M_STEP] = ri32[pm + M_STEP];
      xi32[xm + M_ACTION] = ACTION_NEXT;
      xi32[xm + M_DEST] = 0;
      xi32[xm + M_INPORT] = ri32[pm + M_INPORT];
      xi32[xm + M_DATA_OFF] = this.xHeadroom;
      xi32[xm + M_FLAGS] = 0;
      xi32[xm + M_USER] = ri32[pm + M_USER];
      xi32[xm + M_USER + 1] = ri32[pm + M_USER + 1];
      copyBytes(this.ru8, ri32, pb + ri32[pm + M_DATA_OFF], this.xu8, xi32, xb + this.xHeadroom, len);
      this.send[given++] = idx;
    }
    if (given > 0) {
      this.c.given += given;
      this.c.outstanding += given;
      // Fewer put only if the NF forged its consumer index: those slots stay with it and
      // time out like any packet it does not return.
      this.toNf.enqueue(this.send, 0, given);
      this.nfSleeper.wake();
    }
    return n;
  }

  /** Drops packets the NF has kept past the deadline; their slots stay quarantined. */
  private expire(now: number): void {
    this.lastScan = now;
    const limit = this.opts.timeoutMs;
    for (let idx = 0; idx < this.slots; idx++) {
      if (this.state[idx] !== SLOT_WITH_NF || now - this.givenAt[idx] <= limit) continue;
      this.state[idx] = SLOT_OVERDUE;
      this.c.outstanding--;
      this.c.quarantined++;
      this.c.timedOut++;
      this.drop(this.slotDesc[idx]);
    }
  }

  /** The NF's own reports (batches, sleeps, handler errors) into its slot's counters. */
  private syncNfCounters(): void {
    const f = this.rf64;
    const x = this.xf64;
    const num = (v: number): number => (Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0);
    f[this.c0 + C_SLEEPS] = num(x[XF_SLEEPS]);
    f[this.c0 + C_WAKEUPS] = num(x[XF_WAKEUPS]);
    f[this.c0 + C_HANDLER_ERRORS] = num(x[XF_HANDLER_ERRORS]);
    void XF_BATCHES; // the proxy counts batches itself
  }

  /** Its own counters into the slot; a warning (at most one a second) when it misbehaves. */
  private report(now: number): void {
    this.syncNfCounters();
    const c = this.c;
    const rejects = c.rejectedSlot + c.rejectedLength + c.rejectedAction + c.rejectedDest + this.badRingIndex + c.timedOut;
    if (rejects > this.reportedRejects && now - this.reportedAt >= 1000) {
      this.reportedRejects = rejects;
      this.reportedAt = now;
      this.host.log('warn', { slot: this.slot, ...this.stats() }, 'untrusted NF: results rejected or overdue');
    }
  }

  private get badRingIndex(): number {
    return this.toNf.badIndex + this.fromNf.badIndex;
  }

  /** Shutdown: accept what the NF has given back, give it nothing new. */
  drainReturns(): void {
    if (!this.closed) this.collect();
  }

  /**
   * The NF is gone (or the manager stops): frees every buffer it held, hands the pool cache
   * back, points the slot's ring at the slot again, removes the exchange file. The manager's
   * reclaim then finds nothing of this slot outside a ring.
   */
  close(): void {
    if (this.closed) return;
    this.collect();
    this.closed = true;
    for (let idx = 0; idx < this.slots; idx++) {
      if (this.state[idx] !== SLOT_WITH_NF) continue;
      this.state[idx] = SLOT_FREE;
      this.c.outstanding--;
      this.c.droppedNfGone++;
      this.drop(this.slotDesc[idx]);
    }
    if (this.nDrops > 0) this.freeDrops();
    this.router.flush();
    this.router.dropHeld();
    this.pool.flush();
    this.syncNfCounters();
    const layout = this.host.region.layout;
    setRingWaiter(this.ri32, layout, nfRingId(this.slot), (slotOffset(layout, this.slot) >> 2) + S_SLEEP);
    stopExchange(this.x);
    fs.rmSync(this.file, { force: true });
  }

  stats(): UntrustedStats {
    return {
      exchange: this.file,
      exchangeSlots: this.slots,
      timeoutMs: this.opts.timeoutMs,
      ...this.c,
      badRingIndex: this.badRingIndex,
    };
  }
}

/**
 * Copies len bytes between the region and an exchange area: 32-bit words while both sides
 * are aligned (packet data starts on a 64-byte boundary in both), eight per iteration (about
 * 3x faster in V8 than one), then the last bytes one by one — never a byte past `len`, so no
 * stale byte of another packet crosses over. Typed-array `set(subarray)` would allocate a
 * view per packet and costs more for small packets.
 */
function copyBytes(su8: Uint8Array, si32: Int32Array, from: number, du8: Uint8Array, di32: Int32Array, to: number, len: number): void {
  let k = 0;
  if (((from | to) & 3) === 0) {
    const words = len >> 2;
    const s = from >> 2;
    const d = to >> 2;
    let w = 0;
    for (; w + 8 <= words; w += 8) {
      di32[d + w] = si32[s + w];
      di32[d + w + 1] = si32[s + w + 1];
      di32[d + w + 2] = si32[s + w + 2];
      di32[d + w + 3] = si32[s + w + 3];
      di32[d + w + 4] = si32[s + w + 4];
      di32[d + w + 5] = si32[s + w + 5];
      di32[d + w + 6] = si32[s + w + 6];
      di32[d + w + 7] = si32[s + w + 7];
    }
    for (; w < words; w++) di32[d + w] = si32[s + w];
    k = words << 2;
  }
  for (; k < len; k++) du8[to + k] = su8[from + k];
}

/** Every untrusted instance of a manager. */
export class UntrustedNFs {
  private readonly host: UntrustedHost;
  private proxies: UntrustedProxy[] = [];

  constructor(host: UntrustedHost) {
    this.host = host;
  }

  /** Creates the exchange area and the proxy for a slot (at registration). */
  attach(slot: number, opts: UntrustedOptions): UntrustedProxy {
    const p = new UntrustedProxy(this.host, slot, opts);
    this.proxies.push(p);
    return p;
  }

  /** The NF is gone: see UntrustedProxy.close. */
  detach(p: UntrustedProxy): void {
    p.close();
    this.proxies = this.proxies.filter((x) => x !== p);
    this.host.log('info', { slot: p.slot, ...p.stats() }, 'untrusted NF detached');
  }

  poll(now: number): number {
    let work = 0;
    const ps = this.proxies;
    for (let k = 0; k < ps.length; k++) work += ps[k].poll(now);
    return work;
  }

  hasWork(): boolean {
    return this.proxies.some((p) => p.hasWork());
  }

  busy(): boolean {
    return this.proxies.some((p) => p.busy());
  }

  drainReturns(): void {
    for (const p of this.proxies) p.drainReturns();
  }

  closeAll(): void {
    for (const p of [...this.proxies]) this.detach(p);
  }
}
