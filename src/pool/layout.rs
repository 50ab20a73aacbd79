//! The layout of a buffer-pool segment: header offsets, the slot table, the slot word's
//! encoding, size limits. Pure arithmetic and validation: nothing here touches memory or the
//! OS.
//!
//! A segment is a 64-byte header, a table of one 16-byte entry per slot, a table of one 8-byte
//! entry per holder (a handle that has the pool open), and the slots:
//!
//! | offset        | size       | field        | written by                                  |
//! |---------------|------------|--------------|---------------------------------------------|
//! | 0             | 4          | `magic`      | the creator, last, once (`"SRPL"`)          |
//! | 4             | 4          | `version`    | the creator, once ([`VERSION`])             |
//! | 8             | 4          | `slot_count` | the creator, once                           |
//! | 12            | 4          | `flags`      | the creator, once ([`FLAG_LOCKED`])         |
//! | 16            | 8          | `slot_size`  | the creator, once                           |
//! | 24            | 4          | `releases`   | every release: +1 (a futex word)            |
//! | 28            | 4          | `waiters`    | blocked acquirers: +1 while they wait       |
//! | 32            | 4          | `holders`    | the creator, once ([`HOLDER_COUNT`])        |
//! | 36            | 28         | reserved     | zero                                        |
//! | 64 + 16 i     | 8          | slot word i  | compare-exchange only (see [`slot_word`])   |
//! | 72 + 16 i     | 8          | length i     | the slot's writer, before publishing        |
//! | h + 8 j       | 4          | pid j        | the handle holding entry j, when it claims it |
//! | h + 8 j + 4   | 4          | reserved     | zero                                        |
//! | data + s i    | slot_size  | slot i       | the slot's writer, while `Filling`          |
//!
//! `h` is [`holder_table_offset`] (right after the slot table), `data` is [`data_offset`]
//! (the holder table's end rounded up to 64) and `s` is [`slot_stride`] (the slot size rounded
//! up to 64). All integers are little-endian.

/// Size of the header in bytes; the slot table starts right after it.
pub(crate) const HEADER_LEN: usize = 64;

/// The `magic` word: the bytes `"SRPL"` (shm_ring pool) read as a little-endian `u32`.
pub(crate) const MAGIC: u32 = u32::from_le_bytes(*b"SRPL");

/// The layout version this crate writes and accepts.
pub(crate) const VERSION: u32 = 2;

/// Byte offset of the `magic` word (`u32`).
pub(crate) const MAGIC_OFFSET: usize = 0;
/// Byte offset of the `version` word (`u32`).
pub(crate) const VERSION_OFFSET: usize = 4;
/// Byte offset of the `slot_count` word (`u32`).
pub(crate) const SLOT_COUNT_OFFSET: usize = 8;
/// Byte offset of the `flags` word (`u32`).
pub(crate) const FLAGS_OFFSET: usize = 12;
/// Byte offset of the `slot_size` word (`u64`).
pub(crate) const SLOT_SIZE_OFFSET: usize = 16;
const _: () = assert!(SLOT_SIZE_OFFSET % 8 == 0 && SLOT_SIZE_OFFSET + 8 <= HEADER_LEN);
/// Byte offset of the `releases` word (`u32`), which blocked acquirers sleep on.
pub(crate) const RELEASES_OFFSET: usize = 24;
/// Byte offset of the `waiters` word (`u32`): how many acquirers may be asleep.
pub(crate) const WAITERS_OFFSET: usize = 28;
/// Byte offset of the `holders` word (`u32`): how many entries the holder table has.
pub(crate) const HOLDERS_OFFSET: usize = 32;

/// The number of holder entries a pool this crate creates has: how many handles, in all
/// processes together, may have it open at once.
pub const POOL_HOLDERS: u32 = 128;
/// The most holder entries a pool's header may state: a holder's index fits the slot word's
/// 8 bits.
pub(crate) const MAX_HOLDERS: u32 = 256;
/// Size of one holder-table entry: the claiming process's id and a reserved word.
pub(crate) const HOLDER_ENTRY_LEN: usize = 8;

