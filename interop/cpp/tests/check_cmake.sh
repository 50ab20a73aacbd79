#!/usr/bin/env bash
# Proves the CMake packaging of shm_ring works: builds and runs tests/cmake_consumer once with
# add_subdirectory and once with find_package after `cmake --install` into a temporary prefix,
# and builds and runs the project's own tests through ctest. Exits non-zero on any failure.
set -euo pipefail

fail() {
  echo "check_cmake.sh: FAILED: $*" >&2
  exit 1
}
command -v cmake >/dev/null 2>&1 ||
  fail "cmake not found: install it (e.g. apt-get install cmake) and run this script again"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== add_subdirectory"
cmake -S "$here/cmake_consumer" -B "$work/sub" -DSHM_RING_MODE=subdirectory ||
  fail "configuring the consumer with add_subdirectory"
cmake --build "$work/sub" || fail "building the consumer with add_subdirectory"
"$work/sub/consumer_demo" || fail "running the consumer built with add_subdirectory"

echo "== install"
cmake -S "$root" -B "$work/lib" -DCMAKE_INSTALL_PREFIX="$work/prefix" \
  -DSHM_RING_BUILD_TESTS=OFF -DSHM_RING_BUILD_EXAMPLES=OFF || fail "configuring shm_ring"
cmake --build "$work/lib" || fail "building shm_ring"
cmake --install "$work/lib" || fail "installing shm_ring"
[ -f "$work/prefix/include/shm_ring/shm_ring.hpp" ] || fail "the header was not installed"
# shm_ring.hpp includes its parts from shm_ring/detail/: every one of them must be installed.
for part in "$root"/include/shm_ring/detail/*.hpp; do
  [ -f "$work/prefix/include/shm_ring/detail/$(basename "$part")" ] ||
    fail "shm_ring/detail/$(basename "$part") was not installed"
done
for header in shm_channel byte_ring_buffer shared_memory; do
  [ -f "$work/prefix/include/shm/$header.hpp" ] || fail "shm/$header.hpp was not installed"
done
config="$(find "$work/prefix" -name shm_ringConfig.cmake -print -quit)"
[ -n "$config" ] || fail "shm_ringConfig.cmake was not installed"

echo "== find_package"
# The consumer is copied away from the source tree, so that only the installed package can
# satisfy it.
cp -r "$here/cmake_consumer" "$work/consumer_src"
cmake -S "$work/consumer_src" -B "$work/pkg" -DSHM_RING_MODE=package \
  -DCMAKE_PREFIX_PATH="$work/prefix" || fail "configuring the consumer with find_package"
cmake --build "$work/pkg" || fail "building the consumer with find_package"
"$work/pkg/consumer_demo" || fail "running the consumer built with find_package"

echo "== top-level build and ctest"
cmake -S "$root" -B "$work/top" -DCMAKE_BUILD_TYPE=Release || fail "configuring the top-level build"
cmake --build "$work/top" || fail "building the peer and the tests"
(cd "$work/top" && ctest --output-on-failure) || fail "ctest"

echo "check_cmake.sh: all CMake checks passed"
