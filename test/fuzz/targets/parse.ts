// Target "parse": the packet parser (src/proto/parse.ts) and what runs on its result on the
// hot path — checksum verification and recomputation (packet-checksum.ts), the RSS hash
// (toeplitz.ts) and the address word readers — on generated frames, then on the same frames
// mutated (truncated, oversized, wrong length fields and checksums, IPv4 options, IPv6
// extension chains, fragments, VLAN/QinQ stacks, ARP, ICMP/ICMPv6).
//
// Invariants: nothing throws; every parse reads fewer than 4 bytes per frame byte + 64 (so no
// loop runs away; counted, not timed); no byte outside the frame [off, off+len) is ever read,
// even when the buffer holds more; every offset in the result lies within the frame and the
// lengths add up; recomputing checksums writes only inside the frame and then verifies;
// parsing is deterministic. Unmutated frames must parse exactly as the builder laid them out.
import { ParsedPacket, parsePacket, addrWordCount, dstAddrWord, srcAddrWord } from '../../../src/proto/parse.js';
import { fillPacketChecksums, verifyPacketChecksums } from '../../../src/proto/packet-checksum.js';
import { SYMMETRIC_RSS_KEY, Toeplitz } from '../../../src/proto/toeplitz.js';
import { genFrame, mutateFrame, type GenFrame } from '../frames.js';
import { meteredBytes, ReadMeter } from '../meter.js';
import { check, defineTarget } from '../registry.js';
import type { Rng } from '../prng.js';

const ERROR_NAMES = [
  'ok',
  'truncated-l2',
  'truncated-l3',
  'bad-ip-version',
  'bad-ihl',
  'bad-total-len',
  'truncated-ip',
  'truncated-ext',
  'truncated-l4',
  'bad-tcp-offset',
  'bad-udp-len',
];

const FIELDS = [
  'ok',
  'error',
  'vlanCount',
  'vlanId',
  'etherType',
  'l3Offset',
  'ipVersion',
  'l3HeaderLen',
  'ipPayloadLen',
  'ttl',
  'l4Proto',
  'l4Offset',
  'l4Len',
  'fragment',
  'fragOffset',
  'srcPort',
  'dstPort',
  'tcpFlags',
  'payloadOffset',
  'payloadLen',
] as const;

interface State {
  plain: ParsedPacket;
  metered: ParsedPacket;
  meter: ReadMeter;
  toeplitz: Toeplitz;
  maxReadsPerByte: number;
  parses: number;
  bytes: number;
}

const dump = (p: ParsedPacket): string => FIELDS.map((f) => `${f}=${String(p[f])}`).join(' ');

/** Offsets and lengths of `p` (parsed from u8[off, end)) are within the frame and consistent. */
function checkLayout(p: ParsedPacket, off: number, end: number, where: string): void {
  const bad = (what: string): string => `${where}: ${what} (frame [${off}, ${end})) — ${dump(p)}`;
  check(p.ok === (p.error === 0), () => bad('ok and error disagree'));
  check(p.error >= 0 && p.error < ERROR_NAMES.length, () => bad(`unknown error code ${p.error}`));
  for (const f of FIELDS) {
    const v = p[f];
    check(typeof v === 'boolean' || (Number.isInteger(v) && v >= 0), () => bad(`${f} is ${String(v)}`));
  }
  if (end - off < 14) check(!p.ok, () => bad('a frame under 14 bytes parsed ok'));
  if (p.l3Offset !== 0) {
    check(p.l3Offset >= off + 14 && p.l3Offset <= end, () => bad('l3Offset outside the frame'));
    check(p.l3Offset === off + 14 + 4 * p.vlanCount, () => bad('l3Offset does not match the VLAN tag count'));
  }
  check(p.vlanId <= 0xfff && p.srcPort <= 0xffff && p.dstPort <= 0xffff && p.tcpFlags <= 0xff && p.fragOffset <= 0x1fff, () =>
    bad('a field exceeds its width'),
  );
  if (p.ipVersion === 0) {
    check(p.l4Offset === 0 && p.l4Len === 0 && p.payloadOffset === 0 && p.payloadLen === 0, () => bad('L4 fields set without IP'));
    return;
  }
  check(p.ipVersion === 4 || p.ipVersion === 6, () => bad(`ipVersion ${p.ipVersion}`));
  const fixed = p.ipVersion === 4 ? 20 : 40;
  check(p.l3Offset + fixed <= end, () => bad('IP header runs past the frame'));
  // IPv4: l3 + IHL×4 + payload = l3 + total length; IPv6: l3 + 40 + payload length.
  check(p.l3Offset + fixed + p.ipPayloadLen <= end, () => bad('IP payload length runs past the frame'));
  if (p.l4Offset !== 0) {
    check(p.l4Offset === p.l3Offset + p.l3HeaderLen, () => bad('l4Offset != l3Offset + l3HeaderLen'));
    check(p.l4Offset >= p.l3Offset + fixed && p.l4Offset <= end, () => bad('l4Offset outside the frame'));
    check(p.l4Offset + p.l4Len <= end, () => bad('L4 runs past the frame'));
    check(p.payloadOffset >= p.l4Offset && p.payloadOffset + p.payloadLen <= p.l4Offset + p.l4Len, () => bad('payload outside L4'));
  }
  if (p.ok && p.ipVersion === 4) check(p.l3Offset + p.l3HeaderLen <= end, () => bad('IPv4 header with options runs past the frame'));
}

