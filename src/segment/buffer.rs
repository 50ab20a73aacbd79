//! Creating and opening the shared-memory object of a shared buffer: the same OS calls and the
//! same rule for who may replace or remove a name as a ring's (see [`super::create`]), with the
//! buffer's own header checks.

use std::io;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use super::{create_object, names, os, os_error, Segment};
use crate::buffer::layout::{
    self, ACKS_OFFSET, CAPACITY_OFFSET, FLAGS_OFFSET, FLAG_LOCKED, HEADER_LEN, LENGTH_OFFSET,
    MAGIC, MAGIC_OFFSET, MAX_BUFFER_CAPACITY, SEQUENCE_OFFSET, VERSION, VERSION_OFFSET,
    WRITER_LOCK_BYTE,
};
use crate::buffer_region::BufferRegion;
use crate::error::OpenError;
use crate::BufferOpenError;

/// A shared buffer's object, its mapping and its validated capacity.
pub(crate) struct BufferSegment {
    pub(crate) segment: Segment,
    pub(crate) region: BufferRegion,
    pub(crate) capacity: u64,
}

/// Translates the ring-shaped errors of the shared segment code into the buffer's.
fn from_open_error(error: OpenError) -> BufferOpenError {
    match error {
        OpenError::InvalidName { name, reason } => BufferOpenError::InvalidName { name, reason },
        OpenError::NotFound { name } => BufferOpenError::NotFound { name },
        OpenError::AlreadyExists { name } => BufferOpenError::AlreadyExists { name },
        OpenError::InUse { name, .. } => BufferOpenError::InUse { name },
        OpenError::PermissionDenied { name } => BufferOpenError::PermissionDenied { name },
        OpenError::NotReady { name } => BufferOpenError::NotReady { name },
        OpenError::TooSmall { name, size } => BufferOpenError::TooSmall { name, size },
        OpenError::Io {
            name,
            operation,
            source,
        } => BufferOpenError::Io {
            name,
            operation,
            source,
        },
        // Ring-only variants are never produced by the calls this module makes.
        other => BufferOpenError::Io {
            name: String::new(),
            operation: "open",
            source: io::Error::other(other.to_string()),
        },
    }
}

/// `os_error` for the buffer's calls.
fn failed(name: &str, error: (&'static str, io::Error)) -> BufferOpenError {
    from_open_error(os_error(name, error))
}

/// A mapping length for `size` bytes, which was validated to be at most
/// `HEADER_LEN + MAX_BUFFER_CAPACITY`.
fn map_len(name: &str, size: u64) -> Result<usize, BufferOpenError> {
    usize::try_from(size).map_err(|_| BufferOpenError::Io {
        name: name.to_owned(),
        operation: "mmap",
        source: io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!("a {size}-byte shared buffer does not fit the address space"),
        ),
    })
}

/// Creates the object of a shared buffer of exactly `capacity` bytes with permission bits
/// `mode`, takes the owner's liveness lock and the writer lock, sizes and maps it, and writes
/// the header (the magic word last, so an opener never sees a half-written header).
///
/// With a `payload` (at most `capacity` bytes, checked by the caller), the payload is written
/// first, through the descriptor, and the header says so (its length, and the sequence word
/// of one finished write, 2): nobody can open the object before its magic word is stored, so
/// no reader ever sees the payload incomplete.
pub(crate) fn create(
    name: &str,
    capacity: u64,
    mode: u32,
    exclusive: bool,
    payload: Option<&[u8]>,
) -> Result<BufferSegment, BufferOpenError> {
    let (bare, _) = names(name).map_err(from_open_error)?;
    if !layout::is_valid_capacity(capacity) {
        return Err(BufferOpenError::CapacityOutOfRange {
            requested: capacity,
            max: MAX_BUFFER_CAPACITY,
        });
    }
    let len = map_len(&bare, layout::segment_len(capacity))?;
    let (segment, locked) = create_object(&bare, mode, exclusive).map_err(from_open_error)?;
    let object = &segment.object;
    let sized = match payload {
        None => object.set_len(len as u64, len as u64),
        Some(data) => {
            // One pass: the kernel allocates each page as it copies into it, where allocating
            // first and copying through the mapping would touch every page twice (and fault
            // each one in). Only the header and what the payload leaves are allocated after.
            let end = HEADER_LEN as u64 + data.len() as u64;
            object
                .set_len(len as u64, 0)
                .and_then(|()| object.write_at(data, HEADER_LEN as u64))
                .and_then(|()| object.allocate(0, HEADER_LEN as u64))
                .and_then(|()| object.allocate(end, len as u64))
        }
    };
    let made = sized
        .and_then(|()| object.map_buffer(len))
        .and_then(|region| {
            // A fresh object: nobody else can hold its writer lock yet.
            object
                .try_lock(WRITER_LOCK_BYTE)
                .map(|writer| (region, writer))
        });
    let region = match made {
        Ok((region, _)) => region,
        Err(e) => {
            // The object is ours (we hold its owner lock) and useless: do not leave it behind.
            let _ = segment.unlink();
            return Err(failed(&bare, e));
        }
    };
    let (length, sequence) = payload.map_or((0, 0), |data| (data.len() as u64, 2));
    region.word32(VERSION_OFFSET).store(VERSION, Relaxed);
    region.word64(CAPACITY_OFFSET).store(capacity, Relaxed);
    region.word64(SEQUENCE_OFFSET).store(sequence, Relaxed);
    region.word64(LENGTH_OFFSET).store(length, Relaxed);
    let flags = if locked == Some(true) { FLAG_LOCKED } else { 0 };
    region.word32(FLAGS_OFFSET).store(flags, Relaxed);
    region.word32(ACKS_OFFSET).store(0, Relaxed);
    // Release: every store before it in this thread's program order, the header's and the
    // kernel's copy of the payload in `pwrite` alike, is visible to an opener that loads the
    // magic word with acquire.
    region.word32(MAGIC_OFFSET).store(MAGIC, Release);
    Ok(BufferSegment {
        segment,
        region,
        capacity,
    })
}

