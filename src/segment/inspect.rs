//! Looking at a segment from outside: its header, its verdict, who is alive at either end and
//! the messages waiting (a ring), the payload length (a shared buffer) or the slots' states (a
//! buffer pool), without attaching to it, taking a lock or moving an index.
//!
//! The object is opened read-only and mapped read-only, so nothing here can change it. Sizes
//! are validated before anything beyond the header is mapped, exactly as [`super::open`] does,
//! and every record is checked before it is believed.

use std::fmt;
use std::io;

use super::{names, os, os_error};
use crate::end::PeerState;
use crate::error::{Corruption, OpenError};
use crate::layout::{
    self, CAPACITY, CONSUMER_FLAGS, CONSUMER_LOCK_BYTE, EXTENSION_LEN, EXTENSION_MARKER,
    FLAG_BARRIER, FLAG_LOCKED, FLAG_SLEEPING, HEAD, HEADER_LEN, PREFIX_LEN, PRODUCER_FLAGS,
    PRODUCER_LOCK_BYTE, RESERVED, TAIL,
};
use crate::region::ReadOnlyRegion;
use crate::{buffer, pool};

/// How many message sizes [`WaitingMessages::sizes`] keeps; the count and the byte total
/// cover every message whatever their number.
pub const LISTED_SIZES: usize = 4096;

/// How many times a walk is repeated when the consumer moved `tail` while it ran.
const WALK_ATTEMPTS: usize = 8;

/// What a shared-memory object holds, as far as its header tells.
///
/// ```
/// use shm_ring::{SegmentKind, ShmProducer};
/// # let name = &format!("doc-kind-{}", std::process::id());
/// let producer = ShmProducer::create(name, 4096)?;
/// assert_eq!(shm_ring::inspect(name)?.kind, SegmentKind::ExtendedRing);
/// # producer.unlink()?;
/// # Ok::<(), shm_ring::OpenError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SegmentKind {
    /// A ring of the original layout: a valid header whose `reserved` word is 0, and no
    /// extension block (what the original library's producers make).
    OriginalRing,
    /// A ring with this project's extension block: `reserved` holds the `"SRX1"` marker and
    /// the block (flag bytes for sleeping, waking and liveness) fits in the object.
    ExtendedRing,
    /// A [`SharedBuffer`](crate::SharedBuffer): the header starts with the magic `"SRBF"`.
    /// [`SegmentInfo::buffer`] has its capacity and payload length.
    SharedBuffer,
    /// A [`BufferPool`](crate::BufferPool): the header starts with the magic `"SRPL"`.
    /// [`SegmentInfo::pool`] has its slot count, slot size and the slots' states.
    BufferPool,
    /// Anything else: an object that is not ready, too small, or whose header is not one of a
    /// ring ([`SegmentInfo::verdict`] says why).
    Other,
}

impl fmt::Display for SegmentKind {
    /// `original ring`, `extended ring`, `shared buffer`, `buffer pool` or `other`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SegmentKind::OriginalRing => "original ring",
            SegmentKind::ExtendedRing => "extended ring",
            SegmentKind::SharedBuffer => "shared buffer",
            SegmentKind::BufferPool => "buffer pool",
            SegmentKind::Other => "other",
        })
    }
}

/// The four header words as read, each a little-endian `u32` at offsets 0, 4, 8 and 12.
///
/// ```
/// use shm_ring::ShmProducer;
/// # let name = &format!("doc-header-{}", std::process::id());
/// let mut producer = ShmProducer::create(name, 4096)?;
/// producer.try_write(b"hello")?;
/// let header = shm_ring::inspect(name)?.header.expect("16 bytes or more");
/// assert_eq!((header.head, header.tail, header.capacity), (9, 0, 4096));
/// assert_eq!(header.reserved.to_le_bytes(), *b"SRX1");
/// # producer.unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Stream index of the next byte the producer writes.
    pub head: u32,
    /// Stream index of the next byte the consumer reads.
    pub tail: u32,
    /// Size of the data area in bytes (0 while the producer initialises the segment).
    pub capacity: u32,
    /// 0 in the original layout; `"SRX1"` (little-endian) when the extension block follows.
    pub reserved: u32,
}

/// The two flag bytes of the extension block, as read.
///
/// ```
/// use shm_ring::{ShmConsumer, ShmProducer};
/// # let name = &format!("doc-flags-{}", std::process::id());
/// let producer = ShmProducer::create(name, 4096)?;
/// let consumer = ShmConsumer::open(name)?;
/// let flags = shm_ring::inspect(name)?.extension.expect("our producer writes the block");
/// assert!(flags.producer_locked() && flags.consumer_locked());
/// assert!(!flags.producer_sleeping());
/// # drop(consumer);
/// # producer.unlink()?;
/// # Ok::<(), shm_ring::OpenError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtensionFlags {
    /// The producer's flag byte (offset 0 of the block).
    pub producer: u8,
    /// The consumer's flag byte (offset 1 of the block).
    pub consumer: u8,
}

