//! Segments by name: names no other test uses, removing a segment, and whether one exists.

use std::sync::atomic::{AtomicU32, Ordering};

#[cfg(unix)]
use rustix::fs::Mode;
#[cfg(unix)]
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
#[cfg(unix)]
pub(crate) fn shm_path(name: &str) -> String {
    format!("/{}", name.trim_start_matches('/'))
}

/// Removes a segment by name if it exists (test clean-up).
#[cfg(unix)]
pub fn remove(name: &str) {
    let _ = shm::unlink(shm_path(name));
}

/// Nothing to do on Windows: a mapping disappears with the last handle to it.
#[cfg(windows)]
pub fn remove(name: &str) {
    let _ = name;
}

/// The name of the Windows mapping for `name`: no leading slash.
#[cfg(windows)]
pub(crate) fn os_name(name: &str) -> String {
    name.trim_start_matches('/').to_owned()
}

/// `text` as a NUL-terminated UTF-16 string.
#[cfg(windows)]
pub(crate) fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(Some(0)).collect()
}

/// Removes the named segment when dropped, so a failing test leaves nothing behind.
pub struct Removes(pub String);

impl Drop for Removes {
    fn drop(&mut self) {
        remove(&self.0);
    }
}

/// Whether a segment of this name exists.
#[cfg(unix)]
pub fn exists(name: &str) -> bool {
    shm::open(shm_path(name), shm::OFlags::RDONLY, Mode::empty()).is_ok()
}

/// Whether a mapping of this name exists.
#[cfg(windows)]
pub fn exists(name: &str) -> bool {
    use windows_sys::Win32::Foundation::CloseHandle;
    use windows_sys::Win32::System::Memory::{OpenFileMappingW, FILE_MAP_READ};
    let wide_name = wide(&os_name(name));
    // SAFETY: the name is NUL-terminated and outlives the call.
    let mapping = unsafe { OpenFileMappingW(FILE_MAP_READ, 0, wide_name.as_ptr()) };
    if mapping.is_null() {
        return false;
    }
    // SAFETY: an open handle, closed once.
    unsafe { CloseHandle(mapping) };
    true
}

/// The size the OS reports for an object made with `len` bytes: `len` where objects are files
/// (Linux), whole 4 KiB pages on Windows, which keeps a pagefile-backed mapping in pages.
pub fn object_size(len: u64) -> u64 {
    if cfg!(windows) {
        len.div_ceil(4096) * 4096
    } else {
        len
    }
}
