// shm_ring/detail/end.hpp - what the two ends of a ring share: the mapping, the capacity, the
// liveness descriptor and flag byte, the queries on them, and the one implementation of a
// blocking call's wait for the other side.

#ifndef SHM_RING_DETAIL_END_HPP
#define SHM_RING_DETAIL_END_HPP

#include "layout.hpp"
#include "os.hpp"
#include "status.hpp"
#include "wait.hpp"

namespace shm_ring {
namespace detail {

// One end of a ring: the producer (Self = side::producer) or the consumer. Both public types
// derive from it privately and re-export its queries, so that each query and the waiting
// loop exist once.
template <side Self>
class ring_end {
 public:
  /// Whether this end is attached to a ring (false for a default-constructed or moved-from
  /// end, on which only destruction and assignment are valid).
  bool valid() const noexcept { return capacity_ != 0; }
  /// The data-area size in bytes (a power of two from 8 to 2^31).
  std::uint32_t capacity() const noexcept { return capacity_; }
  /// The largest payload this ring carries, in bytes: capacity() - 4.
  std::size_t max_message_len() const noexcept { return capacity_ - prefix_size; }
  /// The segment name without a leading '/' (empty for a ring in caller-provided memory).
  const std::string& name() const noexcept { return name_; }

  /// What is known about the other end: alive while it holds its liveness lock, gone once it
  /// has closed the ring or died (its flag byte says it held the lock, and the lock is free),
  /// unknown if it announces nothing (the original library, a consumer that never attached, a
  /// ring in caller-provided memory, a system without OFD locks). A snapshot: an alive peer
  /// may exit the moment after, a gone consumer may be replaced by a new one; the blocking
  /// calls keep checking and end with errc::peer_gone.
  shm_ring::peer_state peer_state() const noexcept {
    return probe_peer(ext_, fd_.get(), other(Self));
  }

  /// How long a blocked call sleeps against a peer of ours (which wakes it) before it checks
  /// that the peer is still alive; default_peer_check_interval (20 ms) unless set. It only
  /// trades how quickly a dead peer is noticed against how often an idle end wakes up to
  /// look. Against the original library, which wakes nobody, sleeps last at most 1 ms
  /// whatever this says. A negative interval counts as 0.
  void set_peer_check_interval(std::chrono::nanoseconds interval) noexcept {
    peer_check_ = interval < std::chrono::nanoseconds::zero() ? std::chrono::nanoseconds::zero()
                                                              : interval;
  }

  /// How this end has slept in blocking calls so far; see shm_ring::wait_stats.
  shm_ring::wait_stats wait_stats() const noexcept { return stats_; }

 protected:
  ring_end() noexcept = default;
  ring_end(mapping m, std::uint32_t cap, unsigned char flags) noexcept
      : map_(std::move(m)), capacity_(cap), mask_(cap - 1), flags_(flags) {}
  ~ring_end() = default;
  ring_end(const ring_end&) = delete;
  ring_end& operator=(const ring_end&) = delete;

  void swap_end(ring_end& o) noexcept {
    std::swap(map_, o.map_);
    std::swap(capacity_, o.capacity_);
    std::swap(mask_, o.mask_);
    std::swap(name_, o.name_);
    std::swap(fd_, o.fd_);
    std::swap(flags_, o.flags_);
    std::swap(ext_, o.ext_);
    std::swap(peer_check_, o.peer_check_);
    std::swap(stats_, o.stats_);
  }

  // Stores our index into the shared word and wakes the other end if it sleeps on it.
  void publish_index(std::uint32_t index) noexcept {
    store_release(map_.base(), index_offset(Self), index);
    wake_peer(map_.base(), ext_, Self);
  }

  // Waits while ready() is false, the caller having looked once already.
  template <class Ready>
  wait_outcome wait_until(Ready&& ready, std::chrono::nanoseconds timeout) {
    const ring_side me{map_.base(), ext_, fd_.get(), Self, flags_, peer_check_, &stats_};
    return wait_for_peer(me, ready, timeout);
  }

  // The waiting half of every blocking call, reached only when its first attempt, `first`,
  // found the ring `busy` (errc::full for the producer, errc::empty for the consumer):
  // retries `attempt` (which returns a status or a result) until it reports anything else,
  // the timeout has passed (errc::timeout, last() = busy) or the other end is gone
  // (errc::peer_gone; a consumer first reads what the producer published). Out of line, so
  // that a blocking call that succeeds at once costs what its try_ twin does.
  template <class R, class Attempt>
  SHM_RING_COLD R retry_while(errc busy, R first, Attempt attempt,
                              std::chrono::nanoseconds timeout) {
    R r = std::move(first);
    const wait_outcome o = wait_until(
        [&] {
          r = attempt();
          return r.code() != busy;
        },
        timeout);
    if (o == wait_outcome::done) return r;
    if (o == wait_outcome::peer_gone) return R(make::peer_gone(Self == side::producer ? 1 : 0));
    return R(make::timeout(timeout, busy));
  }

  mapping map_;
  std::uint32_t capacity_ = 0;
  std::uint32_t mask_ = 0;
  std::string name_;
  fd_guard fd_;              // holds the liveness lock; -1 for a ring in caller-provided memory
  unsigned char flags_ = 0;  // our flag byte at rest (LOCKED, BARRIER)
  unsigned char* ext_ = nullptr;  // the extension block, or null if the ring has none
  std::chrono::nanoseconds peer_check_ = default_peer_check_interval;
  shm_ring::wait_stats stats_;
};

}  // namespace detail
}  // namespace shm_ring

#endif  // SHM_RING_DETAIL_END_HPP
