// shm_ring/detail/segment.hpp - named segments: the naming rules, the header a producer writes and
// a consumer validates, and who may unlink a name.

#ifndef SHM_RING_DETAIL_SEGMENT_HPP
#define SHM_RING_DETAIL_SEGMENT_HPP

#include "layout.hpp"
#include "os.hpp"
#include "status.hpp"

namespace shm_ring {

/// Checks a segment name: 1 to 30 characters of [A-Za-z0-9._-], optionally after one '/',
/// not "." or "..". On success, stores the name without its '/' in *bare (if given).
///
/// On Windows the name may start with "Local\\" or "Global\\", the kernel's namespaces; the
/// rest obeys the same rules, and *bare keeps the prefix (it is part of the mapping's name).
inline status validate_name(const std::string& name, std::string* bare = nullptr) {
#if defined(_WIN32)
  for (const char* prefix : {"Local\\", "Global\\"}) {
    const std::string p(prefix);
    if (name.compare(0, p.size(), p) == 0) {
      std::string rest;
      const status s = validate_name(name.substr(p.size()), &rest);
      if (s && bare != nullptr) *bare = p + rest;
      return s;
    }
  }
#endif
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

namespace detail {

#if !defined(_WIN32)
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
// What remove_unowned found.
enum class removal {
  removed,  // the object had no live producer; its name is gone
  live,     // a live producer holds the object's lock; nothing was touched
  changed,  // the name disappeared, or came to refer to another object, meanwhile
};

// Removes the object os_name refers to, unless a live producer holds its lock. The lock is
// taken for the removal, so that no other creator can remove or replace the name meanwhile.
inline status remove_unowned(const std::string& os_name, removal& found) {
  found = removal::changed;
  const fd_guard old(::shm_open(os_name.c_str(), O_RDWR, 0));
  if (old.get() < 0) return errno == ENOENT ? status() : make::from_errno("shm_open", errno);
  const int lock_error = take_lock(old.get(), side::producer);
  if (lock_error == EAGAIN || lock_error == EACCES) {
    found = removal::live;
    return status();
  }
  if (lock_error != 0 && lock_error != EINVAL) {
    return make::os(errc::system_error, "fcntl", lock_error);
  }
  struct stat st;
  if (::fstat(old.get(), &st) != 0) return make::os(errc::system_error, "fstat", errno);
  const int same = name_identity(os_name, st.st_dev, st.st_ino);
  if (same < 0) return make::from_errno("shm_open", -same);
  if (same == 0) return status();
  if (::shm_unlink(os_name.c_str()) != 0) {
    return errno == ENOENT ? status() : make::from_errno("shm_unlink", errno);
  }
  found = removal::removed;
  return status();
}

inline status remove_stale(const std::string& os_name, const std::string& bare) {
  removal found = removal::changed;
  const status s = remove_unowned(os_name, found);
  if (!s) return s;
  return found == removal::live ? make::in_use(0, bare) : status();
}
#endif  // !_WIN32

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

// An existing ring opened by one of its ends (see open_ring): the object's descriptor, which
// holds that end's liveness lock, the mapping of exactly the ring the header describes, and
// what the end needs to attach to it.
struct opened_ring {
  fd_guard fd;
  mapping map;
  std::uint64_t length = 0;  // bytes mapped: header, data area, and the block if marked
  std::uint32_t capacity = 0;
  std::string bare;          // the name without its '/'
  dev_t dev = 0;
  ino_t ino = 0;
  unsigned char flags = 0;   // the end's flag byte at rest: LOCKED if it got the lock, BARRIER
};

// Opens the existing segment `name` for the end `role` and takes that role's liveness lock. Maps
// the header alone first, and after validating it only the ring it describes (16 + capacity
// bytes, plus the extension block if marked and present), whatever the object's size; nothing
// is written. Errors: invalid_name, not_found, not_ready, permission_denied, segment_too_small,
// invalid_capacity, in_use (a live end of that role holds the lock), system_error.
inline result<opened_ring> open_ring(const std::string& name, side role) {
  opened_ring o;
  status s = validate_name(name, &o.bare);
  if (!s) return s;
#if defined(_WIN32)
  int open_error = 0;
  o.fd = open_object(o.bare, open_error);
  if (open_error != 0) return make::from_errno("OpenFileMappingW", open_error);
  const std::uint64_t size = object_size_of(o.fd);
#else
  const std::string os_name = "/" + o.bare;
  o.fd = fd_guard(::shm_open(os_name.c_str(), O_RDWR, 0));
  if (o.fd.get() < 0) return make::from_errno("shm_open", errno);
  struct stat st;
  if (::fstat(o.fd.get(), &st) != 0) return make::os(errc::system_error, "fstat", errno);
  const std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
#endif
  if (size == 0) return make::not_ready(0);
  if (size < header_size) return make::segment_too_small(0, header_size, size);
  // The header alone first (one page, nothing pre-faulted); then exactly the ring it
  // describes, once it has been validated against the object's size.
  {
    result<mapping> header = map_shared(o.fd.get(), header_size, false);
    if (!header) return header.error();
    s = check_header(header->base(), size, o.capacity);
    if (!s) return s;
    o.length = ring_length(header->base(), size, o.capacity);
  }
  // length <= 2^31 + 128: it fits in size_t.
  result<mapping> m = map_shared(o.fd.get(), static_cast<std::size_t>(o.length), true);
  if (!m) return m.error();
  o.map = std::move(m.value());
  // One end of each role at a time. EINVAL: no OFD locks here (nothing to enforce or tell).
  const int lock_error = take_lock(o.fd.get(), role);
  if (lock_error == EAGAIN || lock_error == EACCES) {
    return make::in_use(role == side::producer ? 0 : 1, o.bare);
  }
  if (lock_error != 0 && lock_error != EINVAL) return make::os(errc::system_error, "fcntl", lock_error);
#if !defined(_WIN32)
  o.dev = st.st_dev;
  o.ino = st.st_ino;
#endif
  o.flags = static_cast<unsigned char>((lock_error == 0 ? flag_locked : 0) |
                                       (barrier_registered() ? flag_barrier : 0));
  return o;
}

}  // namespace detail

/// Removes the segment `name` (with or without a leading '/'), unless a live producer holds
/// it. A producer of ours (C++, Rust or Python) holds a lock on its segment for as long as its
/// process lives; while it does, this fails with errc::in_use and removes nothing. Once that
/// producer is gone (or for a segment whose producer announces nothing, such as one of the
/// original library's), the name is removed while this process holds that lock, so that no
/// producer starting meanwhile loses its new segment. Consumers that have the segment open
/// keep reading it; new ones no longer find it. remove_forced removes a live producer's
/// segment too.
/// Errors: invalid_name, not_found, in_use, permission_denied, system_error.
///
///     shm_ring::status s = shm_ring::remove("frames");
///     if (s == shm_ring::errc::in_use) { /* its producer is still running */ }
///
/// On Windows a named mapping has no name to remove: this is errc::not_found for a missing
/// segment, errc::in_use for a live producer's, and errc::unsupported for any other.
inline status remove(const std::string& name) {
  std::string bare;
  const status valid = validate_name(name, &bare);
  if (!valid) return valid;
#if defined(_WIN32)
  int open_error = 0;
  const detail::fd_guard existing = detail::open_object(bare, open_error);
  if (open_error != 0) return detail::make::from_errno("OpenFileMappingW", open_error);
  bool held = false;
  if (detail::lock_held(existing.get(), detail::side::producer, held) && held) {
    return detail::make::in_use(0, bare);
  }
  return detail::make::unsupported(0);
#else
  const std::string os_name = "/" + bare;
  // Each further round means another process replaced the name meanwhile; as in
  // producer::create, this bounds a storm of creators, never a single one.
  for (int round = 0; round < detail::create_rounds; ++round) {
    detail::removal found = detail::removal::changed;
    const status s = detail::remove_unowned(os_name, found);
    if (!s) return s;
    if (found == detail::removal::removed) return status();
    if (found == detail::removal::live) break;
    const detail::fd_guard now(::shm_open(os_name.c_str(), O_RDONLY, 0));
    if (now.get() < 0 && errno == ENOENT) return detail::make::from_errno("shm_open", ENOENT);
  }
  return detail::make::in_use(0, bare);
#endif
}

/// Removes the segment `name` (with or without a leading '/') whatever holds it, as
/// `rm /dev/shm/NAME` does. A live producer keeps writing into its segment and its attached
/// consumer keeps reading, but no new consumer finds it, and the producer's own unlink() then
/// finds nothing to remove. Prefer remove, which leaves a live producer's segment alone.
/// Errors: invalid_name, not_found, permission_denied, system_error; on Windows, not_found or
/// unsupported (see remove).
inline status remove_forced(const std::string& name) {
  std::string bare;
  const status valid = validate_name(name, &bare);
  if (!valid) return valid;
#if defined(_WIN32)
  int open_error = 0;
  const detail::fd_guard existing = detail::open_object(bare, open_error);
  if (open_error != 0) return detail::make::from_errno("OpenFileMappingW", open_error);
  return detail::make::unsupported(0);
#else
  if (::shm_unlink(("/" + bare).c_str()) != 0) return detail::make::from_errno("shm_unlink", errno);
  return status();
#endif
}

}  // namespace shm_ring

#endif  // SHM_RING_DETAIL_SEGMENT_HPP
