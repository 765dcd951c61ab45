// Tests of the monitor NF through the offline harness (src/nflib/testing.ts): counts per
// protocol and per flow, the flow table's limits, the summary log, ticks and messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import monitor, { monitorState } from './index.js';
import { createNFHarness, type HarnessFrame } from '../../src/nflib/testing.js';
import { buildArp, buildPacket, type PacketSpec } from '../../src/proto/build.js';
import { checkReadmeExamples } from '../../test/helpers/nf-readme.js';

const frame = (spec: Partial<PacketSpec> & Pick<PacketSpec, 'src' | 'dst' | 'proto'>): Uint8Array => buildPacket(spec);
const tcp4 = (src: string, sport: number, dst: string, dport: number, size = 60): Uint8Array =>
  frame({ src, dst, proto: 'tcp', srcPort: sport, dstPort: dport, size });
const udp4 = (src: string, sport: number, dst: string, dport: number, size = 60): Uint8Array =>
  frame({ src, dst, proto: 'udp', srcPort: sport, dstPort: dport, size });
const arp = (): Uint8Array => buildArp({ senderMac: '02:00:00:00:00:0a', senderIp: '192.0.2.1', targetIp: '192.0.2.2' });
const sum = (fs: Uint8Array[]): number => fs.reduce((a, f) => a + f.length, 0);

type Counters = Record<string, number>;
const ZERO: Counters = {
  packets: 0,
  bytes: 0,
  flows: 0,
  ipv4: 0,
  ipv6: 0,
  tcp: 0,
  udp: 0,
  icmp: 0,
  otherProto: 0,
  malformed: 0,
  tableFull: 0,
};

async function rejectsArg(args: Record<string, unknown>, field: string, detail: RegExp): Promise<void> {
  await assert.rejects(createNFHarness(monitor, { args }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'NETVM_NF_ARGS');
    assert.match(err.message, new RegExp(`^NF "monitor": args\\.${field} `));
    assert.match(err.message, detail);
    return true;
  });
}

// ---------------------------------------------------------------- arguments

test('monitor: defaults are interval 5 s, top 5, maxFlows 65536; edge values are accepted', async () => {
  const h = await createNFHarness(monitor);
  assert.deepEqual(h.ctx.args, { interval: 5, top: 5, maxFlows: 65536 });
  assert.equal(monitorState(h.ctx)?.cap, 65536);
  assert.deepEqual(h.counters, ZERO, 'setup publishes every counter at 0');
  const e = await createNFHarness(monitor, { args: { interval: 0, top: 0, maxFlows: 1 } });
  assert.deepEqual(e.ctx.args, { interval: 0, top: 0, maxFlows: 1 });
  const m = await createNFHarness(monitor, { args: { interval: 86400, top: 1000, maxFlows: 1024 } });
  assert.equal(monitorState(m.ctx)?.cap, 1024);
});

test('monitor: bad arguments are rejected, naming the field', async () => {
  await rejectsArg({ interval: -1 }, 'interval', /whole seconds .*got -1/);
  await rejectsArg({ interval: 1.5 }, 'interval', /got 1\.5/);
  await rejectsArg({ interval: '5' }, 'interval', /got "5"/);
  await rejectsArg({ interval: 86401 }, 'interval', /0\.\.86400/);
  await rejectsArg({ top: -1 }, 'top', /the number of flows to list, 0\.\.1000, got -1/);
  await rejectsArg({ top: 1001 }, 'top', /got 1001/);
  await rejectsArg({ top: 2.5 }, 'top', /got 2\.5/);
  await rejectsArg({ maxFlows: 0 }, 'maxFlows', /a power of two, 1\.\.4194304, got 0/);
  await rejectsArg({ maxFlows: 3 }, 'maxFlows', /must be a power of two, got 3/);
  await rejectsArg({ maxFlows: 1000 }, 'maxFlows', /must be a power of two, got 1000/);
  await rejectsArg({ maxFlows: 2 ** 23 }, 'maxFlows', /got 8388608/);
  await rejectsArg({ maxFlows: 'big' }, 'maxFlows', /got "big"/);
  await rejectsArg({ topp: 3 }, 'topp', /is not an argument of monitor \(known: interval, top, maxFlows\)/);
});

// ---------------------------------------------------------------- counting

