// The shared core of aes-encrypt and aes-decrypt: AES in counter mode over UDP payloads, in a
// format standard tools read —
//
//   encrypted UDP payload = IV (16 bytes) ‖ AES-CTR(key, IV, plaintext)
//
// which is what `openssl enc -aes-128-ctr -K <key> -iv <IV>` (or -aes-192-ctr / -aes-256-ctr)
// decrypts: CTR mode (NIST SP 800-38A §6.5) with the IV as the initial counter block,
// incremented as one 128-bit big-endian number per 16-byte block, no padding (the ciphertext is
// as long as the plaintext). The UDP payload grows by 16 bytes; UDP length, IPv4 total length
// (with its header checksum) or IPv6 payload length follow, and the UDP checksum is recomputed.
//
// Speed: node's crypto works on buffers, one call at a time. Instead of one cipher object per
// packet (a native call and allocations per packet), the keystream of the whole batch is made
// with one call: each packet's counter blocks are laid out in one buffer and encrypted with a
// long-lived AES-ECB cipher — which is what CTR is, E_K(counter block) XOR data — then XORed
// into the payloads in place.
//
// IVs (encryption): an 8-byte nonce prefix — random per NF instance unless fixed in the args —
// then a 64-bit block counter. Each packet's IV is the next unused counter value and the
// counter advances by the packet's block count, so no keystream block is ever used twice by an
// instance (until 2^64 blocks). Counter mode gives confidentiality only: there is no
// integrity check, so a changed ciphertext decrypts to changed plaintext without notice.
import crypto from 'node:crypto';
import fs from 'node:fs';
import {
  ArgReader,
  argError,
  ETH_MIN_FRAME_LEN,
  fillL4ChecksumV4,
  fillL4ChecksumV6,
  IPPROTO_UDP,
  setIpv4TotalLenCsum,
  type PacketBatch,
} from '../../src/nflib/index.js';

export interface AesArgs {
  /** The key in hex: 32, 48 or 64 hex digits (AES-128/192/256). */
  key?: string;
  /** A file holding the key in hex (whitespace ignored). */
  keyFile?: string;
  /** Encrypt only: the IV prefix, 16 hex digits (default: random per instance). */
  noncePrefix?: string;
  /** UDP ports to act on (source or destination); absent: every UDP packet. */
  ports?: number[];
  /** Encrypt only: largest IP packet allowed after encryption. */
  mtu: number;
}

const HEX_KEY = /^([0-9a-fA-F]{32}|[0-9a-fA-F]{48}|[0-9a-fA-F]{64})$/;

export function parseAesArgs(nf: string, raw: Record<string, unknown>, encrypt: boolean): AesArgs {
  const known = encrypt ? ['key', 'keyFile', 'noncePrefix', 'ports', 'mtu'] : ['key', 'keyFile', 'ports'];
  const r = new ArgReader(nf, raw, known);
  const key = r.string('key', false, 'the key in hex: 32, 48 or 64 hex digits');
  if (key !== undefined && !HEX_KEY.test(key))
    throw r.error('key', `must be 32, 48 or 64 hex digits (AES-128, -192, -256), got ${key.length} characters`);
  const keyFile = r.string('keyFile', false, 'a file path');
  if ((key === undefined) === (keyFile === undefined)) throw r.error('key', 'or args.keyFile is required (exactly one of them)');
  const out: AesArgs = { mtu: 1500 };
  if (key !== undefined) out.key = key;
  if (keyFile !== undefined) out.keyFile = keyFile;
  if (encrypt) {
    const np = r.string('noncePrefix', false, '16 hex digits');
    if (np !== undefined) {
      if (!/^[0-9a-fA-F]{16}$/.test(np)) throw r.error('noncePrefix', `must be 16 hex digits (8 bytes), got ${JSON.stringify(np)}`);
      out.noncePrefix = np;
    }
    out.mtu = r.int('mtu', 68, 65535, 1500);
  }
  if (r.has('ports')) {
    const p = r.raw.ports;
    if (!Array.isArray(p) || p.length === 0 || !p.every((x) => Number.isInteger(x) && x >= 0 && x <= 65535))
      throw r.error('ports', `must be a non-empty list of port numbers 0..65535, got ${JSON.stringify(p)}`);
    out.ports = p as number[];
  }
  return out;
}

