//! The single-producer/single-consumer algorithm over a [`Region`], with no OS calls.
//!
//! # Indices
//! `head` counts every byte the producer ever published and `tail` every byte the consumer
//! ever released, both modulo 2^32, so `head - tail` (wrapping) is the number of unread bytes.
//! Each side keeps its own index locally and a cached copy of the other side's, and reads the
//! shared word only when the cache says there is not enough: the common case touches the
//! shared cache line once per publish.
//!
//! # Ordering
//! The producer copies a record into free space and then stores `head` with `Release`; the
//! consumer loads `head` with `Acquire` before reading the record. Symmetrically the consumer
//! copies a record out and then stores `tail` with `Release`; the producer loads `tail` with
//! `Acquire` before reusing the space. These two happens-before edges are the whole
//! synchronisation, and the loom model in `tests/loom.rs` checks them.
//!
//! # Sleeping and waking
//! The ring makes no OS calls. `publish` and `release` say whether the other side has flagged
//! itself as sleeping (its flag byte in the extension block past the data area, on a cache
//! line of its own), so that the caller wakes it; each side
//! remembers the raw value of the other side's index its last failed attempt saw, which is the
//! value a sleeper passes to `FUTEX_WAIT`. See `wait.rs` for the protocol.
//!
//! # Values from the other process
//! A shared index word may be torn, stale or hostile. A value that would make more than
//! `capacity` bytes unread, or move the other side backwards past what this side has already
//! seen, is ignored and the cached value kept: "full" for the producer, "nothing new" for the
//! consumer. A record whose length prefix cannot be right is reported as [`Corruption`].
//! Indices only ever reach memory masked by the capacity, and [`Region`] checks every access
//! against its own length besides.

use std::cell::Cell;
use std::sync::atomic::compiler_fence;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};

use crate::error::{Corruption, TryWriteError};
use crate::layout::{
    capacity_for_message, extension_offset, max_payload, CAPACITY, CONSUMER_FLAGS, EXTENSION_LEN,
    EXTENSION_MARKER, FLAG_SLEEPING, HEAD, HEADER_LEN, PREFIX_LEN, PRODUCER_FLAGS, RESERVED, TAIL,
};
use crate::region::Region;

/// An index word as the sleeping protocol (`wait.rs`) sees it.
#[cfg(not(loom))]
type IndexWord = std::sync::atomic::AtomicU32;

/// [`PREFIX_LEN`] as a stream-index distance.
const PREFIX: u32 = PREFIX_LEN as u32;

/// Copies `bytes` into the data area at stream index `index`, wrapping at the end.
///
/// Inlined so that the 4-byte prefix becomes a fixed-size store; the rare wrapped case is out
/// of line.
#[inline]
fn put(region: &mut Region, capacity: u32, index: u32, bytes: &[u8]) {
    let start = (index & (capacity - 1)) as usize;
    if start + bytes.len() <= capacity as usize {
        region.write(HEADER_LEN + start, bytes);
    } else {
        put_wrapped(region, capacity as usize, start, bytes);
    }
}

#[cold]
fn put_wrapped(region: &mut Region, capacity: usize, start: usize, bytes: &[u8]) {
    let (first, second) = bytes.split_at(capacity - start);
    region.write(HEADER_LEN + start, first);
    region.write(HEADER_LEN, second);
}

/// Copies bytes from stream index `index` into `out`, wrapping at the end.
#[inline]
fn get(region: &Region, capacity: u32, index: u32, out: &mut [u8]) {
    let start = (index & (capacity - 1)) as usize;
    if start + out.len() <= capacity as usize {
        region.read(HEADER_LEN + start, out);
    } else {
        get_wrapped(region, capacity as usize, start, out);
    }
}

#[cold]
fn get_wrapped(region: &Region, capacity: usize, start: usize, out: &mut [u8]) {
    let (first, second) = out.split_at_mut(capacity - start);
    region.read(HEADER_LEN + start, first);
    region.read(HEADER_LEN, second);
}

/// The data-area spans `(offset, len)` of `len` bytes from stream index `index`: one span, or
/// two when they wrap (the second then starts at the data area's first byte).
#[cfg(not(loom))]
#[inline]
fn spans(capacity: u32, index: u32, len: u32) -> ((usize, usize), (usize, usize)) {
    let start = (index & (capacity - 1)) as usize;
    let len = len as usize;
    let first = len.min(capacity as usize - start);
    ((HEADER_LEN + start, first), (HEADER_LEN, len - first))
}

/// A record found by [`RingConsumer::next_record`]: where its payload starts and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Stream index of the payload's first byte.
    start: u32,
    /// Payload length in bytes.
    len: u32,
}

