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
