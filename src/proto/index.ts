/**
 * netvm packet protocol library: raw-byte accessors, checksums, a zero-allocation parser,
 * the RSS Toeplitz hash, and (off the hot path) address text helpers and a packet builder.
 */

export * from './constants.js';
export * from './checksum.js';
export * from './address.js';
export * from './ethernet.js';
export * from './vlan.js';
export * from './arp.js';
export * from './ipv4.js';
export * from './ipv6.js';
export * from './tcp.js';
export * from './udp.js';
export * from './icmp.js';
export * from './parse.js';
export * from './toeplitz.js';
export * from './build.js';
export * from './packet-checksum.js';
