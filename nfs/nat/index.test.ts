import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNFHarness } from '../../src/nflib/testing.js';
import { buildPacket, type PacketSpec } from '../../src/proto/build.js';
import { parsePacket, ParsedPacket } from '../../src/proto/parse.js';
import { verifyPacketChecksums } from '../../src/proto/packet-checksum.js';
import { verifyIpv4HeaderChecksum } from '../../src/proto/checksum.js';
import { oddFrames } from '../../test/helpers/odd-frames.js';
import nat from './index.js';

const EXT = '203.0.113.1';
const ARGS = {
  external: EXT,
  inside: ['10.0.0.0/8'],
  ports: '20000-20009',
  clock: 'packet',
  timeouts: { udp: 30, icmp: 10, tcp: 1000, tcpTransitory: 50 },
};
const pk = (s: Partial<PacketSpec>): Uint8Array =>
  buildPacket({ src: '10.0.0.5', dst: '198.51.100.9', proto: 'udp', srcPort: 5555, dstPort: 53, payload: 'hello', ...s } as PacketSpec);
const at = (data: Uint8Array, tsSec = 1): { data: Uint8Array; tsSec: number } => ({ data, tsSec });
const ok = (d: Uint8Array): boolean => {
  const p = new ParsedPacket();
  return parsePacket(d, 0, d.length, p) && verifyPacketChecksums(d, p);
};

test('nat: args are validated at start; errors name the field', async () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{}, /args\.external must be an IPv4 address/],
    [{ external: '2001:db8::1' }, /args\.external must be an IPv4 address/],
    [{ external: EXT, inside: ['2001:db8::/32'] }, /args\.inside\[0\] must be an IPv4 prefix/],
    [{ external: EXT, inside: [] }, /args\.inside must have at least 1 entry/],
    [{ external: EXT, ports: '0-100' }, /args\.ports must not include port 0/],
    [{ external: EXT, ports: '5000-4000' }, /args\.ports must be a port/],
    [{ external: EXT, timeouts: { udp: 'long' } }, /args\.timeouts\.udp must be seconds/],
    [{ external: EXT, timeouts: { sctp: 5 } }, /args\.timeouts\.sctp is not a known key/],
    [{ external: EXT, clock: 'cpu' }, /args\.clock must be one of wall, packet/],
  ];
  for (const [args, re] of bad)
    await assert.rejects(
      createNFHarness(nat, { args }),
      (e: Error & { code?: string }) => e.code === 'NETVM_NF_ARGS' && re.test(e.message),
      JSON.stringify(args),
    );
});

test('nat: TCP, UDP and ICMP echo leave with the external address and allocated ports; replies are translated back', async () => {
  const h = await createNFHarness(nat, { args: ARGS });
  const out = [
    pk({}),
    pk({ proto: 'tcp', srcPort: 40000, dstPort: 80, tcpFlags: 0x02 }),
    pk({ proto: 'icmp', icmpId: 77, icmpSeq: 1 }),
    pk({ src: '10.0.0.6' }), // another inside host, same ports: its own mapping
    pk({}), // same flow again: same mapping
  ];
  const r = h.push(out.map((d) => at(d)));
  const want = [
    pk({ src: EXT, srcPort: 20000 }),
    pk({ proto: 'tcp', src: EXT, srcPort: 20000, dstPort: 80, tcpFlags: 0x02 }), // TCP has its own ports
    pk({ proto: 'icmp', src: EXT, icmpId: 20000, icmpSeq: 1 }),
    pk({ src: EXT, srcPort: 20001 }),
    pk({ src: EXT, srcPort: 20000 }),
  ];
  r.forEach((x, i) => {
    assert.equal(x.action, 'next');
    assert.deepEqual(x.data, want[i], `packet ${i}`); // byte for byte: incremental checksums equal fresh ones
  });
  const replies = h.push([
    at(pk({ src: '198.51.100.9', dst: EXT, srcPort: 53, dstPort: 20000, payload: 'answer' })),
    at(pk({ proto: 'tcp', src: '198.51.100.9', dst: EXT, srcPort: 80, dstPort: 20000, tcpFlags: 0x12 })),
    at(pk({ proto: 'icmp', src: '198.51.100.9', dst: EXT, icmpType: 0, icmpId: 20000, icmpSeq: 1 })),
    at(pk({ src: '198.51.100.9', dst: EXT, srcPort: 53, dstPort: 20001 })),
  ]);
  const back = [
    pk({ src: '198.51.100.9', dst: '10.0.0.5', srcPort: 53, dstPort: 5555, payload: 'answer' }),
    pk({ proto: 'tcp', src: '198.51.100.9', dst: '10.0.0.5', srcPort: 80, dstPort: 40000, tcpFlags: 0x12 }),
    pk({ proto: 'icmp', src: '198.51.100.9', dst: '10.0.0.5', icmpType: 0, icmpId: 77, icmpSeq: 1 }),
    pk({ src: '198.51.100.9', dst: '10.0.0.6', srcPort: 53, dstPort: 5555 }),
  ];
  replies.forEach((x, i) => assert.deepEqual(x.data, back[i], `reply ${i}`));
  const c = h.counters;
  assert.deepEqual([c.outbound, c.inbound, c.newMappings], [5, 4, 4]);
});

test('nat: only the remote end of a mapping may answer; unknown ports and other hosts are dropped', async () => {
  const h = await createNFHarness(nat, { args: ARGS });
  h.push([at(pk({}))]);
  const r = h.push([
    at(pk({ src: '198.51.100.10', dst: EXT, srcPort: 53, dstPort: 20000 })), // another remote address
    at(pk({ src: '198.51.100.9', dst: EXT, srcPort: 54, dstPort: 20000 })), // another remote port
    at(pk({ src: '198.51.100.9', dst: EXT, srcPort: 53, dstPort: 20005 })), // no mapping
    at(pk({ src: '198.51.100.9', dst: '192.0.2.1' })), // neither inside nor to us: passes untouched
  ]);
  assert.deepEqual(
    r.map((x) => x.action),
    ['drop', 'drop', 'drop', 'next'],
  );
  assert.equal(h.counters.inboundNoMapping, 3);
  assert.equal(h.counters.passed, 1);
});