/// Flag bit: the creator holds the owner's liveness lock (byte 0, as a ring producer and a
/// shared buffer's owner do), and every handle holds the lock of the holder entry it claimed
/// ([`holder_lock_byte`]) for as long as it has the pool open.
pub(crate) const FLAG_LOCKED: u32 = 0x02;

/// Size of one slot-table entry: the slot word and the length word.
pub(crate) const SLOT_ENTRY_LEN: usize = 16;

/// The most slots a pool has.
pub const MAX_POOL_SLOTS: u32 = 1 << 16;

/// The largest slot size, and the largest total of all slots: 2^46 bytes (64 TiB), as for
/// shared buffers.
pub const MAX_POOL_BYTES: u64 = 1 << 46;

/// Slot state: nobody holds the slot; it can be acquired.
pub(crate) const FREE: u64 = 0;
/// Slot state: a writer holds the slot and fills it; nobody may read it.
pub(crate) const FILLING: u64 = 1;
/// Slot state: the writer has published the slot; one reader may resolve its reference.
pub(crate) const PUBLISHED: u64 = 2;
/// Slot state: a reader holds the slot and reads it in place.
pub(crate) const READING: u64 = 3;

/// Bits of the slot word that hold the state.
pub(crate) const STATE_MASK: u64 = 0xff;
/// Generations count modulo 2^48: the slot word's upper 48 bits.
pub(crate) const GENERATION_LIMIT: u64 = 1 << 48;
/// A reference's generation field is below 2^56 (its format predates layout version 2, whose
/// generations stay below [`GENERATION_LIMIT`]).
pub(crate) const REFERENCE_GENERATION_LIMIT: u64 = 1 << 56;

/// The slot word for `state` at `generation` (below [`GENERATION_LIMIT`]) held by the handle
/// of holder entry `holder` (`0` when the state has no holder: `Free`, `Published`).
pub(crate) fn slot_word(state: u64, generation: u64, holder: u32) -> u64 {
    (generation << 16) | (u64::from(holder as u8) << 8) | state
}

/// The state and generation a slot word holds.
pub(crate) fn split_word(word: u64) -> (u64, u64) {
    (word & STATE_MASK, word >> 16)
}

/// The holder entry a slot word names (meaningful while `Filling` or `Reading`).
pub(crate) fn holder_of(word: u64) -> u32 {
    ((word >> 8) & 0xff) as u32
}

/// The generation after `generation`, wrapping at [`GENERATION_LIMIT`].
pub(crate) fn next_generation(generation: u64) -> u64 {
    (generation + 1) % GENERATION_LIMIT
}

/// The state's name, for error messages.
pub(crate) fn state_name(state: u64) -> &'static str {
    match state {
        FREE => "free",
        FILLING => "filling",
        PUBLISHED => "published",
        READING => "reading",
        _ => "invalid",
    }
}

/// The byte of the object whose lock says that the handle of holder entry `holder` is alive.
/// Far past the bytes rings and shared buffers lock, and past any object's end (locks need no
/// data).
pub(crate) fn holder_lock_byte(holder: u32) -> u64 {
    (1 << 32) + u64::from(holder)
}

/// Whether a holder count (requested, or read from a header) is one this crate uses.
pub(crate) fn is_valid_holder_count(holders: u32) -> bool {
    (1..=MAX_HOLDERS).contains(&holders)
}

/// Byte offset of the holder table: right after the slot table.
pub(crate) fn holder_table_offset(slot_count: u32) -> u64 {
    HEADER_LEN as u64 + u64::from(slot_count) * SLOT_ENTRY_LEN as u64
}

