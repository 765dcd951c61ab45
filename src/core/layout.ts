// The byte layout of the shared region. This is the only file that knows where anything
// lives in shared memory; every other module asks it for offsets. The region holds offsets
// and indices only, never pointers, so processes may map it at any address (unlike
// OpenNetVM, which needed the same base address in every process and ASLR off).
//
//   header | process slots | ports | services | chains | rings | flow table | pool segments
//
// All sections start on a 4 KiB boundary; pool segments on a 2 MiB boundary so that a
// region on hugetlbfs puts every buffer segment on its own huge pages.

export const MAGIC = 0x4e45544d; // "NETM"
export const LAYOUT_VERSION = 1;

export const CACHE_LINE = 64;
const PAGE = 4096;
const HUGE_PAGE = 2 * 1024 * 1024;

/** Tunables that size the region. Stored in the header so attachers recompute the layout. */
export interface LayoutParams {
  /** Bytes per packet buffer (power of two): metadata + headroom + data. */
  bufSize: number;
  /** Buffers per pool segment. */
  bufCount: number;
  /** Pool segments (one per NUMA node). At most 127: the descriptor's top byte picks it. */
  segments: number;
  /** Bytes before packet data in each buffer (metadata is the first 64). */
  headroom: number;
  /** Process slots; slot 0 is the manager, 1.. are NF instances. */
  maxSlots: number;
  maxPorts: number;
  maxServices: number;
  maxChains: number;
  maxSteps: number;
  maxInstances: number;
  /** Descriptor capacity of each NF receive ring and each port transmit ring (power of two). */
  ringSize: number;
  /** Entries in the exact-match flow table (power of two). */
  flowEntries: number;
}

export const DEFAULT_PARAMS: LayoutParams = {
  bufSize: 2048,
  bufCount: 65536,
  segments: 1,
  headroom: 128,
  maxSlots: 64,
  maxPorts: 16,
  maxServices: 64,
  maxChains: 64,
  maxSteps: 16,
  maxInstances: 16,
  ringSize: 4096,
  flowEntries: 65536,
};

// ---- header (i32 indices) ----
export const H_MAGIC = 0;
export const H_VERSION = 1;
/** 1 running, 2 stopping: NFs exit when they see 2. */
export const H_STATE = 2;
export const H_MANAGER_PID = 3;
/** Bumped on every change to services/chains/slots; NFs refresh their caches when it moves. */
export const H_EPOCH = 4;
export const H_TOTAL_SIZE_LO = 5;
export const H_TOTAL_SIZE_HI = 6;
/** Run id: a random 31-bit value that tells a region from a stale one of an earlier run. */
export const H_RUN_ID = 7;
/** LayoutParams, in declaration order, start here. */
export const H_PARAMS = 16;
const PARAM_KEYS: (keyof LayoutParams)[] = [
  'bufSize',
  'bufCount',
  'segments',
  'headroom',
  'maxSlots',
  'maxPorts',
  'maxServices',
  'maxChains',
  'maxSteps',
  'maxInstances',
  'ringSize',
  'flowEntries',
];
export const REGION_STATE_RUNNING = 1;
export const REGION_STATE_STOPPING = 2;

// ---- process slot (i32 indices within a slot) ----
export const SLOT_BYTES = 512;
export const S_STATE = 0;
export const S_PID = 1;
export const S_SERVICE = 2;
export const S_INSTANCE = 3;
/** The futex word the slot's process sleeps on: 1 = asleep (wake me), 0 = awake. */
export const S_SLEEP = 4;
export const S_SEEN_EPOCH = 5;
/** Buffers this process holds in its private pool cache (they count as free). */
export const S_CACHE = 6;
export const S_MODE = 7;
/** Ring reservation record (written before the CAS, cleared after publishing), used to
 *  repair a ring whose producer or consumer died between reserving and publishing. */
