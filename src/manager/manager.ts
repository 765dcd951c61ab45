// The manager (`netvm start` / `netvm run` / `netvm demo`): owns the shared region, the ports
// and the flow director; registers NF processes over the control socket and watches their
// liveness; runs one RX/TX loop that moves port traffic. NF-to-NF traffic never passes
// through it.
import { formatCpuList, pinProcess } from '../core/affinity.js';
import fs from 'node:fs';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { NetvmError } from '../core/errors.js';
import { createRegion, processAlive, removeRegion, type Region } from '../core/region.js';
import { Pool } from '../core/pool.js';
import { Router } from '../core/router.js';
import { Ring, Sleeper, ringOccupancy } from '../core/ring.js';
import {
  bufferOffset,
  chainStepI32,
  C_DROP_NO_ROUTE,
  C_DROP_RING_FULL,
  DEFAULT_PARAMS,
  H_EPOCH,
  H_STATE,
  M_ACTION,
  M_CHAIN,
  M_DATA_OFF,
  M_FLAGS,
  M_HASH,
  M_INPORT,
  M_LEN,
  M_STEP,
  ACTION_NEXT,
  NF_COUNTERS,
  PC_RX,
  PC_RX_BYTES,
  PC_RX_NOBUF,
  PC_RX_NOROUTE,
  PC_TX,
  PC_TX_BYTES,
  PC_TX_ERRORS,
  POOL_RING,
  portCountersF64,
  portRingId,
  P_LINK,
  P_STATE,
  portOffset,
  REGION_STATE_STOPPING,
  serviceOffset,
  slotCountersF64,
  slotOffset,
  STEP_DROP,
  STEP_PORT,
  STEP_SERVICE,
  SV_COUNT,
  SV_SLOTS,
  S_CACHE,
  S_INSTANCE,
  S_KEY,
  S_MODE,
  S_PID,
  S_SERVICE,
  S_STATE,
  SLOT_ACTIVE,
  SLOT_DEAD,
  SLOT_FREE,
  SLOT_BYTES,
  MODE_POLL,
  MODE_SHARED,
  nfRingId,
  type LayoutParams,
} from '../core/layout.js';
import { controlSocketPath, ensureRunDir, secretPath } from '../core/paths.js';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { lineReader, type NfToManager, type RegisterRequest } from '../core/control-protocol.js';
import type { Logger } from '../core/log.js';
import { FLAG_HASH, type BufferAccess, type PortDriver } from '../ports/port-driver.js';
import { createPortDriver } from '../ports/index.js';
import { Classifier } from './classifier.js';
import { Reclaimer } from './reclaim.js';
import { native } from '../../native/loader.js';
import { snapshot } from './stats.js';
import type { ResolvedChain, ResolvedConfig, ResolvedRule, ResolvedStep } from '../config/types.js';
import { CATALOG_NAME_RE, catalogNames } from '../config/catalog.js';
import { ENTRY_NAME_PATTERN, LIMITS } from '../config/schema.js';
import { UNTRUSTED_DEFAULTS, UntrustedNFs, type UntrustedOptions, type UntrustedProxy } from './untrusted.js';

export interface ManagerOptions {
  config: ResolvedConfig;
  log: Logger;
  /** `netvm run`: exit once every input is exhausted and every buffer is back in the pool. */
  exitWhenDone: boolean;
  /** The CLI entry script, to launch NF processes. */
  cliPath: string;
  batch?: number;
  /** Milliseconds to wait for configured NFs to register. */
  startTimeoutMs?: number;
}

interface SlotInfo {
  slot: number;
  service: number;
  instance: number;
  pid: number;
  nf: string;
  mode: 'shared' | 'poll';
  socket: net.Socket;
  state: 'starting' | 'active' | 'dead';
  counters: Record<string, number>;
  /** Counters captured when the instance stopped with the manager (its slot is reused). */
  final?: Record<string, number>;
  /** Stopped on request (control API): leaving is not a death. */
  stopRequested?: boolean;
  /** An untrusted instance: the proxy that acts in its slot (docs/untrusted-nfs.md). */
  untrusted?: UntrustedProxy;
}

/** How long the manager holds packets for a full ring when an input is live (router.ts). */
const HOLD_LIVE_MS = 10;
/**
 * How long an NF waits for room in a full ring: with live inputs, and when every input can
 * wait — long enough to ride out an NF descheduled on a crowded machine, finite so that a
 * routing loop still cannot deadlock.
 */
const NF_WAIT_LIVE_MS = 100;
const NF_WAIT_LOSSLESS_MS = 5000;

/** Supervision backoff: the longest delay, and the uptime after which failures are forgotten. */
const RESTART_MAX_MS = 30_000;
const RESTART_RESET_MS = 30_000;

interface ServiceInfo {
  id: number;
  name: string;
  nf: string;
  mode: 'shared' | 'poll';
  args: Record<string, unknown>;
  /** `trust: untrusted` in the config: its NFs must run untrusted. */
  untrusted?: UntrustedOptions;
  /** Config `cpus`: its NF processes pin themselves there (else they inherit the manager's). */
  cpus?: number[];
  configured: number;
  /** Active instance slots, in join order. */
  slots: number[];
  /** Totals of instances that have left (so service totals still add up). */
  departed: Record<string, number>;
  departedCount: number;
  /** Supervision (config `restart`, `restartDelayMs`). */
  restart: 'never' | 'on-failure';
  restartDelayMs: number;
  /** Consecutive failures since an instance last ran 30 s; sets the next delay. */
  failures: number;
  /** Instances started again after a failure. */
  restarts: number;
}

interface PortRuntime {
  id: number;
  name: string;
  driver: PortDriver;
  input: boolean;
  output: boolean;
  /** Allocated buffers waiting for rxBurst to fill them. */
  stage: Int32Array;
  staged: number;
  txRing: Ring | null;
  /**
   * Descriptors the driver deferred (its queue was full: PortDriver.txDeferred), in order, to
   * offer again before anything newer from txRing; `txHoldSince` is when the port last made
   * progress while holding. A port holds at most one batch, so an NF's output backs up in the
   * port's tx ring (and the NF waits) instead of being dropped.
   */
  txHold: Int32Array;
  txHeld: number;
  txHoldSince: number;
  closed: boolean;
}

interface PendingReclaim {
  slot: number;
  epoch: number;
  since: number;
  repaired: boolean;
}

const SLICE_MS = 5;
const IDLE_BEFORE_SLEEP = 64;
/**
 * An idle manager sleeps when the next input is due at least this far ahead (ms); closer than
 * that it spins, as a futex wait would overshoot. Below 1 on purpose: a port that asks to be
 * looked at again in 1 ms (afpacket's nextDue) is 0.99 ms away by the time the manager
 * compares, and a threshold of exactly 1 turned that into a busy loop (a full core while idle).
 */
const MIN_SLEEP_MS = 0.5;

export class Manager {
  readonly opts: ManagerOptions;
  readonly log: Logger;
  region!: Region;
  private pool!: Pool;
  private router!: Router;
  private classifier!: Classifier;
  private reclaimer!: Reclaimer;
  private sleeper!: Sleeper;
  private untrusted!: UntrustedNFs;
  private server: net.Server | null = null;
  private socketPath = '';
  readonly ports: PortRuntime[] = [];
  readonly services: ServiceInfo[] = [];
  readonly slots = new Map<number, SlotInfo>();
  private readonly children = new Set<ChildProcess>();
  private readonly stoppedInstances: SlotInfo[] = [];
  private readonly reclaims: PendingReclaim[] = [];
  readonly chainPackets: Float64Array;
  private readonly batch: number;
  private running = false;
  private stopping = false;
  private doneResolve: (reason: string) => void = () => {};
  /** Resolves when the manager has stopped (with why). */
  readonly done: Promise<string>;
  private readyWaiters: Array<() => void> = [];
  private txDescs: Int32Array;
  private startedAt = 0;
  stoppedAt = 0;
  deaths = 0;
  /**
   * Lifecycle and configuration events for the control plane, as `'event'` with a
   * ManagerEvent: NF ready / exit, chain and rule changes, scaling.
   */
  readonly events = new EventEmitter();
  /** Chain ids taken out of use, reusable once no packet can carry them (see setChain). */
  private readonly retiredChains: { id: number; epoch: number; since: number }[] = [];
  /** Stable ids of config.rules, index for index (control API). */
  private ruleIds: number[] | null = null;
  private nextRuleId = 1;
  /** Live changes run one at a time. */
  private liveQueue: Promise<unknown> = Promise.resolve();
  /** NF processes stopped on request (their exit is not worth a warning). */
  private readonly stopRequestedPids = new Set<number>();

