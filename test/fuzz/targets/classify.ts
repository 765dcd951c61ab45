// Target "classify": the manager's flow director (src/manager/classifier.ts), the first code
// that parses what a port receives, on generated and mutated frames (and repeats of them, so
// the flow table's fast path and cache are exercised) under random rule sets and a small flow
// table (evictions).
//
// Invariants: classify never throws and reads nothing outside the frame (counted reads, with a
// budget); it returns the default chain, a rule's chain or -1; the flow table is only a cache —
// each packet gets the chain and hash a classifier with an empty table gives it; without a
// port hash, a packet that parses gets the RSS hash toeplitz.ts defines (hashFromPacket: the
// 4-tuple, or the 2-tuple for every fragment, so all fragments of a datagram go to one NF
// instance); hits + misses count every IP packet.
import { testRegion } from '../../../src/core/test-region.js';
import { Classifier, type RuleInput } from '../../../src/manager/classifier.js';
import { ParsedPacket, parsePacket } from '../../../src/proto/parse.js';
import { SYMMETRIC_RSS_KEY, Toeplitz } from '../../../src/proto/toeplitz.js';
import { genFrame, mutateFrame } from '../frames.js';
import { meteredBytes, ReadMeter } from '../meter.js';
import type { Rng } from '../prng.js';
import { check, defineTarget } from '../registry.js';

interface State {
  live: Classifier;
  fresh: Classifier;
  meter: ReadMeter;
  toeplitz: Toeplitz;
  parsed: ParsedPacket;
  packets: number;
  hits: number;
}

/** A prefix covering the source or destination of `f` (when it is IP), or a random one. */
function prefixOf(rng: Rng, f: Uint8Array, p: ParsedPacket, dst: boolean): RuleInput['match']['src'] {
  if (p.ipVersion === 4 || p.ipVersion === 6) {
    const n = p.ipVersion === 4 ? 4 : 16;
    const at = p.l3Offset + (p.ipVersion === 4 ? (dst ? 16 : 12) : dst ? 24 : 8);
    return { version: p.ipVersion, addr: Array.from(f.subarray(at, at + n)), prefixLen: rng.int(0, 8 * n) };
  }
  const v = rng.bool() ? 4 : 6;
  return { version: v, addr: Array.from(rng.bytes(v === 4 ? 4 : 16)), prefixLen: rng.int(0, v === 4 ? 32 : 128) };
}

function range(rng: Rng, known: number): readonly [number, number] {
  if (rng.chance(0.5)) return [known, known];
  const a = rng.below(65536);
  const b = rng.below(65536);
  return [Math.min(a, b), Math.max(a, b)];
}

function randomRules(rng: Rng, samples: Uint8Array[], p: ParsedPacket): RuleInput[] {
  const rules: RuleInput[] = [];
  const n = rng.int(0, 6);
  for (let i = 0; i < n; i++) {
    const f = rng.pick(samples);
    parsePacket(f, 0, f.length, p);
    const match: RuleInput['match'] = {};
    if (rng.chance(0.2)) match.inPort = rng.below(3);
    if (rng.chance(0.2)) match.ipVersion = rng.bool() ? 4 : 6;
    if (rng.chance(0.3)) match.src = prefixOf(rng, f, p, false);
    if (rng.chance(0.3)) match.dst = prefixOf(rng, f, p, true);
    if (rng.chance(0.4)) match.proto = rng.chance(0.7) ? p.l4Proto : rng.below(256);
    if (rng.chance(0.3)) match.srcPort = range(rng, p.srcPort);
    if (rng.chance(0.3)) match.dstPort = range(rng, p.dstPort);
    rules.push({ match, chain: rng.int(0, 9) });
  }
  return rules;
}

/** A datagram's fragments as separate frames (IPv4 MF/offset or an IPv6 fragment header). */
function fragments(rng: Rng): Uint8Array[] {
  for (;;) {
    const g = genFrame(rng);
    if (g.ipVersion === 0 || !(g.proto === 6 || g.proto === 17)) continue;
    const f = g.frame;
    if (g.ipVersion === 4 && g.exts.length === 0) {
      // The first fragment as built (MF set) and a later one: same addresses, id and protocol.
      const first = f.slice();
      first[g.l3 + 6] = 0x20;
      first[g.l3 + 7] = 0;
      const later = f.slice();
      later[g.l3 + 6] = 0x00;
      later[g.l3 + 7] = rng.int(1, 200);
      return [first, later];
    }
    if (g.ipVersion === 6) {
      const fh = g.exts.find((e) => e.type === 44);
      if (fh === undefined) continue;
      const first = f.slice();
      first[fh.off + 2] = 0;
      first[fh.off + 3] = 1; // offset 0, M set
      const later = f.slice();
      later[fh.off + 2] = 0;
      later[fh.off + 3] = 8 * rng.int(1, 20); // offset > 0
      return [first, later];
    }
  }
}