/// Opens and maps an existing shared buffer, validating its header before mapping more than
/// the header: the magic word, the layout version, and a capacity that the object's size
/// holds. Exactly header + capacity bytes are mapped, whatever size the object claims.
pub(crate) fn open(name: &str) -> Result<BufferSegment, BufferOpenError> {
    let (bare, os_name) = names(name).map_err(from_open_error)?;
    let object = os::Object::open(&os_name).map_err(|e| failed(&bare, e))?;
    let (size, identity) = object.stat().map_err(|e| failed(&bare, e))?;
    if size == 0 {
        return Err(BufferOpenError::NotReady { name: bare });
    }
    if size < HEADER_LEN as u64 {
        return Err(BufferOpenError::TooSmall { name: bare, size });
    }
    let (magic, version, capacity) = {
        let header = object
            .map_buffer(HEADER_LEN)
            .map_err(|e| failed(&bare, e))?;
        let magic = header.word32(MAGIC_OFFSET).load(Acquire);
        (
            magic,
            header.word32(VERSION_OFFSET).load(Relaxed),
            header.word64(CAPACITY_OFFSET).load(Relaxed),
        )
    };
    if magic == 0 {
        return Err(BufferOpenError::NotReady { name: bare });
    }
    if magic != MAGIC {
        return Err(BufferOpenError::WrongMagic {
            name: bare,
            found: magic,
            expected: MAGIC,
        });
    }
    if version != VERSION {
        return Err(BufferOpenError::UnsupportedVersion {
            name: bare,
            found: version,
            supported: VERSION,
        });
    }
    if !layout::is_valid_capacity(capacity) {
        return Err(BufferOpenError::InvalidCapacity {
            name: bare,
            capacity,
            max: MAX_BUFFER_CAPACITY,
        });
    }
    let used = layout::segment_len(capacity);
    if used > size {
        return Err(BufferOpenError::CapacityExceedsSize {
            name: bare,
            capacity,
            size,
        });
    }
    let region = object
        .map_buffer(map_len(&bare, used)?)
        .map_err(|e| failed(&bare, e))?;
    Ok(BufferSegment {
        segment: Segment {
            name: bare,
            object,
            identity,
            pid: std::process::id(),
        },
        region,
        capacity,
    })
}

impl Segment {
    /// Takes the shared buffer's writer lock for as long as this object stays open:
    /// `Some(true)` taken (or already held by this handle), `Some(false)` held by another open
    /// file description, `None` where the OS has no such locks.
    pub(crate) fn take_writer_lock(&self) -> Result<Option<bool>, (&'static str, io::Error)> {
        self.object.try_lock(WRITER_LOCK_BYTE)
    }

    /// Whether another open file description holds the shared buffer's writer lock; `None`
    /// where that cannot be told.
    pub(crate) fn writer_locked_elsewhere(&self) -> Option<bool> {
        self.object.is_locked(WRITER_LOCK_BYTE).ok().flatten()
    }
}
