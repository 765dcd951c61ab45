// Frames for the packet targets: well-formed frames from the packet builder (src/proto/build.ts)
// over the whole space the parser handles — VLAN/QinQ stacks, IPv4 options and fragments,
// IPv6 extension header chains (hop-by-hop, routing, fragment, destination options, AH,
// mobility), ESP, TCP with options, UDP, SCTP, ICMP/ICMPv6, ARP, other EtherTypes — and a
// structure-aware mutator that knows where each length, offset, type and checksum field of a
// generated frame is, so corruption lands where parsers make decisions.
import { buildArp, buildPacketLayout, type Ipv6ExtSpec, type PacketSpec } from '../../src/proto/build.js';
import {
  ETH_P_ARP,
  ETH_P_IPV4,
  ETH_P_IPV6,
  ETH_P_QINQ,
  ETH_P_QINQ_OLD,
  ETH_P_VLAN,
  IPPROTO_AH,
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_MH,
  IPPROTO_ROUTING,
} from '../../src/proto/constants.js';
import type { Rng } from './prng.js';

export interface GenFrame {
  frame: Uint8Array;
  /** What was generated: "ipv4/udp", "ipv6/tcp+ext3", "arp", "raw 0x88cc"... */
  kind: string;
  /** Layer offsets as built (0 when absent). */
  l3: number;
  l4: number;
  ipVersion: 0 | 4 | 6;
  /** IPv4 total length or 40 + IPv6 payload length. */
  ipLen: number;
  /** The L4 protocol number as built (after extension headers). */
  proto: number;
  /** IPv6 extension headers as built: offset and type of each. */
  exts: { off: number; type: number }[];
  /** True when the builder was asked for a well-formed, unfragmented TCP/UDP/ICMP frame. */
  plain: boolean;
}

const TPIDS = [ETH_P_VLAN, ETH_P_QINQ, ETH_P_QINQ_OLD];
export const INTERESTING_ETHERTYPES = [
  ETH_P_IPV4,
  ETH_P_IPV6,
  ETH_P_ARP,
  ETH_P_VLAN,
  ETH_P_QINQ,
  ETH_P_QINQ_OLD,
  0x8847,
  0x88cc,
  0x0000,
  0xffff,
];
export const INTERESTING_PROTOS = [0, 1, 6, 17, 41, 43, 44, 47, 50, 51, 58, 59, 60, 132, 135, 255];

function v4addr(rng: Rng): string {
  return `${rng.int(1, 223)}.${rng.byte()}.${rng.byte()}.${rng.int(1, 254)}`;
}

function v6addr(rng: Rng): string {
  const w = (): string => rng.below(0x10000).toString(16);
  return rng.chance(0.5) ? `2001:db8::${w()}:${w()}` : `fe80::${w()}:${w()}:${w()}`;
}

/** IPv4 option bytes (RFC 791 §3.1 shapes, some well-formed, some not). */
function ipv4Options(rng: Rng): Uint8Array {
  const out: number[] = [];
  const n = rng.int(1, 4);
  for (let i = 0; i < n && out.length < 36; i++) {
    const kind = rng.pick(['nop', 'eol', 'rr', 'ts', 'ra', 'raw'] as const);
    if (kind === 'nop') out.push(1);
    else if (kind === 'eol') out.push(0);
    else if (kind === 'ra') out.push(148, 4, 0, 0);
    else if (kind === 'rr') {
      const len = 3 + 4 * rng.int(1, 4);
      out.push(7, len, 4, ...new Array<number>(len - 3).fill(0));
    } else if (kind === 'ts') out.push(68, 12, 5, 0, ...rng.bytes(8));
    else out.push(rng.byte(), rng.byte(), ...rng.bytes(rng.int(0, 6)));
  }
  return Uint8Array.from(out.slice(0, 40));
}

function tcpOptions(rng: Rng): Uint8Array {
  const out: number[] = [];
  if (rng.bool()) out.push(2, 4, 0x05, 0xb4); // MSS
  if (rng.bool()) out.push(1, 3, 3, rng.int(0, 14)); // NOP, window scale
  if (rng.bool()) out.push(4, 2); // SACK permitted
  if (rng.bool()) out.push(8, 10, ...rng.bytes(8)); // timestamps
  if (rng.chance(0.2)) out.push(...rng.bytes(rng.int(1, 8)));
  return Uint8Array.from(out.slice(0, 40));
}

