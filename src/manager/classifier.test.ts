import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testRegion } from '../core/test-region.js';
import { Classifier, type RuleInput } from './classifier.js';
import { buildPacket } from '../proto/build.js';
import { SYMMETRIC_RSS_KEY, Toeplitz } from '../proto/toeplitz.js';
import { ParsedPacket, parsePacket } from '../proto/parse.js';

const v4 = (a: string): number[] => a.split('.').map(Number);

function classifier(rules: RuleInput[], dflt = 0): Classifier {
  const r = testRegion({ flowEntries: 1024 });
  const c = new Classifier(r.i32, r.layout);
  c.setRules(rules, dflt);
  return c;
}

const run = (c: Classifier, f: Uint8Array, inPort = 0): number => c.classify(f, 0, f.length, inPort, false, 0);

test('classifier: no rules -> default chain; the flow table caches the decision per 5-tuple', () => {
  const c = classifier([], 3);
  const f = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', srcPort: 1000, dstPort: 2000 });
  assert.equal(run(c, f), 3);
  assert.equal(run(c, f), 3);
  assert.equal(c.misses, 1);
  assert.equal(c.hits, 1);
  assert.equal(c.flowCount(), 1);
});

test('classifier: rules match on inPort, ipVersion, prefixes, proto and port ranges; first match wins', () => {
  const rules: RuleInput[] = [
    { match: { proto: 17, dstPort: [53, 53] }, chain: 1 },
    { match: { src: { version: 4, addr: v4('10.1.0.0'), prefixLen: 16 }, proto: 6 }, chain: 2 },
    { match: { ipVersion: 6, dstPort: [1000, 2000] }, chain: 3 },
    { match: { inPort: 2 }, chain: 4 },
    { match: { proto: 17 }, chain: 5 },
  ];
  const c = classifier(rules, 0);
  const cases: Array<[Parameters<typeof buildPacket>[0], number, number]> = [
    [{ src: '10.1.2.3', dst: '8.8.8.8', proto: 'udp', srcPort: 5555, dstPort: 53 }, 0, 1],
    [{ src: '10.1.2.3', dst: '8.8.8.8', proto: 'tcp', srcPort: 5555, dstPort: 53 }, 0, 2],
    [{ src: '10.2.2.3', dst: '8.8.8.8', proto: 'tcp', srcPort: 5555, dstPort: 53 }, 0, 0],
    [{ src: '2001:db8::1', dst: '2001:db8::2', proto: 'tcp', srcPort: 1, dstPort: 1500 }, 0, 3],
    [{ src: '2001:db8::1', dst: '2001:db8::2', proto: 'tcp', srcPort: 1, dstPort: 2001 }, 0, 0],
    [{ src: '2001:db8::1', dst: '2001:db8::2', proto: 'tcp', srcPort: 1, dstPort: 2001 }, 2, 4],
    [{ src: '10.9.9.9', dst: '10.0.0.1', proto: 'udp', srcPort: 9, dstPort: 9 }, 0, 5],
    [{ src: '10.9.9.9', dst: '10.0.0.1', proto: 'icmp' }, 0, 0],
  ];
  for (const [spec, port, want] of cases) {
    const f = buildPacket(spec);
    assert.equal(run(c, f, port), want, `${JSON.stringify(spec)} from port ${port}`);
    assert.equal(run(c, f, port), want, 'same answer from the flow table');
  }
});

test('classifier: both directions of a flow get the same symmetric hash; a port hash is used as given', () => {
  const c = classifier([]);
  const a = buildPacket({ src: '198.18.0.1', dst: '198.19.0.1', proto: 'tcp', srcPort: 1234, dstPort: 80 });
  const b = buildPacket({ src: '198.19.0.1', dst: '198.18.0.1', proto: 'tcp', srcPort: 80, dstPort: 1234 });
  run(c, a);
  const ha = c.lastHash;
  run(c, b);
  assert.equal(c.lastHash, ha);
  const tz = new Toeplitz(SYMMETRIC_RSS_KEY);
  assert.equal(ha >>> 0, tz.hashIpv4(0xc6120001, 0xc6130001, 1234, 80) >>> 0);
  // A port hash with its top bit set is still taken as the hash.
  c.classify(a, 0, a.length, 0, true, -5);
  assert.equal(c.lastHash, -5);
});

