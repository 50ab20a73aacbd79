//! The repository as a newcomer meets it: a crate that depends on shm_ring alone, the example
//! programs' `--help`, and the build commands the C++ README gives. Everything these tests
//! build goes under `CARGO_TARGET_TMPDIR`; none of them writes into the source tree.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A directory of this test's own under the target directory, emptied of `clear` first.
fn scratch(name: &str, clear: bool) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if clear && dir.exists() {
        std::fs::remove_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot empty {}: {e}", dir.display()));
    }
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot make {}: {e}", dir.display()));
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run(command: &mut Command, what: &str) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"))
}

// ------------------------------------------------------------------ a dependent crate

/// tests/derive_crate derives `Pod` and `Zeroable` through `shm_ring::bytemuck` and has no
/// other dependency, so it fails to build if the re-export or its `derive` feature goes.
/// It is built from a copy whose path dependency points here, with this repository's lock
/// file, so that the source tree gets neither a `Cargo.lock` nor a `target/`.
#[test]
fn a_crate_depending_only_on_shm_ring_derives_pod_through_the_reexport() {
    let source = Path::new(ROOT).join("tests/derive_crate");
    let copy = scratch("derive_crate", false);
    let manifest = read(&source.join("Cargo.toml"));
    let dependency = r#"shm_ring = { path = "../.." }"#;
    assert!(
        manifest.contains(dependency),
        "tests/derive_crate/Cargo.toml no longer says {dependency}"
    );
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] table");
    let named: Vec<&str> = dependencies
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with('['))
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    assert_eq!(
        named,
        [dependency],
        "tests/derive_crate must depend on shm_ring alone"
    );
    write(
        &copy.join("Cargo.toml"),
        &manifest.replace(dependency, &format!("shm_ring = {{ path = {ROOT:?} }}")),
    );
    std::fs::create_dir_all(copy.join("src")).expect("src directory");
    write(
        &copy.join("src/main.rs"),
        &read(&source.join("src/main.rs")),
    );
    write(
        &copy.join("Cargo.lock"),
        &read(&Path::new(ROOT).join("Cargo.lock")),
    );
    let out = run(
        Command::new(env!("CARGO"))
            .args(["run", "--quiet", "--manifest-path"])
            .arg(copy.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(copy.join("target")),
        "cargo run for tests/derive_crate",
    );
    let text = output_text(&out);
    assert!(
        out.status.success()
            && text.contains("derived Pod and Zeroable through shm_ring::bytemuck"),
        "tests/derive_crate failed ({}):\n{text}",
        out.status
    );
}

// ------------------------------------------------------------------ the examples' --help

/// An example program of this crate, built (or found up to date) with the same profile as
/// this test, so that a narrower command than `cargo test` never runs a stale one.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("<target>/<profile>/deps");
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "--example", name])
        .current_dir(ROOT);
    if profile.file_name() == Some("release".as_ref()) {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build --example");
    assert!(status.success(), "cargo build --example {name} failed");
    profile.join("examples").join(name)
}

/// `--help` prints the usage on stdout and exits 0; `-h` does the same.
fn assert_help(program: &Path, usage: &str) {
    for flag in ["--help", "-h"] {
        let out = run(Command::new(program).arg(flag), "the example");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.starts_with(usage),
            "{} {flag}: expected exit 0 and a usage line starting {usage:?}, got {}:\n{}",
            program.display(),
            out.status,
            output_text(&out)
        );
    }
}

#[test]
fn peer_help_prints_the_usage() {
    assert_help(
        &example("peer"),
        "usage: peer producer|consumer --name NAME --count N (--size S | --min-size A --max-size B) [--capacity BYTES] [--timeout-ms T] [--no-verify] [--start-index I] [--zero-copy] [--batch]\n",
    );
}

#[test]
fn peer_without_a_role_still_fails_with_the_usage() {
    let out = run(&mut Command::new(example("peer")), "the peer");
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("peer: usage: peer producer|consumer"),
        "{}",
        output_text(&out)
    );
}

#[test]
fn quickstart_help_shows_both_modes() {
    assert_help(
        &example("quickstart"),
        "usage: quickstart [consumer NAME]\n",
    );
}
