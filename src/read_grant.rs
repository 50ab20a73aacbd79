//! [`ReadGrant`]: the next message, lent in place until it is consumed.

use std::fmt;
use std::mem::size_of;

use bytemuck::Pod;

use crate::consumer::release;
use crate::error::{BufferTooSmall, TypeMismatch};
use crate::ring::{Record, RingConsumer};

/// The next message in the ring, lent out in place.
///
/// Made by [`ShmConsumer::try_read`](crate::ShmConsumer::try_read) and
/// [`ShmConsumer::read`](crate::ShmConsumer::read). The message leaves the ring only when the
/// grant says so:
///
/// - the `into_…` methods copy it out and consume it: [`into_vec`](Self::into_vec),
///   [`into_slice`](Self::into_slice) (a buffer of yours), [`into_value`](Self::into_value)
///   and [`into_values`](Self::into_values) (plain data). One that refuses the message
///   (too small a buffer, a length that does not fit the type) leaves it in the ring;
/// - [`as_slices`](Self::as_slices) shows it in place without copying, and
///   [`commit`](Self::commit) consumes it;
/// - dropping the grant leaves the message for the next read: a peek.
///
/// The copying methods never form a reference to shared memory, which matters when the
/// producer is not trusted (see the [trust model](crate#trust-model)).
///
/// ```
/// # let name = &format!("doc-read-grant-{}", std::process::id());
/// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
/// let mut consumer = shm_ring::ShmConsumer::open(name)?;
/// producer.try_write(b"header:body")?;
/// let message = consumer.try_read()?;
/// let (first, second) = message.as_slices();
/// let is_header = first.iter().chain(second).take(7).eq(b"header:");
/// if is_header {
///     message.commit(); // consumed
/// }
/// assert!(consumer.is_empty());
/// # producer.unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "the message stays in the ring until the grant is committed or copied out"]
pub struct ReadGrant<'a> {
    ring: &'a mut RingConsumer,
    record: Record,
}

impl fmt::Debug for ReadGrant<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadGrant")
            .field("len", &self.record.len())
            .finish()
    }
}

impl<'a> ReadGrant<'a> {
    /// A grant for `record`, the next record of `ring`.
    pub(crate) fn new(ring: &'a mut RingConsumer, record: Record) -> ReadGrant<'a> {
        ReadGrant { ring, record }
    }

    /// The message's length in bytes.
    ///
    /// ```
    /// # let name = &format!("doc-read-grant-len-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write(b"ten bytes!")?;
    /// assert_eq!(consumer.try_read()?.len(), 10);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.record.len()
    }

