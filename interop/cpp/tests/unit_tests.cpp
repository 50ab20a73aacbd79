// Unit tests of shm_ring.hpp. Build and run them under the sanitizers (see README.md):
//   g++ -std=c++14 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all
//       -I interop/cpp/include interop/cpp/tests/unit_tests.cpp -o interop/cpp/build/unit_tests
//       -pthread
//   interop/cpp/build/unit_tests [part of a test name]
#include <shm_ring/shm_ring.hpp>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace shm_ring {
inline std::ostream& operator<<(std::ostream& os, errc e) {
  return os << make_error_code(e).message() << " (" << static_cast<int>(e) << ")";
}
inline std::ostream& operator<<(std::ostream& os, name_issue e) { return os << static_cast<int>(e); }
inline std::ostream& operator<<(std::ostream& os, corruption e) { return os << static_cast<int>(e); }
inline std::ostream& operator<<(std::ostream& os, peer_state e) {
  return os << (e == peer_state::alive ? "alive" : e == peer_state::gone ? "gone" : "unknown");
}
}  // namespace shm_ring

#include "harness.hpp"

using shm_ring::byte_view;
using shm_ring::consumer;
using shm_ring::errc;
using shm_ring::peer_state;
using shm_ring::producer;
using shm_ring::producer_options;
using shm_ring::status;
using namespace std::chrono_literals;

