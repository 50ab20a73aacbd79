//! [`LargeSender`]: sends messages of any size through a ring, small ones inline and large
//! ones through a pool slot.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use super::envelope::{self, ENVELOPE_LEN, KIND_INLINE, REFERENCE_MESSAGE_LEN, VERSION};
use crate::layout::{RECEIVER_ENVELOPE, RECEIVER_LOCK_BYTE};
use crate::{
    AcquireTimeoutError, BufferPool, LargeSetupError, PoolLoan, PublishError, SendTimeoutError,
    ShmProducer, TryAcquireError, TrySendError, TryWriteError, WriteGrant, WriteTimeoutError,
};

/// The inline threshold a sender starts with: payloads of up to this many bytes travel in
/// the ring, larger ones through the pool.
pub const DEFAULT_INLINE_THRESHOLD: usize = 4096;

/// How long a blocking send sleeps between two looks for a receiver that has not attached yet.
const RECEIVER_POLL: Duration = Duration::from_millis(1);

/// The sending end of a large-message ring: a [`ShmProducer`] and a [`BufferPool`], sending
/// messages of any size (up to the pool's slot size) in one call.
///
/// A payload of up to [`inline_threshold`](Self::inline_threshold) bytes travels in the ring
/// behind an 8-byte envelope; a larger one is copied into a free pool slot, and only a 72-byte
/// reference to it travels in the ring. The [`LargeReceiver`](crate::LargeReceiver) at the
/// other end hands out either as one [`LargeMessage`](crate::LargeMessage) guard.
///
/// Every ring message carries an envelope, so the consumer must be a `LargeReceiver`: a sender
/// sends nothing until one has announced itself on the ring (in the ring's extension block,
/// while holding a lock that dies with its process). To a plain consumer, of this crate or of
/// the original library, it sends nothing: [`TrySendError::NoReceiver`].
///
/// ```
/// use std::time::Duration;
/// use shm_ring::{BufferPool, LargeReceiver, LargeSender, ShmConsumer, ShmProducer};
/// # let name = &format!("doc-large-sender-{}", std::process::id());
/// let producer = ShmProducer::create(name, 1 << 16)?;
/// let pool = BufferPool::create_unique(4, 8 << 20)?; // 4 slots of 8 MiB
/// let mut sender = LargeSender::new(producer, pool)?;
///
/// // Usually in another process:
/// let receiver = LargeReceiver::new(ShmConsumer::open(name)?)?;
///
/// sender.send(b"small", Duration::from_secs(1))?;
/// sender.send(&vec![7u8; 1 << 20], Duration::from_secs(1))?;
/// assert_eq!(&*receiver.recv(Duration::from_secs(1))?, b"small");
/// let frame = receiver.recv(Duration::from_secs(1))?; // read in place from a pool slot
/// assert!(frame.is_by_reference() && frame.len() == 1 << 20);
/// # drop(frame);
/// # sender.producer().unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LargeSender {
    producer: ShmProducer,
    pool: BufferPool,
    inline_threshold: usize,
}

impl fmt::Debug for LargeSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LargeSender")
            .field("ring", &self.producer.name())
            .field("pool", &self.pool.name())
            .field("inline_threshold", &self.inline_threshold)
            .finish()
    }
}

