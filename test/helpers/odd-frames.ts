// Frames every catalog NF must survive: malformed ones (which it must count, never throw on)
// and well-formed but unusual ones (IPv4 options, IPv6 extension headers, fragments) that it
// must handle as the protocol says. Built from the packet builder, then damaged.
import { buildPacket, type PacketSpec } from '../../src/proto/build.js';

export interface OddFrame {
  name: string;
  data: Uint8Array;
  /** True when the parser rejects it (p.ok false): NFs count these as malformed. */
  malformed: boolean;
}

function cut(f: Uint8Array, n: number): Uint8Array {
  return f.slice(0, n);
}
function set16(f: Uint8Array, o: number, v: number): Uint8Array {
  const g = f.slice();
  g[o] = v >>> 8;
  g[o + 1] = v;
  return g;
}

/** `base` gives the addresses (so an NF's rules or VIPs can apply); defaults are documentation addresses. */
export function oddFrames(base: Partial<PacketSpec> = {}): OddFrame[] {
  const v4: PacketSpec = { src: '10.0.0.1', dst: '192.0.2.1', proto: 'tcp', srcPort: 40000, dstPort: 80, ...base } as PacketSpec;
  const v6: PacketSpec = { src: '2001:db8::1', dst: '2001:db8:1::1', proto: 'udp', srcPort: 40000, dstPort: 53 };
  const tcp4 = buildPacket({ ...v4, pad: false });
  const udp6 = buildPacket({ ...v6, pad: false });
  const udp4 = buildPacket({ ...v4, proto: 'udp', pad: false });
  return [
    { name: 'empty', data: new Uint8Array(0), malformed: true },
    { name: 'truncated ethernet', data: cut(tcp4, 10), malformed: true },
    { name: 'truncated ipv4 header', data: cut(tcp4, 14 + 12), malformed: true },
    { name: 'ipv4 ihl below 5', data: ((): Uint8Array => ((g) => ((g[14] = 0x44), g))(tcp4.slice()))(), malformed: true },
    { name: 'ipv4 total length beyond frame', data: set16(tcp4, 16, 1400), malformed: true },
    { name: 'ipv4 total length below header', data: set16(tcp4, 16, 12), malformed: true },
    { name: 'truncated tcp header', data: set16(cut(tcp4, 14 + 20 + 10), 16, 30), malformed: true },
    { name: 'udp length beyond ip payload', data: set16(udp4, 14 + 20 + 4, 500), malformed: true },
    { name: 'truncated ipv6 header', data: cut(udp6, 14 + 30), malformed: true },
    { name: 'ipv6 payload length beyond frame', data: set16(udp6, 14 + 4, 900), malformed: true },
    {
      name: 'ipv6 extension header past the end',
      data: ((): Uint8Array => {
        const f = buildPacket({ ...v6, ipv6Ext: [{ type: 0, length: 8 }], pad: false });
        const g = f.slice();
        g[14 + 40 + 1] = 30; // hop-by-hop length: 248 bytes
        return g;
      })(),
      malformed: true,
    },
    { name: 'ipv4 with options', data: buildPacket({ ...v4, ipv4Options: Uint8Array.of(1, 1, 1, 1, 7, 7, 4, 0) }), malformed: false },
    {
      name: 'ipv4 first fragment',
      data: buildPacket({ ...v4, moreFragments: true, id: 77, payload: new Uint8Array(64) }),
      malformed: false,
    },
    {
      name: 'ipv4 non-first fragment',
      data: buildPacket({ ...v4, fragOffset: 10, id: 77, payload: new Uint8Array(40) }),
      malformed: false,
    },
    {
      name: 'ipv6 hop-by-hop + routing + destination options',
      data: buildPacket({ ...v6, ipv6Ext: [{ type: 0 }, { type: 43, length: 24 }, { type: 60, length: 16 }] }),
      malformed: false,
    },
    {
      name: 'ipv6 fragment',
      data: buildPacket({ ...v6, ipv6Ext: [{ type: 44, fragOffset: 20, fragId: 9 }], payload: new Uint8Array(32) }),
      malformed: false,
    },
    { name: 'arp', data: ((): Uint8Array => buildArpFrame())(), malformed: false },
  ];
}

function buildArpFrame(): Uint8Array {
  const f = new Uint8Array(60);
  f.fill(0xff, 0, 6);
  f.set([2, 0, 0, 0, 0, 9], 6);
  f[12] = 0x08;
  f[13] = 0x06;
  f.set([0, 1, 8, 0, 6, 4, 0, 1], 14);
  return f;
}
