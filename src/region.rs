//! The raw memory of a segment, and the only module of the crate that uses `unsafe`.
//!
//! A [`Region`] is `len` bytes: a 16-byte header, then the data area. It offers a small safe
//! interface that the ring algorithm is written against:
//!
//! - the four header words only as `u32` atomics ([`Region::word`]);
//! - the data area (offsets `HEADER_LEN..data_end`) only as bytes: copies in and out, and
//!   slices;
//! - everything past the data area (`data_end..len`, where the extension block lives) only as
//!   `u8` atomics ([`Region::flag`]).
//!
//! `data_end` is the region's length until the ring sets it ([`Region::limit_data`]) once it
//! knows the capacity. Every access is bounds-checked here, against the region's own limits,
//! so no index computed elsewhere (least of all one derived from what another process wrote)
//! can reach outside the memory, and the three kinds of access can never overlap: a byte is
//! never seen both as an atomic and as plain data, nor atomically at two sizes.
//!
//! The module also holds the one OS call that rustix does not offer: byte-range
//! open-file-description locks (`fcntl(F_OFD_SETLK)`), in [`locks`].
//!
//! Three backings exist:
//! - a shared mapping of a file descriptor (`mmap`/`munmap`), used by the public types;
//! - zeroed heap memory shared by two handles, for unit tests of the ring in one process;
//! - under `--cfg loom`, loom's tracked atomics and cells, so the model checker sees every
//!   access the algorithm makes and can flag a missing happens-before edge.
//!
//! # Shared memory and Rust's aliasing rules
//! Another process may write to the same pages at any time. The protocol gives each byte of the
//! data area one writer at a time: the producer writes only free space, the consumer reads only
//! published records, and the release store / acquire load of the index words orders one side's
//! writes before the other side's reads. Within this process, writes need `&mut Region` and
//! slices borrow the region, so Rust's borrow rules keep this process's own accesses apart.
//!
//! What a peer that breaks the protocol can do (the crate docs' trust model says the same for
//! users):
//! - It can never make this module read or write outside the region: every access is checked
//!   here against the region's own limits, whatever index the ring computed.
//! - It can write bytes while this process copies them. [`Region::read`] copies with
//!   `ptr::copy_nonoverlapping` from a raw pointer and never forms a reference to the shared
//!   bytes, so the copy is the only thing handed on; but Rust's memory model calls a
//!   concurrent non-atomic write a data race whatever the bit pattern, and stable Rust has no
//!   copy that tolerates one (an atomic memcpy does not exist yet). We accept this, as every
//!   shared-memory and memory-mapped-file crate does, for the data bytes only: the words that
//!   steer the algorithm are atomics, and nothing is trusted because it was read.
//! - It can write bytes lent out by [`Region::slice`] or [`Region::slices_mut`] while the
//!   loan lives, which breaks what a `&[u8]` or `&mut [u8]` promises. The public lending APIs
//!   say so in their docs.
//!
//! The words are accessed with atomic instructions only.

#[cfg(not(loom))]
pub(crate) use self::native::Region;

#[cfg(loom)]
pub(crate) use self::model::Region;

/// Panics unless `offset..offset + len` lies in the data area, which ends at `data_end`.
/// Callers only pass offsets they derived from a masked index, so this never fires; it is the
/// last line of defence that keeps every access inside the memory.
#[inline]
fn check_data_range(data_end: usize, offset: usize, len: usize) {
    if !(offset >= crate::layout::HEADER_LEN && offset <= data_end && len <= data_end - offset) {
        outside_data_area(data_end, offset, len);
    }
}

/// The panic of [`check_data_range`], out of line so the check costs a few compares.
#[cold]
#[inline(never)]
fn outside_data_area(data_end: usize, offset: usize, len: usize) -> ! {
    panic!("data access {offset}+{len} outside the data area, which ends at {data_end}")
}

/// Panics unless `offset` is one of the four header words.
#[inline]
fn check_word(offset: usize) {
    assert!(
        offset % 4 == 0 && offset < crate::layout::HEADER_LEN,
        "{offset} is not the offset of a header word"
    );
}