impl LargeSender {
    /// A sender writing into `producer`'s ring and `pool`'s slots, with the inline threshold
    /// [`DEFAULT_INLINE_THRESHOLD`] (or less, if the ring carries less).
    ///
    /// A ring whose largest message is shorter than a reference message (72 bytes; a
    /// capacity below 128) is [`LargeSetupError::RingTooSmall`].
    ///
    /// ```
    /// use shm_ring::{BufferPool, LargeSender, ShmProducer};
    /// # let name = &format!("doc-large-sender-new-{}", std::process::id());
    /// let sender = LargeSender::new(ShmProducer::create(name, 1024)?, BufferPool::create_unique(2, 1 << 20)?)?;
    /// assert_eq!(sender.inline_threshold(), 1020 - 8); // what the ring carries, less the envelope
    /// # sender.producer().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(producer: ShmProducer, pool: BufferPool) -> Result<LargeSender, LargeSetupError> {
        if producer.max_message_len() < REFERENCE_MESSAGE_LEN {
            return Err(LargeSetupError::RingTooSmall {
                ring: producer.name().to_owned(),
                max_message_len: producer.max_message_len(),
                needed: REFERENCE_MESSAGE_LEN,
            });
        }
        let mut sender = LargeSender {
            producer,
            pool,
            inline_threshold: 0,
        };
        sender.set_inline_threshold(DEFAULT_INLINE_THRESHOLD);
        Ok(sender)
    }

    /// Sets the inline threshold: payloads of up to `threshold` bytes travel in the ring, larger
    /// ones through the pool. It is capped at what the ring carries besides the envelope
    /// (`capacity - 12` bytes); returns the threshold in effect.
    ///
    /// ```
    /// use shm_ring::{BufferPool, LargeSender, ShmProducer};
    /// # let name = &format!("doc-large-threshold-{}", std::process::id());
    /// let mut sender = LargeSender::new(ShmProducer::create(name, 1 << 16)?, BufferPool::create_unique(2, 1 << 20)?)?;
    /// assert_eq!(sender.set_inline_threshold(0), 0); // everything through the pool
    /// assert_eq!(sender.set_inline_threshold(1 << 20), (1 << 16) - 12);
    /// # sender.producer().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_inline_threshold(&mut self, threshold: usize) -> usize {
        self.inline_threshold = threshold.min(self.producer.max_message_len() - ENVELOPE_LEN);
        self.inline_threshold
    }

    /// The inline threshold in bytes: payloads of up to this many bytes travel in the ring.
    ///
    /// ```
    /// use shm_ring::{BufferPool, LargeSender, ShmProducer, DEFAULT_INLINE_THRESHOLD};
    /// # let name = &format!("doc-large-threshold-get-{}", std::process::id());
    /// let sender = LargeSender::new(ShmProducer::create(name, 1 << 16)?, BufferPool::create_unique(2, 1 << 20)?)?;
    /// assert_eq!(sender.inline_threshold(), DEFAULT_INLINE_THRESHOLD);
    /// # sender.producer().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn inline_threshold(&self) -> usize {
        self.inline_threshold
    }

    /// The largest message this sender carries, in bytes: the pool's slot size, or the inline
    /// threshold if that is larger.
    ///
    /// ```
    /// use shm_ring::{BufferPool, LargeSender, ShmProducer};
    /// # let name = &format!("doc-large-max-{}", std::process::id());
    /// let sender = LargeSender::new(ShmProducer::create(name, 1 << 16)?, BufferPool::create_unique(2, 1 << 20)?)?;
    /// assert_eq!(sender.max_message_len(), 1 << 20);
    /// # sender.producer().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_message_len(&self) -> usize {
        let slot = usize::try_from(self.pool.slot_size()).unwrap_or(usize::MAX);
        slot.max(self.inline_threshold)
    }

    /// The ring's producer.
    ///
    /// ```
    /// use shm_ring::{BufferPool, LargeSender, ShmProducer};
    /// # let name = &format!("doc-large-producer-{}", std::process::id());
    /// let sender = LargeSender::new(ShmProducer::create(name, 4096)?, BufferPool::create_unique(2, 64)?)?;
    /// assert_eq!(sender.producer().name(), name);
    /// # sender.producer().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn producer(&self) -> &ShmProducer {
        &self.producer
    }

    /// The pool large payloads travel through.
    ///
    /// ```
    /// use shm_ring::{BufferPool, LargeSender, ShmProducer};
    /// # let name = &format!("doc-large-pool-{}", std::process::id());
    /// let sender = LargeSender::new(ShmProducer::create(name, 4096)?, BufferPool::create_unique(2, 64)?)?;
    /// assert_eq!(sender.pool().capacity(), 2);
    /// # sender.producer().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pool(&self) -> &BufferPool {
        &self.pool
    }

    /// Whether a live receiver that reads this crate's envelopes is attached to the ring.
    /// Checked again by every send.
    ///
    /// ```
    /// use shm_ring::{BufferPool, LargeReceiver, LargeSender, ShmConsumer, ShmProducer};
    /// # let name = &format!("doc-large-ready-{}", std::process::id());
    /// let sender = LargeSender::new(ShmProducer::create(name, 4096)?, BufferPool::create_unique(2, 64)?)?;
    /// assert!(!sender.has_receiver());
    /// let plain = ShmConsumer::open(name)?;
    /// assert!(!sender.has_receiver()); // a plain consumer never gets an envelope
    /// let receiver = LargeReceiver::new(plain)?;
    /// assert!(sender.has_receiver());
    /// drop(receiver);
    /// assert!(!sender.has_receiver());
    /// # sender.producer().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn has_receiver(&self) -> bool {
        self.announced().is_ok()
    }

    /// `Ok` if a receiver that reads our envelope version is attached; otherwise the version
    /// the consumer's byte announces (0 for none, or for one whose process is gone).
    fn announced(&self) -> Result<(), u8> {
        let end = self.producer.end();
        let announced = end.ring.extension_byte(RECEIVER_ENVELOPE);
        if announced != VERSION {
            return Err(announced);
        }
        // The byte outlives a receiver that died; its lock does not. Where the OS has no
        // locks, the byte is all there is to go by.
        match end.segment.byte_locked_elsewhere(RECEIVER_LOCK_BYTE) {
            Some(false) => Err(0),
            Some(true) | None => Ok(()),
        }
    }

    fn no_receiver(&self, announced: u8) -> TrySendError {
        TrySendError::NoReceiver {
            ring: self.producer.name().to_owned(),
            announced,
        }
    }

    /// Sends `message` if it can now: inline if it is at most the inline threshold, otherwise
    /// through a free pool slot. Never waits.
    ///
    /// Fails with [`TrySendError::NoReceiver`] unless a receiver is attached,
    /// [`Full`](TrySendError::Full) when the ring has no room,
    /// [`PoolExhausted`](TrySendError::PoolExhausted) when no slot is free, and
    /// [`TooLarge`](TrySendError::TooLarge) for a message longer than
    /// [`max_message_len`](Self::max_message_len).
    ///
    /// ```
    /// use shm_ring::{BufferPool, LargeReceiver, LargeSender, ShmConsumer, ShmProducer, TrySendError};
    /// # let name = &format!("doc-large-try-send-{}", std::process::id());
    /// let mut sender = LargeSender::new(ShmProducer::create(name, 4096)?, BufferPool::create_unique(1, 1 << 16)?)?;
    /// let receiver = LargeReceiver::new(ShmConsumer::open(name)?)?;
    /// sender.try_send(&[1; 10_000])?; // through the only slot
    /// assert!(matches!(sender.try_send(&[2; 10_000]), Err(TrySendError::PoolExhausted { slots: 1, .. })));
    /// drop(receiver.try_recv()?); // the receiver releases the slot
    /// sender.try_send(&[2; 10_000])?;
    /// # sender.producer().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_send(&mut self, message: &[u8]) -> Result<(), TrySendError> {
        self.announced().map_err(|v| self.no_receiver(v))?;
        if message.len() <= self.inline_threshold {
            let mut grant = self
                .producer
                .try_reserve(ENVELOPE_LEN + message.len())
                .map_err(ring_full)?;
            fill_inline(&mut grant, message);
            grant.commit();
            return Ok(());
        }
        self.check_len(message.len())
            .map_err(|(len, max)| TrySendError::TooLarge { len, max })?;
        let grant = self
            .producer
            .try_reserve(REFERENCE_MESSAGE_LEN)
            .map_err(ring_full)?;
        let mut loan = self.pool.try_acquire().map_err(|e| match e {
            TryAcquireError::Exhausted { name, slots } => {
                TrySendError::PoolExhausted { pool: name, slots }
            }
            TryAcquireError::Io {
                name,
                operation,
                source,
            } => TrySendError::Io {
                pool: name,
                operation,
                source,
            },
        })?;
        loan[..message.len()].copy_from_slice(message);
        commit_reference(grant, loan, message.len())
            .map_err(|(pool, slot)| TrySendError::SlotLost { pool, slot })
    }

    /// [`try_send`](Self::try_send), waiting up to `timeout` in all for a receiver to attach,
    /// for room in the ring and for a free slot (each wait sleeps in the kernel on Linux,
    /// except the wait for a receiver to attach, which looks every millisecond).
    ///
    /// Fails with [`SendTimeoutError::NoReceiver`], [`Timeout`](SendTimeoutError::Timeout)
    /// (no room in the ring) or [`PoolTimeout`](SendTimeoutError::PoolTimeout) (no free slot)
    /// when the timeout runs out, and with [`PeerGone`](SendTimeoutError::PeerGone) once the
    /// receiver's process is gone.
    ///
    /// ```
    /// use std::time::Duration;
    /// use shm_ring::{BufferPool, LargeReceiver, LargeSender, ShmConsumer, ShmProducer};
    /// # let name = &format!("doc-large-send-{}", std::process::id());
    /// let mut sender = LargeSender::new(ShmProducer::create(name, 4096)?, BufferPool::create_unique(2, 1 << 20)?)?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         // Usually another process, starting after the sender.
    ///         let receiver = LargeReceiver::new(ShmConsumer::open(name).unwrap()).unwrap();
    ///         assert_eq!(receiver.recv(Duration::from_secs(60)).unwrap().len(), 300_000);
    ///     });
    ///     sender.send(&vec![0; 300_000], Duration::from_secs(60))
    /// })?;
    /// # sender.producer().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send(&mut self, message: &[u8], timeout: Duration) -> Result<(), SendTimeoutError> {
        let deadline = Instant::now().checked_add(timeout);
        self.wait_for_receiver(deadline, timeout)?;
        let left = remaining(deadline);
        if message.len() <= self.inline_threshold {
            let mut grant = self
                .producer
                .reserve(ENVELOPE_LEN + message.len(), left)
                .map_err(|e| ring_timeout(e, timeout))?;
            fill_inline(&mut grant, message);
            grant.commit();
            return Ok(());
        }
        self.check_len(message.len())
            .map_err(|(len, max)| SendTimeoutError::TooLarge { len, max })?;
        let grant = self
            .producer
            .reserve(REFERENCE_MESSAGE_LEN, left)
            .map_err(|e| ring_timeout(e, timeout))?;
        let mut loan = self
            .pool
            .acquire(remaining(deadline))
            .map_err(|e| acquire_timeout(e, timeout))?;
        loan[..message.len()].copy_from_slice(message);
        commit_reference(grant, loan, message.len())
            .map_err(|(pool, slot)| SendTimeoutError::SlotLost { pool, slot })
    }

    /// Lends a free pool slot to fill in place, with room for its reference reserved in the
    /// ring: the zero-copy form of [`try_send`](Self::try_send). The message is sent when the
    /// loan is [committed](LargeLoan::commit); a loan dropped uncommitted sends nothing and
    /// gives the slot back. The payload always travels by reference, whatever its length.
    ///
    /// Fails as [`try_send`](Self::try_send) does (never with `TooLarge`).
    ///
    /// ```
    /// use shm_ring::{BufferPool, LargeReceiver, LargeSender, ShmConsumer, ShmProducer};
    /// # let name = &format!("doc-large-try-loan-{}", std::process::id());
    /// let mut sender = LargeSender::new(ShmProducer::create(name, 4096)?, BufferPool::create_unique(2, 1 << 20)?)?;
    /// let receiver = LargeReceiver::new(ShmConsumer::open(name)?)?;
    /// let mut loan = sender.try_loan()?;
    /// loan[..5].copy_from_slice(b"frame"); // render straight into shared memory
    /// loan.commit(5)?;
    /// assert_eq!(&*receiver.try_recv()?, b"frame");
    /// # sender.producer().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_loan(&mut self) -> Result<LargeLoan<'_>, TrySendError> {
        self.announced().map_err(|v| self.no_receiver(v))?;
        let grant = self
            .producer
            .try_reserve(REFERENCE_MESSAGE_LEN)
            .map_err(ring_full)?;
        let loan = self.pool.try_acquire().map_err(|e| match e {
            TryAcquireError::Exhausted { name, slots } => {
                TrySendError::PoolExhausted { pool: name, slots }
            }
            TryAcquireError::Io {
                name,
                operation,
                source,
            } => TrySendError::Io {
                pool: name,
                operation,
                source,
            },
        })?;
        Ok(LargeLoan { grant, loan })
    }

    /// [`try_loan`](Self::try_loan), waiting up to `timeout` in all, as [`send`](Self::send)
    /// does.
    ///
    /// ```
    /// use std::time::Duration;
    /// use shm_ring::{BufferPool, LargeReceiver, LargeSender, ShmConsumer, ShmProducer};
    /// # let name = &format!("doc-large-loan-{}", std::process::id());
    /// let mut sender = LargeSender::new(ShmProducer::create(name, 4096)?, BufferPool::create_unique(2, 1 << 20)?)?;
    /// let receiver = LargeReceiver::new(ShmConsumer::open(name)?)?;
    /// let mut loan = sender.loan(Duration::from_secs(1))?;
    /// loan.fill(9);
    /// let len = loan.len();
    /// loan.commit(len)?;
    /// assert_eq!(receiver.recv(Duration::from_secs(1))?.len(), 1 << 20);
    /// # sender.producer().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn loan(&mut self, timeout: Duration) -> Result<LargeLoan<'_>, SendTimeoutError> {
        let deadline = Instant::now().checked_add(timeout);
        self.wait_for_receiver(deadline, timeout)?;
        let grant = self
            .producer
            .reserve(REFERENCE_MESSAGE_LEN, remaining(deadline))
            .map_err(|e| ring_timeout(e, timeout))?;
        let loan = self
            .pool
            .acquire(remaining(deadline))
            .map_err(|e| acquire_timeout(e, timeout))?;
        Ok(LargeLoan { grant, loan })
    }

    /// Waits until a receiver has announced itself, or the deadline.
    fn wait_for_receiver(
        &self,
        deadline: Option<Instant>,
        timeout: Duration,
    ) -> Result<(), SendTimeoutError> {
        loop {
            let announced = match self.announced() {
                Ok(()) => return Ok(()),
                Err(announced) => announced,
            };
            let left = remaining(deadline);
            if left.is_zero() {
                return Err(SendTimeoutError::NoReceiver {
                    ring: self.producer.name().to_owned(),
                    announced,
                    waited: timeout,
                });
            }
            // Attaching wakes nobody: look again shortly.
            std::thread::sleep(left.min(RECEIVER_POLL));
        }
    }

    /// `Ok` if a message of `len` bytes fits a slot, else `(len, max_message_len)`.
    fn check_len(&self, len: usize) -> Result<(), (usize, usize)> {
        if len as u64 > self.pool.slot_size() {
            return Err((len, self.max_message_len()));
        }
        Ok(())
    }
}

