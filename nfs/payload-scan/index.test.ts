import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import scan from './index.js';
import { AhoCorasick } from './aho-corasick.js';
import { createNFHarness } from '../../src/nflib/testing.js';
import { buildArp, buildPacket } from '../../src/proto/build.js';
import { rng } from '../../test/fixtures/traffic.js';
import { tmpDir } from '../../test/helpers/cli.js';

const udp = (payload: string | Uint8Array, sport = 1000, src = '10.0.0.1', dst = '10.0.0.2', dport = 53): Uint8Array =>
  buildPacket({ src, dst, proto: 'udp', srcPort: sport, dstPort: dport, payload });

test('aho-corasick: the first pattern found is the one a naive search finds ending earliest (100k random scans)', () => {
  const rand = rng(3);
  let found = 0;
  for (let round = 0; round < 200; round++) {
    const ci = round % 2 === 1;
    const alpha = 'abAB\x00\xff';
    const pick = (): number => alpha.charCodeAt(Math.floor(rand() * alpha.length));
    const pats = Array.from({ length: 1 + Math.floor(rand() * 12) }, () => Uint8Array.from({ length: 1 + Math.floor(rand() * 5) }, pick));
    const ac = new AhoCorasick(pats, ci);
    const fold = (b: number): number => (ci && b >= 65 && b <= 90 ? b + 32 : b);
    for (let k = 0; k < 500; k++) {
      const text = Uint8Array.from({ length: Math.floor(rand() * 40) }, pick);
      // Naive: for each end position, the lowest id of a pattern ending there.
      let want = -1;
      for (let end = 1; end <= text.length && want < 0; end++)
        pats.forEach((p, id) => {
          if (want >= 0 || p.length > end) return;
          for (let i = 0; i < p.length; i++) if (fold(p[i]) !== fold(text[end - p.length + i])) return;
          want = id;
        });
      assert.equal(
        ac.scan(text, 0, text.length),
        want,
        `patterns ${pats.map((p) => Buffer.from(p).toString('hex'))} text ${Buffer.from(text).toString('hex')}`,
      );
      if (want >= 0) found++;
    }
  }
  assert.ok(found > 10000);
});

test('payload-scan: bad args are refused at start, naming the field', async () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{}, /args\.patterns is required/],
    [{ patterns: 'x' }, /args\.patterns must be a list/],
    [{ patterns: [''] }, /args\.patterns\[0\] is empty/],
    [{ patterns: ['a', { hex: 'zz' }] }, /args\.patterns\[1\]\.hex must be hex bytes/],
    [{ patterns: [{ text: 'a', hex: '61' }] }, /args\.patterns\[0\] needs exactly one of text and hex/],
    [{ patterns: [{ txt: 'a' }] }, /args\.patterns\[0\]\.txt is not a pattern field/],
    [{ patterns: ['a'], action: 'divert' }, /args\.to is required for action "divert"/],
    [{ patterns: ['a'], to: 'x' }, /args\.to applies to action "divert" only/],
    [{ patterns: ['a'], action: 'divert', to: 'nowhere' }, /unknown service "nowhere"/],
    [{ patterns: ['a'], scope: 'session' }, /args\.scope must be one of "packet", "flow"/],
    [{ patternFile: '/nonexistent/patterns.txt' }, /args\.patternFile cannot be read/],
  ];
  for (const [args, re] of bad) await assert.rejects(createNFHarness(scan, { args }), { message: re }, JSON.stringify(args));
});

test('payload-scan: text and hex patterns, case-insensitive; per-pattern counters', async () => {
  const h = await createNFHarness(scan, {
    args: { patterns: ['GET /admin', { hex: 'de ad be ef', name: 'deadbeef' }], caseInsensitive: true, action: 'drop', scope: 'packet' },
  });
  const rs = h.push([
    udp('xx get /ADMIN yy'),
    udp(Uint8Array.from([1, 0xde, 0xad, 0xbe, 0xef])),
    udp('GET /admi'),
    udp(Uint8Array.from([0xde, 0xad, 0xbe])),
  ]);
  assert.deepEqual(
    rs.map((r) => r.action),
    ['drop', 'drop', 'next', 'next'],
  );
  assert.equal(h.counters['match:GET /admin'], 1);
  assert.equal(h.counters['match:deadbeef'], 1);
  const cs = await createNFHarness(scan, { args: { patterns: ['GET'], action: 'drop', scope: 'packet' } });
  assert.deepEqual(
    cs.push([udp('get'), udp('GET')]).map((r) => r.action),
    ['next', 'drop'],
  );
});

