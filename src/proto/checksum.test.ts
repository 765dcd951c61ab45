import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  computeIcmpChecksum,
  computeIpv4HeaderChecksum,
  computeL4ChecksumV4,
  computeL4ChecksumV6,
  csumFold,
  csumReplace16,
  csumReplace32,
  fillL4ChecksumV4,
  fillL4ChecksumV6,
  internetChecksum,
  onesSum,
  verifyIcmpChecksum,
  verifyIpv4HeaderChecksum,
  verifyL4ChecksumV4,
  verifyL4ChecksumV6,
} from './checksum.js';
import { buildPacketLayout } from './build.js';
import { be16, rng } from './test-util.js';

/** Word-by-word reference sum with end-around carry (RFC 1071 §4.1 C code, transcribed). */
function refSum(u8: Uint8Array, off: number, len: number): number {
  let s = 0;
  let i = 0;
  for (; i + 1 < len; i += 2) s += (u8[off + i] << 8) | u8[off + i + 1];
  if (i < len) s += u8[off + i] << 8;
  while (s >>> 16) s = (s & 0xffff) + (s >>> 16);
  return s;
}

test('checksum: RFC 1071 §3 worked example', () => {
  const b = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
  assert.equal(onesSum(b, 0, 8, 0), 0xddf2);
  assert.equal(internetChecksum(b, 0, 8), 0x220d);
  assert.equal(onesSum(Uint8Array.of(0xab), 0, 1, 0), 0xab00, 'odd byte is the high byte');
  assert.equal(onesSum(b, 0, 0, 0), 0);
});

test('checksum: onesSum matches the reference on random ranges, offsets and lengths', () => {
  const r = rng(1);
  const buf = new Uint8Array(3000);
  for (let i = 0; i < buf.length; i++) buf[i] = (r() * 256) | 0;
  for (let k = 0; k < 2000; k++) {
    const off = (r() * 100) | 0;
    const len = (r() * 2800) | 0;
    assert.equal(onesSum(buf, off, len, 0), refSum(buf, off, len), `off=${off} len=${len}`);
  }
  buf.fill(0xff);
  assert.equal(onesSum(buf, 0, 3000, 0), 0xffff);
});

test('checksum: csumFold handles sums above 2^32', () => {
  assert.equal(csumFold(0x1_0000_0000), 1);
  assert.equal(csumFold(0xffff_ffff), 0xffff);
  assert.equal(csumFold(0x12_3456_789a), csumFold(0x789a + 0x3456 + 0x12));
  assert.equal(csumFold(0x1fffe), 0xffff);
});

