//! The reading end of a ring: [`ShmConsumer`].

use std::fmt;
use std::mem::size_of;
use std::time::Duration;

use bytemuck::Pod;

use crate::error::{OpenError, ReadError, Role};
use crate::ring::{Record, RingConsumer};
use crate::segment::{self, Segment};
use crate::wait::{self, Blocking, WaitStats};

/// How often [`ShmConsumer::open_timeout`] looks for the segment while it waits.
const OPEN_POLL: Duration = Duration::from_millis(1);

/// The reading end of a ring in shared memory.
///
/// Methods named `try_…` never wait: when no message is there they return `Ok(None)` (or
/// `Ok(0)` for batches). Each has a blocking twin without the prefix that waits up to a
/// timeout and then returns [`ReadError::Timeout`].
///
/// A message is delivered whole, once and in order. One that does not fit the caller's buffer
/// or type is refused and stays in the ring. A zero-length record written by another peer is
/// delivered as an empty message. A consumer never removes the segment.
///
/// ```
/// use std::time::Duration;
/// use shm_ring::{ShmConsumer, ShmProducer};
/// # let name = &format!("doc-consumer-{}", std::process::id());
///
/// let mut producer = ShmProducer::create(name, 4096)?;
/// producer.try_write(b"first")?;
/// producer.try_write(b"second")?;
///
/// let mut consumer = ShmConsumer::open(name)?;
/// assert_eq!(consumer.try_read()?, Some(b"first".to_vec()));
/// assert_eq!(consumer.read(Duration::from_secs(1))?, b"second");
/// assert_eq!(consumer.try_read()?, None);
/// # producer.unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ShmConsumer {
    ring: RingConsumer,
    segment: Segment,
    /// Where batch reads assemble a message that wraps around the end of the ring.
    scratch: Vec<u8>,
    stats: WaitStats,
    /// How long a sleep lasts at most before checking that the peer is alive.
    peer_check: Duration,
}

impl fmt::Debug for ShmConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShmConsumer")
            .field("name", &self.segment.name())
            .field("capacity", &self.ring.capacity())
            .finish_non_exhaustive()
    }
}

impl ShmConsumer {
    /// Opens the segment `name` (with or without a leading `/`) and resumes reading where the
    /// last consumer stopped.
    ///
    /// Fails with [`OpenError::NotFound`] if it does not exist and [`OpenError::NotReady`]
    /// while its producer is still initialising it; both are worth retrying, which
    /// [`open_timeout`](Self::open_timeout) does. The segment's real size is checked against
    /// its header before anything in the data area is touched.
    ///
    /// ```
    /// use shm_ring::{OpenError, ShmConsumer, ShmProducer};
    /// # let name = &format!("doc-open-{}", std::process::id());
    /// assert!(matches!(ShmConsumer::open(name), Err(OpenError::NotFound { .. })));
    /// let producer = ShmProducer::create(name, 4096)?;
    /// let consumer = ShmConsumer::open(name)?;
    /// assert_eq!(consumer.capacity(), 4096);
    /// # producer.unlink()?;
    /// # Ok::<(), OpenError>(())
    /// ```
    pub fn open(name: &str) -> Result<ShmConsumer, OpenError> {
        let mapped = segment::open(name)?;
        Ok(ShmConsumer {
            ring: RingConsumer::attach(mapped.region, mapped.capacity, mapped.flags),
            segment: mapped.segment,
            scratch: Vec::new(),
            stats: WaitStats::default(),
            peer_check: wait::PEER_CHECK_INTERVAL,
        })
    }

