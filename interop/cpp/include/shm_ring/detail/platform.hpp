// shm_ring/detail/platform.hpp - what the header needs from the compiler and the system: the
// checks, the system headers, and the macros that switch kernel sleeping and liveness on.

#ifndef SHM_RING_DETAIL_PLATFORM_HPP
#define SHM_RING_DETAIL_PLATFORM_HPP



#if !defined(__GNUC__) && !defined(__clang__)
#error "shm_ring.hpp needs GCC or Clang (it uses the __atomic builtins on the shared index words)"
#endif
#if __cplusplus < 201402L
#error "shm_ring.hpp needs C++14 or later"
#endif

#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(_WIN32)
// Named mappings, mutexes and security descriptors (detail/windows.hpp).
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#include <sddl.h>
#include <process.h>
#include <sys/types.h>
#include <chrono>
#include <thread>
#else
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#endif

#if defined(__linux__)
#include <sys/syscall.h>
#endif

// Kernel sleeping (futex + membarrier) and liveness (OFD locks): 64-bit Linux only. (On 32-bit
// targets the timespec and struct flock layouts these calls take depend on build options.)
#if defined(__linux__) && defined(SYS_futex) && __SIZEOF_POINTER__ == 8
#define SHM_RING_KERNEL_WAIT 1
#else
#define SHM_RING_KERNEL_WAIT 0
#endif

// Marks the waiting loops: out of line and out of the way of the calls that rarely need them.
#if defined(__GNUC__)
#define SHM_RING_COLD __attribute__((noinline, cold))
#else
#define SHM_RING_COLD
#endif

#endif  // SHM_RING_DETAIL_PLATFORM_HPP
