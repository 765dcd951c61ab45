// The NF catalog: the built-in NFs shipped in the package, one directory each under
// <package root>/nfs/<name>/index.ts (source) and, when built, dist/nfs/<name>/index.js.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetvmError } from '../core/errors.js';

/** A catalog NF name (also what tells a catalog name from a module path in a config). */
export const CATALOG_NAME_RE = /^[a-z][a-z0-9-]*$/;

let root: string | null = null;

/** The directory holding netvm's package.json, found by walking up from this file. */
export function packageRoot(): string {
  if (root !== null) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return (root = dir);
    const up = path.dirname(dir);
    if (up === dir) throw new NetvmError('NETVM_NF_LOAD', `cannot find netvm's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** The places an NF's entry module may be, best first. */
function candidates(name: string, catalogDir?: string): string[] {
  if (catalogDir !== undefined) {
    const d = path.resolve(catalogDir, name);
    return [path.join(d, 'index.js'), path.join(d, 'index.mjs'), path.join(d, 'index.ts')];
  }
  const r = packageRoot();
  return [path.join(r, 'dist', 'nfs', name, 'index.js'), path.join(r, 'nfs', name, 'index.js'), path.join(r, 'nfs', name, 'index.ts')];
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function subdirs(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

/**
 * The catalog's NF names, sorted. `catalogDir` replaces the package's catalog (tests): a
 * directory of <name>/index.{js,mjs,ts}.
 */
export function catalogNames(catalogDir?: string): string[] {
  const dirs =
    catalogDir !== undefined ? [path.resolve(catalogDir)] : [path.join(packageRoot(), 'nfs'), path.join(packageRoot(), 'dist', 'nfs')];
  const names = new Set<string>();
  for (const d of dirs) for (const n of subdirs(d)) if (CATALOG_NAME_RE.test(n) && candidates(n, catalogDir).some(isFile)) names.add(n);
  return [...names].sort();
}

/**
 * The entry module of catalog NF `name`: dist/nfs/<name>/index.js when built, else
 * nfs/<name>/index.ts. Throws NETVM_NF_LOAD, listing the catalog, for an unknown name.
 */
export function catalogModulePath(name: string, catalogDir?: string): string {
  if (CATALOG_NAME_RE.test(name)) {
    const found = candidates(name, catalogDir).find(isFile);
    if (found !== undefined) return found;
  }
  const names = catalogNames(catalogDir);
  throw new NetvmError(
    'NETVM_NF_LOAD',
    `unknown NF "${name}": ${names.length > 0 ? `the catalog has ${names.join(', ')}` : 'the catalog is empty'} (or give a path to a .ts/.js module)`,
  );
}
