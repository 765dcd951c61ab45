// vlan: pushes, pops or rewrites IEEE 802.1Q tags (802.1Q-2018 §9.6: a 4-byte tag — TPID,
// then the TCI with PCP 3 bits, DEI 1 bit, VID 12 bits — right after the source MAC).
//
//   push     adds an outermost tag (on an already tagged frame it stacks one, as QinQ does,
//            unless onTagged is "skip"); the frame grows by 4 bytes into the buffer's headroom.
//   pop      removes the outermost tag; the frame shrinks by 4 bytes (a NIC pads frames
//            below 60 bytes on the wire; they are left as they are here).
//   rewrite  sets the VID (and the PCP, if given) of the outermost tag.
//
// pop and rewrite act only on tagged frames, and with matchVid only on frames whose outermost
// VID is that one; other frames go on unchanged (or are dropped with other: "drop"). Only
// layer 2 matters: a frame whose IP header is broken is tagged like any other. Frames too
// short for an Ethernet header, or cut inside a tag, are counted as malformed and dropped.
import {
  ArgReader,
  defineNF,
  ETH_P_QINQ,
  ETH_P_QINQ_OLD,
  ETH_P_VLAN,
  isVlanTpid,
  setVlanId,
  setVlanPcp,
  vlanId,
  vlanPop,
  vlanPush,
  type PacketBatch,
} from '../../src/nflib/index.js';

export interface VlanArgs {
  action: 'push' | 'pop' | 'rewrite';
  /** push: the new tag's VID; rewrite: the VID written (absent: VID kept). */
  vid?: number;
  /** push: the new tag's PCP (default 0); rewrite: the PCP written (absent: PCP kept). */
  pcp?: number;
  /** push: the DEI bit (default 0). */
  dei: number;
  /** push: the tag's TPID (0x8100 C-tag, 0x88a8 S-tag, 0x9100). */
  tpid: number;
  /** push: what to do with frames that already carry a tag. */
  onTagged: 'stack' | 'skip';
  /** pop/rewrite: act only on frames whose outermost VID is this. */
  matchVid?: number;
  /** Frames the action does not apply to: pass them on ("next") or drop them. */
  other: 'next' | 'drop';
}

const NF = 'vlan';
const KNOWN = ['action', 'vid', 'pcp', 'dei', 'tpid', 'onTagged', 'matchVid', 'other'];
const TPIDS = [ETH_P_VLAN, ETH_P_QINQ, ETH_P_QINQ_OLD];

function parseArgs(raw: Record<string, unknown>): VlanArgs {
  const r = new ArgReader(NF, raw, KNOWN);
  const action = r.oneOf('action', ['push', 'pop', 'rewrite'] as const);
  const vid = r.has('vid') ? r.int('vid', 0, 4095) : undefined;
  const pcp = r.has('pcp') ? r.int('pcp', 0, 7) : undefined;
  const dei = r.int('dei', 0, 1, 0);
  let tpid = ETH_P_VLAN;
  if (r.has('tpid')) {
    const t = r.raw.tpid;
    const n = typeof t === 'string' && /^0x[0-9a-f]{4}$/i.test(t) ? parseInt(t, 16) : t;
    if (typeof n !== 'number' || !TPIDS.includes(n))
      throw r.error(
        'tpid',
        `must be 0x8100 (802.1Q C-tag), 0x88a8 (802.1ad S-tag) or 0x9100, as a number or "0x...", got ${JSON.stringify(t)}`,
      );
    tpid = n;
  }
  const onTagged = r.oneOf('onTagged', ['stack', 'skip'] as const, 'stack');
  const matchVid = r.has('matchVid') ? r.int('matchVid', 0, 4095) : undefined;
  const other = r.oneOf('other', ['next', 'drop'] as const, 'next');
  if (action === 'push') {
    if (vid === undefined) throw r.error('vid', 'is required for action "push": the new tag\'s VLAN id, 0..4095');
    if (matchVid !== undefined) throw r.error('matchVid', 'applies to "pop" and "rewrite" only (push tags every frame)');
  } else {
    for (const f of ['dei', 'tpid', 'onTagged']) if (r.has(f)) throw r.error(f, `applies to action "push" only (action is "${action}")`);
    if (action === 'pop' && (vid !== undefined || pcp !== undefined))
      throw r.error(vid !== undefined ? 'vid' : 'pcp', 'does not apply to action "pop" (use matchVid to pop only one VLAN)');
    if (action === 'rewrite' && vid === undefined && pcp === undefined)
      throw r.error('vid', 'or args.pcp is required for action "rewrite"');
  }
  const out: VlanArgs = { action, dei, tpid, onTagged, other };
  if (vid !== undefined) out.vid = vid;
  if (pcp !== undefined) out.pcp = pcp;
  if (matchVid !== undefined) out.matchVid = matchVid;
  return out;
}