test('monitor: counts packets and bytes per protocol: IPv4/IPv6 TCP, UDP, ICMP, ARP, other, malformed', async () => {
  const h = await createNFHarness(monitor, { args: { interval: 0 }, batchSize: 8 });
  const tcp = [tcp4('10.0.0.1', 1000, '10.0.0.2', 80, 100), tcp4('10.0.0.2', 80, '10.0.0.1', 1000, 60), tcp4('10.0.0.3', 1, '10.0.0.4', 2)];
  const udp = [udp4('10.0.0.1', 53, '10.0.0.5', 53, 90), udp4('10.0.0.1', 54, '10.0.0.5', 53)];
  const icmp = [frame({ src: '10.0.0.1', dst: '10.0.0.9', proto: 'icmp', icmpId: 7, size: 98 })];
  const gre = [frame({ src: '10.0.0.1', dst: '10.0.0.9', proto: 47, payload: 'gre' })];
  const tcp6 = [
    frame({ src: '2001:db8::1', dst: '2001:db8::2', proto: 'tcp', srcPort: 443, dstPort: 50000, size: 200 }),
    frame({ src: '2001:db8::2', dst: '2001:db8::1', proto: 'tcp', srcPort: 50000, dstPort: 443 }),
  ];
  const udp6 = [frame({ src: '2001:db8::1', dst: '2001:db8::3', proto: 'udp', srcPort: 5, dstPort: 6 })];
  const icmp6 = [frame({ src: '2001:db8::1', dst: '2001:db8::3', proto: 'icmp' })];
  const vlanUdp = [frame({ src: '10.1.0.1', dst: '10.1.0.2', proto: 'udp', srcPort: 7, dstPort: 8, vlan: [100] })];
  const arps = [arp(), arp()];
  const ok = [...tcp, ...udp, ...icmp, ...gre, ...tcp6, ...udp6, ...icmp6, ...vlanUdp, ...arps];

  const goodUdp = udp4('10.0.0.1', 1, '10.0.0.2', 2, 80);
  const badUdpLen = goodUdp.slice();
  badUdpLen[14 + 20 + 4] = 0xff; // UDP length beyond the IP payload
  const malformed = [
    new Uint8Array(0), // empty
    new Uint8Array(10), // shorter than an Ethernet header
    goodUdp.subarray(0, 30), // cut inside the IPv4 header
    goodUdp.subarray(0, 50), // IPv4 total length beyond the frame
    tcp6[0].subarray(0, 70), // cut inside the IPv6 packet
    arp().subarray(0, 20), // cut inside the ARP header
    badUdpLen,
  ];
  const all = [...ok, ...malformed];
  const rs = h.push(all);

  // Every packet goes on, unchanged.
  assert.equal(rs.length, all.length);
  rs.forEach((r, i) => {
    assert.equal(r.action, 'next', `packet ${i}`);
    assert.deepEqual(r.data, all[i]);
  });
  assert.deepEqual(h.counters, {
    packets: all.length,
    bytes: sum(all),
    // tcp: 2 flows (both directions of the first are one); udp 2; icmp 1; gre 1; tcp6 1;
    // udp6 1; icmp6 1; vlan udp 1. ARP and malformed frames make no flows.
    flows: 10,
    ipv4: tcp.length + udp.length + icmp.length + gre.length + vlanUdp.length,
    ipv6: tcp6.length + udp6.length + icmp6.length,
    tcp: tcp.length + tcp6.length,
    udp: udp.length + udp6.length + vlanUdp.length,
    icmp: icmp.length + icmp6.length,
    otherProto: gre.length + arps.length,
    malformed: malformed.length,
    tableFull: 0,
  });

  // The summary's per-protocol figures carry bytes as well.
  h.message({ cmd: 'summary' });
  const proto = h.logs[0].fields?.proto as Record<string, { packets: number; bytes: number }>;
  assert.deepEqual(proto, {
    ipv4: { packets: 8, bytes: sum([...tcp, ...udp, ...icmp, ...gre, ...vlanUdp]) },
    ipv6: { packets: 4, bytes: sum([...tcp6, ...udp6, ...icmp6]) },
    tcp: { packets: 5, bytes: sum([...tcp, ...tcp6]) },
    udp: { packets: 4, bytes: sum([...udp, ...udp6, ...vlanUdp]) },
    icmp: { packets: 2, bytes: sum([...icmp, ...icmp6]) },
    other: { packets: 3, bytes: sum([...gre, ...arps]) },
    malformed: { packets: 7, bytes: sum(malformed) },
  });
});

