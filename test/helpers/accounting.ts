// Packet accounting over a `netvm stats --json` snapshot: every packet an input port received
// or an NF created (ctx.alloc) was transmitted by an output port, dropped for a counted cause, or is still in flight (a
// buffer in use that is not a port's pre-allocated stage). Exact once the manager has stopped;
// while it runs, counters are read while packets move, so the balance is only near zero.
import { runCli } from './cli.js';

export interface StatsInstance {
  instance: number;
  pid: number;
  slot: number;
  rx: number;
  tx: number;
  created: number;
  state: string;
  drops: { action: number; ringFull: number; noRoute: number; invalid: number };
}

export interface StatsJson {
  uptimeSeconds: number;
  pool: { size: number; free: number; inUse: number; staged: number };
  ports: Record<string, { rx: number; tx: number; txErrors: number }>;
  services: Record<
    string,
    {
      instances: StatsInstance[];
      departed: {
        instances: number;
        rx: number;
        created: number;
        dropAction: number;
        dropRingFull: number;
        dropNoRoute: number;
        dropInvalid: number;
      };
      restarts: number;
    }
  >;
  manager: { dropNoRoute: number; dropRingFull: number; nfDeaths: number; reclaimedPackets: number };
}

export interface Balance {
  /** Σ input ports' rx + Σ packets NFs created (live and departed instances). */
  received: number;
  transmitted: number;
  dropped: number;
  inFlight: number;
  /** received - (transmitted + dropped + inFlight): 0 when nothing is unaccounted for. */
  unaccounted: number;
}

export function balance(s: StatsJson): Balance {
  let received = 0;
  let transmitted = 0;
  let dropped = s.manager.dropNoRoute + s.manager.dropRingFull + s.manager.reclaimedPackets;
  for (const p of Object.values(s.ports)) {
    received += p.rx;
    transmitted += p.tx;
    dropped += p.txErrors;
  }
  for (const svc of Object.values(s.services)) {
    for (const i of svc.instances) {
      received += i.created;
      dropped += i.drops.action + i.drops.ringFull + i.drops.noRoute + i.drops.invalid;
    }
    const d = svc.departed;
    received += d.created;
    dropped += d.dropAction + d.dropRingFull + d.dropNoRoute + d.dropInvalid;
  }
  const inFlight = s.pool.inUse - s.pool.staged;
  return { received, transmitted, dropped, inFlight, unaccounted: received - transmitted - dropped - inFlight };
}

/** The running manager's stats, or undefined if it does not answer. */
export async function liveStats(name: string): Promise<StatsJson | undefined> {
  const r = await runCli(['stats', '--name', name, '--json'], { timeoutMs: 10_000 });
  if (r.code !== 0) return undefined;
  return JSON.parse(r.stdout) as StatsJson;
}
