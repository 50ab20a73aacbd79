//! Lock-free single-producer/single-consumer message rings in POSIX shared memory, byte for
//! byte compatible with the C++/Python library cpp_py_shmbuf (v2 layout).
//!
//! A [`ShmProducer`] creates a named shared-memory segment and writes messages into it; a
//! [`ShmConsumer`] in another process (or thread) opens it by name and reads them, whole,
//! once and in order. The peers need no broker, no service and no locks: they agree through
//! two counters in the segment's header. Either end may be a program written against the
//! original library, or the Python module and C++ header in this repository's `interop/`.
//!
//! (The example removes the segment by name, which POSIX systems do; on Windows a segment
//! disappears with the last process that has it open, and [`remove`] says so.)
//!
//! ```ignore-windows
//! use std::time::Duration;
//! use shm_ring::{ShmConsumer, ShmProducer};
//!
//! // Any name of up to 30 characters of A-Z a-z 0-9 . _ - (unique per run here).
//! let name = &format!("frames-{}", std::process::id());
//!
//! // Usually in two processes; here both ends live in one.
//! let mut producer = ShmProducer::create(name, 1 << 16)?;
//! let mut consumer = ShmConsumer::open(name)?;
//!
//! producer.write(b"frame 1", Duration::from_secs(1))?;
//! producer.try_write_batch(&[&b"frame 2"[..], b"frame 3"])?;
//!
//! assert_eq!(consumer.read(Duration::from_secs(1))?.into_vec(), b"frame 1");
//! consumer.try_read_batch(16, |msg| assert!(msg.starts_with(b"frame")))?;
//!
//!
//! drop(producer); // the segment outlives its producer, for consumers still to come,
//! shm_ring::remove(name)?; // until it is removed by name
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The API at a glance
//! Every call that can wait comes as a pair: `try_…` returns at once, and its twin without
//! the prefix takes a timeout. Each mode has its own error type, whose variants are exactly
//! what that call can report: [`TryWriteError`] / [`WriteTimeoutError`] for writes,
//! [`TryReadError`] / [`ReadTimeoutError`] for reads.
//!
//! - Writing: [`ShmProducer::try_write`] copies a byte slice in;
//!   [`ShmProducer::try_reserve`] lends the space in place as a [`WriteGrant`], published
//!   on [`WriteGrant::commit`].
//! - Reading: [`ShmConsumer::try_read`] lends the next message in place as a
//!   [`ReadGrant`]; copy it out with [`ReadGrant::into_vec`], [`into_slice`](ReadGrant::into_slice),
//!   [`into_value`](ReadGrant::into_value) or [`into_values`](ReadGrant::into_values), or look at
//!   [`as_slices`](ReadGrant::as_slices) and [`commit`](ReadGrant::commit). Dropping the grant
//!   leaves the message: a peek.
//! - Batches: [`ShmProducer::try_write_batch`] and [`ShmConsumer::try_read_batch`] publish
//!   their index once per batch.
//! - Plain data: write `bytemuck::bytes_of(&value)`; read with [`ReadGrant::into_value`].
//!   `bytemuck` is re-exported as [`shm_ring::bytemuck`](bytemuck).
//! - Sizing: [`capacity_for_message`] gives the capacity that carries messages of up to `n`
//!   bytes. Capacities round up to a power of two.
//! - Clean-up: [`remove`] deletes a segment by name unless a live producer holds it;
//!   [`cleanup`] removes every segment of this crate whose owner is provably gone.
//! - Large payloads: a [`SharedBuffer`] holds one payload of up to `capacity` bytes that a
//!   writer replaces and readers in other processes read whole ([`SharedBuffer::read`]) or
//!   borrow in place ([`SharedBuffer::read_in_place`]). A [`BufferPool`] holds N fixed-size
//!   slots: a writer fills one in place ([`BufferPool::try_acquire`]) and publishes it as a
//!   64-byte [`PoolRef`]; a reader in another process resolves it to the bytes in place
//!   ([`BufferPool::resolve`]), and its release returns the slot to the pool.
//! - Large messages through a ring: a [`LargeSender`] (a producer and a pool) sends a message
//!   of any size in one call, small ones inline and large ones through a pool slot; the
//!   [`LargeReceiver`] hands out each as a [`LargeMessage`] that derefs to its bytes, read in
//!   place for a large one, whose slot goes back to the pool when the guard drops. Envelopes go
//!   only to a receiver that announced itself on the ring.
//! - Descriptors (feature `json`, on by default): [`SharedBuffer::descriptor`] names a buffer
//!   in one line of JSON that [`SharedBuffer::open_descriptor`] opens in another process. A
//!   `SceneBuffer` writes one payload with its kind, source, creation time, time to live,
//!   CRC-32 and optional LZ4 compression (feature `lz4`), described by a `SceneDescriptor`
//!   that a reader in another process, Rust or Python, opens and checks
//!   (`SceneBuffer::open_json`, `SceneBuffer::read`).
//! - Looking inside: [`inspect`] reports a segment's kind (ring, shared buffer, pool), header,
//!   verdict, liveness of its owners and waiting messages or slots without taking part in it;
//!   [`list`] does so for every segment.
//!
//! # Trust model
//! Everything in the segment comes from another process, and what this crate promises depends
//! on what that process does.
//!
//! - **Against any process**, however it writes the segment: header words and length
//!   prefixes are checked before use. A torn or implausible index is treated as "full" or
//!   "empty" and looked at again, a length that cannot be right is [`Corruption`],
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
//!   lending APIs ([`ReadGrant::as_slices`], [`ShmConsumer::try_read_batch`],
//!   [`WriteGrant::as_mut_slices`] and their blocking twins) hand safe code a `&[u8]` or
//!   `&mut [u8]` into the mapping, which promises that nobody else changes the bytes while it
//!   lives: a protocol-following peer keeps that promise, a hostile one can break it. Use the
//!   copying reads when the other process is not trusted, and keep segments at mode `0600`
//!   so that other users' processes cannot write them.
//!
//! - **Shared buffers** ([`SharedBuffer`]) have a writer that does not wait for readers: a
//!   sequence word (a seqlock) tells a reader whether a write overlapped its read.
//!   [`SharedBuffer::read`] discards and retries such a copy, so it returns only whole
//!   payloads. [`SharedBuffer::read_in_place`] lends the bytes in place as a [`BufferView`];
//!   since a protocol-following writer does not wait for readers and *can* change lent
//!   bytes, that borrow is an `unsafe fn` whose caller promises that nobody writes the buffer
//!   while the view lives (the writer waits for the reader's word); [`BufferView::verify`]
//!   detects a broken promise after the fact. Without such an arrangement, copy.
//!
//! `docs/PROTOCOL.md` and `docs/DESIGN.md` in the repository have the details.
//!
//! # Platform
//! Linux (POSIX shared memory): everything, tested. Windows (named file mappings, named-mutex
//! liveness, polling waits): the message ring, shared buffers, pools, large messages and scene
//! buffers, tested under Wine; [`list`] and [`cleanup`] are `Unsupported` there. macOS: the
//! same code as Linux type-checks for x86_64 and aarch64 but is not run there; liveness,
//! [`list`] and kernel sleeping are Linux's. The README's Limits section has the details.
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]

