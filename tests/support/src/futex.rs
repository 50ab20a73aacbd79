//! Whether a thread sleeps in `FUTEX_WAIT`: how the blocking tests know that a reader or writer
//! has gone to sleep before they wake it.

use crate::process::{wait_until, HANG_GUARD};
use crate::raw::Raw;
use crate::wire::FLAG_SLEEPING;

/// The futex system call's number, as `/proc/<pid>/task/<tid>/syscall` shows it.
#[cfg(target_arch = "x86_64")]
const FUTEX_SYSCALL: &str = "202";
#[cfg(target_arch = "aarch64")]
const FUTEX_SYSCALL: &str = "98";

/// Whether thread `tid` of this process is blocked in the futex system call.
pub fn in_futex_wait(tid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall"))
        .map(|text| text.split_whitespace().next() == Some(FUTEX_SYSCALL))
        .unwrap_or(false)
}

/// The calling thread's id.
pub fn gettid() -> i32 {
    rustix::thread::gettid().as_raw_nonzero().get()
}

/// Runs `f` on a new thread, and returns that thread's id (once it has started) and its handle:
/// for tests that wait until the thread is blocked in the kernel.
pub fn spawn_reporting_tid<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> (i32, std::thread::JoinHandle<T>) {
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        tid_tx.send(gettid()).expect("report the thread id");
        f()
    });
    (tid_rx.recv().expect("the thread id"), handle)
}

/// Waits until thread `tid` sleeps in `FUTEX_WAIT`, and, given the offset of its flag byte in
/// the segment behind `raw`, until that byte says so too (a ring without the extension block
/// has no flag byte to look at).
pub fn wait_until_asleep(raw: &Raw, tid: i32, flag_offset: Option<usize>) {
    wait_until(
        "the blocked thread to sleep in FUTEX_WAIT",
        HANG_GUARD,
        || {
            let flagged = flag_offset
                .is_none_or(|offset| raw.bytes(offset as u64, 1)[0] & FLAG_SLEEPING != 0);
            flagged && in_futex_wait(tid)
        },
    );
}
