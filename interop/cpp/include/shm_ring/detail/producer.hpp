// shm_ring/detail/producer.hpp - the writing end of a ring and its write grant.

#ifndef SHM_RING_DETAIL_PRODUCER_HPP
#define SHM_RING_DETAIL_PRODUCER_HPP

#include "end.hpp"
#include "layout.hpp"
#include "os.hpp"
#include "ring.hpp"
#include "segment.hpp"
#include "status.hpp"
#include "wait.hpp"

namespace shm_ring {

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

namespace detail {
struct producer_access;
}

/// Space for one message of size() bytes, reserved in the ring by producer::try_reserve or
/// producer::reserve. Fill it with copy_from(), or through first() and then second() (empty
/// unless the payload wraps), then commit() to publish it. Destroying it without commit()
/// publishes nothing.
///
/// The grant knows its producer and the producer its grant: moving either keeps the two
/// connected, and destroying the producer first leaves the grant empty (size 0, commit() does
/// nothing). While a grant lives, any other write on its producer is a programming error and
/// aborts the process (it would overwrite the reserved space).
///
///     shm_ring::result<shm_ring::write_grant> g = p.try_reserve(5);
///     if (g) {
///       g->copy_from("hello", 5);
///       g->commit();
///     }
class write_grant {
 public:
  /// An empty grant (size 0); commit() does nothing.
  write_grant() noexcept = default;
  write_grant(write_grant&& other) noexcept { take(other); }
  write_grant& operator=(write_grant&& other) noexcept {
    if (this != &other) {
      release();
      take(other);
    }
    return *this;
  }
  write_grant(const write_grant&) = delete;
  write_grant& operator=(const write_grant&) = delete;
  /// Publishes nothing; the producer may write again.
  ~write_grant() { release(); }

  /// The payload's first piece.
  mutable_byte_view first() const noexcept { return first_; }
  /// The payload's second piece, after the wrap (size 0 if it does not wrap).
  mutable_byte_view second() const noexcept { return second_; }
  /// The payload's length in bytes (0 for an empty grant).
  std::size_t size() const noexcept { return first_.size + second_.size; }
  /// Copies data[0..len) into the reserved space, across the wrap. len must be size(): any
  /// other length aborts the process (a message is never written in part).
  void copy_from(const void* data, std::size_t len) noexcept {
    if (len != size()) std::abort();
    const unsigned char* const bytes = static_cast<const unsigned char*>(data);
    if (first_.size != 0) std::memcpy(first_.data, bytes, first_.size);
    if (second_.size != 0) std::memcpy(second_.data, bytes + first_.size, second_.size);
  }
  /// Publishes the message and empties the grant. Does nothing on an empty grant.
  inline void commit() noexcept;

 private:
  friend class producer;
  inline void release() noexcept;
  inline void take(write_grant& other) noexcept;
  producer* owner_ = nullptr;
  mutable_byte_view first_;
  mutable_byte_view second_;
};

/// The writing end of a ring. Movable, not copyable; one thread at a time.
///
/// Every call that can wait comes as a pair: try_x returns at once, x takes a timeout. Each
/// call's documentation lists every error code it can return, and no other.
class producer : private detail::ring_end<detail::side::producer> {
  using end = detail::ring_end<detail::side::producer>;

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
    detach_grant();
    // Only in the process that created the segment: a child made with fork() holds a copy of
    // this object, and its end (return from main, exit(), a failed exec) must not remove the
    // name from under the parent, which is still producing.
    if (unlink_on_close_ && creator_pid_ == ::getpid()) (void)unlink();
  }

  /// Creates the segment `name` with a data area of the smallest power of two at least
  /// `capacity` bytes (and at least 8), so that the ring is never smaller than asked;
  /// capacity_for_message(n) is the capacity for messages of up to n bytes. The object is
  /// segment_size(capacity) bytes: header, data area and the 64-byte extension block. Takes the
  /// producer's liveness lock. An existing segment of that name is replaced, unless its
  /// producer is alive (errc::in_use, the segment untouched) or options.exclusive is set
  /// (errc::already_exists). Of several processes creating one name at once, exactly one
  /// succeeds and the others fail with errc::in_use: a name is only ever unlinked by a process
  /// holding the producer lock of the object it refers to, and a new object is locked before
  /// its creator does anything else with it.
  /// Errors: invalid_name, invalid_capacity (capacity outside 1 ..= 2^31), already_exists,
  /// in_use, permission_denied, system_error (fchmod, ftruncate, fallocate: a full file
  /// system, mmap, fcntl, fstat, shm_open, shm_unlink).
  static result<producer> create(const std::string& name, std::uint64_t capacity,
                                 const producer_options& options = producer_options()) {
    const std::uint32_t cap = detail::round_up_capacity(capacity);
    if (cap == 0) return detail::make::invalid_capacity(0, capacity);
    return create_sized(name, cap, detail::object_size(cap), options);
  }

