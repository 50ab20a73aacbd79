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
// The model checker builds only the ring, which needs a few of these wire facts.
#![cfg_attr(loom, allow(dead_code))]

use thiserror::Error;

/// Size of the segment header in bytes; the data area starts right after it.
pub(crate) const HEADER_LEN: usize = 16;

/// Size of a record's length prefix in bytes.
pub(crate) const PREFIX_LEN: usize = 4;

/// The smallest data-area capacity this crate creates or accepts, in bytes.
pub(crate) const MIN_CAPACITY: u32 = 8;

/// The largest data-area capacity the wire format allows, in bytes (2^31).
pub(crate) const MAX_CAPACITY: u32 = 1 << 31;

/// The longest segment name, in characters, not counting an optional leading `/`.
///
/// macOS caps a POSIX shared-memory name at 31 bytes including the slash.
pub(crate) const MAX_NAME_LEN: usize = 30;

/// Byte offset of the `head` word.
pub(crate) const HEAD: usize = 0;
/// Byte offset of the `tail` word.
pub(crate) const TAIL: usize = 4;
/// Byte offset of the `capacity` word.
pub(crate) const CAPACITY: usize = 8;
/// Byte offset of the `reserved` word. The original library writes it 0 and never reads it;
/// a producer of shm_ring writes [`EXTENSION_MARKER`] there.
pub(crate) const RESERVED: usize = 12;

/// The value a shm_ring producer writes into `reserved` (`"SRX1"` in little-endian order) to
/// say that the segment carries the extension block (flag bytes for sleeping, waking and
/// liveness) at [`extension_offset`]. A segment without it (the original library's) has no
/// extension block.
pub(crate) const EXTENSION_MARKER: u32 = u32::from_le_bytes(*b"SRX1");

/// Length of the extension block: one cache line.
pub(crate) const EXTENSION_LEN: usize = 64;

/// Offset of the producer's flag byte within the extension block. Only the producer writes
/// it, with single-byte stores, so no side ever needs a read-modify-write of a shared word.
pub(crate) const PRODUCER_FLAGS: usize = 0;

/// Offset of the consumer's flag byte within the extension block. Only the consumer writes it.
pub(crate) const CONSUMER_FLAGS: usize = 1;

/// Offset of the byte within the extension block where a large-message receiver announces
/// the message-envelope version it reads (`0` or absent: none). Only the consumer writes it,
/// and only while it holds the lock on [`RECEIVER_LOCK_BYTE`]; see `crate::large`.
pub(crate) const RECEIVER_ENVELOPE: usize = 2;

/// Flag bit: this side is asleep, or about to be, in `FUTEX_WAIT` on the other side's index
/// word (the consumer on `head`, the producer on `tail`), and must be woken after a publish.
pub(crate) const FLAG_SLEEPING: u8 = 0x01;

/// Flag bit: this side holds its liveness lock (an OFD write lock on byte
/// [`PRODUCER_LOCK_BYTE`] or [`CONSUMER_LOCK_BYTE`] of the object) for as long as it lives, so
/// a free lock means it is gone.
pub(crate) const FLAG_LOCKED: u8 = 0x02;

/// Flag bit: this side's process is registered for `MEMBARRIER_CMD_GLOBAL_EXPEDITED`, so the
/// other side can make its stores visible with one system call before going to sleep.
pub(crate) const FLAG_BARRIER: u8 = 0x04;

/// The byte of the object the producer's liveness lock covers.
pub(crate) const PRODUCER_LOCK_BYTE: u64 = 0;

/// The byte of the object the consumer's liveness lock covers.
pub(crate) const CONSUMER_LOCK_BYTE: u64 = 1;

/// The byte of the object a large-message receiver locks for as long as it lives, so that a
/// sender knows the envelope version in [`RECEIVER_ENVELOPE`] belongs to a live receiver.
pub(crate) const RECEIVER_LOCK_BYTE: u64 = 2;

/// Where the extension block of a ring of `capacity` bytes starts: the first 64-byte
/// boundary at or after the end of the data area, so that its flag bytes share no cache line
/// with the indices or the data, and a publisher can read the other side's flags without
/// waiting for a line the other core keeps writing.
pub(crate) fn extension_offset(capacity: u32) -> usize {
    (HEADER_LEN + capacity as usize).next_multiple_of(EXTENSION_LEN)
}

/// The data-area capacity a producer gets for a requested size: the smallest power of two
/// that is at least `requested`, and at least [`MIN_CAPACITY`].
///
/// Returns `None` when `requested` is 0 or above [`MAX_CAPACITY`].
pub(crate) fn round_capacity(requested: usize) -> Option<u32> {
    if !(1..=MAX_CAPACITY as usize).contains(&requested) {
        return None;
    }
    // `requested` is at most 2^31 here, so its next power of two fits in a u32.
    Some((requested as u32).next_power_of_two().max(MIN_CAPACITY))
}

