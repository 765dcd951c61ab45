import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetvmError } from '../core/errors.js';
import { catalogModulePath, catalogNames } from './catalog.js';
import { demoConfig, demoRaw, loadConfigFile, parseConfigText, resolveConfig } from './load-config.js';
import { CONFIG_SCHEMA } from './schema.js';

// Tests run from src/config (tsx) or dist/src/config (built): find the package root either way.
function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}
const ROOT = findRoot();

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netvm-config-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

// A stand-in NF catalog: the real nfs/ is written separately.
const CATALOG = path.join(tmp, 'catalog');
for (const nf of ['monitor', 'forward', 'bridge']) {
  fs.mkdirSync(path.join(CATALOG, nf), { recursive: true });
  fs.writeFileSync(path.join(CATALOG, nf, 'index.ts'), 'export default {};\n');
}
fs.writeFileSync(path.join(CATALOG, 'bridge', 'index.js'), 'export default {};\n');
fs.mkdirSync(path.join(CATALOG, 'not-an-nf'));
fs.mkdirSync(path.join(CATALOG, 'Bad_Name'));
fs.writeFileSync(path.join(CATALOG, 'Bad_Name', 'index.ts'), '');

const EXAMPLE = `ports:
  in:  { driver: pcap, read: traffic.pcap }
  out: { driver: pcap, write: result.pcap }
  dns: { driver: pcap, write: dns.pcap }
services:
  mon: { nf: monitor }
  fwd: { nf: forward, instances: 2 }
chains:
  default: [mon, fwd, out]      # steps: a service name, a port name, or drop
  dns:     [mon, dns]
rules:
  - match: { proto: udp, dstPort: 53 }
    chain: dns
`;

