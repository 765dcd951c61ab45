/**
 * UDP header accessors (RFC 768). `o` is the offset of the UDP header.
 *
 * Setters named `...Csum` patch the checksum incrementally (RFC 1624) with two UDP rules:
 * a zero checksum means "not computed" over IPv4 and stays zero, and a computed zero is sent
 * as 0xffff (RFC 768). Both ones' complement zeros verify the same, so 0xffff is always safe.
 */

import { csumReplace16, csumReplace32 } from './checksum.js';

function get16(u8: Uint8Array, o: number): number {
  return (u8[o] << 8) | u8[o + 1];
}

function put16(u8: Uint8Array, o: number, v: number): void {
  u8[o] = v >>> 8;
  u8[o + 1] = v;
}

function storeCsum(u8: Uint8Array, o: number, c: number): void {
  put16(u8, o + 6, c === 0 ? 0xffff : c);
}

function replace16(u8: Uint8Array, o: number, at: number, nv: number): void {
  const old = get16(u8, o + at);
  put16(u8, o + at, nv);
  const c = get16(u8, o + 6);
  if (c !== 0) storeCsum(u8, o, csumReplace16(c, old, nv & 0xffff));
}

export function udpSrcPort(u8: Uint8Array, o: number): number {
  return get16(u8, o);
}

export function udpDstPort(u8: Uint8Array, o: number): number {
  return get16(u8, o + 2);
}

export function setUdpSrcPort(u8: Uint8Array, o: number, v: number): void {
  put16(u8, o, v);
}

export function setUdpDstPort(u8: Uint8Array, o: number, v: number): void {
  put16(u8, o + 2, v);
}

export function setUdpSrcPortCsum(u8: Uint8Array, o: number, v: number): void {
  replace16(u8, o, 0, v);
}

export function setUdpDstPortCsum(u8: Uint8Array, o: number, v: number): void {
  replace16(u8, o, 2, v);
}

/** Length of header + data (RFC 768); at least 8. */
export function udpLength(u8: Uint8Array, o: number): number {
  return get16(u8, o + 4);
}

export function setUdpLength(u8: Uint8Array, o: number, v: number): void {
  put16(u8, o + 4, v);
}

/**
 * Sets the UDP length, patching the checksum for both places the length is summed: the header
 * field and the pseudo-header length (RFC 768), so the checksum changes by twice the delta.
 */
export function setUdpLengthCsum(u8: Uint8Array, o: number, v: number): void {
  const old = get16(u8, o + 4);
  replace16(u8, o, 4, v);
  udpCsumReplace16(u8, o, old, v);
}

export function udpChecksum(u8: Uint8Array, o: number): number {
  return get16(u8, o + 6);
}

export function setUdpChecksum(u8: Uint8Array, o: number, v: number): void {
  put16(u8, o + 6, v);
}

/** Patches the UDP checksum for a 16-bit pseudo-header change; leaves a zero checksum alone. */
export function udpCsumReplace16(u8: Uint8Array, o: number, oldV: number, newV: number): void {
  const c = get16(u8, o + 6);
  if (c !== 0) storeCsum(u8, o, csumReplace16(c, oldV, newV));
}

/** Patches the UDP checksum for a 32-bit pseudo-header change (an IPv4 address or v6 word). */
export function udpCsumReplace32(u8: Uint8Array, o: number, oldV: number, newV: number): void {
  const c = get16(u8, o + 6);
  if (c !== 0) storeCsum(u8, o, csumReplace32(c, oldV, newV));
}