function ipv6Exts(rng: Rng): Ipv6ExtSpec[] {
  const n = rng.weighted([
    [5, 1],
    [3, 2],
    [2, 3],
    [1, rng.int(4, 12)],
  ] as const);
  const out: Ipv6ExtSpec[] = [];
  for (let i = 0; i < n; i++) {
    const type = rng.pick([IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_FRAGMENT, IPPROTO_DSTOPTS, IPPROTO_AH, IPPROTO_MH]);
    if (type === IPPROTO_FRAGMENT)
      out.push({ type, fragOffset: rng.chance(0.5) ? 0 : rng.int(1, 8191), moreFragments: rng.bool(), fragId: rng.u32() });
    else out.push({ type, length: 8 * rng.int(1, type === IPPROTO_AH ? 4 : 6) });
  }
  return out;
}

/** An AH header (RFC 4302 §2: 12 fixed bytes + ICV) followed by a UDP datagram, as raw bytes. */
function ahThenUdp(rng: Rng): Uint8Array {
  const icvWords = rng.int(1, 4);
  const ahLen = 12 + 4 * icvWords;
  const data = rng.int(0, 64);
  const out = new Uint8Array(ahLen + 8 + data);
  out[0] = 17;
  out[1] = ahLen / 4 - 2;
  out.set(rng.bytes(ahLen - 4), 4);
  const u = ahLen;
  out[u] = rng.byte();
  out[u + 1] = rng.byte();
  out[u + 2] = 0;
  out[u + 3] = 53;
  out[u + 4] = (8 + data) >>> 8;
  out[u + 5] = (8 + data) & 0xff;
  return out;
}

