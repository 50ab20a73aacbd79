// shm_ring/detail/producer.hpp - the writing end of a ring and its reservation.

#ifndef SHM_RING_DETAIL_PRODUCER_HPP
#define SHM_RING_DETAIL_PRODUCER_HPP

#include "layout.hpp"
#include "os.hpp"
#include "ring.hpp"
#include "segment.hpp"
#include "status.hpp"
#include "wait.hpp"

namespace shm_ring {

// ---------------------------------------------------------------------------------------------
// Producer
// ---------------------------------------------------------------------------------------------

/// Options for producer::create.
struct producer_options {
  /// The initial head and tail (any value; used to test the 2^32 wrap).
  std::uint32_t start_index = 0;
  /// Permission bits, applied exactly with fchmod (the umask does not change them).
  ::mode_t mode = 0600;
  /// Fail with errc::already_exists instead of replacing an existing segment of that name.
  bool exclusive = false;
  /// Unlink the name when the producer is destroyed, if it still refers to this segment and
  /// the producer is destroyed in the process that created it (not in a child made with fork()).
  bool unlink_on_close = false;
};

class producer;

/// Space for one message, reserved in the ring by producer::try_reserve / producer::reserve.
/// Fill first() and then second() (empty unless the payload wraps), then commit().
/// Destroying it without commit() publishes nothing. While it is alive, the producer must not
/// be used for other writes or moved.
class reservation {
 public:
  reservation() noexcept = default;
  reservation(reservation&& other) noexcept { swap(other); }
  reservation& operator=(reservation&& other) noexcept {
    reservation(std::move(other)).swap(*this);
    return *this;
  }
  reservation(const reservation&) = delete;
  reservation& operator=(const reservation&) = delete;
  ~reservation() = default;

  /// The payload's first piece.
  mutable_byte_view first() const noexcept { return first_; }
  /// The payload's second piece, after the wrap (size 0 if it does not wrap).
  mutable_byte_view second() const noexcept { return second_; }
  /// The payload's length.
  std::size_t size() const noexcept { return first_.size + second_.size; }
  /// Publishes the message. Does nothing on an empty or already committed reservation.
  inline void commit() noexcept;

 private:
  friend class producer;
  void swap(reservation& other) noexcept {
    std::swap(owner_, other.owner_);
    std::swap(first_, other.first_);
    std::swap(second_, other.second_);
  }
  producer* owner_ = nullptr;
  mutable_byte_view first_;
  mutable_byte_view second_;
};

/// The writing side of a ring. Movable, not copyable; one thread at a time.
class producer {
 public:
  /// An empty producer (not attached to any ring). Only destruction and assignment are valid.
  producer() noexcept = default;
  producer(producer&& other) noexcept { swap(other); }
  producer& operator=(producer&& other) noexcept {
    producer(std::move(other)).swap(*this);
    return *this;
  }
  producer(const producer&) = delete;
  producer& operator=(const producer&) = delete;
  ~producer() {
    // Only in the process that created the segment: a child made with fork() holds a copy of
    // this object, and its end (return from main, exit(), a failed exec) must not remove the
    // name from under the parent, which is still producing.
    if (unlink_on_close_ && creator_pid_ == ::getpid()) (void)unlink();
  }

