import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPacket, parseIpv4, parseIpv6 } from './build.js';
import { ParsedPacket, parsePacket } from './parse.js';
import { rng } from './test-util.js';
import { MICROSOFT_RSS_KEY, SYMMETRIC_RSS_KEY, Toeplitz } from './toeplitz.js';

/** The spec's bit-serial pseudocode, transcribed literally, as an independent reference. */
function refToeplitz(key: Uint8Array, input: Uint8Array): number {
  const keyBit = (i: number): number => (i < key.length * 8 ? (key[i >> 3] >> (7 - (i & 7))) & 1 : 0);
  let result = 0;
  for (let b = 0; b < input.length * 8; b++) {
    if ((input[b >> 3] >> (7 - (b & 7))) & 1) {
      let window = 0;
      for (let j = 0; j < 32; j++) window = (window << 1) | keyBit(b + j);
      result ^= window;
    }
  }
  return result >>> 0;
}

// Microsoft "Verifying the RSS Hash Calculation" (also the Intel 82599 datasheet suite).
const v4Vectors: Array<[string, number, string, number, number, number]> = [
  // dst, dport, src, sport, IPv4-only hash, TCP/IPv4 hash
  ['161.142.100.80', 1766, '66.9.149.187', 2794, 0x323e8fc2, 0x51ccc178],
  ['65.69.140.83', 4739, '199.92.111.2', 14230, 0xd718262a, 0xc626b0ea],
  ['12.22.207.184', 38024, '24.19.198.95', 12898, 0xd2d0a5de, 0x5c2b394a],
  ['209.142.163.6', 2217, '38.27.205.30', 48228, 0x82989176, 0xafc7327f],
  ['202.188.127.2', 1303, '153.39.163.191', 44251, 0x5d1809c5, 0x10e828a2],
];

const v6Vectors: Array<[string, number, string, number, number, number]> = [
  ['3ffe:2501:200:3::1', 1766, '3ffe:2501:200:1fff::7', 2794, 0x2cc18cd5, 0x40207d3d],
  ['ff02::1', 4739, '3ffe:501:8::260:97ff:fe40:efab', 14230, 0x0f0c461c, 0xdde51bbf],
  ['fe80::200:f8ff:fe21:67cf', 38024, '3ffe:1900:4545:3:200:f8ff:fe21:67cf', 44251, 0x4b61e985, 0x02d1feef],
];

const ms = new Toeplitz(MICROSOFT_RSS_KEY);

test('toeplitz: Microsoft key bytes', () => {
  assert.equal(
    Buffer.from(MICROSOFT_RSS_KEY).toString('hex'),
    '6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa',
  );
  assert.equal(Buffer.from(SYMMETRIC_RSS_KEY).toString('hex'), '6d5a'.repeat(20));
  assert.equal(ms.maxInputLen, 36);
});

test('toeplitz: official IPv4 verification vectors', () => {
  for (const [dst, dport, src, sport, h2, h4] of v4Vectors) {
    assert.equal(ms.hashIpv4NoPorts(parseIpv4(src), parseIpv4(dst)), h2, `${src} -> ${dst}`);
    assert.equal(ms.hashIpv4(parseIpv4(src), parseIpv4(dst), sport, dport), h4, `${src}:${sport} -> ${dst}:${dport}`);
  }
});

test('toeplitz: official IPv6 verification vectors', () => {
  for (const [dst, dport, src, sport, h2, h4] of v6Vectors) {
    const buf = new Uint8Array(40);
    buf.set(parseIpv6(src), 3);
    buf.set(parseIpv6(dst), 21);
    assert.equal(ms.hashIpv6NoPorts(buf, 3, 21), h2, `${src} -> ${dst}`);
    assert.equal(ms.hashIpv6(buf, 3, 21, sport, dport), h4, `${src}.${sport} -> ${dst}.${dport}`);
  }
});

