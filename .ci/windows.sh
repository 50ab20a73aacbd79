#!/usr/bin/env bash
# Windows under Wine: the crate's tests, the conformance pairs of the Rust and C++ peers (each
# in both roles, against itself and against the other), a producer killed under a blocked
# consumer, a second producer refused on a live name, and the C++ CMake target with ctest.
#
# Needs the cross setup (shared/cross/setup-cross.sh: cross-cargo, wine-run, MinGW-w64). Every
# Windows process runs in one Wine prefix, so they share one wineserver and see each other's
# named objects. Exit status 0 when everything passed; otherwise the first failure's message.
set -euo pipefail
cd "$(dirname "$0")/.."

export WINEPREFIX=${WINEPREFIX:-$HOME/.wine-cross}
export CARGO_TARGET_DIR=target/cross
target=x86_64-pc-windows-gnu
bin=$CARGO_TARGET_DIR/$target/debug
cxx=x86_64-w64-mingw32-g++-posix
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n==> windows: %s\n' "$*"; }
fail() {
  echo "windows: $*" >&2
  exit 1
}
now() { echo "$SECONDS"; }
took() { echo "    ($(($SECONDS - $1)) s)"; }

step "the crate's tests under Wine (unit, property, API, hostile, inspect)"
# The tests that need python3, a C++ compiler, /proc or cargo itself are cfg-ed out on
# Windows (each says why); this also builds peer.exe and shm-ring.exe. The doc-tests pass
# under Wine too (those that show POSIX naming are `ignore-windows`), but each is an
# executable of its own and they take three minutes here, so CI leaves them out:
#   CARGO_TARGET_DIR=target/cross cross-cargo test --target x86_64-pc-windows-gnu --doc
t=$(now)
# The library and the shm-ring tool; the bridge (Zenoh) is not built for Windows.
cross-cargo test --locked --target "$target" -p shm_ring -p shm_ring_cli --lib --bins --tests
cross-cargo build --locked --target "$target" --example peer
took "$t"

step "C++ with MinGW-w64 (C++14, -Wall -Wextra, no warnings): the peer, the Windows tests"
t=$(now)
for source in examples/peer.cpp tests/windows_tests.cpp; do
  out=$work/$(basename "${source%.cpp}")-cpp.exe
  "$cxx" -std=c++14 -O2 -Wall -Wextra -Werror -static -I interop/cpp/include \
    "interop/cpp/$source" -o "$out"
done
wine-run "$work/windows_tests-cpp.exe"
took "$t"

step "C++ CMake target with the MinGW toolchain file: configure, build, ctest under Wine"
t=$(now)
# cmake is not part of a fresh machine (as in .ci/run).
if ! command -v cmake >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq cmake >/dev/null
fi
cmake -S interop/cpp -B "$work/cmake" -DCMAKE_TOOLCHAIN_FILE=/opt/cross/mingw-w64-x86_64.cmake \
  -DCMAKE_CXX_FLAGS="-Wall -Wextra -Werror" >"$work/cmake.log" 2>&1 \
  || { cat "$work/cmake.log" >&2; fail "configuring the C++ project for Windows"; }
cmake --build "$work/cmake" -j2 >>"$work/cmake.log" 2>&1 \
  || { cat "$work/cmake.log" >&2; fail "building the C++ project for Windows"; }
(cd "$work/cmake" && ctest --output-on-failure)
took "$t"

rust_peer=$bin/examples/peer.exe
cpp_peer=$work/peer-cpp.exe
pairs=0

# run_pair LABEL PRODUCER_EXE CONSUMER_EXE COUNT PRODUCER_ARGS...: the consumer starts first
# and waits for the segment; both must exit 0 and the consumer must report COUNT messages.
run_pair() {
  local label=$1 producer=$2 consumer=$3 count=$4
  shift 4
  local name="win-$label-$$"
  local sizes=(--min-size 1 --max-size 8192)
  wine-run "$consumer" consumer --name "$name" --count "$count" "${sizes[@]}" \
    >"$work/c.out" 2>"$work/c.err" &
  local consumer_pid=$!
  local producer_status=0 consumer_status=0
  wine-run "$producer" producer --name "$name" --count "$count" "${sizes[@]}" "$@" \
    >"$work/p.out" 2>"$work/p.err" || producer_status=$?
  # (The braces keep the shell's note on the killed job out of the log.)
  { wait "$consumer_pid"; } 2>/dev/null || consumer_status=$?
  if [ "$producer_status" != 0 ] || [ "$consumer_status" != 0 ] \
    || ! grep -q "\"role\":\"consumer\",\"messages\":$count," "$work/c.out"; then
    cat "$work"/p.out "$work"/p.err "$work"/c.out "$work"/c.err >&2
    fail "$label: producer exit $producer_status, consumer exit $consumer_status"
  fi
  pairs=$((pairs + 1))
  echo "    $label: $(cat "$work/c.out")"
}

