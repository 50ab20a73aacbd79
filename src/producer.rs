//! The writing end of a ring: [`ShmProducer`], its options and its zero-copy [`WriteGrant`].

use std::fmt;
use std::time::Duration;

use bytemuck::Pod;

use crate::error::{OpenError, Role, WriteError};
use crate::ring::RingProducer;
use crate::segment::{self, Segment};
use crate::wait::{self, Blocking, WaitStats};

/// How to create a ring: permissions, exclusivity, start index and clean-up.
///
/// Built like [`std::fs::OpenOptions`]: set what you need, then call
/// [`create`](ProducerOptions::create). [`ShmProducer::create`] is the same with every default.
///
/// ```
/// use shm_ring::ProducerOptions;
/// # let name = &format!("doc-options-{}", std::process::id());
/// let producer = ProducerOptions::new()
///     .mode(0o640)          // owner read-write, group read
///     .exclusive(true)      // fail if the name exists
///     .unlink_on_drop(true) // remove the name when the producer goes away
///     .create(name, 64 * 1024)?;
/// assert_eq!(producer.capacity(), 64 * 1024);
/// # Ok::<(), shm_ring::OpenError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ProducerOptions {
    mode: u32,
    exclusive: bool,
    start_index: u32,
    unlink_on_drop: bool,
}

impl Default for ProducerOptions {
    fn default() -> Self {
        ProducerOptions::new()
    }
}

impl ProducerOptions {
    /// The defaults: mode `0o600`, replace an existing segment of the same name, indices
    /// starting at 0, keep the name when dropped.
    ///
    /// ```
    /// let options = shm_ring::ProducerOptions::new();
    /// # let _ = options;
    /// ```
    pub fn new() -> ProducerOptions {
        ProducerOptions {
            mode: 0o600,
            exclusive: false,
            start_index: 0,
            unlink_on_drop: false,
        }
    }

    /// Permission bits of the new segment (only `0o777` counts). The default `0o600` lets only
    /// the owner open it. Applied exactly, whatever the process's umask.
    ///
    /// ```
    /// # let name = &format!("doc-mode-{}", std::process::id());
    /// let producer = shm_ring::ProducerOptions::new().mode(0o644).unlink_on_drop(true).create(name, 4096)?;
    /// # drop(producer);
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn mode(&mut self, mode: u32) -> &mut ProducerOptions {
        self.mode = mode;
        self
    }

    /// With `true`, fail with [`OpenError::AlreadyExists`] if a segment of this name exists.
    /// With `false` (the default) an existing segment is removed and replaced, as the original
    /// library does; consumers attached to the old one keep reading the old one.
    ///
    /// ```
    /// use shm_ring::{OpenError, ProducerOptions};
    /// # let name = &format!("doc-exclusive-{}", std::process::id());
    /// let first = ProducerOptions::new().unlink_on_drop(true).create(name, 4096)?;
    /// let second = ProducerOptions::new().exclusive(true).create(name, 4096);
    /// assert!(matches!(second, Err(OpenError::AlreadyExists { .. })));
    /// # drop(first);
    /// # Ok::<(), OpenError>(())
    /// ```
    pub fn exclusive(&mut self, exclusive: bool) -> &mut ProducerOptions {
        self.exclusive = exclusive;
        self
    }

