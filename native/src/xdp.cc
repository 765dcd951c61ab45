// netvm native addon, AF_XDP part: system calls only (socket, setsockopt, mmap, bind, bpf,
// sendto), for the afxdp port (src/ports/afxdp/). The rings are walked in TypeScript.
//
// Kernel doc networking/af_xdp.rst. The packet pool's buffer area (one segment of the shared
// region) is registered as the socket's UMEM, so the kernel writes received frames straight
// into pool buffers and sends from them: no copy in user space in either direction.
#include <node.h>
#include <v8.h>

#include "util.h"

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif
// Linux 6.17: how many frames one sendto() may send in copy mode (default 32).
#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9
#endif

namespace netvm {

using v8::Context;
using v8::Exception;
using v8::FunctionCallbackInfo;
using v8::Isolate;
using v8::Local;
using v8::Number;
using v8::Object;
using v8::SharedArrayBuffer;
using v8::String;
using v8::Value;

static long Bpf(int cmd, union bpf_attr* attr) { return syscall(SYS_bpf, cmd, attr, sizeof *attr); }

// The XDP program: redirect every frame of the queue it arrived on to the socket in the
// XSKMAP slot of that queue; a queue without a socket passes its frames to the stack
// (bpf_redirect_map's flags argument is the action on a miss, since Linux 5.3).
//   r2 = ctx->rx_queue_index; r1 = map; r3 = XDP_PASS; call bpf_redirect_map; exit
static int LoadProgram(int mapFd, char* log, size_t logSize) {
  struct bpf_insn insns[6];
  memset(insns, 0, sizeof insns);
  insns[0].code = BPF_LDX | BPF_MEM | BPF_W;
  insns[0].dst_reg = BPF_REG_2;
  insns[0].src_reg = BPF_REG_1;
  insns[0].off = offsetof(struct xdp_md, rx_queue_index);
  insns[1].code = BPF_LD | BPF_DW | BPF_IMM;  // a 64-bit immediate: two instructions
  insns[1].dst_reg = BPF_REG_1;
  insns[1].src_reg = BPF_PSEUDO_MAP_FD;
  insns[1].imm = mapFd;
  insns[3].code = BPF_ALU64 | BPF_MOV | BPF_K;
  insns[3].dst_reg = BPF_REG_3;
  insns[3].imm = XDP_PASS;
  insns[4].code = BPF_JMP | BPF_CALL;
  insns[4].imm = BPF_FUNC_redirect_map;
  insns[5].code = BPF_JMP | BPF_EXIT;
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.prog_type = BPF_PROG_TYPE_XDP;
  a.insns = reinterpret_cast<uintptr_t>(insns);
  a.insn_cnt = 6;
  a.license = reinterpret_cast<uintptr_t>("GPL");
  a.log_buf = reinterpret_cast<uintptr_t>(log);
  a.log_size = static_cast<uint32_t>(logSize);
  a.log_level = 1;
  a.expected_attach_type = BPF_XDP;
  strncpy(a.prog_name, "netvm_xsk", sizeof a.prog_name - 1);
  return static_cast<int>(Bpf(BPF_PROG_LOAD, &a));
}

// Maps one of the socket's four rings; returns its SharedArrayBuffer, or an empty handle
// (errno set) on failure.
static bool MapRing(Isolate* isolate, Local<Object> out, const char* name, int fd, const struct xdp_ring_offset& off,
                    uint32_t entries, size_t entrySize, off_t pgoff) {
  size_t len = off.desc + entries * entrySize;
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);
  if (p == MAP_FAILED) return false;
  std::unique_ptr<v8::BackingStore> store = SharedArrayBuffer::NewBackingStore(p, len, Unmap, nullptr);
  Local<Object> r = Object::New(isolate);
  r->Set(isolate->GetCurrentContext(), String::NewFromUtf8Literal(isolate, "sab"), SharedArrayBuffer::New(isolate, std::move(store)))
      .Check();
  SetNum(isolate, r, "producer", static_cast<double>(off.producer));
  SetNum(isolate, r, "consumer", static_cast<double>(off.consumer));
  SetNum(isolate, r, "desc", static_cast<double>(off.desc));
  SetNum(isolate, r, "flags", static_cast<double>(off.flags));
  SetNum(isolate, r, "size", entries);
  out->Set(isolate->GetCurrentContext(), String::NewFromUtf8(isolate, name).ToLocalChecked(), r).Check();
  return true;
}

