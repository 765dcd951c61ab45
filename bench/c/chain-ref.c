// chain-ref: the C reference for `npm run bench`.
//
// generator -> k forward NFs -> sink, written in C with the *same* design as netvm, so that
// the benchmark's ratio netvm / C measures the cost of TypeScript on Node.js and nothing else:
//
//   * one shared region, mmap(MAP_SHARED | MAP_ANONYMOUS) before fork(), laid out like
//     src/core/layout.ts: header | process slots | services | chains | rings | flow table |
//     pool (65536 buffers of 2048 bytes, 2 MiB aligned; metadata in each buffer's first 64
//     bytes with the same i32 fields, packet data at the 128-byte headroom);
//   * descriptors are 32-bit (segment << 24 | index), never pointers;
//   * rings as in src/core/ring.ts, which follows DPDK's rte_ring
//     (https://doc.dpdk.org/guides/prog_guide/ring_lib.html): free-running 32-bit indices,
//     producer head reserved by CAS, descriptors written, then the producer waits until the
//     producer tail reaches its reservation and publishes in order; single consumer for NF and
//     port rings, multi consumer (CAS on the consumer head) for the pool ring; producer and
//     consumer indices on separate 64-byte cache lines; batches of up to 64 (BATCH). As in netvm, each
//     reservation is first written to the process slot (for crash repair; the repair itself is
//     not needed here, but the stores are paid for), every dequeue stamps the taker into the
//     buffer's M_OWNER, and NULL descriptors are skipped;
//   * the pool (src/core/pool.ts): an MPMC ring of every free buffer fronted by a per-process
//     cache of 1024 entries (refill to half + request, spill half), its fill published in the
//     process slot so free = pool ring + every cache;
//   * sleeping (Sleeper in src/core/ring.ts, NF loop in src/nflib/runtime.ts): a shared-mode
//     consumer that finds its ring empty 256 times in a row stores 1 in its sleep word,
//     re-checks the ring (a producer that published before it could see the flag is caught
//     here), then FUTEX_WAITs on the word (expected 1, 50 ms timeout) and clears it. A
//     producer, after publishing its tail, loads the consumer's word and, if it is set, CASes
//     it 1 -> 0 and calls FUTEX_WAKE; only the CAS winner wakes, so there is at most one wake
//     syscall per sleep. Both sides use sequentially consistent atomics (like JS Atomics), so
//     "store flag; load tail" against "store tail; load flag" cannot both miss (the classic
//     Dekker argument; see also U. Drepper, "Futexes Are Tricky", 2011).
//     The futex is *not* FUTEX_PRIVATE_FLAG: the word lives in MAP_SHARED memory used by
//     several processes. futex(2): "In order to share a futex between processes, the futex
//     is placed in a region of shared memory ... the futex word may have different virtual
//     addresses in different processes" and FUTEX_PRIVATE_FLAG "tells the kernel that the
//     futex is process-private and not shared with another process"
//     (https://man7.org/linux/man-pages/man2/futex.2.html). FUTEX_WAIT returns EAGAIN at once
//     when the word no longer holds the expected value, which closes the last race;
//   * backpressure as in src/core/router.ts: an NF whose next ring is full re-tries, yielding
//     the core (sched_yield) every 16 tries, for at most 100 ms, then drops and counts; the
//     manager never waits: it holds what did not fit, reads no input while it holds, and
//     yields when it has nothing else to do; a producer stuck behind an earlier reservation
//     yields after 256 spins (lock-holder preemption on an oversubscribed machine).
//     Spin loops have no PAUSE instruction because JavaScript cannot issue one either;
//   * the manager (src/manager/manager.ts loop) runs generator + flow director + sink in one
//     loop: alloc up to 64 buffers, copy the 64-byte UDP/IPv4 template into each and patch the
//     per-flow source address, port and precomputed checksums (1024 flows round-robin), write
//     the metadata with the flow's precomputed symmetric Toeplitz hash, classify (parse the
//     headers, exact-match lookup in the 65536-entry open-addressing flow table, 8 probes),
//     route by chain step into NF 1's ring; then dequeue the sink's tx ring (up to 256), count
//     packets and bytes, and free the buffers to the pool;
//   * each NF process dequeues up to 64, runs a trivial forward NF on each packet (reads the
//     length and the EtherType, sets action = next) and routes each by its metadata (chain
//     step + 1 -> service -> instance slot -> ring, or the sink's port ring), staging per ring
//     and enqueueing once per batch.
//
// No system call and no allocation per packet; the only syscalls on the data path are
// sched_yield (behind a full ring) and the futex pair (sleep / wake per idle period).
//
// Usage: chain-ref --nfs K --mode shared|poll [--seconds S] [--warmup W]
// Prints one JSON line: {"impl":"c","nfs":K,"mode":"...","mpps":...,"packets":...,"seconds":...}
// then stops the NFs, drains the rings and checks that every buffer is back in the pool
// (exit 1 with "leak" on stderr if not).
//
// Build: cc -O2 -march=native -pthread -o chain-ref chain-ref.c   (C11, Linux, libc only)

#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// ---------------------------------------------------------------- parameters (DEFAULT_PARAMS)

enum {
  BUF_SIZE = 2048,
  BUF_SHIFT = 11,
  BUF_COUNT = 65536,
  HEADROOM = 128,
  RING_SIZE = 4096,
  FLOW_ENTRIES = 65536,
  MAX_STEPS = 16,
  MAX_CHAINS = 64,
  MAX_SERVICES = 64,
  MAX_INSTANCES = 16,
  MAX_PORTS = 16,
  MAX_NFS = 62,
  BATCH = 64,
  POOL_CACHE = 512,           // Pool cache size; the cache array holds twice that
  YIELD_SPINS = 256,          // ring.ts: spins behind an earlier reservation before yielding
  SPIN_BEFORE_SLEEP = 256,    // runtime.ts
  IDLE_BEFORE_SLEEP = 64,     // manager.ts
  SLEEP_MS = 50,              // runtime.ts
  WAIT_MS = 100,              // router.ts: longest wait for room in a full ring
  FLOWS = 1024,
  PKT_LEN = 64,
  PROBE = 8,                  // classifier.ts
  GEN_PORT = 0,
  SINK_PORT = 1,
};

#define PAGE 4096u
#define HUGE_PAGE (2u * 1024u * 1024u)
#define CACHE_LINE 64

// header (i32 indices)
enum { H_MAGIC = 0, H_STATE = 2, H_EPOCH = 4 };
enum { STATE_RUNNING = 1, STATE_STOPPING = 2 };

// buffer metadata (i32 indices from the buffer start), as in layout.ts
enum {
  M_OWNER = 0, M_LEN = 1, M_HASH = 2, M_CHAIN = 3, M_STEP = 4, M_ACTION = 5, M_DEST = 6,
  M_INPORT = 7, M_DATA_OFF = 8, M_FLAGS = 9, M_TS_SEC = 10, M_TS_NSEC = 11,
};
#define M_STAMP_F64 6 /* f64 index */
enum { ACTION_NEXT = 0, ACTION_DROP = 1, ACTION_TO_SERVICE = 2, ACTION_TO_PORT = 3 };
enum { STEP_END = 0, STEP_SERVICE = 1, STEP_PORT = 2, STEP_DROP = 3 };
#define FLAG_HASH 1
#define DESC_SEGMENT_SHIFT 24
#define DESC_INDEX_MASK 0xffffff
#define NULL_DESC (-1)

