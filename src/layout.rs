//! The wire layout: header offsets, size limits, capacity rounding and segment names.
//!
//! A segment is a 16-byte header followed by the data area:
//!
//! | offset | word       | written by                 |
//! |--------|------------|----------------------------|
//! | 0      | `head`     | the producer               |
//! | 4      | `tail`     | the consumer               |
//! | 8      | `capacity` | the producer, once         |
//! | 12     | `reserved` | the producer writes 0      |
//!
//! All words are little-endian `u32`. Byte `i` of the stream lives at
//! `HEADER_LEN + (i & (capacity - 1))`. A shm_ring producer writes [`EXTENSION_MARKER`] into
//! `reserved` and keeps one cache line of flag bytes past the data area, at
//! [`extension_offset`]. Each message is a record
//! `[u32 LE payload length][payload]`, packed with no padding; both parts may wrap around the
//! end of the data area at any byte.
//!
//! Everything here is pure arithmetic and validation: nothing touches memory or the OS.

use thiserror::Error;

/// Size of the segment header in bytes; the data area starts right after it.
///
/// ```
/// assert_eq!(shm_ring::layout::HEADER_LEN, 16);
/// ```
pub const HEADER_LEN: usize = 16;

/// Size of a record's length prefix in bytes.
///
/// ```
/// assert_eq!(shm_ring::layout::PREFIX_LEN, 4);
/// ```
pub const PREFIX_LEN: usize = 4;

/// The smallest data-area capacity this crate creates or accepts, in bytes.
///
/// ```
/// assert_eq!(shm_ring::layout::MIN_CAPACITY, 8);
/// ```
pub const MIN_CAPACITY: u32 = 8;

/// The largest data-area capacity the wire format allows, in bytes (2^31).
///
/// ```
/// assert_eq!(shm_ring::layout::MAX_CAPACITY, 1 << 31);
/// ```
pub const MAX_CAPACITY: u32 = 1 << 31;

/// The largest capacity a producer may request, in bytes (`u32::MAX`).
///
/// The request is rounded down to a power of two, so the largest real capacity is
/// [`MAX_CAPACITY`].
///
/// ```
/// use shm_ring::layout::{capacity_for, MAX_CAPACITY, MAX_REQUEST};
/// assert_eq!(capacity_for(MAX_REQUEST), Some(MAX_CAPACITY));
/// ```
pub const MAX_REQUEST: usize = u32::MAX as usize;

/// The longest segment name, in characters, not counting an optional leading `/`.
///
/// macOS caps a POSIX shared-memory name at 31 bytes including the slash.
///
/// ```
/// assert_eq!(shm_ring::layout::MAX_NAME_LEN, 30);
/// ```
pub const MAX_NAME_LEN: usize = 30;

/// Byte offset of the `head` word.
pub(crate) const HEAD: usize = 0;
/// Byte offset of the `tail` word.
pub(crate) const TAIL: usize = 4;
/// Byte offset of the `capacity` word.
pub(crate) const CAPACITY: usize = 8;
/// Byte offset of the `reserved` word. The original library writes it 0 and never reads it;
/// a producer of shm_ring writes [`EXTENSION_MARKER`] there.
pub(crate) const RESERVED: usize = 12;

/// The value a shm_ring producer writes into `reserved` to say that the segment carries the
/// extension block (flag bytes for sleeping, waking and liveness) at [`extension_offset`].
/// A segment without it (the original library's) has no extension block.
///
/// ```
/// assert_eq!(shm_ring::layout::EXTENSION_MARKER.to_le_bytes(), *b"SRX1");
/// ```
pub const EXTENSION_MARKER: u32 = u32::from_le_bytes(*b"SRX1");

/// Length of the extension block: one cache line.
pub const EXTENSION_LEN: usize = 64;

/// Offset of the producer's flag byte within the extension block. Only the producer writes
/// it, with single-byte stores, so no side ever needs a read-modify-write of a shared word.
pub const PRODUCER_FLAGS: usize = 0;

/// Offset of the consumer's flag byte within the extension block. Only the consumer writes it.
pub const CONSUMER_FLAGS: usize = 1;

/// Flag bit: this side is asleep, or about to be, in `FUTEX_WAIT` on the other side's index
/// word (the consumer on `head`, the producer on `tail`), and must be woken after a publish.
pub const FLAG_SLEEPING: u8 = 0x01;