/// Panics unless `offset` lies past the data area and inside the region.
#[inline]
fn check_flag(data_end: usize, len: usize, offset: usize) {
    assert!(
        (data_end..len).contains(&offset),
        "{offset} is not past the data area (which ends at {data_end}) in a {len}-byte region"
    );
}

/// A read-only shared mapping of a segment, for looking at one without taking part in it.
///
/// It wraps a [`Region`] mapped without write permission and lends out only what reads: the
/// header words (for atomic loads), the flag bytes past the data area and copies of the data
/// area. Nothing can store through it, so the missing write permission can never fault.
#[cfg(not(loom))]
pub(crate) struct ReadOnlyRegion(Region);

#[cfg(not(loom))]
impl ReadOnlyRegion {
    /// Maps a read-only view of the first `len` bytes (at least the header) of the named
    /// mapping `mapping`.
    #[cfg(windows)]
    pub(crate) fn map_view(
        mapping: windows_sys::Win32::Foundation::HANDLE,
        len: usize,
    ) -> std::io::Result<Self> {
        Region::map_view_with(
            mapping,
            len,
            windows_sys::Win32::System::Memory::FILE_MAP_READ,
        )
        .map(ReadOnlyRegion)
    }

    /// Maps the first `len` bytes of `fd` (at least the header) read-only.
    #[cfg(unix)]
    pub(crate) fn map(fd: rustix::fd::BorrowedFd<'_>, len: usize) -> std::io::Result<Self> {
        Region::map_read_only(fd, len).map(ReadOnlyRegion)
    }

    /// Ends the data area at `end`; see [`Region::limit_data`].
    pub(crate) fn limit_data(&mut self, end: usize) {
        self.0.limit_data(end);
    }

