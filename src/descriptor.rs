//! JSON descriptors: the small documents that name a shared buffer or a scene buffer so that
//! another process, in Rust or Python, can open it. docs/PROTOCOL.md ("Descriptors") has the
//! schema; this module has what both kinds share: the error type and the checks of the common
//! fields.

use thiserror::Error;

/// Why a JSON text is not a valid descriptor. Nothing was opened.
///
/// ```
/// use shm_ring::{DescriptorError, SharedBuffer, BufferOpenError};
/// match SharedBuffer::open_descriptor(r#"{"schema":"shm_ring/shared_buffer/1"}"#) {
///     Err(BufferOpenError::Descriptor(DescriptorError::Json { reason })) => {
///         assert!(reason.contains("missing field"), "{reason}")
///     }
///     other => panic!("expected a JSON error, got {other:?}"),
/// }
/// ```
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DescriptorError {
    /// The text is not JSON, or not an object of the schema's fields with the schema's types
    /// (a field missing, unknown, repeated, or of another type).
    #[error("not a valid descriptor: {reason}")]
    Json {
        /// What the JSON parser found wrong, with its line and column.
        reason: String,
    },
    /// The `schema` field names another kind of descriptor (or a version this crate does not
    /// read).
    #[error("descriptor schema {found:?} is not {expected:?}")]
    WrongSchema {
        /// The `schema` field as read.
        found: String,
        /// The schema this call reads.
        expected: &'static str,
    },
    /// A field has the right type but a value no valid descriptor has.
    #[error("descriptor field {field:?} is invalid: {reason}")]
    Invalid {
        /// The field's name, as spelled in the JSON.
        field: &'static str,
        /// What is wrong with it, naming the value.
        reason: String,
    },
}

/// Turns a serde_json error into a [`DescriptorError::Json`].
#[cfg(feature = "json")]
pub(crate) fn json_error(error: serde_json::Error) -> DescriptorError {
    DescriptorError::Json {
        reason: error.to_string(),
    }
}

#[cfg_attr(not(feature = "json"), allow(dead_code))]
/// Checks the fields every descriptor has: `schema`, `segment` (a bare segment name, without
/// a leading `/`), `layout_version` (1) and `capacity` (1 to 2^46).
pub(crate) fn check_common(
    schema: &str,
    expected: &'static str,
    segment: &str,
    layout_version: u32,
    capacity: u64,
) -> Result<(), DescriptorError> {
    use crate::buffer::layout::{is_valid_capacity, MAX_BUFFER_CAPACITY, VERSION};
    if schema != expected {
        return Err(DescriptorError::WrongSchema {
            found: schema.to_owned(),
            expected,
        });
    }
    match crate::layout::bare_name(segment) {
        Ok(bare) if bare == segment => {}
        Ok(_) => {
            return Err(DescriptorError::Invalid {
                field: "segment",
                reason: format!(
                    "{segment:?} starts with '/'; descriptors name segments without it"
                ),
            })
        }
        Err(reason) => {
            return Err(DescriptorError::Invalid {
                field: "segment",
                reason: format!("{segment:?}: {reason}"),
            })
        }
    }
    if layout_version != VERSION {
        return Err(DescriptorError::Invalid {
            field: "layout_version",
            reason: format!(
                "{layout_version}; this crate reads shared-buffer layout version {VERSION}"
            ),
        });
    }
    if !is_valid_capacity(capacity) {
        return Err(DescriptorError::Invalid {
            field: "capacity",
            reason: format!("{capacity} is outside 1..={MAX_BUFFER_CAPACITY}"),
        });
    }
    Ok(())
}
