//! Wire facts of docs/PROTOCOL.md ("shm_ring's extension"), written out here from the
//! document, so that the tests hold the crate to it rather than to its own constants.

/// The `reserved` word of a shm_ring producer's header: the bytes `SRX1`.
pub const EXTENSION_MARKER: u32 = 0x3158_5253;
/// Length of the extension block: one cache line.
pub const EXTENSION_LEN: usize = 64;
/// Offset of the producer's flag byte in the extension block.
pub const PRODUCER_FLAGS: usize = 0;
/// Offset of the consumer's flag byte in the extension block.
pub const CONSUMER_FLAGS: usize = 1;
/// Flag bit: sleeping on the other side's index word.
pub const FLAG_SLEEPING: u8 = 0x01;
/// Flag bit: holds its liveness lock.
pub const FLAG_LOCKED: u8 = 0x02;
/// Flag bit: its process can be fenced with `membarrier`.
pub const FLAG_BARRIER: u8 = 0x04;

/// Where the extension block of a ring of `capacity` bytes starts: the first 64-byte
/// boundary at or after the end of the data area.
pub fn extension_offset(capacity: u32) -> usize {
    (16 + capacity as usize).next_multiple_of(EXTENSION_LEN)
}

/// The size of the object a shm_ring producer makes for a ring of `capacity` bytes: up to
/// the end of the extension block.
pub fn segment_len(capacity: u32) -> usize {
    extension_offset(capacity) + EXTENSION_LEN
}