/// A pool slot lent by [`LargeSender::try_loan`] or [`LargeSender::loan`] to fill in place,
/// with room for its reference reserved in the ring; derefs to the slot's
/// [`slot_size`](BufferPool::slot_size) bytes. [`commit`](Self::commit) sends its first `len`
/// bytes; dropping it uncommitted sends nothing and gives the slot back.
///
/// ```
/// use shm_ring::{BufferPool, LargeReceiver, LargeSender, ShmConsumer, ShmProducer};
/// # let name = &format!("doc-large-loan-type-{}", std::process::id());
/// let mut sender = LargeSender::new(ShmProducer::create(name, 4096)?, BufferPool::create_unique(1, 64)?)?;
/// let receiver = LargeReceiver::new(ShmConsumer::open(name)?)?;
/// drop(sender.try_loan()?); // nothing sent
/// assert_eq!(sender.pool().available(), 1);
/// # sender.producer().unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LargeLoan<'a> {
    grant: WriteGrant<'a>,
    loan: PoolLoan<'a>,
}

impl LargeLoan<'_> {
    /// Publishes the slot's first `len` bytes and sends the reference to them.
    ///
    /// A `len` past the slot size is [`PublishError::TooLarge`]: nothing is sent and the slot
    /// goes back to the pool.
    ///
    /// ```
    /// use shm_ring::{BufferPool, LargeReceiver, LargeSender, PublishError, ShmConsumer, ShmProducer};
    /// # let name = &format!("doc-large-loan-commit-{}", std::process::id());
    /// let mut sender = LargeSender::new(ShmProducer::create(name, 4096)?, BufferPool::create_unique(1, 64)?)?;
    /// let receiver = LargeReceiver::new(ShmConsumer::open(name)?)?;
    /// let refused = sender.try_loan()?.commit(65);
    /// assert!(matches!(refused, Err(PublishError::TooLarge { len: 65, slot_size: 64, .. })));
    /// assert!(sender.producer().is_empty());
    /// # sender.producer().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit(self, len: usize) -> Result<(), PublishError> {
        let mut grant = self.grant;
        let reference = self.loan.publish(len as u64)?;
        grant.copy_from_slice(&envelope::reference_message(&reference));
        grant.commit();
        Ok(())
    }
}

