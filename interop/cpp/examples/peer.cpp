// The conformance peer: writes or reads the conformance stream through a shm_ring segment.
//
//   peer producer|consumer --name NAME --count N (--size S | --min-size A --max-size B)
//        [--capacity BYTES] [--timeout-ms T] [--no-verify] [--start-index I]
//        [--zero-copy] [--batch]
//
// Message i has length L(i) (S, or A + ((i * 2654435761) mod 2^32) mod (B - A + 1)) and byte j
// equal to (i * 7 + j) % 251. On success the peer prints one JSON line on stdout and exits 0;
// on failure it prints one line on stderr and exits 1. If the other side's process ends first,
// that line is "consumer: message N: the producer is gone" (after reading everything the
// producer published) or "producer: message N: the consumer is gone" (N: the first message the
// consumer did not read). `--help` prints the usage line on stdout and exits 0.
//
//   mkdir -p interop/cpp/build
//   g++ -std=c++14 -O2 -Wall -Wextra -Werror -I interop/cpp/include
//       interop/cpp/examples/peer.cpp -o interop/cpp/build/peer
#include <shm_ring/shm_ring.hpp>

#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct options {
  bool producer = false;
  std::string name;
  std::uint64_t count = 0;
  std::uint64_t min_size = 0;
  std::uint64_t max_size = 0;
  std::uint64_t capacity = 1048576;
  std::uint64_t timeout_ms = 60000;
  std::uint32_t start_index = 0;
  bool verify = true;
  bool zero_copy = false;
  bool batch = false;
};

// How many messages one batch call may carry at most.
constexpr std::size_t batch_limit = 64;

// The outcome of a run: empty on success, else the one line for stderr (without the role).
using failure = std::string;

bool parse_number(const std::string& text, std::uint64_t max, std::uint64_t& out) {
  if (text.empty() || text.size() > 20) return false;
  std::uint64_t v = 0;
  for (const char ch : text) {
    if (ch < '0' || ch > '9') return false;
    const std::uint64_t digit = static_cast<std::uint64_t>(ch - '0');
    if (v > (max - digit) / 10) return false;
    v = v * 10 + digit;
  }
  out = v;
  return true;
}

// Parses the command line into `o`; returns what is wrong, or "" if nothing.
std::string parse(int argc, char** argv, options& o) {
  if (argc < 2) return "expected producer or consumer as the first argument";
  const std::string role = argv[1];
  if (role != "producer" && role != "consumer") {
    return "expected producer or consumer as the first argument, got \"" + role + "\"";
  }
  o.producer = role == "producer";

  bool has_name = false, has_count = false, has_size = false, has_min = false, has_max = false;
  std::vector<std::string> seen;
  std::uint64_t size = 0;
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    std::string value;
    bool has_value = false;
    const std::size_t eq = flag.find('=');
    if (flag.compare(0, 2, "--") == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag.resize(eq);
      has_value = true;
    }
    for (const std::string& s : seen) {
      if (s == flag) return flag + " is given twice";
    }
    seen.push_back(flag);

    if (flag == "--no-verify" || flag == "--zero-copy" || flag == "--batch") {
      if (has_value) return flag + " takes no value";
      if (flag == "--no-verify") o.verify = false;
      if (flag == "--zero-copy") o.zero_copy = true;
      if (flag == "--batch") o.batch = true;
      continue;
    }
    const bool known = flag == "--name" || flag == "--count" || flag == "--size" ||
                       flag == "--min-size" || flag == "--max-size" || flag == "--capacity" ||
                       flag == "--timeout-ms" || flag == "--start-index";
    if (!known) return "unknown argument \"" + flag + "\"";
    if (!has_value) {
      if (i + 1 >= argc) return flag + " needs a value";
      value = argv[++i];
    }
    if (flag == "--name") {
      o.name = value;
      has_name = true;
      continue;
    }
    std::uint64_t n = 0;
    const std::uint64_t max =
        flag == "--start-index" || flag == "--size" || flag == "--min-size" || flag == "--max-size"
            ? 0xFFFFFFFFu
            : UINT64_MAX;
    if (!parse_number(value, max, n)) {
      return flag + " needs a whole number from 0 to " + std::to_string(max) + ", got \"" +
             value + "\"";
    }
    if (flag == "--count") {
      o.count = n;
      has_count = true;
    } else if (flag == "--size") {
      size = n;
      has_size = true;
    } else if (flag == "--min-size") {
      o.min_size = n;
      has_min = true;
    } else if (flag == "--max-size") {
      o.max_size = n;
      has_max = true;
    } else if (flag == "--capacity") {
      o.capacity = n;
    } else if (flag == "--timeout-ms") {
      o.timeout_ms = n;
    } else {
      o.start_index = static_cast<std::uint32_t>(n);
    }
  }
  if (!has_name) return "--name is required";
  if (!has_count) return "--count is required";
  if (has_size && (has_min || has_max)) return "give either --size or --min-size/--max-size";
  if (has_size) {
    o.min_size = o.max_size = size;
  } else if (!has_min || !has_max) {
    return "give either --size, or both --min-size and --max-size";
  } else if (o.min_size > o.max_size) {
    return "--min-size " + std::to_string(o.min_size) + " is larger than --max-size " +
           std::to_string(o.max_size);
  }
  return std::string();
}