test('monitor: both directions of a flow count as one flow, shown in the direction of its first packet', async () => {
  const h = await createNFHarness(monitor, { args: { interval: 0 } });
  // The first packet comes from the higher address, so the ordered key's A is its destination.
  const out = tcp4('10.0.0.9', 5000, '10.0.0.1', 80, 100);
  const back = tcp4('10.0.0.1', 80, '10.0.0.9', 5000, 60);
  h.push([out, back, out]);
  assert.equal(h.counters.flows, 1);
  // Same addresses, but other ports or another protocol: other flows.
  h.push([tcp4('10.0.0.9', 5001, '10.0.0.1', 80), udp4('10.0.0.9', 5000, '10.0.0.1', 80), tcp4('10.0.0.1', 5000, '10.0.0.9', 80)]);
  assert.equal(h.counters.flows, 4);
  h.message({ cmd: 'summary' });
  const top = h.logs[0].fields?.top as { src: string; dst: string; proto: string; packets: number; bytes: number }[];
  assert.deepEqual(top[0], { src: '10.0.0.9:5000', dst: '10.0.0.1:80', proto: 'tcp', packets: 3, bytes: 260 });

  // Without ports (ICMP echo and reply) or with equal ports, the addresses order the ends.
  const icmp = await createNFHarness(monitor, { args: { interval: 0 } });
  const echo = frame({ src: '10.0.0.7', dst: '10.0.0.3', proto: 'icmp', icmpType: 8 });
  const reply = frame({ src: '10.0.0.3', dst: '10.0.0.7', proto: 'icmp', icmpType: 0 });
  const dnsOut = udp4('10.0.0.3', 53, '10.0.0.7', 53);
  const dnsBack = udp4('10.0.0.7', 53, '10.0.0.3', 53);
  // Between two ports of one address, the ports order the ends.
  const local = udp4('10.0.0.3', 4000, '10.0.0.3', 3000);
  const localBack = udp4('10.0.0.3', 3000, '10.0.0.3', 4000);
  icmp.push([echo, reply, echo, dnsOut, dnsBack, local, localBack]);
  assert.deepEqual([icmp.counters.flows, icmp.counters.icmp, icmp.counters.udp], [3, 3, 4]);

  // IPv6, the reply first.
  const v6 = await createNFHarness(monitor, { args: { interval: 0 } });
  const a = frame({ src: '2001:db8::1', dst: '2001:db8::ff', proto: 'udp', srcPort: 53, dstPort: 3333 });
  const b = frame({ src: '2001:db8::ff', dst: '2001:db8::1', proto: 'udp', srcPort: 3333, dstPort: 53 });
  v6.push([a, b, b, a]);
  assert.equal(v6.counters.flows, 1);
  v6.message({ cmd: 'summary' });
  const t6 = v6.logs[0].fields?.top as { src: string; dst: string; packets: number }[];
  assert.deepEqual([t6[0].src, t6[0].dst, t6[0].packets], ['[2001:db8::1]:53', '[2001:db8::ff]:3333', 4]);
});

test('monitor: flows are told apart by their 5-tuple whatever hash the port gave the packets', async () => {
  // A port may give its own flow hash (a NIC's RSS), not symmetric and not well spread.
  const h = await createNFHarness(monitor, { args: { interval: 0, maxFlows: 4096 } });
  const out = udp4('10.0.0.1', 1111, '10.0.0.2', 2222);
  const back = udp4('10.0.0.2', 2222, '10.0.0.1', 1111);
  const fr = (data: Uint8Array, hash: number): HarnessFrame => ({ data, hash });
  h.push([fr(out, 0x11111111), fr(back, 0x7ffff000), fr(out, 0x11111111), fr(back, 0xdeadbeef)]);
  assert.equal(h.counters.flows, 1, 'both directions are one flow even with different hashes');
  // 600 flows that all carry the same hash still fill the table, not one probe window of it.
  const same: HarnessFrame[] = [];
  for (let i = 0; i < 600; i++) same.push(fr(udp4('10.1.0.1', 1000 + i, '10.2.0.1', 53), 0));
  h.push(same);
  assert.equal(h.counters.flows, 601);
  assert.equal(h.counters.tableFull, 0);
  h.push(same.slice(0, 10));
  assert.equal(h.counters.flows, 601, 'a known flow is found again');
  const st = monitorState(h.ctx);
  assert.ok(st !== undefined);
  let counted = 0;
  for (let e = 0; e < st.cap; e++) counted += st.fPkts[e];
  assert.equal(counted, 4 + 600 + 10, 'every packet was counted in its flow');
});

