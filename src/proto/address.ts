/**
 * Text <-> binary conversions for IPv4, IPv6 and MAC addresses.
 *
 * These are for configuration, tests and tooling, not the packet hot path: they allocate and
 * throw on bad input.
 */

/** Parses dotted-quad IPv4 text ("10.0.0.1") into an unsigned 32-bit number. */
export function parseIpv4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4) throw new Error(`invalid IPv4 address: ${text}`);
  let v = 0;
  for (const p of parts) {
    // Decimal only, no leading "+"/"-"/spaces; leading zeros are ambiguous (octal in inet_aton).
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) throw new Error(`invalid IPv4 address: ${text}`);
    const n = Number(p);
    if (n > 255) throw new Error(`invalid IPv4 address: ${text}`);
    v = v * 256 + n;
  }
  return v >>> 0;
}

/** Formats an unsigned 32-bit IPv4 address as dotted-quad text. */
export function formatIpv4(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/** Writes an IPv4 address (number) as 4 network-order bytes at `off`. */
export function writeIpv4(u8: Uint8Array, off: number, addr: number): void {
  u8[off] = addr >>> 24;
  u8[off + 1] = addr >>> 16;
  u8[off + 2] = addr >>> 8;
  u8[off + 3] = addr;
}

function parseGroups(text: string, full: string, allowV4: boolean): number[] {
  if (text === '') return [];
  const out: number[] = [];
  const parts = text.split(':');
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (allowV4 && i === parts.length - 1 && p.includes('.')) {
      // RFC 4291 §2.2 form 3: trailing dotted IPv4 ("::ffff:192.0.2.1").
      const v4 = parseIpv4(p);
      out.push(v4 >>> 16, v4 & 0xffff);
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) throw new Error(`invalid IPv6 address: ${full}`);
      out.push(parseInt(p, 16));
    }
  }
  return out;
}

/**
 * Parses IPv6 text (RFC 4291 §2.2: full form, "::" compression, trailing dotted IPv4) into
 * 16 network-order bytes. A zone suffix ("%eth0") is not accepted.
 */
export function parseIpv6(text: string): Uint8Array {
  const dc = text.indexOf('::');
  let groups: number[];
  if (dc >= 0) {
    if (text.indexOf('::', dc + 1) >= 0) throw new Error(`invalid IPv6 address: ${text}`);
    const head = parseGroups(text.slice(0, dc), text, false);
    const tail = parseGroups(text.slice(dc + 2), text, true);
    // "::" stands for one or more zero groups (RFC 4291 §2.2 form 2).
    const fill = 8 - head.length - tail.length;
    if (fill < 1) throw new Error(`invalid IPv6 address: ${text}`);
    groups = head.concat(new Array<number>(fill).fill(0), tail);
  } else {
    groups = parseGroups(text, text, true);
  }
  if (groups.length !== 8) throw new Error(`invalid IPv6 address: ${text}`);
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[i * 2] = groups[i] >>> 8;
    out[i * 2 + 1] = groups[i] & 0xff;
  }
  return out;
}

/**
 * Formats 16 bytes at `off` as canonical IPv6 text (RFC 5952 §4: lowercase, no leading zeros,
 * the longest run of two or more zero groups compressed to "::", the first such run on a tie).
 */
export function formatIpv6(u8: Uint8Array, off = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((u8[off + i * 2] << 8) | u8[off + i * 2 + 1]);
  let bestStart = -1;
  let bestLen = 1; // a single zero group is never compressed (RFC 5952 §4.2.2)
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number, b: number): string =>
    g
      .slice(a, b)
      .map((x) => x.toString(16))
      .join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/** Parses "aa:bb:cc:dd:ee:ff" (or with '-' separators) into 6 bytes. */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6) throw new Error(`invalid MAC address: ${text}`);
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) {
    if (!/^[0-9a-fA-F]{1,2}$/.test(parts[i])) throw new Error(`invalid MAC address: ${text}`);
    out[i] = parseInt(parts[i], 16);
  }
  return out;
}

/** Formats 6 bytes at `off` as lowercase colon-separated MAC text. */
export function formatMac(u8: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    if (i > 0) s += ':';
    s += u8[off + i].toString(16).padStart(2, '0');
  }
  return s;
}