    /// Whether the message is empty. A producer of this crate never writes one; another
    /// peer's zero-length record arrives as an empty message.
    ///
    /// ```
    /// # let name = &format!("doc-read-grant-empty-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write(b"x")?;
    /// assert!(!consumer.try_read()?.is_empty());
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.record.is_empty()
    }

    /// The message in place: one slice, or two when it wraps around the end of the ring (the
    /// message is the first followed by the second). Nothing is consumed; call
    /// [`commit`](Self::commit) when done, or drop the grant to leave the message.
    ///
    /// # Shared memory
    /// The slices point into the mapping. A peer that follows the protocol does not write them
    /// while the grant lives; a process that breaks it can, which breaks the promise a `&[u8]`
    /// makes (see the [trust model](crate#trust-model)). Prefer the `into_…` methods, which
    /// copy, when the producer is not trusted.
    ///
    /// ```
    /// # let name = &format!("doc-read-grant-slices-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write(b"abc")?;
    /// let message = consumer.try_read()?;
    /// let (first, second) = message.as_slices();
    /// let sum: u32 = first.iter().chain(second).map(|&b| u32::from(b)).sum();
    /// assert_eq!(sum, 97 + 98 + 99);
    /// message.commit();
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn as_slices(&self) -> (&[u8], &[u8]) {
        self.ring.payload_slices(self.record)
    }

    /// Copies the message into a new vector and consumes it.
    ///
    /// ```
    /// # let name = &format!("doc-read-grant-vec-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write(b"abc")?;
    /// assert_eq!(consumer.try_read()?.into_vec(), b"abc");
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn into_vec(self) -> Vec<u8> {
        let mut out = vec![0; self.record.len()];
        self.ring.copy_payload(self.record, &mut out);
        self.commit();
        out
    }

    /// Copies the message into the front of `buf`, consumes it and returns its length.
    ///
    /// If `buf` is shorter than the message, copies nothing and fails with
    /// [`BufferTooSmall`], leaving the message in the ring for a larger buffer. (To reuse a
    /// `Vec`, resize it to [`len`](Self::len) first.)
    ///
    /// ```
    /// # let name = &format!("doc-read-grant-slice-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write(b"twelve bytes")?;
    /// producer.try_write(b"more")?;
    ///
    /// let mut buf = [0u8; 64];
    /// let len = consumer.try_read()?.into_slice(&mut buf)?;
    /// assert_eq!(&buf[..len], b"twelve bytes");
    ///
    /// let mut reused = Vec::new();
    /// let message = consumer.try_read()?;
    /// reused.resize(message.len(), 0);
    /// message.into_slice(&mut reused)?;
    /// assert_eq!(reused, b"more");
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn into_slice(self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let len = self.record.len();
        let Some(target) = buf.get_mut(..len) else {
            return Err(BufferTooSmall {
                needed: len,
                available: buf.len(),
            });
        };
        self.ring.copy_payload(self.record, target);
        self.commit();
        Ok(len)
    }

    /// Copies the message into one plain-data value, in the machine's byte order, and
    /// consumes it. A message that is not exactly `size_of::<T>()` bytes is refused with
    /// [`TypeMismatch::NotOneValue`] and stays in the ring.
    ///
    /// ```
    /// #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    /// #[repr(C)]
    /// struct Tick { price: f64, volume: u32, venue: u32 }
    ///
    /// # let name = &format!("doc-read-grant-value-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// let tick = Tick { price: 101.5, volume: 300, venue: 2 };
    /// producer.try_write(bytemuck::bytes_of(&tick))?;
    /// assert_eq!(consumer.try_read()?.into_value::<Tick>()?, tick);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_value<T: Pod>(self) -> Result<T, TypeMismatch> {
        let (len, size) = (self.record.len(), size_of::<T>());
        if len != size {
            return Err(TypeMismatch::NotOneValue { len, size });
        }
        let mut value = T::zeroed();
        self.ring
            .copy_payload(self.record, bytemuck::bytes_of_mut(&mut value));
        self.commit();
        Ok(value)
    }

    /// Copies the message into a vector of plain-data values, in the machine's byte order,
    /// and consumes it. A message whose length is not a multiple of `size_of::<T>()` is
    /// refused with [`TypeMismatch::NotWholeValues`] and stays in the ring. (A zero-sized `T`
    /// fits only an empty message, as no values.)
    ///
    /// ```
    /// # let name = &format!("doc-read-grant-values-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write(bytemuck::cast_slice(&[1.5f32, -2.0, 8.25]))?;
    /// let samples: Vec<f32> = consumer.try_read()?.into_values()?;
    /// assert_eq!(samples, [1.5, -2.0, 8.25]);
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_values<T: Pod>(self) -> Result<Vec<T>, TypeMismatch> {
        let (len, size) = (self.record.len(), size_of::<T>());
        let fits = match size {
            0 => len == 0,
            size => len % size == 0,
        };
        if !fits {
            return Err(TypeMismatch::NotWholeValues { len, size });
        }
        let mut values = vec![T::zeroed(); len.checked_div(size).unwrap_or(0)];
        if size != 0 {
            self.ring
                .copy_payload(self.record, bytemuck::cast_slice_mut(values.as_mut_slice()));
        }
        self.commit();
        Ok(values)
    }

    /// Consumes the message: it leaves the ring and its space goes back to the producer.
    ///
    /// ```
    /// # let name = &format!("doc-read-grant-commit-{}", std::process::id());
    /// let mut producer = shm_ring::ShmProducer::create(name, 4096)?;
    /// let mut consumer = shm_ring::ShmConsumer::open(name)?;
    /// producer.try_write(b"skip me")?;
    /// consumer.try_read()?.commit();
    /// assert!(consumer.is_empty());
    /// # producer.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn commit(self) {
        self.ring.advance(self.record);
        release(self.ring);
    }
}
