// shm_ring.hpp - single-producer/single-consumer message ring in POSIX shared memory.
//
// Header-only, C++14, GCC or Clang, POSIX. Byte-compatible with the cpp_py_shmbuf v2 layout:
//
//   offset 0   head      u32 LE, written by the producer: bytes ever written (wraps mod 2^32)
//   offset 4   tail      u32 LE, written by the consumer: bytes ever consumed (wraps mod 2^32)
//   offset 8   capacity  u32 LE, written once by the producer (0 = not initialised yet)
//   offset 12  reserved  u32, the producer writes 0
//   offset 16  data area of `capacity` bytes (a power of two); stream byte i lives at
//              16 + (i & (capacity - 1))
//
// Each message is a record [u32 LE payload length][payload], packed back to back; both parts may
// wrap around the end of the data area at any byte.
//
// Memory ordering. C++14 has no std::atomic_ref, and treating bytes of a mapping as a
// std::atomic<uint32_t> object would be undefined behaviour (no such object was ever constructed
// there, and its layout is not guaranteed to be a bare uint32_t). The GCC/Clang builtins
// __atomic_load_n / __atomic_store_n operate on a plain, aligned uint32_t instead: each index word
// is read or written as one 4-byte atomic access (a plain mov on x86-64, ldar/stlr on AArch64),
// with acquire ordering when loading the other side's index and release ordering when publishing
// one's own. Plain loads plus standalone fences would be data races under the C++ memory model
// and are not understood by ThreadSanitizer; the builtins are.
//
// Error model: nothing throws. Operations return `shm_ring::status` (success or an error code
// with the values that explain it) or `shm_ring::result<T>` (a value or a status). Error codes
// are `shm_ring::errc`, usable as std::error_code. Works with -fno-exceptions (allocation
// failure inside std::string/std::vector then aborts, as everywhere under -fno-exceptions).

#ifndef SHM_RING_SHM_RING_HPP
#define SHM_RING_SHM_RING_HPP

#if !defined(__GNUC__) && !defined(__clang__)
#error "shm_ring.hpp needs GCC or Clang (it uses the __atomic builtins on the shared index words)"
#endif
#if __cplusplus < 201402L
#error "shm_ring.hpp needs C++14 or later"
#endif

#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