test('monitor: a full flow table counts the packets that found no room, and still counts them per protocol', async () => {
  const h = await createNFHarness(monitor, { args: { interval: 0, maxFlows: 4 } });
  const flows = Array.from({ length: 6 }, (_, i) => udp4('10.0.0.1', 100 + i, '10.0.0.2', 53));
  h.push(flows);
  assert.equal(h.counters.flows, 4, 'the table holds 4 flows');
  assert.equal(h.counters.tableFull, 2);
  h.push(flows);
  assert.equal(h.counters.flows, 4);
  assert.equal(h.counters.tableFull, 4, 'the flows that did not fit miss again');
  assert.equal(h.counters.udp, 12);
  assert.equal(h.counters.packets, 12);
  const st = monitorState(h.ctx);
  assert.ok(st !== undefined);
  let counted = 0;
  for (let e = 0; e < st.cap; e++) counted += st.fPkts[e];
  assert.equal(counted, 8, 'the 4 flows in the table got both of their packets');
  h.message({ cmd: 'summary' });
  assert.match(h.logs[0].msg, /4 flows \(4 pkts did not fit the flow table\)/);

  const one = await createNFHarness(monitor, { args: { interval: 0, maxFlows: 1 } });
  one.push([tcp4('10.0.0.1', 1, '10.0.0.2', 2), tcp4('10.0.0.2', 2, '10.0.0.1', 1), tcp4('10.0.0.1', 3, '10.0.0.2', 4)]);
  assert.deepEqual([one.counters.flows, one.counters.tableFull, one.counters.tcp], [1, 1, 3]);
});

// ---------------------------------------------------------------- the summary, ticks, messages

test('monitor: {cmd: "summary"} logs the totals and the top flows by bytes', async () => {
  const h = await createNFHarness(monitor, { args: { interval: 0, top: 2 } });
  const small = udp4('10.0.0.1', 1000, '10.0.0.2', 2000, 200);
  const big = frame({ src: '2001:db8::1', dst: '2001:db8::2', proto: 'tcp', srcPort: 443, dstPort: 50000, size: 500 });
  const ping = frame({ src: '10.0.0.5', dst: '10.0.0.6', proto: 'icmp', size: 100 });
  h.push([small, big, ping, small, big, small]);
  h.message({ cmd: 'summary' }, 'ops#1');
  assert.equal(h.logs.length, 1);
  const { msg, fields } = h.logs[0];
  assert.equal(
    msg,
    'monitor: 6 pkts, 1700 bytes, 3 flows; tcp 2 udp 3 icmp 1 other 0 malformed 0\n' +
      '  1. [2001:db8::1]:443 -> [2001:db8::2]:50000 tcp: 2 pkts, 1000 bytes\n' +
      '  2. 10.0.0.1:1000 -> 10.0.0.2:2000 udp: 3 pkts, 600 bytes',
  );
  assert.equal(fields?.packets, 6);
  assert.equal(fields?.bytes, 1700);
  assert.equal(fields?.flows, 3);
  assert.equal(fields?.tableFull, 0);
  assert.equal('pps' in (fields ?? {}), false, 'an on-demand summary has no rates');
  assert.deepEqual(fields?.top, [
    { src: '[2001:db8::1]:443', dst: '[2001:db8::2]:50000', proto: 'tcp', packets: 2, bytes: 1000 },
    { src: '10.0.0.1:1000', dst: '10.0.0.2:2000', proto: 'udp', packets: 3, bytes: 600 },
  ]);

  // With a larger `top`, the ICMP flow is listed too, without ports.
  const all = await createNFHarness(monitor, { args: { interval: 0, top: 10 } });
  all.push([ping, small]);
  all.message({ cmd: 'summary' });
  assert.match(all.logs[0].msg, /\n {2}2\. 10\.0\.0\.5 -> 10\.0\.0\.6 icmp: 1 pkts, 100 bytes$/);
  // top 0 lists none.
  const none = await createNFHarness(monitor, { args: { interval: 0, top: 0 } });
  none.push([ping, small]);
  none.message({ cmd: 'summary' });
  assert.equal(none.logs[0].msg.includes('\n'), false);
  assert.deepEqual(none.logs[0].fields?.top, []);
});

