// shm/byte_ring_buffer.hpp - the original library's ring over caller-owned memory, as a thin
// layer over shm_ring.hpp.
//
// Programs written against cpp_py_shmbuf v2 include this header (or shm/shm_channel.hpp) and
// build unchanged: same namespace, names, signatures and return conventions. The ring itself is
// shm_ring's (atomic 4-byte index accesses with acquire/release ordering, indices that wrap at
// 2^32, validated length prefixes). docs/MIGRATING.md lists every difference and its reason.
//
// Where the original's calls have no way to report something, this layer keeps the original's
// answer and makes the event observable instead:
//   - Read into a buffer smaller than the next message skips (consumes) that message and
//     returns 0, as the original does; SkippedMessages() counts such messages, and LastStatus()
//     says errc::buffer_too_small with the message's length in needed().
//   - Write of 0 bytes returns true, as the original does, but puts nothing in the ring (the
//     original's consumers stall forever behind an empty record); DroppedEmptyWrites() counts
//     them.
//   - A 0 from Read is "no message" (LastStatus() errc::empty), a skipped message
//     (errc::buffer_too_small) or an empty record written by another producer, delivered and
//     consumed (LastStatus() ok).

#ifndef SHM_BYTE_RING_BUFFER_HPP
#define SHM_BYTE_RING_BUFFER_HPP

#include <cstdint>

#include "shm_ring/shm_ring.hpp"

namespace shm {

/// The 16-byte header at the start of every ring: little-endian u32 words.
struct RingHeader {
  uint32_t head;      ///< bytes ever written (wraps modulo 2^32), written by the producer
  uint32_t tail;      ///< bytes ever consumed (wraps modulo 2^32), written by the consumer
  uint32_t capacity;  ///< size of the data area, a power of two; 0 until initialised
  uint32_t reserved;  ///< 0 in the rings this layer makes
};

/// Size of RingHeader; the data area starts right after it.
constexpr uint32_t kHeaderSize = 16;

static_assert(sizeof(RingHeader) == kHeaderSize, "the header is four 4-byte words");
static_assert(kHeaderSize == shm_ring::header_size, "one header size for both APIs");

namespace detail {

// How one side of a ring keeps the original's return conventions: the counters and the last
// status behind them. Shared by ByteRingBuffer, ShmProducer and ShmConsumer.
struct Conventions {
  shm_ring::status last;
  uint64_t skipped_messages = 0;
  uint64_t dropped_empty_writes = 0;

  // Write's answer for `s`, the status of writing len bytes (len > 0). A message that can never
  // fit is false, as in the original (there is never room for it); LastStatus() says why.
  bool written(const shm_ring::status& s) noexcept {
    last = s;
    return s.ok();
  }

  // Write of 0 bytes: true, nothing written (see the header comment).
  bool drop_empty_write() noexcept {
    last = shm_ring::status(shm_ring::errc::empty_message);
    ++dropped_empty_writes;
    return true;
  }

  // Read's answer for the result `r` of reading the next message, copied into out[0..max_len):
  // the length copied, or 0. A message longer than the buffer is consumed without being
  // copied, and counted.
  uint32_t read(shm_ring::result<shm_ring::read_grant>&& r, void* out, uint32_t max_len) noexcept {
    if (!r) {
      last = r.error();
      return 0;
    }
    const shm_ring::result<std::size_t> n = r->into_buffer(out, max_len);
    last = n.ok() ? shm_ring::status() : n.error();
    if (n.ok()) return static_cast<uint32_t>(n.value());
    r->commit();
    ++skipped_messages;
    return 0;
  }
};

inline uint32_t clamp32(std::size_t n) noexcept {
  return n > 0xFFFFFFFFu ? 0xFFFFFFFFu : static_cast<uint32_t>(n);
}

}  // namespace detail

/// A message ring over memory the caller owns: `total_size` bytes at `shm_base`, 4-byte
/// aligned, shared with the other side by any means. It makes no OS calls and touches no byte
/// outside [shm_base, shm_base + total_size).
///
/// The producer's object (`is_producer` true) writes the header: head = tail = 0, capacity =
/// the largest power of two not above total_size - 16, reserved = 0. The consumer's object
/// reads the capacity already there (it looks again on each call until the producer has
/// written it). One object may both write and read; per ring, one object at a time writes and
/// one object at a time reads. Not copyable.
///
/// Memory smaller than 16 + 8 bytes or not 4-byte aligned makes no ring: Capacity() is 0,
/// Write returns false and Read 0, and LastStatus() says why.
class ByteRingBuffer {
 public:
  ByteRingBuffer(void* shm_base, uint32_t total_size, bool is_producer)
      : base_(shm_base), size_(total_size), is_producer_(is_producer) {
    if (shm_base == nullptr || reinterpret_cast<std::uintptr_t>(shm_base) % 4 != 0) {
      // The index words must be aligned to be read and written as single atomic accesses.
      conventions_.last = shm_ring::detail::make::os(
          shm_ring::errc::system_error, "ByteRingBuffer: memory not 4-byte aligned", EINVAL);
      base_ = nullptr;
      return;
    }
    if (is_producer) {
      shm_ring::result<shm_ring::producer> p =
          shm_ring::producer::create_in_memory_without_extension(base_, size_);
      if (p) {
        producer_ = std::move(p.value());
      } else {
        conventions_.last = p.error();
      }
    } else {
      (void)consumer_half();
    }
  }

