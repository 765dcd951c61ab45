// netvm native addon: system calls only.
//
// Everything here is a thin wrapper over one Linux system call (open/ftruncate/mmap,
// futex, prctl, and the AF_PACKET socket calls of the afpacket port; xdp.cc has the AF_XDP
// ones of the afxdp port), plus one kind of
// thread whose loop makes only send() and futex() calls (the afpacket transmit thread). No packet logic lives here; the data path never calls into this file per
// packet. We use V8's API directly (not N-API) because N-API cannot create a
// SharedArrayBuffer over foreign memory, and only a SharedArrayBuffer lets `Atomics` work on
// the mapped region (V8 BackingStore, see v8.h `SharedArrayBuffer::New(isolate, store)`).
#include <node.h>
#include <v8.h>

#include "util.h"

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace netvm {

using v8::ArrayBuffer;
using v8::BackingStore;
using v8::Context;
using v8::Exception;
using v8::FunctionCallbackInfo;
using v8::Isolate;
using v8::Local;
using v8::Array;
using v8::Number;
using v8::Object;
using v8::SharedArrayBuffer;
using v8::String;
using v8::Value;



// mapFile(path: string, size: number, create: boolean, hugePages: boolean): SharedArrayBuffer
// create: O_CREAT|O_EXCL with mode 0600 then ftruncate(size); else open existing and map.
static void MapFile(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Local<Context> ctx = isolate->GetCurrentContext();
  String::Utf8Value pathv(isolate, args[0]);
  std::string path(*pathv ? *pathv : "");
  double sizeD = args[1]->NumberValue(ctx).FromMaybe(0);
  bool create = args[2]->BooleanValue(isolate);
  bool huge = args[3]->BooleanValue(isolate);
  size_t size = static_cast<size_t>(sizeD);
  int flags = O_RDWR | O_CLOEXEC | (create ? (O_CREAT | O_EXCL) : 0);
  int fd = open(path.c_str(), flags, 0600);
  if (fd < 0) return ThrowErrno(isolate, "open", errno, path);
  if (create) {
    // fchmod: the umask must not widen or narrow the owner-only mode.
    if (fchmod(fd, 0600) != 0 || ftruncate(fd, static_cast<off_t>(size)) != 0) {
      int err = errno;
      close(fd);
      unlink(path.c_str());
      return ThrowErrno(isolate, "ftruncate", err, path);
    }
  } else {
    struct stat st;
    if (fstat(fd, &st) != 0) {
      int err = errno;
      close(fd);
      return ThrowErrno(isolate, "fstat", err, path);
    }
    if (size == 0) size = static_cast<size_t>(st.st_size);
    if (static_cast<size_t>(st.st_size) < size) {
      close(fd);
      return ThrowErrno(isolate, "size check", EINVAL, path);
    }
  }
  int mflags = MAP_SHARED | MAP_POPULATE;
  (void)huge;  // a file on hugetlbfs is backed by huge pages by the filesystem itself
  void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, mflags, fd, 0);
  int err = errno;
  close(fd);  // the mapping keeps the file referenced
  if (addr == MAP_FAILED) {
    if (create) unlink(path.c_str());
    return ThrowErrno(isolate, "mmap", err, path);
  }
  std::unique_ptr<BackingStore> store =
      SharedArrayBuffer::NewBackingStore(addr, size, Unmap, nullptr);
  Local<SharedArrayBuffer> sab = SharedArrayBuffer::New(isolate, std::move(store));
  args.GetReturnValue().Set(sab);
}

static bool WordAddress(const FunctionCallbackInfo<Value>& args, uint32_t** out) {
  Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsSharedArrayBuffer()) {
    isolate->ThrowException(Exception::TypeError(
        String::NewFromUtf8Literal(isolate, "futex: first argument must be a SharedArrayBuffer")));
    return false;
  }
  Local<SharedArrayBuffer> sab = args[0].As<SharedArrayBuffer>();
  double off = args[1]->NumberValue(isolate->GetCurrentContext()).FromMaybe(-1);
  size_t len = sab->ByteLength();
  if (off < 0 || static_cast<size_t>(off) + 4 > len || (static_cast<size_t>(off) & 3) != 0) {
    isolate->ThrowException(Exception::RangeError(
        String::NewFromUtf8Literal(isolate, "futex: offset out of range or not 4-byte aligned")));
    return false;
  }
  *out = reinterpret_cast<uint32_t*>(static_cast<char*>(sab->Data()) + static_cast<size_t>(off));
  return true;
}

