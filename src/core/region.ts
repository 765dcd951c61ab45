// The shared region: one file mapped MAP_SHARED by the manager and every trusted NF, as a
// SharedArrayBuffer. It lives on a hugetlbfs mount when one with enough free huge pages
// exists (kernel doc admin-guide/mm/hugetlbpage.rst), else in /dev/shm (tmpfs).
import fs from 'node:fs';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { native } from '../../native/loader.js';
import { NetvmError } from './errors.js';
import {
  computeLayout,
  H_MANAGER_PID,
  H_RUN_ID,
  nfRingId,
  portRingId,
  POOL_RING,
  readHeader,
  RING_HEADER_BYTES,
  R_PROD_HEAD,
  R_PROD_TAIL,
  S_SLEEP,
  slotOffset,
  writeHeader,
  type Layout,
  type LayoutParams,
} from './layout.js';
import { initRing } from './ring.js';

export type HugePagesMode = 'auto' | 'always' | 'never';

export interface Region {
  readonly name: string;
  readonly file: string;
  readonly hugePages: boolean;
  readonly sab: SharedArrayBuffer;
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly layout: Layout;
}

const SHM_DIR = '/dev/shm';
const NAME_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;

export const regionFileName = (name: string): string => `netvm-${name}`;

interface HugeMount {
  dir: string;
  pageSize: number;
}

/** hugetlbfs mounts from /proc/mounts, with their page size (pagesize= option or default). */
export function hugetlbfsMounts(): HugeMount[] {
  let mounts: string;
  try {
    mounts = fs.readFileSync('/proc/mounts', 'utf8');
  } catch {
    return [];
  }
  const defaultSize = defaultHugePageSize();
  const out: HugeMount[] = [];
  for (const line of mounts.split('\n')) {
    const f = line.split(' ');
    if (f[2] !== 'hugetlbfs') continue;
    const m = /pagesize=(\d+)([KMG]?)/.exec(f[3] ?? '');
    const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as const;
    const size = m ? Number(m[1]) * mult[(m[2] ?? '') as keyof typeof mult] : defaultSize;
    out.push({ dir: f[1].replace(/\\040/g, ' '), pageSize: size });
  }
  return out;
}

function defaultHugePageSize(): number {
  try {
    const m = /Hugepagesize:\s+(\d+) kB/.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    return m ? Number(m[1]) * 1024 : 2 * 1024 * 1024;
  } catch {
    return 2 * 1024 * 1024;
  }
}

/** Free huge pages of a size, from sysfs (admin-guide/mm/hugetlbpage.rst). */
function freeHugePages(pageSize: number): number {
  try {
    const f = `/sys/kernel/mm/hugepages/hugepages-${pageSize / 1024}kB/free_hugepages`;
    return Number(fs.readFileSync(f, 'utf8').trim());
  } catch {
    return 0;
  }
}

function pickHugeMount(size: number): HugeMount | null {
  for (const m of hugetlbfsMounts()) {
    if (freeHugePages(m.pageSize) * m.pageSize >= size) return m;
  }
  return null;
}

function processAlive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    // A zombie still answers kill(0); /proc/<pid>/stat state Z tells it apart.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
export { processAlive };

function views(name: string, file: string, huge: boolean, sab: SharedArrayBuffer, layout: Layout): Region {
  return {
    name,
    file,
    hugePages: huge,
    sab,
    u8: new Uint8Array(sab),
    i32: new Int32Array(sab),
    f64: new Float64Array(sab),
    layout,
  };
}

function checkName(name: string): void {
  if (!NAME_RE.test(name))
    throw new NetvmError('NETVM_USAGE', `instance name "${name}" is not valid: use 1-32 lowercase letters, digits and dashes`);
}

/** Finds an existing region file for `name` (hugetlbfs mounts first, then /dev/shm). */
export function findRegionFile(name: string): string | null {
  for (const dir of [...hugetlbfsMounts().map((m) => m.dir), SHM_DIR]) {
    const f = path.join(dir, regionFileName(name));
    if (fs.existsSync(f)) return f;
  }
  return null;
}

/**
 * Creates the region (manager only): mode 0600, header, rings, pool. A region left behind
 * by a crashed manager (its pid is gone) is replaced; one of a live manager is an error.
 */
