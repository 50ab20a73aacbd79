// shm_ring/detail/os.hpp - the system calls: futex, membarrier, open-file-description locks, file
// descriptors and mappings. Each wraps one OS facility and reports errno; none knows the ring.
// Windows has its own, in windows.hpp.

#ifndef SHM_RING_DETAIL_OS_HPP
#define SHM_RING_DETAIL_OS_HPP

#include "layout.hpp"
#include "status.hpp"

namespace shm_ring {

namespace detail {

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

#if defined(_WIN32)
}  // namespace detail
}  // namespace shm_ring
#include "windows.hpp"
namespace shm_ring {
namespace detail {
#else
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

// What the waiting code probes liveness through: the end's descriptor, or -1.
using object_ref = int;
inline bool has_object(object_ref fd) noexcept { return fd >= 0; }

#endif  // _WIN32

}  // namespace detail

}  // namespace shm_ring

#endif  // SHM_RING_DETAIL_OS_HPP
