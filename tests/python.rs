//! Runs the pure-Python peer's unittest suite (interop/python/tests) under `cargo test`.
//!
//! Needs `python3` (3.8 or newer) on PATH; its absence is a failure, not a skip.

use std::path::Path;
use std::process::Command;

#[test]
fn python_peer_unittest_suite() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let package = root.join("interop").join("python");
    let output = Command::new("python3")
        .args([
            "-m",
            "unittest",
            "discover",
            "-s",
            "interop/python/tests",
            "-t",
            "interop/python",
            "-v",
        ])
        .current_dir(root)
        .env("PYTHONPATH", &package)
        .output();
    let output = match output {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
            "python3 not found: install Python 3.8+ and put python3 on PATH to run the Python \
             peer's tests ({error})"
        ),
        Err(error) => panic!("could not run python3: {error}"),
    };
    assert!(
        output.status.success(),
        "the Python peer's tests failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}
