// Work and memory meters for the fuzz targets. "No hang" and "no unbounded allocation" are
// checked by counting, never by timing: code under test reads its input through a counting
// view (a Proxy over the bytes, and DataView's getters while a meter is active), and a read
// beyond a budget proportional to the input ends the case as a hang. Typed-array and
// ArrayBuffer constructors are counted the same way, so a 4 GB allocation asked for by a
// corrupt length field fails the case before it is attempted.
//
// The meters patch globals (DataView.prototype getters, the typed-array constructors) only
// for the duration of one synchronous call or one awaited call, and restore them in `finally`.
// Each test file runs in its own process and fuzz targets run one case at a time, so nothing
// else observes the patch.

/** Thrown by a meter when the code under test exceeds its budget. */
export class BudgetExceeded extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BudgetExceeded';
  }
}

/** Counts reads of a byte array and records any outside the allowed window [lo, hi). */
export class ReadMeter {
  reads = 0;
  /** First index read outside [lo, hi), or null. */
  outside: number | string | null = null;
  constructor(
    public budget: number,
    public lo: number,
    public hi: number,
    readonly what: string,
  ) {}

  reset(budget: number, lo: number, hi: number): void {
    this.reads = 0;
    this.outside = null;
    this.budget = budget;
    this.lo = lo;
    this.hi = hi;
  }

  count(n: number): void {
    this.reads += n;
    if (this.reads > this.budget) throw new BudgetExceeded(`${this.what}: more than ${this.budget} reads (a loop that does not end?)`);
  }

  index(i: number | string): void {
    this.count(1);
    if (this.outside === null && (typeof i !== 'number' || !(i >= this.lo && i < this.hi))) this.outside = i;
  }
}

/**
 * A view of `u8` that counts every element read through `meter` (and notes reads outside its
 * window). Methods and properties other than indexing pass through to the real array.
 */
export function meteredBytes(u8: Uint8Array, meter: ReadMeter): Uint8Array {
  return new Proxy(u8, {
    get(t, p) {
      if (typeof p === 'string') {
        const c = p.charCodeAt(0);
        if ((c >= 48 && c <= 57) || c === 45 /* '-' */ || p === 'NaN' || p === 'Infinity') {
          const i = Number(p);
          meter.index(Number.isInteger(i) ? i : p);
          return t[i];
        }
        if (p === 'length') return t.length;
      }
      const v = Reflect.get(t, p, t) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

const DV_GETTERS = [
  'getInt8',
  'getUint8',
  'getInt16',
  'getUint16',
  'getInt32',
  'getUint32',
  'getFloat32',
  'getFloat64',
  'getBigInt64',
  'getBigUint64',
] as const;

type AnyFn = (this: unknown, ...a: unknown[]) => unknown;

/** Runs `fn` with every DataView read counted by `meter` (reads only; no window check). */
export function withDataViewMeter<T>(meter: ReadMeter, fn: () => T): T {
  const proto = DataView.prototype as unknown as Record<string, AnyFn>;
  const saved = DV_GETTERS.map((k) => proto[k]);
  DV_GETTERS.forEach((k, i) => {
    const orig = saved[i];
    proto[k] = function (this: unknown, ...a: unknown[]) {
      meter.count(1);
      return orig.apply(this, a);
    };
  });
  try {
    return fn();
  } finally {
    DV_GETTERS.forEach((k, i) => (proto[k] = saved[i]));
  }
}

// ---------------------------------------------------------------------------- allocation

const TYPED = [
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;

/** Counts the bytes asked of ArrayBuffer and typed-array constructors (views of an existing buffer cost 0). */
export class AllocMeter {
  total = 0;
  largest = 0;
  constructor(
    public maxSingle: number,
    public maxTotal: number,
    readonly what: string,
  ) {}

  charge(bytes: number, how: string): void {
    if (!(bytes >= 0)) return;
    if (bytes > this.maxSingle)
      throw new BudgetExceeded(`${this.what}: asked for ${bytes} bytes in one ${how} (budget ${this.maxSingle}): unbounded allocation`);
    this.total += bytes;
    if (bytes > this.largest) this.largest = bytes;
    if (this.total > this.maxTotal)
      throw new BudgetExceeded(`${this.what}: allocated ${this.total} bytes in all (budget ${this.maxTotal}): unbounded allocation`);
  }
}

function requestedBytes(name: string, bpe: number, args: unknown[]): number {
  const a0 = args[0];
  if (name === 'ArrayBuffer' || name === 'SharedArrayBuffer') return typeof a0 === 'number' ? a0 : 0;
  if (typeof a0 === 'number') return a0 * bpe;
  if (a0 instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && a0 instanceof SharedArrayBuffer)) return 0;
  if (a0 !== null && typeof a0 === 'object' && 'length' in a0) return Number((a0 as { length: unknown }).length) * bpe;
  return 0;
}

/** Runs `fn` (sync or async) with typed-array and ArrayBuffer constructions charged to `meter`. */
export async function withAllocMeter<T>(meter: AllocMeter, fn: () => T | Promise<T>): Promise<T> {
  const g = globalThis as unknown as Record<string, unknown>;
  const names = ['ArrayBuffer', 'SharedArrayBuffer', ...TYPED];
  const saved = names.map((n) => g[n]);
  names.forEach((n, i) => {
    const ctor = saved[i] as (new (...a: unknown[]) => unknown) & { BYTES_PER_ELEMENT?: number };
    if (typeof ctor !== 'function') return;
    const bpe = ctor.BYTES_PER_ELEMENT ?? 1;
    g[n] = new Proxy(ctor, {
      construct(target, args, newTarget) {
        meter.charge(requestedBytes(n, bpe, args), `new ${n}`);
        return Reflect.construct(target, args, newTarget === g[n] ? target : newTarget) as object;
      },
    });
  });
  try {
    return await fn();
  } finally {
    names.forEach((n, i) => (g[n] = saved[i]));
  }
}