test('classifier: setRules forgets cached decisions; malformed frames go by rules without crashing', () => {
  const c = classifier([], 0);
  const f = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', srcPort: 1, dstPort: 53 });
  assert.equal(run(c, f), 0);
  c.setRules([{ match: { dstPort: [53, 53] }, chain: 7 }], 0);
  assert.equal(run(c, f), 7);
  for (let len = 0; len < f.length; len += 7) assert.doesNotThrow(() => c.classify(f, 0, len, 0, false, 0));
  const junk = new Uint8Array(64).fill(0xff);
  assert.equal(run(c, junk), 0);
});

test('classifier: every fragment of a datagram gets the same flow hash (addresses only), the RSS hash of toeplitz.ts', () => {
  const c = classifier([]);
  const tz = new Toeplitz(SYMMETRIC_RSS_KEY);
  const p = new ParsedPacket();
  const specs: Array<Parameters<typeof buildPacket>[0]> = [
    { src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', srcPort: 1000, dstPort: 53, moreFragments: true, size: 200 },
    { src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', fragOffset: 22, size: 100 },
    { src: '2001:db8::1', dst: '2001:db8::2', proto: 'tcp', srcPort: 1000, dstPort: 80, ipv6Ext: [{ type: 44, moreFragments: true }] },
    { src: '2001:db8::1', dst: '2001:db8::2', proto: 'tcp', ipv6Ext: [{ type: 44, fragOffset: 100 }] },
  ];
  const hashes = specs.map((s) => {
    const f = buildPacket(s);
    run(c, f);
    assert.ok(parsePacket(f, 0, f.length, p));
    assert.equal(c.lastHash >>> 0, tz.hashFromPacket(f, p), JSON.stringify(s));
    return c.lastHash;
  });
  assert.equal(hashes[0], hashes[1], 'IPv4: first and later fragment');
  assert.equal(hashes[2], hashes[3], 'IPv6: first and later fragment');
  // Unfragmented packets keep the 4-tuple hash.
  const whole = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', srcPort: 1000, dstPort: 53 });
  run(c, whole);
  assert.equal(c.lastHash >>> 0, tz.hashIpv4(0x0a000001, 0x0a000002, 1000, 53) >>> 0);
  assert.notEqual(c.lastHash, hashes[0]);
});

test('classifier: a later fragment does not take the cached decision of a same-address packet whose ports read 0', () => {
  // Port rules apply to the first packet (ports 0, here from a first fragment cut before its
  // UDP header) and not to the later fragment (it has no ports): the flow table must keep them apart.
  const c = classifier([{ match: { dstPort: [0, 100] }, chain: 4 }], 9);
  const first = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 17, moreFragments: true, payload: new Uint8Array(4) });
  const later = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', fragOffset: 71 });
  assert.equal(run(c, first), 4, 'ports read 0, inside the rule range');
  assert.equal(run(c, later), 9, 'no ports: the port rule does not apply');
  assert.equal(run(c, later), 9, 'and the same from the flow table');
  const v6first = buildPacket({ src: '2001:db8::1', dst: '2001:db8::2', proto: 'udp', srcPort: 0, dstPort: 0 });
  const v6later = buildPacket({ src: '2001:db8::1', dst: '2001:db8::2', proto: 'udp', ipv6Ext: [{ type: 44, fragOffset: 4 }] });
  assert.equal(run(c, v6first), 4);
  assert.equal(run(c, v6later), 9);
});
