// Unit tests of shm_ring.hpp. Build and run them under the sanitizers (see README.md):
//   g++ -std=c++14 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all
//       -I interop/cpp/include interop/cpp/tests/unit_tests.cpp -o unit_tests -pthread
//   ./unit_tests [part of a test name]
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

// The flag bytes of the reserved word and their bits, as the wire contract defines them.
constexpr std::size_t producer_flags = 12;
constexpr std::size_t consumer_flags = 13;
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
  CHECK(c.try_read(out).ok());
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

TEST(capacity_rounds_down_to_a_power_of_two) {
  CHECK_EQ(shm_ring::capacity_for(8), 8u);
  CHECK_EQ(shm_ring::capacity_for(15), 8u);
  CHECK_EQ(shm_ring::capacity_for(16), 16u);
  CHECK_EQ(shm_ring::capacity_for(100), 64u);
  CHECK_EQ(shm_ring::capacity_for(6220800), 4194304u);
  CHECK_EQ(shm_ring::capacity_for(std::uint64_t{1} << 31), std::uint32_t{1} << 31);
  CHECK_EQ(shm_ring::capacity_for(0xFFFFFFFFu), std::uint32_t{1} << 31);
  CHECK_EQ(shm_ring::capacity_for(7), 0u);
  CHECK_EQ(shm_ring::capacity_for(0), 0u);
  CHECK_EQ(shm_ring::capacity_for(std::uint64_t{1} << 32), 0u);

  const std::string name = unique_name("cap");
  cleanup guard(name);
  {
    producer p = make_producer(name, 100);
    CHECK_EQ(p.capacity(), 64u);
    CHECK_EQ(p.max_message_len(), 60u);
    const stat_result st = stat_segment(name);
    CHECK(st.ok);
    CHECK_EQ(st.st.st_size, off_t{116});  // 16 + requested, as the original library
    raw_segment raw(name);
    CHECK_EQ(raw.capacity(), 64u);
    consumer c = open_consumer(name);
    CHECK_EQ(c.capacity(), 64u);
    CHECK_EQ(c.max_message_len(), 60u);
  }
  {
    producer p = make_producer(name, 6220800);
    CHECK_EQ(p.capacity(), 4194304u);
    CHECK_EQ(stat_segment(name).st.st_size, off_t{6220816});
  }
  status s = producer::create(name, 7).error();
  CHECK_EQ(s.code(), errc::invalid_capacity);
  CHECK_EQ(s.value(), 7u);
  CHECK(contains(s.message(), "7"));
  s = producer::create(name, std::uint64_t{1} << 32).error();
  CHECK_EQ(s.code(), errc::invalid_capacity);
  CHECK_EQ(s.value(), std::uint64_t{1} << 32);
}