  /// Creates the segment `name` with a data area of capacity_for(requested_capacity) bytes
  /// (the object is sized segment_size(requested_capacity): 16 + requested_capacity, as the
  /// original library does, or a little more when the extension block would not fit in that),
  /// and takes the producer's liveness lock on it. An existing segment of that name is replaced,
  /// unless its producer is alive (errc::in_use, the segment untouched) or options.exclusive is
  /// set (errc::already_exists). Of several processes creating one name at once, exactly one
  /// succeeds and the others fail with errc::in_use: a name is only ever unlinked by a process
  /// holding the producer lock of the object it refers to, and a new object is locked before
  /// its creator does anything else with it.
  static result<producer> create(const std::string& name, std::uint64_t requested_capacity,
                                 const producer_options& options = producer_options()) {
    std::string bare;
    status s = validate_name(name, &bare);
    if (!s) return s;
    const std::uint32_t cap = capacity_for(requested_capacity);
    if (cap == 0) return detail::make::invalid_capacity(0, requested_capacity);
    const std::uint64_t size64 = segment_size(requested_capacity);
    if (size64 > std::numeric_limits<std::size_t>::max() ||
        size64 > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) {
      return detail::make::invalid_capacity(0, requested_capacity);
    }
    const std::size_t size = static_cast<std::size_t>(size64);
    const std::string os_name = "/" + bare;

    for (int round = 0; round < detail::create_rounds; ++round) {
      // Created 0600 (the mode is applied below with fchmod) so that the name can be opened
      // read-only to check what it refers to.
      detail::fd_guard fd(::shm_open(os_name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600));
      if (fd.get() < 0) {
        if (errno != EEXIST) return detail::make::from_errno("shm_open", errno);
        if (options.exclusive) return detail::make::from_errno("shm_open", EEXIST);
        s = detail::remove_stale(os_name, bare);
        if (!s) return s;
        continue;
      }
      // The lock first. Held by another: a creator that found this fresh object in its way is
      // replacing it, and will own the name. EINVAL: no OFD locks here.
      const int lock_error = detail::take_lock(fd.get(), detail::side::producer);
      if (lock_error == EAGAIN || lock_error == EACCES) return detail::make::in_use(0, bare);
      if (lock_error != 0 && lock_error != EINVAL) {
        return detail::make::os(errc::system_error, "fcntl", lock_error);
      }
      struct stat st;
      if (::fstat(fd.get(), &st) != 0) return detail::make::os(errc::system_error, "fstat", errno);
      if (lock_error == 0) {
        // Such a creator may also have locked, checked and unlinked it before we locked it:
        // then the name is no longer ours, and we start again.
        const int same = detail::name_identity(os_name, st.st_dev, st.st_ino);
        if (same < 0) return detail::make::from_errno("shm_open", -same);
        if (same == 0) continue;
      }
      return finish_create(std::move(fd), st, lock_error == 0, cap, size, std::move(bare),
                           options);
    }
    return detail::make::in_use(0, bare);
  }

  /// Makes a ring in memory the caller provides (4-byte aligned, `size` bytes, shared with
  /// the consumer by any means) and writes its header and extension block. The capacity is the
  /// largest power of two whose data area and extension block fit in `size` bytes (at least
  /// segment_size(8) = 128 bytes are needed; segment_size(n) bytes give capacity_for(n) or,
  /// below 32, a little more). The memory is not unmapped by the producer.
  static result<producer> create_in_memory(void* memory, std::size_t size,
                                           std::uint32_t start_index = 0) noexcept {
    assert(reinterpret_cast<std::uintptr_t>(memory) % 4 == 0);
    const std::uint64_t smallest = segment_size(min_capacity);
    if (size < smallest) return detail::make::segment_too_small(2, smallest, size);
    const std::uint64_t requested = size - header_size;
    std::uint32_t cap =
        capacity_for(requested > max_requested_capacity ? max_requested_capacity : requested);
    while (extension_offset(cap) + extension_size > size) cap >>= 1;
    const unsigned char flags = detail::barrier_registered() ? detail::flag_barrier : 0;
    return producer(detail::mapping(static_cast<unsigned char*>(memory), size, false), cap,
                    start_index, flags);
  }

