/**
 * IPv4 header accessors (RFC 791 §3.1). `o` is the offset of the IPv4 header.
 *
 * Setters named `...Csum` also patch the header checksum incrementally (RFC 1624) instead of
 * re-summing the header. Address changes also alter the TCP/UDP pseudo-header (RFC 9293 §3.1,
 * RFC 768): after `setIpv4SrcCsum` a NAT must also call `tcpCsumReplace32` / `udpCsumReplace32`
 * with the old and new address.
 */

import { csumReplace16, csumReplace32 } from './checksum.js';
import { IPV4_FLAG_DF, IPV4_FLAG_MF, IPV4_FRAG_OFFSET_MASK } from './constants.js';

function get16(u8: Uint8Array, o: number): number {
  return (u8[o] << 8) | u8[o + 1];
}

function put16(u8: Uint8Array, o: number, v: number): void {
  u8[o] = v >>> 8;
  u8[o + 1] = v;
}

function get32(u8: Uint8Array, o: number): number {
  return ((u8[o] << 24) | (u8[o + 1] << 16) | (u8[o + 2] << 8) | u8[o + 3]) >>> 0;
}

function put32(u8: Uint8Array, o: number, v: number): void {
  u8[o] = v >>> 24;
  u8[o + 1] = v >>> 16;
  u8[o + 2] = v >>> 8;
  u8[o + 3] = v;
}

/** Replaces the 16-bit word at header byte `w` and patches the header checksum. */
function replaceWord(u8: Uint8Array, o: number, w: number, nv: number): void {
  const old = get16(u8, o + w);
  put16(u8, o + w, nv);
  put16(u8, o + 10, csumReplace16(get16(u8, o + 10), old, nv & 0xffff));
}

export function ipv4Version(u8: Uint8Array, o: number): number {
  return u8[o] >>> 4;
}

/** Header length in bytes (IHL × 4); 20 without options, at most 60. */
export function ipv4HeaderLen(u8: Uint8Array, o: number): number {
  return (u8[o] & 0x0f) << 2;
}

export function ipv4Tos(u8: Uint8Array, o: number): number {
  return u8[o + 1];
}

/** Differentiated services code point: the upper 6 bits of the old TOS byte (RFC 2474). */
export function ipv4Dscp(u8: Uint8Array, o: number): number {
  return u8[o + 1] >>> 2;
}

/** ECN field: the low 2 bits of the TOS byte (RFC 3168). */
export function ipv4Ecn(u8: Uint8Array, o: number): number {
  return u8[o + 1] & 3;
}

export function setIpv4Tos(u8: Uint8Array, o: number, v: number): void {
  u8[o + 1] = v;
}

export function setIpv4TosCsum(u8: Uint8Array, o: number, v: number): void {
  replaceWord(u8, o, 0, (u8[o] << 8) | (v & 0xff));
}

export function ipv4TotalLen(u8: Uint8Array, o: number): number {
  return get16(u8, o + 2);
}

export function setIpv4TotalLen(u8: Uint8Array, o: number, v: number): void {
  put16(u8, o + 2, v);
}

export function setIpv4TotalLenCsum(u8: Uint8Array, o: number, v: number): void {
  replaceWord(u8, o, 2, v);
}

export function ipv4Id(u8: Uint8Array, o: number): number {
  return get16(u8, o + 4);
}

export function setIpv4Id(u8: Uint8Array, o: number, v: number): void {
  put16(u8, o + 4, v);
}

export function setIpv4IdCsum(u8: Uint8Array, o: number, v: number): void {
  replaceWord(u8, o, 4, v);
}

/** Raw flags + fragment offset word. */
export function ipv4FlagsFrag(u8: Uint8Array, o: number): number {
  return get16(u8, o + 6);
}

export function setIpv4FlagsFrag(u8: Uint8Array, o: number, v: number): void {
  put16(u8, o + 6, v);
}

export function setIpv4FlagsFragCsum(u8: Uint8Array, o: number, v: number): void {
  replaceWord(u8, o, 6, v);
}

/** Fragment offset in 8-octet units. */
export function ipv4FragOffset(u8: Uint8Array, o: number): number {
  return get16(u8, o + 6) & IPV4_FRAG_OFFSET_MASK;
}

export function ipv4DontFragment(u8: Uint8Array, o: number): boolean {
  return (u8[o + 6] & (IPV4_FLAG_DF >>> 8)) !== 0;
}

export function ipv4MoreFragments(u8: Uint8Array, o: number): boolean {
  return (u8[o + 6] & (IPV4_FLAG_MF >>> 8)) !== 0;
}

/** Any fragment, first or not: MF set or a non-zero offset. */
export function ipv4IsFragment(u8: Uint8Array, o: number): boolean {
  return (get16(u8, o + 6) & (IPV4_FLAG_MF | IPV4_FRAG_OFFSET_MASK)) !== 0;
}

export function ipv4Ttl(u8: Uint8Array, o: number): number {
  return u8[o + 8];
}

export function setIpv4Ttl(u8: Uint8Array, o: number, v: number): void {
  u8[o + 8] = v;
}

export function setIpv4TtlCsum(u8: Uint8Array, o: number, v: number): void {
  replaceWord(u8, o, 8, ((v & 0xff) << 8) | u8[o + 9]);
}

/**
 * Decrements the TTL and patches the checksum, as a forwarding router does (RFC 1812 §5.3.1).
 * Returns the new TTL, or -1 without touching the packet when the TTL is already 0. A result
 * of 0 means the packet must not be forwarded.
 */
export function decIpv4Ttl(u8: Uint8Array, o: number): number {
  const t = u8[o + 8];
  if (t === 0) return -1;
  // TTL is the high byte of word 4: lowering it by one lowers the word by 0x100.
  const w = (t << 8) | u8[o + 9];
  u8[o + 8] = t - 1;
  put16(u8, o + 10, csumReplace16(get16(u8, o + 10), w, w - 0x100));
  return t - 1;
}

export function ipv4Proto(u8: Uint8Array, o: number): number {
  return u8[o + 9];
}

export function setIpv4Proto(u8: Uint8Array, o: number, v: number): void {
  u8[o + 9] = v;
}

export function ipv4Checksum(u8: Uint8Array, o: number): number {
  return get16(u8, o + 10);
}

export function setIpv4Checksum(u8: Uint8Array, o: number, v: number): void {
  put16(u8, o + 10, v);
}

/** Source address as an unsigned 32-bit number. */
export function ipv4Src(u8: Uint8Array, o: number): number {
  return get32(u8, o + 12);
}

/** Destination address as an unsigned 32-bit number. */
export function ipv4Dst(u8: Uint8Array, o: number): number {
  return get32(u8, o + 16);
}

export function setIpv4Src(u8: Uint8Array, o: number, v: number): void {
  put32(u8, o + 12, v);
}

export function setIpv4Dst(u8: Uint8Array, o: number, v: number): void {
  put32(u8, o + 16, v);
}

/** Sets the source address and patches the header checksum (not the L4 one, see above). */
export function setIpv4SrcCsum(u8: Uint8Array, o: number, v: number): void {
  const old = get32(u8, o + 12);
  put32(u8, o + 12, v);
  put16(u8, o + 10, csumReplace32(get16(u8, o + 10), old, v >>> 0));
}

/** Sets the destination address and patches the header checksum (not the L4 one). */
export function setIpv4DstCsum(u8: Uint8Array, o: number, v: number): void {
  const old = get32(u8, o + 16);
  put32(u8, o + 16, v);
  put16(u8, o + 10, csumReplace32(get16(u8, o + 10), old, v >>> 0));
}
