// shm_ring/detail/consumer.hpp - the reading end of a ring.

#ifndef SHM_RING_DETAIL_CONSUMER_HPP
#define SHM_RING_DETAIL_CONSUMER_HPP

#include "layout.hpp"
#include "os.hpp"
#include "ring.hpp"
#include "segment.hpp"
#include "status.hpp"
#include "wait.hpp"

namespace shm_ring {

// ---------------------------------------------------------------------------------------------
// Consumer
// ---------------------------------------------------------------------------------------------

/// The reading side of a ring. Movable, not copyable; one thread at a time. Never unlinks.
class consumer {
 public:
  /// An empty consumer (not attached to any ring). Only destruction and assignment are valid.
  consumer() noexcept = default;
  consumer(consumer&& other) noexcept { swap(other); }
  consumer& operator=(consumer&& other) noexcept {
    consumer(std::move(other)).swap(*this);
    return *this;
  }
  consumer(const consumer&) = delete;
  consumer& operator=(const consumer&) = delete;
  ~consumer() = default;

  /// Opens the segment `name`, takes the consumer's liveness lock on it, and resumes at its
  /// shared tail. Maps the header alone first, and after validating it only the ring it
  /// describes (16 + capacity bytes, plus the extension block if marked), whatever the object's
  /// size. Errors: invalid_name, not_found, not_ready (retryable), permission_denied,
  /// segment_too_small, invalid_capacity, in_use (another consumer holds the lock),
  /// system_error.
  static result<consumer> open(const std::string& name) {
    std::string bare;
    status s = validate_name(name, &bare);
    if (!s) return s;
    const std::string os_name = "/" + bare;
    detail::fd_guard fd(::shm_open(os_name.c_str(), O_RDWR, 0));
    if (fd.get() < 0) return detail::make::from_errno("shm_open", errno);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return detail::make::os(errc::system_error, "fstat", errno);
    const std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
    if (size == 0) return detail::make::not_ready(0);
    if (size < header_size) return detail::make::segment_too_small(0, header_size, size);
    // The header alone first (one page, nothing pre-faulted); then exactly the ring it
    // describes, once it has been validated against the object's size.
    std::uint32_t cap = 0;
    std::uint64_t length = 0;
    {
      result<detail::mapping> header = detail::map_shared(fd.get(), header_size, false);
      if (!header) return header.error();
      s = detail::check_header(header->base(), size, cap);
      if (!s) return s;
      length = detail::ring_length(header->base(), size, cap);
    }
    // length <= 2^31 + 128: it fits in size_t.
    result<detail::mapping> m =
        detail::map_shared(fd.get(), static_cast<std::size_t>(length), true);
    if (!m) return m.error();
    // One consumer at a time. EINVAL: no OFD locks here (nothing to enforce, nothing to tell).
    const int lock_error = detail::take_lock(fd.get(), detail::side::consumer);
    if (lock_error == EAGAIN || lock_error == EACCES) return detail::make::in_use(1, bare);
    if (lock_error != 0 && lock_error != EINVAL) {
      return detail::make::os(errc::system_error, "fcntl", lock_error);
    }
    const unsigned char flags = static_cast<unsigned char>(
        (lock_error == 0 ? detail::flag_locked : 0) |
        (detail::barrier_registered() ? detail::flag_barrier : 0));
    consumer c(std::move(m.value()), length, cap, flags);
    c.fd_ = std::move(fd);
    c.name_ = std::move(bare);
    return c;
  }

  /// Like open, retrying not_found and not_ready (polling about once a millisecond) for up to
  /// `timeout`; then errc::timeout, whose last() tells which of the two it was. Other errors
  /// (in_use among them) end the wait at once.
  static result<consumer> open(const std::string& name, std::chrono::nanoseconds timeout) {
    result<consumer> r{consumer()};
    const bool done = detail::retry_until(
        [&] {
          r = open(name);
          return r.code() != errc::not_found && r.code() != errc::not_ready;
        },
        timeout, detail::open_nap);
    return done ? std::move(r) : result<consumer>(detail::make::timeout(timeout, r.code()));
  }

