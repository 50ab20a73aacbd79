// shm_ring/detail/consumer.hpp - the reading end of a ring and its read grant.

#ifndef SHM_RING_DETAIL_CONSUMER_HPP
#define SHM_RING_DETAIL_CONSUMER_HPP

#include "end.hpp"
#include "layout.hpp"
#include "os.hpp"
#include "ring.hpp"
#include "segment.hpp"
#include "status.hpp"
#include "wait.hpp"

namespace shm_ring {

class consumer;

/// The next message, lent in place by consumer::try_read or consumer::read: size() bytes in
/// first() and then second() (empty unless the message wraps). commit() consumes it; so do
/// into_vector() and into_buffer() when they copy it out. Destroying the grant without any of
/// them leaves the message in the ring, to be read again: a peek.
///
/// The grant knows its consumer and the consumer its grant: moving either keeps the two
/// connected, and destroying the consumer first leaves the grant empty (size 0, commit() does
/// nothing). While a grant lives, any other read on its consumer is a programming error and
/// aborts the process (it would lend the same message twice).
///
///     shm_ring::result<shm_ring::read_grant> g = c.try_read();
///     if (g) {
///       std::vector<std::uint8_t> message;
///       g->into_vector(message);  // copied out and consumed
///     }
class read_grant {
 public:
  /// An empty grant (size 0); commit() does nothing.
  read_grant() noexcept = default;
  read_grant(read_grant&& other) noexcept { take(other); }
  read_grant& operator=(read_grant&& other) noexcept {
    if (this != &other) {
      release();
      take(other);
    }
    return *this;
  }
  read_grant(const read_grant&) = delete;
  read_grant& operator=(const read_grant&) = delete;
  /// Leaves the message in the ring unless it was consumed.
  ~read_grant() { release(); }

  /// The message's first piece, in the ring.
  byte_view first() const noexcept { return first_; }
  /// The message's second piece, after the wrap (size 0 if it does not wrap).
  byte_view second() const noexcept { return second_; }
  /// The message's length in bytes (0 for an empty grant, and for a zero-length record of
  /// the original library).
  std::size_t size() const noexcept { return first_.size + second_.size; }
  /// Consumes the message and empties the grant. Does nothing on an empty grant.
  inline void commit() noexcept;
  /// Copies the message into `out` (resized to size(); its storage is reused), then consumes
  /// it.
  void into_vector(std::vector<std::uint8_t>& out) {
    out.assign(first_.data, first_.data + first_.size);
    if (second_.size != 0) out.insert(out.end(), second_.data, second_.data + second_.size);
    commit();
  }
  /// Copies the message into buf[0..buf_capacity), consumes it, and returns its length.
  /// Errors: buffer_too_small (needed(): the length, available(): buf_capacity), which
  /// copies nothing and leaves the message, and the grant, as they were.
  result<std::size_t> into_buffer(void* buf, std::size_t buf_capacity) noexcept {
    const std::size_t len = size();
    if (len > buf_capacity) return detail::make::buffer_too_small(len, buf_capacity);
    unsigned char* const out = static_cast<unsigned char*>(buf);
    if (first_.size != 0) std::memcpy(out, first_.data, first_.size);
    if (second_.size != 0) std::memcpy(out + first_.size, second_.data, second_.size);
    commit();
    return len;
  }

 private:
  friend class consumer;
  inline void release() noexcept;
  inline void take(read_grant& other) noexcept;
  consumer* owner_ = nullptr;
  byte_view first_;
  byte_view second_;
};

/// The reading end of a ring. Movable, not copyable; one thread at a time. Never unlinks.
///
/// Every call that can wait comes as a pair: try_x returns at once, x takes a timeout. Each
/// call's documentation lists every error code it can return, and no other. The blocking
/// reads wait while the ring is empty; when the producer is gone, they still deliver
/// everything it published, then fail with errc::peer_gone.
class consumer : private detail::ring_end<detail::side::consumer> {
  using end = detail::ring_end<detail::side::consumer>;

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
  ~consumer() { detach_grant(); }

