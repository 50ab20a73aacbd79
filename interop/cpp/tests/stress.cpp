// Two-thread stress test: a producer thread and a consumer thread share one ring in one
// mapping (so that ThreadSanitizer sees both sides of every access), and move messages of
// 1..=8192 bytes (the conformance stream) through a 16 KiB data area. Every message is checked.
// The indices start just below 2^32, so the run crosses the wrap. Each side switches between
// the ways of writing (copy, reserve/commit, batch) and reading (buffer, vector, in place,
// batch) every few messages. Every 1000 messages each side, at different points, stops until
// the other has gone to sleep in the kernel (its SLEEPING flag bit set: the reader on an empty
// ring, the writer on a full one), so that sleeping and waking run under ThreadSanitizer too.
//
//   g++ -std=c++14 -g -O1 -fsanitize=thread -I interop/cpp/include
//       interop/cpp/tests/stress.cpp -o interop/cpp/build/stress -pthread
//   interop/cpp/build/stress [count]
#include <shm_ring/shm_ring.hpp>

#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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


constexpr std::size_t min_len = 1;
constexpr std::size_t max_len = 8192;
constexpr std::size_t ring_bytes = 16384;
constexpr std::chrono::seconds patience{60};  // only guards against a hang
// Messages between two pauses of one side (no pauses where blocking calls poll instead of
// sleeping: nobody would ever set SLEEPING).
constexpr std::uint64_t pause_every = SHM_RING_KERNEL_WAIT ? 1000 : UINT64_MAX / 4;