// flow table entry (i32 indices), as in layout.ts
enum { F_STATE = 0, F_HASH = 1, F_KEYINFO = 2, F_PORTS = 3, F_SRC = 4, F_DST = 8, F_CHAIN = 12, F_HITS = 13 };

// NF counters (f64, slot byte 128 on), as in layout.ts NF_COUNTERS
enum {
  C_RX, C_TX, C_DROP_ACTION, C_DROP_RING_FULL, C_DROP_NO_ROUTE, C_DROP_INVALID, C_ACT_NEXT,
  C_ACT_DROP, C_ACT_TO_SERVICE, C_ACT_TO_PORT, C_WAKEUPS, C_SLEEPS, C_BATCHES, C_TX_TO_NF,
  C_TX_TO_PORT, C_HANDLER_ERRORS, C_COUNT
};
// port counters (f64)
enum { PC_RX, PC_TX, PC_RX_BYTES, PC_TX_BYTES, PC_RX_NOBUF, PC_TX_ERRORS, PC_COUNT = 12 };

// ---------------------------------------------------------------- shared structures

/** A process slot (SLOT_BYTES = 512), field order as the S_* indices of layout.ts. */
struct slot {
  _Atomic int32_t state;        // 0
  int32_t pid;                  // 1
  int32_t service;              // 2
  int32_t instance;             // 3
  _Atomic uint32_t sleep;       // 4  S_SLEEP: the futex word, 1 = asleep (wake me)
  _Atomic int32_t seen_epoch;   // 5
  _Atomic int32_t cache;        // 6  S_CACHE: buffers in this process's pool cache
  int32_t mode;                 // 7
  _Atomic int32_t resv_ring;    // 8  reservation record: ring id + 1 (0 = none)
  int32_t resv_start;           // 9
  int32_t resv_end;             // 10
  int32_t resv_side;            // 11
  _Atomic int32_t heartbeat;    // 12
  int32_t key;                  // 13
  _Atomic int32_t inflight;     // 14
  int32_t user;                 // 15 (forward NF: IPv4 packets seen, keeps the reads alive)
  char pad0[128 - 16 * 4];
  double counters[C_COUNT];     // byte 128
  char pad1[512 - 128 - C_COUNT * 8];
};
_Static_assert(sizeof(struct slot) == 512, "slot is 512 bytes");

struct port_rec {
  int32_t state, link;
  char pad0[56];
  double counters[PC_COUNT];
  char pad1[512 - 64 - PC_COUNT * 8];
};
_Static_assert(sizeof(struct port_rec) == 512, "port record is 512 bytes");

/** Ring header (RING_HEADER_BYTES = 3 cache lines), then the descriptor slots. */
struct ring {
  _Alignas(CACHE_LINE) _Atomic uint32_t prod_head;
  _Atomic uint32_t prod_tail;
  _Alignas(CACHE_LINE) _Atomic uint32_t cons_head;
  _Atomic uint32_t cons_tail;
  _Alignas(CACHE_LINE) uint32_t capacity;
  uint32_t mask;
  int32_t waiter; // i32 index in the region of the consumer's sleep word, or -1
  int32_t id;
  _Alignas(CACHE_LINE) int32_t slots[];
};
_Static_assert(offsetof(struct ring, cons_head) == 64, "consumer on its own line");
_Static_assert(offsetof(struct ring, slots) == 192, "3-line header");

struct service_rec {
  int32_t count;
  int32_t slots[MAX_INSTANCES];
  char pad[128 - 4 - MAX_INSTANCES * 4];
};

struct layout {
  int max_slots, nrings;
  size_t slots_off, ports_off, services_off, chains_off, rings_off, flow_off, seg_off, total;
  size_t ring_off[1 + MAX_NFS + 2 + MAX_PORTS];
  uint32_t ring_cap[1 + MAX_NFS + 2 + MAX_PORTS];
};

static struct layout L;
static uint8_t *R; // the region (same address in every process: mapped before fork)

#define POOL_RING 0
static inline int nf_ring_id(int slot) { return 1 + slot; }
static inline int port_ring_id(int port) { return 1 + L.max_slots + port; }

static inline int32_t *I32(void) { return (int32_t *)R; }
static inline _Atomic int32_t *hdr_word(int i) { return (_Atomic int32_t *)(R + 4 * (size_t)i); }
static inline struct slot *slot_at(int s) { return (struct slot *)(R + L.slots_off) + s; }
static inline struct port_rec *port_at(int p) { return (struct port_rec *)(R + L.ports_off) + p; }
static inline struct service_rec *service_at(int s) { return (struct service_rec *)(R + L.services_off) + s; }
static inline int32_t *chains_table(void) { return (int32_t *)(R + L.chains_off); }
static inline struct ring *ring_at(int id) { return (struct ring *)(R + L.ring_off[id]); }
static inline int32_t *flow_entry(uint32_t e) { return (int32_t *)(R + L.flow_off + (size_t)e * 64); }
/** bufferOffset(): HMAP[segment] + index * bufSize (one segment here). */
static inline int32_t *buf_meta(int32_t d) {
  return (int32_t *)(R + L.seg_off + ((size_t)((uint32_t)d & DESC_INDEX_MASK) << BUF_SHIFT));
}

static size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

static void compute_layout(int nfs) {
  L.max_slots = nfs + 1; // slot 0 = manager, 1..k = NFs
  size_t off = PAGE;
  L.slots_off = off;
  off = align_up(off + (size_t)L.max_slots * sizeof(struct slot), PAGE);
  L.ports_off = off;
  off = align_up(off + 2 * sizeof(struct port_rec), PAGE);
  L.services_off = off;
  off = align_up(off + MAX_SERVICES * sizeof(struct service_rec), PAGE);
  L.chains_off = off;
  off = align_up(off + MAX_CHAINS * MAX_STEPS * 4, PAGE);
  L.rings_off = off;
  L.nrings = 1 + L.max_slots + 2;
  for (int r = 0; r < L.nrings; r++) {
    uint32_t cap = r == POOL_RING ? BUF_COUNT : RING_SIZE; // pool: next power of two >= N
    L.ring_off[r] = off;
    L.ring_cap[r] = cap;
    off = align_up(off + sizeof(struct ring) + (size_t)cap * 4, CACHE_LINE);
  }
  off = align_up(off, PAGE);
  L.flow_off = off;
  off = align_up(off + (size_t)FLOW_ENTRIES * 64, HUGE_PAGE);
  L.seg_off = off;
  off = align_up(off + (size_t)BUF_COUNT * BUF_SIZE, HUGE_PAGE);
  L.total = off;
}

// ---------------------------------------------------------------- futex (futex(2))

static long futex_wait(_Atomic uint32_t *word, uint32_t expected, int timeout_ms) {
  struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
  // FUTEX_WAIT, not FUTEX_WAIT_PRIVATE: the word is in memory shared by several processes.
  return syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, &ts, NULL, 0);
}

static long futex_wake(_Atomic uint32_t *word, int count) {
  return syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, count, NULL, NULL, 0);
}

