/**
 * ARP accessors for Ethernet/IPv4 (RFC 826). `o` is the start of the ARP packet (the L3 offset).
 * Layout: htype(2) ptype(2) hlen(1) plen(1) oper(2) sha(6) spa(4) tha(6) tpa(4) = 28 bytes.
 * MAC fields are read with the helpers in ethernet.ts at the ARP_SHA / ARP_THA offsets.
 */

import { ARP_HTYPE_ETHERNET, ETH_P_IPV4 } from './constants.js';

export const ARP_SHA = 8;
export const ARP_SPA = 14;
export const ARP_THA = 18;
export const ARP_TPA = 24;

function get32(u8: Uint8Array, o: number): number {
  return ((u8[o] << 24) | (u8[o + 1] << 16) | (u8[o + 2] << 8) | u8[o + 3]) >>> 0;
}

function put32(u8: Uint8Array, o: number, v: number): void {
  u8[o] = v >>> 24;
  u8[o + 1] = v >>> 16;
  u8[o + 2] = v >>> 8;
  u8[o + 3] = v;
}

export function arpHtype(u8: Uint8Array, o: number): number {
  return (u8[o] << 8) | u8[o + 1];
}

export function arpPtype(u8: Uint8Array, o: number): number {
  return (u8[o + 2] << 8) | u8[o + 3];
}

/** True when the header describes Ethernet hardware and IPv4 protocol addresses. */
export function arpIsEthIpv4(u8: Uint8Array, o: number): boolean {
  return arpHtype(u8, o) === ARP_HTYPE_ETHERNET && arpPtype(u8, o) === ETH_P_IPV4 && u8[o + 4] === 6 && u8[o + 5] === 4;
}

/** Operation: 1 request, 2 reply. */
export function arpOp(u8: Uint8Array, o: number): number {
  return (u8[o + 6] << 8) | u8[o + 7];
}

export function setArpOp(u8: Uint8Array, o: number, v: number): void {
  u8[o + 6] = v >>> 8;
  u8[o + 7] = v;
}

/** Sender protocol (IPv4) address, unsigned 32-bit. */
export function arpSenderIp(u8: Uint8Array, o: number): number {
  return get32(u8, o + ARP_SPA);
}

export function setArpSenderIp(u8: Uint8Array, o: number, v: number): void {
  put32(u8, o + ARP_SPA, v);
}

/** Target protocol (IPv4) address, unsigned 32-bit. */
export function arpTargetIp(u8: Uint8Array, o: number): number {
  return get32(u8, o + ARP_TPA);
}

export function setArpTargetIp(u8: Uint8Array, o: number, v: number): void {
  put32(u8, o + ARP_TPA, v);
}

/**
 * Turns a request into a reply in place (RFC 826 "swap fields"): the old sender becomes the
 * target, and `mac` (6 bytes at macOff) / `ip` become the sender. Ethernet MACs are not touched.
 */
export function arpMakeReply(u8: Uint8Array, o: number, mac: Uint8Array, macOff: number, ip: number): void {
  for (let i = 0; i < 10; i++) u8[o + ARP_THA + i] = u8[o + ARP_SHA + i];
  for (let i = 0; i < 6; i++) u8[o + ARP_SHA + i] = mac[macOff + i];
  put32(u8, o + ARP_SPA, ip);
  setArpOp(u8, o, 2);
}