  ByteRingBuffer(const ByteRingBuffer&) = delete;
  ByteRingBuffer& operator=(const ByteRingBuffer&) = delete;
  ~ByteRingBuffer() = default;

  /// Writes one message of `len` bytes if its record (4 + len bytes) fits now. Returns true
  /// when written, false when there is no room now (nothing is written then) or the message
  /// can never fit (len > Capacity() - 4). Writing 0 bytes returns true and writes nothing.
  bool Write(const void* data, uint32_t len) {
    if (len == 0) return conventions_.drop_empty_write();
    shm_ring::producer* p = producer_half();
    if (p == nullptr) return false;
    return conventions_.written(p->try_write(data, len));
  }

  /// Copies the next message into `out` (`max_len` bytes) and returns its length; 0 when there
  /// is no complete message. A message longer than `max_len` is skipped (consumed and counted
  /// in SkippedMessages()) and 0 is returned.
  uint32_t Read(void* out, uint32_t max_len) {
    shm_ring::consumer* c = consumer_half();
    if (c == nullptr) return 0;
    return conventions_.read(c->try_read(), out, max_len);
  }

  /// head - tail: bytes written and not yet read, length prefixes included.
  uint32_t ReadableBytes() const {
    if (is_producer_) {
      shm_ring::producer* p = producer_half();
      return p == nullptr ? 0 : detail::clamp32(p->readable_bytes());
    }
    shm_ring::consumer* c = consumer_half();
    return c == nullptr ? 0 : detail::clamp32(c->readable_bytes());
  }

  /// capacity - (head - tail): free bytes (a message of n bytes needs 4 + n).
  uint32_t WriteableBytes() const {
    const uint32_t cap = Capacity();
    return cap - ReadableBytes();
  }

  /// Whether at least 4 bytes are readable.
  bool HasData() const { return ReadableBytes() >= 4; }

  /// The data area's size in bytes (a power of two), or 0 if there is no ring (yet).
  uint32_t Capacity() const {
    if (producer_.valid()) return producer_.capacity();
    shm_ring::consumer* c = consumer_half();
    if (c != nullptr) return c->capacity();
    return 0;
  }

  // --- beyond the original API ------------------------------------------------------------

  /// Messages Read skipped because they were longer than its buffer.
  uint64_t SkippedMessages() const { return conventions_.skipped_messages; }
  /// Zero-byte Writes that returned true and wrote nothing.
  uint64_t DroppedEmptyWrites() const { return conventions_.dropped_empty_writes; }
  /// What the last Write or Read found: ok, or the shm_ring status that explains its answer
  /// (full, too_large, empty_message, empty, buffer_too_small with needed() = the skipped
  /// message's length, corrupted, or why there is no ring).
  const shm_ring::status& LastStatus() const { return conventions_.last; }
  /// The shm_ring producer underneath (attached on first use: a consumer's object resumes at
  /// the shared head), or null if there is no ring.
  shm_ring::producer* Producer() { return producer_half(); }
  /// The shm_ring consumer underneath (attached on first use: a producer's object resumes at
  /// the shared tail), or null if there is no ring (yet).
  shm_ring::consumer* Consumer() { return consumer_half(); }

 private:
  shm_ring::producer* producer_half() const {
    if (!producer_.valid() && base_ != nullptr && !is_producer_) {
      shm_ring::result<shm_ring::producer> p = shm_ring::producer::open_in_memory(base_, size_);
      if (p) producer_ = std::move(p.value());
    }
    return producer_.valid() ? &producer_ : nullptr;
  }

  shm_ring::consumer* consumer_half() const {
    if (!consumer_.valid() && base_ != nullptr) {
      shm_ring::result<shm_ring::consumer> c = shm_ring::consumer::open_in_memory(base_, size_);
      if (c) {
        consumer_ = std::move(c.value());
      } else if (!is_producer_) {
        conventions_.last = c.error();
      }
    }
    return consumer_.valid() ? &consumer_ : nullptr;
  }

  void* base_;
  uint32_t size_;
  bool is_producer_;
  // The halves are attached lazily, from const queries too: they are caches of the shared
  // header, not part of the object's observable value.
  mutable shm_ring::producer producer_;
  mutable shm_ring::consumer consumer_;
  mutable detail::Conventions conventions_;
};

}  // namespace shm

#endif  // SHM_BYTE_RING_BUFFER_HPP