impl ExtensionFlags {
    /// Whether the producer says it holds its liveness lock.
    ///
    /// ```
    /// let flags = shm_ring::ExtensionFlags { producer: 0x02, consumer: 0 };
    /// assert!(flags.producer_locked() && !flags.consumer_locked());
    /// ```
    pub fn producer_locked(&self) -> bool {
        self.producer & FLAG_LOCKED != 0
    }

    /// Whether the consumer says it holds its liveness lock.
    ///
    /// ```
    /// let flags = shm_ring::ExtensionFlags { producer: 0, consumer: 0x02 };
    /// assert!(flags.consumer_locked());
    /// ```
    pub fn consumer_locked(&self) -> bool {
        self.consumer & FLAG_LOCKED != 0
    }

    /// Whether the producer is asleep (or about to be) waiting for free space.
    ///
    /// ```
    /// let flags = shm_ring::ExtensionFlags { producer: 0x01, consumer: 0 };
    /// assert!(flags.producer_sleeping());
    /// ```
    pub fn producer_sleeping(&self) -> bool {
        self.producer & FLAG_SLEEPING != 0
    }

    /// Whether the consumer is asleep (or about to be) waiting for a message.
    ///
    /// ```
    /// let flags = shm_ring::ExtensionFlags { producer: 0, consumer: 0x01 };
    /// assert!(flags.consumer_sleeping());
    /// ```
    pub fn consumer_sleeping(&self) -> bool {
        self.consumer & FLAG_SLEEPING != 0
    }

    /// Whether the producer's process can be fenced with one `membarrier` call.
    ///
    /// ```
    /// let flags = shm_ring::ExtensionFlags { producer: 0x04, consumer: 0 };
    /// assert!(flags.producer_barrier() && !flags.consumer_barrier());
    /// ```
    pub fn producer_barrier(&self) -> bool {
        self.producer & FLAG_BARRIER != 0
    }

    /// Whether the consumer's process can be fenced with one `membarrier` call.
    ///
    /// ```
    /// let flags = shm_ring::ExtensionFlags { producer: 0, consumer: 0x04 };
    /// assert!(flags.consumer_barrier());
    /// ```
    pub fn consumer_barrier(&self) -> bool {
        self.consumer & FLAG_BARRIER != 0
    }
}