static double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts); // vDSO: no system call
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline bool stopping_now(void) { return atomic_load(hdr_word(H_STATE)) == STATE_STOPPING; }

// ---------------------------------------------------------------- rings (src/core/ring.ts)

enum { SIDE_PROD = 0, SIDE_CONS = 1 };

struct ring_h {
  struct ring *h;
  int32_t *slots;
  uint32_t capacity, mask;
  int id;
  struct slot *me; // the process slot holding the reservation record
  _Atomic uint32_t *waiter;
  uint64_t wakeups;
};

static void ring_handle(struct ring_h *r, int id, int my_slot) {
  r->h = ring_at(id);
  r->slots = r->h->slots;
  r->capacity = r->h->capacity;
  r->mask = r->h->mask;
  r->id = id;
  r->me = slot_at(my_slot);
  r->waiter = r->h->waiter >= 0 ? (_Atomic uint32_t *)(I32() + r->h->waiter) : NULL;
  r->wakeups = 0;
}

static inline uint32_t ring_count(const struct ring_h *r) {
  return atomic_load(&r->h->prod_tail) - atomic_load(&r->h->cons_tail);
}

/** Multi-producer burst enqueue: as many as fit, in order; wakes a sleeping consumer. */
static int ring_enqueue(struct ring_h *r, const int32_t *src, int n) {
  struct ring *h = r->h;
  struct slot *me = r->me;
  uint32_t head;
  int take;
  for (;;) {
    head = atomic_load(&h->prod_head);
    int free_ = (int)r->capacity - (int32_t)(head - atomic_load(&h->cons_tail));
    take = n < free_ ? n : free_;
    if (take <= 0) return 0;
    me->resv_start = (int32_t)head;
    me->resv_end = (int32_t)(head + (uint32_t)take);
    me->resv_side = SIDE_PROD;
    atomic_store(&me->resv_ring, r->id + 1);
    if (atomic_compare_exchange_strong(&h->prod_head, &head, head + (uint32_t)take)) break;
  }
  int32_t *s = r->slots;
  uint32_t m = r->mask;
  for (int k = 0; k < take; k++) s[(head + (uint32_t)k) & m] = src[k];
  // Publish in order: wait for earlier reservations (other producers) to publish theirs.
  int spins = 0;
  while (atomic_load(&h->prod_tail) != head) {
    if (++spins >= YIELD_SPINS) sched_yield();
  }
  atomic_store(&h->prod_tail, head + (uint32_t)take);
  atomic_store(&me->resv_ring, 0);
  _Atomic uint32_t *w = r->waiter;
  if (w != NULL && atomic_load(w) != 0) {
    uint32_t one = 1;
    if (atomic_compare_exchange_strong(w, &one, 0)) {
      futex_wake(w, 1);
      r->wakeups++;
    }
  }
  return take;
}

static inline int copy_out(struct ring_h *r, int32_t *dst, uint32_t head, int take, int owner) {
  const int32_t *s = r->slots;
  uint32_t m = r->mask;
  int got = 0;
  for (int k = 0; k < take; k++) {
    int32_t d = s[(head + (uint32_t)k) & m];
    if (d == NULL_DESC) continue; // abandoned by a dead producer
    buf_meta(d)[M_OWNER] = owner;
    dst[got++] = d;
  }
  return got;
}

/** Single-consumer burst dequeue. */
static int ring_dequeue(struct ring_h *r, int32_t *dst, int n, int owner) {
  struct ring *h = r->h;
  uint32_t head = atomic_load_explicit(&h->cons_head, memory_order_relaxed);
  int avail = (int32_t)(atomic_load(&h->prod_tail) - head);
  int take = n < avail ? n : avail;
  if (take <= 0) return 0;
  int got = copy_out(r, dst, head, take, owner);
  atomic_store_explicit(&h->cons_head, head + (uint32_t)take, memory_order_relaxed);
  atomic_store(&h->cons_tail, head + (uint32_t)take);
  return got;
}

/** Multi-consumer burst dequeue (the pool ring). */
static int ring_dequeue_mc(struct ring_h *r, int32_t *dst, int n, int owner) {
  struct ring *h = r->h;
  struct slot *me = r->me;
  uint32_t head;
  int take;
  for (;;) {
    head = atomic_load(&h->cons_head);
    int avail = (int32_t)(atomic_load(&h->prod_tail) - head);
    take = n < avail ? n : avail;
    if (take <= 0) return 0;
    me->resv_start = (int32_t)head;
    me->resv_end = (int32_t)(head + (uint32_t)take);
    me->resv_side = SIDE_CONS;
    atomic_store(&me->resv_ring, r->id + 1);
    if (atomic_compare_exchange_strong(&h->cons_head, &head, head + (uint32_t)take)) break;
  }
  int got = copy_out(r, dst, head, take, owner);
  int spins = 0;
  while (atomic_load(&h->cons_tail) != head) {
    if (++spins >= YIELD_SPINS) sched_yield();
  }
  atomic_store(&h->cons_tail, head + (uint32_t)take);
  atomic_store(&me->resv_ring, 0);
  return got;
}

// ---------------------------------------------------------------- sleeper

/** Returns true if it slept (woken or timed out), false if work appeared first. */
static bool sleeper_sleep(_Atomic uint32_t *word, struct ring_h *rx, int timeout_ms) {
  atomic_store(word, 1);
  if (ring_count(rx) > 0 || stopping_now()) { // the re-check that prevents lost wake-ups
    atomic_store(word, 0);
    return false;
  }
  futex_wait(word, 1, timeout_ms);
  atomic_store(word, 0);
  return true;
}

static void sleeper_wake(_Atomic uint32_t *word) {
  uint32_t one = 1;
  if (atomic_compare_exchange_strong(word, &one, 0)) futex_wake(word, 1);
}

// ---------------------------------------------------------------- pool (src/core/pool.ts)

#define CACHE_LEN (POOL_CACHE * 2)

struct pool {
  struct ring_h ring;
  int32_t cache[CACHE_LEN];
  int cached;
  int owner;
  _Atomic int32_t *cache_word;
  uint64_t alloc_failures;
};

static void pool_init(struct pool *p, int my_slot) {
  ring_handle(&p->ring, POOL_RING, my_slot);
  p->cached = 0;
  p->owner = my_slot;
  p->cache_word = &slot_at(my_slot)->cache;
  p->alloc_failures = 0;
}

static int pool_alloc(struct pool *p, int32_t *dst, int n) {
  if (p->cached < n) {
    // Refill to half the cache beyond this request, never past the cache's end.
    int room = CACHE_LEN - p->cached;
    int want = p->cached + (CACHE_LEN >> 1) + n > CACHE_LEN ? room : (CACHE_LEN >> 1) + n - p->cached;
    p->cached += ring_dequeue_mc(&p->ring, p->cache + p->cached, want, p->owner);
  }
  int k = n < p->cached ? n : p->cached;
  int from = p->cached - k;
  for (int i = 0; i < k; i++) dst[i] = p->cache[from + i];
  p->cached = from;
  atomic_store_explicit(p->cache_word, from, memory_order_relaxed);
  if (k < n) k += ring_dequeue_mc(&p->ring, dst + k, n - k, p->owner);
  if (k < n) p->alloc_failures += (uint64_t)(n - k);
  return k;
}

