/**
 * Zero-allocation packet parser for the hot path.
 *
 * `parsePacket` fills a caller-owned `ParsedPacket` (allocate one per worker and reuse it),
 * so parsing a packet allocates nothing and never throws: every read is bounds-checked first
 * and malformed input ends with `ok = false` and an `error` code. Fields parsed before the
 * error keep their values (handy for counters); the rest are zero.
 *
 * All offsets in the result are absolute indices into the same `u8`, not relative to `off`.
 */

import {
  ETH_P_ARP,
  ETH_P_IPV4,
  ETH_P_IPV6,
  IPPROTO_AH,
  IPPROTO_FRAGMENT,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from './constants.js';
import { isIpv6ExtHeader } from './ipv6.js';
import { isVlanTpid } from './vlan.js';

// --- Error codes ---------------------------------------------------------------------------

export const PARSE_OK = 0;
/** Frame shorter than the Ethernet header or cut inside a VLAN tag. */
export const ERR_TRUNCATED_L2 = 1;
/** Frame ends inside the IPv4/IPv6/ARP header. */
export const ERR_TRUNCATED_L3 = 2;
/** The IP version nibble does not match the EtherType. */
export const ERR_BAD_IP_VERSION = 3;
/** IPv4 IHL below 5 (RFC 791). */
export const ERR_BAD_IHL = 4;
/** IPv4 total length smaller than its own header. */
export const ERR_BAD_TOTAL_LEN = 5;
/** IP length field claims more bytes than the frame holds. */
export const ERR_TRUNCATED_IP = 6;
/** An IPv6 extension header (or AH) runs past the end of the IP packet. */
export const ERR_TRUNCATED_EXT = 7;
/** TCP/UDP/SCTP/ICMP header does not fit in the IP payload. */
export const ERR_TRUNCATED_L4 = 8;
/** TCP data offset below 5 or beyond the segment (RFC 9293 §3.1). */
export const ERR_BAD_TCP_OFFSET = 9;
/** UDP length below 8 or beyond the IP payload (RFC 768). */
export const ERR_BAD_UDP_LEN = 10;

/** Result of {@link parsePacket}. All fields are numbers/booleans so the shape stays fixed. */
export class ParsedPacket {
  ok = false;
  error = 0;
  /** Number of VLAN tags (802.1Q/802.1ad) and the VID of the outermost one (0 if none). */
  vlanCount = 0;
  vlanId = 0;
  /** EtherType after all VLAN tags. */
  etherType = 0;
  l3Offset = 0;
  /** 4, 6, or 0 for non-IP frames. */
  ipVersion = 0;
  /** IPv4 header with options, or 40 + IPv6 extension headers (+ AH): where L4 starts. */
  l3HeaderLen = 0;
  /** Bytes after the fixed IP header per its length field (IPv4: total - IHL×4). */
  ipPayloadLen = 0;
  /** IPv4 TTL or IPv6 hop limit. */
  ttl = 0;
  /** Upper-layer protocol after extension headers (or the fragment's protocol). */
  l4Proto = 0;
  l4Offset = 0;
  /** L4 bytes (header + data) in this packet per the IP lengths; excludes Ethernet padding. */
  l4Len = 0;
  /** Part of a fragmented datagram (first or not). */
  fragment = false;
  /** Fragment offset in 8-octet units; non-zero means no L4 header (and no ports). */
  fragOffset = 0;
  /** TCP/UDP/SCTP ports; 0 when absent. */
  srcPort = 0;
  dstPort = 0;
  tcpFlags = 0;
  /** Where the L4 payload starts and its length (UDP: per its length field). */
  payloadOffset = 0;
  payloadLen = 0;

  reset(): void {
    this.ok = false;
    this.error = 0;
    this.vlanCount = 0;
    this.vlanId = 0;
    this.etherType = 0;
    this.l3Offset = 0;
    this.ipVersion = 0;
    this.l3HeaderLen = 0;
    this.ipPayloadLen = 0;
    this.ttl = 0;
    this.l4Proto = 0;
    this.l4Offset = 0;
    this.l4Len = 0;
    this.fragment = false;
    this.fragOffset = 0;
    this.srcPort = 0;
    this.dstPort = 0;
    this.tcpFlags = 0;
    this.payloadOffset = 0;
    this.payloadLen = 0;
  }
}

function fail(p: ParsedPacket, code: number): boolean {
  p.error = code;
  return false;
}

function be16(u8: Uint8Array, o: number): number {
  return (u8[o] << 8) | u8[o + 1];
}

/**
 * Parses the Ethernet frame at u8[off, off+len) into `p`. Returns `p.ok`. Lengths beyond the
 * buffer are clamped to it. Non-IP frames parse ok with ipVersion 0 (ARP is length-checked).
 */
export function parsePacket(u8: Uint8Array, off: number, len: number, p: ParsedPacket): boolean {
  p.reset();
  if (len > u8.length - off) len = u8.length - off;
  if (off < 0 || len < 14) return fail(p, ERR_TRUNCATED_L2);
  const end = off + len;
  let o = off + 12;
  let et = be16(u8, o);
  while (isVlanTpid(et)) {
    if (o + 6 > end) return fail(p, ERR_TRUNCATED_L2);
    if (p.vlanCount === 0) p.vlanId = ((u8[o + 2] & 0x0f) << 8) | u8[o + 3];
    p.vlanCount++;
    o += 4;
    et = be16(u8, o);
  }
  const l3 = o + 2;
  p.etherType = et;
  p.l3Offset = l3;
  if (et === ETH_P_IPV4) return parseIpv4(u8, l3, end, p);
  if (et === ETH_P_IPV6) return parseIpv6(u8, l3, end, p);
  if (et === ETH_P_ARP) {
    // RFC 826: 8 fixed bytes, then sender and target hardware + protocol addresses.
    if (l3 + 8 > end || l3 + 8 + 2 * (u8[l3 + 4] + u8[l3 + 5]) > end) {
      return fail(p, ERR_TRUNCATED_L3);
    }
  }
  p.ok = true;
  return true;
}

function parseIpv4(u8: Uint8Array, l3: number, end: number, p: ParsedPacket): boolean {
  if (l3 + 20 > end) return fail(p, ERR_TRUNCATED_L3);
  const vihl = u8[l3];
  if (vihl >>> 4 !== 4) return fail(p, ERR_BAD_IP_VERSION);
  const ihl = (vihl & 0x0f) << 2;
  if (ihl < 20) return fail(p, ERR_BAD_IHL);
  if (l3 + ihl > end) return fail(p, ERR_TRUNCATED_L3);
  const total = be16(u8, l3 + 2);
  if (total < ihl) return fail(p, ERR_BAD_TOTAL_LEN);
  // Frames may carry Ethernet padding past the IP packet, but never fewer bytes than it.
  if (l3 + total > end) return fail(p, ERR_TRUNCATED_IP);
  p.ipVersion = 4;
  p.ttl = u8[l3 + 8];
  p.ipPayloadLen = total - ihl;
  // RFC 791: MF flag or a non-zero offset marks a fragment; only offset 0 carries L4 headers.
  const ff = be16(u8, l3 + 6);
  const fragOff = ff & 0x1fff;
  p.fragment = (ff & 0x3fff) !== 0;
  p.fragOffset = fragOff;
  let proto = u8[l3 + 9];
  let l4 = l3 + ihl;
  const ipEnd = l3 + total;
  if (proto === IPPROTO_AH && fragOff === 0) {
    // RFC 4302 §2.2: AH length is in 4-octet units minus 2; skip it to reach the transport.
    if (l4 + 8 > ipEnd) return fail(p, ERR_TRUNCATED_EXT);
    const ahLen = (u8[l4 + 1] + 2) << 2;
    if (l4 + ahLen > ipEnd) return fail(p, ERR_TRUNCATED_EXT);
    proto = u8[l4];
    l4 += ahLen;
  }
  p.l3HeaderLen = l4 - l3;
  return parseL4(u8, p, proto, l4, ipEnd, fragOff !== 0);
}

function parseIpv6(u8: Uint8Array, l3: number, end: number, p: ParsedPacket): boolean {
  if (l3 + 40 > end) return fail(p, ERR_TRUNCATED_L3);
  if (u8[l3] >>> 4 !== 6) return fail(p, ERR_BAD_IP_VERSION);
  const plen = be16(u8, l3 + 4);
  // A zero payload length with a jumbo option (RFC 2675) is not supported: it reads as empty.
  if (l3 + 40 + plen > end) return fail(p, ERR_TRUNCATED_IP);
  p.ipVersion = 6;
  p.ttl = u8[l3 + 7];
  p.ipPayloadLen = plen;
  const ipEnd = l3 + 40 + plen;
  let nh = u8[l3 + 6];
  let o = l3 + 40;
  let nonFirst = false;
  // RFC 8200 §4: walk the chain; each header is >= 8 bytes, so the loop ends within ipEnd.
  while (isIpv6ExtHeader(nh)) {
    if (o + 8 > ipEnd) return fail(p, ERR_TRUNCATED_EXT);
    let hl: number;
    if (nh === IPPROTO_FRAGMENT) {
      // RFC 8200 §4.5: offset (13 bits) << 3 | M. Offset 0 with M clear is an atomic fragment
      // (RFC 6946), which is processed as a whole packet, so it is not flagged.
      const fo = be16(u8, o + 2);
      p.fragOffset = fo >>> 3;
      p.fragment = (fo & 0xfff9) !== 0;
      if (p.fragOffset !== 0) {
        nh = u8[o];
        o += 8;
        nonFirst = true;
        break;
      }
      hl = 8;
    } else if (nh === IPPROTO_AH) {
      hl = (u8[o + 1] + 2) << 2;
    } else {
      hl = (u8[o + 1] + 1) << 3;
    }
    if (o + hl > ipEnd) return fail(p, ERR_TRUNCATED_EXT);
    nh = u8[o];
    o += hl;
  }
  p.l3HeaderLen = o - l3;
  return parseL4(u8, p, nh, o, ipEnd, nonFirst);
}

function parseL4(u8: Uint8Array, p: ParsedPacket, proto: number, l4: number, ipEnd: number, nonFirst: boolean): boolean {
  const l4Len = ipEnd - l4;
  p.l4Proto = proto;
  p.l4Offset = l4;
  p.l4Len = l4Len;
  p.payloadOffset = l4;
  p.payloadLen = l4Len;
  if (nonFirst) {
    // A non-first fragment holds a slice of the datagram: there is no L4 header to read.
    p.ok = true;
    return true;
  }
  if (proto === IPPROTO_TCP) {
    if (l4Len < 20) return fail(p, ERR_TRUNCATED_L4);
    const doff = (u8[l4 + 12] >>> 4) << 2;
    if (doff < 20 || doff > l4Len) return fail(p, ERR_BAD_TCP_OFFSET);
    p.srcPort = be16(u8, l4);
    p.dstPort = be16(u8, l4 + 2);
    p.tcpFlags = u8[l4 + 13];
    p.payloadOffset = l4 + doff;
    p.payloadLen = l4Len - doff;
  } else if (proto === IPPROTO_UDP) {
    if (l4Len < 8) return fail(p, ERR_TRUNCATED_L4);
    const ulen = be16(u8, l4 + 4);
    // A first fragment holds only part of the datagram the UDP length describes.
    if (!p.fragment && (ulen < 8 || ulen > l4Len)) return fail(p, ERR_BAD_UDP_LEN);
    p.srcPort = be16(u8, l4);
    p.dstPort = be16(u8, l4 + 2);
    p.payloadOffset = l4 + 8;
    p.payloadLen = (p.fragment ? l4Len : ulen) - 8;
  } else if (proto === IPPROTO_SCTP) {
    // RFC 9260 §3.1: ports then verification tag and checksum, 12 bytes.
    if (l4Len < 12) return fail(p, ERR_TRUNCATED_L4);
    p.srcPort = be16(u8, l4);
    p.dstPort = be16(u8, l4 + 2);
    p.payloadOffset = l4 + 12;
    p.payloadLen = l4Len - 12;
  } else if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
    if (l4Len < 8) return fail(p, ERR_TRUNCATED_L4);
    p.payloadOffset = l4 + 8;
    p.payloadLen = l4Len - 8;
  }
  p.ok = true;
  return true;
}