export const S_RESV_RING = 8;
export const S_RESV_START = 9;
export const S_RESV_END = 10;
export const S_RESV_SIDE = 11;
export const S_HEARTBEAT = 12;
export const S_KEY = 13;
/** Buffers this process holds in flight right now (dequeued, not yet routed). */
export const S_INFLIGHT = 14;
export const SLOT_FREE = 0;
export const SLOT_ACTIVE = 2;
export const SLOT_DEAD = 3;
export const MODE_SHARED = 0;
export const MODE_POLL = 1;
/** Counters (f64, written only by the slot's process) start at this byte offset. */
const SLOT_COUNTERS_BYTE = 128;
export const NF_COUNTERS = [
  'rx',
  'tx',
  'dropAction',
  'dropRingFull',
  'dropNoRoute',
  'dropInvalid',
  'actNext',
  'actDrop',
  'actToService',
  'actToPort',
  'wakeups',
  'sleeps',
  'batches',
  'txToNf',
  'txToPort',
  'handlerErrors',
  'created',
] as const;
export type NfCounter = (typeof NF_COUNTERS)[number];
export const C_RX = 0;
export const C_TX = 1;
export const C_DROP_ACTION = 2;
export const C_DROP_RING_FULL = 3;
export const C_DROP_NO_ROUTE = 4;
export const C_DROP_INVALID = 5;
export const C_ACT_NEXT = 6;
export const C_ACT_DROP = 7;
export const C_ACT_TO_SERVICE = 8;
export const C_ACT_TO_PORT = 9;
export const C_WAKEUPS = 10;
export const C_SLEEPS = 11;
export const C_BATCHES = 12;
export const C_TX_TO_NF = 13;
export const C_TX_TO_PORT = 14;
export const C_HANDLER_ERRORS = 15;
/** Packets the NF created (ctx.alloc): they enter the system here, as a port's rx does. */
export const C_CREATED = 16;

// ---- port record ----
export const PORT_BYTES = 512;
export const P_STATE = 0;
/** 1 when the port's link is up (always 1 for files and the generator). */
export const P_LINK = 1;
const PORT_COUNTERS_BYTE = 64;
export const PORT_COUNTERS = [
  'rx',
  'tx',
  'rxBytes',
  'txBytes',
  'rxNoBuffer',
  'txErrors',
  'latencyCount',
  'latencySumNs',
  'latencyMinNs',
  'latencyMaxNs',
  'rxDropNoRoute',
  'kernelDrops',
] as const;
export type PortCounter = (typeof PORT_COUNTERS)[number];
export const PC_RX = 0;
export const PC_TX = 1;
export const PC_RX_BYTES = 2;
export const PC_TX_BYTES = 3;
export const PC_RX_NOBUF = 4;
export const PC_TX_ERRORS = 5;
export const PC_LAT_COUNT = 6;
export const PC_LAT_SUM = 7;
export const PC_LAT_MIN = 8;
export const PC_LAT_MAX = 9;
export const PC_RX_NOROUTE = 10;
export const PC_KERNEL_DROPS = 11;

// ---- service record: a seqlock-free table rewritten only by the manager, read by NFs
// after they see H_EPOCH move (the manager bumps it after each write) ----
export const SV_COUNT = 0;
/** i32 offset of the instance slot list (maxInstances entries). */
export const SV_SLOTS = 1;

// ---- chain step encoding: (kind << 24) | target ----
export const STEP_END = 0;
export const STEP_SERVICE = 1;
export const STEP_PORT = 2;
export const STEP_DROP = 3;

// ---- ring header (i32 indices from the ring base): producer and consumer indices on
// separate cache lines so producers and the consumer do not false-share ----
export const RING_HEADER_BYTES = 3 * CACHE_LINE;
export const R_PROD_HEAD = 0;
export const R_PROD_TAIL = 1;
export const R_CONS_HEAD = 16;
export const R_CONS_TAIL = 17;
export const R_CAPACITY = 32;
export const R_MASK = 33;
/** i32 index (in the whole region) of the consumer's sleep word, or -1 for none. */
export const R_WAITER = 34;
export const R_ID = 35;