  /// Opens the segment `name`, takes the consumer's liveness lock on it, and resumes at its
  /// shared tail. Maps the header alone first, and after validating it only the ring it
  /// describes (16 + capacity bytes, plus the extension block if marked), whatever the object's
  /// size. Errors: invalid_name, not_found, not_ready (retryable), permission_denied,
  /// segment_too_small, invalid_capacity, in_use (another consumer holds the lock),
  /// system_error.
  static result<consumer> open(const std::string& name) {
    result<detail::opened_ring> r = detail::open_ring(name, detail::side::consumer);
    if (!r) return r.error();
    detail::opened_ring& o = r.value();
    consumer c(std::move(o.map), o.length, o.capacity, o.flags);
    c.fd_ = std::move(o.fd);
    c.name_ = std::move(o.bare);
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

  /// Lends the next message in place. Errors: empty, corrupted.
  result<read_grant> try_read() noexcept {
    no_grant_alive();
    std::uint32_t len = 0;
    const status s = next_record(len);
    if (!s) return s;
    const detail::pieces p = detail::locate(map_.data(), mask_, tail_ + 4, len);
    read_grant g;
    g.owner_ = this;
    g.first_ = byte_view(p.first, p.first_size);
    g.second_ = byte_view(p.second, p.second_size);
    return g;  // moving it into the result links it to this end (see take)
  }

  /// Like try_read, waiting up to `timeout` for a message. Errors: timeout (last(): empty),
  /// peer_gone (the producer is gone and everything it published has been read), corrupted.
  result<read_grant> read(std::chrono::nanoseconds timeout) {
    result<read_grant> r = try_read();
    if (r.code() == errc::empty) {
      r = retry_while(errc::empty, std::move(r), [&] { return try_read(); }, timeout);
    }
    return r;
  }

  /// Calls f(byte_view first, byte_view second) for up to max_messages messages available
  /// now (second is empty unless the message wraps; the views are valid during the call),
  /// then publishes the tail once. Returns how many were read: at least 1, or 0 when
  /// max_messages is 0. A corrupted record after good ones ends the batch and is reported by
  /// the next call. If f throws, the messages already handed to it stay consumed.
  /// Errors: empty, corrupted.
  template <class F>
  result<std::size_t> try_read_batch(std::size_t max_messages, F&& f) {
    no_grant_alive();
    // Publishes the tail on every way out, so that messages already handed to f stay consumed
    // even if f throws.
    struct publisher {
      consumer& c;
      std::uint32_t start;
      ~publisher() {
        if (c.tail_ != start) c.publish_index(c.tail_);
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
      const detail::pieces p = detail::locate(map_.data(), mask_, tail_ + 4, len);
      f(byte_view(p.first, p.first_size), byte_view(p.second, p.second_size));
      tail_ += static_cast<std::uint32_t>(prefix_size + len);
      ++n;
    }
    return n;
  }

  /// Like try_read_batch, waiting up to `timeout` for at least one message. Errors: timeout
  /// (last(): empty), peer_gone, corrupted.
  template <class F>
  result<std::size_t> read_batch(std::size_t max_messages, F&& f,
                                 std::chrono::nanoseconds timeout) {
    result<std::size_t> r = try_read_batch(max_messages, f);
    if (r.code() == errc::empty) {
      r = retry_while(errc::empty, r, [&] { return try_read_batch(max_messages, f); }, timeout);
    }
    return r;
  }

  // --- state ----------------------------------------------------------------------------------

  using end::capacity;
  using end::max_message_len;
  using end::name;
  using end::peer_state;
  using end::set_peer_check_interval;
  using end::valid;
  using end::wait_stats;

  /// Bytes published and not yet consumed (records and prefixes). A torn or stale head reads
  /// as an empty ring.
  std::size_t readable_bytes() const noexcept {
    if (!refresh_head()) return 0;
    return cached_head_ - tail_;
  }
  /// Whether no message is waiting.
  bool is_empty() const noexcept { return readable_bytes() == 0; }

 private:
  friend class read_grant;

  // `size`: the bytes of the mapping, of which the header said the first 16 + cap are the ring.
  consumer(detail::mapping m, std::uint64_t size, std::uint32_t cap, unsigned char flags) noexcept
      : end(std::move(m), cap, flags) {
    ext_ = detail::find_extension(map_.base(), size, cap);
    // Rewrites whatever an earlier consumer left there (LOCKED stays set when one goes, so that
    // the producer can tell it is gone). Nothing without a block.
    detail::store_flags(ext_, detail::side::consumer, flags);
    tail_ = detail::load_acquire(map_.base(), detail::tail_offset);
    cached_head_ = tail_;
  }

  // Swaps everything, the live grants included, and points each grant at its new owner.
  inline void swap(consumer& o) noexcept;

  // A read while a grant lives would lend the same message twice.
  void no_grant_alive() const noexcept {
    if (__builtin_expect(grant_ != nullptr, 0)) std::abort();
  }

  // Empties the live grant, whose views point into a mapping about to go.
  inline void detach_grant() noexcept;

  // Loads the shared head; keeps it only if it is plausible (head - tail <= capacity).
  bool refresh_head() const noexcept {
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

  void consume(std::uint32_t len) noexcept {
    tail_ += static_cast<std::uint32_t>(prefix_size + len);
    publish_index(tail_);
  }

  std::uint32_t tail_ = 0;  // our own index; the shared word only ever receives it
  // The last plausible head seen (cached_head_ - tail_ <= capacity_); the queries refresh it.
  mutable std::uint32_t cached_head_ = 0;
  read_grant* grant_ = nullptr;  // the live grant, which points back here
};

inline void consumer::swap(consumer& o) noexcept {
  swap_end(o);
  std::swap(tail_, o.tail_);
  std::swap(cached_head_, o.cached_head_);
  std::swap(grant_, o.grant_);
  if (grant_ != nullptr) grant_->owner_ = this;
  if (o.grant_ != nullptr) o.grant_->owner_ = &o;
}

inline void consumer::detach_grant() noexcept {
  if (grant_ == nullptr) return;
  grant_->owner_ = nullptr;
  grant_->first_ = byte_view();
  grant_->second_ = byte_view();
  grant_ = nullptr;
}

inline void read_grant::release() noexcept {
  if (owner_ != nullptr) owner_->grant_ = nullptr;
  owner_ = nullptr;
  first_ = byte_view();
  second_ = byte_view();
}

inline void read_grant::take(read_grant& other) noexcept {
  owner_ = other.owner_;
  first_ = other.first_;
  second_ = other.second_;
  other.owner_ = nullptr;
  other.first_ = byte_view();
  other.second_ = byte_view();
  if (owner_ != nullptr) owner_->grant_ = this;
}

inline void read_grant::commit() noexcept {
  if (owner_ == nullptr) return;
  consumer* const c = owner_;
  const std::uint32_t len = static_cast<std::uint32_t>(size());
  release();
  c->consume(len);
}

}  // namespace shm_ring

#endif  // SHM_RING_DETAIL_CONSUMER_HPP