/// Byte offset of slot `slot`'s word in the table.
pub(crate) fn entry_offset(slot: u32) -> usize {
    HEADER_LEN + slot as usize * SLOT_ENTRY_LEN
}

/// Byte offset of the first slot: the holder table's end rounded up to a cache line.
pub(crate) fn data_offset(slot_count: u32, holders: u32) -> u64 {
    round64(holder_table_offset(slot_count) + u64::from(holders) * HOLDER_ENTRY_LEN as u64)
}

/// Distance in bytes between the starts of two neighbouring slots.
pub(crate) fn slot_stride(slot_size: u64) -> u64 {
    round64(slot_size)
}

fn round64(n: u64) -> u64 {
    n.div_ceil(64) * 64
}

/// Whether a slot count and slot size (requested, or read from a header) are ones this crate
/// uses: 1 to [`MAX_POOL_SLOTS`] slots of 1 to [`MAX_POOL_BYTES`] bytes, all slots together at
/// most [`MAX_POOL_BYTES`].
pub(crate) fn is_valid_geometry(slot_count: u32, slot_size: u64) -> bool {
    (1..=MAX_POOL_SLOTS).contains(&slot_count)
        && (1..=MAX_POOL_BYTES).contains(&slot_size)
        && slot_stride(slot_size)
            .checked_mul(u64::from(slot_count))
            .is_some_and(|total| total <= MAX_POOL_BYTES)
}

/// The size in bytes of the object for a valid geometry and holder count.
pub(crate) fn segment_len(slot_count: u32, slot_size: u64, holders: u32) -> u64 {
    data_offset(slot_count, holders) + slot_stride(slot_size) * u64::from(slot_count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_words_are_aligned_and_inside_the_header() {
        for offset in [
            MAGIC_OFFSET,
            VERSION_OFFSET,
            SLOT_COUNT_OFFSET,
            FLAGS_OFFSET,
            RELEASES_OFFSET,
            WAITERS_OFFSET,
            HOLDERS_OFFSET,
        ] {
            assert_eq!(offset % 4, 0);
            assert!(offset + 4 <= HEADER_LEN);
        }
        assert_eq!(MAGIC.to_le_bytes(), *b"SRPL");
        assert_eq!(entry_offset(0), 64);
        assert_eq!(entry_offset(1) % 8, 0);
    }

    #[test]
    fn slot_words_pack_state_and_generation() {
        let word = slot_word(READING, GENERATION_LIMIT - 1, MAX_HOLDERS - 1);
        assert_eq!(split_word(word), (READING, GENERATION_LIMIT - 1));
        assert_eq!(holder_of(word), MAX_HOLDERS - 1);
        assert_eq!(next_generation(GENERATION_LIMIT - 1), 0);
        assert_eq!(slot_word(FREE, 0, 0), 0);
    }

    #[test]
    fn geometry_limits_and_offsets() {
        assert!(!is_valid_geometry(0, 64));
        assert!(!is_valid_geometry(1, 0));
        assert!(!is_valid_geometry(MAX_POOL_SLOTS + 1, 64));
        assert!(is_valid_geometry(MAX_POOL_SLOTS, 64));
        assert!(is_valid_geometry(1, MAX_POOL_BYTES));
        assert!(!is_valid_geometry(2, MAX_POOL_BYTES));
        assert!(!is_valid_geometry(u32::MAX, u64::MAX));
        assert_eq!(data_offset(4, 0), 128);
        assert_eq!(data_offset(3, 0), 128);
        assert_eq!(data_offset(4, 8), 192);
        assert_eq!(holder_table_offset(4), 128);
        assert_eq!(segment_len(4, 100, 8), 192 + 4 * 128);
        assert!(holder_lock_byte(0) > 64);
        assert!(is_valid_holder_count(POOL_HOLDERS) && is_valid_holder_count(MAX_HOLDERS));
        assert!(!is_valid_holder_count(0) && !is_valid_holder_count(MAX_HOLDERS + 1));
    }
}
