//! The raw memory of a shared-buffer segment: with `region.rs`, the only module of the crate
//! that uses `unsafe`.
//!
//! A [`BufferRegion`] is a shared mapping of `len` bytes: the 64-byte header
//! (`crate::buffer::layout`), then the payload area. Its safe interface keeps the two kinds of
//! access apart, each bounds-checked here against the mapping's own length:
//!
//! - header words only as atomics: `u32` at 4-aligned and `u64` at 8-aligned offsets below
//!   the header's end ([`BufferRegion::word32`], [`BufferRegion::word64`]);
//! - the payload area only as bytes: copies in and out, and a shared slice.
//!
//! # Concurrent writes
//! The seqlock (see `crate::buffer`) lets the writer change payload bytes while a reader in
//! another process copies or borrows them, and detects it afterwards. The copies here use
//! `ptr::copy_nonoverlapping` from and to raw pointers and never form a reference to the
//! shared bytes, so only the private copy is handed on, and it is discarded when the sequence
//! word says a write overlapped. Rust's memory model still calls an overlapping copy a data
//! race, and stable Rust has no byte copy that tolerates one (an atomic memcpy does not exist
//! yet); this is the same compromise every seqlock over plain data makes. A slice lent by
//! [`BufferRegion::slice`] may likewise change while it lives; the public borrowing API
//! documents that and offers the check.

use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::buffer::layout::HEADER_LEN;

/// `len` bytes of a shared mapping laid out as a shared buffer, valid until dropped.
pub(crate) struct BufferRegion {
    /// Start of the mapping: page-aligned, valid for `len` bytes.
    base: NonNull<u8>,
    /// Length in bytes; at least `HEADER_LEN`.
    len: usize,
}

// SAFETY: the region is a pointer to a shared mapping, which is not tied to any thread. Every
// access to the header goes through atomics, and the payload copies are the seqlock's raw
// copies described in the module docs, which are the same from any thread.
unsafe impl Send for BufferRegion {}
// SAFETY: as above: `&BufferRegion` offers atomics and raw copies out only; writing the
// payload needs `&mut`.
unsafe impl Sync for BufferRegion {}

impl BufferRegion {
    /// Maps a view of the first `len` bytes (at least the header) of the named mapping
    /// `mapping`, read-write.
    #[cfg(windows)]
    pub(crate) fn map_view(
        mapping: windows_sys::Win32::Foundation::HANDLE,
        len: usize,
    ) -> std::io::Result<Self> {
        use windows_sys::Win32::System::Memory::{FILE_MAP_READ, FILE_MAP_WRITE};
        if len < HEADER_LEN {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("cannot map {len} bytes: a shared buffer needs at least {HEADER_LEN}"),
            ));
        }
        let base = crate::region::view::map(mapping, len, FILE_MAP_READ | FILE_MAP_WRITE)?;
        Ok(BufferRegion { base, len })
    }

    /// Maps `len` bytes (at least the header) of `fd`, shared and read-write.
    #[cfg(unix)]
    pub(crate) fn map(fd: rustix::fd::BorrowedFd<'_>, len: usize) -> std::io::Result<Self> {
        use rustix::mm::{MapFlags, ProtFlags};
        if len < HEADER_LEN {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("cannot map {len} bytes: a shared buffer needs at least {HEADER_LEN}"),
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
        Ok(BufferRegion { base, len })
    }

    /// The number of payload bytes the mapping holds: its length less the header.
    pub(crate) fn payload_len(&self) -> usize {
        self.len - HEADER_LEN
    }

    /// The `u32` header word at byte `offset` (4-aligned, inside the header).
    pub(crate) fn word32(&self, offset: usize) -> &AtomicU32 {
        assert!(
            offset % 4 == 0 && offset + 4 <= HEADER_LEN,
            "{offset} is not the offset of a 4-byte header word"
        );
        // SAFETY: the word lies inside the header (checked), which lies inside the mapping
        // (`len >= HEADER_LEN`); the base is page-aligned, so the pointer is aligned for
        // `AtomicU32`. Header bytes are touched only through these atomic accessors, always
        // at the same size for a given offset (the layout fixes it), and the mapping
        // outlives `&self`.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast::<u32>()) }
    }

    /// The `u64` header word at byte `offset` (8-aligned, inside the header).
    pub(crate) fn word64(&self, offset: usize) -> &AtomicU64 {
        assert!(
            offset % 8 == 0 && offset + 8 <= HEADER_LEN,
            "{offset} is not the offset of an 8-byte header word"
        );
        // SAFETY: as in `word32`, with 8-byte alignment (page-aligned base, 8-aligned offset).
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(offset).cast::<u64>()) }
    }

    /// Panics unless `len` payload bytes from the start of the payload area are mapped.
    fn check_payload(&self, len: usize) {
        assert!(
            len <= self.payload_len(),
            "payload access of {len} bytes outside the {}-byte payload area",
            self.payload_len()
        );
    }

    /// Replaces the contents of `dst` with the first `len` payload bytes (one allocation at
    /// most, never more than the mapped payload area).
    pub(crate) fn copy_out(&self, len: usize, dst: &mut Vec<u8>) {
        self.check_payload(len);
        dst.clear();
        dst.reserve(len);
        // SAFETY: the source is inside the payload area (checked) and is only read through a
        // raw pointer; `dst` has room for `len` bytes (reserved) and is a private allocation,
        // so the ranges cannot overlap. After the copy its first `len` bytes are initialised.
        unsafe {
            ptr::copy_nonoverlapping(self.base.as_ptr().add(HEADER_LEN), dst.as_mut_ptr(), len);
            dst.set_len(len);
        }
    }

    /// Copies `src` to the start of the payload area.
    pub(crate) fn copy_in(&mut self, src: &[u8]) {
        self.check_payload(src.len());
        // SAFETY: the destination is inside the payload area (checked), and `&mut self` means
        // this handle lends none of it out; so `src`, a live shared borrow, is not a slice of
        // this handle's payload and the ranges do not overlap.
        unsafe {
            ptr::copy_nonoverlapping(src.as_ptr(), self.base.as_ptr().add(HEADER_LEN), src.len())
        }
    }

    /// The first `len` payload bytes, in place. They may change while the slice lives if a
    /// writer in another process (or another handle) writes meanwhile: see the module docs.
    pub(crate) fn slice(&self, len: usize) -> &[u8] {
        self.check_payload(len);
        // SAFETY: the range is inside the payload area (checked); no `&mut` of this handle
        // can be alive while `&self` is borrowed, and the mapping outlives the borrow.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(HEADER_LEN), len) }
    }
}

impl Drop for BufferRegion {
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