// futexWait(sab, byteOffset, expected, timeoutMs): 0 woken, 1 value differed, 2 timed out.
// A shared (not FUTEX_PRIVATE) futex: the kernel keys it by the file page, so it works
// across processes that map the region at different addresses (futex(2)).
static void FutexWait(const FunctionCallbackInfo<Value>& args) {
  uint32_t* word;
  if (!WordAddress(args, &word)) return;
  Local<Context> ctx = args.GetIsolate()->GetCurrentContext();
  uint32_t expected = args[2]->Uint32Value(ctx).FromMaybe(0);
  double ms = args[3]->NumberValue(ctx).FromMaybe(-1);
  struct timespec ts;
  struct timespec* tsp = nullptr;
  if (ms >= 0) {
    ts.tv_sec = static_cast<time_t>(ms / 1000);
    ts.tv_nsec = static_cast<long>((ms - ts.tv_sec * 1000.0) * 1e6);
    tsp = &ts;
  }
  long r = syscall(SYS_futex, word, FUTEX_WAIT, expected, tsp, nullptr, 0);
  int result = 0;
  if (r != 0) result = errno == EAGAIN ? 1 : (errno == ETIMEDOUT ? 2 : (errno == EINTR ? 0 : -errno));
  args.GetReturnValue().Set(result);
}

// futexWake(sab, byteOffset, count): number of waiters woken.
static void FutexWake(const FunctionCallbackInfo<Value>& args) {
  uint32_t* word;
  if (!WordAddress(args, &word)) return;
  int count = args[2]->Int32Value(args.GetIsolate()->GetCurrentContext()).FromMaybe(1);
  long r = syscall(SYS_futex, word, FUTEX_WAKE, count, nullptr, nullptr, 0);
  args.GetReturnValue().Set(static_cast<double>(r));
}

// setThreadName(name): prctl(PR_SET_NAME) so `top` shows the NF by service and instance.
static void SetThreadName(const FunctionCallbackInfo<Value>& args) {
  String::Utf8Value name(args.GetIsolate(), args[0]);
  int r = prctl(PR_SET_NAME, *name ? *name : "netvm", 0, 0, 0);
  args.GetReturnValue().Set(r == 0);
}

// schedYield(): sched_yield(2). Used only when a process spins behind another one that the
// scheduler preempted mid-publish (lock-holder preemption on an oversubscribed machine).
static void SchedYield(const FunctionCallbackInfo<Value>& args) { sched_yield(); }

// setAffinity(tid, cpus: number[]): sched_setaffinity(2) of one thread (0: the caller).
// Threads created later inherit it, and so do child processes. Throws with errno (EINVAL:
// none of the CPUs is online and allowed; ESRCH: no such thread).
static void SetAffinity(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Local<Context> ctx = isolate->GetCurrentContext();
  int tid = args[0]->Int32Value(ctx).FromMaybe(0);
  if (!args[1]->IsArray()) {
    isolate->ThrowException(Exception::TypeError(String::NewFromUtf8Literal(isolate, "setAffinity: cpus must be an array")));
    return;
  }
  Local<Array> list = args[1].As<Array>();
  cpu_set_t set;
  CPU_ZERO(&set);
  for (uint32_t i = 0; i < list->Length(); i++) {
    Local<Value> v;
    if (!list->Get(ctx, i).ToLocal(&v)) return;
    int cpu = v->Int32Value(ctx).FromMaybe(-1);
    if (cpu < 0 || cpu >= CPU_SETSIZE) return ThrowErrno(isolate, "sched_setaffinity", EINVAL, "CPU " + std::to_string(cpu));
    CPU_SET(cpu, &set);
  }
  if (sched_setaffinity(tid, sizeof set, &set) != 0)
    return ThrowErrno(isolate, "sched_setaffinity", errno, "thread " + std::to_string(tid));
}

// ------------------------------------------------------------------ AF_PACKET (PACKET_MMAP)
//
// The afpacket port (src/ports/afpacket/) keeps all ring logic in TypeScript: these calls
// only open and configure the socket, map its rings, kick transmission and read counters,
// following Documentation/networking/packet_mmap.rst ("TPACKET_V3", "Mapping and use of the
// circular buffer", "PACKET_QDISC_BYPASS", "AF_PACKET fanout mode").



