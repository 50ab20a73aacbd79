//! POSIX shared-memory objects through rustix: `shm_open`, `ftruncate`, `fstat`, `fchmod`,
//! `mmap` and `shm_unlink`. Nothing here knows the ring's layout.

use std::io;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, RawMode};
use rustix::shm;

use crate::region::Region;

/// An open shared-memory object.
pub(crate) struct Object {
    fd: OwnedFd,
}

/// What tells two objects apart even when they have had the same name: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    dev: u64,
    ino: u64,
}

/// The OS call that failed, paired with its error.
pub(crate) type OsResult<T> = Result<T, (&'static str, io::Error)>;

fn failed(operation: &'static str) -> impl FnOnce(rustix::io::Errno) -> (&'static str, io::Error) {
    move |errno| (operation, io::Error::from(errno))
}

impl Object {
    /// Creates a new object (failing if the name exists) with exactly `mode` permission bits.
    pub(crate) fn create(os_name: &str, mode: u32) -> OsResult<Object> {
        // `mode_t` is `u32` on Linux and `u16` on macOS; the nine permission bits fit either.
        let mode = Mode::from_bits_truncate((mode & 0o777) as RawMode);
        let fd = shm::open(
            os_name,
            shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
            mode,
        )
        .map_err(failed("shm_open"))?;
        // shm_open's mode is filtered through the umask; set it again so it is exactly what
        // was asked for. macOS's kernel has no chmod for shared-memory objects (fchmod fails
        // on them), so there the object keeps shm_open's mode, less the umask.
        #[cfg(not(target_os = "macos"))]
        rustix::fs::fchmod(&fd, mode).map_err(failed("fchmod"))?;
        Ok(Object { fd })
    }

    /// Opens an existing object for reading and writing.
    pub(crate) fn open(os_name: &str) -> OsResult<Object> {
        let fd =
            shm::open(os_name, shm::OFlags::RDWR, Mode::empty()).map_err(failed("shm_open"))?;
        Ok(Object { fd })
    }

    /// Opens an existing object for reading only: enough to look at it, and possible where
    /// its mode forbids this user to write.
    pub(crate) fn open_read_only(os_name: &str) -> OsResult<Object> {
        let fd =
            shm::open(os_name, shm::OFlags::RDONLY, Mode::empty()).map_err(failed("shm_open"))?;
        Ok(Object { fd })
    }

    /// The object's permission bits (`0o7777` of `st_mode`) and its owner's user id.
    pub(crate) fn mode_and_owner(&self) -> OsResult<(u32, u32)> {
        let stat = rustix::fs::fstat(&self.fd).map_err(failed("fstat"))?;
        Ok((stat.st_mode as u32 & 0o7777, stat.st_uid))
    }

    /// Maps the first `len` bytes of the object, shared and read-only.
    pub(crate) fn map_read_only(&self, len: usize) -> OsResult<crate::region::ReadOnlyRegion> {
        crate::region::ReadOnlyRegion::map(self.fd.as_fd(), len).map_err(|e| ("mmap", e))
    }

    /// Sets the object's size to `len` and, where the OS can, backs its first `used` bytes
    /// with memory now.
    ///
    /// `ftruncate` alone makes a sparse object: its pages are allocated on first touch, and if
    /// the shared-memory file system is full by then, that touch kills the process with
    /// SIGBUS. `fallocate` allocates them here instead, so a full `/dev/shm` is an error from
    /// `create`, and no write in the data path waits for a page to be allocated. Bytes past
    /// `used` are never touched, so they are left sparse.
    pub(crate) fn set_len(&self, len: u64, used: u64) -> OsResult<()> {
        rustix::fs::ftruncate(&self.fd, len).map_err(failed("ftruncate"))?;
        self.allocate(0, used.min(len))
    }

    /// Writes all of `data` at byte `offset` of the object (`pwrite`, as many calls as it
    /// takes). On a shared-memory file system the kernel allocates each page as it copies
    /// into it, so a full file system is an error here (`ENOSPC`), never a SIGBUS later.
    pub(crate) fn write_at(&self, mut data: &[u8], mut offset: u64) -> OsResult<()> {
        while !data.is_empty() {
            match rustix::io::pwrite(&self.fd, data, offset) {
                Ok(0) => return Err(("pwrite", io::Error::from(io::ErrorKind::WriteZero))),
                Ok(written) => {
                    data = &data[written..];
                    offset += written as u64;
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(errno) => return Err(failed("pwrite")(errno)),
            }
        }
        Ok(())
    }

    /// Backs bytes `start .. end` of the object with memory now, where the OS can (see
    /// [`set_len`](Self::set_len)); a file system without `fallocate` keeps them sparse.
    pub(crate) fn allocate(&self, start: u64, end: u64) -> OsResult<()> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if start < end {
            match rustix::fs::fallocate(
                &self.fd,
                rustix::fs::FallocateFlags::empty(),
                start,
                end - start,
            ) {
                Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => {}
                other => other.map_err(failed("fallocate"))?,
            }
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = (start, end);
        Ok(())
    }

    /// The object's size and identity.
    pub(crate) fn stat(&self) -> OsResult<(u64, Identity)> {
        let stat = rustix::fs::fstat(&self.fd).map_err(failed("fstat"))?;
        let identity = Identity {
            dev: stat.st_dev as u64,
            ino: stat.st_ino as u64,
        };
        Ok((u64::try_from(stat.st_size).unwrap_or(0), identity))
    }

    /// Maps the first `len` bytes of the object, shared and read-write.
    pub(crate) fn map(&self, len: usize) -> OsResult<Region> {
        Region::map(self.fd.as_fd(), len).map_err(|e| ("mmap", e))
    }

    /// Maps the first `len` bytes of the object, shared and read-write, as a shared buffer.
    pub(crate) fn map_buffer(&self, len: usize) -> OsResult<crate::buffer_region::BufferRegion> {
        crate::buffer_region::BufferRegion::map(self.fd.as_fd(), len).map_err(|e| ("mmap", e))
    }

    /// Maps the first `len` bytes of the object, shared and read-write, as a buffer pool whose
    /// first `words_end` bytes are words.
    pub(crate) fn map_pool(
        &self,
        len: usize,
        words_end: usize,
    ) -> OsResult<crate::pool_region::PoolRegion> {
        crate::pool_region::PoolRegion::map(self.fd.as_fd(), len, words_end)
            .map_err(|e| ("mmap", e))
    }

    /// Maps the first `len` bytes of the object, shared and read-only, as words to load.
    pub(crate) fn map_words(&self, len: usize) -> OsResult<crate::words_region::ReadOnlyWords> {
        crate::words_region::ReadOnlyWords::map(self.fd.as_fd(), len).map_err(|e| ("mmap", e))
    }

    /// Whether another open file description holds a lock on any of the `len` bytes from
    /// `start`; `Ok(None)` where the OS has no open-file-description locks.
    pub(crate) fn is_range_locked(&self, start: u64, len: u64) -> OsResult<Option<bool>> {
        #[cfg(target_os = "linux")]
        return crate::region::locks::is_range_locked(self.fd.as_fd(), start, len)
            .map(Some)
            .map_err(|e| ("fcntl(F_OFD_GETLK)", e));
        #[cfg(not(target_os = "linux"))]
        return {
            let _ = (start, len);
            Ok(None)
        };
    }

    /// Takes the liveness lock on `byte` for as long as this object stays open. `Ok(None)`
    /// where the OS has no open-file-description locks; `Ok(Some(false))` if another open
    /// file description holds it.
    pub(crate) fn try_lock(&self, byte: u64) -> OsResult<Option<bool>> {
        #[cfg(target_os = "linux")]
        return crate::region::locks::try_lock(self.fd.as_fd(), byte)
            .map(Some)
            .map_err(|e| ("fcntl(F_OFD_SETLK)", e));
        #[cfg(not(target_os = "linux"))]
        return {
            let _ = byte;
            Ok(None)
        };
    }

    /// Whether another open file description holds the lock on `byte`; `Ok(None)` where the
    /// OS has no open-file-description locks.
    pub(crate) fn is_locked(&self, byte: u64) -> OsResult<Option<bool>> {
        #[cfg(target_os = "linux")]
        return crate::region::locks::is_locked(self.fd.as_fd(), byte)
            .map(Some)
            .map_err(|e| ("fcntl(F_OFD_GETLK)", e));
        #[cfg(not(target_os = "linux"))]
        return {
            let _ = byte;
            Ok(None)
        };
    }
}

/// Removes the name; the memory lives on while any process has it mapped.
pub(crate) fn unlink(os_name: &str) -> OsResult<()> {
    shm::unlink(os_name).map_err(failed("shm_unlink"))
}