    /// The header word at byte `offset`, to load (a store would fault: do not add one).
    pub(crate) fn load_word(&self, offset: usize) -> u32 {
        self.0
            .word(offset)
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// The byte at `offset`, past the data area, loaded atomically.
    pub(crate) fn load_flag(&self, offset: usize) -> u8 {
        self.0
            .flag(offset)
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Copies bytes of the data area from byte `offset` into `dst`; see [`Region::read`].
    pub(crate) fn read(&self, offset: usize, dst: &mut [u8]) {
        self.0.read(offset, dst);
    }
}

#[cfg(not(loom))]
mod native {
    use std::ptr::{self, NonNull};
    use std::sync::atomic::{AtomicU32, AtomicU8};

    use super::{check_data_range, check_flag, check_word};
    use crate::layout::HEADER_LEN;

    /// `len` bytes of memory laid out as a segment, valid until the region is dropped.
    pub(crate) struct Region {
        /// Start of the memory; aligned to at least 4 bytes and valid for `len` bytes.
        base: NonNull<u8>,
        /// Length in bytes; at least `HEADER_LEN`.
        len: usize,
        /// End of the data area: `HEADER_LEN <= data_end <= len`.
        data_end: usize,
        backing: Backing,
    }

    enum Backing {
        /// A shared mapping made by `Region::map`, unmapped on drop.
        #[cfg(unix)]
        Mapped,
        /// A view of a named mapping made by `Region::map_view`, unmapped on drop.
        #[cfg(windows)]
        View,
        /// Heap memory that another handle may share; freed with the last handle.
        #[cfg(test)]
        Heap(#[allow(dead_code)] std::sync::Arc<HeapBlock>),
    }

    // SAFETY: a Region is a pointer to memory that is not tied to any thread (a shared
    // mapping, or heap memory owned through an `Arc`). Moving the handle to another thread moves
    // the only means this process has to write through it, so no two threads of this process
    // use one handle at once.
    unsafe impl Send for Region {}

    /// The flags of a segment's mapping.
    #[cfg(unix)]
    fn map_flags() -> rustix::mm::MapFlags {
        use rustix::mm::MapFlags;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        return MapFlags::SHARED | MapFlags::POPULATE;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        return MapFlags::SHARED;
    }

    impl Region {
        /// Maps `len` bytes of `fd` read-write and shared, with every page mapped in now where
        /// the OS can (`MAP_POPULATE`), so the first pass over a large ring takes no page
        /// faults.
        #[cfg(unix)]
        pub(crate) fn map(fd: rustix::fd::BorrowedFd<'_>, len: usize) -> std::io::Result<Region> {
            use rustix::mm::ProtFlags;
            Region::map_with(fd, len, ProtFlags::READ | ProtFlags::WRITE, map_flags())
        }

        /// Maps `len` bytes of `fd` shared and read-only, without populating the pages. Only
        /// [`ReadOnlyRegion`](super::ReadOnlyRegion) holds such a region: it offers no way to
        /// write, so no store can fault on it.
        #[cfg(unix)]
        pub(super) fn map_read_only(
            fd: rustix::fd::BorrowedFd<'_>,
            len: usize,
        ) -> std::io::Result<Region> {
            use rustix::mm::{MapFlags, ProtFlags};
            Region::map_with(fd, len, ProtFlags::READ, MapFlags::SHARED)
        }

        #[cfg(unix)]
        fn map_with(
            fd: rustix::fd::BorrowedFd<'_>,
            len: usize,
            protection: rustix::mm::ProtFlags,
            flags: rustix::mm::MapFlags,
        ) -> std::io::Result<Region> {
            if len < HEADER_LEN {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("cannot map {len} bytes: a segment needs at least {HEADER_LEN}"),
                ));
            }
            // SAFETY: with a null hint and no MAP_FIXED the kernel picks an unused address range,
            // so the new mapping cannot overlap any memory Rust already knows about. On success
            // the range is valid for `len` bytes until `munmap` in `Drop`.
            let ptr = unsafe { rustix::mm::mmap(ptr::null_mut(), len, protection, flags, fd, 0) }?;
            let base = NonNull::new(ptr.cast::<u8>())
                .ok_or_else(|| std::io::Error::other("mmap returned a null address"))?;
            // Mappings are page-aligned, so every header word is aligned for `AtomicU32`.
            Ok(Region {
                base,
                len,
                data_end: len,
                backing: Backing::Mapped,
            })
        }

        /// Two handles to one block of zeroed heap memory, standing in for two mappings of one
        /// segment in tests.
        /// Maps a view of the first `len` bytes of the named mapping `mapping`, read-write.
        /// Fails if the mapping is smaller than `len` bytes; the view is checked with
        /// `VirtualQuery` to cover them.
        #[cfg(windows)]
        pub(crate) fn map_view(
            mapping: windows_sys::Win32::Foundation::HANDLE,
            len: usize,
        ) -> std::io::Result<Region> {
            use windows_sys::Win32::System::Memory::{FILE_MAP_READ, FILE_MAP_WRITE};
            Region::map_view_with(mapping, len, FILE_MAP_READ | FILE_MAP_WRITE)
        }

        /// [`Region::map_view`] with the given `access`: a read-only view is held only by a
        /// [`ReadOnlyRegion`](super::ReadOnlyRegion), which offers no way to write.
        #[cfg(windows)]
        pub(super) fn map_view_with(
            mapping: windows_sys::Win32::Foundation::HANDLE,
            len: usize,
            access: windows_sys::Win32::System::Memory::FILE_MAP,
        ) -> std::io::Result<Region> {
            if len < HEADER_LEN {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("cannot map {len} bytes: a segment needs at least {HEADER_LEN}"),
                ));
            }
            let base = super::view::map(mapping, len, access)?;
            // Views are aligned to the allocation granularity (64 KiB), so every header word is
            // aligned for `AtomicU32`.
            Ok(Region {
                base,
                len,
                data_end: len,
                backing: Backing::View,
            })
        }

        #[cfg(test)]
        pub(crate) fn heap_pair(len: usize) -> (Region, Region) {
            let block = std::sync::Arc::new(HeapBlock::zeroed(len.max(HEADER_LEN)));
            let handle = |block: &std::sync::Arc<HeapBlock>| Region {
                base: block.ptr,
                len: block.layout.size(),
                data_end: block.layout.size(),
                backing: Backing::Heap(block.clone()),
            };
            (handle(&block), handle(&block))
        }

        /// Length of the region in bytes (header included).
        #[inline]
        pub(crate) fn len(&self) -> usize {
            self.len
        }