  /// Attaches to a ring whose header a producer wrote into caller-provided memory (4-byte
  /// aligned, `size` bytes). The memory is not unmapped by the consumer.
  static result<consumer> open_in_memory(void* memory, std::size_t size) noexcept {
    assert(reinterpret_cast<std::uintptr_t>(memory) % 4 == 0);
    std::uint32_t cap = 0;
    const status s = detail::check_header(static_cast<unsigned char*>(memory), size, cap);
    if (!s) return s;
    const unsigned char flags = detail::barrier_registered() ? detail::flag_barrier : 0;
    return consumer(detail::mapping(static_cast<unsigned char*>(memory), size, false), size,
                    cap, flags);
  }

  // --- reading --------------------------------------------------------------------------------

  /// Reads the next message into `out` (resized to fit; its storage is reused).
  /// Errors: empty, corrupted.
  status try_read(std::vector<std::uint8_t>& out) {
    std::uint32_t len = 0;
    const status s = next_record(len);
    if (!s) return s;
    const detail::pieces p = payload(len);
    out.assign(p.first, p.first + p.first_size);
    if (p.second_size != 0) out.insert(out.end(), p.second, p.second + p.second_size);
    consume(len);
    return status();
  }

  /// Reads the next message into buf[0..capacity) and returns its length. Errors: empty,
  /// corrupted, buffer_too_small (needed() = the length; the message stays in the ring).
  result<std::size_t> try_read(void* buf, std::size_t buf_capacity) noexcept {
    std::uint32_t len = 0;
    const status s = next_record(len);
    if (!s) return s;
    if (len > buf_capacity) return detail::make::buffer_too_small(len, buf_capacity);
    if (len != 0) {
      detail::copy_out(static_cast<unsigned char*>(buf), map_.data(), mask_, tail_ + 4, len);
    }
    consume(len);
    return std::size_t{len};
  }

  /// Calls f(byte_view first, byte_view second) with the next message in place (second is
  /// empty unless it wraps), then consumes it. The views are valid only during the call. If f
  /// throws, the message stays in the ring. Errors: empty, corrupted.
  template <class F>
  status try_read_in_place(F&& f) {
    std::uint32_t len = 0;
    const status s = next_record(len);
    if (!s) return s;
    const detail::pieces p = payload(len);
    f(byte_view(p.first, p.first_size), byte_view(p.second, p.second_size));
    consume(len);
    return status();
  }

  /// Calls f(first, second) for up to max_messages messages available now, then publishes the
  /// tail once. Returns how many were read; if none: empty or corrupted. A corrupted record
  /// after good ones ends the batch and is reported by the next call.
  template <class F>
  result<std::size_t> try_read_batch(std::size_t max_messages, F&& f) {
    // Publishes the tail on every way out, so that messages already handed to f stay consumed
    // even if f throws.
    struct publisher {
      consumer& c;
      std::uint32_t start;
      ~publisher() {
        if (c.tail_ != start) {
          detail::store_release(c.map_.base(), detail::tail_offset, c.tail_);
          detail::wake_peer(c.map_.base(), c.ext_, detail::side::consumer);
        }
      }
    } pub{*this, tail_};
    std::size_t n = 0;
    while (n < max_messages) {
      std::uint32_t len = 0;
      const status s = next_record(len);
      if (!s) {
        if (n == 0) return s;
        break;
      }
      const detail::pieces p = payload(len);
      f(byte_view(p.first, p.first_size), byte_view(p.second, p.second_size));
      tail_ += static_cast<std::uint32_t>(prefix_size + len);
      ++n;
    }
    return n;
  }

  // The blocking reads wait while the ring is empty. When the producer is gone, they still
  // deliver everything it published, then fail with errc::peer_gone.

  /// Like try_read(out), waiting up to `timeout` for a message. Errors: as try_read, timeout,
  /// peer_gone.
  status read(std::vector<std::uint8_t>& out, std::chrono::nanoseconds timeout) {
    status s = try_read(out);
    if (s == errc::empty) s = retry_while_empty(s, [&] { return try_read(out); }, timeout);
    return s;
  }