namespace {

// Reads one message through the read grant: into a vector (the status of getting the grant),
// into a buffer (its length, or why not), or looked at in place by f(first, second) and then
// consumed (if f throws, the grant leaves the message in the ring).
shm_ring::status into(shm_ring::result<shm_ring::read_grant>&& g, std::vector<std::uint8_t>& out) {
  if (!g) return g.error();
  g->into_vector(out);
  return shm_ring::status();
}
shm_ring::result<std::size_t> into(shm_ring::result<shm_ring::read_grant>&& g, void* buf,
                                   std::size_t size) {
  if (!g) return g.error();
  return g->into_buffer(buf, size);
}
template <class F>
shm_ring::status look(shm_ring::result<shm_ring::read_grant>&& g, F&& f) {
  if (!g) return g.error();
  f(g->first(), g->second());
  g->commit();
  return shm_ring::status();
}


// The extension block as the wire contract defines it: the reserved word's marker (the bytes
// "SRX1"), and 64 bytes at the first multiple of 64 at or after the end of the data area, whose
// byte 0 holds the producer's flags and byte 1 the consumer's. Worked out here rather than taken
// from the header, so that the tests hold the header to the contract.
constexpr std::uint32_t marker = 0x31585253u;
constexpr std::size_t block_size = 64;
constexpr std::size_t block_at(std::uint32_t capacity) {
  return (16 + std::size_t{capacity} + 63) / 64 * 64;
}
constexpr std::size_t producer_flags(std::uint32_t capacity) { return block_at(capacity); }
constexpr std::size_t consumer_flags(std::uint32_t capacity) { return block_at(capacity) + 1; }
static_assert(block_at(64) == 128 && block_at(8) == 64 && block_at(4096) == 4160, "block_at");
constexpr unsigned char sleeping = 0x01;
constexpr unsigned char locked = 0x02;
constexpr unsigned char barrier = 0x04;

// Whether this process can register for membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) (asked of
// the kernel directly; registering twice is harmless).
bool membarrier_available() {
#if SHM_RING_KERNEL_WAIT
  return ::syscall(SYS_membarrier, 4, 0, 0) == 0;
#else
  return false;
#endif
}

// The flag byte a producer or consumer of ours writes for itself when it attaches to a named
// segment: LOCKED, plus BARRIER if the registration succeeds (64-bit Linux); 0 elsewhere.
unsigned char own_flags() {
#if SHM_RING_KERNEL_WAIT
  return static_cast<unsigned char>(locked | (membarrier_available() ? barrier : 0));
#else
  return 0;
#endif
}

// A segment name unique to this process and test.
std::string unique_name(const char* tag) {
  return "shmr_u" + std::to_string(::getpid()) + "_" + tag;
}

bool exists(const std::string& name) {
  const int fd = ::shm_open(("/" + name).c_str(), O_RDONLY, 0);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

void remove(const std::string& name) { ::shm_unlink(("/" + name).c_str()); }

// Removes a segment name at the end of a test, whatever happened.
struct cleanup {
  std::string name;
  explicit cleanup(std::string n) : name(std::move(n)) { remove(name); }
  ~cleanup() { remove(name); }
};

struct stat_result {
  bool ok = false;
  struct stat st {};
};

stat_result stat_segment(const std::string& name) {
  stat_result r;
  const int fd = ::shm_open(("/" + name).c_str(), O_RDONLY, 0);
  if (fd < 0) return r;
  r.ok = ::fstat(fd, &r.st) == 0;
  ::close(fd);
  return r;
}

// A second, independent mapping of a segment, to read and write its bytes by hand.
struct raw_segment {
  unsigned char* base = nullptr;
  std::size_t size = 0;

  explicit raw_segment(const std::string& name) {
    const int fd = ::shm_open(("/" + name).c_str(), O_RDWR, 0);
    if (fd < 0) return;
    struct stat st;
    if (::fstat(fd, &st) == 0 && st.st_size > 0) {
      size = static_cast<std::size_t>(st.st_size);
      void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      base = p == MAP_FAILED ? nullptr : static_cast<unsigned char*>(p);
    }
    ::close(fd);
  }
  ~raw_segment() {
    if (base != nullptr) ::munmap(base, size);
  }
  raw_segment(const raw_segment&) = delete;
  raw_segment& operator=(const raw_segment&) = delete;

  // Little-endian u32 at a byte offset of the segment (header words and data bytes alike).
  std::uint32_t get(std::size_t off) const {
    return static_cast<std::uint32_t>(base[off]) | static_cast<std::uint32_t>(base[off + 1]) << 8 |
           static_cast<std::uint32_t>(base[off + 2]) << 16 |
           static_cast<std::uint32_t>(base[off + 3]) << 24;
  }
  void put(std::size_t off, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) base[off + static_cast<std::size_t>(i)] = static_cast<unsigned char>(v >> (8 * i));
  }
  std::uint32_t head() const { return get(0); }
  std::uint32_t tail() const { return get(4); }
  std::uint32_t capacity() const { return get(8); }
  unsigned char* data() const { return base + 16; }
  // A flag byte, read atomically (other threads and processes write it).
  unsigned char flags(std::size_t off) const { return __atomic_load_n(base + off, __ATOMIC_ACQUIRE); }
  // Waits until a flag byte has `bit` set; false after a minute (a hang guard only).
  bool wait_for(std::size_t off, unsigned char bit) const {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    while ((flags(off) & bit) == 0) {
      if (std::chrono::steady_clock::now() > give_up) return false;
      ::sched_yield();
    }
    return true;
  }
  // An index word, published with release (as a peer of another library would, minus waking).
  void publish(std::size_t off, std::uint32_t v) {
    __atomic_store_n(reinterpret_cast<std::uint32_t*>(base + off), v, __ATOMIC_RELEASE);
  }
};

// Makes a bare shared-memory object of `size` bytes, as a misbehaving or slow producer would.
bool make_object(const std::string& name, off_t size) {
  const int fd = ::shm_open(("/" + name).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return false;
  const bool ok = ::ftruncate(fd, size) == 0;
  ::close(fd);
  return ok;
}

// Publishes one record into a ring played by hand (no wrap: the caller keeps it inside the
// data area) and returns the new head.
std::uint32_t push_by_hand(raw_segment& raw, std::uint32_t head,
                           const std::vector<std::uint8_t>& msg) {
  raw.put(16 + head, static_cast<std::uint32_t>(msg.size()));
  std::memcpy(raw.data() + head + 4, msg.data(), msg.size());
  head += static_cast<std::uint32_t>(4 + msg.size());
  raw.publish(0, head);
  return head;
}

producer make_producer(const std::string& name, std::uint64_t capacity,
                       std::uint32_t start_index = 0) {
  producer_options o;
  o.start_index = start_index;
  shm_ring::result<producer> p = producer::create(name, capacity, o);
  if (!p) {
    std::fprintf(stderr, "cannot create %s: %s\n", name.c_str(), p.error().message().c_str());
    std::abort();
  }
  return std::move(p.value());
}

consumer open_consumer(const std::string& name) {
  shm_ring::result<consumer> c = consumer::open(name);
  if (!c) {
    std::fprintf(stderr, "cannot open %s: %s\n", name.c_str(), c.error().message().c_str());
    std::abort();
  }
  return std::move(c.value());
}

// Payload of message `i` of the conformance stream.
std::vector<std::uint8_t> pattern(std::size_t i, std::size_t len) {
  std::vector<std::uint8_t> v(len);
  for (std::size_t j = 0; j < len; ++j) v[j] = static_cast<std::uint8_t>((i * 7 + j) % 251);
  return v;
}

std::vector<std::uint8_t> joined(byte_view a, byte_view b) {
  std::vector<std::uint8_t> v(a.data, a.data + a.size);
  v.insert(v.end(), b.data, b.data + b.size);
  return v;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Names and capacities
// ---------------------------------------------------------------------------------------------

TEST(names_with_and_without_slash_are_the_same) {
  std::string bare;
  CHECK(shm_ring::validate_name("a", &bare).ok());
  CHECK_EQ(bare, std::string("a"));
  CHECK(shm_ring::validate_name("/a", &bare).ok());
  CHECK_EQ(bare, std::string("a"));
  CHECK(shm_ring::validate_name("Az09._-", &bare).ok());
  const std::string longest(30, 'x');
  CHECK(shm_ring::validate_name(longest, &bare).ok());
  CHECK(shm_ring::validate_name("/" + longest, &bare).ok());
  CHECK_EQ(bare, longest);
  CHECK(shm_ring::validate_name("...").ok());

  const std::string name = unique_name("slash");
  cleanup guard(name);
  producer p = make_producer("/" + name, 64);
  CHECK_EQ(p.name(), name);
  consumer c = open_consumer(name);
  CHECK_EQ(c.name(), name);
  CHECK(p.try_write("x", 1).ok());
  std::vector<std::uint8_t> out;
  CHECK(into(c.try_read(), out).ok());
}

TEST(bad_names_say_which_rule_they_break) {
  using shm_ring::name_issue;
  status s = shm_ring::validate_name("");
  CHECK_EQ(s.code(), errc::invalid_name);
  CHECK_EQ(s.name_problem(), name_issue::empty);
  CHECK_EQ(shm_ring::validate_name("/").name_problem(), name_issue::empty);

  s = shm_ring::validate_name(std::string(31, 'x'));
  CHECK_EQ(s.name_problem(), name_issue::too_long);
  CHECK_EQ(s.value(), 31u);
  CHECK(contains(s.message(), "31 characters"));
  CHECK_EQ(shm_ring::validate_name("/" + std::string(31, 'x')).name_problem(),
           name_issue::too_long);

  s = shm_ring::validate_name("a/b");
  CHECK_EQ(s.name_problem(), name_issue::bad_character);
  CHECK_EQ(s.value(), 1u);
  CHECK_EQ(s.character(), static_cast<unsigned char>('/'));
  CHECK(contains(s.message(), "'/' at position 1"));

  s = shm_ring::validate_name("//a");
  CHECK_EQ(s.name_problem(), name_issue::bad_character);
  CHECK_EQ(s.value(), 0u);

  s = shm_ring::validate_name("a b");
  CHECK_EQ(s.name_problem(), name_issue::bad_character);
  CHECK_EQ(s.character(), static_cast<unsigned char>(' '));
  CHECK(contains(s.message(), "0x20 at position 1"));

  s = shm_ring::validate_name("\xc3\xa9");  // "é" in UTF-8
  CHECK_EQ(s.name_problem(), name_issue::bad_character);
  CHECK_EQ(s.value(), 0u);

  CHECK_EQ(shm_ring::validate_name(".").name_problem(), name_issue::dots);
  CHECK_EQ(shm_ring::validate_name("..").name_problem(), name_issue::dots);
  CHECK_EQ(shm_ring::validate_name("/..").name_problem(), name_issue::dots);

  // Both constructors validate, and never truncate.
  CHECK_EQ(producer::create(std::string(31, 'x'), 64).code(), errc::invalid_name);
  CHECK(!exists(std::string(30, 'x')));
  CHECK_EQ(consumer::open("a b").code(), errc::invalid_name);
  CHECK_EQ(consumer::open("a b", 10ms).code(), errc::invalid_name);
}

TEST(capacity_rounds_up_to_a_power_of_two) {
  const std::string name = unique_name("cap");
  cleanup guard(name);
  {
    producer p = make_producer(name, 100);
    CHECK_EQ(p.capacity(), 128u);
    CHECK_EQ(p.max_message_len(), 124u);
    const stat_result st = stat_segment(name);
    CHECK(st.ok);
    // Header, data area (16..144) and the extension block at 192: the object ends at 256.
    CHECK_EQ(st.st.st_size, off_t{256});
    raw_segment raw(name);
    CHECK_EQ(raw.capacity(), 128u);
    consumer c = open_consumer(name);
    CHECK_EQ(c.capacity(), 128u);
    CHECK_EQ(c.max_message_len(), 124u);
  }
  {
    // One 1080p RGB frame: the ring asked for it carries it.
    producer p = make_producer(name, 1920 * 1080 * 3);
    CHECK_EQ(p.capacity(), 8388608u);
    CHECK_EQ(stat_segment(name).st.st_size, off_t{8388608 + 64 + 64});
    std::vector<std::uint8_t> frame(1920 * 1080 * 3 - 4, 7);
    CHECK(p.try_write(frame.data(), frame.size()).ok());
  }
  {
    producer p = make_producer(name, 4096);
    CHECK_EQ(p.capacity(), 4096u);
    CHECK_EQ(stat_segment(name).st.st_size, off_t{4160 + 64});
  }
  {
    producer p = make_producer(name, 1);
    CHECK_EQ(p.capacity(), 8u);
  }
  status s = producer::create(name, 0).error();
  CHECK_EQ(s.code(), errc::invalid_capacity);
  CHECK_EQ(s.value(), 0u);
  CHECK(contains(s.message(), "1..=2147483648"));
  s = producer::create(name, (std::uint64_t{1} << 31) + 1).error();
  CHECK_EQ(s.code(), errc::invalid_capacity);
  CHECK_EQ(s.value(), (std::uint64_t{1} << 31) + 1);
}

TEST(capacity_for_message_carries_the_message_and_no_smaller_ring_does) {
  CHECK_EQ(shm_ring::capacity_for_message(0), 8u);
  CHECK_EQ(shm_ring::capacity_for_message(4), 8u);
  CHECK_EQ(shm_ring::capacity_for_message(5), 16u);
  CHECK_EQ(shm_ring::capacity_for_message(4092), 4096u);
  CHECK_EQ(shm_ring::capacity_for_message(4093), 8192u);
  CHECK_EQ(shm_ring::capacity_for_message(1920 * 1080 * 3), 8388608u);
  CHECK_EQ(shm_ring::capacity_for_message((std::uint64_t{1} << 31) - 4), std::uint64_t{1} << 31);
  CHECK_EQ(shm_ring::capacity_for_message((std::uint64_t{1} << 31) - 3), 0u);
  CHECK_EQ(shm_ring::capacity_for_message(UINT64_MAX), 0u);
  for (std::uint64_t len = 0; len < 5000; ++len) {
    const std::uint64_t cap = shm_ring::capacity_for_message(len);
    CHECK(cap >= 8 && (cap & (cap - 1)) == 0);
    CHECK(cap - 4 >= len);
    CHECK(cap == 8 || cap / 2 - 4 < len);
  }

  // A message too large for its ring names the capacity that carries it.
  const std::string name = unique_name("cfm");
  cleanup guard(name);
  producer p = make_producer(name, 4096);
  std::vector<std::uint8_t> big(4093, 1);
  const status s = p.try_write(big.data(), big.size());
  CHECK_EQ(s.code(), errc::too_large);
  CHECK_EQ(s.needed_capacity(), 8192u);
  CHECK(contains(s.message(), "create the ring with capacity 8192"));
  CHECK_EQ(p.try_reserve(big.size()).error().needed_capacity(), 8192u);
  const shm_ring::byte_view one(big.data(), big.size());
  CHECK_EQ(p.try_write_batch(&one, 1).error().needed_capacity(), 8192u);
  CHECK_EQ(p.write(big.data(), big.size(), 1s).needed_capacity(), 8192u);
}

TEST(segment_size_leaves_room_for_the_extension_block) {
  CHECK_EQ(shm_ring::extension_marker, marker);
  CHECK_EQ(shm_ring::extension_size, block_size);
  for (std::uint32_t cap = 8; cap != 0; cap <<= 1) {
    CHECK_EQ(shm_ring::extension_offset(cap), std::uint64_t{block_at(cap)});
  }
  CHECK_EQ(shm_ring::extension_offset(std::uint32_t{1} << 31), (std::uint64_t{1} << 31) + 64);
  CHECK_EQ(shm_ring::segment_size(1), 128u);      // capacity 8: data 16..24, block 64..128
  CHECK_EQ(shm_ring::segment_size(8), 128u);
  CHECK_EQ(shm_ring::segment_size(100), 256u);    // capacity 128: data 16..144, block 192..256
  CHECK_EQ(shm_ring::segment_size(4096), 4224u);  // data 16..4112, block 4160..4224
  CHECK_EQ(shm_ring::segment_size(4300), 8320u);  // capacity 8192
  CHECK_EQ(shm_ring::segment_size(std::uint64_t{1} << 31), (std::uint64_t{1} << 31) + 128);
  CHECK_EQ(shm_ring::segment_size(0), 0u);
  CHECK_EQ(shm_ring::segment_size((std::uint64_t{1} << 31) + 1), 0u);
}

TEST(fresh_header_matches_the_wire_layout) {
  const std::string name = unique_name("hdr");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  raw_segment raw(name);
  CHECK_EQ(raw.size, std::size_t{192});
  CHECK_EQ(raw.head(), 0u);
  CHECK_EQ(raw.tail(), 0u);
  CHECK_EQ(raw.capacity(), 64u);
  CHECK_EQ(raw.get(12), marker);
  CHECK(std::memcmp(raw.base + 12, "SRX1", 4) == 0);
  // The extension block: the producer's flags, then zeros (nobody has attached yet).
  CHECK_EQ(raw.flags(producer_flags(64)), own_flags());
  for (std::size_t i = 1; i < block_size; ++i) CHECK_EQ(raw.flags(block_at(64) + i), 0);
  CHECK(p.try_write("abc", 3).ok());
  // [u32 LE 3]["abc"], head published as 7.
  const unsigned char expected[] = {3, 0, 0, 0, 'a', 'b', 'c'};
  CHECK(std::memcmp(raw.data(), expected, sizeof expected) == 0);
  CHECK_EQ(raw.head(), 7u);
  CHECK_EQ(raw.tail(), 0u);
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

TEST(empty_and_too_large_messages_are_refused) {
  const std::string name = unique_name("refuse");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  raw_segment raw(name);
  std::vector<std::uint8_t> big(61, 1);

  status s = p.try_write("", 0);
  CHECK_EQ(s.code(), errc::empty_message);
  CHECK_EQ(p.write("", 0, 1s).code(), errc::empty_message);
  CHECK_EQ(p.try_reserve(0).code(), errc::empty_message);
  s = p.try_write(big.data(), 61);
  CHECK_EQ(s.code(), errc::too_large);
  CHECK_EQ(s.needed(), 61u);
  CHECK_EQ(s.available(), 60u);
  CHECK(contains(s.message(), "61-byte"));
  CHECK(contains(s.message(), "60 bytes"));
  CHECK_EQ(p.write(big.data(), 61, 1s).code(), errc::too_large);
  CHECK_EQ(p.try_reserve(61).code(), errc::too_large);
  const byte_view batch[] = {byte_view(big.data(), 61)};
  CHECK_EQ(p.try_write_batch(batch, 1).code(), errc::too_large);
  CHECK_EQ(raw.head(), 0u);  // nothing was written

  CHECK(p.try_write(big.data(), 60).ok());  // the largest message fits an empty ring
  CHECK_EQ(raw.head(), 64u);
}

TEST(full_ring_refuses_until_the_consumer_reads) {
  const std::string name = unique_name("full");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  consumer c = open_consumer(name);
  raw_segment raw(name);
  const std::vector<std::uint8_t> msg = pattern(0, 28);  // 32-byte records

  CHECK(p.try_write(msg.data(), 28).ok());
  CHECK(p.try_write(msg.data(), 28).ok());
  CHECK_EQ(p.writable_bytes(), 0u);
  CHECK_EQ(p.readable_bytes(), 64u);
  status s = p.try_write("x", 1);
  CHECK_EQ(s.code(), errc::full);
  CHECK_EQ(s.needed(), 5u);
  CHECK_EQ(s.available(), 0u);
  CHECK_EQ(raw.head(), 64u);

  std::vector<std::uint8_t> out;
  CHECK(into(c.try_read(), out).ok());
  CHECK(out == msg);
  s = p.try_write(pattern(0, 29).data(), 29);  // needs 33 of 32 free
  CHECK_EQ(s.code(), errc::full);
  CHECK_EQ(s.needed(), 33u);
  CHECK_EQ(s.available(), 32u);
  CHECK(p.try_write(msg.data(), 28).ok());

  const auto t0 = std::chrono::steady_clock::now();
  s = p.write("x", 1, 30ms);
  CHECK(std::chrono::steady_clock::now() - t0 >= 30ms);
  CHECK_EQ(s.code(), errc::timeout);
  CHECK_EQ(s.last(), errc::full);
  CHECK(contains(s.message(), "timed out after 30 ms (last: the ring is full)"));
  CHECK_EQ(p.try_reserve(1).code(), errc::full);
  CHECK_EQ(p.reserve(1, 5ms).code(), errc::timeout);
  const byte_view one[] = {byte_view("x", 1)};
  CHECK_EQ(p.try_write_batch(one, 1).code(), errc::full);
  CHECK_EQ(p.write_batch(one, 1, 5ms).code(), errc::timeout);
  CHECK_EQ(p.wait_until_empty(5ms).code(), errc::timeout);
}

TEST(blocking_write_proceeds_once_the_consumer_reads) {
  const std::string name = unique_name("block");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  consumer c = open_consumer(name);
  const std::vector<std::uint8_t> msg = pattern(1, 60);
  CHECK(p.try_write(msg.data(), 60).ok());
  std::thread reader([&] {
    std::vector<std::uint8_t> out;
    for (int i = 0; i < 2; ++i) {
      if (!into(c.read(30s), out).ok() || out != msg) std::abort();
    }
  });
  const status s = p.write(msg.data(), 60, 30s);
  reader.join();
  CHECK(s.ok());
  CHECK(p.wait_until_empty(30s).ok());
  CHECK(p.is_empty());
}

// Writes one 10-byte message whose record starts `k` bytes before the end of a 64-byte ring,
// checks its bytes where the wire format puts them, and reads it back with `read`.
template <class Read>
void check_record_at_the_end(std::uint32_t k, const char* how, Read read) {
  const std::string name = unique_name(how);
  cleanup guard(name);
  const std::uint32_t start = 64 - k;  // with start index 64 - k, head points there
  producer p = make_producer(name, 64, start);
  consumer c = open_consumer(name);
  raw_segment raw(name);
  const std::vector<std::uint8_t> msg = pattern(k, 10);
  CHECK(p.try_write(msg.data(), msg.size()).ok());
  CHECK_EQ(raw.head(), start + 14);
  for (std::uint32_t j = 0; j < 14; ++j) {
    const std::uint8_t expected = j < 4 ? (j == 0 ? 10 : 0) : msg[j - 4];
    CHECK_EQ(raw.data()[(start + j) % 64], expected);
  }
  std::vector<std::uint8_t> got;
  CHECK(read(c, got));
  CHECK(got == msg);
  CHECK_EQ(raw.tail(), start + 14);
  CHECK(c.is_empty());
}

TEST(records_wrap_at_the_end_of_the_ring) {
  // k = 1, 2, 3: the prefix splits after its first, second, third byte; k = 4: the prefix ends
  // the ring and the payload starts at its beginning; k = 7: the payload splits.
  for (std::uint32_t k : {1u, 2u, 3u, 4u, 7u, 14u, 64u}) {
    check_record_at_the_end(k, "w_vec", [](consumer& c, std::vector<std::uint8_t>& out) {
      return into(c.try_read(), out).ok();
    });
    check_record_at_the_end(k, "w_buf", [](consumer& c, std::vector<std::uint8_t>& out) {
      out.assign(10, 0);
      shm_ring::result<std::size_t> n = into(c.try_read(), out.data(), out.size());
      return n.ok() && *n == 10;
    });
    check_record_at_the_end(k, "w_view", [k](consumer& c, std::vector<std::uint8_t>& out) {
      return look(c.try_read(), [&](byte_view a, byte_view b) {
               out = joined(a, b);
               // The payload starts at offset (64 - k + 4) % 64 and is split at the end.
               const std::size_t first = k > 4 && k < 14 ? k - 4 : 10;
               if (a.size != first || b.size != 10 - first) out.clear();
             }).ok();
    });
    check_record_at_the_end(k, "w_bat", [](consumer& c, std::vector<std::uint8_t>& out) {
      shm_ring::result<std::size_t> n =
          c.try_read_batch(5, [&](byte_view a, byte_view b) { out = joined(a, b); });
      return n.ok() && *n == 1;
    });
  }
}

TEST(reserved_payloads_wrap_too) {
  for (std::uint32_t k : {1u, 2u, 3u, 4u, 7u}) {
    const std::string name = unique_name("resv");
    cleanup guard(name);
    producer p = make_producer(name, 64, 64 - k);
    consumer c = open_consumer(name);
    const std::vector<std::uint8_t> msg = pattern(k, 10);
    shm_ring::result<shm_ring::write_grant> r = p.try_reserve(10);
    CHECK(r.ok());
    CHECK_EQ(r->size(), std::size_t{10});
    const std::size_t first = k > 4 ? k - 4 : 10;
    CHECK_EQ(r->first().size, first);
    CHECK_EQ(r->second().size, 10 - first);
    std::memcpy(r->first().data, msg.data(), r->first().size);
    std::memcpy(r->second().data, msg.data() + first, r->second().size);
    CHECK(c.is_empty());  // nothing is visible before commit
    r->commit();
    std::vector<std::uint8_t> out;
    CHECK(into(c.try_read(), out).ok());
    CHECK(out == msg);
  }
}

TEST(uncommitted_reservation_publishes_nothing) {
  const std::string name = unique_name("abandon");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  consumer c = open_consumer(name);
  raw_segment raw(name);
  {
    shm_ring::result<shm_ring::write_grant> r = p.reserve(20, 1s);
    CHECK(r.ok());
    std::memset(r->first().data, 0xEE, r->first().size);
  }
  CHECK_EQ(raw.head(), 0u);
  CHECK_EQ(look(c.try_read(), [](byte_view, byte_view) {}).code(), errc::empty);
  const std::vector<std::uint8_t> msg = pattern(3, 5);
  CHECK(p.try_write(msg.data(), 5).ok());
  std::vector<std::uint8_t> out;
  CHECK(into(c.try_read(), out).ok());
  CHECK(out == msg);
  CHECK_EQ(into(c.try_read(), out).code(), errc::empty);

  // Committing twice, or committing an empty reservation, publishes once / nothing.
  shm_ring::result<shm_ring::write_grant> r = p.try_reserve(3);
  CHECK(r.ok());
  std::memcpy(r->first().data, "xyz", 3);
  shm_ring::write_grant moved = std::move(r.value());
  r->commit();
  CHECK_EQ(raw.head(), 9u);
  moved.commit();
  moved.commit();
  CHECK_EQ(raw.head(), 16u);
}

TEST(batch_write_publishes_whole_messages_once) {
  const std::string name = unique_name("bw");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  consumer c = open_consumer(name);
  raw_segment raw(name);
  std::vector<std::vector<std::uint8_t>> msgs;
  std::vector<byte_view> views;
  for (std::size_t i = 0; i < 5; ++i) msgs.push_back(pattern(i, 10));  // 14-byte records
  for (const auto& m : msgs) views.emplace_back(m.data(), m.size());

  shm_ring::result<std::size_t> n = p.try_write_batch(views.data(), views.size());
  CHECK(n.ok());
  CHECK_EQ(*n, std::size_t{4});  // 4 * 14 = 56 fit, the fifth does not
  CHECK_EQ(raw.head(), 56u);
  n = p.try_write_batch(views.data() + 4, 1);
  CHECK_EQ(n.code(), errc::full);
  CHECK_EQ(p.try_write_batch(views.data(), 0).value(), std::size_t{0});

  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(into(c.try_read(), out).ok());
    CHECK(out == msgs[i]);
  }
  // A bad message ends the batch before it; it is reported when it comes first.
  const byte_view mixed[] = {views[4], byte_view("", 0), views[0]};
  n = p.try_write_batch(mixed, 3);
  CHECK_EQ(n.value(), std::size_t{1});
  CHECK_EQ(p.try_write_batch(mixed + 1, 2).code(), errc::empty_message);
  n = p.write_batch(mixed + 2, 1, 1s);
  CHECK_EQ(n.value(), std::size_t{1});
  CHECK(into(c.try_read(), out).ok());
  CHECK(out == msgs[4]);
  CHECK(into(c.try_read(), out).ok());
  CHECK(out == msgs[0]);
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

TEST(batch_read_publishes_the_tail_once) {
  const std::string name = unique_name("br");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  consumer c = open_consumer(name);
  raw_segment raw(name);
  for (std::size_t i = 0; i < 3; ++i) CHECK(p.try_write(pattern(i, 6).data(), 6).ok());

  std::size_t seen = 0;
  bool tail_moved_early = false;
  shm_ring::result<std::size_t> n = c.try_read_batch(2, [&](byte_view a, byte_view b) {
    if (raw.tail() != 0) tail_moved_early = true;
    if (joined(a, b) != pattern(seen, 6)) tail_moved_early = true;
    ++seen;
  });
  CHECK(n.ok());
  CHECK_EQ(*n, std::size_t{2});
  CHECK(!tail_moved_early);
  CHECK_EQ(raw.tail(), 20u);
  n = c.read_batch(10, [&](byte_view a, byte_view b) { CHECK(joined(a, b) == pattern(2, 6)); }, 1s);
  CHECK_EQ(n.value(), std::size_t{1});
  CHECK_EQ(raw.tail(), 30u);
  CHECK_EQ(c.try_read_batch(10, [](byte_view, byte_view) {}).code(), errc::empty);
  CHECK_EQ(c.read_batch(10, [](byte_view, byte_view) {}, 5ms).code(), errc::timeout);
}

TEST(buffer_too_small_leaves_the_message) {
  const std::string name = unique_name("small");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  consumer c = open_consumer(name);
  raw_segment raw(name);
  const std::vector<std::uint8_t> msg = pattern(9, 20);
  CHECK(p.try_write(msg.data(), 20).ok());
  std::uint8_t buf[20] = {};
  shm_ring::result<std::size_t> n = into(c.try_read(), buf, 10);
  CHECK_EQ(n.code(), errc::buffer_too_small);
  CHECK_EQ(n.error().needed(), 20u);
  CHECK_EQ(n.error().available(), 10u);
  CHECK(contains(n.error().message(), "20 bytes"));
  CHECK_EQ(into(c.read(1s), buf, 19).code(), errc::buffer_too_small);
  CHECK_EQ(raw.tail(), 0u);
  n = into(c.try_read(), buf, 20);
  CHECK_EQ(n.value(), std::size_t{20});
  CHECK(std::memcmp(buf, msg.data(), 20) == 0);
  CHECK_EQ(raw.tail(), 24u);
}

TEST(throwing_callback_leaves_its_message) {
  const std::string name = unique_name("throw");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  consumer c = open_consumer(name);
  raw_segment raw(name);
  for (std::size_t i = 0; i < 3; ++i) CHECK(p.try_write(pattern(i, 6).data(), 6).ok());
  bool threw = false;
  try {
    look(c.try_read(), [](byte_view, byte_view) { throw std::runtime_error("no"); });
  } catch (const std::runtime_error&) {
    threw = true;
  }
  CHECK(threw);
  CHECK_EQ(raw.tail(), 0u);
  // In a batch, messages handed over before the throw stay consumed.
  std::size_t calls = 0;
  threw = false;
  try {
    c.try_read_batch(3, [&](byte_view, byte_view) {
      if (++calls == 2) throw std::runtime_error("no");
    });
  } catch (const std::runtime_error&) {
    threw = true;
  }
  CHECK(threw);
  CHECK_EQ(raw.tail(), 10u);
  std::vector<std::uint8_t> out;
  CHECK(into(c.try_read(), out).ok());
  CHECK(out == pattern(1, 6));
}

TEST(zero_length_record_is_delivered_as_empty) {
  const std::string name = unique_name("zero");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  consumer c = open_consumer(name);
  raw_segment raw(name);
  // Four zero-length records placed by hand (a producer of ours never writes one), then one
  // ordinary message, published together.
  raw.put(16, 0);
  raw.put(20, 0);
  raw.put(24, 0);
  raw.put(28, 0);
  raw.put(32, 2);
  raw.data()[20] = 'o';
  raw.data()[21] = 'k';
  raw.put(0, 22);

  std::vector<std::uint8_t> out(3, 7);
  CHECK(into(c.try_read(), out).ok());
  CHECK(out.empty());
  CHECK_EQ(raw.tail(), 4u);
  std::uint8_t buf[1];
  CHECK_EQ(into(c.try_read(), buf, 0).value(), std::size_t{0});
  CHECK_EQ(into(c.try_read(), buf, sizeof buf).value(), std::size_t{0});
  std::size_t sizes = 99;
  CHECK(look(c.try_read(), [&](byte_view a, byte_view b) { sizes = a.size + b.size; }).ok());
  CHECK_EQ(sizes, std::size_t{0});
  CHECK_EQ(raw.tail(), 16u);
  CHECK(into(c.try_read(), out).ok());
  CHECK(out == std::vector<std::uint8_t>({'o', 'k'}));
  CHECK_EQ(raw.tail(), 22u);
}

TEST(corrupted_records_are_reported_and_never_delivered) {
  using shm_ring::corruption;
  const std::string name = unique_name("corrupt");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  raw_segment raw(name);
  std::vector<std::uint8_t> out;

  // Each case uses a fresh consumer (the previous one closed first: one consumer at a time): a
  // head moving backwards, as the hand edits here make it do, is not something a consumer has
  // to notice.
  // A length larger than any record of the ring (60 is the largest).
  raw.put(16, 61);
  raw.put(0, 64);
  consumer c = open_consumer(name);
  status s = into(c.try_read(), out);
  CHECK_EQ(s.code(), errc::corrupted);
  CHECK_EQ(s.corruption(), corruption::length_too_large);
  CHECK_EQ(s.tail_index(), 0u);
  CHECK_EQ(s.length(), 61u);
  CHECK_EQ(s.readable(), 64u);
  CHECK(contains(s.message(), "61 payload bytes"));
  CHECK_EQ(into(c.read(1s), out).code(), errc::corrupted);  // not retried as if empty

  // A length reaching past the published bytes.
  raw.put(16, 20);
  raw.put(0, 10);
  c = consumer();
  c = open_consumer(name);
  s = into(c.try_read(), out);
  CHECK_EQ(s.corruption(), corruption::length_exceeds_published);
  CHECK_EQ(s.length(), 20u);
  CHECK_EQ(s.readable(), 10u);
  CHECK(contains(s.message(), "only 10 bytes"));
  std::uint8_t buf[64];
  CHECK_EQ(into(c.try_read(), buf, sizeof buf).code(), errc::corrupted);
  CHECK_EQ(look(c.try_read(), [](byte_view, byte_view) {}).code(), errc::corrupted);
  CHECK_EQ(c.try_read_batch(4, [](byte_view, byte_view) {}).code(), errc::corrupted);

  // Part of a prefix published.
  raw.put(0, 3);
  c = consumer();
  c = open_consumer(name);
  s = into(c.try_read(), out);
  CHECK_EQ(s.corruption(), corruption::truncated_prefix);
  CHECK_EQ(s.readable(), 3u);
  CHECK_EQ(raw.tail(), 0u);  // nothing consumed on any of these

  // Once the producer's side is whole again, reading goes on.
  raw.put(0, 24);
  CHECK(into(c.try_read(), out).ok());
  CHECK_EQ(out.size(), std::size_t{20});
}

TEST(batch_stops_before_a_corrupted_record) {
  const std::string name = unique_name("bcorrupt");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  consumer c = open_consumer(name);
  raw_segment raw(name);
  CHECK(p.try_write("ab", 2).ok());
  raw.put(16 + 6, 50);  // a second record claiming 50 bytes, with 10 published
  raw.put(0, 16);
  std::size_t calls = 0;
  CHECK_EQ(c.try_read_batch(10, [&](byte_view, byte_view) { ++calls; }).value(), std::size_t{1});
  CHECK_EQ(calls, std::size_t{1});
  CHECK_EQ(raw.tail(), 6u);
  CHECK_EQ(c.try_read_batch(10, [&](byte_view, byte_view) { ++calls; }).code(), errc::corrupted);
}

// ---------------------------------------------------------------------------------------------
// Indices
// ---------------------------------------------------------------------------------------------

TEST(indices_wrap_at_two_to_the_32) {
  for (std::uint32_t start : {0xFFFFFFFFu - 100, 0xFFFFFFFFu, 0xFFFFFFF0u}) {
    const std::string name = unique_name("wrap");
    cleanup guard(name);
    producer p = make_producer(name, 64, start);
    consumer c = open_consumer(name);
    raw_segment raw(name);
    CHECK_EQ(raw.head(), start);
    CHECK_EQ(raw.tail(), start);
    std::uint32_t expected_head = start;
    std::vector<std::uint8_t> out;
    std::size_t next_read = 0;
    for (std::size_t i = 0; i < 200; ++i) {
      const std::size_t len = 1 + i % 25;
      const std::vector<std::uint8_t> msg = pattern(i, len);
      // Write until the ring is full, then read everything and check it, so that both
      // "full" and "empty" are judged on indices on both sides of 2^32.
      if (p.try_write(msg.data(), len).code() == errc::full) {
        for (std::size_t j = next_read; j < i; ++j) {
          CHECK(into(c.try_read(), out).ok());
          CHECK(out == pattern(j, 1 + j % 25));
        }
        next_read = i;
        CHECK_EQ(into(c.try_read(), out).code(), errc::empty);
        CHECK_EQ(raw.tail(), expected_head);
        CHECK(p.try_write(msg.data(), len).ok());
      }
      expected_head += static_cast<std::uint32_t>(4 + len);
      CHECK_EQ(raw.head(), expected_head);
    }
    for (std::size_t j = next_read; j < 200; ++j) {
      CHECK(into(c.try_read(), out).ok());
      CHECK(out == pattern(j, 1 + j % 25));
    }
    CHECK_EQ(raw.tail(), expected_head);
    CHECK(expected_head < start);  // the indices did cross 2^32
  }
}

TEST(full_is_judged_correctly_across_the_wrap) {
  const std::string name = unique_name("wrapfull");
  cleanup guard(name);
  producer p = make_producer(name, 64, 0xFFFFFFF8u);
  consumer c = open_consumer(name);
  raw_segment raw(name);
  CHECK(p.try_write(pattern(0, 28).data(), 28).ok());
  CHECK(p.try_write(pattern(1, 28).data(), 28).ok());
  CHECK_EQ(raw.head(), 56u);  // 0xFFFFFFF8 + 64, wrapped
  CHECK_EQ(p.try_write("x", 1).code(), errc::full);
  CHECK_EQ(c.readable_bytes(), 64u);
  std::vector<std::uint8_t> out;
  CHECK(into(c.try_read(), out).ok());
  CHECK(out == pattern(0, 28));
  CHECK(into(c.try_read(), out).ok());
  CHECK(out == pattern(1, 28));
  CHECK(c.is_empty());
}

TEST(torn_indices_read_as_empty_and_full) {
  const std::string name = unique_name("torn");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  consumer c = open_consumer(name);
  raw_segment raw(name);
  CHECK(p.try_write(pattern(0, 28).data(), 28).ok());  // head 32

  // Consumer: head - tail = 65 > capacity can only be a torn or stale word: empty.
  raw.put(0, 65);
  std::vector<std::uint8_t> out;
  CHECK_EQ(into(c.try_read(), out).code(), errc::empty);
  CHECK(c.is_empty());
  CHECK_EQ(c.readable_bytes(), 0u);
  CHECK_EQ(into(c.read(5ms), out).code(), errc::timeout);
  raw.put(0, 32);
  CHECK(into(c.try_read(), out).ok());  // the real head again: the message is there
  CHECK(out == pattern(0, 28));

  // Producer: a tail making head - tail = 65: full, whatever the subtraction says.
  CHECK(p.try_write(pattern(1, 28).data(), 28).ok());  // head 64, tail 32
  raw.put(4, 64u - 65u);
  CHECK_EQ(p.try_write(pattern(2, 36).data(), 36).code(), errc::full);
  CHECK_EQ(p.writable_bytes(), 0u);
  CHECK_EQ(raw.head(), 64u);
  raw.put(4, 32);
  CHECK(p.try_write(pattern(2, 28).data(), 28).ok());
}

TEST(capacity_is_read_once) {
  const std::string name = unique_name("caponce");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  consumer c = open_consumer(name);
  raw_segment raw(name);
  raw.put(8, 8);  // a peer rewriting the capacity word changes nothing for attached sides
  const std::vector<std::uint8_t> msg = pattern(5, 40);
  CHECK(p.try_write(msg.data(), 40).ok());
  std::vector<std::uint8_t> out;
  CHECK(into(c.try_read(), out).ok());
  CHECK(out == msg);
  CHECK_EQ(p.capacity(), 64u);
  CHECK_EQ(c.capacity(), 64u);
}

TEST(consumer_resumes_at_the_shared_tail) {
  const std::string name = unique_name("resume");
  cleanup guard(name);
  producer p = make_producer(name, 64, 1000);
  CHECK(p.try_write(pattern(0, 3).data(), 3).ok());
  CHECK(p.try_write(pattern(1, 4).data(), 4).ok());
  std::vector<std::uint8_t> out;
  {
    consumer first = open_consumer(name);
    CHECK(into(first.try_read(), out).ok());
    CHECK(out == pattern(0, 3));
  }
  consumer second = open_consumer(name);
  CHECK(into(second.try_read(), out).ok());
  CHECK(out == pattern(1, 4));
  CHECK_EQ(into(second.try_read(), out).code(), errc::empty);
}

// ---------------------------------------------------------------------------------------------
// Opening, creating, unlinking
// ---------------------------------------------------------------------------------------------

TEST(missing_and_unfinished_segments) {
  const std::string name = unique_name("notready");
  cleanup guard(name);
  status s = consumer::open(name).error();
  CHECK_EQ(s.code(), errc::not_found);
  const auto t0 = std::chrono::steady_clock::now();
  s = consumer::open(name, 30ms).error();
  CHECK_EQ(s.code(), errc::timeout);
  CHECK_EQ(s.last(), errc::not_found);
  CHECK(std::chrono::steady_clock::now() - t0 >= 30ms);

  // Size 0: the producer has not sized the object yet.
  CHECK(make_object(name, 0));
  CHECK_EQ(consumer::open(name).code(), errc::not_ready);
  s = consumer::open(name, 10ms).error();
  CHECK_EQ(s.code(), errc::timeout);
  CHECK_EQ(s.last(), errc::not_ready);
  CHECK(contains(s.message(), "not initialised"));

  // Sized, capacity word still 0.
  {
    const int fd = ::shm_open(("/" + name).c_str(), O_RDWR, 0);
    CHECK(fd >= 0);
    CHECK(::ftruncate(fd, 16 + 64) == 0);
    ::close(fd);
  }
  CHECK_EQ(consumer::open(name).code(), errc::not_ready);

  // The producer finishes while a consumer waits.
  std::thread finisher([&] {
    raw_segment raw(name);
    raw.put(0, 0);
    raw.put(4, 0);
    __atomic_store_n(reinterpret_cast<std::uint32_t*>(raw.base + 8), 64u, __ATOMIC_RELEASE);
  });
  shm_ring::result<consumer> c = consumer::open(name, 30s);
  finisher.join();
  CHECK(c.ok());
  CHECK_EQ(c->capacity(), 64u);
}

TEST(segments_too_small_or_with_bad_capacity_are_refused) {
  const std::string name = unique_name("small_seg");
  cleanup guard(name);
  CHECK(make_object(name, 8));
  status s = consumer::open(name).error();
  CHECK_EQ(s.code(), errc::segment_too_small);
  CHECK_EQ(s.available(), 8u);
  CHECK(contains(s.message(), "8 bytes"));
  remove(name);

  CHECK(make_object(name, 16 + 64));
  {
    raw_segment raw(name);
    raw.put(8, 128);  // claims more than the object holds
  }
  s = consumer::open(name).error();
  CHECK_EQ(s.code(), errc::segment_too_small);
  CHECK_EQ(s.needed(), 144u);
  CHECK_EQ(s.available(), 80u);
  CHECK(contains(s.message(), "128"));
  CHECK(contains(s.message(), "80 bytes"));

  for (std::uint32_t bad : {100u, 4u, 1u, 0x80000001u, 0xFFFFFFFFu}) {
    {
      raw_segment raw(name);
      raw.put(8, bad);
    }
    s = consumer::open(name).error();
    CHECK_EQ(s.code(), errc::invalid_capacity);
    CHECK_EQ(s.value(), bad);
  }
  {
    raw_segment raw(name);
    raw.put(8, 64);
  }
  CHECK(consumer::open(name).ok());
}

// Bytes of this process's address space mapped from the shared-memory object `name`, from
// /proc/self/maps (Linux); -1 where that cannot be read.
long long mapped_bytes(const std::string& name) {
  std::FILE* f = std::fopen("/proc/self/maps", "r");
  if (f == nullptr) return -1;
  const std::string path = "/dev/shm/" + name;
  long long total = 0;
  char line[1024];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned long long from = 0, to = 0;
    const char* where = std::strstr(line, path.c_str());
    if (where == nullptr) continue;
    const char after = where[path.size()];
    if (after != '\n' && after != ' ' && after != '\0') continue;  // another name it begins
    if (std::sscanf(line, "%llx-%llx", &from, &to) == 2) total += static_cast<long long>(to - from);
  }
  std::fclose(f);
  return total;
}

TEST(open_maps_only_the_ring_the_header_describes) {
  // A sparse object of 1 GiB (ftruncate allocates nothing) whose header says capacity 64: the
  // consumer maps and faults in the ring (and the extension block, if marked), not the object.
  const std::string name = unique_name("sparse");
  cleanup guard(name);
  const long page = ::sysconf(_SC_PAGESIZE);
  for (const std::uint32_t reserved : {0u, marker}) {
    remove(name);
    CHECK(make_object(name, off_t{1} << 30));
    {
      raw_segment raw(name);  // maps it all, touches only the header
      CHECK(raw.base != nullptr);
      raw.put(12, reserved);
      raw.publish(8, 64);
    }
    const blkcnt_t blocks_before = stat_segment(name).st.st_blocks;
    CHECK_EQ(mapped_bytes(name), 0);
    shm_ring::result<consumer> c = consumer::open(name);
    CHECK(c.ok());
    CHECK_EQ(c->capacity(), 64u);
    // A few pages at most (st_blocks counts 512-byte units).
    CHECK(stat_segment(name).st.st_blocks - blocks_before <= 8 * page / 512);
    // One page holds the header, the data area and the block.
    CHECK_EQ(mapped_bytes(name), static_cast<long long>(page));
    {
      raw_segment raw(name);
      push_by_hand(raw, 0, pattern(5, 40));
      CHECK_EQ(raw.flags(consumer_flags(64)), reserved == marker ? own_flags() : 0);
    }
    std::vector<std::uint8_t> out;
    CHECK(into(c->try_read(), out).ok());
    CHECK(out == pattern(5, 40));
    CHECK(stat_segment(name).st.st_blocks - blocks_before <= 8 * page / 512);
  }
}

TEST(mode_is_0600_by_default_whatever_the_umask) {
  const std::string name = unique_name("mode");
  cleanup guard(name);
  const mode_t old_umask = ::umask(0);
  {
    producer p = make_producer(name, 64);
    CHECK_EQ(stat_segment(name).st.st_mode & 0777, mode_t{0600});
  }
  ::umask(0077);
  producer_options o;
  o.mode = 0644;
  {
    shm_ring::result<producer> p = producer::create(name, 64, o);
    CHECK(p.ok());
    CHECK_EQ(stat_segment(name).st.st_mode & 0777, mode_t{0644});
  }
  ::umask(old_umask);
}

TEST(exclusive_create_refuses_an_existing_name) {
  const std::string name = unique_name("excl");
  cleanup guard(name);
  producer first = make_producer(name, 64);
  const ino_t ino = stat_segment(name).st.st_ino;
  producer_options o;
  o.exclusive = true;
  o.unlink_on_close = true;
  shm_ring::result<producer> second = producer::create(name, 64, o);
  CHECK_EQ(second.code(), errc::already_exists);
  CHECK(contains(second.error().message(), "exists"));
  CHECK_EQ(stat_segment(name).st.st_ino, ino);  // untouched
  CHECK(first.try_write("a", 1).ok());

  remove(name);
  shm_ring::result<producer> third = producer::create(name, 64, o);
  CHECK(third.ok());
}

TEST(non_exclusive_create_replaces_a_stale_segment) {
  // Its producer has closed it (a producer whose process died is tested further down).
  const std::string name = unique_name("replace");
  cleanup guard(name);
  consumer old_consumer;
  ino_t old_ino = 0;
  {
    producer old_producer = make_producer(name, 64);
    old_consumer = open_consumer(name);
    CHECK(old_producer.try_write("old", 3).ok());
    old_ino = stat_segment(name).st.st_ino;
  }
  producer fresh = make_producer(name, 64);
  CHECK(stat_segment(name).st.st_ino != old_ino);
  // Nobody tells the old consumer: it keeps reading the old object (its lock is there too, so
  // a new consumer may open the new one).
  CHECK(fresh.try_write("new!", 4).ok());
  std::vector<std::uint8_t> out;
  CHECK(into(old_consumer.try_read(), out).ok());
  CHECK_EQ(out.size(), std::size_t{3});
  consumer new_consumer = open_consumer(name);
  CHECK(into(new_consumer.try_read(), out).ok());
  CHECK_EQ(out.size(), std::size_t{4});

  // A segment nobody holds a lock on (the original library's, or a half-made one) is replaced.
  fresh = producer();
  new_consumer = consumer();
  remove(name);
  CHECK(make_object(name, 0));
  old_ino = stat_segment(name).st.st_ino;
  fresh = make_producer(name, 64);
  CHECK(stat_segment(name).st.st_ino != old_ino);
}

TEST(consumer_never_unlinks_and_producer_only_when_asked) {
  const std::string name = unique_name("unlink");
  cleanup guard(name);
  {
    producer p = make_producer(name, 64);
    { consumer c = open_consumer(name); }
    { shm_ring::result<consumer> c = consumer::open(name, 1s); CHECK(c.ok()); }
    CHECK(exists(name));
  }
  CHECK(exists(name));  // no unlink_on_close: the producer leaves it too

  producer_options o;
  o.unlink_on_close = true;
  {
    shm_ring::result<producer> p = producer::create(name, 64, o);
    CHECK(p.ok());
    consumer c = open_consumer(name);
    CHECK(exists(name));
  }
  CHECK(!exists(name));

  // A name re-created by someone else is left alone.
  {
    shm_ring::result<producer> p = producer::create(name, 64, o);
    CHECK(p.ok());
    remove(name);
    CHECK(make_object(name, 100));
  }
  CHECK(exists(name));
  remove(name);

  // Explicit unlink: the name goes, the ring keeps working for those attached.
  shm_ring::result<producer> p = producer::create(name, 64);
  CHECK(p.ok());
  consumer c = open_consumer(name);
  CHECK(p->unlink().ok());
  CHECK(!exists(name));
  CHECK(p->try_write("still", 5).ok());
  std::vector<std::uint8_t> out;
  CHECK(into(c.try_read(), out).ok());
  CHECK_EQ(out.size(), std::size_t{5});
}

TEST(in_memory_rings_work_without_a_name) {
  // Memory full of junk: the producer writes every header word (read here as host-endian
  // words, which match the little-endian wire format on the hosts these tests run on) and the
  // whole extension block. 200 bytes: capacity 64 (data 16..80) and the block at 128..192; 128
  // would not fit its block.
  std::vector<std::uint32_t> memory(200 / 4, 0xFFFFFFFFu);
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(memory.data());
  shm_ring::result<producer> p = producer::create_in_memory(memory.data(), memory.size() * 4, 7);
  CHECK(p.ok());
  CHECK_EQ(memory[0], 7u);   // head
  CHECK_EQ(memory[1], 7u);   // tail
  CHECK_EQ(memory[2], 64u);  // capacity
  CHECK_EQ(memory[3], marker);
  // No lock without an object, so the producer's flags are at most BARRIER.
  const unsigned char own = membarrier_available() ? barrier : 0;
  CHECK_EQ(bytes[producer_flags(64)], own);
  for (std::size_t i = 1; i < block_size; ++i) CHECK_EQ(bytes[block_at(64) + i], 0);
  CHECK_EQ(memory[192 / 4], 0xFFFFFFFFu);  // past the block: untouched
  CHECK_EQ(p->capacity(), 64u);
  CHECK(p->name().empty());
  shm_ring::result<consumer> c = consumer::open_in_memory(memory.data(), memory.size() * 4);
  CHECK(c.ok());
  CHECK_EQ(bytes[consumer_flags(64)], own);
  CHECK_EQ(p->peer_state(), peer_state::unknown);
  CHECK_EQ(c->peer_state(), peer_state::unknown);
  CHECK(p->try_write("hi", 2).ok());
  std::vector<std::uint8_t> out;
  CHECK(into(c->try_read(), out).ok());
  CHECK_EQ(out.size(), std::size_t{2});
  CHECK_EQ(memory[0], 13u);  // head = 7 + 6

  // The capacity is the largest whose data area and block fit.
  struct fit {
    std::size_t size;
    std::uint32_t capacity;
  };
  std::vector<std::uint32_t> big(4224 / 4);
  for (const fit f : {fit{128, 32}, fit{191, 32}, fit{192, 64}, fit{255, 64}, fit{256, 128},
                      fit{4223, 2048}, fit{4224, 4096}}) {
    shm_ring::result<producer> q = producer::create_in_memory(big.data(), f.size);
    CHECK(q.ok());
    CHECK_EQ(q->capacity(), f.capacity);
    CHECK(block_at(f.capacity) + block_size <= f.size);
    CHECK(block_at(f.capacity * 2) + block_size > f.size);
  }
  CHECK_EQ(producer::create_in_memory(big.data(), shm_ring::segment_size(8))->capacity(), 32u);
  CHECK_EQ(producer::create_in_memory(big.data(), shm_ring::segment_size(100))->capacity(), 128u);
  const status s = producer::create_in_memory(memory.data(), 127).error();
  CHECK_EQ(s.code(), errc::segment_too_small);
  CHECK_EQ(s.needed(), 128u);
  CHECK_EQ(s.available(), 127u);
  CHECK(contains(s.message(), "the memory is 127 bytes; a ring needs at least 128"));
  CHECK_EQ(consumer::open_in_memory(memory.data(), 8).code(), errc::segment_too_small);
}

// ---------------------------------------------------------------------------------------------
// Error model and value semantics
// ---------------------------------------------------------------------------------------------

TEST(error_codes_are_distinguishable_std_error_codes) {
  CHECK_EQ(std::string(shm_ring::category().name()), std::string("shm_ring"));
  std::vector<std::string> messages;
  for (int v = static_cast<int>(errc::full); v <= static_cast<int>(errc::peer_gone); ++v) {
    const std::error_code ec = static_cast<errc>(v);  // is_error_code_enum
    CHECK(static_cast<bool>(ec));
    CHECK(ec == static_cast<errc>(v));
    CHECK(!ec.message().empty());
    for (const std::string& m : messages) CHECK(m != ec.message());
    messages.push_back(ec.message());
  }
  CHECK(!status().error_code());
  CHECK(status().ok());
  CHECK(status().message().empty());
  CHECK(status(errc::full).error_code() == errc::full);
  const std::string name = unique_name("sys");
  shm_ring::result<consumer> c = consumer::open(name);
  CHECK_EQ(c.error().sys_errno(), ENOENT);
  CHECK_EQ(std::string(c.error().operation()), std::string("shm_open"));
}

TEST(producer_and_consumer_move) {
  const std::string name = unique_name("move");
  cleanup guard(name);
  producer_options o;
  o.unlink_on_close = true;
  shm_ring::result<producer> r = producer::create(name, 64, o);
  CHECK(r.ok());
  producer p = std::move(r.value());
  CHECK(!r->valid());
  CHECK(p.valid());
  consumer c = open_consumer(name);
  consumer c2;
  CHECK(!c2.valid());
  c2 = std::move(c);
  CHECK(!c.valid());
  CHECK(p.try_write("m", 1).ok());
  std::vector<std::uint8_t> out;
  CHECK(into(c2.try_read(), out).ok());
  {
    producer sink;
    sink = std::move(p);  // the moved-to producer owns the unlink now
    CHECK(exists(name));
  }
  CHECK(!exists(name));
}

TEST(reads_time_out_on_an_empty_ring) {
  const std::string name = unique_name("rto");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  consumer c = open_consumer(name);
  std::vector<std::uint8_t> out;
  std::uint8_t buf[8];
  const auto t0 = std::chrono::steady_clock::now();
  const status s = into(c.read(30ms), out);
  CHECK(std::chrono::steady_clock::now() - t0 >= 30ms);
  CHECK_EQ(s.code(), errc::timeout);
  CHECK_EQ(s.last(), errc::empty);
  CHECK(contains(s.message(), "timed out after 30 ms (last: the ring is empty)"));
  CHECK_EQ(into(c.read(0ms), buf, sizeof buf).code(), errc::timeout);
  CHECK_EQ(look(c.read(1ms), [](byte_view, byte_view) {}).code(), errc::timeout);
  CHECK_EQ(into(c.try_read(), out).code(), errc::empty);
  CHECK_EQ(into(c.try_read(), buf, sizeof buf).code(), errc::empty);
}

// ---------------------------------------------------------------------------------------------
// Sleeping and waking, liveness, live segments (64-bit Linux: futex, membarrier, OFD locks)
// ---------------------------------------------------------------------------------------------

#if SHM_RING_KERNEL_WAIT

namespace {

// A child process made with fork() (while this process runs no other thread). body(from_parent,
// to_parent) runs in the child, which then ends with _exit and never returns into the test
// runner. A child still running when this object goes is killed and reaped.
class child_process {
 public:
  template <class Body>
  explicit child_process(Body body) {
    int down[2];
    int up[2];
    if (::pipe(down) != 0) return;
    if (::pipe(up) != 0) {
      ::close(down[0]);
      ::close(down[1]);
      return;
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(down[1]);
      ::close(up[0]);
      ::_exit(body(down[0], up[1]));
    }
    ::close(down[0]);
    ::close(up[1]);
    to_child_ = down[1];
    from_child_ = up[0];
  }
  ~child_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      reap();
    }
    if (to_child_ >= 0) ::close(to_child_);
    if (from_child_ >= 0) ::close(from_child_);
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  // Waits for the child's "ready" byte; false if it ended (or never started) instead.
  bool ready() {
    if (pid_ <= 0) return false;
    char c = 0;
    ssize_t n;
    do {
      n = ::read(from_child_, &c, 1);
    } while (n < 0 && errno == EINTR);
    return n == 1 && c == 'r';
  }
  // Kills the child with SIGKILL and reaps it.
  bool kill() {
    if (pid_ <= 0) return false;
    ::kill(pid_, SIGKILL);
    return reap() == SIGKILL;
  }
  // Waits for the child to end; the signal that ended it, or 0 if it exited (-1: no child).
  int reap() {
    if (pid_ <= 0) return -1;
    int st = 0;
    pid_t r;
    do {
      r = ::waitpid(pid_, &st, 0);
    } while (r < 0 && errno == EINTR);
    pid_ = -1;
    if (r < 0) return -1;
    return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
  }

 private:
  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
};

// In a child: tells the parent it is ready.
void tell_parent(int to_parent) {
  const char c = 'r';
  if (::write(to_parent, &c, 1) != 1) ::_exit(3);
}

// In a child: blocks until the parent writes to it or goes.
void wait_for_parent(int from_parent) {
  char c = 0;
  while (::read(from_parent, &c, 1) < 0 && errno == EINTR) {
  }
}

// In a child: ends it by SIGKILL, like a crash (no destructor runs, nothing is unlocked by hand).
int die() {
  ::kill(::getpid(), SIGKILL);
  return 4;
}

// Whether the thread is in the futex system call (FUTEX_WAIT, for the threads of these tests),
// from /proc.
bool in_futex(long tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%ld/syscall", tid);
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return false;
  long number = -1;
  const bool read = std::fscanf(f, "%ld", &number) == 1;
  std::fclose(f);
  return read && number == SYS_futex;
}

// How many times the thread has given up the CPU of its own accord (each sleep in FUTEX_WAIT is
// one), from /proc; -1 once the thread is gone.
long voluntary_switches(long tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%ld/status", tid);
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return -1;
  long count = -1;
  char line[256];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "voluntary_ctxt_switches: %ld", &count) == 1) break;
  }
  std::fclose(f);
  return count;
}

