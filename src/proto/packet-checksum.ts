/**
 * Checksum verification and recomputation for a packet already parsed by `parsePacket`:
 * the IPv4 header checksum (RFC 791) and the TCP/UDP/ICMP/ICMPv6 checksums (RFC 9293, 768,
 * 792, 4443) over their pseudo-headers. Allocation-free.
 */

import {
  computeIcmpChecksum,
  computeIpv4HeaderChecksum,
  fillL4ChecksumV4,
  fillL4ChecksumV6,
  verifyIcmpChecksum,
  verifyIpv4HeaderChecksum,
  verifyL4ChecksumV4,
  verifyL4ChecksumV6,
} from './checksum.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from './constants.js';
import type { ParsedPacket } from './parse.js';

function hasL4Csum(p: ParsedPacket): boolean {
  const q = p.l4Proto;
  return (
    p.ok &&
    !p.fragment &&
    (q === IPPROTO_TCP || q === IPPROTO_UDP || (q === IPPROTO_ICMPV6 && p.ipVersion === 6) || (q === IPPROTO_ICMP && p.ipVersion === 4))
  );
}

/**
 * Verifies the IPv4 header checksum and, for unfragmented TCP/UDP/ICMP/ICMPv6, the L4
 * checksum. Returns true for packets with nothing to verify.
 */
export function verifyPacketChecksums(u8: Uint8Array, p: ParsedPacket): boolean {
  if (!p.ok) return false;
  if (p.ipVersion === 4 && !verifyIpv4HeaderChecksum(u8, p.l3Offset)) return false;
  if (!hasL4Csum(p)) return true;
  if (p.l4Proto === IPPROTO_ICMP) return verifyIcmpChecksum(u8, p.l4Offset, p.l4Len);
  if (p.ipVersion === 4) return verifyL4ChecksumV4(u8, p.l3Offset, p.l4Offset, p.l4Len, p.l4Proto);
  return verifyL4ChecksumV6(u8, p.l3Offset, p.l4Offset, p.l4Len, p.l4Proto);
}

/** Recomputes and stores every checksum `verifyPacketChecksums` checks (full recomputation). */
export function fillPacketChecksums(u8: Uint8Array, p: ParsedPacket): void {
  if (!p.ok) return;
  const l3 = p.l3Offset;
  if (p.ipVersion === 4) {
    const c = computeIpv4HeaderChecksum(u8, l3);
    u8[l3 + 10] = c >>> 8;
    u8[l3 + 11] = c;
  }
  if (!hasL4Csum(p)) return;
  if (p.l4Proto === IPPROTO_ICMP) {
    const c = computeIcmpChecksum(u8, p.l4Offset, p.l4Len);
    u8[p.l4Offset + 2] = c >>> 8;
    u8[p.l4Offset + 3] = c;
  } else if (p.ipVersion === 4) fillL4ChecksumV4(u8, l3, p.l4Offset, p.l4Len, p.l4Proto);
  else fillL4ChecksumV6(u8, l3, p.l4Offset, p.l4Len, p.l4Proto);
}