// Waits until a side's flag byte (byte 0 of the extension block: producer, byte 1: consumer)
// has SLEEPING (0x01) set.
bool wait_until_asleep(const unsigned char* flags) {
  const auto give_up = std::chrono::steady_clock::now() + patience;
  while ((__atomic_load_n(flags, __ATOMIC_ACQUIRE) & 0x01) == 0) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

std::size_t length_of(std::uint64_t i) {
  const std::uint64_t spread = (i * 2654435761u) & 0xFFFFFFFFu;
  return min_len + static_cast<std::size_t>(spread % (max_len - min_len + 1));
}

// pattern[k] = k % 251; message i is pattern[(i * 7) % 251 ...][0 .. length_of(i)).
std::vector<std::uint8_t> make_pattern() {
  std::vector<std::uint8_t> p(251 + max_len);
  for (std::size_t k = 0; k < p.size(); ++k) p[k] = static_cast<std::uint8_t>(k % 251);
  return p;
}

const std::uint8_t* expected(const std::vector<std::uint8_t>& pattern, std::uint64_t i) {
  return pattern.data() + (i * 7) % 251;
}

class failures {
 public:
  void add(const std::string& what) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (first_.empty()) first_ = what;
    failed_.store(true);
  }
  bool any() const { return failed_.load(); }
  std::string first() {
    std::lock_guard<std::mutex> lock(mutex_);
    return first_;
  }

 private:
  std::mutex mutex_;
  std::string first_;
  std::atomic<bool> failed_{false};
};

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t count = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
  const std::size_t size = static_cast<std::size_t>(shm_ring::segment_size(ring_bytes));
  void* memory = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    std::perror("mmap");
    return 1;
  }
  const std::uint32_t start = 0xFFFFFFFFu - 3 * ring_bytes;
  shm_ring::result<shm_ring::producer> p = shm_ring::producer::create_in_memory(memory, size, start);
  shm_ring::result<shm_ring::consumer> c = shm_ring::consumer::open_in_memory(memory, size);
  if (!p || !c || p->capacity() != ring_bytes) {
    std::fprintf(stderr, "stress: cannot set up the ring\n");
    return 1;
  }
  const std::vector<std::uint8_t> pattern = make_pattern();
  failures fail;
  const unsigned char* const block =
      static_cast<unsigned char*>(memory) + shm_ring::extension_offset(ring_bytes);
  const unsigned char* const producer_flags = block;
  const unsigned char* const consumer_flags = block + 1;
  std::uint64_t writer_pauses = 0, reader_pauses = 0;

  std::thread writer([&] {
    shm_ring::producer& w = p.value();
    std::vector<shm_ring::byte_view> batch;
    std::uint64_t i = 0;
    std::uint64_t next_pause = pause_every / 2;  // half-way between the reader's pauses
    while (i < count && !fail.any()) {
      if (i >= next_pause) {
        // The reader drains the ring and sleeps.
        if (!wait_until_asleep(consumer_flags)) return fail.add("the reader never slept");
        ++writer_pauses;
        next_pause += pause_every;
      }
      const std::size_t len = length_of(i);
      switch ((i / 7) % 3) {
        case 0: {
          const shm_ring::status s = w.write(expected(pattern, i), len, patience);
          if (!s) return fail.add("write " + std::to_string(i) + ": " + s.message());
          ++i;
          break;
        }
        case 1: {
          shm_ring::result<shm_ring::write_grant> r = w.reserve(len, patience);
          if (!r) return fail.add("reserve " + std::to_string(i) + ": " + r.error().message());
          const shm_ring::mutable_byte_view a = r->first(), b = r->second();
          std::memcpy(a.data, expected(pattern, i), a.size);
          if (b.size != 0) std::memcpy(b.data, expected(pattern, i) + a.size, b.size);
          r->commit();
          ++i;
          break;
        }
        default: {
          batch.clear();
          for (std::uint64_t j = i; j < count && j < i + 7; ++j) {
            batch.emplace_back(expected(pattern, j), length_of(j));
          }
          shm_ring::result<std::size_t> n = w.write_batch(batch.data(), batch.size(), patience);
          if (!n) return fail.add("batch at " + std::to_string(i) + ": " + n.error().message());
          i += *n;
          break;
        }
      }
    }
    const shm_ring::status s = w.wait_until_empty(patience);
    if (!s) fail.add("drain: " + s.message());
  });

  std::thread reader([&] {
    shm_ring::consumer& r = c.value();
    std::vector<std::uint8_t> buffer(max_len);
    std::vector<std::uint8_t> copy;
    std::uint64_t i = 0;
    const auto check = [&](shm_ring::byte_view a, shm_ring::byte_view b) {
      const std::size_t len = length_of(i);
      if (a.size + b.size != len) {
        fail.add("message " + std::to_string(i) + ": length " + std::to_string(a.size + b.size) +
                 ", expected " + std::to_string(len));
      } else if (std::memcmp(a.data, expected(pattern, i), a.size) != 0 ||
                 (b.size != 0 && std::memcmp(b.data, expected(pattern, i) + a.size, b.size) != 0)) {
        fail.add("message " + std::to_string(i) + ": wrong bytes");
      }
      ++i;
    };
    std::uint64_t next_pause = pause_every;
    while (i < count && !fail.any()) {
      if (i >= next_pause) {
        // The writer fills the ring and sleeps.
        if (!wait_until_asleep(producer_flags)) return fail.add("the writer never slept");
        ++reader_pauses;
        next_pause += pause_every;
      }
      switch ((i / 5) % 4) {
        case 0: {
          shm_ring::result<std::size_t> n = into(r.read(patience), buffer.data(), buffer.size());
          if (!n) return fail.add("read " + std::to_string(i) + ": " + n.error().message());
          check(shm_ring::byte_view(buffer.data(), *n), shm_ring::byte_view());
          break;
        }
        case 1: {
          const shm_ring::status s = into(r.read(patience), copy);
          if (!s) return fail.add("read " + std::to_string(i) + ": " + s.message());
          check(shm_ring::byte_view(copy.data(), copy.size()), shm_ring::byte_view());
          break;
        }
        case 2: {
          const shm_ring::status s = look(r.read(patience), check);
          if (!s) return fail.add("read " + std::to_string(i) + ": " + s.message());
          break;
        }
        default: {
          const shm_ring::result<std::size_t> n =
              r.read_batch(static_cast<std::size_t>(count - i < 9 ? count - i : 9), check, patience);
          if (!n) return fail.add("batch at " + std::to_string(i) + ": " + n.error().message());
          break;
        }
      }
    }
  });

  writer.join();
  reader.join();
  if (fail.any()) {
    std::fprintf(stderr, "stress: FAILED: %s\n", fail.first().c_str());
    return 1;
  }
  // Both indices must have moved by every record's size, modulo 2^32.
  std::uint64_t total = 0;
  for (std::uint64_t i = 0; i < count; ++i) total += shm_ring::prefix_size + length_of(i);
  const std::uint32_t want = static_cast<std::uint32_t>(start + total);
  const std::uint32_t head = __atomic_load_n(static_cast<std::uint32_t*>(memory), __ATOMIC_ACQUIRE);
  const std::uint32_t tail =
      __atomic_load_n(static_cast<std::uint32_t*>(memory) + 1, __ATOMIC_ACQUIRE);
  if (head != want || tail != want) {
    std::fprintf(stderr, "stress: FAILED: head %u, tail %u, expected both %u\n", head, tail, want);
    return 1;
  }
  std::printf("stress: %llu messages of %zu..=%zu bytes through a %zu-byte ring: all verified%s;"
              " each side waited %llu and %llu times for the other to sleep\n",
              static_cast<unsigned long long>(count), min_len, max_len, ring_bytes,
              total > 0xFFFFFFFFu - start ? " (indices crossed 2^32)" : "",
              static_cast<unsigned long long>(writer_pauses),
              static_cast<unsigned long long>(reader_pauses));
  ::munmap(memory, size);
  return 0;
}
