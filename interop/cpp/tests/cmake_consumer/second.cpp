// A second translation unit including the header: the program links only if the header keeps
// to the one-definition rule (everything inline or internal).
#include <shm_ring/shm_ring.hpp>

#include <string>

std::string describe(shm_ring::errc code) {
  return shm_ring::make_error_code(code).message() + " / " + shm_ring::category().name();
}
