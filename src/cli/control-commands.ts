// CLI commands on top of the control API: `netvm nf list|start|stop|scale`, `netvm chain
// list|set|rm`, `netvm rule list|add|rm`. Each finds the manager by --name (default
// "netvm") through the files it writes next to its control socket (src/control/address.ts).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { NetvmError } from '../core/errors.js';
import { apiCall, discover, type ApiEndpoint } from '../control/client.js';

type Flags = Record<string, string | boolean | undefined>;

export const CONTROL_USAGE = `Control a running manager (its HTTP API; --name NAME picks the instance, default netvm):
  netvm nf list [--json]                 NF instances with counters
  netvm nf start SERVICE [--nf NF] [--mode shared|poll] [--args JSON]
                                         one more instance (a new service needs --nf)
  netvm nf stop SERVICE#N | SERVICE N    stop an instance (drains its ring first)
  netvm nf scale SERVICE COUNT           start or stop instances until COUNT run
  netvm chain list [--json]
  netvm chain set NAME STEP...           create or replace a chain, live (steps: services,
                                         output ports, drop)
  netvm chain rm NAME
  netvm rule list [--json]
  netvm rule add --chain NAME [--in-port P] [--ip-version 4|6] [--src CIDR] [--dst CIDR]
                 [--proto P] [--src-port N|LO-HI] [--dst-port N|LO-HI] [--position N]
                 [--match JSON]
  netvm rule rm ID
  netvm top [--interval S] [--count N]   live per-NF view (q or Ctrl-C quits)`;

function usage(msg: string): never {
  throw new NetvmError('NETVM_USAGE', `${msg}\n\n${CONTROL_USAGE}`);
}

export function parse(
  argv: string[],
  options: NonNullable<ParseArgsConfig['options']>,
): { values: Flags; positionals: string[]; endpoint: () => ApiEndpoint } {
  let r: { values: Flags; positionals: string[] };
  try {
    const p = parseArgs({ args: argv, options: { name: { type: 'string' }, ...options }, allowPositionals: true, strict: true });
    r = { values: p.values as Flags, positionals: p.positionals };
  } catch (err) {
    usage((err as Error).message);
  }
  const name = (r.values.name as string | undefined) ?? 'netvm';
  return { ...r, endpoint: () => discover(name) };
}

const pad = (s: string, n: number): string => (s.length >= n ? s + ' ' : s + ' '.repeat(n - s.length));
const out = (s: string): void => void process.stdout.write(s + '\n');

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)) + 2);
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : pad(cell, widths[c]))).join('')).join('\n');
}

function positiveInt(v: string | undefined, what: string): number {
  if (v === undefined || !/^[0-9]+$/.test(v)) usage(`${what} must be a whole number (got ${v ?? 'nothing'})`);
  return Number(v);
}

// ------------------------------------------------------------------ nf

interface InstanceRow {
  service: string;
  instance: number;
  slot: number;
  pid: number;
  state: string;
  mode: string;
  nf: string;
  rx: number;
  tx: number;
  ring: { occupancy: number; capacity: number };
}

