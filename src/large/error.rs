//! The large-message pair's errors: one for setting an end up, one per way of sending, one
//! per way of receiving, and one for an envelope that cannot be read. Each names the ring or
//! pool and the value that was wrong.

use std::io;
use std::time::Duration;

use thiserror::Error;

use crate::{Corruption, OpenError, PoolOpenError, PoolRefError, ResolveError};

/// Why [`LargeSender::new`](crate::LargeSender::new) or
/// [`LargeReceiver::new`](crate::LargeReceiver::new) made no end.
///
/// ```
/// use shm_ring::{BufferPool, LargeSender, LargeSetupError, ShmProducer};
/// # let name = &format!("doc-large-setup-{}", std::process::id());
/// let producer = ShmProducer::create(name, 64)?; // too small for a 72-byte reference message
/// let pool = BufferPool::create_unique(1, 1024)?;
/// let refused = LargeSender::new(producer, pool).unwrap_err();
/// assert!(matches!(refused, LargeSetupError::RingTooSmall { max_message_len: 60, needed: 72, .. }));
/// # let _ = shm_ring::remove(name); // POSIX leaves the name behind; Windows has none
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LargeSetupError {
    /// The ring's largest message is shorter than a reference message (72 bytes).
    #[error("ring {ring:?} carries messages of at most {max_message_len} bytes; a large-message ring needs at least {needed}")]
    RingTooSmall {
        /// The ring's name.
        ring: String,
        /// The ring's largest message, `capacity - 4` bytes.
        max_message_len: usize,
        /// The shortest message a large-message ring must carry.
        needed: usize,
    },
    /// The ring has no extension block (its producer follows the original library's layout),
    /// so a receiver cannot announce itself and no sender would send it envelopes.
    #[error("ring {ring:?} has no shm_ring extension block: its producer cannot learn that this receiver reads envelopes")]
    NoExtension {
        /// The ring's name.
        ring: String,
    },
    /// Another receiver holds the ring's receiver lock.
    #[error("ring {ring:?} already has a live large-message receiver")]
    ReceiverInUse {
        /// The ring's name.
        ring: String,
    },
    /// Taking the receiver lock failed.
    #[error(transparent)]
    Open(#[from] OpenError),
}

/// Why a received envelope could not be read. The message is consumed: the next receive reads
/// the one after it.
///
/// ```
/// use shm_ring::EnvelopeError;
/// let error = EnvelopeError::UnsupportedVersion { found: 2, supported: 1 };
/// assert_eq!(error.to_string(), "message envelope version 2; this crate reads version 1");
/// ```
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The message is shorter than the 8-byte envelope.
    #[error("a {len}-byte message is shorter than the 8-byte message envelope")]
    Truncated {
        /// The message's length in bytes.
        len: usize,
    },
    /// The message does not start with `"SRLM"`: it was not sent by a large-message sender.
    #[error("not a message envelope: magic {found:#010x}, expected {expected:#010x} (\"SRLM\")")]
    WrongMagic {
        /// The first four bytes as a little-endian `u32`.
        found: u32,
        /// The envelope's magic.
        expected: u32,
    },
    /// The envelope's version is not one this crate reads.
    #[error("message envelope version {found}; this crate reads version {supported}")]
    UnsupportedVersion {
        /// The version byte as read.
        found: u8,
        /// The version this crate reads.
        supported: u8,
    },
    /// The kind byte is neither inline (0) nor pool reference (1).
    #[error("message envelope of unknown kind {kind}")]
    UnknownKind {
        /// The kind byte as read.
        kind: u8,
    },
    /// The envelope's two padding bytes are not zero.
    #[error("message envelope padding is {found:?}, not zero")]
    NonZeroPadding {
        /// The padding bytes as read.
        found: [u8; 2],
    },
    /// A reference message is not exactly 72 bytes (the envelope and the reference).
    #[error("a pool-reference message is {expected} bytes, not {len}")]
    WrongReferenceLength {
        /// The message's length in bytes.
        len: usize,
        /// The length of a reference message.
        expected: usize,
    },
    /// The reference's binary form is invalid.
    #[error("bad pool reference in a message envelope: {0}")]
    BadReference(PoolRefError),
}

