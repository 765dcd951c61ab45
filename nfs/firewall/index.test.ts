import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNFHarness } from '../../src/nflib/testing.js';
import { buildPacket, type PacketSpec } from '../../src/proto/build.js';
import { oddFrames } from '../../test/helpers/odd-frames.js';
import firewall from './index.js';

const pk = (s: Partial<PacketSpec>): Uint8Array =>
  buildPacket({ src: '10.0.0.1', dst: '192.0.2.10', proto: 'tcp', srcPort: 40000, dstPort: 80, ...s } as PacketSpec);

test('firewall: args are validated at start; errors name the field', async () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ rules: [{ action: 'permit' }] }, /args\.rules\[0\]\.action must be one of allow, deny, service/],
    [{ rules: [{ action: 'allow', dstport: 80 }] }, /args\.rules\[0\]\.dstport is not a known key/],
    [{ rules: [{ action: 'allow', src: '10.0.0.0/33' }] }, /args\.rules\[0\]\.src invalid prefix length/],
    [{ rules: [{ action: 'allow', src: '10.0.0.0/8', dst: '2001:db8::/32' }] }, /args\.rules\[0\]\.dst is IPv6 but the rule is IPv4/],
    [{ rules: [{ action: 'allow', proto: 'icmp', dstPort: 80 }] }, /args\.rules\[0\]\.dstPort needs proto tcp, udp or sctp/],
    [{ rules: [{ action: 'allow', dstPort: '90-80' }] }, /args\.rules\[0\]\.dstPort must be a port/],
    [{ rules: [{ action: 'allow', tcpFlags: 'syn !bogus' }] }, /args\.rules\[0\]\.tcpFlags must list TCP flags/],
    [{ rules: [{ action: 'allow', proto: 'udp', tcpFlags: 'syn' }] }, /args\.rules\[0\]\.tcpFlags needs proto tcp/],
    [{ rules: [{ action: 'service' }] }, /args\.rules\[0\]\.service is required|args\.rules\[0\]\.service must be/],
    [{ default: 'reject' }, /args\.default must be one of allow, deny/],
    [{ maxConnections: 1000 }, /args\.maxConnections must be a power of two/],
    [{ timeouts: { udp: -1 } }, /args\.timeouts\.udp must be seconds/],
  ];
  for (const [args, re] of bad)
    await assert.rejects(
      createNFHarness(firewall, { args }),
      (e: Error & { code?: string }) => e.code === 'NETVM_NF_ARGS' && re.test(e.message),
      JSON.stringify(args),
    );
  await assert.rejects(
    createNFHarness(firewall, { args: { rules: [{ action: 'allow' }, { action: 'allow', inPort: 'wan' }] }, ports: ['lan'] }),
    /args\.rules\[1\]\.inPort unknown port "wan"; known: lan/,
  );
  await assert.rejects(
    createNFHarness(firewall, { args: { rules: [{ action: 'service', service: 'ids' }] } }),
    /args\.rules\[0\]\.service unknown service "ids"/,
  );
});

test('firewall: the first matching rule decides; the default policy decides the rest; counters per rule', async () => {
  const h = await createNFHarness(firewall, {
    ports: ['lan', 'wan'],
    services: ['ids'],
    args: {
      default: 'deny',
      rules: [
        { action: 'deny', src: '10.0.0.66' },
        { action: 'allow', inPort: 'lan', proto: 'tcp', dstPort: '80-443' },
        { action: 'service', service: 'ids', proto: 'udp', dstPort: 53 },
        { action: 'allow', dst: '2001:db8:1::/48' },
        { action: 'allow', proto: 'tcp', tcpFlags: 'syn !ack', dstPort: 22 },
      ],
    },
  });
  const r = h.push([
    { data: pk({ src: '10.0.0.66' }), inPort: 'lan' }, // rule 0 deny, before rule 1's allow
    { data: pk({ dstPort: 443 }), inPort: 'lan' }, // rule 1
    { data: pk({ dstPort: 443 }), inPort: 'wan' }, // rule 1 needs lan: default deny
    { data: pk({ dstPort: 444 }), inPort: 'lan' }, // out of range: default
    { data: pk({ proto: 'udp', dstPort: 53 }), inPort: 'wan' }, // rule 2 → ids
    { data: pk({ src: '2001:db8::5', dst: '2001:db8:1::9', proto: 'udp', dstPort: 9 }) }, // rule 3
    { data: pk({ src: '2001:db8::5', dst: '2001:db8:2::9', proto: 'udp', dstPort: 9 }) }, // default
    { data: pk({ dstPort: 22, tcpFlags: 0x02 }) }, // rule 4: SYN alone
    { data: pk({ dstPort: 22, tcpFlags: 0x12 }) }, // SYN+ACK: default
  ]);
  assert.deepEqual(
    r.map((x) => (x.action === 'toService' ? `svc:${x.dest}` : x.action)),
    ['drop', 'next', 'drop', 'drop', 'svc:ids', 'next', 'drop', 'next', 'drop'],
  );
  h.tick(); // per-rule counts are published once a second
  const c = h.counters;
  assert.deepEqual([c.rule0, c.rule1, c.rule2, c.rule3, c.rule4], [1, 1, 1, 1, 1]);
  assert.deepEqual([c.packets, c.allowed, c.denied, c.diverted, c.defaultPolicy], [9, 3, 5, 1, 4]);
  // Packets pass through unchanged.
  assert.deepEqual(r[1].data, pk({ dstPort: 443 }));
});