  /// Like try_read(buf, capacity), waiting up to `timeout` for a message.
  result<std::size_t> read(void* buf, std::size_t buf_capacity,
                           std::chrono::nanoseconds timeout) {
    result<std::size_t> r = try_read(buf, buf_capacity);
    if (r.code() == errc::empty) {
      r = retry_while_empty(r, [&] { return try_read(buf, buf_capacity); }, timeout);
    }
    return r;
  }

  /// Like try_read_in_place, waiting up to `timeout` for a message.
  template <class F>
  status read_in_place(F&& f, std::chrono::nanoseconds timeout) {
    status s = try_read_in_place(f);
    if (s == errc::empty) s = retry_while_empty(s, [&] { return try_read_in_place(f); }, timeout);
    return s;
  }

  /// Like try_read_batch, waiting up to `timeout` for at least one message.
  template <class F>
  result<std::size_t> read_batch(std::size_t max_messages, F&& f,
                                 std::chrono::nanoseconds timeout) {
    result<std::size_t> r = try_read_batch(max_messages, f);
    if (r.code() == errc::empty) {
      r = retry_while_empty(r, [&] { return try_read_batch(max_messages, f); }, timeout);
    }
    return r;
  }

  /// Whether the producer lives: alive while it holds its lock, gone once it has closed the
  /// ring or died, unknown if it does not take the lock (the original library; no OFD locks;
  /// a ring in caller-provided memory).
  peer_state is_peer_alive() const noexcept {
    return detail::probe_peer(ext_, fd_.get(), detail::side::producer);
  }

  /// How long a blocked call sleeps against a producer of ours (which wakes it) before it
  /// checks that the producer is still alive; default_peer_check_interval (20 ms) unless set.
  /// It only trades how quickly a dead producer is noticed against how often an idle consumer
  /// wakes up to look. Against the original library's producer sleeps last at most 1 ms
  /// whatever this says. A negative interval counts as 0.
  void set_peer_check_interval(std::chrono::nanoseconds interval) noexcept {
    peer_check_ = interval < std::chrono::nanoseconds::zero() ? std::chrono::nanoseconds::zero()
                                                              : interval;
  }

  /// How this consumer has slept in blocking calls so far; see shm_ring::wait_stats.
  shm_ring::wait_stats wait_stats() const noexcept { return stats_; }

  // --- state ----------------------------------------------------------------------------------

  bool valid() const noexcept { return capacity_ != 0; }
  std::uint32_t capacity() const noexcept { return capacity_; }
  std::size_t max_message_len() const noexcept { return capacity_ - prefix_size; }
  /// Bytes published and not yet consumed (records and prefixes). A torn or stale head reads
  /// as an empty ring.
  std::size_t readable_bytes() noexcept {
    if (!refresh_head()) return 0;
    return cached_head_ - tail_;
  }
  std::size_t writable_bytes() noexcept { return capacity_ - readable_bytes(); }
  bool is_empty() noexcept { return readable_bytes() == 0; }
  /// The segment name without a leading '/' (empty for a ring in caller-provided memory).
  const std::string& name() const noexcept { return name_; }

 private:
  // `size`: the bytes of the mapping, of which the header said the first 16 + cap are the ring.
  consumer(detail::mapping m, std::uint64_t size, std::uint32_t cap, unsigned char flags) noexcept
      : map_(std::move(m)), capacity_(cap), mask_(cap - 1), flags_(flags) {
    ext_ = detail::find_extension(map_.base(), size, cap);
    // Rewrites whatever an earlier consumer left there (LOCKED stays set when one goes, so that
    // the producer can tell it is gone). Nothing without a block.
    detail::store_flags(ext_, detail::side::consumer, flags);
    tail_ = detail::load_acquire(map_.base(), detail::tail_offset);
    cached_head_ = tail_;
  }

