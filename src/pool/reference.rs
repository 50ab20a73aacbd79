//! [`PoolRef`]: the small, fixed-size reference to a published slot that travels between
//! processes instead of the bytes.

use super::layout::REFERENCE_GENERATION_LIMIT;
use crate::layout::{bare_name, MAX_NAME_LEN};
use crate::PoolRefError;

/// The reference's magic: the bytes `"SRPR"` read as a little-endian `u32`.
const MAGIC: u32 = u32::from_le_bytes(*b"SRPR");
/// The binary form's version.
const VERSION: u8 = 1;
/// Where the name's bytes start in the binary form.
const NAME_OFFSET: usize = 32;

/// A reference to the payload in one slot of a [`BufferPool`](crate::BufferPool), at one
/// generation: the pool's name, the slot index, the generation and the payload's length in
/// bytes. Made by [`PoolLoan::publish`](crate::PoolLoan::publish), sent to another process as
/// [`to_bytes`](Self::to_bytes) (64 bytes), read back with [`from_bytes`](Self::from_bytes)
/// and resolved with [`BufferPool::resolve`](crate::BufferPool::resolve).
///
/// The binary form, all integers little-endian:
///
/// | offset | size | field                                                  |
/// |--------|------|--------------------------------------------------------|
/// | 0      | 4    | magic `"SRPR"`                                         |
/// | 4      | 1    | version, `1`                                           |
/// | 5      | 1    | name length, `1 ..= 30`                                |
/// | 6      | 2    | zero                                                   |
/// | 8      | 4    | slot index                                             |
/// | 12     | 4    | zero                                                   |
/// | 16     | 8    | generation, `< 2^56`                                   |
/// | 24     | 8    | payload length in bytes                                |
/// | 32     | 30   | pool name (ASCII), then zero bytes up to offset 62     |
/// | 62     | 2    | zero                                                   |
///
/// ```
/// use shm_ring::PoolRef;
/// let reference = PoolRef::new("frames", 3, 17, 1024)?;
/// let bytes = reference.to_bytes();
/// assert_eq!(&bytes[..4], b"SRPR");
/// assert_eq!(PoolRef::from_bytes(&bytes)?, reference);
/// # Ok::<(), shm_ring::PoolRefError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolRef {
    pool: String,
    slot: u32,
    generation: u64,
    len: u64,
}

impl PoolRef {
    /// The length of the binary form in bytes.
    pub const LEN: usize = 64;

    /// A reference to `len` bytes in slot `slot` of the pool `pool` (with or without a leading
    /// `/`) at generation `generation`. Resolving checks it against the pool; only a
    /// reference equal to a published one resolves.
    ///
    /// An invalid pool name is [`PoolRefError::InvalidName`], a generation of 2^56 or more
    /// [`PoolRefError::GenerationOutOfRange`].
    ///
    /// ```
    /// use shm_ring::{PoolRef, PoolRefError};
    /// assert_eq!(PoolRef::new("/frames", 0, 1, 8)?.pool(), "frames");
    /// assert!(matches!(PoolRef::new("a/b", 0, 1, 8), Err(PoolRefError::InvalidName { .. })));
    /// # Ok::<(), PoolRefError>(())
    /// ```
    pub fn new(pool: &str, slot: u32, generation: u64, len: u64) -> Result<Self, PoolRefError> {
        let pool = bare_name(pool).map_err(|reason| PoolRefError::InvalidName { reason })?;
        if generation >= REFERENCE_GENERATION_LIMIT {
            return Err(PoolRefError::GenerationOutOfRange { generation });
        }
        Ok(Self::new_unchecked(pool.to_owned(), slot, generation, len))
    }

    /// A reference from parts already valid: a bare pool name and a generation below 2^56.
    pub(super) fn new_unchecked(pool: String, slot: u32, generation: u64, len: u64) -> Self {
        PoolRef {
            pool,
            slot,
            generation,
            len,
        }
    }

    /// The pool's name, without a leading `/`.
    ///
    /// ```
    /// assert_eq!(shm_ring::PoolRef::new("frames", 0, 0, 0)?.pool(), "frames");
    /// # Ok::<(), shm_ring::PoolRefError>(())
    /// ```
    pub fn pool(&self) -> &str {
        &self.pool
    }

