//! The conformance stream: the messages every peer program writes, and checks when reading.
//! Its formula is docs/PROTOCOL.md's; the peers of all three languages compute the same.

/// The conformance stream's length for message `i` of a size range.
pub fn stream_len(i: u64, min: usize, max: usize) -> usize {
    let spread = (i as u32).wrapping_mul(2_654_435_761) as u64;
    min + (spread % (max - min + 1) as u64) as usize
}

/// The conformance stream's message `i` of length `len`.
pub fn stream_message(i: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|j| ((i * 7 + j) % 251) as u8).collect()
}

/// Total payload bytes of `count` messages of a size range.
pub fn stream_bytes(count: u64, min: usize, max: usize) -> u64 {
    (0..count).map(|i| stream_len(i, min, max) as u64).sum()
}
