// The built-in traffic generator port (like OpenNetVM's speed tester): no NIC, no root.
// It writes a prebuilt frame into each buffer, varying the source address and port (or
// ICMP echo id) per flow with checksums precomputed per flow, and gives the flow's Toeplitz
// hash as a NIC's RSS would, so the flow director skips hashing. Rate in packets per second
// (token bucket), and an optional count after which the port is exhausted.
import { NetvmError } from '../../core/errors.js';
import { M_DATA_OFF, M_FLAGS, M_HASH, M_LEN, M_STAMP_F64, M_TS_NSEC, M_TS_SEC } from '../../core/layout.js';
import { buildPacket } from '../../proto/build.js';
import { parsePacket, ParsedPacket } from '../../proto/parse.js';
import { computeIcmpChecksum, computeL4ChecksumV4, computeL4ChecksumV6, fillIpv4HeaderChecksum } from '../../proto/checksum.js';
import { SYMMETRIC_RSS_KEY, Toeplitz } from '../../proto/toeplitz.js';
import { FLAG_HASH, type BufferAccess, type PortDriver, type PortStats } from '../port-driver.js';

export interface GeneratorOptions {
  /** Frame length in bytes without FCS (60..1514). */
  size: number;
  flows: number;
  ipVersion: 4 | 6;
  proto: 'udp' | 'tcp' | 'icmp';
  /** Packets per second; 0 = as fast as the chain takes them. */
  rate: number;
  /** Packets after which the port is exhausted; 0 = never. */
  count: number;
  /** Write a send timestamp (performance.now()) into each buffer for latency at the sink. */
  stamp: boolean;
}

export const GENERATOR_DEFAULTS: GeneratorOptions = {
  size: 64,
  flows: 1,
  ipVersion: 4,
  proto: 'udp',
  rate: 0,
  count: 0,
  stamp: false,
};

const PROTO_NUM = { udp: 17, tcp: 6, icmp: 1 } as const;

export class GeneratorPort implements PortDriver {
  readonly kind = 'generator';
  readonly canReceive = true;
  readonly canTransmit = false;
  /** With a count, every packet should arrive (it can wait); endless, it acts like a NIC. */
  readonly lossless: boolean;
  private readonly opts: GeneratorOptions;
  private access: BufferAccess | null = null;
  private template = new Int32Array(0);
  private words = 0;
  private ipLowOff = 0;
  private ipCsumOff = -1;
  private l4WordOff = 0;
  private l4CsumOff = 0;
  private fIpLow = new Uint16Array(0);
  private fIpCsum = new Uint16Array(0);
  private fL4Word = new Uint16Array(0);
  private fL4Csum = new Uint16Array(0);
  private fHash = new Int32Array(0);
  private frames: Int32Array | null = null;
  private flow = 0;
  private sent = 0;
  private tokens = 0;
  private last = -1;
  private readonly burst: number;
  /** The default size (64, the classic minimum frame) grows to the protocol's minimum
   *  when the headers need more (IPv6 TCP: 74); any other too-small size is an error. */
  private readonly sizeGiven: boolean;

  constructor(options: Partial<GeneratorOptions>) {
    this.opts = { ...GENERATOR_DEFAULTS, ...options };
    this.sizeGiven = options.size !== undefined;
    const o = this.opts;
    if (!(o.size >= 60 && o.size <= 1514)) throw new NetvmError('NETVM_PORT_OPEN', `generator: size ${o.size} must be 60..1514`);
    if (!(o.flows >= 1 && o.flows <= 1 << 20)) throw new NetvmError('NETVM_PORT_OPEN', `generator: flows ${o.flows} must be 1..1048576`);
    if (!(o.rate >= 0) || !(o.count >= 0)) throw new NetvmError('NETVM_PORT_OPEN', 'generator: rate and count must be >= 0');
    this.lossless = o.count > 0;
    this.burst = Math.max(32, Math.ceil(o.rate / 1000)); // at most 1 ms worth of packets at once
  }

