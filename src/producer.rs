//! The writing end of a ring: [`ShmProducer`] and its options.

use std::fmt;
use std::time::Duration;

use crate::end::{End, PeerState};
use crate::error::{OpenError, TryWriteError, WaitTimeoutError, WriteTimeoutError};
use crate::ring::RingProducer;
use crate::segment;
use crate::wait::{self, WaitStats};
use crate::write_grant::WriteGrant;

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
    /// the owner open it. Applied exactly, whatever the process's umask, except on macOS,
    /// whose kernel cannot change a shared-memory object's mode after `shm_open`: there the
    /// umask's bits are cleared from it.
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

    /// Creates the segment `name` for a ring of at least `capacity` bytes and returns its
    /// producer.
    ///
    /// `capacity` is rounded up to a power of two (100 gives 128, 1 gives the smallest ring,
    /// 8) and must be in `1 ..= 2^31`; otherwise [`OpenError::CapacityOutOfRange`]. The
    /// longest message the ring carries is the capacity minus its 4-byte length prefix: to
    /// carry messages of up to `n` bytes, ask for
    /// [`capacity_for_message(n)`](crate::capacity_for_message). The header is written with
    /// the capacity word last, so a consumer never sees a half-initialised ring.
    ///
    /// ```
    /// # let name = &format!("doc-create-{}", std::process::id());
    /// let producer = shm_ring::ProducerOptions::new().unlink_on_drop(true).create(name, 100)?;
    /// assert_eq!(producer.capacity(), 128);
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn create(&self, name: &str, capacity: usize) -> Result<ShmProducer, OpenError> {
        let mapped = segment::create(name, capacity, self.mode, self.exclusive)?;
        let ring = RingProducer::create(
            mapped.region,
            mapped.capacity,
            self.start_index,
            mapped.flags,
        );
        Ok(ShmProducer {
            end: End::new(ring, mapped.segment),
            unlink_on_drop: self.unlink_on_drop,
        })
    }
}

/// The writing end of a ring in shared memory.
///
/// Each way of writing comes as a pair: `try_…` never waits and fails with
/// [`TryWriteError`] (`Full` when there is no room now); its twin without the prefix waits up
/// to a timeout and fails with [`WriteTimeoutError`] (`Timeout`, or `PeerGone` once the
/// consumer's process is gone). A message is written whole or not at all, and empty messages
/// are refused (`Empty`), because consumers of the original library stall on them.
///
/// | to write                                   | call                                      |
/// |--------------------------------------------|-------------------------------------------|
/// | a byte slice                               | [`try_write`](Self::try_write) / [`write`](Self::write) |
/// | in place, without a staging buffer         | [`try_reserve`](Self::try_reserve) / [`reserve`](Self::reserve), then [`WriteGrant::commit`] |
/// | many messages, publishing once             | [`try_write_batch`](Self::try_write_batch) / [`write_batch`](Self::write_batch) |
/// | a plain-data value or slice                | `try_write(bytemuck::bytes_of(&value))`, `try_write(bytemuck::cast_slice(&values))` |
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
/// assert_eq!(consumer.read(Duration::from_secs(1))?.into_vec(), b"hello");
/// # producer.unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ShmProducer {
    end: End<RingProducer>,
    unlink_on_drop: bool,
}

impl fmt::Debug for ShmProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShmProducer")
            .field("name", &self.end.segment.name())
            .field("capacity", &self.end.ring.capacity())
            .finish_non_exhaustive()
    }
}

impl ShmProducer {
    /// Creates the segment `name` with default [`ProducerOptions`]: mode `0o600`, replacing
    /// any segment of the same name that no live producer holds, indices from 0, name kept
    /// when dropped.
    ///
    /// `capacity` is rounded up to a power of two and must be in `1 ..= 2^31`; see
    /// [`ProducerOptions::create`].
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

