/**
 * Toeplitz hash as specified for Receive Side Scaling (Microsoft RSS, "RSS Hashing Functions").
 *
 * The spec's bit-serial definition: for each input bit b (left to right), if b is 1, XOR the
 * leftmost 32 bits of the key into the result, then shift the key left one bit. The hash is
 * linear in the input, so the contribution of input byte i with value v is a fixed 32-bit
 * value; precomputing a 256-entry table per byte position turns hashing N bytes into N table
 * lookups and XORs. A 40-byte key covers 36 input bytes: an IPv6 address pair plus ports.
 *
 * Input order per the spec: source address, destination address, source port, destination
 * port, all in network byte order.
 */

import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from './constants.js';
import type { ParsedPacket } from './parse.js';

/** The key from the Microsoft RSS verification suite (also the default of many NICs). */
export const MICROSOFT_RSS_KEY: Uint8Array = Uint8Array.of(
  0x6d,
  0x5a,
  0x56,
  0xda,
  0x25,
  0x5b,
  0x0e,
  0xc2,
  0x41,
  0x67,
  0x25,
  0x3d,
  0x43,
  0xa3,
  0x8f,
  0xb0,
  0xd0,
  0xca,
  0x2b,
  0xcb,
  0xae,
  0x7b,
  0x30,
  0xb4,
  0x77,
  0xcb,
  0x2d,
  0xa3,
  0x80,
  0x30,
  0xf2,
  0x0c,
  0x6a,
  0x42,
  0xb7,
  0x3b,
  0xbe,
  0xac,
  0x01,
  0xfa,
);

/**
 * Symmetric key (0x6d5a repeated): the key repeats every 16 bits, so the key window seen by
 * source bit j equals the one seen by destination bit j (addresses start 32 or 128 bits apart,
 * ports 16 bits apart). Swapping source and destination then leaves the hash unchanged, which
 * sends both directions of a connection to the same NF replica.
 */
export const SYMMETRIC_RSS_KEY: Uint8Array = (() => {
  const k = new Uint8Array(40);
  for (let i = 0; i < 40; i += 2) {
    k[i] = 0x6d;
    k[i + 1] = 0x5a;
  }
  return k;
})();

export class Toeplitz {
  /** Number of input bytes the key can hash: key length - 4. */
  readonly maxInputLen: number;
  /** table[pos * 256 + byte]: contribution of `byte` at input position `pos`. */
  private readonly table: Int32Array;

  constructor(key: Uint8Array) {
    if (key.length < 40) throw new Error('Toeplitz key must be at least 40 bytes');
    const n = key.length - 4;
    this.maxInputLen = n;
    this.table = new Int32Array(n * 256);
    const kb = (i: number): number => (i < key.length ? key[i] : 0);
    for (let pos = 0; pos < n; pos++) {
      // window[j]: the 32 key bits starting at bit pos*8 + j, i.e. the key after the spec's
      // shifts when input bit j (0 = most significant) of this byte is reached.
      const window = new Int32Array(8);
      const hi = (kb(pos) << 24) | (kb(pos + 1) << 16) | (kb(pos + 2) << 8) | kb(pos + 3);
      const next = kb(pos + 4);
      for (let j = 0; j < 8; j++) window[j] = j === 0 ? hi : (hi << j) | (next >>> (8 - j));
      const base = pos * 256;
      for (let v = 1; v < 256; v++) {
        // Build from the value with its lowest set bit cleared, plus that bit's window.
        const low = v & -v;
        this.table[base + v] = this.table[base + (v ^ low)] ^ window[7 - (31 - Math.clz32(low))];
      }
    }
  }

  /** Hash of `len` raw input bytes at `off` (len <= maxInputLen). */
  hashBytes(u8: Uint8Array, off: number, len: number): number {
    const t = this.table;
    let h = 0;
    for (let i = 0; i < len; i++) h ^= t[(i << 8) | u8[off + i]];
    return h >>> 0;
  }