// afPacketOpen({ interface, blockSize, rxBlocks, txFrameSize, txFrames, blockTimeoutMs,
//   promiscuous, qdiscBypass, ignoreOutgoing, fanoutGroup, fanoutMode, sndBuf, vnetHdr })
//   -> { fd, ring: SharedArrayBuffer (RX ring, then TX ring), rxBytes, txBytes, ifindex, mtu,
//        vnetHdr: 1 if TX frames carry a virtio_net_hdr,
//        copyView?: ArrayBuffer (the `region` option's memory at 0, the rings again at
//        copyViewRingOffset), copyViewRingOffset? }
// Steps as in packet_mmap.rst: socket, PACKET_VERSION, RX/TX rings, mmap, bind, then
// membership and fanout (a socket must be bound before it joins a fanout group).
static void AfPacketOpen(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsObject()) {
    isolate->ThrowException(Exception::TypeError(String::NewFromUtf8Literal(isolate, "afPacketOpen: options object expected")));
    return;
  }
  Local<Object> o = args[0].As<Object>();
  Local<Value> ifv;
  if (!o->Get(isolate->GetCurrentContext(), String::NewFromUtf8Literal(isolate, "interface")).ToLocal(&ifv)) return;
  String::Utf8Value ifnameV(isolate, ifv);
  std::string ifname(*ifnameV ? *ifnameV : "");
  unsigned blockSize = static_cast<unsigned>(NumProp(isolate, o, "blockSize", 1 << 16));
  unsigned rxBlocks = static_cast<unsigned>(NumProp(isolate, o, "rxBlocks", 64));
  unsigned txFrameSize = static_cast<unsigned>(NumProp(isolate, o, "txFrameSize", 2048));
  unsigned txFrames = static_cast<unsigned>(NumProp(isolate, o, "txFrames", 1024));
  unsigned tov = static_cast<unsigned>(NumProp(isolate, o, "blockTimeoutMs", 1));
  bool promisc = NumProp(isolate, o, "promiscuous", 0) != 0;
  bool bypass = NumProp(isolate, o, "qdiscBypass", 0) != 0;
  bool ignoreOut = NumProp(isolate, o, "ignoreOutgoing", 1) != 0;
  int fanoutGroup = static_cast<int>(NumProp(isolate, o, "fanoutGroup", -1));
  int fanoutMode = static_cast<int>(NumProp(isolate, o, "fanoutMode", PACKET_FANOUT_HASH));
  int sndBuf = static_cast<int>(NumProp(isolate, o, "sndBuf", 0));
  bool vnetHdr = NumProp(isolate, o, "vnetHdr", 0) != 0;

  if (ifname.empty() || ifname.size() >= IFNAMSIZ) return ThrowErrno(isolate, "if_nametoindex", ENODEV, ifname);
  // Resolved before socket(): a missing interface is reported as such even without privileges.
  unsigned ifindex = if_nametoindex(ifname.c_str());
  if (ifindex == 0) return ThrowErrno(isolate, "if_nametoindex", errno == 0 ? ENODEV : errno, ifname);
  // Protocol 0: the socket receives nothing until bind() names the interface and ETH_P_ALL.
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(isolate, "socket(AF_PACKET)", errno, ifname);
  auto fail = [&](const char* what) {
    int err = errno;
    close(fd);
    ThrowErrno(isolate, what, err, ifname);
  };
  int v = TPACKET_V3;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) != 0) return fail("setsockopt(PACKET_VERSION)");
  // PACKET_LOSS: a frame the kernel cannot send is skipped instead of stopping the TX ring.
  v = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_LOSS, &v, sizeof v) != 0) return fail("setsockopt(PACKET_LOSS)");
  // PACKET_TX_HAS_OFF: tp_mac gives each TX frame's data offset, so TypeScript can keep the
  // pool buffer's 4-byte alignment and copy by words.
  if (setsockopt(fd, SOL_PACKET, PACKET_TX_HAS_OFF, &v, sizeof v) != 0) return fail("setsockopt(PACKET_TX_HAS_OFF)");
  // PACKET_VNET_HDR (before the rings): every TX frame starts with a struct virtio_net_hdr
  // whose hdr_len tells tpacket_snd how many bytes to copy into the skb's linear part. Without
  // it the kernel copies only the Ethernet header and attaches the rest of the frame as
  // zero-copy page fragments of the ring; a device that orphans the skb (veth, and any path
  // that clones it) must then copy those fragments into freshly allocated pages
  // (skb_copy_ubufs): a page allocation per packet. With hdr_len = the frame length the whole
  // frame is one small memcpy. On receive, the kernel then writes a virtio_net_hdr just before
  // each frame's tp_mac, which the port does not read. Kernels without it: go on without.
  int vnetOn = 0;
  if (vnetHdr) {
    if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &v, sizeof v) == 0) vnetOn = 1;
    else if (errno != ENOPROTOOPT && errno != EINVAL) return fail("setsockopt(PACKET_VNET_HDR)");
  }
  if (bypass && setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &v, sizeof v) != 0) return fail("setsockopt(PACKET_QDISC_BYPASS)");
  if (ignoreOut && setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &v, sizeof v) != 0)
    return fail("setsockopt(PACKET_IGNORE_OUTGOING)");
  if (sndBuf > 0) {
    // Frames sent from the TX ring are charged to the socket's send buffer until the device
    // frees them; a small one makes send() return EAGAIN with frames still queued.
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndBuf, sizeof sndBuf) != 0)
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndBuf, sizeof sndBuf);
  }
  struct tpacket_req3 rx;
  memset(&rx, 0, sizeof rx);
  rx.tp_block_size = blockSize;
  rx.tp_block_nr = rxBlocks;
  rx.tp_frame_size = txFrameSize;  // V3 RX ignores frames, but the sizes must be consistent
  rx.tp_frame_nr = (blockSize / txFrameSize) * rxBlocks;
  rx.tp_retire_blk_tov = tov;
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &rx, sizeof rx) != 0) return fail("setsockopt(PACKET_RX_RING)");
  struct tpacket_req3 tx;
  memset(&tx, 0, sizeof tx);  // TX in V3: fixed frames; block timeout, priv and features must be 0
  unsigned txBlockSize = blockSize > txFrameSize ? blockSize : txFrameSize;
  tx.tp_block_size = txBlockSize;
  tx.tp_frame_size = txFrameSize;
  tx.tp_block_nr = (txFrames * txFrameSize + txBlockSize - 1) / txBlockSize;
  tx.tp_frame_nr = tx.tp_block_nr * (txBlockSize / txFrameSize);
  if (setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &tx, sizeof tx) != 0) return fail("setsockopt(PACKET_TX_RING)");
  size_t rxBytes = static_cast<size_t>(rx.tp_block_size) * rx.tp_block_nr;
  size_t txBytes = static_cast<size_t>(tx.tp_block_size) * tx.tp_block_nr;
  void* addr = mmap(nullptr, rxBytes + txBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (addr == MAP_FAILED) return fail("mmap(PACKET_MMAP rings)");
  struct sockaddr_ll ll;
  memset(&ll, 0, sizeof ll);
  ll.sll_family = AF_PACKET;
  ll.sll_protocol = htons(ETH_P_ALL);
  ll.sll_ifindex = static_cast<int>(ifindex);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&ll), sizeof ll) != 0) {
    int err = errno;
    munmap(addr, rxBytes + txBytes);
    errno = err;
    return fail("bind");
  }
  if (promisc) {
    // A membership, not IFF_PROMISC: the kernel drops it when the socket closes.
    struct packet_mreq mr;
    memset(&mr, 0, sizeof mr);
    mr.mr_ifindex = static_cast<int>(ifindex);
    mr.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) {
      int err = errno;
      munmap(addr, rxBytes + txBytes);
      errno = err;
      return fail("setsockopt(PACKET_ADD_MEMBERSHIP)");
    }
  }
  if (fanoutGroup >= 0) {
    int arg = (fanoutGroup & 0xffff) | (fanoutMode << 16);
    if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0) {
      int err = errno;
      munmap(addr, rxBytes + txBytes);
      errno = err;
      return fail("setsockopt(PACKET_FANOUT)");
    }
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, ifname.c_str(), ifname.size());
  int mtu = ioctl(fd, SIOCGIFMTU, &ifr) == 0 ? ifr.ifr_mtu : 1500;

  // The copy view: one more mapping of the packet pool's region and of these rings, side by
  // side in one range, handed to JavaScript as a (non-shared) ArrayBuffer. Copies between a
  // ring frame and a pool buffer are then one Uint8Array.copyWithin (a memmove) instead of a
  // loop in JavaScript: 4 to 8 times faster for a 1500-byte frame. Only mappings are made
  // here: mremap(old_size 0) duplicates the region's shared mapping (mremap(2)), and the
  // socket's rings are mapped a second time after it. With `regionFile` the region's file is
  // mapped again instead, which also works on hugetlbfs, where mremap cannot duplicate. Where
  // neither can be done (a region that is not a shared file mapping), the port copies in
  // JavaScript as before.
  Local<Value> regionV;
  Local<Value> regionFileV;
  std::string regionFile;
  if (o->Get(isolate->GetCurrentContext(), String::NewFromUtf8Literal(isolate, "regionFile")).ToLocal(&regionFileV) &&
      regionFileV->IsString()) {
    String::Utf8Value rf(isolate, regionFileV);
    if (*rf != nullptr) regionFile = *rf;
  }
  Local<Value> copyView = v8::Undefined(isolate);
  size_t copyRingOff = 0;
  if (o->Get(isolate->GetCurrentContext(), String::NewFromUtf8Literal(isolate, "region")).ToLocal(&regionV) &&
      regionV->IsSharedArrayBuffer()) {
    Local<SharedArrayBuffer> region = regionV.As<SharedArrayBuffer>();
    void* rdata = region->Data();
    size_t rlen = region->ByteLength();
    const size_t align = static_cast<size_t>(2) << 20;  // the rings start on a 2 MiB boundary
    size_t ringOff = (rlen + align - 1) & ~(align - 1);
    size_t total = ringOff + rxBytes + txBytes;
    // The range is reserved 2 MiB aligned (a hugetlbfs file maps only at a huge-page
    // boundary), and the slack on either side given back.
    void* res = rdata == nullptr || rlen == 0
                    ? MAP_FAILED
                    : mmap(nullptr, total + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    void* view = MAP_FAILED;
    if (res != MAP_FAILED) {
      uintptr_t r = reinterpret_cast<uintptr_t>(res);
      uintptr_t v = (r + align - 1) & ~(static_cast<uintptr_t>(align) - 1);
      if (v > r) munmap(res, v - r);
      if (v + total < r + total + align) munmap(reinterpret_cast<void*>(v + total), r + total + align - (v + total));
      view = reinterpret_cast<void*>(v);
    }
    if (view != MAP_FAILED) {
      void* dup = MAP_FAILED;
      if (!regionFile.empty()) {
        int rfd = open(regionFile.c_str(), O_RDWR | O_CLOEXEC);
        if (rfd >= 0) {
          struct stat st;
          if (fstat(rfd, &st) == 0 && static_cast<size_t>(st.st_size) >= rlen)
            dup = mmap(view, rlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, rfd, 0);
          close(rfd);  // the mapping keeps the file referenced
        }
      }
      if (dup == MAP_FAILED) dup = mremap(rdata, 0, rlen, MREMAP_MAYMOVE | MREMAP_FIXED, view);
      void* rings = dup == MAP_FAILED ? MAP_FAILED
                                      : mmap(static_cast<char*>(view) + ringOff, rxBytes + txBytes, PROT_READ | PROT_WRITE,
                                             MAP_SHARED | MAP_FIXED, fd, 0);
      if (rings == MAP_FAILED) {
        munmap(view, total);
      } else {
        std::unique_ptr<BackingStore> vs = ArrayBuffer::NewBackingStore(view, total, Unmap, nullptr);
        copyView = ArrayBuffer::New(isolate, std::move(vs));
        copyRingOff = ringOff;
      }
    }
  }

  std::unique_ptr<BackingStore> store = SharedArrayBuffer::NewBackingStore(addr, rxBytes + txBytes, Unmap, nullptr);
  Local<Object> out = Object::New(isolate);
  SetNum(isolate, out, "fd", fd);
  out->Set(isolate->GetCurrentContext(), String::NewFromUtf8Literal(isolate, "ring"),
           SharedArrayBuffer::New(isolate, std::move(store)))
      .Check();
  SetNum(isolate, out, "rxBytes", static_cast<double>(rxBytes));
  SetNum(isolate, out, "txBytes", static_cast<double>(txBytes));
  SetNum(isolate, out, "txFrames", tx.tp_frame_nr);
  SetNum(isolate, out, "ifindex", ifindex);
  SetNum(isolate, out, "mtu", mtu);
  SetNum(isolate, out, "vnetHdr", vnetOn);
  if (!copyView->IsUndefined()) {
    out->Set(isolate->GetCurrentContext(), String::NewFromUtf8Literal(isolate, "copyView"), copyView).Check();
    SetNum(isolate, out, "copyViewRingOffset", static_cast<double>(copyRingOff));
  }
  args.GetReturnValue().Set(out);
}

