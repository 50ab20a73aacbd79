// shm_ring.hpp - single-producer/single-consumer message ring in POSIX shared memory.
//
// Header-only, C++14, GCC or Clang, POSIX. Byte-compatible with the cpp_py_shmbuf v2 layout:
//
//   offset 0   head      u32 LE, written by the producer: bytes ever written (wraps mod 2^32)
//   offset 4   tail      u32 LE, written by the consumer: bytes ever consumed (wraps mod 2^32)
//   offset 8   capacity  u32 LE, written once by the producer (0 = not initialised yet)
//   offset 12  reserved  u32 LE: 0 in the original library; a producer of ours writes the
//                        marker 0x31585253 (the bytes "SRX1") to say the ring has an extension
//                        block (see "Sleeping and liveness" below)
//   offset 16  data area of `capacity` bytes (a power of two); stream byte i lives at
//              16 + (i & (capacity - 1))
//   offset E   extension block of 64 bytes, E = 16 + capacity rounded up to a multiple of 64:
//              byte 0 holds the producer's flags, byte 1 the consumer's, the rest stay 0.
//              The object is max(16 + requested capacity, E + 64) bytes.
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
// Sleeping and liveness (Linux, 64-bit). Each side owns one flag byte of the extension block
// and only ever stores to it, one byte at a time: SLEEPING (0x01) while it waits in FUTEX_WAIT
// on the other side's index word, LOCKED (0x02) while it holds its liveness lock, BARRIER (0x04)
// if its process registered for membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED). A side that
// publishes its index loads the other side's flag byte and calls FUTEX_WAKE only if SLEEPING is
// set; the side about to sleep pays for the memory barrier that makes this safe. Liveness is an
// open-file-description lock on one byte of the object (byte 0: producer, byte 1: consumer),
// which the kernel drops when its holder closes the object or dies. The block sits on a cache
// line of its own, away from the indices the other core keeps writing, so that the load after
// each publish hits the cache. A consumer uses the block only if the reserved word holds the
// marker and the object is large enough for it; against a producer without it (the original
// library), it writes nothing past the data area, and waiting falls back to polling in slices
// of at most 1 ms. Elsewhere waiting polls, and liveness is unknown.
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

#if defined(__linux__)
#include <sys/syscall.h>
#endif

// Kernel sleeping (futex + membarrier) and liveness (OFD locks): 64-bit Linux only. (On 32-bit
// targets the timespec and struct flock layouts these calls take depend on build options.)
#if defined(__linux__) && defined(SYS_futex) && __SIZEOF_POINTER__ == 8
#define SHM_RING_KERNEL_WAIT 1
#else
#define SHM_RING_KERNEL_WAIT 0
#endif

// Marks the waiting loops: out of line and out of the way of the calls that rarely need them.
#if defined(__GNUC__)
#define SHM_RING_COLD __attribute__((noinline, cold))
#else
#define SHM_RING_COLD
#endif

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
/// The reserved word's value (little-endian bytes "SRX1") in a ring that has an extension block.
constexpr std::uint32_t extension_marker = 0x31585253u;
/// Size of the extension block (one cache line).
constexpr std::size_t extension_size = 64;

/// Offset of the extension block of a ring of `capacity` bytes: 16 + capacity rounded up to a
/// multiple of 64 (the first cache-line boundary at or after the end of the data area).
constexpr std::uint64_t extension_offset(std::uint32_t capacity) noexcept {
  return (header_size + std::uint64_t{capacity} + extension_size - 1) / extension_size *
         extension_size;
}

/// The bytes of a ring for a requested capacity: max(16 + requested, end of the extension
/// block of a ring of capacity_for(requested) bytes). producer::create sizes the object to
/// this; producer::create_in_memory given this many bytes makes a ring of capacity_for(requested)
/// bytes (or, below 32, a little more). 0 if requested is outside 8 ..= 2^32 - 1.
inline std::uint64_t segment_size(std::uint64_t requested_capacity) noexcept;

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
  in_use,             ///< a live producer owns the segment, or a live consumer reads it
  peer_gone,          ///< the other side's process has ended (or it closed the ring)
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
        case errc::in_use: return "shared-memory segment in use";
        case errc::peer_gone: return "the other side of the ring is gone";
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

