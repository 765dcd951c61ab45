// aes-encrypt: encrypts the payload of UDP packets with AES in counter mode, in place, as
// IV ‖ ciphertext (the format and its reasons are in udp-aes.ts and the README). The packet
// grows by 16 bytes; lengths and checksums follow. aes-decrypt undoes it, and so does
// `openssl enc -d -aes-128-ctr -K <key> -iv <first 16 payload bytes>` on the rest.
import crypto from 'node:crypto';
import { defineNF, type NFContext } from '../../src/nflib/index.js';
import { loadKey, parseAesArgs, UdpAes, type AesArgs } from './udp-aes.js';

const NF = 'aes-encrypt';
const states = new WeakMap<object, UdpAes>();

export default defineNF<AesArgs>({
  name: NF,
  args: (raw) => parseAesArgs(NF, raw, true),
  setup: (ctx: NFContext<AesArgs>) => {
    const key = loadKey(NF, ctx.args);
    // A random nonce prefix per instance keeps instances (and restarts) from ever sharing a
    // keystream block under the same key.
    const prefix = ctx.args.noncePrefix !== undefined ? Buffer.from(ctx.args.noncePrefix, 'hex') : crypto.randomBytes(8);
    const st = new UdpAes(key, true, ctx.args, prefix);
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
