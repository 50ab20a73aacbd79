// Cross-language wake-ups: the C++ header against the Rust crate, in both roles each way.
//
//   cross_wake PATH_TO_SCRIPTED_END
//
// The Rust end (scripted_end.rs) runs as a child process and does what it is told, one command
// per line. Each check makes one side provably asleep in the kernel (FUTEX_WAIT, seen in /proc,
// and its SLEEPING bit set where the wire contract puts it), then has the other side publish,
// and requires the sleep to have been ended by a wake-up: both sides set their peer-check
// interval to an hour, so a missed wake-up shows as a sleep that ran out its slice (and as a
// blocking call that times out after 30 s), not as a delay of a millisecond or two.
//
//   1. Rust producer writes  -> C++ consumer blocked in read wakes
//   2. C++ consumer reads    -> Rust producer blocked on a full ring wakes
//   3. C++ producer writes   -> Rust consumer blocked in read wakes
//   4. Rust consumer reads   -> C++ producer blocked on a full ring wakes
//
// tests/check_cross_wake.sh builds both programs and runs this. Exits 0 when every check passed.
#include <shm_ring/shm_ring.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#if !SHM_RING_KERNEL_WAIT
#error "cross_wake checks kernel sleeping, which needs 64-bit Linux"
#endif

using namespace std::chrono_literals;

namespace {

// Reads one message into a vector through the read grant: the status of getting the grant.
shm_ring::status into(shm_ring::result<shm_ring::read_grant>&& g, std::vector<std::uint8_t>& out) {
  if (!g) return g.error();
  g->into_vector(out);
  return shm_ring::status();
}


constexpr std::uint32_t capacity = 4096;
constexpr std::size_t small = 100;   // a message that leaves plenty of room
constexpr std::size_t half = 2044;   // two of these (2048-byte records) fill the ring
constexpr int rounds = 3;
constexpr unsigned char sleeping = 0x01;
constexpr unsigned char locked = 0x02;
constexpr unsigned char barrier = 0x04;
// The block as the wire contract places it (not taken from the header under test).
constexpr std::size_t block = (16 + capacity + 63) / 64 * 64;
constexpr std::size_t producer_flags = block;
constexpr std::size_t consumer_flags = block + 1;

int failures = 0;

void fail(const std::string& what) {
  std::fprintf(stderr, "cross_wake: FAILED: %s\n", what.c_str());
  ++failures;
}

std::vector<std::uint8_t> message(std::size_t seed, std::size_t len) {
  std::vector<std::uint8_t> v(len);
  for (std::size_t j = 0; j < len; ++j) v[j] = static_cast<std::uint8_t>((seed * 7 + j) % 251);
  return v;
}

// Polls `ready` until it holds; false after a minute (a hang guard only).
template <class Ready>
bool wait_until(Ready ready) {
  const auto give_up = std::chrono::steady_clock::now() + 1min;
  while (!ready()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(50us);
  }
  return true;
}

// 1 if the thread is in the futex system call, 0 if not (or running), -1 if /proc does not say.
int in_futex(long pid, long tid) {
  char path[96];
  std::snprintf(path, sizeof path, "/proc/%ld/task/%ld/syscall", pid, tid);
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return -1;
  char first[32] = {};
  const bool read = std::fscanf(f, "%31s", first) == 1;
  std::fclose(f);
  if (!read) return -1;
  if (std::strcmp(first, "running") == 0) return 0;
  char* end = nullptr;
  const long number = std::strtol(first, &end, 10);
  if (end == first) return -1;
  return number == SYS_futex ? 1 : 0;
}

// A read-only view of a segment's bytes, to watch the flag bytes.
class watch {
 public:
  explicit watch(const std::string& name) {
    const int fd = ::shm_open(("/" + name).c_str(), O_RDONLY, 0);
    if (fd < 0) return;
    struct stat st;
    if (::fstat(fd, &st) == 0 && st.st_size > 0) {
      size_ = static_cast<std::size_t>(st.st_size);
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
      base_ = p == MAP_FAILED ? nullptr : static_cast<const unsigned char*>(p);
    }
    ::close(fd);
  }
  ~watch() {
    if (base_ != nullptr) ::munmap(const_cast<unsigned char*>(base_), size_);
  }
  watch(const watch&) = delete;
  watch& operator=(const watch&) = delete;