/** A random well-formed frame (as far as the builder makes it), with its layout. */
export function genFrame(rng: Rng, maxLen = 1514): GenFrame {
  const kind = rng.weighted([
    [55, 'ipv4'],
    [33, 'ipv6'],
    [6, 'arp'],
    [6, 'raw'],
  ] as const);
  const tags: number[] = [];
  const nTags = rng.weighted([
    [60, 0],
    [22, 1],
    [12, 2],
    [6, rng.int(3, 6)],
  ] as const);
  for (let i = 0; i < nTags; i++) tags.push(rng.below(0x10000));
  const tpids = tags.map(() => rng.pick(TPIDS));
  const l3 = 14 + 4 * nTags;

  if (kind === 'arp') {
    const frame = buildArp({
      op: rng.pick(['request', 'reply', rng.below(0x10000)] as const),
      senderMac: '02:00:00:00:00:0a',
      senderIp: v4addr(rng),
      targetIp: v4addr(rng),
      vlan: tags,
      vlanTpids: tpids,
    });
    return { frame, kind: 'arp', l3, l4: 0, ipVersion: 0, ipLen: 0, proto: 0, exts: [], plain: false };
  }
  if (kind === 'raw') {
    const type = rng.pick([0x88cc, 0x8847, 0x88e5, 0x0842, rng.below(0x10000)]);
    const len = Math.min(maxLen, l3 + rng.int(0, 200));
    const frame = rng.bytes(Math.max(len, 14));
    // Keep the tags and the EtherType as chosen (the rest is noise).
    let o = 12;
    for (let i = 0; i < nTags && o + 4 <= frame.length; i++, o += 4) {
      frame[o] = tpids[i] >>> 8;
      frame[o + 1] = tpids[i] & 0xff;
    }
    if (o + 2 <= frame.length) {
      frame[o] = type >>> 8;
      frame[o + 1] = type & 0xff;
    }
    return { frame, kind: `raw 0x${type.toString(16)}`, l3: 0, l4: 0, ipVersion: 0, ipLen: 0, proto: 0, exts: [], plain: false };
  }

  const v6 = kind === 'ipv6';
  const protoName = rng.weighted<'tcp' | 'udp' | 'icmp' | number>([
    [30, 'tcp'],
    [30, 'udp'],
    [14, 'icmp'],
    [6, 132],
    [5, 50],
    [4, 47],
    [v6 ? 0 : 5, 51],
    [6, rng.pick([1, 6, 17, 58, 41, 59, 255])],
  ] as const);
  const spec: PacketSpec = {
    src: v6 ? v6addr(rng) : v4addr(rng),
    dst: v6 ? v6addr(rng) : v4addr(rng),
    ipVersion: v6 ? 6 : 4,
    proto: protoName,
    srcPort: rng.below(0x10000),
    dstPort: rng.pick([53, 80, 443, 0, rng.below(0x10000)]),
    tcpFlags: rng.byte(),
    seq: rng.u32(),
    ttl: rng.pick([0, 1, 64, 255]),
    tos: rng.byte(),
    vlan: tags,
    vlanTpids: tpids,
    icmpType: rng.chance(0.7) ? undefined : rng.byte(),
    icmpCode: rng.chance(0.8) ? undefined : rng.byte(),
    pad: rng.chance(0.9),
  };
  let plain = true;
  if (!v6 && rng.chance(0.25)) {
    spec.ipv4Options = ipv4Options(rng);
    plain = false;
  }
  if (!v6 && rng.chance(0.15)) {
    spec.moreFragments = rng.bool();
    spec.fragOffset = rng.chance(0.4) ? 0 : rng.int(1, 8191);
    spec.dontFragment = rng.chance(0.1);
    plain = plain && !spec.moreFragments && spec.fragOffset === 0;
  }
  if (v6 && rng.chance(0.45)) {
    spec.ipv6Ext = ipv6Exts(rng);
    plain = false;
  }
  if (protoName === 'tcp' && rng.chance(0.4)) spec.tcpOptions = tcpOptions(rng);
  if (protoName === 51) spec.payload = ahThenUdp(rng);
  else if (protoName === 132)
    spec.payload = rng.bytes(12 + rng.int(0, 52)); // RFC 9260 §3.1 common header + chunks
  else if (rng.chance(0.3)) spec.payload = rng.bytes(rng.int(0, 64));
  if (typeof protoName === 'number') plain = false;
  const built = buildPacketLayout(spec);
  // Grow some frames to a random size within maxLen (payload padding, lengths kept right).
  let b = built;
  if (rng.chance(0.35)) {
    const size = rng.int(b.frame.length, Math.max(b.frame.length, maxLen));
    if (size > b.frame.length) b = buildPacketLayout({ ...spec, size });
  }
  const exts: { off: number; type: number }[] = [];
  let o = b.l3Offset + 40;
  for (const e of v6 ? (spec.ipv6Ext ?? []) : []) {
    exts.push({ off: o, type: e.type });
    o += e.type === IPPROTO_FRAGMENT ? 8 : (e.length ?? (e.type === IPPROTO_AH ? 16 : 8));
  }
  let proto = protoName === 'tcp' ? 6 : protoName === 'udp' ? 17 : protoName === 'icmp' ? (v6 ? 58 : 1) : protoName;
  let l4 = b.l4Offset;
  if (protoName === 51 && spec.payload instanceof Uint8Array) {
    // IPv4 AH (RFC 4302): the parser skips it; what follows is the UDP datagram.
    l4 += (spec.payload[1] + 2) << 2;
    proto = 17;
  }
  const extKind = exts.length > 0 ? `+ext${exts.length}` : '';
  return {
    frame: b.frame,
    kind: `${kind}/${typeof protoName === 'string' ? protoName : `proto${protoName}`}${extKind}`,
    l3: b.l3Offset,
    l4,
    ipVersion: v6 ? 6 : 4,
    ipLen: b.ipLen,
    proto,
    exts,
    plain,
  };
}

// ------------------------------------------------------------------------------ mutation

const INTERESTING16 = [0, 1, 7, 8, 19, 20, 39, 40, 0x7f, 0x80, 0xff, 0x100, 0x5dc, 0x7fff, 0x8000, 0xfffe, 0xffff];

