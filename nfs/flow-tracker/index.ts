// flow-tracker: keeps per-flow records — packets and bytes each way, first and last seen, and
// for TCP the connection's state as an observer in the middle sees it — logs the top flows
// every `interval` seconds, and exports each flow as one JSON line when it ends (idle, TCP
// close or reset, eviction, shutdown). Every packet passes on unchanged.
//
// A flow is the 5-tuple, both directions together (the "forward" direction is the one of its
// first packet: the client's, when the capture starts with the SYN). Non-first fragments
// carry no ports, so they count under their addresses and protocol with ports 0.
//
// TCP states (RFC 9293 §3.3.2, simplified to what is visible from the middle, like Linux
// conntrack): syn-sent (SYN seen), syn-received (SYN+ACK back), established (the handshake's
// ACK, or — for a connection picked up mid-stream, "new" — traffic both ways), fin-wait (a FIN
// from one side), closed (FINs from both), reset (a RST). Closed and reset flows are exported
// after `closedTimeout` seconds, so the last ACKs still count; others after `idleTimeout`.
//
// Time: the wall clock (once per batch), or with clock: "packet" the capture timestamps; then
// expiry is decided in packet order only — when a flow's key shows up again after its
// timeout, when the table needs room, and at the end — so a replay always writes the same file.
import fs from 'node:fs';
import {
  ArgReader,
  argError,
  defineNF,
  FlowTable,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  KEY_5TUPLE,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  type NFContext,
  type PacketBatch,
} from '../../src/nflib/index.js';

export interface FlowTrackerArgs {
  /** JSON lines file for ended flows (absent: no export). */
  file?: string;
  maxFlows: number;
  idleTimeout: number;
  closedTimeout: number;
  /** Seconds between top-N log lines; 0 = never. */
  interval: number;
  top: number;
  clock: 'wall' | 'packet';
}

const NF = 'flow-tracker';
const KNOWN = ['file', 'maxFlows', 'idleTimeout', 'closedTimeout', 'interval', 'top', 'clock'];

export const TCP_STATES = ['', 'new', 'syn-sent', 'syn-received', 'established', 'fin-wait', 'closed', 'reset'] as const;
const S_NONE = 0;
const S_NEW = 1;
const S_SYN_SENT = 2;
const S_SYN_RECV = 3;
const S_EST = 4;
const S_FIN_WAIT = 5;
const S_CLOSED = 6;
const S_RESET = 7;
/** finFlags bits: a FIN seen from the forward / reverse side. */
const FIN_FWD = 1;
const FIN_REV = 2;

function parseArgs(raw: Record<string, unknown>): FlowTrackerArgs {
  const r = new ArgReader(NF, raw, KNOWN);
  const out: FlowTrackerArgs = {
    maxFlows: r.int('maxFlows', 1, 1 << 22, 65536),
    idleTimeout: r.number('idleTimeout', { min: 0, exclusiveMin: true, max: 86400 }, 60),
    closedTimeout: r.number('closedTimeout', { min: 0, max: 86400 }, 10),
    interval: r.int('interval', 0, 86400, 10),
    top: r.int('top', 0, 1000, 10),
    clock: r.oneOf('clock', ['wall', 'packet'] as const, 'wall'),
  };
  const file = r.string('file', false, 'a file path');
  if (file !== undefined) out.file = file;
  return out;
}

function protoName(p: number): string | number {
  if (p === IPPROTO_TCP) return 'tcp';
  if (p === IPPROTO_UDP) return 'udp';
  if (p === IPPROTO_ICMP) return 'icmp';
  if (p === IPPROTO_ICMPV6) return 'icmpv6';
  if (p === IPPROTO_SCTP) return 'sctp';
  return p;
}

/** sec.nsec as an RFC 3339 UTC time with nanoseconds. */
export function isoTime(sec: number, nsec: number): string {
  return `${new Date(sec * 1000).toISOString().slice(0, 19)}.${String(nsec).padStart(9, '0')}Z`;
}

