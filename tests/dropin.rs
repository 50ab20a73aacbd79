//! The layer for programs written against the original library (cpp_py_shmbuf v2): the C++
//! headers `shm/*.hpp` and the Python modules `shm_channel` and `byte_ring_buffer`.
//!
//! - The headers build as C++14 and C++17 with g++ and clang++ under `-Wall -Wextra -Werror
//!   -Wpedantic`, each on its own too; their unit tests pass under ASan and UBSan (which also
//!   catch any touch of caller-owned memory past its end). The Python modules' tests run
//!   with the rest of the Python suite (`tests/python.rs`).
//! - Programs written only against the original's names (interop/cpp/tests/dropin,
//!   interop/python/tests/dropin) carry the conformance stream between languages as separate
//!   processes: C++ to Python and back, and each to and from the full-API peers of all three
//!   languages.
//!
//! Needs `python3` and `g++` (or `$CXX`): without them these tests fail, saying what to
//! install. The Clang build check needs `clang++` and is run by `.ci/run`, which installs it
//! (`cargo test --test dropin -- --ignored`); run by hand without Clang, it fails saying so.

// Windows builds of these tests would run under Wine, which has no python3, no C++ compiler
// and cannot see a native Linux peer's objects; the Windows conformance runs are in
// .ci/windows.sh.
#![cfg(not(windows))]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use support::peers::{peer_report, run_pair, Lang, Order};
use support::process::output_text;
use support::segment::{exists, unique_name, Removes};
use support::tools::{build_cpp, build_cpp_with, cxx, python3, root, ASAN_UBSAN};

/// The warnings a program of the original library must build without.
const WARNINGS: &[&str] = &["-Wall", "-Wextra", "-Werror", "-Wpedantic"];

/// The drop-in's C++ sources, relative to interop/cpp.
const SOURCES: [&str; 5] = [
    "tests/dropin/unit_tests.cpp",
    "tests/dropin/producer.cpp",
    "tests/dropin/consumer.cpp",
    "tests/dropin/only_byte_ring_buffer.cpp",
    "tests/dropin/only_shared_memory.cpp",
];

/// `clang++`; fails the test with what to install if it is missing.
fn clangxx() -> &'static str {
    let found = Command::new("clang++").arg("--version").output();
    assert!(
        found.is_ok_and(|out| out.status.success()),
        "clang++ not found: install it (e.g. apt-get install clang; .ci/run does) to check that \
         the drop-in headers build with Clang"
    );
    "clang++"
}

fn build_everything_with(compiler: &str, tag: &str) {
    for std in ["c++14", "c++17"] {
        for source in SOURCES {
            let stem = source.rsplit('/').next().unwrap().trim_end_matches(".cpp");
            let exe = build_cpp_with(
                compiler,
                std,
                source,
                &format!("dropin_{stem}_{tag}_{std}"),
                WARNINGS,
            );
            if stem.starts_with("only_") {
                let out = Command::new(&exe).output().expect("run a header check");
                assert!(
                    out.status.success() && out.stdout == b"ok\n",
                    "{source} ({compiler} -std={std}): {}",
                    output_text(&out)
                );
            }
        }
    }
}

#[test]
fn headers_build_as_cpp14_and_cpp17_with_gcc() {
    build_everything_with(&cxx(), "gcc");
}

/// Clang is not part of a fresh machine, which the README's `cargo test` must pass on; `.ci/run`
/// installs it and runs this test by name with `--ignored`.
#[test]
#[ignore = "needs clang++: .ci/run installs it and runs this with --ignored"]
fn headers_build_as_cpp14_and_cpp17_with_clang() {
    build_everything_with(clangxx(), "clang");
}

#[test]
fn cpp_unit_tests_pass_under_asan_and_ubsan() {
    let exe = build_cpp(
        "tests/dropin/unit_tests.cpp",
        "dropin_unit_tests_asan_ubsan",
        ASAN_UBSAN,
    );
    let out = Command::new(exe)
        .output()
        .expect("run the drop-in unit tests");
    let text = output_text(&out);
    assert!(
        out.status.success() && text.contains(" tests, 0 failed"),
        "the drop-in unit tests failed ({}):\n{text}",
        out.status
    );
}

/// A side of a pair: a program written against the original's names, or a full-API peer.
#[derive(Debug, Clone, Copy)]
enum Side {
    DropIn(Lang),
    Full(Lang),
}

