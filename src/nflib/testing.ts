// The offline NF test harness: runs an NF definition in-process, without a manager, over an
// in-memory region. It goes through the same steps as the NF runtime (runtime.ts) — args
// validation, the NFContext, setup, Packet views bound to pool buffers, the handler invoked
// on a PacketBatch (context.ts) — and then reads each packet's action and destination back
// from its buffer metadata, where the runtime's router would read them.
//
//   import { createNFHarness } from 'netvm/testing';   // or '<netvm>/src/nflib/testing.js'
//   const h = await createNFHarness(myNf, { args: { port: 23 }, ports: ['in', 'out'] });
//   const [r] = h.push([frame]);   // r.action === 'drop' | 'next' | 'toService' | 'toPort'
//
// Kept out of the `netvm` entry (index.ts) so an NF's import stays lean.
import {
  ACTION_DROP,
  ACTION_NEXT,
  ACTION_TO_PORT,
  ACTION_TO_SERVICE,
  bufferOffset,
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
  M_TS_NSEC,
  M_TS_SEC,
  M_USER,
  META_BYTES,
  type LayoutParams,
} from '../core/layout.js';
import { NetvmError } from '../core/errors.js';
import { Pool } from '../core/pool.js';
import { testRegion } from '../core/test-region.js';
import { parsePacket, ParsedPacket } from '../proto/parse.js';
import { SYMMETRIC_RSS_KEY, Toeplitz } from '../proto/toeplitz.js';
import { createBatchInvoker, createNFContext, validateArgs } from './context.js';
import type { NFContext, NFDefinition } from './define-nf.js';
import { Packet, PacketBatch, type NameTable } from './packet.js';
import { PacketSource } from './packet-source.js';

export type HarnessAction = 'next' | 'drop' | 'toService' | 'toPort';

/** What became of one pushed packet. */
export interface HarnessResult {
  action: HarnessAction;
  /** The destination's name, for toService/toPort (undefined if the id names nothing). */
  dest?: string;
  /** The destination's id, for toService/toPort (-1 when the NF gave an unknown name). */
  destId?: number;
  /** A copy of the packet's bytes after the handler ran (length as the NF left it). */
  data: Uint8Array;
  /** The port the packet entered on (name, or `portN`). */
  inPort: string;
}

/** A frame to push: its bytes, and optionally the entry port and flow hash. */
export interface HarnessFrame {
  data: Uint8Array;
  /** Port name (from `ports`) or id; default: the first port (id 0). */
  inPort?: string | number;
  /** Flow hash; default: the symmetric Toeplitz hash of the 5-tuple, as the manager computes it. */
  hash?: number;
  /** Receive time (pkt.tsSec / pkt.tsNsec); default 0. */
  tsSec?: number;
  tsNsec?: number;
}

export interface HarnessOptions {
  /** Raw args, validated by the definition's `args` as the runtime does. */
  args?: Record<string, unknown>;
  /** The service this instance serves (default: the NF's name). */
  service?: string;
  /** Instance number (default 1). */
  instance?: number;
  /** Port names; their ids are their positions (default ['port0']). */
  ports?: string[];
  /** Other service names; ids by position. The NF's own service is added if missing. */
  services?: string[];
  /** Packets per batch handed to the handler (default 32, the manager's default). */
  batchSize?: number;
  /** Bytes per packet buffer (power of two, default 2048; data room = bufSize - 128). */
  bufSize?: number;
  /**
   * What a throwing handler does: 'throw' (default) fails the push with the error; 'count'
   * behaves as the runtime does — counts it in `handlerErrors`, logs it and returns the
   * packets with the actions set so far.
   */
  onHandlerError?: 'throw' | 'count';
  /** Also print ctx.log lines to stderr (default false; they are always kept in `logs`). */
  verbose?: boolean;
  /** Buffers in the harness's pool (default 256): what ctx.alloc can take, beyond one batch. */
  poolSize?: number;
  /** Live instances per service name for ctx.instanceCount (default: 1 for every known service). */
  instances?: Record<string, number>;
}