// afPacketKick(fd): send(fd, NULL, 0, MSG_DONTWAIT) — the kernel sends every TX ring frame
// marked TP_STATUS_SEND_REQUEST. Returns bytes queued, or -errno (EAGAIN/ENOBUFS: the send
// buffer is full and the frames stay queued for the next kick).
static void AfPacketKick(const FunctionCallbackInfo<Value>& args) {
  int fd = args[0]->Int32Value(args.GetIsolate()->GetCurrentContext()).FromMaybe(-1);
  ssize_t r = send(fd, nullptr, 0, MSG_DONTWAIT);
  args.GetReturnValue().Set(static_cast<double>(r < 0 ? -errno : r));
}

// afPacketStats(fd, ifname) -> [packets, drops, freezeQueueCount, ifFlags]
// PACKET_STATISTICS (struct tpacket_stats_v3) counts since the previous call: the kernel
// resets it on every read. ifFlags is SIOCGIFFLAGS (IFF_UP, IFF_RUNNING), -1 when the
// interface is gone.
static void AfPacketStats(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Local<Context> ctx = isolate->GetCurrentContext();
  int fd = args[0]->Int32Value(ctx).FromMaybe(-1);
  String::Utf8Value ifnameV(isolate, args[1]);
  struct tpacket_stats_v3 st;
  memset(&st, 0, sizeof st);
  socklen_t len = sizeof st;
  if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) memset(&st, 0, sizeof st);
  double flags = -1;
  if (*ifnameV != nullptr && strlen(*ifnameV) < IFNAMSIZ) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, *ifnameV, IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) flags = static_cast<unsigned short>(ifr.ifr_flags);
  }
  Local<Array> out = Array::New(isolate, 4);
  out->Set(ctx, 0, Number::New(isolate, st.tp_packets)).Check();
  out->Set(ctx, 1, Number::New(isolate, st.tp_drops)).Check();
  out->Set(ctx, 2, Number::New(isolate, st.tp_freeze_q_cnt)).Check();
  out->Set(ctx, 3, Number::New(isolate, flags)).Check();
  args.GetReturnValue().Set(out);
}

