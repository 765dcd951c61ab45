// The per-NF benchmark's table (`npm run bench:nfs`, bench/nf-bench.ts): one row per NF
// setup, measured alone on the generator: generator → NF → sink. A row names the catalog NF,
// its args, and the generator's traffic. The generator sends UDP (or TCP/ICMP) from
// 198.18.<flow> port 1024+ to 198.19.0.1 port 5001 (IPv6: 2001:db8::1:<flow> to
// 2001:db8::2:1), so args can target that traffic. Every packet should reach the sink:
// the bench reports the NF's own drops next to the rate, and a row whose packets do not
// arrive is an error in the row. Add an NF by adding a row.
import os from 'node:os';
import path from 'node:path';

export interface NfBenchCase {
  /** Row label (unique). */
  name: string;
  /** Catalog NF name. */
  nf: string;
  args?: Record<string, unknown>;
  /** Generator options (size, flows, ipVersion, proto); defaults: 64 bytes, 1024 flows, IPv4 UDP. */
  generator?: { size?: number; flows?: number; ipVersion?: 4 | 6; proto?: 'udp' | 'tcp' | 'icmp' };
}

/** Rules that the generator's traffic walks past before the last one allows it. */
const fwRules = [
  { action: 'deny', src: '10.0.0.0/8' },
  { action: 'deny', dst: '192.0.2.0/24' },
  { action: 'deny', proto: 'tcp', dstPort: 22 },
  { action: 'deny', proto: 'udp', dstPort: '6000-7000' },
  { action: 'deny', src: '2001:db8::/32', proto: 'udp' },
  { action: 'deny', proto: 'tcp', tcpFlags: 'syn !ack' },
  { action: 'deny', src: '198.18.0.0/15', proto: 'udp', srcPort: 9 },
  { action: 'allow', src: '198.18.0.0/15', dst: '198.19.0.0/16', proto: 'udp', dstPort: 5001 },
];

/** 256 /24 routes around the generator's destination, plus the one it hits. */
const routes = [
  ...Array.from({ length: 256 }, (_, i) => ({ prefix: `10.${i}.0.0/16`, port: 'sink', nextHopMac: '02:00:00:00:00:fe' })),
  { prefix: '198.19.0.0/16', port: 'sink', nextHopMac: '02:00:00:00:00:fe' },
  { prefix: '2001:db8::/32', port: 'sink', nextHopMac: '02:00:00:00:00:fe' },
];

export const NF_BENCH_CASES: NfBenchCase[] = [
  // The baseline: the cost of an NF process that only passes packets on.
  { name: 'forward', nf: 'forward' },
  { name: 'firewall (8 rules, last matches)', nf: 'firewall', args: { default: 'deny', rules: fwRules } },
  { name: 'firewall stateful', nf: 'firewall', args: { default: 'deny', stateful: true, rules: fwRules } },
  { name: 'router (258 routes)', nf: 'router', args: { interfaces: { sink: { mac: '02:00:00:00:00:01' } }, routes } },
  { name: 'router IPv6', nf: 'router', args: { interfaces: { sink: { mac: '02:00:00:00:00:01' } }, routes }, generator: { ipVersion: 6 } },
  { name: 'nat', nf: 'nat', args: { external: '203.0.113.1', inside: ['198.18.0.0/15'] } },
  {
    name: 'load-balancer (4 backends)',
    nf: 'load-balancer',
    args: { vips: [{ address: '198.19.0.1', port: 5001, proto: 'udp', backends: ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'] }] },
  },
  // The catalog's other NFs (issue #4 part B), set up so every packet passes.
  { name: 'rate-limiter (above the rate)', nf: 'rate-limiter', args: { rate: 100000000, unit: 'packets', burst: 1000000 } },
  {
    name: 'payload-scan (3 patterns, no match)',
    nf: 'payload-scan',
    args: { patterns: ['UNION SELECT', 'cmd.exe', { hex: '4d 5a 90 00' }], caseInsensitive: true, action: 'alert' },
  },
  { name: 'aes-encrypt (AES-128)', nf: 'aes-encrypt', args: { key: '000102030405060708090a0b0c0d0e0f' } },
  // The generator's 64-byte frames carry 22 payload bytes: a 16-byte IV and 6 decrypted.
  { name: 'aes-decrypt (AES-128)', nf: 'aes-decrypt', args: { key: '000102030405060708090a0b0c0d0e0f' } },
  { name: 'arp-responder (IP traffic passes)', nf: 'arp-responder', args: { addresses: ['198.18.0.254'], mac: '02:00:5e:00:00:fe' } },
  { name: 'flow-tracker', nf: 'flow-tracker' },
  { name: 'vlan push', nf: 'vlan', args: { action: 'push', vid: 100 } },
  {
    name: 'tap (filter matches none)',
    nf: 'tap',
    args: { file: path.join(os.tmpdir(), 'netvm-bench-tap.pcap'), filter: { proto: 'tcp' } },
  },
];
