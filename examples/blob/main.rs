//! The scene-buffer conformance program (`write` / `read`); see `posix.rs` for its command lines.
//!
//! It runs on POSIX systems, where scene buffers exist; elsewhere it says so and exits 1.

#[cfg(unix)]
mod posix;

#[cfg(unix)]
fn main() -> std::process::ExitCode {
    posix::main()
}

#[cfg(not(unix))]
fn main() -> std::process::ExitCode {
    eprintln!("blob: scene buffers are POSIX-only; this system has none");
    std::process::ExitCode::FAILURE
}
