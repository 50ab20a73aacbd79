// A consumer written only against the original library's API (shm/shm_channel.hpp), as its
// programs are: waits for the segment to appear, then polls HasData() and reads the
// conformance stream, checking every message.
//   consumer NAME COUNT SIZE     prints "read COUNT messages"; exit status 1 on a mismatch
#include "shm/shm_channel.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: consumer NAME COUNT SIZE\n");
    return 2;
  }
  const char* name = argv[1];
  const unsigned long count = std::strtoul(argv[2], nullptr, 10);
  const unsigned long size = std::strtoul(argv[3], nullptr, 10);
  std::unique_ptr<shm::ShmConsumer> consumer(new shm::ShmConsumer(name));
  while (!consumer->IsValid()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    consumer.reset(new shm::ShmConsumer(name));
  }
  std::vector<unsigned char> buffer(size + 1);
  unsigned long i = 0;
  while (i < count) {
    if (!consumer->HasData()) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      continue;
    }
    const uint32_t n = consumer->Read(buffer.data(), static_cast<uint32_t>(buffer.size()));
    if (n != size) {
      std::fprintf(stderr, "consumer: message %lu has %u bytes, expected %lu\n", i, n, size);
      return 1;
    }
    for (unsigned long j = 0; j < size; ++j) {
      if (buffer[j] != static_cast<unsigned char>((i * 7 + j) % 251)) {
        std::fprintf(stderr, "consumer: message %lu differs at byte %lu\n", i, j);
        return 1;
      }
    }
    ++i;
  }
  std::printf("read %lu messages\n", count);
  return 0;
}