// Waits until the thread, asleep in FUTEX_WAIT now, has come out of its sleep and gone back to
// sleep `times` times while nothing happened: its sleeps end by themselves. False if it ended
// instead, or after a minute (a hang guard only).
bool wait_until_it_sleeps_again(const std::atomic<long>& tid, long times) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  const long first = voluntary_switches(tid.load());
  if (first < 0) return false;
  for (;;) {
    const long now = voluntary_switches(tid.load());
    if (now < 0 || std::chrono::steady_clock::now() > give_up) return false;
    if (now - first >= times && in_futex(tid.load())) return true;
    ::sched_yield();
  }
}

// Waits until the thread sleeps in FUTEX_WAIT; false after a minute (a hang guard only).
bool wait_until_in_futex(const std::atomic<long>& tid) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (tid.load() == 0 || !in_futex(tid.load())) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    ::sched_yield();
  }
  return true;
}

// A ring made by hand the way the original library's producer makes it: an object of exactly
// 16 + capacity bytes (plus `extra`, filled with `fill`), reserved word 0, no lock taken, and
// nobody ever woken.
bool make_foreign_ring(const std::string& name, std::uint32_t capacity, std::size_t extra = 0,
                       unsigned char fill = 0, std::uint32_t reserved = 0) {
  if (!make_object(name, static_cast<off_t>(16 + capacity + extra))) return false;
  raw_segment raw(name);
  if (raw.base == nullptr) return false;
  std::memset(raw.base + 16 + capacity, fill, extra);
  raw.put(12, reserved);
  raw.publish(8, capacity);
  return true;
}