impl Record {
    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the payload is empty (another peer wrote a zero-length record).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Takes `region` as an initialised ring of `capacity` bytes for one side: ends its data area
/// at the ring's, and, if the producer marked the segment as carrying the extension block and
/// the block fits, writes `flags` into that side's flag byte (at `own_flags` in the block).
/// Returns where the block starts, if it is there.
///
/// # Panics
/// If `capacity` is not a valid capacity or the region is too small for it; callers validate
/// both first.
fn join_ring(region: &mut Region, capacity: u32, own_flags: usize, flags: u8) -> Option<usize> {
    assert!(
        crate::layout::is_valid_capacity(capacity)
            && HEADER_LEN + capacity as usize <= region.len(),
        "capacity {capacity} does not fit a {}-byte region",
        region.len()
    );
    region.limit_data(HEADER_LEN + capacity as usize);
    let start = extension_offset(capacity);
    let extension = (region.word(RESERVED).load(Acquire) == EXTENSION_MARKER
        && start + EXTENSION_LEN <= region.len())
    .then_some(start);
    if let Some(extension) = extension {
        region.flag(extension + own_flags).store(flags, SeqCst);
    }
    extension
}

/// The producer's side of a ring: writes records and publishes `head`.
pub struct RingProducer {
    region: Region,
    capacity: u32,
    /// The last `head` this side published.
    head: u32,
    /// End of the records written so far; ahead of `head` only while a batch is staged.
    cursor: u32,
    /// The last `tail` accepted from the consumer. Invariant: `cursor - cached_tail <= capacity`.
    /// A `Cell`, so that queries on `&self` can refresh it.
    cached_tail: Cell<u32>,
    /// The raw `tail` the last load saw, plausible or not.
    seen_tail: Cell<u32>,
    /// This side's flag byte, without [`FLAG_SLEEPING`]. Only Linux's futex sleep writes it
    /// again (with the sleeping bit); elsewhere it is written once, on attaching.
    #[cfg_attr(any(loom, not(target_os = "linux")), allow(dead_code))]
    flags: u8,
    /// Where the extension block starts; `None` only for a ring taken over from a producer
    /// that made none (the original library's layout), which then has no flags to read or
    /// write.
    extension: Option<usize>,
}

impl RingProducer {
    /// Initialises `region` as an empty ring of `capacity` bytes whose indices start at
    /// `start`, with `flags` in the producer's flag byte, and returns its producer side.
    ///
    /// The capacity word is written last, with `Release`: a consumer that sees it non-zero sees
    /// the rest of the header too.
    ///
    /// # Panics
    /// If `capacity` is not a valid capacity or the region is too small for it; callers
    /// validate both first.
    pub(crate) fn create(mut region: Region, capacity: u32, start: u32, flags: u8) -> RingProducer {
        let extension = extension_offset(capacity);
        assert!(
            crate::layout::is_valid_capacity(capacity) && extension + EXTENSION_LEN <= region.len(),
            "capacity {capacity} and its extension block do not fit a {}-byte region",
            region.len()
        );
        region.limit_data(HEADER_LEN + capacity as usize);
        region.word(HEAD).store(start, Relaxed);
        region.word(TAIL).store(start, Relaxed);
        region.word(RESERVED).store(EXTENSION_MARKER, Relaxed);
        for offset in extension..extension + EXTENSION_LEN {
            region.flag(offset).store(0, Relaxed);
        }
        region
            .flag(extension + PRODUCER_FLAGS)
            .store(flags, Relaxed);
        region.word(CAPACITY).store(capacity, Release);
        RingProducer {
            region,
            capacity,
            head: start,
            cursor: start,
            cached_tail: Cell::new(start),
            seen_tail: Cell::new(start),
            flags,
            extension: Some(extension),
        }
    }

    /// The producer's side of an initialised ring of `capacity` bytes whose producer is gone,
    /// writing on after the shared head: what was published stays, unread or not. If the ring
    /// carries the extension block and the block fits, writes `flags` into the producer's flag
    /// byte.
    ///
    /// A shared tail that cannot be right (more than `capacity` bytes behind the head) counts
    /// as a full ring until the consumer stores a plausible one.
    ///
    /// # Panics
    /// If `capacity` is not a valid capacity or the region is too small for it; callers
    /// validate both first.
    #[cfg(not(loom))]
    pub(crate) fn resume(mut region: Region, capacity: u32, flags: u8) -> RingProducer {
        let extension = join_ring(&mut region, capacity, PRODUCER_FLAGS, flags);
        let head = region.word(HEAD).load(Acquire);
        let tail = region.word(TAIL).load(Acquire);
        let tail = if head.wrapping_sub(tail) <= capacity {
            tail
        } else {
            head.wrapping_sub(capacity)
        };
        RingProducer {
            region,
            capacity,
            head,
            cursor: head,
            cached_tail: Cell::new(tail),
            seen_tail: Cell::new(tail),
            flags,
            extension,
        }
    }

