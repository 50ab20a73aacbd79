//! The reading end of a ring: [`ShmConsumer`].

use std::fmt;
use std::time::Duration;

use crate::end::{End, PeerState};
use crate::error::{OpenError, ReadTimeoutError, TryReadError};
use crate::read_grant::ReadGrant;
use crate::ring::{Record, RingConsumer};
use crate::segment;
use crate::wait::{self, WaitStats};

/// How often [`ShmConsumer::open_timeout`] looks for the segment while it waits.
const OPEN_POLL: Duration = Duration::from_millis(1);

/// The reading end of a ring in shared memory.
///
/// Each way of reading comes as a pair: `try_…` never waits and fails with [`TryReadError`]
/// (`Empty` when no message is waiting); its twin without the prefix waits up to a timeout and
/// fails with [`ReadTimeoutError`] (`Timeout`, or `PeerGone` once the producer's process is
/// gone and everything it published has been read).
///
/// [`try_read`](Self::try_read) and [`read`](Self::read) lend the next message as a
/// [`ReadGrant`]: look at it in place, or copy it out, and [`commit`](ReadGrant::commit) to
/// consume it; dropping the grant leaves the message for the next read.
///
/// | to read                                    | call                                      |
/// |--------------------------------------------|-------------------------------------------|
/// | into a new `Vec<u8>`                       | `read(timeout)?.into_vec()`               |
/// | into a buffer of yours                     | `read(timeout)?.into_slice(&mut buf)?`    |
/// | as a plain-data value or values            | `read(timeout)?.into_value::<T>()?`, `.into_values::<T>()?` |
/// | in place, without copying                  | [`ReadGrant::as_slices`], then [`ReadGrant::commit`] |
/// | many messages, releasing once              | [`try_read_batch`](Self::try_read_batch) / [`read_batch`](Self::read_batch) |
///
/// A message is delivered whole, once and in order. A zero-length record written by another
/// peer is delivered as an empty message. A consumer never removes the segment.
///
/// ```
/// use std::time::Duration;
/// use shm_ring::{ShmConsumer, ShmProducer, TryReadError};
/// # let name = &format!("doc-consumer-{}", std::process::id());
///
/// let mut producer = ShmProducer::create(name, 4096)?;
/// producer.try_write(b"first")?;
/// producer.try_write(b"second")?;
///
/// let mut consumer = ShmConsumer::open(name)?;
/// assert_eq!(consumer.try_read()?.into_vec(), b"first");
/// assert_eq!(consumer.read(Duration::from_secs(1))?.into_vec(), b"second");
/// assert!(matches!(consumer.try_read(), Err(TryReadError::Empty)));
/// # producer.unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ShmConsumer {
    end: End<RingConsumer>,
    /// Where batch reads assemble a message that wraps around the end of the ring.
    scratch: Vec<u8>,
}