/** The key bytes (setup: reads keyFile). */
export function loadKey(nf: string, a: AesArgs): Buffer {
  let hex = a.key;
  if (hex === undefined) {
    try {
      hex = fs.readFileSync(a.keyFile as string, 'utf8').replace(/\s+/g, '');
    } catch (err) {
      throw argError(nf, 'keyFile', `cannot be read: ${(err as Error).message}`);
    }
    if (!HEX_KEY.test(hex))
      throw argError(nf, 'keyFile', `must hold 32, 48 or 64 hex digits (AES-128, -192, -256), found ${hex.length} characters`);
  }
  return Buffer.from(hex, 'hex');
}

/** Adds `n` (< 2^32) to the 128-bit big-endian counter at src[so..so+16), into dst[do..). */
export function counterAdd(src: Uint8Array, so: number, n: number, dst: Uint8Array, d: number): void {
  let carry = n;
  for (let i = 15; i >= 0; i--) {
    const v = src[so + i] + (carry & 0xff);
    dst[d + i] = v & 0xff;
    carry = (carry >>> 8) + (v >>> 8);
  }
}

const P_SKIP = 0;
const P_DROP = 1;
const P_WORK = 2;

export class UdpAes {
  readonly encrypt: boolean;
  private readonly ecb: crypto.Cipheriv;
  readonly mtu: number;
  private readonly portSet: Uint8Array | null;
  /** The next IV (encryption): prefix ‖ 64-bit block counter. */
  readonly iv = new Uint8Array(16);
  /** The current batch's counter blocks (the keystream comes back in a separate buffer). */
  private ctr = new Uint8Array(64 * 1024);
  // Per packet of the batch: what to do, payload offset and length, first keystream byte.
  private kind = new Uint8Array(256);
  private pOff = new Int32Array(256);
  private pLen = new Int32Array(256);
  private ksOff = new Int32Array(256);
  packets = 0;
  done = 0;
  bytes = 0;
  skipped = 0;
  malformed = 0;
  fragments = 0;
  tooBig = 0;
  tooShort = 0;
  noRoom = 0;

  constructor(key: Buffer, encrypt: boolean, a: AesArgs, noncePrefix: Uint8Array) {
    this.encrypt = encrypt;
    // ECB of counter blocks = the CTR keystream; no padding, every call a whole number of blocks.
    this.ecb = crypto.createCipheriv(`aes-${key.length * 8}-ecb`, key, null);
    this.ecb.setAutoPadding(false);
    this.mtu = a.mtu;
    this.iv.set(noncePrefix.subarray(0, 8), 0);
    if (a.ports !== undefined) {
      this.portSet = new Uint8Array(65536);
      for (const p of a.ports) this.portSet[p] = 1;
    } else this.portSet = null;
  }

  private grow(batch: number, blocks: number): void {
    if (this.kind.length < batch) {
      this.kind = new Uint8Array(batch);
      this.pOff = new Int32Array(batch);
      this.pLen = new Int32Array(batch);
      this.ksOff = new Int32Array(batch);
    }
    if (this.ctr.length < blocks * 16) {
      // Rare (a batch of large packets bigger than any before): keep what is laid out so far.
      const bigger = new Uint8Array(blocks * 16 * 2);
      bigger.set(this.ctr);
      this.ctr = bigger;
    }
  }

  /** Advances the IV's 64-bit counter (bytes 8..15) by n blocks. */
  private advance(n: number): void {
    counterAdd(this.iv, 0, n, this.iv, 0);
  }