test('nat: a zero UDP checksum (none computed, RFC 768) stays zero', async () => {
  const h = await createNFHarness(nat, { args: ARGS });
  const d = pk({});
  d[14 + 20 + 6] = 0;
  d[14 + 20 + 7] = 0;
  const [r] = h.push([at(d)]);
  assert.deepEqual([r.data[14 + 20 + 6], r.data[14 + 20 + 7]], [0, 0]);
  assert.ok(verifyIpv4HeaderChecksum(r.data, 14));
});

test('nat: per-protocol timeouts expire mappings; ports come back; the range can run out', async () => {
  const h = await createNFHarness(nat, { args: { ...ARGS, ports: '20000-20001' } });
  const r = h.push([
    at(pk({ srcPort: 1 }), 0),
    at(pk({ srcPort: 2 }), 1),
    at(pk({ srcPort: 3 }), 2), // both ports taken: dropped
    at(pk({ src: '198.51.100.9', dst: EXT, srcPort: 53, dstPort: 20000 }), 29), // 29 s idle: alive
    at(pk({ src: '198.51.100.9', dst: EXT, srcPort: 53, dstPort: 20001 }), 32), // 31 s idle: expired
    at(pk({ srcPort: 3 }), 40), // port 20001 is free again
  ]);
  assert.deepEqual(
    r.map((x) => x.action),
    ['next', 'next', 'drop', 'next', 'drop', 'next'],
  );
  assert.deepEqual(r[5].data, pk({ src: EXT, srcPort: 20001 }));
  assert.deepEqual([h.counters.portsExhausted, h.counters.inboundNoMapping], [1, 1]);
  // TCP: transitory (50 s) until both directions are seen, then established (1000 s).
  const t = await createNFHarness(nat, { args: ARGS });
  const syn = pk({ proto: 'tcp', srcPort: 9, dstPort: 80, tcpFlags: 0x02 });
  const synAck = pk({ proto: 'tcp', src: '198.51.100.9', dst: EXT, srcPort: 80, dstPort: 20000, tcpFlags: 0x12 });
  // The SYN at 100 gets a fresh mapping: the next port in order, 20001.
  const synAck2 = pk({ proto: 'tcp', src: '198.51.100.9', dst: EXT, srcPort: 80, dstPort: 20001, tcpFlags: 0x12 });
  const rt = t.push([at(syn, 0), at(synAck, 60), at(syn, 100), at(synAck2, 101), at(synAck2, 900)]);
  assert.deepEqual(
    rt.map((x) => x.action),
    ['next', 'drop', 'next', 'next', 'next'],
  );
});

test('nat: an ICMP error about a translated packet is translated back, quote included (RFC 5508)', async () => {
  const h = await createNFHarness(nat, { args: ARGS });
  const [outPkt] = h.push([at(pk({}))]);
  // The remote's router answers "port unreachable", quoting what it received (IP header + 8).
  const quote = outPkt.data.subarray(14, 14 + 20 + 8);
  const err = buildPacket({ src: '198.51.100.9', dst: EXT, proto: 'icmp', icmpType: 3, icmpCode: 3, payload: quote });
  const [r] = h.push([at(err, 2)]);
  assert.equal(r.action, 'next');
  assert.ok(ok(r.data), 'outer checksums valid');
  const origQuote = pk({}).subarray(14, 14 + 20 + 8);
  const want = buildPacket({ src: '198.51.100.9', dst: '10.0.0.5', proto: 'icmp', icmpType: 3, icmpCode: 3, payload: origQuote });
  assert.deepEqual(r.data, want);
  assert.equal(h.counters.icmpErrorsIn, 1);
  const stray = buildPacket({
    src: '198.51.100.9',
    dst: EXT,
    proto: 'icmp',
    icmpType: 3,
    payload: pk({ src: EXT, srcPort: 20007 }).subarray(14, 42),
  });
  assert.equal(h.push([at(stray, 3)])[0].action, 'drop');
});

test('nat: malformed and fragments are dropped and counted; IPv6, non-IP and options handled', async () => {
  const h = await createNFHarness(nat, { args: ARGS });
  const frames = oddFrames({ src: '10.0.0.5', dst: '198.51.100.9' });
  const r = h.push(frames.map((f) => at(f.data)));
  const by = new Map(frames.map((f, i) => [f.name, r[i]]));
  for (const f of frames) if (f.malformed) assert.equal(by.get(f.name)!.action, 'drop', f.name);
  assert.equal(h.counters.malformed, frames.filter((f) => f.malformed).length);
  assert.equal(by.get('ipv4 first fragment')!.action, 'drop');
  assert.equal(by.get('ipv4 non-first fragment')!.action, 'drop');
  assert.equal(h.counters.fragments, 2);
  const opt = by.get('ipv4 with options')!;
  assert.equal(opt.action, 'next');
  assert.ok(ok(opt.data));
  assert.deepEqual([...opt.data.subarray(14 + 12, 14 + 16)], [203, 0, 113, 1]);
  for (const n of ['ipv6 fragment', 'ipv6 hop-by-hop + routing + destination options', 'arp']) {
    assert.equal(by.get(n)!.action, 'next', n);
    assert.deepEqual(by.get(n)!.data, frames.find((f) => f.name === n)!.data, n);
  }
});
