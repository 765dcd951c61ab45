import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeMatch, resolveMatch } from './rules.js';

const ports = [
  { name: 'in', id: 0, input: true },
  { name: 'out', id: 1, input: false },
];

test('rules: a match in config syntax resolves to ids, bytes and ranges, and reads back the same', () => {
  const m = resolveMatch({ inPort: 'in', src: '10.0.0.0/8', dst: '192.168.1.7', proto: 'udp', srcPort: '1000-2000', dstPort: 53 }, ports);
  assert.deepEqual(m, {
    inPort: 0,
    src: { version: 4, addr: [10, 0, 0, 0], prefixLen: 8 },
    dst: { version: 4, addr: [192, 168, 1, 7], prefixLen: 32 },
    proto: 17,
    srcPort: [1000, 2000],
    dstPort: [53, 53],
  });
  assert.deepEqual(describeMatch(m, ports), {
    inPort: 'in',
    src: '10.0.0.0/8',
    dst: '192.168.1.7/32',
    proto: 'udp',
    srcPort: '1000-2000',
    dstPort: 53,
  });
  const v6 = resolveMatch({ ipVersion: 6, dst: '2001:db8::/32', proto: 99 }, ports);
  assert.deepEqual(describeMatch(v6, ports), { ipVersion: 6, dst: '2001:db8::/32', proto: 99 });
});

test('rules: bad matches name the field and say what is wrong', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ inPort: 'nowhere' }, /^match\.inPort: unknown port "nowhere" \(ports: in, out\)/],
    [{ inPort: 'out' }, /^match\.inPort: port "out" receives nothing/],
    [{ src: '10.0.0.0/33' }, /^match\.src: invalid prefix length/],
    [{ dst: 'not-an-address' }, /^match\.dst: invalid address/],
    [{ ipVersion: 6, src: '10.0.0.0/8' }, /^match\.src: "10\.0\.0\.0\/8" is IPv4 but ipVersion is 6/],
    [{ src: '10.0.0.0/8', dst: '::1' }, /^match\.dst: src is IPv4 but dst is IPv6/],
    [{ dstPort: '9-1' }, /^match\.dstPort: range "9-1" is empty/],
    [{}, /^match: give at least one key/],
  ];
  for (const [m, re] of bad) assert.throws(() => resolveMatch(m, ports), { code: 'NETVM_BAD_REQUEST', message: re }, JSON.stringify(m));
});