export async function cmdNfControl(sub: string, argv: string[]): Promise<number> {
  if (sub === 'list') {
    const { values, endpoint } = parse(argv, { json: { type: 'boolean' } });
    const list = await apiCall<InstanceRow[]>(endpoint(), 'GET', '/api/v1/nfs');
    if (values.json === true) out(JSON.stringify(list));
    else if (list.length === 0) out('no NF instances');
    else
      out(
        table([
          ['SERVICE', 'INST', 'SLOT', 'PID', 'STATE', 'MODE', 'RX', 'TX', 'RING', 'NF'],
          ...list.map((i) => [
            i.service,
            String(i.instance),
            String(i.slot),
            String(i.pid),
            i.state,
            i.mode,
            String(i.rx),
            String(i.tx),
            `${i.ring.occupancy}/${i.ring.capacity}`,
            i.nf,
          ]),
        ]),
      );
    return 0;
  }
  if (sub === 'start') {
    const { values, positionals, endpoint } = parse(argv, { nf: { type: 'string' }, mode: { type: 'string' }, args: { type: 'string' } });
    if (positionals.length !== 1) usage('nf start takes one SERVICE');
    const body: Record<string, unknown> = {};
    if (typeof values.nf === 'string') body.nf = values.nf;
    if (typeof values.mode === 'string') body.mode = values.mode;
    if (typeof values.args === 'string') {
      try {
        body.args = JSON.parse(values.args) as unknown;
      } catch (err) {
        usage(`--args must be a JSON object: ${(err as Error).message}`);
      }
    }
    const r = await apiCall<{ service: string; instance: number; slot: number; pid: number }>(
      endpoint(),
      'POST',
      `/api/v1/services/${encodeURIComponent(positionals[0])}/instances`,
      body,
    );
    out(`started ${r.service}#${r.instance} (pid ${r.pid}, slot ${r.slot})`);
    return 0;
  }
  if (sub === 'stop') {
    const { positionals, endpoint } = parse(argv, {});
    let service: string;
    let instance: number;
    if (positionals.length === 1 && positionals[0].includes('#')) {
      const [s, n] = positionals[0].split('#');
      service = s;
      instance = positiveInt(n, 'the instance number');
    } else if (positionals.length === 2) {
      service = positionals[0];
      instance = positiveInt(positionals[1], 'the instance number');
    } else usage('nf stop takes SERVICE#N or SERVICE N (see `netvm nf list`)');
    const r = await apiCall<{ service: string; instance: number; pid: number; drained: boolean }>(
      endpoint(),
      'DELETE',
      `/api/v1/services/${encodeURIComponent(service)}/instances/${instance}`,
    );
    out(`stopped ${r.service}#${r.instance} (pid ${r.pid}${r.drained ? ', ring drained' : ''})`);
    return 0;
  }
  if (sub === 'scale') {
    const { positionals, endpoint } = parse(argv, {});
    if (positionals.length !== 2) usage('nf scale takes SERVICE COUNT');
    const count = positiveInt(positionals[1], 'COUNT');
    const r = await apiCall<{ service: string; instances: number; started: number[]; stopped: number[] }>(
      endpoint(),
      'PUT',
      `/api/v1/services/${encodeURIComponent(positionals[0])}/scale`,
      { instances: count },
    );
    const what =
      r.started.length > 0 ? `started #${r.started.join(', #')}` : r.stopped.length > 0 ? `stopped #${r.stopped.join(', #')}` : 'no change';
    out(`${r.service}: ${r.instances} instance${r.instances === 1 ? '' : 's'} (${what})`);
    return 0;
  }
  usage(`unknown nf subcommand "${sub}"`);
}

// ------------------------------------------------------------------ chain

interface ChainRow {
  name: string;
  default: boolean;
  steps: string[];
  packets: number;
  rules: number[];
}

export async function cmdChain(argv: string[]): Promise<number> {
  const sub = argv[0];
  const rest = argv.slice(1);
  if (sub === 'list') {
    const { values, endpoint } = parse(rest, { json: { type: 'boolean' } });
    const list = await apiCall<ChainRow[]>(endpoint(), 'GET', '/api/v1/chains');
    if (values.json === true) out(JSON.stringify(list));
    else if (list.length === 0) out('no chains');
    else
      out(
        table([
          ['CHAIN', 'PACKETS', 'USED BY', 'STEPS'],
          ...list.map((c) => [
            c.name,
            String(c.packets),
            [c.default ? 'default' : '', c.rules.length > 0 ? `rules ${c.rules.join(',')}` : ''].filter((x) => x !== '').join(', ') || '-',
            c.steps.join(' -> '),
          ]),
        ]),
      );
    return 0;
  }
  if (sub === 'set') {
    const { positionals, endpoint } = parse(rest, {});
    if (positionals.length < 2) usage('chain set takes NAME and at least one STEP');
    // "a -> b -> c" and "a,b,c" are accepted as well as separate words.
    const steps = positionals
      .slice(1)
      .flatMap((s) => s.split(/\s*(?:->|,)\s*|\s+/))
      .filter((s) => s.length > 0);
    const r = await apiCall<{ name: string; created: boolean; steps: string[] }>(
      endpoint(),
      'PUT',
      `/api/v1/chains/${encodeURIComponent(positionals[0])}`,
      { steps },
    );
    out(`chain ${r.name} ${r.created ? 'created' : 'replaced'}: ${r.steps.join(' -> ')}`);
    return 0;
  }
  if (sub === 'rm') {
    const { positionals, endpoint } = parse(rest, {});
    if (positionals.length !== 1) usage('chain rm takes one NAME');
    const r = await apiCall<{ name: string; packets: number }>(
      endpoint(),
      'DELETE',
      `/api/v1/chains/${encodeURIComponent(positionals[0])}`,
    );
    out(`chain ${r.name} removed (${r.packets} packets took it)`);
    return 0;
  }
  usage(`unknown chain subcommand "${sub ?? ''}" (list, set, rm)`);
}

