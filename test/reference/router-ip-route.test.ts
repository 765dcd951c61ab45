// The router's route choice against the Linux kernel's FIB: the same random IPv4 and IPv6
// tables are installed in a namespace of our own, on veth links standing for netvm ports
// (p0..p3; `pnone` carries the kernel's default route when the table has none, and stands
// for "no route"), and `ip route get` answers for thousands of random destinations (in one
// `ip -batch` process per table). The router NF routes the same destinations through the
// offline harness. Every disagreement is printed with the table and the address.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNFHarness } from '../../src/nflib/testing.js';
import { buildPacket } from '../../src/proto/build.js';
import { formatIpv4, formatIpv6 } from '../../src/proto/address.js';
import { rng } from '../fixtures/traffic.js';
import router from '../../nfs/router/index.js';
import { Netns, referenceSkip } from './netns.js';

const TABLES = 4;
const LOOKUPS = 1500;
const PORTS = ['p0', 'p1', 'p2', 'p3'];
const skip = referenceSkip(['ip']);

type Rnd = () => number;

function randomV4(r: Rnd): number {
  for (;;) {
    const a = Math.floor(r() * 0x100000000) >>> 0;
    const top = a >>> 24;
    if (top !== 0 && top !== 127 && top < 224) return a;
  }
}
function randomV6(r: Rnd): Uint8Array {
  const b = new Uint8Array(16);
  for (let i = 0; i < 16; i++) b[i] = Math.floor(r() * 256);
  b[0] = 0x20 | (b[0] & 0x1f); // 2000::/3, global unicast
  return b;
}
function maskV4(a: number, len: number): number {
  return len === 0 ? 0 : (a & (0xffffffff << (32 - len))) >>> 0;
}
function maskV6(b: Uint8Array, len: number): Uint8Array {
  const o = b.slice();
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    o[i] &= (0xff << (8 - keep)) & 0xff;
  }
  return o;
}
/** A random address inside prefix (base, len). */
function insideV4(r: Rnd, base: number, len: number): number {
  const host = len === 32 ? 0 : Math.floor(r() * 2 ** (32 - len));
  return (base + host) >>> 0;
}
function insideV6(r: Rnd, base: Uint8Array, len: number): Uint8Array {
  const o = randomV6(r);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    const m = (0xff << (8 - keep)) & 0xff;
    o[i] = (base[i] & m) | (o[i] & ~m & 0xff);
  }
  return o;
}

test(
  'reference: the router picks the same port as the kernel (ip route get) for random IPv4/IPv6 tables',
  { skip, timeout: 300_000 },
  async () => {
    const r = rng(77001);
    let cases = 0;
    let routed = 0;
    const mismatches: string[] = [];
    for (let t = 0; t < TABLES; t++) {
      const ns = new Netns(`rtref${t}`);
      try {
        for (const d of [...PORTS, 'pnone']) {
          // veth pairs (the dummy driver may be missing in containers); a link needs its peer up.
          ns.ip(['link', 'add', d, 'type', 'veth', 'peer', 'name', `${d}peer`]);
          ns.ip(['link', 'set', `${d}peer`, 'up']);
          ns.ip(['link', 'set', d, 'up']);
        }
        const routes: { prefix: string; port: string; nextHopMac: string }[] = [];
        const v4: [number, number][] = [];
        const v6: [Uint8Array, number][] = [];
        const seen = new Set<string>();
        const add = (prefix: string, port: string): void => {
          if (seen.has(prefix)) return;
          seen.add(prefix);
          routes.push({ prefix, port, nextHopMac: `02:00:00:00:0${PORTS.indexOf(port)}:01` });
        };
        for (let i = 0; i < 60; i++) {
          const len = 4 + Math.floor(r() * 29);
          // Nest some prefixes inside earlier ones so longest-prefix matching is exercised.
          const base = i > 0 && r() < 0.4 ? insideV4(r, v4[Math.floor(r() * v4.length)][0], v4[0][1]) : randomV4(r);
          const p = maskV4(base, len);
          v4.push([p, len]);
          add(`${formatIpv4(p)}/${len}`, PORTS[Math.floor(r() * 4)]);
        }
        for (let i = 0; i < 60; i++) {
          const len = 8 + Math.floor(r() * 121);
          const base = i > 0 && r() < 0.4 ? insideV6(r, v6[Math.floor(r() * v6.length)][0], 16) : randomV6(r);
          const p = maskV6(base, len);
          v6.push([p, len]);
          add(`${formatIpv6(p)}/${len}`, PORTS[Math.floor(r() * 4)]);
        }
        const default4 = r() < 0.5 ? PORTS[Math.floor(r() * 4)] : null;
        const default6 = r() < 0.5 ? PORTS[Math.floor(r() * 4)] : null;
        if (default4) add('0.0.0.0/0', default4);
        if (default6) add('::/0', default6);
        const batch = routes.map((x) => `route add ${x.prefix} dev ${x.port}`);
        if (!default4) batch.push('route add 0.0.0.0/0 dev pnone');
        if (!default6) batch.push('route add ::/0 dev pnone');
        ns.ip(['-batch', '-'], batch.join('\n') + '\n');

        const dests: string[] = [];
        for (let k = 0; k < LOOKUPS; k++) {
          const six = r() < 0.5;
          if (six) {
            const [b, l] = v6[Math.floor(r() * v6.length)];
            dests.push(formatIpv6(r() < 0.75 ? insideV6(r, b, l) : randomV6(r)));
          } else {
            const [b, l] = v4[Math.floor(r() * v4.length)];
            dests.push(formatIpv4(r() < 0.75 ? insideV4(r, b, l) : randomV4(r)));
          }
        }
        const out = ns.ip(['-batch', '-'], dests.map((d) => `route get ${d}`).join('\n') + '\n');
        // One answer per query; continuation lines are indented.
        const answers = out.split('\n').filter((l) => l.length > 0 && !/^\s/.test(l));
        assert.equal(answers.length, dests.length, `ip route get gave ${answers.length} answers for ${dests.length} queries`);

        const interfaces = Object.fromEntries(PORTS.map((p, i) => [p, { mac: `02:00:00:00:0${i}:fe` }]));
        const h = await createNFHarness(router, { args: { interfaces, routes }, ports: [...PORTS] });
        const res = h.push(
          dests.map((d) =>
            buildPacket(
              d.includes(':')
                ? { src: '2001:db8::1', dst: d, proto: 'udp', srcPort: 1, dstPort: 2 }
                : { src: '192.0.2.1', dst: d, proto: 'udp', srcPort: 1, dstPort: 2 },
            ),
          ),
        );
        dests.forEach((d, k) => {
          const kernel = /\bdev (\S+)/.exec(answers[k])?.[1] ?? `? (${answers[k]})`;
          const want = kernel === 'pnone' ? 'no route' : kernel;
          const got = res[k].action === 'toPort' ? (res[k].dest ?? '?') : 'no route';
          cases++;
          if (got !== 'no route') routed++;
          if (got !== want)
            mismatches.push(`table ${t}: ${d}: netvm ${got}, kernel ${want} (${answers[k]})\n  routes: ${JSON.stringify(routes)}`);
        });
        await h.close();
      } finally {
        ns.remove();
      }
    }
    console.log(
      `router vs ip route get: ${cases} lookups over ${TABLES} tables (${routed} routed, ${cases - routed} no route), ${mismatches.length} mismatches`,
    );
    for (const m of mismatches.slice(0, 10)) console.log(m);
    assert.equal(mismatches.length, 0, `${mismatches.length} lookups differ from the kernel (first ones printed above)`);
  },
);
