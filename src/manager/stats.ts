// Counters, read from the shared region without locks (each counter has one writer), as
// one JSON object (`--stats-json`, the control API) and as the terminal table printed every
// second.
import { NF_COUNTERS, P_LINK, PC_KERNEL_DROPS, PORT_COUNTERS, portCountersF64, portOffset, S_SLEEP, slotOffset } from '../core/layout.js';
import type { Manager } from './manager.js';
import type { UntrustedStats } from './untrusted.js';

export interface InstanceStats {
  instance: number;
  slot: number;
  pid: number;
  nf: string;
  mode: string;
  state: string;
  rx: number;
  tx: number;
  drops: { action: number; ringFull: number; noRoute: number; invalid: number; handlerErrors: number };
  actions: { next: number; drop: number; toService: number; toPort: number };
  txToNf: number;
  txToPort: number;
  /** Packets the NF created itself (ctx.alloc): in the packet balance like a port's rx. */
  created: number;
  batches: number;
  wakeups: number;
  sleeps: number;
  asleep: boolean;
  ring: { occupancy: number; capacity: number };
  /** The NF's own counters (ctx.counters), as last reported over the control socket. */
  counters: Record<string, number>;
  /** `untrusted`: the NF runs without the region (docs/untrusted-nfs.md). */
  trust: 'trusted' | 'untrusted';
  /** Untrusted instances: what the manager copied, accepted, rejected and timed out. */
  untrusted?: UntrustedStats;
}

export interface StatsSnapshot {
  time: string;
  uptimeSeconds: number;
  region: { file: string; hugePages: boolean; bytes: number };
  /** inUse = size - free; staged: of those, buffers input ports allocated for their next burst. */
  pool: { size: number; free: number; inUse: number; staged: number };
  ports: Record<string, Record<string, number | string | Record<string, number>>>;
  services: Record<
    string,
    { nf: string; instances: InstanceStats[]; departed: { instances: number } & Record<string, number>; restarts: number }
  >;
  chains: Record<string, { packets: number }>;
  manager: {
    dropNoRoute: number;
    dropRingFull: number;
    flows: number;
    flowHits: number;
    flowMisses: number;
    nfDeaths: number;
    /** Packets lost with NFs that left (queued for them or in their hands), counted as drops. */
    reclaimedPackets: number;
  };
}

function instanceStats(
  m: Manager,
  slot: number,
  info: {
    instance: number;
    pid: number;
    nf: string;
    mode: string;
    state: string;
    counters: Record<string, number>;
    final?: Record<string, number>;
    untrusted?: { stats(): UntrustedStats };
  },
): InstanceStats {
  const c = info.final ?? m.slotCounters(slot);
  const { i32, layout } = m.region;
  return {
    instance: info.instance,
    slot,
    pid: info.pid,
    nf: info.nf,
    mode: info.mode,
    state: info.final !== undefined ? 'stopped' : info.state,
    rx: c.rx,
    tx: c.tx,
    drops: {
      action: c.dropAction,
      ringFull: c.dropRingFull,
      noRoute: c.dropNoRoute,
      invalid: c.dropInvalid,
      handlerErrors: c.handlerErrors,
    },
    actions: { next: c.actNext, drop: c.actDrop, toService: c.actToService, toPort: c.actToPort },
    txToNf: c.txToNf,
    txToPort: c.txToPort,
    created: c.created,
    batches: c.batches,
    wakeups: c.wakeups,
    sleeps: c.sleeps,
    asleep: info.final === undefined && i32[(slotOffset(layout, slot) >> 2) + S_SLEEP] === 1,
    ring: { occupancy: info.final === undefined ? m.ringOccupancy(slot) : 0, capacity: layout.params.ringSize },
    counters: { ...info.counters },
    trust: info.untrusted ? 'untrusted' : 'trusted',
    ...(info.untrusted ? { untrusted: info.untrusted.stats() } : {}),
  };
}