  constructor(opts: ManagerOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.batch = opts.batch ?? 64;
    this.chainPackets = new Float64Array(64);
    this.txDescs = new Int32Array(this.batch * 8);
    this.done = new Promise((r) => (this.doneResolve = r));
  }

  get layoutParams(): LayoutParams {
    const r = this.opts.config.region;
    return {
      ...DEFAULT_PARAMS,
      bufSize: r.bufSize,
      bufCount: r.bufCount,
      ringSize: r.ringSize,
      flowEntries: r.flowEntries,
      maxSlots: r.maxSlots,
    };
  }

  /** Creates the region, opens ports, listens, launches configured NFs and waits for them. */
  async start(): Promise<void> {
    const cfg = this.opts.config;
    const params = this.layoutParams;
    if (cfg.ports.length > params.maxPorts) throw new NetvmError('NETVM_LIMIT', `at most ${params.maxPorts} ports`);
    if (cfg.services.length > params.maxServices) throw new NetvmError('NETVM_LIMIT', `at most ${params.maxServices} services`);
    // Placement first: the ports' transmit threads and the NF processes started below inherit it.
    if (cfg.cpus !== null) {
      pinProcess(cfg.cpus, 'cpus');
      this.log.info({ cpus: formatCpuList(cfg.cpus) }, 'manager pinned');
    }
    this.region = createRegion(cfg.name, params, cfg.region.hugePages, (m) => this.log.warn(m));
    const { i32, layout } = this.region;
    this.log.info(
      { region: this.region.file, hugePages: this.region.hugePages, bytes: layout.totalSize, buffers: params.bufCount * params.segments },
      'shared region created',
    );
    this.pool = new Pool(i32, layout, 0, 1024);
    this.router = new Router(i32, this.region.f64, layout, 0, this.pool, this.batch * 4);
    this.router.onStuck = () => this.repairStuck();
    // The manager never waits on a full ring (it must keep draining tx rings): it holds the
    // packets and stops reading its inputs until they are through.
    this.router.onFull = 'hold';
    // Holding stops every input. With live inputs, allow it for bursts only: a ring that
    // cannot take what is held for 10 ms is overloaded, and its chain's excess is dropped
    // instead (router.ts). When every input can wait (files, counted generators), hold as
    // long as it takes: nothing is lost, the inputs slow down.
    const inputs = cfg.ports.filter((p) => p.input);
    this.router.waitMs = HOLD_LIVE_MS;
    this.holdForever = inputs.length > 0;
    this.classifier = new Classifier(i32, layout);
    this.reclaimer = new Reclaimer(i32, this.region.f64, layout, this.pool);
    this.sleeper = new Sleeper(i32, layout, 0);
    Atomics.store(i32, (slotOffset(layout, 0) >> 2) + S_STATE, SLOT_ACTIVE);
    i32[(slotOffset(layout, 0) >> 2) + S_PID] = process.pid;
    this.untrusted = new UntrustedNFs({
      region: this.region,
      name: cfg.name,
      batch: this.batch,
      isService: (id) => id >= 0 && id < this.services.length,
      isOutputPort: (id) => id >= 0 && id < this.ports.length && this.ports[id].output,
      onStuck: () => this.repairStuck(),
      log: (level, fields, msg) => this.log[level](fields, msg),
    });

    for (const s of cfg.services) {
      this.services.push({
        id: s.id,
        name: s.name,
        nf: s.nf.kind === 'catalog' ? s.nf.name : s.nf.path,
        mode: s.mode,
        args: s.args,
        untrusted: s.untrusted,
        ...(s.cpus !== null ? { cpus: s.cpus } : {}),
        configured: s.instances,
        slots: [],
        departed: {},
        departedCount: 0,
        restart: s.restart,
        restartDelayMs: s.restartDelayMs,
        failures: 0,
        restarts: 0,
      });
    }
    this.writeChains();
    this.classifier.setRules(cfg.rules, cfg.defaultChain);

    const access: BufferAccess = {
      u8: this.region.u8,
      i32,
      f64: this.region.f64,
      bufferOffset: (d: number) => bufferOffset(layout, d),
      headroom: params.headroom,
      dataRoom: params.bufSize - params.headroom,
      file: this.region.file,
      bufCount: params.bufCount,
      segments: params.segments,
      segmentOffset: layout.segmentOffsets[0],
      alloc: (descs, offset, count) => this.pool.alloc(descs, offset, count),
      free: (descs, offset, count) => this.pool.free(descs, offset, count),
    };
    try {
      for (const p of cfg.ports) {
        const driver = createPortDriver(p.driver, p.options as Record<string, unknown>);
        await driver.open(access);
        this.ports.push({
          id: p.id,
          name: p.name,
          driver,
          input: p.input,
          output: p.output,
          stage: new Int32Array(this.batch),
          staged: 0,
          txRing: p.output ? new Ring(i32, layout, portRingId(params, p.id), 0) : null,
          txHold: new Int32Array(p.output ? this.txDescs.length : 0),
          txHeld: 0,
          txHoldSince: 0,
          closed: false,
        });
        const pb = portOffset(layout, p.id) >> 2;
        i32[pb + P_STATE] = 1;
        i32[pb + P_LINK] = 1;
      }
      if (this.holdForever && this.ports.every((p) => !p.input || p.driver.lossless === true)) this.router.waitMs = Infinity;
      this.txHoldMs = this.router.waitMs === Infinity ? NF_WAIT_LOSSLESS_MS : NF_WAIT_LIVE_MS;
      await this.listen();
      this.startedAt = performance.now();
      for (const s of this.services) for (let k = 0; k < s.configured; k++) this.launch(s);
      await this.waitForInstances();
    } catch (err) {
      if (!this.stopping) await this.shutdown('start failed');
      throw err;
    }
    if (this.stopping) return; // stopped while starting; `done` resolves when shutdown ends
    this.running = true;
    setImmediate(() => this.loop());
  }

  private writeChains(): void {
    const { i32, layout } = this.region;
    const p = layout.params;
    i32.fill(0, chainStepI32(layout, 0, 0), chainStepI32(layout, p.maxChains, 0));
    for (const c of this.opts.config.chains) {
      if (c.steps.length >= p.maxSteps) throw new NetvmError('NETVM_LIMIT', `chain ${c.name}: at most ${p.maxSteps - 1} steps`);
      c.steps.forEach((st: ResolvedStep, k: number) => {
        const code =
          st.kind === 'service' ? (STEP_SERVICE << 24) | st.service : st.kind === 'port' ? (STEP_PORT << 24) | st.port : STEP_DROP << 24;
        i32[chainStepI32(layout, c.id, k)] = code;
      });
    }
    this.bumpEpoch();
  }

  private writeService(s: ServiceInfo): void {
    const { i32, layout } = this.region;
    const b = serviceOffset(layout, s.id) >> 2;
    s.slots.forEach((slot, k) => (i32[b + SV_SLOTS + k] = slot));
    i32[b + SV_COUNT] = s.slots.length;
  }

  private bumpEpoch(): number {
    const e = Atomics.add(this.region.i32, H_EPOCH, 1) + 1;
    this.router?.refresh();
    return e;
  }

  // ---------------------------------------------------------------- NF processes

