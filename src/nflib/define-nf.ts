// What an NF author writes: `export default defineNF({ ... })`. The runtime (runtime.ts)
// does registration, rings, sleeping and routing; the NF only decides per packet.
import { NetvmError } from '../core/errors.js';
import type { Packet, PacketBatch } from './packet.js';

export interface NFContext<A> {
  /** The service this instance serves, and its instance number (1-based). */
  readonly service: string;
  readonly instance: number;
  /** Validated arguments (from the config's `args`, or `--args` on the CLI). */
  readonly args: A;
  /** Ids for names, resolved once in setup: `ctx.serviceId('fw')`, `ctx.portId('out')`. */
  serviceId(name: string): number;
  portId(name: string): number;
  /** Port and service names by id (for reports). */
  portName(id: number): string;
  /** The NF's own counters; shown with its instance in `netvm stats` and --stats-json. */
  readonly counters: Record<string, number>;
  /** Structured log line (to stderr, with service and instance). */
  log(msg: string, fields?: Record<string, unknown>): void;
  /** Sends a message to the manager, or to every instance of a service with `to`. */
  send(data: unknown, to?: string): void;
  /**
   * Live instances of a service (by name or id) as this NF's router sees them: 0 until the
   * service's first instance is ready. For NFs that create packets (ctx.alloc) and must not
   * send them before their destination exists.
   */
  instanceCount(service: string | number): number;
  /**
   * Takes a free buffer from the shared pool for a packet this NF creates — OpenNetVM's
   * `rte_pktmbuf_alloc` + `onvm_nflib_return_pkt`. Returns a Packet bound to it, or null when
   * the pool is empty. The packet starts empty (`length` 0, the standard headroom in front),
   * with no chain, in-port -1, hash 0, timestamp 0 and action drop: write the frame at
   * `pkt.u8[pkt.offset ...]`, set `pkt.length`, an action (`toService` or `toPort`; `next()`
   * has no chain to follow and ends as a no-route drop) and optionally `pkt.hash`, then hand
   * it to `emit`. Pass an emitted Packet as `view` to reuse the object (no allocation).
   */
  alloc(view?: Packet): Packet | null;
  /**
   * Sends a packet from `alloc` on its way by its action (after the current batch, or at once
   * outside a batch). Returns false, and does nothing, for a packet that is not an un-emitted
   * one from `alloc` (a batch's packets are routed by the runtime; emitting twice would send
   * one buffer to two places). Buffers allocated and never emitted go back to the pool when
   * the NF stops.
   */
  emit(pkt: Packet): boolean;
}

export interface NFDefinition<A = Record<string, unknown>> {
  /** The NF's name (as in the catalog). */
  name: string;
  /** Validates and defaults raw args; throw NetvmError('NETVM_NF_ARGS') naming the field. */
  args?: (raw: Record<string, unknown>) => A;
  setup?: (ctx: NFContext<A>) => void | Promise<void>;
  /** Called with each batch (1..batch size packets). Set each packet's action; the default is next(). */
  process?: (batch: PacketBatch, ctx: NFContext<A>) => void;
  /** Per-packet convenience form, used when `process` is absent. */
  packet?: (pkt: Packet, ctx: NFContext<A>) => void;
  /** Called every `tickMs` (default 1000) from the NF's loop. */
  tick?: (ctx: NFContext<A>) => void;
  tickMs?: number;
  onMessage?: (data: unknown, from: string, ctx: NFContext<A>) => void;
  teardown?: (ctx: NFContext<A>) => void | Promise<void>;
}

const BRAND = Symbol.for('netvm.nf');

export function defineNF<A = Record<string, unknown>>(def: NFDefinition<A>): NFDefinition<A> {
  if (typeof def !== 'object' || def === null)
    throw new NetvmError('NETVM_NF_INVALID', 'defineNF expects an object { name, process | packet, ... }');
  if (typeof def.name !== 'string' || def.name.length === 0)
    throw new NetvmError('NETVM_NF_INVALID', 'defineNF: `name` must be a non-empty string');
  if (typeof def.process !== 'function' && typeof def.packet !== 'function')
    throw new NetvmError('NETVM_NF_INVALID', `NF "${def.name}": give a \`process(batch)\` or a \`packet(pkt)\` handler`);
  for (const k of ['args', 'setup', 'tick', 'onMessage', 'teardown'] as const) {
    if (def[k] !== undefined && typeof def[k] !== 'function')
      throw new NetvmError('NETVM_NF_INVALID', `NF "${def.name}": \`${k}\` must be a function`);
  }
  Object.defineProperty(def, BRAND, { value: true });
  return def;
}

export function isNFDefinition(x: unknown): x is NFDefinition<unknown> {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[BRAND] === true;
}

/** Helpers for args validation with errors that name the field. */
export function argError(nf: string, field: string, problem: string): NetvmError {
  return new NetvmError('NETVM_NF_ARGS', `NF "${nf}": args.${field} ${problem}`);
}
