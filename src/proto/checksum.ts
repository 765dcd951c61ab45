/**
 * Internet checksum (RFC 1071) and incremental updates (RFC 1624).
 *
 * All functions are allocation-free and work on raw bytes. Sums are kept as plain JS numbers:
 * a byte-range sum over a 64 KiB packet stays far below 2^53, so no intermediate overflow is
 * possible and folding happens once at the end.
 */

import { IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from './constants.js';

/**
 * Folds a (possibly large) non-negative sum into 16 bits with end-around carry, giving the
 * ones' complement sum (RFC 1071 §2(C)). Not complemented.
 */
export function csumFold(sum: number): number {
  // Sums of huge ranges may exceed 2^32, where `>>>` would wrap; divide instead.
  while (sum > 0xffffffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * Ones' complement sum of the 16-bit big-endian words in u8[off, off+len), plus `initial`.
 * An odd trailing byte is padded with a zero low byte (RFC 1071 §4.1). Returns the folded,
 * uncomplemented 16-bit sum so partial sums can be added together (RFC 1071 §2(B)); ranges
 * combined this way must each start at an even distance from the start of the checksummed data.
 */
export function onesSum(u8: Uint8Array, off: number, len: number, initial: number): number {
  // Summing high bytes and low bytes separately halves the shift/or work per word; the two
  // accumulators are recombined once (hi * 256 + lo), which is the same sum of words.
  let hi = 0;
  let lo = 0;
  let i = off;
  const end = off + len;
  const end8 = end - 7;
  for (; i < end8; i += 8) {
    hi += u8[i] + u8[i + 2] + u8[i + 4] + u8[i + 6];
    lo += u8[i + 1] + u8[i + 3] + u8[i + 5] + u8[i + 7];
  }
  for (; i < end - 1; i += 2) {
    hi += u8[i];
    lo += u8[i + 1];
  }
  if (i < end) hi += u8[i];
  return csumFold(hi * 256 + lo + initial);
}

/** RFC 1071 checksum of a byte range: complement of the ones' complement sum. */
export function internetChecksum(u8: Uint8Array, off: number, len: number): number {
  return ~onesSum(u8, off, len, 0) & 0xffff;
}

/**
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). Updates checksum `oldCsum` after one 16-bit word of
 * the covered data changed from `oldWord` to `newWord`, without touching the rest of the data.
 */
export function csumReplace16(oldCsum: number, oldWord: number, newWord: number): number {
  let s = (~oldCsum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** RFC 1624 update for a 32-bit field (e.g. an IPv4 address or TCP sequence number). */
export function csumReplace32(oldCsum: number, oldValue: number, newValue: number): number {
  let s = (~oldCsum & 0xffff) + (~(oldValue >>> 16) & 0xffff) + (~oldValue & 0xffff) + ((newValue >>> 16) & 0xffff) + (newValue & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

// --- IPv4 header (RFC 791 §3.1) -----------------------------------------------------------

/** Header checksum of the IPv4 header at `o`, computed as if its checksum field were zero. */
export function computeIpv4HeaderChecksum(u8: Uint8Array, o: number): number {
  const hl = (u8[o] & 0x0f) << 2;
  // Skip the checksum word (bytes 10..11) rather than zeroing it, so the packet is not written.
  const s = onesSum(u8, o + 12, hl - 12, onesSum(u8, o, 10, 0));
  return ~s & 0xffff;
}

/** Computes and stores the IPv4 header checksum. */
export function fillIpv4HeaderChecksum(u8: Uint8Array, o: number): void {
  const c = computeIpv4HeaderChecksum(u8, o);
  u8[o + 10] = c >>> 8;
  u8[o + 11] = c & 0xff;
}

/** True when the header (checksum included) sums to 0xffff, i.e. the checksum is correct. */
export function verifyIpv4HeaderChecksum(u8: Uint8Array, o: number): boolean {
  const hl = (u8[o] & 0x0f) << 2;
  return onesSum(u8, o, hl, 0) === 0xffff;
}

// --- Pseudo-headers ------------------------------------------------------------------------

/**
 * Sum of the IPv4 pseudo-header (RFC 9293 §3.1, RFC 768): src, dst, zero+protocol, L4 length.
 * `l3` is the offset of the IPv4 header.
 */
export function ipv4PseudoSum(u8: Uint8Array, l3: number, proto: number, l4Len: number): number {
  return onesSum(u8, l3 + 12, 8, proto + l4Len);
}

/**
 * Sum of the IPv6 pseudo-header (RFC 8200 §8.1): src, dst, 32-bit upper-layer length, 24 zero
 * bits and next header. Uses the destination in the fixed header; with a routing header the
 * final destination would be needed instead, which callers must handle themselves.
 */
export function ipv6PseudoSum(u8: Uint8Array, l3: number, proto: number, l4Len: number): number {
  return onesSum(u8, l3 + 8, 32, proto + (l4Len >>> 16) + (l4Len & 0xffff));
}

/**
 * Offset of the checksum field inside the L4 header for protocols that carry one over a
 * pseudo-header: TCP (RFC 9293) 16, UDP (RFC 768) 6, ICMPv6 (RFC 4443) 2; otherwise -1.
 */
export function l4CsumFieldOffset(proto: number): number {
  if (proto === IPPROTO_TCP) return 16;
  if (proto === IPPROTO_UDP) return 6;
  if (proto === IPPROTO_ICMPV6) return 2;
  return -1;
}

/** Checksum over pseudo-sum + L4 bytes with the checksum field treated as zero. */
function l4Csum(u8: Uint8Array, l4: number, l4Len: number, proto: number, pseudo: number): number {
  const f = l4CsumFieldOffset(proto);
  const s = onesSum(u8, l4 + f + 2, l4Len - f - 2, onesSum(u8, l4, f, pseudo));
  const c = ~s & 0xffff;
  // RFC 768: a computed zero UDP checksum is transmitted as all ones, because zero means
  // "no checksum" (IPv4) or is invalid (IPv6, RFC 8200 §8.1).
  return c === 0 && proto === IPPROTO_UDP ? 0xffff : c;
}

/**
 * TCP/UDP/ICMPv6 checksum for an L4 segment at `l4` of `l4Len` bytes carried in the IPv4
 * header at `l3`. `proto` must be TCP, UDP or ICMPv6.
 */
export function computeL4ChecksumV4(u8: Uint8Array, l3: number, l4: number, l4Len: number, proto: number): number {
  return l4Csum(u8, l4, l4Len, proto, ipv4PseudoSum(u8, l3, proto, l4Len));
}

/** As {@link computeL4ChecksumV4} for an IPv6 packet whose fixed header is at `l3`. */
export function computeL4ChecksumV6(u8: Uint8Array, l3: number, l4: number, l4Len: number, proto: number): number {
  return l4Csum(u8, l4, l4Len, proto, ipv6PseudoSum(u8, l3, proto, l4Len));
}

function storeL4(u8: Uint8Array, l4: number, proto: number, c: number): void {
  const p = l4 + l4CsumFieldOffset(proto);
  u8[p] = c >>> 8;
  u8[p + 1] = c & 0xff;
}

/** Computes and stores the TCP/UDP/ICMPv6 checksum over an IPv4 pseudo-header. */
export function fillL4ChecksumV4(u8: Uint8Array, l3: number, l4: number, l4Len: number, proto: number): void {
  storeL4(u8, l4, proto, computeL4ChecksumV4(u8, l3, l4, l4Len, proto));
}

/** Computes and stores the TCP/UDP/ICMPv6 checksum over an IPv6 pseudo-header. */
export function fillL4ChecksumV6(u8: Uint8Array, l3: number, l4: number, l4Len: number, proto: number): void {
  storeL4(u8, l4, proto, computeL4ChecksumV6(u8, l3, l4, l4Len, proto));
}

/**
 * Verifies the L4 checksum of a segment in an IPv4 packet. A UDP checksum of zero means the
 * sender computed none (RFC 768) and is accepted.
 */
export function verifyL4ChecksumV4(u8: Uint8Array, l3: number, l4: number, l4Len: number, proto: number): boolean {
  if (proto === IPPROTO_UDP && u8[l4 + 6] === 0 && u8[l4 + 7] === 0) return true;
  return onesSum(u8, l4, l4Len, ipv4PseudoSum(u8, l3, proto, l4Len)) === 0xffff;
}

/**
 * Verifies the L4 checksum of a segment in an IPv6 packet. UDP checksum zero is invalid over
 * IPv6 (RFC 8200 §8.1) and so rejected.
 */
export function verifyL4ChecksumV6(u8: Uint8Array, l3: number, l4: number, l4Len: number, proto: number): boolean {
  if (proto === IPPROTO_UDP && u8[l4 + 6] === 0 && u8[l4 + 7] === 0) return false;
  return onesSum(u8, l4, l4Len, ipv6PseudoSum(u8, l3, proto, l4Len)) === 0xffff;
}

// --- ICMP for IPv4 (RFC 792: checksum over the ICMP message only, no pseudo-header) --------

/** ICMP checksum of the message at `o` of `len` bytes, checksum field treated as zero. */
export function computeIcmpChecksum(u8: Uint8Array, o: number, len: number): number {
  return ~onesSum(u8, o + 4, len - 4, onesSum(u8, o, 2, 0)) & 0xffff;
}

export function fillIcmpChecksum(u8: Uint8Array, o: number, len: number): void {
  const c = computeIcmpChecksum(u8, o, len);
  u8[o + 2] = c >>> 8;
  u8[o + 3] = c & 0xff;
}

export function verifyIcmpChecksum(u8: Uint8Array, o: number, len: number): boolean {
  return onesSum(u8, o, len, 0) === 0xffff;
}
