//! 1080p RGBA frames through a ring plus a pool to a Python consumer; see `posix.rs`.
//!
//! It runs on POSIX systems, where shared-memory pools and large messages exist; elsewhere it says so and exits 1.

#[cfg(unix)]
mod posix;

#[cfg(unix)]
fn main() -> std::process::ExitCode {
    posix::main()
}

#[cfg(not(unix))]
fn main() -> std::process::ExitCode {
    eprintln!(
        "frames: shared-memory pools and large messages are POSIX-only; this system has none"
    );
    std::process::ExitCode::FAILURE
}
