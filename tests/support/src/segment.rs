//! Segments by name: names no other test uses, removing a segment, and whether one exists.

use std::sync::atomic::{AtomicU32, Ordering};

use rustix::fs::Mode;
use rustix::shm;

/// A segment name no other test (in this or another process) uses.
pub fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "t{}-{}-{}",
        std::process::id(),
        tag,
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    assert!(name.len() <= 30, "test name {name:?} too long");
    name
}

/// The name `shm_open` takes for `name`: one leading slash.
pub(crate) fn shm_path(name: &str) -> String {
    format!("/{}", name.trim_start_matches('/'))
}

/// Removes a segment by name if it exists (test clean-up).
pub fn remove(name: &str) {
    let _ = shm::unlink(shm_path(name));
}

/// Removes the named segment when dropped, so a failing test leaves nothing behind.
pub struct Removes(pub String);

impl Drop for Removes {
    fn drop(&mut self) {
        remove(&self.0);
    }
}

/// Whether a segment of this name exists.
pub fn exists(name: &str) -> bool {
    shm::open(shm_path(name), shm::OFlags::RDONLY, Mode::empty()).is_ok()
}