/// Flag bit: this side holds its liveness lock (an OFD write lock on byte
/// [`PRODUCER_LOCK_BYTE`] or [`CONSUMER_LOCK_BYTE`] of the object) for as long as it lives, so
/// a free lock means it is gone.
pub const FLAG_LOCKED: u8 = 0x02;

/// Flag bit: this side's process is registered for `MEMBARRIER_CMD_GLOBAL_EXPEDITED`, so the
/// other side can make its stores visible with one system call before going to sleep.
pub const FLAG_BARRIER: u8 = 0x04;

/// The byte of the object the producer's liveness lock covers.
pub const PRODUCER_LOCK_BYTE: u64 = 0;

/// The byte of the object the consumer's liveness lock covers.
pub const CONSUMER_LOCK_BYTE: u64 = 1;

/// Where the extension block of a ring of `capacity` bytes starts: the first 64-byte
/// boundary at or after the end of the data area, so that its flag bytes share no cache line
/// with the indices or the data, and a publisher can read the other side's flags without
/// waiting for a line the other core keeps writing.
///
/// ```
/// use shm_ring::layout::extension_offset;
/// assert_eq!(extension_offset(4096), 4160); // 16 + 4096, rounded up to 64
/// assert_eq!(extension_offset(8), 64);
/// ```
pub fn extension_offset(capacity: u32) -> usize {
    (HEADER_LEN + capacity as usize).next_multiple_of(EXTENSION_LEN)
}

/// The data-area capacity a producer gets for a requested size: the largest power of two that
/// is at most `requested`.
///
/// Returns `None` when `requested` is below [`MIN_CAPACITY`] or above [`MAX_REQUEST`].
/// The segment itself is sized `HEADER_LEN + requested` bytes, as the original library does
/// (see [`segment_len`]).
///
/// ```
/// use shm_ring::layout::capacity_for;
/// assert_eq!(capacity_for(100), Some(64));
/// assert_eq!(capacity_for(6_220_800), Some(4_194_304));
/// assert_eq!(capacity_for(4096), Some(4096));
/// assert_eq!(capacity_for(7), None);
/// ```
pub fn capacity_for(requested: usize) -> Option<u32> {
    if !(MIN_CAPACITY as usize..=MAX_REQUEST).contains(&requested) {
        return None;
    }
    // `requested` fits in a u32 here, and its highest set bit is the answer.
    let requested = requested as u32;
    Some(1 << (31 - requested.leading_zeros()))
}

/// The size in bytes of the shared-memory object a producer creates for a requested capacity:
/// `HEADER_LEN + requested`, as the original library makes it, or more if the extension block
/// would not fit in that.
///
/// ```
/// use shm_ring::layout::segment_len;
/// assert_eq!(segment_len(100), 192); // capacity 64: data 16..80, extension block 128..192
/// assert_eq!(segment_len(4096), 4160 + 64);
/// assert_eq!(segment_len(6_220_800), 16 + 6_220_800); // room to spare after 4 MiB of data
/// ```
pub fn segment_len(requested: usize) -> usize {
    let extension_end = capacity_for(requested).map_or(0, |c| extension_offset(c) + EXTENSION_LEN);
    (HEADER_LEN + requested).max(extension_end)
}

/// Whether a `capacity` word read from a segment is one this crate can use: a power of two
/// from [`MIN_CAPACITY`] to [`MAX_CAPACITY`].
///
/// ```
/// use shm_ring::layout::is_valid_capacity;
/// assert!(is_valid_capacity(1 << 20));
/// assert!(!is_valid_capacity(0));
/// assert!(!is_valid_capacity(100));
/// assert!(!is_valid_capacity(4));
/// ```
pub fn is_valid_capacity(capacity: u32) -> bool {
    capacity.is_power_of_two() && capacity >= MIN_CAPACITY
}

/// The largest payload a ring of `capacity` bytes can carry: `capacity - 4`.
///
/// ```
/// assert_eq!(shm_ring::layout::max_payload(64), 60);
/// ```
pub fn max_payload(capacity: u32) -> u32 {
    capacity.saturating_sub(PREFIX_LEN as u32)
}

