//! The JSON descriptor of a shared buffer: what another process needs to open it.

use serde::{Deserialize, Serialize};

use crate::descriptor::{check_common, json_error};
use crate::{BufferOpenError, SharedBuffer};

/// The `schema` field of a shared buffer's descriptor.
pub const SHARED_BUFFER_SCHEMA: &str = "shm_ring/shared_buffer/1";

/// A shared buffer's descriptor, field for field as in the JSON (in this order).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BufferDescriptor {
    schema: String,
    segment: String,
    layout_version: u32,
    capacity: u64,
}

impl SharedBuffer {
    /// The buffer's descriptor: one line of JSON naming the segment, its layout version and
    /// its capacity in bytes, which [`open_descriptor`](Self::open_descriptor) (or Python's
    /// `SharedBuffer.open_descriptor`) turns back into a handle in another process:
    /// `{"schema":"shm_ring/shared_buffer/1","segment":"…","layout_version":1,"capacity":4096}`.
    ///
    /// ```
    /// let buffer = shm_ring::SharedBuffer::create_unique(4096)?;
    /// let json = buffer.descriptor();
    /// assert_eq!(
    ///     json,
    ///     format!(
    ///         r#"{{"schema":"shm_ring/shared_buffer/1","segment":"{}","layout_version":1,"capacity":4096}}"#,
    ///         buffer.name()
    ///     )
    /// );
    /// # Ok::<(), shm_ring::BufferOpenError>(())
    /// ```
    pub fn descriptor(&self) -> String {
        let descriptor = BufferDescriptor {
            schema: SHARED_BUFFER_SCHEMA.to_owned(),
            segment: self.name().to_owned(),
            layout_version: crate::buffer::layout::VERSION,
            capacity: self.capacity(),
        };
        serde_json::to_string(&descriptor).expect("a descriptor always serializes")
    }

    /// Opens the shared buffer a descriptor from [`descriptor`](Self::descriptor) names, as
    /// [`open`](Self::open) does, and checks that the segment is the one described.
    ///
    /// A text that is not such a descriptor is [`BufferOpenError::Descriptor`]; a segment
    /// whose capacity differs from the descriptor's is
    /// [`BufferOpenError::DescriptorMismatch`]; otherwise errors as [`open`](Self::open)
    /// (a missing segment is [`BufferOpenError::NotFound`]).
    ///
    /// ```
    /// use shm_ring::SharedBuffer;
    /// let mut writer = SharedBuffer::create_unique(64)?;
    /// writer.write(b"by descriptor")?;
    /// let reader = SharedBuffer::open_descriptor(&writer.descriptor())?; // in another process
    /// assert_eq!(reader.read()?, b"by descriptor");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_descriptor(json: &str) -> Result<SharedBuffer, BufferOpenError> {
        let descriptor: BufferDescriptor = serde_json::from_str(json).map_err(json_error)?;
        check_common(
            &descriptor.schema,
            SHARED_BUFFER_SCHEMA,
            &descriptor.segment,
            descriptor.layout_version,
            descriptor.capacity,
        )?;
        let buffer = SharedBuffer::open(&descriptor.segment)?;
        if buffer.capacity() != descriptor.capacity {
            return Err(BufferOpenError::DescriptorMismatch {
                name: descriptor.segment,
                field: "capacity",
                descriptor: descriptor.capacity,
                segment: buffer.capacity(),
            });
        }
        Ok(buffer)
    }
}