test('payload-scan: flow scope — after a match, both directions of the flow get the action without a pattern', async () => {
  const h = await createNFHarness(scan, { args: { patterns: ['attack'], action: 'drop' } });
  const rs = h.push([
    udp('hello', 1000),
    udp('an attack!', 1000),
    udp('innocent', 1000),
    udp('reply', 53, '10.0.0.2', '10.0.0.1', 1000), // the reverse direction
    udp('other flow', 1001),
  ]);
  assert.deepEqual(
    rs.map((r) => r.action),
    ['next', 'drop', 'drop', 'drop', 'next'],
  );
  assert.equal(h.counters.flowsFlagged, 1);
  assert.equal(h.counters.flowHits, 2);
  assert.equal(h.counters.matched, 1);
});

test('payload-scan: divert sends matching packets to a service; alert passes them and logs a bounded number of lines', async () => {
  const d = await createNFHarness(scan, { args: { patterns: ['x'], action: 'divert', to: 'ids', scope: 'packet' }, services: ['ids'] });
  const [a, b] = d.push([udp('x'), udp('y')]);
  assert.deepEqual([a.action, a.dest, b.action], ['toService', 'ids', 'next']);
  const al = await createNFHarness(scan, { args: { patterns: ['x'], action: 'alert', scope: 'packet', alertsPerSecond: 2 } });
  const rs = al.push(Array.from({ length: 5 }, (_, i) => udp('x', 2000 + i)));
  assert.ok(rs.every((r) => r.action === 'next'));
  al.tick();
  assert.equal(al.logs.length, 2);
  assert.match(al.logs[0].msg, /"x" in 10\.0\.0\.1:2000 -> 10\.0\.0\.2:53 proto 17/);
  assert.equal(al.counters.alerted, 5);
  assert.equal(al.counters.alertsSuppressed, 3);
});

test('payload-scan: malformed packets, fragments and non-IP frames are scanned and counted, never thrown on', async () => {
  const h = await createNFHarness(scan, { args: { patterns: ['EVIL'], action: 'drop', scope: 'packet' } });
  const broken = udp('..EVIL..');
  broken[14 + 20 + 5] = 2; // UDP length 2: the headers do not parse
  const frag = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', fragOffset: 10, payload: 'tail EVIL' });
  const v6frag = buildPacket({
    src: '2001:db8::1',
    dst: '2001:db8::2',
    proto: 'udp',
    ipv6Ext: [{ type: 44, fragOffset: 3 }],
    payload: 'EVIL',
  });
  const arp = buildArp({ senderMac: '02:00:00:00:00:01', senderIp: '10.0.0.1', targetIp: '10.0.0.2' });
  const runt = Uint8Array.from([1, 2, 3]);
  const rs = h.push([broken, frag, v6frag, arp, runt, udp('fine')]);
  assert.deepEqual(
    rs.map((r) => r.action),
    ['drop', 'drop', 'drop', 'next', 'next', 'next'],
  );
  assert.equal(h.counters.malformed, 2);
  assert.equal(h.counters.scanned, 6);
});

test('payload-scan: patternFile lines are patterns (empty lines skipped); flows flagged long ago are forgotten', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'p.txt');
  fs.writeFileSync(file, 'alpha\n\nbeta\n');
  const h = await createNFHarness(scan, { args: { patternFile: file, action: 'drop', flowTimeout: 0.001 } });
  assert.deepEqual(
    h.push([udp('xbetax'), udp('again', 1000)]).map((r) => r.action),
    ['drop', 'drop'],
  );
  await new Promise((r) => setTimeout(r, 20));
  h.tick();
  assert.equal(h.counters.expired, 1);
  assert.equal(h.push([udp('again', 1000)])[0].action, 'next');
});
