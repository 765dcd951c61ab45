// The `netvm` command: demo, start, run, check, nf run, stats. Argument parsing is Node's own
// util.parseArgs; everything that can go wrong at setup ends as one line
// `netvm: CODE: what to do` and a non-zero exit status.
import { formatCpuList, parseCpuList, pinProcess } from '../core/affinity.js';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NetvmError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { controlSocketPath } from '../core/paths.js';
import { lineReader } from '../core/control-protocol.js';
import { Manager } from '../manager/manager.js';
import { formatStats, formatSummary, snapshot, type StatsSnapshot } from '../manager/stats.js';
import { demoConfig, loadConfigFile } from '../config/load-config.js';
import { catalogModulePath, catalogNames } from '../config/catalog.js';
import type { ResolvedConfig } from '../config/types.js';
import { CONFIG_SCHEMA } from '../config/schema.js';
import { DEFAULT_API, parseApiAddress, removeApiFiles, type ApiAddress } from '../control/address.js';
import type { ControlServer } from '../control/server.js';
import { CONTROL_USAGE, cmdChain, cmdNfControl, cmdRule } from './control-commands.js';
import { cmdTop } from './top.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The package root (dist/src/cli → ../../..). */
export const packageRoot = path.resolve(here, '../../..');
const cliPath = path.join(packageRoot, 'bin', 'netvm.js');

const USAGE = `netvm — network service chains on commodity Linux

Usage:
  netvm demo [--rate PPS] [--count N] [--seconds S] [--api ADDR|off] [--log-level L]
                          generator -> monitor -> forward -> forward -> sink, live stats
  netvm start --config FILE [--name NAME] [--stats-json FILE] [--quiet] [--api ADDR|off]
              [--log-level L]
                          long-running manager; launches the NFs the config lists; serves
                          the control API and dashboard on ADDR (default ${DEFAULT_API})
  netvm run --config FILE [--name NAME] [--stats-json FILE] [--timeout S] [--quiet] [...]
                          like start, but exits once every input port is exhausted and
                          every buffer is back in the pool; prints a summary
  netvm check --config FILE | netvm config check FILE
                          validates a config and prints what it resolves to
  netvm config schema     prints the config's JSON Schema (for editors)
  netvm nf run NF --service NAME [--name NAME] [--mode shared|poll] [--args JSON] [--untrusted] [--cpus LIST]
                          runs an NF process (catalog name or a .ts/.js module path)
                          that joins a running manager; --untrusted: it never maps the
                          shared region and gets checked copies (docs/untrusted-nfs.md)
  netvm nf catalog        the catalog NFs
  netvm stats [--name NAME] [--json] [--watch]
                          counters of a running manager (over its control socket)
  netvm version

${CONTROL_USAGE}

--api: HOST:PORT on a loopback address, unix:PATH, or off. --log-level: fatal, error, warn,
info, debug, trace or silent (logs are JSON lines on stderr).
Environment: NETVM_LOG_LEVEL (info), NETVM_API (default --api), NETVM_RUN_DIR (control sockets).
Docs: docs/configuration.md, docs/control-plane.md, docs/writing-an-nf.md, docs/architecture.md`;

function usage(msg: string): never {
  throw new NetvmError('NETVM_USAGE', `${msg}\n\n${USAGE}`);
}

type Flags = Record<string, string | boolean | undefined>;

function parse(
  argv: string[],
  options: NonNullable<ParseArgsConfig['options']>,
  positionals = false,
): { values: Flags; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: positionals, strict: true });
    return { values: r.values as Flags, positionals: r.positionals };
  } catch (err) {
    usage((err as Error).message);
  }
}

function num(v: string | boolean | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isFinite(n) || n < 0) usage(`${flag} expects a non-negative number (got ${String(v)})`);
  return n;
}

// ------------------------------------------------------------------ manager commands

interface ManagerRun {
  config: ResolvedConfig;
  /** Where the control API listens; null: no API. */
  api: ApiAddress | null;
  logLevel: string;
  exitWhenDone: boolean;
  statsJson?: string;
  quiet: boolean;
  seconds?: number;
  timeout?: number;
}

