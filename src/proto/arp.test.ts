import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ARP_SHA, ARP_THA, arpIsEthIpv4, arpMakeReply, arpOp, arpSenderIp, arpTargetIp, setArpSenderIp, setArpTargetIp } from './arp.js';
import { buildArp, formatMac, parseIpv4, parseMac } from './build.js';

test('arp: read a request and turn it into a reply in place', () => {
  const f = buildArp({
    senderMac: '02:00:00:00:00:01',
    senderIp: '10.0.0.1',
    targetIp: '10.0.0.254',
  });
  const o = 14;
  assert.ok(arpIsEthIpv4(f, o));
  assert.equal(arpOp(f, o), 1);
  assert.equal(arpSenderIp(f, o), parseIpv4('10.0.0.1'));
  assert.equal(arpTargetIp(f, o), parseIpv4('10.0.0.254'));
  arpMakeReply(f, o, parseMac('02:aa:bb:cc:dd:ee'), 0, parseIpv4('10.0.0.254'));
  assert.equal(arpOp(f, o), 2);
  assert.equal(formatMac(f, o + ARP_SHA), '02:aa:bb:cc:dd:ee');
  assert.equal(arpSenderIp(f, o), parseIpv4('10.0.0.254'));
  assert.equal(formatMac(f, o + ARP_THA), '02:00:00:00:00:01');
  assert.equal(arpTargetIp(f, o), parseIpv4('10.0.0.1'));
  const expected = buildArp({
    op: 'reply',
    senderMac: '02:aa:bb:cc:dd:ee',
    senderIp: '10.0.0.254',
    targetMac: '02:00:00:00:00:01',
    targetIp: '10.0.0.1',
    dstMac: 'ff:ff:ff:ff:ff:ff',
    srcMac: '02:00:00:00:00:01',
  });
  assert.deepEqual(f, expected);
  setArpSenderIp(f, o, 0xffffffff);
  setArpTargetIp(f, o, 1);
  assert.equal(arpSenderIp(f, o), 0xffffffff);
  assert.equal(arpTargetIp(f, o), 1);
  f[o + 5] = 16;
  assert.ok(!arpIsEthIpv4(f, o));
});