  /// Makes a ring in caller-provided memory (4-byte aligned, `size` bytes) laid out as the
  /// original library lays one out: the 16-byte header (reserved word 0) and a data area of the
  /// largest power of two not above size - 16, and nothing else: no byte past 16 + capacity is
  /// ever touched, by this producer or by a consumer of the ring. Without the extension block
  /// there are no flag bytes, so blocking calls on either side poll and liveness is unknown.
  /// Errors: segment_too_small (size < 16), invalid_capacity (value(): size - 16, below 8).
  static result<producer> create_in_memory_without_extension(
      void* memory, std::size_t size, std::uint32_t start_index = 0) noexcept {
    assert(reinterpret_cast<std::uintptr_t>(memory) % 4 == 0);
    if (size < header_size) return detail::make::segment_too_small(0, header_size, size);
    const std::uint64_t requested = size - header_size;
    const std::uint32_t cap =
        capacity_for(requested > max_requested_capacity ? max_requested_capacity : requested);
    if (cap == 0) return detail::make::invalid_capacity(0, requested);
    unsigned char* const base = static_cast<unsigned char*>(memory);
    detail::store_relaxed(base, detail::head_offset, start_index);
    detail::store_relaxed(base, detail::tail_offset, start_index);
    detail::store_relaxed(base, detail::reserved_offset, 0);
    detail::store_release(base, detail::capacity_offset, cap);
    return producer(detail::mapping(base, size, false), size, cap);
  }

  /// Attaches as the producer to a ring whose header is already in caller-provided memory
  /// (4-byte aligned, `size` bytes), resuming at its shared head: the stream goes on where the
  /// last producer of the ring left it. Only one producer may write at a time. Errors: as
  /// consumer::open_in_memory.
  static result<producer> open_in_memory(void* memory, std::size_t size) noexcept {
    assert(reinterpret_cast<std::uintptr_t>(memory) % 4 == 0);
    unsigned char* const base = static_cast<unsigned char*>(memory);
    std::uint32_t cap = 0;
    const status s = detail::check_header(base, size, cap);
    if (!s) return s;
    return producer(detail::mapping(base, size, false), size, cap);
  }

  // --- writing ------------------------------------------------------------------------------

  /// Writes one message if the whole record fits now. Errors: empty_message, too_large, full.
  status try_write(const void* data, std::size_t len) noexcept {
    const status s = check_length(len);
    if (!s) return s;
    const std::uint32_t need = record_size(len);
    if (!has_room(head_, need)) return detail::make::full(need, free_at(head_));
    put_record(head_, static_cast<const unsigned char*>(data), len);
    publish(head_ + need);
    return status();
  }

  /// Writes one message, waiting up to `timeout` for space. Errors: as try_write, timeout,
  /// peer_gone (the consumer is gone while the ring is full).
  status write(const void* data, std::size_t len, std::chrono::nanoseconds timeout) {
    status s = try_write(data, len);
    if (s == errc::full) s = retry_while_full(s, [&] { return try_write(data, len); }, timeout);
    return s;
  }

  /// Writes as many of msgs[0..count) as fit now, in order, and publishes head once.
  /// Returns how many were written. If none could be written, returns the first message's
  /// error (full, empty_message, too_large); a bad message later in the list stops the batch
  /// before it, and is reported by the next call. count == 0 returns 0.
  result<std::size_t> try_write_batch(const byte_view* msgs, std::size_t count) noexcept {
    std::uint32_t h = head_;
    std::size_t n = 0;
    for (; n < count; ++n) {
      const std::size_t len = msgs[n].size;
      status s = check_length(len);
      const std::uint32_t need = s ? record_size(len) : 0;
      if (s && !has_room(h, need)) s = detail::make::full(need, free_at(h));
      if (!s) {
        if (n == 0) return s;
        break;
      }
      put_record(h, msgs[n].data, len);
      h += need;
    }
    if (h != head_) publish(h);
    return n;
  }

  /// Like try_write_batch, but waits up to `timeout` until at least one message fits.
  /// Errors: as try_write_batch, timeout, peer_gone.
  result<std::size_t> write_batch(const byte_view* msgs, std::size_t count,
                                  std::chrono::nanoseconds timeout) {
    result<std::size_t> r = try_write_batch(msgs, count);
    if (r.code() == errc::full) {
      r = retry_while_full(r, [&] { return try_write_batch(msgs, count); }, timeout);
    }
    return r;
  }

