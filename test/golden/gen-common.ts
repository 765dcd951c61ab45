// Shared pieces of the golden generators: timestamps, pcap bytes, and the set of malformed and
// unusual frames every catalog NF must survive (and count) — truncated headers, bad lengths,
// IPv4 options, IPv6 extension headers, fragments. Deterministic: no clock, no Math.random.
import { buildArp, buildPacket, type PacketSpec } from '../../src/proto/build.js';
import { writePcap, type PcapWriteRecord } from '../../src/ports/pcap/pcap-format.js';

export { rng } from '../fixtures/traffic.js';

/** 2023-11-14T22:13:20Z: the first record's time in every golden input. */
export const T0 = 1_700_000_000;

/** Records at T0 + i × stepUs microseconds (or the given per-frame times in µs from T0). */
export function records(frames: Uint8Array[], stepUs = 1000, timesUs?: number[]): PcapWriteRecord[] {
  return frames.map((data, i) => {
    const us = timesUs !== undefined ? timesUs[i] : i * stepUs;
    const sec = T0 + Math.floor(us / 1e6);
    return { data, tsSec: sec, tsNsec: (us % 1e6) * 1000 };
  });
}

/** A classic pcap file (µs timestamps), as the pcap port writes it. */
export function pcap(recs: PcapWriteRecord[]): Uint8Array {
  return writePcap(recs, { format: 'pcap', precision: 'us' });
}

export interface NamedFrame {
  name: string;
  data: Uint8Array;
  /** Parses without error (an unusual but valid packet: options, extension headers, fragments). */
  valid: boolean;
}

const base: PacketSpec = { src: '198.18.7.1', dst: '198.19.7.2', proto: 'udp', srcPort: 4000, dstPort: 5000, payload: 'malformed?' };

/** Frames with every kind of trouble, in a fixed order. */
export function nastyFrames(): NamedFrame[] {
  const out: NamedFrame[] = [];
  const add = (name: string, data: Uint8Array, valid = false): void => void out.push({ name, data, valid });

  add('runt-10-bytes', buildPacket(base).slice(0, 10));
  const tagged = buildPacket({ ...base, vlan: [42] });
  add('cut-inside-vlan-tag', tagged.slice(0, 16));
  add('ipv4-header-cut', buildPacket({ ...base, pad: false }).slice(0, 14 + 12));
  const badIhl = buildPacket(base);
  badIhl[14] = 0x43; // IHL 3 (12 bytes) is below the minimum of 5 (RFC 791)
  add('ipv4-ihl-3', badIhl);
  const longTotal = buildPacket({ ...base, pad: false });
  longTotal[16] = 0x05; // total length 1280+ > the frame
  add('ipv4-total-length-beyond-frame', longTotal);
  const shortTotal = buildPacket(base);
  shortTotal[16] = 0;
  shortTotal[17] = 12; // shorter than its own header
  add('ipv4-total-length-below-header', shortTotal);
  add('ipv4-options', buildPacket({ ...base, ipv4Options: Uint8Array.from([0x94, 0x04, 0, 0, 0x01, 0x01, 0x01, 0x00]) }), true);
  add('ipv4-first-fragment', buildPacket({ ...base, moreFragments: true, id: 77, payload: 'first fragment of a datagram' }), true);
  add('ipv4-later-fragment', buildPacket({ ...base, fragOffset: 64, id: 77, payload: 'a later fragment' }), true);
  add(
    'ipv6-extension-headers',
    buildPacket({ ...base, src: '2001:db8::7:1', dst: '2001:db8::7:2', ipv6Ext: [{ type: 0 }, { type: 60, length: 16 }] }),
    true,
  );
  add(
    'ipv6-later-fragment',
    buildPacket({ ...base, src: '2001:db8::7:1', dst: '2001:db8::7:2', ipv6Ext: [{ type: 44, fragOffset: 10, fragId: 9 }] }),
    true,
  );
  const extCut = buildPacket({ ...base, src: '2001:db8::7:1', dst: '2001:db8::7:2', ipv6Ext: [{ type: 60, length: 16 }], pad: false });
  extCut[14 + 40 + 1] = 200; // destination options header claims 1608 bytes
  add('ipv6-extension-header-beyond-packet', extCut);
  const v6Long = buildPacket({ ...base, src: '2001:db8::7:1', dst: '2001:db8::7:2', pad: false });
  v6Long[14 + 4] = 0x10; // payload length 4096+ > the frame
  add('ipv6-payload-length-beyond-frame', v6Long);
  const udpLen = buildPacket(base);
  udpLen[14 + 20 + 4] = 0;
  udpLen[14 + 20 + 5] = 4; // UDP length 4 < 8 (RFC 768)
  add('udp-length-4', udpLen);
  const tcpOff = buildPacket({ ...base, proto: 'tcp' });
  tcpOff[14 + 20 + 12] = 0x20; // data offset 2 words < 5 (RFC 9293 §3.1)
  add('tcp-data-offset-2', tcpOff);
  add('tcp-header-cut', buildPacket({ ...base, proto: 'tcp', pad: false }).slice(0, 14 + 20 + 10));
  add('arp-request', buildArp({ senderMac: '02:00:00:00:00:07', senderIp: '198.18.7.1', targetIp: '198.18.7.254' }), true);
  add('qinq-ipv4-udp', buildPacket({ ...base, vlan: [100, 200] }), true);
  return out;
}
