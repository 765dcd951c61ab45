// Golden runs for the catalog NFs of rate-limiter, payload-scan, aes-*, flow-tracker,
// speed-tester, tap and vlan (golden-lib.ts + golden.test.ts hold the firewall/router/nat/
// load-balancer cases, whose outputs are all captures). Each NF here has a deterministic generator script
// (test/golden/gen-<nf>.ts) that builds, from src/proto's builders, its input capture, its
// config and — computed independently of the NF's code, from the same packet specs — the
// expected outputs. The script writes them into test/golden/<nf>/ (committed):
//
//   config.yaml        the chain: pcap in -> the NF -> pcap out (NF args inside)
//   in.pcap ...        inputs
//   expected/<file>    every output file the run must produce, byte for byte
//
// The golden test (1) re-runs the generator and checks that it reproduces the committed files
// (so they are what the script says), then (2) copies the config and inputs into a scratch
// directory, runs the real CLI (`netvm run`) there, and compares every file of expected/ with
// what the run wrote. A mismatch names the first differing record, with both sides in hex.
//
// Regenerate after changing a script: `npx tsx test/golden/gen-<nf>.ts`.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeFailure, repoRoot, runCli, tmpDir, uniqueName } from '../helpers/cli.js';
import { readPcap } from '../../src/ports/pcap/pcap-format.js';
import { balance, type StatsJson } from '../helpers/accounting.js';

/** Relative path (from test/golden/<nf>/) → content. */
export type GoldenFiles = Record<string, Uint8Array | string>;

export function goldenDir(nf: string): string {
  return path.join(repoRoot, 'test', 'golden', nf);
}

const bytes = (c: Uint8Array | string): Uint8Array => (typeof c === 'string' ? new TextEncoder().encode(c) : c);

/** Writes the files (the generator script's main). */
export function writeGolden(nf: string, files: GoldenFiles): void {
  const dir = goldenDir(nf);
  fs.rmSync(dir, { recursive: true, force: true });
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, bytes(content));
  }
  process.stdout.write(`wrote ${Object.keys(files).length} files to ${path.relative(process.cwd(), dir) || dir}\n`);
}

/** Runs `main` when the module is the script node was started with. */
export function isMain(metaUrl: string): boolean {
  return process.argv[1] !== undefined && metaUrl === pathToFileURL(path.resolve(process.argv[1])).href;
}

/** Asserts the committed files are exactly what the generator produces now. */
export function checkCommitted(nf: string, files: GoldenFiles): void {
  const dir = goldenDir(nf);
  const committed = listFiles(dir);
  assert.deepEqual(
    committed,
    Object.keys(files).sort(),
    `test/golden/${nf}: the committed file list differs; run npx tsx test/golden/gen-${nf}.ts`,
  );
  for (const [rel, content] of Object.entries(files)) {
    const got = new Uint8Array(fs.readFileSync(path.join(dir, rel)));
    assert.ok(
      Buffer.from(got).equals(Buffer.from(bytes(content))),
      `test/golden/${nf}/${rel} is not what gen-${nf}.ts generates; run npx tsx test/golden/gen-${nf}.ts`,
    );
  }
}

function listFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
    if (e.isDirectory()) out.push(...listFiles(path.join(dir, e.name), rel));
    else out.push(rel);
  }
  return out.sort();
}

const hex = (d: Uint8Array): string => Buffer.from(d).toString('hex');

