// The NF process of an untrusted NF (`netvm nf run --untrusted`, `trust: untrusted` in the
// config; docs/untrusted-nfs.md). It registers like a trusted NF but never maps the shared
// region: the manager gives it an exchange area of its own (src/core/exchange.ts), copies
// each packet it may see into a slot there, and checks and copies back what it returns
// (src/manager/untrusted.ts). The NF's code is the same: the same definition, the same
// Packet and PacketBatch views — bound to exchange slots instead of region buffers — the same
// context and handler invocation (context.ts). Routing is the manager's job here: the NF
// hands every slot back with its action set.
import { performance } from 'node:perf_hooks';
import { NetvmError } from '../core/errors.js';
import { controlSocketPath } from '../core/paths.js';
import { lineReader, type ManagerToNf, type RegisterReply } from '../core/control-protocol.js';
import {
  attachExchange,
  exchangeStopping,
  ExchangeRing,
  ExchangeSleeper,
  XF_BATCHES,
  XF_HANDLER_ERRORS,
  XF_SLEEPS,
  XF_WAKEUPS,
  type Exchange,
} from '../core/exchange.js';
import { native } from '../../native/loader.js';
import type { NFContext, NFDefinition } from './define-nf.js';
import { Packet, PacketBatch, type NameTable } from './packet.js';
import { createBatchInvoker, createNFContext, validateArgs } from './context.js';
import { connect, managerSecret, type RunOptions } from './runtime.js';

/** As runtime.ts: spin this many empty polls, then sleep at most SLEEP_MS; work in slices. */
const SPIN_BEFORE_SLEEP = 256;
const SLEEP_MS = 50;
const SLICE_MS = 5;

export async function runUntrustedNF<A>(def: NFDefinition<A>, opts: RunOptions): Promise<void> {
  const sock = await connect(controlSocketPath(opts.name));
  const pending: ManagerToNf[] = [];
  let waiter: ((m: ManagerToNf) => void) | null = null;
  sock.on(
    'data',
    lineReader(
      (m) => {
        if (waiter === null) return void pending.push(m as ManagerToNf);
        const w = waiter;
        waiter = null;
        w(m as ManagerToNf);
      },
      () => {},
    ),
  );
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
    trust: 'untrusted',
    secret: managerSecret(opts.name),
  });
  const first = await (pending.length > 0
    ? Promise.resolve(pending.shift() as ManagerToNf)
    : new Promise<ManagerToNf>((resolve, reject) => {
        waiter = resolve;
        sock.once('close', () => reject(new NetvmError('NETVM_REGISTER', 'the manager closed the connection')));
      }));
  if (first.type === 'error') throw new NetvmError(first.code === 'NETVM_AUTH' ? 'NETVM_AUTH' : 'NETVM_REGISTER', first.message);
  if (first.type !== 'registered') throw new NetvmError('NETVM_REGISTER', `unexpected reply ${first.type}`);
  const reg: RegisterReply = first;
  if (typeof reg.exchange !== 'string')
    throw new NetvmError('NETVM_REGISTER', 'the manager gave no exchange area: it does not support untrusted NFs (same netvm version?)');

  const title = `netvm-nf ${opts.service}#${reg.instance}`;
  process.title = title;
  native.setThreadName(title.slice(0, 15));

  let x: Exchange;
  try {
    x = attachExchange(reg.exchange);
  } catch (err) {
    throw new NetvmError('NETVM_REGISTER', `cannot map the exchange area: ${(err as Error).message}`, { cause: err });
  }
  const xl = x.layout;
  const f64 = x.f64;
  const names: NameTable = { services: new Map(Object.entries(reg.services)), ports: new Map(Object.entries(reg.ports)) };
  const batchSize = Math.min(reg.batch, xl.slots);
  const toNf = new ExchangeRing(x, xl.toNf);
  const fromNf = new ExchangeRing(x, xl.fromNf);
  const sleeper = new ExchangeSleeper(x);
  const descs = new Int32Array(batchSize);
  const packets: Packet[] = [];
  for (let i = 0; i < batchSize; i++) packets.push(new Packet(x.u8, x.i32, xl, names));
  const batch = new PacketBatch(packets);
  const custom: Record<string, number> = {};

  const ctx: NFContext<A> = createNFContext(
    {
      service: opts.service,
      instance: reg.instance,
      names,
      counters: custom,
      log: (msg, fields) => send({ type: 'log', level: 'info', msg, fields }),
      send: (data, to) => send({ type: 'message', to, data }),
    },
    validateArgs(def, reg.args),
  );
  if (def.setup) await def.setup(ctx);

  let stopping = false;
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((r) => (resolveDone = r));
  sock.on('close', () => (stopping = true));
  sock.on('error', () => {});
  const onControl = (m: ManagerToNf): void => {
    if (m.type === 'stop') stopping = true;
    else if (m.type === 'names') {
      names.services.clear();
      for (const [k, v] of Object.entries(m.services)) names.services.set(k, v);
      names.ports.clear();
      for (const [k, v] of Object.entries(m.ports)) names.ports.set(k, v);
    } else if (m.type === 'message' && def.onMessage) {
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
    // As in a trusted NF: the packets go back with the actions set so far.
    f64[XF_HANDLER_ERRORS]++;
    if (f64[XF_HANDLER_ERRORS] <= 3) ctx.log(`handler threw: ${(err as Error).stack ?? String(err)}`);
  });
  const poll = opts.mode === 'poll';
  const tickMs = def.tickMs ?? 1000;
  let nextTick = performance.now() + tickMs;
  let nextReport = performance.now() + 1000;
  let idle = 0;

  /** Every slot goes back, in order; the ring always has room for what we were given. */
  const giveBack = (n: number): void => {
    let put = fromNf.enqueue(descs, 0, n);
    while (put < n && !exchangeStopping(x)) {
      native.schedYield();
      put += fromNf.enqueue(descs, put, n - put);
    }
  };

  const slice = (): void => {
    const start = performance.now();
    let iter = 0;
    while (!stopping) {
      const n = toNf.dequeue(descs, 0, batchSize);
      if (n > 0) {
        f64[XF_BATCHES]++;
        invoke(descs, n);
        giveBack(n);
        idle = 0;
      } else if (!poll && ++idle >= SPIN_BEFORE_SLEEP) {
        f64[XF_SLEEPS]++;
        const slept = sleeper.sleep(() => toNf.count() > 0 || exchangeStopping(x), SLEEP_MS);
        if (slept && toNf.count() > 0) f64[XF_WAKEUPS]++;
        idle = 0;
        if (slept && toNf.count() === 0) break;
      }
      if ((++iter & 63) === 0 && performance.now() - start > SLICE_MS) break;
    }
    if (exchangeStopping(x)) stopping = true;
    const now = performance.now();
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
    try {
      if (def.teardown) await def.teardown(ctx);
    } finally {
      if (Object.keys(custom).length > 0) send({ type: 'counters', counters: custom });
      sock.end();
      resolveDone();
    }
  };
  setImmediate(slice);
  await done;
}
