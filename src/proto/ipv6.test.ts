import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPacketLayout, formatIpv6, parseIpv6 } from './build.js';
import {
  copyIpv6Addr,
  decIpv6HopLimit,
  ipv6AddrEquals,
  ipv6DstWord,
  ipv6ExtLen,
  ipv6FlowLabel,
  ipv6FragId,
  ipv6FragMore,
  ipv6FragOffset,
  ipv6HopLimit,
  ipv6NextHeader,
  ipv6PayloadLen,
  ipv6SrcWord,
  ipv6TrafficClass,
  ipv6Version,
  isIpv6ExtHeader,
  setIpv6FlowLabel,
  setIpv6HopLimit,
  setIpv6TrafficClass,
} from './ipv6.js';

test('ipv6: fixed header fields and address words', () => {
  const p = buildPacketLayout({
    src: '2001:db8:85a3::8a2e:370:7334',
    dst: 'ff02::1:ff00:1',
    proto: 'udp',
    tos: 0xa5,
    flowLabel: 0xbcdef,
    ttl: 255,
    payload: 'q',
  });
  const f = p.frame;
  const o = 14;
  assert.equal(ipv6Version(f, o), 6);
  assert.equal(ipv6TrafficClass(f, o), 0xa5);
  assert.equal(ipv6FlowLabel(f, o), 0xbcdef);
  assert.equal(ipv6PayloadLen(f, o), 9);
  assert.equal(ipv6NextHeader(f, o), 17);
  assert.equal(ipv6HopLimit(f, o), 255);
  assert.deepEqual(
    [0, 1, 2, 3].map((i) => ipv6SrcWord(f, o, i)),
    [0x20010db8, 0x85a30000, 0x00008a2e, 0x03707334],
  );
  assert.deepEqual(
    [0, 1, 2, 3].map((i) => ipv6DstWord(f, o, i)),
    [0xff020000, 0, 1, 0xff000001],
  );
  setIpv6TrafficClass(f, o, 0x5a);
  setIpv6FlowLabel(f, o, 0x12345);
  assert.equal(ipv6Version(f, o), 6);
  assert.equal(ipv6TrafficClass(f, o), 0x5a);
  assert.equal(ipv6FlowLabel(f, o), 0x12345);
  setIpv6HopLimit(f, o, 1);
  assert.equal(decIpv6HopLimit(f, o), 0);
  assert.equal(decIpv6HopLimit(f, o), -1);
  assert.equal(ipv6HopLimit(f, o), 0);
  const buf = new Uint8Array(40);
  copyIpv6Addr(f, o + 8, buf, 3);
  assert.ok(ipv6AddrEquals(buf, 3, parseIpv6('2001:db8:85a3::8a2e:370:7334'), 0));
  assert.equal(formatIpv6(buf, 3), '2001:db8:85a3::8a2e:370:7334');
  buf[18] ^= 1;
  assert.ok(!ipv6AddrEquals(buf, 3, f, o + 8));
});

test('ipv6: extension header helpers', () => {
  const p = buildPacketLayout({
    src: '::1',
    dst: '::2',
    proto: 'tcp',
    ipv6Ext: [
      { type: 0, length: 16 },
      { type: 51, length: 24 },
      { type: 44, fragOffset: 0x1fff, moreFragments: true, fragId: 0x80000000 },
    ],
  });
  const f = p.frame;
  assert.equal(ipv6ExtLen(f, 54, 0), 16);
  assert.equal(ipv6ExtLen(f, 70, 51), 24);
  assert.equal(ipv6ExtLen(f, 94, 44), 8);
  assert.equal(ipv6FragOffset(f, 94), 0x1fff);
  assert.ok(ipv6FragMore(f, 94));
  assert.equal(ipv6FragId(f, 94), 0x80000000);
  for (const nh of [0, 43, 44, 60, 51, 135]) assert.ok(isIpv6ExtHeader(nh), String(nh));
  for (const nh of [6, 17, 58, 50, 59]) assert.ok(!isIpv6ExtHeader(nh), String(nh));
});