namespace shm_ring {

// ---------------------------------------------------------------------------------------------
// Layout constants
// ---------------------------------------------------------------------------------------------

/// Size of the segment header; the data area starts right after it.
constexpr std::size_t header_size = 16;
/// Size of a record's length prefix.
constexpr std::size_t prefix_size = 4;
/// Smallest data-area capacity created or accepted.
constexpr std::uint32_t min_capacity = 8;
/// Largest data-area capacity the wire format allows (2^31).
constexpr std::uint32_t max_capacity = std::uint32_t{1} << 31;
/// Largest capacity a producer may request (2^32 - 1; rounded down to 2^31).
constexpr std::uint64_t max_requested_capacity = 0xFFFFFFFFu;
/// Longest segment name, not counting an optional leading '/'.
constexpr std::size_t max_name_length = 30;

// ---------------------------------------------------------------------------------------------
// Error codes
// ---------------------------------------------------------------------------------------------

/// Every way an operation can fail. 0 is never used (it means success in std::error_code).
enum class errc : int {
  full = 1,           ///< not enough free space for the record right now
  empty,              ///< no message to read right now
  timeout,            ///< the wait ran out
  empty_message,      ///< empty messages are refused
  too_large,          ///< the message can never fit in this ring
  buffer_too_small,   ///< the caller's buffer is smaller than the next message (it stays)
  not_found,          ///< no segment of that name
  not_ready,          ///< the segment exists but its producer has not initialised it yet
  already_exists,     ///< exclusive create found a segment of that name
  permission_denied,  ///< the OS refused access
  invalid_name,       ///< the name breaks the naming rules
  invalid_capacity,   ///< requested capacity out of range, or a bad capacity word in a header
  segment_too_small,  ///< the segment cannot hold the header or the data area it claims
  corrupted,          ///< the peer broke the protocol; reading cannot go on
  system_error,       ///< any other OS failure (see status::sys_errno / status::operation)
};

/// The std::error_category of shm_ring::errc.
inline const std::error_category& category() noexcept {
  class category_impl final : public std::error_category {
   public:
    const char* name() const noexcept override { return "shm_ring"; }
    std::string message(int value) const override {
      switch (static_cast<errc>(value)) {
        case errc::full: return "the ring is full";
        case errc::empty: return "the ring is empty";
        case errc::timeout: return "timed out";
        case errc::empty_message: return "empty messages are refused";
        case errc::too_large: return "the message is larger than the ring can carry";
        case errc::buffer_too_small: return "the buffer is smaller than the next message";
        case errc::not_found: return "shared-memory segment not found";
        case errc::not_ready: return "shared-memory segment not initialised yet";
        case errc::already_exists: return "shared-memory segment already exists";
        case errc::permission_denied: return "permission denied";
        case errc::invalid_name: return "invalid segment name";
        case errc::invalid_capacity: return "invalid capacity";
        case errc::segment_too_small: return "shared-memory segment too small";
        case errc::corrupted: return "corrupted ring";
        case errc::system_error: return "system call failed";
      }
      return "unknown shm_ring error " + std::to_string(value);
    }
  };
  static const category_impl instance;
  return instance;
}

inline std::error_code make_error_code(errc e) noexcept {
  return std::error_code(static_cast<int>(e), category());
}

/// Which naming rule a name broke (status::name_problem, for errc::invalid_name).
enum class name_issue : int {
  none = 0,
  empty,          ///< no characters after the optional leading '/'
  bad_character,  ///< a character outside A-Z a-z 0-9 . _ - (a second '/' included)
  too_long,       ///< more than max_name_length characters
  dots,           ///< "." or ".."
};

/// What a corrupted ring looks like (status::corruption, for errc::corrupted).
enum class corruption : int {
  none = 0,
  truncated_prefix,          ///< fewer than 4 bytes published at the tail
  length_too_large,          ///< a length prefix above capacity - 4
  length_exceeds_published,  ///< a length prefix reaching past the published bytes
};

namespace detail {
struct make;
}

// ---------------------------------------------------------------------------------------------
// status and result<T>
// ---------------------------------------------------------------------------------------------

/// Success, or an error code with the values that explain it.
///
/// | code              | accessors                                                          |
/// |-------------------|--------------------------------------------------------------------|
/// | full              | needed(): record bytes (prefix included), available(): free bytes  |
/// | too_large         | needed(): message length, available(): largest message             |
/// | buffer_too_small  | needed(): message length, available(): buffer size                 |
/// | segment_too_small | needed(): bytes the segment must have, available(): its size       |
/// | corrupted         | corruption(), tail_index(), length(), readable()                   |
/// | invalid_capacity  | value(): the requested capacity or the capacity word               |
/// | invalid_name      | name_problem(), value() (length or position), character()          |
/// | timeout           | waited(), last(): what was waited out (full, empty, not_found,     |
/// |                   | not_ready; none for wait_until_empty)                              |
/// | permission_denied, system_error, not_found, already_exists:                             |
/// |                   | sys_errno(), operation(): the OS call                              |
class status {
 public:
  constexpr status() noexcept = default;
  constexpr explicit status(errc code) noexcept : code_(code) {}

  bool ok() const noexcept { return code_ == errc{}; }
  explicit operator bool() const noexcept { return ok(); }
  errc code() const noexcept { return code_; }
  std::error_code error_code() const noexcept {
    return ok() ? std::error_code() : make_error_code(code_);
  }

  std::uint64_t needed() const noexcept { return a_; }
  std::uint64_t available() const noexcept { return b_; }
  std::uint64_t value() const noexcept { return a_; }
  std::uint32_t tail_index() const noexcept { return static_cast<std::uint32_t>(a_); }
  std::uint32_t length() const noexcept { return static_cast<std::uint32_t>(b_); }
  std::uint32_t readable() const noexcept { return static_cast<std::uint32_t>(c_); }
  shm_ring::corruption corruption() const noexcept {
    return code_ == errc::corrupted ? static_cast<shm_ring::corruption>(sub_)
                                    : shm_ring::corruption::none;
  }
  name_issue name_problem() const noexcept {
    return code_ == errc::invalid_name ? static_cast<name_issue>(sub_) : name_issue::none;
  }
  unsigned char character() const noexcept { return static_cast<unsigned char>(b_); }
  std::chrono::nanoseconds waited() const noexcept {
    return std::chrono::nanoseconds(static_cast<std::chrono::nanoseconds::rep>(a_));
  }
  errc last() const noexcept { return code_ == errc::timeout ? static_cast<errc>(sub_) : errc{}; }
  int sys_errno() const noexcept { return errno_; }
  const char* operation() const noexcept { return op_ != nullptr ? op_ : ""; }

  /// A sentence saying what went wrong, with the values involved ("" on success).
  std::string message() const;