/// The verdict on a segment: [`Valid`](Verdict::Valid), or the first thing found wrong.
///
/// Its `Display` is one line naming the values that were wrong.
///
/// ```
/// use shm_ring::{ShmProducer, Verdict};
/// # let name = &format!("doc-verdict-{}", std::process::id());
/// let producer = ShmProducer::create(name, 4096)?;
/// let info = shm_ring::inspect(name)?;
/// assert_eq!(info.verdict, Verdict::Valid);
/// assert_eq!(info.verdict.to_string(), "valid");
/// # producer.unlink()?;
/// # Ok::<(), shm_ring::OpenError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The header is one of a ring, the indices are consistent and every waiting record is
    /// well formed.
    Valid,
    /// The object has size 0 or capacity word 0: its producer has not finished creating it.
    NotReady,
    /// The object is smaller than the 16-byte header.
    TooSmall {
        /// The object's size in bytes.
        size: u64,
    },
    /// The capacity word is not a power of two from 8 to 2^31.
    InvalidCapacity {
        /// The capacity word as read.
        capacity: u32,
    },
    /// The capacity word claims a data area larger than the object.
    CapacityExceedsSize {
        /// The capacity word as read.
        capacity: u32,
        /// The object's size in bytes.
        size: u64,
    },
    /// `reserved` is neither 0 nor the extension marker.
    UnknownReserved {
        /// The `reserved` word as read.
        reserved: u32,
    },
    /// `reserved` announces the extension block, but the object ends before the block does.
    ExtensionOutsideObject {
        /// The object's size in bytes.
        size: u64,
        /// The size the block needs the object to have.
        needed: u64,
    },
    /// `head` is more than `capacity` bytes ahead of `tail`.
    IndicesApart {
        /// The `head` word as read.
        head: u32,
        /// The `tail` word as read.
        tail: u32,
        /// The capacity word.
        capacity: u32,
    },
    /// A waiting record is malformed; the corruption names its stream index.
    Corrupted(Corruption),
    /// A shared buffer or buffer pool of a layout version this crate does not read.
    UnsupportedVersion {
        /// The `version` word as read.
        found: u32,
        /// The version this crate reads.
        supported: u32,
    },
    /// A shared buffer whose capacity word is 0 or above [`MAX_BUFFER_CAPACITY`](crate::MAX_BUFFER_CAPACITY).
    InvalidBufferCapacity {
        /// The `capacity` word as read.
        capacity: u64,
    },
    /// A buffer pool whose slot count or slot size is outside the limits
    /// ([`MAX_POOL_SLOTS`](crate::MAX_POOL_SLOTS), [`MAX_POOL_BYTES`](crate::MAX_POOL_BYTES)).
    InvalidPoolGeometry {
        /// The `slot_count` word as read.
        slot_count: u32,
        /// The `slot_size` word as read.
        slot_size: u64,
    },
    /// A buffer pool whose holder count is outside `1 ..= 256`.
    InvalidPoolHolders {
        /// The `holders` word as read.
        found: u32,
        /// The most holder entries a pool may have.
        max: u32,
    },
    /// A shared buffer or buffer pool whose header (or the capacity or geometry it gives)
    /// needs more bytes than the object has.
    LayoutExceedsSize {
        /// The bytes the layout needs.
        needed: u64,
        /// The object's size in bytes.
        size: u64,
    },
    /// A shared buffer whose `length` word is larger than its capacity (its writer is not
    /// in the middle of a write).
    LengthExceedsCapacity {
        /// The `length` word as read.
        length: u64,
        /// The `capacity` word.
        capacity: u64,
    },
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Verdict::Valid => f.write_str("valid"),
            Verdict::NotReady => f.write_str("not ready: size or capacity word is still 0"),
            Verdict::TooSmall { size } => {
                write!(f, "{size} bytes, smaller than the {HEADER_LEN}-byte header")
            }
            Verdict::InvalidCapacity { capacity } => write!(
                f,
                "capacity {capacity} is not a power of two from 8 to 2^31"
            ),
            Verdict::CapacityExceedsSize { capacity, size } => write!(
                f,
                "capacity {capacity} needs {} bytes, but the object has {size}",
                HEADER_LEN as u64 + u64::from(capacity)
            ),
            Verdict::UnknownReserved { reserved } => write!(
                f,
                "reserved word {reserved:#010x} is neither 0 nor the extension marker"
            ),
            Verdict::ExtensionOutsideObject { size, needed } => write!(
                f,
                "the extension block needs {needed} bytes, but the object has {size}"
            ),
            Verdict::IndicesApart {
                head,
                tail,
                capacity,
            } => write!(
                f,
                "head {head} is {} bytes ahead of tail {tail}, more than capacity {capacity}",
                head.wrapping_sub(tail)
            ),
            Verdict::Corrupted(corruption) => write!(f, "corrupted: {corruption}"),
            Verdict::UnsupportedVersion { found, supported } => write!(
                f,
                "layout version {found} is not the supported version {supported}"
            ),
            Verdict::InvalidBufferCapacity { capacity } => write!(
                f,
                "capacity {capacity} is not from 1 to {}",
                buffer::layout::MAX_BUFFER_CAPACITY
            ),
            Verdict::InvalidPoolGeometry {
                slot_count,
                slot_size,
            } => write!(
                f,
                "{slot_count} slots of {slot_size} bytes is outside the limits (1 to {} slots, \
                 1 to {} bytes in all)",
                pool::layout::MAX_POOL_SLOTS,
                pool::layout::MAX_POOL_BYTES
            ),
            Verdict::InvalidPoolHolders { found, max } => write!(
                f,
                "{found} holder entries is outside the limits (1 to {max})"
            ),
            Verdict::LayoutExceedsSize { needed, size } => {
                write!(
                    f,
                    "the layout needs {needed} bytes, but the object has {size}"
                )
            }
            Verdict::LengthExceedsCapacity { length, capacity } => write!(
                f,
                "payload length {length} is larger than capacity {capacity}"
            ),
        }
    }
}

/// The messages waiting between `tail` and `head`, walked from tail to head.
///
/// ```
/// use shm_ring::ShmProducer;
/// # let name = &format!("doc-waiting-{}", std::process::id());
/// let mut producer = ShmProducer::create(name, 4096)?;
/// producer.try_write_batch(&[&b"one"[..], b"three"])?;
/// let waiting = shm_ring::inspect(name)?.messages.expect("a valid ring");
/// assert_eq!((waiting.count, waiting.payload_bytes), (2, 8));
/// assert_eq!(waiting.sizes, [3, 5]);
/// # producer.unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WaitingMessages {
    /// Well-formed messages found before `head` (or before a corrupt record).
    pub count: u64,
    /// Their payload bytes, length prefixes not included.
    pub payload_bytes: u64,
    /// The payload sizes in bytes of the first [`LISTED_SIZES`] of them, oldest first.
    pub sizes: Vec<u32>,
}