  bool ok() const { return base_ != nullptr && size_ >= block + 64; }
  unsigned char byte(std::size_t off) const {
    return __atomic_load_n(base_ + off, __ATOMIC_ACQUIRE);
  }
  std::uint32_t reserved() const {
    return static_cast<std::uint32_t>(byte(12)) | static_cast<std::uint32_t>(byte(13)) << 8 |
           static_cast<std::uint32_t>(byte(14)) << 16 | static_cast<std::uint32_t>(byte(15)) << 24;
  }

 private:
  const unsigned char* base_ = nullptr;
  std::size_t size_ = 0;
};

// The Rust end, a child process spoken to through its stdin and stdout.
class rust_end {
 public:
  explicit rust_end(const char* path) {
    int down[2];
    int up[2];
    if (::pipe(down) != 0 || ::pipe(up) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(down[0], 0);
      ::dup2(up[1], 1);
      ::close(down[0]);
      ::close(down[1]);
      ::close(up[0]);
      ::close(up[1]);
      ::execl(path, path, static_cast<char*>(nullptr));
      std::fprintf(stderr, "cross_wake: cannot run %s: %s\n", path, std::strerror(errno));
      ::_exit(127);
    }
    ::close(down[0]);
    ::close(up[1]);
    to_ = down[1];
    from_ = up[0];
  }
  ~rust_end() {
    if (to_ >= 0) ::close(to_);  // end of its input: it exits
    if (pid_ > 0) {
      const auto give_up = std::chrono::steady_clock::now() + 30s;
      int st = 0;
      while (::waitpid(pid_, &st, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > give_up) {
          ::kill(pid_, SIGKILL);
          ::waitpid(pid_, &st, 0);
          break;
        }
        std::this_thread::sleep_for(1ms);
      }
    }
    if (from_ >= 0) ::close(from_);
  }
  rust_end(const rust_end&) = delete;
  rust_end& operator=(const rust_end&) = delete;

  long pid() const { return pid_; }

