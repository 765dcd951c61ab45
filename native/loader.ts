// The one loader for the native addon (native/src/addon.cc). Everything else imports from
// here; nothing outside this folder knows the addon exists.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface NativeBinding {
  /** mmap a file MAP_SHARED as a SharedArrayBuffer; create=true makes it (O_EXCL, 0600). */
  mapFile(file: string, size: number, create: boolean, hugePages: boolean): SharedArrayBuffer;
  /** futex(FUTEX_WAIT) on a shared word: 0 woken, 1 value differed, 2 timed out. */
  futexWait(sab: SharedArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): number;
  /** futex(FUTEX_WAKE): how many waiters were woken. */
  futexWake(sab: SharedArrayBuffer, byteOffset: number, count: number): number;
  /** prctl(PR_SET_NAME): the name `top` shows (15 bytes at most). */
  setThreadName(name: string): boolean;
  /** sched_yield(2): give the core to another process (slow paths only). */
  schedYield(): void;
}

const here = path.dirname(fileURLToPath(import.meta.url));
// Compiled to dist/native/loader.js; the addon is built into native/build/Release.
const candidates = [
  path.resolve(here, '../../native/build/Release/netvm_native.node'),
  path.resolve(here, 'build/Release/netvm_native.node'),
];

function load(): NativeBinding {
  const require = createRequire(import.meta.url);
  let lastError: unknown;
  for (const file of candidates) {
    try {
      return require(file) as NativeBinding;
    } catch (err) {
      lastError = err;
    }
  }
  const e = new Error(
    `netvm's native addon is not built (looked in ${candidates.join(', ')}). ` +
      `Run \`npm install\` (or \`npm run install\`) in the netvm folder; it needs python3, make and g++.`,
  ) as Error & { code: string; cause: unknown };
  e.code = 'NETVM_NATIVE_MISSING';
  e.cause = lastError;
  throw e;
}

export const native: NativeBinding = load();