// ------------------------------------------------------------ AF_PACKET transmit threads
//
// A transmit thread owns the send(2) calls of one AF_PACKET socket. On a veth, and on any
// device whose driver frees the frame at once, the kernel does the receiving side's work
// (the peer's whole network stack) inside the sender's send(): most of a forwarder's CPU per
// packet. With the kick on a thread of its own, that work runs on another core, beside the
// manager's loop that keeps filling the TX ring. The thread makes system calls only: send()
// when TypeScript says there are new frames, futex() to sleep when there are none.
//
// It talks to TypeScript through a small SharedArrayBuffer of int32 words (the control block;
// src/ports/afpacket/tpacket.ts TXC_* names the same words):
//   0 SEQ       TypeScript adds 1 after marking frames TP_STATUS_SEND_REQUEST
//   1 SLEEPING  1 while the thread sleeps (or is about to) on SEQ: TypeScript must wake it
//   2 STOP      1: leave the loop
//   3 KICKS     send() calls made
//   4 ERRORS    send() calls that failed with something else than EAGAIN/ENOBUFS/EINTR
//   5 LAST_ERR  errno of the last failed send()
//   6 SLEEPS    times the thread went to sleep
//   7 RETRIES   send() calls that found the send buffer full (EAGAIN/ENOBUFS) and were retried
// Sleeping is Dekker-style on sequentially consistent atomics: the thread sets SLEEPING and
// then reads SEQ; TypeScript bumps SEQ and then reads SLEEPING; one of them sees the other.

