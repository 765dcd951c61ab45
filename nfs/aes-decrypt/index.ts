// aes-decrypt: the inverse of aes-encrypt — reads the IV from the first 16 bytes of a UDP
// payload, decrypts the rest with AES-CTR (the key from the config), and shrinks the packet by
// those 16 bytes with lengths and checksums fixed. It reads anything `openssl enc -aes-*-ctr`
// writes when the IV is sent in front of the ciphertext. See ../aes-encrypt/udp-aes.ts.
import { defineNF, type NFContext } from '../../src/nflib/index.js';
import { loadKey, parseAesArgs, UdpAes, type AesArgs } from '../aes-encrypt/udp-aes.js';

const NF = 'aes-decrypt';
const states = new WeakMap<object, UdpAes>();

export default defineNF<AesArgs>({
  name: NF,
  args: (raw) => parseAesArgs(NF, raw, false),
  setup: (ctx: NFContext<AesArgs>) => {
    const st = new UdpAes(loadKey(NF, ctx.args), false, ctx.args, new Uint8Array(8));
    states.set(ctx, st);
    st.publish(ctx.counters);
  },
  process: (batch, ctx) => {
    const st = states.get(ctx);
    if (st === undefined) return;
    st.process(batch);
    st.publish(ctx.counters);
  },
});
