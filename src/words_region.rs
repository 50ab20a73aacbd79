//! A read-only view of the words at the start of a shared buffer or buffer pool segment, for
//! looking at one from outside (`shm_ring::inspect`, `shm_ring::cleanup`): with `region.rs`,
//! `buffer_region.rs` and `pool_region.rs`, the only module of the crate that dereferences
//! pointers into shared memory.
//!
//! The mapping is made without write permission and this type offers only loads, so nothing
//! looked at this way can be changed, and no store can fault.

#[cfg(unix)]
use std::ptr;
use std::ptr::NonNull;
use std::sync::atomic::Ordering::Acquire;
use std::sync::atomic::{AtomicU32, AtomicU64};

/// The first `len` bytes of a shared-memory object, mapped shared and read-only, read as
/// aligned little-endian words.
pub(crate) struct ReadOnlyWords {
    /// Start of the mapping: page-aligned, valid for `len` bytes.
    base: NonNull<u8>,
    /// Length in bytes.
    len: usize,
}

impl ReadOnlyWords {
    /// Maps a read-only view of the first `len` bytes (at least 8) of the named mapping
    /// `mapping`.
    #[cfg(windows)]
    pub(crate) fn map_view(
        mapping: windows_sys::Win32::Foundation::HANDLE,
        len: usize,
    ) -> std::io::Result<Self> {
        if len < 8 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("cannot map {len} bytes as words"),
            ));
        }
        let base = crate::region::view::map(
            mapping,
            len,
            windows_sys::Win32::System::Memory::FILE_MAP_READ,
        )?;
        Ok(ReadOnlyWords { base, len })
    }

    /// Maps the first `len` bytes (at least 8) of `fd`, shared and read-only.
    #[cfg(unix)]
    pub(crate) fn map(fd: rustix::fd::BorrowedFd<'_>, len: usize) -> std::io::Result<Self> {
        use rustix::mm::{MapFlags, ProtFlags};
        if len < 8 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("cannot map {len} bytes as words"),
            ));
        }
        // SAFETY: with a null hint and no MAP_FIXED the kernel picks an unused address range,
        // so the new mapping overlaps no memory Rust knows about. On success it is valid for
        // `len` bytes until `munmap` in `Drop`.
        let ptr = unsafe {
            rustix::mm::mmap(
                ptr::null_mut(),
                len,
                ProtFlags::READ,
                MapFlags::SHARED,
                fd,
                0,
            )
        }?;
        let base = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| std::io::Error::other("mmap returned a null address"))?;
        Ok(ReadOnlyWords { base, len })
    }

    /// The `u32` word at byte `offset` (4-aligned, inside the mapping), loaded atomically.
    pub(crate) fn load32(&self, offset: usize) -> u32 {
        assert!(
            offset % 4 == 0 && offset.checked_add(4).is_some_and(|end| end <= self.len),
            "{offset} is not the offset of a 4-byte word of a {}-byte mapping",
            self.len
        );
        // SAFETY: the word lies inside the mapping (checked), whose base is page-aligned, so
        // the pointer is aligned for `AtomicU32`. The segment's own writers touch this word
        // only as an atomic of the same size (their layout fixes it), this type only loads it
        // (the page is not writable), and the mapping outlives the call.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast::<u32>()) }.load(Acquire)
    }

    /// The `u64` word at byte `offset` (8-aligned, inside the mapping), loaded atomically.
    pub(crate) fn load64(&self, offset: usize) -> u64 {
        assert!(
            offset % 8 == 0 && offset.checked_add(8).is_some_and(|end| end <= self.len),
            "{offset} is not the offset of an 8-byte word of a {}-byte mapping",
            self.len
        );
        // SAFETY: as in `load32`, with 8-byte alignment (page-aligned base, 8-aligned offset).
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(offset).cast::<u64>()) }.load(Acquire)
    }
}

impl Drop for ReadOnlyWords {
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
