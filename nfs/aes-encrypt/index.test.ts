import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import enc from './index.js';
import dec from '../aes-decrypt/index.js';
import { createNFHarness } from '../../src/nflib/testing.js';
import { buildArp, buildPacket } from '../../src/proto/build.js';
import { parsePacket, ParsedPacket } from '../../src/proto/parse.js';
import { tmpDir } from '../../test/helpers/cli.js';

const KEY = '000102030405060708090a0b0c0d0e0f';
const udp = (payload: string | Uint8Array, extra: object = {}): Uint8Array =>
  buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', srcPort: 5000, dstPort: 6000, payload, ...extra });

test('aes: bad args are refused at start, naming the field', async () => {
  const bad: [typeof enc, Record<string, unknown>, RegExp][] = [
    [enc, {}, /args\.key or args\.keyFile is required/],
    [enc, { key: 'abcd' }, /args\.key must be 32, 48 or 64 hex digits/],
    [enc, { key: KEY, keyFile: 'k' }, /args\.key or args\.keyFile is required \(exactly one/],
    [enc, { key: KEY, noncePrefix: '00' }, /args\.noncePrefix must be 16 hex digits/],
    [enc, { key: KEY, mtu: 20 }, /args\.mtu must be an integer >= 68/],
    [enc, { key: KEY, ports: [70000] }, /args\.ports must be a non-empty list of port numbers/],
    [dec, { key: KEY, noncePrefix: '0000000000000000' }, /args\.noncePrefix is not an argument of aes-decrypt/],
    [dec, { keyFile: '/nonexistent/key' }, /args\.keyFile cannot be read/],
  ];
  for (const [nf, args, re] of bad)
    await assert.rejects(createNFHarness(nf, { args }), { code: 'NETVM_NF_ARGS', message: re }, JSON.stringify(args));
});

test('aes-encrypt: the payload becomes IV ‖ AES-CTR(key, IV, payload), as node:crypto computes it, and grows by 16', async () => {
  const h = await createNFHarness(enc, { args: { key: KEY, noncePrefix: '1122334455667788' } });
  const plain = new TextEncoder().encode('attack at dawn, bring snacks');
  const [r] = h.push([udp(plain)]);
  const p = new ParsedPacket();
  assert.ok(parsePacket(r.data, 0, r.data.length, p));
  const pl = r.data.subarray(p.payloadOffset, p.payloadOffset + p.payloadLen);
  assert.equal(pl.length, plain.length + 16);
  assert.equal(Buffer.from(pl.subarray(0, 16)).toString('hex'), '11223344556677880000000000000000', 'prefix ‖ counter 0');
  const c = crypto.createCipheriv('aes-128-ctr', Buffer.from(KEY, 'hex'), pl.subarray(0, 16));
  assert.deepEqual(new Uint8Array(c.update(plain)), pl.subarray(16));
  // The next packet's IV continues after this one's two blocks.
  const [r2] = h.push([udp('x')]);
  assert.ok(parsePacket(r2.data, 0, r2.data.length, p));
  assert.equal(Buffer.from(r2.data.subarray(p.payloadOffset + 8, p.payloadOffset + 16)).toString('hex'), '0000000000000002');
});

test('aes: non-UDP passes; fragments, malformed packets and oversize results are dropped and counted', async () => {
  const h = await createNFHarness(enc, { args: { key: KEY, mtu: 1000 } });
  const tcp = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'tcp', srcPort: 1, dstPort: 2, payload: 'tcp' });
  const arp = buildArp({ senderMac: '02:00:00:00:00:01', senderIp: '10.0.0.1', targetIp: '10.0.0.2' });
  const frag = udp('first part', { moreFragments: true, id: 5 });
  const later = udp('later', { fragOffset: 8, id: 5 });
  const bad = udp('x');
  bad[14 + 20 + 5] = 3; // UDP length 3
  const big = udp(new Uint8Array(1000 - 20 - 8 - 15)); // 985-byte IP packet: 1001 once encrypted
  const fits = udp(new Uint8Array(1000 - 20 - 8 - 16));
  const rs = h.push([tcp, arp, frag, later, bad, big, fits]);
  assert.deepEqual(
    rs.map((r) => r.action),
    ['next', 'next', 'drop', 'drop', 'drop', 'drop', 'next'],
  );
  assert.deepEqual(rs[0].data, tcp);
  assert.deepEqual(rs[1].data, arp);
  assert.deepEqual(
    [h.counters.skipped, h.counters.fragments, h.counters.malformed, h.counters.tooBig, h.counters.encrypted],
    [2, 2, 1, 1, 1],
  );
});

test('aes: the ports filter; aes-decrypt drops payloads shorter than an IV; keyFile holds the key in hex', async () => {
  const dir = tmpDir();
  const kf = path.join(dir, 'key.hex');
  fs.writeFileSync(kf, `${KEY.slice(0, 16)}\n${KEY.slice(16)}\n`);
  const e = await createNFHarness(enc, { args: { keyFile: kf, ports: [6000] } });
  const other = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', srcPort: 1, dstPort: 2, payload: 'plain' });
  const rs = e.push([udp('secret'), other]);
  assert.equal(rs[0].data.length, 14 + 20 + 8 + 16 + 6, 'headers, IV, 6 bytes of ciphertext (the input Ethernet padding is gone)');
  assert.deepEqual(rs[1].data, other, 'other ports pass untouched');
  const d = await createNFHarness(dec, { args: { key: KEY } });
  const back = d.push([rs[0].data, udp('short')]);
  assert.deepEqual(back[0].data, udp('secret'));
  assert.equal(back[1].action, 'drop');
  assert.equal(d.counters.tooShort, 1);
  assert.equal(d.counters.decrypted, 1);
});
