// Unit tests of the original library's API (shm/*.hpp) as docs/MIGRATING.md and the original's
// documentation describe it. Build and run them under the sanitizers, which also catch any
// touch of caller-owned memory past its end:
//   g++ -std=c++14 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all
//       -I interop/cpp/include interop/cpp/tests/dropin/unit_tests.cpp -o dropin_tests -pthread
//   ./dropin_tests [part of a test name]
#include "shm/shm_channel.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace shm_ring {
inline std::ostream& operator<<(std::ostream& os, errc e) {
  return os << make_error_code(e).message() << " (" << static_cast<int>(e) << ")";
}
inline std::ostream& operator<<(std::ostream& os, peer_state e) {
  return os << (e == peer_state::alive ? "alive" : e == peer_state::gone ? "gone" : "unknown");
}
}  // namespace shm_ring
namespace shm {
inline std::ostream& operator<<(std::ostream& os, Error e) { return os << static_cast<int>(e); }
}  // namespace shm

#include "../harness.hpp"

using shm_ring::errc;
using namespace std::chrono_literals;

namespace {

// A segment name no other test run uses.
std::string unique_name(const char* tag) {
  static int next = 0;
  return "dpt" + std::to_string(::getpid()) + "-" + tag + "-" + std::to_string(next++);
}

bool segment_exists(const std::string& name) {
  const int fd = ::shm_open(("/" + name).c_str(), O_RDONLY, 0);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

// Heap memory of exactly `size` bytes (ASan reports any access past it).
std::unique_ptr<unsigned char[]> heap(std::size_t size) {
  std::unique_ptr<unsigned char[]> memory(new unsigned char[size]);
  std::memset(memory.get(), 0xEE, size);
  return memory;
}

// Message i of the conformance stream, `len` bytes.
std::vector<unsigned char> message(std::uint64_t i, std::size_t len) {
  std::vector<unsigned char> m(len);
  for (std::size_t j = 0; j < len; ++j) m[j] = static_cast<unsigned char>((i * 7 + j) % 251);
  return m;
}

std::uint32_t word(const unsigned char* base, std::size_t offset) {
  std::uint32_t v;
  std::memcpy(&v, base + offset, 4);
  return v;
}

void set_word(unsigned char* base, std::size_t offset, std::uint32_t v) {
  std::memcpy(base + offset, &v, 4);
}

}  // namespace

// --- ByteRingBuffer ----------------------------------------------------------------------------

TEST(header_layout_is_four_words) {
  CHECK_EQ(sizeof(shm::RingHeader), std::size_t{16});
  CHECK_EQ(shm::kHeaderSize, 16u);
  CHECK_EQ(offsetof(shm::RingHeader, head), std::size_t{0});
  CHECK_EQ(offsetof(shm::RingHeader, tail), std::size_t{4});
  CHECK_EQ(offsetof(shm::RingHeader, capacity), std::size_t{8});
  CHECK_EQ(offsetof(shm::RingHeader, reserved), std::size_t{12});
}

TEST(capacity_is_the_largest_power_of_two_in_the_memory) {
  const std::uint32_t cases[][2] = {{100, 64}, {33, 32}, {128, 128}, {8, 8}, {4095, 2048}};
  for (const auto& c : cases) {
    const std::uint32_t total = 16 + c[0];
    auto memory = heap(total);
    shm::ByteRingBuffer producer(memory.get(), total, true);
    CHECK_EQ(producer.Capacity(), c[1]);
    const auto* header = reinterpret_cast<const shm::RingHeader*>(memory.get());
    CHECK_EQ(header->head, 0u);
    CHECK_EQ(header->tail, 0u);
    CHECK_EQ(header->capacity, c[1]);
    CHECK_EQ(header->reserved, 0u);
    shm::ByteRingBuffer consumer(memory.get(), total, false);
    CHECK_EQ(consumer.Capacity(), c[1]);
    CHECK_EQ(producer.WriteableBytes(), c[1]);
    CHECK_EQ(consumer.ReadableBytes(), 0u);
  }
}

TEST(a_twelve_byte_payload_fills_a_sixteen_byte_area) {
  auto memory = heap(32);
  shm::ByteRingBuffer producer(memory.get(), 32, true);
  shm::ByteRingBuffer consumer(memory.get(), 32, false);
  CHECK_EQ(producer.Capacity(), 16u);
  const auto m = message(0, 12);
  CHECK(producer.Write(m.data(), 12));
  CHECK_EQ(producer.WriteableBytes(), 0u);
  CHECK_EQ(consumer.ReadableBytes(), 16u);
  const unsigned char one = 1;
  CHECK(!producer.Write(&one, 1));
  CHECK_EQ(producer.LastStatus().code(), errc::full);
  CHECK_EQ(producer.ReadableBytes(), 16u);  // nothing was written
  unsigned char out[16];
  CHECK_EQ(consumer.Read(out, sizeof out), 12u);
  CHECK(std::memcmp(out, m.data(), 12) == 0);
  CHECK(producer.Write(&one, 1));
}

TEST(has_data_means_four_readable_bytes) {
  auto memory = heap(16 + 64);
  shm::ByteRingBuffer producer(memory.get(), 16 + 64, true);
  shm::ByteRingBuffer consumer(memory.get(), 16 + 64, false);
  CHECK(!consumer.HasData());
  CHECK(producer.Write("x", 1));
  CHECK(consumer.HasData());
  CHECK(producer.HasData());
  CHECK_EQ(consumer.ReadableBytes(), 5u);
  char out[8];
  CHECK_EQ(consumer.Read(out, sizeof out), 1u);
  CHECK(!consumer.HasData());
  CHECK_EQ(consumer.Read(out, sizeof out), 0u);
  CHECK_EQ(consumer.LastStatus().code(), errc::empty);
}

TEST(a_read_buffer_too_small_skips_the_message_and_counts_it) {
  auto memory = heap(16 + 256);
  shm::ByteRingBuffer producer(memory.get(), 16 + 256, true);
  shm::ByteRingBuffer consumer(memory.get(), 16 + 256, false);
  const auto big = message(0, 100);
  const auto small = message(1, 10);
  CHECK(producer.Write(big.data(), 100));
  CHECK(producer.Write(small.data(), 10));
  unsigned char out[50];
  CHECK_EQ(consumer.Read(out, sizeof out), 0u);
  CHECK_EQ(consumer.SkippedMessages(), 1u);
  CHECK_EQ(consumer.LastStatus().code(), errc::buffer_too_small);
  CHECK_EQ(consumer.LastStatus().needed(), 100u);
  CHECK_EQ(consumer.Read(out, sizeof out), 10u);
  CHECK(std::memcmp(out, small.data(), 10) == 0);
  CHECK_EQ(consumer.SkippedMessages(), 1u);
  CHECK(!consumer.HasData());
}

TEST(a_zero_byte_write_returns_true_and_writes_nothing) {
  auto memory = heap(16 + 64);
  shm::ByteRingBuffer producer(memory.get(), 16 + 64, true);
  CHECK(producer.Write("", 0));
  CHECK(producer.Write(nullptr, 0));
  CHECK_EQ(producer.DroppedEmptyWrites(), 2u);
  CHECK_EQ(producer.LastStatus().code(), errc::empty_message);
  CHECK_EQ(producer.ReadableBytes(), 0u);
  CHECK_EQ(word(memory.get(), 0), 0u);  // head
}

TEST(an_empty_record_is_delivered_and_the_next_one_follows) {
  // The original's consumers stall forever behind a zero-length record (another producer may
  // write one); this one delivers it as a 0-byte message and goes on.
  auto memory = heap(16 + 64);
  shm::ByteRingBuffer setup(memory.get(), 16 + 64, true);
  set_word(memory.get(), 16, 0);  // a record of length 0 at index 0
  set_word(memory.get(), 0, 4);   // head
  shm::ByteRingBuffer producer(memory.get(), 16 + 64, false);  // writes from the shared head
  CHECK(producer.Write("abc", 3));
  shm::ByteRingBuffer consumer(memory.get(), 16 + 64, false);
  char out[8];
  CHECK(consumer.HasData());
  CHECK_EQ(consumer.Read(out, sizeof out), 0u);
  CHECK(consumer.LastStatus().ok());
  CHECK_EQ(consumer.Read(out, sizeof out), 3u);
  CHECK(std::memcmp(out, "abc", 3) == 0);
  CHECK_EQ(word(memory.get(), 4), 11u);  // tail: both records consumed
}

TEST(a_message_that_can_never_fit_is_refused) {
  auto memory = heap(16 + 64);
  shm::ByteRingBuffer producer(memory.get(), 16 + 64, true);
  const auto m = message(0, 61);
  CHECK(!producer.Write(m.data(), 61));
  CHECK_EQ(producer.LastStatus().code(), errc::too_large);
  CHECK(producer.Write(m.data(), 60));
}

TEST(producer_and_consumer_are_two_views_over_one_block) {
  // 4 KiB payloads through a 16 KiB area: records wrap at every byte offset in turn.
  const std::uint32_t total = 16 + 16384;
  auto memory = heap(total);
  shm::ByteRingBuffer producer(memory.get(), total, true);
  shm::ByteRingBuffer consumer(memory.get(), total, false);
  std::vector<unsigned char> out(4096);
  std::uint64_t written = 0;
  std::uint64_t read = 0;
  while (read < 200) {
    const auto m = message(written, 4096 - written % 7);
    if (written < 200 && producer.Write(m.data(), static_cast<std::uint32_t>(m.size()))) {
      ++written;
      continue;
    }
    const std::uint32_t n = consumer.Read(out.data(), 4096);
    CHECK(n != 0);
    const auto expected = message(read, 4096 - read % 7);
    CHECK_EQ(n, expected.size());
    CHECK(std::memcmp(out.data(), expected.data(), n) == 0);
    ++read;
  }
  CHECK_EQ(consumer.SkippedMessages(), 0u);
}

TEST(one_object_both_writes_and_reads) {
  auto memory = heap(16 + 64);
  shm::ByteRingBuffer ring(memory.get(), 16 + 64, true);
  char out[16];
  for (int i = 0; i < 100; ++i) {
    const auto m = message(static_cast<std::uint64_t>(i), 1 + i % 13);
    CHECK(ring.Write(m.data(), static_cast<std::uint32_t>(m.size())));
    CHECK_EQ(ring.Read(out, sizeof out), m.size());
    CHECK(std::memcmp(out, m.data(), m.size()) == 0);
  }
  // And a consumer's object writes too, from the shared head on.
  shm::ByteRingBuffer other(memory.get(), 16 + 64, false);
  CHECK(other.Write("xy", 2));
  CHECK_EQ(ring.Read(out, sizeof out), 2u);
}

TEST(indices_wrap_at_two_to_the_32) {
  auto memory = heap(16 + 64);
  shm::ByteRingBuffer setup(memory.get(), 16 + 64, true);
  set_word(memory.get(), 0, 0xFFFFFFF0u);
  set_word(memory.get(), 4, 0xFFFFFFF0u);
  shm::ByteRingBuffer ring(memory.get(), 16 + 64, false);
  char out[16];
  for (int i = 0; i < 40; ++i) {
    const auto m = message(static_cast<std::uint64_t>(i), 1 + i % 11);
    CHECK(ring.Write(m.data(), static_cast<std::uint32_t>(m.size())));
    CHECK_EQ(ring.ReadableBytes(), m.size() + 4);
    CHECK_EQ(ring.Read(out, sizeof out), m.size());
    CHECK(std::memcmp(out, m.data(), m.size()) == 0);
  }
  CHECK(word(memory.get(), 0) < 0x1000u);  // head went past 2^32
  CHECK_EQ(word(memory.get(), 0), word(memory.get(), 4));
}

TEST(no_byte_past_the_memory_is_touched) {
  const std::uint32_t total = 16 + 100;  // a 64-byte ring and 36 bytes the ring does not use
  std::vector<unsigned char> block(total + 64, 0xA5);
  shm::ByteRingBuffer producer(block.data(), total, true);
  shm::ByteRingBuffer consumer(block.data(), total, false);
  char out[64];
  for (int i = 0; i < 500; ++i) {
    const auto m = message(static_cast<std::uint64_t>(i), 1 + i % 60);
    CHECK(producer.Write(m.data(), static_cast<std::uint32_t>(m.size())));
    CHECK_EQ(consumer.Read(out, sizeof out), m.size());
  }
  for (std::size_t k = 16 + 64; k < block.size(); ++k) CHECK_EQ(block[k], 0xA5);
}

TEST(memory_too_small_or_misaligned_makes_no_ring) {
  std::vector<std::uint32_t> words(16, 0);
  shm::ByteRingBuffer tiny(words.data(), 20, true);
  CHECK_EQ(tiny.Capacity(), 0u);
  CHECK(!tiny.Write("x", 1));
  CHECK_EQ(tiny.LastStatus().code(), errc::invalid_capacity);
  unsigned char* odd = reinterpret_cast<unsigned char*>(words.data()) + 1;
  shm::ByteRingBuffer misaligned(odd, 40, true);
  CHECK_EQ(misaligned.Capacity(), 0u);
  CHECK(!misaligned.Write("x", 1));
  char out[4];
  CHECK_EQ(misaligned.Read(out, sizeof out), 0u);
  for (std::uint32_t w : words) CHECK_EQ(w, 0u);
}

TEST(a_consumer_made_before_the_producer_attaches_later) {
  auto memory = heap(16 + 64);
  std::memset(memory.get(), 0, 16);
  shm::ByteRingBuffer consumer(memory.get(), 16 + 64, false);
  CHECK_EQ(consumer.Capacity(), 0u);
  CHECK(!consumer.HasData());
  shm::ByteRingBuffer producer(memory.get(), 16 + 64, true);
  CHECK(producer.Write("hi", 2));
  CHECK_EQ(consumer.Capacity(), 64u);
  char out[4];
  CHECK_EQ(consumer.Read(out, sizeof out), 2u);
}

// --- ShmProducer / ShmConsumer -------------------------------------------------------------

TEST(channel_rounds_capacity_down_and_carries_messages) {
  const std::string name = unique_name("chan");
  shm::ShmProducer producer(name.c_str(), 100);
  CHECK(producer.IsValid());
  CHECK_EQ(producer.Capacity(), 64u);
  CHECK_EQ(producer.WriteableBytes(), 64u);
  shm::ShmConsumer consumer(name.c_str());
  CHECK(consumer.IsValid());
  CHECK_EQ(consumer.Capacity(), 64u);
  CHECK(!consumer.HasData());
  CHECK(producer.Write("hello", 5));
  CHECK_EQ(producer.WriteableBytes(), 55u);
  CHECK(consumer.HasData());
  CHECK_EQ(consumer.ReadableBytes(), 9u);
  char out[16];
  CHECK_EQ(consumer.Read(out, sizeof out), 5u);
  CHECK(std::memcmp(out, "hello", 5) == 0);
  CHECK_EQ(consumer.Read(out, sizeof out), 0u);
  producer.Destroy();
  CHECK(!segment_exists(name));
}

TEST(channel_carries_4_kib_payloads_and_skips_what_does_not_fit) {
  const std::string name = unique_name("4k");
  shm::ShmProducer producer(name.c_str(), 16384);
  shm::ShmConsumer consumer(name.c_str(), 1234);  // any size: the real one is mapped
  CHECK(consumer.IsValid());
  std::vector<unsigned char> out(4096);
  for (std::uint64_t i = 0; i < 50; ++i) {
    const auto m = message(i, 4096);
    CHECK(producer.Write(m.data(), 4096));
    CHECK_EQ(consumer.Read(out.data(), 4096), 4096u);
    CHECK(out == m);
  }
  const auto m = message(50, 4096);
  CHECK(producer.Write(m.data(), 4096));
  CHECK_EQ(consumer.Read(out.data(), 4095), 0u);
  CHECK_EQ(consumer.SkippedMessages(), 1u);
  CHECK_EQ(consumer.LastStatus().needed(), 4096u);
  CHECK(!consumer.HasData());
  producer.Destroy();
}

TEST(a_second_segment_name_is_a_second_ring) {
  const std::string a = unique_name("a");
  const std::string b = unique_name("b");
  shm::ShmProducer pa(a.c_str(), 64);
  shm::ShmProducer pb(("/" + b).c_str(), 128);  // a leading '/' names the same object
  shm::ShmConsumer ca(("/" + a).c_str());
  shm::ShmConsumer cb(b.c_str());
  CHECK(pa.IsValid() && pb.IsValid() && ca.IsValid() && cb.IsValid());
  CHECK(pa.Write("A", 1));
  CHECK(pb.Write("BB", 2));
  char out[4];
  CHECK_EQ(cb.Read(out, sizeof out), 2u);
  CHECK_EQ(out[0], 'B');
  CHECK_EQ(ca.Read(out, sizeof out), 1u);
  CHECK_EQ(out[0], 'A');
  CHECK_EQ(cb.Capacity(), 128u);
  pa.Destroy();
  pb.Destroy();
}

TEST(consumer_of_a_missing_segment_is_not_valid) {
  const std::string name = unique_name("none");
  shm::ShmConsumer consumer(name.c_str());
  CHECK(!consumer.IsValid());
  CHECK_EQ(consumer.LastStatus().code(), errc::not_found);
  char out[4];
  CHECK_EQ(consumer.Read(out, sizeof out), 0u);
  CHECK(!consumer.HasData());
  CHECK_EQ(consumer.Capacity(), 0u);
}

TEST(remove_before_create_clears_a_dead_producers_segment) {
  const std::string name = unique_name("rm");
  {
    shm::ShmProducer old(name.c_str(), 64);
    CHECK(old.Write("stale", 5));
  }  // gone, its segment left behind (the destructor does not unlink)
  CHECK(segment_exists(name));
  shm::RemoveSharedMemory(name.c_str());
  CHECK(!segment_exists(name));
  shm::RemoveSharedMemory(name.c_str());  // nothing there: nothing happens
  shm::ShmProducer producer(name.c_str(), 64);
  CHECK(producer.IsValid());
  shm::ShmConsumer consumer(name.c_str());
  CHECK(!consumer.HasData());
  producer.Destroy();
}

TEST(a_live_producers_segment_is_neither_removed_nor_replaced) {
  const std::string name = unique_name("live");
  shm::ShmProducer first(name.c_str(), 64);
  CHECK(first.IsValid());
  shm::RemoveSharedMemory(name.c_str());
  CHECK(segment_exists(name));
  shm::ShmProducer second(name.c_str(), 64);
  CHECK(!second.IsValid());
  CHECK_EQ(second.LastStatus().code(), errc::in_use);
  CHECK(!second.Write("x", 1));
  CHECK_EQ(second.WriteableBytes(), 0u);
  shm::ShmConsumer consumer(name.c_str());
  CHECK(first.Write("x", 1));
  CHECK(consumer.HasData());
  first.Destroy();
}

TEST(blocking_calls_time_out_and_see_a_dead_peer) {
  const std::string name = unique_name("blk");
  std::unique_ptr<shm::ShmProducer> producer(new shm::ShmProducer(name.c_str(), 16));
  shm::ShmConsumer consumer(name.c_str(), 0, 1s);
  CHECK(consumer.IsValid());
  char out[16];
  CHECK_EQ(consumer.Read(out, sizeof out, 1ms), 0u);
  CHECK_EQ(consumer.LastStatus().code(), errc::timeout);
  CHECK(producer->Write("0123456789ab", 12, 1ms));
  CHECK(!producer->Write("z", 1, 1ms));
  CHECK_EQ(producer->LastStatus().code(), errc::timeout);
  CHECK_EQ(producer->PeerState(), shm_ring::peer_state::alive);
  CHECK_EQ(consumer.PeerState(), shm_ring::peer_state::alive);
  producer->Destroy();
  producer.reset();
  CHECK_EQ(consumer.PeerState(), shm_ring::peer_state::gone);
  // What was written before the producer went is still delivered; then the wait ends.
  CHECK_EQ(consumer.Read(out, sizeof out, 60s), 12u);
  CHECK_EQ(consumer.Read(out, sizeof out, 60s), 0u);
  CHECK_EQ(consumer.LastStatus().code(), errc::peer_gone);
}

TEST(drop_in_producer_feeds_a_full_api_consumer) {
  const std::string name = unique_name("d2f");
  shm::ShmProducer producer(name.c_str(), 4096);
  shm_ring::result<shm_ring::consumer> consumer = shm_ring::consumer::open(name);
  CHECK(consumer.ok());
  std::vector<std::uint8_t> out;
  for (std::uint64_t i = 0; i < 300; ++i) {
    const auto m = message(i, 1 + i % 500);
    CHECK(producer.Write(m.data(), static_cast<std::uint32_t>(m.size())));
    shm_ring::result<shm_ring::read_grant> g = consumer->try_read();
    CHECK(g.ok());
    g->into_vector(out);
    CHECK(out == m);
  }
  CHECK_EQ(producer.Ring().capacity(), 4096u);
  producer.Destroy();
}

TEST(full_api_producer_feeds_a_drop_in_consumer) {
  const std::string name = unique_name("f2d");
  shm_ring::producer_options options;
  options.unlink_on_close = true;
  shm_ring::result<shm_ring::producer> producer = shm_ring::producer::create(name, 4096, options);
  CHECK(producer.ok());
  shm::ShmConsumer consumer(name.c_str());
  CHECK(consumer.IsValid());
  std::vector<unsigned char> out(4096);
  for (std::uint64_t i = 0; i < 300; ++i) {
    const auto m = message(i, 1 + i % 500);
    CHECK(producer->try_write(m.data(), m.size()).ok());
    CHECK_EQ(consumer.Read(out.data(), 4096), m.size());
    CHECK(std::memcmp(out.data(), m.data(), m.size()) == 0);
  }
  CHECK(consumer.Ring().is_empty());
}

// --- SharedMemory ------------------------------------------------------------------------------

TEST(shared_memory_creates_opens_and_destroys) {
  const std::string name = unique_name("sm");
  shm::SharedMemory created(name.c_str(), 4096, true);
  CHECK(created.Valid());
  CHECK_EQ(created.GetError(), shm::Error::kOk);
  CHECK_EQ(created.Size(), std::size_t{4096});
  CHECK_EQ(std::string(created.Name()), "/" + name);
  std::memcpy(created.Data(), "shared", 6);
  shm::SharedMemory opened(("/" + name).c_str(), 4096, false);
  CHECK(opened.Valid());
  CHECK(std::memcmp(opened.Data(), "shared", 6) == 0);
  shm::SharedMemory whole(name.c_str(), 0, false);  // 0: the object's real size
  CHECK_EQ(whole.Size(), std::size_t{4096});
  shm::SharedMemory too_much(name.c_str(), 8192, false);
  CHECK(!too_much.Valid());
  CHECK_EQ(too_much.GetError(), shm::Error::kMappingFailed);
  created.Destroy();
  CHECK(!segment_exists(name));
  CHECK(std::memcmp(opened.Data(), "shared", 6) == 0);  // mappings stay
  shm::SharedMemory missing(name.c_str(), 4096, false);
  CHECK(!missing.Valid());
  CHECK_EQ(missing.GetError(), shm::Error::kOpenFailed);
  CHECK(missing.Data() == nullptr);
}

TEST(shared_memory_create_replaces_and_persist_false_unlinks) {
  const std::string name = unique_name("sp");
  {
    shm::SharedMemory first(name.c_str(), 64, true);
    std::memcpy(first.Data(), "old", 3);
    shm::SharedMemory second(name.c_str(), 128, true, false);
    CHECK(second.Valid());
    CHECK_EQ(second.Size(), std::size_t{128});
    const unsigned char* bytes = static_cast<const unsigned char*>(second.Data());
    CHECK_EQ(bytes[0], 0u);  // a new object, not the old one
    CHECK(segment_exists(name));
  }
  CHECK(!segment_exists(name));
  shm::SharedMemory refused("bad name", 64, true);
  CHECK(!refused.Valid());
  CHECK_EQ(refused.GetError(), shm::Error::kCreationFailed);
}

int main(int argc, char** argv) { return harness::run_all(argc, argv); }
