//! [`PoolLoan`]: a slot lent to its writer, to fill in place and publish.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering::{Relaxed, Release};

use super::layout::{slot_word, FILLING, PUBLISHED};
use super::{BufferPool, PoolRef};
use crate::PublishError;

/// A slot of a [`BufferPool`] lent to its writer by [`BufferPool::try_acquire`] or
/// [`BufferPool::acquire`]; derefs to the slot's [`slot_size`](BufferPool::slot_size) bytes,
/// which no other process reads while the loan lives.
///
/// [`publish`](Self::publish) hands the first `len` bytes on as a [`PoolRef`]; dropping the
/// loan unpublished gives the slot back. A process that dies holding a loan never makes the
/// slot readable: its state stays `Filling` until an acquire reclaims it.
///
/// ```
/// let pool = shm_ring::BufferPool::create_unique(1, 16)?;
/// let mut loan = pool.try_acquire()?;
/// loan.fill(0);
/// loan[..3].copy_from_slice(b"abc");
/// let reference = loan.publish(3)?;
/// assert_eq!(&*pool.resolve(&reference)?, b"abc");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PoolLoan<'a> {
    pool: &'a BufferPool,
    slot: u32,
    generation: u64,
    bytes: &'a mut [u8],
}

impl<'a> PoolLoan<'a> {
    pub(super) fn new(
        pool: &'a BufferPool,
        slot: u32,
        generation: u64,
        bytes: &'a mut [u8],
    ) -> Self {
        PoolLoan {
            pool,
            slot,
            generation,
            bytes,
        }
    }

    /// The slot's index, `0 .. capacity()`.
    ///
    /// ```
    /// let pool = shm_ring::BufferPool::create_unique(1, 16)?;
    /// assert_eq!(pool.try_acquire()?.slot(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// The slot's generation for this loan: one more than the last time the slot was
    /// acquired (modulo 2^48), and the generation of the reference it publishes.
    ///
    /// ```
    /// let pool = shm_ring::BufferPool::create_unique(1, 16)?;
    /// let first = pool.try_acquire()?.generation();
    /// assert_eq!(pool.try_acquire()?.generation(), first + 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Publishes the first `len` bytes of the slot and returns the reference to send to a
    /// reader. The loan's writes happen before the reader's reads.
    ///
    /// A `len` past the slot size is [`PublishError::TooLarge`], and the slot goes back to the
    /// pool unpublished.
    ///
    /// ```
    /// let pool = shm_ring::BufferPool::create_unique(1, 16)?;
    /// let mut loan = pool.try_acquire()?;
    /// loan[..2].copy_from_slice(b"hi");
    /// let reference = loan.publish(2)?;
    /// assert_eq!((reference.slot(), reference.len()), (0, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn publish(self, len: u64) -> Result<PoolRef, PublishError> {
        let pool = self.pool;
        if len > pool.slot_size() {
            return Err(PublishError::TooLarge {
                name: pool.name().to_owned(),
                len,
                slot_size: pool.slot_size(),
            });
            // `self` drops here and gives the slot back.
        }
        let (slot, generation) = (self.slot, self.generation);
        std::mem::forget(self);
        pool.length(slot).store(len, Relaxed);
        // Release: the slot's bytes and its length word are written before a reader that
        // sees `Published` (with acquire) reads them.
        // A published slot has no holder until a reader resolves it.
        let filling = slot_word(FILLING, generation, pool.holder);
        let result = pool.word(slot).compare_exchange(
            filling,
            slot_word(PUBLISHED, generation, 0),
            Release,
            Relaxed,
        );
        match result {
            Ok(_) => Ok(PoolRef::new_unchecked(
                pool.name().to_owned(),
                slot,
                generation,
                len,
            )),
            Err(found) => Err(PublishError::Lost {
                name: pool.name().to_owned(),
                slot,
                expected: filling,
                found,
            }),
        }
    }
}

impl Deref for PoolLoan<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.bytes
    }
}

impl DerefMut for PoolLoan<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.bytes
    }
}

impl Drop for PoolLoan<'_> {
    fn drop(&mut self) {
        self.pool.release(self.slot, FILLING, self.generation);
    }
}

impl std::fmt::Debug for PoolLoan<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolLoan")
            .field("pool", &self.pool.name())
            .field("slot", &self.slot)
            .field("generation", &self.generation)
            .finish()
    }
}