export function snapshot(m: Manager): StatsSnapshot {
  const { f64, layout } = m.region;
  const ports: StatsSnapshot['ports'] = {};
  for (const p of m.ports) {
    const c0 = portCountersF64(layout, p.id);
    const ds = p.driver.stats();
    // Drivers that know the link and the kernel's drops (afpacket) keep the region's copies current.
    if (typeof ds.kernelDrops === 'number') f64[c0 + PC_KERNEL_DROPS] = ds.kernelDrops;
    if (typeof ds.link === 'number') m.region.i32[(portOffset(layout, p.id) >> 2) + P_LINK] = ds.link;
    const o: Record<string, number | string | Record<string, number>> = { driver: p.driver.kind };
    o.link = m.region.i32[(portOffset(layout, p.id) >> 2) + P_LINK];
    PORT_COUNTERS.forEach((name, i) => (o[name] = f64[c0 + i]));
    // Packets waiting for room in the device's transmit queue (PortDriver.txDeferred).
    o.txHeld = p.txHeld;
    o.driverStats = ds;
    ports[p.name] = o;
  }
  const services: StatsSnapshot['services'] = {};
  for (const s of m.services) {
    const instances = m
      .serviceInstances(s)
      .sort((a, b) => a.instance - b.instance)
      .map((x) => instanceStats(m, x.slot, x));
    const departed: { instances: number } & Record<string, number> = { instances: s.departedCount };
    for (const k of NF_COUNTERS) departed[k] = s.departed[k] ?? 0;
    services[s.name] = { nf: s.nf, instances, departed, restarts: s.restarts };
  }
  const chains: StatsSnapshot['chains'] = {};
  for (const c of m.opts.config.chains) chains[c.name] = { packets: m.chainPackets[c.id] };
  const free = m.poolFree();
  const size = m.poolSize();
  const cls = m.classifierStats();
  return {
    time: new Date().toISOString(),
    uptimeSeconds: Math.round(m.uptimeSeconds() * 1000) / 1000,
    region: { file: m.region.file, hugePages: m.region.hugePages, bytes: layout.totalSize },
    pool: { size, free, inUse: size - free, staged: m.stagedBuffers() },
    ports,
    services,
    chains,
    manager: {
      dropNoRoute: m.managerDropsNoRoute(),
      dropRingFull: m.managerDropsRingFull(),
      flows: cls.flows,
      flowHits: cls.hits,
      flowMisses: cls.misses,
      nfDeaths: m.deaths,
      reclaimedPackets: m.reclaimedPackets,
    },
  };
}

const fmtRate = (perSec: number): string =>
  perSec >= 1e6 ? `${(perSec / 1e6).toFixed(2)}M` : perSec >= 1e3 ? `${(perSec / 1e3).toFixed(1)}k` : perSec.toFixed(0);