/** Reusable parser owning its result object; `parse` returns that same object every time. */
export class PacketParser {
  readonly result = new ParsedPacket();

  parse(u8: Uint8Array, off: number, len: number): ParsedPacket {
    parsePacket(u8, off, len, this.result);
    return this.result;
  }
}

// --- 5-tuple address words -----------------------------------------------------------------

/**
 * Word `i` of the source address: IPv4 has one word (i = 0; other indices give 0), IPv6 four
 * (0 most significant). Unsigned 32-bit. `l3` is the IP header offset.
 */
export function srcAddrWord(u8: Uint8Array, l3: number, ipVersion: number, i: number): number {
  if (ipVersion === 4) return i === 0 ? readWord(u8, l3 + 12) : 0;
  return readWord(u8, l3 + 8 + (i << 2));
}

/** Word `i` of the destination address, as {@link srcAddrWord}. */
export function dstAddrWord(u8: Uint8Array, l3: number, ipVersion: number, i: number): number {
  if (ipVersion === 4) return i === 0 ? readWord(u8, l3 + 16) : 0;
  return readWord(u8, l3 + 24 + (i << 2));
}

/** Number of 32-bit words in an address of this IP version (1 or 4; 0 for non-IP). */
export function addrWordCount(ipVersion: number): number {
  return ipVersion === 4 ? 1 : ipVersion === 6 ? 4 : 0;
}

function readWord(u8: Uint8Array, o: number): number {
  return ((u8[o] << 24) | (u8[o + 1] << 16) | (u8[o + 2] << 8) | u8[o + 3]) >>> 0;
}