// Whether every byte of [from, to) of the mapping is `fill`.
bool untouched(const unsigned char* base, std::size_t from, std::size_t to, unsigned char fill) {
  for (std::size_t i = from; i < to; ++i) {
    if (base[i] != fill) return false;
  }
  return true;
}


// Makes the consumer of a ring played by hand sleep in a blocking read (an event seen in /proc,
// not a time), then publishes `msg` at `head`: whether the read returned it and counted a sleep.
bool read_after_a_sleep(consumer& c, raw_segment& raw, std::uint32_t head,
                        const std::vector<std::uint8_t>& msg) {
  const std::uint64_t sleeps_before = c.wait_stats().sleeps;
  std::atomic<long> tid{0};
  std::vector<std::uint8_t> got;
  status s;
  std::thread reader([&] {
    tid = ::syscall(SYS_gettid);
    s = into(c.read(30s), got);
  });
  const bool slept = wait_until_in_futex(tid);
  push_by_hand(raw, head, msg);
  reader.join();
  return slept && s.ok() && got == msg && c.wait_stats().sleeps > sleeps_before;
}

}  // namespace

TEST(flag_bytes_follow_the_wire_contract) {
  const std::string name = unique_name("flags");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  raw_segment raw(name);
  CHECK_EQ(raw.size, block_at(64) + block_size);
  CHECK((own_flags() & locked) != 0);
  CHECK_EQ(raw.get(12), marker);
  CHECK_EQ(raw.flags(producer_flags(64)), own_flags());
  CHECK_EQ(raw.flags(consumer_flags(64)), 0);
  {
    consumer c = open_consumer(name);
    CHECK_EQ(raw.flags(consumer_flags(64)), own_flags());
  }
  // A consumer that goes leaves LOCKED set: the free lock then says it is gone.
  CHECK_EQ(raw.flags(consumer_flags(64)), own_flags());
  // A later consumer rewrites the byte, whatever is in it.
  __atomic_store_n(raw.base + consumer_flags(64), static_cast<unsigned char>(0xF9),
                   __ATOMIC_RELEASE);
  consumer c = open_consumer(name);
  CHECK_EQ(raw.flags(consumer_flags(64)), own_flags());
  // Traffic (wrapping several times) with nobody asleep changes neither byte; the rest of the
  // block stays 0, and so does everything between the data area and the block.
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < 20; ++i) {
    CHECK(p.write(pattern(i, 20).data(), 20, 30s).ok());
    CHECK(into(c.read(30s), out).ok());
    CHECK(out == pattern(i, 20));
  }
  CHECK_EQ(raw.get(12), marker);
  CHECK_EQ(raw.flags(producer_flags(64)), own_flags());
  CHECK_EQ(raw.flags(consumer_flags(64)), own_flags());
  CHECK(untouched(raw.base, 16 + 64, block_at(64), 0));
  CHECK(untouched(raw.base, block_at(64) + 2, block_at(64) + block_size, 0));
}