TEST(fresh_header_matches_the_wire_layout) {
  const std::string name = unique_name("hdr");
  cleanup guard(name);
  producer p = make_producer(name, 100);
  raw_segment raw(name);
  CHECK_EQ(raw.size, std::size_t{116});
  CHECK_EQ(raw.head(), 0u);
  CHECK_EQ(raw.tail(), 0u);
  CHECK_EQ(raw.capacity(), 64u);
  CHECK_EQ(raw.get(12), std::uint32_t{own_flags()});  // producer flags; bytes 13 to 15 are 0
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
  CHECK(c.try_read(out).ok());
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
      if (!c.read(out, 30s).ok() || out != msg) std::abort();
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
      return c.try_read(out).ok();
    });
    check_record_at_the_end(k, "w_buf", [](consumer& c, std::vector<std::uint8_t>& out) {
      out.assign(10, 0);
      shm_ring::result<std::size_t> n = c.try_read(out.data(), out.size());
      return n.ok() && *n == 10;
    });
    check_record_at_the_end(k, "w_view", [k](consumer& c, std::vector<std::uint8_t>& out) {
      return c.try_read_in_place([&](byte_view a, byte_view b) {
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
    shm_ring::result<shm_ring::reservation> r = p.try_reserve(10);
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
    CHECK(c.try_read(out).ok());
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
    shm_ring::result<shm_ring::reservation> r = p.reserve(20, 1s);
    CHECK(r.ok());
    std::memset(r->first().data, 0xEE, r->first().size);
  }
  CHECK_EQ(raw.head(), 0u);
  CHECK_EQ(c.try_read_in_place([](byte_view, byte_view) {}).code(), errc::empty);
  const std::vector<std::uint8_t> msg = pattern(3, 5);
  CHECK(p.try_write(msg.data(), 5).ok());
  std::vector<std::uint8_t> out;
  CHECK(c.try_read(out).ok());
  CHECK(out == msg);
  CHECK_EQ(c.try_read(out).code(), errc::empty);

  // Committing twice, or committing an empty reservation, publishes once / nothing.
  shm_ring::result<shm_ring::reservation> r = p.try_reserve(3);
  CHECK(r.ok());
  std::memcpy(r->first().data, "xyz", 3);
  shm_ring::reservation moved = std::move(r.value());
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
    CHECK(c.try_read(out).ok());
    CHECK(out == msgs[i]);
  }
  // A bad message ends the batch before it; it is reported when it comes first.
  const byte_view mixed[] = {views[4], byte_view("", 0), views[0]};
  n = p.try_write_batch(mixed, 3);
  CHECK_EQ(n.value(), std::size_t{1});
  CHECK_EQ(p.try_write_batch(mixed + 1, 2).code(), errc::empty_message);
  n = p.write_batch(mixed + 2, 1, 1s);
  CHECK_EQ(n.value(), std::size_t{1});
  CHECK(c.try_read(out).ok());
  CHECK(out == msgs[4]);
  CHECK(c.try_read(out).ok());
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
  shm_ring::result<std::size_t> n = c.try_read(buf, 10);
  CHECK_EQ(n.code(), errc::buffer_too_small);
  CHECK_EQ(n.error().needed(), 20u);
  CHECK_EQ(n.error().available(), 10u);
  CHECK(contains(n.error().message(), "20 bytes"));
  CHECK_EQ(c.read(buf, 19, 1s).code(), errc::buffer_too_small);
  CHECK_EQ(raw.tail(), 0u);
  n = c.try_read(buf, 20);
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
    c.try_read_in_place([](byte_view, byte_view) { throw std::runtime_error("no"); });
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
  CHECK(c.try_read(out).ok());
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
  CHECK(c.try_read(out).ok());
  CHECK(out.empty());
  CHECK_EQ(raw.tail(), 4u);
  std::uint8_t buf[1];
  CHECK_EQ(c.try_read(buf, 0).value(), std::size_t{0});
  CHECK_EQ(c.try_read(buf, sizeof buf).value(), std::size_t{0});
  std::size_t sizes = 99;
  CHECK(c.try_read_in_place([&](byte_view a, byte_view b) { sizes = a.size + b.size; }).ok());
  CHECK_EQ(sizes, std::size_t{0});
  CHECK_EQ(raw.tail(), 16u);
  CHECK(c.try_read(out).ok());
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
  status s = c.try_read(out);
  CHECK_EQ(s.code(), errc::corrupted);
  CHECK_EQ(s.corruption(), corruption::length_too_large);
  CHECK_EQ(s.tail_index(), 0u);
  CHECK_EQ(s.length(), 61u);
  CHECK_EQ(s.readable(), 64u);
  CHECK(contains(s.message(), "61 payload bytes"));
  CHECK_EQ(c.read(out, 1s).code(), errc::corrupted);  // not retried as if empty

  // A length reaching past the published bytes.
  raw.put(16, 20);
  raw.put(0, 10);
  c = consumer();
  c = open_consumer(name);
  s = c.try_read(out);
  CHECK_EQ(s.corruption(), corruption::length_exceeds_published);
  CHECK_EQ(s.length(), 20u);
  CHECK_EQ(s.readable(), 10u);
  CHECK(contains(s.message(), "only 10 bytes"));
  std::uint8_t buf[64];
  CHECK_EQ(c.try_read(buf, sizeof buf).code(), errc::corrupted);
  CHECK_EQ(c.try_read_in_place([](byte_view, byte_view) {}).code(), errc::corrupted);
  CHECK_EQ(c.try_read_batch(4, [](byte_view, byte_view) {}).code(), errc::corrupted);

  // Part of a prefix published.
  raw.put(0, 3);
  c = consumer();
  c = open_consumer(name);
  s = c.try_read(out);
  CHECK_EQ(s.corruption(), corruption::truncated_prefix);
  CHECK_EQ(s.readable(), 3u);
  CHECK_EQ(raw.tail(), 0u);  // nothing consumed on any of these

  // Once the producer's side is whole again, reading goes on.
  raw.put(0, 24);
  CHECK(c.try_read(out).ok());
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
          CHECK(c.try_read(out).ok());
          CHECK(out == pattern(j, 1 + j % 25));
        }
        next_read = i;
        CHECK_EQ(c.try_read(out).code(), errc::empty);
        CHECK_EQ(raw.tail(), expected_head);
        CHECK(p.try_write(msg.data(), len).ok());
      }
      expected_head += static_cast<std::uint32_t>(4 + len);
      CHECK_EQ(raw.head(), expected_head);
    }
    for (std::size_t j = next_read; j < 200; ++j) {
      CHECK(c.try_read(out).ok());
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
  CHECK(c.try_read(out).ok());
  CHECK(out == pattern(0, 28));
  CHECK(c.try_read(out).ok());
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
  CHECK_EQ(c.try_read(out).code(), errc::empty);
  CHECK(c.is_empty());
  CHECK_EQ(c.readable_bytes(), 0u);
  CHECK_EQ(c.read(out, 5ms).code(), errc::timeout);
  raw.put(0, 32);
  CHECK(c.try_read(out).ok());  // the real head again: the message is there
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
  CHECK(c.try_read(out).ok());
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
    CHECK(first.try_read(out).ok());
    CHECK(out == pattern(0, 3));
  }
  consumer second = open_consumer(name);
  CHECK(second.try_read(out).ok());
  CHECK(out == pattern(1, 4));
  CHECK_EQ(second.try_read(out).code(), errc::empty);
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
  CHECK(old_consumer.try_read(out).ok());
  CHECK_EQ(out.size(), std::size_t{3});
  consumer new_consumer = open_consumer(name);
  CHECK(new_consumer.try_read(out).ok());
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
  CHECK(c.try_read(out).ok());
  CHECK_EQ(out.size(), std::size_t{5});
}

