/**
 * ICMP (RFC 792) and ICMPv6 (RFC 4443) header accessors; both share the first 8 bytes:
 * type, code, checksum, then a 4-byte field that echo messages split into identifier and
 * sequence number. `o` is the offset of the ICMP header.
 *
 * ICMPv4's checksum covers only the message; ICMPv6's also covers the IPv6 pseudo-header
 * (RFC 4443 §2.3). Incremental updates work the same for both because the pseudo-header does
 * not change when only ICMP fields do.
 */

import { csumReplace16, csumReplace32 } from './checksum.js';

function get16(u8: Uint8Array, o: number): number {
  return (u8[o] << 8) | u8[o + 1];
}

function put16(u8: Uint8Array, o: number, v: number): void {
  u8[o] = v >>> 8;
  u8[o + 1] = v;
}

function replace16(u8: Uint8Array, o: number, at: number, nv: number): void {
  const old = get16(u8, o + at);
  put16(u8, o + at, nv);
  put16(u8, o + 2, csumReplace16(get16(u8, o + 2), old, nv & 0xffff));
}

export function icmpType(u8: Uint8Array, o: number): number {
  return u8[o];
}

export function icmpCode(u8: Uint8Array, o: number): number {
  return u8[o + 1];
}

export function setIcmpType(u8: Uint8Array, o: number, v: number): void {
  u8[o] = v;
}

export function setIcmpCode(u8: Uint8Array, o: number, v: number): void {
  u8[o + 1] = v;
}

/** Sets the type and patches the checksum (type and code form the first 16-bit word). */
export function setIcmpTypeCsum(u8: Uint8Array, o: number, v: number): void {
  replace16(u8, o, 0, ((v & 0xff) << 8) | u8[o + 1]);
}

export function setIcmpCodeCsum(u8: Uint8Array, o: number, v: number): void {
  replace16(u8, o, 0, (u8[o] << 8) | (v & 0xff));
}

export function icmpChecksum(u8: Uint8Array, o: number): number {
  return get16(u8, o + 2);
}

export function setIcmpChecksum(u8: Uint8Array, o: number, v: number): void {
  put16(u8, o + 2, v);
}

/** Echo identifier (RFC 792 echo / RFC 4443 §4). */
export function icmpEchoId(u8: Uint8Array, o: number): number {
  return get16(u8, o + 4);
}

export function icmpEchoSeq(u8: Uint8Array, o: number): number {
  return get16(u8, o + 6);
}

export function setIcmpEchoId(u8: Uint8Array, o: number, v: number): void {
  put16(u8, o + 4, v);
}

export function setIcmpEchoSeq(u8: Uint8Array, o: number, v: number): void {
  put16(u8, o + 6, v);
}

/** Sets the echo identifier and patches the checksum (ICMP query NAT, RFC 5508). */
export function setIcmpEchoIdCsum(u8: Uint8Array, o: number, v: number): void {
  replace16(u8, o, 4, v);
}

export function setIcmpEchoSeqCsum(u8: Uint8Array, o: number, v: number): void {
  replace16(u8, o, 6, v);
}

/** Patches the checksum for a 16-bit change outside the header fields above. */
export function icmpCsumReplace16(u8: Uint8Array, o: number, oldV: number, newV: number): void {
  put16(u8, o + 2, csumReplace16(get16(u8, o + 2), oldV, newV));
}

/** Patches an ICMPv6 checksum for a 32-bit pseudo-header change (an IPv6 address word). */
export function icmpCsumReplace32(u8: Uint8Array, o: number, oldV: number, newV: number): void {
  put16(u8, o + 2, csumReplace32(get16(u8, o + 2), oldV, newV));
}
