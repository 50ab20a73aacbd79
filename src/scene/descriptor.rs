//! [`SceneDescriptor`]: everything a process needs to open and check a scene buffer, and its
//! JSON form (docs/PROTOCOL.md, "Scene buffer descriptors").

use serde::{Deserialize, Serialize};

use crate::descriptor::{check_common, json_error};
use crate::{DescriptorError, SceneKind};

/// The `schema` field of a scene buffer's descriptor.
pub const SCENE_SCHEMA: &str = "shm_ring/scene_buffer/2";

/// The longest `source` (the application that wrote the payload), in bytes of UTF-8.
pub const MAX_SOURCE_LEN: usize = 256;

/// The most bytes one byte of an LZ4 block decodes to: a match-length byte of 255 adds 255
/// bytes of output, and nothing in the format adds more per byte of input. A descriptor whose
/// `length` exceeds `stored_length` times this is a lie, refused before anything is read.
pub const LZ4_MAX_RATIO: u64 = 255;

/// How a scene buffer's payload is stored in its segment.
///
/// In JSON: `"none"` or `"lz4"`.
///
/// ```
/// assert_eq!(shm_ring::Compression::Lz4.as_str(), "lz4");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// The payload's bytes as they are: `stored_length == length`.
    #[default]
    None,
    /// One LZ4 block (the block format, with no frame and no size prefix); `length`, in the
    /// descriptor, is its decoded size.
    Lz4,
}

impl Compression {
    /// The JSON spelling: `"none"` or `"lz4"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Lz4 => "lz4",
        }
    }
}

/// Everything a process needs to open a scene buffer and check what it reads: the segment, the
/// payload's metadata, its lengths, its compression and its checksum. Made by
/// [`SceneBuffer::write`](crate::SceneBuffer::write); sent as JSON
/// ([`to_json`](Self::to_json)); read back with [`from_json`](Self::from_json), which checks
/// every field, or opened directly with
/// [`SceneBuffer::open_json`](crate::SceneBuffer::open_json).
///
/// ```
/// use shm_ring::{SceneBuffer, SceneDescriptor, SceneKind, SceneOptions};
/// let options = SceneOptions { kind: SceneKind::Screenshot, source: "Blender".into(), ..Default::default() };
/// let scene = SceneBuffer::write(b"PNG...", &options)?;
/// let descriptor = SceneDescriptor::from_json(&scene.descriptor().to_json())?;
/// assert_eq!(descriptor, *scene.descriptor());
/// assert_eq!((descriptor.length, descriptor.kind, descriptor.source.as_str()), (6, SceneKind::Screenshot, "Blender"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SceneDescriptor {
    /// The shared buffer's segment name, without a leading `/`.
    pub segment: String,
    /// The shared buffer's layout version (1).
    pub layout_version: u32,
    /// The shared buffer's capacity in bytes.
    pub capacity: u64,
    /// The buffer's (even) sequence word after the write that stored this payload: a later
    /// write makes the descriptor stale, and reading it is an error, never another payload.
    pub sequence: u64,
    /// What the payload is.
    pub kind: SceneKind,
    /// The application that wrote it (`"Maya"`, say); may be empty.
    pub source: String,
    /// When it was written: milliseconds since the Unix epoch (UTC).
    pub created_unix_ms: u64,
    /// How long after `created_unix_ms` it may be read, in milliseconds; `None`: no limit.
    pub ttl_ms: Option<u64>,
    /// The payload's length in bytes (after decompression).
    pub length: u64,
    /// The number of bytes in the segment: `length` unless compressed.
    pub stored_length: u64,
    /// How the payload is stored.
    pub compression: Compression,
    /// CRC-32 (the zlib polynomial: crc32fast in Rust, `zlib.crc32` in Python) of the
    /// `stored_length` bytes in the segment: the payload itself without compression, the LZ4
    /// block with it (schema version 2; version 1 checksummed the decompressed payload).
    pub crc32: u32,
}

/// The JSON document, field for field and in this order.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    schema: String,
    segment: String,
    layout_version: u32,
    capacity: u64,
    sequence: u64,
    kind: String,
    source: String,
    created_unix_ms: u64,
    #[serde(default)]
    ttl_ms: Option<u64>,
    length: u64,
    stored_length: u64,
    compression: String,
    crc32: u32,
}

fn invalid(field: &'static str, reason: String) -> DescriptorError {
    DescriptorError::Invalid { field, reason }
}