TEST(in_memory_rings_work_without_a_name) {
  // Memory full of junk: the producer writes every header word (read here as host-endian
  // words, which match the little-endian wire format on the hosts these tests run on).
  std::vector<std::uint32_t> memory((16 + 100) / 4, 0xFFFFFFFFu);
  shm_ring::result<producer> p = producer::create_in_memory(memory.data(), memory.size() * 4, 7);
  CHECK(p.ok());
  CHECK_EQ(memory[0], 7u);   // head
  CHECK_EQ(memory[1], 7u);   // tail
  CHECK_EQ(memory[2], 64u);  // capacity
  // Reserved: no lock without an object, so the producer's flags are at most BARRIER.
  CHECK_EQ(memory[3], membarrier_available() ? std::uint32_t{barrier} : 0u);
  CHECK_EQ(p->capacity(), 64u);
  CHECK(p->name().empty());
  shm_ring::result<consumer> c = consumer::open_in_memory(memory.data(), memory.size() * 4);
  CHECK(c.ok());
  CHECK_EQ(memory[3], membarrier_available() ? std::uint32_t{barrier} * 0x101u : 0u);
  CHECK_EQ(p->is_peer_alive(), peer_state::unknown);
  CHECK_EQ(c->is_peer_alive(), peer_state::unknown);
  CHECK(p->try_write("hi", 2).ok());
  std::vector<std::uint8_t> out;
  CHECK(c->try_read(out).ok());
  CHECK_EQ(out.size(), std::size_t{2});
  CHECK_EQ(memory[0], 13u);  // head = 7 + 6
  const status s = producer::create_in_memory(memory.data(), 23).error();
  CHECK_EQ(s.code(), errc::segment_too_small);
  CHECK_EQ(s.needed(), 24u);
  CHECK_EQ(s.available(), 23u);
  CHECK(contains(s.message(), "the memory is 23 bytes; a ring needs at least 24"));
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
  CHECK(c2.try_read(out).ok());
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
  const status s = c.read(out, 30ms);
  CHECK(std::chrono::steady_clock::now() - t0 >= 30ms);
  CHECK_EQ(s.code(), errc::timeout);
  CHECK_EQ(s.last(), errc::empty);
  CHECK(contains(s.message(), "timed out after 30 ms (last: the ring is empty)"));
  CHECK_EQ(c.read(buf, sizeof buf, 0ms).code(), errc::timeout);
  CHECK_EQ(c.read_in_place([](byte_view, byte_view) {}, 1ms).code(), errc::timeout);
  CHECK_EQ(c.try_read(out).code(), errc::empty);
  CHECK_EQ(c.try_read(buf, sizeof buf).code(), errc::empty);
}


int main(int argc, char** argv) { return harness::run_all(argc, argv); }