  async open(access: BufferAccess): Promise<void> {
    if (this.opts.size > access.dataRoom)
      throw new NetvmError('NETVM_PORT_OPEN', `generator: size ${this.opts.size} exceeds the buffer data room ${access.dataRoom}`);
    this.access = access;
    const o = this.opts;
    const v6 = o.ipVersion === 6;
    const spec = {
      ipVersion: o.ipVersion,
      // RFC 2544 benchmarking range for IPv4, RFC 3849 documentation prefix for IPv6.
      src: v6 ? '2001:db8::1:0' : '198.18.0.0',
      dst: v6 ? '2001:db8::2:1' : '198.19.0.1',
      proto: o.proto,
      srcPort: 1024,
      dstPort: 5001,
      icmpId: 0,
    } as const;
    // The smallest frame of this protocol and IP version is the headers alone.
    const min = buildPacket(spec).length;
    if (o.size < min) {
      if (!this.sizeGiven || o.size === GENERATOR_DEFAULTS.size) o.size = min;
      else
        throw new NetvmError(
          'NETVM_PORT_OPEN',
          `generator: size ${o.size} is smaller than an IPv${o.ipVersion} ${o.proto.toUpperCase()} frame's headers (${min} bytes); use size >= ${min}`,
        );
    }
    const frame = buildPacket({ ...spec, size: o.size });
    const p = new ParsedPacket();
    if (!parsePacket(frame, 0, frame.length, p)) throw new NetvmError('NETVM_PORT_OPEN', 'generator: template does not parse');
    this.words = (frame.length + 3) >> 2;
    const padded = new Uint8Array(this.words * 4);
    padded.set(frame);
    this.template = new Int32Array(padded.buffer);
    this.ipLowOff = p.l3Offset + (v6 ? 22 : 14);
    this.ipCsumOff = v6 ? -1 : p.l3Offset + 10;
    const icmp = o.proto === 'icmp';
    this.l4WordOff = p.l4Offset + (icmp ? 4 : 0);
    this.l4CsumOff = p.l4Offset + (icmp ? 2 : o.proto === 'tcp' ? 16 : 6);
    const n = o.flows;
    this.fIpLow = new Uint16Array(n);
    this.fIpCsum = new Uint16Array(n);
    this.fL4Word = new Uint16Array(n);
    this.fL4Csum = new Uint16Array(n);
    this.fHash = new Int32Array(n);
    const tz = new Toeplitz(SYMMETRIC_RSS_KEY);
    const words = this.words;
    const scratchWords = new Uint8Array(words * 4);
    const scratch = scratchWords.subarray(0, frame.length);
    scratch.set(frame);
    // Up to 4 Mi words (16 MiB), every flow's whole frame is precomputed: a packet is then one
    // straight word copy, with no per-packet patching.
    const frames = n * words <= 1 << 22 ? new Int32Array(n * words) : null;
    this.frames = frames;
    const be16 = (o2: number): number => (scratch[o2] << 8) | scratch[o2 + 1];
    const put16 = (o2: number, val: number): void => {
      scratch[o2] = val >>> 8;
      scratch[o2 + 1] = val & 0xff;
    };
    for (let f = 0; f < n; f++) {
      // Flow f: source address low 16 bits = f mod 65536 (+1 so it is never .0), source
      // port (or echo id) = 1024 + f / 65536.
      put16(this.ipLowOff, ((f & 0xffff) + 1) & 0xffff);
      put16(this.l4WordOff, 1024 + (f >>> 16));
      if (!v6) fillIpv4HeaderChecksum(scratch, p.l3Offset);
      // Recompute the L4 checksum from scratch (setup time; correctness over speed).
      put16(this.l4CsumOff, 0);
      put16(this.l4CsumOff, l4Checksum(scratch, p, o.ipVersion, PROTO_NUM[o.proto]));
      if (frames !== null) frames.set(new Int32Array(scratchWords.buffer, 0, words), f * words);
      this.fIpLow[f] = be16(this.ipLowOff);
      this.fIpCsum[f] = v6 ? 0 : be16(p.l3Offset + 10);
      this.fL4Word[f] = be16(this.l4WordOff);
      this.fL4Csum[f] = be16(this.l4CsumOff);
      const sport = icmp ? 0 : 1024 + (f >>> 16);
      const dport = icmp ? 0 : 5001;
      this.fHash[f] = v6
        ? tz.hashIpv6(scratch, p.l3Offset + 8, p.l3Offset + 24, sport, dport)
        : tz.hashIpv4(
            (scratch[p.l3Offset + 12] << 24) | (scratch[p.l3Offset + 13] << 16) | be16(p.l3Offset + 14),
            (scratch[p.l3Offset + 16] << 24) | (scratch[p.l3Offset + 17] << 16) | be16(p.l3Offset + 18),
            sport,
            dport,
          );
    }
  }

