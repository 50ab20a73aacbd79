// shm/shared_memory.hpp - the original library's named POSIX shared-memory object, kept for
// programs written against cpp_py_shmbuf v2 (see docs/MIGRATING.md).
//
// Differences from the original, all of them fixes:
//   - Names follow shm_ring's rules (1 to 30 characters of [A-Za-z0-9._-] after an optional
//     '/'); another name fails with kCreationFailed / kOpenFailed and Errno() EINVAL.
//   - create does not replace an object whose shm_ring producer is alive (kCreationFailed,
//     Errno() EBUSY): two producers of one name would each write a ring nobody reads.
//   - A created object has mode 0600 and its memory is allocated at creation, so that a full
//     /dev/shm is kTruncateFailed (Errno() ENOSPC) rather than a SIGBUS at the first write.
//   - Opening maps the object's real size (size 0) or `size` bytes only if the object has them
//     (kMappingFailed, Errno() EINVAL otherwise): nothing is mapped that is not there.
//   - Destroy(), and persist = false at destruction, unlink the name only while it still
//     refers to this object, never an object someone else has made under the name since.

#ifndef SHM_SHARED_MEMORY_HPP
#define SHM_SHARED_MEMORY_HPP

#if defined(_WIN32)
#error "shm/shared_memory.hpp (the original library's SharedMemory) is POSIX-only here; on Windows use shm_ring/shm_ring.hpp, whose mappings have the names the original library gives them"
#endif

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "shm_ring/shm_ring.hpp"

namespace shm {

/// Why a SharedMemory is not valid.
enum class Error : uint8_t { kOk = 0, kCreationFailed, kMappingFailed, kOpenFailed, kTruncateFailed };

/// A named POSIX shared-memory object, mapped read-write. Movable, not copyable; never throws:
/// a failed constructor leaves Valid() false and GetError() / Errno() saying why.
class SharedMemory {
 public:
  /// Creates (`create` true: replacing an existing object of that name, unless a live
  /// shm_ring producer owns it) or opens the object `name` and maps `size` bytes of it (when
  /// opening, 0 maps the whole object). A name without a leading '/' gets one. With `persist`
  /// false the name is unlinked when this object is destroyed.
  SharedMemory(const char* name, std::size_t size, bool create, bool persist = true)
      : persist_(persist) {
    std::string bare;
    if (name == nullptr || !shm_ring::validate_name(name, &bare)) {
      fail(create ? Error::kCreationFailed : Error::kOpenFailed, EINVAL);
      return;
    }
    name_ = "/" + bare;
    const shm_ring::detail::fd_guard fd(create ? create_object() : open_object());
    if (fd.get() < 0) return;
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) {
      fail(create ? Error::kCreationFailed : Error::kOpenFailed, errno);
      return;
    }
    dev_ = st.st_dev;
    ino_ = st.st_ino;
    identified_ = true;
    owns_name_ = create;
    if (create) {
      if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
        fail(Error::kTruncateFailed, errno);
        return;
      }
      const int err = shm_ring::detail::allocate(fd.get(), size);
      if (err != 0) {
        fail(Error::kTruncateFailed, err);
        return;
      }
    } else {
      const std::uint64_t real = static_cast<std::uint64_t>(st.st_size);
      if (size == 0) size = static_cast<std::size_t>(real);
      if (size > real || size == 0) {
        fail(Error::kMappingFailed, EINVAL);
        return;
      }
    }
    shm_ring::result<shm_ring::detail::mapping> m =
        shm_ring::detail::map_shared(fd.get(), size, create);
    if (!m) {
      fail(Error::kMappingFailed, m.error().sys_errno());
      return;
    }
    map_ = std::move(m.value());
  }

  SharedMemory(SharedMemory&& other) noexcept { swap(other); }
  SharedMemory& operator=(SharedMemory&& other) noexcept {
    SharedMemory(std::move(other)).swap(*this);
    return *this;
  }
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  ~SharedMemory() {
    if (!persist_) Destroy();
  }

  /// The mapped bytes, or null.
  void* Data() const { return map_.base(); }
  /// The mapped size in bytes (0 when not valid).
  std::size_t Size() const { return map_.size(); }
  bool Valid() const { return map_.base() != nullptr; }
  Error GetError() const { return error_; }
  /// The name with its leading '/' ("" when the name was refused).
  const char* Name() const { return name_.c_str(); }
  /// Unlinks the name if it still refers to this object. The mapping stays usable.
  void Destroy() {
    if (identified_) (void)shm_ring::detail::unlink_if_ours(name_, dev_, ino_);
    owns_name_ = false;
  }

  // --- beyond the original API ------------------------------------------------------------

  /// The errno behind GetError() (EINVAL for a refused name, EBUSY for a live producer's
  /// object), or 0.
  int Errno() const { return errno_; }

 private:
  void fail(Error error, int err) noexcept {
    error_ = error;
    errno_ = err;
    map_.reset();
    if (owns_name_) {
      (void)shm_ring::detail::unlink_if_ours(name_, dev_, ino_);
      owns_name_ = false;
    }
  }

  int create_object() {
    {
      const shm_ring::detail::fd_guard old(::shm_open(name_.c_str(), O_RDONLY, 0));
      bool held = false;
      if (old.get() >= 0 &&
          shm_ring::detail::lock_held(old.get(), shm_ring::detail::side::producer, held) &&
          held) {
        fail(Error::kCreationFailed, EBUSY);
        return -1;
      }
    }
    if (::shm_unlink(name_.c_str()) != 0 && errno != ENOENT) {
      fail(Error::kCreationFailed, errno);
      return -1;
    }
    const int fd = ::shm_open(name_.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
      fail(Error::kCreationFailed, errno);
      return -1;
    }
    // The umask may have cleared bits of 0600; the mode is exact, as shm_ring's producer's.
    if (::fchmod(fd, 0600) != 0) {
      const int err = errno;
      ::close(fd);
      ::shm_unlink(name_.c_str());  // just created, not yet identified: best effort
      fail(Error::kCreationFailed, err);
      return -1;
    }
    return fd;
  }

  int open_object() {
    const int fd = ::shm_open(name_.c_str(), O_RDWR, 0);
    if (fd < 0) fail(Error::kOpenFailed, errno);
    return fd;
  }

  void swap(SharedMemory& other) noexcept {
    std::swap(map_, other.map_);
    std::swap(name_, other.name_);
    std::swap(dev_, other.dev_);
    std::swap(ino_, other.ino_);
    std::swap(error_, other.error_);
    std::swap(errno_, other.errno_);
    std::swap(persist_, other.persist_);
    std::swap(identified_, other.identified_);
    std::swap(owns_name_, other.owns_name_);
  }

  shm_ring::detail::mapping map_;
  std::string name_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  Error error_ = Error::kOk;
  int errno_ = 0;
  bool persist_ = true;
  bool identified_ = false;  // dev_ and ino_ are the object's
  bool owns_name_ = false;   // created by this object; unlinked again if creation fails
};

}  // namespace shm

#endif  // SHM_SHARED_MEMORY_HPP
