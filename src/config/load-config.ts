// The config loader: reads YAML or JSON, validates the structure against the JSON Schema in
// schema.ts (ajv, every error reported, each naming its field), then resolves meaning: names
// to ids, defaults, paths, NF modules, CIDR prefixes and port ranges. The result is the
// ResolvedConfig of types.ts. Reference: docs/configuration.md.
import { parseCpuList } from '../core/affinity.js';
import fs from 'node:fs';
import path from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { LineCounter, parseDocument } from 'yaml';
import { NetvmError } from '../core/errors.js';
import { formatIpv6, parseIpv4, parseIpv6 } from '../proto/address.js';
import { CATALOG_NAME_RE, catalogModulePath, catalogNames } from './catalog.js';
import { CONFIG_SCHEMA, IP_PROTOCOLS, NAME_PATTERN, PORT_OPTIONS, type JsonSchema } from './schema.js';
import type {
  HugePagesMode,
  NfRef,
  PortDriverName,
  ResolvedChain,
  ResolvedConfig,
  ResolvedPort,
  ResolvedPrefix,
  ResolvedRegion,
  ResolvedRule,
  ResolvedService,
  ResolvedStep,
} from './types.js';

export type { ResolvedConfig } from './types.js';

/** Most error lines in one message; the rest are counted. */
const MAX_ERROR_LINES = 10;

export interface ResolveOptions {
  /** The config file (stored in ResolvedConfig.file), or null for a built-in config. */
  file: string | null;
  /** Directory that relative paths (pcap files, NF modules) are resolved against. */
  baseDir: string;
  /** A directory of <name>/index.{js,ts} to use as the NF catalog instead of the package's (tests). */
  catalogDir?: string;
  /** How error messages name the file; defaults to `file`. */
  label?: string;
}

// ------------------------------------------------------------------------------ raw shapes
// What the schema guarantees once validation passed.

type Obj = Record<string, unknown>;
interface RawPort extends Obj {
  driver: PortDriverName;
}
interface RawService {
  nf: string;
  instances?: number;
  mode?: 'shared' | 'poll';
  args?: Obj;
  trust?: 'trusted' | 'untrusted';
  timeoutMs?: number;
  exchangeSlots?: number;
  cpus?: number[] | string;
}
interface RawMatch {
  inPort?: string;
  ipVersion?: 4 | 6;
  src?: string;
  dst?: string;
  proto?: string | number;
  srcPort?: number | string;
  dstPort?: number | string;
}
interface RawConfig {
  name?: string;
  cpus?: number[] | string;
  region?: Obj;
  ports: Record<string, RawPort>;
  services?: Record<string, RawService>;
  chains?: Record<string, string[]>;
  rules?: { match: RawMatch; chain: string }[];
}

// ------------------------------------------------------------------------------ errors

interface Problem {
  path: string;
  message: string;
}

function invalid(
  label: string | null,
  problems: Problem[],
  code: 'NETVM_CONFIG_INVALID' | 'NETVM_CONFIG_READ' = 'NETVM_CONFIG_INVALID',
): NetvmError {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const p of problems) {
    const line = [label, p.path, p.message].filter((s) => s !== null && s !== '').join(': ');
    if (!seen.has(line)) {
      seen.add(line);
      lines.push(line);
    }
  }
  const shown = lines.slice(0, MAX_ERROR_LINES);
  if (lines.length > MAX_ERROR_LINES)
    shown.push(`${label !== null ? `${label}: ` : ''}… and ${lines.length - MAX_ERROR_LINES} more errors`);
  return new NetvmError(code, shown.join('\n'));
}

/** Field path in the form users read: ports.in.read, chains.default[2], rules[0].match.proto. */
function fieldPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/** A value as quoted in messages: (got "x"), (got 40), (got a list). */
function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

const TYPE_NAMES: Record<string, string> = {
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'an object (key: value pairs)',
  array: 'a list',
  null: 'null',
};

/** Edit distance counting an adjacent transposition as one edit ("raed" → "read": 1). */
function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/** `; did you mean "read"?` when one candidate is close, else ''. */
function didYouMean(word: string, candidates: readonly string[]): string {
  let best = '';
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = editDistance(word, c);
    if (dist < bestD) {
      bestD = dist;
      best = c;
    }
  }
  return best !== '' && bestD <= Math.max(1, Math.min(2, Math.floor(best.length / 3))) ? `; did you mean "${best}"?` : '';
}

