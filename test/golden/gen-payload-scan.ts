// Golden case for nfs/payload-scan, three chains:
//   drop    flow scope: a flow in which a pattern shows up loses that packet and every later
//           one, in both directions
//   divert  packet scope, case-insensitive: matching packets go to the service `quarantine`
//           (a forward NF sending them out of q-out), the rest to out
//   alert   every packet passes; the counters count the matches
// The expected outputs come from a naive search (indexOf on each packet's scanned bytes) and
// a Map of flagged flows, not from the NF's automaton or flow table.
// Run `npx tsx test/golden/gen-payload-scan.ts` to rewrite test/golden/payload-scan/.
import { buildPacket } from '../../src/proto/build.js';
import { parsePacket, ParsedPacket } from '../../src/proto/parse.js';
import type { PcapWriteRecord } from '../../src/ports/pcap/pcap-format.js';
import { isMain, writeGolden, type GoldenFiles } from './golden-run.js';
import { nastyFrames, pcap, records, rng } from './gen-common.js';

const WORDS = ['hello', 'user=bob', 'GET /index.html', 'select', 'from', 'cmd', 'exe', 'data', 'zzz', 'Password', 'MZ'];
const PLANTS = ['password=hunter2', 'SELECT * FROM users', 'run cmd.exe now', 'pAsSwOrD=x', 'select * from t'];
/** The patterns of every chain: text, and the DOS "MZ" header as hex. */
const PATTERNS = ['password=', 'SELECT * FROM', 'cmd.exe'];
const HEX = Uint8Array.from([0x4d, 0x5a, 0x90, 0x00]);

function traffic(seed: number, flows: number, packets: number): PcapWriteRecord[] {
  const rand = rng(seed);
  const frames: Uint8Array[] = [];
  const nasty = nastyFrames();
  for (let i = 0; i < packets; i++) {
    if (i % 30 === 29) {
      // A malformed frame with a pattern inside its bytes.
      const n = nasty[((i / 30) % nasty.length) | 0].data;
      const withPattern = new Uint8Array(n.length + 16);
      withPattern.set(n);
      withPattern.set(new TextEncoder().encode('cmd.exe'), n.length + 4);
      frames.push(i % 60 === 59 ? withPattern : n);
      continue;
    }
    const f = Math.floor(rand() * flows);
    const v6 = f % 4 === 3;
    const reply = rand() < 0.4;
    const a = v6 ? `2001:db8::c:${f + 1}` : `198.18.3.${f + 1}`;
    const b = v6 ? '2001:db8::5:1' : '198.19.3.1';
    const words = Array.from({ length: 1 + Math.floor(rand() * 6) }, () => WORDS[Math.floor(rand() * WORDS.length)]);
    if (rand() < 0.08) words.splice(Math.floor(rand() * words.length), 0, PLANTS[Math.floor(rand() * PLANTS.length)]);
    let payload: Uint8Array = new TextEncoder().encode(words.join(' '));
    if (rand() < 0.03) payload = Uint8Array.from([...payload, ...HEX, 1, 2, 3]);
    const proto = f % 3 === 0 ? 'tcp' : 'udp';
    frames.push(
      buildPacket({
        src: reply ? b : a,
        dst: reply ? a : b,
        proto,
        srcPort: reply ? 80 : 3000 + f,
        dstPort: reply ? 3000 + f : 80,
        payload,
      }),
    );
  }
  return records(frames);
}

const fold = (b: number): number => (b >= 0x41 && b <= 0x5a ? b + 32 : b);

function contains(hay: Uint8Array, needle: Uint8Array, ci: boolean): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let k = 0; k < needle.length; k++) {
      const x = ci ? fold(hay[i + k]) : hay[i + k];
      const y = ci ? fold(needle[k]) : needle[k];
      if (x !== y) continue outer;
    }
    return true;
  }
  return false;
}

/** The bytes the NF scans (see its README): payload, IP payload, after-Ethernet. */
function scanned(f: Uint8Array, p: ParsedPacket): Uint8Array {
  if (!parsePacket(f, 0, f.length, p)) return f.subarray(f.length < 14 ? 0 : 14);
  if (p.ipVersion === 0) return f.subarray(p.l3Offset);
  return f.subarray(p.payloadOffset, p.payloadOffset + p.payloadLen);
}