  /// Reserves room for a `len`-byte message to be filled in place. Errors: as try_write.
  result<reservation> try_reserve(std::size_t len) noexcept {
    const status s = check_length(len);
    if (!s) return s;
    const std::uint32_t need = record_size(len);
    if (!has_room(head_, need)) return detail::make::full(need, free_at(head_));
    detail::write_prefix(map_.data(), mask_, head_, static_cast<std::uint32_t>(len));
    const detail::pieces p = detail::locate(map_.data(), mask_, head_ + 4, len);
    reservation r;
    r.owner_ = this;
    r.first_ = mutable_byte_view(p.first, p.first_size);
    r.second_ = mutable_byte_view(p.second, p.second_size);
    return r;
  }

  /// Like try_reserve, waiting up to `timeout` for space. Errors: as try_reserve, timeout,
  /// peer_gone.
  result<reservation> reserve(std::size_t len, std::chrono::nanoseconds timeout) {
    result<reservation> r = try_reserve(len);
    if (r.code() == errc::full) {
      r = retry_while_full(std::move(r), [&] { return try_reserve(len); }, timeout);
    }
    return r;
  }

  /// Waits up to `timeout` until the consumer has read everything (head == tail). Errors:
  /// timeout, peer_gone (the consumer is gone with messages unread).
  status wait_until_empty(std::chrono::nanoseconds timeout) {
    if (is_empty()) return status();
    switch (wait_for_space([&] { return is_empty(); }, timeout)) {
      case detail::wait_outcome::done: return status();
      case detail::wait_outcome::peer_gone: return detail::make::peer_gone(1);
      case detail::wait_outcome::timed_out: break;
    }
    return detail::make::timeout(timeout);
  }

  /// Whether the consumer lives: alive while a consumer of ours holds its lock, gone once the
  /// last one to attach has closed the ring or died, unknown if none of ours has attached (or
  /// no OFD locks, or a ring in caller-provided memory).
  peer_state is_peer_alive() const noexcept {
    return detail::probe_peer(ext_, fd_.get(), detail::side::consumer);
  }

  /// How long a blocked call sleeps against a consumer of ours (which wakes it) before it
  /// checks that the consumer is still alive; default_peer_check_interval (20 ms) unless set.
  /// It only trades how quickly a dead consumer is noticed against how often an idle producer
  /// wakes up to look. A negative interval counts as 0.
  void set_peer_check_interval(std::chrono::nanoseconds interval) noexcept {
    peer_check_ = interval < std::chrono::nanoseconds::zero() ? std::chrono::nanoseconds::zero()
                                                              : interval;
  }

  /// How this producer has slept in blocking calls so far; see shm_ring::wait_stats.
  shm_ring::wait_stats wait_stats() const noexcept { return stats_; }

  /// Unlinks the segment's name now, if it still refers to this segment (a name re-created by
  /// someone else is left alone). Does nothing for a ring in caller-provided memory or once
  /// done. The mapping stays usable.
  status unlink() noexcept {
    if (!linked_) return status();
    linked_ = false;
    return detail::unlink_if_ours("/" + name_, dev_, ino_);
  }

  // --- state ----------------------------------------------------------------------------------

  bool valid() const noexcept { return capacity_ != 0; }
  /// The data-area size in bytes (a power of two).
  std::uint32_t capacity() const noexcept { return capacity_; }
  /// The largest payload this ring carries: capacity - 4.
  std::size_t max_message_len() const noexcept { return capacity_ - prefix_size; }
  /// Bytes written and not yet consumed (records and prefixes). A torn or stale tail reads
  /// as a full ring.
  std::size_t readable_bytes() noexcept {
    const std::uint32_t t = detail::load_acquire(map_.base(), detail::tail_offset);
    const std::uint32_t used = head_ - t;
    if (used > capacity_) return capacity_;
    cached_tail_ = t;
    return used;
  }
  /// Free bytes (a record needs 4 + its length).
  std::size_t writable_bytes() noexcept { return capacity_ - readable_bytes(); }
  bool is_empty() noexcept { return readable_bytes() == 0; }
  /// The segment name without a leading '/' (empty for a ring in caller-provided memory).
  const std::string& name() const noexcept { return name_; }

