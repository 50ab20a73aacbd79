// A producer written only against the original library's API (shm/shm_channel.hpp), as its
// programs are: removes a stale segment, creates the ring, writes the conformance stream with a
// retry loop while the ring is full, waits until the consumer has read everything, and removes
// the segment.
//   producer NAME COUNT SIZE     prints "wrote COUNT messages"; exit status 1 on failure
#include "shm/shm_channel.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: producer NAME COUNT SIZE\n");
    return 2;
  }
  const char* name = argv[1];
  const unsigned long count = std::strtoul(argv[2], nullptr, 10);
  const unsigned long size = std::strtoul(argv[3], nullptr, 10);
  shm::RemoveSharedMemory(name);
  shm::ShmProducer producer(name, 4096);
  if (!producer.IsValid()) {
    std::fprintf(stderr, "producer: cannot create %s\n", name);
    return 1;
  }
  std::vector<unsigned char> message(size);
  for (unsigned long i = 0; i < count; ++i) {
    for (unsigned long j = 0; j < size; ++j) {
      message[j] = static_cast<unsigned char>((i * 7 + j) % 251);
    }
    while (!producer.Write(message.data(), static_cast<uint32_t>(size))) {
      std::this_thread::yield();
    }
  }
  // Everything read: the ring is empty again.
  while (producer.WriteableBytes() != producer.Capacity()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  producer.Destroy();
  std::printf("wrote %lu messages\n", count);
  return 0;
}