// ---- flow table entry (i32 indices) ----
export const FLOW_BYTES = 64;
export const F_STATE = 0; // flow-table generation that wrote the entry (0 = empty)
export const F_HASH = 1;
export const F_KEYINFO = 2; // ipVersion << 16 | proto << 8 | inPort, bit 20: a non-first fragment
export const F_PORTS = 3; // srcPort << 16 | dstPort
export const F_SRC = 4; // 4 words (IPv4 uses the first)
export const F_DST = 8;
export const F_CHAIN = 12;
export const F_HITS = 13;

// ---- packet buffer metadata (i32 indices from the buffer start) ----
export const META_BYTES = 64;
/** Slot id of the last process that took the buffer off a ring or out of the pool. */
export const M_OWNER = 0;
export const M_LEN = 1;
export const M_HASH = 2;
export const M_CHAIN = 3;
export const M_STEP = 4;
export const M_ACTION = 5;
export const M_DEST = 6;
export const M_INPORT = 7;
/** Byte offset of packet data from the buffer start (headroom may shrink for encap). */
export const M_DATA_OFF = 8;
export const M_FLAGS = 9;
export const M_TS_SEC = 10;
export const M_TS_NSEC = 11;
/** f64 index (from the buffer start) of the generator's send stamp, for latency. */
export const M_STAMP_F64 = 6;
export const M_USER = 14;

export const ACTION_NEXT = 0;
export const ACTION_DROP = 1;
export const ACTION_TO_SERVICE = 2;
export const ACTION_TO_PORT = 3;
// Two more values of M_ACTION say what a buffer is when its holder is killed (kill -9 lands
// between any two stores), so the reclaimer counts each lost packet once (manager/reclaim.ts):
/** A free buffer, in the pool ring or in a process's cache: not a packet (set by Pool.free). */
export const ACTION_FREE = -1;
/**
 * A packet already counted as dropped whose buffer is not back in the pool yet (set by the
 * Router before it counts): M_DEST is the counter's index in the slot's counters and the f64 at
 * M_STAMP_F64 the value that counter has once this packet is in it.
 */
export const ACTION_COUNTED = -2;
/**
 * A buffer an NF is turning into a packet of its own (ctx.alloc, set before it counts it as
 * created): M_DEST and the f64 at M_STAMP_F64 as for ACTION_COUNTED, with C_CREATED. Until that
 * counter reaches the value, the buffer is not a packet yet.
 */
export const ACTION_CREATING = -3;

/**
 * Adds one to counter `c` of the slot whose counters start at f64 index `c0`, marking the
 * buffer at byte offset `b` first with `action` (ACTION_COUNTED or ACTION_CREATING), the
 * counter (M_DEST) and the value it reaches (M_STAMP_F64). Killed at any store of this, its
 * process leaves a buffer that `markCounted` reads right.
 */
export function markThenCount(i32: Int32Array, f64: Float64Array, b: number, c0: number, c: number, action: number): void {
  const v = f64[c0 + c] + 1;
  i32[(b >> 2) + M_DEST] = c;
  f64[(b >> 3) + M_STAMP_F64] = v;
  i32[(b >> 2) + M_ACTION] = action;
  f64[c0 + c] = v;
}

/** For a buffer marked by markThenCount: did the count happen? */
export function markCounted(i32: Int32Array, f64: Float64Array, b: number, c0: number): boolean {
  const c = i32[(b >> 2) + M_DEST];
  if (c < 0 || c >= NF_COUNTERS.length) return false;
  return f64[c0 + c] >= f64[(b >> 3) + M_STAMP_F64];
}

/** A descriptor is (segment << 24) | index: the seed's IDMAP(h) = (h >> 30) & 0xFF. */
export const DESC_SEGMENT_SHIFT = 24;
export const DESC_INDEX_MASK = 0xffffff;
/** Marks an abandoned ring slot (a producer died mid-publish); consumers skip it. */
export const NULL_DESC = -1;

