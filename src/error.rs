//! Error types: one per kind of operation (opening, writing, reading).
//!
//! Every message says what was wrong and with which value, so that a log line is enough to
//! tell a missing producer from a corrupted segment.

use std::io;
use std::time::Duration;

use thiserror::Error;

use crate::layout::NameError;

/// One end of a ring, as [`OpenError::InUse`] names it.
///
/// ```
/// use shm_ring::{OpenError, ProducerOptions, Role, ShmConsumer};
/// # let name = &format!("doc-role-{}", std::process::id());
/// let producer = ProducerOptions::new().unlink_on_drop(true).create(name, 4096)?;
/// let first = ShmConsumer::open(name)?;
/// let second = ShmConsumer::open(name);
/// assert!(matches!(second, Err(OpenError::InUse { by: Role::Consumer, .. })));
/// assert_eq!(Role::Consumer.to_string(), "consumer");
/// # drop((first, producer));
/// # Ok::<(), OpenError>(())
/// ```
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
///
/// ```
/// use shm_ring::{OpenError, ShmConsumer};
/// match ShmConsumer::open("doc-open-error-nobody") {
///     Err(OpenError::NotFound { name }) => assert_eq!(name, "doc-open-error-nobody"),
///     other => panic!("expected NotFound, got {other:?}"),
/// }
/// let bad = ShmConsumer::open("no spaces").unwrap_err();
/// assert_eq!(
///     bad.to_string(),
///     "invalid segment name \"no spaces\": character ' ' at position 2 is not allowed (use A-Z a-z 0-9 . _ -)"
/// );
/// ```
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
    /// The requested capacity is outside `1 ..= 2^31` bytes.
    #[error("requested capacity {requested} is outside 1..=2147483648 bytes")]
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
    /// The OS cannot do what was asked for this segment. On Windows, a named mapping lives
    /// for as long as any process has it open and its name cannot be removed: removing a
    /// segment, and creating one over a name that another process still holds, are this
    /// error (see the crate's platform notes in docs/DESIGN.md).
    #[error("{operation} is not possible for shared-memory segment {name:?}: {reason}")]
    Unsupported {
        /// The segment name, without a leading `/`.
        name: String,
        /// What was asked, e.g. `"remove"`.
        operation: &'static str,
        /// Why the OS cannot do it.
        reason: &'static str,
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

/// Why [`ShmProducer::try_write`](crate::ShmProducer::try_write),
/// [`try_reserve`](crate::ShmProducer::try_reserve) or
/// [`try_write_batch`](crate::ShmProducer::try_write_batch) wrote nothing. Nothing is ever
/// written in part.
///
/// ```
/// use shm_ring::{ShmProducer, TryWriteError};
/// # let name = &format!("doc-try-write-error-{}", std::process::id());
/// let mut producer = ShmProducer::create(name, 16)?;
/// producer.try_write(b"12 bytes!!!!")?;
/// assert_eq!(producer.try_write(b"x"), Err(TryWriteError::Full));
/// assert_eq!(producer.try_write(b""), Err(TryWriteError::Empty));
/// assert_eq!(
///     producer.try_write(&[0; 13]),
///     Err(TryWriteError::TooLarge { len: 13, max: 12, needed_capacity: Some(32) })
/// );
/// # producer.unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TryWriteError {
    /// There is not enough free space right now; try again after the consumer has read.
    #[error("the ring is full")]
    Full,
    /// The message can never fit: its payload is larger than `capacity - 4` bytes.
    #[error("{}", too_large(*len, *max, *needed_capacity))]
    TooLarge {
        /// The payload length in bytes.
        len: usize,
        /// The largest payload this ring carries (`capacity - 4`), in bytes.
        max: usize,
        /// The capacity to create a ring with so that it carries this message
        /// ([`capacity_for_message(len)`](crate::capacity_for_message)), or `None` when no
        /// ring can (the payload is longer than 2^31 - 4 bytes).
        needed_capacity: Option<usize>,
    },
    /// Empty messages are refused, because consumers of the original library stall on them.
    #[error("empty messages are refused (consumers of the original library would stall on them)")]
    Empty,
}