/// Why [`LargeSender::try_send`](crate::LargeSender::try_send) or
/// [`try_loan`](crate::LargeSender::try_loan) sent nothing. Nothing is ever sent in part, and
/// a slot taken for the message goes back to the pool.
///
/// ```
/// use shm_ring::{BufferPool, LargeSender, ShmProducer, TrySendError};
/// # let name = &format!("doc-try-send-error-{}", std::process::id());
/// let mut sender = LargeSender::new(ShmProducer::create(name, 4096)?, BufferPool::create_unique(1, 64)?)?;
/// // No receiver has announced that it reads envelopes.
/// assert!(matches!(sender.try_send(b"hello"), Err(TrySendError::NoReceiver { announced: 0, .. })));
/// # sender.producer().unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TrySendError {
    /// No live receiver that reads this crate's envelopes is attached: nobody is, or the
    /// consumer is a plain ring consumer (of this crate or of the original library).
    #[error("no receiver of message envelopes version 1 is attached to ring {ring:?} (the consumer announces version {announced}; 0 means a plain consumer or none)")]
    NoReceiver {
        /// The ring's name.
        ring: String,
        /// The envelope version the consumer's byte announces (0: none).
        announced: u8,
    },
    /// The ring has no room for the message (inline) or its reference right now.
    #[error("the ring is full")]
    Full,
    /// Every slot of the pool is held right now.
    #[error("buffer pool {pool:?}: all {slots} slots are in use")]
    PoolExhausted {
        /// The pool's name.
        pool: String,
        /// The pool's slot count.
        slots: u32,
    },
    /// The message is larger than a slot (and than the inline threshold): it can never be sent.
    #[error(
        "a {len}-byte message can never be sent: the largest is {max} bytes (the pool's slot size)"
    )]
    TooLarge {
        /// The message's length in bytes.
        len: usize,
        /// The largest message this sender carries, in bytes.
        max: usize,
    },
    /// A process that does not follow the protocol changed the slot while it was filled.
    #[error("buffer pool {pool:?}: slot {slot} was taken from its writer")]
    SlotLost {
        /// The pool's name.
        pool: String,
        /// The slot index.
        slot: u32,
    },
    /// An OS call of the pool failed (layout version 2 makes none when it takes or returns a
    /// slot; kept so that callers matching it still compile).
    #[error("{operation} failed for buffer pool {pool:?}: {source}")]
    Io {
        /// The pool's name.
        pool: String,
        /// The OS call that failed.
        operation: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

/// Why [`LargeSender::send`](crate::LargeSender::send) or
/// [`loan`](crate::LargeSender::loan) sent nothing before its timeout. Nothing is ever sent in
/// part, and a slot taken for the message goes back to the pool.
///
/// ```
/// use std::time::Duration;
/// use shm_ring::{BufferPool, LargeSender, SendTimeoutError, ShmProducer};
/// # let name = &format!("doc-send-timeout-error-{}", std::process::id());
/// let mut sender = LargeSender::new(ShmProducer::create(name, 4096)?, BufferPool::create_unique(1, 64)?)?;
/// let late = sender.send(b"hello", Duration::from_millis(1)).unwrap_err();
/// assert!(matches!(late, SendTimeoutError::NoReceiver { announced: 0, .. }));
/// # sender.producer().unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SendTimeoutError {
    /// No live receiver that reads envelopes attached within the timeout.
    #[error("no receiver of message envelopes version 1 attached to ring {ring:?} within {waited:?} (the consumer announces version {announced}; 0 means a plain consumer or none)")]
    NoReceiver {
        /// The ring's name.
        ring: String,
        /// The envelope version the consumer's byte announces (0: none).
        announced: u8,
        /// The timeout.
        waited: Duration,
    },
    /// The ring had no room for the message or its reference before the timeout ran out.
    #[error("timed out after {waited:?} waiting for free space in the ring")]
    Timeout {
        /// The timeout.
        waited: Duration,
    },
    /// No slot of the pool came free before the timeout ran out.
    #[error("buffer pool {pool:?}: none of its {slots} slots came free within {waited:?}")]
    PoolTimeout {
        /// The pool's name.
        pool: String,
        /// The pool's slot count.
        slots: u32,
        /// The timeout.
        waited: Duration,
    },
    /// The receiver's process is gone while the sender waited for room in the ring.
    #[error("the receiver is gone")]
    PeerGone,
    /// The message can never be sent; see [`TrySendError::TooLarge`].
    #[error(
        "a {len}-byte message can never be sent: the largest is {max} bytes (the pool's slot size)"
    )]
    TooLarge {
        /// The message's length in bytes.
        len: usize,
        /// The largest message this sender carries, in bytes.
        max: usize,
    },
    /// A process that does not follow the protocol changed the slot while it was filled.
    #[error("buffer pool {pool:?}: slot {slot} was taken from its writer")]
    SlotLost {
        /// The pool's name.
        pool: String,
        /// The slot index.
        slot: u32,
    },
    /// An OS call of the pool failed (layout version 2 makes none when it takes or returns a
    /// slot; kept so that callers matching it still compile).
    #[error("{operation} failed for buffer pool {pool:?}: {source}")]
    Io {
        /// The pool's name.
        pool: String,
        /// The OS call that failed.
        operation: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

/// Why [`LargeReceiver::try_recv`](crate::LargeReceiver::try_recv) returned no message. After
/// an envelope, pool or reference error the message is consumed, and the next call reads the
/// one after it: no bytes but the ones sent are ever returned.
///
/// ```
/// use shm_ring::{LargeReceiver, ShmConsumer, ShmProducer, TryRecvError};
/// # let name = &format!("doc-try-recv-error-{}", std::process::id());
/// let mut producer = ShmProducer::create(name, 4096)?;
/// let receiver = LargeReceiver::new(ShmConsumer::open(name)?)?;
/// assert!(matches!(receiver.try_recv(), Err(TryRecvError::Empty)));
/// producer.try_write(b"no envelope")?; // a plain producer's message
/// assert!(matches!(receiver.try_recv(), Err(TryRecvError::Envelope(_))));
/// # producer.unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TryRecvError {
    /// No message is waiting right now.
    #[error("no message is waiting")]
    Empty,
    /// The producer's side of the ring breaks the protocol; reading cannot go on.
    #[error("corrupted ring: {0}")]
    Corrupted(Corruption),
    /// The message's envelope is invalid.
    #[error(transparent)]
    Envelope(EnvelopeError),
    /// The pool the reference names could not be opened.
    #[error("cannot open the buffer pool a message refers to: {0}")]
    PoolOpen(PoolOpenError),
    /// The reference does not resolve to a published slot (stale, out of range, …).
    #[error(transparent)]
    Resolve(ResolveError),
}