let seq = 0;
/** Writes `text` to a fresh directory as `name` and returns its path. */
function write(text: string, name = 'chain.yaml'): string {
  const dir = path.join(tmp, `c${seq++}`);
  fs.mkdirSync(dir);
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

const load = (file: string, name?: string) => loadConfigFile(file, name !== undefined ? { name } : {}, { catalogDir: CATALOG });
const resolve = (raw: unknown) => resolveConfig(raw, { file: null, baseDir: tmp, catalogDir: CATALOG });

/** Asserts `fn` throws a NetvmError with `code` whose message contains every `parts`. */
function throwsConfig(fn: () => unknown, code: 'NETVM_CONFIG_INVALID' | 'NETVM_CONFIG_READ', ...parts: string[]): string {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof NetvmError, `expected a NetvmError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const p of parts) assert.ok(caught.message.includes(p), `message lacks ${JSON.stringify(p)}:\n${caught.message}`);
  return caught.message;
}

/** A minimal valid config with `patch` merged in at the top level. */
const base = (patch: Record<string, unknown> = {}): Record<string, unknown> => ({
  ports: { in: { driver: 'generator' }, out: { driver: 'sink' } },
  services: { mon: { nf: 'monitor' } },
  chains: { default: ['mon', 'out'] },
  ...patch,
});

test('config: the example loads and resolves to the expected ids, steps and rules', () => {
  const file = write(EXAMPLE);
  const dir = path.dirname(file);
  const c = load(file);
  assert.equal(c.name, 'netvm');
  assert.equal(c.file, file);
  assert.deepEqual(
    c.ports.map((p) => [p.name, p.id, p.driver, p.input, p.output]),
    [
      ['in', 0, 'pcap', true, false],
      ['out', 1, 'pcap', false, true],
      ['dns', 2, 'pcap', false, true],
    ],
  );
  assert.equal(c.ports[0].options.read, path.join(dir, 'traffic.pcap'));
  assert.equal(c.ports[1].options.write, path.join(dir, 'result.pcap'));
  assert.equal(c.ports[2].options.write, path.join(dir, 'dns.pcap'));
  assert.deepEqual(
    c.services.map((s) => [s.name, s.id, s.nf, s.instances, s.mode, s.args]),
    [
      ['mon', 0, { kind: 'catalog', name: 'monitor', path: path.join(CATALOG, 'monitor', 'index.ts') }, 1, 'shared', {}],
      ['fwd', 1, { kind: 'catalog', name: 'forward', path: path.join(CATALOG, 'forward', 'index.ts') }, 2, 'shared', {}],
    ],
  );
  assert.deepEqual(c.chains, [
    {
      name: 'default',
      id: 0,
      steps: [
        { kind: 'service', service: 0, name: 'mon' },
        { kind: 'service', service: 1, name: 'fwd' },
        { kind: 'port', port: 1, name: 'out' },
      ],
    },
    {
      name: 'dns',
      id: 1,
      steps: [
        { kind: 'service', service: 0, name: 'mon' },
        { kind: 'port', port: 2, name: 'dns' },
      ],
    },
  ]);
  assert.equal(c.defaultChain, 0);
  assert.deepEqual(c.rules, [{ match: { proto: 17, dstPort: [53, 53] }, chain: 1, chainName: 'dns' }]);
  assert.deepEqual(c.warnings, []);
});

test('config: examples/chain.yaml is the documented example', () => {
  const file = path.join(ROOT, 'examples', 'chain.yaml');
  assert.ok(fs.readFileSync(file, 'utf8').endsWith(EXAMPLE), 'examples/chain.yaml ends with the example, verbatim');
  const c = load(file);
  const expected = resolveConfig(parseConfigText(EXAMPLE, 'x.yaml'), { file, baseDir: path.dirname(file), catalogDir: CATALOG });
  assert.deepEqual(c, expected);
  assert.equal(c.ports[0].options.read, path.join(ROOT, 'examples', 'traffic.pcap'));
});

test('config: JSON is accepted, by extension or by a leading "{"', () => {
  const raw = parseConfigText(EXAMPLE, 'x.yaml');
  const fromYaml = load(write(EXAMPLE));
  for (const name of ['chain.json', 'chain.conf']) {
    const c = load(write(`  \n${JSON.stringify({ $schema: '../schema/netvm-config.schema.json', ...(raw as object) }, null, 2)}`, name));
    assert.deepEqual(
      { ...c, file: null, ports: c.ports.map((p) => p.id) },
      { ...fromYaml, file: null, ports: fromYaml.ports.map((p) => p.id) },
    );
  }
  throwsConfig(() => load(write('{ "ports": { "a": 1, }\n}', 'c.json')), 'NETVM_CONFIG_READ', 'c.json:1:', 'invalid JSON');
  throwsConfig(() => load(write('{\n  "ports": {\n    "a" 1\n  }\n}', 'd.json')), 'NETVM_CONFIG_READ', 'd.json:3:9: invalid JSON');
});

test('config: YAML collection and binary tags (!!omap, !!set, !!binary, !!timestamp) are read as plain data, never silently as empty', () => {
  const omap =
    '%YAML 1.1\n---\nports: { in: { driver: generator }, out: { driver: sink } }\nservices: !!omap\n  - fwd: { nf: forward }\nchains:\n  default: [fwd, out]\n';
  throwsConfig(() => load(write(omap)), 'NETVM_CONFIG_INVALID', 'chain.yaml: services: must be an object');
  const set = '%YAML 1.1\n---\nports: { in: { driver: generator }, out: { driver: sink } }\nchains: !!set { default }\n';
  throwsConfig(() => load(write(set)), 'NETVM_CONFIG_INVALID', 'chain.yaml: chains.default: must be a list');
  // The same tags without the directive (the yaml package resolves them by default).
  throwsConfig(() => load(write(omap.replace('%YAML 1.1\n---\n', ''))), 'NETVM_CONFIG_INVALID', 'chain.yaml: services: must be an object');
  const binary = 'ports: { in: { driver: generator, size: !!binary AAAA }, out: { driver: sink } }\nchains: { default: [out] }\n';
  throwsConfig(() => load(write(binary)), 'NETVM_CONFIG_INVALID', 'chain.yaml: ports.in.size: must be an integer (got "AAAA")');
  const stamp = 'name: !!timestamp 2001-12-14\nports: { in: { driver: generator }, out: { driver: sink } }\nchains: { default: [out] }\n';
  assert.equal(load(write(stamp)).name, '2001-12-14');
});

test('config: an unexpected JSON token is one line naming the file and the token position, without the quoted text', () => {
  // V8 reports these with no position, quoting the text around the token (across lines).
  const text = '{\n  "ports": {\n    "in": { "driver": pcap, "read": "a-file-name-long-enough.pcap" }\n  }\n}\n';
  const msg = throwsConfig(() => load(write(text, 'e.json')), 'NETVM_CONFIG_READ', "e.json:3:23: invalid JSON: Unexpected token 'p'");
  assert.equal(msg.split('\n').length, 1, msg);
  assert.ok(!msg.includes('is not valid JSON'), msg);
  const short = throwsConfig(
    () => load(write('{\n"x":\ntru}', 'f.json')),
    'NETVM_CONFIG_READ',
    'f.json:',
    "invalid JSON: Unexpected token '}'",
  );
  assert.equal(short.split('\n').length, 1, short);
});

test('config: defaults are filled in', () => {
  const c = resolve({
    ports: {
      g: { driver: 'generator' },
      s: { driver: 'sink' },
      p: { driver: 'pcap', read: '/abs/in.pcap', write: 'w.pcap' },
      a: { driver: 'afpacket', interface: 'eth1', fanout: { group: 7 } },
    },
    services: { mon: { nf: 'monitor' } },
    chains: { default: ['mon', 's'] },
  });
  assert.equal(c.name, 'netvm');
  assert.deepEqual(c.region, { bufSize: 2048, bufCount: 65536, ringSize: 4096, flowEntries: 65536, hugePages: 'auto', maxSlots: 64 });
  assert.deepEqual(c.ports[0].options, { size: 64, flows: 1, ipVersion: 4, proto: 'udp', rate: 0, count: 0, stamp: false });
  assert.deepEqual([c.ports[0].input, c.ports[0].output], [true, false]);
  assert.deepEqual(c.ports[1].options, { latency: true, rate: 0 });
  assert.deepEqual([c.ports[1].input, c.ports[1].output], [false, true]);
  assert.deepEqual(c.ports[2].options, {
    read: '/abs/in.pcap',
    write: path.join(tmp, 'w.pcap'),
    repeat: 1,
    rate: 0,
    format: 'pcap',
    precision: 'us',
    snaplen: 65535,
  });
  assert.deepEqual([c.ports[2].input, c.ports[2].output], [true, true]);
  assert.deepEqual(c.ports[3].options, {
    interface: 'eth1',
    promiscuous: true,
    fanout: { group: 7, mode: 'hash' },
    qdiscBypass: false,
    ringFrames: 4096,
    ignoreOutgoing: true,
    txThread: true,
  });
  assert.deepEqual([c.ports[3].input, c.ports[3].output], [true, true]);
  assert.deepEqual(c.services[0], {
    name: 'mon',
    id: 0,
    nf: { kind: 'catalog', name: 'monitor', path: path.join(CATALOG, 'monitor', 'index.ts') },
    instances: 1,
    mode: 'shared',
    args: {},
    restart: 'never',
    restartDelayMs: 200,
    cpus: null,
  });
  assert.deepEqual(c.rules, []);
});

test('config: cpus for the manager and per service, as arrays or cpulist strings; bad lists name their field', () => {
  assert.equal(resolve(base()).cpus, null, 'not pinned unless asked');
  const c = resolve(base({ cpus: '1,3-4, 0', services: { mon: { nf: 'monitor', cpus: [2, 2, 1] } } }));
  assert.deepEqual(c.cpus, [0, 1, 3, 4]);
  assert.deepEqual(c.services[0].cpus, [1, 2]);
  throwsConfig(() => resolve(base({ cpus: '3-1' })), 'NETVM_CONFIG_INVALID', 'cpus: the range 3-1 runs backwards');
  throwsConfig(() => resolve(base({ cpus: 'all' })), 'NETVM_CONFIG_INVALID', 'cpus: "all" is neither a CPU number nor a range');
  throwsConfig(() => resolve(base({ cpus: [] })), 'NETVM_CONFIG_INVALID', 'cpus');
  throwsConfig(() => resolve(base({ cpus: [-1] })), 'NETVM_CONFIG_INVALID', 'cpus');
  throwsConfig(
    () => resolve(base({ services: { mon: { nf: 'monitor', cpus: '0-2000' } } })),
    'NETVM_CONFIG_INVALID',
    'services.mon.cpus: 2000 is not a CPU number 0..1023',
  );
});

test('config: region and name settings; hugePages true/false mean always/never', () => {
  const region = { bufSize: 4096, bufCount: 1024, ringSize: 256, flowEntries: 1024, hugePages: true, maxSlots: 8 };
  const c = resolve(base({ name: 'lab-1.a_b', region }));
  assert.equal(c.name, 'lab-1.a_b');
  assert.deepEqual(c.region, { ...region, hugePages: 'always' });
  assert.equal(resolve(base({ region: { hugePages: false } })).region.hugePages, 'never');
  assert.equal(resolve(base({ region: { hugePages: 'never' } })).region.hugePages, 'never');
  throwsConfig(
    () => resolve(base({ region: { bufSize: 3000 } })),
    'NETVM_CONFIG_INVALID',
    'region.bufSize: must be a power of two from 1024 to 65536 (got 3000)',
  );
  throwsConfig(() => resolve(base({ region: { maxSlots: 1 } })), 'NETVM_CONFIG_INVALID', 'region.maxSlots: must be >= 2 (got 1)');
  throwsConfig(() => resolve(base({ name: 'a b' })), 'NETVM_CONFIG_INVALID', 'name: must be');
});

test('config: the name override replaces the file name, and is checked', () => {
  const file = write(EXAMPLE);
  assert.equal(load(file, 'other').name, 'other');
  throwsConfig(() => load(file, 'no/slash'), 'NETVM_CONFIG_INVALID', '--name');
});

test('config: relative paths resolve against the config directory; absolute ones stay', () => {
  const file = write(
    [
      'ports:',
      '  a: { driver: pcap, read: ../in/a.pcap, write: /tmp/abs.pcap }',
      '  b: { driver: pcap, write: out/b.pcap }',
      'services:',
      '  mine: { nf: ./nfs/my-nf.ts }',
      '  other: { nf: my-nf.js }',
      'chains:',
      '  default: [mine, other, b]',
    ].join('\n'),
  );
  const dir = path.dirname(file);
  fs.mkdirSync(path.join(dir, 'nfs'));
  fs.writeFileSync(path.join(dir, 'nfs', 'my-nf.ts'), '');
  fs.writeFileSync(path.join(dir, 'my-nf.js'), '');
  const c = load(file);
  assert.equal(c.ports[0].options.read, path.join(tmp, 'in', 'a.pcap'));
  assert.equal(c.ports[0].options.write, '/tmp/abs.pcap');
  assert.equal(c.ports[1].options.write, path.join(dir, 'out', 'b.pcap'));
  assert.deepEqual(c.services[0].nf, { kind: 'module', path: path.join(dir, 'nfs', 'my-nf.ts') });
  assert.deepEqual(c.services[1].nf, { kind: 'module', path: path.join(dir, 'my-nf.js') });
});

test('config: chain ids — default is 0 wherever it is declared; without it defaultChain is -1', () => {
  const c = resolve(
    base({
      chains: { a: ['mon', 'out'], default: ['out'], b: ['drop'] },
      rules: [
        { match: { ipVersion: 6 }, chain: 'a' },
        { match: { ipVersion: 4 }, chain: 'b' },
      ],
    }),
  );
  assert.deepEqual(
    c.chains.map((ch) => [ch.name, ch.id]),
    [
      ['default', 0],
      ['a', 1],
      ['b', 2],
    ],
  );
  assert.equal(c.defaultChain, 0);
  assert.deepEqual(c.chains[2].steps, [{ kind: 'drop' }]);
  assert.deepEqual(
    c.rules.map((r) => [r.chain, r.chainName]),
    [
      [1, 'a'],
      [2, 'b'],
    ],
  );
  const d = resolve(base({ chains: { a: ['mon', 'out'], b: ['out'] }, rules: [{ match: { inPort: 'in' }, chain: 'b' }] }));
  assert.deepEqual(
    d.chains.map((ch) => [ch.name, ch.id]),
    [
      ['a', 0],
      ['b', 1],
    ],
  );
  assert.equal(d.defaultChain, -1);
});

test('config: an afxdp port gets its defaults, is an input and an output, and its options are checked', () => {
  const c = resolve({
    ports: { x: { driver: 'afxdp', interface: 'eth1' } },
    services: { mon: { nf: 'monitor' } },
    chains: { default: ['mon', 'x'] },
  });
  assert.deepEqual(c.ports[0].options, { interface: 'eth1', queue: 0, ringSize: 2048, mode: 'auto', promiscuous: true });
  assert.deepEqual([c.ports[0].input, c.ports[0].output], [true, true]);
  const bad = (opts: Record<string, unknown>, ...parts: string[]): void =>
    void throwsConfig(
      () =>
        resolve({ ports: { x: { driver: 'afxdp', ...opts } }, services: { mon: { nf: 'monitor' } }, chains: { default: ['mon', 'x'] } }),
      'NETVM_CONFIG_INVALID',
      ...parts,
    );
  bad({}, 'ports.x', 'interface');
  bad({ interface: 'eth1', mode: 'fast' }, 'ports.x.mode', '"auto", "native", "generic"');
  bad({ interface: 'eth1', ringSize: 32 }, 'ports.x.ringSize');
  bad({ interface: 'eth1', ringFrames: 512 }, 'ports.x', 'ringFrames');
});

test('config: rules resolve ports, prefixes, protocols and port ranges', () => {
  const c = resolve(
    base({
      rules: [
        {
          match: { inPort: 'in', src: '10.0.0.0/8', dst: '192.168.1.7', proto: 'tcp', srcPort: '1000-2000', dstPort: 443 },
          chain: 'default',
        },
        { match: { ipVersion: 6, src: '2001:db8::/32', dst: '::1', proto: 'icmpv6' }, chain: 'default' },
        { match: { proto: 47, dstPort: '80' }, chain: 'default' },
        { match: { src: '10.1.2.3/16' }, chain: 'default' },
        { match: { srcPort: '0-65535', dst: '0.0.0.0/0' }, chain: 'default' },
      ],
    }),
  );
  assert.deepEqual(c.rules[0].match, {
    inPort: 0,
    src: { version: 4, addr: [10, 0, 0, 0], prefixLen: 8 },
    dst: { version: 4, addr: [192, 168, 1, 7], prefixLen: 32 },
    proto: 6,
    srcPort: [1000, 2000],
    dstPort: [443, 443],
  });
  assert.deepEqual(c.rules[1].match, {
    ipVersion: 6,
    src: { version: 6, addr: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], prefixLen: 32 },
    dst: { version: 6, addr: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], prefixLen: 128 },
    proto: 58,
  });
  assert.deepEqual(c.rules[2].match, { proto: 47, dstPort: [80, 80] });
  // Host bits are cleared, with a warning.
  assert.deepEqual(c.rules[3].match.src, { version: 4, addr: [10, 1, 0, 0], prefixLen: 16 });
  assert.ok(
    c.warnings.some((w) => w.includes('rules[3].match.src') && w.includes('10.1.0.0/16')),
    c.warnings.join('\n'),
  );
  // proto gre has no ports: the rule cannot match, so it is flagged.
  assert.ok(
    c.warnings.some((w) => w.includes('rules[2].match')),
    c.warnings.join('\n'),
  );
  assert.deepEqual(c.rules[4].match, { srcPort: [0, 65535], dst: { version: 4, addr: [0, 0, 0, 0], prefixLen: 0 } });
});

test('config: a chain that does not end in a port or drop is a warning', () => {
  const c = resolve(base({ chains: { default: ['mon'] } }));
  assert.equal(c.warnings.length, 1);
  assert.match(c.warnings[0], /^chains\.default: ends in service "mon", not a port or drop/);
  const file = write(
    ['ports: { g: { driver: generator } }', 'services: { mon: { nf: monitor } }', 'chains: { default: [mon] }'].join('\n'),
  );
  assert.match(load(file).warnings[0], /chain\.yaml: chains\.default: ends in service "mon"/);
});

test('config: unknown keys are errors that name the key and list the valid ones', () => {
  const file = write(EXAMPLE.replace('read: traffic.pcap', 'raed: traffic.pcap'));
  throwsConfig(
    () => load(file),
    'NETVM_CONFIG_INVALID',
    'chain.yaml: ports.in: unknown key "raed" (driver pcap takes: read, write, repeat, rate, format, precision, snaplen)',
    'did you mean "read"?',
  );
  throwsConfig(() => resolve(base({ chians: {} })), 'NETVM_CONFIG_INVALID', 'unknown top-level key "chians"', 'did you mean "chains"?');
  throwsConfig(() => resolve(base({ region: { bufsize: 2048 } })), 'NETVM_CONFIG_INVALID', 'region: unknown key "bufsize"', 'bufSize');
  throwsConfig(
    () => resolve(base({ services: { mon: { nf: 'monitor', instance: 2 } } })),
    'NETVM_CONFIG_INVALID',
    'services.mon: unknown key "instance"',
  );
  throwsConfig(
    () => resolve(base({ rules: [{ match: { dport: 53 }, chain: 'default' }] })),
    'NETVM_CONFIG_INVALID',
    'rules[0].match: unknown key "dport"',
  );
  throwsConfig(
    () => resolve(base({ ports: { in: { driver: 'generator', latency: true }, out: { driver: 'sink' } } })),
    'NETVM_CONFIG_INVALID',
    'ports.in: unknown key "latency" (driver generator takes: size, flows, ipVersion, proto, rate, count, stamp)',
  );
});

test('config: wrong types and out-of-range values name the field and the value', () => {
  const file = write(EXAMPLE.replace('instances: 2', 'instances: 40'));
  throwsConfig(() => load(file), 'NETVM_CONFIG_INVALID', 'chain.yaml: services.fwd.instances: must be <= 16 (got 40)');
  throwsConfig(
    () => resolve(base({ services: { mon: { nf: 'monitor', instances: 'two' } } })),
    'NETVM_CONFIG_INVALID',
    'services.mon.instances: must be an integer (got "two")',
  );
  throwsConfig(() => resolve(base({ chains: { default: 'mon' } })), 'NETVM_CONFIG_INVALID', 'chains.default: must be a list (got "mon")');
  throwsConfig(
    () => resolve(base({ ports: { in: { driver: 'gen' } } })),
    'NETVM_CONFIG_INVALID',
    'ports.in.driver: must be one of "generator", "sink", "pcap", "afpacket", "afxdp" (got "gen")',
  );
  throwsConfig(() => resolve(base({ ports: { in: { size: 64 } } })), 'NETVM_CONFIG_INVALID', 'ports.in: missing required key "driver"');
  throwsConfig(
    () => resolve(base({ ports: { in: { driver: 'pcap' } } })),
    'NETVM_CONFIG_INVALID',
    'ports.in: needs at least one of "read", "write"',
  );
  throwsConfig(
    () => resolve(base({ ports: { in: { driver: 'pcap', write: 'x.pcap', repeat: 2 } } })),
    'NETVM_CONFIG_INVALID',
    'ports.in: "repeat" only applies with "read"',
  );
  throwsConfig(() => resolve(base({ services: { mon: {} } })), 'NETVM_CONFIG_INVALID', 'services.mon: missing required key "nf"');
  throwsConfig(
    () => resolve(base({ rules: [{ match: { proto: 'udpp' }, chain: 'default' }] })),
    'NETVM_CONFIG_INVALID',
    'rules[0].match.proto: must be one of',
    'did you mean "udp"?',
  );
  throwsConfig(
    () => resolve(base({ rules: [{ match: {}, chain: 'default' }] })),
    'NETVM_CONFIG_INVALID',
    'rules[0].match: must have at least 1 key',
  );
  throwsConfig(() => resolve(base({ chains: { default: [] } })), 'NETVM_CONFIG_INVALID', 'chains.default: must have at least 1 step');
  throwsConfig(
    () => resolve(base({ chains: { default: new Array(16).fill('mon') } })),
    'NETVM_CONFIG_INVALID',
    'chains.default: must have at most 15 steps (got 16)',
  );
  throwsConfig(() => resolve({}), 'NETVM_CONFIG_INVALID', 'missing required key "ports"');
  throwsConfig(() => resolve(['a']), 'NETVM_CONFIG_INVALID', 'must be an object');
  throwsConfig(() => load(write('# nothing\n')), 'NETVM_CONFIG_INVALID', 'chain.yaml: the config is empty');
});

test('config: every schema error is reported, up to a cap', () => {
  const msg = throwsConfig(
    () => resolve(base({ name: '', region: { bufCount: 1 }, services: { mon: { nf: 'monitor', mode: 'fast', instances: 0 } } })),
    'NETVM_CONFIG_INVALID',
    'name: must be',
    'region.bufCount: must be >= 1024 (got 1)',
    'services.mon.mode: must be one of "shared", "poll" (got "fast")',
    'services.mon.instances: must be >= 1 (got 0)',
  );
  assert.equal(msg.split('\n').length, 4);
  const ports: Record<string, unknown> = {};
  for (let i = 0; i < 14; i++) ports[`p${i}`] = { driver: 'sink', x: 1 };
  const many = throwsConfig(() => resolve({ ports }), 'NETVM_CONFIG_INVALID', '… and 4 more errors');
  assert.equal(many.split('\n').length, 11);
  throwsConfig(
    () => resolve({ ports: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`p${i}`, { driver: 'sink' }])) }),
    'NETVM_CONFIG_INVALID',
    'ports: at most 16 ports are allowed (got 17)',
  );
});

test('config: unknown chain steps are errors naming chains.<name>[i] and the valid names', () => {
  throwsConfig(
    () => load(write(EXAMPLE.replace('[mon, fwd, out]', '[mon, fwdd, out]'))),
    'NETVM_CONFIG_INVALID',
    'chain.yaml: chains.default[1]: unknown step "fwdd" (valid: mon, fwd, out, dns, drop)',
    'did you mean "fwd"?',
  );
  throwsConfig(
    () => resolve(base({ chains: { default: ['mon', 'in'] } })),
    'NETVM_CONFIG_INVALID',
    'chains.default[1]: port "in" cannot be a step',
  );
  throwsConfig(() => resolve(base({ chains: { default: ['out', 'mon'] } })), 'NETVM_CONFIG_INVALID', 'chains.default[1]: unreachable');
  throwsConfig(
    () => resolve(base({ rules: [{ match: { proto: 'udp' }, chain: 'dns' }] })),
    'NETVM_CONFIG_INVALID',
    'rules[0].chain: unknown chain "dns" (chains: default)',
  );
  throwsConfig(
    () => resolve(base({ rules: [{ match: { inPort: 'eth0' }, chain: 'default' }] })),
    'NETVM_CONFIG_INVALID',
    'rules[0].match.inPort: unknown port "eth0" (ports: in, out)',
  );
  throwsConfig(
    () => resolve(base({ rules: [{ match: { inPort: 'out' }, chain: 'default' }] })),
    'NETVM_CONFIG_INVALID',
    'rules[0].match.inPort: port "out" receives nothing',
  );
});

test('config: ports and services share one namespace, with drop reserved', () => {
  throwsConfig(
    () => resolve(base({ services: { out: { nf: 'monitor' } } })),
    'NETVM_CONFIG_INVALID',
    'services.out: name "out" is also a port (ports.out)',
  );
  throwsConfig(() => resolve(base({ services: { drop: { nf: 'monitor' } } })), 'NETVM_CONFIG_INVALID', 'services.drop: "drop" is reserved');
  throwsConfig(
    () => resolve(base({ ports: { in: { driver: 'generator' }, drop: { driver: 'sink' } } })),
    'NETVM_CONFIG_INVALID',
    'ports.drop: "drop" is reserved',
  );
  throwsConfig(() => resolve(base({ services: { 42: { nf: 'monitor' } } })), 'NETVM_CONFIG_INVALID', 'services: invalid name "42"');
});

test('config: bad CIDRs, mixed IP versions and bad port ranges are errors', () => {
  const rule = (match: Record<string, unknown>) => () => resolve(base({ rules: [{ match, chain: 'default' }] }));
  throwsConfig(rule({ src: '10.0.0.0/33' }), 'NETVM_CONFIG_INVALID', 'rules[0].match.src: invalid prefix length in "10.0.0.0/33"');
  throwsConfig(rule({ dst: '10.0.0.256/8' }), 'NETVM_CONFIG_INVALID', 'rules[0].match.dst: invalid CIDR prefix "10.0.0.256/8"');
  throwsConfig(rule({ dst: 'example.com' }), 'NETVM_CONFIG_INVALID', 'rules[0].match.dst: invalid address "example.com"');
  throwsConfig(rule({ src: '2001:db8::/129' }), 'NETVM_CONFIG_INVALID', 'rules[0].match.src: invalid prefix length');
  throwsConfig(rule({ src: '10.0.0.0/8', dst: '2001:db8::1' }), 'NETVM_CONFIG_INVALID', 'rules[0].match: src is IPv4 but dst is IPv6');
  throwsConfig(
    rule({ ipVersion: 6, src: '10.0.0.0/8' }),
    'NETVM_CONFIG_INVALID',
    'rules[0].match.src: "10.0.0.0/8" is IPv4 but ipVersion is 6',
  );
  throwsConfig(rule({ dstPort: '2000-1000' }), 'NETVM_CONFIG_INVALID', 'rules[0].match.dstPort: range "2000-1000" is empty');
  throwsConfig(rule({ srcPort: '1000-70000' }), 'NETVM_CONFIG_INVALID', 'rules[0].match.srcPort: ports are 0..65535');
  throwsConfig(
    rule({ srcPort: 70000 }),
    'NETVM_CONFIG_INVALID',
    'rules[0].match.srcPort: must be an integer from 0 to 65535 or a range "lo-hi" (got 70000)',
  );
  throwsConfig(rule({ proto: 256 }), 'NETVM_CONFIG_INVALID', 'rules[0].match.proto: must be one of');
});

test('config: NFs — unknown catalog names list the catalog; missing modules are named', () => {
  throwsConfig(
    () => load(write(EXAMPLE.replace('nf: forward', 'nf: forwrd'))),
    'NETVM_CONFIG_INVALID',
    'chain.yaml: services.fwd.nf: unknown NF "forwrd" (catalog: bridge, forward, monitor',
    'did you mean "forward"?',
  );
  throwsConfig(
    () => load(write(EXAMPLE.replace('nf: forward', 'nf: ./missing-nf.ts'))),
    'NETVM_CONFIG_INVALID',
    'chain.yaml: services.fwd.nf: NF module "./missing-nf.ts" not found',
  );
  throwsConfig(
    () => resolve(base({ services: { mon: { nf: 'nope.js' } } })),
    'NETVM_CONFIG_INVALID',
    'services.mon.nf: NF module "nope.js" not found',
  );
});

test('config: YAML and read errors are NETVM_CONFIG_READ with file:line:col', () => {
  const file = write('ports:\n  in: { driver: sink }\n    out: { driver: sink }\n');
  throwsConfig(() => load(file), 'NETVM_CONFIG_READ', `${file}:3:1: All mapping items must start at the same column`);
  const dup = write('ports:\n  in: { driver: sink }\n  in: { driver: sink }\n');
  throwsConfig(() => load(dup), 'NETVM_CONFIG_READ', `${dup}:3:3: Map keys must be unique`);
  throwsConfig(() => load(path.join(tmp, 'nope.yaml')), 'NETVM_CONFIG_READ', 'nope.yaml: cannot read the config file: no such file');
  throwsConfig(() => load(tmp), 'NETVM_CONFIG_READ', 'cannot read the config file: it is a directory');
  // Messages name the file as it was given.
  const rel = path.relative(process.cwd(), dup);
  throwsConfig(() => load(rel), 'NETVM_CONFIG_READ', `${rel}:3:3:`);
});

test('config: the catalog lists NF directories and prefers built .js over .ts', () => {
  assert.deepEqual(catalogNames(CATALOG), ['bridge', 'forward', 'monitor']);
  assert.equal(catalogModulePath('bridge', CATALOG), path.join(CATALOG, 'bridge', 'index.js'));
  assert.equal(catalogModulePath('monitor', CATALOG), path.join(CATALOG, 'monitor', 'index.ts'));
  assert.throws(
    () => catalogModulePath('nope', CATALOG),
    (err: unknown) => err instanceof NetvmError && err.code === 'NETVM_NF_LOAD' && err.message.includes('bridge, forward, monitor'),
  );
  // The package's own catalog: whatever is there, each name resolves to an existing file.
  for (const n of catalogNames()) assert.ok(fs.existsSync(catalogModulePath(n)), n);
});

test('config: the demo config, and examples/demo.yaml is the same', () => {
  const c = demoConfig({ rate: 1000, count: 5000, catalogDir: CATALOG });
  assert.equal(c.file, null);
  assert.deepEqual(
    c.ports.map((p) => [p.name, p.id, p.driver, p.input, p.output]),
    [
      ['gen', 0, 'generator', true, false],
      ['sink', 1, 'sink', false, true],
    ],
  );
  assert.deepEqual(c.ports[0].options, { size: 64, flows: 1024, ipVersion: 4, proto: 'udp', rate: 1000, count: 5000, stamp: true });
  assert.deepEqual(
    c.services.map((s) => [s.name, s.id, s.nf.kind === 'catalog' ? s.nf.name : s.nf.path]),
    [
      ['mon', 0, 'monitor'],
      ['fwd', 1, 'forward'],
      ['last', 2, 'forward'],
    ],
  );
  assert.deepEqual(c.chains, [
    {
      name: 'default',
      id: 0,
      steps: [
        { kind: 'service', service: 0, name: 'mon' },
        { kind: 'service', service: 1, name: 'fwd' },
        { kind: 'service', service: 2, name: 'last' },
        { kind: 'port', port: 1, name: 'sink' },
      ],
    },
  ]);
  assert.equal(c.defaultChain, 0);
  assert.deepEqual(c.warnings, []);
  assert.equal(demoConfig({ catalogDir: CATALOG }).ports[0].options.count, 0);
  const file = path.join(ROOT, 'examples', 'demo.yaml');
  assert.deepEqual(parseConfigText(fs.readFileSync(file, 'utf8'), file), demoRaw());
  assert.deepEqual({ ...load(file), file: null }, demoConfig({ catalogDir: CATALOG }));
});

test('config: schema/netvm-config.schema.json is the exported schema', () => {
  const file = path.join(ROOT, 'schema', 'netvm-config.schema.json');
  assert.deepEqual(
    JSON.parse(fs.readFileSync(file, 'utf8')),
    JSON.parse(JSON.stringify(CONFIG_SCHEMA)),
    'schema/netvm-config.schema.json is stale: regenerate it (see the header of src/config/schema.ts)',
  );
});

test('config: docs/configuration.md shows the example and documents every key of the schema', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8');
  assert.ok(doc.includes(EXAMPLE), 'the example, verbatim');
  const keys = new Set<string>();
  const walk = (s: unknown): void => {
    if (Array.isArray(s)) s.forEach(walk);
    else if (s !== null && typeof s === 'object') {
      const o = s as Record<string, unknown>;
      if (o.properties !== null && typeof o.properties === 'object') for (const k of Object.keys(o.properties)) keys.add(k);
      Object.values(o).forEach(walk);
    }
  };
  walk(CONFIG_SCHEMA);
  assert.ok(keys.size > 40, String(keys.size));
  for (const k of keys) assert.ok(doc.includes(`| \`${k}\``), `docs/configuration.md has no table row for \`${k}\``);
});