    /// Capacity of the data area in bytes.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The largest payload one record can carry.
    pub fn max_payload(&self) -> u32 {
        max_payload(self.capacity)
    }

    /// Free bytes after the cursor, by the cached tail.
    #[inline]
    fn cached_free(&self) -> u32 {
        self.capacity
            .saturating_sub(self.cursor.wrapping_sub(self.cached_tail.get()))
    }

    /// Loads the shared tail and caches it if it is plausible: at most `capacity` bytes behind
    /// the cursor and not ahead of what this side has published.
    fn refresh_tail(&self) {
        let tail = self.region.word(TAIL).load(Acquire);
        self.seen_tail.set(tail);
        let unread = self.head.wrapping_sub(tail);
        let in_use = self.cursor.wrapping_sub(tail);
        if unread <= in_use && in_use <= self.capacity {
            self.cached_tail.set(tail);
        }
    }

    /// Whether `need` bytes are free after the cursor, re-reading the tail only if the cache
    /// says they are not.
    #[inline]
    fn has_room(&mut self, need: u32) -> bool {
        if self.cached_free() >= need {
            return true;
        }
        self.refresh_tail();
        self.cached_free() >= need
    }

    /// Checks a payload length: not empty, not larger than the ring can ever carry.
    #[inline]
    pub fn check_len(&self, len: usize) -> Result<u32, TryWriteError> {
        if len == 0 {
            return Err(TryWriteError::Empty);
        }
        let max = self.max_payload();
        if len > max as usize {
            return Err(TryWriteError::TooLarge {
                len,
                max: max as usize,
                needed_capacity: capacity_for_message(len),
            });
        }
        Ok(len as u32)
    }

    /// Writes one record after the cursor without publishing it.
    #[inline]
    pub fn stage(&mut self, payload: &[u8]) -> Result<(), TryWriteError> {
        let len = self.check_len(payload.len())?;
        if !self.has_room(PREFIX + len) {
            return Err(TryWriteError::Full);
        }
        put(
            &mut self.region,
            self.capacity,
            self.cursor,
            &len.to_le_bytes(),
        );
        put(
            &mut self.region,
            self.capacity,
            self.cursor.wrapping_add(PREFIX),
            payload,
        );
        self.cursor = self.cursor.wrapping_add(PREFIX + len);
        Ok(())
    }

    /// Bytes staged after the published head.
    #[inline]
    pub fn unpublished_bytes(&self) -> u32 {
        self.cursor.wrapping_sub(self.head)
    }

    /// Publishes every staged record with one `Release` store of `head`. Returns whether the
    /// consumer has flagged itself as sleeping, so the caller must wake it.
    #[must_use = "a sleeping consumer must be woken"]
    #[inline]
    pub fn publish(&mut self) -> bool {
        if self.cursor == self.head {
            return false;
        }
        self.head = self.cursor;
        self.region.word(HEAD).store(self.head, Release);
        // No CPU fence between the store and this load: a consumer about to sleep orders this
        // thread's accesses with a process-wide barrier (see wait.rs), so the common path stays
        // one store and one load of a cache line this side already owns. That barrier orders
        // instructions as they stand in the program, so the compiler must not hoist the load
        // above the store (a release store only keeps earlier accesses before it).
        compiler_fence(SeqCst);
        // (`--cfg shm_ring_no_wake` builds the ring without this check, only so that the bench
        // example can measure what it costs; such a build never wakes a sleeper.)
        match self.extension {
            Some(extension) if !cfg!(shm_ring_no_wake) => {
                self.region.flag(extension + CONSUMER_FLAGS).load(Relaxed) & FLAG_SLEEPING != 0
            }
            _ => false,
        }
    }

    /// Writes and publishes one record (the caller does not wake anyone).
    #[cfg(any(test, loom))]
    pub fn try_write(&mut self, payload: &[u8]) -> Result<(), TryWriteError> {
        self.stage(payload)?;
        let _ = self.publish();
        Ok(())
    }

    /// Makes room for a record of `len` payload bytes after the cursor, without writing it.
    /// Returns the checked length for [`payload_slices_mut`](Self::payload_slices_mut) and
    /// [`commit`](Self::commit).
    #[inline]
    pub fn reserve(&mut self, len: usize) -> Result<u32, TryWriteError> {
        let len = self.check_len(len)?;
        if !self.has_room(PREFIX + len) {
            return Err(TryWriteError::Full);
        }
        Ok(len)
    }