/// What [`inspect`] found in a shared buffer's header.
///
/// ```
/// use shm_ring::{PeerState, SharedBuffer};
/// # let name = &format!("doc-buffer-info-{}", std::process::id());
/// let mut buffer = SharedBuffer::create(name, 1000)?;
/// buffer.write(b"mesh")?;
/// let info = shm_ring::inspect(name)?;
/// let found = info.buffer.expect("a shared buffer");
/// assert_eq!((found.capacity, found.data_len), (1000, 4));
/// assert_eq!((info.producer, found.writer), (PeerState::Alive, PeerState::Alive));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BufferInfo {
    /// The payload capacity in bytes.
    pub capacity: u64,
    /// The payload's length in bytes as last written (meaningless while `sequence` is odd).
    pub data_len: u64,
    /// The seqlock's sequence word: odd while a write is under way, two more per write.
    pub sequence: u64,
    /// Whether the process holding the writer lock is alive (judged as
    /// [`SegmentInfo::producer`] is).
    pub writer: PeerState,
}

/// What [`inspect`] found in a buffer pool's header and slot table: a snapshot of the slots'
/// states, which other processes change at any time.
///
/// ```
/// # let name = &format!("doc-pool-info-{}", std::process::id());
/// let pool = shm_ring::BufferPool::create(name, 4, 4096)?;
/// let loan = pool.try_acquire()?;
/// let found = shm_ring::inspect(name)?.pool.expect("a buffer pool");
/// assert_eq!((found.slot_count, found.slot_size), (4, 4096));
/// assert_eq!((found.free, found.filling), (3, 1));
/// assert_eq!(found.holders_alive, Some(true)); // this process has the pool open
/// assert_eq!((found.holders, found.live_holders), (shm_ring::POOL_HOLDERS, Some(1)));
/// # drop(loan);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolInfo {
    /// The number of slots.
    pub slot_count: u32,
    /// The size of each slot in bytes.
    pub slot_size: u64,
    /// Slots free to acquire (the pool's `available()`).
    pub free: u32,
    /// Slots a writer holds and fills (or whose writer died filling them).
    pub filling: u32,
    /// Slots published and not yet resolved.
    pub published: u32,
    /// Slots a reader holds (or whose reader died holding them).
    pub reading: u32,
    /// Whether any handle has the pool open now (holds a holder entry's liveness lock):
    /// `Some(false)` means every slot seen filling or reading belongs to a dead process;
    /// `None` when the OS cannot tell. Slots whose word holds no valid state are counted in
    /// none of the four counts.
    pub holders_alive: Option<bool>,
    /// The number of entries of the pool's holder table: how many handles may have it open
    /// at once.
    pub holders: u32,
    /// How many of those entries a live handle holds now (the handles that have the pool
    /// open, in all processes); `None` when the OS cannot tell.
    pub live_holders: Option<u32>,
}

/// What [`inspect`] found in a segment.
///
/// A snapshot: a live producer or consumer may change it right after.
///
/// ```ignore-windows
/// use shm_ring::{PeerState, SegmentKind, ShmProducer, Verdict};
/// # let name = &format!("doc-info-{}", std::process::id());
/// let mut producer = shm_ring::ProducerOptions::new().mode(0o640).create(name, 4096)?;
/// producer.try_write(b"waiting")?;
/// let info = shm_ring::inspect(name)?;
/// assert_eq!((info.kind, info.verdict), (SegmentKind::ExtendedRing, Verdict::Valid));
/// assert_eq!((info.producer, info.consumer), (PeerState::Alive, PeerState::Unknown));
/// assert_eq!((info.mode, info.readable_bytes), (0o640, Some(11)));
/// # producer.unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentInfo {
    /// The segment name, without a leading `/`.
    pub name: String,
    /// The object's size in bytes (on Windows, whole pages: what the mapping holds).
    pub size: u64,
    /// The object's permission bits (`0o7777` of its mode); 0 on Windows, which has access
    /// control lists instead.
    pub mode: u32,
    /// The user id of the object's owner; 0 on Windows.
    pub uid: u32,
    /// What the object holds.
    pub kind: SegmentKind,
    /// The header words; `None` for an object smaller than the header.
    pub header: Option<Header>,
    /// The extension block's flag bytes, for an [`ExtendedRing`](SegmentKind::ExtendedRing).
    pub extension: Option<ExtensionFlags>,
    /// Whether the producer's process is alive (for a shared buffer or buffer pool, the
    /// process of the handle that created it, its owner, whose lock is on the same byte): its
    /// liveness lock held means [`Alive`](PeerState::Alive); a producer that said it held the
    /// lock and no longer does is [`Gone`](PeerState::Gone); otherwise
    /// [`Unknown`](PeerState::Unknown). Probed with `F_OFD_GETLK`, which takes nothing.
    pub producer: PeerState,
    /// Whether a ring's consumer's process is alive, judged as for
    /// [`producer`](Self::producer); [`Unknown`](PeerState::Unknown) for other kinds.
    pub consumer: PeerState,
    /// The verdict on the header and the waiting records.
    pub verdict: Verdict,
    /// Bytes between `tail` and `head` (length prefixes included), for a ring whose header is
    /// valid and whose indices are at most `capacity` apart.
    pub readable_bytes: Option<u32>,
    /// The waiting messages, for a ring whose indices are consistent; up to a corrupt record
    /// if there is one.
    pub messages: Option<WaitingMessages>,
    /// For a [`SharedBuffer`](SegmentKind::SharedBuffer) of the supported layout version: its
    /// capacity, payload length and writer.
    pub buffer: Option<BufferInfo>,
    /// For a [`BufferPool`](SegmentKind::BufferPool) of a valid geometry: its slots.
    pub pool: Option<PoolInfo>,
}

