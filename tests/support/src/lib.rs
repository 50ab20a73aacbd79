//! What the integration tests of shm_ring share, one concern a module:
//!
//! - [`segment`]: unique segment names, removing and finding segments by name;
//! - [`raw`]: a segment's bytes read and written directly, to play a misbehaving peer;
//! - [`wire`]: the wire facts of docs/PROTOCOL.md, written out from the document;
//! - [`stream`]: the conformance stream every peer program writes and checks;
//! - [`process`]: child processes with their output drained, and waiting on a condition;
//! - [`child`]: a child process that talks to its test line by line (the test binary itself
//!   in another role, or a peer program);
//! - [`futex`]: whether a thread sleeps in `FUTEX_WAIT` (Linux only);
//! - [`tools`]: the repository, its example programs, `python3` and the C++ compiler;
//! - [`peers`]: the peer programs of the three languages, run in pairs, and their reports.

// Futexes, thread ids and `/proc/<pid>/task` are Linux's: the tests that watch a thread fall
// asleep in the kernel exist only there.
pub mod child;
#[cfg(target_os = "linux")]
pub mod futex;
pub mod peers;
pub mod process;
#[cfg_attr(windows, path = "raw_windows.rs")]
pub mod raw;
pub mod segment;
pub mod stream;
pub mod tools;
pub mod wire;

/// The next message copied out, or `None` when none is waiting: `try_read` as the tests
/// compare it. Corruption fails the test.
// The model checker's build of shm_ring has no consumer.
#[cfg(not(loom))]
pub fn try_take(consumer: &mut shm_ring::ShmConsumer) -> Option<Vec<u8>> {
    match consumer.try_read() {
        Ok(message) => Some(message.into_vec()),
        Err(shm_ring::TryReadError::Empty) => None,
        Err(e) => panic!("try_read failed: {e}"),
    }
}