    /// Like [`open`](Self::open), but waits up to `timeout` for the segment to appear and
    /// become ready. Errors that waiting cannot fix are returned at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use shm_ring::{OpenError, ShmConsumer};
    /// # let name = &format!("doc-open-timeout-{}", std::process::id());
    /// let missing = ShmConsumer::open_timeout(name, Duration::from_millis(10));
    /// assert!(matches!(missing, Err(OpenError::Timeout { .. })));
    /// ```
    pub fn open_timeout(name: &str, timeout: Duration) -> Result<ShmConsumer, OpenError> {
        let start = std::time::Instant::now();
        loop {
            match ShmConsumer::open(name) {
                Err(e) if e.is_transient() => {
                    let waited = start.elapsed();
                    if waited >= timeout {
                        return Err(OpenError::Timeout {
                            name: name.strip_prefix('/').unwrap_or(name).to_owned(),
                            waited,
                            last: Box::new(e),
                        });
                    }
                    std::thread::sleep(OPEN_POLL.min(timeout - waited));
                }
                other => return other,
            }
        }
    }

    /// The segment's name, without a leading `/`.
    ///
    /// ```
    /// # let name = format!("doc-consumer-name-{}", std::process::id());
    /// let producer = shm_ring::ShmProducer::create(&name, 4096)?;
    /// let consumer = shm_ring::ShmConsumer::open(&format!("/{name}"))?;
    /// assert_eq!(consumer.name(), name);
    /// # producer.unlink()?;
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn name(&self) -> &str {
        self.segment.name()
    }