/** Byte-for-byte comparison; for captures, a failure names the first differing record. */
export function assertSameFile(name: string, got: Uint8Array, want: Uint8Array): void {
  if (Buffer.from(got).equals(Buffer.from(want))) return;
  let detail: string;
  if (name.endsWith('.pcap')) {
    try {
      const g = readPcap(got, `output ${name}`).packets;
      const w = readPcap(want, `expected ${name}`).packets;
      const n = Math.min(g.length, w.length);
      let i = 0;
      while (i < n && hex(g[i].data) === hex(w[i].data) && g[i].tsSec === w[i].tsSec && g[i].tsNsec === w[i].tsNsec) i++;
      if (i < n) {
        const a = g[i].data;
        const b = w[i].data;
        let k = 0;
        while (k < a.length && k < b.length && a[k] === b[k]) k++;
        const from = Math.max(0, k - 16);
        const show = (d: Uint8Array): string =>
          `${from > 0 ? '…' : ''}${hex(d.subarray(from, from + 64))}${d.length > from + 64 ? '…' : ''}`;
        detail =
          `record ${i} differs (${a.length} vs ${b.length} bytes; first difference at byte ${k}):\n` +
          `  got  ${g[i].tsSec}.${g[i].tsNsec} ${show(a)}\n  want ${w[i].tsSec}.${w[i].tsNsec} ${show(b)}`;
      } else detail = `${g.length} records written, ${w.length} expected (the first ${n} agree)`;
    } catch (err) {
      detail = (err as Error).message;
    }
  } else {
    const gs = Buffer.from(got).toString('utf8').split('\n');
    const ws = Buffer.from(want).toString('utf8').split('\n');
    let i = 0;
    while (i < gs.length && i < ws.length && gs[i] === ws[i]) i++;
    detail = `line ${i + 1} differs:\n  got  ${gs[i] ?? '<end>'}\n  want ${ws[i] ?? '<end>'}`;
  }
  assert.fail(`${name}: the output differs from the golden file (${got.length} bytes, expected ${want.length})\n${detail}`);
}

export interface GoldenRun {
  /** The parsed --stats-json. */
  stats: GoldenStats;
  dir: string;
  stdout: string;
  stderr: string;
}

export interface GoldenStats {
  pool: { size: number; free: number };
  ports: Record<string, Record<string, number>>;
  services: Record<string, { instances: { rx: number; tx: number; counters: Record<string, number> }[] }>;
}

/**
 * Runs `netvm run` on the committed config in a scratch directory and compares every file
 * of expected/ with the run's output. `config` names another config file of the case.
 */
export async function runGolden(nf: string, config = 'config.yaml'): Promise<GoldenRun> {
  const src = goldenDir(nf);
  const dir = tmpDir(`netvm-golden-${nf}-`);
  for (const rel of listFiles(src)) {
    if (rel.startsWith('expected')) continue;
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.copyFileSync(path.join(src, rel), path.join(dir, rel));
  }
  const statsFile = path.join(dir, 'stats.json');
  const r = await runCli(['run', '--config', config, '--name', uniqueName(`golden-${nf}`), '--stats-json', statsFile, '--quiet'], {
    cwd: dir,
  });
  assert.equal(r.code, 0, describeFailure(r));
  const stats = JSON.parse(fs.readFileSync(statsFile, 'utf8')) as GoldenStats;
  assert.equal(stats.pool.free, stats.pool.size, 'every buffer is back in the pool');
  // Every packet received or created is transmitted or counted as dropped (docs/faults.md).
  const b = balance(stats as unknown as StatsJson);
  assert.equal(b.unaccounted, 0, `${nf}: packets unaccounted for: ${JSON.stringify(b)}`);
  const expectedDir = path.join(src, config === 'config.yaml' ? 'expected' : `expected-${path.basename(config, '.yaml')}`);
  const expected = listFiles(expectedDir);
  assert.ok(expected.length > 0, `no expected files in ${expectedDir}`);
  for (const rel of expected) {
    const out = path.join(dir, rel);
    assert.ok(fs.existsSync(out), `the run did not write ${rel}`);
    assertSameFile(rel, new Uint8Array(fs.readFileSync(out)), new Uint8Array(fs.readFileSync(path.join(expectedDir, rel))));
  }
  return { stats, dir, stdout: r.stdout, stderr: r.stderr };
}

/** The NF's own counters of the first instance of `service`. */
export function nfCounters(stats: GoldenStats, service: string): Record<string, number> {
  const s = stats.services[service];
  assert.ok(s !== undefined && s.instances.length > 0, `no service ${service} in the stats`);
  return s.instances[0].counters;
}
