//! The JSON form of a [`PoolRef`] (feature `json`): one schema for the Rust crate and the
//! Python module, documented in docs/PROTOCOL.md.
//!
//! ```json
//! {"format":"shm_ring.pool_ref","version":1,"pool":"frames","slot":3,"generation":17,"len":1024}
//! ```
//!
//! Integers are JSON numbers written as integers and read exactly (serde_json reads `u64`
//! without going through `f64`), so a generation or length above 2^53 survives the trip
//! between Rust and Python; a reader that parses numbers as doubles (JavaScript's
//! `JSON.parse`) would not, and must not be used for these documents.

use serde::{Deserialize, Serialize};

use super::PoolRef;
use crate::PoolRefError;

/// The `format` member of every reference in JSON form.
const FORMAT: &str = "shm_ring.pool_ref";
/// The `version` member this crate writes and reads.
const VERSION: u64 = 1;

/// The document as written: members in this order.
#[derive(Serialize)]
struct Written<'a> {
    format: &'a str,
    version: u64,
    pool: &'a str,
    slot: u32,
    generation: u64,
    len: u64,
}

/// The document as read: exactly these members, each once, of these types.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Read {
    format: String,
    version: u64,
    pool: String,
    slot: u32,
    generation: u64,
    len: u64,
}

impl PoolRef {
    /// The JSON form: one compact line, members in the order `format` (`"shm_ring.pool_ref"`),
    /// `version` (`1`), `pool`, `slot`, `generation`, `len`; integers as exact JSON integers.
    /// The Python module writes the same bytes for the same reference.
    ///
    /// ```
    /// let reference = shm_ring::PoolRef::new("frames", 3, 17, 1024)?;
    /// assert_eq!(
    ///     reference.to_json(),
    ///     r#"{"format":"shm_ring.pool_ref","version":1,"pool":"frames","slot":3,"generation":17,"len":1024}"#
    /// );
    /// # Ok::<(), shm_ring::PoolRefError>(())
    /// ```
    pub fn to_json(&self) -> String {
        serde_json::to_string(&Written {
            format: FORMAT,
            version: VERSION,
            pool: self.pool(),
            slot: self.slot(),
            generation: self.generation(),
            len: self.len(),
        })
        .expect("a struct of strings and integers always serializes")
    }

    /// Reads a reference from its JSON form, validating every member: malformed JSON, a
    /// missing, unknown or repeated member, or a member of the wrong type or range (a
    /// fraction, a sign, a slot past `u32`) is [`PoolRefError::Json`], whose text names the
    /// member or the value; another `format` is [`PoolRefError::UnsupportedFormat`], another
    /// `version` [`PoolRefError::UnsupportedJsonVersion`]; then the name and generation are
    /// checked as by [`PoolRef::new`].
    ///
    /// ```
    /// use shm_ring::{PoolRef, PoolRefError};
    /// let reference = PoolRef::new("frames", 3, 17, 1024)?;
    /// assert_eq!(PoolRef::from_json(&reference.to_json())?, reference);
    /// let newer = r#"{"format":"shm_ring.pool_ref","version":2,"pool":"frames","slot":3,"generation":17,"len":1}"#;
    /// assert_eq!(
    ///     PoolRef::from_json(newer),
    ///     Err(PoolRefError::UnsupportedJsonVersion { found: 2, supported: 1 })
    /// );
    /// assert!(matches!(PoolRef::from_json(r#"{"format":"shm_ring.pool_ref"}"#), Err(PoolRefError::Json { .. })));
    /// # Ok::<(), PoolRefError>(())
    /// ```
    pub fn from_json(text: &str) -> Result<Self, PoolRefError> {
        let read: Read = serde_json::from_str(text).map_err(|error| PoolRefError::Json {
            reason: error.to_string(),
        })?;
        if read.format != FORMAT {
            return Err(PoolRefError::UnsupportedFormat { found: read.format });
        }
        if read.version != VERSION {
            return Err(PoolRefError::UnsupportedJsonVersion {
                found: read.version,
                supported: VERSION,
            });
        }
        // The binary form never carries a leading '/', and neither does this one.
        if read.pool.starts_with('/') {
            return Err(PoolRefError::Malformed {
                what: "the name starts with '/'",
            });
        }
        PoolRef::new(&read.pool, read.slot, read.generation, read.len)
    }
}
