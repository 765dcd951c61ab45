// Target "config": the config loader's text path (src/config/load-config.ts parseConfigText
// then resolveConfig, what loadConfigFile does after reading the file) on mutated YAML and
// JSON. Seeds: every examples/*.yaml (found by listing), and the yaml blocks of the READMEs
// and docs. Mutations: text edits (characters, YAML syntax tokens, lines, truncation) and tree
// edits (keys deleted, added, renamed to __proto__/constructor; values replaced by odd types
// and edge values), written back as YAML or JSON.
//
// Invariants: the loader returns a config or throws a NetvmError (NETVM_CONFIG_READ or
// NETVM_CONFIG_INVALID) every line of which starts with the file's name — never another
// exception; a returned config is consistent (ids are positions, every chain step, rule and
// default chain names something that exists); Object.prototype is never touched.
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { NetvmError } from '../../../src/core/errors.js';
import { packageRoot } from '../../../src/config/catalog.js';
import { parseConfigText, resolveConfig } from '../../../src/config/load-config.js';
import { CONFIG_SCHEMA, type JsonSchema } from '../../../src/config/schema.js';
import type { ResolvedConfig } from '../../../src/config/types.js';
import type { Rng } from '../prng.js';
import { check, defineTarget, FuzzFailure } from '../registry.js';

interface Seed {
  label: string;
  text: string;
  tree: unknown;
}

interface State {
  seeds: Seed[];
  keys: string[];
  enums: unknown[];
  dir: string;
  resolved: number;
}