async function runManager(o: ManagerRun): Promise<number> {
  // NF processes inherit the level through the environment.
  process.env.NETVM_LOG_LEVEL = o.logLevel;
  const log = createLogger(o.logLevel);
  for (const w of o.config.warnings) log.warn(w);
  const m = new Manager({ config: o.config, log, exitWhenDone: o.exitWhenDone, cliPath });
  // The API listens before anything starts, so a taken port fails fast and cleanly.
  let api: ControlServer | null = null;
  let dashboard: string | null = null;
  if (o.api !== null) {
    // Loaded only by managers: fastify and prom-client would slow every other command's start.
    const { ControlServer: Server } = await import('../control/server.js');
    api = new Server({ manager: m, address: o.api, log, name: o.config.name, version: packageVersion() });
    const info = await api.listen();
    dashboard = api.dashboardUrl();
    log.info({ api: info.socketPath ?? info.url, tokenFile: info.tokenFile, dashboard: info.dashboard }, 'control API listening');
    process.stderr.write(
      `netvm: control API ${info.socketPath ?? info.url} (bearer token in ${info.tokenFile})\n` +
        (dashboard !== null ? `netvm: dashboard ${dashboard}\n` : ''),
    );
  }
  let signalled = false;
  const onSignal = (sig: string): void => {
    if (signalled) {
      log.warn('second signal: exiting now');
      m.release();
      if (api !== null) removeApiFiles(o.config.name, process.pid);
      process.exit(130);
    }
    signalled = true;
    void m.stop(`${sig} received`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    await m.start();
  } catch (err) {
    await api?.close();
    m.release(); // the region of a manager that never ran
    throw err;
  }
  api?.startSampling();

  const tty = process.stdout.isTTY === true;
  let prev: StatsSnapshot | null = null;
  const timer = o.quiet
    ? null
    : setInterval(() => {
        const cur = snapshot(m);
        const table = (tty && dashboard !== null ? `dashboard ${dashboard}\n` : '') + formatStats(cur, prev);
        prev = cur;
        // A terminal gets a live view redrawn in place; a pipe gets one table per second.
        process.stdout.write(tty ? `\x1b[H\x1b[2J${table}\n` : `${table}\n\n`);
      }, 1000);
  const limits: NodeJS.Timeout[] = [];
  let timedOut = false;
  if (o.seconds !== undefined && o.seconds > 0) limits.push(setTimeout(() => void m.stop(`ran for ${o.seconds} s`), o.seconds * 1000));
  if (o.timeout !== undefined && o.timeout > 0)
    limits.push(
      setTimeout(() => {
        log.error({ timeout: o.timeout }, 'timeout: inputs not finished; stopping');
        timedOut = true;
        void m.stop('timeout');
      }, o.timeout * 1000),
    );
  const reason = await m.done;
  await api?.close();
  if (timer) clearInterval(timer);
  for (const t of limits) clearTimeout(t);
  const final = snapshot(m);
  m.release();
  if (o.statsJson) fs.writeFileSync(o.statsJson, JSON.stringify(final, null, 2) + '\n');
  process.stdout.write(`${formatSummary(final, reason)}\n`);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('SIGHUP', onSignal);
  if (final.pool.free !== final.pool.size) {
    log.error({ free: final.pool.free, size: final.pool.size }, 'buffers missing from the pool at exit');
    return 1;
  }
  return timedOut ? 1 : 0;
}

function configFrom(values: Flags): ResolvedConfig {
  const file = values.config;
  if (typeof file !== 'string') usage('--config FILE is required');
  return loadConfigFile(file, typeof values.name === 'string' ? { name: values.name } : {});
}

function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** --api and --log-level, shared by start, run and demo. */
function controlFlags(values: Flags): { api: ApiAddress | null; logLevel: string } {
  const api = parseApiAddress(typeof values.api === 'string' ? values.api : (process.env.NETVM_API ?? DEFAULT_API));
  const logLevel = typeof values['log-level'] === 'string' ? values['log-level'] : (process.env.NETVM_LOG_LEVEL ?? 'info');
  if (!LOG_LEVELS.includes(logLevel)) usage(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got ${logLevel})`);
  return { api, logLevel };
}

const managerFlags = {
  api: { type: 'string' as const },
  'log-level': { type: 'string' as const },
  config: { type: 'string' as const, short: 'c' },
  name: { type: 'string' as const },
  'stats-json': { type: 'string' as const },
  quiet: { type: 'boolean' as const, short: 'q' },
  timeout: { type: 'string' as const },
};

async function cmdStart(argv: string[], exitWhenDone: boolean): Promise<number> {
  const { values } = parse(argv, managerFlags);
  const config = configFrom(values);
  return runManager({
    config,
    ...controlFlags(values),
    exitWhenDone,
    statsJson: values['stats-json'] as string | undefined,
    quiet: values.quiet === true,
    timeout: num(values.timeout, '--timeout', 0),
  });
}

async function cmdDemo(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    rate: { type: 'string' },
    count: { type: 'string' },
    seconds: { type: 'string' },
    name: { type: 'string' },
    'stats-json': { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
    api: { type: 'string' },
    'log-level': { type: 'string' },
  });
  const count = num(values.count, '--count', 0);
  const config = demoConfig({ rate: num(values.rate, '--rate', 0), count });
  if (typeof values.name === 'string') config.name = values.name;
  if (!process.stdout.isTTY && values.quiet !== true)
    process.stderr.write('netvm demo: stats every second; stop with Ctrl-C (or pass --seconds / --count)\n');
  return runManager({
    config,
    ...controlFlags(values),
    exitWhenDone: count > 0,
    statsJson: values['stats-json'] as string | undefined,
    quiet: values.quiet === true,
    seconds: num(values.seconds, '--seconds', 0),
  });
}

function cmdCheck(argv: string[]): number {
  const { values } = parse(argv, { config: { type: 'string', short: 'c' }, name: { type: 'string' } });
  const c = configFrom(values);
  const out: string[] = [`${c.file ?? 'config'}: OK (name "${c.name}")`];
  if (c.cpus !== null) out.push(`  manager on CPUs ${formatCpuList(c.cpus)}`);
  for (const p of c.ports) out.push(`  port ${p.id} ${p.name}: ${p.driver}${p.input ? ' in' : ''}${p.output ? ' out' : ''}`);
  for (const s of c.services)
    out.push(
      `  service ${s.id} ${s.name}: ${s.nf.kind === 'catalog' ? s.nf.name : s.nf.path} x${s.instances} (${s.mode}${s.cpus !== null ? `, CPUs ${formatCpuList(s.cpus)}` : ''}${s.untrusted ? `, untrusted, timeout ${s.untrusted.timeoutMs} ms, ${s.untrusted.exchangeSlots} slots` : ''})`,
    );
  for (const ch of c.chains)
    out.push(
      `  chain ${ch.id} ${ch.name}${ch.id === c.defaultChain ? ' (default)' : ''}: ${ch.steps.map((st) => (st.kind === 'drop' ? 'drop' : st.name)).join(' -> ')}`,
    );
  c.rules.forEach((r, i) => out.push(`  rule ${i}: ${JSON.stringify(r.match)} -> ${r.chainName}`));
  for (const w of c.warnings) out.push(`  warning: ${w}`);
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}

/** `netvm config check FILE` (as `netvm check --config FILE`), `netvm config schema`. */
function cmdConfig(argv: string[]): number {
  const [sub, ...rest] = argv;
  if (sub === 'schema') {
    process.stdout.write(JSON.stringify(CONFIG_SCHEMA, null, 2) + '\n');
    return 0;
  }
  if (sub !== 'check') usage(`unknown config subcommand "${sub ?? ''}" (check, schema)`);
  const { values, positionals } = parse(rest, { config: { type: 'string', short: 'c' }, name: { type: 'string' } }, true);
  if (positionals.length > 1 || (positionals.length === 1) === (typeof values.config === 'string'))
    usage('config check takes one FILE (or --config FILE)');
  return cmdCheck([
    '--config',
    positionals[0] ?? (values.config as string),
    ...(typeof values.name === 'string' ? ['--name', values.name] : []),
  ]);
}

// ------------------------------------------------------------------ NF processes

let hooksRegistered = false;
/** Imports an NF module: TypeScript through tsx (no compile step), 'netvm' mapped to this copy. */
async function importNF(file: string): Promise<Record<string, unknown>> {
  if (!hooksRegistered) {
    hooksRegistered = true;
    const { register } = await import('node:module');
    register(new URL('./resolve-hooks.js', import.meta.url).href, import.meta.url);
  }
  const url = pathToFileURL(file).href;
  if (/\.[cm]?ts$/.test(file)) {
    // tsImport loads the file as an ES module whatever package.json (if any) says.
    const { tsImport } = await import('tsx/esm/api');
    return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
  }
  return (await import(url)) as Record<string, unknown>;
}

async function cmdNf(argv: string[]): Promise<number> {
  const sub = argv[0];
  if (sub === 'catalog') {
    process.stdout.write(catalogNames().join('\n') + '\n');
    return 0;
  }
  if (sub === 'list' || sub === 'start' || sub === 'stop' || sub === 'scale') return cmdNfControl(sub, argv.slice(1));
  if (sub !== 'run') usage(`unknown nf subcommand "${sub ?? ''}" (run, list, start, stop, scale, catalog)`);
  const { values, positionals } = parse(
    argv.slice(1),
    {
      service: { type: 'string', short: 's' },
      name: { type: 'string' },
      mode: { type: 'string' },
      args: { type: 'string' },
      untrusted: { type: 'boolean' },
      cpus: { type: 'string' },
    },
    true,
  );
  if (positionals.length !== 1) usage('nf run takes one NF: a catalog name or a module path');
  const spec = positionals[0];
  const service = values.service;
  if (typeof service !== 'string') usage('nf run: --service NAME is required');
  const mode = (values.mode ?? 'shared') as string;
  if (mode !== 'shared' && mode !== 'poll') usage(`--mode must be shared or poll (got ${mode})`);
  let args: Record<string, unknown> | undefined;
  if (typeof values.args === 'string') {
    try {
      args = JSON.parse(values.args) as Record<string, unknown>;
    } catch (err) {
      usage(`--args must be a JSON object: ${(err as Error).message}`);
    }
    if (typeof args !== 'object' || args === null || Array.isArray(args)) usage('--args must be a JSON object');
  }
  if (typeof values.cpus === 'string') {
    let cpus: number[];
    try {
      cpus = parseCpuList(values.cpus, '--cpus');
    } catch (err) {
      usage((err as Error).message);
    }
    pinProcess(cpus, '--cpus');
  }
  const isPath = spec.includes('/') || /\.[cm]?[jt]s$/.test(spec);
  let file: string;
  if (isPath) {
    file = path.resolve(spec);
    if (!fs.existsSync(file)) throw new NetvmError('NETVM_NF_LOAD', `NF module ${file} does not exist`);
  } else file = catalogModulePath(spec);
  let mod: Record<string, unknown>;
  try {
    mod = await importNF(file);
  } catch (err) {
    throw new NetvmError('NETVM_NF_LOAD', `cannot load NF ${spec} (${file}): ${(err as Error).stack ?? String(err)}`, { cause: err });
  }
  const { isNFDefinition } = await import('../nflib/define-nf.js');
  const { runNF } = await import('../nflib/runtime.js');
  const def = mod.default ?? mod.nf;
  if (!isNFDefinition(def))
    throw new NetvmError('NETVM_NF_INVALID', `${file} must \`export default defineNF({ name, process | packet, ... })\` from 'netvm'`);
  await runNF(def, {
    name: (values.name as string | undefined) ?? 'netvm',
    service,
    mode,
    args,
    nfLabel: isPath ? file : spec,
    untrusted: values.untrusted === true,
  });
  return 0;
}

