import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildArp, buildPacket, buildPacketLayout, type PacketSpec } from './build.js';
import { TCP_ACK, TCP_SYN } from './constants.js';
import { fillPacketChecksums, verifyPacketChecksums } from './packet-checksum.js';
import {
  addrWordCount,
  dstAddrWord,
  ERR_BAD_IHL,
  ERR_BAD_IP_VERSION,
  ERR_BAD_TCP_OFFSET,
  ERR_BAD_TOTAL_LEN,
  ERR_BAD_UDP_LEN,
  ERR_TRUNCATED_EXT,
  ERR_TRUNCATED_IP,
  ERR_TRUNCATED_L2,
  ERR_TRUNCATED_L3,
  ERR_TRUNCATED_L4,
  PacketParser,
  ParsedPacket,
  parsePacket,
  PARSE_OK,
  srcAddrWord,
} from './parse.js';
import { fromHex, rng } from './test-util.js';

const p = new ParsedPacket();

function parse(f: Uint8Array, off = 0, len = f.length - off): ParsedPacket {
  parsePacket(f, off, len, p);
  return p;
}

/** Checks the listed fields exactly; unlisted fields are checked by the other tests. */
function expectFields(got: ParsedPacket, want: Partial<ParsedPacket>, what: string): void {
  for (const [k, v] of Object.entries(want)) {
    assert.equal(got[k as keyof ParsedPacket], v, `${what}: ${k}`);
  }
}

test('parse: IPv4 TCP behind a QinQ stack, every field', () => {
  const f = buildPacket({
    src: '10.0.0.1',
    dst: '10.0.0.2',
    proto: 'tcp',
    vlan: [0x2000 | 100, 200],
    srcPort: 12345,
    dstPort: 80,
    tcpFlags: TCP_SYN | TCP_ACK,
    ttl: 33,
    payload: 'hello',
    tcpOptions: Uint8Array.of(1, 1, 1, 1),
  });
  expectFields(
    parse(f),
    {
      ok: true,
      error: PARSE_OK,
      vlanCount: 2,
      vlanId: 100,
      etherType: 0x0800,
      l3Offset: 22,
      ipVersion: 4,
      l3HeaderLen: 20,
      ipPayloadLen: 29,
      ttl: 33,
      l4Proto: 6,
      l4Offset: 42,
      l4Len: 29,
      fragment: false,
      fragOffset: 0,
      srcPort: 12345,
      dstPort: 80,
      tcpFlags: 0x12,
      payloadOffset: 66,
      payloadLen: 5,
    },
    'v4 tcp',
  );
});

test('parse: IPv6 UDP after hop-by-hop, routing, dest-opts and AH headers', () => {
  const b = buildPacketLayout({
    src: '2001:db8::1',
    dst: '2001:db8::2',
    proto: 'udp',
    srcPort: 53,
    dstPort: 5353,
    ttl: 9,
    payload: 'abc',
    ipv6Ext: [{ type: 0 }, { type: 43, length: 16 }, { type: 60 }, { type: 51, length: 24 }],
  });
  expectFields(
    parse(b.frame),
    {
      ok: true,
      vlanCount: 0,
      etherType: 0x86dd,
      l3Offset: 14,
      ipVersion: 6,
      l3HeaderLen: 40 + 56,
      ipPayloadLen: 56 + 11,
      ttl: 9,
      l4Proto: 17,
      l4Offset: 14 + 96,
      l4Len: 11,
      fragment: false,
      srcPort: 53,
      dstPort: 5353,
      payloadOffset: 14 + 104,
      payloadLen: 3,
    },
    'v6 ext',
  );
});