/// What is known about the other side of a ring (producer::is_peer_alive,
/// consumer::is_peer_alive).
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
/// | in_use            | segment(): the segment's name; message() says which side is alive  |
/// | peer_gone         | message(): "the producer is gone" or "the consumer is gone"        |
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
  /// The segment's name without a leading '/' (errc::in_use; "" otherwise).
  const char* segment() const noexcept { return segment_; }

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
  char segment_[max_name_length + 2] = {};  // a valid name and its terminating 0
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

// --- flag bytes -------------------------------------------------------------------------------

// Each side's flag byte, as an offset into the extension block, and its bits. A side only ever
// stores its own byte, one byte at a time, so that the two never overwrite each other (no
// read-modify-write). The block is reached through a pointer to its first byte, which is null
// when the ring has none (a producer of the original library): then there are no flags to write,
// and the peer's read as 0 (it announces nothing and wakes nobody).
constexpr std::size_t producer_flags_offset = 0;
constexpr std::size_t consumer_flags_offset = 1;
constexpr unsigned char flag_sleeping = 0x01;  // asleep (or about to be) on the other's index
constexpr unsigned char flag_locked = 0x02;    // holds its liveness lock while it lives
constexpr unsigned char flag_barrier = 0x04;   // its process registered for membarrier

enum class side : unsigned char { producer, consumer };

constexpr side other(side s) noexcept {
  return s == side::producer ? side::consumer : side::producer;
}
// The side's flag byte, the index word it publishes, and the byte of the object it locks.
constexpr std::size_t flags_offset(side s) noexcept {
  return s == side::producer ? producer_flags_offset : consumer_flags_offset;
}
constexpr std::size_t index_offset(side s) noexcept {
  return s == side::producer ? head_offset : tail_offset;
}
constexpr off_t lock_byte(side s) noexcept { return s == side::producer ? 0 : 1; }

// The side's flag byte in the extension block `ext`; 0 without a block.
inline unsigned char load_flags(const unsigned char* ext, side s) noexcept {
  return ext == nullptr ? 0 : __atomic_load_n(ext + flags_offset(s), __ATOMIC_RELAXED);
}

// Stores the side's flag byte in the extension block `ext`; nothing without a block.
inline void store_flags(unsigned char* ext, side s, unsigned char v) noexcept {
  if (ext != nullptr) __atomic_store_n(ext + flags_offset(s), v, __ATOMIC_SEQ_CST);
}

// --- kernel calls (64-bit Linux) -----------------------------------------------------------------

#if SHM_RING_KERNEL_WAIT
#if defined(SYS_membarrier)
constexpr long sys_membarrier = SYS_membarrier;
#elif defined(__x86_64__)
constexpr long sys_membarrier = 324;
#elif defined(__aarch64__)
constexpr long sys_membarrier = 283;
#else
constexpr long sys_membarrier = -1;
#endif
constexpr long membarrier_global_expedited = 2;
constexpr long membarrier_register_global_expedited = 4;
constexpr long futex_wait_op = 0;  // shared: no FUTEX_PRIVATE_FLAG, the word is in shared memory
constexpr long futex_wake_op = 1;
#if defined(F_OFD_GETLK) && defined(F_OFD_SETLK)
constexpr int ofd_getlk = F_OFD_GETLK;
constexpr int ofd_setlk = F_OFD_SETLK;
#else
constexpr int ofd_getlk = 36;
constexpr int ofd_setlk = 37;
#endif

// Wakes one thread sleeping on the word. Out of line: the publishing hot path only tests a bit.
__attribute__((noinline, cold)) inline void futex_wake(std::uint32_t* w) noexcept {
  (void)::syscall(SYS_futex, w, futex_wake_op, 1L, nullptr, nullptr, 0L);
}

