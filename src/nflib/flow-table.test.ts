import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowTable, KEY_5TUPLE, KEY_SRC_ADDR } from './flow-table.js';
import { buildPacket } from '../proto/build.js';
import { parsePacket, ParsedPacket } from '../proto/parse.js';
import { rng } from '../../test/fixtures/traffic.js';

const p = new ParsedPacket();
function parsed(f: Uint8Array): ParsedPacket {
  assert.ok(parsePacket(f, 0, f.length, p));
  return p;
}

test('flow table: random inserts, lookups and removals agree with a Map, IPv4 and IPv6', () => {
  const rand = rng(42);
  const t = new FlowTable(300);
  const ref = new Map<string, number>();
  let checks = 0;
  for (let i = 0; i < 20000; i++) {
    const v6 = rand() < 0.5;
    const a = 1 + Math.floor(rand() * 20);
    const b = 1 + Math.floor(rand() * 20);
    const sport = 1 + Math.floor(rand() * 4);
    const proto = rand() < 0.5 ? 'udp' : 'tcp';
    const key = `${v6}|${a}|${b}|${sport}|${proto}`;
    const f = buildPacket({
      src: v6 ? `2001:db8::${a}` : `10.0.0.${a}`,
      dst: v6 ? `2001:db8::${b}` : `10.0.1.${b}`,
      proto,
      srcPort: sport,
      dstPort: 80,
    });
    const r = rand();
    if (r < 0.15 && ref.has(key)) {
      const e = t.lookup(f, parsed(f), false);
      assert.equal(e, ref.get(key));
      t.remove(e);
      ref.delete(key);
      continue;
    }
    const e = t.lookup(f, parsed(f), true);
    if (ref.has(key)) {
      assert.equal(e, ref.get(key), `case ${i}: ${key}`);
      assert.equal(t.isNew, false);
    } else if (ref.size < 300) {
      assert.ok(e >= 0 && e < 300);
      assert.equal(t.isNew, true);
      for (const x of ref.values()) assert.notEqual(x, e, 'an entry index is never given to two flows');
      ref.set(key, e);
    } else {
      assert.equal(e, -1, 'full');
    }
    assert.equal(t.size, ref.size);
    checks++;
  }
  assert.ok(t.full > 0, 'the table filled up at some point');
  assert.ok(checks > 15000);
});

test('flow table: symmetric tables share an entry between directions and report the direction', () => {
  const t = new FlowTable(16, KEY_5TUPLE, true);
  const fwd = buildPacket({ src: '10.0.0.9', dst: '10.0.0.1', proto: 'tcp', srcPort: 5555, dstPort: 80 });
  const rev = buildPacket({ src: '10.0.0.1', dst: '10.0.0.9', proto: 'tcp', srcPort: 80, dstPort: 5555 });
  const e = t.lookup(fwd, parsed(fwd), true);
  assert.equal(t.direction, 0);
  assert.equal(t.lookup(rev, parsed(rev), true), e);
  assert.equal(t.direction, 1);
  assert.equal(t.isNew, false);
  assert.equal(t.lookup(fwd, parsed(fwd), true), e);
  assert.equal(t.direction, 0);
  assert.deepEqual(t.describe(e), { ipVersion: 4, proto: 6, src: '10.0.0.9', dst: '10.0.0.1', srcPort: 5555, dstPort: 80 });
  // A directional table keeps them apart.
  const d = new FlowTable(16);
  assert.notEqual(d.lookup(fwd, parsed(fwd), true), d.lookup(rev, parsed(rev), true));
});

test('flow table: a key of chosen fields (source address only) groups every flow of a host', () => {
  const t = new FlowTable(16, KEY_SRC_ADDR);
  const f1 = buildPacket({ src: '2001:db8::1', dst: '2001:db8::2', proto: 'udp', srcPort: 1, dstPort: 2 });
  const f2 = buildPacket({ src: '2001:db8::1', dst: '2001:db8::3', proto: 'tcp', srcPort: 3, dstPort: 4 });
  const f3 = buildPacket({ src: '2001:db8::4', dst: '2001:db8::3', proto: 'tcp', srcPort: 3, dstPort: 4 });
  const e1 = t.lookup(f1, parsed(f1), true);
  assert.equal(t.lookup(f2, parsed(f2), true), e1);
  assert.notEqual(t.lookup(f3, parsed(f3), true), e1);
  assert.equal(t.describe(e1).src, '2001:db8::1');
  t.clear();
  assert.equal(t.size, 0);
  assert.equal(t.lookup(f1, parsed(f1), false), -1);
});