  process(batch: PacketBatch): void {
    const n = batch.length;
    this.grow(n, 0);
    const enc = this.encrypt;
    const kind = this.kind;
    let blocks = 0;
    // Pass 1: classify, and lay out each packet's counter blocks.
    for (let i = 0; i < n; i++) {
      const pkt = batch.packets[i];
      pkt.next();
      this.packets++;
      kind[i] = P_SKIP;
      const p = pkt.parsed;
      if (!p.ok) {
        this.malformed++;
        kind[i] = P_DROP;
        continue;
      }
      if (p.ipVersion === 0 || p.l4Proto !== IPPROTO_UDP) {
        this.skipped++;
        continue;
      }
      if (this.portSet !== null && p.fragOffset === 0 && this.portSet[p.srcPort] === 0 && this.portSet[p.dstPort] === 0) {
        this.skipped++;
        continue;
      }
      if (p.fragment) {
        // A fragment holds part of a datagram: it cannot be transformed on its own, and passing
        // it would leak plaintext (encrypt) or garbage (decrypt).
        this.fragments++;
        kind[i] = P_DROP;
        continue;
      }
      const len = p.payloadLen;
      if (enc) {
        if (p.l4Offset - p.l3Offset + 8 + 16 + len > this.mtu) {
          this.tooBig++;
          kind[i] = P_DROP;
          continue;
        }
        if (pkt.tailroom + (pkt.offset + pkt.length - (p.payloadOffset + len)) < 16) {
          this.noRoom++;
          kind[i] = P_DROP;
          continue;
        }
      } else if (len < 16) {
        this.tooShort++; // no IV: not something aes-encrypt made
        kind[i] = P_DROP;
        continue;
      }
      const dataLen = enc ? len : len - 16;
      const nb = (dataLen + 15) >>> 4;
      this.grow(n, blocks + nb);
      const ctr = this.ctr;
      // The packet's first counter block (its IV), then IV + 1, ...
      const ivSrc = enc ? this.iv : pkt.u8;
      const ivOff = enc ? 0 : p.payloadOffset;
      for (let b = 0; b < nb; b++) counterAdd(ivSrc, ivOff, b, ctr, (blocks + b) << 4);
      if (enc && nb === 0) counterAdd(this.iv, 0, 0, ctr, blocks << 4); // keep the IV even for an empty payload
      kind[i] = P_WORK;
      this.pOff[i] = p.payloadOffset;
      this.pLen[i] = len;
      this.ksOff[i] = blocks << 4;
      if (enc) {
        // The IV goes into the packet; reserve at least one block so it is recorded.
        blocks += nb === 0 ? 1 : nb;
        this.advance(nb === 0 ? 1 : nb);
      } else blocks += nb;
    }
    // Pass 2: one AES call for the whole batch's keystream.
    const ks = blocks > 0 ? this.ecb.update(this.ctr.subarray(0, blocks << 4)) : null;
    // Pass 3: rewrite each packet.
    for (let i = 0; i < n; i++) {
      const pkt = batch.packets[i];
      if (kind[i] === P_DROP) {
        pkt.drop();
        continue;
      }
      if (kind[i] !== P_WORK || ks === null) continue;
      const u8 = pkt.u8;
      const p = pkt.parsed;
      const l3 = p.l3Offset;
      const l4 = p.l4Offset;
      const po = this.pOff[i];
      const len = this.pLen[i];
      const k0 = this.ksOff[i];
      let newPayload: number;
      if (enc) {
        u8.copyWithin(po + 16, po, po + len);
        for (let b = 0; b < 16; b++) u8[po + b] = this.ctr[k0 + b];
        const d = po + 16;
        for (let b = 0; b < len; b++) u8[d + b] ^= ks[k0 + b];
        newPayload = len + 16;
      } else {
        const d = po + 16;
        const dataLen = len - 16;
        for (let b = 0; b < dataLen; b++) u8[d + b] ^= ks[k0 + b];
        u8.copyWithin(po, d, d + dataLen);
        newPayload = dataLen;
      }
      const udpLen = 8 + newPayload;
      u8[l4 + 4] = udpLen >>> 8;
      u8[l4 + 5] = udpLen & 0xff;
      if (p.ipVersion === 4) {
        setIpv4TotalLenCsum(u8, l3, l4 - l3 + udpLen);
      } else {
        const pl = l4 + udpLen - (l3 + 40);
        u8[l3 + 4] = pl >>> 8;
        u8[l3 + 5] = pl & 0xff;
      }
      // The frame ends with the datagram (Ethernet padding is dropped), padded again to the
      // 60-byte Ethernet minimum with zeros.
      let end = l4 + udpLen;
      const min = pkt.offset + ETH_MIN_FRAME_LEN;
      if (end < min) {
        u8.fill(0, end, min);
        end = min;
      }
      pkt.length = end - pkt.offset;
      if (p.ipVersion === 4) fillL4ChecksumV4(u8, l3, l4, udpLen, IPPROTO_UDP);
      else fillL4ChecksumV6(u8, l3, l4, udpLen, IPPROTO_UDP);
      pkt.invalidate();
      this.done++;
      this.bytes += len;
    }
  }

  publish(c: Record<string, number>): void {
    c.packets = this.packets;
    c[this.encrypt ? 'encrypted' : 'decrypted'] = this.done;
    c.bytes = this.bytes;
    c.skipped = this.skipped;
    c.malformed = this.malformed;
    c.fragments = this.fragments;
    if (this.encrypt) {
      c.tooBig = this.tooBig;
      c.noRoom = this.noRoom;
    } else c.tooShort = this.tooShort;
  }
}
