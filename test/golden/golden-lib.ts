// Golden cases for the catalog NFs: each gen-<nf>.ts builds, from first principles with the
// packet builder, the input capture(s), the config and the expected output capture(s) —
// every expected packet is built as the protocol says it must look (TTL decremented,
// addresses translated, checksums computed afresh), never by running the NF. `npm test`
// checks that the committed files are what the generators make, then runs the real CLI on
// them and compares its output byte for byte.
//
// Regenerate after changing a generator: node --import tsx test/golden/gen.ts [nf ...]
import fs from 'node:fs';
import path from 'node:path';
import { writePcap } from '../../src/ports/pcap/pcap-format.js';

/** A packet and its timestamp. */
export interface Frame {
  data: Uint8Array;
  /** Milliseconds after T0 (an output packet keeps its input packet's time). */
  t: number;
}

export interface GoldenCase {
  nf: string;
  /** What the case shows (printed by the test). */
  what: string;
  config: string;
  inputs: Record<string, Frame[]>;
  expected: Record<string, Frame[]>;
  /** Per service: NF counters that must have these values after the run. */
  counters: Record<string, Record<string, number>>;
}

export const T0 = 1_700_000_000;

export function pcapBytes(frames: Frame[]): Uint8Array {
  return writePcap(
    frames.map((f) => ({ data: f.data, tsSec: T0 + Math.floor(f.t / 1000), tsNsec: (f.t % 1000) * 1_000_000 })),
    { format: 'pcap', precision: 'us' },
  );
}

/** The files of a case, by name: config.yaml, inputs, expected-<output>. */
export function caseFiles(c: GoldenCase): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  files.set('config.yaml', new TextEncoder().encode(c.config));
  for (const [name, frames] of Object.entries(c.inputs)) files.set(name, pcapBytes(frames));
  for (const [name, frames] of Object.entries(c.expected)) files.set(`expected-${name}`, pcapBytes(frames));
  return files;
}

export function writeCase(dir: string, c: GoldenCase): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of caseFiles(c)) fs.writeFileSync(path.join(dir, name), bytes);
}

/** Builds a case's input stream, packets 1 ms apart unless told otherwise. */
export class Inputs {
  readonly frames: Frame[] = [];
  private next = 0;
  /** Appends an input packet (at `atMs` after T0, default 1 ms after the previous one); returns its time. */
  add(data: Uint8Array, atMs?: number): number {
    const t = atMs ?? this.next;
    this.next = t + 1;
    this.frames.push({ data, t });
    return t;
  }
}
