import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPacketLayout } from './build.js';
import { computeL4ChecksumV4, computeL4ChecksumV6, verifyL4ChecksumV4, verifyL4ChecksumV6 } from './checksum.js';
import { ipv4Dst, setIpv4DstCsum } from './ipv4.js';
import { ipv6DstWord, setIpv6DstWord } from './ipv6.js';
import { rng } from './test-util.js';
import {
  setUdpChecksum,
  setUdpDstPortCsum,
  setUdpLengthCsum,
  setUdpSrcPortCsum,
  udpChecksum,
  udpCsumReplace32,
  udpDstPort,
  udpLength,
  udpSrcPort,
} from './udp.js';

test('udp: getters read a built datagram', () => {
  const p = buildPacketLayout({
    src: '1.1.1.1',
    dst: '2.2.2.2',
    proto: 'udp',
    srcPort: 53,
    dstPort: 40000,
    payload: 'dns?',
  });
  assert.equal(udpSrcPort(p.frame, 34), 53);
  assert.equal(udpDstPort(p.frame, 34), 40000);
  assert.equal(udpLength(p.frame, 34), 12);
  assert.equal(udpChecksum(p.frame, 34), computeL4ChecksumV4(p.frame, 14, 34, 12, 17));
});

test('udp: incremental port and address rewrites equal full recomputation', () => {
  const r = rng(21);
  for (const [src, dst] of [
    ['10.0.0.1', '10.0.0.2'],
    ['fd00::1', 'fd00::2'],
  ]) {
    const p = buildPacketLayout({ src, dst, proto: 'udp', payload: 'xyz' });
    const f = p.frame;
    const o = p.l4Offset;
    const v6 = src.includes(':');
    const len = 11;
    const compute = v6 ? computeL4ChecksumV6 : computeL4ChecksumV4;
    for (let i = 0; i < 2000; i++) {
      const k = i % 3;
      if (k === 0) setUdpSrcPortCsum(f, o, Math.floor(r() * 65536));
      else if (k === 1) setUdpDstPortCsum(f, o, Math.floor(r() * 65536));
      else {
        const nv = Math.floor(r() * 2 ** 32) >>> 0;
        const old = v6 ? ipv6DstWord(f, 14, i & 3) : ipv4Dst(f, 14);
        if (v6) setIpv6DstWord(f, 14, i & 3, nv);
        else setIpv4DstCsum(f, 14, nv);
        udpCsumReplace32(f, o, old, nv);
      }
      assert.equal(udpChecksum(f, o), compute(f, 14, o, len, 17), `${src} step ${i}`);
      assert.notEqual(udpChecksum(f, o), 0, 'zero is never produced');
    }
    assert.ok((v6 ? verifyL4ChecksumV6 : verifyL4ChecksumV4)(f, 14, o, len, 17));
  }
});

test('udp: a zero ("none") checksum stays zero through incremental updates', () => {
  const p = buildPacketLayout({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', srcPort: 5 });
  setUdpChecksum(p.frame, 34, 0);
  setUdpSrcPortCsum(p.frame, 34, 6000);
  udpCsumReplace32(p.frame, 34, 1, 2);
  assert.equal(udpSrcPort(p.frame, 34), 6000);
  assert.equal(udpChecksum(p.frame, 34), 0);
  assert.ok(verifyL4ChecksumV4(p.frame, 14, 34, 8, 17));
});

test('udp: setUdpLengthCsum accounts for the header field and the pseudo-header', () => {
  // Trailing zero payload bytes add nothing to the sum, so trimming them keeps it valid.
  const p = buildPacketLayout({
    src: '10.9.8.7',
    dst: '10.1.2.3',
    proto: 'udp',
    payload: Uint8Array.of(1, 2, 3, 0, 0, 0),
  });
  setUdpLengthCsum(p.frame, 34, 11);
  assert.equal(udpLength(p.frame, 34), 11);
  assert.ok(verifyL4ChecksumV4(p.frame, 14, 34, 11, 17));
  assert.equal(udpChecksum(p.frame, 34), computeL4ChecksumV4(p.frame, 14, 34, 11, 17));
});

test('udp: an incremental update that lands on zero stores 0xffff (RFC 768)', () => {
  const p = buildPacketLayout({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', srcPort: 1000 });
  const f = p.frame;
  const c = udpChecksum(f, 34);
  // Pick the new port so that ~c + ~old + new folds to 0xffff, i.e. the new checksum is zero.
  let t = (~c & 0xffff) + (~udpSrcPort(f, 34) & 0xffff);
  t = (t & 0xffff) + (t >>> 16);
  const port = 0xffff - t;
  setUdpSrcPortCsum(f, 34, port);
  assert.equal(udpSrcPort(f, 34), port);
  assert.equal(udpChecksum(f, 34), 0xffff);
  assert.equal(computeL4ChecksumV4(f, 14, 34, 8, 17), 0xffff);
  assert.ok(verifyL4ChecksumV4(f, 14, 34, 8, 17));
});