test('parse: fragments (IPv4 and IPv6, first, non-first, atomic)', () => {
  const first4 = buildPacket({
    src: '1.1.1.1',
    dst: '2.2.2.2',
    proto: 'udp',
    srcPort: 7,
    dstPort: 8,
    moreFragments: true,
    size: 200,
  });
  expectFields(parse(first4), { ok: true, fragment: true, fragOffset: 0, srcPort: 7, dstPort: 8, l4Proto: 17 }, 'first4');
  // Corrupt the UDP length: a first fragment's UDP length describes the whole datagram.
  first4[38] = 0x40;
  expectFields(parse(first4), { ok: true, srcPort: 7 }, 'first4 long udp len');

  const later4 = buildPacket({
    src: '1.1.1.1',
    dst: '2.2.2.2',
    proto: 'tcp',
    fragOffset: 185,
    payload: 'xxxxxxxx',
  });
  expectFields(
    parse(later4),
    {
      ok: true,
      fragment: true,
      fragOffset: 185,
      srcPort: 0,
      dstPort: 0,
      l4Proto: 6,
      l4Offset: 34,
      l4Len: 8,
      payloadOffset: 34,
    },
    'later4',
  );

  const later6 = buildPacket({
    src: '::1',
    dst: '::2',
    proto: 'udp',
    payload: 'yyyy',
    ipv6Ext: [{ type: 0 }, { type: 44, fragOffset: 3 }],
  });
  expectFields(
    parse(later6),
    {
      ok: true,
      fragment: true,
      fragOffset: 3,
      srcPort: 0,
      l4Proto: 17,
      l4Offset: 70,
      l4Len: 4,
      l3HeaderLen: 56,
    },
    'later6',
  );

  const first6 = buildPacket({
    src: '::1',
    dst: '::2',
    proto: 'tcp',
    srcPort: 1,
    dstPort: 2,
    ipv6Ext: [{ type: 44, moreFragments: true }],
  });
  expectFields(parse(first6), { ok: true, fragment: true, fragOffset: 0, srcPort: 1, dstPort: 2, l4Offset: 62 }, 'first6');

  const atomic6 = buildPacket({
    src: '::1',
    dst: '::2',
    proto: 'tcp',
    srcPort: 1,
    dstPort: 2,
    ipv6Ext: [{ type: 44 }],
  });
  expectFields(parse(atomic6), { ok: true, fragment: false, srcPort: 1, dstPort: 2 }, 'atomic6 (RFC 6946)');
});

test('parse: ICMP, ICMPv6, ESP, IPv4 AH, IPv4 options, ARP, other EtherTypes, padding', () => {
  expectFields(
    parse(buildPacket({ src: '1.1.1.1', dst: '2.2.2.2', proto: 'icmp', payload: 'p' })),
    {
      ok: true,
      l4Proto: 1,
      srcPort: 0,
      dstPort: 0,
      l4Len: 9,
      payloadOffset: 42,
      payloadLen: 1,
    },
    'icmp',
  );
  expectFields(parse(buildPacket({ src: '::1', dst: '::2', proto: 'icmp' })), { ok: true, l4Proto: 58, l4Len: 8 }, 'icmpv6');
  expectFields(
    parse(buildPacket({ src: '::1', dst: '::2', proto: 50, payload: 'secret' })),
    {
      ok: true,
      l4Proto: 50,
      l4Offset: 54,
      l4Len: 6,
      srcPort: 0,
    },
    'esp',
  );
  // AH (nh=UDP, len=1 -> 12 bytes) then a UDP header 0x1111 -> 0x2222, length 8.
  const ah = fromHex('1101 0000 00000001 00000001' + '1111 2222 0008 0000');
  expectFields(
    parse(buildPacket({ src: '1.1.1.1', dst: '2.2.2.2', proto: 51, payload: ah })),
    {
      ok: true,
      l4Proto: 17,
      l4Offset: 46,
      l3HeaderLen: 32,
      srcPort: 0x1111,
      dstPort: 0x2222,
      l4Len: 8,
    },
    'ipv4 ah',
  );
  expectFields(
    parse(
      buildPacket({
        src: '1.1.1.1',
        dst: '2.2.2.2',
        proto: 'udp',
        ipv4Options: new Uint8Array(40).fill(1),
      }),
    ),
    {
      ok: true,
      l3HeaderLen: 60,
      l4Offset: 74,
      ipPayloadLen: 8,
    },
    'ipv4 options',
  );
  expectFields(
    parse(
      buildArp({
        senderMac: '02:00:00:00:00:01',
        senderIp: '1.1.1.1',
        targetIp: '1.1.1.2',
        vlan: [3],
      }),
    ),
    {
      ok: true,
      ipVersion: 0,
      etherType: 0x0806,
      l3Offset: 18,
      vlanCount: 1,
      vlanId: 3,
      l4Proto: 0,
    },
    'arp',
  );
  const lldp = buildPacket({ src: '1.1.1.1', dst: '2.2.2.2', proto: 'udp' });
  lldp[12] = 0x88;
  lldp[13] = 0xcc;
  expectFields(parse(lldp), { ok: true, ipVersion: 0, etherType: 0x88cc, l3Offset: 14 }, 'lldp');
  expectFields(
    parse(buildPacket({ src: '1.1.1.1', dst: '2.2.2.2', proto: 'udp', payload: 'z' })),
    {
      ok: true,
      l4Len: 9,
      payloadLen: 1,
      ipPayloadLen: 9,
    },
    'padded to 60',
  );
});

