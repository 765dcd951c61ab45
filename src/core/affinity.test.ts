import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NetvmError } from './errors.js';
import { formatCpuList, onlineCpus, parseCpuList, pinProcess, type AffinitySys } from './affinity.js';

test('parseCpuList reads arrays and the kernel cpulist format; formatCpuList writes it back', () => {
  assert.deepEqual(parseCpuList([3, 1, 1], 'cpus'), [1, 3]);
  assert.deepEqual(parseCpuList('0', 'cpus'), [0]);
  assert.deepEqual(parseCpuList(' 0-2 ,5,7-8', 'cpus'), [0, 1, 2, 5, 7, 8]);
  assert.equal(formatCpuList([0, 1, 2, 5, 7, 8]), '0-2,5,7-8');
  assert.equal(formatCpuList([4]), '4');
  for (const bad of ['', '1-', 'a', '2-1', '1,,2', '0-1024', -1, [1.5], [], {}, null])
    assert.throws(
      () => parseCpuList(bad, 'cpus'),
      (e: NetvmError) => e.code === 'NETVM_CONFIG_INVALID' && e.message.startsWith('cpus: '),
      JSON.stringify(bad),
    );
});

test('pinProcess sets every thread, skips threads that ended, and names what it could not do', () => {
  const calls: [number, number[]][] = [];
  const sys: AffinitySys = {
    online: () => [0, 1],
    threads: () => [10, 11, 12],
    setAffinity: (tid, cpus) => {
      if (tid === 11) throw Object.assign(new Error('sched_setaffinity failed for thread 11: No such process'), { errno: 3 });
      calls.push([tid, cpus]);
    },
  };
  pinProcess([0, 1], 'cpus', sys);
  assert.deepEqual(calls, [
    [10, [0, 1]],
    [12, [0, 1]],
  ]);
  const failing: AffinitySys = {
    online: () => [0, 1],
    threads: () => [10],
    setAffinity: () => {
      throw Object.assign(new Error('sched_setaffinity failed for thread 10: Invalid argument'), { errno: 22 });
    },
  };
  assert.throws(
    () => pinProcess([0], 'cpus', failing),
    (e: NetvmError) => e.code === 'NETVM_CONFIG_INVALID' && /thread 10 to CPUs 0/.test(e.message),
  );
});

test('pinProcess on this machine: every thread of a process ends up on the CPU asked, and a CPU that is not online is refused', () => {
  const online = onlineCpus();
  const target = online[online.length - 1];
  const mod = fileURLToPath(new URL('./affinity.js', import.meta.url));
  // A fresh process (this one's threads are the test runner's): pin, start a thread after, read /proc.
  const script = `
    const { pinProcess, parseCpuList } = await import(${JSON.stringify(mod)});
    const fs = await import('node:fs');
    pinProcess([${target}], 'cpus');
    await new Promise((r) => setTimeout(r, 10));
    const lists = fs.readdirSync('/proc/self/task').map((t) => /Cpus_allowed_list:\\s*(\\S+)/.exec(fs.readFileSync('/proc/self/task/' + t + '/status', 'utf8'))[1]);
    let refused = '';
    try { pinProcess([${Math.max(...online) + 1}], 'cpus'); } catch (e) { refused = e.code + ' ' + e.message; }
    console.log(JSON.stringify({ lists, refused }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  const { lists, refused } = JSON.parse(out.trim().split('\n').pop()!) as { lists: string[]; refused: string };
  assert.ok(lists.length > 1, 'a Node process has several threads');
  assert.deepEqual([...new Set(lists)], [String(target)], 'every thread');
  assert.match(refused, new RegExp(`^NETVM_CONFIG_INVALID cpus: CPU ${Math.max(...online) + 1} is not online`));
});
