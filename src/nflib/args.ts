// Reading an NF's arguments at start: each getter checks one field and throws
// NetvmError('NETVM_NF_ARGS') naming it (`NF "vlan": args.vid must be ...`), so a bad config
// fails before any packet flows. Unknown fields are errors too (a typo is not a default).
import { argError } from './define-nf.js';
import type { NetvmError } from '../core/errors.js';

export interface NumberRule {
  min?: number;
  max?: number;
  /** Whole numbers only. */
  integer?: boolean;
  /** Strictly above `min` (for rates and sizes that cannot be 0). */
  exclusiveMin?: boolean;
}

export class ArgReader {
  readonly nf: string;
  readonly raw: Record<string, unknown>;

  constructor(nf: string, raw: Record<string, unknown>, known: readonly string[]) {
    this.nf = nf;
    this.raw = raw ?? {};
    if (typeof this.raw !== 'object' || Array.isArray(this.raw)) throw argError(nf, '(args)', 'must be an object');
    for (const k of Object.keys(this.raw))
      if (!known.includes(k)) throw argError(nf, k, `is not an argument of ${nf} (known: ${known.join(', ')})`);
  }

  /** An error naming `field` (for checks across fields). */
  error(field: string, problem: string): NetvmError {
    return argError(this.nf, field, problem);
  }

  has(field: string): boolean {
    return this.raw[field] !== undefined;
  }

  private describe(rule: NumberRule): string {
    const kind = rule.integer ? 'an integer' : 'a number';
    const lo = rule.min === undefined ? '' : `${rule.exclusiveMin ? '>' : '>='} ${rule.min}`;
    const hi = rule.max === undefined ? '' : `<= ${rule.max}`;
    return [kind, [lo, hi].filter((x) => x !== '').join(' and ')].filter((x) => x !== '').join(' ');
  }

  /** A number; `dflt` when absent (undefined dflt: required). */
  number(field: string, rule: NumberRule, dflt?: number): number {
    const v = this.raw[field] ?? dflt;
    if (v === undefined) throw this.error(field, `is required: ${this.describe(rule)}`);
    const ok =
      typeof v === 'number' &&
      Number.isFinite(v) &&
      (!rule.integer || Number.isInteger(v)) &&
      (rule.min === undefined || (rule.exclusiveMin ? v > rule.min : v >= rule.min)) &&
      (rule.max === undefined || v <= rule.max);
    if (!ok) throw this.error(field, `must be ${this.describe(rule)}, got ${JSON.stringify(v)}`);
    return v as number;
  }

  optionalNumber(field: string, rule: NumberRule): number | undefined {
    return this.has(field) ? this.number(field, rule) : undefined;
  }

  int(field: string, min: number, max: number, dflt?: number): number {
    return this.number(field, { integer: true, min, max }, dflt);
  }

  bool(field: string, dflt: boolean): boolean {
    const v = this.raw[field] ?? dflt;
    if (typeof v !== 'boolean') throw this.error(field, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  /** One of `values`; `dflt` when absent (undefined dflt: required). */
  oneOf<T extends string>(field: string, values: readonly T[], dflt?: T): T {
    const v = this.raw[field] ?? dflt;
    const list = values.map((x) => `"${x}"`).join(', ');
    if (v === undefined) throw this.error(field, `is required: one of ${list}`);
    if (typeof v !== 'string' || !values.includes(v as T)) throw this.error(field, `must be one of ${list}, got ${JSON.stringify(v)}`);
    return v as T;
  }

  /** A non-empty string; undefined when absent and not required. */
  string(field: string, required: true, what?: string): string;
  string(field: string, required?: false, what?: string): string | undefined;
  string(field: string, required = false, what = 'a non-empty string'): string | undefined {
    const v = this.raw[field];
    if (v === undefined) {
      if (required) throw this.error(field, `is required: ${what}`);
      return undefined;
    }
    if (typeof v !== 'string' || v.length === 0) throw this.error(field, `must be ${what}, got ${JSON.stringify(v)}`);
    return v;
  }
}
