//! The repository and the programs the tests build and run: the example programs of shm_ring,
//! `python3` with the Python package, and C++ programs built with the system's compiler.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, Once};

use crate::process::output_text;

/// The repository's root (this crate is its `tests/support`).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("tests/support is two levels below the repository's root")
}

/// The directory of the running test executable's profile: `<target>/debug` or
/// `<target>/release` (the executable is in its `deps` directory).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    exe.parent()
        .and_then(Path::parent)
        .expect("<target>/<profile>/deps/<test>")
        .to_path_buf()
}

/// cargo's target directory, the one the running test executable was built in.
fn target_dir() -> PathBuf {
    profile_dir()
        .parent()
        .expect("<target>/<profile>")
        .to_path_buf()
}

/// `<target>/tmp`, where the tests put what they build. cargo names it in
/// `CARGO_TARGET_TMPDIR` when it compiles an integration test, but not when it compiles a
/// library the test uses, so it is found here from the test executable's path.
pub fn target_tmpdir() -> PathBuf {
    target_dir().join("tmp")
}

/// An example program of shm_ring, built (or found up to date) with the same profile and in
/// the same target directory as the running test, once per test executable: so that a
/// narrower command than `cargo test` (which builds the examples first) never runs a missing
/// or stale one.
pub fn example(name: &str) -> PathBuf {
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    if let Some(exe) = built.get(name) {
        return exe.clone();
    }
    let profile = profile_dir();
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "--example", name, "--target-dir"])
        .arg(target_dir())
        .current_dir(root());
    if profile.file_name() == Some("release".as_ref()) {
        build.arg("--release");
    }
    let status = build
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo build --example {name}: {e}"));
    assert!(status.success(), "cargo build --example {name} failed");
    let exe = profile.join("examples").join(name);
    assert!(exe.exists(), "{} is missing", exe.display());
    built.insert(name.to_owned(), exe.clone());
    exe
}

/// `python3`, ready to import `shm_ring` from interop/python. Fails the test with what to
/// install if there is no `python3`.
pub fn python3() -> Command {
    static CHECKED: Once = Once::new();
    CHECKED.call_once(|| {
        let found = Command::new("python3").arg("--version").output();
        if !found.is_ok_and(|out| out.status.success()) {
            panic!(
                "python3 not found: install Python 3.8 or newer (e.g. apt-get install python3) \
                 to run the interoperability tests"
            );
        }
    });
    let mut command = Command::new("python3");
    command.env("PYTHONPATH", root().join("interop").join("python"));
    command
}

/// The C++ compiler: `$CXX`, or `g++`. Fails the test with what to install if missing.
pub fn cxx() -> String {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".to_owned());
    match Command::new(&cxx).arg("--version").output() {
        Ok(out) if out.status.success() => cxx,
        _ => panic!(
            "{cxx} not found: install a C++14 compiler (e.g. apt-get install g++) to build the \
             C++ peer"
        ),
    }
}

/// Flags for a C++ test program run under AddressSanitizer and UndefinedBehaviorSanitizer,
/// stopping at the first error either finds.
pub const ASAN_UBSAN: &[&str] = &[
    "-g",
    "-O1",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-Wall",
    "-Wextra",
];

/// Compiles `source` (relative to interop/cpp) with `flags` into `<target>/tmp/cpp/name` and
/// returns the executable; fails the test with the compiler's output if that fails.
pub fn build_cpp(source: &str, name: &str, flags: &[&str]) -> PathBuf {
    build_cpp_with(&cxx(), "c++14", source, name, flags)
}

/// [`build_cpp`] with the compiler `compiler` and the language standard `std` (`-std=`).
pub fn build_cpp_with(
    compiler: &str,
    std: &str,
    source: &str,
    name: &str,
    flags: &[&str],
) -> PathBuf {
    let cpp = root().join("interop").join("cpp");
    let dir = target_tmpdir().join("cpp");
    std::fs::create_dir_all(&dir).expect("create the C++ build directory");
    let exe = dir.join(name);
    let out = Command::new(compiler)
        .arg(format!("-std={std}"))
        .args(flags)
        .arg("-I")
        .arg(cpp.join("include"))
        .arg(cpp.join(source))
        .arg("-o")
        .arg(&exe)
        .arg("-pthread")
        .output()
        .expect("run the C++ compiler");
    assert!(
        out.status.success(),
        "building {source} with {compiler} -std={std} {flags:?} failed:\n{}",
        output_text(&out)
    );
    exe
}
