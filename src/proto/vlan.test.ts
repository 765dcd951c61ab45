import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPacket } from './build.js';
import { parsePacket, ParsedPacket } from './parse.js';
import { hex } from './test-util.js';
import {
  isVlanTpid,
  setVlanId,
  setVlanPcp,
  vlanDei,
  vlanId,
  vlanInnerType,
  vlanPcp,
  vlanPop,
  vlanPush,
  vlanTci,
  vlanTpid,
} from './vlan.js';

test('vlan: tag fields', () => {
  const f = buildPacket({
    src: '1.1.1.1',
    dst: '2.2.2.2',
    proto: 'udp',
    vlan: [(5 << 13) | 0x1000 | 0xabc, 7],
  });
  assert.equal(vlanTpid(f, 12), 0x88a8);
  assert.equal(vlanTci(f, 12), 0xbabc);
  assert.equal(vlanPcp(f, 12), 5);
  assert.equal(vlanDei(f, 12), 1);
  assert.equal(vlanId(f, 12), 0xabc);
  assert.equal(vlanInnerType(f, 12), 0x8100);
  assert.equal(vlanInnerType(f, 16), 0x0800);
  setVlanId(f, 12, 0x123);
  assert.equal(vlanTci(f, 12), 0xb123, 'PCP and DEI kept');
  setVlanPcp(f, 12, 2);
  assert.equal(vlanTci(f, 12), 0x5123);
  assert.ok(isVlanTpid(0x8100) && isVlanTpid(0x88a8) && isVlanTpid(0x9100) && !isVlanTpid(0x0800));
});

test('vlan: push then pop restores the frame; parser sees the tag', () => {
  const orig = buildPacket({
    src: '1.1.1.1',
    dst: '2.2.2.2',
    proto: 'tcp',
    srcPort: 9,
    dstPort: 10,
  });
  const buf = new Uint8Array(orig.length + 8);
  buf.set(orig, 8);
  const p = new ParsedPacket();
  const start = vlanPush(buf, 8, 42, 0x8100);
  assert.equal(start, 4);
  assert.ok(parsePacket(buf, start, orig.length + 4, p));
  assert.equal(p.vlanCount, 1);
  assert.equal(p.vlanId, 42);
  assert.equal(p.srcPort, 9);
  assert.equal(hex(buf.subarray(4, 22)), hex(orig.subarray(0, 12)) + '8100002a0800');
  const back = vlanPop(buf, start, orig.length + 4);
  assert.equal(back, 8);
  assert.equal(hex(buf.subarray(8)), hex(orig));
  assert.equal(vlanPop(buf, back, orig.length), -1, 'untagged frame');
  assert.equal(vlanPush(buf, 3, 1, 0x8100), -1, 'no headroom');
});