function yamlBlocks(file: string): string[] {
  if (!fs.existsSync(file)) return [];
  return [...fs.readFileSync(file, 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
}

function loadSeeds(): Seed[] {
  const root = packageRoot();
  const texts: { label: string; text: string }[] = [];
  const ex = path.join(root, 'examples');
  for (const f of fs.readdirSync(ex).sort())
    if (/\.(ya?ml|json)$/.test(f)) texts.push({ label: `examples/${f}`, text: fs.readFileSync(path.join(ex, f), 'utf8') });
  const docs = [path.join(root, 'README.md'), ...fs.readdirSync(path.join(root, 'docs')).map((f) => path.join(root, 'docs', f))];
  const nfs = path.join(root, 'nfs');
  for (const d of fs.readdirSync(nfs).sort()) docs.push(path.join(nfs, d, 'README.md'));
  for (const f of docs) yamlBlocks(f).forEach((text, i) => texts.push({ label: `${path.relative(root, f)} yaml block ${i}`, text }));
  const seeds: Seed[] = [];
  for (const t of texts) {
    try {
      seeds.push({ ...t, tree: parseConfigText(t.text, t.label) });
    } catch {
      // A doc block that is not a whole config still seeds text mutations.
      seeds.push({ ...t, tree: null });
    }
  }
  return seeds;
}

/** Every property name and enum value in the schema: what tree mutations put in. */
function schemaWords(s: JsonSchema, keys: Set<string>, enums: Set<unknown>): void {
  for (const [k, v] of Object.entries(s.properties ?? {})) {
    keys.add(k);
    schemaWords(v, keys, enums);
  }
  for (const v of s.enum ?? []) enums.add(v);
  for (const sub of [...(s.anyOf ?? []), ...(s.allOf ?? []), ...Object.values(s.definitions ?? {})]) schemaWords(sub, keys, enums);
  for (const sub of [s.items, s.then, s.if, typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined])
    if (sub) schemaWords(sub, keys, enums);
}

const ODD_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '',
  ' ',
  '0',
  '-1',
  'drop',
  'default',
  'a'.repeat(65),
  'ünï',
];
const YAML_TOKENS = [
  ':',
  ': ',
  '- ',
  '-',
  '[',
  ']',
  '{',
  '}',
  ',',
  '"',
  "'",
  '&a ',
  '*a',
  '<<: *a',
  '!!str ',
  '!!int ',
  '!!binary ',
  '!!set ',
  '!!map ',
  '!!omap ',
  '!!timestamp ',
  '!!float ',
  '!!bool ',
  '!custom ',
  '%YAML 1.1\n---\n',
  '---\n',
  '...\n',
  '? ',
  '| ',
  '> ',
  '#',
  '\t',
  '\n',
  '  ',
  '~',
  'null',
  '.inf',
  '-.inf',
  '.nan',
  '0x1F',
  '0o17',
  '1e400',
  '-0',
  '__proto__: ',
  '\\u0000',
  '\u0000',
  '\ufeff',
  '\u2028',
];

function oddValue(rng: Rng, s: State): unknown {
  return rng.weighted<() => unknown>([
    [3, () => rng.pick(s.enums)],
    [2, () => rng.pick([0, -1, 1, 1.5, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 65535, 65536, 1e308, Number.MIN_VALUE])],
    [
      2,
      () =>
        rng.pick([
          '',
          ' ',
          'drop',
          'default',
          '10.0.0.0/33',
          '::/129',
          '1.2.3.4/08',
          '5-3',
          '1-65536',
          '00000-99999',
          '-',
          'a-b',
          'x'.repeat(5000),
          '../../etc/passwd',
          './nfs/forward/index.ts',
          'nfs/',
          '\u0000',
          '𝔘nicode',
        ]),
    ],
    [1, () => rng.pick([null, true, false])],
    [1, () => []],
    [1, () => ({})],
    [1, () => [rng.pick(s.enums), rng.pick(s.keys)]],
    [1, () => ({ [rng.pick([...s.keys, ...ODD_KEYS])]: rng.pick(s.enums) })],
  ])();
}

/** A deep copy with one random node changed. */
function mutateTree(rng: Rng, tree: unknown, s: State): unknown {
  const copy = structuredClone(tree);
  const holders: { obj: Record<string, unknown> | unknown[]; key: string | number }[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach((x, i) => (holders.push({ obj: v, key: i }), walk(x)));
    else if (v !== null && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) {
        holders.push({ obj: v as Record<string, unknown>, key: k });
        walk(x);
      }
  };
  walk(copy);
  const edits = rng.int(1, 3);
  for (let e = 0; e < edits && holders.length > 0; e++) {
    const h = rng.pick(holders);
    const op = rng.below(5);
    if (Array.isArray(h.obj)) {
      if (op === 0) h.obj.splice(h.key as number, 1);
      else if (op === 1) h.obj.push(structuredClone(h.obj[h.key as number]));
      else h.obj[h.key as number] = oddValue(rng, s);
      continue;
    }
    const o = h.obj;
    const k = h.key as string;
    if (op === 0) delete o[k];
    else if (op === 1) {
      // Rename: an own property named like a prototype member, a schema key, or an odd name.
      const v = o[k];
      delete o[k];
      Object.defineProperty(o, rng.pick([...ODD_KEYS, ...s.keys]), { value: v, enumerable: true, writable: true, configurable: true });
    } else if (op === 2)
      Object.defineProperty(o, rng.pick([...s.keys, ...ODD_KEYS]), {
        value: oddValue(rng, s),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else o[k] = oddValue(rng, s);
  }
  return copy;
}

const TAGS = [
  '!!omap ',
  '!!set ',
  '!!binary ',
  '!!timestamp ',
  '!!pairs ',
  '!!str ',
  '!!int ',
  '!!float ',
  '!!null ',
  '!!map ',
  '!!seq ',
  '!local ',
];

function mutateText(rng: Rng, text: string): string {
  const edits = rng.int(1, 4);
  for (let e = 0; e < edits; e++) {
    const at = rng.below(text.length + 1);
    const op = rng.below(9);
    if (op === 7) {
      // A tag on a value: after the first ": " of a random line.
      const lines = text.split('\n');
      const i = rng.below(lines.length);
      const c = lines[i].indexOf(': ');
      if (c >= 0) lines[i] = `${lines[i].slice(0, c + 2)}${rng.pick(TAGS)}${lines[i].slice(c + 2)}`;
      text = lines.join('\n');
    } else if (op === 8) text = `${rng.pick(['%YAML 1.1\n---\n', '%YAML 1.2\n---\n', '---\n', '%TAG ! tag:x,2000:\n---\n'])}${text}`;
    else if (op === 0) text = text.slice(0, at) + rng.pick(YAML_TOKENS) + text.slice(at);
    else if (op === 1) text = text.slice(0, at) + text.slice(at + rng.int(1, 8));
    else if (op === 2)
      text =
        text.slice(0, at) +
        String.fromCharCode(rng.pick([0x20, 0x0a, 0x09, 0x3a, 0x2d, 0x22, rng.int(0x21, 0x7e), rng.below(0x10000)])) +
        text.slice(at + 1);
    else if (op === 3) text = text.slice(0, at);
    else {
      const lines = text.split('\n');
      const i = rng.below(lines.length);
      const j = rng.below(lines.length);
      if (op === 4) lines.splice(i, 1);
      else if (op === 5) lines.splice(i, 0, lines[j]);
      else lines[i] = rng.pick(['', ' ', '  ', '\t']) + lines[i].trimStart();
      text = lines.join('\n');
    }
  }
  return text;
}

/** Path of the first value in `v` that is not plain JSON data (object, array, string, number, boolean, null), or null. */
function notPlain(v: unknown, at = '$'): string | null {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return null;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const r = notPlain(v[i], `${at}[${i}]`);
      if (r !== null) return r;
    }
    return null;
  }
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const [k, x] of Object.entries(v)) {
      const r = notPlain(x, `${at}.${k}`);
      if (r !== null) return r;
    }
    return null;
  }
  return `${at} (${Object.prototype.toString.call(v)})`;
}