    /// The value `head` and `tail` start from (default 0). Any value is a legal state; one just
    /// below 2^32 makes the indices wrap early, which is how the wrap is tested.
    ///
    /// ```
    /// # let name = &format!("doc-start-{}", std::process::id());
    /// let mut producer = shm_ring::ProducerOptions::new()
    ///     .start_index(u32::MAX - 8)
    ///     .unlink_on_drop(true)
    ///     .create(name, 4096)?;
    /// producer.try_write(b"crosses 2^32")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_index(&mut self, start_index: u32) -> &mut ProducerOptions {
        self.start_index = start_index;
        self
    }

    /// With `true`, dropping the producer removes the segment's name, if the name still refers
    /// to this segment (a newer producer's segment of the same name is left alone). Consumers
    /// that have it open keep working. The default is `false`: the name stays.
    ///
    /// Only the process that created the segment removes the name. A child made by `fork()`
    /// holds a copy of the producer, and when it ends normally (returning from `main`, or after
    /// a failed `exec`) it drops that copy without touching the name. The child also shares the
    /// producer's liveness lock, which belongs to the open file description: the consumer sees
    /// the producer as alive until the parent and every such child have ended or dropped it.
    ///
    /// ```
    /// # let name = &format!("doc-unlink-{}", std::process::id());
    /// let producer = shm_ring::ProducerOptions::new().unlink_on_drop(true).create(name, 4096)?;
    /// drop(producer);
    /// assert!(shm_ring::ShmConsumer::open(name).is_err());
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn unlink_on_drop(&mut self, unlink_on_drop: bool) -> &mut ProducerOptions {
        self.unlink_on_drop = unlink_on_drop;
        self
    }

    /// Creates the segment `name` for a ring of `capacity` bytes and returns its producer.
    ///
    /// `capacity` is rounded down to a power of two (100 gives 64) and must be in
    /// `8 ..= u32::MAX`; the segment is `16 + capacity` bytes, as the original library makes
    /// it. The header is written with the capacity word last, so a consumer never sees a
    /// half-initialised ring.
    ///
    /// ```
    /// # let name = &format!("doc-create-{}", std::process::id());
    /// let producer = shm_ring::ProducerOptions::new().unlink_on_drop(true).create(name, 100)?;
    /// assert_eq!(producer.capacity(), 64);
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn create(&self, name: &str, capacity: usize) -> Result<ShmProducer, OpenError> {
        let mapped = segment::create(name, capacity, self.mode, self.exclusive)?;
        Ok(ShmProducer {
            ring: RingProducer::create(
                mapped.region,
                mapped.capacity,
                self.start_index,
                mapped.flags,
            ),
            segment: mapped.segment,
            unlink_on_drop: self.unlink_on_drop,
            stats: WaitStats::default(),
            peer_check: wait::PEER_CHECK_INTERVAL,
        })
    }
}

/// The writing end of a ring in shared memory.
///
/// Methods named `try_…` never wait: when the ring is full they return
/// [`WriteError::Full`]. Each has a blocking twin without the prefix that waits up to a
/// timeout and then returns [`WriteError::Timeout`]. A message is either written whole or
/// not at all, and empty messages are refused ([`WriteError::Empty`]), because consumers of
/// the original library stall on them.
///
/// ```
/// use std::time::Duration;
/// use shm_ring::{ShmConsumer, ShmProducer};
/// # let name = &format!("doc-producer-{}", std::process::id());
///
/// let mut producer = ShmProducer::create(name, 64 * 1024)?;
/// let mut consumer = ShmConsumer::open(name)?;
///
/// producer.write(b"hello", Duration::from_secs(1))?;
/// assert_eq!(consumer.read(Duration::from_secs(1))?, b"hello");
/// # producer.unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ShmProducer {
    ring: RingProducer,
    segment: Segment,
    unlink_on_drop: bool,
    stats: WaitStats,
    /// How long a sleep lasts at most before checking that the peer is alive.
    peer_check: Duration,
}

impl fmt::Debug for ShmProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShmProducer")
            .field("name", &self.segment.name())
            .field("capacity", &self.ring.capacity())
            .finish_non_exhaustive()
    }
}

impl ShmProducer {
    /// Creates the segment `name` with default [`ProducerOptions`]: mode `0o600`, replacing
    /// any segment of the same name, indices from 0, name kept when dropped.
    ///
    /// `capacity` is rounded down to a power of two and must be in `8 ..= u32::MAX`.
    ///
    /// ```
    /// # let name = &format!("doc-shm-create-{}", std::process::id());
    /// let producer = shm_ring::ShmProducer::create(name, 1 << 20)?;
    /// assert_eq!(producer.max_message_len(), (1 << 20) - 4);
    /// # producer.unlink()?;
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn create(name: &str, capacity: usize) -> Result<ShmProducer, OpenError> {
        ProducerOptions::new().create(name, capacity)
    }