enum { TXC_SEQ = 0, TXC_SLEEPING, TXC_STOP, TXC_KICKS, TXC_ERRORS, TXC_LAST_ERR, TXC_SLEEPS, TXC_RETRIES, TXC_WORDS };

struct TxThread {
  int fd = -1;
  int32_t* ctl = nullptr;
  std::shared_ptr<BackingStore> keep;  // the control block's memory lives as long as the thread
  pthread_t thread{};
  std::string name;
};

static std::mutex txThreadsLock;
static std::vector<TxThread*> txThreads;  // by handle; nullptr once stopped

static inline int32_t Ld(int32_t* w) { return __atomic_load_n(w, __ATOMIC_SEQ_CST); }
static inline void St(int32_t* w, int32_t v) { __atomic_store_n(w, v, __ATOMIC_SEQ_CST); }
static inline void Inc(int32_t* w) { __atomic_add_fetch(w, 1, __ATOMIC_SEQ_CST); }

static void* TxThreadMain(void* arg) {
  TxThread* t = static_cast<TxThread*>(arg);
  prctl(PR_SET_NAME, t->name.c_str(), 0, 0, 0);
  int32_t* c = t->ctl;
  int32_t seen = Ld(&c[TXC_SEQ]);
  bool retry = true;  // one send() at start: frames marked before the thread ran
  while (Ld(&c[TXC_STOP]) == 0) {
    int32_t seq = Ld(&c[TXC_SEQ]);
    if (seq == seen && !retry) {
      St(&c[TXC_SLEEPING], 1);
      if (Ld(&c[TXC_SEQ]) == seen && Ld(&c[TXC_STOP]) == 0) {
        Inc(&c[TXC_SLEEPS]);
        // Bounded, so a stop request is seen even if its wake-up were lost.
        struct timespec ts = {0, 100 * 1000 * 1000};
        syscall(SYS_futex, &c[TXC_SEQ], FUTEX_WAIT, seen, &ts, nullptr, 0);
      }
      St(&c[TXC_SLEEPING], 0);
      continue;
    }
    seen = seq;
    retry = false;
    // Blocking: the kernel keeps taking frames marked while it sends (tpacket_snd loops until
    // none is left), and waits for send-buffer room instead of failing; SO_SNDTIMEO bounds it.
    ssize_t r = send(t->fd, nullptr, 0, 0);
    Inc(&c[TXC_KICKS]);
    if (r >= 0) continue;
    int err = errno;
    if (err == EINTR) {
      retry = true;
      continue;
    }
    St(&c[TXC_LAST_ERR], err);
    if (err == EAGAIN || err == ENOBUFS) Inc(&c[TXC_RETRIES]);
    else Inc(&c[TXC_ERRORS]);
    // Frames stay marked (send buffer full, link down): try again in a millisecond.
    retry = true;
    struct timespec pause = {0, 1000 * 1000};
    nanosleep(&pause, nullptr);
  }
  return nullptr;
}