test('firewall: default allow; non-IP frames match only rules with nothing but inPort', async () => {
  const arp = oddFrames().find((f) => f.name === 'arp')!.data;
  const h = await createNFHarness(firewall, {
    ports: ['lan', 'wan'],
    args: {
      default: 'allow',
      rules: [
        { action: 'deny', proto: 'udp' },
        { action: 'deny', inPort: 'wan' },
      ],
    },
  });
  const r = h.push([
    { data: arp, inPort: 'lan' },
    { data: arp, inPort: 'wan' },
    { data: pk({}), inPort: 'lan' },
  ]);
  assert.deepEqual(
    r.map((x) => x.action),
    ['next', 'drop', 'next'],
  );
  assert.equal(h.counters.nonIp, 2);
  h.tick();
  assert.equal(h.counters.rule1, 1);
});

test('firewall: stateful mode admits replies of allowed connections, until they time out', async () => {
  const args = {
    default: 'deny',
    stateful: true,
    clock: 'packet',
    timeouts: { udp: 30, tcp: 100, tcpClosing: 5, icmp: 10 },
    rules: [
      { action: 'allow', src: '10.0.0.0/8', proto: 'tcp', dstPort: 80 },
      { action: 'allow', src: '10.0.0.0/8', proto: 'udp' },
      { action: 'allow', src: '10.0.0.0/8', proto: 'icmp' },
      { action: 'allow', src: '2001:db8::/64' },
    ],
  };
  const out = pk({});
  const reply = pk({ src: '192.0.2.10', dst: '10.0.0.1', srcPort: 80, dstPort: 40000 });
  const other = pk({ src: '192.0.2.10', dst: '10.0.0.1', srcPort: 80, dstPort: 40001 });
  const uOut = pk({ proto: 'udp', dstPort: 5000 });
  const uRep = pk({ proto: 'udp', src: '192.0.2.10', dst: '10.0.0.1', srcPort: 5000, dstPort: 40000 });
  const echo = pk({ proto: 'icmp', icmpId: 7 });
  const echoRep = pk({ proto: 'icmp', src: '192.0.2.10', dst: '10.0.0.1', icmpType: 0, icmpId: 7 });
  const echoRepOther = pk({ proto: 'icmp', src: '192.0.2.10', dst: '10.0.0.1', icmpType: 0, icmpId: 8 });
  const v6Out = pk({ src: '2001:db8::1', dst: '2001:db8:9::1', proto: 'udp', srcPort: 1, dstPort: 2 });
  const v6Rep = pk({ src: '2001:db8:9::1', dst: '2001:db8::1', proto: 'udp', srcPort: 2, dstPort: 1 });
  const at = (data: Uint8Array, tsSec: number) => ({ data, tsSec });

  const stateless = await createNFHarness(firewall, { args: { ...args, stateful: false } });
  assert.deepEqual(
    stateless.push([at(out, 1), at(reply, 2)]).map((x) => x.action),
    ['next', 'drop'],
  );

  const h = await createNFHarness(firewall, { args });
  const r = h.push([
    at(reply, 1), // no connection yet
    at(out, 2),
    at(reply, 3), // admitted by state
    at(other, 3), // another port pair: not a reply
    at(uOut, 4),
    at(uRep, 5),
    at(echo, 6),
    at(echoRep, 7),
    at(echoRepOther, 7),
    at(v6Out, 8),
    at(v6Rep, 9),
    at(uRep, 36), // 31 s after the last UDP packet (5): expired
    at(reply, 90), // TCP still alive (last at 3, timeout 100)
  ]);
  assert.deepEqual(
    r.map((x) => x.action),
    ['drop', 'next', 'next', 'drop', 'next', 'next', 'next', 'next', 'drop', 'next', 'next', 'drop', 'next'],
  );
  assert.equal(h.counters.stateHits, 5);
});

test('firewall: malformed frames are dropped and counted; options, extension headers and fragments are handled', async () => {
  const frames = oddFrames();
  const h = await createNFHarness(firewall, {
    args: {
      default: 'deny',
      rules: [
        { action: 'allow', proto: 'tcp', dstPort: 80 },
        { action: 'allow', ipVersion: 6, proto: 'udp', dstPort: 53 },
        { action: 'allow', proto: 'udp', dst: '2001:db8:1::/48' },
      ],
    },
  });
  const r = h.push(frames.map((f) => f.data));
  const verdict = new Map(frames.map((f, i) => [f.name, r[i].action]));
  for (const f of frames) if (f.malformed) assert.equal(verdict.get(f.name), 'drop', f.name);
  assert.equal(h.counters.malformed, frames.filter((f) => f.malformed).length);
  assert.equal(verdict.get('ipv4 with options'), 'next');
  assert.equal(verdict.get('ipv4 first fragment'), 'next'); // it carries the TCP header
  assert.equal(verdict.get('ipv4 non-first fragment'), 'drop'); // no ports: rule 0 cannot match
  assert.equal(verdict.get('ipv6 hop-by-hop + routing + destination options'), 'next'); // UDP/53 found past them
  assert.equal(verdict.get('ipv6 fragment'), 'next'); // non-first: rule 2 needs no ports
  assert.equal(h.counters.fragments, 3);
});
