// drop: drops every packet — or, with `every: n`, only every nth one (packets n, 2n, ...)
// and passes the rest on, to test how a chain copes with loss.
import { defineNF, argError, type NFContext } from '../../src/nflib/index.js';

export interface DropArgs {
  every: number;
}

const NF = 'drop';
const KNOWN = ['every'];

interface State {
  every: number;
  /** Packets seen since the last drop (0..every-1). */
  phase: number;
  dropped: number;
}
const states = new WeakMap<object, State>();

export default defineNF<DropArgs>({
  name: NF,
  args: (raw) => {
    for (const k of Object.keys(raw))
      if (!KNOWN.includes(k)) throw argError(NF, k, `is not an argument of ${NF} (known: ${KNOWN.join(', ')})`);
    const every = raw.every ?? 1;
    if (typeof every !== 'number' || !Number.isInteger(every) || every < 1)
      throw argError(NF, 'every', `must be an integer >= 1 (1 drops every packet), got ${JSON.stringify(every)}`);
    return { every };
  },
  setup: (ctx: NFContext<DropArgs>) => {
    states.set(ctx, { every: ctx.args.every, phase: 0, dropped: 0 });
    ctx.counters.dropped = 0;
  },
  process: (batch, ctx) => {
    const st = states.get(ctx);
    if (st === undefined) return;
    const every = st.every;
    let phase = st.phase;
    let dropped = 0;
    for (let i = 0; i < batch.length; i++) {
      const pkt = batch.packets[i];
      if (++phase === every) {
        phase = 0;
        pkt.drop();
        dropped++;
      } else pkt.next();
    }
    st.phase = phase;
    st.dropped += dropped;
    ctx.counters.dropped = st.dropped;
  },
});