const fmtCount = (n: number): string =>
  n >= 1e9 ? `${(n / 1e9).toFixed(2)}G` : n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(1)}k` : String(n);
const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

/** The terminal table: rates from the difference between two snapshots. */
export function formatStats(cur: StatsSnapshot, prev: StatsSnapshot | null): string {
  const dt = prev ? Math.max(1e-3, cur.uptimeSeconds - prev.uptimeSeconds) : 1;
  const lines: string[] = [];
  lines.push(
    `netvm  up ${cur.uptimeSeconds.toFixed(0)}s  pool ${cur.pool.free}/${cur.pool.size} free  flows ${cur.manager.flows}  NF deaths ${cur.manager.nfDeaths}  restarts ${Object.values(cur.services).reduce((a, x) => a + x.restarts, 0)}`,
  );
  lines.push(
    `${pad('PORT', 14)}${pad('DRIVER', 10)}${lpad('RX pps', 10)}${lpad('TX pps', 10)}${lpad('RX', 10)}${lpad('TX', 10)}${lpad('no-buf', 8)}${lpad('no-route', 9)}${lpad('lat us', 8)}`,
  );
  for (const [name, p] of Object.entries(cur.ports)) {
    const q = prev?.ports[name];
    const rx = p.rx as number;
    const tx = p.tx as number;
    const rxr = q ? (rx - (q.rx as number)) / dt : 0;
    const txr = q ? (tx - (q.tx as number)) / dt : 0;
    const ds = p.driverStats as Record<string, number>;
    const lat = ds.latencyCount > 0 ? ds.latencyAvgUs.toFixed(1) : '-';
    lines.push(
      `${pad(name, 14)}${pad(String(p.driver), 10)}${lpad(fmtRate(rxr), 10)}${lpad(fmtRate(txr), 10)}${lpad(fmtCount(rx), 10)}${lpad(fmtCount(tx), 10)}${lpad(fmtCount(p.rxNoBuffer as number), 8)}${lpad(fmtCount(p.rxDropNoRoute as number), 9)}${lpad(lat, 8)}`,
    );
  }
  lines.push(
    `${pad('NF', 14)}${pad('MODE', 8)}${lpad('RX pps', 10)}${lpad('TX pps', 10)}${lpad('drop act', 9)}${lpad('ring-full', 10)}${lpad('no-route', 9)}${lpad('ring', 7)}${lpad('wakeups', 9)}  actions n/d/s/p`,
  );
  for (const [name, s] of Object.entries(cur.services)) {
    if (s.instances.length === 0) lines.push(`${pad(`${name} (no instances)`, 14)}`);
    for (const i of s.instances) {
      const q = prev?.services[name]?.instances.find((x) => x.slot === i.slot && x.pid === i.pid);
      const rxr = q ? (i.rx - q.rx) / dt : 0;
      const txr = q ? (i.tx - q.tx) / dt : 0;
      const wk = q ? (i.wakeups - q.wakeups) / dt : 0;
      lines.push(
        `${pad(`${name}#${i.instance}`, 14)}${pad(i.mode, 8)}${lpad(fmtRate(rxr), 10)}${lpad(fmtRate(txr), 10)}${lpad(fmtCount(i.drops.action), 9)}${lpad(fmtCount(i.drops.ringFull), 10)}${lpad(fmtCount(i.drops.noRoute), 9)}${lpad(`${Math.round((100 * i.ring.occupancy) / i.ring.capacity)}%`, 7)}${lpad(`${fmtRate(wk)}/s`, 9)}  ${fmtCount(i.actions.next)}/${fmtCount(i.actions.drop)}/${fmtCount(i.actions.toService)}/${fmtCount(i.actions.toPort)}`,
      );
    }
  }
  return lines.join('\n');
}

/** The final summary `netvm run` prints: totals since start, not rates. */
export function formatSummary(s: StatsSnapshot, reason: string): string {
  const secs = Math.max(1e-3, s.uptimeSeconds);
  const lines: string[] = [`netvm: stopped (${reason}) after ${s.uptimeSeconds.toFixed(2)} s`];
  lines.push(
    `${pad('PORT', 14)}${pad('DRIVER', 10)}${lpad('RX', 12)}${lpad('TX', 12)}${lpad('RX Mpps', 9)}${lpad('TX Mpps', 9)}${lpad('no-buf', 8)}${lpad('no-route', 9)}${lpad('lat us', 8)}`,
  );
  for (const [name, p] of Object.entries(s.ports)) {
    const ds = p.driverStats as Record<string, number>;
    const lat = ds.latencyCount > 0 ? ds.latencyAvgUs.toFixed(1) : '-';
    const rx = p.rx as number;
    const tx = p.tx as number;
    lines.push(
      `${pad(name, 14)}${pad(String(p.driver), 10)}${lpad(String(rx), 12)}${lpad(String(tx), 12)}${lpad((rx / secs / 1e6).toFixed(3), 9)}${lpad((tx / secs / 1e6).toFixed(3), 9)}${lpad(String(p.rxNoBuffer), 8)}${lpad(String(p.rxDropNoRoute), 9)}${lpad(lat, 8)}`,
    );
  }
  lines.push(
    `${pad('NF', 14)}${lpad('RX', 12)}${lpad('TX', 12)}${lpad('drop act', 10)}${lpad('ring-full', 10)}${lpad('no-route', 9)}${lpad('invalid', 8)}${lpad('errors', 7)}`,
  );
  for (const [name, sv] of Object.entries(s.services)) {
    for (const i of sv.instances)
      lines.push(
        `${pad(`${name}#${i.instance}`, 14)}${lpad(String(i.rx), 12)}${lpad(String(i.tx), 12)}${lpad(String(i.drops.action), 10)}${lpad(String(i.drops.ringFull), 10)}${lpad(String(i.drops.noRoute), 9)}${lpad(String(i.drops.invalid), 8)}${lpad(String(i.drops.handlerErrors), 7)}`,
      );
    for (const i of sv.instances)
      if (i.created > 0) lines.push(`  created ${name}#${i.instance}: ${i.created} packets of its own (ctx.alloc)`);
    for (const i of sv.instances) {
      const u = i.untrusted;
      if (u === undefined) continue;
      const rejected = `${u.rejectedSlot}/${u.rejectedLength}/${u.rejectedAction}/${u.rejectedDest}`;
      lines.push(
        `  untrusted ${name}#${i.instance}: given ${u.given}, returned ${u.returned}, rejected slot/length/action/dest ${rejected}, timed out ${u.timedOut} (late ${u.lateReturns}), dropped stalled ${u.droppedStalled}`,
      );
    }
    if (sv.departed.instances > 0)
      lines.push(
        `${pad(`${name} (gone x${sv.departed.instances})`, 14)}${lpad(String(sv.departed.rx), 12)}${lpad(String(sv.departed.tx), 12)}`,
      );
  }
  const chains = Object.entries(s.chains)
    .map(([k, v]) => `${k}=${v.packets}`)
    .join(' ');
  const restarts = Object.values(s.services).reduce((a, x) => a + x.restarts, 0);
  lines.push(`chains: ${chains || '-'}   flows: ${s.manager.flows}   NF deaths: ${s.manager.nfDeaths}   restarts: ${restarts}`);
  lines.push(`pool: ${s.pool.free}/${s.pool.size} buffers free${s.pool.free === s.pool.size ? '' : `  (${s.pool.inUse} MISSING)`}`);
  return lines.join('\n');
}