// Sleeps while *w == expected (the raw word, as the kernel compares it), for at most `limit`.
// Whether the sleep lasted all of `limit` (no wake, no change of the word, no signal ended it).
inline bool futex_wait(std::uint32_t* w, std::uint32_t expected,
                       std::chrono::nanoseconds limit) noexcept {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(limit.count() / 1000000000);
  ts.tv_nsec = static_cast<long>(limit.count() % 1000000000);
  const long rc =
      ::syscall(SYS_futex, w, futex_wait_op, static_cast<long>(expected), &ts, nullptr, 0L);
  return rc != 0 && errno == ETIMEDOUT;
}

// A full barrier on every CPU that runs a thread of a registered process.
inline bool membarrier_global() noexcept {
  return sys_membarrier >= 0 && ::syscall(sys_membarrier, membarrier_global_expedited, 0L, 0L) == 0;
}

inline struct flock one_byte(off_t byte) noexcept {
  struct flock fl;
  std::memset(&fl, 0, sizeof fl);
  fl.l_type = static_cast<short>(F_WRLCK);
  fl.l_whence = static_cast<short>(SEEK_SET);
  fl.l_start = byte;
  fl.l_len = 1;
  fl.l_pid = 0;  // OFD locks require 0
  return fl;
}
#endif

// Registers this process for membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), once per process (the
// pid is remembered, so that a forked child registers for itself). Whether it succeeded.
inline bool barrier_registered() noexcept {
#if SHM_RING_KERNEL_WAIT
  static int registered_pid = 0;  // the process that registered, or 0
  static int refused_pid = 0;     // the process whose registration failed, or 0
  const int pid = static_cast<int>(::getpid());
  if (__atomic_load_n(&registered_pid, __ATOMIC_ACQUIRE) == pid) return true;
  if (__atomic_load_n(&refused_pid, __ATOMIC_ACQUIRE) == pid) return false;
  const bool ok = sys_membarrier >= 0 &&
                  ::syscall(sys_membarrier, membarrier_register_global_expedited, 0L, 0L) == 0;
  __atomic_store_n(ok ? &registered_pid : &refused_pid, pid, __ATOMIC_RELEASE);
  return ok;
#else
  return false;
#endif
}

// Takes the side's liveness lock on fd (an OFD write lock on its byte). Returns 0, or the
// errno: EAGAIN / EACCES when another open file description holds it, EINVAL when the kernel has
// no OFD locks. Without kernel support here: EINVAL.
inline int take_lock(int fd, side s) noexcept {
#if SHM_RING_KERNEL_WAIT
  struct flock fl = one_byte(lock_byte(s));
  return ::fcntl(fd, ofd_setlk, &fl) == 0 ? 0 : errno;
#else
  (void)fd;
  (void)s;
  return EINVAL;
#endif
}

// Whether some open file description other than fd's holds the side's lock; false if the
// question cannot be answered (no OFD locks).
inline bool lock_held(int fd, side s, bool& held) noexcept {
#if SHM_RING_KERNEL_WAIT
  struct flock fl = one_byte(lock_byte(s));
  if (::fcntl(fd, ofd_getlk, &fl) != 0) return false;
  held = fl.l_type != static_cast<short>(F_UNLCK);
  return true;
#else
  (void)fd;
  (void)s;
  (void)held;
  return false;
#endif
}

// The liveness of side `peer`, seen through our fd of the same object and its flag byte in the
// extension block `ext`.
inline peer_state probe_peer(const unsigned char* ext, int fd, side peer) noexcept {
  if (ext == nullptr || fd < 0) return peer_state::unknown;
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
  //      2 = memory given to producer::create_in_memory too small for any ring and its
  //          extension block
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
  // sub: 0 = a live producer owns it (producer::create), 1 = a live consumer reads it
  // (consumer::open). `name` is a valid name without its '/'.
  static status in_use(int sub, const std::string& name) noexcept {
    status s = with(errc::in_use, sub);
    const std::size_t n = name.size() < max_name_length ? name.size() : max_name_length;
    std::memcpy(s.segment_, name.data(), n);
    s.segment_[n] = '\0';
    return s;
  }
  // sub: 0 = the producer is gone (seen by the consumer), 1 = the consumer is gone
  static status peer_gone(int sub) noexcept { return with(errc::peer_gone, sub); }
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
  int fd;               // the object's fd (for the liveness probe), or -1
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
      ::sched_yield();
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
  (void)me;
  for (;;) {
    nap(ring_nap);
    if (attempt()) return wait_outcome::done;
    if (clock::now() >= deadline) return wait_outcome::timed_out;
  }
#endif
}

