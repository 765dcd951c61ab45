// Capture files for the pcap targets: valid classic pcap (both byte orders, µs and ns) and
// pcapng (both byte orders; SHB, several IDBs with if_tsresol/if_tsoffset/other options, EPB,
// SPB, the obsolete PB, unknown blocks, several sections), written here field by field so the
// generator knows where every magic, version, length, snaplen, link type, block length, option
// code and option length sits — and a corrupter that aims at those fields.
import type { Rng } from './prng.js';
import { genFrame } from './frames.js';
import { mutateBytes } from './frames.js';

export interface Field {
  at: number;
  size: 2 | 4;
  le: boolean;
  what: string;
}

export interface Capture {
  bytes: Uint8Array;
  format: 'pcap' | 'pcapng';
  fields: Field[];
  /** The records as written (for files left intact). */
  records: { data: Uint8Array; tsSec: number; tsNsec: number; origLen: number }[];
}

class Writer {
  private buf: number[] = [];
  readonly fields: Field[] = [];
  constructor(public le: boolean) {}
  get pos(): number {
    return this.buf.length;
  }
  u8(v: number): void {
    this.buf.push(v & 0xff);
  }
  u16(v: number, what?: string): void {
    if (what) this.fields.push({ at: this.pos, size: 2, le: this.le, what });
    if (this.le) this.buf.push(v & 0xff, (v >>> 8) & 0xff);
    else this.buf.push((v >>> 8) & 0xff, v & 0xff);
  }
  u32(v: number, what?: string): void {
    if (what) this.fields.push({ at: this.pos, size: 4, le: this.le, what });
    const b = [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
    if (!this.le) b.reverse();
    this.buf.push(...b);
  }
  bytes(b: Uint8Array): void {
    for (const x of b) this.buf.push(x);
  }
  pad4(): void {
    while (this.buf.length % 4 !== 0) this.buf.push(0);
  }
  patch32(at: number, v: number): void {
    const b = [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
    if (!this.le) b.reverse();
    for (let i = 0; i < 4; i++) this.buf[at + i] = b[i];
  }
  done(): Uint8Array {
    return Uint8Array.from(this.buf);
  }
}

function frames(rng: Rng, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(genFrame(rng, rng.chance(0.1) ? 3000 : 1514).frame);
  return out;
}

function classic(rng: Rng): Capture {
  const w = new Writer(rng.bool());
  const ns = rng.bool();
  w.u32(ns ? 0xa1b23c4d : 0xa1b2c3d4, 'magic');
  w.u16(2, 'version major');
  w.u16(4, 'version minor');
  w.u32(0);
  w.u32(0);
  const snaplen = rng.pick([65535, 262144, 1514, 96]);
  w.u32(snaplen, 'snaplen');
  w.u32(1, 'linktype');
  const records: Capture['records'] = [];
  for (const f of frames(rng, rng.int(0, 12))) {
    const incl = Math.min(f.length, snaplen);
    const tsSec = rng.u32();
    const frac = rng.below(ns ? 1_000_000_000 : 1_000_000);
    w.u32(tsSec, 'ts sec');
    w.u32(frac, 'ts frac');
    w.u32(incl, 'caplen');
    w.u32(f.length, 'origlen');
    w.bytes(f.subarray(0, incl));
    records.push({ data: f.subarray(0, incl), tsSec, tsNsec: ns ? frac : frac * 1000, origLen: f.length });
  }
  return { bytes: w.done(), format: 'pcap', fields: w.fields, records };
}

/** Starts a block; returns a function that ends it (padding, trailing length, both lengths patched). */
function block(w: Writer, type: number): () => void {
  const start = w.pos;
  w.u32(type, 'block type');
  w.u32(0, 'block length');
  return () => {
    w.pad4();
    const len = w.pos - start + 4;
    w.u32(len, 'block trailing length');
    w.patch32(start + 4, len);
  };
}

function option(w: Writer, code: number, value: Uint8Array): void {
  w.u16(code, 'option code');
  w.u16(value.length, 'option length');
  w.bytes(value);
  w.pad4();
}

function pcapng(rng: Rng): Capture {
  const w = new Writer(rng.bool());
  const records: Capture['records'] = [];
  const sections = rng.chance(0.85) ? 1 : 2;
  for (let s = 0; s < sections; s++) {
    let end = block(w, 0x0a0d0d0a);
    w.u32(0x1a2b3c4d, 'byte-order magic');
    w.u16(1, 'version major');
    w.u16(0, 'version minor');
    w.u32(0xffffffff);
    w.u32(0xffffffff);
    if (rng.chance(0.3)) {
      option(w, 4, new TextEncoder().encode('netvm fuzz')); // shb_userappl
      option(w, 0, new Uint8Array(0));
    }
    end();
    const ifaces: { units: bigint; offset: bigint; snaplen: number }[] = [];
    const nIf = rng.int(1, 3);
    for (let i = 0; i < nIf; i++) {
      end = block(w, 1);
      w.u16(1, 'idb linktype');
      w.u16(0);
      const snaplen = rng.pick([0, 65535, 1514, 128]);
      w.u32(snaplen, 'idb snaplen');
      let units = 1_000_000n;
      let offset = 0n;
      if (rng.chance(0.6)) {
        const v = rng.pick([6, 9, 3, 0, 0x80 | 10, 0x80 | 20, 12]);
        units = v & 0x80 ? 1n << BigInt(v & 0x7f) : 10n ** BigInt(v);
        option(w, 9, Uint8Array.of(v));
      }
      if (rng.chance(0.3)) {
        offset = BigInt(rng.int(0, 100000));
        const b = new Uint8Array(8);
        new DataView(b.buffer).setBigInt64(0, offset, w.le);
        option(w, 14, b);
      }
      if (rng.chance(0.3)) option(w, 2, new TextEncoder().encode('eth0')); // if_name
      if (rng.chance(0.7)) option(w, 0, new Uint8Array(0));
      end();
      ifaces.push({ units, offset, snaplen });
    }
    for (const f of frames(rng, rng.int(0, 10))) {
      const kind = rng.weighted([
        [8, 'epb'],
        [1, 'spb'],
        [1, 'pb'],
        [1, 'other'],
      ] as const);
      if (kind === 'other') {
        end = block(w, rng.pick([4, 5, 0x0bad, 10, 0x40000bad]));
        w.bytes(rng.bytes(rng.int(0, 40)));
        end();
      }
      const ifId = kind === 'spb' ? 0 : rng.below(ifaces.length);
      const iface = ifaces[ifId];
      const incl = iface.snaplen > 0 ? Math.min(f.length, iface.snaplen) : f.length;
      if (kind === 'spb') {
        end = block(w, 3);
        w.u32(f.length, 'spb origlen');
        w.bytes(f.subarray(0, incl));
        end();
        records.push({ data: f.subarray(0, incl), tsSec: 0, tsNsec: 0, origLen: f.length });
        continue;
      }
      const ts = (BigInt(rng.u32()) << 8n) | BigInt(rng.byte());
      end = block(w, kind === 'pb' ? 2 : 6);
      if (kind === 'pb') {
        w.u16(ifId, 'pb interface');
        w.u16(0);
      } else w.u32(ifId, 'epb interface');
      w.u32(Number(ts >> 32n), 'ts high');
      w.u32(Number(ts & 0xffffffffn), 'ts low');
      w.u32(incl, 'epb caplen');
      w.u32(f.length, 'epb origlen');
      w.bytes(f.subarray(0, incl));
      w.pad4();
      if (rng.chance(0.2)) {
        option(w, 1, new TextEncoder().encode('comment'));
        option(w, 0, new Uint8Array(0));
      }
      end();
      const units = iface.units;
      records.push({
        data: f.subarray(0, incl),
        tsSec: Number(ts / units + iface.offset),
        tsNsec: Number(((ts % units) * 1_000_000_000n) / units),
        origLen: f.length,
      });
    }
  }
  return { bytes: w.done(), format: 'pcapng', fields: w.fields, records };
}

/** A valid capture file. */
export function genCapture(rng: Rng): Capture {
  return rng.chance(0.45) ? classic(rng) : pcapng(rng);
}

const INTERESTING32 = [
  0, 1, 3, 4, 8, 11, 12, 13, 16, 28, 0x7f, 0xff, 0x100, 0xffff, 0x10000, 262144, 262145, 0x7fffffff, 0x80000000, 0xfffffffc, 0xffffffff,
];

function writeField(b: Uint8Array, f: Field, v: number): void {
  if (f.at + f.size > b.length) return;
  for (let i = 0; i < f.size; i++) {
    const shift = 8 * (f.le ? i : f.size - 1 - i);
    b[f.at + i] = Math.floor(v / 2 ** shift) & 0xff;
  }
}

function readField(b: Uint8Array, f: Field): number {
  let v = 0;
  for (let i = 0; i < f.size; i++) v += b[f.at + i] * 2 ** (8 * (f.le ? i : f.size - 1 - i));
  return v;
}

export const CAPTURE_MUTATIONS = ['field', 'field-near', 'truncate', 'bytes', 'duplicate-block', 'append-garbage', 'swap-order'] as const;

/** Applies 1..3 corruptions aimed at the capture's fields; returns the bytes and what was done. */
export function corruptCapture(rng: Rng, c: Capture): { bytes: Uint8Array; applied: string[] } {
  let b: Uint8Array = c.bytes.slice();
  const applied: string[] = [];
  const n = rng.int(1, 3);
  for (let k = 0; k < n; k++) {
    const m = rng.pick(CAPTURE_MUTATIONS);
    const f = c.fields.length > 0 ? rng.pick(c.fields) : undefined;
    if ((m === 'field' || m === 'field-near') && f !== undefined && f.at + f.size <= b.length) {
      const v =
        m === 'field'
          ? rng.pick(f.size === 2 ? [0, 1, 2, 4, 9, 14, 0xff, 0x7fff, 0xffff] : INTERESTING32)
          : readField(b, f) + rng.int(-8, 8);
      writeField(b, f, ((v % 2 ** (8 * f.size)) + 2 ** (8 * f.size)) % 2 ** (8 * f.size));
      applied.push(`${f.what}=${v}`);
    } else if (m === 'truncate') {
      const marks = c.fields.map((x) => x.at);
      const at = rng.chance(0.6) && marks.length > 0 ? rng.pick(marks) + rng.int(-2, 5) : rng.below(b.length + 1);
      b = b.slice(0, Math.max(0, Math.min(b.length, at)));
      applied.push(`truncate@${b.length}`);
    } else if (m === 'duplicate-block' && b.length > 8) {
      const at = rng.below(b.length);
      const len = Math.min(b.length - at, rng.int(4, 200));
      const out = new Uint8Array(b.length + len);
      out.set(b.subarray(0, at + len), 0);
      out.set(b.subarray(at, at + len), at + len);
      out.set(b.subarray(at + len), at + 2 * len);
      b = out;
      applied.push('duplicate');
    } else if (m === 'append-garbage') {
      const g = rng.bytes(rng.int(1, 64));
      const out = new Uint8Array(b.length + g.length);
      out.set(b, 0);
      out.set(g, b.length);
      b = out;
      applied.push('append');
    } else if (m === 'swap-order' && b.length >= 4) {
      // The magic read in the other byte order: a file from the other endianness, half-converted.
      b.subarray(0, 4).reverse();
      applied.push('swap-magic');
    } else {
      b = mutateBytes(rng, b, rng.int(1, 6));
      applied.push('bytes');
    }
  }
  return { bytes: b, applied };
}
