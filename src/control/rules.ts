// Flow rules as the control API reads and writes them: the config file's `rules[]` syntax
// (docs/configuration.md), resolved with the config loader's own parsers, and back.
import { NetvmError } from '../core/errors.js';
import { formatPrefix, parsePortRange, parsePrefix } from '../config/load-config.js';
import { IP_PROTOCOLS } from '../config/schema.js';
import type { ResolvedRule } from '../config/types.js';

/** A rule's `match` as written in a config file or an API request. */
export interface MatchSpec {
  inPort?: string;
  ipVersion?: 4 | 6;
  src?: string;
  dst?: string;
  proto?: string | number;
  srcPort?: number | string;
  dstPort?: number | string;
}

export interface PortName {
  name: string;
  id: number;
  input: boolean;
}

const PROTO_NAMES = new Map(Object.entries(IP_PROTOCOLS).map(([k, v]) => [v, k]));

/**
 * Resolves a match (already checked against the schema's shape) against the running ports.
 * Errors name the field (`match.src: …`), as config errors do.
 */
export function resolveMatch(m: MatchSpec, ports: readonly PortName[]): ResolvedRule['match'] {
  const out: ResolvedRule['match'] = {};
  const fail = (k: string, msg: string): never => {
    throw new NetvmError('NETVM_BAD_REQUEST', `match.${k}: ${msg}`);
  };
  if (m.inPort !== undefined) {
    const p = ports.find((x) => x.name === m.inPort);
    if (p === undefined) fail('inPort', `unknown port "${m.inPort}" (ports: ${ports.map((x) => x.name).join(', ')})`);
    else if (!p.input) fail('inPort', `port "${m.inPort}" receives nothing`);
    else out.inPort = p.id;
  }
  if (m.ipVersion !== undefined) out.ipVersion = m.ipVersion;
  for (const k of ['src', 'dst'] as const) {
    const text = m[k];
    if (text === undefined) continue;
    const r = parsePrefix(text);
    if (typeof r === 'string') fail(k, r);
    else {
      if (m.ipVersion !== undefined && m.ipVersion !== r.prefix.version)
        fail(k, `"${text}" is IPv${r.prefix.version} but ipVersion is ${m.ipVersion}`);
      out[k] = r.prefix;
    }
  }
  if (out.src !== undefined && out.dst !== undefined && out.src.version !== out.dst.version)
    fail('dst', `src is IPv${out.src.version} but dst is IPv${out.dst.version}: the rule can never match`);
  if (m.proto !== undefined) out.proto = typeof m.proto === 'number' ? m.proto : IP_PROTOCOLS[m.proto];
  for (const k of ['srcPort', 'dstPort'] as const) {
    const v = m[k];
    if (v === undefined) continue;
    const r = parsePortRange(v);
    if (typeof r === 'string') fail(k, r);
    else out[k] = r;
  }
  if (Object.keys(out).length === 0) throw new NetvmError('NETVM_BAD_REQUEST', 'match: give at least one key');
  return out;
}

/** A resolved match written back in the config syntax (for listing). */
export function describeMatch(m: ResolvedRule['match'], ports: readonly PortName[]): MatchSpec {
  const out: MatchSpec = {};
  if (m.inPort !== undefined) out.inPort = ports.find((p) => p.id === m.inPort)?.name ?? String(m.inPort);
  if (m.ipVersion !== undefined) out.ipVersion = m.ipVersion;
  if (m.src !== undefined) out.src = formatPrefix(m.src);
  if (m.dst !== undefined) out.dst = formatPrefix(m.dst);
  if (m.proto !== undefined) out.proto = PROTO_NAMES.get(m.proto) ?? m.proto;
  for (const k of ['srcPort', 'dstPort'] as const) {
    const r = m[k];
    if (r !== undefined) out[k] = r[0] === r[1] ? r[0] : `${r[0]}-${r[1]}`;
  }
  return out;
}
