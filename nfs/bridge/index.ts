// bridge: joins two ports, like a cable. A packet that entered on port `a` leaves by port
// `b` and one from `b` leaves by `a`. Packets from any other port are dropped (default) or
// continue along their chain (`other: next`).
import { defineNF, argError, type NFContext } from '../../src/nflib/index.js';

export interface BridgeArgs {
  a: string;
  b: string;
  other: 'drop' | 'next';
}

const NF = 'bridge';
const KNOWN = ['a', 'b', 'other'];

function portName(raw: Record<string, unknown>, field: string): string {
  const v = raw[field];
  if (v === undefined) throw argError(NF, field, 'is required: the name of a port');
  if (typeof v !== 'string' || v.length === 0)
    throw argError(NF, field, `must be a port name (a non-empty string), got ${JSON.stringify(v)}`);
  return v;
}

interface State {
  a: number;
  b: number;
  dropOther: boolean;
  aToB: number;
  bToA: number;
  other: number;
}
const states = new WeakMap<object, State>();

export default defineNF<BridgeArgs>({
  name: NF,
  args: (raw) => {
    for (const k of Object.keys(raw))
      if (!KNOWN.includes(k)) throw argError(NF, k, `is not an argument of ${NF} (known: ${KNOWN.join(', ')})`);
    const a = portName(raw, 'a');
    const b = portName(raw, 'b');
    if (a === b) throw argError(NF, 'b', `must be a different port from args.a ("${a}")`);
    const other = raw.other ?? 'drop';
    if (other !== 'drop' && other !== 'next') throw argError(NF, 'other', `must be "drop" or "next", got ${JSON.stringify(other)}`);
    return { a, b, other };
  },
  setup: (ctx: NFContext<BridgeArgs>) => {
    states.set(ctx, {
      a: ctx.portId(ctx.args.a),
      b: ctx.portId(ctx.args.b),
      dropOther: ctx.args.other === 'drop',
      aToB: 0,
      bToA: 0,
      other: 0,
    });
    ctx.counters.aToB = 0;
    ctx.counters.bToA = 0;
    ctx.counters.other = 0;
  },
  process: (batch, ctx) => {
    const st = states.get(ctx);
    if (st === undefined) return;
    const { a, b, dropOther } = st;
    let aToB = 0;
    let bToA = 0;
    let other = 0;
    for (let i = 0; i < batch.length; i++) {
      const pkt = batch.packets[i];
      const from = pkt.inPort;
      if (from === a) {
        pkt.toPort(b);
        aToB++;
      } else if (from === b) {
        pkt.toPort(a);
        bToA++;
      } else {
        if (dropOther) pkt.drop();
        else pkt.next();
        other++;
      }
    }
    st.aToB += aToB;
    st.bToA += bToA;
    st.other += other;
    ctx.counters.aToB = st.aToB;
    ctx.counters.bToA = st.bToA;
    ctx.counters.other = st.other;
  },
});
