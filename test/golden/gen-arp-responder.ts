// Golden case for nfs/arp-responder: one capture on port `lan` (read and written) through the
// chain [arp, wan]. The table owns four addresses:
//   198.18.0.254  the NF's MAC, any port
//   198.18.0.253  its own MAC (02:00:00:00:00:53)
//   198.18.0.252  bound to `lan` (where the requests come in): answered
//   198.18.0.251  bound to `wan`: a request for it from `lan` is not answered (wrongPort)
// Answered requests come back out of `lan` as replies (RFC 826), VLAN tags kept; probes
// (sender 0.0.0.0, RFC 5227 §2.1.1) are answered; a request whose sender claims the address
// (RFC 5227 §2.4) is dropped; everything else — ARP for other addresses, ARP replies, IP,
// malformed frames — goes on to `wan` unchanged.
// The expected replies are built with buildArp from the request's fields, not with the NF's code.
// Run `npx tsx test/golden/gen-arp-responder.ts` to rewrite test/golden/arp-responder/.
import { buildArp } from '../../src/proto/build.js';
import type { PcapWriteRecord } from '../../src/ports/pcap/pcap-format.js';
import { mixedTraffic } from '../fixtures/traffic.js';
import { isMain, writeGolden, type GoldenFiles } from './golden-run.js';
import { nastyFrames, pcap, records, rng } from './gen-common.js';

export interface ArpGolden {
  files: GoldenFiles;
  counters: Record<string, number>;
}

const OURS = '02:00:5e:00:00:fe';
const OWN_53 = '02:00:00:00:00:53';
const MAC_OF: Record<string, string> = {
  '198.18.0.254': OURS,
  '198.18.0.253': OWN_53,
  '198.18.0.252': OURS,
};

type Fate = 'reply' | 'pass' | 'conflict';
interface Input {
  frame: Uint8Array;
  fate: Fate;
  /** For a reply: the frame the NF must send back. */
  reply?: Uint8Array;
  kind: 'request' | 'notOurs' | 'wrongPort' | 'conflict' | 'other';
}

const hex2 = (v: number): string => (v & 0xff).toString(16).padStart(2, '0');
const hostMac = (i: number): string => `0a:1b:2c:3d:${hex2(i >> 8)}:${hex2(i)}`;

function inputs(): Input[] {
  const out: Input[] = [];
  const r = rng(11);
  const traffic = mixedTraffic(30, 5, 6).map((x) => x.data);
  const owned = ['198.18.0.254', '198.18.0.253', '198.18.0.252'];
  for (let i = 0; i < 60; i++) {
    const pick = Math.floor(r() * 8);
    const mac = hostMac(i + 1);
    const senderIp = `198.18.0.${1 + (i % 200)}`;
    const vlan = pick === 1 ? [42] : pick === 2 ? [100, 7] : undefined;
    if (pick <= 3) {
      // A request for an owned address (pick 3: a probe, sender 0.0.0.0).
      const target = owned[i % owned.length];
      const sip = pick === 3 ? '0.0.0.0' : senderIp;
      out.push({
        frame: buildArp({ senderMac: mac, senderIp: sip, targetIp: target, vlan }),
        fate: 'reply',
        kind: 'request',
        reply: buildArp({ op: 'reply', senderMac: MAC_OF[target], senderIp: target, targetMac: mac, targetIp: sip, vlan }),
      });
    } else if (pick === 4) {
      out.push({ frame: buildArp({ senderMac: mac, senderIp, targetIp: `198.18.1.${i}`, vlan }), fate: 'pass', kind: 'notOurs' });
    } else if (pick === 5) {
      out.push({ frame: buildArp({ senderMac: mac, senderIp, targetIp: '198.18.0.251' }), fate: 'pass', kind: 'wrongPort' });
    } else if (pick === 6) {
      // Announcement: sender and target are both the owned address.
      out.push({
        frame: buildArp({ senderMac: mac, senderIp: '198.18.0.254', targetIp: '198.18.0.254' }),
        fate: 'conflict',
        kind: 'conflict',
      });
    } else {
      // An ARP reply to someone, then an IP packet: neither is a request.
      out.push({
        frame: buildArp({ op: 'reply', senderMac: mac, senderIp, targetMac: OURS, targetIp: '198.18.0.254' }),
        fate: 'pass',
        kind: 'other',
      });
      out.push({ frame: traffic[i % traffic.length], fate: 'pass', kind: 'other' });
    }
  }
  // Truncated ARP (cut inside the ARP header) and an ARP with a non-IPv4 protocol type: not
  // answered, passed on.
  const cut = buildArp({ senderMac: hostMac(900), senderIp: '198.18.0.9', targetIp: '198.18.0.254' }).slice(0, 30);
  out.push({ frame: cut, fate: 'pass', kind: 'other' });
  const notIpv4 = buildArp({ senderMac: hostMac(901), senderIp: '198.18.0.9', targetIp: '198.18.0.254' });
  notIpv4[16] = 0x86;
  notIpv4[17] = 0xdd;
  out.push({ frame: notIpv4, fate: 'pass', kind: 'other' });
  // The shared malformed set includes one well-formed request, for 198.18.7.254: not ours.
  for (const n of nastyFrames()) out.push({ frame: n.data, fate: 'pass', kind: n.name === 'arp-request' ? 'notOurs' : 'other' });
  return out;
}

export function generate(): ArpGolden {
  const ins = inputs();
  const inRecs = records(ins.map((x) => x.frame));
  const lanOut: PcapWriteRecord[] = [];
  const wanOut: PcapWriteRecord[] = [];
  ins.forEach((x, i) => {
    if (x.fate === 'reply') lanOut.push({ ...inRecs[i], data: x.reply as Uint8Array });
    else if (x.fate === 'pass') wanOut.push(inRecs[i]);
  });
  const n = (k: Input['kind']): number => ins.filter((x) => x.kind === k).length;
  const counters = {
    requests: n('request') + n('notOurs') + n('wrongPort') + n('conflict'),
    replies: n('request'),
    notOurs: n('notOurs'),
    wrongPort: n('wrongPort'),
    conflicts: n('conflict'),
  };
  const config = `# Generated by test/golden/gen-arp-responder.ts: do not edit; run npx tsx test/golden/gen-arp-responder.ts
ports:
  lan: { driver: pcap, read: lan-in.pcap, write: lan-out.pcap }
  wan: { driver: pcap, write: wan-out.pcap }
services:
  arp:
    nf: arp-responder
    args:
      mac: '${OURS}'
      addresses:
        - 198.18.0.254
        - { ip: 198.18.0.253, mac: '${OWN_53}' }
        - { ip: 198.18.0.252, port: lan }
        - { ip: 198.18.0.251, port: wan }
chains:
  from-lan: [arp, wan]
rules:
  - { match: { inPort: lan }, chain: from-lan }
`;
  return {
    files: {
      'config.yaml': config,
      'lan-in.pcap': pcap(inRecs),
      'expected/lan-out.pcap': pcap(lanOut),
      'expected/wan-out.pcap': pcap(wanOut),
    },
    counters,
  };
}

if (isMain(import.meta.url)) writeGolden('arp-responder', generate().files);
