//! The envelope every message of a large-message ring carries: 8 bytes that say whether the
//! payload follows inline or lives in a pool slot named by a [`PoolRef`].
//!
//! | offset | size | field                                              |
//! |--------|------|----------------------------------------------------|
//! | 0      | 4    | magic `"SRLM"` (`0x4d4c5253` as a little-endian `u32`) |
//! | 4      | 1    | envelope version, `1`                              |
//! | 5      | 1    | kind: `0` inline, `1` pool reference               |
//! | 6      | 2    | zero                                               |
//! | 8      | …    | inline: the payload; reference: the 64-byte [`PoolRef`] |

use crate::{EnvelopeError, PoolRef};

/// The envelope's magic: the bytes `"SRLM"` read as a little-endian `u32`.
pub(crate) const MAGIC: u32 = u32::from_le_bytes(*b"SRLM");
/// The envelope version this crate writes and reads, and announces as a receiver.
pub(crate) const VERSION: u8 = 1;
/// Kind byte: the payload follows the envelope.
pub(crate) const KIND_INLINE: u8 = 0;
/// Kind byte: a 64-byte pool reference follows the envelope.
pub(crate) const KIND_REFERENCE: u8 = 1;
/// Length of the envelope in bytes.
pub(crate) const ENVELOPE_LEN: usize = 8;
/// Length of a whole reference message: the envelope and the reference.
pub(crate) const REFERENCE_MESSAGE_LEN: usize = ENVELOPE_LEN + PoolRef::LEN;

/// The envelope for a message of `kind`.
pub(crate) fn header(kind: u8) -> [u8; ENVELOPE_LEN] {
    let mut out = [0u8; ENVELOPE_LEN];
    out[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    out[4] = VERSION;
    out[5] = kind;
    out
}

/// The whole ring message that carries `reference`.
pub(crate) fn reference_message(reference: &PoolRef) -> [u8; REFERENCE_MESSAGE_LEN] {
    let mut out = [0u8; REFERENCE_MESSAGE_LEN];
    out[..ENVELOPE_LEN].copy_from_slice(&header(KIND_REFERENCE));
    out[ENVELOPE_LEN..].copy_from_slice(&reference.to_bytes());
    out
}

/// What a ring message's envelope says travels in it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Contents {
    /// The payload follows the envelope: the message's bytes from [`ENVELOPE_LEN`] on.
    Inline,
    /// The payload is in a pool slot.
    Reference(PoolRef),
}

/// Reads the envelope of a ring message of `len` bytes whose first bytes are `start` (at least
/// `min(len, REFERENCE_MESSAGE_LEN)` of them), validating every field.
pub(crate) fn decode(start: &[u8], len: usize) -> Result<Contents, EnvelopeError> {
    if len < ENVELOPE_LEN {
        return Err(EnvelopeError::Truncated { len });
    }
    let magic = u32::from_le_bytes(start[0..4].try_into().unwrap());
    if magic != MAGIC {
        return Err(EnvelopeError::WrongMagic {
            found: magic,
            expected: MAGIC,
        });
    }
    if start[4] != VERSION {
        return Err(EnvelopeError::UnsupportedVersion {
            found: start[4],
            supported: VERSION,
        });
    }
    if start[6] != 0 || start[7] != 0 {
        return Err(EnvelopeError::NonZeroPadding {
            found: [start[6], start[7]],
        });
    }
    match start[5] {
        KIND_INLINE => Ok(Contents::Inline),
        KIND_REFERENCE if len == REFERENCE_MESSAGE_LEN => {
            PoolRef::from_bytes(&start[ENVELOPE_LEN..REFERENCE_MESSAGE_LEN])
                .map(Contents::Reference)
                .map_err(EnvelopeError::BadReference)
        }
        KIND_REFERENCE => Err(EnvelopeError::WrongReferenceLength {
            len,
            expected: REFERENCE_MESSAGE_LEN,
        }),
        kind => Err(EnvelopeError::UnknownKind { kind }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_each_damaged_field() {
        let reference = PoolRef::new("frames", 2, 7, 99).unwrap();
        let message = reference_message(&reference);
        assert_eq!(
            decode(&message, message.len()),
            Ok(Contents::Reference(reference))
        );
        assert_eq!(decode(&header(KIND_INLINE), 8), Ok(Contents::Inline));
        assert_eq!(
            decode(&message[..7], 7),
            Err(EnvelopeError::Truncated { len: 7 })
        );
        let damaged = |at: usize, value: u8| {
            let mut copy = message;
            copy[at] = value;
            decode(&copy, copy.len())
        };
        assert!(matches!(
            damaged(0, b'X'),
            Err(EnvelopeError::WrongMagic { .. })
        ));
        assert_eq!(
            damaged(4, 2),
            Err(EnvelopeError::UnsupportedVersion {
                found: 2,
                supported: 1
            })
        );
        assert_eq!(damaged(5, 9), Err(EnvelopeError::UnknownKind { kind: 9 }));
        assert_eq!(
            damaged(7, 1),
            Err(EnvelopeError::NonZeroPadding { found: [0, 1] })
        );
        assert!(matches!(damaged(8, 0), Err(EnvelopeError::BadReference(_))));
        assert_eq!(
            decode(&message, 71),
            Err(EnvelopeError::WrongReferenceLength {
                len: 71,
                expected: 72
            })
        );
    }
}