// ------------------------------------------------------------------ stats of a running manager

function queryStats(name: string): Promise<StatsSnapshot> {
  const p = controlSocketPath(name);
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(p);
    sock.once('error', (err) =>
      reject(
        new NetvmError(
          'NETVM_MANAGER_UNREACHABLE',
          `no netvm manager "${name}" at ${p} (${(err as NodeJS.ErrnoException).code ?? err.message})`,
        ),
      ),
    );
    sock.on(
      'data',
      lineReader(
        (m) => {
          const msg = m as { type: string; stats?: StatsSnapshot; message?: string };
          if (msg.type === 'stats' && msg.stats) resolve(msg.stats);
          else reject(new NetvmError('NETVM_MANAGER_UNREACHABLE', msg.message ?? 'unexpected reply'));
          sock.end();
        },
        () => {},
      ),
    );
    sock.once('connect', () => sock.write(JSON.stringify({ type: 'stats' }) + '\n'));
  });
}

async function cmdStats(argv: string[]): Promise<number> {
  const { values } = parse(argv, { name: { type: 'string' }, json: { type: 'boolean' }, watch: { type: 'boolean', short: 'w' } });
  const name = (values.name as string | undefined) ?? 'netvm';
  let prev: StatsSnapshot | null = null;
  for (;;) {
    const cur = await queryStats(name);
    if (values.json === true) process.stdout.write(JSON.stringify(cur) + '\n');
    else process.stdout.write(`${values.watch === true && process.stdout.isTTY ? '\x1b[H\x1b[2J' : ''}${formatStats(cur, prev)}\n`);
    if (values.watch !== true) return 0;
    prev = cur;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// ------------------------------------------------------------------ entry

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'demo':
      return cmdDemo(rest);
    case 'start':
      return cmdStart(rest, false);
    case 'run':
      return cmdStart(rest, true);
    case 'check':
      return cmdCheck(rest);
    case 'nf':
      return cmdNf(rest);
    case 'stats':
      return cmdStats(rest);
    case 'chain':
      return cmdChain(rest);
    case 'rule':
      return cmdRule(rest);
    case 'top':
      return cmdTop(rest);
    case 'config':
      return cmdConfig(rest);
    case 'version':
    case '--version':
    case '-v': {
      const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string };
      process.stdout.write(`netvm ${pkg.version}\n`);
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n');
      return 0;
    default:
      usage(`unknown command "${cmd}"`);
  }
}

export function runCli(): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // NF processes and managers hold sockets/timers until they finish; once main returns
      // the work is done.
      setImmediate(() => process.exit(code));
    },
    (err: unknown) => {
      if (err instanceof NetvmError) process.stderr.write(`netvm: ${err.code}: ${err.message}\n`);
      else process.stderr.write(`netvm: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exit(err instanceof NetvmError && err.code === 'NETVM_USAGE' ? 64 : err instanceof NetvmError ? 2 : 70);
    },
  );
}
