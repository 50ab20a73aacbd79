//! Builds and runs the C++ peer of shm_ring (interop/cpp) with the system's C++ compiler.
//!
//! These tests need a C++14 compiler: `g++`, or the one `$CXX` names. Without one they fail;
//! they never skip. Everything is built under `CARGO_TARGET_TMPDIR`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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

fn cpp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("interop")
        .join("cpp")
}

fn compiler() -> String {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".to_string());
    match Command::new(&cxx).arg("--version").output() {
        Ok(out) if out.status.success() => cxx,
        _ => panic!("{cxx} not found: install a C++14 compiler, e.g. apt-get install g++"),
    }
}

fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Compiles `source` (relative to interop/cpp) into an executable called `name`; panics with
/// the compiler's output if that fails.
fn build(source: &str, name: &str, flags: &[&str]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cpp");
    std::fs::create_dir_all(&dir).expect("create the build directory");
    let exe = dir.join(name);
    let out = Command::new(compiler())
        .arg("-std=c++14")
        .args(flags)
        .arg("-I")
        .arg(cpp_dir().join("include"))
        .arg(cpp_dir().join(source))
        .arg("-o")
        .arg(&exe)
        .arg("-pthread")
        .output()
        .expect("run the C++ compiler");
    assert!(
        out.status.success(),
        "building {source} with {flags:?} failed:\n{}",
        output_text(&out)
    );
    exe
}

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

#[test]
fn peer_builds_with_strict_warnings() {
    build("examples/peer.cpp", "peer_strict", STRICT);
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
    let exe = build(
        "tests/unit_tests.cpp",
        "unit_tests_asan_ubsan",
        &[
            "-g",
            "-O1",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
            "-Wall",
            "-Wextra",
        ],
    );
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

/// Total payload bytes of the first `count` messages of the conformance stream with sizes
/// `min..=max`.
fn stream_bytes(count: u64, min: u64, max: u64) -> u64 {
    (0..count)
        .map(|i| min + ((i * 2_654_435_761) & 0xFFFF_FFFF) % (max - min + 1))
        .sum()
}

/// Checks that `stdout` is exactly one JSON line of the peer contract.
fn check_json_line(stdout: &[u8], role: &str, messages: u64, bytes: u64) {
    let text = String::from_utf8_lossy(stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{role}: expected one line, got:\n{text}");
    let expected_start =
        format!("{{\"role\":\"{role}\",\"messages\":{messages},\"bytes\":{bytes},\"seconds\":");
    let rest = lines[0]
        .strip_prefix(&expected_start)
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or_else(|| panic!("{role}: expected {expected_start}...}}, got {}", lines[0]));
    let (seconds, rate) = rest
        .split_once(",\"msgs_per_sec\":")
        .unwrap_or_else(|| panic!("{role}: no msgs_per_sec in {}", lines[0]));
    let decimals = |number: &str| number.split_once('.').map_or(0, |(_, frac)| frac.len());
    assert_eq!(decimals(seconds), 6, "{role}: seconds {seconds}");
    assert_eq!(decimals(rate), 1, "{role}: msgs_per_sec {rate}");
    let seconds: f64 = seconds.parse().expect("seconds is a number");
    let rate: f64 = rate.parse().expect("msgs_per_sec is a number");
    assert!(seconds > 0.0, "{role}: {} messages took no time", messages);
    let expected_rate = messages as f64 / seconds;
    assert!(
        (rate - expected_rate).abs() <= expected_rate * 1e-3,
        "{role}: msgs_per_sec {rate}, expected about {expected_rate}"
    );
}

#[test]
fn cpp_producer_to_cpp_consumer_across_processes() {
    let peer = build("examples/peer.cpp", "peer", &["-O2"]);
    let name = format!("cpp_xp_{}", std::process::id());
    let count = 50_000;
    let stream = [
        "--name",
        name.as_str(),
        "--count",
        "50000",
        "--min-size",
        "1",
        "--max-size",
        "8192",
        "--timeout-ms",
        "60000",
    ];
    // Both run at once: the consumer waits for the segment, the producer for free space and
    // then for the ring to drain. The timeouts only guard against a hang.
    let consumer = Command::new(&peer)
        .arg("consumer")
        .args(stream)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the consumer");
    let producer = Command::new(&peer)
        .arg("producer")
        .args(stream)
        // Start just below 2^32, so that the indices wrap during the run.
        .args(["--capacity", "16384", "--start-index", "4294900000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the producer");
    let produced = producer.wait_with_output().expect("wait for the producer");
    let consumed = consumer.wait_with_output().expect("wait for the consumer");
    for (role, out) in [("producer", &produced), ("consumer", &consumed)] {
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{role} failed ({}):\n{}",
            out.status,
            output_text(out)
        );
    }
    let bytes = stream_bytes(count, 1, 8192);
    check_json_line(&produced.stdout, "producer", count, bytes);
    check_json_line(&consumed.stdout, "consumer", count, bytes);
    #[cfg(target_os = "linux")]
    assert!(
        !Path::new("/dev/shm").join(&name).exists(),
        "the producer should have unlinked {name}"
    );
}
