// `netvm top`: a live terminal view of a running manager, redrawn in place once a second from
// the control API's event stream — per NF instance its rates, drops, ring fill and wake-ups,
// per port its rates, drops by cause, and the latest NF events.
import { NetvmError } from '../core/errors.js';
import { apiCall, openEventStream } from '../control/client.js';
import type { RateSample } from '../control/sampler.js';
import { parse } from './control-commands.js';

const fmtRate = (v: number): string =>
  v >= 1e9 ? `${(v / 1e9).toFixed(2)}G` : v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : v.toFixed(0);
const pad = (s: string, n: number): string => (s.length >= n ? s.slice(0, n - 1) + ' ' : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

function bar(fill: number, width: number): string {
  const n = Math.round(Math.min(1, Math.max(0, fill)) * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}]`;
}

export interface TopEvent {
  time: string;
  type: string;
  service?: string;
  instance?: number;
  chain?: string;
  rule?: number;
}

/** One frame of `netvm top` as lines (no escape codes). */
export function renderTop(name: string, s: RateSample, events: readonly TopEvent[], width = 100): string[] {
  const lines: string[] = [];
  lines.push(
    `netvm top — ${name}   up ${s.uptimeSeconds.toFixed(0)} s   pool ${s.pool.free}/${s.pool.size} free   flows ${s.flows}   NF deaths ${s.nfDeaths}`,
  );
  lines.push('');
  lines.push(
    `${pad('PORT', 14)}${pad('DRIVER', 11)}${lpad('RX pps', 10)}${lpad('TX pps', 10)}${lpad('RX bit/s', 11)}${lpad('TX bit/s', 11)}`,
  );
  for (const [port, p] of Object.entries(s.ports))
    lines.push(
      `${pad(port, 14)}${pad(p.driver, 11)}${lpad(fmtRate(p.rxPps), 10)}${lpad(fmtRate(p.txPps), 10)}${lpad(fmtRate(p.rxBps), 11)}${lpad(fmtRate(p.txBps), 11)}`,
    );
  lines.push('');
  lines.push(
    `${pad('NF', 16)}${pad('MODE', 8)}${lpad('RX pps', 10)}${lpad('TX pps', 10)}${lpad('drops/s', 9)}  ${pad('RING', 19)}${lpad('wakeups/s', 10)}  STATE`,
  );
  const byService = new Map<string, number>();
  for (const i of s.instances) byService.set(i.service, (byService.get(i.service) ?? 0) + 1);
  for (const [service, agg] of Object.entries(s.services)) if (agg.instances === 0) lines.push(`${pad(service, 16)}(no instances)`);
  for (const i of s.instances) {
    const pct = `${Math.round(i.ringFill * 100)}%`;
    lines.push(
      `${pad(`${i.service}#${i.instance}`, 16)}${pad(i.mode, 8)}${lpad(fmtRate(i.rxPps), 10)}${lpad(fmtRate(i.txPps), 10)}${lpad(fmtRate(i.dropPps), 9)}  ${bar(i.ringFill, 12)}${lpad(pct, 5)} ${lpad(fmtRate(i.wakeupsPs), 10)}  ${i.asleep ? 'asleep' : i.state}`,
    );
  }
  lines.push('');
  const d = s.drops;
  lines.push(
    `drops/s  action ${fmtRate(d.action)}  ring-full ${fmtRate(d.ringFull)}  no-route ${fmtRate(d.noRoute)}  invalid ${fmtRate(d.invalid)}  handler-errors ${fmtRate(d.handlerErrors)}  no-buffer ${fmtRate(d.noBuffer)}  unclassified ${fmtRate(d.unclassified)}`,
  );
  const chains = Object.entries(s.chains)
    .map(([c, v]) => `${c} ${fmtRate(v.pps)}`)
    .join('  ');
  lines.push(`chains pps  ${chains || '-'}`);
  if (events.length > 0) {
    lines.push('');
    lines.push('EVENTS');
    for (const e of events.slice(-6)) {
      const who =
        e.service !== undefined
          ? `${e.service}${e.instance !== undefined ? `#${e.instance}` : ''}`
          : (e.chain ?? (e.rule !== undefined ? `rule ${e.rule}` : ''));
      lines.push(`  ${e.time.slice(11, 19)}  ${pad(e.type, 16)}${who}`);
    }
  }
  return lines.map((l) => (l.length > width ? l.slice(0, width) : l));
}

export async function cmdTop(argv: string[]): Promise<number> {
  const { values, endpoint } = parse(argv, { count: { type: 'string' } });
  if (values.count !== undefined && !/^[0-9]+$/.test(String(values.count)))
    throw new NetvmError('NETVM_USAGE', `--count expects a whole number (got ${String(values.count)})`);
  const count = values.count === undefined ? Infinity : Number(values.count);
  const ep = endpoint();
  const name = ep.info.name;
  const tty = process.stdout.isTTY === true;
  const events: TopEvent[] = [];
  let frames = 0;
  let last: RateSample | null = null;

  const draw = (): void => {
    if (last === null) return;
    const width = tty ? (process.stdout.columns ?? 120) : 160;
    const lines = renderTop(name, last, events, width);
    if (tty) process.stdout.write(`\x1b[H${lines.map((l) => `${l}\x1b[K`).join('\n')}\x1b[J`);
    else process.stdout.write(`${lines.join('\n')}\n\n`);
    frames++;
  };

  const restore = (): void => {
    if (tty) process.stdout.write('\x1b[?25h\x1b[?1049l');
    if (process.stdin.isTTY === true) {
      process.stdin.setRawMode(false);
      process.stdin.pause();
    }
  };

  // Draw the newest sample at once, then one frame per sample of the stream.
  const history = await apiCall<RateSample[]>(ep, 'GET', '/api/v1/samples');
  events.push(...(await apiCall<TopEvent[]>(ep, 'GET', '/api/v1/events/recent')).slice(-50));
  if (tty) process.stdout.write('\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J');
  let stream: ReturnType<typeof openEventStream> | null = null;
  let quit: () => void = () => {};
  const finished = new Promise<void>((resolve) => (quit = resolve));
  try {
    if (history.length > 0) {
      last = history[history.length - 1];
      draw();
    }
    if (frames < count) {
      stream = openEventStream(ep, (type, data) => {
        if (type === 'sample') {
          last = data as RateSample;
          draw();
          if (frames >= count) quit();
        } else if (type !== 'hello') {
          events.push(data as TopEvent);
          if (events.length > 50) events.shift();
          draw();
        }
      });
      stream.ended.then(quit, quit);
      if (process.stdin.isTTY === true) {
        process.stdin.setRawMode(true);
        process.stdin.resume();
        process.stdin.on('data', (b: Buffer) => {
          const c = b.toString();
          if (c === 'q' || c === 'Q' || c === '\x03') quit();
        });
      }
      process.once('SIGINT', quit);
      process.once('SIGTERM', quit);
      await finished;
    }
  } finally {
    stream?.close();
    restore();
  }
  return 0;
}
