// shm_ring.hpp - single-producer/single-consumer message ring in POSIX shared memory.
//
// Header-only, C++14, GCC or Clang, POSIX. Byte-compatible with the cpp_py_shmbuf v2 layout:
//
//   offset 0   head      u32 LE, written by the producer: bytes ever written (wraps mod 2^32)
//   offset 4   tail      u32 LE, written by the consumer: bytes ever consumed (wraps mod 2^32)
//   offset 8   capacity  u32 LE, written once by the producer (0 = not initialised yet)
//   offset 12  reserved  u32 LE: 0 in the original library; a producer of ours writes the
//                        marker 0x31585253 (the bytes "SRX1") to say the ring has an extension
//                        block (see "Sleeping and liveness" below)
//   offset 16  data area of `capacity` bytes (a power of two); stream byte i lives at
//              16 + (i & (capacity - 1))
//   offset E   extension block of 64 bytes, E = 16 + capacity rounded up to a multiple of 64:
//              byte 0 holds the producer's flags, byte 1 the consumer's, the rest stay 0.
//              The object is max(16 + requested capacity, E + 64) bytes.
//
// Each message is a record [u32 LE payload length][payload], packed back to back; both parts may
// wrap around the end of the data area at any byte.
//
// Memory ordering. C++14 has no std::atomic_ref, and treating bytes of a mapping as a
// std::atomic<uint32_t> object would be undefined behaviour (no such object was ever constructed
// there, and its layout is not guaranteed to be a bare uint32_t). The GCC/Clang builtins
// __atomic_load_n / __atomic_store_n operate on a plain, aligned uint32_t instead: each index word
// is read or written as one 4-byte atomic access (a plain mov on x86-64, ldar/stlr on AArch64),
// with acquire ordering when loading the other side's index and release ordering when publishing
// one's own. Plain loads plus standalone fences would be data races under the C++ memory model
// and are not understood by ThreadSanitizer; the builtins are.
//
// Sleeping and liveness (Linux, 64-bit). Each side owns one flag byte of the extension block
// and only ever stores to it, one byte at a time: SLEEPING (0x01) while it waits in FUTEX_WAIT
// on the other side's index word, LOCKED (0x02) while it holds its liveness lock, BARRIER (0x04)
// if its process registered for membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED). A side that
// publishes its index loads the other side's flag byte and calls FUTEX_WAKE only if SLEEPING is
// set; the side about to sleep pays for the memory barrier that makes this safe. Liveness is an
// open-file-description lock on one byte of the object (byte 0: producer, byte 1: consumer),
// which the kernel drops when its holder closes the object or dies. The block sits on a cache
// line of its own, away from the indices the other core keeps writing, so that the load after
// each publish hits the cache. A consumer uses the block only if the reserved word holds the
// marker and the object is large enough for it; against a producer without it (the original
// library), it writes nothing past the data area, and waiting falls back to polling in slices
// of at most 1 ms. Elsewhere waiting polls, and liveness is unknown.
//
// Error model: nothing throws. Operations return `shm_ring::status` (success or an error code
// with the values that explain it) or `shm_ring::result<T>` (a value or a status). Error codes
// are `shm_ring::errc`, usable as std::error_code. Works with -fno-exceptions (allocation
// failure inside std::string/std::vector then aborts, as everywhere under -fno-exceptions).

#ifndef SHM_RING_SHM_RING_HPP
#define SHM_RING_SHM_RING_HPP


// The parts, each in shm_ring/detail/, in the order they build on each other:
//   platform.hpp  compiler and system checks, system headers, feature macros
//   layout.hpp    the wire layout: offsets, flag bytes, capacities, sizes
//   status.hpp    errc, status, result<T>
//   ring.hpp      byte views; records copied in and out of the data area
//   os.hpp        futex, membarrier, OFD locks, file descriptors, mappings
//   wait.hpp      peer_state, wait_stats, the waiting loop, waking the other side
//   segment.hpp   names, headers, who may unlink a name; remove, remove_forced
//   end.hpp       what both ends share: queries, peer_state, the blocking calls' wait
//   producer.hpp  producer, write_grant
//   consumer.hpp  consumer, read_grant
// Include this file, not the parts: only it is the interface.

#include "detail/platform.hpp"
#include "detail/layout.hpp"
#include "detail/status.hpp"
#include "detail/ring.hpp"
#include "detail/os.hpp"
#include "detail/wait.hpp"
#include "detail/segment.hpp"
#include "detail/end.hpp"
#include "detail/producer.hpp"
#include "detail/consumer.hpp"

#endif  // SHM_RING_SHM_RING_HPP
