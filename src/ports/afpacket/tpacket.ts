// The byte layout of the kernel's TPACKET_V3 rings (include/uapi/linux/if_packet.h,
// Documentation/networking/packet_mmap.rst "TPACKET_V3"), as 32-bit word indices: the only
// file of the afpacket port that knows it. Host byte order (netvm runs on little-endian
// machines: x86-64, arm64).

/**
 * RX ring: a sequence of blocks. Each starts with struct tpacket_block_desc
 * { u32 version; u32 offset_to_priv; struct tpacket_hdr_v1 { u32 block_status; u32 num_pkts;
 * u32 offset_to_first_pkt; u32 blk_len; u64 seq_num; ts_first_pkt; ts_last_pkt } }.
 */
export const BD_STATUS = 2;
export const BD_NUM_PKTS = 3;
export const BD_FIRST_PKT = 4;

/**
 * struct tpacket3_hdr (48 bytes, TPACKET_ALIGN'd): tp_next_offset, tp_sec, tp_nsec,
 * tp_snaplen, tp_len, tp_status, then u16 tp_mac and u16 tp_net in one word, then
 * hv1 { tp_rxhash, tp_vlan_tci, u16 tp_vlan_tpid, u16 padding }.
 */
export const H3_NEXT = 0;
export const H3_SEC = 1;
export const H3_NSEC = 2;
export const H3_SNAPLEN = 3;
export const H3_LEN = 4;
export const H3_STATUS = 5;
/** tp_mac in the low 16 bits, tp_net in the high 16 bits. */
export const H3_MAC_NET = 6;
export const H3_RXHASH = 7;
export const H3_VLAN_TCI = 8;
/** tp_vlan_tpid in the low 16 bits. */
export const H3_VLAN_TPID = 9;

/**
 * Where a TX frame's data goes: TPACKET3_HDRLEN - sizeof(struct sockaddr_ll) = 68 - 20 = 48
 * bytes after the frame start. With PACKET_TX_HAS_OFF the frame's tp_mac may move it further
 * (we add 0..3 bytes to keep the source's alignment).
 */
export const TX_DATA_OFF = 48;

/**
 * With PACKET_VNET_HDR a TX frame's data (at tp_mac) starts with struct virtio_net_hdr
 * (include/uapi/linux/virtio_net.h: u8 flags, u8 gso_type, then little-endian u16 hdr_len,
 * gso_size, csum_start, csum_offset), and tp_len counts it. flags 0 and gso_type 0
 * (VIRTIO_NET_HDR_GSO_NONE): a plain frame; hdr_len: how many bytes tpacket_snd copies into
 * the skb's linear part (we give the whole frame; see native/src/addon.cc).
 */
export const VNET_HDR_LEN = 10;
/** Byte offset of hdr_len in the virtio_net_hdr. */
export const VNET_HDR_LEN_OFF = 2;

// tp_status / block_status bits (RX).
export const TP_STATUS_KERNEL = 0;
export const TP_STATUS_USER = 1 << 0;
export const TP_STATUS_CSUMNOTREADY = 1 << 3;
export const TP_STATUS_VLAN_VALID = 1 << 4;
export const TP_STATUS_VLAN_TPID_VALID = 1 << 6;
// tp_status values (TX).
export const TP_STATUS_AVAILABLE = 0;
export const TP_STATUS_SEND_REQUEST = 1 << 0;
export const TP_STATUS_SENDING = 1 << 1;
export const TP_STATUS_WRONG_FORMAT = 1 << 2;

/**
 * The transmit thread's control block (native/src/addon.cc, "AF_PACKET transmit threads"):
 * int32 words shared between the port and the thread that makes the socket's send() calls.
 */
export const TXC_SEQ = 0; // the port adds 1 after marking frames TP_STATUS_SEND_REQUEST
export const TXC_SLEEPING = 1; // the thread sleeps on TXC_SEQ: wake it (futex)
export const TXC_STOP = 2;
export const TXC_KICKS = 3; // send() calls
export const TXC_ERRORS = 4; // send() calls failed (not EAGAIN/ENOBUFS/EINTR)
export const TXC_LAST_ERR = 5; // errno of the last failure
export const TXC_SLEEPS = 6;
export const TXC_RETRIES = 7; // send() found the send buffer full and was retried
export const TXC_WORDS = 8;

/** PACKET_FANOUT modes by config name (if_packet.h PACKET_FANOUT_*). */
export const FANOUT_MODES = { hash: 0, lb: 1, cpu: 2, rollover: 3, random: 4, qm: 5 } as const;
export type FanoutMode = keyof typeof FANOUT_MODES;

// Interface flags and errno values, shared with the afxdp port (the afpacket port reads them as T.*).
export { IFF_UP, IFF_RUNNING, EPERM, ENOENT, EAGAIN, ENOMEM, EACCES, EBUSY, ENODEV, EINVAL, ENOPROTOOPT, ENOBUFS } from '../linux.js';