impl Deref for LargeLoan<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.loan
    }
}

impl DerefMut for LargeLoan<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.loan
    }
}

impl fmt::Debug for LargeLoan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LargeLoan")
            .field("loan", &self.loan)
            .finish()
    }
}

/// Publishes `len` bytes of `loan` (at most its slot size) and commits the reference message
/// into `grant`. A slot taken from its writer is `Err((pool, slot))`.
fn commit_reference(
    mut grant: WriteGrant<'_>,
    loan: PoolLoan<'_>,
    len: usize,
) -> Result<(), (String, u32)> {
    let reference = loan.publish(len as u64).map_err(|e| match e {
        PublishError::Lost { name, slot, .. } => (name, slot),
        // The caller checked the length against the slot size.
        PublishError::TooLarge { name, .. } => (name, u32::MAX),
    })?;
    grant.copy_from_slice(&envelope::reference_message(&reference));
    grant.commit();
    Ok(())
}

/// Writes the inline envelope and `message` into `grant`, which is exactly as long as both.
fn fill_inline(grant: &mut WriteGrant<'_>, message: &[u8]) {
    let header = envelope::header(KIND_INLINE);
    let (first, second) = grant.as_mut_slices();
    let mut source = header.iter().chain(message.iter());
    if first.len() >= ENVELOPE_LEN {
        first[..ENVELOPE_LEN].copy_from_slice(&header);
        let split = first.len() - ENVELOPE_LEN;
        first[ENVELOPE_LEN..].copy_from_slice(&message[..split]);
        second.copy_from_slice(&message[split..]);
        return;
    }
    // The wrap falls inside the envelope: rare, and short.
    for byte in first.iter_mut().chain(second.iter_mut()) {
        *byte = *source
            .next()
            .expect("the grant is as long as envelope and message");
    }
}