export class FlowTrackerState {
  readonly table: FlowTable;
  readonly idle: number;
  readonly closedIdle: number;
  readonly packetClock: boolean;
  // Per entry.
  readonly pFwd: Float64Array;
  readonly bFwd: Float64Array;
  readonly pRev: Float64Array;
  readonly bRev: Float64Array;
  readonly firstSec: Float64Array;
  readonly firstNsec: Int32Array;
  readonly lastSec: Float64Array;
  readonly lastNsec: Int32Array;
  readonly tcp: Uint8Array;
  readonly fin: Uint8Array;
  /** Ended flows as JSON lines, waiting to be written (tick). */
  readonly pending: string[] = [];
  /** Latest time seen (packet clock), as sec/nsec. */
  nowSec = 0;
  nowNsec = 0;
  packets = 0;
  bytes = 0;
  flowsStarted = 0;
  exported = 0;
  malformed = 0;
  nonIp = 0;
  tableFull = 0;
  ticks = 0;

  constructor(a: FlowTrackerArgs) {
    const n = a.maxFlows;
    this.table = new FlowTable(n, KEY_5TUPLE, true);
    this.idle = a.idleTimeout;
    this.closedIdle = a.closedTimeout;
    this.packetClock = a.clock === 'packet';
    this.pFwd = new Float64Array(n);
    this.bFwd = new Float64Array(n);
    this.pRev = new Float64Array(n);
    this.bRev = new Float64Array(n);
    this.firstSec = new Float64Array(n);
    this.firstNsec = new Int32Array(n);
    this.lastSec = new Float64Array(n);
    this.lastNsec = new Int32Array(n);
    this.tcp = new Uint8Array(n);
    this.fin = new Uint8Array(n);
  }

  /** Has entry e been idle past its timeout at sec.nsec? */
  expired(e: number, sec: number, nsec: number): boolean {
    const idleFor = sec - this.lastSec[e] + (nsec - this.lastNsec[e]) / 1e9;
    const st = this.tcp[e];
    return idleFor > (st === S_CLOSED || st === S_RESET ? this.closedIdle : this.idle);
  }

  /** Writes entry e's record into `pending` and frees it. */
  end(e: number, reason: string): void {
    const k = this.table.describe(e);
    const st = this.tcp[e];
    const rec: Record<string, unknown> = {
      src: k.src,
      srcPort: k.srcPort,
      dst: k.dst,
      dstPort: k.dstPort,
      proto: protoName(k.proto),
      ipVersion: k.ipVersion,
      firstSeen: isoTime(this.firstSec[e], this.firstNsec[e]),
      lastSeen: isoTime(this.lastSec[e], this.lastNsec[e]),
      packets: this.pFwd[e] + this.pRev[e],
      bytes: this.bFwd[e] + this.bRev[e],
      fwdPackets: this.pFwd[e],
      fwdBytes: this.bFwd[e],
      revPackets: this.pRev[e],
      revBytes: this.bRev[e],
    };
    if (st !== S_NONE) rec.tcpState = TCP_STATES[st];
    rec.end = reason;
    this.pending.push(JSON.stringify(rec));
    this.exported++;
    this.table.remove(e);
  }

  /** Ends every flow past its timeout at sec.nsec (in entry order). */
  sweep(sec: number, nsec: number): void {
    const used = this.table.used;
    for (let e = 0; e < this.table.capacity; e++) {
      if (used[e] === 1 && this.expired(e, sec, nsec))
        this.end(e, this.tcp[e] === S_CLOSED ? 'closed' : this.tcp[e] === S_RESET ? 'reset' : 'idle');
    }
  }