        /// Ends the data area at `end` (clamped to the region): bytes from there on are
        /// reachable only as atomics, through [`Region::flag`].
        pub(crate) fn limit_data(&mut self, end: usize) {
            self.data_end = end.clamp(HEADER_LEN, self.len);
        }

        /// The header word at byte `offset` (0, 4, 8 or 12).
        #[inline]
        pub(crate) fn word(&self, offset: usize) -> &AtomicU32 {
            check_word(offset);
            // SAFETY: `offset` is 0, 4, 8 or 12 (checked) and `len >= HEADER_LEN`, so the
            // pointer is inside the region; the base is aligned to at least 4 bytes, so it is
            // aligned for `AtomicU32`. This process touches header bytes only through this
            // accessor (the others refuse them), and the memory outlives `&self`.
            unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast::<u32>()) }
        }

        /// The byte at `offset`, past the data area, as an atomic.
        #[inline]
        pub(crate) fn flag(&self, offset: usize) -> &AtomicU8 {
            check_flag(self.data_end, self.len, offset);
            // SAFETY: `offset` is inside the region and past the data area (checked), and any
            // address is aligned for `AtomicU8`. Bytes past the data area are touched only
            // through this accessor (the data accessors stop at `data_end`, which only ever
            // moves while `&mut self` is held), and the memory outlives `&self`.
            unsafe { AtomicU8::from_ptr(self.base.as_ptr().add(offset)) }
        }

        /// Copies `dst.len()` bytes of the data area, starting at byte `offset`, into `dst`.
        #[inline]
        pub(crate) fn read(&self, offset: usize, dst: &mut [u8]) {
            check_data_range(self.data_end, offset, dst.len());
            // SAFETY: the source range is inside the data area (checked). `dst` is a unique
            // borrow, so it cannot overlap bytes this handle lends out (lending needs `&self`
            // or `&mut self` for as long as the loan lives).
            unsafe {
                ptr::copy_nonoverlapping(
                    self.base.as_ptr().add(offset),
                    dst.as_mut_ptr(),
                    dst.len(),
                )
            }
        }

        /// Copies `src` into the data area, starting at byte `offset`.
        #[inline]
        pub(crate) fn write(&mut self, offset: usize, src: &[u8]) {
            check_data_range(self.data_end, offset, src.len());
            // SAFETY: the destination range is inside the data area (checked) and `&mut self`
            // guarantees no slice of this region is alive; `src` is a shared borrow, so if it
            // points into memory it is memory this handle cannot be writing.
            unsafe {
                ptr::copy_nonoverlapping(src.as_ptr(), self.base.as_ptr().add(offset), src.len())
            }
        }

        /// The `len` bytes of the data area at byte `offset`, in place.
        #[inline]
        pub(crate) fn slice(&self, offset: usize, len: usize) -> &[u8] {
            check_data_range(self.data_end, offset, len);
            // SAFETY: the range is inside the data area (checked); no `&mut` slice of this region
            // can be alive while `&self` is borrowed; the memory outlives the borrow.
            unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(offset), len) }
        }

        /// Two disjoint ranges of the data area, writable in place.
        #[inline]
        pub(crate) fn slices_mut(
            &mut self,
            (first_offset, first_len): (usize, usize),
            (second_offset, second_len): (usize, usize),
        ) -> (&mut [u8], &mut [u8]) {
            check_data_range(self.data_end, first_offset, first_len);
            check_data_range(self.data_end, second_offset, second_len);
            assert!(
                first_offset + first_len <= second_offset
                    || second_offset + second_len <= first_offset,
                "overlapping data ranges {first_offset}+{first_len} and {second_offset}+{second_len}"
            );
            let base = self.base.as_ptr();
            // SAFETY: both ranges are inside the data area and do not overlap (checked), and
            // `&mut self` is held for as long as either slice lives, so nothing else in this
            // process reads or writes them meanwhile.
            unsafe {
                (
                    std::slice::from_raw_parts_mut(base.add(first_offset), first_len),
                    std::slice::from_raw_parts_mut(base.add(second_offset), second_len),
                )
            }
        }
    }

    impl Drop for Region {
        fn drop(&mut self) {
            match self.backing {
                #[cfg(unix)]
                Backing::Mapped => {
                    // SAFETY: `base`/`len` is exactly the mapping made in `map` and it has not been
                    // unmapped before; `&mut self` proves no borrow of it is still alive.
                    // munmap of a valid mapping cannot fail; if it did, leaking it is the only
                    // safe choice.
                    let _ = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), self.len) };
                }
                #[cfg(windows)]
                Backing::View => {
                    // SAFETY: `base` is the view made in `map_view`, not unmapped before;
                    // `&mut self` proves no borrow of it is still alive.
                    unsafe { super::view::unmap(self.base) };
                }
                #[cfg(test)]
                Backing::Heap(_) => {}
            }
        }
    }

    /// A zeroed, 64-byte aligned heap allocation, freed on drop.
    #[cfg(test)]
    struct HeapBlock {
        ptr: NonNull<u8>,
        layout: std::alloc::Layout,
    }

    #[cfg(test)]
    impl HeapBlock {
        fn zeroed(len: usize) -> HeapBlock {
            let layout = std::alloc::Layout::from_size_align(len, 64).expect("heap region layout");
            // SAFETY: `layout` has a non-zero size (len >= HEADER_LEN).
            let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
            let ptr = NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
            HeapBlock { ptr, layout }
        }
    }

    #[cfg(test)]
    impl Drop for HeapBlock {
        fn drop(&mut self) {
            // SAFETY: `ptr` came from `alloc_zeroed` with this layout and is freed once, when the
            // last handle (holding the last `Arc`) goes away.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
        }
    }

    // SAFETY: the block is plain memory; the handles that share it are `Send` and access it
    // as described in the module docs.
    #[cfg(test)]
    unsafe impl Send for HeapBlock {}
    // SAFETY: as above; the block itself is never accessed through `&HeapBlock`.
    #[cfg(test)]
    unsafe impl Sync for HeapBlock {}
}