/// A non-blocking ring reservation's failure. Envelopes are never empty, and the inline
/// threshold and the reference message are capped at what the ring carries, so only `Full`
/// can happen.
fn ring_full(error: TryWriteError) -> TrySendError {
    match error {
        TryWriteError::Full | TryWriteError::TooLarge { .. } | TryWriteError::Empty => {
            TrySendError::Full
        }
    }
}

/// A blocking ring reservation's failure; as for [`ring_full`], only running out of time or
/// losing the receiver can happen.
fn ring_timeout(error: WriteTimeoutError, waited: Duration) -> SendTimeoutError {
    match error {
        WriteTimeoutError::PeerGone => SendTimeoutError::PeerGone,
        WriteTimeoutError::Timeout
        | WriteTimeoutError::TooLarge { .. }
        | WriteTimeoutError::Empty => SendTimeoutError::Timeout { waited },
    }
}

/// A blocking acquire's failure.
fn acquire_timeout(error: AcquireTimeoutError, waited: Duration) -> SendTimeoutError {
    match error {
        AcquireTimeoutError::Timeout { name, slots, .. } => SendTimeoutError::PoolTimeout {
            pool: name,
            slots,
            waited,
        },
        AcquireTimeoutError::Io {
            name,
            operation,
            source,
        } => SendTimeoutError::Io {
            pool: name,
            operation,
            source,
        },
    }
}

/// Time left until `deadline` (`None`: forever), zero once it has passed.
fn remaining(deadline: Option<Instant>) -> Duration {
    match deadline {
        Some(deadline) => deadline.saturating_duration_since(Instant::now()),
        None => Duration::MAX,
    }
}
