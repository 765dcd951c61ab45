/**
 * Packet builder for tests, the traffic generator and pcap fixtures.
 *
 * Not hot-path code: it allocates freely and throws on bad specs. Every frame it produces has
 * consistent lengths and correct checksums, so tests can use it as ground truth.
 */

import { parseIpv4, parseIpv6, writeIpv4 } from './address.js';
import { DEFAULT_DST_MAC, DEFAULT_SRC_MAC, put16, put32, toMac, writeL2, type MacInput } from './build-l2.js';
import { fillIcmpChecksum, fillIpv4HeaderChecksum, fillL4ChecksumV4, fillL4ChecksumV6 } from './checksum.js';
import {
  ETH_HDR_LEN,
  ETH_MIN_FRAME_LEN,
  ETH_P_IPV4,
  ETH_P_IPV6,
  ICMP_ECHO_REQUEST,
  ICMPV6_ECHO_REQUEST,
  IPPROTO_AH,
  IPPROTO_FRAGMENT,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_ROUTING,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  TCP_ACK,
} from './constants.js';

export { formatIpv4, formatIpv6, formatMac, parseIpv4, parseIpv6, parseMac, writeIpv4 } from './address.js';
export { buildArp, DEFAULT_DST_MAC, DEFAULT_SRC_MAC } from './build-l2.js';
export type { ArpSpec, MacInput } from './build-l2.js';

/** One IPv6 extension header (RFC 8200 §4) to insert between the fixed header and L4. */
export interface Ipv6ExtSpec {
  /** Header type: 0 hop-by-hop, 43 routing, 44 fragment, 60 destination options, 51 AH. */
  type: number;
  /** Total header bytes, multiple of 8 (default 8; AH default 16). Ignored for fragment. */
  length?: number;
  /** Fragment header only: offset in 8-octet units, M flag and identification. */
  fragOffset?: number;
  moreFragments?: boolean;
  fragId?: number;
}

export interface PacketSpec {
  srcMac?: MacInput;
  dstMac?: MacInput;
  /** VLAN TCIs (PCP/DEI/VID; a plain VLAN id works), outermost first. */
  vlan?: number[];
  /** TPID per tag; default 0x8100 for one tag, 0x88a8 outer + 0x8100 innermost for a stack. */
  vlanTpids?: number[];
  /** Defaults to 6 when `src` contains ':' and to 4 otherwise. */
  ipVersion?: 4 | 6;
  src: string;
  dst: string;
  /** 'icmp' means ICMP over IPv4 and ICMPv6 over IPv6. Other numbers get a raw payload. */
  proto: 'tcp' | 'udp' | 'icmp' | number;
  srcPort?: number;
  dstPort?: number;
  /** Default ACK. */
  tcpFlags?: number;
  seq?: number;
  ack?: number;
  /** Default 65535. */
  window?: number;
  /** Raw TCP options, zero-padded to a multiple of 4. */
  tcpOptions?: Uint8Array;
  /** IPv4 TTL or IPv6 hop limit (default 64). */
  ttl?: number;
  /** IPv4 TOS / IPv6 traffic class. */
  tos?: number;
  flowLabel?: number;
  /** IPv4 identification. */
  id?: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  /** IPv4 fragment offset in 8-octet units. Non-first fragments carry no L4 header. */
  fragOffset?: number;
  /** Raw IPv4 options, zero-padded (EOL) to a multiple of 4, at most 40 bytes. */
  ipv4Options?: Uint8Array;
  ipv6Ext?: Ipv6ExtSpec[];
  /** Defaults: echo request (8 / 128), code 0. */
  icmpType?: number;
  icmpCode?: number;
  /** Echo identifier and sequence (bytes 4..7 of the ICMP header). */
  icmpId?: number;
  icmpSeq?: number;
  payload?: Uint8Array | string;
  /** Total frame length without FCS; the payload is zero-padded to reach it. */
  size?: number;
  /** Pad short frames to the 60-byte Ethernet minimum (default true). */
  pad?: boolean;
}

