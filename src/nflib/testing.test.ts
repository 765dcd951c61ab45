import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineNF, argError } from './index.js';
import { createNFHarness } from './testing.js';
import { createNFContext } from './context.js';
import { buildPacket } from '../proto/build.js';
import { SYMMETRIC_RSS_KEY, Toeplitz } from '../proto/toeplitz.js';
import { parseIpv4 } from '../proto/address.js';
import type { NameTable } from './packet.js';

const udp = (sport = 1000, dport = 2000, src = '10.0.0.1', dst = '10.0.0.2'): Uint8Array =>
  buildPacket({ src, dst, proto: 'udp', srcPort: sport, dstPort: dport, payload: 'hello' });

test('harness: the default action is next, and the data comes back as sent', async () => {
  const nf = defineNF({ name: 'noop', process: () => {} });
  const h = await createNFHarness(nf);
  const f = udp();
  const [r] = h.push([f]);
  assert.equal(r.action, 'next');
  assert.equal(r.dest, undefined);
  assert.deepEqual(r.data, f);
  assert.equal(r.inPort, 'port0');
  await h.close();
});

test('harness: actions and destinations by name and by id are read back from the metadata', async () => {
  const nf = defineNF({
    name: 'router',
    packet: (pkt) => {
      const d = pkt.parsed.dstPort;
      if (d === 1) pkt.drop();
      else if (d === 2) pkt.toService('fw');
      else if (d === 3) pkt.toPort('out');
      else if (d === 4) pkt.toPort(0);
      else if (d === 5) pkt.toService('nope');
      else pkt.next();
    },
  });
  const h = await createNFHarness(nf, { ports: ['in', 'out'], services: ['fw', 'nat'] });
  const rs = h.push([1, 2, 3, 4, 5, 6].map((d) => udp(9, d)));
  assert.deepEqual(
    rs.map((r) => [r.action, r.dest, r.destId]),
    [
      ['drop', undefined, undefined],
      ['toService', 'fw', 0],
      ['toPort', 'out', 1],
      ['toPort', 'in', 0],
      ['toService', undefined, -1],
      ['next', undefined, undefined],
    ],
  );
  // The NF's own service is added to the names after the listed ones.
  assert.equal(h.ctx.serviceId('router'), 2);
  assert.throws(() => h.ctx.portId('nowhere'), { code: 'NETVM_UNKNOWN_PORT', message: /known: in, out/ });
});

test('harness: changes to the bytes and the length are returned; views are rebound for every batch', async () => {
  const nf = defineNF({
    name: 'ttl',
    process: (batch) => {
      for (let i = 0; i < batch.length; i++) {
        const p = batch.packets[i];
        const l3 = p.parsed.l3Offset;
        p.u8[l3 + 8]--; // TTL
        p.length = p.length - 1;
      }
    },
  });
  const h = await createNFHarness(nf, { batchSize: 4 });
  const frames = Array.from({ length: 10 }, (_, i) =>
    buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', srcPort: i, dstPort: 1, ttl: 64, size: 80 + i }),
  );
  const rs = h.push(frames);
  assert.equal(rs.length, 10);
  rs.forEach((r, i) => {
    assert.equal(r.data.length, frames[i].length - 1);
    assert.equal(r.data[14 + 8], 63);
    assert.equal(r.data[14 + 12 + 3], frames[i][14 + 12 + 3]);
  });
});

test('harness: inPort by name, the flow hash is the symmetric Toeplitz hash unless given', async () => {
  const seen: { port: number; hash: number }[] = [];
  const nf = defineNF({ name: 'spy', packet: (pkt) => void seen.push({ port: pkt.inPort, hash: pkt.hash }) });
  const h = await createNFHarness(nf, { ports: ['a', 'b'] });
  h.push([{ data: udp(1, 2), inPort: 'b' }, { data: udp(2, 1, '10.0.0.2', '10.0.0.1') }, { data: udp(), hash: 0xdeadbeef }]);
  const tz = new Toeplitz(SYMMETRIC_RSS_KEY);
  const want = tz.hashIpv4(parseIpv4('10.0.0.1'), parseIpv4('10.0.0.2'), 1, 2);
  assert.deepEqual(seen, [
    { port: 1, hash: want },
    { port: 0, hash: want },
    { port: 0, hash: 0xdeadbeef },
  ]);
  assert.throws(() => h.push([{ data: udp(), inPort: 'c' }]), { code: 'NETVM_UNKNOWN_PORT' });
  // Fragments hash on the addresses alone, first fragment (with ports) included, as the manager does.
  seen.length = 0;
  const first = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', srcPort: 1, dstPort: 2, moreFragments: true });
  const later = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', fragOffset: 10 });
  h.push([first, later]);
  const addrs = tz.hashIpv4NoPorts(parseIpv4('10.0.0.1'), parseIpv4('10.0.0.2'));
  assert.deepEqual(
    seen.map((x) => x.hash),
    [addrs, addrs],
  );
});