 private:
  friend class reservation;

  // The rest of create, on a fresh object whose name refers to it and whose lock we hold (or
  // that nobody can lock: no OFD locks here). On failure the name is unlinked again.
  static result<producer> finish_create(detail::fd_guard fd, const struct stat& st, bool locked,
                                        std::uint32_t cap, std::size_t size, std::string bare,
                                        const producer_options& options) {
    const std::string os_name = "/" + bare;
    const auto fail = [&](const char* op, int err) -> status {
      (void)detail::unlink_if_ours(os_name, st.st_dev, st.st_ino);
      return detail::make::os(errc::system_error, op, err);
    };
    if (::fchmod(fd.get(), options.mode) != 0) return fail("fchmod", errno);
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) return fail("ftruncate", errno);
    const int alloc_error = detail::allocate(fd.get(), size);
    if (alloc_error != 0) return fail("fallocate", alloc_error);
    result<detail::mapping> m = detail::map_shared(fd.get(), size, true);
    if (!m) return fail("mmap", m.error().sys_errno());

    const unsigned char flags = static_cast<unsigned char>(
        (locked ? detail::flag_locked : 0) |
        (detail::barrier_registered() ? detail::flag_barrier : 0));
    producer p(std::move(m.value()), cap, options.start_index, flags);
    p.fd_ = std::move(fd);
    p.name_ = std::move(bare);
    p.dev_ = st.st_dev;
    p.ino_ = st.st_ino;
    p.linked_ = true;
    p.unlink_on_close_ = options.unlink_on_close;
    p.creator_pid_ = ::getpid();
    return p;
  }

  producer(detail::mapping m, std::uint32_t cap, std::uint32_t start,
           unsigned char flags) noexcept
      : map_(std::move(m)),
        capacity_(cap),
        mask_(cap - 1),
        head_(start),
        cached_tail_(start),
        flags_(flags) {
    ext_ = detail::init_header(map_.base(), cap, start, flags);
  }

  // Attaches to the ring whose validated header (capacity `cap`) is in `m` (`size` bytes):
  // resumes at the shared head, and uses the extension block only if the ring has one.
  producer(detail::mapping m, std::uint64_t size, std::uint32_t cap) noexcept
      : map_(std::move(m)), capacity_(cap), mask_(cap - 1) {
    flags_ = detail::barrier_registered() ? detail::flag_barrier : 0;
    ext_ = detail::find_extension(map_.base(), size, cap);
    detail::store_flags(ext_, detail::side::producer, flags_);
    head_ = detail::load_acquire(map_.base(), detail::head_offset);
    const std::uint32_t tail = detail::load_acquire(map_.base(), detail::tail_offset);
    // A torn or stale tail counts as a full ring until the next look.
    cached_tail_ = head_ - tail > capacity_ ? head_ - capacity_ : tail;
  }

  void swap(producer& o) noexcept {
    std::swap(map_, o.map_);
    std::swap(capacity_, o.capacity_);
    std::swap(mask_, o.mask_);
    std::swap(head_, o.head_);
    std::swap(cached_tail_, o.cached_tail_);
    std::swap(name_, o.name_);
    std::swap(dev_, o.dev_);
    std::swap(ino_, o.ino_);
    std::swap(linked_, o.linked_);
    std::swap(unlink_on_close_, o.unlink_on_close_);
    std::swap(creator_pid_, o.creator_pid_);
    std::swap(fd_, o.fd_);
    std::swap(flags_, o.flags_);
    std::swap(ext_, o.ext_);
    std::swap(peer_check_, o.peer_check_);
    std::swap(stats_, o.stats_);
  }

