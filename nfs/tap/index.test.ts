import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import tap from './index.js';
import { createNFHarness } from '../../src/nflib/testing.js';
import { buildArp, buildPacket } from '../../src/proto/build.js';
import { readPcapFile } from '../../src/ports/pcap/pcap-format.js';
import { tmpDir } from '../../test/helpers/cli.js';

const udp = (src: string, dst: string, sport: number, dport: number, extra: object = {}): Uint8Array =>
  buildPacket({ src, dst, proto: 'udp', srcPort: sport, dstPort: dport, payload: 'x', ...extra });

test('tap: bad args are refused at start, naming the field', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 't.pcap');
  const bad: [Record<string, unknown>, RegExp][] = [
    [{}, /args\.file is required/],
    [{ file, snaplen: 0 }, /args\.snaplen must be an integer >= 1/],
    [{ file, filter: { proto: 'gre' } }, /args\.filter\.proto must be tcp, udp, icmp, icmpv6, sctp or a number/],
    [{ file, filter: { src: '10.0.0.0/33' } }, /args\.filter\.src has a bad prefix length/],
    [{ file, filter: { dst: 'example.com' } }, /args\.filter\.dst is not an IPv4 or IPv6 address/],
    [{ file, filter: { port: '90-80' } }, /args\.filter\.port must be a port 0\.\.65535 or a range/],
    [{ file, filter: { vlan: 3 } }, /args\.filter\.vlan is not a filter field/],
    [{ file, buffers: 1 }, /args\.buffers must be an integer >= 2/],
    [{ file: path.join(dir, 'no', 'such', 'dir', 'x.pcap') }, /args\.file cannot be created/],
  ];
  for (const [args, re] of bad)
    await assert.rejects(createNFHarness(tap, { args }), { code: 'NETVM_NF_ARGS', message: re }, JSON.stringify(args));
});

test('tap: the filter — prefixes, either-direction host and port ranges, first fragments only; every packet passes on', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 't.pcap');
  const h = await createNFHarness(tap, { args: { file, filter: { host: '10.1.0.0/16', port: '1000-2000' } } });
  const frames = [
    udp('10.1.2.3', '10.9.9.9', 1500, 7), // host by source, port by source: yes
    udp('10.9.9.9', '10.1.2.3', 7, 2000), // host by destination, port by destination: yes
    udp('10.2.0.1', '10.9.9.9', 1500, 7), // host outside: no
    udp('10.1.2.3', '10.9.9.9', 7, 2001), // port outside: no
    udp('10.1.2.3', '10.9.9.9', 1500, 7, { fragOffset: 4 }), // later fragment: no ports, no
    buildArp({ senderMac: '02:00:00:00:00:01', senderIp: '10.1.0.1', targetIp: '10.1.0.2' }), // not IP: no
    udp('2001:db8::1', '2001:db8::2', 1500, 7), // IPv6 against an IPv4 prefix: no
  ];
  const rs = h.push(frames.map((data, i) => ({ data, tsSec: 1000 + i, tsNsec: 5000 })));
  assert.ok(
    rs.every((r) => r.action === 'next'),
    'a tap never drops',
  );
  await h.close();
  const recs = readPcapFile(file).packets;
  assert.deepEqual(
    recs.map((r) => r.tsSec),
    [1000, 1001],
  );
  assert.deepEqual(new Uint8Array(recs[0].data), frames[0]);
  assert.equal(recs[0].tsNsec, 5000);
  assert.equal(h.counters.filtered, 5);
});

test('tap: when every buffer waits for the disk, copies are dropped and counted — the data path never waits', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 't.pcap');
  const h = await createNFHarness(tap, { args: { file, bufferSize: 65536, buffers: 2 } });
  const big = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', srcPort: 1, dstPort: 2, size: 1400 });
  // No await between pushes: the asynchronous writes cannot complete, so the buffers fill.
  const rs = h.push(Array.from({ length: 400 }, () => big));
  assert.ok(rs.every((r) => r.action === 'next'));
  const captured = h.counters.captured;
  assert.ok(h.counters.dropped > 0, 'copies were dropped');
  assert.equal(captured + h.counters.dropped, 400);
  await h.close();
  const recs = readPcapFile(file).packets;
  assert.equal(recs.length, captured, 'what was accepted is all in the file, intact');
  assert.ok(recs.every((r) => Buffer.from(r.data).equals(Buffer.from(big))));
});

test('tap: a tick sends buffered records to the file before the end; snaplen cuts, keeping the original length', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 't.pcap');
  const h = await createNFHarness(tap, { args: { file, snaplen: 40 } });
  const f = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'tcp', srcPort: 1, dstPort: 2, size: 200 });
  h.push([f]);
  assert.equal(fs.statSync(file).size, 0, 'nothing written on the data path');
  h.tick();
  for (let i = 0; i < 100 && fs.statSync(file).size === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(fs.statSync(file).size, 24 + 16 + 40);
  const [rec] = readPcapFile(file).packets;
  assert.equal(rec.data.length, 40);
  assert.equal(rec.origLen, 200);
  assert.ok(rec.tsSec > 1_600_000_000, 'a packet without a capture time gets the wall clock');
  await h.close();
});