test('harness: args are validated by the definition; setup, tick, message, send, log and teardown run', async () => {
  const calls: string[] = [];
  interface A {
    n: number;
  }
  const nf = defineNF<A>({
    name: 'life',
    args: (raw) => {
      if (typeof raw.n !== 'number') throw argError('life', 'n', 'must be a number');
      return { n: raw.n };
    },
    setup: async (ctx) => {
      await new Promise((r) => setTimeout(r, 1));
      calls.push(`setup ${ctx.args.n} ${ctx.service}#${ctx.instance}`);
      ctx.counters.seen = 0;
    },
    packet: (_pkt, ctx) => void ctx.counters.seen++,
    tick: (ctx) => ctx.log('tick', { seen: ctx.counters.seen }),
    onMessage: (data, from, ctx) => ctx.send({ echo: data }, from),
    teardown: () => void calls.push('teardown'),
  });
  await assert.rejects(createNFHarness(nf, { args: { n: 'x' } }), { code: 'NETVM_NF_ARGS', message: /args\.n must be a number/ });
  const h = await createNFHarness(nf, { args: { n: 3 }, service: 'svc', instance: 2 });
  h.push([udp(), udp()]);
  assert.equal(h.counters.seen, 2);
  h.tick();
  assert.deepEqual(h.logs, [{ msg: 'tick', fields: { seen: 2 } }]);
  h.message('hi', 'other');
  assert.deepEqual(h.sent, [{ data: { echo: 'hi' }, to: 'other' }]);
  await h.close();
  await h.close();
  assert.deepEqual(calls, ['setup 3 svc#2', 'teardown']);
  assert.throws(() => h.push([udp()]), /after close/);
});

test('harness: a throwing handler fails the push by default, or is counted as the runtime does', async () => {
  const nf = defineNF({
    name: 'thrower',
    packet: (pkt) => {
      pkt.drop();
      if (pkt.parsed.dstPort === 7) throw new Error('boom');
    },
  });
  const strict = await createNFHarness(nf);
  assert.throws(() => strict.push([udp(1, 7)]), /boom/);
  const lax = await createNFHarness(nf, { onHandlerError: 'count' });
  const rs = lax.push([udp(1, 1), udp(1, 7), udp(1, 1)]);
  // The packets before the throw keep their action; the rest of the batch keeps the default.
  assert.deepEqual(
    rs.map((r) => r.action),
    ['drop', 'drop', 'next'],
  );
  assert.equal(lax.handlerErrors, 1);
  assert.match(lax.logs[0].msg, /handler threw: Error: boom/);
});

test('harness: frames larger than the buffer are refused with a clear error; bufSize raises it', async () => {
  const nf = defineNF({ name: 'noop', process: () => {} });
  const h = await createNFHarness(nf);
  assert.throws(() => h.push([new Uint8Array(4000)]), { code: 'NETVM_LIMIT', message: /4000 bytes.*raise bufSize/ });
  const big = await createNFHarness(nf, { bufSize: 8192 });
  assert.equal(big.push([new Uint8Array(4000)])[0].data.length, 4000);
});

test('context: portName reads the live name table (names sent later are reported by name)', () => {
  const names: NameTable = { services: new Map(), ports: new Map([['in', 0]]) };
  const ctx = createNFContext({ service: 's', instance: 1, names, counters: {}, log: () => {}, send: () => {} }, {});
  assert.equal(ctx.portName(0), 'in');
  assert.equal(ctx.portName(1), 'port1');
  names.ports.set('out', 1);
  assert.equal(ctx.portName(1), 'out');
});