  /// Takes over the producer role of the existing ring `name`, whose producer is gone, and
  /// writes on after what is already in it: messages published and not yet read stay, and the
  /// consumer (attached or to come) reads them first. This is how a restarted producer process
  /// continues its stream, and how a ring of the original library's layout, made by a program
  /// that has ended, is written to.
  ///
  /// Maps the header alone first, and after validating it only the ring it describes, as
  /// consumer::open does; takes the producer's liveness lock; writes its flag byte only if the
  /// ring has the extension block, and changes nothing else of the header. A tail more than
  /// capacity() bytes behind the head reads as a full ring. The segment keeps its size, mode
  /// and name: the producer never unlinks it when destroyed (unlink() still does).
  /// Errors: invalid_name, not_found, not_ready (retryable), permission_denied,
  /// segment_too_small, invalid_capacity, in_use (a live producer holds the ring),
  /// system_error.
  ///
  ///     shm_ring::result<shm_ring::producer> p = shm_ring::producer::open("frames");
  ///     if (p.code() == shm_ring::errc::in_use) { /* its producer is still running */ }
  static result<producer> open(const std::string& name) {
    result<detail::opened_ring> r = detail::open_ring(name, detail::side::producer);
    if (!r) return r.error();
    detail::opened_ring& o = r.value();
    producer p(std::move(o.map), o.length, o.capacity, o.flags, resume_at_head());
    p.fd_ = std::move(o.fd);
    p.name_ = std::move(o.bare);
#if !defined(_WIN32)
    p.dev_ = o.dev;
    p.ino_ = o.ino;
#endif
    p.linked_ = true;
    p.creator_pid_ = ::getpid();
    return p;
  }

  /// Makes a ring in memory the caller provides (4-byte aligned, `size` bytes, shared with
  /// the consumer by any means) and writes its header and extension block. The capacity is the
  /// largest power of two whose data area and extension block fit in `size` bytes (at least
  /// segment_size(8) = 128 bytes are needed; segment_size(n) bytes give the capacity create(n)
  /// makes or, below 32, a little more). The memory is not unmapped by the producer.
  /// Errors: segment_too_small (size below 128).
  static result<producer> create_in_memory(void* memory, std::size_t size,
                                           std::uint32_t start_index = 0) noexcept {
    assert(reinterpret_cast<std::uintptr_t>(memory) % 4 == 0);
    const std::uint64_t smallest = segment_size(min_capacity);
    if (size < smallest) return detail::make::segment_too_small(2, smallest, size);
    const std::uint64_t requested = size - header_size;
    std::uint32_t cap = detail::round_down_capacity(
        requested > detail::max_round_down_request ? detail::max_round_down_request : requested);
    while (detail::object_size(cap) > size) cap >>= 1;
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
    const std::uint32_t cap = detail::round_down_capacity(
        requested > detail::max_round_down_request ? detail::max_round_down_request : requested);
    if (cap == 0) return detail::make::invalid_capacity(2, requested);
    unsigned char* const base = static_cast<unsigned char*>(memory);
    detail::store_relaxed(base, detail::head_offset, start_index);
    detail::store_relaxed(base, detail::tail_offset, start_index);
    detail::store_relaxed(base, detail::reserved_offset, 0);
    detail::store_release(base, detail::capacity_offset, cap);
    return producer(detail::mapping(base, size, false), size, cap, barrier_flags(),
                    resume_at_head());
  }

  /// Attaches as the producer to a ring whose header is already in caller-provided memory
  /// (4-byte aligned, `size` bytes), resuming at its shared head: the stream goes on where the
  /// last producer of the ring left it. Only one producer may write at a time.
  /// Errors: not_ready (capacity word 0), invalid_capacity, segment_too_small.
  static result<producer> open_in_memory(void* memory, std::size_t size) noexcept {
    assert(reinterpret_cast<std::uintptr_t>(memory) % 4 == 0);
    unsigned char* const base = static_cast<unsigned char*>(memory);
    std::uint32_t cap = 0;
    const status s = detail::check_header(base, size, cap);
    if (!s) return s;
    return producer(detail::mapping(base, size, false), size, cap, barrier_flags(),
                    resume_at_head());
  }