static void pool_spill(struct pool *p) {
  int put = ring_enqueue(&p->ring, p->cache, CACHE_LEN >> 1);
  memmove(p->cache, p->cache + put, (size_t)(p->cached - put) * 4);
  p->cached -= put;
}

static void pool_free(struct pool *p, const int32_t *src, int n) {
  for (int i = 0; i < n; i++) {
    if (p->cached == CACHE_LEN) pool_spill(p);
    p->cache[p->cached++] = src[i];
  }
  atomic_store_explicit(p->cache_word, p->cached, memory_order_relaxed);
}

static void pool_flush(struct pool *p) {
  while (p->cached > 0) {
    int put = ring_enqueue(&p->ring, p->cache, p->cached);
    memmove(p->cache, p->cache + put, (size_t)(p->cached - put) * 4);
    p->cached -= put;
  }
  atomic_store_explicit(p->cache_word, 0, memory_order_relaxed);
}

// ---------------------------------------------------------------- router (src/core/router.ts)

enum { ON_FULL_WAIT, ON_FULL_HOLD };
#define MAX_RINGS (1 + MAX_NFS + 1 + MAX_PORTS)
#define STAGE_MAX 256

struct router {
  int slot;
  int on_full;
  struct pool *pool;
  double *c;                         // this slot's counters
  int32_t chains[MAX_CHAINS * MAX_STEPS];
  int32_t svc_count[MAX_SERVICES];
  int32_t svc_slots[MAX_SERVICES * MAX_INSTANCES];
  int32_t epoch;
  int stage_len;                     // batchMax * 2
  struct ring_h rings[MAX_RINGS];
  bool have[MAX_RINGS];
  int32_t stage[MAX_RINGS][STAGE_MAX];
  int staged[MAX_RINGS];
  int touched[MAX_RINGS];
  int n_touched;
  int32_t drops[STAGE_MAX];
  int n_drops;
  int held;
};

static int32_t router_refresh(struct router *rt) {
  int32_t e = atomic_load(hdr_word(H_EPOCH));
  if (e == rt->epoch) return e;
  memcpy(rt->chains, chains_table(), sizeof rt->chains);
  for (int s = 0; s < MAX_SERVICES; s++) {
    struct service_rec *sv = service_at(s);
    int n = sv->count < MAX_INSTANCES ? sv->count : MAX_INSTANCES;
    rt->svc_count[s] = n;
    for (int k = 0; k < n; k++) rt->svc_slots[s * MAX_INSTANCES + k] = sv->slots[k];
  }
  rt->epoch = e;
  return e;
}

static void router_init(struct router *rt, int slot, struct pool *pool, int batch_max, int on_full) {
  memset(rt, 0, sizeof *rt);
  rt->slot = slot;
  rt->pool = pool;
  rt->on_full = on_full;
  rt->c = slot_at(slot)->counters;
  rt->stage_len = batch_max * 2;
  rt->epoch = -1;
  router_refresh(rt);
}

static void router_drop(struct router *rt, int32_t d, int cause) {
  rt->c[cause]++;
  rt->drops[rt->n_drops++] = d;
  if (rt->n_drops == rt->stage_len) {
    pool_free(rt->pool, rt->drops, rt->n_drops);
    rt->n_drops = 0;
  }
}

static void router_flush_ring(struct router *rt, int id) {
  int n = rt->staged[id];
  int32_t *st = rt->stage[id];
  struct ring_h *ring = &rt->rings[id];
  int put = ring_enqueue(ring, st, n);
  if (put < n && rt->on_full == ON_FULL_WAIT && !stopping_now()) {
    // Backpressure: wait for the consumer to make room, yielding the core to it.
    double deadline = now_sec() + WAIT_MS / 1000.0;
    for (int spin = 0; put < n; spin++) {
      put += ring_enqueue(ring, st + put, n - put);
      if (put >= n || (spin & 15) != 15) continue;
      sched_yield();
      if (stopping_now() || now_sec() > deadline) break;
    }
  }
  rt->c[C_TX] += put;
  rt->c[id >= port_ring_id(0) ? C_TX_TO_PORT : C_TX_TO_NF] += put;
  if (put < n && rt->on_full == ON_FULL_HOLD) {
    memmove(st, st + put, (size_t)(n - put) * 4);
    rt->staged[id] = n - put;
    rt->held += n - put;
    return;
  }
  if (put < n) {
    rt->c[C_DROP_RING_FULL] += n - put;
    pool_free(rt->pool, st + put, n - put);
  }
  rt->staged[id] = 0;
}

static void router_push(struct router *rt, int id, int32_t d) {
  if (!rt->have[id]) {
    ring_handle(&rt->rings[id], id, rt->slot);
    rt->have[id] = true;
  }
  int n = rt->staged[id];
  if (n == 0) rt->touched[rt->n_touched++] = id;
  if (n == rt->stage_len) {
    router_flush_ring(rt, id);
    if (rt->staged[id] == rt->stage_len) {
      router_drop(rt, d, C_DROP_RING_FULL);
      return;
    }
  }
  rt->stage[id][rt->staged[id]++] = d;
}

static inline int pick_instance(struct router *rt, int service) {
  int n = rt->svc_count[service];
  if (n == 1) return rt->svc_slots[service * MAX_INSTANCES];
  if (n == 0) return -1;
  return rt->svc_slots[service * MAX_INSTANCES]; // one instance per service in this bench
}

/** Routes one packet by its metadata action (only NEXT occurs in this chain). */
static void router_route(struct router *rt, int32_t d) {
  int32_t *m = buf_meta(d);
  int action = m[M_ACTION];
  m[M_ACTION] = ACTION_NEXT;
  if (action != ACTION_NEXT) {
    router_drop(rt, d, action == ACTION_DROP ? C_DROP_ACTION : C_DROP_NO_ROUTE);
    return;
  }
  rt->c[C_ACT_NEXT]++;
  int step = m[M_STEP] + 1;
  int chain = m[M_CHAIN];
  if (step >= MAX_STEPS || chain < 0 || chain >= MAX_CHAINS) {
    router_drop(rt, d, C_DROP_NO_ROUTE);
    return;
  }
  uint32_t code = (uint32_t)rt->chains[chain * MAX_STEPS + step];
  uint32_t kind = code >> 24;
  int target = (int)(code & 0xffffff);
  m[M_STEP] = step;
  if (kind == STEP_SERVICE) {
    int slot = target < MAX_SERVICES ? pick_instance(rt, target) : -1;
    if (slot < 0) router_drop(rt, d, C_DROP_NO_ROUTE);
    else router_push(rt, nf_ring_id(slot), d);
  } else if (kind == STEP_PORT) {
    router_push(rt, port_ring_id(target), d);
  } else {
    router_drop(rt, d, kind == STEP_DROP ? C_DROP_ACTION : C_DROP_NO_ROUTE);
  }
}

static void router_flush(struct router *rt) {
  int nt = rt->n_touched;
  rt->n_touched = 0;
  rt->held = 0;
  for (int t = 0; t < nt; t++) {
    int id = rt->touched[t];
    if (rt->staged[id] > 0) {
      router_flush_ring(rt, id);
      if (rt->staged[id] > 0) rt->touched[rt->n_touched++] = id;
    }
  }
  if (rt->n_drops > 0) {
    pool_free(rt->pool, rt->drops, rt->n_drops);
    rt->n_drops = 0;
  }
}