 private:
  friend struct detail::make;
  errc code_ = errc{};
  int sub_ = 0;
  int errno_ = 0;
  const char* op_ = nullptr;
  std::uint64_t a_ = 0;
  std::uint64_t b_ = 0;
  std::uint64_t c_ = 0;
};

inline bool operator==(const status& s, errc e) noexcept { return s.code() == e; }
inline bool operator!=(const status& s, errc e) noexcept { return s.code() != e; }

/// A value of type T, or the status that explains why there is none.
/// T must be default-constructible and movable. value() on an error aborts.
template <class T>
class result {
 public:
  // Two overloads rather than one by-value parameter, so that `return local;` moves in C++14.
  result(T&& value) noexcept(std::is_nothrow_move_constructible<T>::value)  // NOLINT: implicit
      : value_(std::move(value)) {}
  result(const T& value) : value_(value) {}  // NOLINT: implicit
  result(status error) noexcept : status_(error) {  // NOLINT: implicit
    if (status_.ok()) std::abort();  // a result made from a status must carry an error
  }

  bool ok() const noexcept { return status_.ok(); }
  explicit operator bool() const noexcept { return ok(); }
  errc code() const noexcept { return status_.code(); }
  const status& error() const noexcept { return status_; }

  T& value() & noexcept { check(); return value_; }
  const T& value() const& noexcept { check(); return value_; }
  T&& value() && noexcept { check(); return std::move(value_); }
  T& operator*() & noexcept { return value(); }
  const T& operator*() const& noexcept { return value(); }
  T* operator->() noexcept { return &value(); }
  const T* operator->() const noexcept { return &value(); }

