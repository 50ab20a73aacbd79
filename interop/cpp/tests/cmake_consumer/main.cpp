// Sends one message through a named ring and reads it back, and checks that a second
// translation unit sees the same error category; exits 0 only if all is well.
#include <shm_ring/shm_ring.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

std::string describe(shm_ring::errc code);  // second.cpp

int main() {
  const std::string name = "shmr_cmake_" + std::to_string(::getpid());
  shm_ring::producer_options options;
  options.unlink_on_close = true;
  shm_ring::result<shm_ring::producer> p = shm_ring::producer::create(name, 4096, options);
  if (!p) {
    std::fprintf(stderr, "create: %s\n", p.error().message().c_str());
    return 1;
  }
  shm_ring::result<shm_ring::consumer> c = shm_ring::consumer::open(name, std::chrono::seconds(5));
  if (!c) {
    std::fprintf(stderr, "open: %s\n", c.error().message().c_str());
    return 1;
  }
  const char text[] = "hello through shm_ring";
  const shm_ring::status w = p->write(text, sizeof text, std::chrono::seconds(5));
  std::vector<std::uint8_t> got;
  shm_ring::result<shm_ring::read_grant> g = c->read(std::chrono::seconds(5));
  if (g) g->into_vector(got);
  const shm_ring::status r = g ? shm_ring::status() : g.error();
  if (!w || !r || got.size() != sizeof text || std::memcmp(got.data(), text, sizeof text) != 0) {
    std::fprintf(stderr, "round trip failed: write: %s; read: %s\n", w.message().c_str(),
                 r.message().c_str());
    return 1;
  }
  // The error category is one object, whichever translation unit asks for it.
  if (&shm_ring::category() != &shm_ring::make_error_code(shm_ring::errc::full).category() ||
      describe(shm_ring::errc::full) != "the ring is full / shm_ring") {
    std::fprintf(stderr, "the two translation units disagree\n");
    return 1;
  }
  std::printf("cmake consumer: ok (capacity %u)\n", p->capacity());
  return 0;
}