export interface HarnessLog {
  msg: string;
  fields?: Record<string, unknown>;
}

export interface NFHarness<A> {
  readonly ctx: NFContext<A>;
  /** The NF's own counters (ctx.counters). */
  readonly counters: Record<string, number>;
  /** Every ctx.log call, in order. */
  readonly logs: HarnessLog[];
  /** Every ctx.send call, in order. */
  readonly sent: { data: unknown; to?: string }[];
  /** Handler exceptions caught so far (onHandlerError 'count'). */
  readonly handlerErrors: number;
  /**
   * Packets the NF created and emitted (ctx.alloc + ctx.emit), in emission order, as the
   * router would have received them. Their buffers go back to the pool once recorded.
   */
  readonly emitted: HarnessResult[];
  /** Buffers allocated with ctx.alloc and not emitted yet. */
  readonly pendingAllocs: number;
  /** Runs the frames through the NF in batches of `batchSize`; one result per frame, in order. */
  push(frames: ReadonlyArray<Uint8Array | HarnessFrame>): HarnessResult[];
  /** Calls the NF's tick once (the runtime calls it every `tickMs`). */
  tick(): void;
  /** Delivers a message as if sent by `from` (a service name, or "manager"). */
  message(data: unknown, from?: string): void;
  /** Runs teardown. The harness cannot be used afterwards. */
  close(): Promise<void>;
}

const ACTIONS: Record<number, HarnessAction> = {
  [ACTION_NEXT]: 'next',
  [ACTION_DROP]: 'drop',
  [ACTION_TO_SERVICE]: 'toService',
  [ACTION_TO_PORT]: 'toPort',
};

/** The harness uses process slot 1 (slot 0 is the manager's). */
const SLOT = 1;
const HEADROOM = 128;

function nameOf(map: Map<string, number>, id: number): string | undefined {
  for (const [k, v] of map) if (v === id) return k;
  return undefined;
}

function isFrame(x: Uint8Array | HarnessFrame): x is HarnessFrame {
  return !(x instanceof Uint8Array);
}

/**
 * Creates the NF's context (validating args: a bad arg rejects with the NF's NetvmError),
 * runs setup, and returns a harness to push packets through its handler.
 */