// xdpOpen({ interface, queue, region: SharedArrayBuffer, umemOffset, umemLength, chunkSize,
//   ringSize, mode: 0 auto | 1 native (driver) | 2 generic (skb), txBudget,
//   promiscuous }
//   -> { fd, linkFd, progFd, mapFd, promiscFd (-1: none), ifindex, mtu, mode: 1 | 2 (what was attached),
//        txBudget: what the kernel took (0: its default of 32),
//        rx, tx, fill, completion: { sab, producer, consumer, desc, flags, size } }
// Steps as in af_xdp.rst: socket, UMEM_REG, the fill and completion rings, RX and TX rings,
// the mmap offsets, mmap each ring, bind (copy mode), then an XSKMAP with this socket at the
// queue's index and the program attached with a BPF link (closing the link detaches it, so a
// killed manager leaves nothing on the interface).
static void XdpOpen(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Local<Context> ctx = isolate->GetCurrentContext();
  if (!args[0]->IsObject()) {
    isolate->ThrowException(Exception::TypeError(String::NewFromUtf8Literal(isolate, "xdpOpen: options object expected")));
    return;
  }
  Local<Object> o = args[0].As<Object>();
  Local<Value> ifv;
  if (!o->Get(ctx, String::NewFromUtf8Literal(isolate, "interface")).ToLocal(&ifv)) return;
  String::Utf8Value ifnameV(isolate, ifv);
  std::string ifname(*ifnameV ? *ifnameV : "");
  Local<Value> regionV;
  if (!o->Get(ctx, String::NewFromUtf8Literal(isolate, "region")).ToLocal(&regionV) || !regionV->IsSharedArrayBuffer()) {
    isolate->ThrowException(Exception::TypeError(String::NewFromUtf8Literal(isolate, "xdpOpen: region must be a SharedArrayBuffer")));
    return;
  }
  Local<SharedArrayBuffer> region = regionV.As<SharedArrayBuffer>();
  uint32_t queue = static_cast<uint32_t>(NumProp(isolate, o, "queue", 0));
  size_t umemOffset = static_cast<size_t>(NumProp(isolate, o, "umemOffset", 0));
  size_t umemLength = static_cast<size_t>(NumProp(isolate, o, "umemLength", 0));
  uint32_t chunkSize = static_cast<uint32_t>(NumProp(isolate, o, "chunkSize", 2048));
  uint32_t ringSize = static_cast<uint32_t>(NumProp(isolate, o, "ringSize", 2048));
  int mode = static_cast<int>(NumProp(isolate, o, "mode", 0));
  int txBudget = static_cast<int>(NumProp(isolate, o, "txBudget", 0));
  bool promisc = NumProp(isolate, o, "promiscuous", 0) != 0;
  if (umemOffset + umemLength > region->ByteLength() || umemLength == 0) {
    isolate->ThrowException(Exception::RangeError(String::NewFromUtf8Literal(isolate, "xdpOpen: the UMEM is not inside the region")));
    return;
  }

  if (ifname.empty() || ifname.size() >= IFNAMSIZ) return ThrowErrno(isolate, "if_nametoindex", ENODEV, ifname);
  unsigned ifindex = if_nametoindex(ifname.c_str());
  if (ifindex == 0) return ThrowErrno(isolate, "if_nametoindex", errno == 0 ? ENODEV : errno, ifname);
  int fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(isolate, "socket(AF_XDP)", errno, ifname);
  int mapFd = -1, progFd = -1, linkFd = -1, promiscFd = -1;
  auto fail = [&](const char* what) {
    int err = errno;
    if (promiscFd >= 0) close(promiscFd);
    if (linkFd >= 0) close(linkFd);
    if (progFd >= 0) close(progFd);
    if (mapFd >= 0) close(mapFd);
    close(fd);
    ThrowErrno(isolate, what, err, ifname);
  };

  // Aligned chunks: a fill address names a chunk, the kernel writes the frame at its start
  // plus XDP_PACKET_HEADROOM (256 bytes: the pool buffer's metadata fits before it).
  struct xdp_umem_reg mr;
  memset(&mr, 0, sizeof mr);
  mr.addr = reinterpret_cast<uintptr_t>(static_cast<char*>(region->Data()) + umemOffset);
  mr.len = umemLength;
  mr.chunk_size = chunkSize;
  mr.headroom = 0;
  if (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof mr) != 0) return fail("setsockopt(XDP_UMEM_REG)");
  int n = static_cast<int>(ringSize);
  if (setsockopt(fd, SOL_XDP, XDP_UMEM_FILL_RING, &n, sizeof n) != 0) return fail("setsockopt(XDP_UMEM_FILL_RING)");
  if (setsockopt(fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &n, sizeof n) != 0) return fail("setsockopt(XDP_UMEM_COMPLETION_RING)");
  if (setsockopt(fd, SOL_XDP, XDP_RX_RING, &n, sizeof n) != 0) return fail("setsockopt(XDP_RX_RING)");
  if (setsockopt(fd, SOL_XDP, XDP_TX_RING, &n, sizeof n) != 0) return fail("setsockopt(XDP_TX_RING)");
  int budgetSet = 0;
  if (txBudget > 0 && setsockopt(fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &txBudget, sizeof txBudget) == 0) budgetSet = txBudget;
  struct xdp_mmap_offsets off;
  socklen_t optlen = sizeof off;
  if (getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen) != 0) return fail("getsockopt(XDP_MMAP_OFFSETS)");
  Local<Object> out = Object::New(isolate);
  if (!MapRing(isolate, out, "rx", fd, off.rx, ringSize, sizeof(struct xdp_desc), XDP_PGOFF_RX_RING) ||
      !MapRing(isolate, out, "tx", fd, off.tx, ringSize, sizeof(struct xdp_desc), XDP_PGOFF_TX_RING) ||
      !MapRing(isolate, out, "fill", fd, off.fr, ringSize, sizeof(uint64_t), XDP_UMEM_PGOFF_FILL_RING) ||
      !MapRing(isolate, out, "completion", fd, off.cr, ringSize, sizeof(uint64_t), XDP_UMEM_PGOFF_COMPLETION_RING))
    return fail("mmap(AF_XDP ring)");  // rings mapped so far are unmapped when their buffers are collected
  struct sockaddr_xdp sx;
  memset(&sx, 0, sizeof sx);
  sx.sxdp_family = AF_XDP;
  sx.sxdp_flags = XDP_COPY;
  sx.sxdp_ifindex = ifindex;
  sx.sxdp_queue_id = queue;
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sx), sizeof sx) != 0) return fail("bind(AF_XDP)");

  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_type = BPF_MAP_TYPE_XSKMAP;
  a.key_size = 4;
  a.value_size = 4;
  a.max_entries = queue + 1;
  strncpy(a.map_name, "netvm_xsks", sizeof a.map_name - 1);
  mapFd = static_cast<int>(Bpf(BPF_MAP_CREATE, &a));
  if (mapFd < 0) return fail("bpf(BPF_MAP_CREATE)");
  memset(&a, 0, sizeof a);
  a.map_fd = static_cast<uint32_t>(mapFd);
  a.key = reinterpret_cast<uintptr_t>(&queue);
  a.value = reinterpret_cast<uintptr_t>(&fd);
  if (Bpf(BPF_MAP_UPDATE_ELEM, &a) != 0) return fail("bpf(BPF_MAP_UPDATE_ELEM)");
  static char log[4096];
  log[0] = 0;
  progFd = LoadProgram(mapFd, log, sizeof log);
  if (progFd < 0) return fail("bpf(BPF_PROG_LOAD)");
  int attached = 0;
  for (int m : {1, 2}) {
    if (mode != 0 && mode != m) continue;
    memset(&a, 0, sizeof a);
    a.link_create.prog_fd = static_cast<uint32_t>(progFd);
    a.link_create.target_ifindex = ifindex;
    a.link_create.attach_type = BPF_XDP;
    a.link_create.flags = m == 1 ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
    linkFd = static_cast<int>(Bpf(BPF_LINK_CREATE, &a));
    if (linkFd >= 0) {
      attached = m;
      break;
    }
  }
  if (linkFd < 0) return fail("bpf(BPF_LINK_CREATE) attaching the XDP program");

  if (promisc) {
    // Promiscuous mode as a membership of a packet socket that receives nothing (protocol 0,
    // never bound), not IFF_PROMISC: the kernel drops it when that socket closes, also when
    // the manager is killed.
    promiscFd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (promiscFd < 0) return fail("socket(AF_PACKET) for promiscuous mode");
    struct packet_mreq pm;
    memset(&pm, 0, sizeof pm);
    pm.mr_ifindex = static_cast<int>(ifindex);
    pm.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(promiscFd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &pm, sizeof pm) != 0)
      return fail("setsockopt(PACKET_ADD_MEMBERSHIP)");
  }
  int mtu = 1500;
  {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, ifname.c_str(), ifname.size());
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s >= 0) {
      if (ioctl(s, SIOCGIFMTU, &ifr) == 0) mtu = ifr.ifr_mtu;
      close(s);
    }
  }
  SetNum(isolate, out, "fd", fd);
  SetNum(isolate, out, "promiscFd", promiscFd);
  SetNum(isolate, out, "linkFd", linkFd);
  SetNum(isolate, out, "progFd", progFd);
  SetNum(isolate, out, "mapFd", mapFd);
  SetNum(isolate, out, "ifindex", ifindex);
  SetNum(isolate, out, "mtu", mtu);
  SetNum(isolate, out, "mode", attached);
  SetNum(isolate, out, "txBudget", budgetSet);
  args.GetReturnValue().Set(out);
}

