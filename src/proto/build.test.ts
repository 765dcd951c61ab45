import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildArp, buildPacket, buildPacketLayout, formatIpv4, formatIpv6, formatMac, parseIpv4, parseIpv6, parseMac } from './build.js';
import { verifyIcmpChecksum, verifyIpv4HeaderChecksum, verifyL4ChecksumV4, verifyL4ChecksumV6 } from './checksum.js';

const hex = (u8: Uint8Array): string => Buffer.from(u8).toString('hex');
const be16 = (u8: Uint8Array, o: number): number => (u8[o] << 8) | u8[o + 1];

/** Straightforward reference checksum (RFC 1071), independent of checksum.ts. */
function refSum(bytes: number[]): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i] << 8) + (bytes[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}
const slice = (u8: Uint8Array, a: number, b: number): number[] => Array.from(u8.subarray(a, b));

test('address: IPv4 text round trip and rejects', () => {
  assert.equal(parseIpv4('192.168.0.1'), 0xc0a80001);
  assert.equal(parseIpv4('255.255.255.255'), 0xffffffff);
  assert.equal(parseIpv4('0.0.0.0'), 0);
  assert.equal(formatIpv4(0xc0a800c7), '192.168.0.199');
  assert.equal(formatIpv4(0xffffffff), '255.255.255.255');
  for (const bad of ['1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.-1', '01.2.3.4', 'a.b.c.d', '1..2.3', ' 1.2.3.4']) {
    assert.throws(() => parseIpv4(bad), Error, bad);
  }
});

test('address: IPv6 parse handles :: and embedded IPv4, format follows RFC 5952', () => {
  assert.equal(hex(parseIpv6('::')), '00'.repeat(16));
  assert.equal(hex(parseIpv6('::1')), '00'.repeat(15) + '01');
  assert.equal(hex(parseIpv6('1::')), '0001' + '00'.repeat(14));
  assert.equal(hex(parseIpv6('2001:db8::ff00:42:8329')), '20010db8000000000000ff0000428329');
  assert.equal(hex(parseIpv6('2001:0DB8:0000:0000:0000:ff00:0042:8329')), '20010db8000000000000ff0000428329');
  assert.equal(hex(parseIpv6('::ffff:192.0.2.1')), '00000000000000000000ffffc0000201');
  assert.equal(hex(parseIpv6('1:2:3:4:5:6:7::')), '0001000200030004000500060007' + '0000');
  const cases: Array<[string, string]> = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // longest run wins
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
    ['0:0:0:0:0:0:0:0', '::'],
    ['fe80:0:0:0:200:f8ff:fe21:67cf', 'fe80::200:f8ff:fe21:67cf'],
    ['1:0:0:0:0:0:0:0', '1::'],
  ];
  for (const [input, canon] of cases) assert.equal(formatIpv6(parseIpv6(input)), canon);
  const buf = new Uint8Array(20);
  buf.set(parseIpv6('ff02::1'), 4);
  assert.equal(formatIpv6(buf, 4), 'ff02::1');
  for (const bad of ['1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'g::1', ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8::', '1.2.3.4::']) {
    assert.throws(() => parseIpv6(bad), Error, bad);
  }
});

test('address: MAC parse/format', () => {
  assert.equal(hex(parseMac('aa:BB:0c:dd:ee:0f')), 'aabb0cddee0f');
  assert.equal(hex(parseMac('01-02-03-04-05-06')), '010203040506');
  assert.equal(formatMac(Uint8Array.of(9, 0xaa, 0xbb, 0, 1, 2, 3), 1), 'aa:bb:00:01:02:03');
  assert.throws(() => parseMac('aa:bb:cc:dd:ee'));
  assert.throws(() => parseMac('aa:bb:cc:dd:ee:fg'));
});

test('build: IPv4 header matches the textbook example (checksum 0xb861)', () => {
  // The widely used example header 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7.
  const p = buildPacketLayout({
    src: '192.168.0.1',
    dst: '192.168.0.199',
    proto: 'udp',
    dontFragment: true,
    payload: new Uint8Array(0x73 - 28),
  });
  assert.equal(hex(p.frame.subarray(14, 34)), '45000073000040004011b861c0a80001c0a800c7');
  assert.equal(be16(p.frame, 24), 0xb861);
  assert.equal(p.frame.length, 14 + 0x73);
});