/// The drop-in programs of a language (C++ or Python), for the role `producer` or `consumer`.
fn drop_in_program(lang: Lang, role: &str) -> Command {
    match lang {
        Lang::Cpp => {
            static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
            let (producer, consumer) = BUILT.get_or_init(|| {
                (
                    build_cpp("tests/dropin/producer.cpp", "dropin_producer", &["-O2"]),
                    build_cpp("tests/dropin/consumer.cpp", "dropin_consumer", &["-O2"]),
                )
            });
            Command::new(if role == "producer" {
                producer
            } else {
                consumer
            })
        }
        Lang::Python => {
            let mut command = python3();
            command.arg(
                root()
                    .join("interop/python/tests/dropin")
                    .join(format!("{role}.py")),
            );
            command
        }
        Lang::Rust => panic!("the original library has no Rust API"),
    }
}

/// Runs `producer` and `consumer` on a stream of `count` messages of `size` bytes through a
/// 4 KiB ring, and checks that each side carried all of it.
fn pair(producer: Side, consumer: Side, count: u64, size: usize, order: Order) {
    let name = unique_name("dropin");
    let _cleanup = Removes(name.clone());
    let (count_arg, size_arg) = (count.to_string(), size.to_string());
    let full_args = |role: &str| {
        let mut args = vec![
            role.to_owned(),
            "--name".into(),
            name.clone(),
            "--count".into(),
            count_arg.clone(),
            "--size".into(),
            size_arg.clone(),
            "--timeout-ms".into(),
            "120000".into(),
        ];
        if role == "producer" {
            args.extend(["--capacity".into(), "4096".into()]);
        }
        args
    };
    let command = |side: Side, role: &str| match side {
        Side::DropIn(lang) => {
            let mut command = drop_in_program(lang, role);
            command.args([&name, &count_arg, &size_arg]);
            command
        }
        Side::Full(lang) => {
            let mut command = lang.peer();
            command.args(full_args(role));
            command
        }
    };
    let what = format!("{producer:?} -> {consumer:?}, {count} x {size} bytes");
    let (p_out, c_out) = run_pair(
        &name,
        command(producer, "producer"),
        command(consumer, "consumer"),
        order,
    );
    let check = |side: Side, role: &str, out: &Output| match side {
        Side::DropIn(_) => {
            let verb = if role == "producer" { "wrote" } else { "read" };
            assert!(
                out.status.success()
                    && out.stdout == format!("{verb} {count} messages\n").as_bytes(),
                "{what}: the {role} ({}): {}",
                out.status,
                output_text(out)
            );
        }
        Side::Full(_) => {
            let report = peer_report(&format!("{what}: the {role}"), out);
            assert_eq!(
                (report.role.as_str(), report.messages, report.bytes),
                (role, count, count * size as u64),
                "{what}"
            );
        }
    };
    check(producer, "producer", &p_out);
    check(consumer, "consumer", &c_out);
    assert!(!exists(&name), "{what}: the producer removes its segment");
}

#[test]
fn cpp_drop_in_program_feeds_python_drop_in_program() {
    let (cpp, python) = (Side::DropIn(Lang::Cpp), Side::DropIn(Lang::Python));
    pair(cpp, python, 5, 64, Order::ConsumerFirst);
    pair(cpp, python, 20_000, 100, Order::ProducerFirst);
}

#[test]
fn python_drop_in_program_feeds_cpp_drop_in_program() {
    let (python, cpp) = (Side::DropIn(Lang::Python), Side::DropIn(Lang::Cpp));
    pair(python, cpp, 5, 64, Order::ProducerFirst);
    pair(python, cpp, 20_000, 100, Order::ConsumerFirst);
}

#[test]
fn drop_in_programs_feed_full_api_peers_of_every_language() {
    for dropin in [Lang::Cpp, Lang::Python] {
        for full in [Lang::Rust, Lang::Python, Lang::Cpp] {
            pair(
                Side::DropIn(dropin),
                Side::Full(full),
                5_000,
                100,
                Order::ConsumerFirst,
            );
        }
    }
}

#[test]
fn full_api_peers_of_every_language_feed_drop_in_programs() {
    for full in [Lang::Rust, Lang::Python, Lang::Cpp] {
        for dropin in [Lang::Cpp, Lang::Python] {
            pair(
                Side::Full(full),
                Side::DropIn(dropin),
                5_000,
                100,
                Order::ProducerFirst,
            );
        }
    }
}
