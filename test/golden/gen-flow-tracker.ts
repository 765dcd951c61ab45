// Golden case for nfs/flow-tracker on the packet clock (idleTimeout 2 s, closedTimeout 1 s):
// TCP connections that close with FINs (one reopened on the same ports later), one reset, one
// picked up mid-stream, one unanswered SYN; UDP flows with a long gap (two records); ICMP echo;
// IPv6; the malformed and unusual frames. The packets pass unchanged (out.pcap = in.pcap) and
// flows.jsonl must be exactly the records a small model written here produces — its own map of
// flows and its own TCP state machine, following the README, not the NF's code.
// Run `npx tsx test/golden/gen-flow-tracker.ts` to rewrite test/golden/flow-tracker/.
import { buildPacket, type PacketSpec } from '../../src/proto/build.js';
import { formatIpv4, formatIpv6 } from '../../src/proto/address.js';
import { parsePacket, ParsedPacket } from '../../src/proto/parse.js';
import { writePcap, type PcapWriteRecord } from '../../src/ports/pcap/pcap-format.js';
import { isMain, writeGolden, type GoldenFiles } from './golden-run.js';
import { nastyFrames, records, rng } from './gen-common.js';

const IDLE = 2;
const CLOSED = 1;
const SYN = 2;
const ACK = 16;
const FIN = 1;
const RST = 4;
const PSH = 8;

interface Ev {
  us: number;
  frame: Uint8Array;
}

function tcpConversation(evs: Ev[], t0: number, c: PacketSpec, script: [boolean, number, number][]): void {
  // script: [fromServer, flags, payload bytes], 20 ms apart
  script.forEach(([fromServer, flags, bytes], i) => {
    const spec: PacketSpec = fromServer
      ? {
          ...c,
          src: c.dst,
          dst: c.src,
          srcPort: c.dstPort,
          dstPort: c.srcPort,
          tcpFlags: flags,
          payload: new Uint8Array(bytes).fill(0x61 + i),
        }
      : { ...c, tcpFlags: flags, payload: new Uint8Array(bytes).fill(0x41 + i) };
    evs.push({ us: t0 + i * 20_000, frame: buildPacket(spec) });
  });
}

function events(): Ev[] {
  const evs: Ev[] = [];
  const rand = rng(51);
  const v4 = { src: '198.18.5.1', dst: '198.19.5.80', proto: 'tcp' as const, srcPort: 40001, dstPort: 80 };
  const closeScript: [boolean, number, number][] = [
    [false, SYN, 0],
    [true, SYN | ACK, 0],
    [false, ACK, 0],
    [false, ACK | PSH, 120],
    [true, ACK | PSH, 900],
    [true, ACK | PSH, 400],
    [false, ACK, 0],
    [false, FIN | ACK, 0],
    [true, ACK, 0],
    [true, FIN | ACK, 0],
    [false, ACK, 0],
  ];
  tcpConversation(evs, 100_000, v4, closeScript);
  // The same ports again 4 s later: a new connection, a new record.
  tcpConversation(evs, 4_100_000, v4, closeScript);
  tcpConversation(evs, 300_000, { src: '2001:db8::5:1', dst: '2001:db8::5:80', proto: 'tcp', srcPort: 50000, dstPort: 443 }, [
    [false, SYN, 0],
    [true, SYN | ACK, 0],
    [false, ACK, 0],
    [false, ACK | PSH, 300],
    [true, RST, 0],
  ]);
  // Picked up mid-stream: the server's data comes first.
  tcpConversation(evs, 500_000, { src: '198.18.5.2', dst: '198.19.5.22', proto: 'tcp', srcPort: 40002, dstPort: 22 }, [
    [true, ACK | PSH, 200],
    [false, ACK, 0],
    [true, ACK | PSH, 64],
  ]);
  tcpConversation(evs, 700_000, { src: '198.18.5.3', dst: '198.19.5.25', proto: 'tcp', srcPort: 40003, dstPort: 25 }, [[false, SYN, 0]]);
  // UDP every 500 ms for 2 s, silence for 3 s, then more: two flows of one 5-tuple.
  for (const t of [0, 500, 1000, 1500, 2000, 5000, 5500]) {
    evs.push({
      us: 200_000 + t * 1000,
      frame: buildPacket({ src: '198.18.5.4', dst: '198.19.5.53', proto: 'udp', srcPort: 5353, dstPort: 53, payload: 'query' }),
    });
    evs.push({
      us: 210_000 + t * 1000,
      frame: buildPacket({ src: '198.19.5.53', dst: '198.18.5.4', proto: 'udp', srcPort: 53, dstPort: 5353, payload: 'answer!' }),
    });
  }
  for (let i = 0; i < 4; i++) {
    evs.push({
      us: 900_000 + i * 300_000,
      frame: buildPacket({ src: '2001:db8::5:9', dst: '2001:db8::5:1', proto: 'icmp', icmpId: 7, icmpSeq: i }),
    });
    evs.push({
      us: 905_000 + i * 300_000,
      frame: buildPacket({ src: '2001:db8::5:1', dst: '2001:db8::5:9', proto: 'icmp', icmpType: 129, icmpId: 7, icmpSeq: i }),
    });
  }
  for (let i = 0; i < 80; i++) {
    const f = Math.floor(rand() * 12);
    evs.push({
      us: Math.floor(rand() * 6_000_000),
      frame: buildPacket({
        src: `198.18.6.${f}`,
        dst: '198.19.6.1',
        proto: 'udp',
        srcPort: 6000 + f,
        dstPort: 6000,
        size: 60 + Math.floor(rand() * 500),
      }),
    });
  }
  nastyFrames().forEach((n, i) => evs.push({ us: 3_000_000 + i * 37_000, frame: n.data }));
  // Unique, increasing times: ties broken by insertion order, 1 µs apart.
  evs.forEach((e, i) => (e.us = e.us * 10 + (i % 10)));
  evs.sort((a, b) => a.us - b.us);
  return evs;
}