impl fmt::Debug for ShmConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShmConsumer")
            .field("name", &self.end.segment.name())
            .field("capacity", &self.end.ring.capacity())
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
        let ring = RingConsumer::attach(mapped.region, mapped.capacity, mapped.flags);
        Ok(ShmConsumer {
            end: End::new(ring, mapped.segment),
            scratch: Vec::new(),
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

    /// The ring side and segment, for the large-message receiver built on this consumer.
    pub(crate) fn end(&self) -> &End<RingConsumer> {
        &self.end
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
        self.end.segment.name()
    }

    /// Capacity of the data area in bytes, as read from the header when the segment was
    /// opened.
    ///
    /// ```
    /// # let name = &format!("doc-consumer-capacity-{}", std::process::id());
    /// let producer = shm_ring::ShmProducer::create(name, 100)?;
    /// assert_eq!(shm_ring::ShmConsumer::open(name)?.capacity(), 128);
    /// # producer.unlink()?;
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.end.ring.capacity() as usize
    }

    /// The longest message the ring can carry: `capacity - 4` bytes.
    ///
    /// ```
    /// # let name = &format!("doc-consumer-max-{}", std::process::id());
    /// let producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// assert_eq!(shm_ring::ShmConsumer::open(name)?.max_message_len(), 4092);
    /// # producer.unlink()?;
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn max_message_len(&self) -> usize {
        crate::layout::max_payload(self.end.ring.capacity()) as usize
    }

    /// Bytes published and not yet consumed, length prefixes included, by a fresh look at
    /// the producer's index. The free space is `capacity() - readable_bytes()`.
    ///
    /// ```
    /// # let name = &format!("doc-consumer-readable-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write(b"abc")?;
    /// assert_eq!(consumer.readable_bytes(), 7);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn readable_bytes(&self) -> usize {
        self.end.ring.readable_bytes() as usize
    }

    /// Whether no message is waiting.
    ///
    /// ```
    /// # let name = &format!("doc-consumer-empty-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let consumer = shm_ring::ShmConsumer::open(name)?;
    /// assert!(consumer.is_empty());
    /// producer.try_write(b"abc")?;
    /// assert!(!consumer.is_empty());
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.readable_bytes() == 0
    }

    /// Whether the producer's process is alive: [`PeerState::Unknown`] for a producer of the
    /// original library, which announces nothing.
    ///
    /// A producer that is [`Alive`](PeerState::Alive) may exit the moment after; what it
    /// published before it went can still be read once it is [`Gone`](PeerState::Gone),
    /// and [`read`](Self::read) delivers all of it before reporting
    /// [`ReadTimeoutError::PeerGone`].
    ///
    /// ```
    /// use shm_ring::{PeerState, ShmConsumer, ShmProducer};
    /// # let name = &format!("doc-consumer-alive-{}", std::process::id());
    /// let producer = ShmProducer::create(name, 4096)?;
    /// let consumer = ShmConsumer::open(name)?;
    /// assert_eq!(consumer.peer_state(), PeerState::Alive);
    /// # producer.unlink()?;
    /// drop(producer);
    /// assert_eq!(consumer.peer_state(), PeerState::Gone);
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn peer_state(&self) -> PeerState {
        self.end.peer_state()
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
        self.end.set_peer_check_interval(interval);
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
        self.end.wait_stats()
    }

    /// Lends the next message, if one is waiting, as a [`ReadGrant`]: copy it out with one of
    /// its `into_…` methods, or look at it in place and [`commit`](ReadGrant::commit). The
    /// message stays in the ring until then, so dropping the grant leaves it for the next
    /// read.
    ///
    /// ```
    /// use shm_ring::TryReadError;
    /// # let name = &format!("doc-try-read-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// assert!(matches!(consumer.try_read(), Err(TryReadError::Empty)));
    /// producer.try_write(b"abc")?;
    /// let peeked = consumer.try_read()?;
    /// assert_eq!(peeked.len(), 3);
    /// drop(peeked); // left in the ring
    /// assert_eq!(consumer.try_read()?.into_vec(), b"abc");
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_read(&mut self) -> Result<ReadGrant<'_>, TryReadError> {
        match self.end.ring.next_record()? {
            Some(record) => Ok(ReadGrant::new(&mut self.end.ring, record)),
            None => Err(TryReadError::Empty),
        }
    }

    /// Like [`try_read`](Self::try_read), waiting up to `timeout` for a message. Fails with
    /// [`ReadTimeoutError::PeerGone`] once the producer is gone and everything it published
    /// has been read, instead of waiting out the timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let name = &format!("doc-read-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// let nothing = consumer.read(Duration::from_millis(5));
    /// assert!(matches!(nothing, Err(shm_ring::ReadTimeoutError::Timeout)));
    /// producer.try_write(b"abc")?;
    /// let mut buf = [0u8; 64];
    /// let len = consumer.read(Duration::from_secs(1))?.into_slice(&mut buf)?;
    /// assert_eq!(&buf[..len], b"abc");
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn read(&mut self, timeout: Duration) -> Result<ReadGrant<'_>, ReadTimeoutError> {
        let record = self.wait_next(timeout)?;
        Ok(ReadGrant::new(&mut self.end.ring, record))
    }

    /// Lends up to `max` waiting messages to `f`, one call each, in order, and consumes them
    /// all with a single store of `tail` (one per quarter of the ring in a longer batch, so
    /// the producer can refill it early). Returns how many there were: at least 1, or 0 when
    /// `max` is 0. With nothing waiting, fails with [`TryReadError::Empty`], as
    /// [`try_read`](Self::try_read) does.
    ///
    /// Messages are lent in place; the rare one that wraps around the end of the ring is first
    /// copied into a buffer the consumer keeps, so `f` always sees one slice. A corrupted
    /// record after good ones ends the batch; the next call reports it.
    ///
    /// # Shared memory
    /// The slice points into the mapping. A peer that follows the protocol does not write it
    /// while `f` runs; a process that breaks it can, which breaks the promise a `&[u8]` makes
    /// (see the [trust model](crate#trust-model)). Prefer the copying reads of [`ReadGrant`]
    /// when the producer is not trusted.
    ///
    /// ```
    /// use shm_ring::TryReadError;
    /// # let name = &format!("doc-try-read-batch-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write_batch(&[b"a", b"b", b"c"])?;
    /// let mut seen = Vec::new();
    /// assert_eq!(consumer.try_read_batch(2, |msg| seen.push(msg.to_vec()))?, 2);
    /// assert_eq!(consumer.try_read_batch(100, |msg| seen.push(msg.to_vec()))?, 1);
    /// assert_eq!(seen, [b"a", b"b", b"c"]);
    /// assert_eq!(consumer.try_read_batch(100, |_| ()), Err(TryReadError::Empty));
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_read_batch(
        &mut self,
        max: usize,
        f: impl FnMut(&[u8]),
    ) -> Result<usize, TryReadError> {
        if max == 0 {
            return Ok(0);
        }
        match self.end.ring.next_record()? {
            Some(first) => Ok(read_batch(
                &mut self.end.ring,
                &mut self.scratch,
                first,
                max,
                f,
            )),
            None => Err(TryReadError::Empty),
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
    ) -> Result<usize, ReadTimeoutError> {
        if max == 0 {
            return Ok(0);
        }
        let first = self.wait_next(timeout)?;
        Ok(read_batch(
            &mut self.end.ring,
            &mut self.scratch,
            first,
            max,
            f,
        ))
    }

    /// Waits up to `timeout` for the next record.
    fn wait_next(&mut self, timeout: Duration) -> Result<Record, ReadTimeoutError> {
        wait::retry(
            &mut self.end,
            timeout,
            ReadTimeoutError::Timeout,
            ReadTimeoutError::PeerGone,
            |end| end.ring.next_record().map_err(ReadTimeoutError::Corrupted),
        )
    }
}