    /// The segment's name, without a leading `/`.
    ///
    /// ```
    /// # let name = format!("doc-name-{}", std::process::id());
    /// let producer = shm_ring::ShmProducer::create(&format!("/{name}"), 4096)?;
    /// assert_eq!(producer.name(), name);
    /// # producer.unlink()?;
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn name(&self) -> &str {
        self.segment.name()
    }

    /// Capacity of the data area in bytes (a power of two).
    ///
    /// ```
    /// # let name = &format!("doc-capacity-{}", std::process::id());
    /// let producer = shm_ring::ShmProducer::create(name, 6_220_800)?;
    /// assert_eq!(producer.capacity(), 4_194_304);
    /// # producer.unlink()?;
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.ring.capacity() as usize
    }

    /// The longest message the ring can ever carry: `capacity - 4`.
    ///
    /// ```
    /// # let name = &format!("doc-max-{}", std::process::id());
    /// let producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// assert_eq!(producer.max_message_len(), 4092);
    /// # producer.unlink()?;
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn max_message_len(&self) -> usize {
        self.ring.max_payload() as usize
    }

    /// Bytes written and not yet read, length prefixes included.
    ///
    /// ```
    /// # let name = &format!("doc-readable-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// producer.try_write(b"abc")?;
    /// assert_eq!(producer.readable_bytes(), 4 + 3);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn readable_bytes(&mut self) -> usize {
        self.ring.readable_bytes() as usize
    }

    /// Free bytes. A message of `n` bytes needs `4 + n`.
    ///
    /// ```
    /// # let name = &format!("doc-writable-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// producer.try_write(b"abc")?;
    /// assert_eq!(producer.writable_bytes(), 4096 - 7);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn writable_bytes(&mut self) -> usize {
        self.ring.writable_bytes() as usize
    }

    /// Whether the consumer has read everything written.
    ///
    /// ```
    /// # let name = &format!("doc-is-empty-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// assert!(producer.is_empty());
    /// producer.try_write(b"abc")?;
    /// assert!(!producer.is_empty());
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&mut self) -> bool {
        self.readable_bytes() == 0
    }

    /// Whether the consumer's process is alive: `Some(true)` while a consumer of this crate
    /// (or the Python or C++ peers in this repository) is attached, `Some(false)` once it has
    /// exited or been killed, and `None` when no such consumer has attached, or the consumer
    /// is a program of the original library, which announces nothing.
    ///
    /// ```
    /// # let name = &format!("doc-peer-alive-{}", std::process::id());
    /// let producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// assert_eq!(producer.is_peer_alive(), None); // nobody attached yet
    /// let consumer = shm_ring::ShmConsumer::open(name)?;
    /// assert_eq!(producer.is_peer_alive(), Some(true));
    /// drop(consumer);
    /// assert_eq!(producer.is_peer_alive(), Some(false));
    /// # producer.unlink()?;
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn is_peer_alive(&self) -> Option<bool> {
        self.segment
            .peer_alive(Role::Consumer, self.ring.peer_flags())
    }

    /// Sets how often a blocking call that sleeps checks whether the consumer is still alive
    /// (default 20 ms): a consumer that dies is noticed at most this late. A sleeping call is
    /// woken by the consumer as soon as there is something to do, so the interval only trades
    /// how quickly a dead peer is noticed against how often an idle end wakes up to look.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let name = &format!("doc-check-producer-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// producer.set_peer_check_interval(Duration::from_millis(200));
    /// # producer.unlink()?;
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn set_peer_check_interval(&mut self, interval: Duration) {
        self.peer_check = interval;
    }

    /// How this producer has slept in blocking calls so far; see [`WaitStats`].
    ///
    /// ```
    /// # let name = &format!("doc-producer-stats-{}", std::process::id());
    /// let producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// assert_eq!(producer.wait_stats(), shm_ring::WaitStats::default());
    /// # producer.unlink()?;
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn wait_stats(&self) -> WaitStats {
        self.stats
    }

    /// Publishes what is staged and wakes the consumer if it sleeps.
    #[inline]
    fn publish(&mut self) {
        if self.ring.publish() {
            wait::wake(self.ring.own_index());
        }
    }

    /// Writes one message if there is room for it now.
    ///
    /// ```
    /// use shm_ring::WriteError;
    /// # let name = &format!("doc-try-write-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 16)?;
    /// producer.try_write(b"12 bytes!!!!")?;
    /// assert_eq!(producer.try_write(b"x"), Err(WriteError::Full));
    /// assert_eq!(producer.try_write(b""), Err(WriteError::Empty));
    /// assert_eq!(producer.try_write(&[0; 13]), Err(WriteError::TooLarge { len: 13, max: 12 }));
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_write(&mut self, message: &[u8]) -> Result<(), WriteError> {
        self.ring.stage(message)?;
        self.publish();
        Ok(())
    }

    /// Writes one message, waiting up to `timeout` for room. Fails with
    /// [`WriteError::PeerGone`] once the consumer's process is gone, instead of waiting out
    /// the timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let name = &format!("doc-write-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 16)?;
    /// producer.write(b"12 bytes!!!!", Duration::from_secs(1))?;
    /// // Nobody reads, so the next one times out.
    /// let full = producer.write(b"x", Duration::from_millis(10));
    /// assert_eq!(full, Err(shm_ring::WriteError::Timeout));
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn write(&mut self, message: &[u8], timeout: Duration) -> Result<(), WriteError> {
        wait::retry(
            self,
            timeout,
            WriteError::Timeout,
            WriteError::PeerGone,
            |producer| full_is_none(producer.try_write(message)),
        )
    }

    /// Reserves room for a message of `len` bytes and lends it out in place, so it can be
    /// filled without an intermediate buffer. Nothing is visible to the consumer until
    /// [`WriteGrant::commit`]; dropping the grant writes nothing.
    ///
    /// ```
    /// # let name = &format!("doc-try-reserve-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut grant = producer.try_reserve(5)?;
    /// let (first, second) = grant.as_mut_slices();
    /// // The space is one slice, or two when it wraps around the end of the ring.
    /// for (i, byte) in first.iter_mut().chain(second.iter_mut()).enumerate() {
    ///     *byte = b'a' + i as u8;
    /// }
    /// grant.commit();
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_reserve(&mut self, len: usize) -> Result<WriteGrant<'_>, WriteError> {
        let len = self.ring.reserve(len)?;
        Ok(WriteGrant {
            ring: &mut self.ring,
            len,
        })
    }

    /// Like [`try_reserve`](Self::try_reserve), waiting up to `timeout` for room.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let name = &format!("doc-reserve-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut grant = producer.reserve(3, Duration::from_secs(1))?;
    /// grant.as_mut_slices().0.copy_from_slice(b"abc");
    /// grant.commit();
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn reserve(&mut self, len: usize, timeout: Duration) -> Result<WriteGrant<'_>, WriteError> {
        let len = wait::retry(
            self,
            timeout,
            WriteError::Timeout,
            WriteError::PeerGone,
            |producer| full_is_none(producer.ring.reserve(len)),
        )?;
        Ok(WriteGrant {
            ring: &mut self.ring,
            len,
        })
    }

    /// Writes as many of `messages`, in order, as fit now, and publishes them together with a
    /// single store of `head` (one per quarter of the ring in a longer batch, so the consumer
    /// can start on it early). Returns how many were written.
    ///
    /// If even the first does not fit, or is empty or too large, returns that error. A later
    /// message that cannot be written ends the batch; the messages before it are written and
    /// counted, and a following call that starts with it reports its error.
    ///
    /// ```
    /// # let name = &format!("doc-try-batch-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 32)?;
    /// // Each needs 4 + 8 bytes: two fit in 32.
    /// let messages = [[1u8; 8], [2; 8], [3; 8]];
    /// assert_eq!(producer.try_write_batch(&messages)?, 2);
    /// assert_eq!(producer.try_write_batch(&messages[2..]), Err(shm_ring::WriteError::Full));
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_write_batch<M: AsRef<[u8]>>(&mut self, messages: &[M]) -> Result<usize, WriteError> {
        let mut written = 0;
        let quarter = self.ring.capacity() / 4;
        for message in messages {
            match self.ring.stage(message.as_ref()) {
                Ok(()) => {
                    written += 1;
                    // Publishing every quarter of the ring lets the consumer start on a long
                    // batch while the rest is copied, instead of waiting for all of it.
                    if self.ring.unpublished_bytes() >= quarter {
                        self.publish();
                    }
                }
                Err(e) if written == 0 => return Err(e),
                Err(_) => break,
            }
        }
        self.publish();
        Ok(written)
    }

    /// Like [`try_write_batch`](Self::try_write_batch), waiting up to `timeout` until at least
    /// the first message fits. Returns how many were written (0 only for an empty slice).
    ///
    /// ```
    /// use std::time::Duration;
    /// # let name = &format!("doc-batch-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let messages: Vec<Vec<u8>> = (1..=10u8).map(|n| vec![n; n as usize]).collect();
    /// let mut sent = 0;
    /// while sent < messages.len() {
    ///     sent += producer.write_batch(&messages[sent..], Duration::from_secs(1))?;
    /// }
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_batch<M: AsRef<[u8]>>(
        &mut self,
        messages: &[M],
        timeout: Duration,
    ) -> Result<usize, WriteError> {
        wait::retry(
            self,
            timeout,
            WriteError::Timeout,
            WriteError::PeerGone,
            |producer| full_is_none(producer.try_write_batch(messages)),
        )
    }

    /// Writes one plain-data value as a message of `size_of::<T>()` bytes, in the machine's
    /// byte order.
    ///
    /// ```
    /// #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    /// #[repr(C)]
    /// struct Tick { price: f64, volume: u32, venue: u32 }
    ///
    /// # let name = &format!("doc-try-value-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// producer.try_write_value(&Tick { price: 101.5, volume: 300, venue: 2 })?;
    /// assert_eq!(producer.readable_bytes(), 4 + 16);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_write_value<T: Pod>(&mut self, value: &T) -> Result<(), WriteError> {
        self.try_write(bytemuck::bytes_of(value))
    }

    /// Like [`try_write_value`](Self::try_write_value), waiting up to `timeout` for room.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let name = &format!("doc-value-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// producer.write_value(&42u64, Duration::from_secs(1))?;
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_value<T: Pod>(&mut self, value: &T, timeout: Duration) -> Result<(), WriteError> {
        self.write(bytemuck::bytes_of(value), timeout)
    }

    /// Writes a slice of plain-data values as one message, e.g. an array a numpy reader maps
    /// with `frombuffer`.
    ///
    /// ```
    /// # let name = &format!("doc-try-values-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// producer.try_write_values(&[1.0f32, 2.0, 3.0])?;
    /// assert_eq!(producer.readable_bytes(), 4 + 12);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_write_values<T: Pod>(&mut self, values: &[T]) -> Result<(), WriteError> {
        self.try_write(bytemuck::cast_slice(values))
    }

    /// Like [`try_write_values`](Self::try_write_values), waiting up to `timeout` for room.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let name = &format!("doc-values-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// producer.write_values(&[1u16, 2, 3], Duration::from_secs(1))?;
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_values<T: Pod>(
        &mut self,
        values: &[T],
        timeout: Duration,
    ) -> Result<(), WriteError> {
        self.write(bytemuck::cast_slice(values), timeout)
    }

    /// Waits up to `timeout` until the consumer has read everything written. Fails with
    /// [`WriteError::PeerGone`] if the consumer's process goes away first.
    ///
    /// ```
    /// use std::time::Duration;
    /// use shm_ring::{ShmConsumer, ShmProducer, WriteError};
    /// # let name = &format!("doc-wait-empty-{}", std::process::id());
    /// let mut producer = ShmProducer::create(name, 4096)?;
    /// producer.try_write(b"pending")?;
    /// assert_eq!(producer.wait_until_empty(Duration::from_millis(5)), Err(WriteError::Timeout));
    /// ShmConsumer::open(name)?.try_read()?;
    /// producer.wait_until_empty(Duration::from_secs(1))?;
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_until_empty(&mut self, timeout: Duration) -> Result<(), WriteError> {
        wait::retry(
            self,
            timeout,
            WriteError::Timeout,
            WriteError::PeerGone,
            |producer| Ok((producer.ring.readable_bytes() == 0).then_some(())),
        )
    }

    /// Removes the segment's name now, if it still refers to this segment. Returns whether it
    /// did. The ring keeps working for everyone who has it open.
    ///
    /// ```
    /// # let name = &format!("doc-unlink-now-{}", std::process::id());
    /// let producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// assert!(producer.unlink()?);
    /// assert!(!producer.unlink()?); // already gone
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn unlink(&self) -> Result<bool, OpenError> {
        self.segment.unlink()
    }
}

