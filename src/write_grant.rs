//! [`WriteGrant`]: space for one message, reserved in the ring and writable in place.

use std::fmt;

use crate::ring::RingProducer;
use crate::wait;

/// Space for one message, reserved in the ring and writable in place.
///
/// Made by [`ShmProducer::try_reserve`](crate::ShmProducer::try_reserve) and
/// [`ShmProducer::reserve`](crate::ShmProducer::reserve). Fill it with
/// [`copy_from_slice`](WriteGrant::copy_from_slice), or piece by piece through
/// [`as_mut_slices`](WriteGrant::as_mut_slices), then [`commit`](WriteGrant::commit).
/// Dropping the grant without committing publishes nothing.
///
/// ```
/// # let name = &format!("doc-grant-{}", std::process::id());
/// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
/// let mut grant = producer.try_reserve(4)?;
/// assert_eq!(grant.len(), 4);
/// grant.copy_from_slice(b"lost");
/// drop(grant); // nothing written
/// assert!(producer.is_empty());
/// # producer.unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "nothing is written until the grant is committed"]
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

impl<'a> WriteGrant<'a> {
    /// A grant for a record of `len` payload bytes that `ring` has reserved.
    pub(crate) fn new(ring: &'a mut RingProducer, len: u32) -> WriteGrant<'a> {
        WriteGrant { ring, len }
    }

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

    /// Copies `message` into the reserved space, across the wrap if there is one.
    ///
    /// # Panics
    /// If `message` is not exactly [`len`](Self::len) bytes, as
    /// [`slice::copy_from_slice`] does.
    ///
    /// ```
    /// # let name = &format!("doc-grant-copy-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut grant = producer.try_reserve(6)?;
    /// grant.copy_from_slice(b"abcdef");
    /// grant.commit();
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn copy_from_slice(&mut self, message: &[u8]) {
        assert_eq!(
            message.len(),
            self.len(),
            "the message must be exactly as long as the grant"
        );
        let (first, second) = self.as_mut_slices();
        let (head, tail) = message.split_at(first.len());
        first.copy_from_slice(head);
        second.copy_from_slice(tail);
    }

    /// The reserved space in place: one slice, or two when it wraps around the end of the
    /// ring (the message is the first followed by the second). Its previous contents are
    /// whatever was there before, not zeros. For filling it from one slice,
    /// [`copy_from_slice`](Self::copy_from_slice) does the split.
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
    /// let mut grant = producer.try_reserve(5)?;
    /// let (first, second) = grant.as_mut_slices();
    /// // Generate the message straight into the ring.
    /// for (i, byte) in first.iter_mut().chain(second.iter_mut()).enumerate() {
    ///     *byte = b'a' + i as u8;
    /// }
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
    /// grant.copy_from_slice(b"ok");
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
