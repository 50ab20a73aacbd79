//! [`PoolView`]: a published slot lent to its reader, in place.

use std::ops::Deref;

use super::layout::READING;
use super::BufferPool;

/// The bytes a [`PoolRef`](crate::PoolRef) names, lent in place by [`BufferPool::resolve`];
/// derefs to `&[u8]` of the reference's length. No process writes them while the view lives.
/// Dropping the view returns the slot to the pool, which wakes a blocked
/// [`acquire`](BufferPool::acquire) in any process.
///
/// ```
/// let pool = shm_ring::BufferPool::create_unique(1, 16)?;
/// let mut loan = pool.try_acquire()?;
/// loan[..4].copy_from_slice(b"data");
/// let view = pool.resolve(&loan.publish(4)?)?;
/// assert_eq!((&*view, view.slot()), (&b"data"[..], 0));
/// assert_eq!(pool.available(), 0);
/// drop(view);
/// assert_eq!(pool.available(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PoolView<'a> {
    pool: &'a BufferPool,
    slot: u32,
    generation: u64,
    bytes: &'a [u8],
}

impl<'a> PoolView<'a> {
    pub(super) fn new(pool: &'a BufferPool, slot: u32, generation: u64, bytes: &'a [u8]) -> Self {
        PoolView {
            pool,
            slot,
            generation,
            bytes,
        }
    }

    /// The slot's index.
    ///
    /// ```
    /// let pool = shm_ring::BufferPool::create_unique(2, 16)?;
    /// let reference = pool.try_acquire()?.publish(0)?;
    /// assert_eq!(pool.resolve(&reference)?.slot(), reference.slot());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// The slot's generation: the reference's.
    ///
    /// ```
    /// let pool = shm_ring::BufferPool::create_unique(2, 16)?;
    /// let reference = pool.try_acquire()?.publish(0)?;
    /// assert_eq!(pool.resolve(&reference)?.generation(), reference.generation());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl Deref for PoolView<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.bytes
    }
}

impl Drop for PoolView<'_> {
    fn drop(&mut self) {
        self.pool.release(self.slot, READING, self.generation);
    }
}

impl std::fmt::Debug for PoolView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolView")
            .field("pool", &self.pool.name())
            .field("slot", &self.slot)
            .field("generation", &self.generation)
            .field("len", &self.bytes.len())
            .finish()
    }
}