test('checksum: IPv4 header textbook example and verification', () => {
  const h = Uint8Array.from(Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex'));
  assert.equal(computeIpv4HeaderChecksum(h, 0), 0xb861);
  assert.ok(!verifyIpv4HeaderChecksum(h, 0));
  h[10] = 0xb8;
  h[11] = 0x61;
  assert.ok(verifyIpv4HeaderChecksum(h, 0));
  assert.equal(computeIpv4HeaderChecksum(h, 0), 0xb861, 'existing field is ignored');
  h[8] = 63;
  assert.ok(!verifyIpv4HeaderChecksum(h, 0));
});

test('checksum: RFC 1624 incremental update equals full recomputation', () => {
  const r = rng(2);
  const h = new Uint8Array(60);
  for (let iter = 0; iter < 300; iter++) {
    for (let i = 0; i < 60; i++) h[i] = (r() * 256) | 0;
    h[0] = 0x4f; // non-zero data, so the +0/-0 ambiguity of RFC 1624 §3 cannot arise
    h[10] = 0;
    h[11] = 0;
    let c = internetChecksum(h, 0, 60);
    for (let step = 0; step < 50; step++) {
      if (r() < 0.5) {
        const w = 2 + 2 * ((r() * 29) | 0); // any word but the first (keeps 0x4f)
        if (w === 10) continue;
        const old = be16(h, w);
        const nv = (r() * 65536) | 0;
        h[w] = nv >>> 8;
        h[w + 1] = nv & 0xff;
        c = csumReplace16(c, old, nv);
      } else {
        const w = 12 + 4 * ((r() * 12) | 0);
        const old = ((be16(h, w) << 16) | be16(h, w + 2)) >>> 0;
        const nv = (r() * 2 ** 32) >>> 0;
        h.set([nv >>> 24, (nv >>> 16) & 0xff, (nv >>> 8) & 0xff, nv & 0xff], w);
        c = csumReplace32(c, old, nv);
      }
      assert.equal(c, internetChecksum(h, 0, 60), `iter ${iter} step ${step}`);
    }
  }
});

test('checksum: TCP/UDP over IPv4 and IPv6 verify, and detect corruption', () => {
  for (const src of ['10.0.0.1', '2001:db8::1']) {
    const v6 = src.includes(':');
    const dst = v6 ? '2001:db8::2' : '10.0.0.2';
    for (const proto of ['tcp', 'udp'] as const) {
      for (const payload of ['', 'a', 'hello world!', 'x'.repeat(1001)]) {
        const p = buildPacketLayout({ src, dst, proto, srcPort: 1, dstPort: 2, payload });
        const n = proto === 'tcp' ? 6 : 17;
        const l4Len = p.ipLen - (p.l4Offset - p.l3Offset);
        const verify = v6 ? verifyL4ChecksumV6 : verifyL4ChecksumV4;
        const compute = v6 ? computeL4ChecksumV6 : computeL4ChecksumV4;
        assert.ok(verify(p.frame, 14, p.l4Offset, l4Len, n));
        const field = p.l4Offset + (n === 6 ? 16 : 6);
        assert.equal(compute(p.frame, 14, p.l4Offset, l4Len, n), be16(p.frame, field));
        const last = p.l3Offset + p.ipLen - 1; // last byte of the segment
        p.frame[last] ^= 0x10;
        assert.ok(!verify(p.frame, 14, p.l4Offset, l4Len, n), `${src} ${proto} ${payload.length}`);
        p.frame[last] ^= 0x10;
        assert.ok(verify(p.frame, 14, p.l4Offset, l4Len, n));
        p.frame[v6 ? 14 + 8 : 14 + 12] ^= 1; // source address is in the pseudo-header
        assert.ok(!verify(p.frame, 14, p.l4Offset, l4Len, n));
      }
    }
  }
});

test('checksum: UDP zero means none over IPv4, is invalid over IPv6, computed zero sent as 0xffff', () => {
  const v4 = buildPacketLayout({ src: '1.2.3.4', dst: '5.6.7.8', proto: 'udp', payload: '\0\0' });
  v4.frame[40] = 0;
  v4.frame[41] = 0;
  assert.ok(verifyL4ChecksumV4(v4.frame, 14, 34, 10, 17));
  const v6 = buildPacketLayout({ src: '::1', dst: '::2', proto: 'udp', payload: '\0\0' });
  v6.frame[60] = 0;
  v6.frame[61] = 0;
  assert.ok(!verifyL4ChecksumV6(v6.frame, 14, 54, 10, 17));

  // Choose the payload word so the data sums to 0xffff: the checksum then computes to zero.
  for (const [f, l4, compute, fill, verify] of [
    [v4.frame, 34, computeL4ChecksumV4, fillL4ChecksumV4, verifyL4ChecksumV4],
    [v6.frame, 54, computeL4ChecksumV6, fillL4ChecksumV6, verifyL4ChecksumV6],
  ] as const) {
    f[l4 + 8] = 0;
    f[l4 + 9] = 0;
    const c0 = compute(f, 14, l4, 10, 17);
    f[l4 + 8] = c0 >>> 8;
    f[l4 + 9] = c0 & 0xff;
    assert.equal(compute(f, 14, l4, 10, 17), 0xffff);
    fill(f, 14, l4, 10, 17);
    assert.equal(be16(f, l4 + 6), 0xffff);
    assert.ok(verify(f, 14, l4, 10, 17));
  }
});

test('checksum: ICMP (no pseudo-header) compute and verify', () => {
  const m = Uint8Array.from(Buffer.from('0800000012340001616263', 'hex'));
  const c = computeIcmpChecksum(m, 0, m.length);
  assert.equal(c, ~refSum(m, 0, m.length) & 0xffff);
  m[2] = c >>> 8;
  m[3] = c & 0xff;
  assert.ok(verifyIcmpChecksum(m, 0, m.length));
  assert.equal(computeIcmpChecksum(m, 0, m.length), c);
  m[10] ^= 0x80;
  assert.ok(!verifyIcmpChecksum(m, 0, m.length));
});