static void router_drop_held(struct router *rt) {
  for (int t = 0; t < rt->n_touched; t++) {
    int id = rt->touched[t];
    if (rt->staged[id] == 0) continue;
    rt->c[C_DROP_RING_FULL] += rt->staged[id];
    pool_free(rt->pool, rt->stage[id], rt->staged[id]);
    rt->staged[id] = 0;
  }
  rt->n_touched = 0;
  rt->held = 0;
}

// ---------------------------------------------------------------- NF process (runtime.ts)

static int nf_main(int slot, bool poll) {
  struct slot *me = slot_at(slot);
  static struct pool pool;
  static struct router rt;
  pool_init(&pool, slot);
  router_init(&rt, slot, &pool, BATCH, ON_FULL_WAIT);
  struct ring_h rx;
  ring_handle(&rx, nf_ring_id(slot), slot);
  double *c = me->counters;
  int32_t descs[BATCH];
  int idle = 0;
  uint32_t iter = 0;
  int32_t ipv4 = 0;
  atomic_store(&me->state, 2);
  for (;;) {
    atomic_store(&me->seen_epoch, router_refresh(&rt));
    int n = ring_dequeue(&rx, descs, BATCH, slot);
    if (n > 0) {
      atomic_store_explicit(&me->inflight, n, memory_order_relaxed);
      c[C_RX] += n;
      c[C_BATCHES]++;
      // The forward NF's handler on each packet (Packet.bind, then length and EtherType).
      for (int i = 0; i < n; i++) {
        int32_t *m = buf_meta(descs[i]);
        const uint8_t *pkt = (const uint8_t *)m + m[M_DATA_OFF];
        int len = m[M_LEN];
        if (len >= 14 && ((pkt[12] << 8) | pkt[13]) == 0x0800) ipv4++;
        m[M_ACTION] = ACTION_NEXT;
      }
      for (int i = 0; i < n; i++) router_route(&rt, descs[i]);
      router_flush(&rt);
      atomic_store_explicit(&me->inflight, 0, memory_order_relaxed);
      idle = 0;
    } else if (!poll && ++idle >= SPIN_BEFORE_SLEEP) {
      c[C_SLEEPS]++;
      bool slept = sleeper_sleep(&me->sleep, &rx, SLEEP_MS);
      if (slept && ring_count(&rx) > 0) c[C_WAKEUPS]++;
      idle = 0;
      if (stopping_now()) break;
    }
    if ((++iter & 63) == 0) {
      // runtime.ts reads the clock every 64 iterations to end its 5 ms slice; the stop flag
      // is read at the end of a slice there, here at the same rhythm.
      (void)now_sec();
      atomic_fetch_add_explicit(&me->heartbeat, 1, memory_order_relaxed);
      if (stopping_now()) break;
    }
  }
  me->user = ipv4;
  pool_flush(&pool);
  atomic_store(&me->state, 0);
  return 0;
}

// ---------------------------------------------------------------- generator + flow director

static uint32_t tz_table[36 * 256];

static void toeplitz_init(void) {
  uint8_t key[40];
  for (int i = 0; i < 40; i += 2) key[i] = 0x6d, key[i + 1] = 0x5a; // symmetric key
  for (int pos = 0; pos < 36; pos++) {
    uint32_t window[8];
    uint32_t hi = (uint32_t)key[pos] << 24 | (uint32_t)key[pos + 1] << 16 | (uint32_t)key[pos + 2] << 8 | key[pos + 3];
    uint32_t next = pos + 4 < 40 ? key[pos + 4] : 0;
    for (int j = 0; j < 8; j++) window[j] = j == 0 ? hi : (hi << j) | (next >> (8 - j));
    for (int v = 1; v < 256; v++) {
      int low = v & -v;
      tz_table[pos * 256 + v] = tz_table[pos * 256 + (v ^ low)] ^ window[7 - __builtin_ctz((unsigned)low)];
    }
  }
}

