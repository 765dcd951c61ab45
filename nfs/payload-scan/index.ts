// payload-scan: looks for any of a set of byte patterns in packet payloads (Aho–Corasick,
// aho-corasick.ts: one table lookup per byte, whatever the number of patterns) and drops,
// alerts on, or diverts to another service the packets — and by default the whole flow, both
// directions — where one is found.
//
// What is scanned: the L4 payload of TCP, UDP, SCTP and ICMP (after their headers), the IP
// payload of other protocols, the fragment's bytes for a non-first fragment, the bytes after the
// Ethernet header of non-IP frames. A malformed packet (its headers do not parse) is counted and
// scanned whole from the end of the Ethernet header, so a broken header does not hide a pattern.
// Each packet is scanned on its own: a pattern split across two packets is not seen (no stream
// reassembly).
import fs from 'node:fs';
import {
  ArgReader,
  argError,
  defineNF,
  FlowTable,
  KEY_5TUPLE,
  formatIpv4,
  formatIpv6,
  type NFContext,
  type Packet,
  type PacketBatch,
} from '../../src/nflib/index.js';
import { AhoCorasick, MAX_TABLE_ENTRIES } from './aho-corasick.js';

export interface PatternSpec {
  /** Text (UTF-8 bytes). */
  text?: string;
  /** Bytes in hex ("deadbeef", spaces allowed). */
  hex?: string;
  /** Name used in alerts and counters (default: the text, or "hex:..."). */
  name?: string;
}

export interface PayloadScanArgs {
  patterns: (string | PatternSpec)[];
  /** A file of patterns, one per line (as `grep -F -f`); empty lines are skipped. */
  patternFile?: string;
  caseInsensitive: boolean;
  action: 'drop' | 'alert' | 'divert';
  /** The service diverted packets go to (action divert). */
  to?: string;
  /** "flow": once a packet matches, every later packet of its flow gets the action too. */
  scope: 'packet' | 'flow';
  maxFlows: number;
  /** Seconds after which a flagged flow that sent nothing is forgotten. */
  flowTimeout: number;
  /** Alert log lines per second, at most (the counters count every match). */
  alertsPerSecond: number;
}

const NF = 'payload-scan';
const KNOWN = ['patterns', 'patternFile', 'caseInsensitive', 'action', 'to', 'scope', 'maxFlows', 'flowTimeout', 'alertsPerSecond'];
/** Patterns whose match counts are published one counter each (more would swamp the stats). */
const MAX_PATTERN_COUNTERS = 64;

function parseArgs(raw: Record<string, unknown>): PayloadScanArgs {
  const r = new ArgReader(NF, raw, KNOWN);
  const patterns: (string | PatternSpec)[] = [];
  if (r.has('patterns')) {
    const list = r.raw.patterns;
    if (!Array.isArray(list)) throw r.error('patterns', 'must be a list of strings or { text | hex, name } objects');
    list.forEach((p, i) => {
      const field = `patterns[${i}]`;
      if (typeof p === 'string') {
        if (p.length === 0) throw r.error(field, 'is empty (an empty pattern would match everything)');
        patterns.push(p);
        return;
      }
      if (typeof p !== 'object' || p === null) throw r.error(field, `must be a string or { text | hex, name }, got ${JSON.stringify(p)}`);
      const o = p as Record<string, unknown>;
      for (const k of Object.keys(o))
        if (!['text', 'hex', 'name'].includes(k)) throw r.error(`${field}.${k}`, 'is not a pattern field (text, hex, name)');
      if ((o.text === undefined) === (o.hex === undefined)) throw r.error(field, 'needs exactly one of text and hex');
      if (o.text !== undefined && (typeof o.text !== 'string' || o.text.length === 0))
        throw r.error(`${field}.text`, 'must be a non-empty string');
      if (o.hex !== undefined && (typeof o.hex !== 'string' || !/^([0-9a-fA-F]{2}\s*)+$/.test(o.hex.trim())))
        throw r.error(`${field}.hex`, `must be hex bytes like "de ad be ef", got ${JSON.stringify(o.hex)}`);
      if (o.name !== undefined && (typeof o.name !== 'string' || o.name.length === 0))
        throw r.error(`${field}.name`, 'must be a non-empty string');
      patterns.push(o as PatternSpec);
    });
  }
  const patternFile = r.string('patternFile', false, 'a file path');
  if (patterns.length === 0 && patternFile === undefined)
    throw r.error('patterns', 'is required (or args.patternFile): at least one pattern');
  const caseInsensitive = r.bool('caseInsensitive', false);
  const action = r.oneOf('action', ['drop', 'alert', 'divert'] as const, 'alert');
  const to = r.string('to', false, 'a service name');
  if (action === 'divert' && to === undefined)
    throw r.error('to', 'is required for action "divert": the service to send matching packets to');
  if (action !== 'divert' && to !== undefined) throw r.error('to', 'applies to action "divert" only');
  const scope = r.oneOf('scope', ['packet', 'flow'] as const, 'flow');
  const maxFlows = r.int('maxFlows', 1, 1 << 22, 65536);
  const flowTimeout = r.number('flowTimeout', { min: 0, exclusiveMin: true, max: 86400 * 7 }, 300);
  const alertsPerSecond = r.int('alertsPerSecond', 0, 100000, 10);
  const out: PayloadScanArgs = { patterns, caseInsensitive, action, scope, maxFlows, flowTimeout, alertsPerSecond };
  if (patternFile !== undefined) out.patternFile = patternFile;
  if (to !== undefined) out.to = to;
  return out;
}

