// A translation unit written against the original library's headers: the target's include
// directory serves them too, and they keep to the one-definition rule beside shm_ring.hpp.
#include "shm/shm_channel.hpp"

unsigned dropin_capacity() {
  alignas(4) static unsigned char memory[shm::kHeaderSize + 64];
  shm::ByteRingBuffer ring(memory, sizeof memory, true);
  return ring.Capacity();
}
