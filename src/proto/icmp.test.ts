import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPacketLayout } from './build.js';
import { computeL4ChecksumV6, verifyIcmpChecksum, verifyL4ChecksumV6 } from './checksum.js';
import {
  icmpChecksum,
  icmpCode,
  icmpCsumReplace32,
  icmpEchoId,
  icmpEchoSeq,
  icmpType,
  setIcmpCodeCsum,
  setIcmpEchoIdCsum,
  setIcmpEchoSeqCsum,
  setIcmpTypeCsum,
} from './icmp.js';
import { ipv6SrcWord, setIpv6SrcWord } from './ipv6.js';

test('icmp: echo request to reply with incremental checksum (ICMPv4)', () => {
  const p = buildPacketLayout({
    src: '1.1.1.1',
    dst: '2.2.2.2',
    proto: 'icmp',
    icmpId: 0x4242,
    icmpSeq: 3,
    payload: 'ping',
  });
  const f = p.frame;
  const o = p.l4Offset;
  assert.equal(icmpType(f, o), 8);
  assert.equal(icmpCode(f, o), 0);
  assert.equal(icmpEchoId(f, o), 0x4242);
  assert.equal(icmpEchoSeq(f, o), 3);
  setIcmpTypeCsum(f, o, 0);
  assert.ok(verifyIcmpChecksum(f, o, 12));
  setIcmpCodeCsum(f, o, 9);
  setIcmpEchoIdCsum(f, o, 0xffff);
  setIcmpEchoSeqCsum(f, o, 0x8000);
  assert.ok(verifyIcmpChecksum(f, o, 12));
  assert.deepEqual([icmpType(f, o), icmpCode(f, o), icmpEchoId(f, o), icmpEchoSeq(f, o)], [0, 9, 0xffff, 0x8000]);
});

test('icmp: ICMPv6 checksum follows header and pseudo-header changes', () => {
  const p = buildPacketLayout({ src: 'fe80::1', dst: 'fe80::2', proto: 'icmp', payload: 'abcdef' });
  const f = p.frame;
  const o = p.l4Offset;
  assert.equal(icmpType(f, o), 128);
  setIcmpTypeCsum(f, o, 129);
  const old = ipv6SrcWord(f, 14, 3);
  setIpv6SrcWord(f, 14, 3, 0xdeadbeef);
  icmpCsumReplace32(f, o, old, 0xdeadbeef);
  assert.ok(verifyL4ChecksumV6(f, 14, o, 14, 58));
  assert.equal(icmpChecksum(f, o), computeL4ChecksumV6(f, 14, o, 14, 58));
});
