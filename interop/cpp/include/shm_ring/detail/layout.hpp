// shm_ring/detail/layout.hpp - the wire layout: header words, the extension block's flag bytes,
// capacities and sizes. Pure facts and arithmetic; nothing here touches the OS.

#ifndef SHM_RING_DETAIL_LAYOUT_HPP
#define SHM_RING_DETAIL_LAYOUT_HPP

#include "platform.hpp"

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

// ---------------------------------------------------------------------------------------------
// Capacities and sizes
// ---------------------------------------------------------------------------------------------

namespace detail {

// The ring producer::create makes for a requested capacity: the smallest power of two at least
// `requested` and at least min_capacity, so that a ring is never smaller than asked. 0 if
// requested is outside 1 ..= 2^31.
inline std::uint32_t round_up_capacity(std::uint64_t requested) noexcept {
  if (requested < 1 || requested > max_capacity) return 0;
  std::uint32_t cap = min_capacity;
  while (cap < requested) cap <<= 1;
  return cap;
}

// The original library's rounding, which its drop-in headers and rings in caller-provided
// memory keep: the largest power of two not above `requested`. 0 if requested is outside
// 8 ..= 2^32 - 1.
constexpr std::uint64_t max_round_down_request = 0xFFFFFFFFu;
inline std::uint32_t round_down_capacity(std::uint64_t requested) noexcept {
  if (requested < min_capacity || requested > max_round_down_request) return 0;
  std::uint32_t cap = max_capacity;
  while (cap > requested) cap >>= 1;
  return cap;
}

// The bytes of the object for a ring of `capacity` bytes (a valid power of two): the header,
// the data area and the extension block after it.
constexpr std::uint64_t object_size(std::uint32_t capacity) noexcept {
  return extension_offset(capacity) + extension_size;
}

}  // namespace detail

/// The capacity to request (producer::create) for a ring that carries messages of up to
/// `max_message_len` bytes: the smallest power of two at least max_message_len + 4 (the
/// length prefix) and at least 8. 0 when no ring carries such a message (more than
/// 2^31 - 4 bytes). A too_large error's needed_capacity() is this value.
///
///     shm_ring::capacity_for_message(4092) == 4096
///     shm_ring::capacity_for_message(4093) == 8192
///     shm_ring::capacity_for_message(1920 * 1080 * 3) == 8388608
inline std::uint64_t capacity_for_message(std::uint64_t max_message_len) noexcept {
  if (max_message_len > max_capacity - prefix_size) return 0;
  return detail::round_up_capacity(max_message_len + prefix_size);
}

/// The bytes of memory a ring made for a requested capacity occupies: header, data area of
/// the rounded-up capacity (as producer::create makes it) and the 64-byte extension block.
/// producer::create sizes its object to this; producer::create_in_memory given this many
/// bytes makes a ring of that capacity (or, below 32, a little more). 0 if requested is
/// outside 1 ..= 2^31.
inline std::uint64_t segment_size(std::uint64_t requested_capacity) noexcept {
  const std::uint32_t cap = detail::round_up_capacity(requested_capacity);
  return cap == 0 ? 0 : detail::object_size(cap);
}

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

}  // namespace detail

}  // namespace shm_ring

#endif  // SHM_RING_DETAIL_LAYOUT_HPP
