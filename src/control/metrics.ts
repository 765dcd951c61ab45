// Prometheus exposition (`GET /metrics`) with prom-client. The counters already live in the
// shared region; each scrape reads one snapshot (stats.ts) and every metric's collect()
// copies its values from it. Names follow the Prometheus conventions: a `netvm_` prefix,
// base units, `_total` for counters, labels for what varies (service, instance, port, cause).
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { StatsSnapshot } from '../manager/stats.js';

type Labels = Record<string, string | number>;

export class Metrics {
  readonly registry = new Registry();
  private snap: StatsSnapshot | null = null;

  constructor(private readonly take: () => StatsSnapshot) {
    const reg = this.registry;
    // Process metrics of the manager (CPU, memory, event loop lag): process_*, nodejs_*.
    collectDefaultMetrics({ register: reg });
    const s = (): StatsSnapshot => this.snap!;
    const counter = (name: string, help: string, labelNames: string[], fill: (set: (l: Labels, v: number) => void) => void): void => {
      new Counter({
        name,
        help,
        labelNames,
        registers: [reg],
        collect() {
          this.reset();
          fill((l, v) => this.inc(l, v));
        },
      });
    };
    const gauge = (name: string, help: string, labelNames: string[], fill: (set: (l: Labels, v: number) => void) => void): void => {
      new Gauge({
        name,
        help,
        labelNames,
        registers: [reg],
        collect() {
          this.reset();
          fill((l, v) => this.set(l, v));
        },
      });
    };
    const ports = (f: (name: string, p: StatsSnapshot['ports'][string]) => void): void => {
      for (const [name, p] of Object.entries(s().ports)) f(name, p);
    };
    const live = (f: (service: string, i: StatsSnapshot['services'][string]['instances'][number]) => void): void => {
      for (const [name, sv] of Object.entries(s().services)) for (const i of sv.instances) if (i.state !== 'stopped') f(name, i);
    };

    // ---- ports
    const portNum = (k: string) => (set: (l: Labels, v: number) => void) => ports((port, p) => set({ port }, p[k] as number));
    counter('netvm_port_rx_packets_total', 'Packets received by the port.', ['port'], portNum('rx'));
    counter('netvm_port_tx_packets_total', 'Packets transmitted by the port.', ['port'], portNum('tx'));
    counter('netvm_port_rx_bytes_total', 'Bytes received by the port.', ['port'], portNum('rxBytes'));
    counter('netvm_port_tx_bytes_total', 'Bytes transmitted by the port.', ['port'], portNum('txBytes'));
    counter('netvm_port_tx_errors_total', 'Packets the port driver did not take for transmission.', ['port'], portNum('txErrors'));
    counter('netvm_port_rx_dropped_packets_total', 'Received packets dropped by the manager, by cause.', ['port', 'cause'], (set) =>
      ports((port, p) => {
        set({ port, cause: 'no_buffer' }, p.rxNoBuffer as number);
        set({ port, cause: 'no_chain' }, p.rxDropNoRoute as number);
      }),
    );

    // ---- NF instances
    const nf = (f: (i: StatsSnapshot['services'][string]['instances'][number]) => number) => (set: (l: Labels, v: number) => void) =>
      live((service, i) => set({ service, instance: i.instance }, f(i)));
    const si = ['service', 'instance'];
    counter(
      'netvm_nf_rx_packets_total',
      'Packets the NF instance took from its ring.',
      si,
      nf((i) => i.rx),
    );
    counter(
      'netvm_nf_tx_packets_total',
      'Packets the NF instance passed on (to an NF or a port).',
      si,
      nf((i) => i.tx),
    );
    counter(
      'netvm_nf_created_packets_total',
      'Packets the NF instance created itself (ctx.alloc); they count in the packet balance as received ones do.',
      si,
      nf((i) => i.created),
    );
    counter('netvm_nf_dropped_packets_total', 'Packets the NF instance dropped, by cause.', [...si, 'cause'], (set) =>
      live((service, i) => {
        set({ service, instance: i.instance, cause: 'action' }, i.drops.action);
        set({ service, instance: i.instance, cause: 'ring_full' }, i.drops.ringFull);
        set({ service, instance: i.instance, cause: 'no_route' }, i.drops.noRoute);
        set({ service, instance: i.instance, cause: 'invalid' }, i.drops.invalid);
      }),
    );
    counter('netvm_nf_actions_total', 'Verdicts of the NF handler, by action.', [...si, 'action'], (set) =>
      live((service, i) => {
        for (const [action, v] of Object.entries(i.actions)) set({ service, instance: i.instance, action }, v);
      }),
    );
    counter(
      'netvm_nf_handler_errors_total',
      'Exceptions thrown by the NF handler.',
      si,
      nf((i) => i.drops.handlerErrors),
    );
    counter(
      'netvm_nf_batches_total',
      'Batches the NF instance processed.',
      si,
      nf((i) => i.batches),
    );
    counter(
      'netvm_nf_wakeups_total',
      'Times the NF instance was woken with packets waiting (shared mode).',
      si,
      nf((i) => i.wakeups),
    );
    counter(
      'netvm_nf_sleeps_total',
      'Times the NF instance went to sleep on an empty ring (shared mode).',
      si,
      nf((i) => i.sleeps),
    );
    gauge(
      'netvm_nf_ring_occupancy',
      'Descriptors waiting in the NF instance receive ring.',
      si,
      nf((i) => i.ring.occupancy),
    );
    gauge(
      'netvm_nf_ring_capacity',
      'Capacity of the NF instance receive ring.',
      si,
      nf((i) => i.ring.capacity),
    );
    gauge(
      'netvm_nf_asleep',
      '1 while the NF instance sleeps on its futex.',
      si,
      nf((i) => (i.asleep ? 1 : 0)),
    );

    // ---- services, chains, pool, flow table
    gauge('netvm_service_instances', 'Running instances of the service.', ['service'], (set) => {
      for (const [service, sv] of Object.entries(s().services))
        set({ service }, sv.instances.filter((i) => i.state !== 'stopped' && i.state !== 'dead').length);
    });
    counter(
      'netvm_service_rx_packets_total',
      'Packets taken by all instances of the service, including departed ones.',
      ['service'],
      (set) => {
        for (const [service, sv] of Object.entries(s().services))
          set(
            { service },
            sv.instances.reduce((a, i) => a + i.rx, sv.departed.rx ?? 0),
          );
      },
    );
    counter('netvm_chain_packets_total', 'Packets the flow director assigned to the chain.', ['chain'], (set) => {
      for (const [chain, c] of Object.entries(s().chains)) set({ chain }, c.packets);
    });
    gauge('netvm_pool_buffers', 'Packet buffers in the shared pool, by state.', ['state'], (set) => {
      set({ state: 'free' }, s().pool.free);
      set({ state: 'in_use' }, s().pool.inUse);
    });
    gauge('netvm_pool_size_buffers', 'Packet buffers in the shared pool.', [], (set) => set({}, s().pool.size));
    gauge('netvm_flow_table_entries', 'Flows in the exact-match flow table.', [], (set) => set({}, s().manager.flows));
    counter('netvm_flow_table_lookups_total', 'Flow-table lookups, by result.', ['result'], (set) => {
      set({ result: 'hit' }, s().manager.flowHits);
      set({ result: 'miss' }, s().manager.flowMisses);
    });
    counter('netvm_nf_deaths_total', 'NF instances that exited without being asked to (crash, kill).', [], (set) =>
      set({}, s().manager.nfDeaths),
    );
    gauge('netvm_uptime_seconds', 'Seconds since the manager started.', [], (set) => set({}, s().uptimeSeconds));
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text, from one fresh snapshot. */
  async render(): Promise<string> {
    // Kept after the scrape: a concurrent scrape may still be collecting from it.
    this.snap = this.take();
    return this.registry.metrics();
  }
}