export default defineTarget<State>({
  name: 'classify',
  description: 'the flow director (src/manager/classifier.ts) on generated, mutated and repeated frames under random rules',
  ciCases: 1000,
  setup: () => {
    // Two small flow tables (64 entries: evictions happen): the live one, and one emptied
    // before every packet (by setRules) for the decision without a cache.
    const a = testRegion({ flowEntries: 64 });
    const b = testRegion({ flowEntries: 64 });
    return {
      live: new Classifier(a.i32, a.layout),
      fresh: new Classifier(b.i32, b.layout),
      meter: new ReadMeter(0, 0, 0, 'classify'),
      toeplitz: new Toeplitz(SYMMETRIC_RSS_KEY),
      parsed: new ParsedPacket(),
      packets: 0,
      hits: 0,
    };
  },
  run: (s, rng) => {
    const base = Array.from({ length: rng.int(1, 12) }, () => genFrame(rng));
    const frames: Uint8Array[] = [...base.map((g) => g.frame), ...fragments(rng)];
    // Mutants of the same frames: same addresses and ports, different validity.
    for (let i = rng.int(0, 12); i > 0; i--) frames.push(mutateFrame(rng, rng.chance(0.7) ? rng.pick(base) : genFrame(rng), 4096).frame);
    const rules = randomRules(rng, frames, s.parsed);
    const dflt = rng.int(-1, 9);
    s.live.setRules(rules, dflt);
    const chains = new Set([-1, dflt, ...rules.map((r) => r.chain)]);
    const order: Uint8Array[] = [];
    for (let i = rng.int(10, 60); i > 0; i--) order.push(rng.pick(frames));
    const h0 = s.live.hits + s.live.misses;
    let ipPackets = 0;
    for (const f of order) {
      const inPort = rng.below(3);
      const hasHash = rng.chance(0.2);
      const portHash = hasHash ? rng.u32() : 0;
      s.meter.reset(4 * f.length + 64, 0, f.length);
      const chain = s.live.classify(meteredBytes(f, s.meter), 0, f.length, inPort, hasHash, portHash);
      check(s.meter.outside === null, () => `classify read index ${String(s.meter.outside)} of a ${f.length}-byte frame`);
      check(chains.has(chain), () => `classify gave chain ${chain}: not the default ${dflt} nor a rule's`);
      s.fresh.setRules(rules, dflt);
      const want = s.fresh.classify(f, 0, f.length, inPort, hasHash, portHash);
      const p = parsePacket(f, 0, f.length, s.parsed) ? s.parsed : null;
      if (s.parsed.ipVersion !== 0) ipPackets++;
      const what = () =>
        `${f.length}-byte frame (${p ? `ipv${p.ipVersion} proto ${p.l4Proto}${p.fragment ? ` fragment @${p.fragOffset}` : ''}` : 'malformed'}) from port ${inPort}`;
      if (p !== null) {
        check(chain === want, () => `${what()}: chain ${chain} from the flow table, ${want} without it`);
        check(
          s.live.lastHash === s.fresh.lastHash,
          () => `${what()}: hash ${s.live.lastHash} from the flow table, ${s.fresh.lastHash} without it`,
        );
        if (!hasHash) {
          const rss = s.toeplitz.hashFromPacket(f, p);
          check(
            (s.live.lastHash | 0) === (rss | 0) || p.ipVersion === 0,
            () => `${what()}: flow hash ${s.live.lastHash >>> 0}, toeplitz.hashFromPacket gives ${rss}`,
          );
        }
      }
    }
    check(
      s.live.hits + s.live.misses - h0 === ipPackets,
      () => `hits + misses grew by ${s.live.hits + s.live.misses - h0} for ${ipPackets} IP packets`,
    );
    s.packets += order.length;
    return `ok (${rules.length} rules)`;
  },
  summary: (s) => [`${s.packets} packets classified`],
});
