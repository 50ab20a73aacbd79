//! The scene buffer's error types: one for writing, one for reading. Opening reports
//! [`BufferOpenError`](crate::BufferOpenError), as opening a shared buffer by descriptor does.

use thiserror::Error;

use crate::{BufferOpenError, BufferReadError, BufferWriteError, DescriptorError};

/// Why [`SceneBuffer::write`](crate::SceneBuffer::write) made no scene buffer.
///
/// ```
/// use shm_ring::{SceneBuffer, SceneKind, SceneOptions, SceneWriteError};
/// let options = SceneOptions { kind: SceneKind::Custom("no spaces".into()), ..Default::default() };
/// assert!(matches!(SceneBuffer::write(b"x", &options), Err(SceneWriteError::Options(_))));
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SceneWriteError {
    /// The options hold a kind or a source no descriptor may carry.
    #[error("invalid scene buffer options: {0}")]
    Options(#[source] DescriptorError),
    /// LZ4 was asked for, but this build of shm_ring has no LZ4 (cargo feature `lz4`).
    #[error("LZ4 compression was asked for, but shm_ring was built without it: enable the cargo feature \"lz4\"")]
    Lz4Unavailable,
    /// Creating the shared buffer failed.
    #[error(transparent)]
    Create(#[from] BufferOpenError),
    /// Writing the payload into it failed.
    #[error(transparent)]
    Write(#[from] BufferWriteError),
}

/// Why a read of a scene buffer returned no payload. No payload that fails a check is ever
/// returned: these errors are what a reader gets instead.
///
/// ```
/// use shm_ring::{SceneBuffer, SceneReadError};
/// let scene = SceneBuffer::write(&[1; 100], &Default::default())?;
/// match scene.read_with_limit(64) {
///     Err(SceneReadError::TooLarge { length: 100, limit: 64, .. }) => {}
///     other => panic!("expected TooLarge, got {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SceneReadError {
    /// Reading the shared buffer failed (see [`BufferReadError`]).
    #[error(transparent)]
    Buffer(#[from] BufferReadError),
    /// The buffer was written again since the descriptor was made: its payload is another
    /// one.
    #[error("scene buffer {name:?} was written again since its descriptor was made: sequence {segment}, descriptor {descriptor}")]
    Stale {
        /// The segment name.
        name: String,
        /// The descriptor's `sequence`.
        descriptor: u64,
        /// The buffer's sequence word when read.
        segment: u64,
    },
    /// The buffer holds a payload of another length than the descriptor's `stored_length`,
    /// though its sequence word matches: the descriptor does not describe this payload.
    #[error("scene buffer {name:?} holds {segment} bytes, but its descriptor says {descriptor}")]
    LengthMismatch {
        /// The segment name.
        name: String,
        /// The descriptor's `stored_length`.
        descriptor: u64,
        /// The buffer's length word.
        segment: u64,
    },
    /// The descriptor's time to live has run out.
    #[error("scene buffer {name:?} expired at {expired_unix_ms} ms after the Unix epoch (now {now_unix_ms})")]
    Expired {
        /// The segment name.
        name: String,
        /// `created_unix_ms + ttl_ms`.
        expired_unix_ms: u64,
        /// The time of the read, in milliseconds since the Unix epoch.
        now_unix_ms: u64,
    },
    /// The payload's `length` exceeds the limit of this read: nothing was allocated.
    #[error("scene buffer {name:?} holds a {length}-byte payload, more than this read's limit of {limit} bytes")]
    TooLarge {
        /// The segment name.
        name: String,
        /// The descriptor's `length`.
        length: u64,
        /// The limit the read was given.
        limit: u64,
    },
    /// The payload is LZ4-compressed, but this build of shm_ring has no LZ4.
    #[error("scene buffer {name:?} is LZ4-compressed, but shm_ring was built without LZ4: enable the cargo feature \"lz4\"")]
    Lz4Unavailable {
        /// The segment name.
        name: String,
    },
    /// The stored bytes are not an LZ4 block that decodes to exactly `length` bytes.
    #[error("scene buffer {name:?}: its LZ4 block does not decode to {length} bytes: {reason}")]
    Decompress {
        /// The segment name.
        name: String,
        /// The descriptor's `length`.
        length: u64,
        /// What the decoder found.
        reason: String,
    },
    /// The CRC-32 of the stored bytes differs from the descriptor's: they are not the bytes
    /// described (damaged, or another payload's).
    #[error("scene buffer {name:?}: the stored bytes' CRC-32 is {computed:#010x}, but its descriptor says {descriptor:#010x}")]
    ChecksumMismatch {
        /// The segment name.
        name: String,
        /// The descriptor's `crc32`.
        descriptor: u32,
        /// The CRC-32 of what was read.
        computed: u32,
    },
}
