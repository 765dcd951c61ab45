// Config keys for untrusted NFs (docs/untrusted-nfs.md): trust, timeoutMs, exchangeSlots.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NetvmError } from '../core/errors.js';
import { loadConfigFile, resolveConfig } from './load-config.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netvm-trust-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const CATALOG = path.join(tmp, 'catalog');
fs.mkdirSync(path.join(CATALOG, 'forward'), { recursive: true });
fs.writeFileSync(path.join(CATALOG, 'forward', 'index.ts'), 'export default {};\n');

const resolve = (service: Record<string, unknown>) =>
  resolveConfig(
    {
      ports: { in: { driver: 'generator' }, out: { driver: 'sink' } },
      services: { f: { nf: 'forward', ...service } },
      chains: { default: ['f', 'out'] },
    },
    { file: null, baseDir: tmp, catalogDir: CATALOG },
  );

function invalid(service: Record<string, unknown>, part: string): void {
  assert.throws(
    () => resolve(service),
    (err: unknown) => err instanceof NetvmError && err.code === 'NETVM_CONFIG_INVALID' && err.message.includes(part),
  );
}

test('config: trust untrusted resolves with its timeout and exchange size; trusted services carry none', () => {
  assert.equal(resolve({}).services[0].untrusted, undefined);
  assert.equal(resolve({ trust: 'trusted' }).services[0].untrusted, undefined);
  assert.deepEqual(resolve({ trust: 'untrusted' }).services[0].untrusted, { timeoutMs: 1000, exchangeSlots: 256 });
  assert.deepEqual(resolve({ trust: 'untrusted', timeoutMs: 50, exchangeSlots: 64 }).services[0].untrusted, {
    timeoutMs: 50,
    exchangeSlots: 64,
  });
  assert.deepEqual(resolve({ trust: 'untrusted' }).warnings, []);
});

test('config: untrusted-only keys on a trusted service are a warning; bad values are errors naming the field', () => {
  const c = resolve({ timeoutMs: 50 });
  assert.deepEqual(c.warnings, ['services.f.timeoutMs: applies to untrusted services only (trust: untrusted); ignored']);
  invalid({ trust: 'maybe' }, 'services.f.trust: must be one of "trusted", "untrusted" (got "maybe")');
  invalid({ trust: 'untrusted', timeoutMs: 0 }, 'services.f.timeoutMs: must be >= 1');
  invalid({ trust: 'untrusted', exchangeSlots: 100 }, 'services.f.exchangeSlots: must be a power of two from 64 to 4096 (got 100)');
});

test('config: examples/untrusted.yaml runs its forwarder untrusted', () => {
  let dir = path.dirname(new URL(import.meta.url).pathname);
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  const c = loadConfigFile(path.join(dir, 'examples', 'untrusted.yaml'));
  assert.deepEqual(
    c.services.map((s) => [s.name, s.untrusted]),
    [
      ['mon', undefined],
      ['fwd', { timeoutMs: 500, exchangeSlots: 256 }],
    ],
  );
  assert.deepEqual(c.warnings, []);
});
