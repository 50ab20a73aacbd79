//! Creating and opening the shared-memory object of a buffer pool: the same OS calls and the
//! same rule for who may replace or remove a name as a ring's (see [`super::create`]), with
//! the pool's own header checks.

use std::io;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use super::{create_object, names, os, os_error, Segment};
use crate::error::OpenError;
use crate::pool::layout::{
    self, FLAGS_OFFSET, FLAG_LOCKED, HEADER_LEN, HOLDERS_OFFSET, MAGIC, MAGIC_OFFSET, MAX_HOLDERS,
    MAX_POOL_BYTES, MAX_POOL_SLOTS, POOL_HOLDERS, RELEASES_OFFSET, SLOT_COUNT_OFFSET,
    SLOT_SIZE_OFFSET, VERSION, VERSION_OFFSET, WAITERS_OFFSET,
};
use crate::pool_region::PoolRegion;
use crate::PoolOpenError;

/// A buffer pool's object, its mapping and its validated geometry.
pub(crate) struct PoolSegment {
    pub(crate) segment: Segment,
    pub(crate) region: PoolRegion,
    pub(crate) slot_count: u32,
    pub(crate) slot_size: u64,
    /// The number of holder entries.
    pub(crate) holders: u32,
    /// Whether handles take liveness locks (the creator could take its own).
    pub(crate) locked: bool,
}

/// Translates the ring-shaped errors of the shared segment code into the pool's.
fn from_open_error(error: OpenError) -> PoolOpenError {
    match error {
        OpenError::InvalidName { name, reason } => PoolOpenError::InvalidName { name, reason },
        OpenError::NotFound { name } => PoolOpenError::NotFound { name },
        OpenError::AlreadyExists { name } => PoolOpenError::AlreadyExists { name },
        OpenError::InUse { name, .. } => PoolOpenError::InUse { name },
        OpenError::PermissionDenied { name } => PoolOpenError::PermissionDenied { name },
        OpenError::NotReady { name } => PoolOpenError::NotReady { name },
        OpenError::TooSmall { name, size } => PoolOpenError::TooSmall { name, size },
        OpenError::Io {
            name,
            operation,
            source,
        } => PoolOpenError::Io {
            name,
            operation,
            source,
        },
        // Ring-only variants are never produced by the calls this module makes.
        other => PoolOpenError::Io {
            name: String::new(),
            operation: "open",
            source: io::Error::other(other.to_string()),
        },
    }
}

/// `os_error` for the pool's calls.
fn failed(name: &str, error: (&'static str, io::Error)) -> PoolOpenError {
    from_open_error(os_error(name, error))
}

/// A mapping length for `size` bytes of a validated geometry.
fn map_len(name: &str, size: u64) -> Result<usize, PoolOpenError> {
    usize::try_from(size).map_err(|_| PoolOpenError::Io {
        name: name.to_owned(),
        operation: "mmap",
        source: io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!("a {size}-byte buffer pool does not fit the address space"),
        ),
    })
}

/// Creates the object of a pool of `slot_count` slots of `slot_size` bytes with permission
/// bits `mode`, takes the owner's liveness lock, sizes and maps it, and writes the header (the
/// magic word last, so an opener never sees a half-written header). Every slot starts free at
/// generation 0 (the object is zero-filled).
pub(crate) fn create(
    name: &str,
    slot_count: u32,
    slot_size: u64,
    mode: u32,
    exclusive: bool,
) -> Result<PoolSegment, PoolOpenError> {
    let (bare, _) = names(name).map_err(from_open_error)?;
    if !layout::is_valid_geometry(slot_count, slot_size) {
        return Err(PoolOpenError::GeometryOutOfRange {
            slot_count,
            slot_size,
            max_slots: MAX_POOL_SLOTS,
            max_bytes: MAX_POOL_BYTES,
        });
    }
    let holders = POOL_HOLDERS;
    let total = layout::segment_len(slot_count, slot_size, holders);
    let len = map_len(&bare, total)?;
    let words_end = layout::data_offset(slot_count, holders) as usize;
    let (segment, locked) = create_object(&bare, mode, exclusive).map_err(from_open_error)?;
    let object = &segment.object;
    let region = match object
        .set_len(total, total)
        .and_then(|()| object.map_pool(len, words_end))
    {
        Ok(region) => region,
        Err(e) => {
            // The object is ours (we hold its owner lock) and useless: do not leave it behind.
            let _ = segment.unlink();
            return Err(failed(&bare, e));
        }
    };
    let locked = locked == Some(true);
    region.word32(VERSION_OFFSET).store(VERSION, Relaxed);
    region.word32(SLOT_COUNT_OFFSET).store(slot_count, Relaxed);
    region.word64(SLOT_SIZE_OFFSET).store(slot_size, Relaxed);
    region.word32(RELEASES_OFFSET).store(0, Relaxed);
    region.word32(WAITERS_OFFSET).store(0, Relaxed);
    region.word32(HOLDERS_OFFSET).store(holders, Relaxed);
    let flags = if locked { FLAG_LOCKED } else { 0 };
    region.word32(FLAGS_OFFSET).store(flags, Relaxed);
    region.word32(MAGIC_OFFSET).store(MAGIC, Release);
    Ok(PoolSegment {
        segment,
        region,
        slot_count,
        slot_size,
        holders,
        locked,
    })
}