test('toeplitz: vectors through built packets and hashFromPacket', () => {
  const p = new ParsedPacket();
  for (const [dst, dport, src, sport, h2, h4] of [...v4Vectors, ...v6Vectors]) {
    for (const proto of ['tcp', 'udp'] as const) {
      const f = buildPacket({ src, dst, proto, srcPort: sport, dstPort: dport, vlan: [9] });
      assert.ok(parsePacket(f, 0, f.length, p));
      assert.equal(ms.hashFromPacket(f, p), h4, `${proto} ${src}`);
    }
    const icmp = buildPacket({ src, dst, proto: 'icmp' });
    parsePacket(icmp, 0, icmp.length, p);
    assert.equal(ms.hashFromPacket(icmp, p), h2, `icmp ${src}`);
    // Every fragment, the first included, hashes on addresses only so they stay together.
    const frag = src.includes(':')
      ? buildPacket({
          src,
          dst,
          proto: 'udp',
          srcPort: sport,
          dstPort: dport,
          ipv6Ext: [{ type: 44, moreFragments: true }],
        })
      : buildPacket({
          src,
          dst,
          proto: 'udp',
          srcPort: sport,
          dstPort: dport,
          moreFragments: true,
        });
    parsePacket(frag, 0, frag.length, p);
    assert.equal(p.srcPort, sport);
    assert.equal(ms.hashFromPacket(frag, p), h2, `first fragment ${src}`);
  }
  const arp = new Uint8Array(60);
  arp[12] = 0x08;
  arp[13] = 0x06;
  parsePacket(arp, 0, 60, p);
  assert.equal(ms.hashFromPacket(arp, p), 0);
});

test('toeplitz: table lookups equal the bit-serial reference for random keys and inputs', () => {
  const r = rng(5);
  for (let k = 0; k < 20; k++) {
    const key = Uint8Array.from({ length: 40 + (k % 3) * 6 }, () => (r() * 256) | 0);
    const t = new Toeplitz(key);
    for (let i = 0; i < 50; i++) {
      const input = Uint8Array.from({ length: (r() * (t.maxInputLen + 1)) | 0 }, () => (r() * 256) | 0);
      assert.equal(t.hashBytes(input, 0, input.length), refToeplitz(key, input));
    }
  }
  assert.throws(() => new Toeplitz(new Uint8Array(39)));
});

test('toeplitz: symmetric key gives hash(a->b) == hash(b->a)', () => {
  const sym = new Toeplitz(SYMMETRIC_RSS_KEY);
  const r = rng(6);
  const u32 = (): number => Math.floor(r() * 2 ** 32) >>> 0;
  const u16 = (): number => Math.floor(r() * 65536);
  let differs = 0;
  for (let i = 0; i < 20000; i++) {
    const a = u32();
    const b = u32();
    const pa = u16();
    const pb = u16();
    assert.equal(sym.hashIpv4(a, b, pa, pb), sym.hashIpv4(b, a, pb, pa));
    assert.equal(sym.hashIpv4NoPorts(a, b), sym.hashIpv4NoPorts(b, a));
    if (ms.hashIpv4(a, b, pa, pb) !== ms.hashIpv4(b, a, pb, pa)) differs++;
  }
  assert.ok(differs > 19000, 'the Microsoft key is not symmetric (sanity check of the test)');
  const buf = new Uint8Array(32);
  for (let i = 0; i < 5000; i++) {
    for (let j = 0; j < 32; j++) buf[j] = (r() * 256) | 0;
    const pa = u16();
    const pb = u16();
    assert.equal(sym.hashIpv6(buf, 0, 16, pa, pb), sym.hashIpv6(buf, 16, 0, pb, pa));
    assert.equal(sym.hashIpv6NoPorts(buf, 0, 16), sym.hashIpv6NoPorts(buf, 16, 0));
  }
  // And through real packets in both directions.
  const p = new ParsedPacket();
  const fwd = buildPacket({
    src: '10.1.2.3',
    dst: '192.168.9.9',
    proto: 'tcp',
    srcPort: 40000,
    dstPort: 443,
  });
  const rev = buildPacket({
    src: '192.168.9.9',
    dst: '10.1.2.3',
    proto: 'tcp',
    srcPort: 443,
    dstPort: 40000,
  });
  parsePacket(fwd, 0, fwd.length, p);
  const h = sym.hashFromPacket(fwd, p);
  parsePacket(rev, 0, rev.length, p);
  assert.equal(sym.hashFromPacket(rev, p), h);
});
