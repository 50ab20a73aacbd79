//! What goes over Zenoh, besides the message bytes themselves: the sequence number attached to
//! every message and to the end of the stream.
//!
//! A message is a `put` on the key expression: its payload is the message's bytes unchanged,
//! its attachment the message's sequence number (the first message is 0) as 8 bytes, an
//! unsigned integer, little-endian. The end of the stream is a `delete` on the key
//! expression whose attachment is, in the same form, the number of messages sent.

/// The attachment carrying `sequence`.
pub(crate) fn encode(sequence: u64) -> [u8; 8] {
    sequence.to_le_bytes()
}

/// The sequence number an attachment carries, or `None` when it is not 8 bytes.
pub(crate) fn decode(attachment: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(attachment.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sequence_number_is_eight_little_endian_bytes() {
        assert_eq!(encode(0x0102), [2, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(decode(&encode(u64::MAX - 5)), Some(u64::MAX - 5));
        assert_eq!(decode(&[1, 2, 3]), None);
        assert_eq!(decode(&[0; 9]), None);
    }
}