interface Compiled {
  bytes: Uint8Array[];
  names: string[];
}

/** Pattern bytes and names from the args and the pattern file (setup; throws NETVM_NF_ARGS). */
export function compilePatterns(a: PayloadScanArgs): Compiled {
  const bytes: Uint8Array[] = [];
  const names: string[] = [];
  const enc = new TextEncoder();
  for (const p of a.patterns) {
    if (typeof p === 'string') {
      bytes.push(enc.encode(p));
      names.push(p);
    } else if (p.text !== undefined) {
      bytes.push(enc.encode(p.text));
      names.push(p.name ?? p.text);
    } else {
      const h = (p.hex ?? '').replace(/\s+/g, '');
      bytes.push(Uint8Array.from(Buffer.from(h, 'hex')));
      names.push(p.name ?? `hex:${h.toLowerCase()}`);
    }
  }
  if (a.patternFile !== undefined) {
    let data: Buffer;
    try {
      data = fs.readFileSync(a.patternFile);
    } catch (err) {
      throw argError(NF, 'patternFile', `cannot be read: ${(err as Error).message}`);
    }
    let start = 0;
    let n = 0;
    for (let i = 0; i <= data.length; i++) {
      if (i < data.length && data[i] !== 0x0a) continue;
      if (i > start) {
        const line = Uint8Array.from(data.subarray(start, i));
        bytes.push(line);
        names.push(Buffer.from(line).toString('latin1'));
        n++;
      }
      start = i + 1;
    }
    if (n === 0) throw argError(NF, 'patternFile', `has no patterns (${a.patternFile})`);
  }
  return { bytes, names };
}

class ScanState {
  readonly ac: AhoCorasick;
  readonly names: string[];
  readonly action: number;
  readonly divertTo: number;
  readonly flowScope: boolean;
  readonly flows: FlowTable;
  readonly flowPattern: Int32Array;
  readonly lastSeen: Float64Array;
  readonly timeout: number;
  readonly perPattern: Float64Array;
  /** "match:<name>" per pattern, made once (publish runs every batch). */
  readonly counterKeys: string[];
  alertBudget: number;
  readonly alertsPerTick: number;
  now = 0;
  packets = 0;
  scanned = 0;
  bytesScanned = 0;
  matched = 0;
  flowHits = 0;
  flowsFlagged = 0;
  dropped = 0;
  alerted = 0;
  diverted = 0;
  malformed = 0;
  alertsSuppressed = 0;
  expired = 0;
  /** Alerts waiting to be logged (off the hot path, at the tick). */
  readonly pendingAlerts: { pattern: string; flow: string }[] = [];

  constructor(a: PayloadScanArgs, c: Compiled, divertTo: number) {
    this.ac = new AhoCorasick(c.bytes, a.caseInsensitive);
    this.names = c.names;
    this.action = a.action === 'drop' ? 0 : a.action === 'alert' ? 1 : 2;
    this.divertTo = divertTo;
    this.flowScope = a.scope === 'flow';
    // Symmetric: a flagged flow's replies get the same treatment.
    this.flows = new FlowTable(this.flowScope ? a.maxFlows : 1, KEY_5TUPLE, true);
    this.flowPattern = new Int32Array(this.flows.capacity);
    this.lastSeen = new Float64Array(this.flows.capacity);
    this.timeout = a.flowTimeout;
    this.perPattern = new Float64Array(c.bytes.length);
    this.counterKeys = c.names.length <= MAX_PATTERN_COUNTERS ? c.names.map((n) => `match:${n}`) : [];
    this.alertsPerTick = a.alertsPerSecond;
    this.alertBudget = a.alertsPerSecond;
  }

  private act(pkt: Packet, pattern: number): void {
    if (this.action === 0) {
      pkt.drop();
      this.dropped++;
    } else if (this.action === 1) {
      pkt.next();
      this.alerted++;
      if (this.alertBudget > 0) {
        this.alertBudget--;
        this.pendingAlerts.push({ pattern: this.names[pattern], flow: describe(pkt) });
      } else this.alertsSuppressed++;
    } else {
      pkt.toService(this.divertTo);
      this.diverted++;
    }
  }