#[cfg(loom)]
mod model {
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::{AtomicU32, AtomicU8};
    use loom::sync::Arc;

    use super::{check_data_range, check_flag, check_word};
    use crate::layout::HEADER_LEN;

    /// A region whose every access is tracked by the loom model checker.
    pub(crate) struct Region {
        block: Arc<Block>,
        data_end: usize,
    }

    struct Block {
        words: [AtomicU32; 4],
        /// One cell per byte after the header, so that loom tracks each byte's accesses
        /// separately: the producer writing free space while the consumer reads a record is
        /// not a race.
        data: Box<[UnsafeCell<u8>]>,
        /// The same bytes as atomics, for the part past the data area.
        flags: Box<[AtomicU8]>,
    }

    impl Region {
        /// Two handles to one zeroed block.
        pub(crate) fn heap_pair(len: usize) -> (Region, Region) {
            let len = len.max(HEADER_LEN);
            let block = Arc::new(Block {
                words: std::array::from_fn(|_| AtomicU32::new(0)),
                data: (HEADER_LEN..len).map(|_| UnsafeCell::new(0)).collect(),
                flags: (HEADER_LEN..len).map(|_| AtomicU8::new(0)).collect(),
            });
            (
                Region {
                    block: block.clone(),
                    data_end: len,
                },
                Region {
                    block,
                    data_end: len,
                },
            )
        }

        pub(crate) fn len(&self) -> usize {
            HEADER_LEN + self.block.data.len()
        }

        pub(crate) fn limit_data(&mut self, end: usize) {
            self.data_end = end.clamp(HEADER_LEN, self.len());
        }

        pub(crate) fn word(&self, offset: usize) -> &AtomicU32 {
            check_word(offset);
            &self.block.words[offset / 4]
        }

        pub(crate) fn flag(&self, offset: usize) -> &AtomicU8 {
            check_flag(self.data_end, self.len(), offset);
            &self.block.flags[offset - HEADER_LEN]
        }

        pub(crate) fn read(&self, offset: usize, dst: &mut [u8]) {
            check_data_range(self.data_end, offset, dst.len());
            let cells = &self.block.data[offset - HEADER_LEN..][..dst.len()];
            for (byte, cell) in dst.iter_mut().zip(cells) {
                // SAFETY: loom checks this read against every other access to the cell and
                // reports a data race instead of letting one happen.
                *byte = cell.with(|p| unsafe { *p });
            }
        }