function put16(f: Uint8Array, o: number, v: number): void {
  if (o < 0 || o + 2 > f.length) return;
  f[o] = (v >>> 8) & 0xff;
  f[o + 1] = v & 0xff;
}

function get16(f: Uint8Array, o: number): number {
  return o >= 0 && o + 2 <= f.length ? (f[o] << 8) | f[o + 1] : 0;
}

function insertAt(f: Uint8Array, at: number, bytes: Uint8Array): Uint8Array {
  at = Math.max(0, Math.min(at, f.length));
  const out = new Uint8Array(f.length + bytes.length);
  out.set(f.subarray(0, at), 0);
  out.set(bytes, at);
  out.set(f.subarray(at), at + bytes.length);
  return out;
}

/** A length value near `actual`, or one of the values length checks trip on. */
function lengthValue(rng: Rng, actual: number): number {
  return rng.weighted([
    [4, (actual + rng.int(-8, 8)) & 0xffff],
    [3, rng.pick(INTERESTING16)],
    [1, rng.below(0x10000)],
  ] as const);
}

/** Generic byte-level edits: bit flips, interesting bytes and words, inserts, deletes, copies. */
export function mutateBytes(rng: Rng, f: Uint8Array, edits: number): Uint8Array {
  for (let e = 0; e < edits; e++) {
    if (f.length === 0) return rng.bytes(rng.int(0, 64));
    const at = rng.below(f.length);
    const op = rng.below(8);
    if (op === 0) f[at] ^= 1 << rng.below(8);
    else if (op === 1) f[at] = rng.pick([0, 1, 0x7f, 0x80, 0xff, rng.byte()]);
    else if (op === 2) put16(f, at, rng.pick(INTERESTING16));
    else if (op === 3) {
      for (let i = 0; i < 4 && at + i < f.length; i++) f[at + i] = rng.pick([0, 0xff, rng.byte()]);
    } else if (op === 4) f = insertAt(f, at, rng.bytes(rng.int(1, 16)));
    else if (op === 5) {
      const n = Math.min(f.length - at, rng.int(1, 16));
      const out = new Uint8Array(f.length - n);
      out.set(f.subarray(0, at), 0);
      out.set(f.subarray(at + n), at);
      f = out;
    } else if (op === 6) {
      // Duplicate a range in place after itself (repeats headers, options, tags).
      const n = Math.min(f.length - at, rng.int(1, 48));
      f = insertAt(f, at + n, f.slice(at, at + n));
    } else {
      const src = rng.below(f.length);
      const n = Math.min(f.length - Math.max(src, at), rng.int(1, 32));
      f.copyWithin(at, src, src + n);
    }
  }
  return f;
}

export const FRAME_MUTATIONS = [
  'truncate',
  'extend',
  'ihl',
  'version',
  'ip-length',
  'fragment',
  'l4-proto',
  'ext-length',
  'ext-chain',
  'l4-field',
  'checksum',
  'ethertype',
  'vlan-stack',
  'arp-lengths',
  'ipv4-options',
  'bytes',
] as const;
export type FrameMutation = (typeof FRAME_MUTATIONS)[number];

/**
 * Applies 1..4 structure-aware mutations to a copy of `g.frame`; the result is at most
 * `maxLen` bytes. Returns the frame and the mutations applied (for outcome labels).
 */