  rxBurst(descs: Int32Array, count: number, now: number): number {
    const a = this.access;
    if (a === null || count <= 0) return 0;
    const o = this.opts;
    let n = count;
    if (o.count > 0 && n > o.count - this.sent) n = o.count - this.sent;
    if (o.rate > 0) {
      if (this.last < 0) this.last = now;
      this.tokens += ((now - this.last) * o.rate) / 1000;
      this.last = now;
      if (this.tokens > this.burst) this.tokens = this.burst;
      if (n > this.tokens) n = Math.floor(this.tokens);
      this.tokens -= n;
    }
    if (n <= 0) return 0;
    const u8 = a.u8;
    const i32 = a.i32;
    const f64 = a.f64;
    const t = this.template;
    const words = this.words;
    const frames = this.frames;
    const fHash = this.fHash;
    const len = o.size;
    const head = a.headroom;
    const flows = o.flows;
    const stamp = o.stamp;
    const sec = stamp ? Math.floor(Date.now() / 1000) : 0;
    let f = this.flow;
    for (let k = 0; k < n; k++) {
      const base = a.bufferOffset(descs[k]);
      const d32 = (base + head) >> 2;
      if (frames !== null) {
        const fw = f * words;
        for (let w = 0; w < words; w++) i32[d32 + w] = frames[fw + w];
      } else this.patch(u8, i32, d32, t, words, base + head, f);
      const m = base >> 2;
      i32[m + M_LEN] = len;
      i32[m + M_DATA_OFF] = head;
      i32[m + M_HASH] = fHash[f];
      i32[m + M_FLAGS] = FLAG_HASH;
      i32[m + M_TS_SEC] = sec;
      i32[m + M_TS_NSEC] = 0;
      if (stamp) f64[(base >> 3) + M_STAMP_F64] = now;
      else f64[(base >> 3) + M_STAMP_F64] = 0;
      if (++f === flows) f = 0;
    }
    this.flow = f;
    this.sent += n;
    return n;
  }

  /** The per-packet patch path, for flow counts too large to precompute whole frames. */
  private patch(u8: Uint8Array, i32: Int32Array, d32: number, t: Int32Array, words: number, d: number, f: number): void {
    for (let w = 0; w < words; w++) i32[d32 + w] = t[w];
    {
      let x = this.fIpLow[f];
      u8[d + this.ipLowOff] = x >>> 8;
      u8[d + this.ipLowOff + 1] = x;
      if (this.ipCsumOff >= 0) {
        x = this.fIpCsum[f];
        u8[d + this.ipCsumOff] = x >>> 8;
        u8[d + this.ipCsumOff + 1] = x;
      }
      x = this.fL4Word[f];
      u8[d + this.l4WordOff] = x >>> 8;
      u8[d + this.l4WordOff + 1] = x;
      x = this.fL4Csum[f];
      u8[d + this.l4CsumOff] = x >>> 8;
      u8[d + this.l4CsumOff + 1] = x;
    }
  }

  txBurst(): number {
    return 0;
  }

  exhausted(): boolean {
    return this.opts.count > 0 && this.sent >= this.opts.count;
  }

  nextDue(): number {
    if (this.opts.rate <= 0 || this.last < 0) return 0;
    return this.last + (Math.max(1, 1 - this.tokens) * 1000) / this.opts.rate;
  }

  stats(): PortStats {
    return { generated: this.sent, flows: this.opts.flows, size: this.opts.size };
  }

  async close(): Promise<void> {
    this.access = null;
  }
}

function l4Checksum(u8: Uint8Array, p: ParsedPacket, v: 4 | 6, proto: number): number {
  // ICMPv4 has no pseudo-header (RFC 792); ICMPv6, TCP and UDP do (RFC 8200 8.1, 9293, 768).
  if (v === 4 && proto === 1) return computeIcmpChecksum(u8, p.l4Offset, p.l4Len);
  if (v === 6 && proto === 1) return computeL4ChecksumV6(u8, p.l3Offset, p.l4Offset, p.l4Len, 58);
  return v === 4
    ? computeL4ChecksumV4(u8, p.l3Offset, p.l4Offset, p.l4Len, proto)
    : computeL4ChecksumV6(u8, p.l3Offset, p.l4Offset, p.l4Len, proto);
}