        pub(crate) fn write(&mut self, offset: usize, src: &[u8]) {
            check_data_range(self.data_end, offset, src.len());
            let cells = &self.block.data[offset - HEADER_LEN..][..src.len()];
            for (&byte, cell) in src.iter().zip(cells) {
                // SAFETY: as in `read`; loom reports any unsynchronised overlapping access.
                cell.with_mut(|p| unsafe { *p = byte });
            }
        }
    }
}

/// Views of named file mappings (Windows), shared by every region type that maps one.
#[cfg(all(windows, not(loom)))]
pub(crate) mod view {
    use std::ptr::NonNull;

    use windows_sys::Win32::Foundation::HANDLE;
    use windows_sys::Win32::System::Memory::{
        MapViewOfFile, UnmapViewOfFile, VirtualQuery, FILE_MAP, MEMORY_BASIC_INFORMATION,
        MEMORY_MAPPED_VIEW_ADDRESS,
    };

    /// Maps a view of the first `len` bytes of the mapping `mapping` with `access`, and checks
    /// with `VirtualQuery` that it covers them: a mapping smaller than `len` is an error. The
    /// view is aligned to the allocation granularity (64 KiB), so aligned for any atomic; it is
    /// valid until [`unmap`].
    pub(crate) fn map(
        mapping: HANDLE,
        len: usize,
        access: FILE_MAP,
    ) -> std::io::Result<NonNull<u8>> {
        // SAFETY: `mapping` is an open mapping handle (the caller's object owns it). The
        // system picks an unused address range, so the view cannot overlap memory Rust
        // already knows about; on success it is valid for `len` bytes until `unmap`.
        let view = unsafe { MapViewOfFile(mapping, access, 0, 0, len) };
        let base =
            NonNull::new(view.Value.cast::<u8>()).ok_or_else(std::io::Error::last_os_error)?;
        // SAFETY: `info` is a plain C struct, writable for the size passed; `base` is the
        // start of the view just made.
        let covered = unsafe {
            let mut info: MEMORY_BASIC_INFORMATION = std::mem::zeroed();
            let done = VirtualQuery(
                base.as_ptr().cast(),
                &mut info,
                std::mem::size_of::<MEMORY_BASIC_INFORMATION>(),
            );
            if done == 0 {
                0
            } else {
                info.RegionSize
            }
        };
        if covered < len {
            // SAFETY: `base` is the view just made, unmapped once, and nothing refers to it.
            unsafe { unmap(base) };
            return Err(std::io::Error::other(format!(
                "the view covers {covered} bytes, fewer than the {len} asked for"
            )));
        }
        Ok(base)
    }

    /// Unmaps the view that starts at `base`.
    ///
    /// # Safety
    /// `base` is a view made by [`map`], not unmapped before, and nothing refers to its memory
    /// any more. If unmapping fails the view is leaked, the only safe choice.
    pub(crate) unsafe fn unmap(base: NonNull<u8>) {
        // SAFETY: the caller's contract.
        unsafe {
            UnmapViewOfFile(MEMORY_MAPPED_VIEW_ADDRESS {
                Value: base.as_ptr().cast(),
            })
        };
    }
}