// xdpKick(fd): sendto(fd, NULL, 0, MSG_DONTWAIT): in copy mode the kernel sends TX ring
// entries (up to its budget per call). 0, or -errno (EAGAIN/EBUSY: try again later).
static void XdpKick(const FunctionCallbackInfo<Value>& args) {
  int fd = args[0]->Int32Value(args.GetIsolate()->GetCurrentContext()).FromMaybe(-1);
  ssize_t r = sendto(fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0);
  args.GetReturnValue().Set(static_cast<double>(r < 0 ? -errno : r));
}

// xdpStats(fd, ifname) -> [rxDropped, rxInvalid, txInvalid, rxRingFull, fillRingEmpty,
//   txRingEmpty, ifFlags]: XDP_STATISTICS (totals since the socket opened) and SIOCGIFFLAGS
//   (-1: the interface is gone).
static void XdpStats(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Local<Context> ctx = isolate->GetCurrentContext();
  int fd = args[0]->Int32Value(ctx).FromMaybe(-1);
  String::Utf8Value ifnameV(isolate, args[1]);
  struct xdp_statistics st;
  memset(&st, 0, sizeof st);
  socklen_t len = sizeof st;
  getsockopt(fd, SOL_XDP, XDP_STATISTICS, &st, &len);
  double flags = -1;
  if (*ifnameV != nullptr && strlen(*ifnameV) < IFNAMSIZ) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, *ifnameV, IFNAMSIZ - 1);
    // An AF_XDP socket takes no ioctl: ask through a datagram socket.
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s >= 0) {
      if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) flags = static_cast<uint16_t>(ifr.ifr_flags);
      close(s);
    }
  }
  Local<v8::Array> r = v8::Array::New(isolate, 7);
  double v[7] = {static_cast<double>(st.rx_dropped),
                 static_cast<double>(st.rx_invalid_descs),
                 static_cast<double>(st.tx_invalid_descs),
                 static_cast<double>(st.rx_ring_full),
                 static_cast<double>(st.rx_fill_ring_empty_descs),
                 static_cast<double>(st.tx_ring_empty_descs),
                 flags};
  for (uint32_t i = 0; i < 7; i++) r->Set(ctx, i, Number::New(isolate, v[i])).Check();
  args.GetReturnValue().Set(r);
}