    /// Capacity of the data area in bytes, as read from the header when the segment was
    /// opened.
    ///
    /// ```
    /// # let name = &format!("doc-consumer-capacity-{}", std::process::id());
    /// let producer = shm_ring::ShmProducer::create(name, 100)?;
    /// assert_eq!(shm_ring::ShmConsumer::open(name)?.capacity(), 64);
    /// # producer.unlink()?;
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.ring.capacity() as usize
    }

    /// The longest message the ring can carry: `capacity - 4`.
    ///
    /// ```
    /// # let name = &format!("doc-consumer-max-{}", std::process::id());
    /// let producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// assert_eq!(shm_ring::ShmConsumer::open(name)?.max_message_len(), 4092);
    /// # producer.unlink()?;
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn max_message_len(&self) -> usize {
        crate::layout::max_payload(self.ring.capacity()) as usize
    }

    /// Bytes published and not yet read, length prefixes included.
    ///
    /// ```
    /// # let name = &format!("doc-consumer-readable-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write(b"abc")?;
    /// assert_eq!(consumer.readable_bytes(), 7);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn readable_bytes(&mut self) -> usize {
        self.ring.readable_bytes() as usize
    }

    /// Free bytes in the ring: `capacity - readable_bytes()`.
    ///
    /// ```
    /// # let name = &format!("doc-consumer-writable-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write(b"abc")?;
    /// assert_eq!(consumer.writable_bytes(), 4096 - 7);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn writable_bytes(&mut self) -> usize {
        self.capacity() - self.readable_bytes()
    }

    /// Whether no message is waiting.
    ///
    /// ```
    /// # let name = &format!("doc-consumer-empty-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// assert!(consumer.is_empty());
    /// producer.try_write(b"abc")?;
    /// assert!(!consumer.is_empty());
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&mut self) -> bool {
        self.readable_bytes() == 0
    }

    /// Whether the producer's process is alive: `Some(true)` while a producer of this crate
    /// (or the Python or C++ peers in this repository) holds the ring, `Some(false)` once it
    /// has exited or been killed, and `None` for a producer of the original library, which
    /// announces nothing.
    ///
    /// ```
    /// # let name = &format!("doc-consumer-alive-{}", std::process::id());
    /// let producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let consumer = shm_ring::ShmConsumer::open(name)?;
    /// assert_eq!(consumer.is_peer_alive(), Some(true));
    /// # producer.unlink()?;
    /// drop(producer);
    /// assert_eq!(consumer.is_peer_alive(), Some(false));
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn is_peer_alive(&self) -> Option<bool> {
        self.segment
            .peer_alive(Role::Producer, self.ring.peer_flags())
    }

    /// Sets how often a blocking call that sleeps checks whether the producer is still alive
    /// (default 20 ms): a producer that dies is noticed at most this late. A sleeping call is
    /// woken by the producer as soon as there is something to do, so the interval only trades
    /// how quickly a dead peer is noticed against how often an idle end wakes up to look.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let name = &format!("doc-check-consumer-{}", std::process::id());
    /// # let producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// consumer.set_peer_check_interval(Duration::from_millis(200));
    /// # producer.unlink()?;
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn set_peer_check_interval(&mut self, interval: Duration) {
        self.peer_check = interval;
    }

    /// How this consumer has slept in blocking calls so far; see [`WaitStats`].
    ///
    /// ```
    /// # let name = &format!("doc-consumer-stats-{}", std::process::id());
    /// let producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let consumer = shm_ring::ShmConsumer::open(name)?;
    /// assert_eq!(consumer.wait_stats().sleeps, 0);
    /// # producer.unlink()?;
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn wait_stats(&self) -> WaitStats {
        self.stats
    }

    /// The next record, if one is published.
    #[inline]
    fn next(&mut self) -> Result<Option<Record>, ReadError> {
        Ok(self.ring.next_record()?)
    }

    /// Waits up to `timeout` for the next record. Fails with [`ReadError::PeerGone`] once the
    /// producer is gone and everything it published has been read.
    fn wait_next(&mut self, timeout: Duration) -> Result<Record, ReadError> {
        wait::retry(
            self,
            timeout,
            ReadError::Timeout,
            ReadError::PeerGone,
            |consumer| consumer.next(),
        )
    }

    /// Publishes the tail and wakes the producer if it sleeps.
    #[inline]
    fn release(&mut self) {
        if self.ring.release() {
            wait::wake(self.ring.own_index());
        }
    }

    /// Marks `record` as read and publishes the new tail.
    #[inline]
    fn consume(&mut self, record: Record) {
        self.ring.advance(record);
        self.release();
    }

    /// Copies `record` into `out` (resized to fit) and consumes it.
    #[inline]
    fn take_into(&mut self, record: Record, out: &mut Vec<u8>) -> usize {
        // Resizing without clearing first zero-fills only the growth, not bytes about to be
        // overwritten anyway.
        out.resize(record.len(), 0);
        self.ring.copy_payload(record, out);
        self.consume(record);
        record.len()
    }

    fn take_vec(&mut self, record: Record) -> Vec<u8> {
        let mut out = Vec::new();
        self.take_into(record, &mut out);
        out
    }

    fn take_into_slice(&mut self, record: Record, out: &mut [u8]) -> Result<usize, ReadError> {
        let Some(target) = out.get_mut(..record.len()) else {
            return Err(ReadError::TooSmall {
                needed: record.len(),
                available: out.len(),
            });
        };
        self.ring.copy_payload(record, target);
        self.consume(record);
        Ok(record.len())
    }

    fn take_with<R>(&mut self, record: Record, f: impl FnOnce(&[u8], &[u8]) -> R) -> R {
        let (first, second) = self.ring.payload_slices(record);
        let result = f(first, second);
        self.consume(record);
        result
    }

    /// Calls `f` on `first` and then on up to `max - 1` more published records, releasing
    /// them with one store of `tail`.
    fn take_batch(&mut self, first: Record, max: usize, mut f: impl FnMut(&[u8])) -> usize {
        let mut record = first;
        let mut count = 0;
        let quarter = self.ring.capacity() / 4;
        loop {
            let (a, b) = self.ring.payload_slices(record);
            if b.is_empty() {
                f(a);
            } else {
                // A wrapped record is copied out whole, like every copying read: straight from
                // the mapping, without a reference to shared bytes.
                self.scratch.resize(record.len(), 0);
                self.ring.copy_payload(record, &mut self.scratch);
                f(&self.scratch);
            }
            self.ring.advance(record);
            count += 1;
            // Releasing every quarter of the ring lets the producer refill it during a long
            // batch instead of waiting for all of it.
            if self.ring.unreleased_bytes() >= quarter {
                self.release();
            }
            // A corrupted record further on is reported by the next call, after these
            // good ones have been delivered and released.
            match self.ring.next_record() {
                Ok(Some(next)) if count < max => record = next,
                _ => break,
            }
        }
        self.release();
        count
    }

    fn take_value<T: Pod>(&mut self, record: Record) -> Result<T, ReadError> {
        if record.len() != size_of::<T>() {
            return Err(ReadError::TypeMismatch {
                len: record.len(),
                expected: format!("exactly {} bytes", size_of::<T>()),
            });
        }
        let mut value = T::zeroed();
        self.ring
            .copy_payload(record, bytemuck::bytes_of_mut(&mut value));
        self.consume(record);
        Ok(value)
    }

    fn take_values<T: Pod>(
        &mut self,
        record: Record,
        out: &mut Vec<T>,
    ) -> Result<usize, ReadError> {
        let size = size_of::<T>();
        // A zero-sized type fits only an empty message, as zero values.
        let fits = match size {
            0 => record.is_empty(),
            size => record.len() % size == 0,
        };
        if !fits {
            return Err(ReadError::TypeMismatch {
                len: record.len(),
                expected: format!("a multiple of {size} bytes"),
            });
        }
        let count = record.len().checked_div(size).unwrap_or(0);
        out.resize(count, T::zeroed());
        if size != 0 {
            self.ring
                .copy_payload(record, bytemuck::cast_slice_mut(out.as_mut_slice()));
        }
        self.consume(record);
        Ok(count)
    }

    /// Reads the next message into a new vector, if one is there.
    ///
    /// ```
    /// # let name = &format!("doc-try-read-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// assert_eq!(consumer.try_read()?, None);
    /// producer.try_write(b"abc")?;
    /// assert_eq!(consumer.try_read()?, Some(b"abc".to_vec()));
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_read(&mut self) -> Result<Option<Vec<u8>>, ReadError> {
        Ok(self.next()?.map(|record| self.take_vec(record)))
    }

    /// Reads the next message into a new vector, waiting up to `timeout` for one.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let name = &format!("doc-read-{}", std::process::id());
    /// let producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// let nothing = consumer.read(Duration::from_millis(5));
    /// assert_eq!(nothing, Err(shm_ring::ReadError::Timeout));
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn read(&mut self, timeout: Duration) -> Result<Vec<u8>, ReadError> {
        let record = self.wait_next(timeout)?;
        Ok(self.take_vec(record))
    }

    /// Reads the next message into `buf`, replacing its contents and reusing its allocation.
    /// Returns the message's length, or `None` if no message is there.
    ///
    /// ```
    /// # let name = &format!("doc-try-read-into-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// let mut buf = Vec::with_capacity(4096);
    /// producer.try_write(b"abc")?;
    /// assert_eq!(consumer.try_read_into(&mut buf)?, Some(3));
    /// assert_eq!(buf, b"abc");
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_read_into(&mut self, buf: &mut Vec<u8>) -> Result<Option<usize>, ReadError> {
        Ok(self.next()?.map(|record| self.take_into(record, buf)))
    }

    /// Like [`try_read_into`](Self::try_read_into), waiting up to `timeout` for a message.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let name = &format!("doc-read-into-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// let mut buf = Vec::new();
    /// producer.try_write(b"abc")?;
    /// assert_eq!(consumer.read_into(&mut buf, Duration::from_secs(1))?, 3);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn read_into(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> Result<usize, ReadError> {
        let record = self.wait_next(timeout)?;
        Ok(self.take_into(record, buf))
    }

    /// Reads the next message into the front of `buf` and returns its length.
    ///
    /// If `buf` is too short, returns [`ReadError::TooSmall`] with the length needed and leaves
    /// the message in the ring, so a larger buffer can take it.
    ///
    /// ```
    /// use shm_ring::ReadError;
    /// # let name = &format!("doc-try-read-slice-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write(b"twelve bytes")?;
    /// let mut small = [0u8; 4];
    /// assert_eq!(
    ///     consumer.try_read_into_slice(&mut small),
    ///     Err(ReadError::TooSmall { needed: 12, available: 4 })
    /// );
    /// let mut big = [0u8; 64];
    /// assert_eq!(consumer.try_read_into_slice(&mut big)?, Some(12));
    /// assert_eq!(&big[..12], b"twelve bytes");
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_read_into_slice(&mut self, buf: &mut [u8]) -> Result<Option<usize>, ReadError> {
        match self.next()? {
            Some(record) => self.take_into_slice(record, buf).map(Some),
            None => Ok(None),
        }
    }

    /// Like [`try_read_into_slice`](Self::try_read_into_slice), waiting up to `timeout` for a
    /// message.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let name = &format!("doc-read-slice-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write(b"abc")?;
    /// let mut buf = [0u8; 16];
    /// assert_eq!(consumer.read_into_slice(&mut buf, Duration::from_secs(1))?, 3);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn read_into_slice(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, ReadError> {
        let record = self.wait_next(timeout)?;
        self.take_into_slice(record, buf)
    }

    /// Lends the next message to `f` in place, without copying it, and releases it when `f`
    /// returns. The message comes as two slices, `first` then `second`; `second` is empty
    /// unless the message wraps around the end of the ring. Returns `f`'s result, or `None` if
    /// no message is there.
    ///
    /// # Shared memory
    /// The slices point into the mapping. A peer that follows the protocol does not write them
    /// while `f` runs; a process that breaks it can, which breaks the promise a `&[u8]` makes
    /// (see the [trust model](crate#trust-model)). Prefer a copying read when the producer
    /// is not trusted.
    ///
    /// ```
    /// # let name = &format!("doc-try-read-with-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write(b"in place")?;
    /// let len = consumer.try_read_with(|first, second| first.len() + second.len())?;
    /// assert_eq!(len, Some(8));
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_read_with<R>(
        &mut self,
        f: impl FnOnce(&[u8], &[u8]) -> R,
    ) -> Result<Option<R>, ReadError> {
        Ok(self.next()?.map(|record| self.take_with(record, f)))
    }

    /// Like [`try_read_with`](Self::try_read_with), waiting up to `timeout` for a message.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let name = &format!("doc-read-with-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write(b"abc")?;
    /// let sum = consumer.read_with(Duration::from_secs(1), |first, second| {
    ///     first.iter().chain(second).map(|&b| u32::from(b)).sum::<u32>()
    /// })?;
    /// assert_eq!(sum, 97 + 98 + 99);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_with<R>(
        &mut self,
        timeout: Duration,
        f: impl FnOnce(&[u8], &[u8]) -> R,
    ) -> Result<R, ReadError> {
        let record = self.wait_next(timeout)?;
        Ok(self.take_with(record, f))
    }

    /// Lends up to `max` waiting messages to `f`, one call each, in order, and then releases
    /// them all with a single store of `tail` (one per quarter of the ring in a longer batch,
    /// so the producer can refill it early). Returns how many there were (0 if none).
    ///
    /// Messages are lent in place; the rare one that wraps around the end of the ring is first
    /// copied into a buffer the consumer keeps, so `f` always sees one slice.
    ///
    /// # Shared memory
    /// The slice points into the mapping. A peer that follows the protocol does not write them
    /// while `f` runs; a process that breaks it can, which breaks the promise a `&[u8]` makes
    /// (see the [trust model](crate#trust-model)). Prefer a copying read when the producer
    /// is not trusted.
    ///
    /// ```
    /// # let name = &format!("doc-try-read-batch-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write_batch(&[b"a", b"b", b"c"])?;
    /// let mut seen = Vec::new();
    /// assert_eq!(consumer.try_read_batch(2, |msg| seen.push(msg.to_vec()))?, 2);
    /// assert_eq!(consumer.try_read_batch(100, |msg| seen.push(msg.to_vec()))?, 1);
    /// assert_eq!(seen, [b"a", b"b", b"c"]);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_read_batch(&mut self, max: usize, f: impl FnMut(&[u8])) -> Result<usize, ReadError> {
        if max == 0 {
            return Ok(0);
        }
        match self.next()? {
            Some(first) => Ok(self.take_batch(first, max, f)),
            None => Ok(0),
        }
    }

    /// Like [`try_read_batch`](Self::try_read_batch), waiting up to `timeout` for at least one
    /// message. Returns 0 only when `max` is 0.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let name = &format!("doc-read-batch-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write_batch(&[b"x", b"y"])?;
    /// let mut bytes = 0;
    /// let count = consumer.read_batch(64, Duration::from_secs(1), |msg| bytes += msg.len())?;
    /// assert_eq!((count, bytes), (2, 2));
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_batch(
        &mut self,
        max: usize,
        timeout: Duration,
        f: impl FnMut(&[u8]),
    ) -> Result<usize, ReadError> {
        if max == 0 {
            return Ok(0);
        }
        let first = self.wait_next(timeout)?;
        Ok(self.take_batch(first, max, f))
    }

    /// Reads the next message as one plain-data value. A message that is not exactly
    /// `size_of::<T>()` bytes is refused with [`ReadError::TypeMismatch`] and stays in the ring.
    ///
    /// ```
    /// # let name = &format!("doc-try-read-value-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write_value(&0x0102_0304u32)?;
    /// assert_eq!(consumer.try_read_value::<u32>()?, Some(0x0102_0304));
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_read_value<T: Pod>(&mut self) -> Result<Option<T>, ReadError> {
        match self.next()? {
            Some(record) => self.take_value(record).map(Some),
            None => Ok(None),
        }
    }

    /// Like [`try_read_value`](Self::try_read_value), waiting up to `timeout` for a message.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let name = &format!("doc-read-value-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write_value(&2.5f64)?;
    /// assert_eq!(consumer.read_value::<f64>(Duration::from_secs(1))?, 2.5);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_value<T: Pod>(&mut self, timeout: Duration) -> Result<T, ReadError> {
        let record = self.wait_next(timeout)?;
        self.take_value(record)
    }

    /// Reads the next message as a slice of plain-data values into `out`, replacing its
    /// contents. Returns the number of values. A message whose length is not a multiple of
    /// `size_of::<T>()` is refused with [`ReadError::TypeMismatch`] and stays in the ring.
    ///
    /// ```
    /// # let name = &format!("doc-try-read-values-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write_values(&[1.5f32, -2.0, 8.25])?;
    /// let mut samples: Vec<f32> = Vec::new();
    /// assert_eq!(consumer.try_read_values(&mut samples)?, Some(3));
    /// assert_eq!(samples, [1.5f32, -2.0, 8.25]);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_read_values<T: Pod>(
        &mut self,
        out: &mut Vec<T>,
    ) -> Result<Option<usize>, ReadError> {
        match self.next()? {
            Some(record) => self.take_values(record, out).map(Some),
            None => Ok(None),
        }
    }

    /// Like [`try_read_values`](Self::try_read_values), waiting up to `timeout` for a message.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let name = &format!("doc-read-values-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write_values(&[7u16, 8])?;
    /// let mut out: Vec<u16> = Vec::new();
    /// assert_eq!(consumer.read_values(&mut out, Duration::from_secs(1))?, 2);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_values<T: Pod>(
        &mut self,
        out: &mut Vec<T>,
        timeout: Duration,
    ) -> Result<usize, ReadError> {
        let record = self.wait_next(timeout)?;
        self.take_values(record, out)
    }
}

impl Blocking for ShmConsumer {
    fn peer_flags(&self) -> u8 {
        self.ring.peer_flags()
    }

    fn peer_alive(&self) -> Option<bool> {
        self.is_peer_alive()
    }

    fn sleep_target(&self) -> (&std::sync::atomic::AtomicU32, u32) {
        self.ring.sleep_target()
    }

    fn set_sleeping(&self, sleeping: bool) {
        self.ring.set_sleeping(sleeping);
    }

    fn stats(&mut self) -> &mut WaitStats {
        &mut self.stats
    }

    fn peer_check_interval(&self) -> Duration {
        self.peer_check
    }
}