/// Why a segment name was refused.
///
/// A valid name is 1 to [`MAX_NAME_LEN`] characters of `A-Z a-z 0-9 . _ -`, optionally preceded
/// by one `/`, and is neither `.` nor `..`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name has no characters (after an optional leading `/`).
    #[error("the name is empty")]
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`] characters.
    #[error("the name has {len} characters; at most {MAX_NAME_LEN} are allowed")]
    TooLong {
        /// The name's length, not counting a leading `/`.
        len: usize,
    },
    /// The name contains a character outside `A-Z a-z 0-9 . _ -`.
    #[error("character {ch:?} at position {position} is not allowed (use A-Z a-z 0-9 . _ -)")]
    BadCharacter {
        /// The offending character.
        ch: char,
        /// Its position in characters, not counting a leading `/`.
        position: usize,
    },
    /// The name is `.` or `..`, which name directories on systems that keep shared memory
    /// in a file system.
    #[error("\".\" and \"..\" are not valid names")]
    Dots,
}

/// Checks a segment name and returns it without its optional leading `/`.
///
/// `"frames"` and `"/frames"` name the same object; the object the OS sees is always
/// `"/" + bare name`.
///
/// ```
/// use shm_ring::layout::{bare_name, NameError};
/// assert_eq!(bare_name("/frames"), Ok("frames"));
/// assert_eq!(bare_name("frames"), Ok("frames"));
/// assert_eq!(bare_name("//frames"), Err(NameError::BadCharacter { ch: '/', position: 0 }));
/// assert_eq!(bare_name(""), Err(NameError::Empty));
/// ```
pub fn bare_name(name: &str) -> Result<&str, NameError> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some((position, ch)) = bare
        .chars()
        .enumerate()
        .find(|&(_, ch)| !(ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-')))
    {
        return Err(NameError::BadCharacter { ch, position });
    }
    // Every character is ASCII now, so the byte length is the character count.
    if bare.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong { len: bare.len() });
    }
    if bare == "." || bare == ".." {
        return Err(NameError::Dots);
    }
    Ok(bare)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_rounds_down_to_a_power_of_two() {
        assert_eq!(capacity_for(8), Some(8));
        assert_eq!(capacity_for(15), Some(8));
        assert_eq!(capacity_for(16), Some(16));
        assert_eq!(capacity_for(100), Some(64));
        assert_eq!(capacity_for(6_220_800), Some(4_194_304));
        assert_eq!(capacity_for(1 << 31), Some(1 << 31));
        assert_eq!(capacity_for(u32::MAX as usize), Some(1 << 31));
    }

    #[test]
    fn capacity_outside_the_range_is_refused() {
        assert_eq!(capacity_for(0), None);
        assert_eq!(capacity_for(7), None);
        assert_eq!(capacity_for(u32::MAX as usize + 1), None);
        assert_eq!(capacity_for(usize::MAX), None);
    }

    #[test]
    fn valid_capacities_are_powers_of_two_from_8() {
        for shift in 3..=31 {
            assert!(is_valid_capacity(1 << shift), "2^{shift}");
        }
        for bad in [0, 1, 2, 4, 3, 12, 100, (1 << 31) + 1, u32::MAX] {
            assert!(!is_valid_capacity(bad), "{bad}");
        }
    }

    #[test]
    fn names_with_and_without_slash_are_the_same() {
        assert_eq!(bare_name("a"), Ok("a"));
        assert_eq!(bare_name("/a"), Ok("a"));
        assert_eq!(bare_name("Az09._-"), Ok("Az09._-"));
        let longest = "x".repeat(MAX_NAME_LEN);
        assert_eq!(bare_name(&longest), Ok(longest.as_str()));
        assert_eq!(bare_name(&format!("/{longest}")), Ok(longest.as_str()));
    }

    #[test]
    fn bad_names_say_what_is_wrong() {
        assert_eq!(bare_name(""), Err(NameError::Empty));
        assert_eq!(bare_name("/"), Err(NameError::Empty));
        assert_eq!(
            bare_name(&"x".repeat(MAX_NAME_LEN + 1)),
            Err(NameError::TooLong { len: 31 })
        );
        assert_eq!(
            bare_name("a/b"),
            Err(NameError::BadCharacter {
                ch: '/',
                position: 1
            })
        );
        assert_eq!(
            bare_name("a b"),
            Err(NameError::BadCharacter {
                ch: ' ',
                position: 1
            })
        );
        assert_eq!(
            bare_name("é"),
            Err(NameError::BadCharacter {
                ch: 'é',
                position: 0
            })
        );
        assert_eq!(bare_name("."), Err(NameError::Dots));
        assert_eq!(bare_name("/.."), Err(NameError::Dots));
        assert_eq!(bare_name("..."), Ok("..."));
    }

    #[test]
    fn max_payload_leaves_room_for_the_prefix() {
        assert_eq!(max_payload(8), 4);
        assert_eq!(max_payload(1 << 31), (1 << 31) - 4);
    }
}