/// Why [`ShmProducer::write`](crate::ShmProducer::write),
/// [`reserve`](crate::ShmProducer::reserve) or
/// [`write_batch`](crate::ShmProducer::write_batch) wrote nothing before its timeout. Nothing
/// is ever written in part.
///
/// ```
/// use std::time::Duration;
/// use shm_ring::{ShmConsumer, ShmProducer, WriteTimeoutError};
/// # let name = &format!("doc-write-timeout-error-{}", std::process::id());
/// let mut producer = ShmProducer::create(name, 16)?;
/// let consumer = ShmConsumer::open(name)?;
/// producer.write(b"12 bytes!!!!", Duration::from_secs(1))?;
/// let full = producer.write(b"x", Duration::from_millis(1));
/// assert_eq!(full, Err(WriteTimeoutError::Timeout));
/// drop(consumer);
/// let gone = producer.write(b"x", Duration::from_secs(60));
/// assert_eq!(gone, Err(WriteTimeoutError::PeerGone));
/// # producer.unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WriteTimeoutError {
    /// There was not enough free space before the timeout ran out.
    #[error("timed out waiting for free space in the ring")]
    Timeout,
    /// The consumer's process is gone (it exited or was killed), so no space will be freed.
    /// A new consumer may attach and continue where it stopped.
    #[error("the consumer is gone")]
    PeerGone,
    /// The message can never fit; see [`TryWriteError::TooLarge`].
    #[error("{}", too_large(*len, *max, *needed_capacity))]
    TooLarge {
        /// The payload length in bytes.
        len: usize,
        /// The largest payload this ring carries (`capacity - 4`), in bytes.
        max: usize,
        /// The capacity to create a ring with so that it carries this message, or `None`
        /// when no ring can.
        needed_capacity: Option<usize>,
    },
    /// Empty messages are refused, because consumers of the original library stall on them.
    #[error("empty messages are refused (consumers of the original library would stall on them)")]
    Empty,
}

impl From<TryWriteError> for WriteTimeoutError {
    /// The outcome of one non-blocking attempt, as the blocking call reports it;
    /// [`TryWriteError::Full`] becomes [`WriteTimeoutError::Timeout`].
    ///
    /// ```
    /// use shm_ring::{TryWriteError, WriteTimeoutError};
    /// assert_eq!(WriteTimeoutError::from(TryWriteError::Empty), WriteTimeoutError::Empty);
    /// ```
    fn from(error: TryWriteError) -> Self {
        match error {
            TryWriteError::Full => WriteTimeoutError::Timeout,
            TryWriteError::TooLarge {
                len,
                max,
                needed_capacity,
            } => WriteTimeoutError::TooLarge {
                len,
                max,
                needed_capacity,
            },
            TryWriteError::Empty => WriteTimeoutError::Empty,
        }
    }
}

/// The message of a `TooLarge` error.
fn too_large(len: usize, max: usize, needed_capacity: Option<usize>) -> String {
    let advice = match needed_capacity {
        Some(capacity) => format!("create the ring with capacity {capacity} to carry it"),
        None => "no ring carries more than 2147483644 bytes".to_owned(),
    };
    format!("a {len}-byte message can never fit: the largest this ring carries is {max} bytes; {advice}")
}

/// Why [`ShmProducer::wait_until_empty`](crate::ShmProducer::wait_until_empty) returned
/// before the consumer had read everything.
///
/// ```
/// use std::time::Duration;
/// use shm_ring::{ShmProducer, WaitTimeoutError};
/// # let name = &format!("doc-wait-timeout-error-{}", std::process::id());
/// let mut producer = ShmProducer::create(name, 4096)?;
/// producer.try_write(b"unread")?;
/// let waited = producer.wait_until_empty(Duration::from_millis(1));
/// assert_eq!(waited, Err(WaitTimeoutError::Timeout));
/// # producer.unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WaitTimeoutError {
    /// The consumer had not read everything before the timeout ran out.
    #[error("timed out waiting for the consumer to read everything")]
    Timeout,
    /// The consumer's process is gone, so nothing more will be read.
    #[error("the consumer is gone")]
    PeerGone,
}

/// Why [`ShmConsumer::try_read`](crate::ShmConsumer::try_read) or
/// [`try_read_batch`](crate::ShmConsumer::try_read_batch) returned no message.
///
/// ```
/// use shm_ring::{ShmConsumer, ShmProducer, TryReadError};
/// # let name = &format!("doc-try-read-error-{}", std::process::id());
/// let producer = ShmProducer::create(name, 4096)?;
/// let mut consumer = ShmConsumer::open(name)?;
/// assert!(matches!(consumer.try_read(), Err(TryReadError::Empty)));
/// # producer.unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TryReadError {
    /// No message is waiting right now.
    #[error("no message is waiting")]
    Empty,
    /// The producer's side of the segment breaks the protocol; reading cannot go on.
    #[error("corrupted ring: {0}")]
    Corrupted(Corruption),
}

/// Why [`ShmConsumer::read`](crate::ShmConsumer::read) or
/// [`read_batch`](crate::ShmConsumer::read_batch) returned no message before its timeout.
///
/// ```
/// use std::time::Duration;
/// use shm_ring::{ReadTimeoutError, ShmConsumer, ShmProducer};
/// # let name = &format!("doc-read-timeout-error-{}", std::process::id());
/// let producer = ShmProducer::create(name, 4096)?;
/// let mut consumer = ShmConsumer::open(name)?;
/// let nothing = consumer.read(Duration::from_millis(1));
/// assert!(matches!(nothing, Err(ReadTimeoutError::Timeout)));
/// # producer.unlink()?;
/// drop(producer);
/// let gone = consumer.read(Duration::from_secs(60));
/// assert!(matches!(gone, Err(ReadTimeoutError::PeerGone)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReadTimeoutError {
    /// No message arrived before the timeout ran out.
    #[error("timed out waiting for a message")]
    Timeout,
    /// The producer's process is gone and every message it published has been read.
    #[error("the producer is gone")]
    PeerGone,
    /// The producer's side of the segment breaks the protocol; reading cannot go on.
    #[error("corrupted ring: {0}")]
    Corrupted(Corruption),
}