#[cfg(not(loom))]
mod descriptor;
mod error;
mod layout;
mod region;

#[cfg(not(loom))]
mod ring;
#[cfg(loom)]
#[doc(hidden)]
pub mod ring;

#[cfg(not(loom))]
mod buffer;
#[cfg(not(loom))]
mod buffer_region;
#[cfg(not(loom))]
mod consumer;
#[cfg(not(loom))]
mod end;
#[cfg(not(loom))]
mod large;
#[cfg(not(loom))]
mod pool;
#[cfg(not(loom))]
mod pool_region;
#[cfg(not(loom))]
mod producer;
#[cfg(not(loom))]
mod read_grant;
#[cfg(all(not(loom), feature = "json"))]
mod scene;
#[cfg(not(loom))]
mod segment;
#[cfg(not(loom))]
mod wait;
#[cfg(not(loom))]
mod words_region;
#[cfg(not(loom))]
mod write_grant;

#[cfg(all(not(loom), feature = "json"))]
pub use buffer::descriptor::SHARED_BUFFER_SCHEMA;
#[cfg(not(loom))]
pub use buffer::error::{BufferOpenError, BufferReadError, BufferWriteError};
#[cfg(not(loom))]
pub use buffer::layout::MAX_BUFFER_CAPACITY;
#[cfg(not(loom))]
pub use buffer::{BufferView, SharedBuffer};
#[cfg(not(loom))]
pub use consumer::ShmConsumer;
#[cfg(not(loom))]
pub use descriptor::DescriptorError;
#[cfg(not(loom))]
pub use end::PeerState;
pub use error::{
    BufferTooSmall, Corruption, OpenError, ReadTimeoutError, Role, TryReadError, TryWriteError,
    TypeMismatch, WaitTimeoutError, WriteTimeoutError,
};
#[cfg(not(loom))]
pub use large::error::{
    EnvelopeError, LargeSetupError, RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError,
};
#[cfg(not(loom))]
pub use large::{LargeLoan, LargeMessage, LargeReceiver, LargeSender, DEFAULT_INLINE_THRESHOLD};
pub use layout::{capacity_for_message, NameError};
#[cfg(not(loom))]
pub use pool::error::{
    AcquireTimeoutError, PoolOpenError, PoolRefError, PublishError, ResolveError, TryAcquireError,
};
#[cfg(not(loom))]
pub use pool::layout::{MAX_POOL_BYTES, MAX_POOL_SLOTS, POOL_HOLDERS};
#[cfg(not(loom))]
pub use pool::{BufferPool, PoolLoan, PoolRef, PoolView};
#[cfg(not(loom))]
pub use producer::{ProducerOptions, ShmProducer};
#[cfg(not(loom))]
pub use read_grant::ReadGrant;
#[cfg(all(not(loom), feature = "json"))]
pub use scene::descriptor::{LZ4_MAX_RATIO, MAX_SOURCE_LEN, SCENE_SCHEMA};
#[cfg(all(not(loom), feature = "json"))]
pub use scene::kind::MAX_KIND_LEN;
#[cfg(all(not(loom), feature = "json"))]
pub use scene::{
    Compression, SceneBuffer, SceneDescriptor, SceneKind, SceneOptions, SceneReadError,
    SceneWriteError, DEFAULT_MAX_SCENE_LEN,
};
#[cfg(not(loom))]
pub use segment::cleanup::{cleanup, CleanupOptions, CleanupReport, Orphan, OrphanReason};
#[cfg(not(loom))]
pub use segment::inspect::{
    inspect, list, BufferInfo, ExtensionFlags, Header, ListedSegment, PoolInfo, SegmentInfo,
    SegmentKind, Verdict, WaitingMessages, LISTED_SIZES,
};
#[cfg(not(loom))]
pub use wait::WaitStats;
#[cfg(not(loom))]
pub use write_grant::WriteGrant;

