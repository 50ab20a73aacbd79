// The Windows behaviour of shm_ring.hpp (built with MinGW-w64, run under Wine in CI): named
// mappings, liveness through named mutexes, what cannot be done there, and a producer process
// killed while its consumer waits in a read. Exits 0 only if every check passed.
//
//   x86_64-w64-mingw32-g++-posix -std=c++14 -Wall -Wextra -static -I interop/cpp/include
//       interop/cpp/tests/windows_tests.cpp -o windows_tests.exe
//   windows_tests.exe
#include <shm_ring/shm_ring.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

int failures = 0;

void check(bool ok, const char* what, int line) {
  if (!ok) {
    std::fprintf(stderr, "FAILED (line %d): %s\n", line, what);
    ++failures;
  }
}
#define CHECK(cond) check((cond), #cond, __LINE__)

std::string unique(const char* tag) {
  static int next = 0;
  return "cw" + std::to_string(::GetCurrentProcessId()) + "-" + tag + "-" + std::to_string(next++);
}

std::vector<std::uint8_t> take(shm_ring::consumer& c) {
  std::vector<std::uint8_t> out;
  shm_ring::result<shm_ring::read_grant> g = c.try_read();
  if (g) g->into_vector(out);
  return out;
}

bool same(const std::vector<std::uint8_t>& got, const char* text) {
  return got.size() == std::strlen(text) && std::memcmp(got.data(), text, got.size()) == 0;
}

void a_ring_works_and_each_end_sees_the_other() {
  const std::string name = unique("pair");
  shm_ring::result<shm_ring::producer> p = shm_ring::producer::create(name, 4096);
  CHECK(p.ok());
  if (!p) return;
  CHECK(p->peer_state() == shm_ring::peer_state::unknown);
  shm_ring::result<shm_ring::consumer> c = shm_ring::consumer::open(name);
  CHECK(c.ok());
  if (!c) return;
  CHECK(p->peer_state() == shm_ring::peer_state::alive);
  CHECK(c->peer_state() == shm_ring::peer_state::alive);
  CHECK(p->try_write("hello", 5).ok());
  CHECK(same(take(*c), "hello"));
  // One producer and one consumer at a time.
  CHECK(shm_ring::producer::create(name, 4096).code() == shm_ring::errc::in_use);
  CHECK(shm_ring::producer::open(name).code() == shm_ring::errc::in_use);
  CHECK(shm_ring::consumer::open(name).code() == shm_ring::errc::in_use);
  shm_ring::producer_options exclusive;
  exclusive.exclusive = true;
  CHECK(shm_ring::producer::create(name, 4096, exclusive).code() ==
        shm_ring::errc::already_exists);
  // Windows has no name to remove.
  CHECK(shm_ring::remove(name).code() == shm_ring::errc::in_use);
  CHECK(shm_ring::remove_forced(name).code() == shm_ring::errc::unsupported);
  // The producer gone, its consumer still holds the mapping: it cannot be replaced, but its
  // producer role can be taken over.
  *p = shm_ring::producer();
  CHECK(c->peer_state() == shm_ring::peer_state::gone);
  CHECK(shm_ring::producer::create(name, 4096).code() == shm_ring::errc::unsupported);
  shm_ring::result<shm_ring::producer> again = shm_ring::producer::open(name);
  CHECK(again.ok());
  if (again) {
    CHECK(again->try_write("again", 5).ok());
    CHECK(same(take(*c), "again"));
  }
}

void a_name_is_free_once_its_last_handle_is_closed() {
  const std::string name = unique("last");
  {
    shm_ring::result<shm_ring::producer> p = shm_ring::producer::create(name, 4096);
    CHECK(p.ok());
  }
  CHECK(shm_ring::consumer::open(name).code() == shm_ring::errc::not_found);
  CHECK(shm_ring::remove(name).code() == shm_ring::errc::not_found);
  CHECK(shm_ring::producer::create(name, 64).ok());
}