    /// Takes over the producer role of the existing ring `name`, whose producer is gone,
    /// writing on after what is already in it: messages published before and not yet read
    /// stay, and the consumer (attached or to come) reads them first.
    ///
    /// This is how a producer process that restarts continues its stream, and how a ring of the
    /// original library's layout, made by another program that has ended, is written to. The
    /// segment is left as it is: its size, mode and capacity, and its name when dropped.
    ///
    /// # Errors
    /// [`OpenError::InUse`] while a live producer holds the ring, and the errors of
    /// [`ShmConsumer::open`](crate::ShmConsumer::open) for a segment that is missing, not yet
    /// initialised or not a valid ring.
    ///
    /// (On Windows the ring would go with its last handle when `first` is dropped; a consumer
    /// that keeps it open lets a second producer take it over there.)
    ///
    /// ```ignore-windows
    /// use shm_ring::{OpenError, ShmConsumer, ShmProducer};
    /// # let name = &format!("doc-producer-open-{}", std::process::id());
    /// let mut first = ShmProducer::create(name, 4096)?;
    /// first.try_write(b"one")?;
    /// assert!(matches!(ShmProducer::open(name), Err(OpenError::InUse { .. })));
    /// drop(first); // its process would have ended
    ///
    /// let mut second = ShmProducer::open(name)?;
    /// second.try_write(b"two")?;
    /// let mut consumer = ShmConsumer::open(name)?;
    /// assert_eq!(consumer.try_read()?.into_vec(), b"one");
    /// assert_eq!(consumer.try_read()?.into_vec(), b"two");
    /// # second.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(name: &str) -> Result<ShmProducer, OpenError> {
        let mapped = segment::open_producer(name)?;
        let ring = RingProducer::resume(mapped.region, mapped.capacity, mapped.flags);
        Ok(ShmProducer {
            end: End::new(ring, mapped.segment),
            unlink_on_drop: false,
        })
    }

    /// The ring side and segment, for the large-message sender built on this producer.
    pub(crate) fn end(&self) -> &End<RingProducer> {
        &self.end
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
        self.end.segment.name()
    }

    /// Capacity of the data area in bytes: the requested capacity rounded up to a power of
    /// two.
    ///
    /// ```
    /// # let name = &format!("doc-capacity-{}", std::process::id());
    /// let producer = shm_ring::ShmProducer::create(name, 6_220_800)?;
    /// assert_eq!(producer.capacity(), 8_388_608);
    /// # producer.unlink()?;
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.end.ring.capacity() as usize
    }

    /// The longest message the ring can ever carry: `capacity - 4` bytes.
    ///
    /// ```
    /// # let name = &format!("doc-max-{}", std::process::id());
    /// let producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// assert_eq!(producer.max_message_len(), 4092);
    /// # producer.unlink()?;
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn max_message_len(&self) -> usize {
        self.end.ring.max_payload() as usize
    }

    /// Bytes written and not yet read, length prefixes included, by a fresh look at the
    /// consumer's index.
    ///
    /// ```
    /// # let name = &format!("doc-readable-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// producer.try_write(b"abc")?;
    /// assert_eq!(producer.readable_bytes(), 4 + 3);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn readable_bytes(&self) -> usize {
        self.end.ring.readable_bytes() as usize
    }

    /// Free bytes, by a fresh look at the consumer's index. A message of `n` bytes needs
    /// `4 + n`.
    ///
    /// ```
    /// # let name = &format!("doc-writable-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// producer.try_write(b"abc")?;
    /// assert_eq!(producer.writable_bytes(), 4096 - 7);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn writable_bytes(&self) -> usize {
        self.end.ring.writable_bytes() as usize
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
    pub fn is_empty(&self) -> bool {
        self.readable_bytes() == 0
    }

    /// Whether the consumer's process is alive: [`PeerState::Unknown`] until a consumer of
    /// this crate (or of the Python or C++ peers in this repository) attaches, and always for
    /// a consumer of the original library, which announces nothing.
    ///
    /// A consumer that is [`Alive`](PeerState::Alive) may exit the moment after; one that is
    /// [`Gone`](PeerState::Gone) may be followed by a new one attaching and reading on from
    /// where it stopped. The answer is a snapshot, not a promise.
    ///
    /// ```
    /// use shm_ring::{PeerState, ShmConsumer, ShmProducer};
    /// # let name = &format!("doc-peer-state-producer-{}", std::process::id());
    /// let producer = ShmProducer::create(name, 4096)?;
    /// assert_eq!(producer.peer_state(), PeerState::Unknown); // nobody attached yet
    /// let consumer = ShmConsumer::open(name)?;
    /// assert_eq!(producer.peer_state(), PeerState::Alive);
    /// drop(consumer);
    /// assert_eq!(producer.peer_state(), PeerState::Gone);
    /// # producer.unlink()?;
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn peer_state(&self) -> PeerState {
        self.end.peer_state()
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
        self.end.set_peer_check_interval(interval);
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
        self.end.wait_stats()
    }

    /// Writes one message if there is room for it now.
    ///
    /// A plain-data value or slice is written as its bytes:
    /// `try_write(bytemuck::bytes_of(&value))` or `try_write(bytemuck::cast_slice(&values))`.
    ///
    /// ```
    /// use shm_ring::TryWriteError;
    /// # let name = &format!("doc-try-write-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 16)?;
    /// producer.try_write(b"12 bytes!!!!")?;
    /// assert_eq!(producer.try_write(b"x"), Err(TryWriteError::Full));
    /// assert_eq!(producer.try_write(b""), Err(TryWriteError::Empty));
    /// let too_large = producer.try_write(&[0; 13]).unwrap_err();
    /// assert_eq!(
    ///     too_large.to_string(),
    ///     "a 13-byte message can never fit: the largest this ring carries is 12 bytes; \
    ///      create the ring with capacity 32 to carry it"
    /// );
    ///
    /// #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    /// #[repr(C)]
    /// struct Tick { price: f64, volume: u32, venue: u32 }
    /// # let name = &format!("doc-try-write-pod-{}", std::process::id());
    /// let mut ticks = shm_ring::ShmProducer::create(name, 4096)?;
    /// ticks.try_write(bytemuck::bytes_of(&Tick { price: 101.5, volume: 300, venue: 2 }))?;
    /// ticks.try_write(bytemuck::cast_slice(&[1.0f32, 2.0, 3.0]))?;
    /// assert_eq!(ticks.readable_bytes(), (4 + 16) + (4 + 12));
    /// # producer.unlink()?;
    /// # ticks.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_write(&mut self, message: &[u8]) -> Result<(), TryWriteError> {
        write_one(&mut self.end.ring, message)
    }

    /// Writes one message, waiting up to `timeout` for room. Fails with
    /// [`WriteTimeoutError::PeerGone`] once the consumer's process is gone, instead of waiting
    /// out the timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let name = &format!("doc-write-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 16)?;
    /// producer.write(b"12 bytes!!!!", Duration::from_secs(1))?;
    /// // Nobody reads, so the next one times out.
    /// let full = producer.write(b"x", Duration::from_millis(10));
    /// assert_eq!(full, Err(shm_ring::WriteTimeoutError::Timeout));
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn write(&mut self, message: &[u8], timeout: Duration) -> Result<(), WriteTimeoutError> {
        wait::retry(
            &mut self.end,
            timeout,
            WriteTimeoutError::Timeout,
            WriteTimeoutError::PeerGone,
            |end| full_is_none(write_one(&mut end.ring, message)),
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
    /// grant.copy_from_slice(b"hello");
    /// grant.commit();
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_reserve(&mut self, len: usize) -> Result<WriteGrant<'_>, TryWriteError> {
        let len = self.end.ring.reserve(len)?;
        Ok(WriteGrant::new(&mut self.end.ring, len))
    }

    /// Like [`try_reserve`](Self::try_reserve), waiting up to `timeout` for room.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let name = &format!("doc-reserve-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut grant = producer.reserve(3, Duration::from_secs(1))?;
    /// grant.copy_from_slice(b"abc");
    /// grant.commit();
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn reserve(
        &mut self,
        len: usize,
        timeout: Duration,
    ) -> Result<WriteGrant<'_>, WriteTimeoutError> {
        let len = wait::retry(
            &mut self.end,
            timeout,
            WriteTimeoutError::Timeout,
            WriteTimeoutError::PeerGone,
            |end| full_is_none(end.ring.reserve(len)),
        )?;
        Ok(WriteGrant::new(&mut self.end.ring, len))
    }

    /// Writes as many of `messages`, in order, as fit now, and publishes them together with a
    /// single store of `head` (one per quarter of the ring in a longer batch, so the consumer
    /// can start on it early). Returns how many were written (0 only for an empty slice).
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
    /// assert_eq!(producer.try_write_batch(&messages[2..]), Err(shm_ring::TryWriteError::Full));
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_write_batch<M: AsRef<[u8]>>(
        &mut self,
        messages: &[M],
    ) -> Result<usize, TryWriteError> {
        write_batch(&mut self.end.ring, messages)
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
    ) -> Result<usize, WriteTimeoutError> {
        wait::retry(
            &mut self.end,
            timeout,
            WriteTimeoutError::Timeout,
            WriteTimeoutError::PeerGone,
            |end| full_is_none(write_batch(&mut end.ring, messages)),
        )
    }

    /// Waits up to `timeout` until the consumer has read everything written. Fails with
    /// [`WaitTimeoutError::PeerGone`] if the consumer's process goes away first.
    ///
    /// ```
    /// use std::time::Duration;
    /// use shm_ring::{ShmConsumer, ShmProducer, WaitTimeoutError};
    /// # let name = &format!("doc-wait-empty-{}", std::process::id());
    /// let mut producer = ShmProducer::create(name, 4096)?;
    /// producer.try_write(b"pending")?;
    /// let waited = producer.wait_until_empty(Duration::from_millis(5));
    /// assert_eq!(waited, Err(WaitTimeoutError::Timeout));
    /// ShmConsumer::open(name)?.try_read()?.commit();
    /// producer.wait_until_empty(Duration::from_secs(1))?;
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_until_empty(&mut self, timeout: Duration) -> Result<(), WaitTimeoutError> {
        wait::retry(
            &mut self.end,
            timeout,
            WaitTimeoutError::Timeout,
            WaitTimeoutError::PeerGone,
            |end| Ok((end.ring.readable_bytes() == 0).then_some(())),
        )
    }

    /// Removes the segment's name now, if it still refers to this segment. Returns whether it
    /// did. The ring keeps working for everyone who has it open. (To remove a segment by
    /// name, without holding its producer, use [`remove`](crate::remove).)
    ///
    /// On Windows a named mapping has no name to remove (it disappears with the last handle
    /// to it), so this removes nothing and returns `Ok(false)`.
    ///
    /// ```ignore-windows
    /// # let name = &format!("doc-unlink-now-{}", std::process::id());
    /// let producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// assert!(producer.unlink()?);
    /// assert!(!producer.unlink()?); // already gone
    /// # Ok::<(), shm_ring::OpenError>(())
    /// ```
    pub fn unlink(&self) -> Result<bool, OpenError> {
        self.end.segment.unlink()
    }
}