  // --- writing ------------------------------------------------------------------------------

  /// Writes one message of len bytes if the whole record (4 + len bytes) fits now. Nothing is
  /// ever written in part. Errors: full, too_large, empty_message.
  status try_write(const void* data, std::size_t len) noexcept {
    no_grant_alive();
    const status s = check_length(len);
    if (!s) return s;
    const std::uint32_t need = record_size(len);
    if (!has_room(head_, need)) return detail::make::full(need, free_at(head_));
    put_record(head_, static_cast<const unsigned char*>(data), len);
    publish(head_ + need);
    return status();
  }

  /// Like try_write, waiting up to `timeout` for space. Errors: timeout (last(): full),
  /// peer_gone (the consumer is gone while the ring is full), too_large, empty_message.
  status write(const void* data, std::size_t len, std::chrono::nanoseconds timeout) {
    status s = try_write(data, len);
    if (s == errc::full) {
      s = retry_while(errc::full, s, [&] { return try_write(data, len); }, timeout);
    }
    return s;
  }

  /// Writes as many of msgs[0..count) as fit now, in order, and publishes head once.
  /// Returns how many were written: at least 1, or 0 when count is 0. If not even the first
  /// message can be written, returns its error; a bad message later in the list stops the
  /// batch before it, and is reported by the next call. Errors: full, too_large,
  /// empty_message.
  result<std::size_t> try_write_batch(const byte_view* msgs, std::size_t count) noexcept {
    no_grant_alive();
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

  /// Like try_write_batch, waiting up to `timeout` until at least the first message fits.
  /// Errors: timeout (last(): full), peer_gone, too_large, empty_message.
  result<std::size_t> write_batch(const byte_view* msgs, std::size_t count,
                                  std::chrono::nanoseconds timeout) {
    result<std::size_t> r = try_write_batch(msgs, count);
    if (r.code() == errc::full) {
      r = retry_while(errc::full, r, [&] { return try_write_batch(msgs, count); }, timeout);
    }
    return r;
  }

  /// Reserves room for a `len`-byte message, to be filled in place and published by
  /// write_grant::commit. Errors: full, too_large, empty_message.
  result<write_grant> try_reserve(std::size_t len) noexcept {
    no_grant_alive();
    const status s = check_length(len);
    if (!s) return s;
    const std::uint32_t need = record_size(len);
    if (!has_room(head_, need)) return detail::make::full(need, free_at(head_));
    detail::write_prefix(map_.data(), mask_, head_, static_cast<std::uint32_t>(len));
    const detail::pieces p = detail::locate(map_.data(), mask_, head_ + 4, len);
    write_grant g;
    g.owner_ = this;
    g.first_ = mutable_byte_view(p.first, p.first_size);
    g.second_ = mutable_byte_view(p.second, p.second_size);
    return g;  // moving it into the result links it to this end (see take)
  }

  /// Like try_reserve, waiting up to `timeout` for space. Errors: timeout (last(): full),
  /// peer_gone, too_large, empty_message.
  result<write_grant> reserve(std::size_t len, std::chrono::nanoseconds timeout) {
    result<write_grant> r = try_reserve(len);
    if (r.code() == errc::full) {
      r = retry_while(errc::full, std::move(r), [&] { return try_reserve(len); }, timeout);
    }
    return r;
  }

  /// Waits up to `timeout` until the consumer has read everything (head == tail). Errors:
  /// timeout (last(): none), peer_gone (the consumer is gone with messages unread).
  status wait_until_empty(std::chrono::nanoseconds timeout) {
    if (is_empty()) return status();
    switch (wait_until([&] { return is_empty(); }, timeout)) {
      case detail::wait_outcome::done: return status();
      case detail::wait_outcome::peer_gone: return detail::make::peer_gone(1);
      case detail::wait_outcome::timed_out: break;
    }
    return detail::make::timeout(timeout);
  }

  /// Unlinks the segment's name now, if it still refers to this segment (a name re-created by
  /// someone else is left alone). Does nothing for a ring in caller-provided memory or once
  /// done. The mapping stays usable. Errors: permission_denied, system_error (shm_open,
  /// fstat, shm_unlink).
  status unlink() noexcept {
    if (!linked_) return status();
    linked_ = false;
#if defined(_WIN32)
    // A Windows mapping has no name to remove: it goes with the last handle to it.
    return status();
#else
    return detail::unlink_if_ours("/" + name_, dev_, ino_);
#endif
  }

  // --- state ----------------------------------------------------------------------------------

  using end::capacity;
  using end::max_message_len;
  using end::name;
  using end::peer_state;
  using end::set_peer_check_interval;
  using end::valid;
  using end::wait_stats;

  /// Bytes written and not yet consumed (records and prefixes). A torn or stale tail reads
  /// as a full ring.
  std::size_t readable_bytes() const noexcept {
    const std::uint32_t t = detail::load_acquire(map_.base(), detail::tail_offset);
    const std::uint32_t used = head_ - t;
    if (used > capacity_) return capacity_;
    cached_tail_ = t;
    return used;
  }
  /// Free bytes (a record needs 4 + its length).
  std::size_t writable_bytes() const noexcept { return capacity_ - readable_bytes(); }
  /// Whether the consumer has read everything.
  bool is_empty() const noexcept { return readable_bytes() == 0; }

 private:
  friend class write_grant;
  friend struct detail::producer_access;

  // create, once the capacity and the object's size are chosen.
  static result<producer> create_sized(const std::string& name, std::uint32_t cap,
                                       std::uint64_t size64, const producer_options& options) {
    std::string bare;
    status s = validate_name(name, &bare);
    if (!s) return s;
    if (size64 > std::numeric_limits<std::size_t>::max() ||
        size64 > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) {
      return detail::make::invalid_capacity(0, cap);
    }
    const std::size_t size = static_cast<std::size_t>(size64);
#if defined(_WIN32)
    return create_windows(std::move(bare), cap, size, options);
#else
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
#endif
  }

#if defined(_WIN32)
  // create on Windows, where a name cannot be removed: the producer lock first (a live
  // producer holding it is in_use), then, holding it, the name must be free. A mapping that
  // still exists (held open by a consumer or another process after its producer went) is
  // already_exists for an exclusive create and unsupported otherwise: it cannot be replaced,
  // only taken over with open(). The mapping is made last, sized in the same call.
  static result<producer> create_windows(std::string bare, std::uint32_t cap, std::size_t size,
                                         const producer_options& options) {
    if (detail::object_exists(bare)) {
      if (options.exclusive) return detail::make::from_errno("CreateFileMappingW", EEXIST);
      int open_error = 0;
      const detail::fd_guard existing = detail::open_object(bare, open_error);
      bool held = false;
      if (open_error == 0 && detail::lock_held(existing.get(), detail::side::producer, held) &&
          held) {
        return detail::make::in_use(0, bare);
      }
      return detail::make::unsupported(1);
    }
    detail::fd_guard fd(bare, nullptr, options.mode);
    const int lock_error = fd.take(0);
    if (lock_error == EAGAIN) return detail::make::in_use(0, bare);
    if (lock_error != 0) return detail::make::os(errc::system_error, "CreateMutexW", lock_error);
    if (detail::object_exists(bare)) {
      return options.exclusive ? detail::make::from_errno("CreateFileMappingW", EEXIST)
                               : detail::make::unsupported(1);
    }
    const int make_error = detail::make_object(fd, size, options.mode);
    if (make_error != 0) return detail::make::from_errno("CreateFileMappingW", make_error);
    result<detail::mapping> m = detail::map_shared(fd.get(), size, true);
    if (!m) return m.error();
    const unsigned char flags = detail::flag_locked;
    producer p(std::move(m.value()), cap, options.start_index, flags);
    p.fd_ = std::move(fd);
    p.name_ = std::move(bare);
    p.linked_ = true;
    p.unlink_on_close_ = options.unlink_on_close;
    p.creator_pid_ = ::getpid();
    return p;
  }
#else

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

#endif  // _WIN32

  producer(detail::mapping m, std::uint32_t cap, std::uint32_t start,
           unsigned char flags) noexcept
      : end(std::move(m), cap, flags), head_(start), cached_tail_(start) {
    ext_ = detail::init_header(map_.base(), cap, start, flags);
  }

  // Picks the constructor that resumes an initialised ring rather than writing a fresh header.
  struct resume_at_head {};

  // The flag byte of a producer that holds no liveness lock (a ring in caller memory).
  static unsigned char barrier_flags() noexcept {
    return detail::barrier_registered() ? detail::flag_barrier : 0;
  }

  // Attaches to the ring whose validated header (capacity `cap`) is in `m` (`size` bytes) with
  // our flag byte `flags`: resumes at the shared head, and uses (and writes its flag byte into)
  // the extension block only if the ring has one.
  producer(detail::mapping m, std::uint64_t size, std::uint32_t cap, unsigned char flags,
           resume_at_head) noexcept
      : end(std::move(m), cap, flags) {
    ext_ = detail::find_extension(map_.base(), size, cap);
    detail::store_flags(ext_, detail::side::producer, flags_);
    head_ = detail::load_acquire(map_.base(), detail::head_offset);
    const std::uint32_t tail = detail::load_acquire(map_.base(), detail::tail_offset);
    // A torn or stale tail counts as a full ring until the next look.
    cached_tail_ = head_ - tail > capacity_ ? head_ - capacity_ : tail;
  }

  // Swaps everything, the live grants included, and points each grant at its new owner.
  inline void swap(producer& o) noexcept;

  // A write while a grant lives would overwrite the space the grant lends.
  void no_grant_alive() const noexcept {
    if (__builtin_expect(grant_ != nullptr, 0)) std::abort();
  }

  // Empties the live grant, whose views point into a mapping about to go.
  inline void detach_grant() noexcept;

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
    publish_index(new_head);
  }