/// Looks at the segment `name` (with or without a leading `/`) without taking part in it.
///
/// Opens and maps the object read-only, reads its header, probes both liveness locks with
/// `F_OFD_GETLK` (which takes nothing, so no producer or consumer is disturbed) and walks the
/// waiting records from `tail` to `head` without moving either. Only the header is mapped
/// until the capacity word is validated against the object's size, so a hostile or damaged
/// object costs nothing to inspect: whatever it holds comes back as a [`Verdict`].
///
/// Fails only when the object cannot be looked at: [`OpenError::InvalidName`],
/// [`OpenError::NotFound`], [`OpenError::PermissionDenied`] (no read permission), or
/// [`OpenError::Io`] for another failed OS call.
///
/// ```ignore-windows
/// use shm_ring::{OpenError, ShmProducer};
/// # let name = &format!("doc-inspect-{}", std::process::id());
/// let mut producer = ShmProducer::create(name, 4096)?;
/// producer.try_write_batch(&[&b"a"[..], b"bb", b"ccc"])?;
/// let info = shm_ring::inspect(name)?;
/// assert_eq!(info.messages.unwrap().sizes, [1, 2, 3]);
/// assert_eq!(producer.readable_bytes(), 18); // nothing was consumed
/// producer.unlink()?;
/// assert!(matches!(shm_ring::inspect(name), Err(OpenError::NotFound { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn inspect(name: &str) -> Result<SegmentInfo, OpenError> {
    let (bare, os_name) = names(name)?;
    let object = os::Object::open_read_only(&os_name).map_err(|e| os_error(&bare, e))?;
    inspect_object(bare, &object)
}

