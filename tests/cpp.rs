//! Builds and runs the C++ peer of shm_ring (interop/cpp) with the system's C++ compiler.
//!
//! These tests need a C++14 compiler: `g++`, or the one `$CXX` names. Without one they fail;
//! they never skip. Everything is built under `CARGO_TARGET_TMPDIR`. The C++ peer's runs
//! against itself and the other languages are in `tests/interop.rs`.

// Windows builds of these tests would run under Wine, which has no python3, no C++ compiler
// and cannot see a native Linux peer's objects; the Windows conformance runs are in
// .ci/windows.sh.
#![cfg(not(windows))]
// Some cases need Linux and say so with a cfg; what only they use is unused elsewhere.
#![cfg_attr(not(target_os = "linux"), allow(unused_imports, dead_code))]

use std::path::Path;
use std::process::{Command, Output};

use support::process::output_text;
use support::tools::{build_cpp as build, ASAN_UBSAN};

/// Flags the conformance peer must build cleanly with.
const STRICT: &[&str] = &[
    "-O2",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wpedantic",
    "-Wshadow",
    "-Wconversion",
];

/// Runs a program to completion; panics with its output unless it exits 0.
fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        output_text(&out)
    );
    out
}

/// Also checks that `--help` prints the peers' usage line on stdout and exits 0.
#[test]
fn peer_builds_with_strict_warnings() {
    let peer = build("examples/peer.cpp", "peer_strict", STRICT);
    let out = run(Command::new(peer).arg("--help"), "the C++ peer with --help");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(
            "usage: peer producer|consumer --name NAME --count N (--size S | --min-size A --max-size B) [--capacity BYTES] [--timeout-ms T] [--no-verify] [--start-index I] [--zero-copy] [--batch]\n"
        ),
        "unexpected output:\n{}",
        output_text(&out)
    );
}

#[test]
fn header_builds_without_exceptions_or_rtti() {
    let flags = [STRICT, &["-fno-exceptions", "-fno-rtti"]].concat();
    // Between them, the peer and the stress test use every part of the header.
    build("examples/peer.cpp", "peer_no_exceptions", &flags);
    build("tests/stress.cpp", "stress_no_exceptions", &flags);
}

#[test]
fn unit_tests_pass_under_asan_and_ubsan() {
    let exe = build("tests/unit_tests.cpp", "unit_tests_asan_ubsan", ASAN_UBSAN);
    let out = run(
        &mut Command::new(exe),
        "the C++ unit tests under ASan+UBSan",
    );
    let text = output_text(&out);
    assert!(
        text.contains(" tests, 0 failed"),
        "unexpected output:\n{text}"
    );
}

/// The command that runs a ThreadSanitizer binary.
///
/// ThreadSanitizer as shipped with GCC 12 (and LLVM before 18) aborts with "unexpected memory
/// mapping" on kernels that randomise mmap addresses with more bits than it expects
/// (vm.mmap_rnd_bits = 32 on some recent distribution kernels). `setarch -R` runs the program
/// with address-space randomisation disabled, which avoids that; it changes nothing where
/// ThreadSanitizer already works.
fn tsan_command(exe: &Path) -> Command {
    let have_setarch = Command::new("setarch")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if have_setarch {
        let mut cmd = Command::new("setarch");
        cmd.arg(std::env::consts::ARCH).arg("-R").arg(exe);
        cmd
    } else {
        Command::new(exe)
    }
}

#[test]
fn two_thread_stress_test_passes_under_tsan() {
    let exe = build(
        "tests/stress.cpp",
        "stress_tsan",
        &["-g", "-O1", "-fsanitize=thread"],
    );
    let mut cmd = tsan_command(&exe);
    cmd.env("TSAN_OPTIONS", "halt_on_error=1");
    let out = run(&mut cmd, "the C++ stress test under TSan");
    let text = output_text(&out);
    assert!(
        text.contains("200000 messages") && text.contains("all verified"),
        "unexpected output:\n{text}"
    );
    assert!(!text.contains("ThreadSanitizer"), "TSan reported:\n{text}");
}

/// Also checks where the script builds its Rust end: in this test's own target directory
/// (the Rust end is removed first, so it must be built there again), never in the
/// repository's `target/` when cargo's target directory is elsewhere.
// Only Linux sleeps in a futex that the other end wakes; elsewhere both poll.
#[cfg(target_os = "linux")]
#[test]
fn cpp_and_rust_ends_wake_each_other_in_all_four_directions() {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/cpp/tests/check_cross_wake.sh");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cross_wake");
    let end = target.join("debug/scripted_end");
    if end.exists() {
        std::fs::remove_file(&end).expect("remove the previous Rust end");
    }
    let mut cmd = Command::new("bash");
    cmd.arg(&script)
        .env("CARGO", env!("CARGO"))
        .env("PATH", path_with_cargo())
        .env("CROSS_WAKE_TARGET_DIR", &target);
    let out = run(&mut cmd, "interop/cpp/tests/check_cross_wake.sh");
    let text = output_text(&out);
    assert!(
        text.contains("woke each other every time"),
        "unexpected output:\n{text}"
    );
    assert!(
        end.exists(),
        "the script did not build its Rust end in {}:\n{text}",
        target.display()
    );
}

/// `PATH` with the directory of the `cargo` running these tests first, so the script builds
/// with the same toolchain.
fn path_with_cargo() -> std::ffi::OsString {
    let cargo_dir = Path::new(env!("CARGO"))
        .parent()
        .expect("cargo has a directory")
        .to_path_buf();
    let mut dirs = vec![cargo_dir];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("a valid PATH")
}