/// Opens and maps an existing buffer pool, validating its header before mapping more than the
/// header: the magic word, the layout version, and a slot count and slot size that the
/// object's size holds. Exactly the bytes that geometry needs are mapped, whatever size the
/// object claims.
pub(crate) fn open(name: &str) -> Result<PoolSegment, PoolOpenError> {
    let (bare, os_name) = names(name).map_err(from_open_error)?;
    let object = os::Object::open(&os_name).map_err(|e| failed(&bare, e))?;
    let (size, identity) = object.stat().map_err(|e| failed(&bare, e))?;
    if size == 0 {
        return Err(PoolOpenError::NotReady { name: bare });
    }
    if size < HEADER_LEN as u64 {
        return Err(PoolOpenError::TooSmall { name: bare, size });
    }
    let (magic, version, slot_count, slot_size, flags, holders) = {
        let header = object
            .map_pool(HEADER_LEN, HEADER_LEN)
            .map_err(|e| failed(&bare, e))?;
        let magic = header.word32(MAGIC_OFFSET).load(Acquire);
        (
            magic,
            header.word32(VERSION_OFFSET).load(Relaxed),
            header.word32(SLOT_COUNT_OFFSET).load(Relaxed),
            header.word64(SLOT_SIZE_OFFSET).load(Relaxed),
            header.word32(FLAGS_OFFSET).load(Relaxed),
            header.word32(HOLDERS_OFFSET).load(Relaxed),
        )
    };
    if magic == 0 {
        return Err(PoolOpenError::NotReady { name: bare });
    }
    if magic != MAGIC {
        return Err(PoolOpenError::WrongMagic {
            name: bare,
            found: magic,
            expected: MAGIC,
        });
    }
    if version != VERSION {
        return Err(PoolOpenError::UnsupportedVersion {
            name: bare,
            found: version,
            supported: VERSION,
        });
    }
    if !layout::is_valid_geometry(slot_count, slot_size) {
        return Err(PoolOpenError::InvalidGeometry {
            name: bare,
            slot_count,
            slot_size,
        });
    }
    if !layout::is_valid_holder_count(holders) {
        return Err(PoolOpenError::InvalidHolderCount {
            name: bare,
            found: holders,
            max: MAX_HOLDERS,
        });
    }
    let needed = layout::segment_len(slot_count, slot_size, holders);
    if needed > size {
        return Err(PoolOpenError::GeometryExceedsSize {
            name: bare,
            slot_count,
            slot_size,
            needed,
            size,
        });
    }
    let region = object
        .map_pool(
            map_len(&bare, needed)?,
            layout::data_offset(slot_count, holders) as usize,
        )
        .map_err(|e| failed(&bare, e))?;
    Ok(PoolSegment {
        segment: Segment {
            name: bare,
            object,
            identity,
            pid: std::process::id(),
        },
        region,
        slot_count,
        slot_size,
        holders,
        locked: flags & FLAG_LOCKED != 0,
    })
}

impl Segment {
    /// Takes the lock on `byte` for as long as this object stays open: `Some(true)` taken (or
    /// already held by this handle), `Some(false)` held by another open file description,
    /// `None` where the OS has no such locks.
    pub(crate) fn lock_byte(&self, byte: u64) -> Result<Option<bool>, (&'static str, io::Error)> {
        self.object.try_lock(byte)
    }

    /// Whether another open file description holds the lock on `byte`; `None` where that
    /// cannot be told.
    pub(crate) fn byte_locked_elsewhere(&self, byte: u64) -> Option<bool> {
        self.object.is_locked(byte).ok().flatten()
    }
}
