/**
 * Layer-2 parts of the packet builder: MAC inputs, Ethernet + VLAN header writing, and ARP
 * frames (RFC 826). Test/generator code, not hot path: allocates and throws on bad input.
 */

import { parseIpv4, parseMac, writeIpv4 } from './address.js';
import {
  ARP_HTYPE_ETHERNET,
  ARP_OP_REPLY,
  ARP_OP_REQUEST,
  ETH_HDR_LEN,
  ETH_MIN_FRAME_LEN,
  ETH_P_ARP,
  ETH_P_IPV4,
  ETH_P_QINQ,
  ETH_P_VLAN,
} from './constants.js';

/** A MAC as text ("02:00:00:00:00:01") or 6 bytes. */
export type MacInput = string | Uint8Array;

export const DEFAULT_SRC_MAC = '02:00:00:00:00:01';
export const DEFAULT_DST_MAC = '02:00:00:00:00:02';

export function toMac(m: MacInput | undefined, dflt: string): Uint8Array {
  if (m === undefined) return parseMac(dflt);
  if (typeof m === 'string') return parseMac(m);
  if (m.length !== 6) throw new Error('MAC must be 6 bytes');
  return m;
}

export function put16(u8: Uint8Array, o: number, v: number): void {
  u8[o] = v >>> 8;
  u8[o + 1] = v;
}

export function put32(u8: Uint8Array, o: number, v: number): void {
  u8[o] = v >>> 24;
  u8[o + 1] = v >>> 16;
  u8[o + 2] = v >>> 8;
  u8[o + 3] = v;
}

/** Writes Ethernet + VLAN tags; returns the offset after the EtherType. */
export function writeL2(
  f: Uint8Array,
  dst: Uint8Array,
  src: Uint8Array,
  tags: number[],
  tpids: number[] | undefined,
  etherType: number,
): number {
  f.set(dst, 0);
  f.set(src, 6);
  let o = 12;
  for (let i = 0; i < tags.length; i++) {
    // IEEE 802.1ad: S-tags (0x88a8) outside, the innermost tag a C-tag (0x8100).
    const tpid = tpids?.[i] ?? (i === tags.length - 1 ? ETH_P_VLAN : ETH_P_QINQ);
    put16(f, o, tpid);
    put16(f, o + 2, tags[i]);
    o += 4;
  }
  put16(f, o, etherType);
  return o + 2;
}

export interface ArpSpec {
  /** 'request' (default), 'reply' or a raw opcode. */
  op?: 'request' | 'reply' | number;
  senderMac: MacInput;
  senderIp: string;
  /** Default 00:00:00:00:00:00 (unknown, as in a request). */
  targetMac?: MacInput;
  targetIp: string;
  /** Ethernet source; defaults to senderMac. */
  srcMac?: MacInput;
  /** Ethernet destination; defaults to broadcast for a request, targetMac otherwise. */
  dstMac?: MacInput;
  vlan?: number[];
  vlanTpids?: number[];
}

/** Builds an Ethernet/IPv4 ARP frame (RFC 826), padded to 60 bytes. */
export function buildArp(spec: ArpSpec): Uint8Array {
  const op = spec.op === undefined || spec.op === 'request' ? ARP_OP_REQUEST : spec.op === 'reply' ? ARP_OP_REPLY : spec.op;
  const sha = toMac(spec.senderMac, '');
  const tha = toMac(spec.targetMac, '00:00:00:00:00:00');
  const tags = spec.vlan ?? [];
  const f = new Uint8Array(Math.max(ETH_MIN_FRAME_LEN, ETH_HDR_LEN + 4 * tags.length + 28));
  const dflt = op === ARP_OP_REQUEST ? parseMac('ff:ff:ff:ff:ff:ff') : tha;
  const dst = spec.dstMac === undefined ? dflt : toMac(spec.dstMac, '');
  const src = spec.srcMac === undefined ? sha : toMac(spec.srcMac, '');
  const o = writeL2(f, dst, src, tags, spec.vlanTpids, ETH_P_ARP);
  put16(f, o, ARP_HTYPE_ETHERNET);
  put16(f, o + 2, ETH_P_IPV4);
  f[o + 4] = 6;
  f[o + 5] = 4;
  put16(f, o + 6, op);
  f.set(sha, o + 8);
  writeIpv4(f, o + 14, parseIpv4(spec.senderIp));
  f.set(tha, o + 18);
  writeIpv4(f, o + 24, parseIpv4(spec.targetIp));
  return f;
}