/// The capacity to create a ring with so that it carries messages of up to `max_message_len`
/// bytes: the smallest power of two that holds the message and its 4-byte length prefix.
///
/// Returns `None` when no ring can carry such a message (more than 2^31 - 4 bytes). Pass the
/// result to [`ShmProducer::create`](crate::ShmProducer::create); a ring that should hold
/// several such messages at once needs a multiple of it.
/// [`TryWriteError::TooLarge`](crate::TryWriteError::TooLarge) names this value for the
/// message it refused.
///
/// ```
/// use shm_ring::{capacity_for_message, ShmProducer};
/// const FRAME: usize = 1920 * 1080 * 3; // one 1080p RGB frame, 6220800 bytes
/// assert_eq!(capacity_for_message(FRAME), Some(8 << 20));
/// assert_eq!(capacity_for_message(4092), Some(4096));
/// assert_eq!(capacity_for_message(4093), Some(8192));
/// assert_eq!(capacity_for_message(1 << 31), None);
///
/// # let name = &format!("doc-capacity-for-{}", std::process::id());
/// let producer = ShmProducer::create(name, capacity_for_message(4093).unwrap())?;
/// assert_eq!(producer.max_message_len(), 8188);
/// # producer.unlink()?;
/// # Ok::<(), shm_ring::OpenError>(())
/// ```
pub fn capacity_for_message(max_message_len: usize) -> Option<usize> {
    let needed = max_message_len.checked_add(PREFIX_LEN)?;
    round_capacity(needed).map(|capacity| capacity as usize)
}

/// The size in bytes of the shared-memory object a producer creates for a ring of
/// `capacity` bytes: the header, the data area and the extension block after it.
pub(crate) fn segment_len(capacity: u32) -> usize {
    extension_offset(capacity) + EXTENSION_LEN
}

/// Whether a `capacity` word read from a segment is one this crate can use: a power of two
/// from [`MIN_CAPACITY`] to [`MAX_CAPACITY`].
pub(crate) fn is_valid_capacity(capacity: u32) -> bool {
    capacity.is_power_of_two() && capacity >= MIN_CAPACITY
}

/// The largest payload a ring of `capacity` bytes can carry: `capacity - 4`.
pub(crate) fn max_payload(capacity: u32) -> u32 {
    capacity.saturating_sub(PREFIX_LEN as u32)
}

/// Why a segment name was refused.
///
/// A valid name is 1 to 30 characters of `A-Z a-z 0-9 . _ -`, optionally preceded by one `/`,
/// and is neither `.` nor `..`. (30 is what macOS allows: 31 bytes with the slash.) It comes
/// inside [`OpenError::InvalidName`](crate::OpenError::InvalidName).
///
/// ```
/// use shm_ring::{NameError, OpenError, ShmConsumer};
/// let refused = ShmConsumer::open("frames/left");
/// assert!(matches!(
///     refused,
///     Err(OpenError::InvalidName { reason: NameError::BadCharacter { ch: '/', position: 6 }, .. })
/// ));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name has no characters (after an optional leading `/`).
    #[error("the name is empty")]
    Empty,
    /// The name is longer than 30 characters.
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
pub(crate) fn bare_name(name: &str) -> Result<&str, NameError> {
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
    fn capacity_rounds_up_to_a_power_of_two() {
        assert_eq!(round_capacity(1), Some(8));
        assert_eq!(round_capacity(8), Some(8));
        assert_eq!(round_capacity(9), Some(16));
        assert_eq!(round_capacity(16), Some(16));
        assert_eq!(round_capacity(100), Some(128));
        assert_eq!(round_capacity(6_220_800), Some(8_388_608));
        assert_eq!(round_capacity(1 << 31), Some(1 << 31));
    }

    #[test]
    fn capacity_outside_the_range_is_refused() {
        assert_eq!(round_capacity(0), None);
        assert_eq!(round_capacity((1 << 31) + 1), None);
        assert_eq!(round_capacity(u32::MAX as usize), None);
        assert_eq!(round_capacity(usize::MAX), None);
    }

    #[test]
    fn the_capacity_for_a_message_carries_it_and_no_smaller_one_does() {
        for len in [0, 1, 4, 5, 60, 61, 4092, 4093, 6_220_800, (1 << 31) - 4] {
            let capacity = capacity_for_message(len).unwrap();
            assert!(is_valid_capacity(capacity as u32), "{len}");
            assert!(max_payload(capacity as u32) as usize >= len, "{len}");
            let smaller = capacity as u32 / 2;
            assert!(
                !is_valid_capacity(smaller) || (max_payload(smaller) as usize) < len,
                "{len}"
            );
        }
        assert_eq!(capacity_for_message((1 << 31) - 3), None);
        assert_eq!(capacity_for_message(usize::MAX), None);
    }

    #[test]
    fn the_object_holds_header_data_and_extension_block() {
        assert_eq!(segment_len(8), 128); // data 16..24, extension block 64..128
        assert_eq!(segment_len(4096), 4160 + 64);
        assert_eq!(extension_offset(4096), 4160); // 16 + 4096, rounded up to 64
        assert_eq!(extension_offset(8), 64);
        assert_eq!(EXTENSION_MARKER.to_le_bytes(), *b"SRX1");
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
