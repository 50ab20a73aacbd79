//! [`SceneBuffer`]: one payload (a mesh, an animation cache, a screenshot…) in a shared
//! buffer of its own, with metadata, a checksum and optional LZ4 compression, handed to
//! another process by a small JSON descriptor.
//!
//! The writer compresses (if asked, and only if that makes the payload smaller), computes the
//! CRC-32 of the stored bytes, creates a shared buffer just large enough with the stored
//! bytes in it. The descriptor ([`SceneDescriptor`]) records everything a reader needs; a
//! reader in any process (Rust or Python) checks the descriptor, opens the segment, copies
//! the stored bytes under the buffer's seqlock, checks the CRC-32 and decompresses within a
//! size limit. docs/DESIGN.md ("Scene buffers") gives the reasons.

pub(crate) mod descriptor;
pub(crate) mod error;
pub(crate) mod kind;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use self::descriptor::{Compression, SceneDescriptor};
pub use self::error::{SceneReadError, SceneWriteError};
pub use self::kind::SceneKind;
use crate::{BufferOpenError, SharedBuffer};

/// The limit [`SceneBuffer::read`] puts on a payload's length: 16 GiB. A descriptor that
/// claims more is refused before anything is allocated; [`SceneBuffer::read_with_limit`]
/// takes another limit.
pub const DEFAULT_MAX_SCENE_LEN: u64 = 1 << 34;

/// How to write a scene buffer: its metadata and whether to try LZ4.
///
/// ```
/// use std::time::Duration;
/// use shm_ring::{SceneKind, SceneOptions};
/// let options = SceneOptions {
///     kind: SceneKind::Geometry,
///     source: "Maya".into(),
///     lz4: true,
///     ttl: Some(Duration::from_secs(30)),
/// };
/// assert_eq!(SceneOptions::default().kind, SceneKind::Arbitrary);
/// # drop(options);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SceneOptions {
    /// What the payload is.
    pub kind: SceneKind,
    /// The application writing it: at most 256 bytes of UTF-8, no control characters.
    pub source: String,
    /// Compress with LZ4, keeping the result only if it is smaller than the payload. Needs
    /// the cargo feature `lz4`.
    pub lz4: bool,
    /// How long after its creation the payload may be read (milliseconds in the descriptor);
    /// `None`: no limit.
    pub ttl: Option<Duration>,
}

/// A payload in a shared buffer of its own, with metadata and a checksum, described by a
/// [`SceneDescriptor`] that another process turns back into a `SceneBuffer` and reads.
///
/// The writing handle owns the segment: dropping it removes the name (readers that have it
/// open keep reading). A reader checks every field of the descriptor, then the segment (its
/// header, its capacity), and on each read the buffer's sequence word (a later write makes
/// the descriptor stale), the stored length, the size limit, the decompressed length and the
/// CRC-32: any mismatch is an error, never wrong bytes.
///
/// ```
/// use shm_ring::{SceneBuffer, SceneKind, SceneOptions};
/// let options = SceneOptions { kind: SceneKind::Geometry, source: "Maya".into(), ..Default::default() };
/// let scene = SceneBuffer::write(&[1, 2, 3, 4], &options)?;
/// let json = scene.descriptor().to_json(); // send this to the other process
///
/// let reader = SceneBuffer::open_json(&json)?; // in the other process
/// assert_eq!(reader.read()?, [1, 2, 3, 4]);
/// assert_eq!((reader.kind(), reader.source()), (&SceneKind::Geometry, "Maya"));
/// reader.acknowledge(); // tells the writer, if it waits for it
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SceneBuffer {
    buffer: SharedBuffer,
    descriptor: SceneDescriptor,
}

impl SceneBuffer {
    /// Writes `data` into a new shared buffer (a generated name, capacity just enough for
    /// the stored bytes) with the metadata of `options`, and returns its owning handle.
    ///
    /// With `options.lz4`, the payload is compressed as one LZ4 block and stored so only if
    /// that is smaller; the descriptor records which. Errors: an invalid kind or source is
    /// [`SceneWriteError::Options`]; LZ4 asked for in a build without the `lz4` feature,
    /// [`SceneWriteError::Lz4Unavailable`]; creating the segment (which is written as it is
    /// made, with [`SharedBuffer::create_unique_filled`]), [`SceneWriteError::Create`].
    ///
    /// ```
    /// use shm_ring::{Compression, SceneBuffer, SceneOptions};
    /// let scene = SceneBuffer::write(b"", &SceneOptions::default())?; // 0 bytes is a payload
    /// assert_eq!((scene.len(), scene.descriptor().compression), (0, Compression::None));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write(data: &[u8], options: &SceneOptions) -> Result<SceneBuffer, SceneWriteError> {
        options.kind.check().map_err(SceneWriteError::Options)?;
        descriptor::check_source(&options.source).map_err(SceneWriteError::Options)?;
        let compressed = if options.lz4 {
            Some(compress(data)?).filter(|stored| stored.len() < data.len())
        } else {
            None
        };
        let (stored, compression) = match &compressed {
            Some(stored) => (&stored[..], Compression::Lz4),
            None => (data, Compression::None),
        };
        // Written as the segment is made: the fastest way into fresh memory, and nobody can
        // open the segment before it holds the payload.
        let buffer = SharedBuffer::create_unique_filled((stored.len() as u64).max(1), stored)?;
        let sequence = buffer.sequence_now();
        let descriptor = SceneDescriptor {
            segment: buffer.name().to_owned(),
            layout_version: crate::buffer::layout::VERSION,
            capacity: buffer.capacity(),
            sequence,
            kind: options.kind.clone(),
            source: options.source.clone(),
            created_unix_ms: unix_ms(SystemTime::now()),
            ttl_ms: options
                .ttl
                .map(|ttl| u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
            length: data.len() as u64,
            stored_length: stored.len() as u64,
            compression,
            crc32: crc32fast::hash(stored),
        };
        Ok(SceneBuffer { buffer, descriptor })
    }