// These two check that blocking calls go to sleep (SLEEPING set, nothing returned yet) and come
// back with the right result once the other side acts; that the publishing side wakes a sleeper
// with FUTEX_WAKE (rather than the sleeper's slice running out) is checked by the next test.
TEST(blocked_reads_sleep_until_a_message_is_written) {
  for (int how = 0; how < 4; ++how) {
    const std::string name = unique_name("wake_r");
    cleanup guard(name);
    producer p = make_producer(name, 64);
    consumer c = open_consumer(name);
    // No sleep may end by running out its slice: only the producer's wake-up ends it.
    c.set_peer_check_interval(std::chrono::hours(1));
    raw_segment raw(name);
    const std::vector<std::uint8_t> msg = pattern(static_cast<std::size_t>(how), 9);
    std::vector<std::uint8_t> got;
    std::atomic<bool> returned{false};
    status s;
    std::thread reader([&] {
      const auto keep = [&](byte_view a, byte_view b) { got = joined(a, b); };
      std::uint8_t buf[16];
      shm_ring::result<std::size_t> n(std::size_t{0});
      switch (how) {
        case 0: s = into(c.read(30s), got); break;
        case 1:
          n = into(c.read(30s), buf, sizeof buf);
          s = n.error();
          if (n) got.assign(buf, buf + *n);
          break;
        case 2: s = look(c.read(30s), keep); break;
        default: s = c.read_batch(4, keep, 30s).error(); break;
      }
      returned = true;
    });
    // Event, not time: the consumer's SLEEPING bit shows it went to sleep in the kernel.
    const bool slept = raw.wait_for(consumer_flags(64), sleeping);
    const bool early = returned.load();
    const status w = p.try_write(msg.data(), msg.size());
    reader.join();
    CHECK(slept);
    CHECK(!early);
    CHECK(w.ok());
    CHECK(s.ok());
    CHECK(got == msg);
    CHECK_EQ(raw.flags(consumer_flags(64)), own_flags());  // SLEEPING cleared again
    const shm_ring::wait_stats stats = c.wait_stats();
    CHECK(stats.sleeps >= 1);
    // With the barrier the wake-up cannot be missed; without it sleeps are 1 ms slices.
    if (membarrier_available()) CHECK_EQ(stats.full_slices, 0u);
  }
}

TEST(blocked_writes_sleep_until_the_consumer_reads) {
  for (int how = 0; how < 4; ++how) {
    const std::string name = unique_name("wake_w");
    cleanup guard(name);
    producer p = make_producer(name, 64);
    consumer c = open_consumer(name);
    p.set_peer_check_interval(std::chrono::hours(1));
    raw_segment raw(name);
    CHECK(p.try_write(pattern(0, 28).data(), 28).ok());  // two 32-byte records: full
    CHECK(p.try_write(pattern(1, 28).data(), 28).ok());
    const std::vector<std::uint8_t> msg = pattern(2, 28);
    std::atomic<bool> returned{false};
    status s;
    std::thread writer([&] {
      const byte_view one[] = {byte_view(msg.data(), msg.size())};
      switch (how) {
        case 0: s = p.write(msg.data(), msg.size(), 30s); break;
        case 1: s = p.write_batch(one, 1, 30s).error(); break;
        case 2: {
          shm_ring::result<shm_ring::write_grant> r = p.reserve(msg.size(), 30s);
          s = r.error();
          if (r) {
            std::memcpy(r->first().data, msg.data(), r->first().size);
            std::memcpy(r->second().data, msg.data() + r->first().size, r->second().size);
            r->commit();
          }
          break;
        }
        default: s = p.wait_until_empty(30s); break;
      }
      returned = true;
    });
    const bool slept = raw.wait_for(producer_flags(64), sleeping);
    const bool early = returned.load();
    std::vector<std::uint8_t> first, second;
    const status r1 = into(c.try_read(), first);
    // wait_until_empty needs the second message read too (it sleeps again in between).
    const status r2 = how == 3 ? into(c.read(30s), second) : status();
    writer.join();
    CHECK(slept);
    CHECK(!early);
    CHECK(r1.ok());
    CHECK(first == pattern(0, 28));
    CHECK(r2.ok());
    CHECK(s.ok());
    CHECK_EQ(raw.flags(producer_flags(64)), own_flags());  // SLEEPING cleared again
    const shm_ring::wait_stats stats = p.wait_stats();
    CHECK(stats.sleeps >= 1);
    if (membarrier_available()) CHECK_EQ(stats.full_slices, 0u);
    std::vector<std::uint8_t> out;
    if (how == 3) {
      CHECK(second == pattern(1, 28));
      CHECK(p.is_empty());
    } else {
      CHECK(into(c.try_read(), out).ok());
      CHECK(out == pattern(1, 28));
      CHECK(into(c.try_read(), out).ok());
      CHECK(out == msg);
    }
  }
}

TEST(publishing_calls_futex_wake_only_when_the_other_side_sleeps) {
  // A sleeper played by hand: the side's SLEEPING bit as the test sets it, and a thread in
  // FUTEX_WAIT on the other side's index word. Only FUTEX_WAKE makes FUTEX_WAIT return 0.
  const std::string name = unique_name("futex");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  consumer c = open_consumer(name);
  raw_segment raw(name);
  for (int consumer_sleeps = 1; consumer_sleeps >= 0; --consumer_sleeps) {
    for (int flagged = 1; flagged >= 0; --flagged) {
      const std::size_t flags_at = consumer_sleeps ? consumer_flags(64) : producer_flags(64);
      std::uint32_t* watched = reinterpret_cast<std::uint32_t*>(raw.base + (consumer_sleeps ? 0 : 4));
      const unsigned char bits =
          static_cast<unsigned char>(own_flags() | (flagged ? sleeping : 0));
      __atomic_store_n(raw.base + flags_at, bits, __ATOMIC_SEQ_CST);
      if (!consumer_sleeps) CHECK(p.try_write("z", 1).ok());  // something to consume
      const std::uint32_t seen = __atomic_load_n(watched, __ATOMIC_ACQUIRE);
      std::atomic<long> tid{0};
      long rc = 0;
      int err = 0;
      std::thread sleeper([&] {
        tid = ::syscall(SYS_gettid);
        // Woken: at once. Not woken: it sleeps its whole 300 ms.
        timespec limit;
        limit.tv_sec = flagged ? 60 : 0;
        limit.tv_nsec = flagged ? 0 : 300000000;
        rc = ::syscall(SYS_futex, watched, 0, seen, &limit, nullptr, 0);
        err = errno;
      });
      const bool blocked = wait_until_in_futex(tid);
      std::vector<std::uint8_t> out;
      const status s = consumer_sleeps ? p.try_write("y", 1) : into(c.try_read(), out);
      sleeper.join();
      __atomic_store_n(raw.base + flags_at, own_flags(), __ATOMIC_SEQ_CST);
      CHECK(blocked);
      CHECK(s.ok());
      if (flagged) {
        CHECK_EQ(rc, 0L);
      } else {
        CHECK_EQ(rc, -1L);
        CHECK_EQ(err, ETIMEDOUT);
      }
      if (consumer_sleeps) CHECK(into(c.try_read(), out).ok());
    }
  }
}