  private launch(s: ServiceInfo): ChildProcess {
    const args = [this.opts.cliPath, 'nf', 'run', s.nf, '--service', s.name, '--name', this.opts.config.name, '--mode', s.mode];
    if (s.untrusted) args.push('--untrusted');
    if (s.cpus !== undefined) args.push('--cpus', formatCpuList(s.cpus));
    // NETVM_NF_EXEC_ARGV passes Node options to NF processes (e.g. "--cpu-prof" to profile).
    const execArgv = (process.env.NETVM_NF_EXEC_ARGV ?? '').split(' ').filter((x) => x.length > 0);
    const child = spawn(process.execPath, [...execArgv, ...args], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, NETVM_SECRET: this.secret },
    });
    this.children.add(child);
    const startedAt = performance.now();
    child.on('exit', (code, signal) => {
      this.children.delete(child);
      const requested = child.pid !== undefined && this.stopRequestedPids.delete(child.pid);
      if (!this.stopping && !requested) this.log.warn({ service: s.name, pid: child.pid, code, signal }, 'NF process exited');
      // An instance stopped through the API is not a failure, whatever its status.
      if (this.running && !this.stopping && !requested && s.restart === 'on-failure' && (code !== 0 || signal !== null)) {
        this.scheduleRestart(s, performance.now() - startedAt, code, signal);
      }
      if (!this.running && !this.stopping) {
        this.startFailure = new NetvmError(
          'NETVM_REGISTER',
          `the NF process for service "${s.name}" (${s.nf}) exited with ${signal ?? `code ${code}`} before it was ready; see its error above`,
        );
        for (const w of this.readyWaiters.splice(0)) w();
      }
    });
    return child;
  }

  private startFailure: NetvmError | null = null;
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private holdForever = false;
  /** How long a port may hold deferred packets without sending any before they are dropped (ms):
   *  as long as an NF waits for a full ring, so a dead link cannot stall `netvm run` forever. */
  private txHoldMs = NF_WAIT_LIVE_MS;
  private readonly secret = randomBytes(32).toString('hex');
  private secretFile = '';
  /** Packets lost with NFs that left: queued for them or in their hands (a drop cause). */
  reclaimedPackets = 0;

  /**
   * Supervision: starts a new instance of `s` after a failure, with exponential backoff
   * (restartDelayMs, doubling per consecutive failure, at most RESTART_MAX_MS). An instance
   * that ran RESTART_RESET_MS resets the count. The new process registers like any other and
   * takes the lowest free instance number — the failed one's — so its rendezvous key and its
   * flows come back to it.
   */
  private scheduleRestart(s: ServiceInfo, ranMs: number, code: number | null, signal: NodeJS.Signals | null): void {
    if (ranMs >= RESTART_RESET_MS) s.failures = 0;
    const delay = Math.min(RESTART_MAX_MS, s.restartDelayMs * 2 ** Math.min(s.failures, 20));
    s.failures++;
    this.log.warn({ service: s.name, code, signal, failures: s.failures, delayMs: delay }, 'restarting the NF after a failure');
    const t = setTimeout(() => {
      this.restartTimers.delete(t);
      if (!this.running || this.stopping) return;
      s.restarts++;
      this.launch(s);
    }, delay);
    this.restartTimers.add(t);
  }

  private async waitForInstances(): Promise<void> {
    const timeout = this.opts.startTimeoutMs ?? 30_000;
    const deadline = performance.now() + timeout;
    const want = (): boolean => this.services.every((s) => s.slots.length >= s.configured);
    while (!want()) {
      if (this.startFailure) throw this.startFailure;
      if (this.stopping) return; // a signal during start: stop() is already shutting down
      const left = deadline - performance.now();
      if (left <= 0) {
        const missing = this.services
          .filter((s) => s.slots.length < s.configured)
          .map((s) => `${s.name} (${s.slots.length}/${s.configured})`);
        throw new NetvmError('NETVM_REGISTER', `NFs did not register within ${timeout} ms: ${missing.join(', ')}`);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200));
        this.readyWaiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    if (this.startFailure) throw this.startFailure;
  }

  private listen(): Promise<void> {
    ensureRunDir();
    this.socketPath = controlSocketPath(this.opts.config.name);
    if (fs.existsSync(this.socketPath)) fs.rmSync(this.socketPath, { force: true }); // createRegion proved it stale
    // The per-run secret an NF must present to register (issue #6: the socket is owner-only
    // already; the secret also keeps out a process of this user that was not given it by
    // this run, such as an NF of an earlier run still trying to reconnect).
    this.secretFile = secretPath(this.opts.config.name);
    fs.rmSync(this.secretFile, { force: true });
    fs.writeFileSync(this.secretFile, this.secret + '\n', { mode: 0o600, flag: 'wx' });
    return new Promise((resolve, reject) => {
      const server = net.createServer((sock) => this.onConnection(sock));
      server.once('error', (err) =>
        reject(new NetvmError('NETVM_USAGE', `cannot listen on ${this.socketPath}: ${err.message}`, { cause: err })),
      );
      server.listen(this.socketPath, () => {
        fs.chmodSync(this.socketPath, 0o600);
        this.server = server;
        resolve();
      });
    });
  }

  private onConnection(sock: net.Socket): void {
    let info: SlotInfo | null = null;
    const reply = (m: unknown): void => {
      if (!sock.destroyed) sock.write(JSON.stringify(m) + '\n');
    };
    sock.on('error', () => {});
    sock.on(
      'data',
      lineReader(
        (raw) => {
          const m = raw as NfToManager;
          if (info === null) {
            // `netvm stats`: a one-shot query, not an NF.
            if ((m as { type: string }).type === 'stats') {
              reply({ type: 'stats', stats: snapshot(this) });
              sock.end();
              return;
            }
            if (m.type !== 'register') return reply({ type: 'error', code: 'NETVM_REGISTER', message: 'register first' });
            try {
              info = this.register(m, sock);
            } catch (err) {
              reply({ type: 'error', code: (err as NetvmError).code ?? 'NETVM_REGISTER', message: (err as Error).message });
              sock.end();
              return;
            }
            const s = this.services[info.service];
            reply({
              type: 'registered',
              slot: info.slot,
              instance: info.instance,
              region: this.opts.config.name,
              runId: 0,
              args: m.args ?? s.args,
              services: Object.fromEntries(this.services.map((x) => [x.name, x.id])),
              ports: Object.fromEntries(this.ports.map((p) => [p.name, p.id])),
              batch: this.batch,
              waitMs: this.router.waitMs === Infinity ? NF_WAIT_LOSSLESS_MS : NF_WAIT_LIVE_MS,
              ...(info.untrusted ? { exchange: info.untrusted.file } : {}),
            });
            return;
          }
          this.onNfMessage(info, m);
        },
        () => this.log.warn('bad line on the control socket'),
      ),
    );
    sock.on('close', () => {
      if (info !== null) this.onDeath(info);
    });
  }

  private register(m: RegisterRequest, socket: net.Socket): SlotInfo {
    const given = Buffer.from(typeof m.secret === 'string' ? m.secret : '');
    const want = Buffer.from(this.secret);
    if (given.length !== want.length || !timingSafeEqual(given, want)) {
      this.log.warn({ pid: m.pid, service: m.service }, 'registration refused: wrong or missing secret');
      throw new NetvmError(
        'NETVM_AUTH',
        `register: wrong or missing secret; run the NF as the manager's user (it reads ${this.secretFile}) or set NETVM_SECRET`,
      );
    }
    if (typeof m.service !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(m.service))
      throw new NetvmError('NETVM_REGISTER', 'register: service must be a name of 1-64 letters, digits, _ . -');
    let s = this.services.find((x) => x.name === m.service);
    if (s === undefined) {
      // An NF for a service the config does not name: it joins as a new service, reachable
      // with toService and by chains added later.
      if (this.services.length >= this.region.layout.params.maxServices) throw new NetvmError('NETVM_LIMIT', 'no free service ids');
      s = {
        id: this.services.length,
        name: m.service,
        nf: m.nf,
        mode: m.mode,
        args: {},
        configured: 0,
        slots: [],
        departed: {},
        departedCount: 0,
        restart: 'never', // not launched by this manager: nothing to restart
        restartDelayMs: 200,
        failures: 0,
        restarts: 0,
      };
      this.services.push(s);
      this.broadcastNames();
    }
    const { i32, layout } = this.region;
    const p = layout.params;
    if (s.slots.length >= p.maxInstances) throw new NetvmError('NETVM_LIMIT', `service ${s.name} has ${p.maxInstances} instances already`);
    let slot = -1;
    for (let k = 1; k < p.maxSlots; k++) {
      if (!this.slots.has(k) && Atomics.load(i32, (slotOffset(layout, k) >> 2) + S_STATE) === SLOT_FREE) {
        slot = k;
        break;
      }
    }
    if (slot < 0) throw new NetvmError('NETVM_LIMIT', `all ${p.maxSlots - 1} NF slots are in use (region.maxSlots)`);
    const used = new Set([...this.slots.values()].filter((x) => x.service === s.id && x.state !== 'dead').map((x) => x.instance));
    let instance = 1;
    while (used.has(instance)) instance++;
    if (s.untrusted && m.trust !== 'untrusted')
      throw new NetvmError('NETVM_REGISTER', `service ${s.name} is untrusted (trust: untrusted): run its NFs with --untrusted`);
    const proxy = m.trust === 'untrusted' ? this.untrusted.attach(slot, s.untrusted ?? UNTRUSTED_DEFAULTS) : undefined;
    const b = slotOffset(layout, slot) >> 2;
    i32.fill(0, b, b + SLOT_BYTES / 4);
    i32[b + S_PID] = m.pid;
    i32[b + S_SERVICE] = s.id;
    i32[b + S_INSTANCE] = instance;
    i32[b + S_MODE] = m.mode === 'poll' ? MODE_POLL : MODE_SHARED;
    // The rendezvous key depends on (service, instance number) only, so a restarted
    // instance gets its flows back.
    i32[b + S_KEY] = (Math.imul(s.id + 1, 0x01000193) ^ instance) | 0;
    Atomics.store(i32, b + S_STATE, 1);
    const info: SlotInfo = { slot, service: s.id, instance, pid: m.pid, nf: m.nf, mode: m.mode, socket, state: 'starting', counters: {} };
    if (proxy) info.untrusted = proxy;
    this.slots.set(slot, info);
    this.log.info({ service: s.name, instance, slot, pid: m.pid, nf: m.nf }, 'NF registered');
    return info;
  }

  private onNfMessage(info: SlotInfo, m: NfToManager): void {
    const s = this.services[info.service];
    if (m.type === 'ready' && info.state === 'starting') {
      info.state = 'active';
      Atomics.store(this.region.i32, (slotOffset(this.region.layout, info.slot) >> 2) + S_STATE, SLOT_ACTIVE);
      s.slots.push(info.slot);
      this.writeService(s);
      this.bumpEpoch();
      this.log.info({ service: s.name, instance: info.instance, slot: info.slot }, 'NF ready');
      this.emitEvent({ type: 'nf-ready', service: s.name, instance: info.instance, slot: info.slot, pid: info.pid });
      for (const w of this.readyWaiters.splice(0)) w();
    } else if (m.type === 'counters' && typeof m.counters === 'object' && m.counters !== null) {
      info.counters = m.counters;
    } else if (m.type === 'log') {
      this.log.info({ service: s.name, instance: info.instance, ...(m.fields ?? {}) }, String(m.msg));
    } else if (m.type === 'message') {
      const from = `${s.name}#${info.instance}`;
      if (m.to === undefined) this.log.info({ from, data: m.data }, 'message to the manager');
      else {
        const target = this.services.find((x) => x.name === m.to);
        for (const slot of target?.slots ?? []) {
          const t = this.slots.get(slot);
          if (t && !t.socket.destroyed) t.socket.write(JSON.stringify({ type: 'message', from, data: m.data }) + '\n');
        }
      }
    }
  }

  private broadcastNames(): void {
    const msg =
      JSON.stringify({
        type: 'names',
        services: Object.fromEntries(this.services.map((x) => [x.name, x.id])),
        ports: Object.fromEntries(this.ports.map((p) => [p.name, p.id])),
      }) + '\n';
    for (const info of this.slots.values()) if (!info.socket.destroyed) info.socket.write(msg);
  }

  /** Liveness: the NF's socket closed (exit, crash, kill -9). */
  private onDeath(info: SlotInfo): void {
    if (info.state === 'dead') return;
    const wasActive = info.state === 'active';
    info.state = 'dead';
    // An NF leaving while the manager stops is not a death.
    if (!this.stopping && info.stopRequested !== true) this.deaths++;
    const { i32, layout } = this.region;
    Atomics.store(i32, (slotOffset(layout, info.slot) >> 2) + S_STATE, SLOT_DEAD);
    if (info.untrusted) this.untrusted.detach(info.untrusted);
    const s = this.services[info.service];
    s.slots = s.slots.filter((x) => x !== info.slot);
    this.writeService(s);
    const epoch = this.bumpEpoch();
    this.reclaims.push({ slot: info.slot, epoch, since: performance.now(), repaired: false });
    const requested = this.stopping || info.stopRequested === true;
    const level = requested ? 'info' : 'warn';
    this.log[level](
      { service: s.name, instance: info.instance, slot: info.slot, pid: info.pid, wasActive, remaining: s.slots.length },
      requested ? 'NF stopped' : 'NF is gone; reclaiming its buffers',
    );
    this.emitEvent({ type: 'nf-exit', service: s.name, instance: info.instance, slot: info.slot, pid: info.pid, requested });
    this.processReclaims();
  }

  private slotAlive = (slot: number): boolean => {
    if (slot === 0) return true;
    const info = this.slots.get(slot);
    return info !== undefined && info.state !== 'dead';
  };

  /** Our own enqueue is blocked behind another process's reservation: is it dead? */
  private repairStuck(): void {
    const { i32, layout } = this.region;
    for (const info of this.slots.values()) {
      if (info.state === 'dead' || processAlive(info.pid)) continue;
      this.log.warn({ slot: info.slot, pid: info.pid }, 'NF died mid-enqueue; repairing the ring');
      Atomics.store(i32, (slotOffset(layout, info.slot) >> 2) + S_STATE, SLOT_DEAD);
      this.reclaimedPackets += this.reclaimer.repair(info.slot, (x) => x !== info.slot && this.slotAlive(x)).packets;
    }
  }

  private processReclaims(): void {
    for (let k = 0; k < this.reclaims.length; k++) {
      const r = this.reclaims[k];
      if (!r.repaired) {
        const res = this.reclaimer.repair(r.slot, (x) => x !== r.slot && this.slotAlive(x));
        if (!res.done) continue;
        this.reclaimedPackets += res.packets;
        r.repaired = true;
      }
      // A live NF stuck in its handler for 2 s holds up nothing else: reclaim anyway.
      if (!this.reclaimer.quiescent(r.slot, r.epoch) && performance.now() - r.since < 2000) continue;
      const res = this.reclaimer.reclaim(r.slot);
      this.reclaimedPackets += res.packets;
      const info = this.slots.get(r.slot);
      if (info !== undefined) {
        const c = this.slotCounters(r.slot);
        this.slots.delete(r.slot);
        if (this.stopping) {
          // Stopped with the manager: still listed (with its final counters) in the last stats.
          info.final = c;
          this.stoppedInstances.push(info);
        } else {
          const s = this.services[info.service];
          for (const [name, v] of Object.entries(c)) s.departed[name] = (s.departed[name] ?? 0) + v;
          s.departedCount++;
        }
      }
      const { i32, layout } = this.region;
      const b = slotOffset(layout, r.slot) >> 2;
      i32.fill(0, b, b + SLOT_BYTES / 4);
      Atomics.store(i32, b + S_STATE, SLOT_FREE);
      if (res.drained + res.inFlight > 0 || !this.stopping)
        this.log.info({ slot: r.slot, fromRing: res.drained, inFlight: res.inFlight, packets: res.packets }, 'buffers reclaimed');
      this.reclaims.splice(k--, 1);
    }
  }

  slotCounters(slot: number): Record<string, number> {
    const { f64, layout } = this.region;
    const c0 = slotCountersF64(layout, slot);
    const out: Record<string, number> = {};
    NF_COUNTERS.forEach((name, i) => (out[name] = f64[c0 + i]));
    return out;
  }

  // ---------------------------------------------------------------- data path

  private loop(): void {
    if (!this.running) return;
    const { u8, i32, f64, layout } = this.region;
    const start = performance.now();
    let now = start;
    let iter = 0;
    let idle = 0;
    const router = this.router;
    const cls = this.classifier;
    const pool = this.pool;
    const txDescs = this.txDescs;
    const ports = this.ports;
    const chainPackets = this.chainPackets;
    const mgrCounters = slotCountersF64(layout, 0);
    for (;;) {
      router.refresh();
      let work = 0;
      // Backpressure: while packets wait for room in a full ring, read no more input.
      const hold = router.held > 0;
      for (let pi = 0; pi < ports.length; pi++) {
        const p = ports[pi];
        if (!p.input || p.closed || hold) continue;
        const pc = portCountersF64(layout, p.id);
        if (p.driver.exhausted()) {
          if (p.staged > 0) {
            pool.free(p.stage, 0, p.staged);
            p.staged = 0;
          }
          continue;
        }
        if (p.staged < p.stage.length) {
          const want = p.stage.length - p.staged;
          const got = pool.alloc(p.stage, p.staged, want);
          p.staged += got;
          if (got < want) f64[pc + PC_RX_NOBUF] += want - got;
        }
        const n = p.driver.rxBurst(p.stage, p.staged, now);
        if (n <= 0) continue;
        let bytes = 0;
        for (let k = 0; k < n; k++) {
          const d = p.stage[k];
          const m = bufferOffset(layout, d) >> 2;
          const len = i32[m + M_LEN];
          bytes += len;
          const chain = cls.classify(u8, (m << 2) + i32[m + M_DATA_OFF], len, p.id, (i32[m + M_FLAGS] & FLAG_HASH) !== 0, i32[m + M_HASH]);
          i32[m + M_HASH] = cls.lastHash;
          i32[m + M_CHAIN] = chain;
          i32[m + M_STEP] = -1;
          i32[m + M_ACTION] = ACTION_NEXT;
          i32[m + M_INPORT] = p.id;
          if (chain >= 0) chainPackets[chain]++;
          else f64[pc + PC_RX_NOROUTE]++;
          router.route(d);
        }
        // Keep the unfilled buffers for the next burst.
        p.stage.copyWithin(0, n, p.staged);
        p.staged -= n;
        f64[pc + PC_RX] += n;
        f64[pc + PC_RX_BYTES] += bytes;
        work += n;
      }
      router.flush();
      work += this.untrusted.poll(now);
      let txHeld = 0;
      for (let pi = 0; pi < ports.length; pi++) {
        const p = ports[pi];
        if (p.txRing === null) continue;
        if (p.txHeld > 0) {
          // Deferred by a full device queue: those go first, and nothing newer until they have.
          const before = p.txHeld;
          p.txHeld = this.transmit(p, p.txHold, before, now, true);
          work += before - p.txHeld;
          if (p.txHeld > 0) {
            if (p.txHeld < before) p.txHoldSince = now;
            else if (now - p.txHoldSince > this.txHoldMs) {
              // No progress for that long (a link that is down, a stalled device): drop them.
              f64[portCountersF64(layout, p.id) + PC_TX_ERRORS] += p.txHeld;
              pool.free(p.txHold, 0, p.txHeld);
              work += p.txHeld;
              p.txHeld = 0;
            }
            txHeld += p.txHeld;
            continue;
          }
        }
        const n = p.txRing.dequeue(txDescs, 0, txDescs.length, 0);
        if (n === 0) continue;
        const d = this.transmit(p, txDescs, n, now, true);
        if (d > 0) {
          for (let k = 0; k < d; k++) p.txHold[k] = txDescs[k];
          p.txHeld = d;
          p.txHoldSince = now;
          txHeld += d;
        }
        work += n - d;
      }
      if (work === 0 && router.held === 0 && txHeld === 0) {
        if (++idle >= IDLE_BEFORE_SLEEP) break;
      } else {
        idle = 0;
        // Held back behind a full ring, or a device's full queue: give the core to whoever
        // must drain it (an NF, a port's transmit thread, the kernel).
        if (work === 0) native.schedYield();
      }
      if ((++iter & 31) === 0) {
        now = performance.now();
        if (now - start > SLICE_MS) break;
      }
    }
    void mgrCounters;
    if (this.reclaims.length > 0) this.processReclaims();
    if (this.opts.exitWhenDone && this.finished()) {
      void this.stop('inputs exhausted and every buffer is back in the pool');
      return;
    }
    if (idle >= IDLE_BEFORE_SLEEP) {
      // Nothing to do: sleep until an NF puts something in a port tx ring, or a rate-limited
      // input is due, or 20 ms pass (so the event loop runs).
      let until = 20;
      for (const p of ports) {
        if (!p.input || p.closed || p.driver.exhausted()) continue;
        const due = p.driver.nextDue?.() ?? 0;
        until = Math.min(until, Math.max(0, due - performance.now()));
      }
      // Untrusted NFs cannot wake the manager (they do not map the region): while one holds
      // packets, come back within a millisecond to collect or expire them.
      if (this.untrusted.busy()) until = Math.min(until, 1);
      if (until >= MIN_SLEEP_MS) this.sleeper.sleep(() => this.txPending(), until);
    }
    setImmediate(() => this.loop());
  }

  /** Offers descs[0..n) to the port and counts and frees what it took or rejected. Returns
   *  how many it deferred (with `hold`; else they count as errors too), moved to descs[0..d). */
  private transmit(p: PortRuntime, descs: Int32Array, n: number, now: number, hold: boolean): number {
    const { i32, f64, layout } = this.region;
    const sent = p.driver.txBurst(descs, n, now);
    const pc = portCountersF64(layout, p.id);
    let bytes = p.driver.txSentBytes;
    if (bytes === undefined) {
      bytes = 0;
      for (let k = 0; k < sent; k++) bytes += i32[(bufferOffset(layout, descs[k]) >> 2) + M_LEN];
    }
    f64[pc + PC_TX] += sent;
    f64[pc + PC_TX_BYTES] += bytes;
    const left = n - sent;
    let d = hold ? (p.driver.txDeferred ?? 0) : 0;
    if (!(d > 0)) d = 0;
    else if (d > left) d = left;
    if (left > d) f64[pc + PC_TX_ERRORS] += left - d;
    this.pool.free(descs, 0, n - d);
    if (d > 0) descs.copyWithin(0, n - d, n);
    return d;
  }

  private txPending(): boolean {
    for (const p of this.ports) if (p.txRing !== null && p.txRing.count() > 0) return true;
    return this.untrusted.hasWork();
  }

  /** Free buffers: the pool ring plus every process's pool cache. */
  poolFree(): number {
    const { i32, layout } = this.region;
    let free = ringOccupancy(i32, layout, POOL_RING);
    for (let s = 0; s < layout.params.maxSlots; s++) free += i32[(slotOffset(layout, s) >> 2) + S_CACHE];
    return free;
  }

  poolSize(): number {
    const p = this.region.layout.params;
    return p.bufCount * p.segments;
  }

  private finished(): boolean {
    for (const p of this.ports) if (p.input && !p.driver.exhausted()) return false;
    for (const p of this.ports) if (p.staged > 0 || p.txHeld > 0) return false;
    if (this.router.held > 0) return false;
    if (this.reclaims.length > 0) return false;
    return this.poolFree() + this.driverHeldBuffers() === this.poolSize();
  }

  /** Pool buffers open port drivers hold that are not packets (afxdp's fill ring and spares). */
  private driverHeldBuffers(): number {
    let n = 0;
    for (const p of this.ports) if (!p.closed) n += p.driver.heldBuffers?.() ?? 0;
    return n;
  }

  uptimeSeconds(): number {
    return ((this.stoppedAt || performance.now()) - this.startedAt) / 1000;
  }

  // ---------------------------------------------------------------- shutdown

  /** Stops NFs, drains what is in flight, closes ports, removes the region. */
  async stop(reason: string): Promise<void> {
    if (this.stopping) return;
    this.log.info({ reason }, 'stopping');
    for (const w of this.readyWaiters.splice(0)) w(); // a start() waiting for NFs stops waiting
    await this.shutdown(reason);
  }

  private async shutdown(reason: string): Promise<void> {
    this.stopping = true;
    for (const t of this.restartTimers) clearTimeout(t);
    this.restartTimers.clear();
    this.running = false;
    if (this.router) this.router.stopping = true;
    this.stoppedAt = performance.now();
    if (this.region) {
      const { i32 } = this.region;
      Atomics.store(i32, H_STATE, REGION_STATE_STOPPING);
      for (const info of this.slots.values()) {
        if (!info.socket.destroyed) info.socket.write(JSON.stringify({ type: 'stop' }) + '\n');
        // Wake sleepers so they see the stop now.
        new Sleeper(i32, this.region.layout, info.slot).wake();
      }
      const deadline = performance.now() + 3000;
      // Wait for every NF to leave and its process to exit (it may still be writing files).
      while (([...this.slots.values()].some((x) => x.state !== 'dead') || this.children.size > 0) && performance.now() < deadline) {
        this.untrusted.drainReturns();
        this.drainTx();
        await new Promise((r) => setTimeout(r, 10));
      }
      for (const c of this.children) c.kill('SIGKILL');
      for (const info of this.slots.values()) if (info.state !== 'dead') info.socket.destroy();
      await new Promise((r) => setTimeout(r, 20));
      this.drainTx();
      // Every NF is gone now: reclaim without waiting for quiescence.
      for (const r of this.reclaims) r.since = -1e9;
      for (let k = 0; k < 50 && this.reclaims.length > 0; k++) {
        this.processReclaims();
        if (this.reclaims.length > 0) await new Promise((r) => setTimeout(r, 10));
      }
      this.router.dropHeld();
      this.untrusted.closeAll();
      for (const p of this.ports) {
        if (p.staged > 0) this.pool.free(p.stage, 0, p.staged);
        p.staged = 0;
      }
      // No NF is left: whatever is still queued in a ring can never be taken.
      const swept = this.reclaimer.sweepRings();
      for (const n of swept.values()) this.reclaimedPackets += n;
      if (swept.size > 0) this.log.warn({ rings: Object.fromEntries(swept) }, 'freed buffers left in rings at exit');
      // Ports close before the audit: a driver that lent pool buffers to the kernel (afxdp)
      // gives them back when it closes.
      await this.closePorts();
      this.pool.flush();
      const audit = this.reclaimer.audit();
      if (audit.missing > 0) this.log.error({ ...audit }, 'buffers not back in the pool at exit, by last owner slot');
    }
    await this.closePorts();
    if (this.server) {
      this.server.close();
      fs.rmSync(this.socketPath, { force: true });
      if (this.secretFile) fs.rmSync(this.secretFile, { force: true });
    }
    this.doneResolve(reason);
  }

  private async closePorts(): Promise<void> {
    for (const p of this.ports) {
      if (p.closed) continue;
      p.closed = true;
      try {
        await p.driver.close();
      } catch (err) {
        this.log.error({ port: p.name, err: (err as Error).message }, 'closing port failed');
      }
    }
  }

  /** Removes the region file; called after the final stats are read. */
  release(): void {
    if (this.region) removeRegion(this.region);
  }

  /** Sends what NFs left in port tx rings during shutdown (counted like normal traffic; what a
   *  full device queue does not take now counts as a transmit error). */
  private drainTx(): void {
    for (const p of this.ports) {
      if (p.txRing === null || p.closed) continue;
      if (p.txHeld > 0) {
        this.transmit(p, p.txHold, p.txHeld, performance.now(), false);
        p.txHeld = 0;
      }
      for (;;) {
        const n = p.txRing.dequeue(this.txDescs, 0, this.txDescs.length, 0);
        if (n === 0) break;
        this.transmit(p, this.txDescs, n, performance.now(), false);
      }
    }
  }

  /** Info for stats: live and departed instances per service. */
  serviceInstances(s: ServiceInfo): SlotInfo[] {
    return [...this.slots.values(), ...this.stoppedInstances].filter((x) => x.service === s.id);
  }

  slotsInfo(): Map<number, SlotInfo> {
    return this.slots;
  }

  managerDropsNoRoute(): number {
    return this.region.f64[slotCountersF64(this.region.layout, 0) + C_DROP_NO_ROUTE];
  }

  managerDropsRingFull(): number {
    return this.region.f64[slotCountersF64(this.region.layout, 0) + C_DROP_RING_FULL];
  }

  /** Buffers input ports hold allocated for their next burst, and those drivers hold while
   *  open (afxdp's fill ring and spares): in use, but not packets. */
  stagedBuffers(): number {
    let n = 0;
    for (const p of this.ports) n += p.staged;
    return n + this.driverHeldBuffers();
  }

  classifierStats(): { flows: number; hits: number; misses: number } {
    const c = this.classifier;
    return { flows: c.flowCount(), hits: c.hits, misses: c.misses };
  }

  ringOccupancy(slot: number): number {
    return ringOccupancy(this.region.i32, this.region.layout, nfRingId(slot));
  }

  // ---------------------------------------------------------------- live changes (control API)
  // Every change below applies while traffic flows and loses no buffer. The manager rewrites
  // the service map or the chain table in the region and bumps the epoch; what a process that
  // has not yet seen the new epoch may still use (an instance's ring, a chain id) stays valid
  // until every process has moved past it (Reclaimer.quiescent), as when an NF dies.

  /** Between a completed start() and stop(): live changes are accepted. */
  get accepting(): boolean {
    return this.running && !this.stopping;
  }

  private emitEvent(e: { type: string } & Record<string, unknown>): void {
    this.events.emit('event', { time: new Date().toISOString(), ...e });
  }

  /** Runs live changes one at a time, and only while the manager runs. */
  private serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.liveQueue.then(() => {
      if (!this.accepting) throw new NetvmError('NETVM_NOT_READY', 'the manager is not running (it is starting or stopping); retry');
      return fn();
    });
    this.liveQueue = run.catch(() => {});
    return run;
  }

  serviceByName(name: string): ServiceInfo {
    const s = this.services.find((x) => x.name === name);
    if (s === undefined)
      throw new NetvmError(
        'NETVM_UNKNOWN_SERVICE',
        `no service "${name}" (services: ${this.services.map((x) => x.name).join(', ') || 'none'})`,
      );
    return s;
  }

  /** Instances of a service that run and are not being stopped. */
  liveInstances(s: ServiceInfo): SlotInfo[] {
    return [...this.slots.values()].filter((x) => x.service === s.id && x.state !== 'dead' && x.stopRequested !== true);
  }

  /**
   * Starts one more instance of `service` and resolves when it is ready. A service the
   * manager does not know is created first; then `nf` (a catalog name or a module path) is
   * required, and `mode` and `args` apply to all its instances.
   */
  startInstance(
    service: string,
    opts: { nf?: string; mode?: 'shared' | 'poll'; args?: Record<string, unknown> } = {},
  ): Promise<{ service: string; instance: number; slot: number; pid: number }> {
    return this.serial(async () => {
      let s = this.services.find((x) => x.name === service);
      if (s === undefined) s = this.addService(service, opts);
      else {
        const fixed = (['mode', 'args'] as const).filter((k) => opts[k] !== undefined);
        if (opts.nf !== undefined && this.resolveNf(opts.nf) !== s.nf)
          throw new NetvmError(
            'NETVM_CONFLICT',
            `service "${service}" runs NF ${s.nf}, not ${opts.nf}; leave nf out, or name a new service`,
          );
        if (fixed.length > 0)
          throw new NetvmError(
            'NETVM_CONFLICT',
            `service "${service}" exists: its ${fixed.join(' and ')} are set when it is created; leave them out to start another instance`,
          );
      }
      this.checkRoomFor(s, 1);
      const r = await this.launchAndWait(s);
      s.configured = this.liveInstances(s).length;
      return r;
    });
  }

  /**
   * Stops one instance without dropping its packets: it leaves the service map first (its
   * flows move to the other instances), drains its ring once no process can still route to
   * it, then exits; onDeath reclaims anything it still held.
   */
  stopInstance(service: string, instance: number): Promise<{ service: string; instance: number; pid: number; drained: boolean }> {
    return this.serial(() => this.stopOne(this.serviceByName(service), instance));
  }

  /** Starts or stops instances (the highest instance numbers first) until `count` run. */
  scaleService(service: string, count: number): Promise<{ service: string; instances: number; started: number[]; stopped: number[] }> {
    return this.serial(async () => {
      const s = this.serviceByName(service);
      const max = this.region.layout.params.maxInstances;
      if (!Number.isInteger(count) || count < 0 || count > max)
        throw new NetvmError('NETVM_BAD_REQUEST', `instances must be an integer 0..${max} (got ${count})`);
      const live = this.liveInstances(s).sort((a, b) => a.instance - b.instance);
      const started: number[] = [];
      const stopped: number[] = [];
      if (count > live.length) {
        this.checkRoomFor(s, count - live.length);
        const all = await Promise.allSettled(Array.from({ length: count - live.length }, () => this.launchAndWait(s)));
        for (const r of all) if (r.status === 'fulfilled') started.push(r.value.instance);
        const failed = all.find((r) => r.status === 'rejected');
        if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
      } else {
        for (const x of live.slice(count).reverse()) stopped.push((await this.stopOne(s, x.instance)).instance);
      }
      s.configured = count;
      this.emitEvent({ type: 'scaled', service: s.name, instances: count });
      return { service: s.name, instances: this.liveInstances(s).length, started, stopped };
    });
  }

  private checkRoomFor(s: ServiceInfo, n: number): void {
    const p = this.region.layout.params;
    const have = [...this.slots.values()].filter((x) => x.service === s.id && x.state !== 'dead').length;
    if (have + n > p.maxInstances)
      throw new NetvmError('NETVM_LIMIT', `service "${s.name}" would have ${have + n} instances; at most ${p.maxInstances}`);
    const used = [...this.slots.values()].length + this.reclaims.length;
    if (used + n > p.maxSlots - 1) throw new NetvmError('NETVM_LIMIT', `all ${p.maxSlots - 1} NF slots are in use (region.maxSlots)`);
  }

  private addService(name: string, opts: { nf?: string; mode?: 'shared' | 'poll'; args?: Record<string, unknown> }): ServiceInfo {
    if (!new RegExp(ENTRY_NAME_PATTERN).test(name))
      throw new NetvmError('NETVM_BAD_REQUEST', `service name "${name}": 1 to 64 letters, digits, "_", "." or "-", and not all digits`);
    if (name === 'drop' || this.ports.some((p) => p.name === name))
      throw new NetvmError(
        'NETVM_CONFLICT',
        `"${name}" is ${name === 'drop' ? 'reserved' : 'a port'}; services and ports share one namespace`,
      );
    if (opts.nf === undefined)
      throw new NetvmError(
        'NETVM_UNKNOWN_SERVICE',
        `no service "${name}" (services: ${this.services.map((x) => x.name).join(', ') || 'none'}); to create it, give the NF to run (nf)`,
      );
    if (this.services.length >= Math.min(this.region.layout.params.maxServices, LIMITS.services))
      throw new NetvmError('NETVM_LIMIT', 'no free service ids');
    const s: ServiceInfo = {
      id: this.services.length,
      name,
      nf: this.resolveNf(opts.nf),
      mode: opts.mode ?? 'shared',
      args: opts.args ?? {},
      configured: 0,
      slots: [],
      departed: {},
      departedCount: 0,
      restart: 'never',
      restartDelayMs: 200,
      failures: 0,
      restarts: 0,
    };
    this.services.push(s);
    this.writeService(s);
    this.bumpEpoch();
    this.broadcastNames();
    this.log.info({ service: name, nf: s.nf, mode: s.mode }, 'service added');
    this.emitEvent({ type: 'service-added', service: name, nf: s.nf });
    return s;
  }

  /** A catalog NF name as it is, a module path made absolute (relative to the config file). */
  private resolveNf(spec: string): string {
    if (CATALOG_NAME_RE.test(spec) && !/\.(ts|js|mjs)$/.test(spec)) {
      const names = catalogNames();
      if (!names.includes(spec))
        throw new NetvmError('NETVM_NF_LOAD', `unknown NF "${spec}" (catalog: ${names.join(', ')}; or give the path of a .ts/.js module)`);
      return spec;
    }
    const base = this.opts.config.file !== null ? path.dirname(this.opts.config.file) : process.cwd();
    const file = path.resolve(base, spec);
    let isFile: boolean;
    try {
      isFile = fs.statSync(file).isFile();
    } catch {
      isFile = false;
    }
    if (!isFile) throw new NetvmError('NETVM_NF_LOAD', `NF module ${file} does not exist`);
    return file;
  }

  private launchAndWait(s: ServiceInfo, timeoutMs = 30_000): Promise<{ service: string; instance: number; slot: number; pid: number }> {
    const child = this.launch(s);
    return new Promise((resolve, reject) => {
      const onEvent = (e: { type: string; pid?: number; instance?: number; slot?: number }): void => {
        if (e.type !== 'nf-ready' || e.pid !== child.pid) return;
        done();
        resolve({ service: s.name, instance: e.instance ?? 0, slot: e.slot ?? 0, pid: e.pid ?? 0 });
      };
      const onExit = (code: number | null, signal: string | null): void => {
        done();
        reject(
          new NetvmError(
            'NETVM_REGISTER',
            `the NF process for service "${s.name}" (${s.nf}) exited with ${signal ?? `code ${code}`} before it was ready; see the manager's log`,
          ),
        );
      };
      const timer = setTimeout(() => {
        done();
        child.kill('SIGKILL');
        reject(new NetvmError('NETVM_REGISTER', `the NF process for service "${s.name}" was not ready within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.events.off('event', onEvent);
        child.off('exit', onExit);
      };
      this.events.on('event', onEvent);
      child.once('exit', onExit);
    });
  }

  private async stopOne(s: ServiceInfo, instance: number): Promise<{ service: string; instance: number; pid: number; drained: boolean }> {
    const info = [...this.slots.values()].find((x) => x.service === s.id && x.instance === instance && x.state !== 'dead');
    if (info === undefined || info.stopRequested === true) {
      const running = this.liveInstances(s).map((x) => x.instance);
      throw new NetvmError(
        'NETVM_UNKNOWN_INSTANCE',
        `service "${s.name}" has no running instance ${instance} (running: ${running.join(', ') || 'none'})`,
      );
    }
    info.stopRequested = true;
    this.stopRequestedPids.add(info.pid);
    const { i32, layout } = this.region;
    // 1. Out of the service map: new packets of its flows go to the other instances.
    if (s.slots.includes(info.slot)) {
      s.slots = s.slots.filter((x) => x !== info.slot);
      this.writeService(s);
    }
    const epoch = this.bumpEpoch();
    this.log.info({ service: s.name, instance, slot: info.slot, pid: info.pid }, 'stopping NF instance');
    this.emitEvent({ type: 'nf-stopping', service: s.name, instance, slot: info.slot, pid: info.pid });
    // 2. Once every process routes by the new map, nothing more enters its ring; it keeps
    //    working through what is there.
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    const drainBy = performance.now() + 2000;
    while (info.state !== 'dead' && performance.now() < drainBy) {
      if (this.reclaimer.quiescent(info.slot, epoch) && this.ringOccupancy(info.slot) === 0) break;
      await sleep(5);
    }
    const drained = info.state === 'dead' || this.ringOccupancy(info.slot) === 0;
    // 3. Stop: it finishes its batch, returns its pool cache and closes its socket.
    if (!info.socket.destroyed) info.socket.write(JSON.stringify({ type: 'stop' }) + '\n');
    new Sleeper(i32, layout, info.slot).wake();
    const gone = (): boolean => this.slots.get(info.slot) !== info;
    const exitBy = performance.now() + 3000;
    while (!gone() && performance.now() < exitBy) await sleep(10);
    if (!gone()) {
      this.log.warn({ service: s.name, instance, pid: info.pid }, 'NF did not stop within 3 s; killing it');
      try {
        process.kill(info.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      const killBy = performance.now() + 3000;
      while (!gone() && performance.now() < killBy) await sleep(10);
    }
    s.configured = this.liveInstances(s).length;
    return { service: s.name, instance, pid: info.pid, drained };
  }

  // -------- chains

  /**
   * Creates or replaces chain `name` (steps: service names, output port names, `drop`).
   * A replaced chain gets a new id: packets already on their way finish the old steps, new
   * flows take the new ones. The new row is written and every process has seen it before the
   * classifier hands out its id; the flow table is emptied so every flow is classified again.
   */
  setChain(name: string, steps: readonly string[]): Promise<{ name: string; id: number; created: boolean; steps: string[] }> {
    return this.serial(async () => {
      if (!new RegExp(ENTRY_NAME_PATTERN).test(name))
        throw new NetvmError('NETVM_BAD_REQUEST', `chain name "${name}": 1 to 64 letters, digits, "_", "." or "-", and not all digits`);
      const resolved = this.resolveSteps(name, steps);
      const cfg = this.opts.config;
      const old = cfg.chains.find((c) => c.name === name);
      if (old === undefined && cfg.chains.length >= Math.min(LIMITS.chains, this.region.layout.params.maxChains))
        throw new NetvmError('NETVM_LIMIT', `at most ${LIMITS.chains} chains`);
      const id = this.allocChainId();
      this.writeChainRow(id, resolved);
      const epoch = this.bumpEpoch();
      await this.waitQuiescent(epoch);
      if (this.stopping) throw new NetvmError('NETVM_NOT_READY', 'the manager is stopping');
      const chain: ResolvedChain = { name, id, steps: resolved };
      if (old !== undefined) {
        cfg.chains[cfg.chains.indexOf(old)] = chain;
        this.chainPackets[id] = this.chainPackets[old.id];
      } else {
        cfg.chains.push(chain);
        this.chainPackets[id] = 0;
      }
      for (const r of cfg.rules) if (r.chainName === name) r.chain = id;
      if (name === 'default') cfg.defaultChain = id;
      this.classifier.setRules(cfg.rules, cfg.defaultChain);
      if (old !== undefined) this.retireChain(old.id);
      const names = resolved.map((st) => (st.kind === 'drop' ? 'drop' : st.name));
      this.log.info({ chain: name, id, steps: names, replaced: old !== undefined }, old ? 'chain replaced' : 'chain added');
      this.emitEvent({ type: old ? 'chain-replaced' : 'chain-added', chain: name, steps: names });
      return { name, id, created: old === undefined, steps: names };
    });
  }

  /** Removes a chain no rule uses. Removing `default` drops (and counts) unmatched packets. */
  removeChain(name: string): Promise<{ name: string; packets: number }> {
    return this.serial(() => {
      const cfg = this.opts.config;
      const old = cfg.chains.find((c) => c.name === name);
      if (old === undefined)
        throw new NetvmError('NETVM_UNKNOWN_CHAIN', `no chain "${name}" (chains: ${cfg.chains.map((c) => c.name).join(', ') || 'none'})`);
      const ids = this.ensureRuleIds();
      const users = cfg.rules.flatMap((r, i) => (r.chainName === name ? [ids[i]] : []));
      if (users.length > 0)
        throw new NetvmError(
          'NETVM_CONFLICT',
          `chain "${name}" is used by rule${users.length > 1 ? 's' : ''} ${users.join(', ')}; remove ${users.length > 1 ? 'them' : 'it'} first`,
        );
      cfg.chains = cfg.chains.filter((c) => c !== old);
      if (name === 'default') cfg.defaultChain = -1;
      this.classifier.setRules(cfg.rules, cfg.defaultChain);
      this.retireChain(old.id);
      this.log.info({ chain: name }, 'chain removed');
      this.emitEvent({ type: 'chain-removed', chain: name });
      return { name, packets: this.chainPackets[old.id] };
    });
  }

  private resolveSteps(chain: string, steps: readonly string[]): ResolvedStep[] {
    if (!Array.isArray(steps) || steps.length < 1 || steps.length > LIMITS.steps)
      throw new NetvmError('NETVM_BAD_REQUEST', `chains.${chain}: 1 to ${LIMITS.steps} steps (got ${steps?.length ?? 0})`);
    const out: ResolvedStep[] = [];
    const valid = [...this.services.map((s) => s.name), ...this.ports.filter((p) => p.output).map((p) => p.name), 'drop'];
    steps.forEach((st, i) => {
      const at = `chains.${chain}[${i}]`;
      const prev = out[out.length - 1];
      if (prev !== undefined && prev.kind !== 'service')
        throw new NetvmError(
          'NETVM_BAD_REQUEST',
          `${at}: unreachable: the step before (${prev.kind === 'drop' ? 'drop' : `port ${prev.name}`}) ends the chain`,
        );
      const svc = this.services.find((s) => s.name === st);
      const port = this.ports.find((p) => p.name === st);
      if (st === 'drop') out.push({ kind: 'drop' });
      else if (svc !== undefined) out.push({ kind: 'service', service: svc.id, name: st });
      else if (port !== undefined && port.output) out.push({ kind: 'port', port: port.id, name: st });
      else if (port !== undefined) throw new NetvmError('NETVM_BAD_REQUEST', `${at}: port "${st}" cannot be a step: it does not transmit`);
      else throw new NetvmError('NETVM_BAD_REQUEST', `${at}: unknown step "${String(st)}" (valid: ${valid.join(', ')})`);
    });
    return out;
  }

  private writeChainRow(id: number, steps: readonly ResolvedStep[]): void {
    const { i32, layout } = this.region;
    i32.fill(0, chainStepI32(layout, id, 0), chainStepI32(layout, id + 1, 0));
    steps.forEach((st, k) => {
      i32[chainStepI32(layout, id, k)] =
        st.kind === 'service' ? (STEP_SERVICE << 24) | st.service : st.kind === 'port' ? (STEP_PORT << 24) | st.port : STEP_DROP << 24;
    });
  }

  private retireChain(id: number): void {
    const epoch = this.bumpEpoch();
    this.retiredChains.push({ id, epoch, since: performance.now() });
  }

  /** A chain id no packet carries: one never used, else the oldest retired one that is safe. */
  private allocChainId(): number {
    const max = Math.min(this.region.layout.params.maxChains, this.chainPackets.length);
    const busy = new Set([...this.opts.config.chains.map((c) => c.id), ...this.retiredChains.map((r) => r.id)]);
    for (let id = 0; id < max; id++) if (!busy.has(id)) return id;
    for (let k = 0; k < this.retiredChains.length; k++) {
      const r = this.retiredChains[k];
      if (!this.chainIdUnused(r)) continue;
      this.retiredChains.splice(k, 1);
      return r.id;
    }
    throw new NetvmError('NETVM_LIMIT', `all ${max} chain ids are in use or still carried by packets in flight; retry in a second`);
  }

  /**
   * A retired id can be reused when every process has seen its retirement, a second has
   * passed (packets cross a chain in microseconds), the manager holds no packet and no NF
   * ring holds a packet that carries it.
   */
  private chainIdUnused(r: { id: number; epoch: number; since: number }): boolean {
    if (performance.now() - r.since < 1000 || this.router.held > 0 || !this.reclaimer.quiescent(0, r.epoch)) return false;
    const { i32, layout } = this.region;
    let found = false;
    for (let slot = 1; slot < layout.params.maxSlots && !found; slot++) {
      new Ring(i32, layout, nfRingId(slot), 0).forEachQueued((d) => {
        if (i32[(bufferOffset(layout, d) >> 2) + M_CHAIN] === r.id) found = true;
      });
    }
    return !found;
  }

  /** Waits (at most 2 s) until every active process has refreshed past `epoch`. */
  private async waitQuiescent(epoch: number): Promise<boolean> {
    const deadline = performance.now() + 2000;
    while (!this.reclaimer.quiescent(0, epoch)) {
      if (performance.now() > deadline || this.stopping) {
        this.log.warn({ epoch }, 'an NF did not refresh its tables within 2 s; applying the change anyway');
        return false;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    return true;
  }

  // -------- rules

  private ensureRuleIds(): number[] {
    if (this.ruleIds === null) {
      this.ruleIds = this.opts.config.rules.map((_, i) => i + 1);
      this.nextRuleId = this.ruleIds.length + 1;
    }
    return this.ruleIds;
  }

  /** The rules in evaluation order, with their stable ids. */
  ruleList(): { id: number; rule: ResolvedRule }[] {
    const ids = this.ensureRuleIds();
    return this.opts.config.rules.map((rule, i) => ({ id: ids[i], rule }));
  }

  /**
   * Inserts a rule at `position` (default: last). The classifier's flow table is emptied, so
   * flows already classified are matched again against the new rules.
   */
  addRule(rule: { match: ResolvedRule['match']; chainName: string }, position?: number): Promise<{ id: number; position: number }> {
    return this.serial(() => {
      const cfg = this.opts.config;
      const chain = cfg.chains.find((c) => c.name === rule.chainName);
      if (chain === undefined)
        throw new NetvmError(
          'NETVM_BAD_REQUEST',
          `chain: unknown chain "${rule.chainName}" (chains: ${cfg.chains.map((c) => c.name).join(', ') || 'none'})`,
        );
      if (cfg.rules.length >= 1024) throw new NetvmError('NETVM_LIMIT', 'at most 1024 rules');
      const pos = position ?? cfg.rules.length;
      if (!Number.isInteger(pos) || pos < 0 || pos > cfg.rules.length)
        throw new NetvmError('NETVM_BAD_REQUEST', `position must be 0..${cfg.rules.length} (got ${pos})`);
      const ids = this.ensureRuleIds();
      const id = this.nextRuleId++;
      cfg.rules.splice(pos, 0, { match: rule.match, chain: chain.id, chainName: chain.name });
      ids.splice(pos, 0, id);
      this.classifier.setRules(cfg.rules, cfg.defaultChain);
      this.log.info({ rule: id, position: pos, chain: chain.name }, 'rule added');
      this.emitEvent({ type: 'rule-added', rule: id, position: pos, chain: chain.name });
      return { id, position: pos };
    });
  }

  removeRule(id: number): Promise<{ id: number }> {
    return this.serial(() => {
      const ids = this.ensureRuleIds();
      const i = ids.indexOf(id);
      if (i < 0) throw new NetvmError('NETVM_UNKNOWN_RULE', `no rule ${id} (rules: ${ids.join(', ') || 'none'})`);
      const cfg = this.opts.config;
      cfg.rules.splice(i, 1);
      ids.splice(i, 1);
      this.classifier.setRules(cfg.rules, cfg.defaultChain);
      this.log.info({ rule: id }, 'rule removed');
      this.emitEvent({ type: 'rule-removed', rule: id });
      return { id };
    });
  }
}

export type { SlotInfo, ServiceInfo, PortRuntime };
