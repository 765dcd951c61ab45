// Copying packet bytes between the kernel's ring and the pool without a per-packet
// allocation (a `subarray` per packet would be one) and without a native call: a word loop
// when source and destination share their alignment modulo 4, which the afpacket port
// arranges by choosing the destination's offset, else a byte loop.

/**
 * Copies `len` bytes from (a8/a32, byte offset s) to (b8/b32, byte offset d). a32/b32 are
 * Int32Array views of the same memory as a8/b8 (int32 copies are bit-exact; a Float64Array
 * copy could rewrite NaN patterns).
 */
export function copyBytes(a8: Uint8Array, a32: Int32Array, s: number, b8: Uint8Array, b32: Int32Array, d: number, len: number): void {
  let i = 0;
  if (((s ^ d) & 3) === 0 && len >= 16) {
    while (((s + i) & 3) !== 0) {
      b8[d + i] = a8[s + i];
      i++;
    }
    let sw = (s + i) >> 2;
    let dw = (d + i) >> 2;
    const words = (len - i) >> 2;
    const end = sw + words;
    // Four words per round: fewer loop checks for the 1500-byte case.
    const end4 = sw + (words & ~3);
    while (sw < end4) {
      b32[dw] = a32[sw];
      b32[dw + 1] = a32[sw + 1];
      b32[dw + 2] = a32[sw + 2];
      b32[dw + 3] = a32[sw + 3];
      sw += 4;
      dw += 4;
    }
    while (sw < end) b32[dw++] = a32[sw++];
    i += words << 2;
  }
  for (; i < len; i++) b8[d + i] = a8[s + i];
}