function same(a: ParsedPacket, b: ParsedPacket): boolean {
  for (const f of FIELDS) if (a[f] !== b[f]) return false;
  return true;
}

/** The builder's layout is what the parser finds in an unmutated frame. */
function checkBuilt(g: GenFrame, p: ParsedPacket, u8: Uint8Array, off: number): void {
  const bad = (what: string): string => `unmutated ${g.kind} frame (${g.frame.length} bytes): ${what} — ${dump(p)}`;
  check(p.ok, () => bad(`does not parse (error ${ERROR_NAMES[p.error]})`));
  check(p.ipVersion === g.ipVersion, () => bad(`ipVersion ${p.ipVersion}, built ${g.ipVersion}`));
  if (g.ipVersion === 0) return;
  check(p.l3Offset === off + g.l3, () => bad(`l3Offset ${p.l3Offset}, built ${off} + ${g.l3}`));
  const nonFirst = p.fragOffset !== 0;
  if (!nonFirst) {
    check(p.l4Offset === off + g.l4, () => bad(`l4Offset ${p.l4Offset}, built ${off} + ${g.l4}`));
    check(p.l4Proto === g.proto, () => bad(`l4Proto ${p.l4Proto}, built ${g.proto}`));
  }
  if (g.plain) check(verifyPacketChecksums(u8, p), () => bad('checksums of a built frame do not verify'));
}

/** Parses u8[off, off+len) through the counting view and checks the window and the budget. */
function meteredParse(s: State, u8: Uint8Array, off: number, len: number, winLo: number, winHi: number, where: string): void {
  s.meter.reset(4 * Math.max(0, winHi - winLo) + 64, winLo, winHi);
  parsePacket(meteredBytes(u8, s.meter), off, len, s.metered);
  check(
    s.meter.outside === null,
    () => `${where}: the parser read index ${String(s.meter.outside)} outside the frame [${winLo}, ${winHi})`,
  );
  s.parses++;
  s.bytes += Math.max(0, winHi - winLo);
  const ratio = s.meter.reads / Math.max(1, winHi - winLo);
  if (ratio > s.maxReadsPerByte) s.maxReadsPerByte = ratio;
}

/** Everything the hot path does with a parse result, metered to the frame. */
function consumers(s: State, u8: Uint8Array, p: ParsedPacket, lo: number, hi: number, where: string): void {
  const m = s.meter;
  m.reset(8 * (hi - lo) + 256, lo, hi);
  const view = meteredBytes(u8, m);
  verifyPacketChecksums(view, p);
  s.toeplitz.hashFromPacket(view, p);
  if (p.ok) {
    for (let w = 0; w < addrWordCount(p.ipVersion); w++) {
      srcAddrWord(view, p.l3Offset, p.ipVersion, w);
      dstAddrWord(view, p.l3Offset, p.ipVersion, w);
    }
  }
  check(
    m.outside === null,
    () => `${where}: checksum/hash/address readers read index ${String(m.outside)} outside the frame [${lo}, ${hi})`,
  );
  // Recomputing checksums writes inside the frame only, and the result then verifies.
  const copy = u8.slice();
  fillPacketChecksums(copy, p);
  for (let i = 0; i < copy.length; i++)
    if ((i < lo || i >= hi) && copy[i] !== u8[i])
      check(false, `${where}: fillPacketChecksums wrote byte ${i} outside the frame [${lo}, ${hi})`);
  if (p.ok) check(verifyPacketChecksums(copy, p), () => `${where}: checksums just recomputed do not verify — ${dump(p)}`);
}