const isPow2Run = (vs: readonly unknown[]): boolean =>
  vs.length > 2 && vs.every((v, i) => typeof v === 'number' && (i === 0 || v === (vs[i - 1] as number) * 2));

const listValues = (vs: readonly unknown[]): string => vs.map((v) => (typeof v === 'string' ? `"${v}"` : String(v))).join(', ');

function describeSchema(s: JsonSchema): string {
  if (s.enum !== undefined) return `one of ${listValues(s.enum)}`;
  if (s.type === 'integer' || s.type === 'number') {
    const what = TYPE_NAMES[s.type];
    if (s.minimum !== undefined && s.maximum !== undefined) return `${what} from ${s.minimum} to ${s.maximum}`;
    if (s.minimum !== undefined) return `${what} >= ${s.minimum}`;
    return what;
  }
  if (s.description !== undefined) return s.description;
  return s.type !== undefined ? TYPE_NAMES[s.type] : 'valid';
}

const NAME_RULE = 'names are 1 to 64 letters, digits, "_", "." or "-", and not all digits';

function pathSegments(instancePath: string, data: unknown): (string | number)[] {
  if (instancePath === '') return [];
  const out: (string | number)[] = [];
  let cur: unknown = data;
  for (const raw of instancePath.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      out.push(Number(key));
      cur = cur[Number(key)];
    } else {
      out.push(key);
      cur = cur !== null && typeof cur === 'object' ? (cur as Obj)[key] : undefined;
    }
  }
  return out;
}

