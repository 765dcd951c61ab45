// aes-encrypt / aes-decrypt against OpenSSL's command-line tool (`openssl enc`), for AES-128,
// -192 and -256 with random keys, on random UDP packets (IPv4 with and without options, IPv6
// with and without extension headers, payloads of 0 to 1400 bytes):
//
// 1. What aes-encrypt emits, openssl decrypts: every packet's ciphertext with one openssl call
//    per key (possible because an instance's IVs follow each other — packet i+1's IV is packet
//    i's plus its block count, which the test checks first), and a sample of packets each on
//    its own with the IV read from the packet.
// 2. What openssl encrypts, aes-decrypt decrypts: packets built as IV ‖ openssl ciphertext
//    come out as the original packets, byte for byte.
// 3. Lengths and checksums of every output packet are valid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import enc from './index.js';
import dec from '../aes-decrypt/index.js';
import { counterAdd } from './udp-aes.js';
import { createNFHarness } from '../../src/nflib/testing.js';
import { buildPacket, type PacketSpec } from '../../src/proto/build.js';
import { parsePacket, ParsedPacket } from '../../src/proto/parse.js';
import { verifyPacketChecksums } from '../../src/proto/packet-checksum.js';
import { rng } from '../../test/fixtures/traffic.js';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const PER_KEY = 1500;
const SAMPLE = 40;

function openssl(decrypt: boolean, bits: number, key: Buffer, iv: Uint8Array, data: Uint8Array): Buffer {
  const r = spawnSync(
    'openssl',
    ['enc', decrypt ? '-d' : '-e', `-aes-${bits}-ctr`, '-K', key.toString('hex'), '-iv', Buffer.from(iv).toString('hex'), '-nosalt'],
    { input: data, maxBuffer: 1 << 28 },
  );
  assert.equal(r.status, 0, `openssl failed: ${r.stderr}`);
  return r.stdout;
}

interface Case {
  spec: PacketSpec;
  frame: Uint8Array;
  payload: Uint8Array;
}

function randomPackets(seed: number, n: number): Case[] {
  const rand = rng(seed);
  const out: Case[] = [];
  for (let i = 0; i < n; i++) {
    const v6 = rand() < 0.4;
    const len = rand() < 0.1 ? Math.floor(rand() * 16) : Math.floor(rand() * 1400);
    const payload = Uint8Array.from({ length: len }, () => Math.floor(rand() * 256));
    const spec: PacketSpec = {
      src: v6 ? '2001:db8::1' : '198.18.0.1',
      dst: v6 ? '2001:db8::2' : '198.19.0.2',
      proto: 'udp',
      srcPort: 1000 + (i % 50),
      dstPort: 4500,
      payload,
      ipv4Options: !v6 && rand() < 0.2 ? Uint8Array.from([1, 1, 1, 0]) : undefined,
      ipv6Ext: v6 && rand() < 0.3 ? [{ type: 0 }, { type: 60 }] : undefined,
    };
    out.push({ spec, frame: buildPacket(spec), payload });
  }
  return out;
}

const p = new ParsedPacket();
function udpPayload(frame: Uint8Array): Uint8Array {
  assert.ok(parsePacket(frame, 0, frame.length, p), 'the output parses');
  assert.ok(verifyPacketChecksums(frame, p), 'the output checksums are valid');
  return frame.subarray(p.payloadOffset, p.payloadOffset + p.payloadLen);
}

for (const bits of [128, 192, 256]) {
  test(
    `aes-encrypt (AES-${bits}): openssl enc decrypts what it emits; aes-decrypt restores openssl's ciphertext`,
    { skip: hasOpenssl ? false : 'needs openssl' },
    async (t) => {
      const key = crypto.randomBytes(bits / 8);
      const pkts = randomPackets(bits, PER_KEY);
      const e = await createNFHarness(enc, { args: { key: key.toString('hex') }, poolSize: 512 });
      const out = e.push(pkts.map((x) => x.frame));
      assert.equal(e.counters.encrypted, PER_KEY);
      // Each IV follows the previous packet's blocks (an empty payload still uses one).
      const blocksOf = (len: number): number => Math.max(1, Math.ceil(len / 16));
      const ivs: Uint8Array[] = [];
      const cts: Uint8Array[] = [];
      out.forEach((r, i) => {
        assert.equal(r.action, 'next');
        const pl = udpPayload(r.data);
        assert.equal(pl.length, pkts[i].payload.length + 16, 'the payload grew by the IV');
        ivs.push(pl.slice(0, 16));
        cts.push(pl.slice(16));
        if (i > 0) {
          const want = new Uint8Array(16);
          counterAdd(ivs[i - 1], 0, blocksOf(pkts[i - 1].payload.length), want, 0);
          assert.deepEqual(ivs[i], want, `packet ${i}: IV continues the counter`);
        }
      });
      // (1a) All ciphertexts, each padded to whole blocks, in one openssl call from the first IV.
      const padded = Buffer.concat(cts.map((c) => Buffer.concat([Buffer.from(c), Buffer.alloc(blocksOf(c.length) * 16 - c.length)])));
      const plain = openssl(true, bits, key, ivs[0], padded);
      let off = 0;
      pkts.forEach((x, i) => {
        const got = plain.subarray(off, off + x.payload.length);
        if (!got.equals(Buffer.from(x.payload)))
          assert.fail(
            `AES-${bits} packet ${i}: openssl gives ${got.toString('hex').slice(0, 64)}…, sent ${Buffer.from(x.payload).toString('hex').slice(0, 64)}…`,
          );
        off += blocksOf(x.payload.length) * 16;
      });
      // (1b) A sample decrypted packet by packet with each packet's own IV.
      for (let k = 0; k < SAMPLE; k++) {
        const i = Math.floor((k * PER_KEY) / SAMPLE);
        assert.deepEqual(new Uint8Array(openssl(true, bits, key, ivs[i], cts[i])), pkts[i].payload, `AES-${bits} packet ${i} alone`);
      }
      // (2) openssl encrypts; aes-decrypt must give back the original packets.
      const iv0 = crypto.randomBytes(16);
      const plainAll = Buffer.concat(pkts.map((x) => Buffer.concat([Buffer.from(x.payload), Buffer.alloc(-x.payload.length & 15)])));
      const ctAll = openssl(false, bits, key, iv0, plainAll);
      let blk = 0;
      const frames = pkts.map((x) => {
        const iv = new Uint8Array(16);
        counterAdd(iv0, 0, blk, iv, 0);
        const ct = ctAll.subarray(blk * 16, blk * 16 + x.payload.length);
        blk += (x.payload.length + 15) >>> 4;
        return buildPacket({ ...x.spec, payload: Uint8Array.from([...iv, ...ct]) });
      });
      const d = await createNFHarness(dec, { args: { key: key.toString('hex') }, poolSize: 512 });
      const back = d.push(frames);
      let same = 0;
      back.forEach((r, i) => {
        assert.deepEqual(r.data, pkts[i].frame, `AES-${bits} packet ${i}: aes-decrypt of openssl's ciphertext is the original frame`);
        same++;
      });
      // (3) Round trip through both NFs: the original frames, byte for byte.
      const round = d.push(out.map((r) => r.data));
      round.forEach((r, i) => assert.deepEqual(r.data, pkts[i].frame, `AES-${bits} packet ${i}: decrypt(encrypt(frame)) = frame`));
      t.diagnostic(
        `AES-${bits}: ${PER_KEY} packets decrypted by openssl (one stream + ${SAMPLE} one by one), ${same} openssl ciphertexts decrypted by aes-decrypt, ${round.length} round trips`,
      );
    },
  );
}
