// Builds ICMP Time Exceeded in place of the packet that expired (RFC 792, RFC 4443 §3.3):
// the offending IP packet is moved back to make room for new IP + ICMP headers, quoted as
// far as RFC 1812 §4.3.2.3 (IPv4: the error at most 576 bytes) and RFC 4443 §2.4(c) (IPv6:
// at most the minimum MTU, 1280) allow, and the frame is turned around: its destination MAC
// becomes the sender's, its source MAC the router interface's. VLAN tags are kept.
import { fillIcmpChecksum, fillIpv4HeaderChecksum, fillL4ChecksumV6 } from '../../src/proto/checksum.js';
import type { ParsedPacket } from '../../src/proto/parse.js';

/** RFC 1812 §4.3.2.3: an ICMPv4 error SHOULD be at most 576 bytes. */
const V4_MAX = 576;
/** RFC 4443 §2.4(c): an ICMPv6 error must not exceed the minimum IPv6 MTU. */
const V6_MAX = 1280;
/**
 * The smallest data room netvm's buffers have (bufSize 1024 minus 128 bytes of metadata and
 * headroom): a packet may always grow to this, so the error fits wherever the packet did.
 */
const MIN_ROOM = 896;

/** RFC 1812 §4.3.2.7 / RFC 4443 §2.4(e): whether an error about this packet may be sent. */
export function mayReplyV4(u8: Uint8Array, off: number, p: ParsedPacket): boolean {
  const l3 = p.l3Offset;
  if (p.fragOffset !== 0) return false; // only about the first fragment
  if (u8[off] === 0xff && u8[off + 1] === 0xff && u8[off + 2] === 0xff) return false; // link broadcast
  const dst0 = u8[l3 + 16];
  if (dst0 >= 224) return false; // multicast, class E, limited broadcast
  const src0 = u8[l3 + 12];
  if (src0 === 0 || src0 === 127 || src0 >= 224) return false; // source is not one host
  if (p.l4Proto === 1) {
    const t = u8[p.l4Offset];
    // Never an error about an error (destination unreachable, source quench, redirect,
    // time exceeded, parameter problem).
    if (t === 3 || t === 4 || t === 5 || t === 11 || t === 12) return false;
  }
  return true;
}

export function mayReplyV6(u8: Uint8Array, p: ParsedPacket): boolean {
  const l3 = p.l3Offset;
  if (p.fragOffset !== 0) return false;
  if (u8[l3 + 24] === 0xff) return false; // multicast destination
  if (u8[l3 + 8] === 0xff) return false; // multicast source
  let zero = true;
  for (let i = 0; i < 16; i++) if (u8[l3 + 8 + i] !== 0) zero = false;
  if (zero) return false; // unspecified source
  if (p.l4Proto === 58 && u8[p.l4Offset] < 128) return false; // an ICMPv6 error message
  return true;
}

/**
 * Rewrites the frame at u8[off, off+len) into an ICMP time exceeded (code 0, TTL exceeded
 * in transit) from `routerMac`/`routerIp4` to the packet's sender. Returns the new length.
 */
export function timeExceededV4(u8: Uint8Array, off: number, p: ParsedPacket, routerMac: Uint8Array, routerIp4: number): number {
  const l3 = p.l3Offset;
  const ipLen = (((u8[l3] & 0x0f) << 2) + p.ipPayloadLen) | 0;
  const quote = Math.min(ipLen, V4_MAX - 28);
  const tos = (u8[l3 + 1] & 0x1e) | 0xc0; // the original TOS, precedence internetwork control
  u8.copyWithin(l3 + 28, l3, l3 + quote);
  turnAround(u8, off, routerMac);
  const q = l3 + 28;
  u8[l3] = 0x45;
  u8[l3 + 1] = tos;
  const total = 28 + quote;
  u8[l3 + 2] = total >>> 8;
  u8[l3 + 3] = total;
  u8[l3 + 4] = 0;
  u8[l3 + 5] = 0;
  u8[l3 + 6] = 0;
  u8[l3 + 7] = 0;
  u8[l3 + 8] = 64;
  u8[l3 + 9] = 1;
  u8[l3 + 10] = 0;
  u8[l3 + 11] = 0;
  for (let i = 0; i < 4; i++) u8[l3 + 16 + i] = u8[q + 12 + i]; // to the original source
  u8[l3 + 12] = routerIp4 >>> 24;
  u8[l3 + 13] = routerIp4 >>> 16;
  u8[l3 + 14] = routerIp4 >>> 8;
  u8[l3 + 15] = routerIp4;
  fillIpv4HeaderChecksum(u8, l3);
  const icmp = l3 + 20;
  u8[icmp] = 11;
  u8[icmp + 1] = 0;
  for (let i = 2; i < 8; i++) u8[icmp + i] = 0;
  fillIcmpChecksum(u8, icmp, 8 + quote);
  // At least 14 + 28 + 20 bytes: never below the 60-byte Ethernet minimum.
  return l3 - off + total;
}

/** As timeExceededV4 for IPv6 (type 3 code 0, hop limit exceeded), from `routerIp6` (16 bytes). */
export function timeExceededV6(
  u8: Uint8Array,
  off: number,
  len: number,
  p: ParsedPacket,
  routerMac: Uint8Array,
  routerIp6: Uint8Array,
): number {
  const l3 = p.l3Offset;
  const ipLen = 40 + p.ipPayloadLen;
  const room = Math.max(len, MIN_ROOM) - (l3 - off);
  const quote = Math.min(ipLen, V6_MAX - 48, room - 48);
  u8.copyWithin(l3 + 48, l3, l3 + quote);
  turnAround(u8, off, routerMac);
  const q = l3 + 48;
  u8[l3] = 0x60;
  u8[l3 + 1] = 0;
  u8[l3 + 2] = 0;
  u8[l3 + 3] = 0;
  const plen = 8 + quote;
  u8[l3 + 4] = plen >>> 8;
  u8[l3 + 5] = plen;
  u8[l3 + 6] = 58;
  u8[l3 + 7] = 64;
  for (let i = 0; i < 16; i++) u8[l3 + 24 + i] = u8[q + 8 + i];
  u8.set(routerIp6, l3 + 8);
  const icmp = l3 + 40;
  u8[icmp] = 3;
  u8[icmp + 1] = 0;
  for (let i = 2; i < 8; i++) u8[icmp + i] = 0;
  fillL4ChecksumV6(u8, l3, icmp, plen, 58);
  return l3 - off + 40 + plen;
}

/** Destination MAC := the frame's source MAC; source MAC := `mac`. */
function turnAround(u8: Uint8Array, off: number, mac: Uint8Array): void {
  for (let i = 0; i < 6; i++) {
    u8[off + i] = u8[off + 6 + i];
    u8[off + 6 + i] = mac[i];
  }
}