    /// The payload space of a record reserved with [`reserve`](Self::reserve), in place: one
    /// slice, or two when it wraps.
    #[cfg(not(loom))]
    #[inline]
    pub fn payload_slices_mut(&mut self, len: u32) -> (&mut [u8], &mut [u8]) {
        let (first, second) = spans(self.capacity, self.cursor.wrapping_add(PREFIX), len);
        self.region.slices_mut(first, second)
    }

    /// Writes the prefix of a record reserved with [`reserve`](Self::reserve) and publishes it.
    /// Returns whether the consumer must be woken.
    #[must_use = "a sleeping consumer must be woken"]
    #[inline]
    pub fn commit(&mut self, len: u32) -> bool {
        put(
            &mut self.region,
            self.capacity,
            self.cursor,
            &len.to_le_bytes(),
        );
        self.cursor = self.cursor.wrapping_add(PREFIX + len);
        self.publish()
    }

    /// The word this side publishes (`head`), which a sleeping consumer waits on.
    #[cfg(not(loom))]
    pub(crate) fn own_index(&self) -> &IndexWord {
        self.region.word(HEAD)
    }

    /// The word a sleeping producer waits on (`tail`), and its value at the last load.
    #[cfg(not(loom))]
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn sleep_target(&self) -> (&IndexWord, u32) {
        (self.region.word(TAIL), self.seen_tail.get())
    }

    /// Sets or clears [`FLAG_SLEEPING`] in the producer's flag byte.
    #[cfg(not(loom))]
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn set_sleeping(&self, sleeping: bool) {
        if let Some(extension) = self.extension {
            let flags = if sleeping {
                self.flags | FLAG_SLEEPING
            } else {
                self.flags
            };
            self.region
                .flag(extension + PRODUCER_FLAGS)
                .store(flags, SeqCst);
        }
    }

    /// The consumer's flag byte, or 0 (nothing announced) without an extension block.
    #[cfg(not(loom))]
    pub(crate) fn peer_flags(&self) -> u8 {
        self.extension.map_or(0, |extension| {
            self.region.flag(extension + CONSUMER_FLAGS).load(Acquire)
        })
    }

    /// Byte `offset` of the extension block, or 0 without one.
    #[cfg(not(loom))]
    pub(crate) fn extension_byte(&self, offset: usize) -> u8 {
        debug_assert!(offset < EXTENSION_LEN);
        self.extension.map_or(0, |extension| {
            self.region.flag(extension + offset).load(Acquire)
        })
    }

    /// Bytes published and not yet released by the consumer.
    pub fn readable_bytes(&self) -> u32 {
        self.refresh_tail();
        self.head.wrapping_sub(self.cached_tail.get())
    }

    /// Free bytes, by a fresh look at the consumer's tail.
    pub fn writable_bytes(&self) -> u32 {
        self.refresh_tail();
        self.cached_free()
    }
}

/// The consumer's side of a ring: reads records and publishes `tail`.
pub struct RingConsumer {
    region: Region,
    capacity: u32,
    /// The last `tail` this side published.
    tail: u32,
    /// Start of the next unread record; ahead of `tail` only during a batch.
    cursor: u32,
    /// The last `head` accepted from the producer. Invariant:
    /// `cursor - tail <= cached_head - tail <= capacity`. A `Cell`, so that queries on `&self`
    /// can refresh it.
    cached_head: Cell<u32>,
    /// The raw `head` the last load saw, plausible or not.
    seen_head: Cell<u32>,
    /// This side's flag byte, without [`FLAG_SLEEPING`]. Only Linux's futex sleep writes it
    /// again (with the sleeping bit); elsewhere it is written once, on attaching.
    #[cfg_attr(any(loom, not(target_os = "linux")), allow(dead_code))]
    flags: u8,
    /// Where the extension block starts, if the producer made one (one of the original
    /// library's does not, and then there are no flags to read or write).
    extension: Option<usize>,
}

impl RingConsumer {
    /// The consumer's side of an initialised ring of `capacity` bytes, resuming at the shared
    /// tail (where the last consumer stopped). If the producer marked the segment as carrying
    /// the extension block and the block fits, writes `flags` into the consumer's flag byte.
    ///
    /// # Panics
    /// If `capacity` is not a valid capacity or the region is too small for it; callers
    /// validate both first.
    pub(crate) fn attach(mut region: Region, capacity: u32, flags: u8) -> RingConsumer {
        let extension = join_ring(&mut region, capacity, CONSUMER_FLAGS, flags);
        let tail = region.word(TAIL).load(Acquire);
        RingConsumer {
            region,
            capacity,
            tail,
            cursor: tail,
            cached_head: Cell::new(tail),
            seen_head: Cell::new(tail),
            flags,
            extension,
        }
    }