/// [`inspect`] of an object already open (read-only or read-write) under the name `bare`.
/// Liveness locks held through `object` itself do not count as held.
pub(crate) fn inspect_object(bare: String, object: &os::Object) -> Result<SegmentInfo, OpenError> {
    let (size, _) = object.stat().map_err(|e| os_error(&bare, e))?;
    let (mode, uid) = object.mode_and_owner().map_err(|e| os_error(&bare, e))?;
    let mut info = SegmentInfo {
        name: bare.clone(),
        size,
        mode,
        uid,
        kind: SegmentKind::Other,
        header: None,
        extension: None,
        producer: PeerState::Unknown,
        consumer: PeerState::Unknown,
        verdict: Verdict::NotReady,
        readable_bytes: None,
        messages: None,
        buffer: None,
        pool: None,
    };
    // Our producers lock their byte before the object is even sized: probe in any case.
    info.producer = side_state(object, PRODUCER_LOCK_BYTE, false);
    info.consumer = side_state(object, CONSUMER_LOCK_BYTE, false);
    if size == 0 {
        return Ok(info);
    }
    if size < HEADER_LEN as u64 {
        info.verdict = Verdict::TooSmall { size };
        return Ok(info);
    }
    let header = {
        let mapped = object
            .map_read_only(HEADER_LEN)
            .map_err(|e| os_error(&bare, e))?;
        Header {
            head: mapped.load_word(HEAD),
            tail: mapped.load_word(TAIL),
            capacity: mapped.load_word(CAPACITY),
            reserved: mapped.load_word(RESERVED),
        }
    };
    // A buffer's or pool's magic where a ring has its head word. (A ring whose head index
    // happens to equal a magic is then reported as that kind with a failed verdict: inspect
    // errs towards "not a valid segment", never the reverse.)
    match header.head {
        buffer::layout::MAGIC => return inspect_buffer(&bare, object, size, info),
        pool::layout::MAGIC => return inspect_pool(&bare, object, size, info),
        _ => {}
    }
    info.header = Some(header);
    let capacity = header.capacity;
    if capacity == 0 {
        return Ok(info);
    }
    if !layout::is_valid_capacity(capacity) {
        info.verdict = Verdict::InvalidCapacity { capacity };
        return Ok(info);
    }
    let data_end = HEADER_LEN as u64 + u64::from(capacity);
    if data_end > size {
        info.verdict = Verdict::CapacityExceedsSize { capacity, size };
        return Ok(info);
    }
    let extension_end = (layout::extension_offset(capacity) + EXTENSION_LEN) as u64;
    let mapped_len = match header.reserved {
        0 => data_end,
        EXTENSION_MARKER if extension_end <= size => extension_end,
        EXTENSION_MARKER => {
            info.verdict = Verdict::ExtensionOutsideObject {
                size,
                needed: extension_end,
            };
            return Ok(info);
        }
        reserved => {
            info.verdict = Verdict::UnknownReserved { reserved };
            return Ok(info);
        }
    };
    // At most 16 + 2^31 + 128 bytes, checked against the object's size above.
    let len = usize::try_from(mapped_len).map_err(|_| OpenError::Io {
        name: bare.clone(),
        operation: "mmap",
        source: io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!("a {mapped_len}-byte ring does not fit the address space"),
        ),
    })?;
    let mut region = object.map_read_only(len).map_err(|e| os_error(&bare, e))?;
    region.limit_data(data_end as usize);
    if header.reserved == EXTENSION_MARKER {
        let block = layout::extension_offset(capacity);
        let flags = ExtensionFlags {
            producer: region.load_flag(block + PRODUCER_FLAGS),
            consumer: region.load_flag(block + CONSUMER_FLAGS),
        };
        info.kind = SegmentKind::ExtendedRing;
        info.extension = Some(flags);
        info.producer = side_state(object, PRODUCER_LOCK_BYTE, flags.producer_locked());
        info.consumer = side_state(object, CONSUMER_LOCK_BYTE, flags.consumer_locked());
    } else {
        info.kind = SegmentKind::OriginalRing;
    }
    let walked = walk(&region, capacity);
    info.header = Some(Header {
        head: walked.head,
        tail: walked.tail,
        ..header
    });
    info.verdict = walked.verdict;
    info.readable_bytes = walked.readable;
    info.messages = walked.messages;
    Ok(info)
}

/// The rest of [`inspect_object`] for an object whose first word is a shared buffer's magic.
fn inspect_buffer(
    bare: &str,
    object: &os::Object,
    size: u64,
    mut info: SegmentInfo,
) -> Result<SegmentInfo, OpenError> {
    use buffer::layout::{
        is_valid_capacity, segment_len, CAPACITY_OFFSET, FLAGS_OFFSET, FLAG_LOCKED, HEADER_LEN,
        LENGTH_OFFSET, SEQUENCE_OFFSET, VERSION, VERSION_OFFSET, WRITER_LOCK_BYTE,
    };
    info.kind = SegmentKind::SharedBuffer;
    if size < HEADER_LEN as u64 {
        info.verdict = Verdict::LayoutExceedsSize {
            needed: HEADER_LEN as u64,
            size,
        };
        return Ok(info);
    }
    let words = object
        .map_words(HEADER_LEN)
        .map_err(|e| os_error(bare, e))?;
    let locked = words.load32(FLAGS_OFFSET) & FLAG_LOCKED != 0;
    info.producer = side_state(object, PRODUCER_LOCK_BYTE, locked);
    let version = words.load32(VERSION_OFFSET);
    if version != VERSION {
        info.verdict = Verdict::UnsupportedVersion {
            found: version,
            supported: VERSION,
        };
        return Ok(info);
    }
    let capacity = words.load64(CAPACITY_OFFSET);
    let sequence = words.load64(SEQUENCE_OFFSET);
    let data_len = words.load64(LENGTH_OFFSET);
    info.buffer = Some(BufferInfo {
        capacity,
        data_len,
        sequence,
        writer: side_state(object, WRITER_LOCK_BYTE, locked),
    });
    info.verdict = if !is_valid_capacity(capacity) {
        Verdict::InvalidBufferCapacity { capacity }
    } else if segment_len(capacity) > size {
        Verdict::LayoutExceedsSize {
            needed: segment_len(capacity),
            size,
        }
    } else if sequence % 2 == 0 && data_len > capacity {
        Verdict::LengthExceedsCapacity {
            length: data_len,
            capacity,
        }
    } else {
        Verdict::Valid
    };
    Ok(info)
}

