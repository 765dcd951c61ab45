import { test } from 'node:test';
import assert from 'node:assert/strict';
import vlan, { type VlanArgs } from './index.js';
import { createNFHarness } from '../../src/nflib/testing.js';
import { defineNF } from '../../src/nflib/index.js';
import { buildPacket } from '../../src/proto/build.js';
import { parsePacket, ParsedPacket } from '../../src/proto/parse.js';

const udp = (vlanTags?: number[]): Uint8Array =>
  buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', srcPort: 1, dstPort: 2, payload: 'data', vlan: vlanTags });

test('vlan: bad args are refused at start, naming the field', async () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{}, /args\.action is required/],
    [{ action: 'tag' }, /args\.action must be one of/],
    [{ action: 'push' }, /args\.vid is required for action "push"/],
    [{ action: 'push', vid: 4096 }, /args\.vid must be an integer >= 0 and <= 4095/],
    [{ action: 'push', vid: 1, pcp: 8 }, /args\.pcp must be/],
    [{ action: 'push', vid: 1, tpid: 0x0800 }, /args\.tpid must be 0x8100/],
    [{ action: 'push', vid: 1, matchVid: 3 }, /args\.matchVid applies to "pop" and "rewrite" only/],
    [{ action: 'pop', vid: 3 }, /args\.vid does not apply to action "pop"/],
    [{ action: 'pop', tpid: 0x8100 }, /args\.tpid applies to action "push" only/],
    [{ action: 'rewrite' }, /args\.vid or args\.pcp is required/],
    [{ action: 'pop', other: 'keep' }, /args\.other must be one of "next", "drop"/],
    [{ action: 'pop', vlan: 3 }, /args\.vlan is not an argument of vlan/],
  ];
  for (const [args, re] of bad)
    await assert.rejects(createNFHarness(vlan, { args }), { code: 'NETVM_NF_ARGS', message: re }, JSON.stringify(args));
});

test('vlan: a pushed tag parses back with its VID, PCP and DEI; QinQ stacks; pop restores the frame', async () => {
  const push = await createNFHarness(vlan, { args: { action: 'push', vid: 300, pcp: 6, dei: 1 } });
  const pop = await createNFHarness(vlan, { args: { action: 'pop' } });
  const p = new ParsedPacket();
  for (const [f, tags] of [
    [udp(), 1],
    [udp([12]), 2],
  ] as const) {
    const [r] = push.push([f]);
    assert.equal(r.action, 'next');
    assert.equal(r.data.length, f.length + 4);
    assert.ok(parsePacket(r.data, 0, r.data.length, p));
    assert.equal(p.vlanId, 300);
    assert.equal(p.vlanCount, tags);
    assert.equal(r.data[14] >> 5, 6, 'PCP');
    assert.equal((r.data[14] >> 4) & 1, 1, 'DEI');
    const [back] = pop.push([r.data]);
    assert.deepEqual(back.data, f, 'pop undoes push');
  }
  assert.equal(push.counters.pushed, 2);
  assert.equal(pop.counters.popped, 2);
});

test('vlan: rewrite keeps DEI and the inner tag; matchVid limits pop; other: drop drops the rest', async () => {
  const rw = await createNFHarness(vlan, { args: { action: 'rewrite', vid: 9 } });
  const [r] = rw.push([udp([(5 << 13) | (1 << 12) | 44, 55])]);
  assert.equal(((r.data[14] << 8) | r.data[15]) >>> 0, (5 << 13) | (1 << 12) | 9, 'VID replaced, PCP and DEI kept');
  assert.equal(((r.data[18] << 8) | r.data[19]) & 0xfff, 55, 'inner tag untouched');
  const popOnly = await createNFHarness(vlan, { args: { action: 'pop', matchVid: 10, other: 'drop' } });
  const t10 = udp([10]);
  const rs = popOnly.push([t10, udp([11]), udp()]);
  assert.deepEqual(
    rs.map((x) => x.action),
    ['next', 'drop', 'drop'],
  );
  assert.deepEqual(
    rs[0].data,
    Uint8Array.from([...t10.subarray(0, 12), ...t10.subarray(16)]),
    'the 4 tag bytes are gone (the frame is not re-padded)',
  );
  assert.equal(popOnly.counters.unmatched, 1);
  assert.equal(popOnly.counters.untagged, 1);
});

test('vlan: runts and cut tags are counted and dropped; a full headroom is counted, never overwritten', async () => {
  const push = await createNFHarness(vlan, { args: { action: 'push', vid: 1 } });
  const rs = push.push([udp().slice(0, 13), udp([5]).slice(0, 17), udp().slice(0, 20)]);
  assert.deepEqual(
    rs.map((x) => x.action),
    ['drop', 'drop', 'next'],
    'a 20-byte frame with a cut IP header is still a frame: it is tagged',
  );
  assert.equal(push.counters.malformed, 2);
  // An NF in front of vlan that used up the headroom (as a chain of pushes would).
  const eater = defineNF<VlanArgs>({
    name: 'eat-then-vlan',
    args: vlan.args,
    setup: vlan.setup,
    process: (batch, ctx) => {
      for (let i = 0; i < batch.length; i++) {
        const pkt = batch.packets[i];
        pkt.prepend(pkt.headroom - 3); // 3 bytes of headroom left
      }
      vlan.process!(batch, ctx);
    },
  });
  const h = await createNFHarness(eater, { args: { action: 'push', vid: 1 } });
  const [x] = h.push([udp()]);
  assert.equal(x.action, 'drop');
  assert.equal(x.data.length, udp().length + 61, 'the frame was left as the NF before vlan made it');
  assert.equal(h.counters.noHeadroom, 1);
});
