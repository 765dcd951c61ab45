import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPacket, formatMac, parseMac } from './build.js';
import {
  copyMac,
  ethDstHi16,
  ethDstLo32,
  ethSrcHi16,
  ethSrcLo32,
  ethType,
  isBroadcastMac,
  isMulticastMac,
  macEquals,
  setEthDst,
  setEthSrc,
  setEthType,
  swapEthAddrs,
} from './ethernet.js';

test('ethernet: MACs as (hi16, lo32) numbers, EtherType', () => {
  const f = buildPacket({
    src: '1.1.1.1',
    dst: '2.2.2.2',
    proto: 'udp',
    dstMac: 'ff:fe:fd:fc:fb:fa',
    srcMac: '01:00:5e:00:00:fb',
  });
  assert.equal(ethDstHi16(f, 0), 0xfffe);
  assert.equal(ethDstLo32(f, 0), 0xfdfcfbfa, 'unsigned');
  assert.equal(ethSrcHi16(f, 0), 0x0100);
  assert.equal(ethSrcLo32(f, 0), 0x5e0000fb);
  assert.equal(ethType(f, 0), 0x0800);
  assert.ok(isMulticastMac(f, 6));
  assert.ok(!isBroadcastMac(f, 0));
  setEthDst(f, 0, 0xffff, 0xffffffff);
  assert.ok(isBroadcastMac(f, 0) && isMulticastMac(f, 0));
  setEthSrc(f, 0, 0x0200, 0x00000001);
  assert.equal(formatMac(f, 6), '02:00:00:00:00:01');
  setEthType(f, 0, 0x86dd);
  assert.deepEqual([f[12], f[13]], [0x86, 0xdd]);
});

test('ethernet: copy, compare and swap', () => {
  const buf = new Uint8Array(32);
  const a = parseMac('aa:bb:cc:dd:ee:ff');
  copyMac(a, 0, buf, 3);
  assert.ok(macEquals(buf, 3, a, 0));
  buf[8] ^= 1;
  assert.ok(!macEquals(buf, 3, a, 0));
  const f = buildPacket({
    src: '1.1.1.1',
    dst: '2.2.2.2',
    proto: 'udp',
    dstMac: '00:00:00:00:00:0d',
    srcMac: '00:00:00:00:00:05',
  });
  swapEthAddrs(f, 0);
  assert.equal(formatMac(f, 0), '00:00:00:00:00:05');
  assert.equal(formatMac(f, 6), '00:00:00:00:00:0d');
});