  void send(const std::string& command) {
    const std::string line = command + "\n";
    if (::write(to_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      fail("cannot send \"" + command + "\" to the Rust end");
    }
  }

  // The next reply line; "" if none came within a minute (a hang guard only).
  std::string reply() {
    std::string line;
    for (;;) {
      const std::size_t nl = pending_.find('\n');
      if (nl != std::string::npos) {
        line = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        return line;
      }
      pollfd p{from_, POLLIN, 0};
      if (::poll(&p, 1, 60000) != 1) return "";
      char buf[256];
      const ssize_t n = ::read(from_, buf, sizeof buf);
      if (n <= 0) return "";
      pending_.append(buf, static_cast<std::size_t>(n));
    }
  }

  std::string ask(const std::string& command) {
    send(command);
    return reply();
  }

  // Whether its (only) thread sleeps in FUTEX_WAIT: 1, 0, or -1 when /proc does not say.
  int asleep_in_kernel() const { return in_futex(pid_, pid_); }

 private:
  long pid_ = -1;
  int to_ = -1;
  int from_ = -1;
  std::string pending_;
};

// The two numbers after "ok" (and after the length, for reads): sleeps and full slices.
bool parse_stats(const std::string& reply, bool has_length, unsigned long& sleeps,
                 unsigned long& full) {
  unsigned long len = 0;
  return has_length ? std::sscanf(reply.c_str(), "ok %lu %lu %lu", &len, &sleeps, &full) == 3
                    : std::sscanf(reply.c_str(), "ok %lu %lu", &sleeps, &full) == 2;
}

// Waits until the Rust end sleeps: its flag byte says SLEEPING, and /proc says FUTEX_WAIT where
// it can tell.
bool rust_asleep(const rust_end& rust, const watch& w, std::size_t flags_at) {
  return wait_until([&] {
    return (w.byte(flags_at) & sleeping) != 0 && rust.asleep_in_kernel() != 0;
  });
}

// Waits until a thread of ours sleeps in FUTEX_WAIT with its flag byte saying so.
bool cpp_asleep(const std::atomic<long>& tid, const watch& w, std::size_t flags_at) {
  return wait_until([&] {
    return tid.load() != 0 && in_futex(::getpid(), tid.load()) == 1 &&
           (w.byte(flags_at) & sleeping) != 0;
  });
}

void rust_producer_cpp_consumer(rust_end& rust, const std::string& name, unsigned char both) {
  if (rust.ask("create " + name + " " + std::to_string(capacity)) != "ok") {
    return fail("the Rust end cannot create " + name);
  }
  if (rust.asleep_in_kernel() < 0) {
    std::printf("cross_wake: /proc does not show the Rust end's system calls; its flag byte "
                "alone says when it sleeps\n");
  }
  shm_ring::result<shm_ring::consumer> opened = shm_ring::consumer::open(name);
  if (!opened) return fail("cannot open " + name + ": " + opened.error().message());
  shm_ring::consumer& c = opened.value();
  c.set_peer_check_interval(std::chrono::hours(1));
  const watch w(name);
  if (!w.ok()) return fail("cannot map " + name);
  if (w.reserved() != 0x31585253u) fail("the Rust producer did not write the marker");
  if (w.byte(producer_flags) != both) fail("the Rust producer's flag byte is not LOCKED|BARRIER");
  if (w.byte(consumer_flags) != both) fail("the C++ consumer's flag byte is not LOCKED|BARRIER");
  std::vector<std::uint8_t> out;

  // 1. Rust producer writes -> C++ consumer blocked in read wakes.
  for (int round = 0; round < rounds; ++round) {
    const shm_ring::wait_stats before = c.wait_stats();
    std::atomic<long> tid{0};
    shm_ring::status s;
    std::thread reader([&] {
      tid = ::syscall(SYS_gettid);
      s = into(c.read(30s), out);
    });
    const bool slept = cpp_asleep(tid, w, consumer_flags);
    const std::string reply = rust.ask("try_write " + std::to_string(small) + " " +
                                       std::to_string(round));
    reader.join();
    const shm_ring::wait_stats after = c.wait_stats();
    const std::string at = "Rust producer -> C++ consumer, round " + std::to_string(round) + ": ";
    if (!slept) fail(at + "the C++ consumer never slept");
    if (reply != "ok") fail(at + "the Rust end said \"" + reply + "\"");
    if (!s) fail(at + "read: " + s.message());
    if (out != message(static_cast<std::size_t>(round), small)) fail(at + "wrong message");
    if (after.sleeps == before.sleeps) fail(at + "no sleep was counted");
    if (after.full_slices != before.full_slices) {
      fail(at + "the C++ consumer's sleep ran out: the Rust producer did not wake it");
    }
  }

  // 2. C++ consumer reads -> Rust producer blocked on a full ring wakes.
  for (int round = 0; round < rounds; ++round) {
    const std::string at = "C++ consumer -> Rust producer, round " + std::to_string(round) + ": ";
    const std::size_t seed = 10 + 3 * static_cast<std::size_t>(round);
    const std::string len = std::to_string(half) + " ";
    if (rust.ask("try_write " + len + std::to_string(seed)) != "ok" ||
        rust.ask("try_write " + len + std::to_string(seed + 1)) != "ok" ||
        rust.ask("try_write " + len + std::to_string(seed + 2)) != "full") {
      return fail(at + "the Rust end did not fill the ring as expected");
    }
    rust.send("write " + len + std::to_string(seed + 2));
    const bool slept = rust_asleep(rust, w, producer_flags);
    const shm_ring::status r = into(c.try_read(), out);
    const std::string reply = rust.reply();
    unsigned long sleeps = 0, full = 0;
    if (!slept) fail(at + "the Rust producer never slept");
    if (!r || out != message(seed, half)) fail(at + "the first message was not read");
    if (!parse_stats(reply, false, sleeps, full)) {
      fail(at + "the Rust end said \"" + reply + "\"");
    } else {
      if (sleeps == 0) fail(at + "the Rust producer counted no sleep");
      if (full != 0) {
        fail(at + "the Rust producer's sleep ran out: the C++ consumer did not wake it");
      }
    }
    for (std::size_t i = 1; i < 3; ++i) {
      if (!into(c.read(30s), out) || out != message(seed + i, half)) {
        fail(at + "a later message is wrong");
      }
    }
  }
}

void cpp_producer_rust_consumer(rust_end& rust, const std::string& name, unsigned char both) {
  shm_ring::producer_options o;
  o.unlink_on_close = true;
  shm_ring::result<shm_ring::producer> created = shm_ring::producer::create(name, capacity, o);
  if (!created) return fail("cannot create " + name + ": " + created.error().message());
  shm_ring::producer& p = created.value();
  p.set_peer_check_interval(std::chrono::hours(1));
  if (rust.ask("open " + name) != "ok") return fail("the Rust end cannot open " + name);
  const watch w(name);
  if (!w.ok()) return fail("cannot map " + name);
  if (w.byte(producer_flags) != both) fail("the C++ producer's flag byte is not LOCKED|BARRIER");
  if (w.byte(consumer_flags) != both) fail("the Rust consumer's flag byte is not LOCKED|BARRIER");

  // 3. C++ producer writes -> Rust consumer blocked in read wakes.
  for (int round = 0; round < rounds; ++round) {
    const std::string at = "C++ producer -> Rust consumer, round " + std::to_string(round) + ": ";
    rust.send("read " + std::to_string(round));
    const bool slept = rust_asleep(rust, w, consumer_flags);
    const std::vector<std::uint8_t> msg = message(static_cast<std::size_t>(round), small);
    const shm_ring::status s = p.try_write(msg.data(), msg.size());
    const std::string reply = rust.reply();
    unsigned long sleeps = 0, full = 0;
    if (!slept) fail(at + "the Rust consumer never slept");
    if (!s) fail(at + "write: " + s.message());
    if (!parse_stats(reply, true, sleeps, full)) {
      fail(at + "the Rust end said \"" + reply + "\"");
    } else {
      if (sleeps == 0) fail(at + "the Rust consumer counted no sleep");
      if (full != 0) {
        fail(at + "the Rust consumer's sleep ran out: the C++ producer did not wake it");
      }
    }
  }

  // 4. Rust consumer reads -> C++ producer blocked on a full ring wakes.
  for (int round = 0; round < rounds; ++round) {
    const std::string at = "Rust consumer -> C++ producer, round " + std::to_string(round) + ": ";
    const std::size_t seed = 20 + 3 * static_cast<std::size_t>(round);
    const std::vector<std::uint8_t> m0 = message(seed, half), m1 = message(seed + 1, half),
                                    m2 = message(seed + 2, half);
    if (!p.try_write(m0.data(), half) || !p.try_write(m1.data(), half) ||
        p.try_write(m2.data(), half) != shm_ring::errc::full) {
      return fail(at + "the ring did not fill as expected");
    }
    const shm_ring::wait_stats before = p.wait_stats();
    std::atomic<long> tid{0};
    shm_ring::status s;
    std::thread writer([&] {
      tid = ::syscall(SYS_gettid);
      s = p.write(m2.data(), half, 30s);
    });
    const bool slept = cpp_asleep(tid, w, producer_flags);
    const std::string reply = rust.ask("try_read " + std::to_string(seed));
    writer.join();
    const shm_ring::wait_stats after = p.wait_stats();
    if (!slept) fail(at + "the C++ producer never slept");
    if (reply != "ok " + std::to_string(half)) fail(at + "the Rust end said \"" + reply + "\"");
    if (!s) fail(at + "write: " + s.message());
    if (after.sleeps == before.sleeps) fail(at + "no sleep was counted");
    if (after.full_slices != before.full_slices) {
      fail(at + "the C++ producer's sleep ran out: the Rust consumer did not wake it");
    }
    for (std::size_t i = 1; i < 3; ++i) {
      const std::string r = rust.ask("read " + std::to_string(seed + i));
      if (r.compare(0, 3, "ok ") != 0) fail(at + "a later message: \"" + r + "\"");
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: cross_wake PATH_TO_SCRIPTED_END\n");
    return 2;
  }
  // Without membarrier neither side can promise a wake-up (both sleep in 1 ms slices), and
  // there is nothing to check.
  if (::syscall(SYS_membarrier, 4, 0, 0) != 0) {
    std::fprintf(stderr, "cross_wake: membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) is "
                         "not available here: wake-ups cannot be checked\n");
    return 2;
  }
  const unsigned char both = locked | barrier;
  const std::string tag = "shmr_xw" + std::to_string(::getpid());
  {
    rust_end rust(argv[1]);
    if (rust.pid() <= 0) {
      fail("cannot start the Rust end");
    } else {
      rust_producer_cpp_consumer(rust, tag + "_r", both);
    }
  }
  {
    rust_end rust(argv[1]);
    if (rust.pid() <= 0) {
      fail("cannot start the Rust end");
    } else {
      cpp_producer_rust_consumer(rust, tag + "_c", both);
    }
  }
  if (failures != 0) {
    std::fprintf(stderr, "cross_wake: %d checks failed\n", failures);
    return 1;
  }
  std::printf("cross_wake: %d rounds in each of 4 directions; every sleep was ended by the other "
              "side's wake-up\n",
              rounds);
  return 0;
}