    /// Capacity of the data area in bytes.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Loads the shared head, caches it if it is plausible (at most `capacity` bytes ahead of
    /// the tail and not behind the cursor), and returns the bytes readable after the cursor.
    fn refresh_head(&self) -> u32 {
        let head = self.region.word(HEAD).load(Acquire);
        self.seen_head.set(head);
        let unread = head.wrapping_sub(self.tail);
        let consumed = self.cursor.wrapping_sub(self.tail);
        if consumed <= unread && unread <= self.capacity {
            self.cached_head.set(head);
        }
        self.cached_head.get().wrapping_sub(self.cursor)
    }

    /// The record after the cursor, if one is published.
    ///
    /// Before reporting corruption it looks at the shared head once more, in case the cached
    /// value was a torn read.
    #[inline]
    pub fn next_record(&mut self) -> Result<Option<Record>, Corruption> {
        let mut readable = self.cached_head.get().wrapping_sub(self.cursor);
        if readable < PREFIX {
            readable = self.refresh_head();
            if readable == 0 {
                return Ok(None);
            }
            if readable < PREFIX {
                return Err(Corruption::TruncatedPrefix {
                    tail: self.cursor,
                    readable,
                });
            }
        }
        let mut prefix = [0u8; PREFIX_LEN];
        get(&self.region, self.capacity, self.cursor, &mut prefix);
        let length = u32::from_le_bytes(prefix);
        let max = max_payload(self.capacity);
        if length > max {
            return Err(Corruption::LengthTooLarge {
                tail: self.cursor,
                length,
                max,
            });
        }
        if PREFIX + length > readable {
            readable = self.refresh_head();
            if PREFIX + length > readable {
                return Err(Corruption::LengthExceedsPublished {
                    tail: self.cursor,
                    length,
                    readable,
                });
            }
        }
        Ok(Some(Record {
            start: self.cursor.wrapping_add(PREFIX),
            len: length,
        }))
    }

    /// Copies a record's payload into `out`, which must be exactly as long.
    #[inline]
    pub fn copy_payload(&self, record: Record, out: &mut [u8]) {
        assert_eq!(
            out.len(),
            record.len(),
            "output length must match the record"
        );
        get(&self.region, self.capacity, record.start, out);
    }

    /// A record's payload in place: one slice, or two when it wraps.
    #[cfg(not(loom))]
    #[inline]
    pub fn payload_slices(&self, record: Record) -> (&[u8], &[u8]) {
        let ((a, a_len), (b, b_len)) = spans(self.capacity, record.start, record.len);
        (self.region.slice(a, a_len), self.region.slice(b, b_len))
    }

    /// Moves the cursor past `record` without releasing its space yet.
    #[inline]
    pub fn advance(&mut self, record: Record) {
        self.cursor = record.start.wrapping_add(record.len);
    }

    /// Bytes the cursor has passed that are not released yet.
    #[inline]
    pub fn unreleased_bytes(&self) -> u32 {
        self.cursor.wrapping_sub(self.tail)
    }

    /// Releases every record the cursor has passed with one `Release` store of `tail`.
    /// Returns whether the producer has flagged itself as sleeping, so the caller must wake it.
    #[must_use = "a sleeping producer must be woken"]
    #[inline]
    pub fn release(&mut self) -> bool {
        if self.cursor == self.tail {
            return false;
        }
        self.tail = self.cursor;
        self.region.word(TAIL).store(self.tail, Release);
        // As in `RingProducer::publish`: the store stays before the load in program order.
        compiler_fence(SeqCst);
        match self.extension {
            Some(extension) if !cfg!(shm_ring_no_wake) => {
                self.region.flag(extension + PRODUCER_FLAGS).load(Relaxed) & FLAG_SLEEPING != 0
            }
            _ => false,
        }
    }

    /// The word this side publishes (`tail`), which a sleeping producer waits on.
    #[cfg(not(loom))]
    pub(crate) fn own_index(&self) -> &IndexWord {
        self.region.word(TAIL)
    }

    /// The word a sleeping consumer waits on (`head`), and its value at the last load.
    #[cfg(not(loom))]
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn sleep_target(&self) -> (&IndexWord, u32) {
        (self.region.word(HEAD), self.seen_head.get())
    }

    /// Sets or clears [`FLAG_SLEEPING`] in the consumer's flag byte.
    #[cfg(not(loom))]
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn set_sleeping(&self, sleeping: bool) {
        if let Some(extension) = self.extension {
            let flags = if sleeping {
                self.flags | FLAG_SLEEPING
            } else {
                self.flags
            };
            self.region
                .flag(extension + CONSUMER_FLAGS)
                .store(flags, SeqCst);
        }
    }