  /** IPv4 4-tuple hash (NDIS_HASH_TCP_IPV4 / UDP_IPV4 input). Addresses as unsigned u32. */
  hashIpv4(src: number, dst: number, sport: number, dport: number): number {
    const t = this.table;
    return (
      (t[src >>> 24] ^
        t[256 | ((src >>> 16) & 0xff)] ^
        t[512 | ((src >>> 8) & 0xff)] ^
        t[768 | (src & 0xff)] ^
        t[1024 | (dst >>> 24)] ^
        t[1280 | ((dst >>> 16) & 0xff)] ^
        t[1536 | ((dst >>> 8) & 0xff)] ^
        t[1792 | (dst & 0xff)] ^
        t[2048 | ((sport >>> 8) & 0xff)] ^
        t[2304 | (sport & 0xff)] ^
        t[2560 | ((dport >>> 8) & 0xff)] ^
        t[2816 | (dport & 0xff)]) >>>
      0
    );
  }

  /** IPv4 2-tuple hash (NDIS_HASH_IPV4 input: addresses only). */
  hashIpv4NoPorts(src: number, dst: number): number {
    const t = this.table;
    return (
      (t[src >>> 24] ^
        t[256 | ((src >>> 16) & 0xff)] ^
        t[512 | ((src >>> 8) & 0xff)] ^
        t[768 | (src & 0xff)] ^
        t[1024 | (dst >>> 24)] ^
        t[1280 | ((dst >>> 16) & 0xff)] ^
        t[1536 | ((dst >>> 8) & 0xff)] ^
        t[1792 | (dst & 0xff)]) >>>
      0
    );
  }

  /** IPv6 4-tuple hash; the 16-byte addresses are read from u8 at srcOff / dstOff. */
  hashIpv6(u8: Uint8Array, srcOff: number, dstOff: number, sport: number, dport: number): number {
    const t = this.table;
    let h = t[8192 | ((sport >>> 8) & 0xff)] ^ t[8448 | (sport & 0xff)] ^ t[8704 | ((dport >>> 8) & 0xff)] ^ t[8960 | (dport & 0xff)];
    for (let i = 0; i < 16; i++) h ^= t[(i << 8) | u8[srcOff + i]] ^ t[((i + 16) << 8) | u8[dstOff + i]];
    return h >>> 0;
  }

  /** IPv6 2-tuple hash (addresses only). */
  hashIpv6NoPorts(u8: Uint8Array, srcOff: number, dstOff: number): number {
    const t = this.table;
    let h = 0;
    for (let i = 0; i < 16; i++) h ^= t[(i << 8) | u8[srcOff + i]] ^ t[((i + 16) << 8) | u8[dstOff + i]];
    return h >>> 0;
  }

  /**
   * RSS hash of a parsed packet: 4-tuple for unfragmented TCP/UDP/SCTP, 2-tuple for other IP
   * packets and for all fragments (so every fragment of a datagram, first one included, lands
   * where the others do), 0 for non-IP or unparsable packets.
   */
  hashFromPacket(u8: Uint8Array, p: ParsedPacket): number {
    if (!p.ok) return 0;
    const v = p.ipVersion;
    if (v !== 4 && v !== 6) return 0;
    // Source and destination are adjacent in both headers, in the order the spec hashes them,
    // so one loop covers them. Everything stays in locals: passing a u32 address to another
    // (non-inlined) method would box it as a heap number on every packet.
    const t = this.table;
    const base = p.l3Offset + (v === 4 ? 12 : 8);
    const n = v === 4 ? 8 : 32;
    let h = 0;
    for (let i = 0; i < n; i++) h ^= t[(i << 8) | u8[base + i]];
    const q = p.l4Proto;
    if (!p.fragment && (q === IPPROTO_TCP || q === IPPROTO_UDP || q === IPPROTO_SCTP)) {
      // The ports are the first 4 bytes of the L4 header, in spec order.
      const l4 = p.l4Offset;
      const k = n << 8;
      h ^= t[k | u8[l4]] ^ t[(k + 256) | u8[l4 + 1]] ^ t[(k + 512) | u8[l4 + 2]] ^ t[(k + 768) | u8[l4 + 3]];
    }
    return h >>> 0;
  }
}
