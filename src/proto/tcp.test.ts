import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPacketLayout } from './build.js';
import { computeL4ChecksumV4, computeL4ChecksumV6, verifyL4ChecksumV4, verifyL4ChecksumV6 } from './checksum.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from './constants.js';
import { ipv4Src, setIpv4SrcCsum } from './ipv4.js';
import { ipv6SrcWord, setIpv6SrcWord } from './ipv6.js';
import {
  setTcpAckCsum,
  setTcpDstPortCsum,
  setTcpFlagsCsum,
  setTcpSeqCsum,
  setTcpSrcPort,
  setTcpSrcPortCsum,
  setTcpWindowCsum,
  tcpAck,
  tcpChecksum,
  tcpCsumReplace32,
  tcpDstPort,
  tcpFlags,
  tcpHasFlags,
  tcpHeaderLen,
  tcpSeq,
  tcpSrcPort,
  tcpUrgent,
  tcpWindow,
} from './tcp.js';
import { rng } from './test-util.js';

test('tcp: getters read a built segment', () => {
  const p = buildPacketLayout({
    src: '1.1.1.1',
    dst: '2.2.2.2',
    proto: 'tcp',
    srcPort: 65535,
    dstPort: 443,
    seq: 0xfedcba98,
    ack: 0x80000001,
    tcpFlags: TCP_SYN | TCP_ACK,
    window: 29200,
    tcpOptions: Uint8Array.of(2, 4, 5, 0xb4),
  });
  const f = p.frame;
  const o = p.l4Offset;
  assert.equal(tcpSrcPort(f, o), 65535);
  assert.equal(tcpDstPort(f, o), 443);
  assert.equal(tcpSeq(f, o), 0xfedcba98);
  assert.equal(tcpAck(f, o), 0x80000001);
  assert.equal(tcpHeaderLen(f, o), 24);
  assert.equal(tcpFlags(f, o), 0x12);
  assert.ok(tcpHasFlags(f, o, TCP_SYN | TCP_ACK));
  assert.ok(!tcpHasFlags(f, o, TCP_SYN | TCP_FIN));
  assert.equal(tcpWindow(f, o), 29200);
  assert.equal(tcpUrgent(f, o), 0);
  assert.equal(tcpChecksum(f, o), computeL4ChecksumV4(f, 14, o, 24, 6));
  setTcpSrcPort(f, o, 80);
  assert.deepEqual([f[o], f[o + 1]], [0, 80]);
});

test('tcp: incremental setters and NAT rewrites equal full recomputation (IPv4)', () => {
  const r = rng(11);
  const p = buildPacketLayout({
    src: '10.0.0.1',
    dst: '10.0.0.2',
    proto: 'tcp',
    payload: 'payload!',
    srcPort: 1,
    dstPort: 2,
  });
  const f = p.frame;
  const o = p.l4Offset;
  const l4Len = p.ipLen - 20;
  const rand = (bits: number): number => Math.floor(r() * 2 ** bits) >>> 0;
  for (let i = 0; i < 3000; i++) {
    switch (i % 7) {
      case 0:
        setTcpSrcPortCsum(f, o, rand(16));
        break;
      case 1:
        setTcpDstPortCsum(f, o, rand(16));
        break;
      case 2:
        setTcpSeqCsum(f, o, rand(32));
        break;
      case 3:
        setTcpAckCsum(f, o, rand(32));
        break;
      case 4:
        setTcpFlagsCsum(f, o, rand(8) | TCP_PSH);
        break;
      case 5:
        setTcpWindowCsum(f, o, rand(16));
        break;
      default: {
        // Source NAT: the address is in the IP header checksum and the TCP pseudo-header.
        const old = ipv4Src(f, 14);
        const nv = rand(32);
        setIpv4SrcCsum(f, 14, nv);
        tcpCsumReplace32(f, o, old, nv);
      }
    }
    assert.equal(tcpChecksum(f, o), computeL4ChecksumV4(f, 14, o, l4Len, 6), `step ${i}`);
    assert.ok(verifyL4ChecksumV4(f, 14, o, l4Len, 6));
  }
  assert.equal(tcpHeaderLen(f, o), 20, 'flag updates keep the data offset');
});

test('tcp: IPv6 address word rewrite with tcpCsumReplace32', () => {
  const r = rng(12);
  const p = buildPacketLayout({
    src: '2001:db8::1',
    dst: '2001:db8::2',
    proto: 'tcp',
    payload: 'abc',
  });
  const f = p.frame;
  const l4Len = p.ipLen - 40;
  for (let i = 0; i < 500; i++) {
    const w = i & 3;
    const old = ipv6SrcWord(f, 14, w);
    const nv = Math.floor(r() * 2 ** 32) >>> 0;
    setIpv6SrcWord(f, 14, w, nv);
    tcpCsumReplace32(f, p.l4Offset, old, nv);
    assert.equal(tcpChecksum(f, p.l4Offset), computeL4ChecksumV6(f, 14, p.l4Offset, l4Len, 6));
  }
  assert.ok(verifyL4ChecksumV6(f, 14, p.l4Offset, l4Len, 6));
});
