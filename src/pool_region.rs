//! The raw memory of a buffer-pool segment: with `region.rs` and `buffer_region.rs`, the only
//! module of the crate that dereferences pointers into shared memory.
//!
//! A [`PoolRegion`] is a shared mapping of `len` bytes laid out as `crate::pool::layout`
//! describes. Its interface keeps the kinds of access apart, each bounds-checked here against
//! the mapping's own length:
//!
//! - header and slot-table words only as atomics, below the table's end
//!   ([`PoolRegion::word32`], [`PoolRegion::word64`]);
//! - slot bytes only past the table's end, as slices whose exclusivity the slot's state
//!   machine provides (see `crate::pool`).

#[cfg(unix)]
use std::ptr;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::pool::layout::HEADER_LEN;

/// `len` bytes of a shared mapping laid out as a buffer pool, valid until dropped.
pub(crate) struct PoolRegion {
    /// Start of the mapping: page-aligned, valid for `len` bytes.
    base: NonNull<u8>,
    /// Length in bytes; at least `words_end`.
    len: usize,
    /// End of the words (header and slot table); slot bytes lie past it.
    words_end: usize,
}

// SAFETY: the region is a pointer to a shared mapping, which is not tied to any thread. Words
// are only touched through atomics, and slot bytes only by the holder of the slot, which the
// slot word's compare-exchange makes one handle at a time.
unsafe impl Send for PoolRegion {}
// SAFETY: as above.
unsafe impl Sync for PoolRegion {}

impl PoolRegion {
    /// Maps a view of the first `len` bytes of the named mapping `mapping`, read-write, of
    /// which the first `words_end` (at least the header, at most `len`) are words.
    #[cfg(windows)]
    pub(crate) fn map_view(
        mapping: windows_sys::Win32::Foundation::HANDLE,
        len: usize,
        words_end: usize,
    ) -> std::io::Result<Self> {
        use windows_sys::Win32::System::Memory::{FILE_MAP_READ, FILE_MAP_WRITE};
        if words_end < HEADER_LEN || words_end > len || words_end % 8 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("cannot map {len} bytes with {words_end} bytes of words as a pool"),
            ));
        }
        let base = crate::region::view::map(mapping, len, FILE_MAP_READ | FILE_MAP_WRITE)?;
        Ok(PoolRegion {
            base,
            len,
            words_end,
        })
    }

    /// Maps `len` bytes of `fd`, shared and read-write, of which the first `words_end` (at
    /// least the header, at most `len`) are words.
    #[cfg(unix)]
    pub(crate) fn map(
        fd: rustix::fd::BorrowedFd<'_>,
        len: usize,
        words_end: usize,
    ) -> std::io::Result<Self> {
        use rustix::mm::{MapFlags, ProtFlags};
        if words_end < HEADER_LEN || words_end > len || words_end % 8 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("cannot map {len} bytes with {words_end} bytes of words as a pool"),
            ));
        }
        // SAFETY: with a null hint and no MAP_FIXED the kernel picks an unused address range,
        // so the new mapping overlaps no memory Rust knows about. On success it is valid for
        // `len` bytes until `munmap` in `Drop`.
        let ptr = unsafe {
            rustix::mm::mmap(
                ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )
        }?;
        let base = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| std::io::Error::other("mmap returned a null address"))?;
        Ok(PoolRegion {
            base,
            len,
            words_end,
        })
    }

    /// The `u32` word at byte `offset` (4-aligned, among the words).
    pub(crate) fn word32(&self, offset: usize) -> &AtomicU32 {
        assert!(
            offset % 4 == 0 && offset + 4 <= self.words_end,
            "{offset} is not the offset of a 4-byte pool word"
        );
        // SAFETY: the word lies among the words (checked), inside the mapping
        // (`words_end <= len`); the base is page-aligned, so the pointer is aligned for
        // `AtomicU32`. Words are touched only through these atomic accessors, always at the
        // same size for a given offset (the layout fixes it), and the mapping outlives `&self`.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast::<u32>()) }
    }

    /// The `u64` word at byte `offset` (8-aligned, among the words).
    pub(crate) fn word64(&self, offset: usize) -> &AtomicU64 {
        assert!(
            offset % 8 == 0 && offset + 8 <= self.words_end,
            "{offset} is not the offset of an 8-byte pool word"
        );
        // SAFETY: as in `word32`, with 8-byte alignment (page-aligned base, 8-aligned offset).
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(offset).cast::<u64>()) }
    }

    /// Panics unless `len` bytes from `offset` lie past the words and inside the mapping.
    fn check_bytes(&self, offset: usize, len: usize) {
        assert!(
            offset >= self.words_end && offset.checked_add(len).is_some_and(|end| end <= self.len),
            "slot access of {len} bytes at {offset} outside the slot area {}..{}",
            self.words_end,
            self.len
        );
    }

    /// `len` slot bytes from `offset`, in place, to read.
    ///
    /// # Safety
    /// While the slice lives, no handle in any process may write those bytes: the caller holds
    /// the slot in a state in which the protocol lets nobody else write it.
    pub(crate) unsafe fn bytes(&self, offset: usize, len: usize) -> &[u8] {
        self.check_bytes(offset, len);
        // SAFETY: the range is inside the mapping, past the words (checked); the mapping
        // outlives `&self`; the caller guarantees nobody writes it meanwhile.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(offset), len) }
    }

    /// `len` slot bytes from `offset`, in place, to write.
    ///
    /// # Safety
    /// While the slice lives, no other handle in any process may read or write those bytes,
    /// and this one lends no other slice of them: the caller holds the slot exclusively.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn bytes_mut(&self, offset: usize, len: usize) -> &mut [u8] {
        self.check_bytes(offset, len);
        // SAFETY: the range is inside the mapping, past the words (checked); the mapping
        // outlives `&self`; the caller guarantees exclusive access meanwhile.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(offset), len) }
    }
}

impl Drop for PoolRegion {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` is exactly the mapping made in `map`, not unmapped before, and
        // `&mut self` proves no borrow of it is alive. If munmap failed, leaking the mapping
        // would be the only safe choice.
        #[cfg(unix)]
        let _ = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), self.len) };
        #[cfg(windows)]
        // SAFETY: `base` is exactly the view made in `map_view`, not unmapped before, and
        // `&mut self` proves no borrow of it is alive.
        unsafe {
            crate::region::view::unmap(self.base)
        };
    }
}
