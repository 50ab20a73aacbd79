//! [`LargeReceiver`] and the [`LargeMessage`] guard it hands out.

use std::cell::{OnceCell, RefCell};
use std::fmt;
use std::ops::Deref;
use std::time::Duration;

use super::envelope::{self, Contents, ENVELOPE_LEN, REFERENCE_MESSAGE_LEN, VERSION};
use crate::layout::{RECEIVER_ENVELOPE, RECEIVER_LOCK_BYTE};
use crate::{
    BufferPool, LargeSetupError, PoolView, ReadGrant, RecvTimeoutError, ShmConsumer, TryReadError,
    TryRecvError,
};

/// The receiving end of a large-message ring: a [`ShmConsumer`] that reads the envelopes a
/// [`LargeSender`](crate::LargeSender) writes, and the [`BufferPool`] its references name.
///
/// Each message comes as one [`LargeMessage`] guard that derefs to its bytes, whether they
/// travelled inline (copied out of the ring, which is free again at once) or by reference
/// (read in place in the pool slot, which goes back to the pool when the guard drops). Guards
/// may be held several at a time and dropped in any order; each holds its slot.
///
/// Creating the receiver announces, in the ring's extension block, that its consumer reads
/// envelopes, and takes a lock on the ring that its process holds for as long as it lives; a
/// sender sends only while both are there. The pool is the one the first reference names,
/// opened then and kept; a reference to another pool is
/// [`ResolveError::WrongPool`](crate::ResolveError::WrongPool).
///
/// ```
/// use std::time::Duration;
/// use shm_ring::{BufferPool, LargeReceiver, LargeSender, ShmConsumer, ShmProducer};
/// # let name = &format!("doc-large-receiver-{}", std::process::id());
/// let mut sender = LargeSender::new(ShmProducer::create(name, 4096)?, BufferPool::create_unique(2, 1 << 20)?)?;
/// let receiver = LargeReceiver::new(ShmConsumer::open(name)?)?;
/// sender.send(&[1; 100_000], Duration::from_secs(1))?;
/// sender.send(&[2; 100_000], Duration::from_secs(1))?;
/// let first = receiver.recv(Duration::from_secs(1))?;
/// let second = receiver.recv(Duration::from_secs(1))?;
/// drop(second); // in any order
/// assert_eq!(first[99_999], 1);
/// # drop(first);
/// # sender.producer().unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LargeReceiver {
    name: String,
    consumer: RefCell<ShmConsumer>,
    pool: OnceCell<BufferPool>,
}

impl fmt::Debug for LargeReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LargeReceiver")
            .field("name", &self.name)
            .field("pool", &self.pool.get().map(BufferPool::name))
            .finish()
    }
}

