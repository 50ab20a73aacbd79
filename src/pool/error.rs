//! The buffer pool's error types: one for creating and opening, one per way of acquiring, one
//! for publishing, one for resolving a reference, one for decoding one. Each message names
//! the pool and the values that were wrong.

use std::io;
use std::time::Duration;

use thiserror::Error;

use crate::layout::NameError;

/// Why a buffer pool could not be created or opened.
///
/// ```
/// use shm_ring::{BufferPool, PoolOpenError};
/// match BufferPool::open("doc-pool-open-error-nobody") {
///     Err(PoolOpenError::NotFound { name }) => assert_eq!(name, "doc-pool-open-error-nobody"),
///     other => panic!("expected NotFound, got {other:?}"),
/// }
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PoolOpenError {
    /// The name breaks the naming rules (those of [`NameError`]).
    #[error("invalid segment name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: NameError,
    },
    /// The requested slot count or slot size is outside the limits: 1 to
    /// [`MAX_POOL_SLOTS`](crate::MAX_POOL_SLOTS) slots of 1 to
    /// [`MAX_POOL_BYTES`](crate::MAX_POOL_BYTES) bytes, at most `MAX_POOL_BYTES` in all.
    #[error("a pool of {slot_count} slots of {slot_size} bytes is outside the limits (1..={max_slots} slots, 1..={max_bytes} bytes in all)")]
    GeometryOutOfRange {
        /// The requested number of slots.
        slot_count: u32,
        /// The requested slot size in bytes.
        slot_size: u64,
        /// The most slots, [`MAX_POOL_SLOTS`](crate::MAX_POOL_SLOTS).
        max_slots: u32,
        /// The most bytes, [`MAX_POOL_BYTES`](crate::MAX_POOL_BYTES).
        max_bytes: u64,
    },
    /// No segment of that name exists.
    #[error("shared-memory segment {name:?} does not exist")]
    NotFound {
        /// The segment name, without a leading `/`.
        name: String,
    },
    /// The segment exists but its creator has not finished initialising it (its size or its
    /// magic word is still 0). Retry.
    #[error("shared-memory segment {name:?} is not ready yet: its creator has not finished initialising it")]
    NotReady {
        /// The segment name, without a leading `/`.
        name: String,
    },
    /// An exclusive create found a segment of that name.
    #[error("shared-memory segment {name:?} already exists")]
    AlreadyExists {
        /// The segment name, without a leading `/`.
        name: String,
    },
    /// A live owner holds the name, so creating it would destroy a segment in use.
    #[error("shared-memory segment {name:?} is in use by a live owner")]
    InUse {
        /// The segment name, without a leading `/`.
        name: String,
    },
    /// The OS refused access (the segment belongs to another user, or its mode forbids it).
    #[error("permission denied for shared-memory segment {name:?}")]
    PermissionDenied {
        /// The segment name, without a leading `/`.
        name: String,
    },
    /// The segment is smaller than the 64-byte header.
    #[error(
        "shared-memory segment {name:?} is {size} bytes, smaller than the 64-byte pool header"
    )]
    TooSmall {
        /// The segment name, without a leading `/`.
        name: String,
        /// The segment's size in bytes.
        size: u64,
    },
    /// The header's magic word is not `"SRPL"`: the segment is not a buffer pool (a ring or a
    /// shared buffer, say) or its header is damaged.
    #[error("shared-memory segment {name:?} is not a buffer pool: magic word {found:#010x}, expected {expected:#010x} (\"SRPL\")")]
    WrongMagic {
        /// The segment name, without a leading `/`.
        name: String,
        /// The magic word as read.
        found: u32,
        /// The magic word of a buffer pool.
        expected: u32,
    },
    /// The header's layout version is not one this crate reads.
    #[error("shared-memory segment {name:?} has pool layout version {found}; this crate reads version {supported}")]
    UnsupportedVersion {
        /// The segment name, without a leading `/`.
        name: String,
        /// The version word as read.
        found: u32,
        /// The version this crate reads.
        supported: u32,
    },
    /// The header's slot count or slot size is outside the limits.
    #[error("shared-memory segment {name:?} claims {slot_count} slots of {slot_size} bytes, outside the limits")]
    InvalidGeometry {
        /// The segment name, without a leading `/`.
        name: String,
        /// The slot-count word as read.
        slot_count: u32,
        /// The slot-size word as read.
        slot_size: u64,
    },
    /// The header's holder count is outside `1 ..= 256`.
    #[error("shared-memory segment {name:?} claims {found} holder entries, outside 1..={max}")]
    InvalidHolderCount {
        /// The segment name, without a leading `/`.
        name: String,
        /// The holder-count word as read.
        found: u32,
        /// The most holder entries a pool may have.
        max: u32,
    },
    /// Every holder entry of the pool is claimed by a live handle: `holders` handles, in all
    /// processes together, have it open. Close one (a dead process's entry is free again as
    /// soon as the process is gone).
    #[error("buffer pool {name:?} is open in {holders} handles, as many as its holder table has entries; close one first")]
    HoldersFull {
        /// The segment name, without a leading `/`.
        name: String,
        /// The number of holder entries ([`POOL_HOLDERS`](crate::POOL_HOLDERS) for pools this
        /// crate creates).
        holders: u32,
    },
    /// The header's slot count and slot size need more bytes than the segment has.
    #[error("shared-memory segment {name:?} claims {slot_count} slots of {slot_size} bytes, which need {needed} bytes, but it has {size}")]
    GeometryExceedsSize {
        /// The segment name, without a leading `/`.
        name: String,
        /// The slot-count word as read.
        slot_count: u32,
        /// The slot-size word as read.
        slot_size: u64,
        /// The bytes that geometry needs.
        needed: u64,
        /// The segment's size in bytes.
        size: u64,
    },
    /// Any other failure of an OS call.
    #[error("{operation} failed for shared-memory segment {name:?}: {source}")]
    Io {
        /// The segment name, without a leading `/`.
        name: String,
        /// The OS call that failed, e.g. `"mmap"`.
        operation: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

/// Why [`BufferPool::try_acquire`](crate::BufferPool::try_acquire) lent no slot.
///
/// ```
/// use shm_ring::{BufferPool, TryAcquireError};
/// let pool = BufferPool::create_unique(1, 64)?;
/// let _held = pool.try_acquire()?;
/// assert!(matches!(pool.try_acquire(), Err(TryAcquireError::Exhausted { slots: 1, .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TryAcquireError {
    /// Every slot is held (being filled, published, or being read).
    #[error("buffer pool {name:?}: all {slots} slots are in use")]
    Exhausted {
        /// The segment name.
        name: String,
        /// The pool's slot count.
        slots: u32,
    },
    /// An OS call failed. Layout version 2 makes none on this path (the liveness lock is
    /// taken when the handle is opened); kept so that callers matching it still compile.
    #[error("{operation} failed for buffer pool {name:?}: {source}")]
    Io {
        /// The segment name.
        name: String,
        /// The OS call that failed.
        operation: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

/// Why [`BufferPool::acquire`](crate::BufferPool::acquire) lent no slot.
///
/// ```
/// use std::time::Duration;
/// use shm_ring::{AcquireTimeoutError, BufferPool};
/// let pool = BufferPool::create_unique(1, 64)?;
/// let _held = pool.try_acquire()?;
/// let late = pool.acquire(Duration::from_millis(1)).unwrap_err();
/// assert!(matches!(late, AcquireTimeoutError::Timeout { slots: 1, .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AcquireTimeoutError {
    /// No slot came free within the timeout.
    #[error("buffer pool {name:?}: none of its {slots} slots came free within {waited:?}")]
    Timeout {
        /// The segment name.
        name: String,
        /// The pool's slot count.
        slots: u32,
        /// The timeout.
        waited: Duration,
    },
    /// An OS call failed. Layout version 2 makes none on this path (the liveness lock is
    /// taken when the handle is opened); kept so that callers matching it still compile.
    #[error("{operation} failed for buffer pool {name:?}: {source}")]
    Io {
        /// The segment name.
        name: String,
        /// The OS call that failed.
        operation: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

/// Why [`PoolLoan::publish`](crate::PoolLoan::publish) published nothing. The slot goes back
/// to the pool.
///
/// ```
/// use shm_ring::{BufferPool, PublishError};
/// let pool = BufferPool::create_unique(1, 64)?;
/// let loan = pool.try_acquire()?;
/// assert!(matches!(loan.publish(65), Err(PublishError::TooLarge { len: 65, slot_size: 64, .. })));
/// assert_eq!(pool.available(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The length is larger than the slot.
    #[error("buffer pool {name:?}: cannot publish {len} bytes from a {slot_size}-byte slot")]
    TooLarge {
        /// The segment name.
        name: String,
        /// The length asked for, in bytes.
        len: u64,
        /// The pool's slot size in bytes.
        slot_size: u64,
    },
    /// The slot word changed under the loan: a process that does not follow the protocol
    /// wrote it.
    #[error("buffer pool {name:?}: slot {slot} was taken from its writer (slot word {found:#x}, expected {expected:#x})")]
    Lost {
        /// The segment name.
        name: String,
        /// The slot index.
        slot: u32,
        /// The slot word the loan expected.
        expected: u64,
        /// The slot word found.
        found: u64,
    },
}

/// Why [`BufferPool::resolve`](crate::BufferPool::resolve) lent no bytes. Nothing but the
/// bytes a reference was published with is ever returned: these errors are what a reader gets
/// instead.
///
/// ```
/// use shm_ring::{BufferPool, ResolveError};
/// let pool = BufferPool::create_unique(1, 64)?;
/// let mut loan = pool.try_acquire()?;
/// loan[..2].copy_from_slice(b"v1");
/// let reference = loan.publish(2)?;
/// drop(pool.resolve(&reference)?); // read, and the slot goes back to the pool
/// assert!(matches!(pool.resolve(&reference), Err(ResolveError::Stale { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The reference names another pool.
    #[error("a reference to buffer pool {reference:?} cannot be resolved in pool {pool:?}")]
    WrongPool {
        /// The pool the reference names.
        reference: String,
        /// The pool asked.
        pool: String,
    },
    /// The reference's slot index is not a slot of the pool.
    #[error("buffer pool {name:?} has {slots} slots; the reference names slot {slot}")]
    SlotOutOfRange {
        /// The segment name.
        name: String,
        /// The slot index in the reference.
        slot: u32,
        /// The pool's slot count.
        slots: u32,
    },
    /// The reference's length is larger than a slot.
    #[error("buffer pool {name:?}: the reference claims {len} bytes, but slots hold {slot_size}")]
    LengthExceedsSlot {
        /// The segment name.
        name: String,
        /// The length in the reference.
        len: u64,
        /// The pool's slot size.
        slot_size: u64,
    },
    /// The slot has been released (and maybe reused) since the reference was published: its
    /// payload is gone.
    #[error("buffer pool {name:?}: the reference to slot {slot} is stale (generation {generation}; the slot is {state} at generation {current})")]
    Stale {
        /// The segment name.
        name: String,
        /// The slot index.
        slot: u32,
        /// The generation in the reference.
        generation: u64,
        /// The slot's generation now.
        current: u64,
        /// The slot's state now: `"free"`, `"filling"`, `"published"` or `"reading"`.
        state: &'static str,
    },
    /// The slot is at the reference's generation but its writer has not published it (or
    /// died before it did): it is never readable.
    #[error("buffer pool {name:?}: slot {slot} at generation {generation} is not published")]
    NotPublished {
        /// The segment name.
        name: String,
        /// The slot index.
        slot: u32,
        /// The generation in the reference.
        generation: u64,
    },
    /// Another resolve of the same reference holds the slot: a reference is read once.
    #[error("buffer pool {name:?}: slot {slot} at generation {generation} is already being read")]
    AlreadyResolved {
        /// The segment name.
        name: String,
        /// The slot index.
        slot: u32,
        /// The generation in the reference.
        generation: u64,
    },
    /// The slot's length word disagrees with the reference: the slot table was damaged by a
    /// process that does not follow the protocol, or the reference was forged.
    #[error("buffer pool {name:?}: slot {slot} holds {stored} bytes, the reference says {len}")]
    LengthMismatch {
        /// The segment name.
        name: String,
        /// The slot index.
        slot: u32,
        /// The length in the reference.
        len: u64,
        /// The slot's length word.
        stored: u64,
    },
    /// An OS call failed. Layout version 2 makes none on this path (the liveness lock is
    /// taken when the handle is opened); kept so that callers matching it still compile.
    #[error("{operation} failed for buffer pool {name:?}: {source}")]
    Io {
        /// The segment name.
        name: String,
        /// The OS call that failed.
        operation: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

/// Why [`PoolRef::from_bytes`](crate::PoolRef::from_bytes) or
/// [`PoolRef::new`](crate::PoolRef::new) made no reference.
///
/// ```
/// use shm_ring::{PoolRef, PoolRefError};
/// assert!(matches!(PoolRef::from_bytes(&[0; 3]), Err(PoolRefError::WrongLength { found: 3, .. })));
/// ```
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolRefError {
    /// The bytes are not exactly [`PoolRef::LEN`](crate::PoolRef::LEN) long.
    #[error("a pool reference is {expected} bytes, not {found}")]
    WrongLength {
        /// The length given.
        found: usize,
        /// [`PoolRef::LEN`](crate::PoolRef::LEN).
        expected: usize,
    },
    /// The bytes do not start with `"SRPR"`.
    #[error("not a pool reference: magic {found:#010x}, expected {expected:#010x} (\"SRPR\")")]
    WrongMagic {
        /// The magic word as read.
        found: u32,
        /// The magic word of a reference.
        expected: u32,
    },
    /// The reference's format version is not one this crate reads.
    #[error("pool reference format version {found}; this crate reads version {supported}")]
    UnsupportedVersion {
        /// The version byte as read.
        found: u8,
        /// The version this crate reads.
        supported: u8,
    },
    /// The pool name is not a valid segment name.
    #[error("invalid pool name in a reference: {reason}")]
    InvalidName {
        /// Which rule it breaks.
        reason: NameError,
    },
    /// The name-length byte exceeds the name field, or bytes that must be zero are not.
    #[error("malformed pool reference: {what}")]
    Malformed {
        /// What is wrong.
        what: &'static str,
    },
    /// The generation does not fit the slot word's 56 bits.
    #[error("pool reference generation {generation} is not below 2^56")]
    GenerationOutOfRange {
        /// The generation as read.
        generation: u64,
    },
    /// The JSON form is not a valid document of the schema: malformed JSON, a missing,
    /// unknown or repeated member, or a member of the wrong type or out of range.
    #[cfg(feature = "json")]
    #[error("malformed pool reference JSON: {reason}")]
    Json {
        /// What is wrong, naming the member or the value (serde_json's message).
        reason: String,
    },
    /// The JSON form's `format` member is not `"shm_ring.pool_ref"`.
    #[cfg(feature = "json")]
    #[error("not a pool reference: JSON format {found:?}, expected \"shm_ring.pool_ref\"")]
    UnsupportedFormat {
        /// The `format` member as read.
        found: String,
    },
    /// The JSON form's `version` member is not one this crate reads.
    #[cfg(feature = "json")]
    #[error("pool reference JSON version {found}; this crate reads version {supported}")]
    UnsupportedJsonVersion {
        /// The `version` member as read.
        found: u64,
        /// The version this crate reads.
        supported: u64,
    },
}