interface Flow {
  key: string;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  proto: number;
  v: number;
  first: [number, number];
  last: [number, number];
  fp: number;
  fb: number;
  rp: number;
  rb: number;
  tcp: string;
  finF: boolean;
  finR: boolean;
}

const iso = (sec: number, nsec: number): string => `${new Date(sec * 1000).toISOString().slice(0, 19)}.${String(nsec).padStart(9, '0')}Z`;
const protoText = (p: number): string | number => ({ 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'icmpv6', 132: 'sctp' })[p] ?? p;

function line(f: Flow, end: string): string {
  const rec: Record<string, unknown> = {
    src: f.src,
    srcPort: f.srcPort,
    dst: f.dst,
    dstPort: f.dstPort,
    proto: protoText(f.proto),
    ipVersion: f.v,
    firstSeen: iso(...f.first),
    lastSeen: iso(...f.last),
    packets: f.fp + f.rp,
    bytes: f.fb + f.rb,
    fwdPackets: f.fp,
    fwdBytes: f.fb,
    revPackets: f.rp,
    revBytes: f.rb,
  };
  if (f.tcp !== '') rec.tcpState = f.tcp;
  rec.end = end;
  return JSON.stringify(rec);
}

function model(recs: PcapWriteRecord[]): { lines: string[]; counters: Record<string, number> } {
  const flows = new Map<string, Flow>();
  const lines: string[] = [];
  const c = { packets: 0, malformed: 0, nonIp: 0, flowsStarted: 0, exported: 0 };
  const p = new ParsedPacket();
  const endReason = (f: Flow): string => (f.tcp === 'closed' ? 'closed' : f.tcp === 'reset' ? 'reset' : 'idle');
  for (const r of recs) {
    c.packets++;
    const fr = r.data;
    if (!parsePacket(fr, 0, fr.length, p)) {
      c.malformed++;
      continue;
    }
    if (p.ipVersion === 0) {
      c.nonIp++;
      continue;
    }
    const v = p.ipVersion;
    const so = p.l3Offset + (v === 4 ? 12 : 8);
    const dO = p.l3Offset + (v === 4 ? 16 : 24);
    const n = v === 4 ? 4 : 16;
    const txt = (o: number): string =>
      v === 4 ? formatIpv4(((fr[o] << 24) | (fr[o + 1] << 16) | (fr[o + 2] << 8) | fr[o + 3]) >>> 0) : formatIpv6(fr, o);
    const a = `${Buffer.from(fr.subarray(so, so + n)).toString('hex')}/${p.srcPort}`;
    const b = `${Buffer.from(fr.subarray(dO, dO + n)).toString('hex')}/${p.dstPort}`;
    const key = `${v}|${p.l4Proto}|${[a, b].sort().join('|')}`;
    let f = flows.get(key);
    const t: [number, number] = [r.tsSec, r.tsNsec];
    if (f !== undefined) {
      const idleFor = t[0] - f.last[0] + (t[1] - f.last[1]) / 1e9;
      if (idleFor > (f.tcp === 'closed' || f.tcp === 'reset' ? CLOSED : IDLE)) {
        lines.push(line(f, endReason(f)));
        c.exported++;
        flows.delete(key);
        f = undefined;
      }
    }
    let first = false;
    if (f === undefined) {
      first = true;
      c.flowsStarted++;
      f = {
        key: a,
        src: txt(so),
        dst: txt(dO),
        srcPort: p.srcPort,
        dstPort: p.dstPort,
        proto: p.l4Proto,
        v,
        first: t,
        last: t,
        fp: 0,
        fb: 0,
        rp: 0,
        rb: 0,
        tcp: p.l4Proto === 6 && p.fragOffset === 0 ? 'new' : '',
        finF: false,
        finR: false,
      };
      flows.set(key, f);
    }
    const rev = a !== f.key;
    if (rev) {
      f.rp++;
      f.rb += fr.length;
    } else {
      f.fp++;
      f.fb += fr.length;
    }
    f.last = t;
    if (f.tcp !== '' && p.fragOffset === 0 && f.tcp !== 'reset') {
      const fl = p.tcpFlags;
      if (fl & RST) f.tcp = 'reset';
      else {
        if (first && fl & SYN && !(fl & ACK)) f.tcp = 'syn-sent';
        else if (f.tcp === 'syn-sent' && rev && fl & SYN && fl & ACK) f.tcp = 'syn-received';
        else if (f.tcp === 'syn-received' && !rev && fl & ACK && !(fl & SYN)) f.tcp = 'established';
        else if (f.tcp === 'new' && rev) f.tcp = 'established';
        if (fl & FIN) {
          if (rev) f.finR = true;
          else f.finF = true;
          f.tcp = f.finF && f.finR ? 'closed' : 'fin-wait';
        }
      }
    }
  }
  const rest = [...flows.values()].sort((x, y) => x.first[0] - y.first[0] || x.first[1] - y.first[1]);
  for (const f of rest) {
    lines.push(line(f, 'shutdown'));
    c.exported++;
  }
  return { lines, counters: c };
}