const A_PUSH = 0;
const A_POP = 1;
const A_REWRITE = 2;

class VlanState {
  readonly action: number;
  readonly tci: number;
  readonly tpid: number;
  readonly skipTagged: boolean;
  readonly matchVid: number;
  readonly newVid: number;
  readonly newPcp: number;
  readonly dropOther: boolean;
  pushed = 0;
  popped = 0;
  rewritten = 0;
  untagged = 0;
  unmatched = 0;
  malformed = 0;
  noHeadroom = 0;

  constructor(a: VlanArgs) {
    this.action = a.action === 'push' ? A_PUSH : a.action === 'pop' ? A_POP : A_REWRITE;
    // IEEE 802.1Q §6.9.3: PCP in the top 3 bits, then DEI, then the 12-bit VID.
    this.tci = ((a.pcp ?? 0) << 13) | (a.dei << 12) | (a.vid ?? 0);
    this.tpid = a.tpid;
    this.skipTagged = a.onTagged === 'skip';
    this.matchVid = a.matchVid ?? -1;
    this.newVid = a.vid ?? -1;
    this.newPcp = a.pcp ?? -1;
    this.dropOther = a.other === 'drop';
  }

  publish(c: Record<string, number>): void {
    c.pushed = this.pushed;
    c.popped = this.popped;
    c.rewritten = this.rewritten;
    c.untagged = this.untagged;
    c.unmatched = this.unmatched;
    c.malformed = this.malformed;
    c.noHeadroom = this.noHeadroom;
  }
}

const states = new WeakMap<object, VlanState>();

function run(st: VlanState, batch: PacketBatch): void {
  for (let i = 0; i < batch.length; i++) {
    const pkt = batch.packets[i];
    const u8 = pkt.u8;
    const off = pkt.offset;
    const len = pkt.length;
    if (len < 14) {
      st.malformed++;
      pkt.drop();
      continue;
    }
    const tagged = isVlanTpid((u8[off + 12] << 8) | u8[off + 13]);
    if (tagged && len < 18) {
      st.malformed++; // cut inside the tag
      pkt.drop();
      continue;
    }
    pkt.next();
    if (st.action === A_PUSH) {
      if (tagged && st.skipTagged) {
        st.unmatched++;
        if (st.dropOther) pkt.drop();
        continue;
      }
      if (!pkt.prepend(4)) {
        st.noHeadroom++;
        pkt.drop();
        continue;
      }
      vlanPush(u8, off, st.tci, st.tpid);
      pkt.invalidate();
      st.pushed++;
      continue;
    }
    if (!tagged) {
      st.untagged++;
      if (st.dropOther) pkt.drop();
      continue;
    }
    if (st.matchVid >= 0 && vlanId(u8, off + 12) !== st.matchVid) {
      st.unmatched++;
      if (st.dropOther) pkt.drop();
      continue;
    }
    if (st.action === A_POP) {
      vlanPop(u8, off, len);
      pkt.trimFront(4);
      st.popped++;
    } else {
      if (st.newVid >= 0) setVlanId(u8, off + 12, st.newVid);
      if (st.newPcp >= 0) setVlanPcp(u8, off + 12, st.newPcp);
      pkt.invalidate();
      st.rewritten++;
    }
  }
}

export default defineNF<VlanArgs>({
  name: NF,
  args: parseArgs,
  setup: (ctx) => {
    const st = new VlanState(ctx.args);
    states.set(ctx, st);
    st.publish(ctx.counters);
  },
  process: (batch, ctx) => {
    const st = states.get(ctx);
    if (st === undefined) return;
    run(st, batch);
    st.publish(ctx.counters);
  },
});