/** A built frame and where its layers start. */
export interface BuiltPacket {
  frame: Uint8Array;
  l3Offset: number;
  l4Offset: number;
  payloadOffset: number;
  payloadLen: number;
  /** IPv4 total length or 40 + IPv6 payload length (excludes Ethernet padding). */
  ipLen: number;
}

function pad4(b: Uint8Array | undefined): Uint8Array {
  if (!b || b.length === 0) return new Uint8Array(0);
  const out = new Uint8Array((b.length + 3) & ~3);
  out.set(b);
  return out;
}

function extLength(e: Ipv6ExtSpec): number {
  if (e.type === IPPROTO_FRAGMENT) return 8;
  const len = e.length ?? (e.type === IPPROTO_AH ? 16 : 8);
  if (len < 8 || len % 8 !== 0) throw new Error(`IPv6 extension length must be a multiple of 8: ${len}`);
  return len;
}

/** Builds an Ethernet frame per `spec` and reports its layer offsets. */
export function buildPacketLayout(spec: PacketSpec): BuiltPacket {
  const v6 = (spec.ipVersion ?? (spec.src.includes(':') ? 6 : 4)) === 6;
  let proto: number;
  if (spec.proto === 'tcp') proto = IPPROTO_TCP;
  else if (spec.proto === 'udp') proto = IPPROTO_UDP;
  else if (spec.proto === 'icmp') proto = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
  else proto = spec.proto;
  if (!Number.isInteger(proto) || proto < 0 || proto > 255) throw new Error(`bad protocol ${proto}`);

  const tags = spec.vlan ?? [];
  const opts = v6 ? new Uint8Array(0) : pad4(spec.ipv4Options);
  if (opts.length > 40) throw new Error('IPv4 options exceed 40 bytes');
  const exts = v6 ? (spec.ipv6Ext ?? []) : [];
  const extLen = exts.reduce((a, e) => a + extLength(e), 0);
  const l3HdrLen = v6 ? 40 + extLen : 20 + opts.length;

  // Non-first fragments hold a slice of the L4 payload, not a header (RFC 791, RFC 8200 §4.5).
  const frag6 = exts.find((e) => e.type === IPPROTO_FRAGMENT);
  const nonFirst = v6 ? (frag6?.fragOffset ?? 0) > 0 : (spec.fragOffset ?? 0) > 0;
  const tcpOpts = pad4(spec.tcpOptions);
  if (tcpOpts.length > 40) throw new Error('TCP options exceed 40 bytes');
  let l4HdrLen = 0;
  if (!nonFirst) {
    if (proto === IPPROTO_TCP) l4HdrLen = 20 + tcpOpts.length;
    else if (proto === IPPROTO_UDP || proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) l4HdrLen = 8;
  }

  const given = typeof spec.payload === 'string' ? new TextEncoder().encode(spec.payload) : (spec.payload ?? new Uint8Array(0));
  const l3Offset = ETH_HDR_LEN + 4 * tags.length;
  const l4Offset = l3Offset + l3HdrLen;
  const payloadOffset = l4Offset + l4HdrLen;
  let payloadLen = given.length;
  if (spec.size !== undefined) {
    if (spec.size < payloadOffset + given.length) {
      throw new Error(`size ${spec.size} is smaller than headers + payload (${payloadOffset + given.length})`);
    }
    payloadLen = spec.size - payloadOffset;
  }
  const ipLen = l3HdrLen + l4HdrLen + payloadLen;
  if (ipLen > 0xffff + (v6 ? 40 : 0)) throw new Error('IP packet too large');
  const end = payloadOffset + payloadLen;
  const frameLen = spec.pad === false ? end : Math.max(end, ETH_MIN_FRAME_LEN);
  const f = new Uint8Array(frameLen);

  writeL2(f, toMac(spec.dstMac, DEFAULT_DST_MAC), toMac(spec.srcMac, DEFAULT_SRC_MAC), tags, spec.vlanTpids, v6 ? ETH_P_IPV6 : ETH_P_IPV4);
  const l3 = l3Offset;
  const ttl = spec.ttl ?? 64;
  const tos = spec.tos ?? 0;
  if (v6) {
    // RFC 8200 §3: version 6, traffic class, 20-bit flow label.
    put32(f, l3, ((6 << 28) | ((tos & 0xff) << 20) | ((spec.flowLabel ?? 0) & 0xfffff)) >>> 0);
    put16(f, l3 + 4, ipLen - 40);
    f[l3 + 7] = ttl;
    f.set(parseIpv6(spec.src), l3 + 8);
    f.set(parseIpv6(spec.dst), l3 + 24);
    let nhPos = l3 + 6;
    let o = l3 + 40;
    for (const e of exts) {
      f[nhPos] = e.type;
      const len = extLength(e);
      if (e.type === IPPROTO_FRAGMENT) {
        put16(f, o + 2, (((e.fragOffset ?? 0) & 0x1fff) << 3) | (e.moreFragments ? 1 : 0));
        put32(f, o + 4, e.fragId ?? 0);
      } else if (e.type === IPPROTO_AH) {
        f[o + 1] = len / 4 - 2; // RFC 4302 §2.2: 4-octet units minus 2
      } else {
        f[o + 1] = len / 8 - 1; // RFC 8200 §4.3: 8-octet units, not counting the first 8
        if (e.type !== IPPROTO_ROUTING) {
          // Fill the options area with one PadN option (RFC 8200 §4.2) so it parses cleanly.
          f[o + 2] = 1;
          f[o + 3] = len - 4;
        }
      }
      nhPos = o;
      o += len;
    }
    f[nhPos] = proto;
  } else {
    f[l3] = 0x40 | (l3HdrLen >>> 2);
    f[l3 + 1] = tos;
    put16(f, l3 + 2, ipLen);
    put16(f, l3 + 4, spec.id ?? 0);
    const flags = (spec.dontFragment ? IPV4_FLAG_DF : 0) | (spec.moreFragments ? IPV4_FLAG_MF : 0);
    put16(f, l3 + 6, flags | ((spec.fragOffset ?? 0) & 0x1fff));
    f[l3 + 8] = ttl;
    f[l3 + 9] = proto;
    writeIpv4(f, l3 + 12, parseIpv4(spec.src));
    writeIpv4(f, l3 + 16, parseIpv4(spec.dst));
    f.set(opts, l3 + 20);
    fillIpv4HeaderChecksum(f, l3);
  }

  const l4 = l4Offset;
  f.set(given, payloadOffset);
  if (l4HdrLen > 0) {
    const l4Len = ipLen - l3HdrLen;
    if (proto === IPPROTO_TCP) {
      put16(f, l4, spec.srcPort ?? 0);
      put16(f, l4 + 2, spec.dstPort ?? 0);
      put32(f, l4 + 4, spec.seq ?? 0);
      put32(f, l4 + 8, spec.ack ?? 0);
      f[l4 + 12] = (l4HdrLen >>> 2) << 4; // RFC 9293 §3.1 data offset
      f[l4 + 13] = spec.tcpFlags ?? TCP_ACK;
      put16(f, l4 + 14, spec.window ?? 65535);
      f.set(tcpOpts, l4 + 20);
    } else if (proto === IPPROTO_UDP) {
      put16(f, l4, spec.srcPort ?? 0);
      put16(f, l4 + 2, spec.dstPort ?? 0);
      put16(f, l4 + 4, l4Len);
    } else {
      f[l4] = spec.icmpType ?? (v6 ? ICMPV6_ECHO_REQUEST : ICMP_ECHO_REQUEST);
      f[l4 + 1] = spec.icmpCode ?? 0;
      put16(f, l4 + 4, spec.icmpId ?? 0);
      put16(f, l4 + 6, spec.icmpSeq ?? 0);
    }
    if (proto === IPPROTO_ICMP) fillIcmpChecksum(f, l4, l4Len);
    else if (v6) fillL4ChecksumV6(f, l3, l4, l4Len, proto);
    else fillL4ChecksumV4(f, l3, l4, l4Len, proto);
  }
  return { frame: f, l3Offset, l4Offset, payloadOffset, payloadLen, ipLen };
}

/** Builds an Ethernet frame (without FCS) per `spec`. */
export function buildPacket(spec: PacketSpec): Uint8Array {
  return buildPacketLayout(spec).frame;
}