step "conformance pairs: 20,000 messages of 1 to 8192 bytes through a 16 KiB ring, and the 2^32 wrap"
t=$(now)
for producer in rust cpp; do
  for consumer in rust cpp; do
    p=${producer}_peer c=${consumer}_peer
    run_pair "$producer-$consumer" "${!p}" "${!c}" 20000 --capacity 16384
    run_pair "$producer-$consumer-wrap" "${!p}" "${!c}" 20000 --capacity 16384 \
      --start-index 4294967000
  done
done
took "$t"

# The Linux PID of the Windows process running PROGRAM with ARGS (Wine runs each Windows
# process as a Linux process whose command line is the program's).
wine_pid() { pgrep -f -x -- "$*" | head -n 1; }

# killed_producer LABEL PRODUCER_EXE CONSUMER_EXE: a pair streaming without end; once both
# ends are alive (as `shm-ring inspect` reports them), a second producer on the same name must
# be refused, and then the producer's Windows process is killed with SIGKILL: the consumer must
# read what was published and report the producer gone. (A consumer provably blocked in a read
# when its producer is killed is tests/api.rs, `a_killed_producer_ends_a_blocked_read`.)
killed_producer() {
  local label=$1 producer=$2 consumer=$3
  local name="win-$label-$$"
  local stream=(--count 1000000000 --min-size 1 --max-size 8192)
  wine-run "$consumer" consumer --name "$name" "${stream[@]}" \
    >"$work/c.out" 2>"$work/c.err" &
  local consumer_pid=$!
  wine-run "$producer" producer --name "$name" "${stream[@]}" --capacity 16384 \
    >"$work/p.out" 2>"$work/p.err" &
  local producer_pid=$!
  local polls=0
  until wine-run "$bin/shm-ring.exe" inspect "$name" >"$work/inspect.out" 2>&1 \
    && grep -q '^producer  *alive' "$work/inspect.out" \
    && grep -q '^consumer  *alive' "$work/inspect.out"; do
    kill -0 "$producer_pid" 2>/dev/null && kill -0 "$consumer_pid" 2>/dev/null \
      || { cat "$work"/p.* "$work"/c.* >&2; fail "$label: a peer ended early"; }
    polls=$((polls + 1))
    [ "$polls" -lt 600 ] || fail "$label: the pair did not start streaming"
  done
  local second_status=0
  wine-run "$producer" producer --name "$name" --count 1 --size 1 \
    >"$work/second.out" 2>"$work/second.err" || second_status=$?
  # Rust: "... is in use by a live producer"; C++: "... is in use: its producer is alive".
  if [ "$second_status" != 1 ] \
    || ! grep -Eq "in use by a live producer|in use: its producer is alive" "$work/second.err"; then
    cat "$work/second.out" "$work/second.err" >&2
    fail "$label: a second producer on a live name exited $second_status, not refused"
  fi
  echo "    $label: $(cat "$work/second.err")"
  local windows_pid
  windows_pid=$(wine_pid "$producer" producer --name "$name" "${stream[@]}" --capacity 16384)
  [ -n "$windows_pid" ] || fail "$label: no Linux process runs the producer"
  kill -9 "$windows_pid"
  local consumer_status=0
  # (The braces keep the shell's note on the killed job out of the log.)
  { wait "$consumer_pid"; } 2>/dev/null || consumer_status=$?
  { wait "$producer_pid"; } 2>/dev/null || true
  if [ "$consumer_status" != 1 ] || ! grep -q "the producer is gone" "$work/c.err"; then
    cat "$work"/c.* >&2
    fail "$label: the consumer exited $consumer_status without reporting the producer gone"
  fi
  echo "    $label: $(cat "$work/c.err")"
}

step "crash: a killed producer under a blocked consumer; a second producer refused"
t=$(now)
killed_producer killed-rust "$rust_peer" "$cpp_peer"
killed_producer killed-cpp "$cpp_peer" "$rust_peer"
took "$t"

echo "windows: $pairs conformance pairs, the crash cases and the tests passed under Wine ($SECONDS s)"
