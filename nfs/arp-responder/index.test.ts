// arp-responder through the offline harness (createNFHarness): replies byte for byte as RFC 826
// describes them, back out of the port the request came in on; what it leaves alone; RFC 5227
// probes and announcements; its arguments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNFHarness } from '../../src/nflib/testing.js';
import { buildArp, buildPacket } from '../../src/proto/build.js';
import { NetvmError } from '../../src/core/errors.js';
import arpResponder from './index.js';

const OURS = '02:00:5e:00:00:fe';
const HOST = '0a:1b:2c:3d:4e:5f';
const hex = (u: Uint8Array): string => Buffer.from(u).toString('hex');

const request = (targetIp: string, extra: Partial<Parameters<typeof buildArp>[0]> = {}): Uint8Array =>
  buildArp({ senderMac: HOST, senderIp: '198.18.0.1', targetIp, ...extra });

async function harness(args: Record<string, unknown>) {
  return createNFHarness(arpResponder, { args, ports: ['h1', 'h2'] });
}

test('a request for an owned address becomes the reply, sent back out of the port it came in on', async () => {
  const h = await harness({ addresses: ['198.18.0.254'], mac: OURS });
  const [r] = h.push([{ data: request('198.18.0.254'), inPort: 'h2' }]);
  assert.equal(r.action, 'toPort');
  assert.equal(r.dest, 'h2');
  const want = buildArp({ op: 'reply', senderMac: OURS, senderIp: '198.18.0.254', targetMac: HOST, targetIp: '198.18.0.1' });
  assert.equal(hex(r.data), hex(want), 'Ethernet to the requester from us; ARP sender/target swapped, opcode 2');
  assert.equal(h.counters.requests, 1);
  assert.equal(h.counters.replies, 1);
});

test('each address answers with its own MAC; a VLAN-tagged request gets a reply with the same tag', async () => {
  const h = await harness({
    addresses: ['198.18.0.254', { ip: '198.18.0.253', mac: '02:00:00:00:00:53' }],
    mac: OURS,
  });
  const [a, b] = h.push([request('198.18.0.253'), request('198.18.0.254', { vlan: [42] })]);
  assert.equal(
    hex(a.data),
    hex(buildArp({ op: 'reply', senderMac: '02:00:00:00:00:53', senderIp: '198.18.0.253', targetMac: HOST, targetIp: '198.18.0.1' })),
  );
  assert.equal(
    hex(b.data),
    hex(buildArp({ op: 'reply', senderMac: OURS, senderIp: '198.18.0.254', targetMac: HOST, targetIp: '198.18.0.1', vlan: [42] })),
  );
  assert.equal(b.dest, 'h1', 'the first port is the default entry port');
});

test('everything else goes on unchanged: other addresses, ARP replies, IP packets, truncated ARP', async () => {
  const h = await harness({ addresses: ['198.18.0.254'], mac: OURS });
  const frames = [
    request('198.18.0.2'),
    buildArp({ op: 'reply', senderMac: HOST, senderIp: '198.18.0.1', targetMac: OURS, targetIp: '198.18.0.254' }),
    buildPacket({ src: '198.18.0.1', dst: '198.18.0.254', proto: 'udp', srcPort: 1, dstPort: 2, size: 80 }),
    request('198.18.0.254').subarray(0, 30), // cut inside the ARP header
  ];
  const rs = h.push(frames);
  rs.forEach((r, i) => {
    assert.equal(r.action, 'next', `frame ${i}`);
    assert.equal(hex(r.data), hex(frames[i]), `frame ${i} untouched`);
  });
  assert.equal(h.counters.notOurs, 1);
  assert.equal(h.counters.replies, 0);
});

