//! Lock-free single-producer/single-consumer message rings in POSIX shared memory, byte for
//! byte compatible with the C++/Python library cpp_py_shmbuf (v2 layout).
//!
//! A [`ShmProducer`] creates a named shared-memory segment and writes messages into it; a
//! [`ShmConsumer`] in another process (or thread) opens it by name and reads them, whole,
//! once and in order. The peers need no broker, no service and no locks: they agree through
//! two counters in the segment's header. Either end may be a program written against the
//! original library, or the Python module and C++ header in this repository's `interop/`.
//!
//! ```
//! use std::time::Duration;
//! use shm_ring::{ShmConsumer, ShmProducer};
//! # let name = &format!("doc-crate-{}", std::process::id());
//!
//! // Usually in two processes; here both ends live in one.
//! let mut producer = ShmProducer::create(name, 1 << 16)?;
//! let mut consumer = ShmConsumer::open(name)?;
//!
//! producer.write(b"frame 1", Duration::from_secs(1))?;
//! producer.try_write_batch(&[&b"frame 2"[..], b"frame 3"])?;
//!
//! assert_eq!(consumer.read(Duration::from_secs(1))?, b"frame 1");
//! consumer.try_read_batch(16, |msg| assert!(msg.starts_with(b"frame")))?;
//! # producer.unlink()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The API at a glance
//! - Copying: [`ShmProducer::try_write`] / [`ShmConsumer::try_read`],
//!   [`try_read_into`](ShmConsumer::try_read_into) (reuses a `Vec`) and
//!   [`try_read_into_slice`](ShmConsumer::try_read_into_slice) (a message larger than the
//!   slice stays in the ring).
//! - Zero-copy: [`ShmProducer::try_reserve`] lends the space in place and publishes on
//!   [`WriteGrant::commit`]; [`ShmConsumer::try_read_with`] lends the message in place.
//! - Batches: [`ShmProducer::try_write_batch`] and [`ShmConsumer::try_read_batch`] publish
//!   their index once per batch.
//! - Plain data: [`ShmProducer::try_write_value`] / [`ShmConsumer::try_read_value`] and the
//!   slice forms, for any [`bytemuck::Pod`] type.
//!
//! Every `try_…` method returns at once; each has a blocking twin without the prefix that
//! takes a timeout.
//!
//! # Trust model
//! Everything in the segment comes from another process, and what this crate promises depends
//! on what that process does.
//!
//! - **Against any process**, however it writes the segment: header words and length
//!   prefixes are checked before use. A torn or implausible index is treated as "full" or
//!   "empty" and looked at again, a length that cannot be right is [`ReadError::Corrupted`],
//!   a size read from the segment is validated before anything is mapped or allocated for it,
//!   and every memory access is masked and bounds-checked, so no value a peer writes makes this
//!   crate read or write outside the mapping, panic, or allocate what it asks for. The one
//!   thing no check can prevent is a process that shrinks the object under a live mapping:
//!   the next access then raises `SIGBUS`.
//! - **Against a peer that follows the protocol** (this crate, the repository's Python and C++
//!   peers, the original library), every API is sound: the protocol gives each byte of the
//!   data area one writer at a time, and the acquire/release index words order those writes
//!   before the other side's reads. No byte this crate reads is written meanwhile.
//! - **Against a peer that breaks the protocol** by writing bytes it has already published (or
//!   any process with write access to the object doing so), the bytes a reader sees may change
//!   while it reads them. The copying reads never form a reference to shared memory: they copy
//!   with a raw-pointer `memcpy` and hand out only the copy, which may then be a mix of old and
//!   new bytes. Rust's memory model still calls such a concurrent write a data race, and no
//!   stable Rust operation copies bytes that another process may be changing without one. The
//!   lending APIs ([`ShmConsumer::try_read_with`], [`ShmConsumer::try_read_batch`],
//!   [`WriteGrant::as_mut_slices`] and their blocking twins) hand safe code a `&[u8]` or
//!   `&mut [u8]` into the mapping, which promises that nobody else changes the bytes while it
//!   lives: a protocol-following peer keeps that promise, a hostile one can break it. Use the
//!   copying reads when the other process is not trusted, and keep segments at mode `0600`
//!   so that other users' processes cannot write them.
//!
//! `docs/PROTOCOL.md` and `docs/DESIGN.md` in the repository have the details.
//!
//! # Platform
//! POSIX shared memory: tested on Linux; the same code builds for macOS (not tested here).
//! Windows is not supported.
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]

pub mod error;
pub mod layout;
mod region;

#[cfg(not(loom))]
mod ring;
#[cfg(loom)]
#[doc(hidden)]
pub mod ring;

#[cfg(not(loom))]
mod consumer;
#[cfg(not(loom))]
mod producer;
#[cfg(not(loom))]
mod segment;
#[cfg(not(loom))]
mod wait;

#[cfg(not(loom))]
pub use consumer::ShmConsumer;
pub use error::{Corruption, OpenError, ReadError, Role, WriteError};
#[cfg(not(loom))]
pub use producer::{ProducerOptions, ShmProducer, WriteGrant};
#[cfg(not(loom))]
pub use wait::WaitStats;

/// The plain-data traits the typed helpers use, with their derive macros, re-exported so that
/// a crate whose only dependency is shm_ring can define message types of the same bytemuck
/// version. The derives need to be told where bytemuck is, with
/// `#[bytemuck(crate = "shm_ring::bytemuck")]`:
///
/// ```
/// use shm_ring::bytemuck::{Pod, Zeroable};
///
/// #[derive(Clone, Copy, Pod, Zeroable)]
/// #[bytemuck(crate = "shm_ring::bytemuck")]
/// #[repr(C)]
/// struct Reading {
///     sensor: u32,
///     celsius: f32,
/// }
///
/// let reading = Reading { sensor: 7, celsius: 21.5 };
/// let bytes = shm_ring::bytemuck::bytes_of(&reading); // 8 bytes, as sent on the ring
/// let back: Reading = shm_ring::bytemuck::pod_read_unaligned(bytes);
/// assert_eq!((back.sensor, back.celsius), (7, 21.5));
/// ```
pub use bytemuck;

/// The README's examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