/// Byte-range locks owned by an open file description (`F_OFD_SETLK`, Linux 3.15 and later).
///
/// They are the liveness signal: a side holds a write lock on one byte of the object for as
/// long as it lives, and the kernel drops it when the process dies. Unlike classic POSIX
/// `F_SETLK` locks they belong to the open file description, not the process, so two ends in
/// one process see each other's locks, and closing some other descriptor of the same object
/// does not release them. rustix only offers whole-file POSIX locks, hence `libc` here.
#[cfg(all(target_os = "linux", not(loom)))]
pub(crate) mod locks {
    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd};

    /// A one-byte lock request of `kind` at `byte`.
    fn request(kind: libc::c_int, byte: u64) -> libc::flock {
        request_range(kind, byte, 1)
    }

    /// A lock request of `kind` on the `len` bytes from `start`.
    fn request_range(kind: libc::c_int, start: u64, len: u64) -> libc::flock {
        // SAFETY: `flock` is a plain C struct of integers, for which all-zero is a valid value
        // (and `l_pid` must be 0 for OFD locks).
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = kind as libc::c_short;
        lock.l_whence = libc::SEEK_SET as libc::c_short;
        lock.l_start = start as libc::off_t;
        lock.l_len = len as libc::off_t;
        lock
    }

    /// Takes a write lock on `byte` without waiting. `Ok(false)` if another open file
    /// description holds a conflicting lock.
    pub(crate) fn try_lock(fd: BorrowedFd<'_>, byte: u64) -> io::Result<bool> {
        let mut lock = request(libc::F_WRLCK, byte);
        // SAFETY: `fd` is an open descriptor for the duration of the call (it is borrowed), and
        // `lock` is a valid `flock` that outlives the call.
        let done = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLK, &mut lock) };
        if done == 0 {
            return Ok(true);
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(false),
            _ => Err(error),
        }
    }

    /// Whether another open file description holds a lock on `byte`. Takes nothing.
    pub(crate) fn is_locked(fd: BorrowedFd<'_>, byte: u64) -> io::Result<bool> {
        is_range_locked(fd, byte, 1)
    }

    /// Whether another open file description holds a lock on any of the `len` bytes from
    /// `start` (one call, whatever `len`). Takes nothing.
    pub(crate) fn is_range_locked(fd: BorrowedFd<'_>, start: u64, len: u64) -> io::Result<bool> {
        let mut lock = request_range(libc::F_WRLCK, start, len);
        // SAFETY: as in `try_lock`; F_OFD_GETLK writes the answer into `lock`.
        let done = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_GETLK, &mut lock) };
        if done != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(i32::from(lock.l_type) != libc::F_UNLCK)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Region;
    use std::sync::atomic::Ordering;

    #[test]
    fn two_heap_handles_see_the_same_bytes() {
        let (mut a, b) = Region::heap_pair(64);
        a.write(20, b"hello");
        let mut out = [0u8; 5];
        b.read(20, &mut out);
        assert_eq!(&out, b"hello");
        a.word(4).store(7, Ordering::Release);
        assert_eq!(b.word(4).load(Ordering::Acquire), 7);
        assert_eq!(b.slice(20, 5), b"hello");
    }

    #[test]
    #[should_panic(expected = "outside the data area")]
    fn data_access_below_the_header_end_is_refused() {
        let (a, _) = Region::heap_pair(64);
        let mut out = [0u8; 4];
        a.read(12, &mut out);
    }

    #[test]
    #[should_panic(expected = "outside the data area")]
    fn data_access_past_the_end_is_refused() {
        let (mut a, _) = Region::heap_pair(64);
        a.write(60, &[0u8; 5]);
    }

    #[test]
    #[should_panic(expected = "not the offset of a header word")]
    fn words_are_only_in_the_header() {
        let (a, _) = Region::heap_pair(64);
        a.word(16);
    }

    #[test]
    #[should_panic(expected = "is not past the data area")]
    fn flags_are_only_past_the_data_area() {
        let (mut a, _) = Region::heap_pair(128);
        a.limit_data(80);
        a.flag(79);
    }

    #[test]
    #[should_panic(expected = "outside the data area")]
    fn data_stops_where_the_flags_begin() {
        let (mut a, _) = Region::heap_pair(128);
        a.limit_data(80);
        a.write(78, &[0; 3]);
    }

    #[test]
    fn flag_bytes_are_shared_between_handles() {
        let (mut a, mut b) = Region::heap_pair(128);
        a.limit_data(80);
        b.limit_data(80);
        a.flag(80).store(0x06, Ordering::Release);
        a.flag(127).store(0x01, Ordering::Release);
        assert_eq!(b.flag(80).load(Ordering::Acquire), 0x06);
        assert_eq!(b.flag(127).load(Ordering::Acquire), 0x01);
    }

    #[test]
    #[should_panic(expected = "overlapping")]
    fn writable_slices_never_overlap() {
        let (mut a, _) = Region::heap_pair(64);
        let _ = a.slices_mut((16, 8), (20, 8));
    }
}