    /// The producer's flag byte, or 0 (nothing announced) without an extension block.
    #[cfg(not(loom))]
    pub(crate) fn peer_flags(&self) -> u8 {
        self.extension.map_or(0, |extension| {
            self.region.flag(extension + PRODUCER_FLAGS).load(Acquire)
        })
    }

    /// Writes byte `offset` of the extension block; returns `false` (writing nothing) without
    /// one.
    #[cfg(not(loom))]
    pub(crate) fn set_extension_byte(&self, offset: usize, value: u8) -> bool {
        debug_assert!(offset < EXTENSION_LEN);
        match self.extension {
            Some(extension) => {
                self.region.flag(extension + offset).store(value, SeqCst);
                true
            }
            None => false,
        }
    }

    /// Reads and releases one record, copying it into a new vector.
    #[cfg(any(test, loom))]
    pub fn try_read(&mut self) -> Result<Option<Vec<u8>>, Corruption> {
        let Some(record) = self.next_record()? else {
            return Ok(None);
        };
        let mut out = vec![0; record.len()];
        self.copy_payload(record, &mut out);
        self.advance(record);
        let _ = self.release();
        Ok(Some(out))
    }

    /// Bytes published and not yet released, by a fresh look at the producer's head.
    pub fn readable_bytes(&self) -> u32 {
        self.refresh_head();
        self.cached_head.get().wrapping_sub(self.tail)
    }
}

/// A producer and a consumer sharing one ring in heap memory, for tests and model checking.
#[cfg(any(test, loom))]
pub fn heap_pair(capacity: u32, start: u32) -> (RingProducer, RingConsumer) {
    let (a, b) = Region::heap_pair(extension_offset(capacity) + EXTENSION_LEN);
    let producer = RingProducer::create(a, capacity, start, 0);
    let consumer = RingConsumer::attach(b, capacity, 0);
    (producer, consumer)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn raw_word(consumer: &RingConsumer, offset: usize) -> &std::sync::atomic::AtomicU32 {
        consumer.region.word(offset)
    }

    #[test]
    fn messages_come_out_whole_and_in_order() {
        let (mut p, mut c) = heap_pair(64, 0);
        p.try_write(b"one").unwrap();
        p.try_write(b"two!").unwrap();
        assert_eq!(c.try_read().unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(c.try_read().unwrap().as_deref(), Some(&b"two!"[..]));
        assert_eq!(c.try_read().unwrap(), None);
    }

    #[test]
    fn writes_are_refused_whole_when_they_do_not_fit() {
        let (mut p, mut c) = heap_pair(16, 0);
        p.try_write(&[1; 8]).unwrap(); // 12 bytes used
        assert_eq!(p.try_write(&[2; 1]), Err(TryWriteError::Full)); // needs 5, 4 free
        assert_eq!(c.readable_bytes(), 12);
        assert_eq!(c.try_read().unwrap(), Some(vec![1; 8]));
        p.try_write(&[2; 12]).unwrap();
        assert_eq!(c.try_read().unwrap(), Some(vec![2; 12]));
    }

    #[test]
    fn empty_and_oversized_payloads_are_refused() {
        let (mut p, _c) = heap_pair(16, 0);
        assert_eq!(p.try_write(b""), Err(TryWriteError::Empty));
        assert_eq!(
            p.try_write(&[0; 13]),
            Err(TryWriteError::TooLarge {
                len: 13,
                max: 12,
                needed_capacity: Some(32)
            })
        );
        p.try_write(&[0; 12]).unwrap();
    }

    #[test]
    fn records_split_at_every_byte_of_the_wrap() {
        // A filler record moves the next record's start to `offset`; from 13 to 15 the prefix
        // itself is split, from 5 to 12 the payload is.
        for offset in 5..16u32 {
            let (mut p, mut c) = heap_pair(16, 0);
            let filler = vec![9u8; (offset - 4) as usize];
            p.try_write(&filler).unwrap();
            assert_eq!(c.try_read().unwrap(), Some(filler));
            let msg: Vec<u8> = (0..10).collect();
            p.try_write(&msg).unwrap();
            assert_eq!(
                c.try_read().unwrap(),
                Some(msg),
                "record at offset {offset}"
            );
        }
    }

    #[test]
    fn indices_wrap_at_2_pow_32() {
        let start = u32::MAX - 10;
        let (mut p, mut c) = heap_pair(64, start);
        let mut moved = 0u32;
        for i in 0..20u8 {
            let msg = vec![i; (i % 7 + 1) as usize];
            p.try_write(&msg).unwrap();
            assert_eq!(c.try_read().unwrap(), Some(msg));
            moved += 4 + u32::from(i % 7 + 1);
        }
        // The indices crossed 2^32 and kept counting.
        assert_eq!(c.tail, moved - 11);
        assert_eq!(p.head, c.tail);
    }

    #[test]
    fn a_batch_publishes_head_once() {
        let (mut p, mut c) = heap_pair(64, 0);
        p.stage(b"a").unwrap();
        p.stage(b"bb").unwrap();
        assert_eq!(
            c.try_read().unwrap(),
            None,
            "nothing visible before publish"
        );
        let _ = p.publish();
        assert_eq!(c.try_read().unwrap(), Some(b"a".to_vec()));
        assert_eq!(c.try_read().unwrap(), Some(b"bb".to_vec()));
    }

    #[test]
    fn staged_records_count_against_free_space() {
        let (mut p, _c) = heap_pair(16, 0);
        p.stage(&[1; 4]).unwrap();
        assert_eq!(p.stage(&[1; 5]), Err(TryWriteError::Full));
        p.stage(&[1; 4]).unwrap();
        assert_eq!(p.stage(&[1; 1]), Err(TryWriteError::Full));
    }

    #[test]
    fn reserved_space_wraps_into_two_slices() {
        let (mut p, mut c) = heap_pair(16, 0);
        p.try_write(&[0; 4]).unwrap();
        assert_eq!(c.try_read().unwrap(), Some(vec![0; 4]));
        // Cursor at 8: prefix at 8..12, payload at 12..16 and then 0..6.
        let len = p.reserve(10).unwrap();
        let (a, b) = p.payload_slices_mut(len);
        assert_eq!((a.len(), b.len()), (4, 6));
        a.copy_from_slice(b"0123");
        b.copy_from_slice(b"456789");
        let _ = p.commit(len);
        let record = c.next_record().unwrap().unwrap();
        let (a, b) = c.payload_slices(record);
        assert_eq!([a, b].concat(), b"0123456789");
    }

    #[test]
    fn a_dropped_reservation_publishes_nothing() {
        let (mut p, mut c) = heap_pair(16, 0);
        let len = p.reserve(4).unwrap();
        p.payload_slices_mut(len).0.copy_from_slice(b"lost");
        assert_eq!(c.try_read().unwrap(), None);
        p.try_write(b"kept").unwrap();
        assert_eq!(c.try_read().unwrap(), Some(b"kept".to_vec()));
    }

    #[test]
    fn a_torn_head_reads_as_empty() {
        let (mut p, mut c) = heap_pair(64, 1000);
        p.try_write(b"x").unwrap();
        raw_word(&c, HEAD).store(0, Release); // head - tail > capacity
        assert_eq!(c.try_read().unwrap(), None);
        raw_word(&c, HEAD).store(1005, Release);
        assert_eq!(c.try_read().unwrap(), Some(b"x".to_vec()));
    }

    #[test]
    fn a_torn_tail_reads_as_full() {
        let (mut p, c) = heap_pair(16, 0);
        p.try_write(&[1; 12]).unwrap();
        raw_word(&c, TAIL).store(0x8000_0000, Release);
        assert_eq!(p.try_write(&[1]), Err(TryWriteError::Full));
        raw_word(&c, TAIL).store(16, Release);
        p.try_write(&[1]).unwrap();
    }

    #[test]
    fn a_head_behind_the_cursor_is_ignored() {
        let (mut p, mut c) = heap_pair(64, 0);
        p.try_write(b"abc").unwrap();
        p.try_write(b"def").unwrap();
        let first = c.next_record().unwrap().unwrap();
        c.advance(first);
        // The producer rewinds head to before the record we already passed.
        raw_word(&c, HEAD).store(2, Release);
        let second = c.next_record().unwrap().unwrap();
        assert_eq!(second.len(), 3);
    }

    #[test]
    fn bad_prefixes_are_corruption() {
        let (mut p, mut c) = heap_pair(64, 0);
        p.try_write(b"abcd").unwrap();
        put(&mut p.region, 64, 0, &61u32.to_le_bytes());
        assert_eq!(
            c.next_record(),
            Err(Corruption::LengthTooLarge {
                tail: 0,
                length: 61,
                max: 60
            })
        );
        put(&mut p.region, 64, 0, &5u32.to_le_bytes());
        assert_eq!(
            c.next_record(),
            Err(Corruption::LengthExceedsPublished {
                tail: 0,
                length: 5,
                readable: 8
            })
        );
        raw_word(&c, HEAD).store(3, Release);
        c.cached_head.set(0);
        assert_eq!(
            c.next_record(),
            Err(Corruption::TruncatedPrefix {
                tail: 0,
                readable: 3
            })
        );
    }

    #[test]
    fn a_zero_length_record_is_an_empty_message() {
        let (mut p, mut c) = heap_pair(64, 0);
        put(&mut p.region, 64, 0, &0u32.to_le_bytes());
        p.region.word(HEAD).store(4, Release);
        assert_eq!(c.try_read().unwrap(), Some(Vec::new()));
        assert_eq!(c.try_read().unwrap(), None);
        assert_eq!(c.tail, 4);
    }

    #[test]
    fn a_new_consumer_resumes_at_the_shared_tail() {
        let (mut p, mut c) = heap_pair(64, 0);
        p.try_write(b"first").unwrap();
        p.try_write(b"second").unwrap();
        assert_eq!(c.try_read().unwrap(), Some(b"first".to_vec()));
        let region = c.region;
        let mut again = RingConsumer::attach(region, 64, 0);
        assert_eq!(again.try_read().unwrap(), Some(b"second".to_vec()));
    }

    #[test]
    fn publish_and_release_report_a_sleeping_peer() {
        let (mut p, mut c) = heap_pair(64, 0);
        p.stage(b"a").unwrap();
        assert!(!p.publish(), "nobody sleeps");
        c.set_sleeping(true);
        p.stage(b"b").unwrap();
        assert!(p.publish(), "the consumer sleeps");
        assert!(!p.publish(), "nothing new, nothing to wake");
        c.set_sleeping(false);
        let record = c.next_record().unwrap().unwrap();
        c.advance(record);
        assert!(!c.release());
        p.set_sleeping(true);
        let record = c.next_record().unwrap().unwrap();
        c.advance(record);
        assert!(c.release(), "the producer sleeps");
        assert_eq!(p.sleep_target().1, p.seen_tail.get());
    }

    #[test]
    fn a_sleeper_waits_for_the_value_it_last_saw() {
        let (mut p, mut c) = heap_pair(16, 5);
        assert_eq!(c.try_read().unwrap(), None);
        assert_eq!(c.sleep_target().1, 5);
        p.try_write(&[1; 12]).unwrap();
        assert_eq!(p.try_write(&[1]), Err(TryWriteError::Full));
        assert_eq!(p.sleep_target().1, 5, "the tail the failed write saw");
        c.try_read().unwrap();
        assert_eq!(c.sleep_target().1, 5 + 16);
    }

    #[test]
    fn the_header_is_written_capacity_last_with_the_extension_block() {
        let (a, mut b) = Region::heap_pair(extension_offset(64) + EXTENSION_LEN);
        b.limit_data(HEADER_LEN + 64);
        b.flag(extension_offset(64) + 9).store(0xFF, Relaxed); // left over from an earlier life
        let _p = RingProducer::create(a, 64, 77, 0x06);
        assert_eq!(b.word(HEAD).load(Acquire), 77);
        assert_eq!(b.word(TAIL).load(Acquire), 77);
        assert_eq!(b.word(CAPACITY).load(Acquire), 64);
        assert_eq!(b.word(RESERVED).load(Acquire), EXTENSION_MARKER);
        let block: Vec<u8> = (0..EXTENSION_LEN)
            .map(|i| b.flag(extension_offset(64) + i).load(Acquire))
            .collect();
        assert_eq!(block[0], 0x06, "the producer's flags");
        assert!(block[1..].iter().all(|&byte| byte == 0), "{block:?}");
    }

    #[test]
    fn a_consumer_of_a_ring_without_the_extension_has_no_flags() {
        // The original library's producer: reserved 0, object sized 16 + capacity.
        let (a, b) = Region::heap_pair(HEADER_LEN + 64);
        a.word(CAPACITY).store(64, Release);
        let mut c = RingConsumer::attach(b, 64, 0x06);
        assert_eq!(c.extension, None);
        assert_eq!(c.peer_flags(), 0);
        c.set_sleeping(true); // nowhere to say it: a no-op
        assert!(!c.release());
    }

    #[test]
    fn two_threads_move_many_messages() {
        let (mut p, mut c) = heap_pair(256, u32::MAX - 5000);
        let n = 20_000u32;
        let writer = std::thread::spawn(move || {
            for i in 0..n {
                let msg = vec![i as u8; (i % 100 + 1) as usize];
                while p.try_write(&msg) == Err(TryWriteError::Full) {
                    std::hint::spin_loop();
                }
            }
        });
        for i in 0..n {
            let msg = loop {
                if let Some(msg) = c.try_read().unwrap() {
                    break msg;
                }
                std::hint::spin_loop();
            };
            assert_eq!(msg, vec![i as u8; (i % 100 + 1) as usize]);
        }
        writer.join().unwrap();
    }
}