    /// The slot index.
    ///
    /// ```
    /// assert_eq!(shm_ring::PoolRef::new("frames", 2, 0, 0)?.slot(), 2);
    /// # Ok::<(), shm_ring::PoolRefError>(())
    /// ```
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// The slot's generation when the reference was published.
    ///
    /// ```
    /// assert_eq!(shm_ring::PoolRef::new("frames", 0, 9, 0)?.generation(), 9);
    /// # Ok::<(), shm_ring::PoolRefError>(())
    /// ```
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The payload's length in bytes.
    ///
    /// ```
    /// assert_eq!(shm_ring::PoolRef::new("frames", 0, 0, 640)?.len(), 640);
    /// # Ok::<(), shm_ring::PoolRefError>(())
    /// ```
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the payload is empty (0 bytes).
    ///
    /// ```
    /// assert!(shm_ring::PoolRef::new("frames", 0, 0, 0)?.is_empty());
    /// # Ok::<(), shm_ring::PoolRefError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The 64-byte binary form (see the type's documentation).
    ///
    /// ```
    /// let bytes = shm_ring::PoolRef::new("frames", 1, 2, 3)?.to_bytes();
    /// assert_eq!((bytes[5], &bytes[32..38]), (6, &b"frames"[..]));
    /// # Ok::<(), shm_ring::PoolRefError>(())
    /// ```
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        out[4] = VERSION;
        out[5] = self.pool.len() as u8;
        out[8..12].copy_from_slice(&self.slot.to_le_bytes());
        out[16..24].copy_from_slice(&self.generation.to_le_bytes());
        out[24..32].copy_from_slice(&self.len.to_le_bytes());
        out[NAME_OFFSET..NAME_OFFSET + self.pool.len()].copy_from_slice(self.pool.as_bytes());
        out
    }

    /// Reads a reference from its binary form, validating every field: exactly
    /// [`LEN`](Self::LEN) bytes ([`PoolRefError::WrongLength`]), the magic
    /// ([`PoolRefError::WrongMagic`]), the version ([`PoolRefError::UnsupportedVersion`]), the
    /// name ([`PoolRefError::InvalidName`]), zero padding and a name length that fits
    /// ([`PoolRefError::Malformed`]), the generation
    /// ([`PoolRefError::GenerationOutOfRange`]). Slot and length are checked against the pool
    /// when the reference is resolved.
    ///
    /// ```
    /// use shm_ring::{PoolRef, PoolRefError};
    /// let mut bytes = PoolRef::new("frames", 1, 2, 3)?.to_bytes();
    /// bytes[4] = 9;
    /// assert_eq!(
    ///     PoolRef::from_bytes(&bytes),
    ///     Err(PoolRefError::UnsupportedVersion { found: 9, supported: 1 })
    /// );
    /// # Ok::<(), PoolRefError>(())
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PoolRefError> {
        let bytes: &[u8; Self::LEN] = bytes.try_into().map_err(|_| PoolRefError::WrongLength {
            found: bytes.len(),
            expected: Self::LEN,
        })?;
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        let magic = u32_at(0);
        if magic != MAGIC {
            return Err(PoolRefError::WrongMagic {
                found: magic,
                expected: MAGIC,
            });
        }
        if bytes[4] != VERSION {
            return Err(PoolRefError::UnsupportedVersion {
                found: bytes[4],
                supported: VERSION,
            });
        }
        let name_len = usize::from(bytes[5]);
        if name_len > MAX_NAME_LEN {
            return Err(PoolRefError::Malformed {
                what: "the name length exceeds 30",
            });
        }
        let name_end = NAME_OFFSET + name_len;
        let zero = |range: std::ops::Range<usize>| bytes[range].iter().all(|&b| b == 0);
        if !(zero(6..8) && zero(12..16) && zero(name_end..Self::LEN)) {
            return Err(PoolRefError::Malformed {
                what: "reserved bytes are not zero",
            });
        }
        let name = std::str::from_utf8(&bytes[NAME_OFFSET..name_end]).map_err(|_| {
            PoolRefError::Malformed {
                what: "the name is not UTF-8",
            }
        })?;
        // `new` checks the name (a leading `/` is not allowed in the binary form) and the
        // generation.
        if name.starts_with('/') {
            return Err(PoolRefError::Malformed {
                what: "the name starts with '/'",
            });
        }
        Self::new(name, u32_at(8), u64_at(16), u64_at(24))
    }
}
