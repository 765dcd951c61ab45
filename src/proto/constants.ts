/**
 * Protocol numbers and fixed header sizes shared by every proto module.
 *
 * Plain `const` numbers (not enums) so that V8 inlines them on the hot path and
 * the values can be compared against raw bytes without any lookup.
 */

// --- EtherTypes (IEEE 802.3 / IANA "IEEE 802 Numbers") --------------------------------------

export const ETH_P_IPV4 = 0x0800;
export const ETH_P_ARP = 0x0806; // RFC 826
export const ETH_P_VLAN = 0x8100; // IEEE 802.1Q C-tag
export const ETH_P_QINQ = 0x88a8; // IEEE 802.1ad S-tag (outer tag of a QinQ stack)
export const ETH_P_IPV6 = 0x86dd;
/** Pre-standard QinQ outer tag still emitted by some switches. */
export const ETH_P_QINQ_OLD = 0x9100;

// --- IP protocol numbers (IANA "Assigned Internet Protocol Numbers") ------------------------

export const IPPROTO_HOPOPTS = 0; // RFC 8200 §4.3 hop-by-hop options (IPv6 extension header)
export const IPPROTO_ICMP = 1; // RFC 792
export const IPPROTO_TCP = 6; // RFC 9293
export const IPPROTO_UDP = 17; // RFC 768
export const IPPROTO_IPV6 = 41; // IPv6-in-IP encapsulation
export const IPPROTO_ROUTING = 43; // RFC 8200 §4.4
export const IPPROTO_FRAGMENT = 44; // RFC 8200 §4.5
export const IPPROTO_ESP = 50; // RFC 4303: payload is encrypted, the parser stops there
export const IPPROTO_AH = 51; // RFC 4302: length is in 4-octet units minus 2 (not 8-octet)
export const IPPROTO_ICMPV6 = 58; // RFC 4443
export const IPPROTO_NONE = 59; // RFC 8200 §4.7 "No Next Header"
export const IPPROTO_DSTOPTS = 60; // RFC 8200 §4.6
export const IPPROTO_SCTP = 132; // RFC 9260: ports at the same offsets as TCP/UDP
export const IPPROTO_MH = 135; // RFC 6275 mobility header (extension header shape)

// --- Header sizes in bytes ---------------------------------------------------------------------

export const ETH_ADDR_LEN = 6;
export const ETH_HDR_LEN = 14; // dst MAC, src MAC, EtherType
export const VLAN_TAG_LEN = 4; // TCI + inner EtherType (IEEE 802.1Q §9.6)
/** Minimum frame length on the wire without the 4-byte FCS (64 - 4). */
export const ETH_MIN_FRAME_LEN = 60;
export const ARP_IPV4_LEN = 28; // RFC 826 for Ethernet/IPv4: 8 fixed + 2*(6+4)
export const IPV4_HDR_LEN = 20; // RFC 791 minimum (IHL = 5)
export const IPV4_MAX_HDR_LEN = 60; // IHL is 4 bits of 32-bit words
export const IPV6_HDR_LEN = 40; // RFC 8200 §3 fixed header
export const IPV6_FRAG_HDR_LEN = 8; // RFC 8200 §4.5
export const TCP_HDR_LEN = 20; // RFC 9293 §3.1 minimum (data offset = 5)
export const UDP_HDR_LEN = 8; // RFC 768
export const ICMP_HDR_LEN = 8; // RFC 792: type, code, checksum, 4 bytes rest-of-header
export const ICMPV6_HDR_LEN = 8; // RFC 4443 §2.1 (4 bytes + 4 bytes message body start)

// --- TCP flags (RFC 9293 §3.1; CWR/ECE from RFC 3168) ---------------------------------------

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

// --- ICMP / ICMPv6 types -------------------------------------------------------------------

export const ICMP_ECHO_REPLY = 0; // RFC 792
export const ICMP_DEST_UNREACH = 3;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMPV6_DEST_UNREACH = 1; // RFC 4443 §3.1
export const ICMPV6_PACKET_TOO_BIG = 2;
export const ICMPV6_TIME_EXCEEDED = 3;
export const ICMPV6_ECHO_REQUEST = 128; // RFC 4443 §4.1
export const ICMPV6_ECHO_REPLY = 129;
export const ICMPV6_NEIGHBOR_SOLICIT = 135; // RFC 4861
export const ICMPV6_NEIGHBOR_ADVERT = 136;

// --- ARP (RFC 826) -------------------------------------------------------------------------

export const ARP_HTYPE_ETHERNET = 1;
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;

// --- IPv4 flag bits inside the 16-bit flags/fragment-offset word (RFC 791 §3.1) -------------

export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
export const IPV4_FRAG_OFFSET_MASK = 0x1fff;
