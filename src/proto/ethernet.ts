/**
 * Ethernet II header accessors (IEEE 802.3 framing, EtherType form). `o` is the frame start.
 *
 * MAC addresses are handled as two numbers, the high 16 bits and the low 32 bits, so that
 * comparing, hashing or storing one never allocates (a 48-bit value would fit a double, but the
 * split keeps everything in 32-bit integer arithmetic, which V8 compiles to plain int ops).
 */

export const ETH_DST = 0;
export const ETH_SRC = 6;
export const ETH_TYPE = 12;

/** High 16 bits of the MAC at `off` (bytes 0..1). */
export function macHi16(u8: Uint8Array, off: number): number {
  return (u8[off] << 8) | u8[off + 1];
}

/** Low 32 bits of the MAC at `off` (bytes 2..5), unsigned. */
export function macLo32(u8: Uint8Array, off: number): number {
  return ((u8[off + 2] << 24) | (u8[off + 3] << 16) | (u8[off + 4] << 8) | u8[off + 5]) >>> 0;
}

/** Writes a MAC given as (high 16 bits, low 32 bits). */
export function writeMac(u8: Uint8Array, off: number, hi16: number, lo32: number): void {
  u8[off] = hi16 >>> 8;
  u8[off + 1] = hi16;
  u8[off + 2] = lo32 >>> 24;
  u8[off + 3] = lo32 >>> 16;
  u8[off + 4] = lo32 >>> 8;
  u8[off + 5] = lo32;
}

/** Copies 6 MAC bytes; an explicit loop is faster than `set(subarray())`, which allocates. */
export function copyMac(src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number): void {
  dst[dstOff] = src[srcOff];
  dst[dstOff + 1] = src[srcOff + 1];
  dst[dstOff + 2] = src[srcOff + 2];
  dst[dstOff + 3] = src[srcOff + 3];
  dst[dstOff + 4] = src[srcOff + 4];
  dst[dstOff + 5] = src[srcOff + 5];
}

export function macEquals(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  return (
    a[aOff] === b[bOff] &&
    a[aOff + 1] === b[bOff + 1] &&
    a[aOff + 2] === b[bOff + 2] &&
    a[aOff + 3] === b[bOff + 3] &&
    a[aOff + 4] === b[bOff + 4] &&
    a[aOff + 5] === b[bOff + 5]
  );
}

/** Group bit: least significant bit of the first octet (IEEE 802 §8.2). Broadcast included. */
export function isMulticastMac(u8: Uint8Array, off: number): boolean {
  return (u8[off] & 1) !== 0;
}

export function isBroadcastMac(u8: Uint8Array, off: number): boolean {
  return (u8[off] & u8[off + 1] & u8[off + 2] & u8[off + 3] & u8[off + 4] & u8[off + 5]) === 0xff;
}

export function ethDstHi16(u8: Uint8Array, o: number): number {
  return macHi16(u8, o);
}

export function ethDstLo32(u8: Uint8Array, o: number): number {
  return macLo32(u8, o);
}

export function ethSrcHi16(u8: Uint8Array, o: number): number {
  return macHi16(u8, o + ETH_SRC);
}

export function ethSrcLo32(u8: Uint8Array, o: number): number {
  return macLo32(u8, o + ETH_SRC);
}

export function setEthDst(u8: Uint8Array, o: number, hi16: number, lo32: number): void {
  writeMac(u8, o, hi16, lo32);
}

export function setEthSrc(u8: Uint8Array, o: number, hi16: number, lo32: number): void {
  writeMac(u8, o + ETH_SRC, hi16, lo32);
}

/** EtherType of an untagged frame (or the first TPID of a tagged one). */
export function ethType(u8: Uint8Array, o: number): number {
  return (u8[o + ETH_TYPE] << 8) | u8[o + ETH_TYPE + 1];
}

export function setEthType(u8: Uint8Array, o: number, v: number): void {
  u8[o + ETH_TYPE] = v >>> 8;
  u8[o + ETH_TYPE + 1] = v;
}

/** Swaps source and destination MACs in place, e.g. to bounce a frame back out its port. */
export function swapEthAddrs(u8: Uint8Array, o: number): void {
  for (let i = 0; i < 6; i++) {
    const t = u8[o + i];
    u8[o + i] = u8[o + 6 + i];
    u8[o + 6 + i] = t;
  }
}
