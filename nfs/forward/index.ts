// forward: passes every packet on — to the next step of its chain (default), to a named
// service (`to`), or out of a named port (`port`). The simplest NF, and the one the chain
// benchmarks and end-to-end tests use as a pass-through.
import { defineNF, argError, type NFContext } from '../../src/nflib/index.js';

export interface ForwardArgs {
  /** Service to send every packet to (toService), instead of the chain's next step. */
  to?: string;
  /** Port to send every packet out of (toPort). */
  port?: string;
}

const NF = 'forward';
const KNOWN = ['to', 'port'];

function optionalName(raw: Record<string, unknown>, field: string, what: string): string | undefined {
  const v = raw[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0)
    throw argError(NF, field, `must be a ${what} name (a non-empty string), got ${JSON.stringify(v)}`);
  return v;
}

const MODE_NEXT = 0;
const MODE_SERVICE = 1;
const MODE_PORT = 2;

/** Per instance: where packets go, resolved to an id once in setup. */
interface State {
  mode: number;
  dest: number;
  forwarded: number;
}
const states = new WeakMap<object, State>();

export default defineNF<ForwardArgs>({
  name: NF,
  args: (raw) => {
    for (const k of Object.keys(raw))
      if (!KNOWN.includes(k)) throw argError(NF, k, `is not an argument of ${NF} (known: ${KNOWN.join(', ')})`);
    const to = optionalName(raw, 'to', 'service');
    const port = optionalName(raw, 'port', 'port');
    if (to !== undefined && port !== undefined) throw argError(NF, 'port', 'cannot be combined with args.to: give one destination');
    const out: ForwardArgs = {};
    if (to !== undefined) out.to = to;
    if (port !== undefined) out.port = port;
    return out;
  },
  setup: (ctx: NFContext<ForwardArgs>) => {
    const { to, port } = ctx.args;
    // Sending every packet to its own service would bounce it between this service's
    // instances for ever (toService does not advance the chain).
    if (to !== undefined && to === ctx.service)
      throw argError(NF, 'to', `names this NF's own service "${to}": every packet would loop back to it`);
    // Unknown names fail here, at start, with the list of known ones.
    const st: State =
      to !== undefined
        ? { mode: MODE_SERVICE, dest: ctx.serviceId(to), forwarded: 0 }
        : port !== undefined
          ? { mode: MODE_PORT, dest: ctx.portId(port), forwarded: 0 }
          : { mode: MODE_NEXT, dest: -1, forwarded: 0 };
    states.set(ctx, st);
    ctx.counters.forwarded = 0;
  },
  process: (batch, ctx) => {
    const st = states.get(ctx);
    if (st === undefined) return; // setup did not run: leave every packet on next()
    const n = batch.length;
    const pkts = batch.packets;
    if (st.mode === MODE_SERVICE) for (let i = 0; i < n; i++) pkts[i].toService(st.dest);
    else if (st.mode === MODE_PORT) for (let i = 0; i < n; i++) pkts[i].toPort(st.dest);
    else for (let i = 0; i < n; i++) pkts[i].next();
    st.forwarded += n;
    ctx.counters.forwarded = st.forwarded;
  },
});
