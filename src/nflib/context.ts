// The pieces of running an NF that do not depend on where the packets come from: argument
// validation, building the NFContext, and invoking the handler on a batch. The NF process
// (runtime.ts) and the offline test harness (testing.ts) both use these, so a unit test
// exercises the same code path as a real run.
import { NetvmError } from '../core/errors.js';
import type { NFContext, NFDefinition } from './define-nf.js';
import type { Packet, PacketBatch, NameTable } from './packet.js';
import type { PacketSource } from './packet-source.js';

/** What the context needs from its host (the runtime's control socket, or the harness). */
export interface ContextHost {
  service: string;
  instance: number;
  /** Live name → id tables (the runtime updates them when the manager sends new names). */
  names: NameTable;
  counters: Record<string, number>;
  log(msg: string, fields?: Record<string, unknown>): void;
  send(data: unknown, to?: string): void;
  /** Creates packets for ctx.alloc/ctx.emit (the runtime and the harness give one). */
  packets?: PacketSource;
  /** Live instances of a service id (the router's view). */
  instanceCount?(service: number): number;
}

/** Runs the definition's `args` validator over the raw args (or passes them through). */
export function validateArgs<A>(def: NFDefinition<A>, raw: Record<string, unknown> | undefined): A {
  const r = raw ?? {};
  return (def.args ? def.args(r) : r) as A;
}

function lookup(map: Map<string, number>, kind: 'service' | 'port', name: string): number {
  const id = map.get(name);
  if (id === undefined)
    throw new NetvmError(
      kind === 'service' ? 'NETVM_UNKNOWN_SERVICE' : 'NETVM_UNKNOWN_PORT',
      `unknown ${kind} "${name}"; known: ${[...map.keys()].join(', ') || 'none'}`,
    );
  return id;
}

/** The NFContext handed to every callback of the definition. */
export function createNFContext<A>(host: ContextHost, args: A): NFContext<A> {
  const names = host.names;
  return {
    service: host.service,
    instance: host.instance,
    args,
    serviceId: (n) => lookup(names.services, 'service', n),
    portId: (n) => lookup(names.ports, 'port', n),
    // Looked up in the live table (not a copy made at registration), so ports named later
    // by the manager are reported by name too. Off the hot path: reports only.
    portName: (id) => {
      for (const [k, v] of names.ports) if (v === id) return k;
      return `port${id}`;
    },
    counters: host.counters,
    log: (msg, fields) => host.log(msg, fields),
    send: (data, to) => host.send(data, to),
    instanceCount: (service) => {
      const id = typeof service === 'number' ? service : names.services.get(service);
      if (id === undefined || host.instanceCount === undefined) return 0;
      return host.instanceCount(id);
    },
    alloc: (view) => {
      if (host.packets === undefined) throw new NetvmError('NETVM_NF_INVALID', 'ctx.alloc is not available in this context');
      return host.packets.alloc(view);
    },
    emit: (pkt) => (host.packets === undefined ? false : host.packets.emit(pkt)),
  };
}

/**
 * Returns `invoke(descs, n)`: binds packets[0..n) to descs[0..n), sets the batch length and
 * calls `process(batch)` (or `packet(pkt)` for each packet). A throwing handler is reported
 * to `onError` and its packets keep the actions set so far; nothing is lost.
 */
export function createBatchInvoker<A>(
  def: NFDefinition<A>,
  ctx: NFContext<A>,
  batch: PacketBatch,
  onError: (err: unknown) => void,
): (descs: Int32Array, n: number) => void {
  const handler = def.process;
  const perPacket = def.packet;
  const packets: Packet[] = batch.packets;
  return (descs, n) => {
    for (let i = 0; i < n; i++) packets[i].bind(descs[i]);
    batch.length = n;
    try {
      if (handler !== undefined) handler(batch, ctx);
      else if (perPacket !== undefined) for (let i = 0; i < n; i++) perPacket(packets[i], ctx);
    } catch (err) {
      onError(err);
    }
  };
}
