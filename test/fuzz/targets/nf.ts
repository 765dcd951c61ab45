// Target "nf": every NF in the catalog, found by listing nfs/ (catalogNames), so an NF merged
// later is fuzzed without editing this file. Each NF runs in the offline harness
// (createNFHarness) with its default args and with every configuration its README's yaml
// examples give it (an NF whose args are required has only those). Each case makes a fresh
// harness (so a case replays alone), pushes a few batches of mutated, well-formed and random
// frames in from the config's ports, ticks it, sends it messages and closes it.
//
// Invariants: the handler never throws (the harness rethrows); every packet ends with a valid
// action, and toService/toPort name a service or port that exists; every counter is a finite
// number >= 0; counters named malformed/invalid grow by at most the packets pushed, never
// shrink, and stay still for a batch of well-formed unfragmented TCP/UDP/ICMP frames; NFs with
// a known counter contract (below) keep it exactly; tick, messages and teardown do not throw
// (an onMessage may reject a message with a NetvmError).
import { NetvmError } from '../../../src/core/errors.js';
import { catalogModulePath, catalogNames } from '../../../src/config/catalog.js';
import type { NFDefinition } from '../../../src/nflib/define-nf.js';
import { createNFHarness, type HarnessFrame, type HarnessResult, type NFHarness } from '../../../src/nflib/testing.js';
import { ParsedPacket, parsePacket } from '../../../src/proto/parse.js';
import { enterReadmeWorkdir, readmeServices } from '../../helpers/nf-readme.js';
import { genFrame, genPlainFrame, mutateFrame } from '../frames.js';
import type { Rng } from '../prng.js';
import { check, defineTarget } from '../registry.js';

/** Data room of the harness's default 2048-byte buffers (bufSize - 128 headroom). */
const DATA_ROOM = 2048 - 128;
const ACTIONS = new Set(['next', 'drop', 'toService', 'toPort']);
/** Counters that count bad input: bounded by the packets pushed, never decreasing. */
const BAD_INPUT = /malformed|invalid/i;

type Counters = Record<string, number>;
type Oracle = (d: Counters, frames: Uint8Array[], results: HarnessResult[], cfg: Config) => string | null;

interface Config {
  nf: string;
  label: string;
  def: NFDefinition<unknown>;
  opts: { args?: Record<string, unknown>; service?: string; services?: string[]; ports?: string[] };
  ports: string[];
}

interface State {
  /** Moves back out of the scratch directory. */
  leave: () => void;
  configs: Config[];
  casesPerNf: Map<string, number>;
  packetsPerNf: Map<string, number>;
}

const parsed = new ParsedPacket();

/** The exact counter contracts of catalog NFs whose counters are a function of the input. */
const ORACLES: Record<string, Oracle> = {
  monitor: (d, frames) => {
    let malformed = 0;
    let v4 = 0;
    let v6 = 0;
    let bytes = 0;
    for (const f of frames) {
      bytes += f.length;
      parsePacket(f, 0, f.length, parsed);
      if (!parsed.ok) malformed++;
      else if (parsed.ipVersion === 4) v4++;
      else if (parsed.ipVersion === 6) v6++;
    }
    const n = frames.length;
    if (d.packets !== n || d.bytes !== bytes) return `packets +${d.packets} bytes +${d.bytes}, pushed ${n} frames of ${bytes} bytes`;
    if (d.malformed !== malformed) return `malformed +${d.malformed}, but ${malformed} of the ${n} frames do not parse`;
    if (d.ipv4 !== v4 || d.ipv6 !== v6) return `ipv4 +${d.ipv4} ipv6 +${d.ipv6}, expected +${v4} +${v6}`;
    if (d.tcp + d.udp + d.icmp + d.otherProto !== n - malformed)
      return `tcp+udp+icmp+otherProto grew by ${d.tcp + d.udp + d.icmp + d.otherProto}, expected ${n - malformed} (packets - malformed)`;
    return null;
  },
  forward: (d, frames) => (d.forwarded === frames.length ? null : `forwarded +${d.forwarded}, pushed ${frames.length}`),
  drop: (d, _f, results) => {
    const drops = results.filter((r) => r.action === 'drop').length;
    return d.dropped === drops ? null : `dropped +${d.dropped}, but ${drops} packets have action drop`;
  },
  bridge: (d, frames) => (d.aToB + d.bToA + d.other === frames.length ? null : `aToB+bToA+other grew by ${d.aToB + d.bToA + d.other}`),
};

async function discover(): Promise<Config[]> {
  const configs: Config[] = [];
  for (const nf of catalogNames()) {
    const mod = (await import(catalogModulePath(nf))) as { default: NFDefinition<unknown> };
    const def = mod.default;
    // Default args, when the NF has no required ones.
    try {
      const h = await createNFHarness(def);
      await h.close();
      configs.push({ nf, label: 'default args', def, opts: {}, ports: ['port0'] });
    } catch (err) {
      if (!(err instanceof NetvmError && err.code === 'NETVM_NF_ARGS')) throw err;
    }
    for (const r of readmeServices(nf))
      configs.push({ nf, label: `${r.label}, service ${r.service.name}`, def, opts: r.harness, ports: r.harness.ports });
    if (!configs.some((c) => c.nf === nf)) throw new Error(`catalog NF ${nf}: no default args and no README example to run it with`);
  }
  return configs;
}

