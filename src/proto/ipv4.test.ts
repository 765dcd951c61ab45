import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPacketLayout, parseIpv4 } from './build.js';
import { computeIpv4HeaderChecksum, verifyIpv4HeaderChecksum } from './checksum.js';
import {
  decIpv4Ttl,
  ipv4Checksum,
  ipv4DontFragment,
  ipv4Dscp,
  ipv4Dst,
  ipv4Ecn,
  ipv4FlagsFrag,
  ipv4FragOffset,
  ipv4HeaderLen,
  ipv4Id,
  ipv4IsFragment,
  ipv4MoreFragments,
  ipv4Proto,
  ipv4Src,
  ipv4Tos,
  ipv4TotalLen,
  ipv4Ttl,
  ipv4Version,
  setIpv4Dst,
  setIpv4DstCsum,
  setIpv4FlagsFragCsum,
  setIpv4IdCsum,
  setIpv4Src,
  setIpv4SrcCsum,
  setIpv4TosCsum,
  setIpv4TotalLenCsum,
  setIpv4Ttl,
  setIpv4TtlCsum,
} from './ipv4.js';
import { be32, rng } from './test-util.js';

test('ipv4: getters read a built header', () => {
  const p = buildPacketLayout({
    src: '192.168.1.200',
    dst: '255.1.2.3',
    proto: 'tcp',
    ttl: 17,
    tos: 0xb9,
    id: 0xbeef,
    dontFragment: true,
    ipv4Options: Uint8Array.of(1, 1, 1, 1),
    payload: 'abc',
  });
  const f = p.frame;
  const o = p.l3Offset;
  assert.equal(ipv4Version(f, o), 4);
  assert.equal(ipv4HeaderLen(f, o), 24);
  assert.equal(ipv4Tos(f, o), 0xb9);
  assert.equal(ipv4Dscp(f, o), 0xb9 >> 2);
  assert.equal(ipv4Ecn(f, o), 1);
  assert.equal(ipv4TotalLen(f, o), 24 + 20 + 3);
  assert.equal(ipv4Id(f, o), 0xbeef);
  assert.equal(ipv4FlagsFrag(f, o), 0x4000);
  assert.ok(ipv4DontFragment(f, o));
  assert.ok(!ipv4MoreFragments(f, o));
  assert.ok(!ipv4IsFragment(f, o));
  assert.equal(ipv4Ttl(f, o), 17);
  assert.equal(ipv4Proto(f, o), 6);
  assert.equal(ipv4Src(f, o), 0xc0a801c8, 'unsigned even with the top bit set');
  assert.equal(ipv4Dst(f, o), 0xff010203);
  assert.equal(ipv4Checksum(f, o), computeIpv4HeaderChecksum(f, o));

  const fr = buildPacketLayout({
    src: '1.1.1.1',
    dst: '2.2.2.2',
    proto: 'udp',
    moreFragments: true,
    fragOffset: 0x1abc,
  });
  assert.ok(ipv4MoreFragments(fr.frame, 14));
  assert.equal(ipv4FragOffset(fr.frame, 14), 0x1abc);
  assert.ok(ipv4IsFragment(fr.frame, 14));
});

test('ipv4: plain setters write network byte order', () => {
  const f = new Uint8Array(20);
  setIpv4Src(f, 0, 0xdeadbeef);
  setIpv4Dst(f, 0, parseIpv4('10.20.30.40'));
  setIpv4Ttl(f, 0, 300 & 0xff);
  assert.equal(be32(f, 12), 0xdeadbeef);
  assert.deepEqual(Array.from(f.subarray(16, 20)), [10, 20, 30, 40]);
  assert.equal(f[8], 44);
});

test('ipv4: ...Csum setters keep the header checksum equal to a full recomputation', () => {
  const r = rng(7);
  const p = buildPacketLayout({
    src: '10.0.0.1',
    dst: '10.0.0.2',
    proto: 'udp',
    ipv4Options: new Uint8Array(8).fill(1),
  });
  const f = p.frame;
  const o = p.l3Offset;
  const rand = (bits: number): number => Math.floor(r() * 2 ** bits) >>> 0;
  for (let i = 0; i < 5000; i++) {
    switch (i % 7) {
      case 0:
        setIpv4TtlCsum(f, o, rand(8));
        break;
      case 1:
        setIpv4TosCsum(f, o, rand(8));
        break;
      case 2:
        setIpv4IdCsum(f, o, rand(16));
        break;
      case 3:
        setIpv4TotalLenCsum(f, o, rand(16));
        break;
      case 4:
        setIpv4FlagsFragCsum(f, o, rand(16));
        break;
      case 5:
        setIpv4SrcCsum(f, o, rand(32));
        break;
      default:
        setIpv4DstCsum(f, o, rand(32));
        break;
    }
    assert.equal(ipv4Checksum(f, o), computeIpv4HeaderChecksum(f, o), `step ${i}`);
    assert.ok(verifyIpv4HeaderChecksum(f, o));
  }
  assert.equal(ipv4Version(f, o), 4, 'version/IHL untouched by TOS updates');
  assert.equal(ipv4HeaderLen(f, o), 28);
});

test('ipv4: decIpv4Ttl decrements with checksum and refuses to go below zero', () => {
  const p = buildPacketLayout({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'tcp', ttl: 2 });
  const f = p.frame;
  assert.equal(decIpv4Ttl(f, 14), 1);
  assert.ok(verifyIpv4HeaderChecksum(f, 14));
  assert.equal(decIpv4Ttl(f, 14), 0);
  assert.ok(verifyIpv4HeaderChecksum(f, 14));
  const before = Buffer.from(f).toString('hex');
  assert.equal(decIpv4Ttl(f, 14), -1);
  assert.equal(Buffer.from(f).toString('hex'), before);
  for (let t = 1; t < 256; t++) {
    setIpv4TtlCsum(f, 14, t);
    assert.equal(decIpv4Ttl(f, 14), t - 1);
    assert.equal(ipv4Checksum(f, 14), computeIpv4HeaderChecksum(f, 14));
  }
});