static uint32_t toeplitz_ipv4(uint32_t src, uint32_t dst, uint32_t sport, uint32_t dport) {
  const uint32_t *t = tz_table;
  return t[src >> 24] ^ t[256 | ((src >> 16) & 0xff)] ^ t[512 | ((src >> 8) & 0xff)] ^ t[768 | (src & 0xff)] ^
         t[1024 | (dst >> 24)] ^ t[1280 | ((dst >> 16) & 0xff)] ^ t[1536 | ((dst >> 8) & 0xff)] ^
         t[1792 | (dst & 0xff)] ^ t[2048 | ((sport >> 8) & 0xff)] ^ t[2304 | (sport & 0xff)] ^
         t[2560 | ((dport >> 8) & 0xff)] ^ t[2816 | (dport & 0xff)];
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, int len) {
  for (int i = 0; i + 1 < len; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += (uint32_t)p[len - 1] << 8;
  return sum;
}
static uint16_t csum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

// The template: Ethernet + IPv4 (198.18.0.0/15, RFC 2544) + UDP 1024 -> 5001, zero payload.
enum { L3 = 14, L4 = 34, IP_LOW_OFF = L3 + 14, IP_CSUM_OFF = L3 + 10, L4_WORD_OFF = L4, L4_CSUM_OFF = L4 + 6 };
static uint8_t tmpl[PKT_LEN];
static uint16_t f_ip_low[FLOWS], f_ip_csum[FLOWS], f_l4_word[FLOWS], f_l4_csum[FLOWS];
static int32_t f_hash[FLOWS];

static void put16(uint8_t *p, int off, uint32_t v) { p[off] = (uint8_t)(v >> 8); p[off + 1] = (uint8_t)v; }
static uint32_t be16(const uint8_t *p, int off) { return (uint32_t)(p[off] << 8 | p[off + 1]); }
static uint32_t be32(const uint8_t *p, int off) { return be16(p, off) << 16 | be16(p, off + 2); }

static void generator_init(void) {
  uint8_t *f = tmpl;
  memset(f, 0, sizeof tmpl);
  const uint8_t dmac[6] = {0x02, 0, 0, 0, 0, 0x02}, smac[6] = {0x02, 0, 0, 0, 0, 0x01};
  memcpy(f, dmac, 6);
  memcpy(f + 6, smac, 6);
  put16(f, 12, 0x0800);
  f[L3] = 0x45;
  put16(f, L3 + 2, PKT_LEN - L3);
  f[L3 + 8] = 64; // TTL
  f[L3 + 9] = 17; // UDP
  f[L3 + 12] = 198, f[L3 + 13] = 18;
  f[L3 + 16] = 198, f[L3 + 17] = 19, f[L3 + 19] = 1;
  put16(f, L4, 1024);
  put16(f, L4 + 2, 5001);
  put16(f, L4 + 4, PKT_LEN - L4);
  uint8_t s[PKT_LEN];
  memcpy(s, f, PKT_LEN);
  for (int i = 0; i < FLOWS; i++) {
    put16(s, IP_LOW_OFF, ((uint32_t)(i & 0xffff) + 1) & 0xffff);
    put16(s, L4_WORD_OFF, 1024 + ((uint32_t)i >> 16));
    put16(s, IP_CSUM_OFF, 0);
    put16(s, IP_CSUM_OFF, csum_fold(csum_add(0, s + L3, 20)));
    put16(s, L4_CSUM_OFF, 0);
    uint32_t sum = csum_add(0, s + L3 + 12, 8) + 17 + (PKT_LEN - L4); // pseudo-header (RFC 768)
    uint16_t u = csum_fold(csum_add(sum, s + L4, PKT_LEN - L4));
    put16(s, L4_CSUM_OFF, u == 0 ? 0xffff : u);
    f_ip_low[i] = (uint16_t)be16(s, IP_LOW_OFF);
    f_ip_csum[i] = (uint16_t)be16(s, IP_CSUM_OFF);
    f_l4_word[i] = (uint16_t)be16(s, L4_WORD_OFF);
    f_l4_csum[i] = (uint16_t)be16(s, L4_CSUM_OFF);
    f_hash[i] = (int32_t)toeplitz_ipv4(be32(s, L3 + 12), be32(s, L3 + 16), 1024 + ((uint32_t)i >> 16), 5001);
  }
}

static int gen_flow = 0;

/** GeneratorPort.rxBurst: fills every staged buffer. */
static int generator_rx_burst(const int32_t *descs, int n) {
  int f = gen_flow;
  for (int k = 0; k < n; k++) {
    int32_t *m = buf_meta(descs[k]);
    uint8_t *d = (uint8_t *)m + HEADROOM;
    memcpy(d, tmpl, PKT_LEN);
    uint32_t x = f_ip_low[f];
    d[IP_LOW_OFF] = (uint8_t)(x >> 8), d[IP_LOW_OFF + 1] = (uint8_t)x;
    x = f_ip_csum[f];
    d[IP_CSUM_OFF] = (uint8_t)(x >> 8), d[IP_CSUM_OFF + 1] = (uint8_t)x;
    x = f_l4_word[f];
    d[L4_WORD_OFF] = (uint8_t)(x >> 8), d[L4_WORD_OFF + 1] = (uint8_t)x;
    x = f_l4_csum[f];
    d[L4_CSUM_OFF] = (uint8_t)(x >> 8), d[L4_CSUM_OFF + 1] = (uint8_t)x;
    m[M_LEN] = PKT_LEN;
    m[M_DATA_OFF] = HEADROOM;
    m[M_HASH] = f_hash[f];
    m[M_FLAGS] = FLAG_HASH;
    m[M_TS_SEC] = 0;
    m[M_TS_NSEC] = 0;
    ((double *)m)[M_STAMP_F64] = 0;
    if (++f == FLOWS) f = 0;
  }
  gen_flow = f;
  return n;
}

// Classifier (classifier.ts): parse, then exact match over PROBE entries from the hash bucket.
static int32_t cls_generation = 1;
static int32_t cls_default_chain = 0;
static int32_t cls_last_hash;
static uint64_t cls_hits, cls_misses, cls_evictions, cls_parse_errors;

static int32_t classify(const uint8_t *p, int len, int in_port, bool has_hash, int32_t port_hash) {
  // parsePacket: Ethernet (+ VLAN tags), IPv4 header, L4 ports of unfragmented TCP/UDP/SCTP.
  int l3 = 14, v = 0, proto = 0;
  uint32_t sport = 0, dport = 0, src = 0, dst = 0;
  if (len >= 14) {
    uint32_t et = be16(p, 12);
    while ((et == 0x8100 || et == 0x88a8) && l3 + 4 <= len) {
      et = be16(p, l3 + 2);
      l3 += 4;
    }
    if (et == 0x0800 && len >= l3 + 20 && (p[l3] >> 4) == 4) {
      int ihl = (p[l3] & 15) * 4;
      int tot = (int)be16(p, l3 + 2);
      if (ihl >= 20 && tot >= ihl && l3 + tot <= len) {
        v = 4;
        proto = p[l3 + 9];
        src = be32(p, l3 + 12);
        dst = be32(p, l3 + 16);
        bool frag = (be16(p, l3 + 6) & 0x3fff) != 0;
        int l4 = l3 + ihl;
        if (!frag && (proto == 6 || proto == 17 || proto == 132) && l4 + 4 <= l3 + tot) {
          sport = be16(p, l4);
          dport = be16(p, l4 + 2);
        }
      }
    }
  }
  if (v == 0) cls_parse_errors++;
  int32_t h = port_hash;
  if (!has_hash) h = v == 4 ? (int32_t)toeplitz_ipv4(src, dst, sport, dport) : 0;
  cls_last_hash = h;
  if (v == 0) return cls_default_chain;
  int32_t keyinfo = (v << 16) | (proto << 8) | (in_port & 0xff);
  int32_t ports = (int32_t)(sport << 16 | dport);
  int32_t *free_e = NULL;
  for (int k = 0; k < PROBE; k++) {
    int32_t *e = flow_entry(((uint32_t)h + (uint32_t)k) & (FLOW_ENTRIES - 1));
    if (e[F_STATE] != cls_generation) {
      if (free_e == NULL) free_e = e;
      continue;
    }
    if (e[F_HASH] != h || e[F_KEYINFO] != keyinfo || e[F_PORTS] != ports) continue;
    if (e[F_SRC] != (int32_t)src || e[F_DST] != (int32_t)dst) continue;
    cls_hits++;
    e[F_HITS]++;
    return e[F_CHAIN];
  }
  cls_misses++;
  int32_t chain = cls_default_chain; // no rules: the default chain
  if (free_e == NULL) {
    free_e = flow_entry((uint32_t)h & (FLOW_ENTRIES - 1));
    cls_evictions++;
  }
  free_e[F_HASH] = h;
  free_e[F_KEYINFO] = keyinfo;
  free_e[F_PORTS] = ports;
  for (int w = 0; w < 4; w++) {
    free_e[F_SRC + w] = w == 0 ? (int32_t)src : 0;
    free_e[F_DST + w] = w == 0 ? (int32_t)dst : 0;
  }
  free_e[F_CHAIN] = chain;
  free_e[F_HITS] = 1;
  free_e[F_STATE] = cls_generation;
  return chain;
}

// ---------------------------------------------------------------- setup

static void init_region(int nfs, bool poll) {
  atomic_store(hdr_word(H_STATE), STATE_RUNNING);
  atomic_store(hdr_word(H_EPOCH), 1);
  for (int s = 0; s < L.max_slots; s++) {
    struct slot *sl = slot_at(s);
    sl->service = s == 0 ? -1 : s - 1;
    sl->instance = 0;
    sl->mode = poll ? 1 : 0;
    sl->key = (int32_t)(0x9e3779b1u * (uint32_t)(s + 1));
  }
  // Services nf1..nfk -> slots 1..k; chain 0 = [nf1, ..., nfk, sink].
  for (int s = 0; s < nfs; s++) {
    service_at(s)->count = 1;
    service_at(s)->slots[0] = s + 1;
  }
  int32_t *ch = chains_table();
  for (int s = 0; s < nfs; s++) ch[s] = (int32_t)((uint32_t)STEP_SERVICE << 24 | (uint32_t)s);
  ch[nfs] = (int32_t)((uint32_t)STEP_PORT << 24 | SINK_PORT);
  ch[nfs + 1] = STEP_END;
  port_at(GEN_PORT)->state = port_at(SINK_PORT)->state = 1;
  for (int r = 0; r < L.nrings; r++) {
    struct ring *h = ring_at(r);
    atomic_init(&h->prod_head, 0);
    atomic_init(&h->prod_tail, 0);
    atomic_init(&h->cons_head, 0);
    atomic_init(&h->cons_tail, 0);
    h->capacity = L.ring_cap[r];
    h->mask = L.ring_cap[r] - 1;
    h->id = r;
    int32_t waiter = -1;
    size_t sleep_word_of = offsetof(struct slot, sleep);
    if (r >= nf_ring_id(0) && r < port_ring_id(0))
      waiter = (int32_t)((L.slots_off + (size_t)(r - nf_ring_id(0)) * sizeof(struct slot) + sleep_word_of) / 4);
    else if (r >= port_ring_id(0))
      waiter = (int32_t)((L.slots_off + sleep_word_of) / 4); // the manager
    h->waiter = waiter;
    for (uint32_t k = 0; k < h->capacity; k++) h->slots[k] = NULL_DESC;
  }
  // Every buffer starts in the pool ring.
  struct ring *pr = ring_at(POOL_RING);
  for (uint32_t i = 0; i < BUF_COUNT; i++) pr->slots[i] = (int32_t)i; // segment 0
  atomic_store(&pr->prod_head, BUF_COUNT);
  atomic_store(&pr->prod_tail, BUF_COUNT);
  atomic_store(&pr->cons_head, 0);
  atomic_store(&pr->cons_tail, 0);
}

static void usage(void) {
  fprintf(stderr, "usage: chain-ref --nfs K --mode shared|poll [--seconds S] [--warmup W]\n");
  exit(2);
}

// ---------------------------------------------------------------- manager

int main(int argc, char **argv) {
  int nfs = 1;
  bool poll = false;
  const char *mode = "shared";
  double seconds = 3, warmup = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) usage();
    if (v == NULL) usage();
    if (strcmp(a, "--nfs") == 0) nfs = atoi(v);
    else if (strcmp(a, "--mode") == 0) mode = v;
    else if (strcmp(a, "--seconds") == 0) seconds = atof(v);
    else if (strcmp(a, "--warmup") == 0) warmup = atof(v);
    else usage();
    i++;
  }
  if (nfs < 1 || nfs > MAX_NFS || nfs + 1 >= MAX_STEPS) {
    fprintf(stderr, "chain-ref: --nfs must be 1..%d\n", MAX_STEPS - 2);
    return 2;
  }
  if (strcmp(mode, "shared") == 0) poll = false;
  else if (strcmp(mode, "poll") == 0) poll = true;
  else usage();
  if (!(seconds > 0) || !(warmup >= 0)) usage();

  compute_layout(nfs);
  void *addr = mmap(NULL, L.total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (addr == MAP_FAILED) {
    perror("chain-ref: mmap");
    return 1;
  }
  R = addr;
  init_region(nfs, poll);
  toeplitz_init();
  generator_init();

  fflush(NULL);
  pid_t parent = getpid();
  pid_t pids[MAX_NFS];
  for (int i = 0; i < nfs; i++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("chain-ref: fork");
      atomic_store(hdr_word(H_STATE), STATE_STOPPING);
      for (int k = 0; k < i; k++) waitpid(pids[k], NULL, 0);
      return 1;
    }
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the manager
      if (getppid() != parent) _exit(1);
      char name[16];
      snprintf(name, sizeof name, "chain-ref nf%d", i + 1);
      prctl(PR_SET_NAME, name, 0, 0, 0);
      slot_at(i + 1)->pid = getpid();
      _exit(nf_main(i + 1, poll));
    }
    pids[i] = pid;
  }
  prctl(PR_SET_NAME, "chain-ref mgr", 0, 0, 0);
  slot_at(0)->pid = getpid();

  // The manager loop (manager.ts loop()): generator port -> flow director -> router; sink.
  static struct pool pool;
  static struct router rt;
  pool_init(&pool, 0);
  router_init(&rt, 0, &pool, BATCH * 4, ON_FULL_HOLD);
  struct ring_h tx;
  ring_handle(&tx, port_ring_id(SINK_PORT), 0);
  double *gen_pc = port_at(GEN_PORT)->counters;
  double *sink_pc = port_at(SINK_PORT)->counters;
  int32_t stage[BATCH];
  int staged = 0;
  int32_t tx_descs[BATCH * 8];
  uint64_t chain_packets[MAX_CHAINS] = {0};
  uint64_t sink_packets = 0, sink_bytes = 0, sink_invalid = 0;
  uint64_t p0 = 0, b0 = 0;
  double t_start = now_sec(), t0 = 0, t1 = 0;
  int phase = 0; // 0 warm-up, 1 measuring, 2 done
  double next_child_check = t_start + 0.1;
  int child_died = 0;
  uint32_t iter = 0;
  int idle = 0;
  for (;;) {
    router_refresh(&rt);
    int work = 0;
    bool hold = rt.held > 0;
    if (!hold) {
      if (staged < BATCH) {
        int want = BATCH - staged;
        int got = pool_alloc(&pool, stage + staged, want);
        staged += got;
        if (got < want) gen_pc[PC_RX_NOBUF] += want - got;
      }
      int n = generator_rx_burst(stage, staged);
      if (n > 0) {
        uint64_t bytes = 0;
        for (int k = 0; k < n; k++) {
          int32_t d = stage[k];
          int32_t *m = buf_meta(d);
          int len = m[M_LEN];
          bytes += (uint64_t)len;
          int32_t chain = classify((const uint8_t *)m + m[M_DATA_OFF], len, GEN_PORT, (m[M_FLAGS] & FLAG_HASH) != 0, m[M_HASH]);
          m[M_HASH] = cls_last_hash;
          m[M_CHAIN] = chain;
          m[M_STEP] = -1;
          m[M_ACTION] = ACTION_NEXT;
          m[M_INPORT] = GEN_PORT;
          if (chain >= 0) chain_packets[chain]++;
          router_route(&rt, d);
        }
        memmove(stage, stage + n, (size_t)(staged - n) * 4);
        staged -= n;
        gen_pc[PC_RX] += n;
        gen_pc[PC_RX_BYTES] += (double)bytes;
        work += n;
      }
    }
    router_flush(&rt);
    {
      int n = ring_dequeue(&tx, tx_descs, BATCH * 8, 0);
      if (n > 0) {
        // SinkPort.txBurst: count packets and valid lengths.
        uint64_t bytes = 0;
        for (int k = 0; k < n; k++) {
          int len = buf_meta(tx_descs[k])[M_LEN];
          if (len >= 1 && len <= BUF_SIZE - HEADROOM) bytes += (uint64_t)len;
          else sink_invalid++;
        }
        sink_packets += (uint64_t)n;
        sink_bytes += bytes;
        bytes = 0;
        for (int k = 0; k < n; k++) bytes += (uint64_t)buf_meta(tx_descs[k])[M_LEN];
        sink_pc[PC_TX] += n;
        sink_pc[PC_TX_BYTES] += (double)bytes;
        pool_free(&pool, tx_descs, n);
        work += n;
      }
    }
    if (work == 0 && rt.held == 0) {
      // Nothing to do (only when the pool is empty here): after IDLE_BEFORE_SLEEP empty
      // rounds, sleep until an NF puts something in the tx ring, as manager.ts does.
      if (++idle >= IDLE_BEFORE_SLEEP) {
        sleeper_sleep(&slot_at(0)->sleep, &tx, 20);
        idle = 0;
      }
    } else {
      idle = 0;
      // Held back behind a full ring: give the core to the NF that must drain it.
      if (work == 0) sched_yield();
    }
    if ((++iter & 31) == 0) {
      double now = now_sec();
      if (phase == 0 && now - t_start >= warmup) {
        phase = 1;
        t0 = now;
        p0 = sink_packets;
        b0 = sink_bytes;
      } else if (phase == 1 && now - t0 >= seconds) {
        t1 = now;
        break;
      }
      if (now >= next_child_check) {
        next_child_check = now + 0.1;
        int st;
        for (int i = 0; i < nfs; i++) {
          if (pids[i] > 0 && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
            fprintf(stderr, "chain-ref: nf%d (pid %d) exited early (status %d)\n", i + 1, pids[i], st);
            pids[i] = -1;
            child_died = 1;
          }
        }
        if (child_died) {
          t1 = now;
          if (phase == 0) t0 = now, p0 = sink_packets;
          break;
        }
      }
    }
  }
  uint64_t packets = sink_packets - p0;
  double secs = t1 - t0;
  double mpps = secs > 0 ? (double)packets / secs / 1e6 : 0;
  (void)b0;

  // Stop: the shared flag, then wake every sleeper so it sees it now.
  atomic_store(hdr_word(H_STATE), STATE_STOPPING);
  for (int s = 1; s < L.max_slots; s++) sleeper_wake(&slot_at(s)->sleep);
  int rc = child_died ? 1 : 0;
  double deadline = now_sec() + 5;
  for (int i = 0; i < nfs; i++) {
    if (pids[i] <= 0) continue;
    int st = 0;
    for (;;) {
      // Keep draining the sink so no NF stays blocked behind a full tx ring.
      int n = ring_dequeue(&tx, tx_descs, BATCH * 8, 0);
      if (n > 0) pool_free(&pool, tx_descs, n);
      pid_t w = waitpid(pids[i], &st, WNOHANG);
      if (w == pids[i]) break;
      if (now_sec() > deadline) {
        fprintf(stderr, "chain-ref: nf%d (pid %d) did not stop within 5 s; killing it\n", i + 1, pids[i]);
        kill(pids[i], SIGKILL);
        waitpid(pids[i], &st, 0);
        rc = 1;
        break;
      }
      struct timespec ms = {0, 1000000};
      nanosleep(&ms, NULL);
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
      fprintf(stderr, "chain-ref: nf%d exited with status %d\n", i + 1, WEXITSTATUS(st));
      rc = 1;
    } else if (WIFSIGNALED(st)) {
      fprintf(stderr, "chain-ref: nf%d killed by signal %d\n", i + 1, WTERMSIG(st));
      rc = 1;
    }
  }

  double sleeps = 0, wakeups = 0, drops = 0;
  for (int s = 1; s < L.max_slots; s++) {
    sleeps += slot_at(s)->counters[C_SLEEPS];
    wakeups += slot_at(s)->counters[C_WAKEUPS];
    drops += slot_at(s)->counters[C_DROP_RING_FULL] + slot_at(s)->counters[C_DROP_NO_ROUTE] + slot_at(s)->counters[C_DROP_ACTION];
  }
  printf("{\"impl\":\"c\",\"nfs\":%d,\"mode\":\"%s\",\"mpps\":%.4f,\"packets\":%llu,\"seconds\":%.4f,"
         "\"gbps\":%.4f,\"sleeps\":%.0f,\"wakeups\":%.0f,\"drops\":%.0f}\n",
         nfs, mode, mpps, (unsigned long long)packets, secs, secs > 0 ? (double)packets * PKT_LEN * 8 / secs / 1e9 : 0,
         sleeps, wakeups, drops);
  fflush(stdout);

  // Everything back to the pool: what the manager holds, then every ring's leftovers.
  router_drop_held(&rt);
  if (rt.n_drops > 0) pool_free(&pool, rt.drops, rt.n_drops), rt.n_drops = 0;
  pool_free(&pool, stage, staged);
  staged = 0;
  for (int r = 1; r < L.nrings; r++) {
    struct ring_h h;
    ring_handle(&h, r, 0);
    int n;
    while ((n = ring_dequeue(&h, tx_descs, BATCH * 8, 0)) > 0) pool_free(&pool, tx_descs, n);
  }
  pool_flush(&pool);

  // Check: pool ring + every cache == pool size, and every buffer exactly once.
  struct ring_h pr;
  ring_handle(&pr, POOL_RING, 0);
  uint32_t in_ring = ring_count(&pr);
  long cached = 0;
  for (int s = 0; s < L.max_slots; s++) cached += atomic_load(&slot_at(s)->cache);
  if (in_ring + (uint64_t)cached != BUF_COUNT) {
    fprintf(stderr, "chain-ref: leak: %u in the pool ring + %ld in caches != %d buffers\n", in_ring, cached, BUF_COUNT);
    rc = 1;
  }
  uint8_t *seen = calloc(BUF_COUNT, 1);
  if (seen != NULL) {
    uint32_t tail = atomic_load(&pr.h->cons_tail);
    long dups = 0, bad = 0, missing = 0;
    for (uint32_t k = 0; k < in_ring; k++) {
      int32_t d = pr.slots[(tail + k) & pr.mask];
      uint32_t idx = (uint32_t)d & DESC_INDEX_MASK;
      if (d == NULL_DESC || ((uint32_t)d >> DESC_SEGMENT_SHIFT) != 0 || idx >= BUF_COUNT) bad++;
      else if (seen[idx]++) dups++;
    }
    for (uint32_t i = 0; i < BUF_COUNT; i++) missing += seen[i] == 0;
    if (dups || bad || missing) {
      fprintf(stderr, "chain-ref: leak: %ld buffers missing, %ld duplicated, %ld bad descriptors in the pool\n", missing, dups, bad);
      rc = 1;
    }
    free(seen);
  }
  if (sink_invalid > 0) {
    fprintf(stderr, "chain-ref: %llu packets with an invalid length at the sink\n", (unsigned long long)sink_invalid);
    rc = 1;
  }
  if (pool.alloc_failures > 0 && getenv("CHAIN_REF_VERBOSE"))
    fprintf(stderr, "chain-ref: %llu alloc failures\n", (unsigned long long)pool.alloc_failures);
  if (getenv("CHAIN_REF_VERBOSE"))
    fprintf(stderr, "chain-ref: flows hits %llu misses %llu evictions %llu parse errors %llu; chain0 %llu; wakeups by producers: tx %llu\n",
            (unsigned long long)cls_hits, (unsigned long long)cls_misses, (unsigned long long)cls_evictions,
            (unsigned long long)cls_parse_errors, (unsigned long long)chain_packets[0], (unsigned long long)tx.wakeups);
  munmap(R, L.total);
  return rc;
}