// afPacketTxStart(fd, ctl: SharedArrayBuffer (>= 32 bytes, zeroed), name) -> handle
static void AfPacketTxStart(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Local<Context> ctx = isolate->GetCurrentContext();
  int fd = args[0]->Int32Value(ctx).FromMaybe(-1);
  if (!args[1]->IsSharedArrayBuffer() || args[1].As<SharedArrayBuffer>()->ByteLength() < TXC_WORDS * 4) {
    isolate->ThrowException(Exception::TypeError(
        String::NewFromUtf8Literal(isolate, "afPacketTxStart: ctl must be a SharedArrayBuffer of at least 32 bytes")));
    return;
  }
  String::Utf8Value namev(isolate, args[2]);
  TxThread* t = new TxThread();
  t->fd = fd;
  t->keep = args[1].As<SharedArrayBuffer>()->GetBackingStore();
  t->ctl = static_cast<int32_t*>(t->keep->Data());
  t->name = std::string(*namev ? *namev : "netvm-tx").substr(0, 15);
  // A blocking send() waits at most this long for send-buffer room, so the thread always
  // comes back to look at STOP.
  struct timeval tv = {0, 100 * 1000};
  if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
    int err = errno;
    delete t;
    return ThrowErrno(isolate, "setsockopt(SO_SNDTIMEO)", err, "the transmit thread's socket");
  }
  int rc = pthread_create(&t->thread, nullptr, TxThreadMain, t);
  if (rc != 0) {
    delete t;
    return ThrowErrno(isolate, "pthread_create", rc, "the transmit thread");
  }
  std::lock_guard<std::mutex> g(txThreadsLock);
  txThreads.push_back(t);
  args.GetReturnValue().Set(static_cast<double>(txThreads.size() - 1));
}