impl LargeReceiver {
    /// Makes `consumer` a large-message receiver: takes the ring's receiver lock and announces
    /// the envelope version it reads in the ring's extension block.
    ///
    /// A ring without the extension block (its producer follows the original library's layout)
    /// is [`LargeSetupError::NoExtension`]; one whose receiver lock another live receiver holds
    /// [`LargeSetupError::ReceiverInUse`].
    ///
    /// ```
    /// use shm_ring::{LargeReceiver, ShmConsumer, ShmProducer};
    /// # let name = &format!("doc-large-receiver-new-{}", std::process::id());
    /// let producer = ShmProducer::create(name, 4096)?;
    /// let receiver = LargeReceiver::new(ShmConsumer::open(name)?)?;
    /// assert_eq!(receiver.name(), name);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(consumer: ShmConsumer) -> Result<LargeReceiver, LargeSetupError> {
        let end = consumer.end();
        let ring = || consumer.name().to_owned();
        let locked = end
            .segment
            .lock_byte(RECEIVER_LOCK_BYTE)
            .map_err(|(operation, source)| crate::OpenError::Io {
                name: ring(),
                operation,
                source,
            })?;
        if locked == Some(false) {
            return Err(LargeSetupError::ReceiverInUse { ring: ring() });
        }
        // The lock first, the byte second: a sender that sees the byte and the lock sees a
        // receiver that is alive (the lock dies with its process; the byte does not).
        if !end.ring.set_extension_byte(RECEIVER_ENVELOPE, VERSION) {
            return Err(LargeSetupError::NoExtension { ring: ring() });
        }
        Ok(LargeReceiver {
            name: consumer.name().to_owned(),
            consumer: RefCell::new(consumer),
            pool: OnceCell::new(),
        })
    }

    /// The ring's name, without a leading `/`.
    ///
    /// ```
    /// use shm_ring::{LargeReceiver, ShmConsumer, ShmProducer};
    /// # let name = &format!("doc-large-receiver-name-{}", std::process::id());
    /// let producer = ShmProducer::create(name, 4096)?;
    /// assert_eq!(LargeReceiver::new(ShmConsumer::open(name)?)?.name(), name);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pool references are resolved in, once the first one has named it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use shm_ring::{BufferPool, LargeReceiver, LargeSender, ShmConsumer, ShmProducer};
    /// # let name = &format!("doc-large-receiver-pool-{}", std::process::id());
    /// let mut sender = LargeSender::new(ShmProducer::create(name, 4096)?, BufferPool::create_unique(2, 1 << 16)?)?;
    /// let receiver = LargeReceiver::new(ShmConsumer::open(name)?)?;
    /// assert!(receiver.pool().is_none());
    /// sender.send(&[0; 10_000], Duration::from_secs(1))?;
    /// drop(receiver.recv(Duration::from_secs(1))?);
    /// assert_eq!(receiver.pool().map(|p| p.name()), Some(sender.pool().name()));
    /// # sender.producer().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pool(&self) -> Option<&BufferPool> {
        self.pool.get()
    }

    /// The next message, if one is waiting. Never waits.
    ///
    /// Fails with [`TryRecvError::Empty`] when none is waiting. A message whose envelope is
    /// invalid ([`TryRecvError::Envelope`]), whose pool cannot be opened
    /// ([`TryRecvError::PoolOpen`]) or whose reference does not resolve
    /// ([`TryRecvError::Resolve`]: stale, out of range, …) is consumed and reported; the next
    /// call reads the one after it.
    ///
    /// ```
    /// use shm_ring::{BufferPool, LargeReceiver, LargeSender, ShmConsumer, ShmProducer, TryRecvError};
    /// # let name = &format!("doc-large-try-recv-{}", std::process::id());
    /// let mut sender = LargeSender::new(ShmProducer::create(name, 4096)?, BufferPool::create_unique(2, 64)?)?;
    /// let receiver = LargeReceiver::new(ShmConsumer::open(name)?)?;
    /// assert!(matches!(receiver.try_recv(), Err(TryRecvError::Empty)));
    /// sender.try_send(b"")?; // empty messages are fine: the envelope is never empty
    /// assert!(receiver.try_recv()?.is_empty());
    /// # sender.producer().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_recv(&self) -> Result<LargeMessage<'_>, TryRecvError> {
        let contents = {
            let mut consumer = self.consumer.borrow_mut();
            let grant = consumer.try_read().map_err(|e| match e {
                TryReadError::Empty => TryRecvError::Empty,
                TryReadError::Corrupted(c) => TryRecvError::Corrupted(c),
            })?;
            take(grant)
        };
        self.deliver(contents)
    }

    /// [`try_recv`](Self::try_recv), waiting up to `timeout` for a message (sleeping in the
    /// kernel on Linux). Fails with [`RecvTimeoutError::Timeout`] when none came, and with
    /// [`RecvTimeoutError::PeerGone`] once the sender is gone and every message it sent has
    /// been read.
    ///
    /// ```
    /// use std::time::Duration;
    /// use shm_ring::{BufferPool, LargeReceiver, LargeSender, ShmConsumer, ShmProducer};
    /// # let name = &format!("doc-large-recv-{}", std::process::id());
    /// let mut sender = LargeSender::new(ShmProducer::create(name, 4096)?, BufferPool::create_unique(2, 1 << 16)?)?;
    /// let receiver = LargeReceiver::new(ShmConsumer::open(name)?)?;
    /// sender.send(&[5; 50_000], Duration::from_secs(1))?;
    /// let message = receiver.recv(Duration::from_secs(1))?;
    /// assert!(message.iter().all(|&b| b == 5));
    /// # drop(message);
    /// # sender.producer().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv(&self, timeout: Duration) -> Result<LargeMessage<'_>, RecvTimeoutError> {
        let contents = {
            let mut consumer = self.consumer.borrow_mut();
            let grant = consumer.read(timeout).map_err(|e| match e {
                crate::ReadTimeoutError::Timeout => RecvTimeoutError::Timeout,
                crate::ReadTimeoutError::PeerGone => RecvTimeoutError::PeerGone,
                crate::ReadTimeoutError::Corrupted(c) => RecvTimeoutError::Corrupted(c),
            })?;
            take(grant)
        };
        self.deliver(contents).map_err(RecvTimeoutError::from)
    }

    /// Turns a consumed message's contents into the guard.
    fn deliver(&self, taken: Taken) -> Result<LargeMessage<'_>, TryRecvError> {
        let reference = match taken {
            Taken::Inline(bytes) => {
                return Ok(LargeMessage {
                    body: Body::Inline(bytes),
                })
            }
            Taken::Reference(reference) => reference,
            Taken::Invalid(error) => return Err(TryRecvError::Envelope(error)),
        };
        let pool = match self.pool.get() {
            Some(pool) => pool,
            None => {
                let pool = BufferPool::open(reference.pool()).map_err(TryRecvError::PoolOpen)?;
                self.pool.get_or_init(|| pool)
            }
        };
        let view = pool.resolve(&reference).map_err(TryRecvError::Resolve)?;
        Ok(LargeMessage {
            body: Body::Pooled(view),
        })
    }
}