    /// Opens the scene buffer `descriptor` describes, after checking every field of it, and
    /// checks the segment against it.
    ///
    /// A descriptor with an invalid field is [`BufferOpenError::Descriptor`]; a segment whose
    /// capacity differs from the descriptor's (one smaller than it says, say) is
    /// [`BufferOpenError::DescriptorMismatch`]; a missing segment
    /// [`BufferOpenError::NotFound`]; a segment that is not a shared buffer, or of another
    /// layout version, [`BufferOpenError::WrongMagic`] or
    /// [`BufferOpenError::UnsupportedVersion`].
    ///
    /// ```
    /// use shm_ring::SceneBuffer;
    /// let scene = SceneBuffer::write(b"mesh", &Default::default())?;
    /// let reader = SceneBuffer::open(scene.descriptor())?;
    /// assert_eq!(reader.read()?, b"mesh");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(descriptor: &SceneDescriptor) -> Result<SceneBuffer, BufferOpenError> {
        descriptor.check()?;
        let buffer = SharedBuffer::open(&descriptor.segment)?;
        if buffer.capacity() != descriptor.capacity {
            return Err(BufferOpenError::DescriptorMismatch {
                name: descriptor.segment.clone(),
                field: "capacity",
                descriptor: descriptor.capacity,
                segment: buffer.capacity(),
            });
        }
        Ok(SceneBuffer {
            buffer,
            descriptor: descriptor.clone(),
        })
    }

    /// [`SceneDescriptor::from_json`], then [`open`](Self::open).
    ///
    /// ```
    /// use shm_ring::{BufferOpenError, SceneBuffer};
    /// assert!(matches!(SceneBuffer::open_json("{"), Err(BufferOpenError::Descriptor(_))));
    /// ```
    pub fn open_json(json: &str) -> Result<SceneBuffer, BufferOpenError> {
        Self::open(&SceneDescriptor::from_json(json)?)
    }

    /// The payload, checked: [`read_with_limit`](Self::read_with_limit) with
    /// [`DEFAULT_MAX_SCENE_LEN`] (16 GiB).
    ///
    /// ```
    /// let scene = shm_ring::SceneBuffer::write(b"frame", &Default::default())?;
    /// assert_eq!(scene.read()?, b"frame");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read(&self) -> Result<Vec<u8>, SceneReadError> {
        self.read_with_limit(DEFAULT_MAX_SCENE_LEN)
    }

    /// The payload, checked, if its length is at most `max_len` bytes.
    ///
    /// In order: an expired time to live is [`SceneReadError::Expired`]; a `length` above
    /// `max_len` is [`SceneReadError::TooLarge`] (nothing allocated); the stored bytes are
    /// copied under the seqlock (never torn; errors as [`SharedBuffer::read`]); a sequence
    /// word other than the descriptor's is [`SceneReadError::Stale`], another length
    /// [`SceneReadError::LengthMismatch`]; a CRC-32 of the stored bytes other than the
    /// descriptor's, [`SceneReadError::ChecksumMismatch`]; LZ4 without the `lz4` feature is
    /// [`SceneReadError::Lz4Unavailable`], a block that does not decode to exactly `length`
    /// bytes [`SceneReadError::Decompress`]. At most `stored_length + length` bytes are
    /// allocated.
    ///
    /// ```
    /// let scene = shm_ring::SceneBuffer::write(&[9; 10], &Default::default())?;
    /// assert_eq!(scene.read_with_limit(10)?, [9; 10]);
    /// assert!(scene.read_with_limit(9).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_with_limit(&self, max_len: u64) -> Result<Vec<u8>, SceneReadError> {
        let d = &self.descriptor;
        let name = || self.buffer.name().to_owned();
        if let Some(expired_unix_ms) = d.expires_unix_ms() {
            let now_unix_ms = unix_ms(SystemTime::now());
            if now_unix_ms > expired_unix_ms {
                return Err(SceneReadError::Expired {
                    name: name(),
                    expired_unix_ms,
                    now_unix_ms,
                });
            }
        }
        if d.length > max_len {
            return Err(SceneReadError::TooLarge {
                name: name(),
                length: d.length,
                limit: max_len,
            });
        }
        let mut stored = Vec::new();
        let (len, sequence) = self.buffer.read_into_at(&mut stored)?;
        if sequence != d.sequence {
            return Err(SceneReadError::Stale {
                name: name(),
                descriptor: d.sequence,
                segment: sequence,
            });
        }
        if len as u64 != d.stored_length {
            return Err(SceneReadError::LengthMismatch {
                name: name(),
                descriptor: d.stored_length,
                segment: len as u64,
            });
        }
        // The stored bytes are what sits in shared memory, where another process could have
        // damaged them: checked before anything is decoded from them.
        let computed = crc32fast::hash(&stored);
        if computed != d.crc32 {
            return Err(SceneReadError::ChecksumMismatch {
                name: name(),
                descriptor: d.crc32,
                computed,
            });
        }
        match d.compression {
            Compression::None => Ok(stored),
            Compression::Lz4 => decompress(&stored, d.length, self.buffer.name()),
        }
    }

    /// The descriptor: send [`SceneDescriptor::to_json`] to the reading process.
    pub fn descriptor(&self) -> &SceneDescriptor {
        &self.descriptor
    }

    /// The shared buffer's segment name.
    pub fn name(&self) -> &str {
        self.buffer.name()
    }

    /// What the payload is.
    pub fn kind(&self) -> &SceneKind {
        &self.descriptor.kind
    }

    /// The application that wrote it.
    pub fn source(&self) -> &str {
        &self.descriptor.source
    }

    /// The payload's length in bytes, uncompressed.
    pub fn len(&self) -> u64 {
        self.descriptor.length
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.descriptor.length == 0
    }

    /// Tells the writer that this process has read the payload
    /// ([`SharedBuffer::acknowledge`]).
    pub fn acknowledge(&self) {
        self.buffer.acknowledge()
    }

    /// Sleeps until some reader calls [`acknowledge`](Self::acknowledge), at most `timeout`;
    /// returns whether one did ([`SharedBuffer::wait_acknowledged`] from a count of 0: a
    /// scene buffer is written once, at creation).
    ///
    /// ```
    /// use std::time::Duration;
    /// let scene = shm_ring::SceneBuffer::write(b"x", &Default::default())?;
    /// assert!(!scene.wait_acknowledged(Duration::from_millis(1)));
    /// shm_ring::SceneBuffer::open(scene.descriptor())?.acknowledge();
    /// assert!(scene.wait_acknowledged(Duration::from_secs(5)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_acknowledged(&self, timeout: Duration) -> bool {
        self.buffer.wait_acknowledged(0, timeout).is_some()
    }

    /// The shared buffer underneath, to check [`SharedBuffer::is_named`], say.
    pub fn buffer(&self) -> &SharedBuffer {
        &self.buffer
    }
}