export interface FlowTrackerGolden {
  files: GoldenFiles;
  counters: Record<string, Record<string, number>>;
}

export function generate(): FlowTrackerGolden {
  const evs = events();
  const recs = records(
    evs.map((e) => e.frame),
    0,
    evs.map((e) => Math.floor(e.us / 10)),
  );
  // records() takes whole µs; keep the tie-breaking tenths as nanoseconds.
  evs.forEach((e, i) => (recs[i].tsNsec += (e.us % 10) * 100));
  const m = model(recs);
  const config = `# Generated by test/golden/gen-flow-tracker.ts: do not edit; run npx tsx test/golden/gen-flow-tracker.ts
ports:
  in: { driver: pcap, read: in.pcap }
  out: { driver: pcap, write: out.pcap, precision: ns }
services:
  flows: { nf: flow-tracker, args: { file: flows.jsonl, idleTimeout: ${IDLE}, closedTimeout: ${CLOSED}, clock: packet, interval: 0 } }
chains:
  default: [flows, out]
`;
  // Nanosecond timestamps: some packets are 100 ns apart.
  const nsPcap = (r: PcapWriteRecord[]): Uint8Array => writePcap(r, { format: 'pcap', precision: 'ns' });
  return {
    files: {
      'config.yaml': config,
      'in.pcap': nsPcap(recs),
      'expected/out.pcap': nsPcap(recs),
      'expected/flows.jsonl': m.lines.join('\n') + '\n',
    },
    counters: { flows: m.counters },
  };
}

if (isMain(import.meta.url)) writeGolden('flow-tracker', generate().files);
