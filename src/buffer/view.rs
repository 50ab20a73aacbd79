//! [`BufferView`]: a shared buffer's payload lent in place, with the check that says whether
//! it stayed whole.

use std::ops::Deref;

use crate::{BufferReadError, SharedBuffer};

/// The payload of a [`SharedBuffer`], lent in place by
/// [`SharedBuffer::read_in_place`]; derefs to `&[u8]`.
///
/// The view was taken while no write was under way, but the buffer's writer does not wait for
/// readers: a write that begins while the view lives changes the bytes under it. No check can
/// prevent that; [`verify`](Self::verify) tells afterwards whether it happened. The pattern
/// is: use the bytes (parse, hash, copy them out), then `verify()`, and trust the result only
/// if it returns `Ok`. A check can only cover reads made before it. Dropping the view checks
/// nothing. For a private copy that is whole by construction, use [`SharedBuffer::read`].
///
/// ```
/// use shm_ring::{BufferReadError, SharedBuffer};
/// let mut buffer = SharedBuffer::create_unique(64)?;
/// buffer.write(b"v1")?;
/// let reader = SharedBuffer::open(buffer.name())?;
/// // SAFETY: the view's bytes are read (by the assert) before the write below begins, and
/// // not after it.
/// let view = unsafe { reader.read_in_place() }?;
/// assert_eq!(&*view, b"v1");
/// buffer.write(b"v2")?; // a write while the view lives (normally in another process)
/// assert!(matches!(view.verify(), Err(BufferReadError::Overwritten { borrowed: 2, now: 4, .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BufferView<'a> {
    buffer: &'a SharedBuffer,
    /// The (even) sequence word when the view was taken.
    sequence: u64,
    bytes: &'a [u8],
}

impl<'a> BufferView<'a> {
    pub(super) fn new(buffer: &'a SharedBuffer, sequence: u64, bytes: &'a [u8]) -> Self {
        BufferView {
            buffer,
            sequence,
            bytes,
        }
    }

    /// `Ok` if no write has begun since the view was taken, so every byte read through it so
    /// far belongs to one payload; otherwise [`BufferReadError::Overwritten`] with the sequence
    /// words at the borrow and now.
    ///
    /// ```
    /// let mut buffer = shm_ring::SharedBuffer::create_unique(64)?;
    /// buffer.write(b"stable")?;
    /// let reader = shm_ring::SharedBuffer::open(buffer.name())?;
    /// // SAFETY: `buffer`, the only writer, is not written while the view's bytes are read.
    /// let view = unsafe { reader.read_in_place() }?;
    /// let copy = view.to_vec();
    /// view.verify()?;
    /// assert_eq!(copy, b"stable");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify(&self) -> Result<(), BufferReadError> {
        let now = self.buffer.sequence_now();
        if now == self.sequence {
            Ok(())
        } else {
            Err(BufferReadError::Overwritten {
                name: self.buffer.name().to_owned(),
                borrowed: self.sequence,
                now,
            })
        }
    }

    /// The sequence word when the view was taken: even, and counting up by 2 per write.
    ///
    /// ```
    /// let mut buffer = shm_ring::SharedBuffer::create_unique(8)?;
    /// buffer.write(b"a")?;
    /// // SAFETY: no byte is read through the view.
    /// assert_eq!(unsafe { buffer.read_in_place() }?.sequence(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sequence(&self) -> u64 {
        self.sequence
    }
}

impl Deref for BufferView<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.bytes
    }
}

impl std::fmt::Debug for BufferView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferView")
            .field("name", &self.buffer.name())
            .field("sequence", &self.sequence)
            .field("len", &self.bytes.len())
            .finish()
    }
}