  std::uint32_t head_ = 0;  // our own index; the shared word only ever receives it
  // The last valid tail seen (head_ - cached_tail_ <= capacity_); the queries refresh it.
  mutable std::uint32_t cached_tail_ = 0;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  bool linked_ = false;
  bool unlink_on_close_ = false;
  ::pid_t creator_pid_ = 0;  // the process that created the segment (it alone unlinks on close)
  write_grant* grant_ = nullptr;  // the live grant, which points back here
};

inline void producer::swap(producer& o) noexcept {
  swap_end(o);
  std::swap(head_, o.head_);
  std::swap(cached_tail_, o.cached_tail_);
  std::swap(dev_, o.dev_);
  std::swap(ino_, o.ino_);
  std::swap(linked_, o.linked_);
  std::swap(unlink_on_close_, o.unlink_on_close_);
  std::swap(creator_pid_, o.creator_pid_);
  std::swap(grant_, o.grant_);
  if (grant_ != nullptr) grant_->owner_ = this;
  if (o.grant_ != nullptr) o.grant_->owner_ = &o;
}

inline void producer::detach_grant() noexcept {
  if (grant_ == nullptr) return;
  grant_->owner_ = nullptr;
  grant_->first_ = mutable_byte_view();
  grant_->second_ = mutable_byte_view();
  grant_ = nullptr;
}