/// Publishes the tail and wakes the producer if it sleeps.
#[inline]
pub(crate) fn release(ring: &mut RingConsumer) {
    if ring.release() {
        wait::wake(ring.own_index());
    }
}

/// Calls `f` on `first` and then on up to `max - 1` more published records, releasing them
/// with one store of `tail` (and one per quarter of the ring on the way).
fn read_batch(
    ring: &mut RingConsumer,
    scratch: &mut Vec<u8>,
    first: Record,
    max: usize,
    mut f: impl FnMut(&[u8]),
) -> usize {
    let mut record = first;
    let mut count = 0;
    let quarter = ring.capacity() / 4;
    loop {
        let (a, b) = ring.payload_slices(record);
        if b.is_empty() {
            f(a);
        } else {
            // A wrapped record is copied out whole, like every copying read: straight from the
            // mapping, without a reference to shared bytes.
            scratch.resize(record.len(), 0);
            ring.copy_payload(record, scratch);
            f(scratch);
        }
        ring.advance(record);
        count += 1;
        // Releasing every quarter of the ring lets the producer refill it during a long batch
        // instead of waiting for all of it.
        if ring.unreleased_bytes() >= quarter {
            release(ring);
        }
        // A corrupted record further on is reported by the next call, after these good ones
        // have been delivered and released.
        match ring.next_record() {
            Ok(Some(next)) if count < max => record = next,
            _ => break,
        }
    }
    release(ring);
    count
}
