//! The shared buffer's error types: one for creating and opening, one for writing, one for
//! reading. Each message names the segment and the values that were wrong.

use std::io;

use thiserror::Error;

use crate::layout::NameError;
use crate::DescriptorError;

/// Why a shared buffer could not be created or opened.
///
/// ```
/// use shm_ring::{BufferOpenError, SharedBuffer};
/// match SharedBuffer::open("doc-buffer-open-error-nobody") {
///     Err(BufferOpenError::NotFound { name }) => assert_eq!(name, "doc-buffer-open-error-nobody"),
///     other => panic!("expected NotFound, got {other:?}"),
/// }
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BufferOpenError {
    /// The name breaks the naming rules (those of [`NameError`]).
    #[error("invalid segment name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: NameError,
    },
    /// The requested capacity is outside `1 ..= MAX_BUFFER_CAPACITY` bytes.
    #[error("requested capacity {requested} is outside 1..={max} bytes")]
    CapacityOutOfRange {
        /// The requested capacity in bytes.
        requested: u64,
        /// The largest capacity, [`MAX_BUFFER_CAPACITY`](crate::MAX_BUFFER_CAPACITY).
        max: u64,
    },
    /// The first payload given to a create is longer than the capacity asked for; nothing
    /// was created.
    #[error("a {len}-byte first payload does not fit the requested capacity of {capacity} bytes")]
    PayloadTooLarge {
        /// The payload's length in bytes.
        len: u64,
        /// The requested capacity in bytes.
        capacity: u64,
    },
    /// No segment of that name exists.
    #[error("shared-memory segment {name:?} does not exist")]
    NotFound {
        /// The segment name, without a leading `/`.
        name: String,
    },
    /// The segment exists but its creator has not finished initialising it (its size or its
    /// magic word is still 0). Retry.
    #[error("shared-memory segment {name:?} is not ready yet: its creator has not finished initialising it")]
    NotReady {
        /// The segment name, without a leading `/`.
        name: String,
    },
    /// An exclusive create found a segment of that name.
    #[error("shared-memory segment {name:?} already exists")]
    AlreadyExists {
        /// The segment name, without a leading `/`.
        name: String,
    },
    /// A live owner holds the name, so creating it would destroy a buffer in use.
    #[error("shared-memory segment {name:?} is in use by a live owner")]
    InUse {
        /// The segment name, without a leading `/`.
        name: String,
    },
    /// The OS refused access (the segment belongs to another user, or its mode forbids it).
    #[error("permission denied for shared-memory segment {name:?}")]
    PermissionDenied {
        /// The segment name, without a leading `/`.
        name: String,
    },
    /// The segment is smaller than the 64-byte header.
    #[error("shared-memory segment {name:?} is {size} bytes, smaller than the 64-byte shared-buffer header")]
    TooSmall {
        /// The segment name, without a leading `/`.
        name: String,
        /// The segment's size in bytes.
        size: u64,
    },
    /// The header's magic word is not `"SRBF"`: the segment is not a shared buffer (a ring,
    /// say) or its header is damaged.
    #[error("shared-memory segment {name:?} is not a shared buffer: magic word {found:#010x}, expected {expected:#010x} (\"SRBF\")")]
    WrongMagic {
        /// The segment name, without a leading `/`.
        name: String,
        /// The magic word as read.
        found: u32,
        /// The magic word of a shared buffer.
        expected: u32,
    },
    /// The header's layout version is not one this crate reads.
    #[error("shared-memory segment {name:?} has shared-buffer layout version {found}; this crate reads version {supported}")]
    UnsupportedVersion {
        /// The segment name, without a leading `/`.
        name: String,
        /// The version word as read.
        found: u32,
        /// The version this crate reads.
        supported: u32,
    },
    /// The header's capacity word is outside `1 ..= MAX_BUFFER_CAPACITY`.
    #[error("shared-memory segment {name:?} has capacity {capacity}, outside 1..={max}")]
    InvalidCapacity {
        /// The segment name, without a leading `/`.
        name: String,
        /// The capacity word as read.
        capacity: u64,
        /// The largest capacity, [`MAX_BUFFER_CAPACITY`](crate::MAX_BUFFER_CAPACITY).
        max: u64,
    },
    /// The header's capacity word claims a payload area larger than the segment.
    #[error("shared-memory segment {name:?} claims capacity {capacity}, but its {size} bytes hold at most {} after the header", size.saturating_sub(64))]
    CapacityExceedsSize {
        /// The segment name, without a leading `/`.
        name: String,
        /// The capacity word as read.
        capacity: u64,
        /// The segment's size in bytes.
        size: u64,
    },
    /// Any other failure of an OS call.
    #[error("{operation} failed for shared-memory segment {name:?}: {source}")]
    Io {
        /// The segment name, without a leading `/`.
        name: String,
        /// The OS call that failed, e.g. `"mmap"`.
        operation: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The descriptor given to open the buffer is not a valid descriptor.
    #[error(transparent)]
    Descriptor(#[from] DescriptorError),
    /// The segment the descriptor names is not the one it describes: a header value differs
    /// from the descriptor's (a segment smaller than the descriptor says, say).
    #[error("shared-memory segment {name:?} has {field} {segment}, but its descriptor says {descriptor}")]
    DescriptorMismatch {
        /// The segment name, without a leading `/`.
        name: String,
        /// The field that differs, as the descriptor spells it (`"capacity"`).
        field: &'static str,
        /// The descriptor's value.
        descriptor: u64,
        /// The segment's value.
        segment: u64,
    },
}

/// Why a write to a shared buffer failed. Nothing was written.
///
/// ```
/// use shm_ring::{BufferWriteError, SharedBuffer};
/// let mut buffer = SharedBuffer::create_unique(4)?;
/// let refused = buffer.write(b"12345").unwrap_err();
/// assert!(matches!(refused, BufferWriteError::TooLarge { len: 5, capacity: 4, .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BufferWriteError {
    /// The payload is longer than the buffer's capacity.
    #[error("a {len}-byte payload does not fit shared buffer {name:?}, whose capacity is {capacity} bytes")]
    TooLarge {
        /// The segment name.
        name: String,
        /// The payload's length in bytes.
        len: u64,
        /// The buffer's capacity in bytes.
        capacity: u64,
    },
    /// Another live handle (in this or another process) holds the buffer's writer lock.
    #[error("shared buffer {name:?} has another live writer")]
    WriterInUse {
        /// The segment name.
        name: String,
    },
    /// Asking the OS for the writer lock failed.
    #[error("{operation} failed for shared buffer {name:?}: {source}")]
    Io {
        /// The segment name.
        name: String,
        /// The OS call that failed.
        operation: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

/// Why a read of a shared buffer returned no payload. Nothing torn or mixed is ever returned:
/// these errors are what a reader gets instead.
///
/// ```
/// use shm_ring::{BufferReadError, SharedBuffer};
/// let mut buffer = SharedBuffer::create_unique(16)?;
/// buffer.write(b"first")?;
/// // SAFETY: `buffer`, the only writer, is not written while the view's bytes are read.
/// let view = unsafe { buffer.read_in_place() }?;
/// let seen = view.to_vec();
/// view.verify()?; // no write overlapped: `seen` is one whole payload
/// assert_eq!(seen, b"first");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BufferReadError {
    /// Every attempt of a copying read overlapped a write.
    #[error("shared buffer {name:?}: a write overlapped each of {attempts} read attempts")]
    Contended {
        /// The segment name.
        name: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// A write overlapped a borrow made by
    /// [`SharedBuffer::read_in_place`](crate::SharedBuffer::read_in_place): the bytes seen
    /// through it may be a mix of two payloads and must be discarded.
    #[error("shared buffer {name:?} was written while borrowed: sequence {borrowed} at the borrow, {now} at the check")]
    Overwritten {
        /// The segment name.
        name: String,
        /// The sequence word when the borrow began.
        borrowed: u64,
        /// The sequence word at the check.
        now: u64,
    },
    /// The sequence word says a write is under way, but no process holds the writer lock: a
    /// writer died mid-write and the payload is partial until the next write.
    #[error("shared buffer {name:?}: its writer died during a write (sequence {sequence} is odd); the payload is incomplete until the next write")]
    WriterGone {
        /// The segment name.
        name: String,
        /// The (odd) sequence word.
        sequence: u64,
    },
    /// The length word, read between two equal even sequence words, exceeds the capacity:
    /// the header was damaged by a process that does not follow the protocol.
    #[error("shared buffer {name:?} is corrupt: its length word {length} exceeds its capacity {capacity}")]
    LengthExceedsCapacity {
        /// The segment name.
        name: String,
        /// The length word as read.
        length: u64,
        /// The buffer's capacity in bytes.
        capacity: u64,
    },
}