 private:
  void check() const noexcept {
    if (!status_.ok()) std::abort();
  }
  T value_{};
  status status_{};
};

// ---------------------------------------------------------------------------------------------
// Byte views
// ---------------------------------------------------------------------------------------------

/// A read-only run of bytes.
struct byte_view {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  constexpr byte_view() noexcept = default;
  byte_view(const void* d, std::size_t n) noexcept
      : data(static_cast<const std::uint8_t*>(d)), size(n) {}
};

/// A writable run of bytes.
struct mutable_byte_view {
  std::uint8_t* data = nullptr;
  std::size_t size = 0;
  constexpr mutable_byte_view() noexcept = default;
  mutable_byte_view(void* d, std::size_t n) noexcept
      : data(static_cast<std::uint8_t*>(d)), size(n) {}
};

// ---------------------------------------------------------------------------------------------
// Implementation details
// ---------------------------------------------------------------------------------------------

namespace detail {

constexpr std::size_t head_offset = 0;
constexpr std::size_t tail_offset = 4;
constexpr std::size_t capacity_offset = 8;
constexpr std::size_t reserved_offset = 12;

// The wire format is little-endian; the host may not be.
inline std::uint32_t le32(std::uint32_t v) noexcept {
#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && \
    __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return __builtin_bswap32(v);
#else
  return v;
#endif
}

inline std::uint32_t* word(unsigned char* base, std::size_t offset) noexcept {
  return reinterpret_cast<std::uint32_t*>(base + offset);
}

// One aligned 4-byte atomic load, acquire: pairs with the other side's release store.
inline std::uint32_t load_acquire(unsigned char* base, std::size_t offset) noexcept {
  return le32(__atomic_load_n(word(base, offset), __ATOMIC_ACQUIRE));
}

// One aligned 4-byte atomic store, release: everything written before it is visible to a
// peer that loads the new value with acquire.
inline void store_release(unsigned char* base, std::size_t offset, std::uint32_t v) noexcept {
  __atomic_store_n(word(base, offset), le32(v), __ATOMIC_RELEASE);
}

inline void store_relaxed(unsigned char* base, std::size_t offset, std::uint32_t v) noexcept {
  __atomic_store_n(word(base, offset), le32(v), __ATOMIC_RELAXED);
}

// Copies n bytes to stream position pos of the data area, splitting at the wrap.
// The caller guarantees n <= capacity, so both pieces stay inside the data area.
inline void copy_in(unsigned char* data, std::uint32_t mask, std::uint32_t pos,
                    const unsigned char* src, std::size_t n) noexcept {
  const std::size_t off = pos & mask;
  const std::size_t room = std::size_t{mask} + 1 - off;
  if (n <= room) {
    std::memcpy(data + off, src, n);
  } else {
    std::memcpy(data + off, src, room);
    std::memcpy(data, src + room, n - room);
  }
}

// Copies n bytes out of stream position pos of the data area, joining at the wrap.
inline void copy_out(unsigned char* dst, const unsigned char* data, std::uint32_t mask,
                     std::uint32_t pos, std::size_t n) noexcept {
  const std::size_t off = pos & mask;
  const std::size_t room = std::size_t{mask} + 1 - off;
  if (n <= room) {
    std::memcpy(dst, data + off, n);
  } else {
    std::memcpy(dst, data + off, room);
    std::memcpy(dst + room, data, n - room);
  }
}

// The (at most two) pieces of n bytes at stream position pos. The second piece is empty
// unless the bytes wrap; its pointer is always valid.
struct pieces {
  unsigned char* first;
  std::size_t first_size;
  unsigned char* second;
  std::size_t second_size;
};

inline pieces locate(unsigned char* data, std::uint32_t mask, std::uint32_t pos,
                     std::size_t n) noexcept {
  const std::size_t off = pos & mask;
  const std::size_t room = std::size_t{mask} + 1 - off;
  if (n <= room) return pieces{data + off, n, data, 0};
  return pieces{data + off, room, data, n - room};
}

inline void write_prefix(unsigned char* data, std::uint32_t mask, std::uint32_t pos,
                         std::uint32_t len) noexcept {
  const std::uint32_t le = le32(len);
  copy_in(data, mask, pos, reinterpret_cast<const unsigned char*>(&le), prefix_size);
}

inline std::uint32_t read_prefix(const unsigned char* data, std::uint32_t mask,
                                 std::uint32_t pos) noexcept {
  std::uint32_t le = 0;
  copy_out(reinterpret_cast<unsigned char*>(&le), data, mask, pos, prefix_size);
  return le32(le);
}

// Builds error statuses; the only code that fills in a status's details.
struct make {
  static status with(errc code, int sub = 0, std::uint64_t a = 0, std::uint64_t b = 0,
                     std::uint64_t c = 0) noexcept {
    status s(code);
    s.sub_ = sub;
    s.a_ = a;
    s.b_ = b;
    s.c_ = c;
    return s;
  }
  static status os(errc code, const char* op, int err) noexcept {
    status s(code);
    s.op_ = op;
    s.errno_ = err;
    return s;
  }
  static status full(std::uint32_t need, std::uint32_t free_bytes) noexcept {
    return with(errc::full, 0, need, free_bytes);
  }
  static status too_large(std::size_t len, std::uint32_t max) noexcept {
    return with(errc::too_large, 0, len, max);
  }
  static status buffer_too_small(std::size_t needed, std::size_t available) noexcept {
    return with(errc::buffer_too_small, 0, needed, available);
  }
  static status corrupted(corruption kind, std::uint32_t tail, std::uint32_t len,
                          std::uint32_t readable) noexcept {
    return with(errc::corrupted, static_cast<int>(kind), tail, len, readable);
  }
  static status timeout(std::chrono::nanoseconds waited, errc last = errc{}) noexcept {
    const std::int64_t ns = waited.count() < 0 ? 0 : static_cast<std::int64_t>(waited.count());
    return with(errc::timeout, static_cast<int>(last), static_cast<std::uint64_t>(ns));
  }
  // sub: 0 = the segment's size is 0, 1 = its capacity word is 0
  static status not_ready(int sub) noexcept { return with(errc::not_ready, sub); }
  // sub: 0 = smaller than the header, 1 = smaller than 16 + capacity word,
  //      2 = memory given to producer::create_in_memory too small for any ring
  static status segment_too_small(int sub, std::uint64_t needed, std::uint64_t size) noexcept {
    return with(errc::segment_too_small, sub, needed, size);
  }
  // sub: 0 = requested capacity, 1 = capacity word in a header
  static status invalid_capacity(int sub, std::uint64_t value) noexcept {
    return with(errc::invalid_capacity, sub, value);
  }
  static status bad_name(name_issue issue, std::uint64_t value = 0,
                         unsigned char ch = 0) noexcept {
    return with(errc::invalid_name, static_cast<int>(issue), value, ch);
  }
  // Maps errno of a failed OS call to the matching code.
  static status from_errno(const char* op, int err) noexcept {
    switch (err) {
      case ENOENT: return os(errc::not_found, op, err);
      case EEXIST: return os(errc::already_exists, op, err);
      case EACCES:
      case EPERM: return os(errc::permission_denied, op, err);
      default: return os(errc::system_error, op, err);
    }
  }
};

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  __asm__ __volatile__("yield");
#endif
}

inline void nap(std::chrono::nanoseconds d) noexcept {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(d.count() / 1000000000);
  ts.tv_nsec = static_cast<long>(d.count() % 1000000000);
  while (::nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
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
      ::sched_yield();
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

// The nap length while waiting for the other side of a ring, and while waiting to open.
constexpr std::chrono::nanoseconds ring_nap{50000};
constexpr std::chrono::nanoseconds open_nap{1000000};

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

// Closes a file descriptor when it goes out of scope.
class fd_guard {
 public:
  explicit fd_guard(int fd) noexcept : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

// Whether the OS name currently refers to the object (dev, ino).
inline bool name_refers_to(const std::string& os_name, dev_t dev, ino_t ino) noexcept {
  const int fd = ::shm_open(os_name.c_str(), O_RDONLY, 0);
  if (fd < 0) return false;
  struct stat st;
  const bool same = ::fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
  ::close(fd);
  return same;
}

// Unlinks the OS name only if it still refers to the object (dev, ino).
// (Someone may re-create the name between the check and the unlink; POSIX offers no way to
// close that window.)
inline status unlink_if_ours(const std::string& os_name, dev_t dev, ino_t ino) noexcept {
  if (!name_refers_to(os_name, dev, ino)) return status();
  if (::shm_unlink(os_name.c_str()) != 0 && errno != ENOENT) {
    return make::from_errno("shm_unlink", errno);
  }
  return status();
}

// Validates the header of a mapping of `size` bytes; on success stores the capacity.
inline status check_header(unsigned char* base, std::uint64_t size,
                           std::uint32_t& capacity) noexcept {
  if (size < header_size) return make::segment_too_small(0, header_size, size);
  const std::uint32_t cap = load_acquire(base, capacity_offset);
  if (cap == 0) return make::not_ready(1);
  if (cap < min_capacity || (cap & (cap - 1)) != 0) return make::invalid_capacity(1, cap);
  if (header_size + std::uint64_t{cap} > size) {
    return make::segment_too_small(1, header_size + std::uint64_t{cap}, size);
  }
  capacity = cap;
  return status();
}

// Writes a fresh header; the capacity word last, with release, so that a consumer that sees
// a non-zero capacity also sees head, tail and reserved.
inline void init_header(unsigned char* base, std::uint32_t capacity,
                        std::uint32_t start_index) noexcept {
  store_relaxed(base, head_offset, start_index);
  store_relaxed(base, tail_offset, start_index);
  store_relaxed(base, reserved_offset, 0);
  store_release(base, capacity_offset, capacity);
}

// Owns (or merely uses) a mapping of a segment.
class mapping {
 public:
  mapping() noexcept = default;
  mapping(unsigned char* base, std::size_t size, bool owned) noexcept
      : base_(base), size_(size), owned_(owned) {}
  ~mapping() { reset(); }
  mapping(mapping&& other) noexcept
      : base_(other.base_), size_(other.size_), owned_(other.owned_) {
    other.base_ = nullptr;
    other.size_ = 0;
    other.owned_ = false;
  }
  mapping& operator=(mapping&& other) noexcept {
    if (this != &other) {
      reset();
      std::swap(base_, other.base_);
      std::swap(size_, other.size_);
      std::swap(owned_, other.owned_);
    }
    return *this;
  }
  mapping(const mapping&) = delete;
  mapping& operator=(const mapping&) = delete;

  unsigned char* base() const noexcept { return base_; }
  unsigned char* data() const noexcept { return base_ + header_size; }
  std::size_t size() const noexcept { return size_; }

  void reset() noexcept {
    if (owned_ && base_ != nullptr) ::munmap(base_, size_);
    base_ = nullptr;
    size_ = 0;
    owned_ = false;
  }

 private:
  unsigned char* base_ = nullptr;
  std::size_t size_ = 0;
  bool owned_ = false;
};

// Maps `size` bytes of fd read-write and shared.
inline result<mapping> map_shared(int fd, std::size_t size) noexcept {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return make::os(errc::system_error, "mmap", errno);
  return mapping(static_cast<unsigned char*>(p), size, true);
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Names and capacities
// ---------------------------------------------------------------------------------------------

/// The data-area capacity for a requested size: the largest power of two <= requested.
/// 0 if requested is outside 8 ..= 2^32 - 1.
inline std::uint32_t capacity_for(std::uint64_t requested) noexcept {
  if (requested < min_capacity || requested > max_requested_capacity) return 0;
  std::uint32_t cap = max_capacity;
  while (cap > requested) cap >>= 1;
  return cap;
}

/// Checks a segment name: 1 to 30 characters of [A-Za-z0-9._-], optionally after one '/',
/// not "." or "..". On success, stores the name without its '/' in *bare (if given).
inline status validate_name(const std::string& name, std::string* bare = nullptr) {
  const std::size_t skip = (!name.empty() && name[0] == '/') ? 1 : 0;
  const std::size_t len = name.size() - skip;
  if (len == 0) return detail::make::bad_name(name_issue::empty);
  for (std::size_t i = 0; i < len; ++i) {
    const unsigned char c = static_cast<unsigned char>(name[skip + i]);
    const bool good = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!good) return detail::make::bad_name(name_issue::bad_character, i, c);
  }
  if (len > max_name_length) return detail::make::bad_name(name_issue::too_long, len);
  if ((len == 1 && name[skip] == '.') || (len == 2 && name[skip] == '.' && name[skip + 1] == '.')) {
    return detail::make::bad_name(name_issue::dots);
  }
  if (bare != nullptr) bare->assign(name, skip, std::string::npos);
  return status();
}

inline std::string status::message() const {
  const auto num = [](std::uint64_t v) { return std::to_string(v); };
  const auto os_error = [this](const char* what) {
    std::string m = what;
    if (op_ != nullptr) {
      m += " (";
      m += op_;
      m += ": ";
      m += std::generic_category().message(errno_);
      m += ")";
    }
    return m;
  };
  switch (code_) {
    case errc::full:
      return "the ring is full: the record needs " + num(a_) + " bytes, " + num(b_) +
             " are free";
    case errc::empty: return "the ring is empty: no message to read";
    case errc::timeout: {
      std::string m = "timed out after " + num(a_ / 1000000) + " ms";
      if (sub_ != 0) {
        m += " (last: " + make_error_code(static_cast<errc>(sub_)).message() + ")";
      }
      return m;
    }
    case errc::empty_message:
      return "empty messages are refused (consumers of the original library stall on them)";
    case errc::too_large:
      return "a " + num(a_) + "-byte message can never fit: the largest this ring carries is " +
             num(b_) + " bytes";
    case errc::buffer_too_small:
      return "the next message has " + num(a_) + " bytes but the buffer holds only " + num(b_) +
             "; the message stays in the ring";
    case errc::not_found: return os_error("no shared-memory segment of that name exists");
    case errc::not_ready:
      return sub_ == 0 ? "the segment exists but its producer has not sized it yet (size 0)"
                       : "the segment exists but its producer has not initialised it yet "
                         "(capacity word 0)";
    case errc::already_exists: return os_error("a shared-memory segment of that name exists");
    case errc::permission_denied: return os_error("permission denied");
    case errc::invalid_name:
      switch (static_cast<name_issue>(sub_)) {
        case name_issue::empty: return "invalid segment name: the name is empty";
        case name_issue::bad_character: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned>(b_ & 0xFF));
          std::string m = "invalid segment name: character ";
          if (b_ > 0x20 && b_ < 0x7F) {
            m += '\'';
            m += static_cast<char>(b_);
            m += '\'';
          } else {
            m += hex;
          }
          return m + " at position " + num(a_) + " is not allowed (use A-Z a-z 0-9 . _ -)";
        }
        case name_issue::too_long:
          return "invalid segment name: it has " + num(a_) + " characters; at most " +
                 num(max_name_length) + " are allowed";
        case name_issue::dots: return "invalid segment name: \".\" and \"..\" are not allowed";
        case name_issue::none: break;
      }
      return "invalid segment name";
    case errc::invalid_capacity:
      return sub_ == 0 ? "requested capacity " + num(a_) + " is outside 8..=4294967295 bytes"
                       : "the segment's capacity word is " + num(a_) +
                             ", not a power of two from 8 to 2^31";
    case errc::segment_too_small:
      switch (sub_) {
        case 0: return "the segment is " + num(b_) + " bytes, smaller than the 16-byte header";
        case 1:
          return "the segment's header claims capacity " + num(a_ - header_size) + ", but its " +
                 num(b_) + " bytes hold at most " + num(b_ - header_size) + " after the header";
        default:
          return "the memory is " + num(b_) + " bytes; a ring needs at least " + num(a_) +
                 " (the 16-byte header and 8 bytes of data)";
      }
    case errc::corrupted:
      switch (static_cast<shm_ring::corruption>(sub_)) {
        case corruption::truncated_prefix:
          return "corrupted ring: only " + num(c_) + " bytes are published at index " +
                 num(a_) + ", fewer than a 4-byte length prefix";
        case corruption::length_too_large:
          return "corrupted ring: the record at index " + num(a_) + " claims " + num(b_) +
                 " payload bytes, more than this ring can hold (readable: " + num(c_) + ")";
        case corruption::length_exceeds_published:
          return "corrupted ring: the record at index " + num(a_) + " claims " + num(b_) +
                 " payload bytes, but only " + num(c_) +
                 " bytes (prefix included) are published";
        case corruption::none: break;
      }
      return "corrupted ring";
    case errc::system_error: return os_error("system call failed");
  }
  return std::string();
}

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
  /// Unlink the name when the producer is destroyed, if it still refers to this segment.
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
    if (unlink_on_close_) (void)unlink();
  }