export function mutateFrame(rng: Rng, g: GenFrame, maxLen: number): { frame: Uint8Array; applied: FrameMutation[] } {
  let f: Uint8Array = g.frame.slice();
  const applied: FrameMutation[] = [];
  const n = rng.weighted([
    [5, 1],
    [3, 2],
    [2, rng.int(3, 4)],
  ] as const);
  const { l3, l4 } = g;
  const ip = g.ipVersion !== 0;
  for (let k = 0; k < n; k++) {
    const m = rng.pick(FRAME_MUTATIONS);
    applied.push(m);
    switch (m) {
      case 'truncate': {
        // Cut near a layer boundary most of the time: that is where length checks live.
        const marks = [0, 12, 14, l3, l3 + 8, l3 + 20, l3 + 40, l4, l4 + 8, l4 + 20, f.length - 1].filter((x) => x >= 0 && x <= f.length);
        const at = rng.chance(0.7) ? rng.pick(marks) + rng.int(-3, 3) : rng.below(f.length + 1);
        f = f.slice(0, Math.max(0, Math.min(f.length, at)));
        break;
      }
      case 'extend': {
        const extra = rng.weighted([
          [6, rng.int(1, 64)],
          [2, rng.int(64, 2000)],
          [1, Math.max(0, maxLen - f.length)],
        ] as const);
        f = insertAt(f, f.length, rng.chance(0.5) ? new Uint8Array(extra) : rng.bytes(extra));
        break;
      }
      case 'ihl':
        if (g.ipVersion === 4 && l3 < f.length) f[l3] = (f[l3] & 0xf0) | rng.below(16);
        else f = mutateBytes(rng, f, 1);
        break;
      case 'version':
        if (ip && l3 < f.length) f[l3] = (rng.below(16) << 4) | (f[l3] & 0x0f);
        else f = mutateBytes(rng, f, 1);
        break;
      case 'ip-length':
        if (g.ipVersion === 4) put16(f, l3 + 2, lengthValue(rng, g.ipLen));
        else if (g.ipVersion === 6) put16(f, l3 + 4, lengthValue(rng, g.ipLen - 40));
        else f = mutateBytes(rng, f, 1);
        break;
      case 'fragment':
        if (g.ipVersion === 4) put16(f, l3 + 6, rng.pick([0x2000, 0x4000, 0x0001, 0x1fff, 0x3fff, 0xffff, rng.below(0x10000)]));
        else if (g.ipVersion === 6) {
          const fh = g.exts.find((e) => e.type === IPPROTO_FRAGMENT);
          if (fh) put16(f, fh.off + 2, rng.pick([0, 1, 8, 9, 0xfff8, 0xffff, rng.below(0x10000)]));
          else {
            // Insert a fragment header right after the fixed header.
            const nh = f[l3 + 6];
            const hdr = Uint8Array.of(nh, 0, ...rng.bytes(2), ...rng.bytes(4));
            f = insertAt(f, l3 + 40, hdr);
            if (l3 + 6 < f.length) f[l3 + 6] = IPPROTO_FRAGMENT;
            put16(f, l3 + 4, (get16(f, l3 + 4) + 8) & 0xffff);
          }
        } else f = mutateBytes(rng, f, 1);
        break;
      case 'l4-proto': {
        const p = rng.pick(INTERESTING_PROTOS);
        if (g.ipVersion === 4 && l3 + 9 < f.length) f[l3 + 9] = p;
        else if (g.ipVersion === 6) {
          const last = g.exts.length > 0 ? g.exts[rng.below(g.exts.length)].off : l3 + 6;
          if (last < f.length) f[last] = p;
        } else f = mutateBytes(rng, f, 1);
        break;
      }
      case 'ext-length':
        if (g.exts.length > 0) {
          const e = rng.pick(g.exts);
          if (e.off + 1 < f.length) f[e.off + 1] = rng.pick([0, 1, 2, 3, 0x7f, 0xfe, 0xff, rng.byte()]);
        } else if (g.ipVersion === 4 && g.proto === IPPROTO_AH && l4 + 1 < f.length) f[l4 + 1] = rng.byte();
        else f = mutateBytes(rng, f, 1);
        break;
      case 'ext-chain':
        if (g.ipVersion === 6 && l3 + 40 <= f.length) {
          // Insert a run of extension headers (a long chain is how a parser is made to loop).
          const count = rng.weighted([
            [3, rng.int(1, 4)],
            [2, rng.int(5, 40)],
            [1, rng.int(41, 200)],
          ] as const);
          const chunks: number[] = [];
          let nh = f[l3 + 6];
          const types = [IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS, IPPROTO_AH, IPPROTO_FRAGMENT, IPPROTO_MH];
          for (let i = 0; i < count; i++) {
            const t = rng.pick(types);
            const len = t === IPPROTO_FRAGMENT ? 8 : 8 * rng.int(1, 3);
            const hdr = new Array<number>(len).fill(0);
            hdr[0] = nh;
            hdr[1] = t === IPPROTO_FRAGMENT ? 0 : t === IPPROTO_AH ? len / 4 - 2 : len / 8 - 1;
            if (t === IPPROTO_FRAGMENT && rng.chance(0.3)) hdr[2] = rng.byte();
            // Built innermost first: each new header points at the one built before it.
            chunks.unshift(...hdr);
            nh = t;
          }
          f = insertAt(f, l3 + 40, Uint8Array.from(chunks));
          f[l3 + 6] = nh;
          put16(f, l3 + 4, (get16(f, l3 + 4) + chunks.length) & 0xffff);
        } else f = mutateBytes(rng, f, 2);
        break;
      case 'l4-field':
        if (l4 > 0) {
          if (g.proto === 6) {
            if (l4 + 12 < f.length) f[l4 + 12] = (rng.below(16) << 4) | (f[l4 + 12] & 0x0f);
          } else if (g.proto === 17) put16(f, l4 + 4, lengthValue(rng, g.ipLen - (l4 - l3)));
          else if (l4 + 1 < f.length) {
            f[l4] = rng.byte();
            f[l4 + 1] = rng.byte();
          }
        } else f = mutateBytes(rng, f, 1);
        break;
      case 'checksum': {
        const at = rng.pick([l3 + 10, l4 + 2, l4 + 6, l4 + 16]);
        if (ip && at + 1 < f.length) f[at + rng.below(2)] ^= 1 << rng.below(8);
        else f = mutateBytes(rng, f, 1);
        break;
      }
      case 'ethertype': {
        const at = rng.chance(0.5) ? 12 : l3 - 2;
        put16(f, at, rng.pick(INTERESTING_ETHERTYPES));
        break;
      }
      case 'vlan-stack': {
        const count = rng.weighted([
          [3, rng.int(1, 3)],
          [2, rng.int(4, 30)],
          [1, rng.int(31, 400)],
        ] as const);
        const tags = new Uint8Array(4 * count);
        for (let i = 0; i < count; i++) {
          const t = rng.pick(TPIDS);
          tags[4 * i] = t >>> 8;
          tags[4 * i + 1] = t & 0xff;
          tags[4 * i + 2] = rng.byte();
          tags[4 * i + 3] = rng.byte();
        }
        f = insertAt(f, 12, tags);
        break;
      }
      case 'arp-lengths':
        if (g.kind === 'arp' && l3 + 5 < f.length) {
          f[l3 + 4] = rng.pick([0, 6, 7, 16, 0xff, rng.byte()]);
          f[l3 + 5] = rng.pick([0, 4, 5, 16, 0xff, rng.byte()]);
        } else f = mutateBytes(rng, f, 1);
        break;
      case 'ipv4-options':
        if (g.ipVersion === 4 && l3 + 20 <= f.length) {
          const words = rng.int(1, 10);
          const opts = rng.chance(0.5) ? rng.bytes(words * 4) : ipv4Options(rng);
          f = insertAt(f, l3 + 20, opts.subarray(0, Math.min(opts.length, 40)));
          const ihl = Math.min(15, 5 + Math.ceil(Math.min(opts.length, 40) / 4));
          f[l3] = 0x40 | (rng.chance(0.8) ? ihl : rng.below(16));
          put16(f, l3 + 2, (get16(f, l3 + 2) + Math.min(opts.length, 40)) & 0xffff);
        } else f = mutateBytes(rng, f, 1);
        break;
      default:
        f = mutateBytes(rng, f, rng.int(1, 8));
    }
  }
  if (f.length > maxLen) f = f.slice(0, maxLen);
  return { frame: f, applied };
}

/** A well-formed, unfragmented TCP/UDP/ICMP frame with right checksums (NF control batches). */
export function genPlainFrame(rng: Rng, maxLen = 1514): Uint8Array {
  for (;;) {
    const g = genFrame(rng, maxLen);
    if (g.plain && g.ipVersion !== 0 && (g.proto === 6 || g.proto === 17 || g.proto === 1 || g.proto === 58)) return g.frame;
  }
}