/** A resolved config whose ids and references hold together. */
function checkResolved(c: ResolvedConfig, where: string): void {
  c.ports.forEach((p, i) => check(p.id === i, `${where}: ports[${i}].id = ${p.id}`));
  c.services.forEach((p, i) => check(p.id === i, `${where}: services[${i}].id = ${p.id}`));
  c.chains.forEach((ch, i) => {
    check(ch.id === i, `${where}: chains[${i}].id = ${ch.id}`);
    for (const st of ch.steps) {
      if (st.kind === 'service')
        check(c.services[st.service]?.name === st.name, `${where}: chain ${ch.name} step ${st.name} names no service`);
      if (st.kind === 'port') check(c.ports[st.port]?.output === true, `${where}: chain ${ch.name} step ${st.name} is not an output port`);
    }
  });
  check(c.defaultChain === -1 || c.chains[c.defaultChain]?.name === 'default', `${where}: defaultChain ${c.defaultChain}`);
  for (const r of c.rules) check(c.chains[r.chain]?.name === r.chainName, `${where}: a rule names chain ${r.chainName} as id ${r.chain}`);
  const names = [...c.ports.map((p) => p.name), ...c.services.map((s) => s.name)];
  check(new Set(names).size === names.length, `${where}: a name is used twice among ports and services`);
}

const PROTO_KEYS = Object.getOwnPropertyNames(Object.prototype).sort().join(',');

export default defineTarget<State>({
  name: 'config',
  description: 'config loader text path (parseConfigText + resolveConfig) on mutated YAML/JSON from examples/ and the docs',
  ciCases: 2000,
  setup: () => {
    const keys = new Set<string>();
    const enums = new Set<unknown>();
    schemaWords(CONFIG_SCHEMA, keys, enums);
    return { seeds: loadSeeds(), keys: [...keys], enums: [...enums], dir: path.join(packageRoot(), 'examples'), resolved: 0 };
  },
  run: (s, rng, index) => {
    const seed = rng.pick(s.seeds);
    const json = rng.chance(0.3);
    const label = path.join(s.dir, `fuzz-${index}.${json ? 'json' : 'yaml'}`);
    let text: string;
    let how: string;
    if (seed.tree !== null && rng.chance(0.5)) {
      const tree = mutateTree(rng, seed.tree, s);
      text = json ? JSON.stringify(tree, null, rng.pick([0, 2])) : stringify(tree);
      how = 'tree';
      if (rng.chance(0.3)) {
        text = mutateText(rng, text);
        how = 'tree+text';
      }
    } else {
      text = json && seed.tree !== null ? JSON.stringify(seed.tree, null, 2) : seed.text;
      text = mutateText(rng, text);
      how = 'text';
    }
    const where = `${how}-mutated ${seed.label} as ${json ? 'JSON' : 'YAML'}`;
    let outcome: string;
    try {
      const raw = parseConfigText(text, label);
      // The schema check only understands JSON data: a Map, Set, Date or byte array would pass
      // it as an (empty) object and its content be lost.
      const odd = notPlain(raw);
      check(odd === null, () => `${where}: parseConfigText returned a value that is not JSON data at ${odd}`);
      const cfg = resolveConfig(raw, { file: label, baseDir: s.dir, label });
      checkResolved(cfg, where);
      s.resolved++;
      outcome = 'resolved';
    } catch (err) {
      if (err instanceof FuzzFailure) throw err;
      if (!(err instanceof NetvmError)) {
        const e = err as Error;
        check(false, () => `${where}: the loader threw ${e?.name}: ${e?.message}\n--- input ---\n${text.slice(0, 2000)}`);
      }
      const e = err as NetvmError;
      check(e.code === 'NETVM_CONFIG_READ' || e.code === 'NETVM_CONFIG_INVALID', () => `${where}: ${e.code}: ${e.message}`);
      for (const line of e.message.split('\n'))
        check(line.startsWith(`${label}:`), () => `${where}: an error line does not name the file: ${JSON.stringify(line)}`);
      outcome = `rejected ${e.code}`;
    }
    check(Object.getOwnPropertyNames(Object.prototype).sort().join(',') === PROTO_KEYS, `${where}: Object.prototype was changed`);
    return outcome;
  },
  summary: (s) => [`${s.seeds.length} seed configs (${s.seeds.filter((x) => x.tree !== null).length} parse as they are)`],
});