test('build: IPv4 TCP SYN equals an independently computed frame', () => {
  const f = buildPacket({
    src: '10.0.0.1',
    dst: '10.0.0.2',
    proto: 'tcp',
    srcPort: 1234,
    dstPort: 80,
    seq: 1,
    tcpFlags: 0x02,
    id: 0x1c46,
    dontFragment: true,
  });
  assert.equal(
    hex(f),
    '0200000000020200000000010800450000281c46400040060a880a0000010a00000204d2005000000001000000005002ffff96bd0000000000000000',
  );
  assert.ok(verifyIpv4HeaderChecksum(f, 14));
  assert.ok(verifyL4ChecksumV4(f, 14, 34, 20, 6));
});

test('build: IPv6 UDP equals an independently computed frame', () => {
  const f = buildPacket({
    src: '2001:db8::1',
    dst: '2001:db8::2',
    proto: 'udp',
    srcPort: 5000,
    dstPort: 53,
    payload: 'hi',
    pad: false,
  });
  assert.equal(
    hex(f),
    '02000000000202000000000186dd60000000000a114020010db800000000000000000000000120010db800000000000000000000000213880035000a283f6869',
  );
  assert.ok(verifyL4ChecksumV6(f, 14, 54, 10, 17));
  f[60] ^= 1;
  assert.ok(!verifyL4ChecksumV6(f, 14, 54, 10, 17), 'a flipped payload bit must fail verification');
});

test('build: ICMP echo (IPv4) and ICMPv6 echo checksums', () => {
  const p = buildPacketLayout({
    src: '1.1.1.1',
    dst: '2.2.2.2',
    proto: 'icmp',
    icmpId: 0x1234,
    icmpSeq: 1,
    payload: 'abcd',
  });
  assert.equal(hex(p.frame.subarray(p.l4Offset, p.l4Offset + 12)), '080021041234000161626364');
  assert.equal(p.frame[14 + 9], 1);
  assert.ok(verifyIcmpChecksum(p.frame, p.l4Offset, 12));
  const q = buildPacketLayout({
    src: '2001:db8::1',
    dst: '2001:db8::2',
    proto: 'icmp',
    icmpId: 7,
    icmpSeq: 9,
  });
  assert.equal(q.frame[14 + 6], 58);
  assert.equal(q.frame[q.l4Offset], 128);
  assert.equal(be16(q.frame, q.l4Offset + 2), 0x2438);
  assert.ok(verifyL4ChecksumV6(q.frame, 14, q.l4Offset, 8, 58));
});

test('build: size pads the payload, short frames get Ethernet padding', () => {
  const big = buildPacketLayout({
    src: '10.1.1.1',
    dst: '10.2.2.2',
    proto: 'udp',
    srcPort: 1,
    dstPort: 2,
    size: 1514,
  });
  assert.equal(big.frame.length, 1514);
  assert.equal(be16(big.frame, 16), 1500, 'IPv4 total length');
  assert.equal(be16(big.frame, 38), 1480, 'UDP length');
  assert.equal(big.payloadLen, 1472);
  assert.ok(verifyL4ChecksumV4(big.frame, 14, 34, 1480, 17));

  const small = buildPacketLayout({ src: '10.1.1.1', dst: '10.2.2.2', proto: 'udp', payload: 'x' });
  assert.equal(small.frame.length, 60);
  assert.equal(be16(small.frame, 16), 29, 'total length excludes Ethernet padding');
  assert.equal(small.ipLen, 29);
  assert.deepEqual(slice(small.frame, 43, 60), new Array(17).fill(0));
  // Reference check of the UDP checksum with an odd-length segment.
  const ph = [...slice(small.frame, 26, 34), 0, 17, 0, 9];
  assert.equal(refSum([...ph, ...slice(small.frame, 34, 43)]), 0xffff);

  const v6 = buildPacket({ src: '::1', dst: '::2', proto: 'tcp', size: 200 });
  assert.equal(v6.length, 200);
  assert.equal(be16(v6, 18), 200 - 54, 'IPv6 payload length');
  assert.ok(verifyL4ChecksumV6(v6, 14, 54, 146, 6));

  assert.throws(() => buildPacket({ src: '1.1.1.1', dst: '2.2.2.2', proto: 'tcp', size: 53 }));
  assert.throws(() => buildPacket({ src: '1.1.1.1', dst: '2.2.2.2', proto: 'udp', payload: 'abc', size: 44 }));
  assert.equal(buildPacket({ src: '1.1.1.1', dst: '2.2.2.2', proto: 'udp', payload: 'abc', size: 45 }).length, 60);
  assert.equal(buildPacket({ src: '1.1.1.1', dst: '2.2.2.2', proto: 'udp', pad: false }).length, 42);
});