TEST(no_wake_up_is_lost_over_many_round_trips) {
  // Every publish stores its index and then loads the other side's flag byte (single and batch
  // writes, a reservation's commit, single and batch reads); the sleeper's membarrier orders
  // the two at the CPU, the signal fence between them in the compiler. A wake-up lost there
  // leaves the sleeper in FUTEX_WAIT until its slice runs out: with peer-check intervals of an
  // hour, a sleep that ran out its slice (ended by the 10 s timeout of the call instead) can only
  // be a lost wake-up. Messages go there and back through two rings between two threads, every
  // kind of publish in turn; in every 8th round each side waits until the other is asleep
  // before it publishes, so that there are sleeps to wake whatever the timing, and in the other
  // rounds it pauses for a varying while first, racing the publish against the other side's
  // way to sleep.
  const std::string there = unique_name("trip_a");
  const std::string back = unique_name("trip_b");
  cleanup guard_a(there);
  cleanup guard_b(back);
  producer out = make_producer(there, 256);
  consumer echo_in = open_consumer(there);
  producer echo_out = make_producer(back, 256);
  consumer in = open_consumer(back);
  for (producer* p : {&out, &echo_out}) p->set_peer_check_interval(std::chrono::hours(1));
  for (consumer* c : {&echo_in, &in}) c->set_peer_check_interval(std::chrono::hours(1));
  raw_segment raw_there(there);
  raw_segment raw_back(back);
  constexpr std::size_t rounds = 2000;
  const auto keep = [](std::vector<std::uint8_t>& into) {
    return [&into](byte_view a, byte_view b) { into = joined(a, b); };
  };
  // Publishes `msg` the way round i says. False on an error.
  const auto send = [](producer& p, std::size_t i, const std::vector<std::uint8_t>& msg) {
    const byte_view one[] = {byte_view(msg.data(), msg.size())};
    switch (i % 3) {
      case 0: return p.write(msg.data(), msg.size(), 10s).ok();
      case 1: return p.write_batch(one, 1, 10s).ok();
      default: {
        shm_ring::result<shm_ring::write_grant> r = p.reserve(msg.size(), 10s);
        if (!r) return false;
        std::memcpy(r->first().data, msg.data(), r->first().size);
        std::memcpy(r->second().data, msg.data() + r->first().size, r->second().size);
        r->commit();
        return true;
      }
    }
  };
  // Reads the next message the way round i says. False on an error.
  const auto receive = [&keep](consumer& c, std::size_t i, std::vector<std::uint8_t>& got) {
    switch (i % 3) {
      case 0: return into(c.read(10s), got).ok();
      case 1: return look(c.read(10s), keep(got)).ok();
      default: return c.read_batch(1, keep(got), 10s).ok();
    }
  };
  // A pause of a different length in each round, from nothing to a little longer than the
  // other side spins before it sleeps: publishes land before, while and after it goes to sleep.
  const auto spin = [](std::size_t i) {
    for (std::size_t k = (i * 2654435761u) % 3000; k > 0; --k) shm_ring::detail::cpu_relax();
  };
  std::atomic<bool> echo_failed{false};
  std::thread echo([&] {
    std::vector<std::uint8_t> got;
    for (std::size_t i = 0; i < rounds; ++i) {
      if (!receive(echo_in, i, got)) break;
      if (i % 8 == 0 && !raw_back.wait_for(consumer_flags(256), sleeping)) break;
      if (i % 8 != 0) spin(i);
      if (!send(echo_out, i, got)) break;
      if (echo_in.wait_stats().full_slices != 0 || echo_out.wait_stats().full_slices != 0) break;
    }
    echo_failed = echo_in.wait_stats().full_slices != 0 || echo_out.wait_stats().full_slices != 0;
  });
  std::size_t done = 0;
  std::vector<std::uint8_t> got;
  for (; done < rounds; ++done) {
    const std::vector<std::uint8_t> msg = pattern(done, 1 + done % 100);
    if (done % 8 == 0 && !raw_there.wait_for(consumer_flags(256), sleeping)) break;
    if (done % 8 != 0) spin(done + 7);
    if (!send(out, done, msg) || !receive(in, done, got) || got != msg) break;
    if (in.wait_stats().full_slices != 0 || out.wait_stats().full_slices != 0) break;
  }
  echo.join();
  CHECK_EQ(done, rounds);
  const std::uint64_t sleeps = in.wait_stats().sleeps + out.wait_stats().sleeps +
                               echo_in.wait_stats().sleeps + echo_out.wait_stats().sleeps;
  CHECK(sleeps >= 2 * rounds / 8);
  if (membarrier_available()) {
    CHECK(!echo_failed.load());
    CHECK_EQ(in.wait_stats().full_slices, 0u);
    CHECK_EQ(out.wait_stats().full_slices, 0u);
  }
}

TEST(blocked_calls_poll_a_peer_that_never_wakes) {
  // Our consumer, and a producer of the original library played by hand: no extension block,
  // so the consumer has no flag byte to set and sleeps in slices of at most 1 ms, however long
  // its peer-check interval.
  const std::string name = unique_name("foreign_p");
  cleanup guard(name);
  CHECK(make_foreign_ring(name, 64));
  raw_segment raw(name);
  consumer c = open_consumer(name);
  c.set_peer_check_interval(std::chrono::hours(1));
  CHECK_EQ(c.peer_state(), peer_state::unknown);
  const std::vector<std::uint8_t> msg = pattern(4, 5);
  std::vector<std::uint8_t> got;
  status s;
  std::atomic<long> tid{0};
  std::thread reader([&] {
    tid = ::syscall(SYS_gettid);
    s = into(c.read(30s), got);
  });
  const bool slept = wait_until_in_futex(tid);
  // Its sleeps end by themselves, nobody having published anything: it polls. (With a slice
  // of an hour it would sleep until its read timed out.)
  const bool polls = slept && wait_until_it_sleeps_again(tid, 3);
  push_by_hand(raw, 0, msg);  // the record, then the head (which is all that producer does)
  reader.join();
  CHECK(slept);
  CHECK(polls);
  CHECK(s.ok());
  CHECK(got == msg);
  // Nobody woke it: the sleep it was in when the head moved ran out its (short) slice.
  CHECK(c.wait_stats().full_slices >= 3);

  // Our producer, and a consumer of the original library played by hand (its flag byte in the
  // block stays 0).
  const std::string name2 = unique_name("foreign_c");
  cleanup guard2(name2);
  producer p = make_producer(name2, 64);
  p.set_peer_check_interval(std::chrono::hours(1));
  raw_segment raw2(name2);
  CHECK_EQ(p.peer_state(), peer_state::unknown);
  CHECK(p.try_write(pattern(0, 28).data(), 28).ok());
  CHECK(p.try_write(pattern(1, 28).data(), 28).ok());
  std::thread writer([&] { s = p.write(msg.data(), 5, 30s); });
  const bool slept2 = raw2.wait_for(producer_flags(64), sleeping);
  raw2.publish(4, 32);  // the first record consumed
  writer.join();
  CHECK(slept2);
  CHECK(s.ok());
  CHECK_EQ(raw2.head(), 73u);
  CHECK_EQ(raw2.flags(consumer_flags(64)), 0);
}

TEST(a_ring_of_the_original_library_gets_nothing_written_past_its_data) {
  // Reserved word 0 and an object of exactly 16 + capacity bytes, as the original library's
  // producer makes it. The consumer reads, sleeps and wakes by polling, and writes nothing
  // outside the header's tail word and the data area... which for an object of this size
  // also shows in the bytes of its last page past the end, shared by every mapping of it.
  const std::string name = unique_name("orig");
  cleanup guard(name);
  CHECK(make_foreign_ring(name, 4096));
  raw_segment raw(name);
  CHECK_EQ(raw.size, std::size_t{16 + 4096});
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t mapped = (raw.size + page - 1) / page * page;
  {
    consumer c = open_consumer(name);
    c.set_peer_check_interval(std::chrono::hours(1));
    CHECK_EQ(c.peer_state(), peer_state::unknown);
    std::uint32_t head = 0;
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i < 10; ++i) {
      head = push_by_hand(raw, head, pattern(i, 100 + i));
      CHECK(into(c.try_read(), out).ok());
      CHECK(out == pattern(i, 100 + i));
    }
    std::atomic<long> tid{0};
    status s;
    std::thread reader([&] {
      tid = ::syscall(SYS_gettid);
      s = into(c.read(30s), out);
    });
    const bool slept = wait_until_in_futex(tid);
    push_by_hand(raw, head, pattern(10, 7));
    reader.join();
    CHECK(slept);
    CHECK(s.ok());
    CHECK(out == pattern(10, 7));
    CHECK(c.wait_stats().sleeps >= 1);
    CHECK_EQ(raw.get(12), 0u);
  }
  CHECK_EQ(stat_segment(name).st.st_size, off_t{16 + 4096});
  CHECK(untouched(raw.base, 16 + 4096, mapped, 0));

  // The same with room to spare after the data area (still no marker): nothing lands there.
  remove(name);
  CHECK(make_foreign_ring(name, 64, 256, 0xA5));
  {
    raw_segment big(name);
    consumer c = open_consumer(name);
    std::vector<std::uint8_t> out;
    const std::uint32_t head = push_by_hand(big, 0, pattern(1, 20));
    CHECK(into(c.read(30s), out).ok());
    CHECK(out == pattern(1, 20));
    CHECK(read_after_a_sleep(c, big, head, pattern(2, 9)));  // sleeps, in slices
    CHECK(untouched(big.base, 16 + 64, 16 + 64 + 256, 0xA5));
  }

  // In caller-provided memory, exactly 16 + capacity bytes of a larger buffer.
  std::vector<std::uint32_t> memory((16 + 64 + 128) / 4, 0xA5A5A5A5u);
  unsigned char* bytes = reinterpret_cast<unsigned char*>(memory.data());
  memory[0] = memory[1] = memory[3] = 0;
  __atomic_store_n(&memory[2], 64u, __ATOMIC_RELEASE);
  for (const std::size_t size : {std::size_t{16 + 64}, memory.size() * 4}) {
    shm_ring::result<consumer> c = consumer::open_in_memory(memory.data(), size);
    CHECK(c.ok());
    std::vector<std::uint8_t> out;
    CHECK_EQ(into(c->read(5ms), out).code(), errc::timeout);
    CHECK(untouched(bytes, 16 + 64, memory.size() * 4, 0xA5));
  }
}

TEST(a_marked_ring_too_small_for_its_block_gets_no_flags) {
  // The marker in the reserved word, but an object one byte short of the block (capacity 64:
  // the block would be 128..192): the consumer does not use it, and writes nothing past the
  // data area.
  const std::string name = unique_name("short");
  cleanup guard(name);
  CHECK(make_foreign_ring(name, 64, block_at(64) + block_size - 1 - (16 + 64), 0xA5, marker));
  raw_segment raw(name);
  CHECK_EQ(raw.size, block_at(64) + block_size - 1);
  {
    consumer c = open_consumer(name);
    CHECK_EQ(c.peer_state(), peer_state::unknown);
    std::vector<std::uint8_t> out;
    const std::uint32_t head = push_by_hand(raw, 0, pattern(2, 30));
    CHECK(into(c.read(30s), out).ok());
    CHECK(out == pattern(2, 30));
    CHECK(read_after_a_sleep(c, raw, head, pattern(3, 9)));
  }
  CHECK(untouched(raw.base, 16 + 64, raw.size, 0xA5));

  // The same in caller-provided memory.
  std::vector<std::uint32_t> memory(192 / 4, 0xA5A5A5A5u);
  unsigned char* bytes = reinterpret_cast<unsigned char*>(memory.data());
  memory[0] = memory[1] = 0;
  memory[3] = marker;
  __atomic_store_n(&memory[2], 64u, __ATOMIC_RELEASE);
  shm_ring::result<consumer> c = consumer::open_in_memory(memory.data(), 191);
  CHECK(c.ok());
  std::vector<std::uint8_t> out;
  CHECK_EQ(into(c->read(5ms), out).code(), errc::timeout);
  CHECK(untouched(bytes, 16 + 64, 192, 0xA5));
  // One byte more and the block is used.
  c = consumer::open_in_memory(memory.data(), 192);
  CHECK(c.ok());
  CHECK_EQ(bytes[consumer_flags(64)], membarrier_available() ? barrier : 0);
}

TEST(sleeps_against_a_peer_of_ours_last_the_peer_check_interval) {
  const std::string name = unique_name("interval");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  consumer c = open_consumer(name);
  CHECK_EQ(c.wait_stats().sleeps, 0u);
  CHECK_EQ(p.wait_stats().sleeps, 0u);
  std::vector<std::uint8_t> out;
  // An interval of an hour: a sleep lasts until the timeout, so a read that times out has slept
  // at most once, and that sleep ran out. (Not at all if, on a busy machine, spinning and
  // yielding used up the whole timeout.)
  c.set_peer_check_interval(std::chrono::hours(1));
  CHECK_EQ(into(c.read(200ms), out).code(), errc::timeout);
  CHECK(c.wait_stats().sleeps <= 1u);
  CHECK_EQ(c.wait_stats().full_slices, c.wait_stats().sleeps);
  // An interval of 5 ms: while nothing is published, the sleeps end by themselves (and the
  // producer's liveness is checked before each next one).
  c.set_peer_check_interval(5ms);
  const shm_ring::wait_stats before = c.wait_stats();
  std::atomic<long> tid{0};
  status s;
  std::thread reader([&] {
    tid = ::syscall(SYS_gettid);
    s = into(c.read(30s), out);
  });
  const bool slept = wait_until_in_futex(tid);
  const bool again = slept && wait_until_it_sleeps_again(tid, 4);
  const status w = p.try_write("x", 1);
  reader.join();
  CHECK(slept);
  CHECK(again);
  CHECK(w.ok());
  CHECK(s.ok());
  const shm_ring::wait_stats after = c.wait_stats();
  CHECK(after.sleeps - before.sleeps >= 2u);
  CHECK(after.full_slices - before.full_slices >= 1u);
  // Moving keeps the counters.
  consumer moved = std::move(c);
  CHECK_EQ(moved.wait_stats().sleeps, after.sleeps);
  CHECK_EQ(c.wait_stats().sleeps, 0u);
}

TEST(is_peer_alive_reports_unknown_alive_and_gone) {
  const std::string name = unique_name("alive");
  cleanup guard(name);
  {
    producer p = make_producer(name, 64);
    CHECK_EQ(p.peer_state(), peer_state::unknown);  // no consumer of ours yet
    {
      consumer c = open_consumer(name);
      CHECK_EQ(p.peer_state(), peer_state::alive);
      CHECK_EQ(c.peer_state(), peer_state::alive);
    }
    CHECK_EQ(p.peer_state(), peer_state::gone);
    consumer c = open_consumer(name);
    CHECK_EQ(p.peer_state(), peer_state::alive);
  }
  CHECK_EQ(producer().peer_state(), peer_state::unknown);
  CHECK_EQ(consumer().peer_state(), peer_state::unknown);

  // A producer in another process, killed.
  child_process child([&](int from_parent, int to_parent) {
    shm_ring::result<producer> p = producer::create(name, 64);
    if (!p) return 2;
    tell_parent(to_parent);
    wait_for_parent(from_parent);
    return 0;
  });
  CHECK(child.ready());
  consumer c = open_consumer(name);
  CHECK_EQ(c.peer_state(), peer_state::alive);
  CHECK(child.kill());
  CHECK_EQ(c.peer_state(), peer_state::gone);

  // A consumer in another process, killed.
  producer p = make_producer(name, 64);
  child_process child2([&](int from_parent, int to_parent) {
    shm_ring::result<consumer> c2 = consumer::open(name);
    if (!c2) return 2;
    tell_parent(to_parent);
    wait_for_parent(from_parent);
    return 0;
  });
  CHECK(child2.ready());
  CHECK_EQ(p.peer_state(), peer_state::alive);
  CHECK(child2.kill());
  CHECK_EQ(p.peer_state(), peer_state::gone);
}

TEST(read_drains_what_a_killed_producer_published_then_fails) {
  const std::string name = unique_name("drain");
  cleanup guard(name);
  child_process child([&](int from_parent, int to_parent) {
    shm_ring::result<producer> p = producer::create(name, 1024);
    if (!p) return 2;
    for (std::size_t i = 0; i < 3; ++i) {
      if (!p->try_write(pattern(i, 10 + i).data(), 10 + i)) return 2;
    }
    tell_parent(to_parent);
    wait_for_parent(from_parent);
    return 0;
  });
  CHECK(child.ready());
  consumer c = open_consumer(name);
  CHECK(child.kill());
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(into(c.read(30s), out).ok());
    CHECK(out == pattern(i, 10 + i));
  }
  status s = into(c.read(30s), out);
  CHECK_EQ(s.code(), errc::peer_gone);
  CHECK_EQ(s.message(), std::string("the producer is gone"));
  std::uint8_t buf[16];
  CHECK_EQ(into(c.read(30s), buf, sizeof buf).code(), errc::peer_gone);
  CHECK_EQ(look(c.read(30s), [](byte_view, byte_view) {}).code(), errc::peer_gone);
  CHECK_EQ(c.read_batch(5, [](byte_view, byte_view) {}, 30s).code(), errc::peer_gone);
  CHECK_EQ(into(c.try_read(), out).code(), errc::empty);  // non-blocking calls are unchanged
}