function runOne(s: State, rng: Rng, frame: Uint8Array, where: string): { p: ParsedPacket; u8: Uint8Array; off: number } {
  // The frame sits at a random offset in a larger buffer with noise around it; the parser
  // is told its length and must not look past it.
  const before = rng.chance(0.5) ? 0 : rng.int(1, 64);
  const after = rng.chance(0.3) ? 0 : rng.int(1, 64);
  const buf = new Uint8Array(before + frame.length + after);
  for (let i = 0; i < before; i++) buf[i] = rng.byte();
  buf.set(frame, before);
  for (let i = before + frame.length; i < buf.length; i++) buf[i] = rng.byte();
  const off = before;
  const end = before + frame.length;
  parsePacket(buf, off, frame.length, s.plain);
  checkLayout(s.plain, off, end, where);
  meteredParse(s, buf, off, frame.length, off, end, where);
  check(same(s.plain, s.metered), () => `${where}: two parses of the same bytes differ:\n  ${dump(s.plain)}\n  ${dump(s.metered)}`);
  consumers(s, buf, s.plain, off, end, where);
  // A length claim beyond the buffer is clamped to it, never read past.
  if (after === 0 && rng.chance(0.3)) {
    const claim = frame.length + rng.int(1, 100000);
    meteredParse(s, buf, off, claim, off, buf.length, `${where} (len ${claim} > buffer)`);
    checkLayout(s.metered, off, buf.length, `${where} (len ${claim} > buffer)`);
  }
  return { p: s.plain, u8: buf, off };
}

export default defineTarget<State>({
  name: 'parse',
  description: 'src/proto parsePacket + checksum/RSS/address readers on generated then mutated frames',
  ciCases: 10000,
  setup: () => ({
    plain: new ParsedPacket(),
    metered: new ParsedPacket(),
    meter: new ReadMeter(0, 0, 0, 'parsePacket'),
    toeplitz: new Toeplitz(SYMMETRIC_RSS_KEY),
    maxReadsPerByte: 0,
    parses: 0,
    bytes: 0,
  }),
  run: (s, rng) => {
    const jumbo = rng.chance(0.05);
    const g = genFrame(rng, jumbo ? 9018 : 1514);
    // Every fourth case also checks the unmutated frame against the builder's layout.
    if (rng.chance(0.25)) {
      const r = runOne(s, rng, g.frame, `unmutated ${g.kind}`);
      checkBuilt(g, r.p, r.u8, r.off);
    }
    const { frame, applied } = mutateFrame(rng, g, jumbo ? 70000 : 4096);
    const { p } = runOne(s, rng, frame, `${g.kind} mutated by ${applied.join(',')} (${frame.length} bytes)`);
    // Odd offsets and lengths: negative, past the end, zero.
    if (rng.chance(0.02)) {
      const q = new ParsedPacket();
      for (const [o, l] of [
        [-5, frame.length],
        [frame.length + 3, 20],
        [0, 0],
        [0, -1],
      ])
        parsePacket(frame, o, l, q);
    }
    return `${p.ok ? 'ok' : 'rejected'} ${p.ok ? (p.ipVersion === 0 ? 'non-ip' : `ipv${p.ipVersion}`) : ERROR_NAMES[p.error]}`;
  },
  summary: (s) => [
    `${s.parses} metered parses over ${s.bytes} frame bytes; most reads by one parse: ${s.maxReadsPerByte.toFixed(2)} per frame byte (budget 4 + 64/len)`,
  ],
});