  process(batch: PacketBatch, wallSec: number, wallNsec: number): void {
    const table = this.table;
    for (let i = 0; i < batch.length; i++) {
      const pkt = batch.packets[i];
      const len = pkt.length;
      this.packets++;
      this.bytes += len;
      let sec = wallSec;
      let nsec = wallNsec;
      if (this.packetClock) {
        sec = pkt.tsSec;
        nsec = pkt.tsNsec;
        if (sec > this.nowSec || (sec === this.nowSec && nsec > this.nowNsec)) {
          this.nowSec = sec;
          this.nowNsec = nsec;
        }
      }
      const p = pkt.parsed;
      if (!p.ok) {
        this.malformed++;
        continue;
      }
      if (p.ipVersion === 0) {
        this.nonIp++;
        continue;
      }
      let e = table.lookup(pkt.u8, p, false);
      if (e >= 0 && this.expired(e, sec, nsec)) {
        // The same 5-tuple after the timeout: the old flow ended; this is a new one.
        this.end(e, this.tcp[e] === S_CLOSED ? 'closed' : this.tcp[e] === S_RESET ? 'reset' : 'idle');
        e = -1;
      }
      if (e < 0) {
        e = table.lookup(pkt.u8, p, true);
        if (e < 0 && this.packetClock) {
          // Room by the packet clock: end what has expired by now, then retry.
          this.sweep(sec, nsec);
          e = table.lookup(pkt.u8, p, true);
        }
        if (e < 0) {
          this.tableFull++;
          continue;
        }
        this.flowsStarted++;
        this.pFwd[e] = 0;
        this.bFwd[e] = 0;
        this.pRev[e] = 0;
        this.bRev[e] = 0;
        this.firstSec[e] = sec;
        this.firstNsec[e] = nsec;
        this.fin[e] = 0;
        this.tcp[e] = p.l4Proto === IPPROTO_TCP && p.fragOffset === 0 ? S_NEW : S_NONE;
      }
      const rev = table.direction === 1;
      if (rev) {
        this.pRev[e]++;
        this.bRev[e] += len;
      } else {
        this.pFwd[e]++;
        this.bFwd[e] += len;
      }
      this.lastSec[e] = sec;
      this.lastNsec[e] = nsec;
      if (this.tcp[e] !== S_NONE && p.fragOffset === 0) this.tcpStep(e, p.tcpFlags, rev, table.isNew);
    }
  }

  private tcpStep(e: number, flags: number, rev: boolean, first: boolean): void {
    let s = this.tcp[e];
    if (s === S_RESET) return;
    if ((flags & TCP_RST) !== 0) {
      this.tcp[e] = S_RESET;
      return;
    }
    const syn = (flags & TCP_SYN) !== 0;
    const ack = (flags & TCP_ACK) !== 0;
    if (first && syn && !ack) s = S_SYN_SENT;
    else if (s === S_SYN_SENT && rev && syn && ack) s = S_SYN_RECV;
    else if (s === S_SYN_RECV && !rev && ack && !syn) s = S_EST;
    else if (s === S_NEW && rev) s = S_EST; // picked up mid-stream: both sides are talking
    if ((flags & TCP_FIN) !== 0) {
      this.fin[e] |= rev ? FIN_REV : FIN_FWD;
      s = this.fin[e] === (FIN_FWD | FIN_REV) ? S_CLOSED : S_FIN_WAIT;
    }
    this.tcp[e] = s;
  }

  /** Entry indices of the `n` flows with the most bytes (off the hot path). */
  top(n: number): number[] {
    const out: number[] = [];
    const used = this.table.used;
    for (let e = 0; e < this.table.capacity; e++) if (used[e] === 1) out.push(e);
    const total = (e: number): number => this.bFwd[e] + this.bRev[e];
    out.sort((a, b) => total(b) - total(a) || a - b);
    return out.slice(0, n);
  }

  /** Ends every remaining flow, oldest first (shutdown). */
  endAll(): void {
    const es: number[] = [];
    const used = this.table.used;
    for (let e = 0; e < this.table.capacity; e++) if (used[e] === 1) es.push(e);
    es.sort((a, b) => this.firstSec[a] - this.firstSec[b] || this.firstNsec[a] - this.firstNsec[b] || a - b);
    for (const e of es) this.end(e, 'shutdown');
  }

  publish(c: Record<string, number>): void {
    c.packets = this.packets;
    c.bytes = this.bytes;
    c.flows = this.table.size;
    c.flowsStarted = this.flowsStarted;
    c.exported = this.exported;
    c.malformed = this.malformed;
    c.nonIp = this.nonIp;
    c.tableFull = this.tableFull;
  }
}

interface Instance {
  st: FlowTrackerState;
  fd: number;
  writeErrors: number;
}

const states = new WeakMap<object, Instance>();