  process(batch: PacketBatch, now: number): void {
    this.now = now;
    const ac = this.ac;
    const flows = this.flows;
    for (let i = 0; i < batch.length; i++) {
      const pkt = batch.packets[i];
      pkt.next();
      this.packets++;
      const p = pkt.parsed;
      const ip = p.ok && p.ipVersion !== 0;
      if (this.flowScope && ip) {
        const e = flows.lookup(pkt.u8, p, false);
        if (e >= 0) {
          // Already flagged: the verdict stands without scanning.
          this.lastSeen[e] = now;
          this.flowHits++;
          this.act(pkt, this.flowPattern[e]);
          continue;
        }
      }
      let from: number;
      let to: number;
      const end = pkt.offset + pkt.length;
      if (p.ok) {
        from = ip ? p.payloadOffset : p.l3Offset;
        to = ip ? p.payloadOffset + p.payloadLen : end;
      } else {
        this.malformed++;
        from = pkt.offset + (pkt.length < 14 ? 0 : 14);
        to = end;
      }
      this.scanned++;
      this.bytesScanned += to - from;
      const m = ac.scan(pkt.u8, from, to);
      if (m < 0) continue;
      this.matched++;
      this.perPattern[m]++;
      if (this.flowScope && ip) {
        const e = flows.lookup(pkt.u8, p, true);
        if (e >= 0) {
          this.flowPattern[e] = m;
          this.lastSeen[e] = now;
          this.flowsFlagged++;
        }
      }
      this.act(pkt, m);
    }
  }

  /** Forgets flagged flows silent for `timeout` seconds; refills the alert budget (tick). */
  tick(now: number): void {
    this.alertBudget = this.alertsPerTick;
    const used = this.flows.used;
    for (let e = 0; e < this.flows.capacity; e++) {
      if (used[e] === 1 && now - this.lastSeen[e] > this.timeout) {
        this.flows.remove(e);
        this.expired++;
      }
    }
  }

  publish(c: Record<string, number>): void {
    c.packets = this.packets;
    c.scanned = this.scanned;
    c.bytesScanned = this.bytesScanned;
    c.matched = this.matched;
    c.flowHits = this.flowHits;
    c.flowsFlagged = this.flowsFlagged;
    c.flows = this.flows.size;
    c.tableFull = this.flows.full;
    c.expired = this.expired;
    c.dropped = this.dropped;
    c.alerted = this.alerted;
    c.diverted = this.diverted;
    c.malformed = this.malformed;
    c.alertsSuppressed = this.alertsSuppressed;
    const keys = this.counterKeys;
    for (let k = 0; k < keys.length; k++) c[keys[k]] = this.perPattern[k];
  }
}

/** "src -> dst proto" of a parsed packet (for alert lines only: allocates). */
function describe(pkt: Packet): string {
  const p = pkt.parsed;
  if (!p.ok || p.ipVersion === 0) return `non-IP or malformed frame of ${pkt.length} bytes`;
  const u8 = pkt.u8;
  const l3 = p.l3Offset;
  const addr = (o: number): string =>
    p.ipVersion === 4 ? formatIpv4(((u8[o] << 24) | (u8[o + 1] << 16) | (u8[o + 2] << 8) | u8[o + 3]) >>> 0) : `[${formatIpv6(u8, o)}]`;
  const s = addr(l3 + (p.ipVersion === 4 ? 12 : 8));
  const d = addr(l3 + (p.ipVersion === 4 ? 16 : 24));
  return `${s}:${p.srcPort} -> ${d}:${p.dstPort} proto ${p.l4Proto}`;
}

const states = new WeakMap<object, ScanState>();

export default defineNF<PayloadScanArgs>({
  name: NF,
  args: parseArgs,
  setup: (ctx: NFContext<PayloadScanArgs>) => {
    const c = compilePatterns(ctx.args);
    let st: ScanState;
    try {
      st = new ScanState(ctx.args, c, ctx.args.to !== undefined ? ctx.serviceId(ctx.args.to) : -1);
    } catch (err) {
      if (err instanceof RangeError)
        throw argError(NF, 'patterns', `are too large for the automaton (${err.message}; limit ${MAX_TABLE_ENTRIES} entries)`);
      throw err;
    }
    states.set(ctx, st);
    st.publish(ctx.counters);
  },
  process: (batch, ctx) => {
    const st = states.get(ctx);
    if (st === undefined) return;
    st.process(batch, performance.now() / 1000);
    st.publish(ctx.counters);
  },
  tickMs: 1000,
  tick: (ctx) => {
    const st = states.get(ctx);
    if (st === undefined) return;
    for (const a of st.pendingAlerts.splice(0)) ctx.log(`payload-scan: "${a.pattern}" in ${a.flow}`, { pattern: a.pattern, flow: a.flow });
    st.tick(performance.now() / 1000);
    st.publish(ctx.counters);
  },
  teardown: (ctx) => {
    const st = states.get(ctx);
    if (st === undefined) return;
    for (const a of st.pendingAlerts.splice(0)) ctx.log(`payload-scan: "${a.pattern}" in ${a.flow}`, { pattern: a.pattern, flow: a.flow });
    st.publish(ctx.counters);
  },
});
