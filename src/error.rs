//! Error types: one per kind of operation (opening, writing, reading).
//!
//! Every message says what was wrong and with which value, so that a log line is enough to
//! tell a missing producer from a corrupted segment.

use std::io;
use std::time::Duration;

use thiserror::Error;

use crate::layout::NameError;

/// One end of a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The end that writes.
    Producer,
    /// The end that reads.
    Consumer,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        })
    }
}

/// Why a segment could not be created or opened.
///
/// [`NotFound`](OpenError::NotFound) and [`NotReady`](OpenError::NotReady) are transient while
/// a producer is starting; [`ShmConsumer::open_timeout`](crate::ShmConsumer::open_timeout)
/// retries them for you. See [`OpenError::is_transient`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The name breaks the naming rules.
    #[error("invalid segment name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: NameError,
    },
    /// The requested capacity is outside `8 ..= u32::MAX` bytes.
    #[error("requested capacity {requested} is outside 8..=4294967295 bytes")]
    CapacityOutOfRange {
        /// The requested capacity in bytes.
        requested: usize,
    },
    /// No segment of that name exists.
    #[error("shared-memory segment {name:?} does not exist")]
    NotFound {
        /// The segment name, without a leading `/`.
        name: String,
    },
    /// The segment exists but its producer has not finished initialising it (its size or its
    /// capacity word is still 0). Retry.
    #[error("shared-memory segment {name:?} is not ready yet: its producer has not finished initialising it")]
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
    /// A live process already plays this role on the segment: a producer (so creating would
    /// destroy a ring in use) or a consumer (a ring has one consumer at a time).
    #[error("shared-memory segment {name:?} is in use by a live {by}")]
    InUse {
        /// The segment name, without a leading `/`.
        name: String,
        /// Which role is taken.
        by: Role,
    },
    /// The OS refused access (the segment belongs to another user, or its mode forbids it).
    #[error("permission denied for shared-memory segment {name:?}")]
    PermissionDenied {
        /// The segment name, without a leading `/`.
        name: String,
    },
    /// The segment is smaller than the 16-byte header.
    #[error("shared-memory segment {name:?} is {size} bytes, smaller than the 16-byte header")]
    TooSmall {
        /// The segment name, without a leading `/`.
        name: String,
        /// The segment's size in bytes.
        size: u64,
    },
    /// The header's capacity word is not a power of two from 8 to 2^31.
    #[error("shared-memory segment {name:?} has capacity {capacity}, which is not a power of two from 8 to 2^31")]
    InvalidCapacity {
        /// The segment name, without a leading `/`.
        name: String,
        /// The capacity word as read.
        capacity: u32,
    },
    /// The header's capacity word claims a data area larger than the segment.
    #[error("shared-memory segment {name:?} claims capacity {capacity}, but its {size} bytes hold at most {} after the header", size.saturating_sub(16))]
    CapacityExceedsSize {
        /// The segment name, without a leading `/`.
        name: String,
        /// The capacity word as read.
        capacity: u32,
        /// The segment's size in bytes.
        size: u64,
    },
    /// Waiting for the segment to appear and become ready took longer than allowed.
    #[error("timed out after {waited:?} waiting for shared-memory segment {name:?}: {last}")]
    Timeout {
        /// The segment name, without a leading `/`.
        name: String,
        /// How long was waited.
        waited: Duration,
        /// The last transient error seen.
        last: Box<OpenError>,
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
}

impl OpenError {
    /// Whether retrying later may succeed: the segment is missing or not yet initialised.
    ///
    /// ```
    /// use shm_ring::OpenError;
    /// let missing = OpenError::NotFound { name: "frames".into() };
    /// assert!(missing.is_transient());
    /// let bad = OpenError::InvalidCapacity { name: "frames".into(), capacity: 100 };
    /// assert!(!bad.is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            OpenError::NotFound { .. } | OpenError::NotReady { .. }
        )
    }
}

/// Why a message was not written. Nothing is ever written in part.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WriteError {
    /// There is not enough free space right now; try again after the consumer has read.
    #[error("the ring is full")]
    Full,
    /// There was not enough free space before the timeout ran out.
    #[error("timed out waiting for free space in the ring")]
    Timeout,
    /// The consumer's process is gone (it exited or was killed), so no space will be freed.
    /// A new consumer may attach and continue where it stopped.
    #[error("the consumer is gone")]
    PeerGone,
    /// The message can never fit: its payload is larger than `capacity - 4` bytes.
    #[error("a {len}-byte message can never fit: the largest this ring carries is {max} bytes")]
    TooLarge {
        /// The payload length.
        len: usize,
        /// The largest payload the ring carries (`capacity - 4`).
        max: usize,
    },
    /// Empty messages are refused, because consumers of the original library stall on them.
    #[error("empty messages are refused (consumers of the original library would stall on them)")]
    Empty,
}

/// Why no message was read.
///
/// When a message is refused ([`TooSmall`](ReadError::TooSmall),
/// [`TypeMismatch`](ReadError::TypeMismatch)) it stays in the ring, to be read another way.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReadError {
    /// No message arrived before the timeout ran out.
    #[error("timed out waiting for a message")]
    Timeout,
    /// The producer's process is gone and every message it published has been read.
    #[error("the producer is gone")]
    PeerGone,
    /// The caller's buffer is smaller than the next message; the message stays in the ring.
    #[error("the next message has {needed} bytes but the buffer holds only {available}; the message stays in the ring")]
    TooSmall {
        /// The message's length in bytes.
        needed: usize,
        /// The buffer's length in bytes.
        available: usize,
    },
    /// The next message's length does not fit the requested type; the message stays in the ring.
    #[error(
        "the next message has {len} bytes, which is not {expected}; the message stays in the ring"
    )]
    TypeMismatch {
        /// The message's length in bytes.
        len: usize,
        /// What was expected, e.g. "exactly 8 bytes" or "a multiple of 4 bytes".
        expected: String,
    },
    /// The producer's side of the segment breaks the protocol; reading cannot go on.
    #[error("corrupted ring: {0}")]
    Corrupted(Corruption),
}

/// What is wrong with a ring whose producer broke the protocol.
///
/// A correct producer publishes whole records only, so none of these can happen with one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Corruption {
    /// Fewer bytes than a length prefix are published.
    #[error(
        "only {readable} bytes are published at index {tail}, fewer than a 4-byte length prefix"
    )]
    TruncatedPrefix {
        /// The stream index of the record.
        tail: u32,
        /// Bytes published from that index.
        readable: u32,
    },
    /// A length prefix is larger than any record the ring can hold.
    #[error("the record at index {tail} claims {length} payload bytes, more than the {max} this ring can hold")]
    LengthTooLarge {
        /// The stream index of the record.
        tail: u32,
        /// The length prefix as read.
        length: u32,
        /// The largest payload the ring carries (`capacity - 4`).
        max: u32,
    },
    /// A length prefix reaches past the published bytes.
    #[error("the record at index {tail} claims {length} payload bytes, but only {readable} bytes (prefix included) are published")]
    LengthExceedsPublished {
        /// The stream index of the record.
        tail: u32,
        /// The length prefix as read.
        length: u32,
        /// Bytes published from that index, prefix included.
        readable: u32,
    },
}

impl From<Corruption> for ReadError {
    fn from(corruption: Corruption) -> Self {
        ReadError::Corrupted(corruption)
    }
}