impl std::fmt::Debug for SceneBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SceneBuffer")
            .field("name", &self.name())
            .field("kind", &self.descriptor.kind)
            .field("length", &self.descriptor.length)
            .field("compression", &self.descriptor.compression)
            .finish()
    }
}

/// Milliseconds since the Unix epoch (0 for a clock set before it).
fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    })
}

#[cfg(feature = "lz4")]
fn compress(data: &[u8]) -> Result<Vec<u8>, SceneWriteError> {
    Ok(lz4_flex::block::compress(data))
}

#[cfg(not(feature = "lz4"))]
fn compress(_data: &[u8]) -> Result<Vec<u8>, SceneWriteError> {
    Err(SceneWriteError::Lz4Unavailable)
}

/// Decodes one LZ4 block that must decode to exactly `length` bytes (already checked against
/// the read's limit and the stored length, so the allocation is bounded).
#[cfg(feature = "lz4")]
pub(crate) fn decompress(
    stored: &[u8],
    length: u64,
    name: &str,
) -> Result<Vec<u8>, SceneReadError> {
    let failed = |reason: String| SceneReadError::Decompress {
        name: name.to_owned(),
        length,
        reason,
    };
    let len = usize::try_from(length)
        .map_err(|_| failed(format!("{length} bytes do not fit this machine's memory")))?;
    let mut out = vec![0; len];
    let written = lz4_flex::block::decompress_into(stored, &mut out)
        .map_err(|error| failed(error.to_string()))?;
    if written != len {
        return Err(failed(format!("it decodes to {written} bytes")));
    }
    Ok(out)
}

#[cfg(not(feature = "lz4"))]
pub(crate) fn decompress(
    _stored: &[u8],
    _length: u64,
    name: &str,
) -> Result<Vec<u8>, SceneReadError> {
    Err(SceneReadError::Lz4Unavailable {
        name: name.to_owned(),
    })
}