// ------------------------------------------------------------------ rule

interface RuleRow {
  id: number;
  position: number;
  match: Record<string, unknown>;
  chain: string;
}

const fmtMatch = (m: Record<string, unknown>): string =>
  Object.entries(m)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');

export async function cmdRule(argv: string[]): Promise<number> {
  const sub = argv[0];
  const rest = argv.slice(1);
  if (sub === 'list') {
    const { values, endpoint } = parse(rest, { json: { type: 'boolean' } });
    const list = await apiCall<RuleRow[]>(endpoint(), 'GET', '/api/v1/rules');
    if (values.json === true) out(JSON.stringify(list));
    else if (list.length === 0) out('no rules (every flow takes the default chain)');
    else out(table([['ID', 'POS', 'CHAIN', 'MATCH'], ...list.map((r) => [String(r.id), String(r.position), r.chain, fmtMatch(r.match)])]));
    return 0;
  }
  if (sub === 'add') {
    const { values, positionals, endpoint } = parse(rest, {
      chain: { type: 'string' },
      match: { type: 'string' },
      'in-port': { type: 'string' },
      'ip-version': { type: 'string' },
      src: { type: 'string' },
      dst: { type: 'string' },
      proto: { type: 'string' },
      'src-port': { type: 'string' },
      'dst-port': { type: 'string' },
      position: { type: 'string' },
    });
    if (positionals.length > 0) usage(`rule add takes flags only (got "${positionals.join(' ')}")`);
    if (typeof values.chain !== 'string') usage('rule add: --chain NAME is required');
    let match: Record<string, unknown> = {};
    if (typeof values.match === 'string') {
      try {
        match = JSON.parse(values.match) as Record<string, unknown>;
      } catch (err) {
        usage(`--match must be a JSON object: ${(err as Error).message}`);
      }
    }
    const num = (v: string): number | string => (/^[0-9]+$/.test(v) ? Number(v) : v);
    const flags: [string, string, (v: string) => unknown][] = [
      ['in-port', 'inPort', (v) => v],
      ['ip-version', 'ipVersion', (v) => num(v)],
      ['src', 'src', (v) => v],
      ['dst', 'dst', (v) => v],
      ['proto', 'proto', (v) => num(v)],
      ['src-port', 'srcPort', (v) => num(v)],
      ['dst-port', 'dstPort', (v) => num(v)],
    ];
    for (const [flag, key, conv] of flags) if (typeof values[flag] === 'string') match[key] = conv(values[flag]);
    if (Object.keys(match).length === 0) usage('rule add: give at least one match flag (--proto, --dst-port, …) or --match JSON');
    const body: Record<string, unknown> = { match, chain: values.chain };
    if (typeof values.position === 'string') body.position = positiveInt(values.position, '--position');
    const r = await apiCall<{ id: number; position: number; match: Record<string, unknown>; chain: string }>(
      endpoint(),
      'POST',
      '/api/v1/rules',
      body,
    );
    out(`rule ${r.id} added at position ${r.position}: ${fmtMatch(r.match)} -> ${r.chain}`);
    return 0;
  }
  if (sub === 'rm') {
    const { positionals, endpoint } = parse(rest, {});
    if (positionals.length !== 1) usage('rule rm takes one rule ID (see `netvm rule list`)');
    const id = positiveInt(positionals[0], 'the rule ID');
    await apiCall(endpoint(), 'DELETE', `/api/v1/rules/${id}`);
    out(`rule ${id} removed`);
    return 0;
  }
  usage(`unknown rule subcommand "${sub ?? ''}" (list, add, rm)`);
}
