// Golden case for nfs/aes-encrypt and nfs/aes-decrypt, three chains:
//   enc  aes-encrypt (AES-128, fixed nonce prefix, so the IVs are known): UDP payloads become
//        IV ‖ AES-CTR ciphertext; non-UDP passes; fragments and malformed frames are dropped
//   dec  aes-decrypt (AES-256) of packets encrypted here with other IVs: the plaintext packets
//   rt   aes-encrypt (random prefix) then aes-decrypt with the same key: the input again,
//        for every packet the pair keeps
// The expected outputs are computed with node:crypto's own aes-*-ctr, one cipher per packet,
// and src/proto's builders and checksums — not with the NFs' batched ECB keystream.
// Run `npx tsx test/golden/gen-aes.ts` to rewrite test/golden/aes/.
import crypto from 'node:crypto';
import { buildPacket } from '../../src/proto/build.js';
import { parsePacket, ParsedPacket } from '../../src/proto/parse.js';
import { fillIpv4HeaderChecksum, fillL4ChecksumV4, fillL4ChecksumV6 } from '../../src/proto/checksum.js';
import type { PcapWriteRecord } from '../../src/ports/pcap/pcap-format.js';
import { mixedTraffic } from '../fixtures/traffic.js';
import { isMain, writeGolden, type GoldenFiles } from './golden-run.js';
import { nastyFrames, pcap, records, rng } from './gen-common.js';

const KEY128 = '2b7e151628aed2a6abf7158809cf4f3c'; // the NIST SP 800-38A example key
const KEY256 = '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4';
const PREFIX = 'f0f1f2f3f4f5f6f7';

/** The frame with its UDP payload replaced by `payload` (lengths, padding and checksums redone). */
function withPayload(f: Uint8Array, p: ParsedPacket, payload: Uint8Array): Uint8Array {
  const l3 = p.l3Offset;
  const l4 = p.l4Offset;
  const udpLen = 8 + payload.length;
  const end = l4 + udpLen;
  const g = new Uint8Array(Math.max(60, end));
  g.set(f.subarray(0, p.payloadOffset));
  g.set(payload, p.payloadOffset);
  g[l4 + 4] = udpLen >> 8;
  g[l4 + 5] = udpLen & 0xff;
  if (p.ipVersion === 4) {
    const total = end - l3;
    g[l3 + 2] = total >> 8;
    g[l3 + 3] = total & 0xff;
    fillIpv4HeaderChecksum(g, l3);
    fillL4ChecksumV4(g, l3, l4, udpLen, 17);
  } else {
    const pl = end - l3 - 40;
    g[l3 + 4] = pl >> 8;
    g[l3 + 5] = pl & 0xff;
    fillL4ChecksumV6(g, l3, l4, udpLen, 17);
  }
  return g;
}

/** IV + n as a 128-bit big-endian number. */
function ivPlus(iv: Buffer, n: number): Buffer {
  const out = Buffer.from(iv);
  let carry = n;
  for (let i = 15; i >= 0 && carry > 0; i--) {
    const v = out[i] + (carry & 0xff);
    out[i] = v & 0xff;
    carry = (carry >>> 8) + (v >> 8);
  }
  return out;
}

type Verdict = 'work' | 'skip' | 'drop';
function verdict(f: Uint8Array, p: ParsedPacket): Verdict {
  if (!parsePacket(f, 0, f.length, p)) return 'drop';
  if (p.ipVersion === 0 || p.l4Proto !== 17) return 'skip';
  if (p.fragment) return 'drop';
  return 'work';
}

function inputs(seed: number): Uint8Array[] {
  const rand = rng(seed);
  const frames = mixedTraffic(60, seed, 10).map((r) => r.data);
  for (let i = 0; i < 40; i++) {
    const v6 = i % 3 === 0;
    frames.push(
      buildPacket({
        src: v6 ? '2001:db8::9:1' : '198.18.9.1',
        dst: v6 ? '2001:db8::9:2' : '198.19.9.2',
        proto: 'udp',
        srcPort: 7000 + i,
        dstPort: 4789,
        payload: Uint8Array.from({ length: Math.floor(rand() * 1200) }, () => Math.floor(rand() * 256)),
      }),
    );
  }
  for (const n of nastyFrames()) frames.push(n.data);
  return frames;
}

export interface AesGolden {
  files: GoldenFiles;
  counters: Record<string, Record<string, number>>;
}