test('others: drop drops what is not answered', async () => {
  const h = await harness({ addresses: ['198.18.0.254'], mac: OURS, others: 'drop' });
  const rs = h.push([
    request('198.18.0.2'),
    buildPacket({ src: '198.18.0.1', dst: '198.18.0.9', proto: 'icmp', size: 64 }),
    request('198.18.0.254'),
  ]);
  assert.deepEqual(
    rs.map((r) => r.action),
    ['drop', 'drop', 'toPort'],
  );
});

test('an address bound to a port is answered only for requests from that port', async () => {
  const h = await harness({ addresses: [{ ip: '198.18.0.254', port: 'h1' }], mac: OURS });
  const [fromH1, fromH2] = h.push([
    { data: request('198.18.0.254'), inPort: 'h1' },
    { data: request('198.18.0.254'), inPort: 'h2' },
  ]);
  assert.equal(fromH1.action, 'toPort');
  assert.equal(fromH1.dest, 'h1');
  assert.equal(fromH2.action, 'next');
  assert.equal(h.counters.wrongPort, 1);
});

test('RFC 5227: a probe (sender 0.0.0.0) is answered; an announcement of our address is not, and counts as a conflict', async () => {
  const h = await harness({ addresses: ['198.18.0.254'], mac: OURS });
  const [probe, claim] = h.push([request('198.18.0.254', { senderIp: '0.0.0.0' }), request('198.18.0.254', { senderIp: '198.18.0.254' })]);
  assert.equal(probe.action, 'toPort');
  assert.equal(
    hex(probe.data),
    hex(buildArp({ op: 'reply', senderMac: OURS, senderIp: '198.18.0.254', targetMac: HOST, targetIp: '0.0.0.0' })),
  );
  assert.equal(claim.action, 'drop');
  assert.equal(h.counters.conflicts, 1);
});

test('a large table: 1000 addresses, each answered, none confused with another', async () => {
  const addrs = Array.from({ length: 1000 }, (_, i) => `10.${i >> 8}.${i & 255}.1`);
  const h = await harness({ addresses: addrs, mac: OURS });
  const rs = h.push(addrs.map((a) => request(a)));
  rs.forEach((r, i) => {
    assert.equal(r.action, 'toPort');
    assert.equal(hex(r.data.subarray(28, 32)), hex(Uint8Array.from(addrs[i].split('.').map(Number))), 'sender IP is the asked one');
  });
  assert.equal(h.push([request('10.9.9.9')])[0].action, 'next');
});

test('arguments: each mistake is NETVM_NF_ARGS naming the field', async () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{}, /args\.addresses/],
    [{ addresses: [], mac: OURS }, /args\.addresses/],
    [{ addresses: ['198.18.0.256'], mac: OURS }, /args\.addresses\[0\]\.ip/],
    [{ addresses: ['198.18.0.1'] }, /args\.addresses\[0\]\.mac.*args\.mac/],
    [{ addresses: ['198.18.0.1'], mac: 'zz:00:00:00:00:00' }, /args\.mac/],
    [{ addresses: ['198.18.0.1'], mac: '01:00:5e:00:00:01' }, /args\.mac.*unicast/],
    [{ addresses: ['198.18.0.1', '198.18.0.1'], mac: OURS }, /args\.addresses\[1\]\.ip.*twice/],
    [{ addresses: [{ ip: '198.18.0.1', vlan: 3 }], mac: OURS }, /args\.addresses\[0\]\.vlan/],
    [{ addresses: ['198.18.0.1'], mac: OURS, others: 'pass' }, /args\.others/],
    [{ addresses: ['198.18.0.1'], mac: OURS, ttl: 3 }, /args\.ttl/],
  ];
  for (const [args, re] of bad)
    await assert.rejects(harness(args), (e: NetvmError) => e.code === 'NETVM_NF_ARGS' && re.test(e.message), JSON.stringify(args));
  await assert.rejects(
    harness({ addresses: [{ ip: '198.18.0.1', port: 'h9' }], mac: OURS }),
    (e: NetvmError) => /h9/.test(e.message),
    'an unknown port fails at setup',
  );
});