// The conformance stream: lengths and expected payloads.
class stream {
 public:
  // Payloads are needed only up to `longest` bytes: longer messages cannot travel anyway.
  stream(const options& o, std::uint64_t longest)
      : min_(o.min_size), span_(o.max_size - o.min_size + 1) {
    const std::uint64_t n = (o.max_size < longest ? o.max_size : longest) + 251;
    pattern_.resize(static_cast<std::size_t>(n));
    for (std::size_t k = 0; k < pattern_.size(); ++k) {
      pattern_[k] = static_cast<std::uint8_t>(k % 251);
    }
  }
  std::uint64_t length(std::uint64_t i) const {
    if (span_ == 1) return min_;  // one size: no division per message
    return min_ + ((i * 2654435761u) & 0xFFFFFFFFu) % span_;
  }
  // The expected payload of message i (valid for lengths up to `longest`).
  const std::uint8_t* payload(std::uint64_t i) const { return pattern_.data() + (i * 7) % 251; }

 private:
  std::uint64_t min_;
  std::uint64_t span_;
  std::vector<std::uint8_t> pattern_;
};

std::string hex(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", v);
  return buf;
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

using clock_type = std::chrono::steady_clock;

struct report {
  std::uint64_t bytes = 0;
  double seconds = 0;
};

std::string timed_out_line(const options& o, const char* what) {
  return "timed out after " + std::to_string(o.timeout_ms) + " ms waiting for " + what;
}

// What went wrong with message i, for a status that is not ok.
std::string message_failure(std::uint64_t i, const options& o, const shm_ring::status& s,
                            const char* waiting_for) {
  const std::string prefix = "message " + std::to_string(i) + ": ";
  if (s.code() == shm_ring::errc::timeout) return prefix + timed_out_line(o, waiting_for);
  return prefix + s.message();
}

failure run_producer(const options& o, report& out) {
  const std::chrono::milliseconds timeout(o.timeout_ms);
  shm_ring::producer_options po;
  po.start_index = o.start_index;
  po.unlink_on_close = true;  // also when the run fails half-way
  shm_ring::result<shm_ring::producer> created = shm_ring::producer::create(o.name, o.capacity, po);
  if (!created) return "cannot create segment " + quoted(o.name) + ": " + created.error().message();
  shm_ring::producer& p = created.value();
  const stream st(o, p.max_message_len());

  std::vector<shm_ring::byte_view> batch;
  batch.reserve(batch_limit);
  const clock_type::time_point t0 = clock_type::now();
  std::uint64_t i = 0;
  while (i < o.count) {
    if (o.batch) {
      batch.clear();
      for (std::uint64_t j = i; j < o.count && batch.size() < batch_limit; ++j) {
        batch.emplace_back(st.payload(j), static_cast<std::size_t>(st.length(j)));
      }
      const shm_ring::result<std::size_t> n = p.write_batch(batch.data(), batch.size(), timeout);
      if (!n) return message_failure(i, o, n.error(), "space");
      for (std::size_t k = 0; k < *n; ++k) out.bytes += batch[k].size;
      i += *n;
      continue;
    }
    const std::size_t len = static_cast<std::size_t>(st.length(i));
    if (o.zero_copy) {
      shm_ring::result<shm_ring::write_grant> g = p.reserve(len, timeout);
      if (!g) return message_failure(i, o, g.error(), "space");
      g->copy_from(st.payload(i), len);
      g->commit();
    } else {
      const shm_ring::status s = p.write(st.payload(i), len, timeout);
      if (!s) return message_failure(i, o, s, "space");
    }
    out.bytes += len;
    ++i;
  }
  out.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();

  const shm_ring::status drained = p.wait_until_empty(timeout);
  if (drained.code() == shm_ring::errc::peer_gone) {
    // Name the first message the consumer did not read: the unread bytes are the last records.
    std::uint64_t first_unread = o.count;
    for (std::uint64_t unread = p.readable_bytes(); unread > 0 && first_unread > 0;) {
      --first_unread;
      const std::uint64_t record = shm_ring::prefix_size + st.length(first_unread);
      unread -= record < unread ? record : unread;
    }
    return "message " + std::to_string(first_unread) + ": " + drained.message();
  }
  if (!drained) return timed_out_line(o, "the consumer to drain the ring");
  const shm_ring::status s = p.unlink();
  if (!s) return "cannot unlink segment " + quoted(o.name) + ": " + s.message();
  return failure();
}

// Whether the pieces a, b of message i carry its expected payload (its length is right).
bool same_payload(const stream& st, std::uint64_t i, shm_ring::byte_view a, shm_ring::byte_view b) {
  const std::uint8_t* expect = st.payload(i);
  return std::memcmp(a.data, expect, a.size) == 0 &&
         (b.size == 0 || std::memcmp(b.data, expect + a.size, b.size) == 0);
}

// What is wrong with message i, received as the pieces a, b: its length or its first wrong byte.
__attribute__((noinline)) std::string mismatch(const stream& st, std::uint64_t i,
                                               shm_ring::byte_view a, shm_ring::byte_view b) {
  const std::uint64_t want = st.length(i);
  const std::uint64_t got = a.size + b.size;
  if (got != want) {
    return "message " + std::to_string(i) + ": length " + std::to_string(got) + ", expected " +
           std::to_string(want);
  }
  const std::uint8_t* expect = st.payload(i);
  for (std::size_t j = 0; j < got; ++j) {
    const std::uint8_t byte = j < a.size ? a.data[j] : b.data[j - a.size];
    if (byte != expect[j]) {
      return "message " + std::to_string(i) + ": byte " + std::to_string(j) + " is " + hex(byte) +
             ", expected " + hex(expect[j]);
    }
  }
  return std::string();
}

failure run_consumer(const options& o, report& out) {
  const std::chrono::milliseconds timeout(o.timeout_ms);
  shm_ring::result<shm_ring::consumer> opened = shm_ring::consumer::open(o.name, timeout);
  if (!opened) {
    if (opened.code() == shm_ring::errc::timeout) {
      return timed_out_line(o, ("segment " + quoted(o.name) + " to be ready").c_str());
    }
    return "cannot open segment " + quoted(o.name) + ": " + opened.error().message();
  }
  shm_ring::consumer& c = opened.value();
  const stream st(o, c.max_message_len());

  std::uint64_t i = 0;
  std::string problem;  // the first mismatch seen
  clock_type::time_point t0;

  // Checks message i (the pieces of its payload) and moves on to the next. Kept small, so
  // that it is inlined into the reading loops; describing a mismatch is out of line.
  const auto check = [&](shm_ring::byte_view a, shm_ring::byte_view b) {
    if (i == 0) t0 = clock_type::now();
    const std::uint64_t got = a.size + b.size;
    if (problem.empty() && (got != st.length(i) || (o.verify && !same_payload(st, i, a, b)))) {
      problem = mismatch(st, i, a, b);
    }
    out.bytes += got;
    ++i;
  };

  std::vector<std::uint8_t> buffer(static_cast<std::size_t>(
      o.max_size < c.max_message_len() ? o.max_size : c.max_message_len()));
  while (i < o.count && problem.empty()) {
    shm_ring::status s;
    if (o.batch) {
      const std::uint64_t left = o.count - i;
      const std::size_t most = left < batch_limit ? static_cast<std::size_t>(left) : batch_limit;
      s = c.read_batch(most, check, timeout).error();
    } else if (o.zero_copy) {
      shm_ring::result<shm_ring::read_grant> g = c.read(timeout);
      if (g) {
        check(g->first(), g->second());
        g->commit();
        continue;
      }
      s = g.error();
    } else {
      shm_ring::result<shm_ring::read_grant> g = c.read(timeout);
      const shm_ring::result<std::size_t> n =
          g ? g->into_buffer(buffer.data(), buffer.size()) : shm_ring::result<std::size_t>(g.error());
      if (n) {
        check(shm_ring::byte_view(buffer.data(), *n), shm_ring::byte_view());
        continue;
      }
      s = n.error();
      if (s.code() == shm_ring::errc::buffer_too_small) {
        return "message " + std::to_string(i) + ": length " + std::to_string(s.needed()) +
               ", expected " + std::to_string(st.length(i));
      }
    }
    if (!s) return message_failure(i, o, s, "the message");
  }
  if (!problem.empty()) return problem;
  if (o.count != 0) out.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  return failure();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::printf(
        "usage: peer producer|consumer --name NAME --count N (--size S | --min-size A "
        "--max-size B) [--capacity BYTES] [--timeout-ms T] [--no-verify] [--start-index I] "
        "[--zero-copy] [--batch]\n");
    return std::fflush(stdout) == 0 ? 0 : 1;
  }
  options o;
  const std::string bad = parse(argc, argv, o);
  const char* role = argc > 1 && std::strcmp(argv[1], "producer") == 0 ? "producer"
                     : argc > 1 && std::strcmp(argv[1], "consumer") == 0 ? "consumer"
                                                                          : "peer";
  if (!bad.empty()) {
    std::fprintf(stderr, "%s: %s\n", role, bad.c_str());
    return 1;
  }
  report r;
  const failure f = o.producer ? run_producer(o, r) : run_consumer(o, r);
  if (!f.empty()) {
    std::fprintf(stderr, "%s: %s\n", role, f.c_str());
    return 1;
  }
  // Seconds as printed (6 decimals); the rate is computed from them, so the line is
  // consistent, and is 0.0 when they print as 0.
  const double seconds = static_cast<double>(static_cast<std::uint64_t>(r.seconds * 1e6 + 0.5)) / 1e6;
  const double rate = seconds > 0 ? static_cast<double>(o.count) / seconds : 0.0;
  std::printf("{\"role\":\"%s\",\"messages\":%" PRIu64 ",\"bytes\":%" PRIu64
              ",\"seconds\":%.6f,\"msgs_per_sec\":%.1f}\n",
              role, o.count, r.bytes, seconds, rate);
  return std::fflush(stdout) == 0 ? 0 : 1;
}