impl Drop for LargeReceiver {
    fn drop(&mut self) {
        // No longer announced; the lock goes with the consumer's object.
        self.consumer
            .get_mut()
            .end()
            .ring
            .set_extension_byte(RECEIVER_ENVELOPE, 0);
    }
}

/// A ring message, consumed: its inline payload, its reference, or why its envelope is invalid.
enum Taken {
    Inline(Vec<u8>),
    Reference(crate::PoolRef),
    Invalid(crate::EnvelopeError),
}

/// Reads a message's envelope and what it carries, then consumes it from the ring.
fn take(grant: ReadGrant<'_>) -> Taken {
    let len = grant.len();
    let (first, second) = grant.as_slices();
    let mut start = [0u8; REFERENCE_MESSAGE_LEN];
    let head = len.min(REFERENCE_MESSAGE_LEN);
    copy_range(first, second, 0, &mut start[..head]);
    let taken = match envelope::decode(&start[..head], len) {
        Ok(Contents::Inline) => {
            let mut payload = vec![0u8; len - ENVELOPE_LEN];
            copy_range(first, second, ENVELOPE_LEN, &mut payload);
            Taken::Inline(payload)
        }
        Ok(Contents::Reference(reference)) => Taken::Reference(reference),
        Err(error) => Taken::Invalid(error),
    };
    grant.commit();
    taken
}

/// Copies `out.len()` bytes from offset `at` of the message made of `first` then `second`.
fn copy_range(first: &[u8], second: &[u8], at: usize, out: &mut [u8]) {
    let in_first = first.len().saturating_sub(at).min(out.len());
    let (a, b) = out.split_at_mut(in_first);
    if in_first > 0 {
        a.copy_from_slice(&first[at..at + in_first]);
    }
    let second_start = (at + in_first).saturating_sub(first.len());
    b.copy_from_slice(&second[second_start..second_start + b.len()]);
}

/// One message from a [`LargeReceiver`]; derefs to its bytes. A message that travelled by
/// reference is read in place in its pool slot, which goes back to the pool (in whichever
/// process sent it) when the guard drops; one that travelled inline is a copy.
///
/// ```
/// use std::time::Duration;
/// use shm_ring::{BufferPool, LargeReceiver, LargeSender, ShmConsumer, ShmProducer};
/// # let name = &format!("doc-large-message-{}", std::process::id());
/// let mut sender = LargeSender::new(ShmProducer::create(name, 4096)?, BufferPool::create_unique(1, 1 << 16)?)?;
/// let receiver = LargeReceiver::new(ShmConsumer::open(name)?)?;
/// sender.send(&[3; 20_000], Duration::from_secs(1))?;
/// let message = receiver.recv(Duration::from_secs(1))?;
/// assert_eq!((message.len(), message.is_by_reference()), (20_000, true));
/// assert_eq!(sender.pool().available(), 0);
/// drop(message);
/// assert_eq!(sender.pool().available(), 1);
/// # sender.producer().unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LargeMessage<'a> {
    body: Body<'a>,
}

enum Body<'a> {
    Inline(Vec<u8>),
    Pooled(PoolView<'a>),
}

impl LargeMessage<'_> {
    /// Whether the message travelled by reference (read in place in a pool slot) rather than
    /// inline in the ring.
    ///
    /// ```
    /// use std::time::Duration;
    /// use shm_ring::{BufferPool, LargeReceiver, LargeSender, ShmConsumer, ShmProducer};
    /// # let name = &format!("doc-large-by-ref-{}", std::process::id());
    /// let mut sender = LargeSender::new(ShmProducer::create(name, 4096)?, BufferPool::create_unique(1, 1 << 16)?)?;
    /// let receiver = LargeReceiver::new(ShmConsumer::open(name)?)?;
    /// sender.send(b"tiny", Duration::from_secs(1))?;
    /// assert!(!receiver.recv(Duration::from_secs(1))?.is_by_reference());
    /// # sender.producer().unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_by_reference(&self) -> bool {
        matches!(self.body, Body::Pooled(_))
    }
}

impl Deref for LargeMessage<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.body {
            Body::Inline(bytes) => bytes,
            Body::Pooled(view) => view,
        }
    }
}

impl fmt::Debug for LargeMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LargeMessage")
            .field("len", &self.len())
            .field("by_reference", &self.is_by_reference())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::copy_range;

    #[test]
    fn copy_range_crosses_the_split_anywhere() {
        let whole: Vec<u8> = (0..20).collect();
        for split in 0..=whole.len() {
            let (first, second) = whole.split_at(split);
            for at in 0..whole.len() {
                for len in 0..=whole.len() - at {
                    let mut out = vec![0; len];
                    copy_range(first, second, at, &mut out);
                    assert_eq!(out, &whole[at..at + len], "split {split} at {at} len {len}");
                }
            }
        }
    }
}