/** The tracker's state (tests read flows through it). */
export function flowTrackerState(ctx: object): FlowTrackerState | undefined {
  return states.get(ctx)?.st;
}

/** The wall clock as seconds and nanoseconds, read into these two (no allocation per batch). */
let wallSec = 0;
let wallNsec = 0;
function readWall(): void {
  const ms = performance.timeOrigin + performance.now();
  wallSec = Math.floor(ms / 1000);
  wallNsec = Math.min(999_999_999, Math.floor((ms - wallSec * 1000) * 1e6));
}

/** Writes the pending lines (tick and teardown: off the data path). */
function writePending(inst: Instance): void {
  const lines = inst.st.pending;
  if (lines.length === 0) return;
  const text = lines.join('\n') + '\n';
  lines.length = 0;
  if (inst.fd < 0) return;
  try {
    fs.writeSync(inst.fd, text);
  } catch {
    inst.writeErrors++;
  }
}

function logTop(inst: Instance, ctx: NFContext<FlowTrackerArgs>): void {
  const st = inst.st;
  const top = st.top(ctx.args.top).map((e) => {
    const k = st.table.describe(e);
    return {
      flow: `${k.src}:${k.srcPort} -> ${k.dst}:${k.dstPort} ${protoName(k.proto)}`,
      packets: st.pFwd[e] + st.pRev[e],
      bytes: st.bFwd[e] + st.bRev[e],
      ...(st.tcp[e] !== S_NONE ? { tcpState: TCP_STATES[st.tcp[e]] } : {}),
    };
  });
  ctx.log(
    `flow-tracker: ${st.table.size} flows, ${st.packets} packets, ${st.exported} exported` +
      (top.length > 0
        ? '\n' +
          top.map((t, i) => `  ${i + 1}. ${t.flow}: ${t.packets} pkts, ${t.bytes} bytes${t.tcpState ? ` (${t.tcpState})` : ''}`).join('\n')
        : ''),
    { flows: st.table.size, top },
  );
}

export default defineNF<FlowTrackerArgs>({
  name: NF,
  args: parseArgs,
  setup: (ctx: NFContext<FlowTrackerArgs>) => {
    let fd = -1;
    if (ctx.args.file !== undefined) {
      try {
        fd = fs.openSync(ctx.args.file, 'w');
      } catch (err) {
        throw argError(NF, 'file', `cannot be created: ${(err as Error).message}`);
      }
    }
    const inst: Instance = { st: new FlowTrackerState(ctx.args), fd, writeErrors: 0 };
    states.set(ctx, inst);
    inst.st.publish(ctx.counters);
    ctx.counters.writeErrors = 0;
  },
  process: (batch, ctx) => {
    const inst = states.get(ctx);
    if (inst === undefined) return;
    if (!inst.st.packetClock) readWall();
    inst.st.process(batch, wallSec, wallNsec);
    inst.st.publish(ctx.counters);
  },
  tickMs: 1000,
  tick: (ctx) => {
    const inst = states.get(ctx);
    if (inst === undefined) return;
    const st = inst.st;
    if (!st.packetClock) {
      readWall();
      st.sweep(wallSec, wallNsec);
    }
    writePending(inst);
    if (ctx.args.interval > 0 && ++st.ticks >= ctx.args.interval) {
      st.ticks = 0;
      logTop(inst, ctx);
    }
    st.publish(ctx.counters);
    ctx.counters.writeErrors = inst.writeErrors;
  },
  /** `{ cmd: 'top' }` logs the top flows now. */
  onMessage: (data, _from, ctx) => {
    const inst = states.get(ctx);
    if (inst !== undefined && typeof data === 'object' && data !== null && (data as { cmd?: unknown }).cmd === 'top') logTop(inst, ctx);
  },
  teardown: (ctx) => {
    const inst = states.get(ctx);
    if (inst === undefined) return;
    if (ctx.args.interval > 0 && inst.st.packets > 0) logTop(inst, ctx);
    inst.st.endAll();
    writePending(inst);
    if (inst.fd >= 0) fs.closeSync(inst.fd);
    inst.fd = -1;
    inst.st.publish(ctx.counters);
    ctx.counters.writeErrors = inst.writeErrors;
  },
});
