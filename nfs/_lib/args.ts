// Argument validation shared by the catalog NFs: each helper checks one field and throws
// NETVM_NF_ARGS naming it (`NF "nat": args.timeouts.udp must be ...`), so a bad config fails at
// start with the field to fix. Setup-time code: allocates and throws freely.
import { argError } from '../../src/nflib/index.js';
import { parseIpv4, parseIpv6, parseMac } from '../../src/proto/address.js';

export type Raw = Record<string, unknown>;

/** Reads the fields of one args object (or a nested object of it, with a path prefix). */
export class Args {
  constructor(
    readonly nf: string,
    readonly raw: Raw,
    /** Path of this object inside args, '' at the top ("rules[2]." below). */
    readonly at = '',
  ) {}

  fail(field: string, problem: string): never {
    throw argError(this.nf, this.at + field, problem);
  }

  /** Rejects keys not in `known` (a misspelt key is an error, never ignored). */
  known(keys: readonly string[]): this {
    for (const k of Object.keys(this.raw)) if (!keys.includes(k)) this.fail(k, `is not a known key here (known: ${keys.join(', ')})`);
    return this;
  }

  has(field: string): boolean {
    return this.raw[field] !== undefined;
  }

  int(field: string, dflt: number | undefined, min: number, max: number, what = `an integer ${min}..${max}`): number {
    const v = this.raw[field] ?? dflt;
    if (v === undefined) this.fail(field, `is required (${what})`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(field, `must be ${what}, got ${JSON.stringify(v)}`);
    return v;
  }

  num(field: string, dflt: number, min: number, max: number, what: string): number {
    const v = this.raw[field] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) this.fail(field, `must be ${what}, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(field: string, dflt: boolean): boolean {
    const v = this.raw[field] ?? dflt;
    if (typeof v !== 'boolean') this.fail(field, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  oneOf<T extends string>(field: string, dflt: T | undefined, values: readonly T[]): T {
    const v = this.raw[field] ?? dflt;
    if (v === undefined) this.fail(field, `is required (one of ${values.join(', ')})`);
    if (typeof v !== 'string' || !values.includes(v as T))
      this.fail(field, `must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  }

  str(field: string, dflt?: string): string {
    const v = this.raw[field] ?? dflt;
    if (typeof v !== 'string' || v.length === 0) this.fail(field, `must be a non-empty string, got ${JSON.stringify(v)}`);
    return v;
  }

  /** A nested object (required unless `optional`); undefined when optional and absent. */
  obj(field: string, optional: true): Args | undefined;
  obj(field: string, optional?: false): Args;
  obj(field: string, optional = false): Args | undefined {
    const v = this.raw[field];
    if (v === undefined && optional) return undefined;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(field, `must be an object, got ${JSON.stringify(v)}`);
    return new Args(this.nf, v as Raw, `${this.at}${field}.`);
  }

  /** A list; `each` reads element i (an Args for objects, or the raw value). */
  list(field: string, optional: boolean, min = 0): unknown[] {
    const v = this.raw[field];
    if (v === undefined && optional) return [];
    if (!Array.isArray(v)) this.fail(field, `must be a list, got ${JSON.stringify(v)}`);
    if (v.length < min) this.fail(field, `must have at least ${min} entr${min === 1 ? 'y' : 'ies'}`);
    return v;
  }

  /** Element i of list `field` as an object. */
  item(field: string, i: number, v: unknown): Args {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(`${field}[${i}]`, `must be an object, got ${JSON.stringify(v)}`);
    return new Args(this.nf, v as Raw, `${this.at}${field}[${i}].`);
  }
}

// ------------------------------------------------------------------ typed values

/** An address prefix: IPv4 in word 0, IPv6 in words 0..3 (most significant first), host bits clear. */
export interface Prefix {
  version: 4 | 6;
  words: Uint32Array;
  len: number;
  text: string;
}

/** Parses "10.0.0.0/8", "2001:db8::/32" or a single address; returns an error text on failure. */
export function parsePrefix(text: unknown): Prefix | string {
  if (typeof text !== 'string') return `must be an address or CIDR prefix string, got ${JSON.stringify(text)}`;
  const slash = text.indexOf('/');
  const addrText = slash >= 0 ? text.slice(0, slash) : text;
  const version: 4 | 6 = addrText.includes(':') ? 6 : 4;
  const max = version === 4 ? 32 : 128;
  const words = new Uint32Array(4);
  try {
    if (version === 4) words[0] = parseIpv4(addrText);
    else {
      const b = parseIpv6(addrText);
      for (let w = 0; w < 4; w++) words[w] = ((b[w * 4] << 24) | (b[w * 4 + 1] << 16) | (b[w * 4 + 2] << 8) | b[w * 4 + 3]) >>> 0;
    }
  } catch {
    return `invalid address in ${JSON.stringify(text)} (expected e.g. "10.0.0.0/8", "2001:db8::/32" or one address)`;
  }
  let len = max;
  if (slash >= 0) {
    const l = text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(l) || Number(l) > max) return `invalid prefix length in ${JSON.stringify(text)}: must be 0..${max}`;
    len = Number(l);
  }
  for (let w = 0; w < 4; w++) words[w] = (words[w] & maskWord(len, w)) >>> 0;
  return { version, words, len, text };
}

/** Mask of address word `w` for a prefix of `len` bits. */
export function maskWord(len: number, w: number): number {
  const bits = Math.max(0, Math.min(32, len - w * 32));
  return bits === 0 ? 0 : bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

/** An IPv4 address as an unsigned number, or an error text. */
export function parseAddr4(text: unknown): number | string {
  if (typeof text !== 'string') return `must be an IPv4 address string, got ${JSON.stringify(text)}`;
  try {
    return parseIpv4(text);
  } catch {
    return `must be an IPv4 address, got ${JSON.stringify(text)}`;
  }
}

export function parseMacArg(text: unknown): Uint8Array | string {
  if (typeof text !== 'string') return `must be a MAC address string like "02:00:00:00:00:01", got ${JSON.stringify(text)}`;
  try {
    return parseMac(text);
  } catch {
    return `must be a MAC address like "02:00:00:00:00:01", got ${JSON.stringify(text)}`;
  }
}

/** A port number (53) or an inclusive range "lo-hi"; returns [lo, hi] or an error text. */
export function parsePortRange(v: unknown): [number, number] | string {
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0 && v <= 65535) return [v, v];
    return `must be a port 0..65535, got ${v}`;
  }
  if (typeof v === 'string') {
    const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(v.trim());
    if (m !== null) {
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : Number(m[2]);
      if (lo <= hi && hi <= 65535) return [lo, hi];
    }
  }
  return `must be a port 0..65535 or a range "lo-hi" with lo <= hi, got ${JSON.stringify(v)}`;
}

const PROTOS: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, sctp: 132, gre: 47, esp: 50, ah: 51 };

/** "tcp", "udp", … or a number 0..255; returns the protocol number or an error text. */
export function parseProto(v: unknown): number | string {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255) return v;
  if (typeof v === 'string' && PROTOS[v] !== undefined) return PROTOS[v];
  return `must be ${Object.keys(PROTOS).join(', ')} or a number 0..255, got ${JSON.stringify(v)}`;
}

export function ok<T>(a: Args, field: string, r: T | string): T {
  if (typeof r === 'string') a.fail(field, r);
  return r;
}
