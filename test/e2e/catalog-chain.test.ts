// The catalog chain firewall → nat → load-balancer → monitor on a replayed pcap, through the
// real CLI and NF processes, with the replies coming back through the reverse translations.
// A fixture NF (test/fixtures/nfs/reflector.ts) after the monitor answers each packet as the
// backend would; the chain then runs the replies through the load balancer, the NAT and the
// firewall again, in that (reverse) order:
//
//   in → fw → nat → lb → mon → reflector → lb → nat → fw → out
//
// Forward, the monitor must see every allowed client flow as external address : NAT port →
// backend : backend port. Back, each reply must reach `out` as exactly the original packet
// turned around (VIP → client, the client's own address and port), which only happens if the
// load balancer restored the VIP, the NAT restored the client, and the stateful firewall
// admitted the reply (its rules alone would deny it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describeFailure, repoRoot, runCli, tmpDir, uniqueName } from '../helpers/cli.js';
import { readPcapFile, writePcapFile } from '../../src/ports/pcap/pcap-format.js';
import { buildPacket, type PacketSpec } from '../../src/proto/build.js';
import { rng } from '../fixtures/traffic.js';

const VIP = '203.0.113.10';
const EXT = '198.18.0.1';
const WEB = ['198.51.100.1', '198.51.100.2', '198.51.100.3'];
const DNS = ['198.51.100.11', '198.51.100.12'];

/** What the far end answers: addresses, ports and MACs swapped, echo request → reply. */
function turnAround(s: PacketSpec): PacketSpec {
  return {
    ...s,
    src: s.dst,
    dst: s.src,
    srcPort: s.dstPort,
    dstPort: s.srcPort,
    srcMac: s.dstMac,
    dstMac: s.srcMac,
    icmpType: s.proto === 'icmp' ? 0 : undefined,
  };
}