TEST(blocked_read_fails_when_the_producer_is_killed) {
  const std::string name = unique_name("kill_p");
  cleanup guard(name);
  child_process child([&](int, int to_parent) {
    shm_ring::result<producer> p = producer::create(name, 1024);
    if (!p || !p->try_write("one", 3)) return 2;
    raw_segment raw(name);
    tell_parent(to_parent);
    // Dies once the consumer sleeps, waiting for a second message.
    return raw.wait_for(consumer_flags(1024), sleeping) ? die() : 3;
  });
  CHECK(child.ready());
  consumer c = open_consumer(name);
  std::vector<std::uint8_t> out;
  CHECK(into(c.read(30s), out).ok());
  CHECK_EQ(out.size(), std::size_t{3});
  const status s = into(c.read(30s), out);
  CHECK_EQ(s.code(), errc::peer_gone);
  CHECK_EQ(child.reap(), SIGKILL);
}

TEST(blocked_write_fails_when_the_consumer_is_killed_and_nothing_is_lost) {
  const std::string name = unique_name("kill_c");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  raw_segment raw(name);
  CHECK(p.try_write(pattern(0, 10).data(), 10).ok());
  child_process child([&](int, int to_parent) {
    shm_ring::result<consumer> c = consumer::open(name);
    std::vector<std::uint8_t> out;
    if (!c || !into(c->try_read(), out) || out != pattern(0, 10)) return 2;
    tell_parent(to_parent);
    // Dies once the producer sleeps on the full ring.
    return raw.wait_for(producer_flags(64), sleeping) ? die() : 3;
  });
  CHECK(child.ready());
  std::size_t next = 1;  // 14-byte records: four fit in 64 bytes
  while (p.try_write(pattern(next, 10).data(), 10).ok()) ++next;
  CHECK_EQ(next, std::size_t{5});
  const std::uint32_t head = raw.head();
  const std::vector<std::uint8_t> last = pattern(next, 10);
  const status s = p.write(last.data(), 10, 30s);
  CHECK_EQ(s.code(), errc::peer_gone);
  CHECK_EQ(s.message(), std::string("the consumer is gone"));
  CHECK_EQ(child.reap(), SIGKILL);
  CHECK_EQ(raw.head(), head);  // nothing written
  CHECK_EQ(p.peer_state(), peer_state::gone);
  const byte_view one[] = {byte_view(last.data(), 10)};
  CHECK_EQ(p.write_batch(one, 1, 30s).code(), errc::peer_gone);
  CHECK_EQ(p.reserve(10, 30s).code(), errc::peer_gone);
  CHECK_EQ(p.wait_until_empty(30s).code(), errc::peer_gone);
  CHECK_EQ(p.try_write(one[0].data, 10).code(), errc::full);  // non-blocking: unchanged

  // A new consumer takes over where the dead one stopped: every message, in order, once.
  consumer c = open_consumer(name);
  CHECK_EQ(p.peer_state(), peer_state::alive);
  std::vector<std::uint8_t> out;
  for (std::size_t i = 1; i < next; ++i) {
    CHECK(into(c.read(30s), out).ok());
    CHECK(out == pattern(i, 10));
  }
  CHECK_EQ(into(c.try_read(), out).code(), errc::empty);
  CHECK(p.write(last.data(), 10, 30s).ok());
  CHECK(into(c.read(30s), out).ok());
  CHECK(out == last);
  CHECK(p.wait_until_empty(30s).ok());
}

TEST(create_refuses_the_name_of_a_live_producer) {
  const std::string name = unique_name("live_p");
  cleanup guard(name);
  // In this process too: the lock belongs to the open file description.
  {
    producer first = make_producer(name, 64);
    CHECK(first.try_write("keep", 4).ok());
    const ino_t ino = stat_segment(name).st.st_ino;
    for (const std::string& how : {name, "/" + name}) {
      const shm_ring::result<producer> second = producer::create(how, 128);
      CHECK_EQ(second.code(), errc::in_use);
      CHECK_EQ(std::string(second.error().segment()), name);
      CHECK(contains(second.error().message(), "segment \"" + name + "\" is in use"));
      CHECK(contains(second.error().message(), "producer is alive"));
    }
    CHECK_EQ(stat_segment(name).st.st_ino, ino);
    CHECK_EQ(stat_segment(name).st.st_size, off_t{192});
    consumer c = open_consumer(name);
    std::vector<std::uint8_t> out;
    CHECK(into(c.try_read(), out).ok());
    CHECK(out == std::vector<std::uint8_t>({'k', 'e', 'e', 'p'}));
  }
  // A producer in another process: refused while it lives, replaced once it is killed.
  child_process child([&](int from_parent, int to_parent) {
    shm_ring::result<producer> p = producer::create(name, 64);
    if (!p || !p->try_write("kept", 4)) return 2;
    tell_parent(to_parent);
    wait_for_parent(from_parent);
    return 0;
  });
  CHECK(child.ready());
  const ino_t ino = stat_segment(name).st.st_ino;
  CHECK_EQ(producer::create(name, 64).code(), errc::in_use);
  CHECK_EQ(stat_segment(name).st.st_ino, ino);
  {
    raw_segment raw(name);
    CHECK_EQ(raw.head(), 8u);
    CHECK_EQ(raw.get(16), 4u);
    CHECK(std::memcmp(raw.data() + 4, "kept", 4) == 0);
  }
  CHECK(child.kill());
  shm_ring::result<producer> replaced = producer::create(name, 64);
  CHECK(replaced.ok());
  CHECK(stat_segment(name).st.st_ino != ino);
}

TEST(a_killed_producer_is_taken_over_without_loss) {
  const std::string name = unique_name("takeover");
  cleanup guard(name);
  // Dies mid-stream: ten messages published, the eleventh half-written into a grant.
  child_process child([&](int from_parent, int to_parent) {
    shm_ring::result<producer> p = producer::create(name, 4096);
    if (!p) return 2;
    for (std::size_t i = 0; i < 10; ++i) {
      if (!p->try_write(pattern(i, 10 + i).data(), 10 + i)) return 2;
    }
    shm_ring::result<shm_ring::write_grant> g = p->try_reserve(20);
    if (!g) return 2;
    std::memcpy(g->first().data, pattern(10, 20).data(), 10);
    tell_parent(to_parent);
    wait_for_parent(from_parent);
    return 0;
  });
  CHECK(child.ready());
  consumer c = open_consumer(name);
  std::vector<std::uint8_t> out;
  CHECK(into(c.read(30s), out).ok());
  CHECK(out == pattern(0, 10));
  const shm_ring::result<producer> refused = producer::open(name);
  CHECK_EQ(refused.code(), errc::in_use);
  CHECK(contains(refused.error().message(), "producer is alive"));
  CHECK(child.kill());
  CHECK_EQ(c.peer_state(), peer_state::gone);
  {
    shm_ring::result<producer> successor = producer::open("/" + name);
    CHECK(successor.ok());
    CHECK_EQ(successor->name(), name);
    CHECK_EQ(successor->capacity(), 4096u);
    CHECK_EQ(c.peer_state(), peer_state::alive);
    CHECK_EQ(successor->peer_state(), peer_state::alive);
    raw_segment raw(name);
    CHECK_EQ(raw.flags(producer_flags(4096)), own_flags());
    for (std::size_t i = 10; i < 20; ++i) {
      CHECK(successor->write(pattern(i, 10 + i).data(), 10 + i, 30s).ok());
    }
    for (std::size_t i = 1; i < 20; ++i) {
      CHECK(into(c.read(30s), out).ok());
      CHECK(out == pattern(i, 10 + i));
    }
    CHECK_EQ(into(c.try_read(), out).code(), errc::empty);
  }
  CHECK(exists(name));  // a producer that took over never unlinks on its own
  CHECK_EQ(c.peer_state(), peer_state::gone);
}

TEST(a_ring_of_the_original_layout_is_written_on_by_a_producer_of_ours) {
  // Made by another program, without the extension block, holding one unread message.
  const std::string name = unique_name("takeorig");
  cleanup guard(name);
  CHECK(make_foreign_ring(name, 64));
  raw_segment raw(name);
  const std::uint32_t start = 1000;  // data-area offset 40: the record below does not wrap
  raw.put(16 + start % 64, 4);
  std::memcpy(raw.data() + start % 64 + 4, "left", 4);
  raw.put(4, start);
  raw.publish(0, start + 8);
  const std::uint32_t head = start + 8;
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  {
    shm_ring::result<producer> p = producer::open(name);
    CHECK(p.ok());
    CHECK_EQ(p->capacity(), 64u);
    CHECK_EQ(p->readable_bytes(), std::size_t{8});
    CHECK_EQ(p->peer_state(), peer_state::unknown);
    CHECK(p->try_write("ours", 4).ok());
    CHECK_EQ(raw.head(), head + 8);  // the head moves on from where it was
    CHECK_EQ(raw.get(12), 0u);       // the header is left as the original library wrote it
    CHECK_EQ(raw.capacity(), 64u);
    consumer c = open_consumer(name);
    std::vector<std::uint8_t> out;
    CHECK(into(c.try_read(), out).ok());
    CHECK(out == std::vector<std::uint8_t>({'l', 'e', 'f', 't'}));
    CHECK(into(c.try_read(), out).ok());
    CHECK(out == std::vector<std::uint8_t>({'o', 'u', 'r', 's'}));
  }
  CHECK(exists(name));
  CHECK_EQ(stat_segment(name).st.st_size, off_t{16 + 64});
  CHECK(untouched(raw.base, 16 + 64, (16 + 64 + page - 1) / page * page, 0));
  // A tail that cannot be right reads as a full ring, never as room to overwrite.
  raw.put(4, head + 8 - 65);
  shm_ring::result<producer> p = producer::open(name);
  CHECK(p.ok());
  CHECK_EQ(p->readable_bytes(), std::size_t{64});
  CHECK_EQ(p->try_write("x", 1).code(), errc::full);
  CHECK_EQ(raw.head(), head + 8);
}

TEST(producer_open_refuses_what_is_not_a_ring) {
  const std::string name = unique_name("takenone");
  cleanup guard(name);
  CHECK_EQ(producer::open(name).code(), errc::not_found);
  CHECK_EQ(producer::open("bad/name").code(), errc::invalid_name);
  CHECK(make_object(name, 0));
  CHECK_EQ(producer::open(name).code(), errc::not_ready);
  remove(name);
  CHECK(make_foreign_ring(name, 64));
  {
    raw_segment raw(name);
    raw.put(8, 48);
  }
  CHECK_EQ(producer::open(name).code(), errc::invalid_capacity);
}

TEST(a_second_live_consumer_is_refused) {
  const std::string name = unique_name("live_c");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  raw_segment raw(name);
  {
    consumer first = open_consumer(name);
    shm_ring::result<consumer> second = consumer::open(name);
    CHECK_EQ(second.code(), errc::in_use);
    CHECK_EQ(std::string(second.error().segment()), name);
    CHECK(contains(second.error().message(), "segment \"" + name + "\" is in use"));
    CHECK(contains(second.error().message(), "consumer"));
    // Not retried by the waiting open: the error comes back instead of a timeout.
    CHECK_EQ(consumer::open(name, 30s).code(), errc::in_use);
    CHECK_EQ(raw.flags(consumer_flags(64)), own_flags());
    CHECK(p.try_write("a", 1).ok());
    std::vector<std::uint8_t> out;
    CHECK(into(first.try_read(), out).ok());
  }
  CHECK(consumer::open(name).ok());

  // A consumer in another process: refused while it lives, not once it is killed.
  child_process child([&](int from_parent, int to_parent) {
    shm_ring::result<consumer> c = consumer::open(name);
    if (!c) return 2;
    tell_parent(to_parent);
    wait_for_parent(from_parent);
    return 0;
  });
  CHECK(child.ready());
  CHECK_EQ(consumer::open(name).code(), errc::in_use);
  CHECK(child.kill());
  CHECK(consumer::open(name).ok());
}

namespace {

// Processes that each try to create one name at the same moment, released together through a
// pipe. Each reports [its index, 0 or the errc of its failure] through another pipe; the one
// that succeeded also publishes messages [0, race_messages) of its own stream (message i of
// creator k is pattern(1000 * k + i, 10 + i)) and then keeps its producer until the parent
// closes the third pipe. Whatever happens, the processes are killed and reaped at the end.
constexpr int race_messages = 50;

std::vector<std::uint8_t> race_message(int creator, int i) {
  const std::size_t n = static_cast<std::size_t>(i);
  return pattern(1000 * static_cast<std::size_t>(creator) + n, 10 + n);
}

class creator_race {
 public:
  creator_race(const std::string& name, int creators) {
    if (::pipe(release_) != 0 || ::pipe(reports_) != 0 || ::pipe(stay_) != 0) return;
    for (int k = 0; k < creators; ++k) {
      const pid_t pid = ::fork();
      if (pid == 0) ::_exit(create(name, k));
      if (pid > 0) pids_.push_back(pid);
    }
    close_fd(release_[0]);
    close_fd(reports_[1]);
    close_fd(stay_[0]);
  }
  ~creator_race() {
    for (const pid_t pid : pids_) ::kill(pid, SIGKILL);
    reap();
    for (int* p : {release_, reports_, stay_}) {
      close_fd(p[0]);
      close_fd(p[1]);
    }
  }
  creator_race(const creator_race&) = delete;
  creator_race& operator=(const creator_race&) = delete;