/// Removes the segment `name` (with or without a leading `/`), unless a live producer holds
/// it.
///
/// A producer of this crate, or of the Python and C++ peers in this repository, holds a lock
/// on its segment for as long as its process lives; while it does, this fails with
/// [`OpenError::InUse`] and removes nothing. Once that producer is gone (or for a segment
/// whose producer announces nothing, such as one of the original library's), the name is
/// removed while this process holds that lock, so no producer starting meanwhile loses its
/// new segment. Consumers that have the segment open keep reading it; new ones no longer find
/// it. A missing name is [`OpenError::NotFound`]. To remove a live producer's segment too,
/// use [`remove_forced`].
///
/// On Windows a named mapping has no name to remove: it disappears when the last process
/// that has it open closes it. There this is [`OpenError::InUse`] for a live producer's
/// segment, [`OpenError::NotFound`] for a missing one and [`OpenError::Unsupported`] for any
/// other.
///
/// ```ignore-windows
/// use shm_ring::{OpenError, ShmProducer};
/// let name = &format!("doc-remove-{}", std::process::id());
/// let producer = ShmProducer::create(name, 4096)?;
/// assert!(matches!(shm_ring::remove(name), Err(OpenError::InUse { .. })));
/// drop(producer); // the name stays: unlink_on_drop is off by default
/// shm_ring::remove(name)?;
/// assert!(matches!(shm_ring::remove(name), Err(OpenError::NotFound { .. })));
/// # Ok::<(), OpenError>(())
/// ```
#[cfg(not(loom))]
pub fn remove(name: &str) -> Result<(), OpenError> {
    segment::remove(name, false)
}

/// Removes the segment `name` (with or without a leading `/`) whatever holds it, as
/// `rm /dev/shm/NAME` does.
///
/// A live producer keeps writing into its segment and its attached consumer keeps reading,
/// but no new consumer finds it, and the producer's own [`ShmProducer::unlink`] then finds
/// nothing to remove. A missing name is [`OpenError::NotFound`]. Prefer [`remove`], which
/// leaves a live producer's segment alone.
///
/// On Windows this is [`OpenError::NotFound`] for a missing segment and
/// [`OpenError::Unsupported`] for any other: see [`remove`].
///
/// ```ignore-windows
/// use shm_ring::{OpenError, ShmConsumer, ShmProducer};
/// let name = &format!("doc-remove-forced-{}", std::process::id());
/// let producer = ShmProducer::create(name, 4096)?;
/// shm_ring::remove_forced(name)?;
/// assert!(matches!(ShmConsumer::open(name), Err(OpenError::NotFound { .. })));
/// assert!(!producer.unlink()?); // already gone
/// # Ok::<(), OpenError>(())
/// ```
#[cfg(not(loom))]
pub fn remove_forced(name: &str) -> Result<(), OpenError> {
    segment::remove(name, true)
}

/// The plain-data traits [`ReadGrant::into_value`] and [`ReadGrant::into_values`] take, with
/// their derive macros, re-exported so that a crate whose only dependency is shm_ring can
/// define message types of the same bytemuck version. The derives need to be told where bytemuck is, with
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