test('e2e: firewall → nat → load-balancer → monitor on a pcap; replies traverse the reverse translations', async () => {
  const dir = tmpDir();
  const r = rng(909);
  const specs: { spec: PacketSpec; allowed: boolean; flow: string }[] = [];
  const clients = 40;
  for (let k = 0; k < 1200; k++) {
    const c = Math.floor(r() * clients);
    const kind = c % 8 === 7 ? 'ssh' : c % 8 === 6 ? 'ping' : c % 8 === 5 ? 'dns' : c % 13 === 4 ? 'banned' : 'web';
    const src = kind === 'banned' ? '10.0.0.66' : `10.1.${c >> 4}.${c & 15}`;
    const base = { srcMac: '02:00:00:00:00:0a', dstMac: '02:00:00:00:00:0b', src, dst: VIP, payload: `c${c} k${k}`, seq: k, icmpSeq: k };
    const spec: PacketSpec =
      kind === 'dns'
        ? { ...base, proto: 'udp', srcPort: 30000 + c, dstPort: 53 }
        : kind === 'ping'
          ? { ...base, proto: 'icmp', icmpId: 100 + c }
          : { ...base, proto: 'tcp', srcPort: 40000 + c, dstPort: kind === 'ssh' ? 22 : 80, tcpFlags: 0x18 };
    specs.push({ spec, allowed: kind !== 'ssh' && kind !== 'banned', flow: `${kind}:${c}` });
  }
  const input = specs.map((x, i) => ({ data: buildPacket(x.spec), tsSec: 1_700_000_000, tsNsec: i * 1000 }));
  writePcapFile(path.join(dir, 'in.pcap'), input);
  const reflector = path.join(repoRoot, 'test', 'fixtures', 'nfs', 'reflector.ts');
  fs.writeFileSync(
    path.join(dir, 'chain.yaml'),
    `ports:
  in:  { driver: pcap, read: in.pcap }
  out: { driver: pcap, write: out.pcap }
services:
  fw:
    nf: firewall
    args:
      default: deny
      stateful: true
      rules:
        - { action: deny, src: 10.0.0.66 }
        - { action: allow, src: 10.0.0.0/8, dst: ${VIP}/32, proto: tcp, dstPort: 80 }
        - { action: allow, src: 10.0.0.0/8, dst: ${VIP}/32, proto: udp, dstPort: 53 }
        - { action: allow, src: 10.0.0.0/8, proto: icmp }
  nat: { nf: nat, args: { external: ${EXT}, inside: [10.0.0.0/8], ports: "20000-29999" } }
  lb:
    nf: load-balancer
    args:
      vips:
        - { address: ${VIP}, port: 80, proto: tcp, backends: [${WEB.map((b) => `"${b}:8080"`).join(', ')}] }
        - { address: ${VIP}, port: 53, proto: udp, backends: [${DNS.join(', ')}] }
  mon: { nf: monitor, args: { interval: 3600, top: 100 } }
  refl: { nf: ${reflector} }
chains:
  default: [fw, nat, lb, mon, refl, lb, nat, fw, out]
`,
  );
  const stats = path.join(dir, 'stats.json');
  const res = await runCli(['run', '--config', 'chain.yaml', '--name', uniqueName('catalog'), '--stats-json', stats, '--quiet'], {
    cwd: dir,
    timeoutMs: 120_000,
  });
  assert.equal(res.code, 0, describeFailure(res));

  // Back: exactly the allowed packets, each turned around, in input order.
  const want = specs.filter((x) => x.allowed).map((x) => Buffer.from(buildPacket(turnAround(x.spec))).toString('hex'));
  const got = readPcapFile(path.join(dir, 'out.pcap')).packets.map((p) => Buffer.from(p.data).toString('hex'));
  assert.equal(got.length, want.length, `${got.length} replies at out, expected ${want.length}`);
  got.forEach((g, i) => assert.equal(g, want[i], `reply ${i} is not the original packet turned around`));

  // Forward: the monitor saw every allowed flow translated (external address, NAT port → backend).
  const s = JSON.parse(fs.readFileSync(stats, 'utf8'));
  const flows = new Set(specs.filter((x) => x.allowed).map((x) => x.flow));
  const logLine = res.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string; top?: { src: string; dst: string; proto: string; packets: number }[] })
    .find((l) => l.msg?.startsWith('monitor:') && l.top !== undefined);
  assert.ok(logLine, 'the monitor logged its summary');
  const top = logLine.top!;
  // One monitor flow per allowed TCP/UDP client flow; the monitor keys ICMP by addresses only
  // (no ports), and every ping leaves the NAT from the external address to the VIP: one flow.
  const l4Flows = [...flows].filter((f) => !f.startsWith('ping')).length;
  assert.equal(top.length, l4Flows + 1, 'one monitor flow per allowed client TCP/UDP flow, plus the pings');
  const natPorts = new Set<string>();
  for (const f of top) {
    if (f.proto === 'icmp') {
      assert.equal(f.src, EXT);
      assert.equal(f.dst, VIP, 'ICMP passes the load balancer untouched');
      continue;
    }
    const [sa, sp] = f.src.split(':');
    const [da, dp] = f.dst.split(':');
    assert.equal(sa, EXT, `${f.src}: the NAT rewrote the source`);
    assert.ok(Number(sp) >= 20000 && Number(sp) <= 29999);
    natPorts.add(`${f.proto}:${sp}`);
    if (f.proto === 'tcp') assert.ok(WEB.includes(da) && dp === '8080', `${f.dst}: a web backend`);
    else assert.ok(DNS.includes(da) && dp === '53', `${f.dst}: a DNS backend`);
  }
  assert.equal(natPorts.size, top.filter((f) => f.proto !== 'icmp').length, 'each flow has its own NAT port');
  const c = (svc: string): Record<string, number> => s.services[svc].instances[0].counters;
  const allowed = want.length;
  const denied = specs.length - allowed;
  assert.equal(c('fw').denied, denied);
  assert.equal(c('fw').allowed, 2 * allowed, 'the firewall passed every request and its reply');
  assert.ok(c('fw').stateHits >= allowed, 'every reply was admitted by state');
  assert.equal(c('nat').outbound, allowed);
  assert.equal(c('nat').inbound, allowed);
  const l4 = specs.filter((x) => x.allowed && x.spec.proto !== 'icmp').length;
  assert.equal(c('lb').forwarded, l4);
  assert.equal(c('lb').replies, l4);
  assert.equal(s.pool.free, s.pool.size);
  console.log(
    `catalog chain: ${specs.length} packets in, ${denied} denied by the firewall, ${allowed} replies out byte-exact; ${flows.size} flows (${natPorts.size} NAT ports); lb ${c('lb').newConnections} connections`,
  );
});