impl Blocking for ShmProducer {
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

impl Drop for ShmProducer {
    fn drop(&mut self) {
        // A child made by `fork()` that ends normally drops its copy of the handle too; only the
        // process that created the segment removes its name.
        if self.unlink_on_drop && self.segment.is_own_process() {
            // Nothing useful can be done with an error while dropping.
            let _ = self.segment.unlink();
        }
    }
}

/// Turns [`WriteError::Full`] into "not yet" for [`wait::retry`](crate::wait::retry).
fn full_is_none<T>(result: Result<T, WriteError>) -> Result<Option<T>, WriteError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(WriteError::Full) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Space for one message, reserved in the ring and writable in place.
///
/// Made by [`ShmProducer::try_reserve`] and [`ShmProducer::reserve`]. Fill
/// [`as_mut_slices`](WriteGrant::as_mut_slices), then [`commit`](WriteGrant::commit). Dropping
/// the grant without committing publishes nothing.
///
/// ```
/// # let name = &format!("doc-grant-{}", std::process::id());
/// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
/// let mut grant = producer.try_reserve(4)?;
/// assert_eq!(grant.len(), 4);
/// let (first, second) = grant.as_mut_slices();
/// assert_eq!(first.len() + second.len(), 4);
/// drop(grant); // nothing written
/// assert!(producer.is_empty());
/// # producer.unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WriteGrant<'a> {
    ring: &'a mut RingProducer,
    len: u32,
}