/** Turns ajv's errors into one human line each, dropping the noise of branches. */
function schemaProblems(errors: readonly ErrorObject[], root: unknown): Problem[] {
  // Alternatives (anyOf) are reported once, as a whole, not branch by branch.
  const anyOfs = errors.filter((e) => e.keyword === 'anyOf').map((e) => `${e.schemaPath}/`);
  // A value of the wrong type needs no more detail than that.
  const inBranch = (e: ErrorObject): boolean => anyOfs.some((p) => e.schemaPath.startsWith(p));
  const typeErrorAt = new Set(errors.filter((e) => e.keyword === 'type' && !inBranch(e)).map((e) => e.instancePath));
  const out: Problem[] = [];
  for (const e of errors) {
    if (e.keyword === 'if') continue;
    if (inBranch(e)) continue;
    if (e.keyword !== 'type' && typeErrorAt.has(e.instancePath)) continue;
    // propertyNames reports an inner error per failed keyword, tagged with the name.
    if ((e as ErrorObject & { propertyName?: string }).propertyName !== undefined) continue;
    const segs = pathSegments(e.instancePath, root);
    const at = fieldPath(segs);
    const parent = (e.parentSchema ?? {}) as JsonSchema;
    const p = e.params as Record<string, unknown>;
    const got = ` (got ${describe(e.data)})`;
    let msg: string;
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String(p.additionalProperty);
        const props = Object.keys(parent.properties ?? {}).filter((k) => !k.startsWith('$'));
        const driver = parent.properties?.driver?.const;
        if (typeof driver === 'string') {
          const opts = props.filter((k) => k !== 'driver');
          msg = `unknown key "${key}" (driver ${driver} takes: ${opts.length > 0 ? opts.join(', ') : 'no options'})${didYouMean(key, opts)}`;
        } else {
          msg = `unknown ${segs.length === 0 ? 'top-level ' : ''}key "${key}" (valid keys: ${props.join(', ')})${didYouMean(key, props)}`;
        }
        break;
      }
      case 'required': {
        const key = String(p.missingProperty);
        const enumOf = parent.properties?.[key]?.enum;
        msg = `missing required key "${key}"${enumOf !== undefined ? ` (one of ${enumOf.join(', ')})` : ''}`;
        break;
      }
      case 'type':
        msg = `must be ${String(p.type)
          .split(',')
          .map((t) => TYPE_NAMES[t] ?? t)
          .join(' or ')}${got}`;
        break;
      case 'enum': {
        const vs = p.allowedValues as unknown[];
        msg = isPow2Run(vs)
          ? `must be a power of two from ${String(vs[0])} to ${String(vs[vs.length - 1])}${got}`
          : `must be one of ${listValues(vs)}${got}${
              typeof e.data === 'string'
                ? didYouMean(
                    e.data,
                    vs.filter((v) => typeof v === 'string'),
                  )
                : ''
            }`;
        break;
      }
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum':
        msg = `must be ${String(p.comparison)} ${String(p.limit)}${got}`;
        break;
      case 'minLength':
        msg = p.limit === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters long${got}`;
        break;
      case 'maxLength':
        msg = `must be at most ${String(p.limit)} characters long${got}`;
        break;
      case 'pattern':
        msg =
          p.pattern === NAME_PATTERN ? `must be 1 to 64 letters, digits, "_", "." or "-"${got}` : `must match ${String(p.pattern)}${got}`;
        break;
      case 'minItems':
      case 'maxItems': {
        const noun = (segs[0] === 'chains' ? 'step' : 'item') + (p.limit === 1 ? '' : 's');
        const n = Array.isArray(e.data) ? e.data.length : 0;
        msg = `must have ${e.keyword === 'minItems' ? 'at least' : 'at most'} ${String(p.limit)} ${noun} (got ${n})`;
        break;
      }
      case 'minProperties':
        msg = `must have at least ${String(p.limit)} key (any of: ${Object.keys(parent.properties ?? {}).join(', ')})`;
        break;
      case 'maxProperties': {
        const n = e.data !== null && typeof e.data === 'object' ? Object.keys(e.data).length : 0;
        msg = `at most ${String(p.limit)} ${segs.length === 1 ? String(segs[0]) : 'entries'} are allowed (got ${n})`;
        break;
      }
      case 'propertyNames':
        msg = `invalid name "${String(p.propertyName)}" (${NAME_RULE})`;
        break;
      case 'anyOf': {
        const branches = (e.schema as JsonSchema[]) ?? [];
        const keys = branches.map((b) => (b.required?.length === 1 && Object.keys(b).length === 1 ? b.required[0] : null));
        msg = keys.every((k) => k !== null)
          ? `needs at least one of ${keys.map((k) => `"${k}"`).join(', ')}`
          : `must be ${branches.map(describeSchema).join(' or ')}${got}${
              typeof e.data === 'string'
                ? didYouMean(
                    e.data,
                    branches.flatMap((b) => (b.enum ?? []).filter((v): v is string => typeof v === 'string')),
                  )
                : ''
            }`;
        break;
      }
      case 'dependencies':
        msg = `"${String(p.property)}" only applies with "${String(p.missingProperty)}", which is missing`;
        break;
      default:
        msg = e.message ?? `fails ${e.keyword}`;
    }
    out.push({ path: at, message: msg });
  }
  return out;
}

let validator: ValidateFunction | null = null;

function validateSchema(raw: unknown): ErrorObject[] {
  if (validator === null) {
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, strictRequired: false });
    validator = ajv.compile(CONFIG_SCHEMA);
  }
  return validator(raw) ? [] : [...(validator.errors ?? [])];
}

// ------------------------------------------------------------------------------ helpers

/** A copy of `value` with the schema's defaults filled in, keys in schema order. */
function withDefaults(value: Obj, props: Record<string, JsonSchema>): Obj {
  const out: Obj = {};
  for (const [k, s] of Object.entries(props)) {
    const v = value[k];
    if (v !== undefined) {
      out[k] =
        s.properties !== undefined && v !== null && typeof v === 'object' && !Array.isArray(v)
          ? withDefaults(v as Obj, s.properties)
          : structuredClone(v);
    } else if (s.default !== undefined) out[k] = structuredClone(s.default);
  }
  return out;
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** "10.0.0.0/8", "2001:db8::/32", or a bare address (/32, /128). */
export function parsePrefix(text: string): { prefix: ResolvedPrefix; hostBits: boolean } | string {
  const slash = text.indexOf('/');
  const addrText = (slash >= 0 ? text.slice(0, slash) : text).trim();
  const version: 4 | 6 = addrText.includes(':') ? 6 : 4;
  const max = version === 4 ? 32 : 128;
  let bytes: number[];
  try {
    if (version === 4) {
      const a = parseIpv4(addrText);
      bytes = [a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff];
    } else bytes = Array.from(parseIpv6(addrText));
  } catch {
    return `invalid ${slash >= 0 ? 'CIDR prefix' : 'address'} "${text}" (expected e.g. "10.0.0.0/8", "2001:db8::/32" or a single address)`;
  }
  let prefixLen = max;
  if (slash >= 0) {
    const lenText = text.slice(slash + 1).trim();
    if (!/^[0-9]{1,3}$/.test(lenText) || Number(lenText) > max)
      return `invalid prefix length in "${text}": must be 0..${max} for IPv${version}`;
    prefixLen = Number(lenText);
  }
  let hostBits = false;
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefixLen - i * 8));
    const masked = bytes[i] & ((0xff << (8 - keep)) & 0xff);
    if (masked !== bytes[i]) hostBits = true;
    bytes[i] = masked;
  }
  return { prefix: { version, addr: bytes, prefixLen }, hostBits };
}

export function formatPrefix(p: ResolvedPrefix): string {
  return `${p.version === 4 ? p.addr.join('.') : formatIpv6(Uint8Array.from(p.addr))}/${p.prefixLen}`;
}

/** A port number or "lo-hi" → [lo, hi]. */
export function parsePortRange(v: number | string): [number, number] | string {
  if (typeof v === 'number') return [v, v];
  const [a, b = a] = v.split('-');
  const lo = Number(a);
  const hi = Number(b);
  if (lo > 65535 || hi > 65535) return `ports are 0..65535 (got "${v}")`;
  if (lo > hi) return `range "${v}" is empty: ${lo} is above ${hi} (write "${hi}-${lo}")`;
  return [lo, hi];
}

const PORT_PROTOS = new Set([6, 17, 132]);

// ------------------------------------------------------------------------------ resolution

/**
 * Validates a parsed config (the object YAML or JSON gave) and resolves it. Throws a
 * NetvmError NETVM_CONFIG_INVALID listing every problem, each with the field's path.
 */
export function resolveConfig(raw: unknown, opts: ResolveOptions): ResolvedConfig {
  const label = opts.label ?? opts.file;
  if (raw === undefined || raw === null) throw invalid(label, [{ path: '', message: 'the config is empty' }]);
  const schemaErrors = validateSchema(raw);
  if (schemaErrors.length > 0) throw invalid(label, schemaProblems(schemaErrors, raw));

  const c = raw as RawConfig;
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const fail = (segs: (string | number)[], message: string): void => void problems.push({ path: fieldPath(segs), message });
  // The schema checked the shape; this reads the list (and catches a backwards range).
  const cpuList = (segs: (string | number)[], spec: unknown): number[] | null => {
    try {
      return parseCpuList(spec, 'cpus');
    } catch (err) {
      fail(segs, (err as Error).message.replace(/^cpus: /, ''));
      return null;
    }
  };
  const warn = (segs: (string | number)[], message: string): void =>
    void warnings.push([label, fieldPath(segs), message].filter((s) => s !== null && s !== '').join(': '));

  // ---- region
  const regionProps = CONFIG_SCHEMA.properties!.region.properties!;
  const r = withDefaults(c.region ?? {}, regionProps);
  const hp = r.hugePages;
  const region: ResolvedRegion = {
    bufSize: r.bufSize as number,
    bufCount: r.bufCount as number,
    ringSize: r.ringSize as number,
    flowEntries: r.flowEntries as number,
    hugePages: (hp === true ? 'always' : hp === false ? 'never' : hp) as HugePagesMode,
    maxSlots: r.maxSlots as number,
  };

  // ---- ports
  const ports: ResolvedPort[] = [];
  const portByName = new Map<string, ResolvedPort>();
  const written = new Map<string, string>();
  for (const [name, p] of Object.entries(c.ports)) {
    const { driver, ...rest } = p;
    const options = withDefaults(rest, PORT_OPTIONS[driver].properties);
    let input = driver === 'generator' || driver === 'afpacket' || driver === 'afxdp';
    let output = driver === 'sink' || driver === 'afpacket' || driver === 'afxdp';
    if (driver === 'pcap') {
      for (const k of ['read', 'write'] as const)
        if (typeof options[k] === 'string') options[k] = path.resolve(opts.baseDir, options[k] as string);
      input = options.read !== undefined;
      output = options.write !== undefined;
      if (input && output && options.read === options.write)
        fail(['ports', name], `reads and writes the same file ${String(options.read)}`);
      if (output) {
        const w = options.write as string;
        const other = written.get(w);
        if (other !== undefined) fail(['ports', name, 'write'], `ports.${other} already writes ${w}`);
        else written.set(w, name);
      }
    }
    if (name === 'drop') fail(['ports', name], '"drop" is reserved (it is the drop step in chains); choose another name');
    const port: ResolvedPort = { name, id: ports.length, driver, options, input, output };
    ports.push(port);
    portByName.set(name, port);
  }
  if (!ports.some((p) => p.input)) warn(['ports'], 'no input port: no packets will enter netvm');

  // ---- services
  const services: ResolvedService[] = [];
  const serviceByName = new Map<string, ResolvedService>();
  let catalog: string[] | null = null;
  for (const [name, s] of Object.entries(c.services ?? {})) {
    if (name === 'drop') fail(['services', name], '"drop" is reserved (it is the drop step in chains); choose another name');
    else if (portByName.has(name))
      fail(['services', name], `name "${name}" is also a port (ports.${name}); ports and services share one namespace`);
    let nf: NfRef;
    if (CATALOG_NAME_RE.test(s.nf) && !/\.(ts|js|mjs)$/.test(s.nf)) {
      catalog ??= catalogNames(opts.catalogDir);
      if (catalog.includes(s.nf)) nf = { kind: 'catalog', name: s.nf, path: catalogModulePath(s.nf, opts.catalogDir) };
      else {
        fail(
          ['services', name, 'nf'],
          `unknown NF "${s.nf}" (${catalog.length > 0 ? `catalog: ${catalog.join(', ')}` : 'the NF catalog is empty'}; or give a path to a .ts/.js module)${didYouMean(s.nf, catalog)}`,
        );
        nf = { kind: 'catalog', name: s.nf, path: '' };
      }
    } else {
      const file = path.resolve(opts.baseDir, s.nf);
      if (!isFile(file)) fail(['services', name, 'nf'], `NF module "${s.nf}" not found (looked for ${file})`);
      nf = { kind: 'module', path: file };
    }
    const d = withDefaults(s as unknown as Obj, CONFIG_SCHEMA.definitions!.service.properties!);
    const svc: ResolvedService = {
      name,
      id: services.length,
      nf,
      instances: d.instances as number,
      mode: d.mode as 'shared' | 'poll',
      args: d.args as Obj,
      restart: d.restart as 'never' | 'on-failure',
      restartDelayMs: d.restartDelayMs as number,
      cpus: s.cpus === undefined ? null : cpuList(['services', name, 'cpus'], s.cpus),
    };
    if (d.trust === 'untrusted') svc.untrusted = { timeoutMs: d.timeoutMs as number, exchangeSlots: d.exchangeSlots as number };
    else
      for (const k of ['timeoutMs', 'exchangeSlots'] as const)
        if (s[k] !== undefined) warn(['services', name, k], 'applies to untrusted services only (trust: untrusted); ignored');
    services.push(svc);
    serviceByName.set(name, svc);
  }

  // ---- chains: `default` is id 0 when present, the rest in declaration order
  const rawChains = Object.entries(c.chains ?? {});
  const ordered = [...rawChains.filter(([n]) => n === 'default'), ...rawChains.filter(([n]) => n !== 'default')];
  const stepNames = [...serviceByName.keys(), ...ports.filter((p) => p.output).map((p) => p.name), 'drop'];
  const chains: ResolvedChain[] = [];
  const chainByName = new Map<string, ResolvedChain>();
  for (const [name, rawSteps] of ordered) {
    const steps: ResolvedStep[] = [];
    rawSteps.forEach((st, i) => {
      const at = ['chains', name, i];
      const prev = steps[steps.length - 1];
      if (prev !== undefined && prev.kind !== 'service')
        fail(at, `unreachable: the step before (${prev.kind === 'drop' ? 'drop' : `port ${prev.name}`}) ends the chain`);
      const svc = serviceByName.get(st);
      const port = portByName.get(st);
      if (st === 'drop') steps.push({ kind: 'drop' });
      else if (svc !== undefined) steps.push({ kind: 'service', service: svc.id, name: st });
      else if (port !== undefined) {
        if (!port.output)
          fail(
            at,
            `port "${st}" cannot be a step: it does not transmit (${port.driver}${port.driver === 'pcap' ? ' without write' : ' is input only'})`,
          );
        steps.push({ kind: 'port', port: port.id, name: st });
      } else fail(at, `unknown step "${st}" (valid: ${stepNames.join(', ')})${didYouMean(st, stepNames)}`);
    });
    const last = steps[steps.length - 1];
    if (last?.kind === 'service')
      warn(['chains', name], `ends in service "${last.name}", not a port or drop: packets that run off the end are dropped and counted`);
    const chain: ResolvedChain = { name, id: chains.length, steps };
    chains.push(chain);
    chainByName.set(name, chain);
  }
  const defaultChain = chainByName.get('default')?.id ?? -1;

  // ---- rules
  const rules: ResolvedRule[] = [];
  const used = new Set<string>();
  (c.rules ?? []).forEach((rr, i) => {
    const m = rr.match;
    const match: ResolvedRule['match'] = {};
    const at = (k: string): (string | number)[] => ['rules', i, 'match', k];
    if (m.inPort !== undefined) {
      const port = portByName.get(m.inPort);
      if (port === undefined) {
        const names = [...portByName.keys()];
        fail(at('inPort'), `unknown port "${m.inPort}" (ports: ${names.join(', ')})${didYouMean(m.inPort, names)}`);
      } else {
        if (!port.input)
          fail(
            at('inPort'),
            `port "${m.inPort}" receives nothing (${port.driver}${port.driver === 'pcap' ? ' without read' : ' is output only'})`,
          );
        match.inPort = port.id;
      }
    }
    if (m.ipVersion !== undefined) match.ipVersion = m.ipVersion;
    for (const k of ['src', 'dst'] as const) {
      const text = m[k];
      if (text === undefined) continue;
      const res = parsePrefix(text);
      if (typeof res === 'string') {
        fail(at(k), res);
        continue;
      }
      if (res.hostBits) warn(at(k), `"${text}" has host bits set; matching ${formatPrefix(res.prefix)}`);
      if (m.ipVersion !== undefined && m.ipVersion !== res.prefix.version)
        fail(at(k), `"${text}" is IPv${res.prefix.version} but ipVersion is ${m.ipVersion}`);
      match[k] = res.prefix;
    }
    if (match.src !== undefined && match.dst !== undefined && match.src.version !== match.dst.version)
      fail(['rules', i, 'match'], `src is IPv${match.src.version} but dst is IPv${match.dst.version}: the rule can never match`);
    if (m.proto !== undefined) {
      match.proto = typeof m.proto === 'number' ? m.proto : IP_PROTOCOLS[m.proto];
      const v = match.ipVersion ?? match.src?.version ?? match.dst?.version;
      if ((match.proto === 1 && v === 6) || (match.proto === 58 && v === 4))
        warn(at('proto'), `${match.proto === 1 ? 'icmp' : 'icmpv6'} does not occur over IPv${v}: the rule never matches`);
    }
    for (const k of ['srcPort', 'dstPort'] as const) {
      const v = m[k];
      if (v === undefined) continue;
      const res = parsePortRange(v);
      if (typeof res === 'string') fail(at(k), res);
      else match[k] = res;
    }
    if ((match.srcPort !== undefined || match.dstPort !== undefined) && match.proto !== undefined && !PORT_PROTOS.has(match.proto))
      warn(['rules', i, 'match'], `proto ${String(m.proto)} has no ports: a rule with srcPort/dstPort never matches it`);
    const chain = chainByName.get(rr.chain);
    if (chain === undefined) {
      const names = [...chainByName.keys()];
      fail(
        ['rules', i, 'chain'],
        `unknown chain "${rr.chain}" (chains: ${names.length > 0 ? names.join(', ') : 'none'})${didYouMean(rr.chain, names)}`,
      );
    } else used.add(rr.chain);
    rules.push({ match, chain: chain?.id ?? -1, chainName: rr.chain });
  });

  for (const ch of chains)
    if (ch.id !== defaultChain && !used.has(ch.name)) warn(['chains', ch.name], 'no rule uses this chain and it is not the default chain');
  if (defaultChain < 0 && rules.length === 0 && chains.length > 0)
    warn(['chains'], 'no chain named "default" and no rules: every packet is dropped');
  if (chains.length === 0) warn([], 'no chains: every packet is dropped');

  const cpus = c.cpus === undefined ? null : cpuList(['cpus'], c.cpus);

  if (problems.length > 0) throw invalid(label, problems);
  return {
    name: c.name ?? 'netvm',
    file: opts.file,
    region,
    cpus,
    ports,
    services,
    chains,
    defaultChain,
    rules,
    warnings,
  };
}

// ------------------------------------------------------------------------------ files

function posOf(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++)
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  return { line, col: Math.min(offset, text.length) - start + 1 };
}

/**
 * Parses config text: JSON when `label` ends in .json or the text starts with "{", else YAML.
 * Syntax errors are NETVM_CONFIG_READ with "file:line:col: ".
 */
export function parseConfigText(text: string, label: string): unknown {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (/\.json$/i.test(label) || text.trimStart().startsWith('{')) {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      let msg = (err as Error).message;
      const m = /at position (\d+)/.exec(msg);
      let pos = m !== null ? Number(m[1]) : text.length;
      // V8 gives "Unexpected token" errors no position but quotes the text around the token
      // (`Unexpected token 'x', ..."context"... is not valid JSON`, 10 characters either side),
      // which may span lines of the file: drop the quote, and find the token from it.
      const q = /^([^\n]*?), (\.\.\.)?"([\s\S]*)"(\.\.\.)? is not valid JSON$/.exec(msg);
      if (q !== null) {
        const [, head, before, context, after] = q;
        const at = before !== undefined || after !== undefined ? text.indexOf(context) : -1;
        if (m === null && at >= 0) pos = before !== undefined ? at + 10 : at + context.length - 10;
        msg = head;
      }
      const { line, col } = posOf(text, pos);
      const clean = msg
        .replace(/\s*\(line \d+ column \d+\)/, '')
        .replace(/ in JSON at position \d+/, '')
        .replace(/^JSON\.parse: /, '');
      throw new NetvmError('NETVM_CONFIG_READ', `${label}:${line}:${col}: invalid JSON: ${clean}`, { cause: err });
    }
  }
  const lineCounter = new LineCounter();
  // Plain JSON data only: the YAML 1.2 core schema even under a `%YAML 1.1` directive, and no
  // resolving of the extra types the yaml package knows (!!omap, !!set, !!binary, !!timestamp):
  // a Map, Set, Uint8Array or Date passes the JSON Schema check as an empty object, and its
  // content was silently dropped. Such tags now read as the plain collection or string.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, schema: 'core', resolveKnownTags: false });
  if (doc.errors.length > 0) {
    const lines = doc.errors.slice(0, MAX_ERROR_LINES).map((e) => {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      return `${label}:${line}:${col}: ${e.message.split('\n')[0]}`;
    });
    throw new NetvmError('NETVM_CONFIG_READ', lines.join('\n'));
  }
  try {
    return doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (err) {
    throw new NetvmError('NETVM_CONFIG_READ', `${label}: ${(err as Error).message}`, { cause: err });
  }
}

const NAME_RE = new RegExp(NAME_PATTERN);

/**
 * Reads, parses and resolves a config file (YAML, or JSON). Relative paths in it are relative
 * to its directory. `overrides.name` replaces the file's `name` (the CLI's --name).
 */
export function loadConfigFile(file: string, overrides: { name?: string } = {}, options: { catalogDir?: string } = {}): ResolvedConfig {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'it is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : (err as Error).message;
    throw new NetvmError('NETVM_CONFIG_READ', `${file}: cannot read the config file: ${why}`, { cause: err });
  }
  const raw = parseConfigText(text, file);
  const cfg = resolveConfig(raw, { file: abs, baseDir: path.dirname(abs), catalogDir: options.catalogDir, label: file });
  if (overrides.name !== undefined) {
    if (!NAME_RE.test(overrides.name))
      throw new NetvmError(
        'NETVM_CONFIG_INVALID',
        `--name: must be 1 to 64 letters, digits, "_", "." or "-" (got ${describe(overrides.name)})`,
      );
    cfg.name = overrides.name;
  }
  return cfg;
}

// ------------------------------------------------------------------------------ demo

/** The demo's config as it would be written in a file (examples/demo.yaml with rate and count 0). */
export function demoRaw(opts: { count?: number; rate?: number } = {}): Obj {
  return {
    ports: {
      gen: { driver: 'generator', size: 64, flows: 1024, stamp: true, rate: opts.rate ?? 0, count: opts.count ?? 0 },
      sink: { driver: 'sink' },
    },
    services: {
      mon: { nf: 'monitor' },
      fwd: { nf: 'forward' },
      last: { nf: 'forward' },
    },
    chains: {
      default: ['mon', 'fwd', 'last', 'sink'],
    },
  };
}

/** The built-in demo of `netvm demo`: generator → monitor → forward → forward → sink. */
export function demoConfig(opts: { count?: number; rate?: number; catalogDir?: string } = {}): ResolvedConfig {
  return resolveConfig(demoRaw(opts), { file: null, baseDir: process.cwd(), catalogDir: opts.catalogDir, label: 'demo' });
}
