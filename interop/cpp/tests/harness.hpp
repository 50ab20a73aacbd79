// A minimal test harness: TEST(name) { CHECK(...); CHECK_EQ(a, b); } and run_all(argc, argv).
// A failed check reports file, line and values, and ends the current test; run_all returns 1 if
// any test failed. An optional command-line argument runs only tests whose name contains it.
#ifndef SHM_RING_TESTS_HARNESS_HPP
#define SHM_RING_TESTS_HARNESS_HPP

#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace harness {

struct test_case {
  const char* name;
  void (*fn)();
};

inline std::vector<test_case>& registry() {
  static std::vector<test_case> tests;
  return tests;
}

struct registrar {
  registrar(const char* name, void (*fn)()) { registry().push_back(test_case{name, fn}); }
};

// Thrown-free failure signalling: the current test stops at the first failed check.
struct failure_state {
  bool failed = false;
};
inline failure_state& state() {
  static failure_state s;
  return s;
}

inline void report(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "  FAILED %s:%d: %s\n", file, line, what.c_str());
  state().failed = true;
}

template <class T>
std::string show(const T& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
inline std::string show(unsigned char v) { return std::to_string(static_cast<unsigned>(v)); }
inline std::string show(signed char v) { return std::to_string(static_cast<int>(v)); }

inline int run_all(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : nullptr;
  int failed = 0;
  int ran = 0;
  for (const test_case& t : registry()) {
    if (filter != nullptr && std::strstr(t.name, filter) == nullptr) continue;
    state().failed = false;
    std::fprintf(stderr, "test %s ...\n", t.name);
    t.fn();
    ++ran;
    if (state().failed) {
      ++failed;
      std::fprintf(stderr, "test %s FAILED\n", t.name);
    }
  }
  std::fprintf(stderr, "%d tests, %d failed\n", ran, failed);
  if (ran == 0) {
    std::fprintf(stderr, "no test matched\n");
    return 1;
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace harness

#define TEST(name)                                                 \
  static void name();                                              \
  static const harness::registrar name##_registrar(#name, &name); \
  static void name()

#define CHECK(cond)                                   \
  do {                                                \
    if (!(cond)) {                                    \
      harness::report(__FILE__, __LINE__, #cond);     \
      return;                                         \
    }                                                 \
  } while (0)

#define CHECK_EQ(a, b)                                                                  \
  do {                                                                                  \
    const auto check_a_ = (a);                                                          \
    const auto check_b_ = (b);                                                          \
    if (!(check_a_ == check_b_)) {                                                      \
      harness::report(__FILE__, __LINE__,                                               \
                      std::string(#a " == " #b ": ") + harness::show(check_a_) + " vs " + \
                          harness::show(check_b_));                                     \
      return;                                                                           \
    }                                                                                   \
  } while (0)

#endif  // SHM_RING_TESTS_HARNESS_HPP
