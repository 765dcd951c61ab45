#!/usr/bin/env bash
# The network-namespace test bench: two hosts, h1 and h2, each in its own network namespace
# and joined to the root namespace by a veth pair. netvm runs in the root namespace with the
# two root-side veths as its ports and forwards between the hosts:
#
#   h1: eth0 198.18.0.1/24 ══ nv-h1 ─┐               ┌─ nv-h2 ══ eth0 198.18.0.2/24 :h2
#                                    └── netvm chain ─┘
#
# 198.18.0.0/15 is the benchmarking range (RFC 2544); nothing leaves this machine.
#
#   scripts/netns-bench.sh up       create the namespaces and veths (removes leftovers first)
#   scripts/netns-bench.sh down     remove everything `up` made (safe to run any time)
#   scripts/netns-bench.sh status   show what exists
#
# Needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN), iproute2 and ethtool. Names can be changed
# with NETVM_BENCH_H1 / NETVM_BENCH_H2 (namespaces; root-side veths are nv-<name>);
# NETVM_BENCH_CSUM_OFFLOAD=off turns the hosts' transmit checksum offload off (for afxdp ports).
# Docs: docs/netns-bench.md.
set -euo pipefail

H1=${NETVM_BENCH_H1:-h1}
H2=${NETVM_BENCH_H2:-h2}
NETS=("$H1" "$H2")
ADDRS=(198.18.0.1/24 198.18.0.2/24)

die() {
  echo "netns-bench: $*" >&2
  exit 1
}

need_root() {
  [[ $(id -u) -eq 0 ]] || die "needs root (it creates network namespaces and veth pairs)"
  command -v ip >/dev/null || die "ip (iproute2) is not installed: apt-get install iproute2"
}

down() {
  local ns
  for ns in "${NETS[@]}"; do
    # Deleting one end of a veth pair deletes both; deleting the namespace deletes its end.
    ip link del "nv-$ns" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
}

# Offloads on the hosts' interfaces. netvm receives each frame through an AF_PACKET socket
# exactly as the host's stack handed it to the veth. With segmentation offload (TSO/GSO) a TCP
# sender hands over 64 KiB "frames" that only a NIC would cut into packets; a forwarder that
# copies frames cannot pass those on, so segmentation is done by the host's stack instead.
# Checksum offload is left on: the afpacket port completes partial checksums itself
# (TP_STATUS_CSUMNOTREADY). An AF_XDP socket is not told which checksums are partial, so for
# the afxdp port set NETVM_BENCH_CSUM_OFFLOAD=off: the hosts then compute them in full.
offloads_off() {
  local ns=$1
  if command -v ethtool >/dev/null; then
    ip netns exec "$ns" ethtool -K eth0 tso off gso off gro off >/dev/null 2>&1 ||
      ip netns exec "$ns" ethtool -K eth0 tso off gso off >/dev/null
    if [[ ${NETVM_BENCH_CSUM_OFFLOAD:-on} == off ]]; then
      ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null
    fi
  else
    echo "netns-bench: ethtool is not installed (apt-get install ethtool): TCP through netvm will fail with TSO/GSO on" >&2
  fi
}

up() {
  down
  local i ns
  for i in 0 1; do
    ns=${NETS[$i]}
    ip netns add "$ns"
    ip link add "nv-$ns" type veth peer name eth0 netns "$ns"
    # The root side carries no addresses: only netvm uses it. No IPv6 either, so the root
    # stack sends nothing of its own (router solicitations, DAD) onto the link.
    sysctl -qw "net.ipv6.conf.nv-$ns.disable_ipv6=1" 2>/dev/null || true
    ip link set "nv-$ns" up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip addr add "${ADDRS[$i]}" dev eth0
    ip netns exec "$ns" ip link set eth0 up
    offloads_off "$ns"
  done
  echo "netns-bench: up: $H1 (198.18.0.1, nv-$H1) and $H2 (198.18.0.2, nv-$H2)"
}

status() {
  local ns
  for ns in "${NETS[@]}"; do
    if ip netns list | grep -qw "$ns"; then
      echo "namespace $ns:"
      ip netns exec "$ns" ip -br addr show dev eth0 2>/dev/null | sed 's/^/  /' || true
    else
      echo "namespace $ns: absent"
    fi
    ip -br link show "nv-$ns" 2>/dev/null | sed 's/^/  root side: /' || echo "  root side nv-$ns: absent"
  done
}

case "${1:-}" in
  up)
    need_root
    # A failure half way leaves nothing behind.
    trap 'down' ERR
    up
    ;;
  down)
    need_root
    down
    ;;
  status) status ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