test('build: VLAN stack uses 802.1ad outer and 802.1Q inner TPIDs', () => {
  const p = buildPacketLayout({
    src: '1.1.1.1',
    dst: '2.2.2.2',
    proto: 'udp',
    vlan: [100, 0x2000 | 200],
    srcMac: 'aa:bb:cc:dd:ee:ff',
  });
  assert.equal(hex(p.frame.subarray(0, 22)), '020000000002aabbccddeeff88a80064810020c80800');
  assert.equal(p.l3Offset, 22);
  assert.ok(verifyIpv4HeaderChecksum(p.frame, 22));
  const one = buildPacket({ src: '1.1.1.1', dst: '2.2.2.2', proto: 'udp', vlan: [5] });
  assert.equal(hex(one.subarray(12, 18)), '810000050800');
  const custom = buildPacket({
    src: '1.1.1.1',
    dst: '2.2.2.2',
    proto: 'udp',
    vlan: [5, 6],
    vlanTpids: [0x8100, 0x8100],
  });
  assert.equal(hex(custom.subarray(12, 22)), '81000005810000060800');
});

test('build: IPv4 options and TCP options lengthen the headers', () => {
  const p = buildPacketLayout({
    src: '1.1.1.1',
    dst: '2.2.2.2',
    proto: 'tcp',
    ipv4Options: Uint8Array.of(1, 1, 1),
    tcpOptions: Uint8Array.of(2, 4, 5, 0xb4),
    payload: 'zz',
  });
  assert.equal(p.frame[14], 0x46);
  assert.equal(p.l4Offset, 38);
  assert.equal(p.frame[p.l4Offset + 12] >> 4, 6);
  assert.equal(p.payloadOffset, 62);
  assert.ok(verifyIpv4HeaderChecksum(p.frame, 14));
  assert.ok(verifyL4ChecksumV4(p.frame, 14, 38, 26, 6));
});

test('build: IPv6 extension chain and fragments', () => {
  const p = buildPacketLayout({
    src: '2001:db8::1',
    dst: '2001:db8::2',
    proto: 'udp',
    srcPort: 7,
    dstPort: 9,
    ipv6Ext: [{ type: 0 }, { type: 43, length: 24 }, { type: 60, length: 16 }, { type: 51 }],
  });
  const f = p.frame;
  assert.equal(f[20], 0, 'fixed header next header = hop-by-hop');
  assert.deepEqual([f[54], f[55]], [43, 0]);
  assert.deepEqual([f[62], f[63]], [60, 2]);
  assert.deepEqual([f[86], f[87]], [51, 1]);
  assert.deepEqual([f[102], f[103]], [17, 2], 'AH length is in 4-octet units minus 2');
  assert.equal(p.l4Offset, 54 + 8 + 24 + 16 + 16);
  assert.equal(be16(f, 18), 64 + 8);
  assert.ok(verifyL4ChecksumV6(f, 14, p.l4Offset, 8, 17));

  const nf = buildPacketLayout({
    src: '::1',
    dst: '::2',
    proto: 'tcp',
    payload: 'abcdefgh',
    ipv6Ext: [{ type: 44, fragOffset: 3, moreFragments: true, fragId: 0xdeadbeef }],
  });
  assert.equal(hex(nf.frame.subarray(54, 62)), '06000019deadbeef');
  assert.equal(nf.l4Offset, nf.payloadOffset, 'non-first fragment carries no TCP header');
  assert.equal(hex(nf.frame.subarray(62, 70)), hex(new TextEncoder().encode('abcdefgh')));

  const f4 = buildPacket({
    src: '1.1.1.1',
    dst: '2.2.2.2',
    proto: 'udp',
    id: 77,
    moreFragments: true,
    fragOffset: 100,
  });
  assert.equal(be16(f4, 20), 0x2000 | 100);
  assert.equal(be16(f4, 16), 20);
});

test('build: ARP request and reply', () => {
  const req = buildArp({
    senderMac: '02:00:00:00:00:01',
    senderIp: '10.0.0.1',
    targetIp: '10.0.0.2',
  });
  assert.equal(req.length, 60);
  assert.equal(
    hex(req.subarray(0, 42)),
    'ffffffffffff020000000001' + '0806' + '0001080006040001' + '0200000000010a000001' + '0000000000000a000002',
  );
  const rep = buildArp({
    op: 'reply',
    senderMac: '02:00:00:00:00:02',
    senderIp: '10.0.0.2',
    targetMac: '02:00:00:00:00:01',
    targetIp: '10.0.0.1',
    vlan: [10],
  });
  assert.equal(
    hex(rep.subarray(0, 46)),
    '020000000001020000000002' + '8100000a0806' + '0001080006040002' + '0200000000020a000002' + '0200000000010a000001',
  );
});
