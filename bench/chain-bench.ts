// `npm run bench`: generator -> chain of k forward NFs -> sink, 64-byte packets, for
// k = 1, 2, 3, 5 in shared and poll modes, each through the real CLI and real processes;
// and in the same run the C reference (bench/c/chain-ref.c: the same ring, pool and
// sleep/wake design). Prints Mpps for each and the ratio netvm / C.
// `npm run bench -- --json`: the last line is { "results": [ { nfs, mode, mpps, cMpps, ratio } ] }.
//
// Rates come from the sink's packet counter read twice through `netvm stats`, over the
// manager's own clock (uptimeSeconds), after a warm-up; never from a timed test.
// Options: --nfs 1,2,3,5  --modes shared,poll  --seconds 3  --warmup 1.5  --flows 1024
//          --repeat 2 (C and netvm alternate this many times per point; the best of each counts)
//          --trust trusted,untrusted (untrusted: the NFs run with `trust: untrusted`, getting
//          checked copies instead of the region — docs/untrusted-nfs.md; default trusted)
//          --exchange-slots N (untrusted: packets an NF may hold; default: the config's default)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildCRef, runCRef } from './c-ref.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = fs.existsSync(path.resolve(here, '../package.json')) ? path.resolve(here, '..') : path.resolve(here, '../..');
const bin = path.join(root, 'bin', 'netvm.js');

const { values } = parseArgs({
  options: {
    json: { type: 'boolean' },
    nfs: { type: 'string', default: '1,2,3,5' },
    modes: { type: 'string', default: 'shared,poll' },
    seconds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1.5' },
    flows: { type: 'string', default: '1024' },
    repeat: { type: 'string', default: '2' },
    trust: { type: 'string', default: 'trusted' },
    'exchange-slots': { type: 'string' },
  },
});
const nfList = String(values.nfs).split(',').map(Number);
const modes = String(values.modes).split(',') as Array<'shared' | 'poll'>;
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const flows = Number(values.flows);
const repeat = Math.max(1, Number(values.repeat));
const trusts = String(values.trust).split(',') as Array<'trusted' | 'untrusted'>;
for (const t of trusts) if (t !== 'trusted' && t !== 'untrusted') throw new Error(`--trust: trusted or untrusted, not ${t}`);

interface Stats {
  uptimeSeconds: number;
  pool: { size: number; free: number };
  ports: Record<string, { rx: number; tx: number }>;
}

function stats(name: string): Stats {
  const r = spawnSync(process.execPath, [bin, 'stats', '--name', name, '--json'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`netvm stats failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Stats;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function runNetvm(k: number, mode: 'shared' | 'poll', trust: 'trusted' | 'untrusted'): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netvm-bench-'));
  const slots = trust === 'untrusted' && values['exchange-slots'] !== undefined ? `, exchangeSlots: ${values['exchange-slots']}` : '';
  const services = Array.from({ length: k }, (_, i) => `  nf${i + 1}: { nf: forward, mode: ${mode}, trust: ${trust}${slots} }`).join('\n');
  const chain = [...Array.from({ length: k }, (_, i) => `nf${i + 1}`), 'sink'].join(', ');
  const cfg = path.join(dir, 'bench.yaml');
  fs.writeFileSync(
    cfg,
    `ports:\n  gen:  { driver: generator, size: 64, flows: ${flows} }\n  sink: { driver: sink, latency: false }\nservices:\n${services}\nchains:\n  default: [${chain}]\n`,
  );
  const name = `bench-${process.pid}-${k}-${mode}-${trust[0]}`;
  const child = spawn(process.execPath, [bin, 'start', '--config', cfg, '--name', name, '--quiet'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, NETVM_LOG_LEVEL: 'warn' },
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      await sleep(200);
      if (child.exitCode !== null) throw new Error(`manager exited: ${err}`);
      try {
        if (stats(name).ports.sink.tx > 0) break;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) throw new Error(`no packets at the sink after 30 s: ${err}`);
    }
    await sleep(warmup * 1000);
    const a = stats(name);
    await sleep(seconds * 1000);
    const b = stats(name);
    return (b.ports.sink.tx - a.ports.sink.tx) / (b.uptimeSeconds - a.uptimeSeconds) / 1e6;
  } finally {
    child.kill('SIGTERM');
    const code = await exited;
    if (code !== 0) process.stderr.write(`warning: manager exit ${code}: ${err.slice(-2000)}\n`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

interface Result {
  nfs: number;
  mode: 'shared' | 'poll';
  trust: 'trusted' | 'untrusted';
  mpps: number;
  cMpps: number;
  ratio: number;
}

async function main(): Promise<void> {
  buildCRef();
  const results: Result[] = [];
  const log = (s: string): void => void process.stdout.write(s + '\n');
  log(
    `netvm chain benchmark: 64-byte packets, ${flows} flows, ${seconds} s per point after ${warmup} s warm-up, best of ${repeat}, ${os.cpus().length} cores`,
  );
  log(`${'NFs'.padEnd(5)}${'mode'.padEnd(8)}${'netvm Mpps'.padStart(12)}${'C Mpps'.padStart(10)}${'ratio'.padStart(8)}`);
  for (const k of nfList) {
    for (const mode of modes) {
      // The reference, then netvm, back to back so both see the same machine; `--repeat` times,
      // keeping the best of each: on a shared, noisy machine the best run is the one least
      // disturbed by other load, for both.
      let cBest = 0;
      const mpps = trusts.map(() => 0);
      for (let rep = 0; rep < repeat; rep++) {
        cBest = Math.max(cBest, runCRef({ nfs: k, mode, seconds, warmup }).mpps);
        for (let t = 0; t < trusts.length; t++) mpps[t] = Math.max(mpps[t], await runNetvm(k, mode, trusts[t]));
      }
      const c = { mpps: cBest };
      trusts.forEach((trust, t) => {
        const r: Result = {
          nfs: k,
          mode,
          trust,
          mpps: Math.round(mpps[t] * 1000) / 1000,
          cMpps: Math.round(c.mpps * 1000) / 1000,
          ratio: Math.round((mpps[t] / c.mpps) * 1000) / 1000,
        };
        results.push(r);
        const label = trust === 'untrusted' ? `${mode}-u` : mode;
        log(
          `${String(k).padEnd(5)}${label.padEnd(8)}${r.mpps.toFixed(2).padStart(12)}${r.cMpps.toFixed(2).padStart(10)}${r.ratio.toFixed(2).padStart(8)}`,
        );
      });
      if (trusts.length === 2 && mpps[0] > 0) log(`     ${mode}: ${trusts[1]} / ${trusts[0]} = ${(mpps[1] / mpps[0]).toFixed(2)}`);
    }
  }
  if (values.json === true) log(JSON.stringify({ results }));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