  /// Creates the segment `name` with a data area of capacity_for(requested_capacity) bytes
  /// (the object is sized 16 + requested_capacity, as the original library does).
  static result<producer> create(const std::string& name, std::uint64_t requested_capacity,
                                 const producer_options& options = producer_options()) {
    std::string bare;
    status s = validate_name(name, &bare);
    if (!s) return s;
    const std::uint32_t cap = capacity_for(requested_capacity);
    if (cap == 0) return detail::make::invalid_capacity(0, requested_capacity);
    const std::uint64_t size64 = header_size + requested_capacity;
    if (size64 > std::numeric_limits<std::size_t>::max() ||
        size64 > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) {
      return detail::make::invalid_capacity(0, requested_capacity);
    }
    const std::size_t size = static_cast<std::size_t>(size64);
    const std::string os_name = "/" + bare;

    if (!options.exclusive && ::shm_unlink(os_name.c_str()) != 0 && errno != ENOENT) {
      return detail::make::from_errno("shm_unlink", errno);
    }
    detail::fd_guard fd(::shm_open(os_name.c_str(), O_RDWR | O_CREAT | O_EXCL, options.mode));
    if (fd.get() < 0) return detail::make::from_errno("shm_open", errno);

    struct stat st;
    if (::fstat(fd.get(), &st) != 0) {
      const int err = errno;
      ::shm_unlink(os_name.c_str());  // just created, identity unknown: best effort
      return detail::make::os(errc::system_error, "fstat", err);
    }
    const auto fail = [&](const char* op, int err) -> status {
      (void)detail::unlink_if_ours(os_name, st.st_dev, st.st_ino);
      return detail::make::os(errc::system_error, op, err);
    };
    if (::fchmod(fd.get(), options.mode) != 0) return fail("fchmod", errno);
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) return fail("ftruncate", errno);
    result<detail::mapping> m = detail::map_shared(fd.get(), size);
    if (!m) return fail("mmap", m.error().sys_errno());