impl From<TryReadError> for ReadTimeoutError {
    /// The outcome of one non-blocking attempt, as the blocking call reports it;
    /// [`TryReadError::Empty`] becomes [`ReadTimeoutError::Timeout`].
    ///
    /// ```
    /// use shm_ring::{ReadTimeoutError, TryReadError};
    /// assert_eq!(ReadTimeoutError::from(TryReadError::Empty), ReadTimeoutError::Timeout);
    /// ```
    fn from(error: TryReadError) -> Self {
        match error {
            TryReadError::Empty => ReadTimeoutError::Timeout,
            TryReadError::Corrupted(corruption) => ReadTimeoutError::Corrupted(corruption),
        }
    }
}

/// Why [`ReadGrant::into_slice`](crate::ReadGrant::into_slice) copied nothing: the caller's
/// buffer is shorter than the message. The message stays in the ring, to be read again with
/// a buffer of at least `needed` bytes.
///
/// ```
/// use shm_ring::{BufferTooSmall, ShmConsumer, ShmProducer};
/// # let name = &format!("doc-buffer-too-small-{}", std::process::id());
/// let mut producer = ShmProducer::create(name, 4096)?;
/// let mut consumer = ShmConsumer::open(name)?;
/// producer.try_write(b"twelve bytes")?;
/// let mut small = [0u8; 4];
/// let refused = consumer.try_read()?.into_slice(&mut small);
/// assert_eq!(refused, Err(BufferTooSmall { needed: 12, available: 4 }));
/// assert_eq!(consumer.try_read()?.len(), 12); // still there
/// # producer.unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the message has {needed} bytes but the buffer holds only {available}; the message stays in the ring")]
pub struct BufferTooSmall {
    /// The message's length in bytes.
    pub needed: usize,
    /// The buffer's length in bytes.
    pub available: usize,
}

/// Why [`ReadGrant::into_value`](crate::ReadGrant::into_value) or
/// [`into_values`](crate::ReadGrant::into_values) copied nothing: the message's length does
/// not fit the type. The message stays in the ring, to be read another way.
///
/// ```
/// use shm_ring::{ShmConsumer, ShmProducer, TypeMismatch};
/// # let name = &format!("doc-type-mismatch-{}", std::process::id());
/// let mut producer = ShmProducer::create(name, 4096)?;
/// let mut consumer = ShmConsumer::open(name)?;
/// producer.try_write(b"five!")?;
/// let refused = consumer.try_read()?.into_value::<u32>();
/// assert_eq!(refused, Err(TypeMismatch::NotOneValue { len: 5, size: 4 }));
/// let refused = consumer.try_read()?.into_values::<u16>();
/// assert_eq!(refused, Err(TypeMismatch::NotWholeValues { len: 5, size: 2 }));
/// # producer.unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TypeMismatch {
    /// The message is not exactly one value long.
    #[error(
        "the message has {len} bytes, not the {size} of one value; the message stays in the ring"
    )]
    NotOneValue {
        /// The message's length in bytes.
        len: usize,
        /// `size_of` the requested type, in bytes.
        size: usize,
    },
    /// The message is not a whole number of values long.
    #[error("the message has {len} bytes, not a whole number of {size}-byte values; the message stays in the ring")]
    NotWholeValues {
        /// The message's length in bytes.
        len: usize,
        /// `size_of` the requested type, in bytes.
        size: usize,
    },
}

/// What is wrong with a ring whose producer broke the protocol.
///
/// A correct producer publishes whole records only, so none of these can happen with one.
/// It comes inside [`TryReadError::Corrupted`] and [`ReadTimeoutError::Corrupted`].
///
/// ```
/// use shm_ring::Corruption;
/// let corruption = Corruption::LengthTooLarge { tail: 64, length: 5000, max: 4092 };
/// assert_eq!(
///     corruption.to_string(),
///     "the record at index 64 claims 5000 payload bytes, more than the 4092 this ring can hold"
/// );
/// ```
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

impl From<Corruption> for TryReadError {
    /// ```
    /// use shm_ring::{Corruption, TryReadError};
    /// let corruption = Corruption::TruncatedPrefix { tail: 8, readable: 2 };
    /// assert_eq!(TryReadError::from(corruption), TryReadError::Corrupted(corruption));
    /// ```
    fn from(corruption: Corruption) -> Self {
        TryReadError::Corrupted(corruption)
    }
}
