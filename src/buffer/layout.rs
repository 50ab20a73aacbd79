//! The layout of a shared-buffer segment: header offsets, the magic and layout version, size
//! limits. Pure arithmetic and validation: nothing here touches memory or the OS.
//!
//! A segment is a 64-byte header followed by `capacity` bytes of payload area:
//!
//! | offset | size | field      | written by                                        |
//! |--------|------|------------|---------------------------------------------------|
//! | 0      | 4    | `magic`    | the creator, last, once (`"SRBF"`)                |
//! | 4      | 4    | `version`  | the creator, once ([`VERSION`])                   |
//! | 8      | 8    | `capacity` | the creator, once                                 |
//! | 16     | 8    | `sequence` | the writer: odd while a write is under way        |
//! | 24     | 8    | `length`   | the writer, inside a write: the payload's length  |
//! | 32     | 4    | `flags`    | the creator, once ([`FLAG_LOCKED`])               |
//! | 36     | 4    | `acks`     | readers: how many acknowledged reading (wrapping) |
//! | 40     | 24   | reserved   | zero                                              |
//! | 64     | cap. | payload    | the writer, inside a write                        |
//!
//! All integers are little-endian. docs/PROTOCOL.md has the seqlock protocol.

/// Size of the header in bytes; the payload starts right after it, on a cache-line boundary.
pub(crate) const HEADER_LEN: usize = 64;

/// The `magic` word: the bytes `"SRBF"` (shm_ring buffer) read as a little-endian `u32`.
pub(crate) const MAGIC: u32 = u32::from_le_bytes(*b"SRBF");

/// The layout version this crate writes and accepts.
pub(crate) const VERSION: u32 = 1;

/// Byte offset of the `magic` word (`u32`).
pub(crate) const MAGIC_OFFSET: usize = 0;
/// Byte offset of the `version` word (`u32`).
pub(crate) const VERSION_OFFSET: usize = 4;
/// Byte offset of the `capacity` word (`u64`).
pub(crate) const CAPACITY_OFFSET: usize = 8;
/// Byte offset of the `sequence` word (`u64`), the seqlock's counter.
pub(crate) const SEQUENCE_OFFSET: usize = 16;
/// Byte offset of the `length` word (`u64`).
pub(crate) const LENGTH_OFFSET: usize = 24;
/// Byte offset of the `flags` word (`u32`).
pub(crate) const FLAGS_OFFSET: usize = 32;
/// Byte offset of the `acks` word (`u32`): a count, wrapping at 2^32, that a reader adds one
/// to when it says it has read the payload, and a futex word that a writer waiting for that
/// sleeps on. It was reserved (zero) before it had a meaning, which is why the layout version
/// did not change: a program that predates it neither writes nor reads it.
pub(crate) const ACKS_OFFSET: usize = 36;

/// Flag bit: the creator holds the owner's liveness lock (an OFD write lock on byte 0 of the
/// object, the byte a ring producer locks, so [`crate::remove`] leaves a live owner's buffer
/// alone) for as long as its handle lives, and a writer holds the lock on
/// [`WRITER_LOCK_BYTE`]; a free lock means its holder is gone.
pub(crate) const FLAG_LOCKED: u32 = 0x02;

/// The byte of the object the writer lock covers: one handle at a time, in any process, may
/// write.
pub(crate) const WRITER_LOCK_BYTE: u64 = 2;

/// The largest capacity this crate creates or accepts: 2^46 bytes (64 TiB), far above any
/// machine's shared memory and far below what the address space and `u64` offsets hold.
pub const MAX_BUFFER_CAPACITY: u64 = 1 << 46;

/// Whether a capacity (requested, or read from a header) is one this crate uses: 1 to
/// [`MAX_BUFFER_CAPACITY`] bytes.
pub(crate) fn is_valid_capacity(capacity: u64) -> bool {
    (1..=MAX_BUFFER_CAPACITY).contains(&capacity)
}

/// The size in bytes of the object for a buffer of `capacity` bytes (a valid capacity).
pub(crate) fn segment_len(capacity: u64) -> u64 {
    HEADER_LEN as u64 + capacity
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_words_are_aligned_and_inside_the_header() {
        for offset in [CAPACITY_OFFSET, SEQUENCE_OFFSET, LENGTH_OFFSET] {
            assert_eq!(offset % 8, 0);
            assert!(offset + 8 <= HEADER_LEN);
        }
        for offset in [MAGIC_OFFSET, VERSION_OFFSET, FLAGS_OFFSET, ACKS_OFFSET] {
            assert_eq!(offset % 4, 0);
            assert!(offset + 4 <= HEADER_LEN);
        }
        assert_eq!(MAGIC.to_le_bytes(), *b"SRBF");
        assert_ne!(WRITER_LOCK_BYTE, crate::layout::PRODUCER_LOCK_BYTE);
        assert_ne!(WRITER_LOCK_BYTE, crate::layout::CONSUMER_LOCK_BYTE);
    }

    #[test]
    fn capacities_from_one_byte_to_the_limit_are_valid() {
        assert!(!is_valid_capacity(0));
        assert!(is_valid_capacity(1));
        assert!(is_valid_capacity(MAX_BUFFER_CAPACITY));
        assert!(!is_valid_capacity(MAX_BUFFER_CAPACITY + 1));
        assert!(!is_valid_capacity(u64::MAX));
        assert_eq!(segment_len(1), 65);
    }
}
