// CPU placement: the cores a process may run on, for every one of its threads. netvm's
// counterpart of DPDK's `-l` core list and OpenNetVM's per-NF core: a manager pinned with
// `cpus` keeps its loop, its afpacket transmit threads and the NFs it launches on those cores
// (threads and children inherit a thread's affinity, sched_setaffinity(2)), and a service's
// own `cpus` moves its NF processes elsewhere. Setup path only: errors are NetvmErrors.
import fs from 'node:fs';
import os from 'node:os';
import { NetvmError } from './errors.js';
import { native } from '../../native/loader.js';

/** The largest CPU number accepted (CPU_SETSIZE - 1 in glibc). */
export const MAX_CPU = 1023;

/**
 * A CPU list as the config and the CLI give it: an array of CPU numbers, or a string in the
 * kernel's cpulist format ("1", "0-3", "0,2,4-5"; Documentation/admin-guide/cputopology.rst),
 * as `taskset -c` takes. Returns the CPUs sorted, without repeats. `what` names the setting
 * in the error.
 */
export function parseCpuList(spec: unknown, what: string): number[] {
  const bad = (why: string): NetvmError =>
    new NetvmError('NETVM_CONFIG_INVALID', `${what}: ${why} (give CPU numbers as [0, 2] or "0,2-3")`);
  const out = new Set<number>();
  const add = (n: number): void => {
    if (!Number.isInteger(n) || n < 0 || n > MAX_CPU) throw bad(`${JSON.stringify(n)} is not a CPU number 0..${MAX_CPU}`);
    out.add(n);
  };
  if (Array.isArray(spec)) for (const n of spec) add(n as number);
  else if (typeof spec === 'string') {
    for (const part of spec.split(',')) {
      const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
      if (!m) throw bad(`"${part}" is neither a CPU number nor a range lo-hi`);
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : Number(m[2]);
      if (hi < lo) throw bad(`the range ${part.trim()} runs backwards`);
      if (hi > MAX_CPU) throw bad(`${hi} is not a CPU number 0..${MAX_CPU}`);
      for (let n = lo; n <= hi; n++) add(n);
    }
  } else throw bad(`expected an array or a string, got ${JSON.stringify(spec)}`);
  if (out.size === 0) throw bad('the list is empty');
  return [...out].sort((a, b) => a - b);
}

/** "0-3,6" for [0, 1, 2, 3, 6]: how the kernel and `taskset -c` write a CPU list. */
export function formatCpuList(cpus: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length;) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j] + 1) j++;
    parts.push(j === i ? String(cpus[i]) : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** The CPUs a process (or "PID/task/TID", one thread) may use now: Cpus_allowed_list of /proc/PID/status. */
export function allowedCpus(pid: number | string = 'self'): number[] {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(status);
  return m ? parseCpuList(m[1], 'Cpus_allowed_list') : onlineCpus();
}

/** The CPUs online on this machine (/sys/devices/system/cpu/online). */
export function onlineCpus(): number[] {
  try {
    return parseCpuList(fs.readFileSync('/sys/devices/system/cpu/online', 'utf8').trim(), 'online CPUs');
  } catch {
    return os.cpus().map((_, i) => i);
  }
}

export interface AffinitySys {
  setAffinity(tid: number, cpus: number[]): void;
  /** The CPUs online on this machine. */
  online(): number[];
  /** Thread ids of this process. */
  threads(): number[];
}

const realSys: AffinitySys = {
  setAffinity: (tid, cpus) => native.setAffinity(tid, cpus),
  online: onlineCpus,
  threads: () => fs.readdirSync('/proc/self/task').map(Number),
};

/**
 * Pins every thread of this process to `cpus`; threads started later and child processes
 * inherit it. A CPU that is not online is an error naming the online ones (the kernel would
 * quietly use the others of the list, and a benchmark would measure something else than it
 * says); a set outside the process's cgroup cpuset fails in the kernel (EINVAL).
 */
export function pinProcess(cpus: readonly number[], what: string, sys: AffinitySys = realSys): void {
  const usable = new Set(sys.online());
  const missing = cpus.filter((c) => !usable.has(c));
  if (missing.length > 0)
    throw new NetvmError(
      'NETVM_CONFIG_INVALID',
      `${what}: CPU ${formatCpuList(missing)} is not online on this machine (online: ${formatCpuList([...usable].sort((a, b) => a - b))})`,
    );
  const list = [...cpus];
  for (const tid of sys.threads()) {
    try {
      sys.setAffinity(tid, list);
    } catch (err) {
      // A thread that ended meanwhile (ESRCH) needs nothing.
      if ((err as { errno?: number }).errno === 3) continue;
      throw new NetvmError(
        'NETVM_CONFIG_INVALID',
        `${what}: cannot pin thread ${tid} to CPUs ${formatCpuList(list)}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }
}