// xdpClose(fd, linkFd, progFd, mapFd, rings: SharedArrayBuffer[], promiscFd): detaches the program
// (closing its link), closes the socket (the kernel stops using the UMEM: the pool buffers
// are ours again) and replaces each ring mapping with zero pages at the same address, so the
// SharedArrayBuffers (freed later by the garbage collector) stay valid to read: an all-zero
// ring is an empty one.
static void XdpClose(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Local<Context> ctx = isolate->GetCurrentContext();
  int fds[4];
  for (int i = 0; i < 4; i++) fds[i] = args[i]->Int32Value(ctx).FromMaybe(-1);
  bool ok = true;
  if (fds[1] >= 0) ok = close(fds[1]) == 0 && ok;  // the link first: no more redirects to the socket
  if (fds[0] >= 0) ok = close(fds[0]) == 0 && ok;
  if (fds[2] >= 0) ok = close(fds[2]) == 0 && ok;
  if (fds[3] >= 0) ok = close(fds[3]) == 0 && ok;
  int promiscFd = args.Length() > 5 ? args[5]->Int32Value(ctx).FromMaybe(-1) : -1;
  if (promiscFd >= 0) close(promiscFd);
  if (args.Length() > 4 && args[4]->IsArray()) {
    Local<v8::Array> rings = args[4].As<v8::Array>();
    for (uint32_t i = 0; i < rings->Length(); i++) {
      Local<Value> r;
      if (!rings->Get(ctx, i).ToLocal(&r) || !r->IsSharedArrayBuffer()) continue;
      Local<SharedArrayBuffer> sab = r.As<SharedArrayBuffer>();
      if (sab->Data() != nullptr && sab->ByteLength() > 0)
        mmap(sab->Data(), sab->ByteLength(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    }
  }
  args.GetReturnValue().Set(ok);
}

void InitXdp(Local<Object> exports) {
  NODE_SET_METHOD(exports, "xdpOpen", XdpOpen);
  NODE_SET_METHOD(exports, "xdpKick", XdpKick);
  NODE_SET_METHOD(exports, "xdpStats", XdpStats);
  NODE_SET_METHOD(exports, "xdpClose", XdpClose);
}

}  // namespace netvm
