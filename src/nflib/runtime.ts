// The NF process: registers with the manager over its control socket, attaches to the
// region, and runs the packet loop — dequeue a batch, call the NF, route each packet by its
// action (straight into the next NF's ring or a port's tx ring), count every outcome — and
// sleeps on a futex word when idle (shared mode) or spins (poll mode).
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { NetvmError } from '../core/errors.js';
import { attachRegion, type Region } from '../core/region.js';
import { Ring, Sleeper } from '../core/ring.js';
import { Pool } from '../core/pool.js';
import { Router } from '../core/router.js';
import {
  C_BATCHES,
  C_HANDLER_ERRORS,
  C_RX,
  C_SLEEPS,
  C_WAKEUPS,
  H_STATE,
  nfRingId,
  REGION_STATE_STOPPING,
  S_HEARTBEAT,
  S_INFLIGHT,
  S_SEEN_EPOCH,
  slotCountersF64,
  slotOffset,
} from '../core/layout.js';
import { controlSocketPath, secretPath } from '../core/paths.js';
import { readFileSync } from 'node:fs';
import { lineReader, type ManagerToNf, type RegisterReply } from '../core/control-protocol.js';
import { native } from '../../native/loader.js';
import type { NFContext, NFDefinition } from './define-nf.js';
import { Packet, PacketBatch, type NameTable } from './packet.js';
import { createBatchInvoker, createNFContext, validateArgs } from './context.js';
import { PacketSource } from './packet-source.js';

export interface RunOptions {
  /** Manager instance name (default "netvm"). */
  name: string;
  service: string;
  mode: 'shared' | 'poll';
  args?: Record<string, unknown>;
  /** Where the NF came from, for the manager's logs. */
  nfLabel: string;
  /** Run without mapping the region (untrusted-runtime.ts). */
  untrusted?: boolean;
}

/** Empty polls before a shared-mode NF goes to sleep (about 20-50 µs of spinning). */
const SPIN_BEFORE_SLEEP = 256;
/** Longest futex wait, so the event loop (control socket, ticks) still runs. */
const SLEEP_MS = 50;
/** Longest stretch of packet work before returning to the event loop. */
const SLICE_MS = 5;

export function connect(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(path);
    s.once('connect', () => resolve(s));
    s.once('error', (err) =>
      reject(
        new NetvmError(
          'NETVM_MANAGER_UNREACHABLE',
          `cannot reach the netvm manager at ${path} (${(err as NodeJS.ErrnoException).code ?? err.message}); ` +
            'start it with `netvm start --config FILE` (or pass --name for another instance)',
        ),
      ),
    );
  });
}