impl SceneDescriptor {
    /// The descriptor as one line of JSON, fields in the documented order.
    ///
    /// ```
    /// let scene = shm_ring::SceneBuffer::write(b"abc", &Default::default())?;
    /// let json = scene.descriptor().to_json();
    /// assert!(json.starts_with(r#"{"schema":"shm_ring/scene_buffer/2","segment":"srb-"#), "{json}");
    /// assert!(json.ends_with(r#""length":3,"stored_length":3,"compression":"none","crc32":891568578}"#), "{json}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_json(&self) -> String {
        let document = Document {
            schema: SCENE_SCHEMA.to_owned(),
            segment: self.segment.clone(),
            layout_version: self.layout_version,
            capacity: self.capacity,
            sequence: self.sequence,
            kind: self.kind.as_str().to_owned(),
            source: self.source.clone(),
            created_unix_ms: self.created_unix_ms,
            ttl_ms: self.ttl_ms,
            length: self.length,
            stored_length: self.stored_length,
            compression: self.compression.as_str().to_owned(),
            crc32: self.crc32,
        };
        serde_json::to_string(&document).expect("a descriptor always serializes")
    }

    /// Parses and checks a descriptor. Any text that is not exactly the schema's object (a
    /// field missing, unknown, repeated or of another type) is [`DescriptorError::Json`]; a
    /// `schema` other than `"shm_ring/scene_buffer/2"` is [`DescriptorError::WrongSchema`];
    /// a value no written descriptor has is [`DescriptorError::Invalid`], naming the field:
    /// an odd `sequence`, `stored_length > capacity`, `stored_length != length` without
    /// compression, or with LZ4 `stored_length >= length` or `length > 255 ×
    /// stored_length` (more than any LZ4 block decodes to: a size claim of 1 TiB from a few
    /// bytes ends here, before anything is mapped or allocated).
    ///
    /// ```
    /// use shm_ring::{DescriptorError, SceneDescriptor};
    /// let lie = r#"{"schema":"shm_ring/scene_buffer/2","segment":"x","layout_version":1,
    ///     "capacity":16,"sequence":2,"kind":"Geometry","source":"","created_unix_ms":0,
    ///     "ttl_ms":null,"length":1099511627776,"stored_length":16,"compression":"lz4","crc32":0}"#;
    /// assert!(matches!(SceneDescriptor::from_json(lie), Err(DescriptorError::Invalid { field: "length", .. })));
    /// ```
    pub fn from_json(json: &str) -> Result<SceneDescriptor, DescriptorError> {
        let document: Document = serde_json::from_str(json).map_err(json_error)?;
        check_common(
            &document.schema,
            SCENE_SCHEMA,
            &document.segment,
            document.layout_version,
            document.capacity,
        )?;
        let compression = match document.compression.as_str() {
            "none" => Compression::None,
            "lz4" => Compression::Lz4,
            other => {
                return Err(invalid(
                    "compression",
                    format!("{other:?} is neither \"none\" nor \"lz4\""),
                ))
            }
        };
        let descriptor = SceneDescriptor {
            kind: SceneKind::custom(&document.kind)?,
            segment: document.segment,
            layout_version: document.layout_version,
            capacity: document.capacity,
            sequence: document.sequence,
            source: document.source,
            created_unix_ms: document.created_unix_ms,
            ttl_ms: document.ttl_ms,
            length: document.length,
            stored_length: document.stored_length,
            compression,
            crc32: document.crc32,
        };
        descriptor.check()?;
        Ok(descriptor)
    }

    /// Checks the fields' values against each other (the common fields too, for descriptors
    /// built in this process).
    pub(crate) fn check(&self) -> Result<(), DescriptorError> {
        check_common(
            SCENE_SCHEMA,
            SCENE_SCHEMA,
            &self.segment,
            self.layout_version,
            self.capacity,
        )?;
        self.kind.check()?;
        check_source(&self.source)?;
        if self.sequence % 2 != 0 {
            return Err(invalid(
                "sequence",
                format!("{} is odd; a finished write leaves it even", self.sequence),
            ));
        }
        if self.stored_length > self.capacity {
            return Err(invalid(
                "stored_length",
                format!(
                    "{} exceeds the capacity, {} bytes",
                    self.stored_length, self.capacity
                ),
            ));
        }
        match self.compression {
            Compression::None if self.length != self.stored_length => Err(invalid(
                "length",
                format!(
                    "{} differs from stored_length {} without compression",
                    self.length, self.stored_length
                ),
            )),
            Compression::Lz4 if self.stored_length >= self.length => Err(invalid(
                "stored_length",
                format!(
                    "{} is not smaller than length {}: LZ4 is kept only when smaller",
                    self.stored_length, self.length
                ),
            )),
            Compression::Lz4 if self.length > self.stored_length.saturating_mul(LZ4_MAX_RATIO) => {
                Err(invalid(
                    "length",
                    format!(
                        "{} bytes from {} stored bytes of LZ4 is more than {LZ4_MAX_RATIO} \
                         times the stored length, more than any LZ4 block decodes to",
                        self.length, self.stored_length
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// When the payload stops being readable, in milliseconds since the Unix epoch; `None`
    /// if it has no time to live.
    ///
    /// ```
    /// use std::time::Duration;
    /// use shm_ring::{SceneBuffer, SceneOptions};
    /// let options = SceneOptions { ttl: Some(Duration::from_secs(60)), ..Default::default() };
    /// let scene = SceneBuffer::write(b"x", &options)?;
    /// let d = scene.descriptor();
    /// assert_eq!(d.expires_unix_ms(), Some(d.created_unix_ms + 60_000));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn expires_unix_ms(&self) -> Option<u64> {
        self.ttl_ms
            .map(|ttl| self.created_unix_ms.saturating_add(ttl))
    }
}

/// `source`: at most [`MAX_SOURCE_LEN`] bytes of UTF-8, no control characters.
pub(crate) fn check_source(source: &str) -> Result<(), DescriptorError> {
    if source.len() > MAX_SOURCE_LEN {
        return Err(invalid(
            "source",
            format!(
                "{} bytes long; a source has at most {MAX_SOURCE_LEN}",
                source.len()
            ),
        ));
    }
    if let Some(ch) = source.chars().find(|ch| ch.is_control()) {
        return Err(invalid(
            "source",
            format!("{source:?} has the control character {ch:?}"),
        ));
    }
    Ok(())
}