static void StopTxThread(TxThread* t) {
  St(&t->ctl[TXC_STOP], 1);
  syscall(SYS_futex, &t->ctl[TXC_SEQ], FUTEX_WAKE, 1, nullptr, nullptr, 0);
  pthread_join(t->thread, nullptr);
  delete t;
}

// afPacketTxStop(handle): stops the thread and waits for it (at most ~100 ms: SO_SNDTIMEO).
static void AfPacketTxStop(const FunctionCallbackInfo<Value>& args) {
  int h = args[0]->Int32Value(args.GetIsolate()->GetCurrentContext()).FromMaybe(-1);
  TxThread* t = nullptr;
  {
    std::lock_guard<std::mutex> g(txThreadsLock);
    if (h >= 0 && static_cast<size_t>(h) < txThreads.size()) {
      t = txThreads[h];
      txThreads[h] = nullptr;
    }
  }
  if (t != nullptr) StopTxThread(t);
  args.GetReturnValue().Set(t != nullptr);
}

// afPacketClose(fd, ring, copyView?): closes the socket and replaces the ring mapping with anonymous
// zero pages at the same address, so the kernel's ring memory is released now while the
// SharedArrayBuffer (freed later by the garbage collector) stays valid to read: a zeroed
// block reads as owned by the kernel, so a late rxBurst finds nothing.
static void AfPacketClose(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  int fd = args[0]->Int32Value(isolate->GetCurrentContext()).FromMaybe(-1);
  // A transmit thread still sending on this socket stops first: it must not send() on a
  // closed (or reused) descriptor.
  std::vector<TxThread*> stop;
  {
    std::lock_guard<std::mutex> g(txThreadsLock);
    for (auto& t : txThreads)
      if (t != nullptr && t->fd == fd) {
        stop.push_back(t);
        t = nullptr;
      }
  }
  for (TxThread* t : stop) StopTxThread(t);
  if (args[1]->IsSharedArrayBuffer()) {
    Local<SharedArrayBuffer> sab = args[1].As<SharedArrayBuffer>();
    void* data = sab->Data();
    size_t n = sab->ByteLength();
    if (data != nullptr && n > 0)
      mmap(data, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  }
  // The copy view, likewise: zero pages in place of the region's duplicate and the rings.
  if (args.Length() > 2 && args[2]->IsArrayBuffer()) {
    Local<ArrayBuffer> ab = args[2].As<ArrayBuffer>();
    void* data = ab->Data();
    size_t n = ab->ByteLength();
    if (data != nullptr && n > 0)
      mmap(data, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  }
  int r = fd >= 0 ? close(fd) : 0;
  args.GetReturnValue().Set(r == 0);
}

void InitXdp(Local<Object> exports);  // xdp.cc

static void Init(Local<Object> exports, Local<Value>, void*) {
  NODE_SET_METHOD(exports, "mapFile", MapFile);
  NODE_SET_METHOD(exports, "futexWait", FutexWait);
  NODE_SET_METHOD(exports, "futexWake", FutexWake);
  NODE_SET_METHOD(exports, "setThreadName", SetThreadName);
  NODE_SET_METHOD(exports, "schedYield", SchedYield);
  NODE_SET_METHOD(exports, "setAffinity", SetAffinity);
  NODE_SET_METHOD(exports, "afPacketOpen", AfPacketOpen);
  NODE_SET_METHOD(exports, "afPacketKick", AfPacketKick);
  NODE_SET_METHOD(exports, "afPacketStats", AfPacketStats);
  NODE_SET_METHOD(exports, "afPacketTxStart", AfPacketTxStart);
  NODE_SET_METHOD(exports, "afPacketTxStop", AfPacketTxStop);
  NODE_SET_METHOD(exports, "afPacketClose", AfPacketClose);
  InitXdp(exports);
}

}  // namespace netvm

NODE_MODULE_CONTEXT_AWARE(netvm_native, netvm::Init)
