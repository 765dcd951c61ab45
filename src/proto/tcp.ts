/**
 * TCP header accessors (RFC 9293 §3.1). `o` is the offset of the TCP header.
 *
 * Setters named `...Csum` patch the TCP checksum incrementally (RFC 1624). The checksum also
 * covers the IP pseudo-header, so address rewrites call `tcpCsumReplace32` (or `...16`).
 */

import { csumReplace16, csumReplace32 } from './checksum.js';

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

function replace16(u8: Uint8Array, o: number, at: number, nv: number): void {
  const old = get16(u8, o + at);
  put16(u8, o + at, nv);
  put16(u8, o + 16, csumReplace16(get16(u8, o + 16), old, nv & 0xffff));
}

function replace32(u8: Uint8Array, o: number, at: number, nv: number): void {
  const old = get32(u8, o + at);
  put32(u8, o + at, nv);
  put16(u8, o + 16, csumReplace32(get16(u8, o + 16), old, nv >>> 0));
}

export function tcpSrcPort(u8: Uint8Array, o: number): number {
  return get16(u8, o);
}

export function tcpDstPort(u8: Uint8Array, o: number): number {
  return get16(u8, o + 2);
}

export function setTcpSrcPort(u8: Uint8Array, o: number, v: number): void {
  put16(u8, o, v);
}

export function setTcpDstPort(u8: Uint8Array, o: number, v: number): void {
  put16(u8, o + 2, v);
}

export function setTcpSrcPortCsum(u8: Uint8Array, o: number, v: number): void {
  replace16(u8, o, 0, v);
}

export function setTcpDstPortCsum(u8: Uint8Array, o: number, v: number): void {
  replace16(u8, o, 2, v);
}

export function tcpSeq(u8: Uint8Array, o: number): number {
  return get32(u8, o + 4);
}

export function tcpAck(u8: Uint8Array, o: number): number {
  return get32(u8, o + 8);
}

export function setTcpSeq(u8: Uint8Array, o: number, v: number): void {
  put32(u8, o + 4, v);
}

export function setTcpAck(u8: Uint8Array, o: number, v: number): void {
  put32(u8, o + 8, v);
}

export function setTcpSeqCsum(u8: Uint8Array, o: number, v: number): void {
  replace32(u8, o, 4, v);
}

export function setTcpAckCsum(u8: Uint8Array, o: number, v: number): void {
  replace32(u8, o, 8, v);
}

/** Header length in bytes (data offset × 4): 20 to 60. */
export function tcpHeaderLen(u8: Uint8Array, o: number): number {
  return (u8[o + 12] >>> 4) << 2;
}

/** The 8 flag bits CWR..FIN (byte 13); compare with the TCP_* constants. */
export function tcpFlags(u8: Uint8Array, o: number): number {
  return u8[o + 13];
}

/** True when every bit of `mask` is set. */
export function tcpHasFlags(u8: Uint8Array, o: number, mask: number): boolean {
  return (u8[o + 13] & mask) === mask;
}

export function setTcpFlags(u8: Uint8Array, o: number, v: number): void {
  u8[o + 13] = v;
}

/** Sets the flags; they share word 6 with the data offset, which is kept. */
export function setTcpFlagsCsum(u8: Uint8Array, o: number, v: number): void {
  replace16(u8, o, 12, (u8[o + 12] << 8) | (v & 0xff));
}

export function tcpWindow(u8: Uint8Array, o: number): number {
  return get16(u8, o + 14);
}

export function setTcpWindow(u8: Uint8Array, o: number, v: number): void {
  put16(u8, o + 14, v);
}

export function setTcpWindowCsum(u8: Uint8Array, o: number, v: number): void {
  replace16(u8, o, 14, v);
}

export function tcpChecksum(u8: Uint8Array, o: number): number {
  return get16(u8, o + 16);
}

export function setTcpChecksum(u8: Uint8Array, o: number, v: number): void {
  put16(u8, o + 16, v);
}

export function tcpUrgent(u8: Uint8Array, o: number): number {
  return get16(u8, o + 18);
}

export function setTcpUrgent(u8: Uint8Array, o: number, v: number): void {
  put16(u8, o + 18, v);
}

/** Patches the TCP checksum for a 16-bit change elsewhere (e.g. a pseudo-header length). */
export function tcpCsumReplace16(u8: Uint8Array, o: number, oldV: number, newV: number): void {
  put16(u8, o + 16, csumReplace16(get16(u8, o + 16), oldV, newV));
}

/** Patches the TCP checksum for a 32-bit pseudo-header change (an IPv4 address or v6 word). */
export function tcpCsumReplace32(u8: Uint8Array, o: number, oldV: number, newV: number): void {
  put16(u8, o + 16, csumReplace32(get16(u8, o + 16), oldV, newV));
}