export interface Layout {
  params: LayoutParams;
  totalSize: number;
  slotsOffset: number;
  portsOffset: number;
  servicesOffset: number;
  serviceBytes: number;
  chainsOffset: number;
  ringsOffset: number;
  /** Byte offset of ring r: 0 = the pool, 1..maxSlots-1 = NF rx rings, then port tx rings. */
  ringOffsets: number[];
  ringCapacities: number[];
  flowOffset: number;
  segmentOffsets: number[];
  bufShift: number;
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;
const isPow2 = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;

export function ringCount(p: LayoutParams): number {
  return 1 + p.maxSlots + p.maxPorts;
}
export const POOL_RING = 0;
export const nfRingId = (slot: number): number => 1 + slot;
export const portRingId = (p: LayoutParams, port: number): number => 1 + p.maxSlots + port;

export function validateParams(p: LayoutParams): void {
  const fail = (m: string): never => {
    const e = new Error(`invalid region parameters: ${m}`) as Error & { code: string };
    e.code = 'NETVM_BAD_LAYOUT';
    throw e;
  };
  if (!isPow2(p.bufSize) || p.bufSize < 256) fail(`bufSize ${p.bufSize} must be a power of two >= 256`);
  if (p.headroom < META_BYTES || p.headroom % CACHE_LINE !== 0 || p.headroom >= p.bufSize - 64)
    fail(`headroom ${p.headroom} must be a multiple of 64, >= ${META_BYTES} and leave room for data`);
  if (p.bufCount < 64 || p.bufCount > DESC_INDEX_MASK + 1) fail(`bufCount ${p.bufCount} out of range`);
  if (p.segments < 1 || p.segments > 127) fail(`segments ${p.segments} must be 1..127`);
  if (!isPow2(p.ringSize) || p.ringSize < 64) fail(`ringSize ${p.ringSize} must be a power of two >= 64`);
  if (!isPow2(p.flowEntries)) fail(`flowEntries ${p.flowEntries} must be a power of two`);
  if (p.maxSlots < 2 || p.maxSlots > 1024) fail(`maxSlots ${p.maxSlots} must be 2..1024`);
  if (p.maxInstances < 1 || p.maxInstances > 64) fail(`maxInstances must be 1..64`);
  if (p.maxSteps < 2 || p.maxSteps > 64) fail(`maxSteps must be 2..64`);
}

/** Computes every offset from the parameters; manager and NFs run the same function. */
export function computeLayout(p: LayoutParams): Layout {
  validateParams(p);
  let off = PAGE; // header
  const slotsOffset = off;
  off = alignUp(off + p.maxSlots * SLOT_BYTES, PAGE);
  const portsOffset = off;
  off = alignUp(off + p.maxPorts * PORT_BYTES, PAGE);
  const servicesOffset = off;
  const serviceBytes = alignUp((1 + p.maxInstances) * 4, CACHE_LINE);
  off = alignUp(off + p.maxServices * serviceBytes, PAGE);
  const chainsOffset = off;
  off = alignUp(off + p.maxChains * p.maxSteps * 4, PAGE);
  const ringsOffset = off;
  const ringOffsets: number[] = [];
  const ringCapacities: number[] = [];
  const totalBufs = p.bufCount * p.segments;
  let poolCap = 1;
  while (poolCap < totalBufs) poolCap *= 2;
  for (let r = 0; r < ringCount(p); r++) {
    const cap = r === POOL_RING ? poolCap : p.ringSize;
    ringOffsets.push(off);
    ringCapacities.push(cap);
    off = alignUp(off + RING_HEADER_BYTES + cap * 4, CACHE_LINE);
  }
  off = alignUp(off, PAGE);
  const flowOffset = off;
  off = alignUp(off + p.flowEntries * FLOW_BYTES, HUGE_PAGE);
  const segmentOffsets: number[] = [];
  for (let s = 0; s < p.segments; s++) {
    segmentOffsets.push(off);
    off = alignUp(off + p.bufCount * p.bufSize, HUGE_PAGE);
  }
  if (off > 2 ** 31 - 1) {
    const e = new Error(`region of ${off} bytes is too large: the pool must fit in 2 GiB (lower bufCount or bufSize)`) as Error & {
      code: string;
    };
    e.code = 'NETVM_BAD_LAYOUT';
    throw e;
  }
  return {
    params: { ...p },
    totalSize: off,
    slotsOffset,
    portsOffset,
    servicesOffset,
    serviceBytes,
    chainsOffset,
    ringsOffset,
    ringOffsets,
    ringCapacities,
    flowOffset,
    segmentOffsets,
    bufShift: Math.log2(p.bufSize),
  };
}

export const slotOffset = (l: Layout, slot: number): number => l.slotsOffset + slot * SLOT_BYTES;
export const slotCountersF64 = (l: Layout, slot: number): number => (slotOffset(l, slot) + SLOT_COUNTERS_BYTE) / 8;
export const portOffset = (l: Layout, port: number): number => l.portsOffset + port * PORT_BYTES;
export const portCountersF64 = (l: Layout, port: number): number => (portOffset(l, port) + PORT_COUNTERS_BYTE) / 8;
export const serviceOffset = (l: Layout, service: number): number => l.servicesOffset + service * l.serviceBytes;
export const chainStepI32 = (l: Layout, chain: number, step: number): number => (l.chainsOffset >> 2) + chain * l.params.maxSteps + step;
export const flowEntryI32 = (l: Layout, entry: number): number => (l.flowOffset + entry * FLOW_BYTES) >> 2;

/** Byte offset of a buffer from its descriptor: HMAP[segment] + index * bufSize. */
export function bufferOffset(l: Layout, desc: number): number {
  return l.segmentOffsets[desc >>> DESC_SEGMENT_SHIFT] + ((desc & DESC_INDEX_MASK) << l.bufShift);
}
export const makeDesc = (segment: number, index: number): number => ((segment << DESC_SEGMENT_SHIFT) | index) >>> 0;

/** Writes magic, version and parameters into a fresh header. */
export function writeHeader(i32: Int32Array, l: Layout, runId: number, managerPid: number): void {
  i32[H_VERSION] = LAYOUT_VERSION;
  i32[H_TOTAL_SIZE_LO] = l.totalSize | 0;
  i32[H_TOTAL_SIZE_HI] = Math.floor(l.totalSize / 2 ** 32);
  PARAM_KEYS.forEach((k, i) => (i32[H_PARAMS + i] = l.params[k]));
  i32[H_RUN_ID] = runId;
  i32[H_MANAGER_PID] = managerPid;
  i32[H_EPOCH] = 1;
  i32[H_STATE] = REGION_STATE_RUNNING;
  Atomics.store(i32, H_MAGIC, MAGIC); // last: an attacher that sees the magic sees the rest
}

/** Reads and checks a header; throws a clear error for a foreign or old region. */
export function readHeader(i32: Int32Array, byteLength: number): Layout {
  const err = (m: string, code: string): Error => {
    const e = new Error(m) as Error & { code: string };
    e.code = code;
    return e;
  };
  if (byteLength < PAGE || Atomics.load(i32, H_MAGIC) !== MAGIC)
    throw err('this file is not a netvm region (bad magic); is the manager running?', 'NETVM_BAD_REGION');
  if (i32[H_VERSION] !== LAYOUT_VERSION)
    throw err(
      `region layout version ${i32[H_VERSION]} does not match this netvm (${LAYOUT_VERSION}); ` +
        'run the NF with the same netvm version as the manager',
      'NETVM_LAYOUT_MISMATCH',
    );
  const p = {} as LayoutParams;
  PARAM_KEYS.forEach((k, i) => (p[k] = i32[H_PARAMS + i]));
  const l = computeLayout(p);
  if (l.totalSize !== (i32[H_TOTAL_SIZE_LO] >>> 0) + i32[H_TOTAL_SIZE_HI] * 2 ** 32 || l.totalSize > byteLength)
    throw err('region size does not match its header', 'NETVM_LAYOUT_MISMATCH');
  return l;
}