/// Why [`LargeReceiver::recv`](crate::LargeReceiver::recv) returned no message before its
/// timeout. After an envelope, pool or reference error the message is consumed.
///
/// ```
/// use std::time::Duration;
/// use shm_ring::{LargeReceiver, RecvTimeoutError, ShmConsumer, ShmProducer};
/// # let name = &format!("doc-recv-timeout-error-{}", std::process::id());
/// let producer = ShmProducer::create(name, 4096)?;
/// let receiver = LargeReceiver::new(ShmConsumer::open(name)?)?;
/// assert!(matches!(receiver.recv(Duration::from_millis(1)), Err(RecvTimeoutError::Timeout)));
/// drop(producer);
/// assert!(matches!(receiver.recv(Duration::from_secs(60)), Err(RecvTimeoutError::PeerGone)));
/// # let _ = shm_ring::remove(name); // POSIX leaves the name behind; Windows has none
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RecvTimeoutError {
    /// No message arrived before the timeout ran out.
    #[error("timed out waiting for a message")]
    Timeout,
    /// The sender's process is gone and every message it sent has been read.
    #[error("the sender is gone")]
    PeerGone,
    /// The producer's side of the ring breaks the protocol; reading cannot go on.
    #[error("corrupted ring: {0}")]
    Corrupted(Corruption),
    /// The message's envelope is invalid.
    #[error(transparent)]
    Envelope(EnvelopeError),
    /// The pool the reference names could not be opened.
    #[error("cannot open the buffer pool a message refers to: {0}")]
    PoolOpen(PoolOpenError),
    /// The reference does not resolve to a published slot (stale, out of range, …).
    #[error(transparent)]
    Resolve(ResolveError),
}

impl From<TryRecvError> for RecvTimeoutError {
    fn from(error: TryRecvError) -> Self {
        match error {
            TryRecvError::Empty => RecvTimeoutError::Timeout,
            TryRecvError::Corrupted(c) => RecvTimeoutError::Corrupted(c),
            TryRecvError::Envelope(e) => RecvTimeoutError::Envelope(e),
            TryRecvError::PoolOpen(e) => RecvTimeoutError::PoolOpen(e),
            TryRecvError::Resolve(e) => RecvTimeoutError::Resolve(e),
        }
    }
}