test('parse: malformed headers give specific error codes', () => {
  const udp4 = (): Uint8Array => buildPacket({ src: '1.1.1.1', dst: '2.2.2.2', proto: 'udp', payload: 'abcd' });
  const tcp4 = (): Uint8Array => buildPacket({ src: '1.1.1.1', dst: '2.2.2.2', proto: 'tcp' });
  const cases: Array<[string, Uint8Array, number]> = [];
  const add = (what: string, f: Uint8Array, mut: (f: Uint8Array) => void, code: number): void => {
    mut(f);
    cases.push([what, f, code]);
  };
  add('13 bytes', udp4().subarray(0, 13), () => {}, ERR_TRUNCATED_L2);
  add('cut VLAN tag', buildPacket({ src: '1.1.1.1', dst: '2.2.2.2', proto: 'udp', vlan: [1] }).subarray(0, 17), () => {}, ERR_TRUNCATED_L2);
  add('IHL 4', udp4(), (f) => (f[14] = 0x44), ERR_BAD_IHL);
  add('IHL 15 past frame', udp4(), (f) => (f[14] = 0x4f), ERR_TRUNCATED_L3);
  add('version 6 in IPv4 frame', udp4(), (f) => (f[14] = 0x65), ERR_BAD_IP_VERSION);
  add('version 4 in IPv6 frame', buildPacket({ src: '::1', dst: '::2', proto: 'udp' }), (f) => (f[14] = 0x40), ERR_BAD_IP_VERSION);
  add('total length 19', udp4(), (f) => ((f[16] = 0), (f[17] = 19)), ERR_BAD_TOTAL_LEN);
  add('total length past frame', udp4(), (f) => ((f[16] = 0), (f[17] = 47)), ERR_TRUNCATED_IP);
  add(
    'IPv6 payload length past frame',
    buildPacket({ src: '::1', dst: '::2', proto: 'udp', pad: false }),
    (f) => (f[19] = 9),
    ERR_TRUNCATED_IP,
  );
  add('TCP data offset 4', tcp4(), (f) => (f[46] = 0x40), ERR_BAD_TCP_OFFSET);
  add('TCP data offset 15', tcp4(), (f) => (f[46] = 0xf0), ERR_BAD_TCP_OFFSET);
  add('TCP segment of 10 bytes', tcp4(), (f) => (f[17] = 30), ERR_TRUNCATED_L4);
  add('UDP length 7', udp4(), (f) => (f[39] = 7), ERR_BAD_UDP_LEN);
  add('UDP length past IP payload', udp4(), (f) => (f[39] = 13), ERR_BAD_UDP_LEN);
  add('UDP in 6 bytes', udp4(), (f) => (f[17] = 26), ERR_TRUNCATED_L4);
  add('ICMP in 4 bytes', buildPacket({ src: '1.1.1.1', dst: '2.2.2.2', proto: 'icmp' }), (f) => (f[17] = 24), ERR_TRUNCATED_L4);
  add(
    'HBH longer than packet',
    buildPacket({ src: '::1', dst: '::2', proto: 'udp', ipv6Ext: [{ type: 0 }] }),
    (f) => (f[55] = 255),
    ERR_TRUNCATED_EXT,
  );
  add(
    'AH longer than packet',
    buildPacket({ src: '::1', dst: '::2', proto: 'udp', ipv6Ext: [{ type: 51 }] }),
    (f) => (f[55] = 5),
    ERR_TRUNCATED_EXT,
  );
  add(
    'ARP cut',
    buildArp({ senderMac: '02:00:00:00:00:01', senderIp: '1.1.1.1', targetIp: '1.1.1.2' }).subarray(0, 41),
    () => {},
    ERR_TRUNCATED_L3,
  );
  for (const [what, f, code] of cases) {
    const r = parse(f);
    assert.equal(r.ok, false, what);
    assert.equal(r.error, code, what);
  }
});