/// The rest of [`inspect_object`] for an object whose first word is a buffer pool's magic.
fn inspect_pool(
    bare: &str,
    object: &os::Object,
    size: u64,
    mut info: SegmentInfo,
) -> Result<SegmentInfo, OpenError> {
    use pool::layout::{
        data_offset, entry_offset, holder_lock_byte, is_valid_geometry, is_valid_holder_count,
        segment_len, split_word, FILLING, FLAGS_OFFSET, FLAG_LOCKED, FREE, HEADER_LEN,
        HOLDERS_OFFSET, MAX_HOLDERS, PUBLISHED, READING, SLOT_COUNT_OFFSET, SLOT_SIZE_OFFSET,
        VERSION, VERSION_OFFSET,
    };
    info.kind = SegmentKind::BufferPool;
    if size < HEADER_LEN as u64 {
        info.verdict = Verdict::LayoutExceedsSize {
            needed: HEADER_LEN as u64,
            size,
        };
        return Ok(info);
    }
    let (locked, version, slot_count, slot_size, holders) = {
        let words = object
            .map_words(HEADER_LEN)
            .map_err(|e| os_error(bare, e))?;
        (
            words.load32(FLAGS_OFFSET) & FLAG_LOCKED != 0,
            words.load32(VERSION_OFFSET),
            words.load32(SLOT_COUNT_OFFSET),
            words.load64(SLOT_SIZE_OFFSET),
            words.load32(HOLDERS_OFFSET),
        )
    };
    info.producer = side_state(object, PRODUCER_LOCK_BYTE, locked);
    if version != VERSION {
        info.verdict = Verdict::UnsupportedVersion {
            found: version,
            supported: VERSION,
        };
        return Ok(info);
    }
    if !is_valid_geometry(slot_count, slot_size) {
        info.verdict = Verdict::InvalidPoolGeometry {
            slot_count,
            slot_size,
        };
        return Ok(info);
    }
    if !is_valid_holder_count(holders) {
        info.verdict = Verdict::InvalidPoolHolders {
            found: holders,
            max: MAX_HOLDERS,
        };
        return Ok(info);
    }
    let needed = segment_len(slot_count, slot_size, holders);
    if needed > size {
        info.verdict = Verdict::LayoutExceedsSize { needed, size };
        return Ok(info);
    }
    // The header, the slot table and the holder table: at most 64 + 16 * 2^16 + 8 * 256
    // bytes, inside the object (checked above).
    let table = object
        .map_words(data_offset(slot_count, holders) as usize)
        .map_err(|e| os_error(bare, e))?;
    // One probe for the whole table, then, if any is held, one per entry.
    let mut live_holders = Some(0);
    let any = object.is_range_locked(holder_lock_byte(0), u64::from(holders));
    let holders_to_probe = match any {
        Ok(Some(false)) => 0,
        Ok(Some(true)) => holders,
        _ => {
            live_holders = None;
            0
        }
    };
    for holder in 0..holders_to_probe {
        match object.is_locked(holder_lock_byte(holder)) {
            Ok(Some(true)) => live_holders = live_holders.map(|n| n + 1),
            Ok(Some(false)) => {}
            _ => {
                live_holders = None;
                break;
            }
        }
    }
    let mut found = PoolInfo {
        slot_count,
        slot_size,
        free: 0,
        filling: 0,
        published: 0,
        reading: 0,
        holders_alive: live_holders.map(|n| n > 0),
        holders,
        live_holders,
    };
    for slot in 0..slot_count {
        match split_word(table.load64(entry_offset(slot))).0 {
            FREE => found.free += 1,
            FILLING => found.filling += 1,
            PUBLISHED => found.published += 1,
            READING => found.reading += 1,
            _ => {}
        }
    }
    info.pool = Some(found);
    info.verdict = Verdict::Valid;
    Ok(info)
}

/// The state of the side whose liveness lock covers `byte`, which says (`announced`) in its
/// flag byte whether it holds one.
fn side_state(object: &os::Object, byte: u64, announced: bool) -> PeerState {
    match object.is_locked(byte) {
        Ok(Some(true)) => PeerState::Alive,
        Ok(Some(false)) if announced => PeerState::Gone,
        // No lock to tell by, or an error asking the kernel: nothing is known.
        _ => PeerState::Unknown,
    }
}

/// What one walk from tail to head found.
struct Walk {
    head: u32,
    tail: u32,
    verdict: Verdict,
    readable: Option<u32>,
    messages: Option<WaitingMessages>,
}