impl Drop for ShmProducer {
    fn drop(&mut self) {
        // A child made by `fork()` that ends normally drops its copy of the handle too; only the
        // process that created the segment removes its name.
        if self.unlink_on_drop && self.end.segment.is_own_process() {
            // Nothing useful can be done with an error while dropping.
            let _ = self.end.segment.unlink();
        }
    }
}

/// Publishes what is staged and wakes the consumer if it sleeps.
#[inline]
fn publish(ring: &mut RingProducer) {
    if ring.publish() {
        wait::wake(ring.own_index());
    }
}

/// Writes and publishes one message.
#[inline]
fn write_one(ring: &mut RingProducer, message: &[u8]) -> Result<(), TryWriteError> {
    ring.stage(message)?;
    publish(ring);
    Ok(())
}

/// Writes as many of `messages` as fit now, publishing once per quarter of the ring and at
/// the end.
fn write_batch<M: AsRef<[u8]>>(
    ring: &mut RingProducer,
    messages: &[M],
) -> Result<usize, TryWriteError> {
    let mut written = 0;
    let quarter = ring.capacity() / 4;
    for message in messages {
        match ring.stage(message.as_ref()) {
            Ok(()) => {
                written += 1;
                // Publishing every quarter of the ring lets the consumer start on a long
                // batch while the rest is copied, instead of waiting for all of it.
                if ring.unpublished_bytes() >= quarter {
                    publish(ring);
                }
            }
            Err(e) if written == 0 => return Err(e),
            Err(_) => break,
        }
    }
    publish(ring);
    Ok(written)
}

/// Turns [`TryWriteError::Full`] into "not yet" for [`wait::retry`], and any other error into
/// the blocking call's.
fn full_is_none<T>(result: Result<T, TryWriteError>) -> Result<Option<T>, WriteTimeoutError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(TryWriteError::Full) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
