//! Large messages through a ring: [`LargeSender`] and [`LargeReceiver`] send messages of any
//! size (up to a pool slot) over one ring, small ones inline and large ones by reference to a
//! [`BufferPool`](crate::BufferPool) slot that the receiver reads in place.
//!
//! The ring's wire format is unchanged: every message is an ordinary record whose payload
//! starts with an 8-byte envelope (see `envelope.rs` and docs/PROTOCOL.md). Because every
//! message carries one, no payload is ever taken for a reference. Envelopes go only to a
//! consumer that asked for them: a receiver announces the envelope version it reads in byte 2
//! of the ring's extension block and holds a lock on byte 2 of the object for its life; a
//! sender checks both before every send.

mod envelope;
pub(crate) mod error;
mod receiver;
mod sender;

pub use self::receiver::{LargeMessage, LargeReceiver};
pub use self::sender::{LargeLoan, LargeSender, DEFAULT_INLINE_THRESHOLD};