impl fmt::Debug for WriteGrant<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteGrant")
            .field("len", &self.len)
            .finish()
    }
}

impl WriteGrant<'_> {
    /// The message's length in bytes.
    ///
    /// ```
    /// # let name = &format!("doc-grant-len-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// assert_eq!(producer.try_reserve(10)?.len(), 10);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Always `false`: empty messages cannot be reserved.
    ///
    /// ```
    /// # let name = &format!("doc-grant-empty-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// assert!(!producer.try_reserve(1)?.is_empty());
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The reserved space in place: one slice, or two when it wraps around the end of the
    /// ring (the message is the first followed by the second). Its previous contents are
    /// whatever was there before, not zeros.
    ///
    /// # Shared memory
    /// The slices point into the mapping. A consumer that follows the protocol never touches
    /// unpublished space; a process that breaks it can read or write these bytes meanwhile,
    /// which breaks the promise a `&mut [u8]` makes (see the
    /// [trust model](crate#trust-model)).
    ///
    /// ```
    /// # let name = &format!("doc-grant-slices-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut grant = producer.try_reserve(6)?;
    /// let (first, second) = grant.as_mut_slices();
    /// let split = first.len();
    /// first.copy_from_slice(&b"abcdef"[..split]);
    /// second.copy_from_slice(&b"abcdef"[split..]);
    /// grant.commit();
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn as_mut_slices(&mut self) -> (&mut [u8], &mut [u8]) {
        self.ring.payload_slices_mut(self.len)
    }

    /// Publishes the message.
    ///
    /// ```
    /// # let name = &format!("doc-grant-commit-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut grant = producer.try_reserve(2)?;
    /// grant.as_mut_slices().0.copy_from_slice(b"ok");
    /// grant.commit();
    /// assert_eq!(producer.readable_bytes(), 6);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn commit(self) {
        if self.ring.commit(self.len) {
            wait::wake(self.ring.own_index());
        }
    }
}