  void swap(consumer& o) noexcept {
    std::swap(map_, o.map_);
    std::swap(capacity_, o.capacity_);
    std::swap(mask_, o.mask_);
    std::swap(tail_, o.tail_);
    std::swap(cached_head_, o.cached_head_);
    std::swap(name_, o.name_);
    std::swap(fd_, o.fd_);
    std::swap(flags_, o.flags_);
    std::swap(ext_, o.ext_);
    std::swap(peer_check_, o.peer_check_);
    std::swap(stats_, o.stats_);
  }

  // Loads the shared head; keeps it only if it is plausible (head - tail <= capacity).
  bool refresh_head() noexcept {
    const std::uint32_t h = detail::load_acquire(map_.base(), detail::head_offset);
    if (h - tail_ > capacity_) return false;
    cached_head_ = h;
    return true;
  }

  // Finds the record at tail_ and checks it against the published bytes; stores its length.
  status next_record(std::uint32_t& len) noexcept {
    if (cached_head_ == tail_ && (!refresh_head() || cached_head_ == tail_)) {
      return status(errc::empty);
    }
    // A record that does not fit in what is published may come from a stale or torn head:
    // look at the shared head once more before calling it corrupted.
    for (bool again = true;; again = false) {
      const std::uint32_t used = cached_head_ - tail_;
      corruption problem = corruption::truncated_prefix;
      len = 0;
      if (used >= prefix_size) {
        len = detail::read_prefix(map_.data(), mask_, tail_);
        if (len > capacity_ - prefix_size) {
          problem = corruption::length_too_large;
        } else if (len <= used - prefix_size) {
          return status();
        } else {
          problem = corruption::length_exceeds_published;
        }
      }
      if (!again) {
        return detail::make::corrupted(problem, tail_, len, used);
      }
      if (!refresh_head()) return status(errc::empty);
    }
  }

  detail::pieces payload(std::uint32_t len) const noexcept {
    return detail::locate(map_.data(), mask_, tail_ + 4, len);
  }

  void consume(std::uint32_t len) noexcept {
    tail_ += static_cast<std::uint32_t>(prefix_size + len);
    detail::store_release(map_.base(), detail::tail_offset, tail_);
    detail::wake_peer(map_.base(), ext_, detail::side::consumer);
  }

  // The waiting half of the blocking reads, reached only when their first attempt, `first`,
  // found the ring empty: retries `attempt` (which returns a status or a result) until there
  // is a message or an error, the timeout has passed or the producer is gone (after what it
  // published has been read). Out of line, so that a blocking read that finds a message costs
  // what its try_ twin does and copies no status.
  template <class R, class Attempt>
  SHM_RING_COLD R retry_while_empty(R first, Attempt attempt, std::chrono::nanoseconds timeout) {
    R r = std::move(first);
    const detail::ring_side me{map_.base(), ext_,        fd_.get(), detail::side::consumer,
                               flags_,      peer_check_, &stats_};
    auto found = [&] {
      r = attempt();
      return r.code() != errc::empty;
    };
    const detail::wait_outcome o = detail::wait_for_peer(me, found, timeout);
    if (o == detail::wait_outcome::done) return r;
    if (o == detail::wait_outcome::peer_gone) return R(detail::make::peer_gone(0));
    return R(detail::make::timeout(timeout, errc::empty));
  }

  detail::mapping map_;
  std::uint32_t capacity_ = 0;
  std::uint32_t mask_ = 0;
  std::uint32_t tail_ = 0;         // our own index; the shared word only ever receives it
  std::uint32_t cached_head_ = 0;  // last plausible head seen; cached_head_ - tail_ <= capacity_
  std::string name_;
  detail::fd_guard fd_;     // holds the liveness lock; -1 for a ring in caller-provided memory
  unsigned char flags_ = 0;  // our flag byte at rest
  unsigned char* ext_ = nullptr;  // the extension block, or null if the ring has none
  std::chrono::nanoseconds peer_check_ = default_peer_check_interval;
  shm_ring::wait_stats stats_;
};

}  // namespace shm_ring

#endif  // SHM_RING_DETAIL_CONSUMER_HPP
