// netvm native addon: system calls only.
//
// Everything here is a thin wrapper over one Linux system call (open/ftruncate/mmap,
// futex, prctl). No packet logic lives here; the data path never calls into this file per
// packet. We use V8's API directly (not N-API) because N-API cannot create a
// SharedArrayBuffer over foreign memory, and only a SharedArrayBuffer lets `Atomics` work on
// the mapped region (V8 BackingStore, see v8.h `SharedArrayBuffer::New(isolate, store)`).
#include <node.h>
#include <v8.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <linux/futex.h>
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
using v8::Number;
using v8::Object;
using v8::SharedArrayBuffer;
using v8::String;
using v8::Value;

static void ThrowErrno(Isolate* isolate, const char* what, int err, const std::string& path) {
  std::string msg = std::string(what) + " failed for " + path + ": " + strerror(err);
  Local<Value> e = Exception::Error(String::NewFromUtf8(isolate, msg.c_str()).ToLocalChecked());
  Local<Context> ctx = isolate->GetCurrentContext();
  e.As<Object>()
      ->Set(ctx, String::NewFromUtf8Literal(isolate, "errno"), Number::New(isolate, err))
      .Check();
  e.As<Object>()
      ->Set(ctx, String::NewFromUtf8Literal(isolate, "syscall"),
            String::NewFromUtf8(isolate, what).ToLocalChecked())
      .Check();
  isolate->ThrowException(e);
}

static void Unmap(void* data, size_t length, void* /*deleter_data*/) {
  if (data != nullptr && length > 0) munmap(data, length);
}

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

static void Init(Local<Object> exports, Local<Value>, void*) {
  NODE_SET_METHOD(exports, "mapFile", MapFile);
  NODE_SET_METHOD(exports, "futexWait", FutexWait);
  NODE_SET_METHOD(exports, "futexWake", FutexWake);
  NODE_SET_METHOD(exports, "setThreadName", SetThreadName);
  NODE_SET_METHOD(exports, "schedYield", SchedYield);
}

}  // namespace netvm

NODE_MODULE_CONTEXT_AWARE(netvm_native, netvm::Init)