    producer p(std::move(m.value()), cap, options.start_index);
    p.name_ = std::move(bare);
    p.dev_ = st.st_dev;
    p.ino_ = st.st_ino;
    p.linked_ = true;
    p.unlink_on_close_ = options.unlink_on_close;
    return p;
  }

  /// Makes a ring in memory the caller provides (4-byte aligned, `size` bytes, shared with
  /// the consumer by any means) and writes its header. The capacity is capacity_for(size - 16).
  /// The memory is not unmapped by the producer.
  static result<producer> create_in_memory(void* memory, std::size_t size,
                                           std::uint32_t start_index = 0) noexcept {
    assert(reinterpret_cast<std::uintptr_t>(memory) % 4 == 0);
    if (size < header_size + min_capacity) {
      return detail::make::segment_too_small(2, header_size + min_capacity, size);
    }
    const std::uint64_t requested = size - header_size;
    const std::uint32_t cap =
        capacity_for(requested > max_requested_capacity ? max_requested_capacity : requested);
    return producer(detail::mapping(static_cast<unsigned char*>(memory), size, false), cap,
                    start_index);
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

  /// Writes one message, waiting up to `timeout` for space. Errors: as try_write, timeout.
  status write(const void* data, std::size_t len, std::chrono::nanoseconds timeout) {
    status s;
    const bool done = detail::retry_until(
        [&] {
          s = try_write(data, len);
          return s != errc::full;
        },
        timeout, detail::ring_nap);
    return done ? s : detail::make::timeout(timeout, errc::full);
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
  result<std::size_t> write_batch(const byte_view* msgs, std::size_t count,
                                  std::chrono::nanoseconds timeout) {
    result<std::size_t> r(std::size_t{0});
    const bool done = detail::retry_until(
        [&] {
          r = try_write_batch(msgs, count);
          return r.code() != errc::full;
        },
        timeout, detail::ring_nap);
    return done ? r : result<std::size_t>(detail::make::timeout(timeout, errc::full));
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

  /// Like try_reserve, waiting up to `timeout` for space.
  result<reservation> reserve(std::size_t len, std::chrono::nanoseconds timeout) {
    result<reservation> r{reservation()};
    const bool done = detail::retry_until(
        [&] {
          r = try_reserve(len);
          return r.code() != errc::full;
        },
        timeout, detail::ring_nap);
    return done ? std::move(r) : result<reservation>(detail::make::timeout(timeout, errc::full));
  }

  /// Waits up to `timeout` until the consumer has read everything (head == tail).
  status wait_until_empty(std::chrono::nanoseconds timeout) {
    const bool done = detail::retry_until([&] { return is_empty(); }, timeout, detail::ring_nap);
    return done ? status() : detail::make::timeout(timeout);
  }

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

  producer(detail::mapping m, std::uint32_t cap, std::uint32_t start) noexcept
      : map_(std::move(m)), capacity_(cap), mask_(cap - 1), head_(start), cached_tail_(start) {
    detail::init_header(map_.base(), cap, start);
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
};

inline void reservation::commit() noexcept {
  if (owner_ == nullptr) return;
  owner_->publish(owner_->head_ + static_cast<std::uint32_t>(prefix_size + size()));
  owner_ = nullptr;
}

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

  /// Opens the segment `name` and resumes at its shared tail. Errors: invalid_name, not_found,
  /// not_ready (retryable), permission_denied, segment_too_small, invalid_capacity,
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
    if (size > std::numeric_limits<std::size_t>::max()) {
      return detail::make::os(errc::system_error, "mmap", EOVERFLOW);
    }
    result<detail::mapping> m = detail::map_shared(fd.get(), static_cast<std::size_t>(size));
    if (!m) return m.error();
    std::uint32_t cap = 0;
    s = detail::check_header(m->base(), size, cap);
    if (!s) return s;
    consumer c(std::move(m.value()), cap);
    c.name_ = std::move(bare);
    return c;
  }

  /// Like open, retrying not_found and not_ready (polling about once a millisecond) for up to
  /// `timeout`; then errc::timeout, whose last() tells which of the two it was.
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
    return consumer(detail::mapping(static_cast<unsigned char*>(memory), size, false), cap);
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
        if (c.tail_ != start) detail::store_release(c.map_.base(), detail::tail_offset, c.tail_);
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

  /// Like try_read(out), waiting up to `timeout` for a message.
  status read(std::vector<std::uint8_t>& out, std::chrono::nanoseconds timeout) {
    status s;
    return wait([&] { return s = try_read(out); }, timeout) ? s : timed_out(timeout);
  }

  /// Like try_read(buf, capacity), waiting up to `timeout` for a message.
  result<std::size_t> read(void* buf, std::size_t buf_capacity,
                           std::chrono::nanoseconds timeout) {
    result<std::size_t> r(std::size_t{0});
    const bool done = wait(
        [&] {
          r = try_read(buf, buf_capacity);
          return r.error();
        },
        timeout);
    return done ? r : result<std::size_t>(timed_out(timeout));
  }

  /// Like try_read_in_place, waiting up to `timeout` for a message.
  template <class F>
  status read_in_place(F&& f, std::chrono::nanoseconds timeout) {
    status s;
    return wait([&] { return s = try_read_in_place(f); }, timeout) ? s : timed_out(timeout);
  }

  /// Like try_read_batch, waiting up to `timeout` for at least one message.
  template <class F>
  result<std::size_t> read_batch(std::size_t max_messages, F&& f,
                                 std::chrono::nanoseconds timeout) {
    result<std::size_t> r(std::size_t{0});
    const bool done = wait(
        [&] {
          r = try_read_batch(max_messages, f);
          return r.error();
        },
        timeout);
    return done ? r : result<std::size_t>(timed_out(timeout));
  }

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
  consumer(detail::mapping m, std::uint32_t cap) noexcept
      : map_(std::move(m)), capacity_(cap), mask_(cap - 1) {
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
  }

  // Retries while the ring is empty; `attempt` returns the status of one try.
  template <class Attempt>
  static bool wait(Attempt&& attempt, std::chrono::nanoseconds timeout) {
    return detail::retry_until([&] { return attempt() != errc::empty; }, timeout,
                               detail::ring_nap);
  }
  static status timed_out(std::chrono::nanoseconds timeout) noexcept {
    return detail::make::timeout(timeout, errc::empty);
  }

  detail::mapping map_;
  std::uint32_t capacity_ = 0;
  std::uint32_t mask_ = 0;
  std::uint32_t tail_ = 0;         // our own index; the shared word only ever receives it
  std::uint32_t cached_head_ = 0;  // last plausible head seen; cached_head_ - tail_ <= capacity_
  std::string name_;
};

}  // namespace shm_ring

namespace std {
template <>
struct is_error_code_enum<shm_ring::errc> : true_type {};
}  // namespace std

#endif  // SHM_RING_SHM_RING_HPP