/// Walks the records from `tail` to `head`, again if the consumer moved `tail` meanwhile (it
/// may then have freed records the producer overwrote while they were read).
fn walk(region: &ReadOnlyRegion, capacity: u32) -> Walk {
    let mut attempt = 0;
    loop {
        let tail = region.load_word(TAIL);
        let head = region.load_word(HEAD);
        let walked = walk_once(region, capacity, head, tail);
        attempt += 1;
        if region.load_word(TAIL) == tail || attempt == WALK_ATTEMPTS {
            return walked;
        }
    }
}

fn walk_once(region: &ReadOnlyRegion, capacity: u32, head: u32, tail: u32) -> Walk {
    let readable = head.wrapping_sub(tail);
    if readable > capacity {
        return Walk {
            head,
            tail,
            verdict: Verdict::IndicesApart {
                head,
                tail,
                capacity,
            },
            readable: None,
            messages: None,
        };
    }
    let prefix_len = PREFIX_LEN as u32;
    let max = layout::max_payload(capacity);
    let mut messages = WaitingMessages::default();
    let mut cursor = tail;
    let mut verdict = Verdict::Valid;
    // Each record advances the cursor by at least the prefix, and the cursor never passes
    // head (checked), so this ends after at most capacity / 4 records.
    while cursor != head {
        let left = head.wrapping_sub(cursor);
        if left < prefix_len {
            verdict = Verdict::Corrupted(Corruption::TruncatedPrefix {
                tail: cursor,
                readable: left,
            });
            break;
        }
        let mut prefix = [0u8; PREFIX_LEN];
        read_wrapped(region, capacity, cursor, &mut prefix);
        let length = u32::from_le_bytes(prefix);
        if length > max {
            verdict = Verdict::Corrupted(Corruption::LengthTooLarge {
                tail: cursor,
                length,
                max,
            });
            break;
        }
        if prefix_len + length > left {
            verdict = Verdict::Corrupted(Corruption::LengthExceedsPublished {
                tail: cursor,
                length,
                readable: left,
            });
            break;
        }
        messages.count += 1;
        messages.payload_bytes += u64::from(length);
        if messages.sizes.len() < LISTED_SIZES {
            messages.sizes.push(length);
        }
        cursor = cursor.wrapping_add(prefix_len + length);
    }
    Walk {
        head,
        tail,
        verdict,
        readable: Some(readable),
        messages: Some(messages),
    }
}

/// Copies bytes from stream index `index` into `out` (at most `capacity` bytes), wrapping at
/// the end of the data area.
fn read_wrapped(region: &ReadOnlyRegion, capacity: u32, index: u32, out: &mut [u8]) {
    let start = (index & (capacity - 1)) as usize;
    let first = out.len().min(capacity as usize - start);
    let (a, b) = out.split_at_mut(first);
    region.read(HEADER_LEN + start, a);
    region.read(HEADER_LEN, b);
}

/// A segment found by [`list`]: its name, and what [`inspect`] made of it.
pub type ListedSegment = (String, Result<SegmentInfo, OpenError>);

/// Every shared-memory object on the machine whose name is a valid segment name, each with
/// what [`inspect`] found (or why it could not look), sorted by name.
///
/// Reads the directory where Linux keeps POSIX shared memory, `/dev/shm`; objects there that
/// are not regular files, or whose names no segment can have, are left out. Objects of other
/// programs are included: their [`SegmentInfo::kind`] is [`SegmentKind::Other`]. Fails with
/// the directory's I/O error if it cannot be read, and with [`io::ErrorKind::Unsupported`]
/// where the OS lists shared memory nowhere (macOS, Windows).
///
/// ```ignore-windows
/// use shm_ring::ShmProducer;
/// # let name = &format!("doc-list-{}", std::process::id());
/// let producer = ShmProducer::create(name, 4096)?;
/// let all = shm_ring::list()?;
/// let (_, found) = all.iter().find(|(listed, _)| listed == name).expect("listed");
/// assert_eq!(found.as_ref().unwrap().size, 4224);
/// # producer.unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn list() -> io::Result<Vec<ListedSegment>> {
    #[cfg(target_os = "linux")]
    {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/dev/shm")? {
            let entry = entry?;
            // A file type that cannot be read is left out, as a directory would be.
            if !entry.file_type().is_ok_and(|kind| kind.is_file()) {
                continue;
            }
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if layout::bare_name(&name).is_err() {
                continue;
            }
            let info = inspect(&name);
            found.push((name, info));
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    return Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this OS keeps POSIX shared memory in no directory that can be listed",
    ));
    #[cfg(windows)]
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "Windows offers no documented way to list named mappings",
    ))
}
