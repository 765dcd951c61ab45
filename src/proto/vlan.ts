/**
 * IEEE 802.1Q VLAN tag accessors. `o` is the offset of a 4-byte tag: TPID (2 bytes) then TCI
 * (PCP 3 bits, DEI 1 bit, VID 12 bits). The next tag or the encapsulated EtherType follows at
 * o + 4. In an Ethernet frame starting at f, the outermost tag is at f + 12.
 */

import { ETH_P_QINQ, ETH_P_QINQ_OLD, ETH_P_VLAN } from './constants.js';

/** True for TPIDs that start a tag: 802.1Q C-tag, 802.1ad S-tag and the legacy 0x9100. */
export function isVlanTpid(t: number): boolean {
  return t === ETH_P_VLAN || t === ETH_P_QINQ || t === ETH_P_QINQ_OLD;
}

export function vlanTpid(u8: Uint8Array, o: number): number {
  return (u8[o] << 8) | u8[o + 1];
}

export function setVlanTpid(u8: Uint8Array, o: number, v: number): void {
  u8[o] = v >>> 8;
  u8[o + 1] = v;
}

export function vlanTci(u8: Uint8Array, o: number): number {
  return (u8[o + 2] << 8) | u8[o + 3];
}

export function setVlanTci(u8: Uint8Array, o: number, v: number): void {
  u8[o + 2] = v >>> 8;
  u8[o + 3] = v;
}

/** 12-bit VLAN identifier. */
export function vlanId(u8: Uint8Array, o: number): number {
  return ((u8[o + 2] & 0x0f) << 8) | u8[o + 3];
}

/** Sets the VID, keeping PCP and DEI. */
export function setVlanId(u8: Uint8Array, o: number, vid: number): void {
  u8[o + 2] = (u8[o + 2] & 0xf0) | ((vid >>> 8) & 0x0f);
  u8[o + 3] = vid;
}

/** 3-bit priority code point (IEEE 802.1Q §6.9.3). */
export function vlanPcp(u8: Uint8Array, o: number): number {
  return u8[o + 2] >>> 5;
}

export function setVlanPcp(u8: Uint8Array, o: number, pcp: number): void {
  u8[o + 2] = (u8[o + 2] & 0x1f) | ((pcp & 7) << 5);
}

/** Drop eligible indicator. */
export function vlanDei(u8: Uint8Array, o: number): number {
  return (u8[o + 2] >>> 4) & 1;
}

/** EtherType (or next TPID) following this tag. */
export function vlanInnerType(u8: Uint8Array, o: number): number {
  return (u8[o + 4] << 8) | u8[o + 5];
}

/**
 * Inserts a tag right after the MACs of the frame starting at `off`, in place: the 12 MAC bytes
 * move 4 bytes towards the buffer start, so the caller needs 4 bytes of headroom (off >= 4).
 * Returns the new frame start (off - 4), or -1 when there is no headroom.
 */
export function vlanPush(u8: Uint8Array, off: number, tci: number, tpid: number): number {
  if (off < 4) return -1;
  const n = off - 4;
  u8.copyWithin(n, off, off + 12);
  u8[n + 12] = tpid >>> 8;
  u8[n + 13] = tpid;
  u8[n + 14] = tci >>> 8;
  u8[n + 15] = tci;
  return n;
}

/**
 * Removes the outermost tag of the frame at `off` in place by moving the MACs 4 bytes forward.
 * Returns the new frame start (off + 4), or -1 when the frame is not tagged.
 */
export function vlanPop(u8: Uint8Array, off: number, len: number): number {
  if (len < 18 || !isVlanTpid((u8[off + 12] << 8) | u8[off + 13])) return -1;
  u8.copyWithin(off + 4, off, off + 12);
  return off + 4;
}