  std::size_t started() const { return pids_.size(); }
  // Lets them all go at once (their reads of the pipe return at its end).
  void release() { close_fd(release_[1]); }
  // The next report, or false if they all ended without one.
  bool next_report(int& index, errc& code) {
    unsigned char r[2];
    std::size_t got = 0;
    while (got < sizeof r) {
      const ssize_t n = ::read(reports_[0], r + got, sizeof r - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      got += static_cast<std::size_t>(n);
    }
    index = r[0];
    code = static_cast<errc>(r[1]);
    return true;
  }
  // Lets the winner go, and reaps them all: how many exited with status 0.
  std::size_t finish() {
    close_fd(stay_[1]);
    return reap();
  }

 private:
  static void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  std::size_t reap() {
    std::size_t clean = 0;
    for (const pid_t pid : pids_) {
      int st = 0;
      while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
      if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ++clean;
    }
    pids_.clear();
    return clean;
  }
  // In a child.
  int create(const std::string& name, int k) {
    ::close(release_[1]);
    ::close(reports_[0]);
    ::close(stay_[1]);
    char c = 0;
    while (::read(release_[0], &c, 1) < 0 && errno == EINTR) {
    }
    shm_ring::result<producer> p = producer::create(name, 4096);
    if (p) {
      for (int i = 0; i < race_messages; ++i) {
        const std::vector<std::uint8_t> msg = race_message(k, i);
        if (!p->try_write(msg.data(), msg.size())) return 2;
      }
    }
    const unsigned char report[2] = {static_cast<unsigned char>(k),
                                     static_cast<unsigned char>(p.code())};
    if (::write(reports_[1], report, sizeof report) != 2) return 3;
    if (p) {
      while (::read(stay_[0], &c, 1) < 0 && errno == EINTR) {
      }
    }
    return 0;
  }

  int release_[2] = {-1, -1};
  int reports_[2] = {-1, -1};
  int stay_[2] = {-1, -1};
  std::vector<pid_t> pids_;
};

}  // namespace

TEST(of_producers_creating_one_name_at_once_exactly_one_wins) {
  const std::string name = unique_name("race");
  cleanup guard(name);
  constexpr int creators = 8;
  { producer stale = make_producer(name, 64); }  // a closed producer's segment to replace
  for (int round = 0; round < 20; ++round) {
    // Every other round starts with no object of that name; the others with the segment of
    // the previous round's winner, whose process has ended.
    if (round % 2 == 1) remove(name);
    creator_race race(name, creators);
    CHECK_EQ(race.started(), std::size_t{creators});
    race.release();
    int winner = -1;
    int winners = 0;
    for (int n = 0; n < creators; ++n) {
      int index = -1;
      errc code{};
      CHECK(race.next_report(index, code));
      if (code == errc{}) {
        winner = index;
        ++winners;
      } else {
        CHECK_EQ(code, errc::in_use);
      }
    }
    CHECK_EQ(winners, 1);
    // The name refers to the winner's segment: a consumer reads its whole stream.
    consumer c = open_consumer(name);
    CHECK_EQ(c.peer_state(), peer_state::alive);
    std::vector<std::uint8_t> out;
    for (int i = 0; i < race_messages; ++i) {
      CHECK(into(c.try_read(), out).ok());
      CHECK(out == race_message(winner, i));
    }
    CHECK_EQ(into(c.try_read(), out).code(), errc::empty);
    CHECK_EQ(race.finish(), std::size_t{creators});
  }
}

// ---------------------------------------------------------------------------------------------
// Fork and process exit
// ---------------------------------------------------------------------------------------------

namespace {

// How a forked child ends without being killed.
enum class child_end { returns, exits, exec_fails };

const char* describe(child_end how) {
  switch (how) {
    case child_end::returns: return "returns (as from main)";
    case child_end::exits: return "calls exit()";
    case child_end::exec_fails: return "returns after a failed exec";
  }
  return "?";
}

// A producer with static storage duration, which exit() destroys.
producer exiting_producer;

// Every byte of a segment (header, data area, extension block), as another mapping sees it.
std::vector<unsigned char> snapshot(const std::string& name) {
  raw_segment raw(name);
  return raw.base == nullptr ? std::vector<unsigned char>()
                             : std::vector<unsigned char>(raw.base, raw.base + raw.size);
}

// What a program that creates a producer with unlink_on_close and then forks runs: creates
// `name`, publishes messages [0, 10) of the stream and forks. The parent gets the producer in
// `keep` and the child's pid. The child ends as `how` says, its copy of the producer going the
// way that end destroys it: returning from here destroys the local (as returning from main
// does; the caller then ends the child with _exit), exit() destroys objects of static storage
// duration. Returns 0 in the child, -1 on failure.
pid_t fork_a_producer(const std::string& name, child_end how, producer& keep) {
  producer_options o;
  o.unlink_on_close = true;
  shm_ring::result<producer> p = producer::create(name, 4096, o);
  if (!p) return -1;
  for (std::size_t i = 0; i < 10; ++i) {
    if (!p->try_write(pattern(i, 20 + i).data(), 20 + i)) return -1;
  }
  const pid_t pid = ::fork();
  if (pid != 0) {
    keep = std::move(p.value());
    return pid;
  }
  if (how == child_end::exits) {
    exiting_producer = std::move(p.value());
    std::exit(0);
  }
  if (how == child_end::exec_fails) {
    ::execl("/nonexistent/shm_ring/program", "program", static_cast<char*>(nullptr));
  }
  return 0;
}

// Waits for a child to end; its exit status, or -1 if a signal ended it.
int exit_status(pid_t pid) {
  int st = 0;
  pid_t r;
  do {
    r = ::waitpid(pid, &st, 0);
  } while (r < 0 && errno == EINTR);
  return r == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace

TEST(a_forked_child_that_ends_normally_leaves_the_segment_alone) {
  for (const child_end how : {child_end::returns, child_end::exits, child_end::exec_fails}) {
    std::fprintf(stderr, "  the child %s\n", describe(how));
    const std::string name = unique_name("fork_end");
    cleanup guard(name);
    producer p;
    const pid_t pid = fork_a_producer(name, how, p);
    if (pid == 0) ::_exit(0);  // the child, back from its producer's scope
    CHECK(pid > 0);
    const ino_t ino = stat_segment(name).st.st_ino;
    const std::vector<unsigned char> before = snapshot(name);
    CHECK_EQ(exit_status(pid), 0);
    // The name is still the parent's segment, and the child wrote nothing into it.
    CHECK(exists(name));
    CHECK_EQ(stat_segment(name).st.st_ino, ino);
    CHECK(snapshot(name) == before);
    // The parent goes on producing, and a new consumer reads its whole stream.
    for (std::size_t i = 10; i < 20; ++i) {
      CHECK(p.try_write(pattern(i, 20 + i).data(), 20 + i).ok());
    }
    consumer c = open_consumer(name);
    CHECK_EQ(c.peer_state(), peer_state::alive);
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i < 20; ++i) {
      CHECK(into(c.read(30s), out).ok());
      CHECK(out == pattern(i, 20 + i));
    }
    CHECK_EQ(into(c.try_read(), out).code(), errc::empty);
    // In the process that created it, unlink_on_close still removes the name.
    p = producer();
    CHECK(!exists(name));
  }
}

TEST(handles_moved_or_destroyed_in_a_forked_child_write_nothing) {
  const std::string name = unique_name("fork_drop");
  cleanup guard(name);
  producer_options o;
  o.unlink_on_close = true;
  shm_ring::result<producer> p = producer::create(name, 64, o);
  CHECK(p.ok());
  consumer c = open_consumer(name);
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < 5; ++i) {  // traffic that wraps, and one message left unread
    CHECK(p->try_write(pattern(i, 20).data(), 20).ok());
    if (i < 4) CHECK(into(c.try_read(), out).ok());
  }
  const std::vector<unsigned char> before = snapshot(name);
  child_process child([&](int, int to_parent) {
    // Both sides moved into new handles and on again, then destroyed with the moved-from
    // shells.
    {
      producer moved_p = std::move(p.value());
      consumer moved_c = std::move(c);
      producer again = std::move(moved_p);
      moved_p = std::move(again);
    }
    tell_parent(to_parent);
    return 0;
  });
  CHECK(child.ready());
  CHECK_EQ(child.reap(), 0);
  CHECK(exists(name));
  CHECK(snapshot(name) == before);
  CHECK_EQ(c.peer_state(), peer_state::alive);
  CHECK_EQ(p->peer_state(), peer_state::alive);
  CHECK(into(c.try_read(), out).ok());
  CHECK(out == pattern(4, 20));
}

TEST(a_forked_child_that_takes_over_the_producer_wakes_the_consumer) {
  // The child publishes through the parent's producer (which the parent no longer uses) while
  // the parent's consumer sleeps with a peer-check interval of an hour: the wake-up, and the
  // membarrier registration it relies on, hold in the child too.
  const std::string name = unique_name("fork_wake");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  consumer c = open_consumer(name);
  c.set_peer_check_interval(std::chrono::hours(1));
  const std::vector<std::uint8_t> msg = pattern(3, 11);
  child_process child([&](int, int) {
    raw_segment raw(name);
    if (!raw.wait_for(consumer_flags(64), sleeping)) return 2;
    return p.try_write(msg.data(), msg.size()) ? 0 : 3;
  });
  std::vector<std::uint8_t> out;
  const status s = into(c.read(30s), out);
  CHECK(s.ok());
  CHECK(out == msg);
  CHECK_EQ(child.reap(), 0);
  CHECK(c.wait_stats().sleeps >= 1u);
  if (membarrier_available()) CHECK_EQ(c.wait_stats().full_slices, 0u);
}

TEST(a_forked_child_holding_the_descriptor_keeps_that_side_alive) {
  // The liveness lock belongs to the open file description, which fork() shares with the child:
  // the side stays alive until the parent and the child have both closed it.
  const std::string name = unique_name("fork_live");
  cleanup guard(name);
  shm_ring::result<producer> p = producer::create(name, 64);
  CHECK(p.ok());
  consumer c = open_consumer(name);
  child_process child([&](int from_parent, int to_parent) {
    tell_parent(to_parent);
    wait_for_parent(from_parent);  // holds its copy of the descriptor until the parent goes
    return 0;
  });
  CHECK(child.ready());
  p = shm_ring::result<producer>(producer());  // the parent's producer closes
  CHECK_EQ(c.peer_state(), peer_state::alive);
  CHECK(child.kill());
  CHECK_EQ(c.peer_state(), peer_state::gone);
}

#endif  // SHM_RING_KERNEL_WAIT

TEST(a_write_grant_follows_its_producer_when_the_producer_moves) {
  const std::string name = unique_name("wgmove");
  cleanup guard(name);
  producer first = make_producer(name, 64);
  consumer c = open_consumer(name);
  shm_ring::result<shm_ring::write_grant> g = first.try_reserve(5);
  CHECK(g.ok());
  // Moving the producer while the grant lives: the grant must publish through the new owner,
  // not through the moved-from object it was made by.
  producer second = std::move(first);
  std::vector<producer> owners;
  owners.push_back(std::move(second));
  owners.reserve(16);  // moves it again, into new storage
  shm_ring::write_grant moved = std::move(*g);
  CHECK_EQ(g->size(), std::size_t{0});
  moved.copy_from("hello", 5);
  moved.commit();
  CHECK_EQ(moved.size(), std::size_t{0});
  std::vector<std::uint8_t> out;
  CHECK(into(c.try_read(), out).ok());
  CHECK(out == std::vector<std::uint8_t>({'h', 'e', 'l', 'l', 'o'}));
  CHECK_EQ(owners[0].readable_bytes(), std::size_t{0});
  CHECK(owners[0].try_write("next", 4).ok());  // the grant is gone: writing is allowed again
  CHECK(into(c.try_read(), out).ok());
  CHECK_EQ(out.size(), std::size_t{4});

  // A producer destroyed first leaves its grant empty, and its commit does nothing.
  shm_ring::result<shm_ring::write_grant> orphan = owners[0].try_reserve(3);
  CHECK(orphan.ok());
  owners.clear();
  CHECK_EQ(orphan->size(), std::size_t{0});
  orphan->commit();
  CHECK_EQ(c.try_read().code(), errc::empty);
}

TEST(a_read_grant_follows_its_consumer_and_leaves_the_message_unless_committed) {
  const std::string name = unique_name("rgmove");
  cleanup guard(name);
  producer p = make_producer(name, 64);
  consumer first = open_consumer(name);
  CHECK(p.try_write("one", 3).ok());
  CHECK(p.try_write("two", 3).ok());
  {
    // A peek: the grant is dropped without commit, the message stays.
    shm_ring::result<shm_ring::read_grant> g = first.try_read();
    CHECK(g.ok());
    CHECK_EQ(g->size(), std::size_t{3});
    CHECK(std::memcmp(g->first().data, "one", 3) == 0);
  }
  shm_ring::result<shm_ring::read_grant> g = first.try_read();
  CHECK(g.ok());
  CHECK(std::memcmp(g->first().data, "one", 3) == 0);
  consumer second = std::move(first);
  std::vector<consumer> owners;
  owners.push_back(std::move(second));
  owners.reserve(16);
  shm_ring::read_grant moved = std::move(*g);
  char small[2];
  CHECK_EQ(moved.into_buffer(small, sizeof small).code(), errc::buffer_too_small);
  CHECK_EQ(moved.size(), std::size_t{3});  // refused: the grant and the message stay
  char buf[8];
  CHECK_EQ(moved.into_buffer(buf, sizeof buf).value(), std::size_t{3});
  CHECK_EQ(p.readable_bytes(), std::size_t{7});  // "one" consumed through the new owner
  std::vector<std::uint8_t> out;
  CHECK(into(owners[0].try_read(), out).ok());
  CHECK(out == std::vector<std::uint8_t>({'t', 'w', 'o'}));

  CHECK(p.try_write("three", 5).ok());
  shm_ring::result<shm_ring::read_grant> orphan = owners[0].try_read();
  CHECK(orphan.ok());
  owners.clear();
  CHECK_EQ(orphan->size(), std::size_t{0});
  orphan->commit();
  CHECK_EQ(p.readable_bytes(), std::size_t{9});  // nothing was consumed
}

TEST(another_write_or_read_while_a_grant_lives_aborts) {
  const std::string name = unique_name("grantuse");
  cleanup guard(name);
  {
    child_process child([&](int, int) {
      shm_ring::result<producer> p = producer::create(name, 64);
      if (!p) return 1;
      shm_ring::result<shm_ring::write_grant> g = p->try_reserve(4);
      if (!g) return 1;
      (void)p->try_write("x", 1);
      return 0;
    });
    CHECK_EQ(child.reap(), SIGABRT);
  }
  producer p = make_producer(name, 64);
  CHECK(p.try_write("m", 1).ok());
  child_process child([&](int, int) {
    shm_ring::result<consumer> c = consumer::open(name);
    if (!c) return 1;
    shm_ring::result<shm_ring::read_grant> g = c->try_read();
    if (!g) return 1;
    (void)c->try_read();
    return 0;
  });
  CHECK_EQ(child.reap(), SIGABRT);
}

TEST(remove_refuses_a_live_producers_segment_unless_forced) {
  const std::string name = unique_name("remove");
  cleanup guard(name);
  CHECK_EQ(shm_ring::remove(name).code(), errc::not_found);
  CHECK_EQ(shm_ring::remove_forced(name).code(), errc::not_found);
  CHECK_EQ(shm_ring::remove("a b").code(), errc::invalid_name);
  CHECK_EQ(shm_ring::remove_forced("a b").code(), errc::invalid_name);
  {
    producer p = make_producer(name, 64);
    const status s = shm_ring::remove("/" + name);
    CHECK_EQ(s.code(), errc::in_use);
    CHECK_EQ(std::string(s.segment()), name);
    CHECK(exists(name));
  }
  // Its producer is gone (the name stays: unlink_on_close is off): now it is removed.
  CHECK(exists(name));
  CHECK(shm_ring::remove(name).ok());
  CHECK(!exists(name));
  CHECK_EQ(shm_ring::remove(name).code(), errc::not_found);

  // Forced: a live producer's segment goes too; the producer keeps its mapping, and its
  // own unlink finds nothing of its own to remove.
  producer p = make_producer(name, 64);
  consumer c = open_consumer(name);
  CHECK(shm_ring::remove_forced(name).ok());
  CHECK(!exists(name));
  CHECK_EQ(consumer::open(name).code(), errc::not_found);
  CHECK(p.try_write("still", 5).ok());
  std::vector<std::uint8_t> out;
  CHECK(into(c.try_read(), out).ok());
  CHECK(p.unlink().ok());
}

int main(int argc, char** argv) { return harness::run_all(argc, argv); }
