// Module resolution hook for NF processes (registered with node:module `register`): an NF
// written as `import { defineNF } from 'netvm'` gets this very copy of the NF library, wherever
// the NF file lives (a scratch directory, another project). One copy matters: the packet
// views and the runtime must agree on the region layout.
// See https://nodejs.org/docs/latest-v20.x/api/module.html#customization-hooks
const nflib = new URL('../nflib/index.js', import.meta.url).href;

interface ResolveContext {
  conditions: string[];
  parentURL?: string;
}
type NextResolve = (specifier: string, context: ResolveContext) => Promise<{ url: string; format?: string | null }>;

export async function resolve(
  specifier: string,
  context: ResolveContext,
  next: NextResolve,
): Promise<{ url: string; format?: string | null; shortCircuit?: boolean }> {
  if (specifier === 'netvm') return { url: nflib, shortCircuit: true };
  const r = await next(specifier, context);
  // An NF written in TypeScript is an ES module (it `export default`s its definition), also
  // in a folder without a package.json saying "type": "module", where tsx would compile it
  // as CommonJS.
  if (
    r.url.startsWith('file:') &&
    /\.ts$/.test(r.url.replace(/\?.*$/, '')) &&
    !r.url.includes('/node_modules/') &&
    (r.format == null || r.format === 'commonjs-typescript')
  )
    return { ...r, format: 'module-typescript' };
  return r;
}
