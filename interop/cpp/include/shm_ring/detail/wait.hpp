// shm_ring/detail/wait.hpp - waiting and liveness: how a side of a ring sleeps until the other
// publishes, how it wakes the other, and how it tells that the other's process is gone.

#ifndef SHM_RING_DETAIL_WAIT_HPP
#define SHM_RING_DETAIL_WAIT_HPP

#include "layout.hpp"
#include "os.hpp"

namespace shm_ring {

enum class peer_state : int {
  alive,    ///< it holds its liveness lock
  gone,     ///< it held the lock (its flag byte says so) and the lock is free now
  unknown,  ///< no side of ours has attached, the peer does not take locks (the original
            ///< library), the ring is in caller-provided memory, or the system has no OFD locks
};

/// How one side of a ring has slept in blocking calls so far (producer::wait_stats,
/// consumer::wait_stats). A blocking call sleeps in the kernel only after spinning briefly found
/// nothing. Against a peer of ours nearly every sleep is ended early by the peer's wake-up;
/// against one of the original library, which never wakes anyone, every sleep lasts its whole
/// slice, which is at most 1 ms. (Where blocking calls poll instead, both counts stay 0.)
struct wait_stats {
  /// Times the side went to sleep in the kernel (FUTEX_WAIT).
  std::uint64_t sleeps = 0;
  /// Of those, the sleeps that lasted their whole slice: no wake-up, no publish, no signal
  /// ended them early.
  std::uint64_t full_slices = 0;
};

/// How long, by default, a blocked call sleeps against a peer that wakes it before it checks
/// that the peer is still alive (producer::set_peer_check_interval,
/// consumer::set_peer_check_interval).
constexpr std::chrono::nanoseconds default_peer_check_interval{20000000};

namespace detail {

// The liveness of side `peer`, seen through our fd of the same object and its flag byte in the
// extension block `ext`.
inline peer_state probe_peer(const unsigned char* ext, object_ref fd, side peer) noexcept {
  if (ext == nullptr || !has_object(fd)) return peer_state::unknown;
  if ((load_flags(ext, peer) & flag_locked) == 0) return peer_state::unknown;
  bool held = false;
  if (!lock_held(fd, peer, held)) return peer_state::unknown;
  return held ? peer_state::alive : peer_state::gone;
}

// Called right after publishing our index: wakes the other side if it sleeps on that word.
// The hot path is one relaxed byte load from the extension block (a cache line that only
// changes around sleeps, so the load hits the cache) and a branch; no fence (the sleeper pays
// for it).
inline void wake_peer(unsigned char* base, const unsigned char* ext, side self) noexcept {
#if SHM_RING_KERNEL_WAIT
  // Keeps the compiler from moving the load above the index store: the sleeper's membarrier
  // relies on this side's program order (store, then load).
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  if (__builtin_expect(load_flags(ext, other(self)) & flag_sleeping, 0) != 0) {
    futex_wake(word(base, index_offset(self)));
  }
#else
  (void)base;
  (void)ext;
  (void)self;
#endif
}

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  __asm__ __volatile__("yield");
#endif
}

inline void nap(std::chrono::nanoseconds d) noexcept {
#if defined(_WIN32)
  std::this_thread::sleep_for(d);
#else
  timespec ts;
  ts.tv_sec = static_cast<time_t>(d.count() / 1000000000);
  ts.tv_nsec = static_cast<long>(d.count() % 1000000000);
  while (::nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
#endif
}

inline void yield_cpu() noexcept {
#if defined(_WIN32)
  std::this_thread::yield();
#else
  ::sched_yield();
#endif
}

// How a waiting thread passes time between attempts: spin briefly (the peer is usually only
// a few hundred nanoseconds behind), then yield the CPU, then sleep in short naps.
class backoff {
 public:
  explicit backoff(std::chrono::nanoseconds nap_time) noexcept : nap_(nap_time) {}
  void pause() noexcept {
    if (step_ < spins) {
      cpu_relax();
      ++step_;
    } else if (step_ < spins + yields) {
      yield_cpu();
      ++step_;
    } else {
      nap(nap_);
    }
  }

 private:
  enum : unsigned { spins = 128, yields = 64 };
  unsigned step_ = 0;
  std::chrono::nanoseconds nap_;
};

// The nap length while polling the other side of a ring (without kernel sleeping), and while
// waiting to open.
constexpr std::chrono::nanoseconds ring_nap{50000};
constexpr std::chrono::nanoseconds open_nap{1000000};
// The longest FUTEX_WAIT against a peer that does not wake us (the original library), or without
// the barrier: sleeping is then polling in short slices. Against a peer of ours whose process
// registered for membarrier, a wake is never missed and the slice is the side's peer-check
// interval, which only bounds how late the peer's death is noticed.
constexpr std::chrono::nanoseconds short_slice{1000000};

// The one waiting loop: calls attempt() until it returns true (done: success or a final
// error) or the timeout has passed since the first attempt (then returns false). Never
// blocks longer than the timeout plus one nap.
template <class Attempt>
bool retry_until(Attempt&& attempt, std::chrono::nanoseconds timeout,
                 std::chrono::nanoseconds nap_time) {
  if (attempt()) return true;
  using clock = std::chrono::steady_clock;
  const clock::time_point start = clock::now();
  const clock::duration limit = std::chrono::duration_cast<clock::duration>(
      timeout < std::chrono::nanoseconds::zero() ? std::chrono::nanoseconds::zero() : timeout);
  const clock::time_point deadline =
      limit >= clock::time_point::max() - start ? clock::time_point::max() : start + limit;
  backoff wait(nap_time);
  for (;;) {
    wait.pause();
    if (attempt()) return true;
    if (clock::now() >= deadline) return false;
  }
}

// How a blocking ring call ended.
enum class wait_outcome { done, timed_out, peer_gone };

// One side of a ring, as the waiting loop sees it.
struct ring_side {
  unsigned char* base;  // the header
  unsigned char* ext;   // the extension block, or null (no flags to write or read)
  object_ref fd;        // the object (for the liveness probe), or none
  side self;
  unsigned char flags;  // our flag byte at rest (LOCKED, BARRIER)
  std::chrono::nanoseconds peer_check;  // the longest sleep against a peer that wakes us
  wait_stats* stats;    // where sleeps are counted
};

// The waiting loop of every blocking ring call: calls attempt() until it returns true (done:
// success or a final error), the timeout has passed since the first attempt, or the peer is
// gone. Spins briefly, yields, then sleeps in FUTEX_WAIT on the other side's index word, having
// set our SLEEPING bit and made the barrier that guarantees the wake (see wake_peer). Before
// each sleep the peer's liveness is probed: if it is gone, a consumer looks once more (to drain
// what was published before the end) and a producer gives up at once.
// The caller has made one attempt already, which found the ring full (or empty): keeping that
// first attempt out of here lets it be inlined into the caller, while this loop is not.
template <class Attempt>
SHM_RING_COLD wait_outcome wait_for_peer(const ring_side& me, Attempt& attempt,
                                         std::chrono::nanoseconds timeout) {
  using clock = std::chrono::steady_clock;
  const clock::time_point start = clock::now();
  const clock::duration limit = std::chrono::duration_cast<clock::duration>(
      timeout < std::chrono::nanoseconds::zero() ? std::chrono::nanoseconds::zero() : timeout);
  const clock::time_point deadline =
      limit >= clock::time_point::max() - start ? clock::time_point::max() : start + limit;
  // Spins in doubling bursts (1, 2, 4 ... 64 pauses), then yields a few times: a side that
  // looks at the other's index after every single pause keeps taking the header's cache line
  // away from the side that is about to store to it.
  enum : unsigned { spin_bursts = 7, yields = 4 };
  for (unsigned step = 0; step < spin_bursts + yields; ++step) {
    if (step < spin_bursts) {
      for (unsigned k = 0; k < (1u << step); ++k) cpu_relax();
    } else {
      yield_cpu();
    }
    if (attempt()) return wait_outcome::done;
    if (clock::now() >= deadline) return wait_outcome::timed_out;
  }
#if SHM_RING_KERNEL_WAIT
  const side peer = other(me.self);
  std::uint32_t* watched = word(me.base, index_offset(peer));
  for (;;) {
    if (probe_peer(me.ext, me.fd, peer) == peer_state::gone) {
      if (me.self == side::consumer && attempt()) return wait_outcome::done;
      return wait_outcome::peer_gone;
    }
    const unsigned char peer_flags = load_flags(me.ext, peer);
    // The value the word had before our last look: FUTEX_WAIT returns at once if it changed.
    const std::uint32_t seen = __atomic_load_n(watched, __ATOMIC_ACQUIRE);
    if (attempt()) return wait_outcome::done;
    const clock::time_point now = clock::now();
    if (now >= deadline) return wait_outcome::timed_out;
    const unsigned char both = flag_locked | flag_barrier;
    std::chrono::nanoseconds slice = (peer_flags & both) == both ? me.peer_check : short_slice;
    store_flags(me.ext, me.self, static_cast<unsigned char>(me.flags | flag_sleeping));
    // With the barrier: either the peer's index store is visible to the kernel's check of the
    // word, or the peer's later load of our flag byte sees SLEEPING and it wakes us.
    bool changed = false;
    if ((peer_flags & flag_barrier) == 0 || !membarrier_global()) {
      // Without it, only our half of that exchange is ordered (the seq_cst store, then this
      // seq_cst load); the peer's is not, so a wake may be missed: sleep briefly. (Without an
      // extension block there is no flag to store, and nobody would wake us anyway.)
      changed = __atomic_load_n(watched, __ATOMIC_SEQ_CST) != seen;
      slice = short_slice;
    }
    const std::chrono::nanoseconds left =
        std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now);
    if (!changed) {
      const bool full = futex_wait(watched, seen, left < slice ? left : slice);
      ++me.stats->sleeps;
      if (full) ++me.stats->full_slices;
    }
    store_flags(me.ext, me.self, me.flags);
    if (attempt()) return wait_outcome::done;
    if (clock::now() >= deadline) return wait_outcome::timed_out;
  }
#else
  // Polling: nobody wakes us, so each nap is short; the peer's liveness lock (where the OS
  // has one: Windows's named mutexes) is looked at before each.
  const side peer = other(me.self);
  for (;;) {
    if (probe_peer(me.ext, me.fd, peer) == peer_state::gone) {
      if (me.self == side::consumer && attempt()) return wait_outcome::done;
      return wait_outcome::peer_gone;
    }
    nap(ring_nap);
    if (attempt()) return wait_outcome::done;
    if (clock::now() >= deadline) return wait_outcome::timed_out;
  }
#endif
}

}  // namespace detail

}  // namespace shm_ring

#endif  // SHM_RING_DETAIL_WAIT_HPP