  // The waiting half of the blocking writes, reached only when their first attempt, `first`,
  // found the ring full: retries `attempt` (which returns a status or a result) until the ring
  // is not full, the timeout has passed or the consumer is gone. Out of line, so that a
  // blocking write that finds room costs what its try_ twin does and copies no status.
  template <class R, class Attempt>
  SHM_RING_COLD R retry_while_full(R first, Attempt attempt, std::chrono::nanoseconds timeout) {
    R r = std::move(first);
    const detail::wait_outcome o = wait_for_space(
        [&] {
          r = attempt();
          return r.code() != errc::full;
        },
        timeout);
    if (o == detail::wait_outcome::done) return r;
    if (o == detail::wait_outcome::peer_gone) return R(detail::make::peer_gone(1));
    return R(detail::make::timeout(timeout, errc::full));
  }

  // Waits while `ready()` is false (the ring full, or for wait_until_empty not empty); the
  // caller has looked once already.
  template <class Ready>
  detail::wait_outcome wait_for_space(Ready&& ready, std::chrono::nanoseconds timeout) {
    const detail::ring_side me{map_.base(), ext_,        fd_.get(), detail::side::producer,
                               flags_,      peer_check_, &stats_};
    return detail::wait_for_peer(me, ready, timeout);
  }

  status check_length(std::size_t len) const noexcept {
    if (len == 0) return status(errc::empty_message);
    if (len > capacity_ - prefix_size) return detail::make::too_large(len, capacity_ - 4);
    return status();
  }

  static std::uint32_t record_size(std::size_t len) noexcept {
    return static_cast<std::uint32_t>(prefix_size + len);
  }

  std::uint32_t free_at(std::uint32_t h) const noexcept { return capacity_ - (h - cached_tail_); }

  // Whether `need` bytes fit at position h. Re-reads the shared tail only when the cached one
  // says they do not; a torn or stale tail (used > capacity) counts as full.
  bool has_room(std::uint32_t h, std::uint32_t need) noexcept {
    if (free_at(h) >= need) return true;
    const std::uint32_t t = detail::load_acquire(map_.base(), detail::tail_offset);
    if (h - t > capacity_) return false;
    cached_tail_ = t;
    return free_at(h) >= need;
  }

  void put_record(std::uint32_t at, const unsigned char* payload, std::size_t len) noexcept {
    detail::write_prefix(map_.data(), mask_, at, static_cast<std::uint32_t>(len));
    detail::copy_in(map_.data(), mask_, at + 4, payload, len);
  }

  void publish(std::uint32_t new_head) noexcept {
    head_ = new_head;
    detail::store_release(map_.base(), detail::head_offset, new_head);
    detail::wake_peer(map_.base(), ext_, detail::side::producer);
  }

  detail::mapping map_;
  std::uint32_t capacity_ = 0;
  std::uint32_t mask_ = 0;
  std::uint32_t head_ = 0;         // our own index; the shared word only ever receives it
  std::uint32_t cached_tail_ = 0;  // last valid tail seen; head_ - cached_tail_ <= capacity_
  std::string name_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  bool linked_ = false;
  bool unlink_on_close_ = false;
  ::pid_t creator_pid_ = 0;  // the process that created the segment (it alone unlinks on close)
  detail::fd_guard fd_;     // holds the liveness lock; -1 for a ring in caller-provided memory
  unsigned char flags_ = 0;  // our flag byte at rest
  unsigned char* ext_ = nullptr;  // the extension block (always there in a ring we made)
  std::chrono::nanoseconds peer_check_ = default_peer_check_interval;
  shm_ring::wait_stats stats_;
};

inline void reservation::commit() noexcept {
  if (owner_ == nullptr) return;
  owner_->publish(owner_->head_ + static_cast<std::uint32_t>(prefix_size + size()));
  owner_ = nullptr;
}

}  // namespace shm_ring

#endif  // SHM_RING_DETAIL_PRODUCER_HPP