test('monitor: every `interval` ticks (seconds) it logs a summary with rates since the last one', async () => {
  const h = await createNFHarness(monitor, { args: { interval: 2 } });
  assert.equal(monitor.tickMs, 1000);
  h.push(Array.from({ length: 10 }, (_, i) => udp4('10.0.0.1', i, '10.0.0.2', 53, 100)));
  h.tick();
  assert.equal(h.logs.length, 0, 'one tick is not yet the interval');
  h.tick();
  assert.equal(h.logs.length, 1);
  assert.match(h.logs[0].msg, /^monitor: 10 pkts, 1000 bytes \(5 pps, 4000 bit\/s\), 10 flows;/);
  assert.equal(h.logs[0].fields?.pps, 5);
  assert.equal(h.logs[0].fields?.bps, 4000);
  // The next summary's rates cover only what came since.
  h.push(Array.from({ length: 4 }, () => udp4('10.0.0.1', 0, '10.0.0.2', 53, 100)));
  h.tick();
  h.tick();
  assert.equal(h.logs.length, 2);
  assert.match(h.logs[1].msg, /^monitor: 14 pkts, 1400 bytes \(2 pps, 1600 bit\/s\), 10 flows;/);
  // An on-demand summary between them does not reset the rate window.
  h.push([udp4('10.0.0.1', 0, '10.0.0.2', 53, 100), udp4('10.0.0.1', 0, '10.0.0.2', 53, 100)]);
  h.message({ cmd: 'summary' });
  h.tick();
  h.tick();
  assert.equal(h.logs[3].fields?.pps, 1);
  // Teardown logs a last summary.
  await h.close();
  assert.equal(h.logs.length, 5);
  assert.match(h.logs[4].msg, /^monitor: 16 pkts, 1600 bytes, 10 flows;/);
});

test('monitor: with interval 0 it never logs by itself, not even at teardown', async () => {
  const h = await createNFHarness(monitor, { args: { interval: 0 } });
  h.push([udp4('10.0.0.1', 1, '10.0.0.2', 2)]);
  for (let i = 0; i < 10; i++) h.tick();
  await h.close();
  assert.deepEqual(h.logs, []);
  // Nor at teardown when it saw no packets.
  const idle = await createNFHarness(monitor, { args: { interval: 1 } });
  await idle.close();
  assert.deepEqual(idle.logs, []);
});

test('monitor: {cmd: "reset"} clears every count, the flow table and the summary period', async () => {
  const h = await createNFHarness(monitor, { args: { interval: 2 } });
  const f1 = tcp4('10.0.0.1', 1, '10.0.0.2', 2, 100);
  h.push([f1, f1, arp(), new Uint8Array(5)]);
  h.tick();
  h.message({ cmd: 'reset' }, 'ops#1');
  assert.deepEqual(h.counters, ZERO);
  assert.equal(monitorState(h.ctx)?.topFlows(5).length, 0);
  h.tick();
  assert.equal(h.logs.length, 0, 'the period restarts at the reset');
  const f2 = udp4('10.0.0.3', 3, '10.0.0.4', 4, 70);
  h.push([f2, f1]);
  assert.deepEqual(h.counters, { ...ZERO, packets: 2, bytes: 170, flows: 2, ipv4: 2, tcp: 1, udp: 1 });
  h.tick();
  assert.equal(h.logs.length, 1);
  assert.match(h.logs[0].msg, /^monitor: 2 pkts, 170 bytes \(1 pps, 680 bit\/s\), 2 flows;/);
  const top = h.logs[0].fields?.top as { packets: number; bytes: number }[];
  assert.deepEqual(
    top.map((f) => [f.packets, f.bytes]),
    [
      [1, 100],
      [1, 70],
    ],
  );
});

test('monitor: other messages are ignored', async () => {
  const h = await createNFHarness(monitor, { args: { interval: 0 } });
  h.push([udp4('10.0.0.1', 1, '10.0.0.2', 2)]);
  const before = { ...h.counters };
  for (const m of [{ cmd: 'nope' }, { cmd: 1 }, 'summary', 'reset', null, 42, [], {}]) h.message(m);
  assert.deepEqual(h.logs, []);
  assert.deepEqual(h.counters, before);
});

// ---------------------------------------------------------------- the README's example

test('monitor: the YAML examples in README.md are valid configs whose args the NF accepts', async () => {
  await checkReadmeExamples('monitor', monitor);
});
