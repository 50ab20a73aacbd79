// shm/shm_channel.hpp - the original library's named producer and consumer, as a thin layer
// over shm_ring.hpp. Includes shm/byte_ring_buffer.hpp and shm/shared_memory.hpp.
//
// A program written against cpp_py_shmbuf v2 builds unchanged against this header and gets
// shm_ring's ring underneath: no stall behind an empty record, indices that wrap at 2^32,
// single 4-byte index stores, a mode of 0600, a live producer's segment never replaced, the
// consumer mapping the object's real size, and (when the other side is shm_ring too) the
// kernel waking a blocked side. Return conventions are the original's; see
// shm/byte_ring_buffer.hpp for how skipped reads and empty writes are made observable, and
// docs/MIGRATING.md for every difference and its reason.
//
// Errors are never thrown: a failed constructor leaves IsValid() false, and LastStatus() says
// why in shm_ring's terms.

#ifndef SHM_SHM_CHANNEL_HPP
#define SHM_SHM_CHANNEL_HPP

#include <chrono>
#include <cstdint>

#include "shm/byte_ring_buffer.hpp"
#include "shm/shared_memory.hpp"
#include "shm_ring/shm_ring.hpp"

namespace shm {

/// The size a ShmConsumer of the original library maps when given size 0: one 1080p BGR frame
/// and the header. This layer maps the object's real size instead; the constant is kept for
/// programs that name it.
constexpr uint32_t kDefaultConsumerSize = 1920u * 1080u * 3u + kHeaderSize;

/// Unlinks the segment `name` (a leading '/' is optional) if it exists, unless a live shm_ring
/// producer owns it: that one is left alone, and creating a ShmProducer of the same name then
/// fails rather than cut the live producer off from its consumer.
inline void RemoveSharedMemory(const char* name) {
  std::string bare;
  if (name == nullptr || !shm_ring::validate_name(name, &bare)) return;
  const std::string os_name = "/" + bare;
  {
    const shm_ring::detail::fd_guard old(::shm_open(os_name.c_str(), O_RDONLY, 0));
    bool held = false;
    if (old.get() >= 0 &&
        shm_ring::detail::lock_held(old.get(), shm_ring::detail::side::producer, held) && held) {
      return;
    }
  }
  (void)::shm_unlink(os_name.c_str());
}

/// The writing end of a named ring. Not copyable; movable.
class ShmProducer {
 public:
  /// Creates the segment `name` with a data area of the largest power of two not above
  /// `capacity` (8 to 2^32 - 1), the object sized capacity + 16 bytes (or a little more for
  /// shm_ring's 64-byte extension block when that would not fit). An existing segment of that
  /// name is replaced unless its producer is alive. On failure IsValid() is false.
  ShmProducer(const char* name, uint32_t capacity) {
    if (name == nullptr) {
      conventions_.last = shm_ring::status(shm_ring::errc::invalid_name);
      return;
    }
    shm_ring::result<shm_ring::producer> p =
        shm_ring::detail::producer_access::create_rounding_down(name, capacity);
    if (p) {
      ring_ = std::move(p.value());
    } else {
      conventions_.last = p.error();
    }
  }

  ShmProducer(ShmProducer&&) noexcept = default;
  ShmProducer& operator=(ShmProducer&&) noexcept = default;
  ShmProducer(const ShmProducer&) = delete;
  ShmProducer& operator=(const ShmProducer&) = delete;
  /// Unmaps; the segment is not unlinked (Destroy() does that).
  ~ShmProducer() = default;

  /// Writes one message if its record (4 + len bytes) fits now: true when written, false when
  /// not (nothing is written then), or when the message can never fit (len > Capacity() - 4)
  /// or there is no ring. Writing 0 bytes returns true and writes nothing (counted in
  /// DroppedEmptyWrites()).
  bool Write(const void* data, uint32_t len) {
    if (len == 0) return conventions_.drop_empty_write();
    if (!ring_.valid()) return false;
    return conventions_.written(ring_.try_write(data, len));
  }

  bool IsValid() const { return ring_.valid(); }
  /// Free bytes (a message of n bytes needs 4 + n); 0 when not valid.
  uint32_t WriteableBytes() const {
    return ring_.valid() ? detail::clamp32(ring_.writable_bytes()) : 0;
  }
  /// The data area's size in bytes (a power of two); 0 when not valid.
  uint32_t Capacity() const { return ring_.capacity(); }
  /// Unlinks the segment's name, if it still refers to this producer's segment. The producer
  /// stays usable; consumers already attached keep reading.
  void Destroy() {
    if (ring_.valid()) (void)ring_.unlink();
  }

  // --- beyond the original API ------------------------------------------------------------

