//! Runs the pure-Python peer's unittest suite (interop/python/tests) under `cargo test`.
//!
//! Needs `python3` (3.8 or newer) on PATH; its absence is a failure, not a skip.

// Windows builds of these tests would run under Wine, which has no python3, no C++ compiler
// and cannot see a native Linux peer's objects; the Windows conformance runs are in
// .ci/windows.sh.
#![cfg(not(windows))]

use support::tools::{python3, root};

#[test]
fn python_peer_unittest_suite() {
    let output = python3()
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
        .current_dir(root())
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "the Python peer's tests failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}
