import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseApiAddress } from './address.js';

test('--api: loopback HOST:PORT, [::1]:PORT, :PORT, unix:PATH, absolute path and off', () => {
  assert.deepEqual(parseApiAddress('127.0.0.1:7780'), { kind: 'tcp', host: '127.0.0.1', port: 7780 });
  assert.deepEqual(parseApiAddress('127.1.2.3:0'), { kind: 'tcp', host: '127.1.2.3', port: 0 });
  assert.deepEqual(parseApiAddress('[::1]:9000'), { kind: 'tcp', host: '::1', port: 9000 });
  assert.deepEqual(parseApiAddress('localhost:81'), { kind: 'tcp', host: 'localhost', port: 81 });
  assert.deepEqual(parseApiAddress(':7781'), { kind: 'tcp', host: '127.0.0.1', port: 7781 });
  assert.deepEqual(parseApiAddress('unix:/tmp/x.sock'), { kind: 'unix', path: '/tmp/x.sock' });
  assert.deepEqual(parseApiAddress('/run/netvm/api.sock'), { kind: 'unix', path: '/run/netvm/api.sock' });
  assert.equal(parseApiAddress('off'), null);
});

test('--api: a routable address is refused, naming what is allowed', () => {
  for (const a of ['0.0.0.0:7780', '10.1.2.3:7780', '[::]:7780', '[2001:db8::1]:80', 'example.com:80'])
    assert.throws(
      () => parseApiAddress(a),
      { code: 'NETVM_USAGE', message: /not a loopback address.*127\.0\.0\.0\/8, ::1 or a Unix socket/ },
      a,
    );
});

test('--api: malformed values and out-of-range ports are usage errors', () => {
  for (const a of ['7780', '127.0.0.1', '127.0.0.1:port', 'http://127.0.0.1:7780'])
    assert.throws(() => parseApiAddress(a), { code: 'NETVM_USAGE', message: /expected HOST:PORT/ }, a);
  assert.throws(() => parseApiAddress('127.0.0.1:70000'), { code: 'NETVM_USAGE', message: /above 65535/ });
});
