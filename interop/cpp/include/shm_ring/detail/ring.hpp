// shm_ring/detail/ring.hpp - the bytes of the data area: records of [u32 LE length][payload],
// copied in and out across the wrap, or lent in place as one or two pieces.

#ifndef SHM_RING_DETAIL_RING_HPP
#define SHM_RING_DETAIL_RING_HPP

#include "layout.hpp"

namespace shm_ring {

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

namespace detail {

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

}  // namespace detail

}  // namespace shm_ring

#endif  // SHM_RING_DETAIL_RING_HPP