function flowKey(f: Uint8Array, p: ParsedPacket): string {
  const l3 = p.l3Offset;
  const n = p.ipVersion === 4 ? 4 : 16;
  const s = Buffer.from(f.subarray(l3 + (p.ipVersion === 4 ? 12 : 8), l3 + (p.ipVersion === 4 ? 12 : 8) + n)).toString('hex');
  const d = Buffer.from(f.subarray(l3 + (p.ipVersion === 4 ? 16 : 24), l3 + (p.ipVersion === 4 ? 16 : 24) + n)).toString('hex');
  const ends = [`${s}/${p.srcPort}`, `${d}/${p.dstPort}`].sort();
  return `${p.ipVersion}|${p.l4Proto}|${ends.join('|')}`;
}

export interface PayloadScanGolden {
  files: GoldenFiles;
  counters: Record<string, Record<string, number>>;
}

export function generate(): PayloadScanGolden {
  const pats = [...PATTERNS.map((s) => new TextEncoder().encode(s)), HEX];
  const p = new ParsedPacket();
  const matches = (f: Uint8Array, ci: boolean): boolean => pats.some((x) => contains(scanned(f, p), x, ci));

  const dropIn = traffic(21, 40, 400);
  const flagged = new Set<string>();
  const dropOut: PcapWriteRecord[] = [];
  const dc = { packets: 0, matched: 0, flowHits: 0, flowsFlagged: 0, dropped: 0, malformed: 0 };
  for (const r of dropIn) {
    dc.packets++;
    const ok = parsePacket(r.data, 0, r.data.length, p);
    if (!ok) dc.malformed++;
    const keyed = ok && p.ipVersion !== 0;
    const key = keyed ? flowKey(r.data, p) : '';
    if (keyed && flagged.has(key)) {
      dc.flowHits++;
      dc.dropped++;
      continue;
    }
    if (matches(r.data, false)) {
      dc.matched++;
      dc.dropped++;
      if (keyed) {
        flagged.add(key);
        dc.flowsFlagged++;
      }
      continue;
    }
    dropOut.push(r);
  }

  const divertIn = traffic(22, 10, 300);
  const divertOut = divertIn.filter((r) => !matches(r.data, true));
  const quarantine = divertIn.filter((r) => matches(r.data, true));
  const alertIn = traffic(23, 8, 200);
  const alertMatched = alertIn.filter((r) => matches(r.data, false)).length;

  const config = `# Generated by test/golden/gen-payload-scan.ts: do not edit; run npx tsx test/golden/gen-payload-scan.ts
ports:
  drop-in: { driver: pcap, read: drop-in.pcap }
  divert-in: { driver: pcap, read: divert-in.pcap }
  alert-in: { driver: pcap, read: alert-in.pcap }
  drop-out: { driver: pcap, write: drop-out.pcap }
  divert-out: { driver: pcap, write: divert-out.pcap }
  q-out: { driver: pcap, write: quarantine.pcap }
  alert-out: { driver: pcap, write: alert-out.pcap }
services:
  scan-drop:
    nf: payload-scan
    args: { patterns: ['password=', 'SELECT * FROM', 'cmd.exe', { hex: '4d 5a 90 00', name: pe-header }], action: drop }
  scan-divert:
    nf: payload-scan
    args:
      patterns: ['password=', 'SELECT * FROM', 'cmd.exe', { hex: '4d5a9000' }]
      caseInsensitive: true
      action: divert
      to: quarantine
      scope: packet
  quarantine: { nf: forward, args: { port: q-out } }
  scan-alert:
    nf: payload-scan
    args: { patterns: ['password=', 'SELECT * FROM', 'cmd.exe', { hex: '4d5a9000' }], action: alert, scope: packet, alertsPerSecond: 1000 }
chains:
  drop: [scan-drop, drop-out]
  divert: [scan-divert, divert-out]
  alert: [scan-alert, alert-out]
rules:
  - { match: { inPort: drop-in }, chain: drop }
  - { match: { inPort: divert-in }, chain: divert }
  - { match: { inPort: alert-in }, chain: alert }
`;
  return {
    files: {
      'config.yaml': config,
      'drop-in.pcap': pcap(dropIn),
      'divert-in.pcap': pcap(divertIn),
      'alert-in.pcap': pcap(alertIn),
      'expected/drop-out.pcap': pcap(dropOut),
      'expected/divert-out.pcap': pcap(divertOut),
      'expected/quarantine.pcap': pcap(quarantine),
      'expected/alert-out.pcap': pcap(alertIn),
    },
    counters: {
      'scan-drop': dc,
      'scan-divert': { packets: divertIn.length, matched: quarantine.length, diverted: quarantine.length, flowHits: 0 },
      'scan-alert': { packets: alertIn.length, alerted: alertMatched, dropped: 0 },
    },
  };
}

if (isMain(import.meta.url)) writeGolden('payload-scan', generate().files);
