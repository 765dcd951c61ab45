// Starts a real manager (`netvm start`) for control-plane tests and finds its API the way the
// CLI does (the API file next to the control socket).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { apiRequest, discover, type ApiEndpoint } from '../../src/control/client.js';
import { describeFailure, startCli, tmpDir, uniqueName, waitFor, type CliProcess, type CliResult } from './cli.js';

export interface RunningManager {
  name: string;
  dir: string;
  proc: CliProcess;
  ep: ApiEndpoint;
  statsFile: string;
  /** SIGINT, wait for exit (asserts status 0 unless told otherwise), parse --stats-json. */
  stop(expectCode?: number): Promise<{ result: CliResult; stats: StatsJson }>;
}

export interface StatsJson {
  pool: { size: number; free: number; inUse: number };
  ports: Record<string, { rx: number; tx: number; rxNoBuffer: number; rxDropNoRoute: number }>;
  services: Record<
    string,
    {
      instances: { instance: number; pid: number; rx: number; tx: number; state: string; drops: Record<string, number> }[];
      departed: { instances: number; rx: number };
    }
  >;
  chains: Record<string, { packets: number }>;
  manager: { nfDeaths: number; dropNoRoute: number };
}

export async function startManager(tag: string, yaml: string, extraArgs: string[] = []): Promise<RunningManager> {
  const dir = tmpDir();
  const name = uniqueName(tag);
  fs.writeFileSync(path.join(dir, 'netvm.yaml'), yaml);
  const statsFile = path.join(dir, 'stats.json');
  const proc = startCli([
    'start',
    '--config',
    path.join(dir, 'netvm.yaml'),
    '--name',
    name,
    '--quiet',
    '--stats-json',
    statsFile,
    ...extraArgs,
  ]);
  let ep: ApiEndpoint;
  try {
    ep = await waitFor(
      'the manager API',
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`manager exited early\n${proc.stderr().slice(-3000)}`);
        try {
          const e = discover(name);
          const r = await apiRequest<{ running: boolean }>(e, 'GET', '/api/v1');
          return r.status === 200 && r.body.running ? e : undefined;
        } catch {
          return undefined;
        }
      },
      60_000,
    );
  } catch (err) {
    proc.child.kill('SIGKILL');
    throw err;
  }
  return {
    name,
    dir,
    proc,
    ep,
    statsFile,
    async stop(expectCode = 0) {
      if (proc.child.exitCode === null) proc.child.kill('SIGINT');
      const result = await proc.exited;
      assert.equal(result.code, expectCode, describeFailure(result));
      const stats = JSON.parse(fs.readFileSync(statsFile, 'utf8')) as StatsJson;
      return { result, stats };
    },
  };
}

/** The manager the API tests and the control fuzz target drive: live generator traffic over two chains. */
export const API_TEST_CONFIG = `ports:
  gen:   { driver: generator, flows: 64, size: 64, rate: 20000 }
  sink:  { driver: sink }
  sink2: { driver: sink }
services:
  fwd: { nf: forward, instances: 2 }
  mon: { nf: monitor }
chains:
  default: [fwd, sink]
  side: [mon, sink2]
rules:
  - match: { proto: tcp }
    chain: side
`;