export function createRegion(name: string, params: LayoutParams, hugePages: HugePagesMode, log: (msg: string) => void = () => {}): Region {
  checkName(name);
  const layout = computeLayout(params);
  const stale = findRegionFile(name);
  if (stale !== null) {
    let pid: number;
    try {
      const sab = native.mapFile(stale, 4096, false, false);
      pid = new Int32Array(sab)[H_MANAGER_PID];
    } catch {
      pid = 0;
    }
    if (processAlive(pid) && pid !== process.pid)
      throw new NetvmError(
        'NETVM_REGION_EXISTS',
        `a netvm manager (pid ${pid}) is already running as "${name}" (region ${stale}); ` +
          'stop it first, or give this one another name with --name',
      );
    log(`replacing stale region ${stale} left by a manager that is gone (pid ${pid})`);
    fs.rmSync(stale, { force: true });
  }
  let dir = SHM_DIR;
  let huge = false;
  if (hugePages !== 'never') {
    const m = pickHugeMount(layout.totalSize);
    if (m !== null) {
      dir = m.dir;
      huge = true;
    } else if (hugePages === 'always') {
      throw new NetvmError(
        'NETVM_NO_MEMORY',
        `no hugetlbfs mount with ${Math.ceil(layout.totalSize / 2 ** 20)} MiB of free huge pages: ` +
          'mount hugetlbfs and raise /proc/sys/vm/nr_hugepages, or set region.hugePages to auto',
      );
    }
  }
  const file = path.join(dir, regionFileName(name));
  let sab: SharedArrayBuffer;
  try {
    sab = native.mapFile(file, layout.totalSize, true, huge);
  } catch (err) {
    if (!huge) {
      throw new NetvmError(
        'NETVM_NO_MEMORY',
        `cannot create the shared region ${file} (${layout.totalSize} bytes): ${(err as Error).message}`,
        { cause: err },
      );
    }
    // Huge pages can vanish between the check and the mapping (another process took them).
    log(`huge pages unavailable (${(err as Error).message}); falling back to ${SHM_DIR}`);
    return createRegion(name, params, 'never', log);
  }
  return initRegionViews(name, file, sab, layout, huge);
}

/** Views, rings, pool and header over fresh zeroed memory. */
export function initRegionViews(name: string, file: string, sab: SharedArrayBuffer, layout: Layout, huge = false): Region {
  const r = views(name, file, huge, sab, layout);
  initRegion(r);
  writeHeader(r.i32, layout, randomInt(1, 2 ** 31 - 1), process.pid);
  return r;
}

/** Rings and pool of a fresh region; the header is written last (see writeHeader). */
function initRegion(r: Region): void {
  const { i32, layout } = r;
  const p = layout.params;
  for (let id = 0; id < layout.ringOffsets.length; id++) {
    let waiter = -1;
    if (id >= nfRingId(0) && id < portRingId(p, 0)) waiter = (slotOffset(layout, id - nfRingId(0)) >> 2) + S_SLEEP;
    else if (id >= portRingId(p, 0)) waiter = (slotOffset(layout, 0) >> 2) + S_SLEEP; // the manager
    initRing(i32, layout.ringOffsets[id], id, layout.ringCapacities[id], waiter);
  }
  // Fill the pool ring with every buffer's descriptor.
  const poolBase = layout.ringOffsets[POOL_RING] >> 2;
  const slots = poolBase + RING_HEADER_BYTES / 4;
  let k = 0;
  for (let s = 0; s < p.segments; s++) {
    for (let i = 0; i < p.bufCount; i++) i32[slots + k++] = (s << 24) | i;
  }
  i32[poolBase + R_PROD_HEAD] = k;
  i32[poolBase + R_PROD_TAIL] = k;
}

/** Attaches to a running manager's region by name (NF processes, stats readers). */
export function attachRegion(name: string): Region {
  checkName(name);
  const file = findRegionFile(name);
  if (file === null)
    throw new NetvmError(
      'NETVM_REGION_MISSING',
      `no netvm region named "${name}" (looked in hugetlbfs mounts and ${SHM_DIR}); is \`netvm start\` running?`,
    );
  const sab = native.mapFile(file, 0, false, false);
  const i32 = new Int32Array(sab);
  const layout = readHeader(i32, sab.byteLength);
  return views(name, file, !file.startsWith(SHM_DIR), sab, layout);
}

export function regionRunId(r: Region): number {
  return r.i32[H_RUN_ID];
}

/** Removes the region file (manager, on exit). Mappings stay valid until unmapped. */
export function removeRegion(r: Region): void {
  fs.rmSync(r.file, { force: true });
}