inline void write_grant::release() noexcept {
  if (owner_ != nullptr) owner_->grant_ = nullptr;
  owner_ = nullptr;
  first_ = mutable_byte_view();
  second_ = mutable_byte_view();
}

inline void write_grant::take(write_grant& other) noexcept {
  owner_ = other.owner_;
  first_ = other.first_;
  second_ = other.second_;
  other.owner_ = nullptr;
  other.first_ = mutable_byte_view();
  other.second_ = mutable_byte_view();
  if (owner_ != nullptr) owner_->grant_ = this;
}

inline void write_grant::commit() noexcept {
  if (owner_ == nullptr) return;
  producer* const p = owner_;
  const std::uint32_t record = static_cast<std::uint32_t>(prefix_size + size());
  release();
  p->publish(p->head_ + record);
}

namespace detail {

// What the drop-in headers of the original library's API need beyond the public API.
struct producer_access {
  // producer::create with the original library's sizing: the largest power of two not above
  // `requested` (8 ..= 2^32 - 1, else invalid_capacity), and an object of 16 + requested
  // bytes, or the ring's header, data area and extension block if that is more.
  static result<producer> create_rounding_down(const std::string& name, std::uint64_t requested,
                                               const producer_options& options = {}) {
    const std::uint32_t cap = round_down_capacity(requested);
    if (cap == 0) return make::invalid_capacity(2, requested);
    const std::uint64_t plain = header_size + requested;
    const std::uint64_t size = plain > object_size(cap) ? plain : object_size(cap);
    return producer::create_sized(name, cap, size, options);
  }
};

}  // namespace detail
}  // namespace shm_ring

#endif  // SHM_RING_DETAIL_PRODUCER_HPP
