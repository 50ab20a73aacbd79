// shm/byte_ring_buffer.hpp builds on its own, with every name it declares.
#include "shm/byte_ring_buffer.hpp"

#include <cstdio>

int main() {
  alignas(4) unsigned char memory[shm::kHeaderSize + 64] = {};
  shm::ByteRingBuffer producer(memory, sizeof memory, true);
  shm::ByteRingBuffer consumer(memory, sizeof memory, false);
  const shm::RingHeader* header = reinterpret_cast<const shm::RingHeader*>(memory);
  char out[8];
  const bool ok = producer.Write("ok", 2) && consumer.HasData() &&
                  consumer.ReadableBytes() == 6 && producer.WriteableBytes() == 58 &&
                  consumer.Read(out, sizeof out) == 2 && consumer.Capacity() == 64 &&
                  header->capacity == 64;
  std::printf("%s\n", ok ? "ok" : "failed");
  return ok ? 0 : 1;
}
