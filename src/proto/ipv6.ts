/**
 * IPv6 fixed header accessors (RFC 8200 §3) and extension header helpers (RFC 8200 §4).
 * `o` is the offset of the IPv6 header.
 *
 * IPv6 has no header checksum. Addresses are exposed as four unsigned 32-bit words
 * (index 0 = most significant) so they can be compared and hashed without allocation.
 * Changing an address alters the TCP/UDP/ICMPv6 pseudo-header (RFC 8200 §8.1): use
 * `tcpCsumReplace32` / `udpCsumReplace32` / `csumReplace32` per changed word.
 */

import { IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_MH, IPPROTO_ROUTING } from './constants.js';

function get32(u8: Uint8Array, o: number): number {
  return ((u8[o] << 24) | (u8[o + 1] << 16) | (u8[o + 2] << 8) | u8[o + 3]) >>> 0;
}

function put32(u8: Uint8Array, o: number, v: number): void {
  u8[o] = v >>> 24;
  u8[o + 1] = v >>> 16;
  u8[o + 2] = v >>> 8;
  u8[o + 3] = v;
}

export const IPV6_SRC = 8;
export const IPV6_DST = 24;

export function ipv6Version(u8: Uint8Array, o: number): number {
  return u8[o] >>> 4;
}

/** Traffic class (8 bits straddling bytes 0 and 1). */
export function ipv6TrafficClass(u8: Uint8Array, o: number): number {
  return ((u8[o] & 0x0f) << 4) | (u8[o + 1] >>> 4);
}

export function setIpv6TrafficClass(u8: Uint8Array, o: number, v: number): void {
  u8[o] = 0x60 | ((v >>> 4) & 0x0f);
  u8[o + 1] = (u8[o + 1] & 0x0f) | ((v & 0x0f) << 4);
}

/** 20-bit flow label (RFC 6437). */
export function ipv6FlowLabel(u8: Uint8Array, o: number): number {
  return ((u8[o + 1] & 0x0f) << 16) | (u8[o + 2] << 8) | u8[o + 3];
}

export function setIpv6FlowLabel(u8: Uint8Array, o: number, v: number): void {
  u8[o + 1] = (u8[o + 1] & 0xf0) | ((v >>> 16) & 0x0f);
  u8[o + 2] = v >>> 8;
  u8[o + 3] = v;
}

/** Payload length: bytes after the 40-byte fixed header, extension headers included. */
export function ipv6PayloadLen(u8: Uint8Array, o: number): number {
  return (u8[o + 4] << 8) | u8[o + 5];
}

export function setIpv6PayloadLen(u8: Uint8Array, o: number, v: number): void {
  u8[o + 4] = v >>> 8;
  u8[o + 5] = v;
}

export function ipv6NextHeader(u8: Uint8Array, o: number): number {
  return u8[o + 6];
}

export function setIpv6NextHeader(u8: Uint8Array, o: number, v: number): void {
  u8[o + 6] = v;
}

export function ipv6HopLimit(u8: Uint8Array, o: number): number {
  return u8[o + 7];
}

export function setIpv6HopLimit(u8: Uint8Array, o: number, v: number): void {
  u8[o + 7] = v;
}

/** Decrements the hop limit; returns the new value, or -1 (packet untouched) when already 0. */
export function decIpv6HopLimit(u8: Uint8Array, o: number): number {
  const h = u8[o + 7];
  if (h === 0) return -1;
  u8[o + 7] = h - 1;
  return h - 1;
}

/** Word `i` (0..3, 0 most significant) of the source address, unsigned. */
export function ipv6SrcWord(u8: Uint8Array, o: number, i: number): number {
  return get32(u8, o + IPV6_SRC + (i << 2));
}

/** Word `i` (0..3) of the destination address, unsigned. */
export function ipv6DstWord(u8: Uint8Array, o: number, i: number): number {
  return get32(u8, o + IPV6_DST + (i << 2));
}

export function setIpv6SrcWord(u8: Uint8Array, o: number, i: number, v: number): void {
  put32(u8, o + IPV6_SRC + (i << 2), v);
}

export function setIpv6DstWord(u8: Uint8Array, o: number, i: number, v: number): void {
  put32(u8, o + IPV6_DST + (i << 2), v);
}

/** Copies a 16-byte address between arbitrary offsets. */
export function copyIpv6Addr(src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number): void {
  for (let i = 0; i < 16; i++) dst[dstOff + i] = src[srcOff + i];
}

export function ipv6AddrEquals(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  for (let i = 0; i < 16; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

/**
 * True for next-header values the parser walks through as extension headers: hop-by-hop,
 * routing, fragment, destination options (RFC 8200 §4), AH (RFC 4302) and mobility (RFC 6275).
 * ESP is not included: what follows it is encrypted.
 */
export function isIpv6ExtHeader(nh: number): boolean {
  return (
    nh === IPPROTO_HOPOPTS ||
    nh === IPPROTO_ROUTING ||
    nh === IPPROTO_FRAGMENT ||
    nh === IPPROTO_DSTOPTS ||
    nh === IPPROTO_AH ||
    nh === IPPROTO_MH
  );
}

/**
 * Length in bytes of the extension header of type `nh` at `o`. The fragment header is always
 * 8 bytes (RFC 8200 §4.5), AH counts 4-octet units minus 2 (RFC 4302 §2.2), the others count
 * 8-octet units beyond the first 8 (RFC 8200 §4.3).
 */
export function ipv6ExtLen(u8: Uint8Array, o: number, nh: number): number {
  if (nh === IPPROTO_FRAGMENT) return 8;
  if (nh === IPPROTO_AH) return (u8[o + 1] + 2) << 2;
  return (u8[o + 1] + 1) << 3;
}

/** Fragment header (at `o`): offset in 8-octet units. */
export function ipv6FragOffset(u8: Uint8Array, o: number): number {
  return ((u8[o + 2] << 8) | u8[o + 3]) >>> 3;
}

/** Fragment header (at `o`): M flag, more fragments follow. */
export function ipv6FragMore(u8: Uint8Array, o: number): boolean {
  return (u8[o + 3] & 1) !== 0;
}

/** Fragment header (at `o`): identification. */
export function ipv6FragId(u8: Uint8Array, o: number): number {
  return get32(u8, o + 4);
}
