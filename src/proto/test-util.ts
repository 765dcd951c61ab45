/** Helpers shared by the proto tests (not part of the library API). */

/** Deterministic PRNG (mulberry32) so randomized tests reproduce exactly. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const be16 = (u8: Uint8Array, o: number): number => (u8[o] << 8) | u8[o + 1];

export const be32 = (u8: Uint8Array, o: number): number => ((u8[o] << 24) | (u8[o + 1] << 16) | (u8[o + 2] << 8) | u8[o + 3]) >>> 0;

export const hex = (u8: Uint8Array): string => Buffer.from(u8).toString('hex');

export const fromHex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