export async function runNF<A>(def: NFDefinition<A>, opts: RunOptions): Promise<void> {
  // An untrusted NF never maps the region: another loop over its exchange area.
  if (opts.untrusted === true) return (await import('./untrusted-runtime.js')).runUntrustedNF(def, opts);
  const sock = await connect(controlSocketPath(opts.name));
  const pending: ManagerToNf[] = [];
  let waiter: ((m: ManagerToNf) => void) | null = null;
  const deliver = (m: ManagerToNf): void => {
    if (waiter !== null) {
      const w = waiter;
      waiter = null;
      w(m);
    } else pending.push(m);
  };
  sock.on(
    'data',
    lineReader(
      (m) => deliver(m as ManagerToNf),
      () => {},
    ),
  );
  const nextMessage = (): Promise<ManagerToNf> =>
    pending.length > 0
      ? Promise.resolve(pending.shift() as ManagerToNf)
      : new Promise((resolve, reject) => {
          waiter = resolve;
          sock.once('close', () => reject(new NetvmError('NETVM_REGISTER', 'the manager closed the connection')));
        });
  const send = (m: unknown): void => {
    if (!sock.destroyed) sock.write(JSON.stringify(m) + '\n');
  };
  send({
    type: 'register',
    service: opts.service,
    nf: opts.nfLabel,
    pid: process.pid,
    mode: opts.mode,
    args: opts.args,
    secret: managerSecret(opts.name),
  });
  const first = await nextMessage();
  if (first.type === 'error') throw new NetvmError(first.code === 'NETVM_AUTH' ? 'NETVM_AUTH' : 'NETVM_REGISTER', first.message);
  if (first.type !== 'registered') throw new NetvmError('NETVM_REGISTER', `unexpected reply ${first.type}`);
  const reg: RegisterReply = first;

  const title = `netvm-nf ${opts.service}#${reg.instance}`;
  process.title = title;
  native.setThreadName(title.slice(0, 15));

  const region: Region = attachRegion(reg.region);
  const { i32, f64, u8, layout } = region;
  const slot = reg.slot;
  const names: NameTable = { services: new Map(Object.entries(reg.services)), ports: new Map(Object.entries(reg.ports)) };
  const batchSize = reg.batch;
  const pool = new Pool(i32, layout, slot);
  const router = new Router(i32, f64, layout, slot, pool, batchSize);
  if (typeof reg.waitMs === 'number' && reg.waitMs > 0) router.waitMs = reg.waitMs;
  const rx = new Ring(i32, layout, nfRingId(slot), slot);
  const sleeper = new Sleeper(i32, layout, slot);
  const c0 = slotCountersF64(layout, slot);
  const sb = slotOffset(layout, slot) >> 2;
  const descs = new Int32Array(batchSize);
  const packets: Packet[] = [];
  for (let i = 0; i < batchSize; i++) packets.push(new Packet(u8, i32, layout, names));
  const batch = new PacketBatch(packets);
  const custom: Record<string, number> = {};
  // Packets the NF creates (ctx.alloc/emit) are staged in the router like a batch's; the
  // loop flushes them (at the end of the batch they were emitted in, or on its next turn).
  let emittedOutside = false;
  const packetSource = new PacketSource(u8, i32, f64, layout, slot, pool, names, (d) => {
    router.route(d);
    emittedOutside = true;
  });

  const ctx: NFContext<A> = createNFContext(
    {
      service: opts.service,
      instance: reg.instance,
      names,
      counters: custom,
      log: (msg, fields) => send({ type: 'log', level: 'info', msg, fields }),
      send: (data, to) => send({ type: 'message', to, data }),
      packets: packetSource,
      instanceCount: (id) => router.instanceCount(id),
    },
    validateArgs(def, reg.args),
  );
  if (def.setup) await def.setup(ctx);

  let stopping = false;
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((r) => (resolveDone = r));
  sock.on('close', () => {
    // The manager is gone (or told us to stop and closed): exit cleanly, never orphaned.
    stopping = true;
  });
  sock.on('error', () => {});
  const onControl = (m: ManagerToNf): void => {
    if (m.type === 'stop') stopping = true;
    else if (m.type === 'names') {
      names.services.clear();
      for (const [k, v] of Object.entries(m.services)) names.services.set(k, v);
      names.ports.clear();
      for (const [k, v] of Object.entries(m.ports)) names.ports.set(k, v);
    } else if (m.type === 'message' && def.onMessage) {
      // A bad message must not end the NF: its packets keep flowing.
      try {
        def.onMessage(m.data, m.from, ctx);
      } catch (err) {
        ctx.log(`onMessage threw: ${(err as Error).stack ?? String(err)}`);
      }
    }
  };
  for (const m of pending.splice(0)) onControl(m);
  waiter = null;
  sock.removeAllListeners('data');
  sock.on(
    'data',
    lineReader(
      (m) => onControl(m as ManagerToNf),
      () => {},
    ),
  );
  send({ type: 'ready' });

  const invoke = createBatchInvoker(def, ctx, batch, (err) => {
    // A throwing handler must not lose buffers: its packets are routed as they stand.
    f64[c0 + C_HANDLER_ERRORS]++;
    if (f64[c0 + C_HANDLER_ERRORS] <= 3) ctx.log(`handler threw: ${(err as Error).stack ?? String(err)}`);
  });
  const poll = opts.mode === 'poll';
  const tickMs = def.tickMs ?? 1000;
  let nextTick = performance.now() + tickMs;
  let nextReport = performance.now() + 1000;
  let idle = 0;

  const handle = (n: number): void => {
    f64[c0 + C_RX] += n;
    f64[c0 + C_BATCHES]++;
    invoke(descs, n);
    for (let i = 0; i < n; i++) router.route(descs[i]);
    router.flush();
    emittedOutside = false;
    i32[sb + S_INFLIGHT] = 0;
  };

  const slice = (): void => {
    const start = performance.now();
    let iter = 0;
    while (!stopping) {
      const e = router.refresh();
      Atomics.store(i32, sb + S_SEEN_EPOCH, e);
      if (emittedOutside) {
        // Emitted from setup, tick or onMessage: send them now.
        emittedOutside = false;
        router.flush();
      }
      const n = rx.dequeue(descs, 0, batchSize, slot);
      if (n > 0) {
        i32[sb + S_INFLIGHT] = n;
        handle(n);
        idle = 0;
      } else if (!poll && ++idle >= SPIN_BEFORE_SLEEP) {
        f64[c0 + C_SLEEPS]++;
        const slept = sleeper.sleep(() => rx.count() > 0 || Atomics.load(i32, H_STATE) === REGION_STATE_STOPPING, SLEEP_MS);
        if (slept && rx.count() > 0) f64[c0 + C_WAKEUPS]++;
        idle = 0;
        if (slept && rx.count() === 0) break; // timed out: let the event loop run
      }
      if ((++iter & 63) === 0 && performance.now() - start > SLICE_MS) break;
    }
    if (Atomics.load(i32, H_STATE) === REGION_STATE_STOPPING) stopping = true;
    router.stopping = stopping;
    const now = performance.now();
    i32[sb + S_HEARTBEAT] = (i32[sb + S_HEARTBEAT] + 1) | 0;
    if (def.tick && now >= nextTick) {
      nextTick = now + tickMs;
      try {
        def.tick(ctx);
      } catch (err) {
        ctx.log(`tick threw: ${(err as Error).message}`);
      }
    }
    if (now >= nextReport) {
      nextReport = now + 1000;
      if (Object.keys(custom).length > 0) send({ type: 'counters', counters: custom });
    }
    if (stopping) void finish();
    else setImmediate(slice);
  };

  const finish = async (): Promise<void> => {
    // Hand back what we hold: packets already dequeued were routed; the pool cache goes back.
    pool.flush();
    try {
      if (def.teardown) await def.teardown(ctx);
    } finally {
      // What teardown emitted goes out; what was allocated and never emitted is dropped (and
      // counted: it was counted as created).
      packetSource.release((d) => router.discard(d));
      router.flush();
      pool.flush();
      if (Object.keys(custom).length > 0) send({ type: 'counters', counters: custom });
      sock.end();
      resolveDone();
    }
  };
  setImmediate(slice);
  await done;
}

/**
 * The manager's per-run secret: given by the manager to the NFs it launches (NETVM_SECRET),
 * read from its owner-only file by an NF started by hand (`netvm nf run`) as the same user.
 */
export function managerSecret(name: string): string | undefined {
  if (process.env.NETVM_SECRET) return process.env.NETVM_SECRET;
  try {
    return readFileSync(secretPath(name), 'utf8').trim();
  } catch {
    return undefined; // the manager will refuse with a message saying why
  }
}
