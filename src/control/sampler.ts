// Rate samples: once a second the control plane takes a counter snapshot (stats.ts) and turns
// the difference from the previous one into rates — what the event stream, the dashboard's
// charts and `netvm top` show. The last minutes are kept for clients that connect later.
import { EventEmitter } from 'node:events';
import type { InstanceStats, StatsSnapshot } from '../manager/stats.js';

export interface DropRates {
  /** NF verdicts (drop action, or a chain's `drop` step). */
  action: number;
  /** A full ring with backpressure off, or a wait that timed out. */
  ringFull: number;
  /** No instance of the next service, or a chain ran out. */
  noRoute: number;
  invalid: number;
  handlerErrors: number;
  /** Input ports: no free buffer in the pool. */
  noBuffer: number;
  /** Input ports: no chain for the packet (no rule matched and no default chain). */
  unclassified: number;
}

export interface InstanceSample {
  service: string;
  instance: number;
  slot: number;
  pid: number;
  mode: string;
  state: string;
  rxPps: number;
  txPps: number;
  dropPps: number;
  drops: Omit<DropRates, 'noBuffer' | 'unclassified'>;
  wakeupsPs: number;
  /** Ring occupancy over capacity, 0..1. */
  ringFill: number;
  asleep: boolean;
}

export interface PortSample {
  driver: string;
  rxPps: number;
  txPps: number;
  rxBps: number;
  txBps: number;
  noBufferPs: number;
  unclassifiedPs: number;
}

export interface RateSample {
  /** Milliseconds since the epoch. */
  t: number;
  uptimeSeconds: number;
  ports: Record<string, PortSample>;
  services: Record<string, { rxPps: number; txPps: number; instances: number }>;
  instances: InstanceSample[];
  chains: Record<string, { pps: number }>;
  drops: DropRates;
  pool: { size: number; free: number };
  flows: number;
  nfDeaths: number;
}

const rate = (cur: number, prev: number | undefined, dt: number): number =>
  prev === undefined ? 0 : Math.max(0, Math.round(((cur - prev) / dt) * 10) / 10);

/** The rates between two snapshots (the first sample of an instance reads 0). */
export function rateSample(cur: StatsSnapshot, prev: StatsSnapshot | null): RateSample {
  const dt = prev === null ? 1 : Math.max(1e-3, cur.uptimeSeconds - prev.uptimeSeconds);
  const drops: DropRates = { action: 0, ringFull: 0, noRoute: 0, invalid: 0, handlerErrors: 0, noBuffer: 0, unclassified: 0 };
  const ports: RateSample['ports'] = {};
  for (const [name, p] of Object.entries(cur.ports)) {
    const q = prev?.ports[name];
    const n = (k: string): number => p[k] as number;
    const o = (k: string): number | undefined => q?.[k] as number | undefined;
    const s: PortSample = {
      driver: String(p.driver),
      rxPps: rate(n('rx'), o('rx'), dt),
      txPps: rate(n('tx'), o('tx'), dt),
      rxBps: rate(n('rxBytes') * 8, o('rxBytes') === undefined ? undefined : (o('rxBytes') as number) * 8, dt),
      txBps: rate(n('txBytes') * 8, o('txBytes') === undefined ? undefined : (o('txBytes') as number) * 8, dt),
      noBufferPs: rate(n('rxNoBuffer'), o('rxNoBuffer'), dt),
      unclassifiedPs: rate(n('rxDropNoRoute'), o('rxDropNoRoute'), dt),
    };
    drops.noBuffer += s.noBufferPs;
    drops.unclassified += s.unclassifiedPs;
    ports[name] = s;
  }
  const instances: InstanceSample[] = [];
  const services: RateSample['services'] = {};
  for (const [name, sv] of Object.entries(cur.services)) {
    const agg = { rxPps: 0, txPps: 0, instances: 0 };
    for (const i of sv.instances) {
      if (i.state === 'stopped') continue;
      const q: InstanceStats | undefined = prev?.services[name]?.instances.find((x) => x.slot === i.slot && x.pid === i.pid);
      const d = {
        action: rate(i.drops.action, q?.drops.action, dt),
        ringFull: rate(i.drops.ringFull, q?.drops.ringFull, dt),
        noRoute: rate(i.drops.noRoute, q?.drops.noRoute, dt),
        invalid: rate(i.drops.invalid, q?.drops.invalid, dt),
        handlerErrors: rate(i.drops.handlerErrors, q?.drops.handlerErrors, dt),
      };
      for (const k of Object.keys(d) as (keyof typeof d)[]) drops[k] += d[k];
      const s: InstanceSample = {
        service: name,
        instance: i.instance,
        slot: i.slot,
        pid: i.pid,
        mode: i.mode,
        state: i.state,
        rxPps: rate(i.rx, q?.rx, dt),
        txPps: rate(i.tx, q?.tx, dt),
        dropPps: d.action + d.ringFull + d.noRoute + d.invalid,
        drops: d,
        wakeupsPs: rate(i.wakeups, q?.wakeups, dt),
        ringFill: i.ring.capacity > 0 ? i.ring.occupancy / i.ring.capacity : 0,
        asleep: i.asleep,
      };
      agg.rxPps += s.rxPps;
      agg.txPps += s.txPps;
      agg.instances++;
      instances.push(s);
    }
    services[name] = agg;
  }
  const chains: RateSample['chains'] = {};
  for (const [name, c] of Object.entries(cur.chains)) chains[name] = { pps: rate(c.packets, prev?.chains[name]?.packets, dt) };
  return {
    t: Date.parse(cur.time),
    uptimeSeconds: cur.uptimeSeconds,
    ports,
    services,
    instances,
    chains,
    drops,
    pool: { size: cur.pool.size, free: cur.pool.free },
    flows: cur.manager.flows,
    nfDeaths: cur.manager.nfDeaths,
  };
}

/** Takes a sample every `intervalMs`, keeps the last `keep`, emits `'sample'`. */
export class Sampler extends EventEmitter {
  readonly history: RateSample[] = [];
  private prev: StatsSnapshot | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly take: () => StatsSnapshot,
    private readonly intervalMs = 1000,
    private readonly keep = 600,
  ) {
    super();
  }

  start(): void {
    if (this.timer !== null) return;
    this.prev = this.take();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** Samples now (the timer calls this; tests may too). */
  tick(): RateSample {
    const cur = this.take();
    const s = rateSample(cur, this.prev);
    this.prev = cur;
    this.history.push(s);
    if (this.history.length > this.keep) this.history.splice(0, this.history.length - this.keep);
    this.emit('sample', s);
    return s;
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