function snapshot(h: NFHarness<unknown>): Counters {
  return { ...h.counters };
}

function checkCounters(
  cfg: Config,
  before: Counters,
  after: Counters,
  frames: Uint8Array[],
  results: HarnessResult[],
  control: boolean,
): void {
  const where = `${cfg.nf} (${cfg.label})`;
  const d: Counters = {};
  for (const [k, v] of Object.entries(after)) {
    check(typeof v === 'number' && Number.isFinite(v) && v >= 0, () => `${where}: counter ${k} is ${String(v)}`);
    d[k] = v - (before[k] ?? 0);
    if (BAD_INPUT.test(k)) {
      check(d[k] >= 0 && d[k] <= frames.length, () => `${where}: counter ${k} moved by ${d[k]} for a push of ${frames.length} packets`);
      if (control) check(d[k] === 0, () => `${where}: counter ${k} grew by ${d[k]} on well-formed frames`);
    }
  }
  const oracle = ORACLES[cfg.nf];
  if (oracle) {
    const why = oracle(d, frames, results, cfg);
    check(why === null, () => `${where}: counters inconsistent with the input: ${why}`);
  }
}

function checkResults(cfg: Config, frames: HarnessFrame[], results: HarnessResult[]): void {
  const where = `${cfg.nf} (${cfg.label})`;
  check(results.length === frames.length, () => `${where}: ${frames.length} frames pushed, ${results.length} results`);
  for (const [i, r] of results.entries()) {
    check(ACTIONS.has(r.action), () => `${where}: packet ${i} ends with action ${r.action}`);
    if (r.action === 'toService' || r.action === 'toPort')
      check(r.dest !== undefined, () => `${where}: packet ${i} goes ${r.action} id ${String(r.destId)}, which names nothing`);
  }
}

function fuzzFrame(rng: Rng): Uint8Array {
  return rng.weighted<() => Uint8Array>([
    [70, () => mutateFrame(rng, genFrame(rng), DATA_ROOM).frame],
    [20, () => genFrame(rng).frame],
    [6, () => rng.bytes(rng.int(0, 200))],
    [4, () => new Uint8Array(rng.int(0, 14))],
  ])();
}

const MESSAGES: unknown[] = [null, undefined, 0, 'summary', [], {}, { cmd: 'summary' }, { cmd: 'reset' }, { cmd: 42 }, { cmd: null }];

export default defineTarget<State>({
  name: 'nf',
  description: 'every catalog NF (nfs/*/) in createNFHarness with default and README args: handler, actions, counters',
  ciCases: 600,
  // README configurations read and write files relative to the working directory (a key file,
  // capture outputs): the target runs in a scratch directory, not wherever it was started.
  setup: async () => ({ leave: enterReadmeWorkdir(), configs: await discover(), casesPerNf: new Map(), packetsPerNf: new Map() }),
  teardown: (s) => s.leave(),
  run: async (s, rng, index) => {
    const cfg = s.configs[index % s.configs.length];
    const h = await createNFHarness(cfg.def, { ...cfg.opts, batchSize: rng.pick([1, 7, 32, 64]) });
    let pushed = 0;
    try {
      // A control batch of well-formed frames first, now and then.
      const batches = rng.int(1, 4);
      for (let b = 0; b < batches; b++) {
        const control = b === 0 && rng.chance(0.3);
        const n = rng.int(1, 64);
        const data: Uint8Array[] = [];
        for (let i = 0; i < n; i++) data.push(control ? genPlainFrame(rng) : fuzzFrame(rng));
        const frames: HarnessFrame[] = data.map((d) => {
          const f: HarnessFrame = { data: d, inPort: rng.below(cfg.ports.length) };
          if (rng.chance(0.5)) f.hash = rng.u32();
          return f;
        });
        const before = snapshot(h);
        const results = h.push(frames);
        checkResults(cfg, frames, results);
        checkCounters(cfg, before, snapshot(h), data, results, control);
        pushed += n;
        if (rng.chance(0.3)) h.tick();
      }
      for (let t = rng.int(0, 6); t > 0; t--) h.tick();
      if (rng.chance(0.3)) {
        const msg = rng.pick(MESSAGES);
        try {
          h.message(msg, rng.pick(['manager', cfg.opts.service ?? cfg.nf]));
        } catch (err) {
          if (!(err instanceof NetvmError)) throw err;
        }
      }
    } finally {
      await h.close();
    }
    s.casesPerNf.set(cfg.nf, (s.casesPerNf.get(cfg.nf) ?? 0) + 1);
    s.packetsPerNf.set(cfg.nf, (s.packetsPerNf.get(cfg.nf) ?? 0) + pushed);
    return `ok ${cfg.nf}`;
  },
  summary: (s) => [
    `${s.configs.length} configurations of ${new Set(s.configs.map((c) => c.nf)).size} catalog NFs: ${[
      ...new Set(s.configs.map((c) => c.nf)),
    ]
      .map((nf) => `${nf} ×${s.configs.filter((c) => c.nf === nf).length}`)
      .join(', ')}`,
    ...[...s.casesPerNf.keys()].sort().map((nf) => `${nf}: ${s.casesPerNf.get(nf)} cases, ${s.packetsPerNf.get(nf)} packets`),
  ],
});
