// `npm run bench:nfs`: packets per second through each catalog NF alone — generator → NF →
// sink, through the real CLI and real processes — for every row of bench/nf-cases.ts, with
// the `forward` row as the baseline (ratio = NF rate / forward rate, measured in the same run
// on the same machine). Rates come from the sink's counter read twice through `netvm stats`
// over the manager's own clock, after a warm-up, as in bench/chain-bench.ts.
//
//   npm run bench:nfs -- --only nat,router --seconds 5 --mode poll --repeat 3 --json
//
// --repeat N measures every row N times, rows interleaved, and keeps each row's best rate:
// on a shared machine the best of a few runs is the one least disturbed by other load.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { NF_BENCH_CASES, type NfBenchCase } from './nf-cases.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = fs.existsSync(path.resolve(here, '../package.json')) ? path.resolve(here, '..') : path.resolve(here, '../..');
const bin = path.join(root, 'bin', 'netvm.js');

const { values } = parseArgs({
  options: {
    json: { type: 'boolean' },
    only: { type: 'string' },
    mode: { type: 'string', default: 'shared' },
    seconds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1.5' },
    repeat: { type: 'string', default: '1' },
  },
});
const repeat = Math.max(1, Math.floor(Number(values.repeat)));
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const mode = String(values.mode);
if (mode !== 'shared' && mode !== 'poll') throw new Error(`--mode must be shared or poll, got ${mode}`);
const only = values.only === undefined ? null : String(values.only).split(',');

interface Stats {
  uptimeSeconds: number;
  ports: Record<string, { rx: number; tx: number }>;
  services: Record<string, { instances: { rx: number; counters: Record<string, number> }[] }>;
}

function stats(name: string): Stats {
  const r = spawnSync(process.execPath, [bin, 'stats', '--name', name, '--json'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`netvm stats failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Stats;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Result {
  name: string;
  nf: string;
  mpps: number;
  nfRxMpps: number;
  ratio: number;
  counters: Record<string, number>;
}

function config(c: NfBenchCase): string {
  const g = { size: 64, flows: 1024, ...c.generator };
  const gen = Object.entries(g)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  // JSON is YAML: the args go in as one flow mapping.
  return `ports:
  gen:  { driver: generator, ${gen} }
  sink: { driver: sink, latency: false }
services:
  nf: { nf: ${c.nf}, mode: ${mode}, args: ${JSON.stringify(c.args ?? {})} }
chains:
  default: [nf, sink]
`;
}

async function measure(c: NfBenchCase, index: number): Promise<Omit<Result, 'ratio'>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netvm-nfbench-'));
  const cfg = path.join(dir, 'bench.yaml');
  fs.writeFileSync(cfg, config(c));
  const name = `nfbench-${process.pid}-${index}`;
  const child = spawn(process.execPath, [bin, 'start', '--config', cfg, '--name', name, '--quiet'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, NETVM_LOG_LEVEL: 'warn' },
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      await sleep(200);
      if (child.exitCode !== null) throw new Error(`${c.name}: manager exited: ${err}`);
      try {
        if (stats(name).ports.sink.tx > 0) break;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline)
        throw new Error(`${c.name}: no packets at the sink after 30 s (do the args pass the generator's traffic?): ${err}`);
    }
    await sleep(warmup * 1000);
    const a = stats(name);
    await sleep(seconds * 1000);
    const b = stats(name);
    const dt = b.uptimeSeconds - a.uptimeSeconds;
    const nfA = a.services.nf.instances[0];
    const nfB = b.services.nf.instances[0];
    return {
      name: c.name,
      nf: c.nf,
      mpps: (b.ports.sink.tx - a.ports.sink.tx) / dt / 1e6,
      nfRxMpps: (nfB.rx - nfA.rx) / dt / 1e6,
      counters: nfB.counters,
    };
  } finally {
    child.kill('SIGTERM');
    const code = await exited;
    if (code !== 0) process.stderr.write(`warning: ${c.name}: manager exit ${code}: ${err.slice(-2000)}\n`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Counters that mean the NF turned packets away (reported so a bad row is visible). */
const LOSS = ['denied', 'malformed', 'noRoute', 'portsExhausted', 'tableFull', 'noBackend', 'inboundNoMapping', 'stateFull'];

async function main(): Promise<void> {
  const cases = NF_BENCH_CASES.filter((c, i) => i === 0 || only === null || only.some((o) => c.name.startsWith(o) || c.nf === o));
  const log = (s: string): void => void process.stdout.write(s + '\n');
  log(
    `netvm per-NF benchmark: generator → NF → sink, ${mode} mode, ${seconds} s per row after ${warmup} s warm-up, best of ${repeat}, ${os.cpus().length} cores`,
  );
  log(`${'NF'.padEnd(36)}${'Mpps'.padStart(8)}${'vs forward'.padStart(12)}   NF loss counters`);
  const results: Result[] = [];
  const best: Omit<Result, 'ratio'>[] = [];
  for (let k = 0; k < repeat; k++)
    for (const [i, c] of cases.entries()) {
      const m = await measure(c, i);
      if (best[i] === undefined || m.mpps > best[i].mpps) best[i] = m;
    }
  const base = best[0].mpps;
  for (const [i, c] of cases.entries()) {
    const m = best[i];
    const r: Result = {
      ...m,
      mpps: Math.round(m.mpps * 1000) / 1000,
      nfRxMpps: Math.round(m.nfRxMpps * 1000) / 1000,
      ratio: Math.round((m.mpps / base) * 1000) / 1000,
    };
    results.push(r);
    const loss = LOSS.filter((k) => (m.counters[k] ?? 0) > 0).map((k) => `${k}=${m.counters[k]}`);
    log(`${c.name.padEnd(36)}${r.mpps.toFixed(3).padStart(8)}${r.ratio.toFixed(2).padStart(12)}   ${loss.join(' ') || '-'}`);
  }
  if (values.json === true) log(JSON.stringify({ mode, results }));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:nfs: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