export async function createNFHarness<A>(def: NFDefinition<A>, opts: HarnessOptions = {}): Promise<NFHarness<A>> {
  const portList = opts.ports ?? ['port0'];
  const service = opts.service ?? def.name;
  const serviceList = [...(opts.services ?? [])];
  if (!serviceList.includes(service)) serviceList.push(service);
  const dup = (l: string[]): string | undefined => l.find((x, i) => l.indexOf(x) !== i);
  if (dup(portList) !== undefined) throw new NetvmError('NETVM_USAGE', `harness: port "${dup(portList)}" is listed twice`);
  if (dup(serviceList) !== undefined) throw new NetvmError('NETVM_USAGE', `harness: service "${dup(serviceList)}" is listed twice`);
  const batchSize = opts.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 256)
    throw new NetvmError('NETVM_USAGE', `harness: batchSize ${batchSize} must be an integer 1..256`);

  const poolSize = opts.poolSize ?? 256;
  if (!Number.isInteger(poolSize) || poolSize < batchSize + 1 || poolSize > 1 << 20)
    throw new NetvmError('NETVM_USAGE', `harness: poolSize ${poolSize} must be an integer ${batchSize + 1}..${1 << 20}`);
  const params: Partial<LayoutParams> = { bufCount: poolSize, headroom: HEADROOM, maxPorts: Math.max(4, portList.length) };
  if (opts.bufSize !== undefined) params.bufSize = opts.bufSize;
  const region = testRegion(params);
  const { u8, i32, f64, layout } = region;
  const dataRoom = layout.params.bufSize - HEADROOM;

  const names: NameTable = {
    services: new Map(serviceList.map((s, i) => [s, i])),
    ports: new Map(portList.map((p, i) => [p, i])),
  };
  const counters: Record<string, number> = {};
  const logs: HarnessLog[] = [];
  const sent: { data: unknown; to?: string }[] = [];
  const emitted: HarnessResult[] = [];
  // The buffers: the batch's are taken from the region's pool once and reused for every
  // batch; ctx.alloc takes from the same pool.
  const pool = new Pool(i32, layout, SLOT);
  const readResult = (desc: number): HarnessResult => {
    const base = bufferOffset(layout, desc);
    const m = base >> 2;
    const a = i32[m + M_ACTION];
    const action = ACTIONS[a];
    if (action === undefined) throw new NetvmError('NETVM_NF_INVALID', `harness: a packet has invalid action ${a}`);
    const off = base + i32[m + M_DATA_OFF];
    const len = Math.max(0, Math.min(i32[m + M_LEN], base + layout.params.bufSize - off));
    const inPortId = i32[m + M_INPORT];
    const r: HarnessResult = { action, data: u8.slice(off, off + len), inPort: nameOf(names.ports, inPortId) ?? `port${inPortId}` };
    if (action === 'toService' || action === 'toPort') {
      const id = i32[m + M_DEST];
      r.destId = id;
      const name = nameOf(action === 'toService' ? names.services : names.ports, id);
      if (name !== undefined) r.dest = name;
    }
    return r;
  };
  const packetSource = new PacketSource(u8, i32, f64, layout, SLOT, pool, names, (d) => {
    emitted.push(readResult(d));
    pool.freeOne(d);
  });
  const ctx = createNFContext<A>(
    {
      service,
      instance: opts.instance ?? 1,
      names,
      counters,
      log: (msg, fields) => {
        logs.push(fields === undefined ? { msg } : { msg, fields });
        if (opts.verbose) process.stderr.write(`[${service}#${opts.instance ?? 1}] ${msg}${fields ? ' ' + JSON.stringify(fields) : ''}\n`);
      },
      send: (data, to) => sent.push(to === undefined ? { data } : { data, to }),
      packets: packetSource,
      instanceCount: (id) => {
        const name = nameOf(names.services, id);
        if (name === undefined) return 0;
        return opts.instances?.[name] ?? 1;
      },
    },
    validateArgs(def, opts.args),
  );
  const descs = new Int32Array(batchSize);
  if (pool.alloc(descs, 0, batchSize) !== batchSize) throw new NetvmError('NETVM_LIMIT', 'harness: pool too small');
  if (def.setup) await def.setup(ctx);
  const packets: Packet[] = [];
  for (let i = 0; i < batchSize; i++) packets.push(new Packet(u8, i32, layout, names));
  const batch = new PacketBatch(packets);
  let handlerErrors = 0;
  const caught: unknown[] = [];
  const mode = opts.onHandlerError ?? 'throw';
  const invoke = createBatchInvoker(def, ctx, batch, (err) => {
    handlerErrors++;
    if (mode === 'throw') {
      caught.push(err);
    } else if (handlerErrors <= 3) ctx.log(`handler threw: ${(err as Error).stack ?? String(err)}`);
  });

  const toeplitz = new Toeplitz(SYMMETRIC_RSS_KEY);
  const parsed = new ParsedPacket();
  const be32 = (o: number): number => ((u8[o] << 24) | (u8[o + 1] << 16) | (u8[o + 2] << 8) | u8[o + 3]) >>> 0;
  /** The hash the manager's classifier gives a packet without a port hash. */
  const flowHash = (off: number, len: number): number => {
    parsePacket(u8, off, len, parsed);
    const l3 = parsed.l3Offset;
    // Fragments hash on the addresses only, so all of a datagram's go to one instance.
    const sp = parsed.fragment ? 0 : parsed.srcPort;
    const dp = parsed.fragment ? 0 : parsed.dstPort;
    if (parsed.ipVersion === 4) return toeplitz.hashIpv4(be32(l3 + 12), be32(l3 + 16), sp, dp);
    if (parsed.ipVersion === 6) return toeplitz.hashIpv6(u8, l3 + 8, l3 + 24, sp, dp);
    return 0;
  };
  const portIdOf = (p: string | number | undefined, index: number): number => {
    if (p === undefined) return 0;
    if (typeof p === 'number') return p;
    const id = names.ports.get(p);
    if (id === undefined)
      throw new NetvmError('NETVM_UNKNOWN_PORT', `harness: frame ${index} inPort "${p}" is not one of the ports (${portList.join(', ')})`);
    return id;
  };

  let closed = false;
  const live = (): void => {
    if (closed) throw new NetvmError('NETVM_USAGE', 'harness: used after close()');
  };

  const push = (frames: ReadonlyArray<Uint8Array | HarnessFrame>): HarnessResult[] => {
    live();
    const out: HarnessResult[] = [];
    for (let start = 0; start < frames.length; start += batchSize) {
      const n = Math.min(batchSize, frames.length - start);
      for (let k = 0; k < n; k++) {
        const f = frames[start + k];
        const data = isFrame(f) ? f.data : f;
        if (!(data instanceof Uint8Array)) throw new NetvmError('NETVM_USAGE', `harness: frame ${start + k} has no Uint8Array data`);
        if (data.length > dataRoom)
          throw new NetvmError(
            'NETVM_LIMIT',
            `harness: frame ${start + k} is ${data.length} bytes; the buffer holds ${dataRoom} (raise bufSize)`,
          );
        const base = bufferOffset(layout, descs[k]);
        const m = base >> 2;
        // Fresh metadata and data, as the manager's RX path leaves them for the first step.
        i32.fill(0, m, m + META_BYTES / 4);
        const d = base + HEADROOM;
        u8.set(data, d);
        u8.fill(0, d + data.length, base + layout.params.bufSize);
        i32[m + M_OWNER] = SLOT;
        i32[m + M_LEN] = data.length;
        i32[m + M_DATA_OFF] = HEADROOM;
        i32[m + M_INPORT] = portIdOf(isFrame(f) ? f.inPort : undefined, start + k);
        i32[m + M_HASH] = isFrame(f) && f.hash !== undefined ? f.hash | 0 : flowHash(d, data.length) | 0;
        i32[m + M_CHAIN] = 0;
        i32[m + M_STEP] = 0;
        i32[m + M_ACTION] = ACTION_NEXT;
        i32[m + M_FLAGS] = 0;
        i32[m + M_TS_SEC] = isFrame(f) ? (f.tsSec ?? 0) | 0 : 0;
        i32[m + M_TS_NSEC] = isFrame(f) ? (f.tsNsec ?? 0) | 0 : 0;
        i32[m + M_USER] = 0;
        i32[m + M_USER + 1] = 0;
      }
      caught.length = 0;
      invoke(descs, n);
      if (caught.length > 0) throw caught[0];
      for (let k = 0; k < n; k++) out.push(readResult(descs[k]));
    }
    return out;
  };

  return {
    ctx,
    counters,
    logs,
    sent,
    get handlerErrors() {
      return handlerErrors;
    },
    emitted,
    get pendingAllocs() {
      return packetSource.pending;
    },
    push,
    tick: () => {
      live();
      if (def.tick) def.tick(ctx);
    },
    message: (data, from = 'manager') => {
      live();
      if (def.onMessage) def.onMessage(data, from, ctx);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      if (def.teardown) await def.teardown(ctx);
      pool.free(descs, 0, batchSize);
      packetSource.release();
    },
  };
}