// Owns a file descriptor (closing it drops the OFD locks taken through it).
class fd_guard {
 public:
  fd_guard() noexcept = default;
  explicit fd_guard(int fd) noexcept : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  fd_guard(fd_guard&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  fd_guard& operator=(fd_guard&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

// Whether the OS name currently refers to the object (dev, ino): 1 if it does, 0 if it refers
// to another object or to none, or -errno if the name cannot be opened to tell.
inline int name_identity(const std::string& os_name, dev_t dev, ino_t ino) noexcept {
  const int fd = ::shm_open(os_name.c_str(), O_RDONLY, 0);
  if (fd < 0) return errno == ENOENT ? 0 : -errno;
  struct stat st;
  const int err = ::fstat(fd, &st) == 0 ? 0 : errno;
  ::close(fd);
  if (err != 0) return -err;
  return st.st_dev == dev && st.st_ino == ino ? 1 : 0;
}

// Unlinks the OS name only if it still refers to the object (dev, ino). The caller holds that
// object's producer lock, without which no peer of ours unlinks a name: nobody of ours can
// re-create the name between the check and the unlink. (Where there are no OFD locks, or
// against the original library's producer, which unlinks whatever the name refers to, that
// window stays open; POSIX offers no way to close it.)
inline status unlink_if_ours(const std::string& os_name, dev_t dev, ino_t ino) noexcept {
  if (name_identity(os_name, dev, ino) != 1) return status();
  if (::shm_unlink(os_name.c_str()) != 0 && errno != ENOENT) {
    return make::from_errno("shm_unlink", errno);
  }
  return status();
}

// How many times producer::create tries to create a name whose object is replaced under it by
// other creators, before it reports the name in use.
constexpr int create_rounds = 64;

// What producer::create does with an object that holds the name it wants: takes the object's
// producer lock (taking it, not testing it: two creators cannot both hold it), checks that the
// name still refers to the object, and unlinks the name. Nobody else can change the name in
// between, since changing it needs that lock. Returns success when the caller should try to
// create the name again (removed here, or gone or replaced meanwhile), in_use when the lock is
// held (a live producer, or another creator replacing the object right now), or the error.
// Closing the object's descriptor on the way out releases the lock. Without OFD locks
// (EINVAL), nothing can tell a live producer: the object is replaced, as the original library
// does.
inline status remove_stale(const std::string& os_name, const std::string& bare) {
  const fd_guard old(::shm_open(os_name.c_str(), O_RDWR, 0));
  if (old.get() < 0) return errno == ENOENT ? status() : make::from_errno("shm_open", errno);
  const int lock_error = take_lock(old.get(), side::producer);
  if (lock_error == EAGAIN || lock_error == EACCES) return make::in_use(0, bare);
  if (lock_error != 0 && lock_error != EINVAL) {
    return make::os(errc::system_error, "fcntl", lock_error);
  }
  struct stat st;
  if (::fstat(old.get(), &st) != 0) return make::os(errc::system_error, "fstat", errno);
  const int same = name_identity(os_name, st.st_dev, st.st_ino);
  if (same < 0) return make::from_errno("shm_open", -same);
  if (same == 1 && ::shm_unlink(os_name.c_str()) != 0 && errno != ENOENT) {
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

// Writes a fresh header and extension block (the caller has made sure the block fits); the
// capacity word last, with release, so that a consumer that sees a non-zero capacity also sees
// head, tail, the marker in the reserved word and the block. The block gets the producer's flags
// in its first byte and zeros in the rest (nobody else can be attached yet). Returns the block.
inline unsigned char* init_header(unsigned char* base, std::uint32_t capacity,
                                  std::uint32_t start_index,
                                  unsigned char producer_flags) noexcept {
  unsigned char* const ext = base + extension_offset(capacity);
  store_relaxed(base, head_offset, start_index);
  store_relaxed(base, tail_offset, start_index);
  store_relaxed(base, reserved_offset, extension_marker);
  // Single-byte atomic stores: the block is only ever accessed atomically (the peer's side may
  // be another thread of this process), never by the byte copies of the data area.
  for (std::size_t i = 0; i < extension_size; ++i) __atomic_store_n(ext + i, 0, __ATOMIC_RELAXED);
  __atomic_store_n(ext + producer_flags_offset, producer_flags, __ATOMIC_RELAXED);
  store_release(base, capacity_offset, capacity);
  return ext;
}

// The extension block of a validated ring of `capacity` bytes in a mapping of `size` bytes, or
// null: a consumer uses it only if the producer wrote the marker into the reserved word and the
// object is large enough for it. Otherwise (the original library's producer) the consumer
// writes nothing past the data area. The capacity word was loaded with acquire first, so the
// marker written before it is visible.
inline unsigned char* find_extension(unsigned char* base, std::uint64_t size,
                                     std::uint32_t capacity) noexcept {
  if (load_acquire(base, reserved_offset) != extension_marker) return nullptr;
  const std::uint64_t at = extension_offset(capacity);
  if (at + extension_size > size) return nullptr;
  return base + at;
}

// The bytes of a validated ring of `capacity` bytes in an object of `size` bytes that a consumer
// maps: the header and data area, and the extension block if the reserved word carries the
// marker and the object holds the block (see find_extension). Never more: the rest of an object
// is the producer's to size, and mapping (let alone pre-faulting) it would let any size it
// chose cost this process memory and time.
inline std::uint64_t ring_length(unsigned char* base, std::uint64_t size,
                                 std::uint32_t capacity) noexcept {
  const std::uint64_t end = extension_offset(capacity) + extension_size;
  if (load_acquire(base, reserved_offset) == extension_marker && end <= size) return end;
  return header_size + std::uint64_t{capacity};
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

// Backs the first `size` bytes of the object with memory now, so that a full shared-memory file
// system is an error here rather than a SIGBUS at the first touch of a page, and no write in
// the data path waits for a page to be allocated. Returns 0, or the errno; a file system
// without fallocate keeps the sparse object (0).
inline int allocate(int fd, std::size_t size) noexcept {
#if defined(__linux__)
  const int err = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
  return err == EOPNOTSUPP || err == ENOSYS ? 0 : err;
#else
  (void)fd;
  (void)size;
  return 0;
#endif
}

// Maps the first `size` bytes of fd read-write and shared. With `populate`, on Linux, every
// page of them is mapped in now (MAP_POPULATE), so the first pass over a large ring takes no
// page faults; the caller passes only a size it has validated (never more than the ring needs).
inline result<mapping> map_shared(int fd, std::size_t size, bool populate) noexcept {
#if defined(__linux__) && defined(MAP_POPULATE)
  const int flags = populate ? MAP_SHARED | MAP_POPULATE : MAP_SHARED;
#else
  (void)populate;
  const int flags = MAP_SHARED;
#endif
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, flags, fd, 0);
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

inline std::uint64_t segment_size(std::uint64_t requested_capacity) noexcept {
  const std::uint32_t cap = capacity_for(requested_capacity);
  if (cap == 0) return 0;
  const std::uint64_t block_end = extension_offset(cap) + extension_size;
  const std::uint64_t plain = header_size + requested_capacity;
  return plain > block_end ? plain : block_end;
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
                 " (the 16-byte header, 8 bytes of data and the 64-byte extension block at "
                 "offset 64)";
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
    case errc::in_use:
      return std::string("segment \"") + segment_ + "\" is in use: " +
             (sub_ == 0 ? "its producer is alive" : "a live consumer is reading it");
    case errc::peer_gone: return sub_ == 0 ? "the producer is gone" : "the consumer is gone";
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

namespace std {
template <>
struct is_error_code_enum<shm_ring::errc> : true_type {};
}  // namespace std

#endif  // SHM_RING_SHM_RING_HPP