  /// Like Write, waiting up to `timeout` for room. False on timeout, when the consumer is
  /// gone while the ring is full (LastStatus() errc::peer_gone), or as Write.
  bool Write(const void* data, uint32_t len, std::chrono::nanoseconds timeout) {
    if (len == 0) return conventions_.drop_empty_write();
    if (!ring_.valid()) return false;
    return conventions_.written(ring_.write(data, len, timeout));
  }
  /// Whether the consumer lives: alive, gone (it died or closed the ring), or unknown (none of
  /// shm_ring's consumers has attached: for example the original library's).
  shm_ring::peer_state PeerState() const {
    return ring_.valid() ? ring_.peer_state() : shm_ring::peer_state::unknown;
  }
  /// Zero-byte Writes that returned true and wrote nothing.
  uint64_t DroppedEmptyWrites() const { return conventions_.dropped_empty_writes; }
  /// Why the constructor failed, or what the last Write found (ok, full, too_large,
  /// empty_message, timeout, peer_gone).
  const shm_ring::status& LastStatus() const { return conventions_.last; }
  /// The shm_ring producer underneath (empty when not valid).
  shm_ring::producer& Ring() { return ring_; }

 private:
  mutable shm_ring::producer ring_;  // its byte counts refresh a cached index
  detail::Conventions conventions_;
};

/// The reading end of a named ring. Not copyable; movable.
class ShmConsumer {
 public:
  /// Opens the existing segment `name`. `size` is accepted for compatibility and not needed:
  /// the object's real size is mapped, after checking that it holds the ring its header
  /// claims. IsValid() is false when the segment does not exist, is not initialised yet, is
  /// malformed, or another live consumer of shm_ring reads it (LastStatus() says which).
  explicit ShmConsumer(const char* name, uint32_t size = 0) {
    (void)size;
    if (name == nullptr) {
      conventions_.last = shm_ring::status(shm_ring::errc::invalid_name);
      return;
    }
    shm_ring::result<shm_ring::consumer> c = shm_ring::consumer::open(name);
    if (c) {
      ring_ = std::move(c.value());
    } else {
      conventions_.last = c.error();
    }
  }

  /// Like ShmConsumer(name, size), but waits up to `open_timeout` for the segment to exist
  /// and be initialised by its producer.
  ShmConsumer(const char* name, uint32_t size, std::chrono::nanoseconds open_timeout) {
    (void)size;
    if (name == nullptr) {
      conventions_.last = shm_ring::status(shm_ring::errc::invalid_name);
      return;
    }
    shm_ring::result<shm_ring::consumer> c = shm_ring::consumer::open(name, open_timeout);
    if (c) {
      ring_ = std::move(c.value());
    } else {
      conventions_.last = c.error();
    }
  }

  ShmConsumer(ShmConsumer&&) noexcept = default;
  ShmConsumer& operator=(ShmConsumer&&) noexcept = default;
  ShmConsumer(const ShmConsumer&) = delete;
  ShmConsumer& operator=(const ShmConsumer&) = delete;
  /// Unmaps; never unlinks.
  ~ShmConsumer() = default;

  /// Copies the next message into `out` (`max_len` bytes) and returns its length; 0 when there
  /// is no complete message (never waits). A message longer than `max_len` is skipped
  /// (consumed, counted in SkippedMessages()) and 0 is returned.
  uint32_t Read(void* out, uint32_t max_len) {
    if (!ring_.valid()) return 0;
    return conventions_.read(ring_.try_read(), out, max_len);
  }

  /// Whether at least 4 bytes are readable.
  bool HasData() const { return ReadableBytes() >= 4; }
  bool IsValid() const { return ring_.valid(); }
  /// Bytes published and not yet read, length prefixes included; 0 when not valid.
  uint32_t ReadableBytes() const {
    return ring_.valid() ? detail::clamp32(ring_.readable_bytes()) : 0;
  }
  /// The data area's size in bytes (a power of two); 0 when not valid.
  uint32_t Capacity() const { return ring_.capacity(); }

  // --- beyond the original API ------------------------------------------------------------

  /// Like Read, waiting up to `timeout` for a message. 0 on timeout, once the producer is gone
  /// and everything it wrote has been read (LastStatus() errc::peer_gone), or as Read.
  uint32_t Read(void* out, uint32_t max_len, std::chrono::nanoseconds timeout) {
    if (!ring_.valid()) return 0;
    return conventions_.read(ring_.read(timeout), out, max_len);
  }
  /// Whether the producer lives: alive, gone (it died or closed the ring), or unknown (it does
  /// not take shm_ring's liveness lock: for example the original library's).
  shm_ring::peer_state PeerState() const {
    return ring_.valid() ? ring_.peer_state() : shm_ring::peer_state::unknown;
  }
  /// Messages Read skipped because they were longer than its buffer.
  uint64_t SkippedMessages() const { return conventions_.skipped_messages; }
  /// Why the constructor failed, or what the last Read found (ok, empty, buffer_too_small
  /// with needed() = the skipped message's length, timeout, peer_gone, corrupted).
  const shm_ring::status& LastStatus() const { return conventions_.last; }
  /// The shm_ring consumer underneath (empty when not valid).
  shm_ring::consumer& Ring() { return ring_; }

 private:
  mutable shm_ring::consumer ring_;  // its byte counts refresh a cached index
  detail::Conventions conventions_;
};

}  // namespace shm

#endif  // SHM_SHM_CHANNEL_HPP
