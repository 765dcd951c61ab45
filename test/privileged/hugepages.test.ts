// The shared region on huge pages (kernel doc admin-guide/mm/hugetlbpage.rst): with a
// hugetlbfs mount that has enough free pages, the manager puts the region there; the pages
// are given back when it exits. Needs root (to reserve pages and mount hugetlbfs); the test
// undoes both, also when it fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { runCli, tmpDir, uniqueName, describeFailure } from '../helpers/cli.js';

const NR = '/proc/sys/vm/nr_hugepages';
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hugeFree = (): number => Number(/HugePages_Free:\s+(\d+)/.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
const hugeSizeKb = (): number => Number(/Hugepagesize:\s+(\d+)/.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);

test(
  'region: on a hugetlbfs mount with free huge pages the region lives there, and the pages come back at exit',
  { skip: isRoot ? false : 'needs root: reserves huge pages and mounts hugetlbfs (CI runs it as root)' },
  async (t) => {
    const before = Number(fs.readFileSync(NR, 'utf8'));
    const pageMb = hugeSizeKb() / 1024;
    // The default region is 134 MiB of buffers plus rings and tables; 160 MiB of pages is enough.
    const want = before + Math.ceil(160 / pageMb);
    const dir = tmpDir('netvm-huge-');
    let mounted = false;
    try {
      try {
        fs.writeFileSync(NR, String(want));
      } catch (err) {
        t.skip(`cannot reserve huge pages: ${(err as Error).message}`);
        return;
      }
      if (hugeFree() < Math.ceil(160 / pageMb)) {
        t.skip(`the kernel gave only ${hugeFree()} free huge pages (memory too fragmented?)`);
        return;
      }
      execFileSync('mount', ['-t', 'hugetlbfs', '-o', 'mode=0700', 'none', dir]);
      mounted = true;
      const freeBefore = hugeFree();
      const name = uniqueName('huge');
      const stats = path.join(dir, '..', `${path.basename(dir)}.json`);
      const r = await runCli(['demo', '--count', '200000', '--quiet', '--name', name, '--stats-json', stats]);
      assert.equal(r.code, 0, describeFailure(r));
      const created = r.stderr.split('\n').find((l) => l.includes('shared region created'));
      assert.ok(created, `no "shared region created" log line:\n${r.stderr}`);
      const info = JSON.parse(created) as { region: string; hugePages: boolean };
      assert.equal(info.hugePages, true, created);
      assert.equal(path.dirname(info.region), dir, 'the region file is on the hugetlbfs mount');
      const s = JSON.parse(fs.readFileSync(stats, 'utf8')) as { pool: { size: number; free: number }; ports: { sink: { tx: number } } };
      fs.rmSync(stats, { force: true });
      assert.equal(s.ports.sink.tx, 200000, 'every generated packet reached the sink');
      assert.equal(s.pool.free, s.pool.size);
      assert.equal(fs.readdirSync(dir).length, 0, 'the region file is removed at exit');
      assert.equal(hugeFree(), freeBefore, 'its huge pages are free again');
      console.log(`huge pages: region ${info.region} on ${pageMb} MiB pages; ${freeBefore} pages free before and after`);
    } finally {
      if (mounted) execFileSync('umount', [dir]);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.writeFileSync(NR, String(before));
    }
  },
);