export function generate(): AesGolden {
  const p = new ParsedPacket();
  // enc: IVs are PREFIX ‖ block counter, advancing by each packet's blocks (at least one).
  const encIn = records(inputs(31));
  const encOut: PcapWriteRecord[] = [];
  let iv: Buffer = Buffer.from(PREFIX + '0000000000000000', 'hex');
  const ec = { packets: 0, encrypted: 0, skipped: 0, fragments: 0, malformed: 0 };
  for (const r of encIn) {
    ec.packets++;
    const v = verdict(r.data, p);
    if (v === 'drop') {
      if (p.ok) ec.fragments++;
      else ec.malformed++;
      continue;
    }
    if (v === 'skip') {
      ec.skipped++;
      encOut.push(r);
      continue;
    }
    const plain = r.data.subarray(p.payloadOffset, p.payloadOffset + p.payloadLen);
    const c = crypto.createCipheriv('aes-128-ctr', Buffer.from(KEY128, 'hex'), iv);
    const ct = Buffer.concat([c.update(plain), c.final()]);
    encOut.push({ ...r, data: withPayload(r.data, p, Uint8Array.from([...iv, ...ct])) });
    ec.encrypted++;
    iv = ivPlus(iv, Math.max(1, Math.ceil(plain.length / 16)));
  }

  // dec: each UDP packet encrypted here with its own random IV; decrypting gives the plaintext
  // packet (Ethernet padding and any bytes past the UDP length are not kept).
  const rand = rng(32);
  const decInFrames: Uint8Array[] = [];
  const decPlain: (Uint8Array | null)[] = []; // what each input frame becomes (null: dropped)
  for (const f of inputs(33)) {
    const v = verdict(f, p);
    if (v !== 'work') {
      decInFrames.push(f);
      decPlain.push(v === 'skip' ? f : null);
      continue;
    }
    const pl = f.subarray(p.payloadOffset, p.payloadOffset + p.payloadLen);
    const ivr = Buffer.from(Array.from({ length: 16 }, () => Math.floor(rand() * 256)));
    const c = crypto.createCipheriv('aes-256-ctr', Buffer.from(KEY256, 'hex'), ivr);
    decInFrames.push(withPayload(f, p, Uint8Array.from([...ivr, ...c.update(pl), ...c.final()])));
    decPlain.push(withPayload(f, p, pl));
  }
  const decIn = records(decInFrames);
  const decOut: PcapWriteRecord[] = [];
  decIn.forEach((r, i) => {
    const d = decPlain[i];
    if (d !== null) decOut.push({ ...r, data: d });
  });
  const decrypted = decInFrames.filter((f, i) => decPlain[i] !== null && decPlain[i] !== f).length;

  // rt: the NF pair gives back every UDP packet (rebuilt without padding beyond 60 bytes) and
  // every non-UDP packet as it was.
  const rtIn = records(inputs(34));
  const rtOut: PcapWriteRecord[] = [];
  for (const r of rtIn) {
    const v = verdict(r.data, p);
    if (v === 'drop') continue;
    if (v === 'skip') rtOut.push(r);
    else rtOut.push({ ...r, data: withPayload(r.data, p, r.data.subarray(p.payloadOffset, p.payloadOffset + p.payloadLen)) });
  }

  const config = `# Generated by test/golden/gen-aes.ts: do not edit; run npx tsx test/golden/gen-aes.ts
ports:
  enc-in: { driver: pcap, read: enc-in.pcap }
  dec-in: { driver: pcap, read: dec-in.pcap }
  rt-in: { driver: pcap, read: rt-in.pcap }
  enc-out: { driver: pcap, write: enc-out.pcap }
  dec-out: { driver: pcap, write: dec-out.pcap }
  rt-out: { driver: pcap, write: rt-out.pcap }
services:
  enc: { nf: aes-encrypt, args: { key: '${KEY128}', noncePrefix: '${PREFIX}' } }
  dec: { nf: aes-decrypt, args: { key: '${KEY256}' } }
  rt-enc: { nf: aes-encrypt, args: { key: '${KEY256}' } }
  rt-dec: { nf: aes-decrypt, args: { key: '${KEY256}' } }
chains:
  enc: [enc, enc-out]
  dec: [dec, dec-out]
  rt: [rt-enc, rt-dec, rt-out]
rules:
  - { match: { inPort: enc-in }, chain: enc }
  - { match: { inPort: dec-in }, chain: dec }
  - { match: { inPort: rt-in }, chain: rt }
`;
  return {
    files: {
      'config.yaml': config,
      'enc-in.pcap': pcap(encIn),
      'dec-in.pcap': pcap(decIn),
      'rt-in.pcap': pcap(rtIn),
      'expected/enc-out.pcap': pcap(encOut),
      'expected/dec-out.pcap': pcap(decOut),
      'expected/rt-out.pcap': pcap(rtOut),
    },
    counters: { enc: ec, dec: { packets: decIn.length, decrypted } },
  };
}

if (isMain(import.meta.url)) writeGolden('aes', generate().files);
