#!/usr/bin/env bash
# Proves that the C++ header and the Rust crate of this repository wake each other: builds
# tests/cross_wake/scripted_end.rs against the crate (with cargo, in a throw-away package whose
# lock file is the repository's) and tests/cross_wake/cross_wake.cpp against the header (under
# AddressSanitizer and UndefinedBehaviorSanitizer), then runs them together. Every sleep on
# either side must be ended by the other side's wake-up. 64-bit Linux only. Exits non-zero on
# any failure.
set -euo pipefail

fail() {
  echo "check_cross_wake.sh: FAILED: $*" >&2
  exit 1
}
command -v cargo >/dev/null 2>&1 || fail "cargo not found: install Rust (https://rustup.rs)"
cxx="${CXX:-g++}"
command -v "$cxx" >/dev/null 2>&1 || fail "$cxx not found: install a C++14 compiler"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cpp="$(cd "$here/.." && pwd)"
root="$(cd "$cpp/../.." && pwd)"
[ -f "$root/Cargo.toml" ] || fail "the shm_ring crate is not at $root"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== building the Rust end"
mkdir -p "$work/end/src"
cat >"$work/end/Cargo.toml" <<EOF
[package]
name = "scripted_end"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
shm_ring = { path = "$root" }

[workspace]
EOF
cp "$here/cross_wake/scripted_end.rs" "$work/end/src/main.rs"
cp "$root/Cargo.lock" "$work/end/Cargo.lock"
# Kept in a target directory that outlives this run, so that a second run builds nothing
# again: CROSS_WAKE_TARGET_DIR (tests/cpp.rs passes one under its own target directory),
# else cross_wake/ in cargo's target directory ($CARGO_TARGET_DIR, else the repository's).
target="${CROSS_WAKE_TARGET_DIR:-${CARGO_TARGET_DIR:-$root/target}/cross_wake}"
cargo build --quiet --manifest-path "$work/end/Cargo.toml" \
  --target-dir "$target" || fail "building the Rust end"
end="$target/debug/scripted_end"
echo "built $end"

echo "== building the C++ side"
"$cxx" -std=c++14 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
  -Wall -Wextra -Werror -I "$cpp/include" "$here/cross_wake/cross_wake.cpp" \
  -o "$work/cross_wake" -pthread || fail "building cross_wake.cpp"

echo "== running"
"$work/cross_wake" "$end" || fail "cross_wake"
echo "check_cross_wake.sh: the C++ and Rust ends woke each other every time"