void a_namespace_prefix_is_part_of_the_name() {
  const std::string name = "Local\\" + unique("local");
  shm_ring::result<shm_ring::producer> p = shm_ring::producer::create(name, 4096);
  CHECK(p.ok());
  if (!p) return;
  CHECK(p->name() == name);
  shm_ring::result<shm_ring::consumer> c = shm_ring::consumer::open(name);
  CHECK(c.ok());
  if (!c) return;
  CHECK(p->try_write("local", 5).ok());
  CHECK(same(take(*c), "local"));
  CHECK(shm_ring::consumer::open("Session\\x").code() == shm_ring::errc::invalid_name);
}

// The child process: a producer that writes one message, says "ready" and waits to be killed.
int producer_to_kill(const std::string& name) {
  shm_ring::result<shm_ring::producer> p = shm_ring::producer::create(name, 4096);
  if (!p || !p->try_write("before", 6)) return 2;
  std::printf("ready\n");
  std::fflush(stdout);
  ::Sleep(INFINITE);
  return 0;
}

void a_killed_producer_ends_a_blocked_read(const char* self) {
  const std::string name = unique("killed");
  SECURITY_ATTRIBUTES inherit{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
  HANDLE out_read = nullptr, out_write = nullptr;
  CHECK(::CreatePipe(&out_read, &out_write, &inherit, 0) != 0);
  ::SetHandleInformation(out_read, HANDLE_FLAG_INHERIT, 0);
  STARTUPINFOA si{};
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdOutput = out_write;
  si.hStdError = ::GetStdHandle(STD_ERROR_HANDLE);
  si.hStdInput = ::GetStdHandle(STD_INPUT_HANDLE);
  PROCESS_INFORMATION pi{};
  std::string command = std::string("\"") + self + "\" child " + name;
  CHECK(::CreateProcessA(nullptr, &command[0], nullptr, nullptr, TRUE, 0, nullptr, nullptr, &si,
                         &pi) != 0);
  ::CloseHandle(out_write);
  std::string said;
  char ch = 0;
  DWORD got = 0;
  while (said.find("ready") == std::string::npos && ::ReadFile(out_read, &ch, 1, &got, nullptr) &&
         got == 1) {
    said += ch;
  }
  CHECK(said.find("ready") != std::string::npos);
  shm_ring::result<shm_ring::consumer> c = shm_ring::consumer::open(name);
  CHECK(c.ok());
  if (c) {
    CHECK(same(take(*c), "before"));
    CHECK(c->peer_state() == shm_ring::peer_state::alive);
    // While the producer lives, waiting ends by timing out.
    CHECK(c->read(std::chrono::milliseconds(50)).code() == shm_ring::errc::timeout);
    shm_ring::errc result = shm_ring::errc::timeout;
    bool started = false;
    std::thread reader([&] {
      __atomic_store_n(&started, true, __ATOMIC_RELEASE);
      result = c->read(std::chrono::seconds(600)).code();
    });
    while (!__atomic_load_n(&started, __ATOMIC_ACQUIRE)) std::this_thread::yield();
    CHECK(::TerminateProcess(pi.hProcess, 9) != 0);
    ::WaitForSingleObject(pi.hProcess, INFINITE);
    reader.join();
    CHECK(result == shm_ring::errc::peer_gone);
    CHECK(c->peer_state() == shm_ring::peer_state::gone);
  }
  ::CloseHandle(out_read);
  ::CloseHandle(pi.hThread);
  ::CloseHandle(pi.hProcess);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "child") == 0) return producer_to_kill(argv[2]);
  a_ring_works_and_each_end_sees_the_other();
  a_name_is_free_once_its_last_handle_is_closed();
  a_namespace_prefix_is_part_of_the_name();
  a_killed_producer_ends_a_blocked_read(argv[0]);
  if (failures != 0) {
    std::fprintf(stderr, "windows_tests: %d checks failed\n", failures);
    return 1;
  }
  std::printf("windows_tests: all checks passed\n");
  return 0;
}