const specs: PacketSpec[] = [
  { src: '10.0.0.1', dst: '10.0.0.2', proto: 'tcp', payload: 'data', vlan: [5, 6] },
  {
    src: '10.0.0.1',
    dst: '10.0.0.2',
    proto: 'udp',
    ipv4Options: Uint8Array.of(1, 1, 1, 1, 1, 1, 1, 1),
  },
  { src: '10.0.0.1', dst: '10.0.0.2', proto: 'icmp', size: 100 },
  { src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', fragOffset: 10, payload: 'abcdefgh' },
  { src: '10.0.0.1', dst: '10.0.0.2', proto: 'tcp', pad: false },
  {
    src: 'fe80::1',
    dst: 'ff02::1',
    proto: 'tcp',
    ipv6Ext: [{ type: 0 }, { type: 60, length: 24 }, { type: 44, moreFragments: true }],
  },
  {
    src: 'fe80::1',
    dst: 'ff02::1',
    proto: 'udp',
    ipv6Ext: [{ type: 43 }, { type: 44, fragOffset: 9 }],
    payload: 'qq',
  },
  { src: 'fe80::1', dst: 'ff02::1', proto: 'icmp', vlan: [7] },
];

test('parse: a frame cut at every length never throws and is ok only once the IP packet is whole', () => {
  const frames = specs.map((s) => buildPacketLayout(s));
  for (const b of frames) {
    const need = b.l3Offset + b.ipLen;
    for (let len = 0; len <= b.frame.length; len++) {
      // Exact-size copy: any out-of-bounds read would give undefined and break field values.
      const cut = b.frame.slice(0, len);
      const r = parse(cut);
      assert.equal(r.ok, len >= need, `len ${len} of ${b.frame.length} (need ${need})`);
      if (!r.ok) assert.notEqual(r.error, PARSE_OK);
      // Same frame inside a bigger buffer at an odd offset, with `len` telling where it ends.
      const big = new Uint8Array(b.frame.length + 20).fill(0xee);
      big.set(b.frame, 7);
      assert.equal(parse(big, 7, len).ok, len >= need);
    }
  }
  const arp = buildArp({
    senderMac: '02:00:00:00:00:01',
    senderIp: '1.1.1.1',
    targetIp: '1.1.1.2',
  });
  for (let len = 0; len <= arp.length; len++) assert.equal(parse(arp.slice(0, len)).ok, len >= 42);
  // A length beyond the buffer is clamped; a negative or out-of-range offset is truncated L2.
  assert.ok(parse(frames[0].frame, 0, 1e9).ok);
  assert.equal(parse(frames[0].frame, -4, 60).error, ERR_TRUNCATED_L2);
  assert.equal(parse(frames[0].frame, 1000, 60).error, ERR_TRUNCATED_L2);
});

test('parse: random corruption never throws and never reports out-of-range offsets', () => {
  const r = rng(99);
  const frames = specs.map((s) => buildPacket(s));
  for (let i = 0; i < 30000; i++) {
    const f = frames[i % frames.length].slice();
    const flips = 1 + ((r() * 6) | 0);
    for (let k = 0; k < flips; k++) f[(r() * Math.min(f.length, 120)) | 0] = (r() * 256) | 0;
    const len = r() < 0.3 ? (r() * f.length) | 0 : f.length;
    const res = parse(f.subarray(0, len));
    for (const [k, v] of Object.entries(res)) {
      if (typeof v === 'number') assert.ok(Number.isInteger(v) && v >= 0, `${k}=${v} at ${i}`);
    }
    if (res.ok && res.ipVersion !== 0) {
      assert.ok(res.l4Offset >= res.l3Offset + 20 && res.l4Offset + res.l4Len <= len, `l4 range at ${i}`);
      assert.ok(res.payloadOffset >= res.l4Offset && res.payloadOffset + res.payloadLen <= len, `payload range at ${i}`);
      assert.ok(res.srcPort <= 0xffff && res.dstPort <= 0xffff);
    }
  }
});

test('parse: address words and the PacketParser wrapper', () => {
  const v4 = buildPacket({ src: '192.0.2.1', dst: '198.51.100.255', proto: 'udp' });
  const v6 = buildPacket({ src: '2001:db8::a:b', dst: 'ff02::1', proto: 'udp' });
  const parser = new PacketParser();
  const r1 = parser.parse(v4, 0, v4.length);
  assert.equal(srcAddrWord(v4, r1.l3Offset, 4, 0), 0xc0000201);
  assert.equal(dstAddrWord(v4, r1.l3Offset, 4, 0), 0xc63364ff);
  assert.equal(srcAddrWord(v4, r1.l3Offset, 4, 1), 0);
  assert.equal(addrWordCount(4), 1);
  const r2 = parser.parse(v6, 0, v6.length);
  assert.equal(r2, r1, 'the same result object is reused');
  assert.deepEqual(
    [0, 1, 2, 3].map((i) => srcAddrWord(v6, 14, 6, i)),
    [0x20010db8, 0, 0, 0x000a000b],
  );
  assert.deepEqual(
    [0, 1, 2, 3].map((i) => dstAddrWord(v6, 14, 6, i)),
    [0xff020000, 0, 0, 1],
  );
  assert.equal(addrWordCount(6), 4);
  assert.equal(addrWordCount(0), 0);
});

test('packet-checksum: verify and fill on parsed packets', () => {
  for (const s of specs) {
    const f = buildPacket(s);
    const r = parse(f);
    assert.ok(r.ok);
    assert.ok(verifyPacketChecksums(f, r), JSON.stringify(s.src + s.proto));
    if (r.ipVersion === 4)
      f[r.l3Offset + 8] ^= 1; // TTL: IPv4 header checksum breaks
    else f[r.l3Offset + 8] ^= 1; // source address: L4 pseudo-header breaks (if any checksum)
    const covered = r.ipVersion === 4 || !r.fragment;
    assert.equal(verifyPacketChecksums(f, r), !covered, `after corruption ${s.src} ${s.proto}`);
    fillPacketChecksums(f, r);
    assert.ok(verifyPacketChecksums(f, r));
  }
  const bad = parse(new Uint8Array(10));
  assert.ok(!verifyPacketChecksums(new Uint8Array(10), bad));
});
