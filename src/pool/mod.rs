//! [`BufferPool`]: one segment of N fixed-size slots, which a writer in one process fills in
//! place and hands to a reader in another process as a small [`PoolRef`]; the reader's release
//! returns the slot to the pool, whichever process it runs in.
//!
//! Each slot has a 64-bit word in shared memory that packs its state and its generation. A
//! slot moves `Free -> Filling -> Published -> Reading -> Free`, every step a compare-exchange
//! of the whole word, and acquiring it counts the generation up, so a reference names one
//! filling of one slot: once that slot is released, the reference is [`ResolveError::Stale`].
//! docs/DESIGN.md explains the choice, docs/PROTOCOL.md the layout.

pub(crate) mod error;
#[cfg(feature = "json")]
mod json;
pub(crate) mod layout;
mod loan;
mod reference;
mod view;

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::{Duration, Instant};

use self::layout::{
    entry_offset, holder_lock_byte, holder_of, next_generation, slot_word, split_word, state_name,
    FILLING, FREE, MAX_HOLDERS, PUBLISHED, READING, RELEASES_OFFSET, WAITERS_OFFSET,
};
pub use self::loan::PoolLoan;
pub use self::reference::PoolRef;
pub use self::view::PoolView;
use crate::segment::pool::{self as segment, PoolSegment};
use crate::{AcquireTimeoutError, PoolOpenError, ResolveError, TryAcquireError};

/// How many generated names [`BufferPool::create_unique`] tries before giving up.
const UNIQUE_NAME_ROUNDS: u32 = 16;

/// The longest a blocked [`BufferPool::acquire`] sleeps before it looks at the slots again
/// without being woken: it bounds how late it notices a slot whose holder died (and so was
/// never released).
const ACQUIRE_SLICE: Duration = Duration::from_millis(20);

/// A named shared-memory segment of [`capacity`](Self::capacity) slots of
/// [`slot_size`](Self::slot_size) bytes each, shared by any number of processes.
///
/// A writer [acquires](Self::try_acquire) a free slot as a [`PoolLoan`], fills it in place and
/// [publishes](PoolLoan::publish) it as a [`PoolRef`]: a 64-byte reference
/// ([`PoolRef::to_bytes`]) to send over any channel. A reader in any process opens the pool by
/// name, [resolves](Self::resolve) the reference to a [`PoolView`] of the bytes in place, and
/// dropping the view returns the slot to the pool. A reference is read once; a reference whose
/// slot has been released since is [`ResolveError::Stale`], never another payload's bytes.
///
/// The creating handle is the pool's owner: it creates the segment with mode `0600`, holds
/// its liveness lock, and removes its name when dropped (in the creating process only).
/// Every handle, the owner's or an opened one, may acquire, publish, resolve and release.
///
/// Each handle claims one entry of the pool's holder table when it is created or opened (one
/// liveness lock, held until it is dropped), and every slot it takes names that entry: so
/// acquiring, publishing, resolving and releasing are compare-exchanges in shared memory and
/// make no system call, and a slot whose handle died is still told apart and reclaimed. At
/// most [`POOL_HOLDERS`](crate::POOL_HOLDERS) handles, in all processes together, have a pool
/// open at once. The threads of one process may share a handle (`BufferPool` is `Sync`).
///
/// ```
/// use shm_ring::{BufferPool, PoolRef};
/// let name = &format!("doc-pool-{}", std::process::id());
/// let pool = BufferPool::create(name, 4, 1 << 20)?; // 4 slots of 1 MiB
///
/// let mut loan = pool.try_acquire()?;
/// loan[..11].copy_from_slice(b"mesh vertex");
/// let wire: [u8; PoolRef::LEN] = loan.publish(11)?.to_bytes(); // send these 64 bytes
///
/// let reader = BufferPool::open(name)?; // usually in another process
/// let view = reader.resolve(&PoolRef::from_bytes(&wire)?)?;
/// assert_eq!(&*view, b"mesh vertex");
/// drop(view); // the slot is free again
/// assert_eq!(pool.available(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BufferPool {
    segment: PoolSegment,
    /// Whether this handle created the segment (and so removes its name on drop).
    owner: bool,
    /// The holder entry this handle claimed: every slot it takes names it. Its liveness lock
    /// is held for the handle's life, by the handle's own open file description, which its
    /// threads share: reclaiming skips the slots that name it, since this handle's own lock
    /// does not show as taken to itself.
    holder: u32,
}

impl BufferPool {
    /// Creates the buffer pool `name` (1 to 30 characters of `A-Z a-z 0-9 . _ -`, with or
    /// without a leading `/`) of `slot_count` slots of `slot_size` bytes, all free.
    ///
    /// The memory is allocated now (a full `/dev/shm` is an error here, not a crash later).
    /// A segment of that name whose owner is gone is replaced; one with a live owner is
    /// [`PoolOpenError::InUse`]. Slot counts outside `1 ..= MAX_POOL_SLOTS`, slot sizes
    /// outside `1 ..= MAX_POOL_BYTES` or more than `MAX_POOL_BYTES` in all are
    /// [`PoolOpenError::GeometryOutOfRange`].
    ///
    /// ```
    /// use shm_ring::{BufferPool, PoolOpenError};
    /// let name = &format!("doc-pool-create-{}", std::process::id());
    /// let pool = BufferPool::create(name, 2, 4096)?;
    /// assert!(matches!(BufferPool::create(name, 2, 4096), Err(PoolOpenError::InUse { .. })));
    /// assert!(matches!(
    ///     BufferPool::create("other", 0, 4096),
    ///     Err(PoolOpenError::GeometryOutOfRange { slot_count: 0, .. })
    /// ));
    /// # drop(pool);
    /// # Ok::<(), PoolOpenError>(())
    /// ```
    pub fn create(name: &str, slot_count: u32, slot_size: u64) -> Result<Self, PoolOpenError> {
        Self::create_with(name, slot_count, slot_size, false)
    }

    /// Creates a buffer pool under a new, generated name of 24 characters (short enough for
    /// macOS's 31-byte limit), which [`name`](Self::name) returns. Errors as
    /// [`create`](Self::create).
    ///
    /// ```
    /// let pool = shm_ring::BufferPool::create_unique(2, 64)?;
    /// assert!(pool.name().starts_with("srp-"));
    /// assert_eq!(pool.name().len(), 24);
    /// # Ok::<(), shm_ring::PoolOpenError>(())
    /// ```
    pub fn create_unique(slot_count: u32, slot_size: u64) -> Result<Self, PoolOpenError> {
        let mut last = None;
        for _ in 0..UNIQUE_NAME_ROUNDS {
            let name = crate::buffer::unique_name("srp");
            match Self::create_with(&name, slot_count, slot_size, true) {
                Err(PoolOpenError::AlreadyExists { name }) => {
                    last = Some(PoolOpenError::AlreadyExists { name })
                }
                other => return other,
            }
        }
        Err(last.expect("at least one round"))
    }

    fn create_with(
        name: &str,
        slot_count: u32,
        slot_size: u64,
        exclusive: bool,
    ) -> Result<Self, PoolOpenError> {
        let segment = segment::create(name, slot_count, slot_size, 0o600, exclusive)?;
        Self::with(segment, true)
    }

    /// Opens the existing buffer pool `name`.
    ///
    /// The header is validated before anything past it is mapped: a segment that is not a
    /// pool is [`PoolOpenError::WrongMagic`], another layout version is
    /// [`PoolOpenError::UnsupportedVersion`], a slot count or size outside the limits is
    /// [`PoolOpenError::InvalidGeometry`], and one that needs more bytes than the segment has
    /// is [`PoolOpenError::GeometryExceedsSize`]; a missing name is
    /// [`PoolOpenError::NotFound`]. With every holder entry claimed by a live handle it is
    /// [`PoolOpenError::HoldersFull`].
    ///
    /// ```
    /// use shm_ring::BufferPool;
    /// let name = &format!("doc-pool-open-{}", std::process::id());
    /// let _owner = BufferPool::create(name, 3, 4096)?;
    /// let pool = BufferPool::open(name)?;
    /// assert_eq!((pool.capacity(), pool.slot_size()), (3, 4096));
    /// # Ok::<(), shm_ring::PoolOpenError>(())
    /// ```
    pub fn open(name: &str) -> Result<Self, PoolOpenError> {
        Self::with(segment::open(name)?, false)
    }

    /// Makes the handle: claims a holder entry (the first whose lock is free), records this
    /// process's id in it, and frees the slots that a dead handle of the same entry left
    /// filling or reading, before this handle can take any slot under that entry.
    fn with(segment: PoolSegment, owner: bool) -> Result<Self, PoolOpenError> {
        let mut pool = BufferPool {
            segment,
            owner,
            holder: 0,
        };
        // On an error `pool` is dropped, and a creator removes the name it just made.
        if let Some(holder) = pool.claim()? {
            pool.holder = holder;
            pool.holder_pid(holder).store(std::process::id(), Relaxed);
            // Nobody else holds this entry's lock, so a slot that names it is a dead handle's;
            // and nobody but this handle will name it until it is dropped.
            let mut freed = 0;
            for slot in 0..pool.capacity() {
                let word = pool.word(slot).load(Acquire);
                let (state, generation) = split_word(word);
                if (state == FILLING || state == READING)
                    && holder_of(word) == holder
                    && pool
                        .word(slot)
                        .compare_exchange(word, slot_word(FREE, generation, 0), Release, Relaxed)
                        .is_ok()
                {
                    freed += 1;
                }
            }
            if freed > 0 {
                pool.notify();
            }
        }
        Ok(pool)
    }

    /// The segment's name, without a leading `/`.
    ///
    /// ```
    /// # let name = &format!("doc-pool-name-{}", std::process::id());
    /// let pool = shm_ring::BufferPool::create(&format!("/{name}"), 1, 8)?;
    /// assert_eq!(pool.name(), name);
    /// # Ok::<(), shm_ring::PoolOpenError>(())
    /// ```
    pub fn name(&self) -> &str {
        self.segment.segment.name()
    }

    /// The number of slots.
    ///
    /// ```
    /// let pool = shm_ring::BufferPool::create_unique(4, 256)?;
    /// assert_eq!(pool.capacity(), 4);
    /// # Ok::<(), shm_ring::PoolOpenError>(())
    /// ```
    pub fn capacity(&self) -> u32 {
        self.segment.slot_count
    }

    /// The size of each slot in bytes: the largest payload a slot holds.
    ///
    /// ```
    /// let pool = shm_ring::BufferPool::create_unique(4, 1000)?;
    /// assert_eq!(pool.slot_size(), 1000); // exactly as asked
    /// # Ok::<(), shm_ring::PoolOpenError>(())
    /// ```
    pub fn slot_size(&self) -> u64 {
        self.segment.slot_size
    }

    /// How many slots are free right now, in all processes (a snapshot: other processes may
    /// acquire or release meanwhile). Slots held by a process that died count as taken until
    /// an acquire reclaims them.
    ///
    /// ```
    /// let pool = shm_ring::BufferPool::create_unique(3, 64)?;
    /// let loan = pool.try_acquire()?;
    /// assert_eq!(pool.available(), 2);
    /// drop(loan); // an unpublished loan goes back to the pool
    /// assert_eq!(pool.available(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn available(&self) -> u32 {
        (0..self.capacity())
            .filter(|&slot| split_word(self.word(slot).load(Relaxed)).0 == FREE)
            .count() as u32
    }

    /// Lends a free slot to fill, as a [`PoolLoan`] that derefs to the slot's
    /// [`slot_size`](Self::slot_size) bytes (holding whatever its last payload left).
    ///
    /// Makes no system call when a slot is free. With every slot taken, it first reclaims
    /// slots whose holder died mid-fill or mid-read (the lock of the holder entry they name is
    /// free; one probe per entry; Linux only), then, if none, [`TryAcquireError::Exhausted`].
    ///
    /// ```
    /// use shm_ring::{BufferPool, TryAcquireError};
    /// let pool = BufferPool::create_unique(1, 64)?;
    /// let loan = pool.try_acquire()?;
    /// assert_eq!(loan.len(), 64);
    /// assert!(matches!(pool.try_acquire(), Err(TryAcquireError::Exhausted { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_acquire(&self) -> Result<PoolLoan<'_>, TryAcquireError> {
        if let Some(loan) = self.scan() {
            return Ok(loan);
        }
        if self.reclaim() > 0 {
            if let Some(loan) = self.scan() {
                return Ok(loan);
            }
        }
        Err(TryAcquireError::Exhausted {
            name: self.name().to_owned(),
            slots: self.capacity(),
        })
    }

    /// [`try_acquire`](Self::try_acquire), waiting up to `timeout` for a slot to come free.
    ///
    /// On Linux the wait sleeps in the kernel (a futex on the header's `releases` word) and a
    /// release in any process wakes it; it also wakes every 20 ms to reclaim slots whose
    /// holder died. Elsewhere it polls in sleeps of at most 1 ms. No slot within the timeout is
    /// [`AcquireTimeoutError::Timeout`]; a timeout too large for a deadline waits forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = shm_ring::BufferPool::create_unique(1, 64)?;
    /// let first = pool.acquire(Duration::from_secs(1))?;
    /// std::thread::scope(|s| {
    ///     s.spawn(move || drop(first)); // usually a reader in another process
    ///     pool.acquire(Duration::from_secs(60)).map(drop)
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire(&self, timeout: Duration) -> Result<PoolLoan<'_>, AcquireTimeoutError> {
        let deadline = Instant::now().checked_add(timeout);
        let releases = self.releases();
        let waiters = self.segment.region.word32(WAITERS_OFFSET);
        loop {
            let seen = releases.load(SeqCst);
            match self.try_acquire() {
                Ok(loan) => return Ok(loan),
                Err(TryAcquireError::Exhausted { .. }) => {}
                Err(TryAcquireError::Io {
                    name,
                    operation,
                    source,
                }) => {
                    return Err(AcquireTimeoutError::Io {
                        name,
                        operation,
                        source,
                    })
                }
            }
            let left = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => {
                        return Err(AcquireTimeoutError::Timeout {
                            name: self.name().to_owned(),
                            slots: self.capacity(),
                            waited: timeout,
                        })
                    }
                },
                None => Duration::MAX,
            };
            // Announce the sleep before it: a releaser increments `releases` and then reads
            // `waiters` (both sequentially consistent), so either it sees this count and
            // wakes us, or the kernel sees its new `releases` and does not put us to sleep.
            waiters.fetch_add(1, SeqCst);
            crate::wait::sleep_on(releases, seen, left.min(ACQUIRE_SLICE));
            waiters.fetch_sub(1, SeqCst);
        }
    }

    /// Resolves a reference published by a [`PoolLoan`] of this pool (in any process) to its
    /// bytes in place, as a [`PoolView`]; dropping the view returns the slot to the pool.
    ///
    /// The reference is checked against the pool before anything is read: another pool's is
    /// [`ResolveError::WrongPool`], a slot index past the last slot
    /// [`ResolveError::SlotOutOfRange`], a length past the slot size
    /// [`ResolveError::LengthExceedsSlot`]. A slot released since the reference was published
    /// is [`ResolveError::Stale`]; one still being filled (or whose writer died filling it)
    /// [`ResolveError::NotPublished`]; one another resolve holds
    /// [`ResolveError::AlreadyResolved`].
    ///
    /// ```
    /// use shm_ring::{BufferPool, ResolveError};
    /// let pool = BufferPool::create_unique(2, 64)?;
    /// let mut loan = pool.try_acquire()?;
    /// loan[..5].copy_from_slice(b"frame");
    /// let reference = loan.publish(5)?;
    /// let view = pool.resolve(&reference)?;
    /// assert_eq!(&*view, b"frame");
    /// assert!(matches!(pool.resolve(&reference), Err(ResolveError::AlreadyResolved { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resolve(&self, reference: &PoolRef) -> Result<PoolView<'_>, ResolveError> {
        let name = || self.name().to_owned();
        if reference.pool() != self.name() {
            return Err(ResolveError::WrongPool {
                reference: reference.pool().to_owned(),
                pool: name(),
            });
        }
        let slot = reference.slot();
        if slot >= self.capacity() {
            return Err(ResolveError::SlotOutOfRange {
                name: name(),
                slot,
                slots: self.capacity(),
            });
        }
        if reference.len() > self.slot_size() {
            return Err(ResolveError::LengthExceedsSlot {
                name: name(),
                len: reference.len(),
                slot_size: self.slot_size(),
            });
        }
        let generation = reference.generation();
        if generation >= layout::GENERATION_LIMIT {
            // A generation this layout never reaches (`Stale`: the slot's differs).
            return Err(self.unreadable(reference, self.word(slot).load(Relaxed)));
        }
        let published = slot_word(PUBLISHED, generation, 0);
        // Acquire: the writer's length word (and bytes), published with release, are visible.
        let word = self.word(slot).load(Acquire);
        if word != published {
            return Err(self.unreadable(reference, word));
        }
        // The length is checked before the slot is taken, so a forged reference (or a damaged
        // table) leaves the slot untouched: a slot word never goes back from `Reading` to
        // `Published`, so a reclaimer never sees a word it saw before come back.
        let stored = self.length(slot).load(Relaxed);
        if stored != reference.len() {
            return Err(ResolveError::LengthMismatch {
                name: name(),
                slot,
                len: reference.len(),
                stored,
            });
        }
        // Acquire: as above, for the word this exchange reads.
        let reading = slot_word(READING, generation, self.holder);
        if let Err(found) = self
            .word(slot)
            .compare_exchange(published, reading, Acquire, Relaxed)
        {
            return Err(self.unreadable(reference, found));
        }
        let len = reference.len() as usize;
        // SAFETY: this handle moved the slot from `Published` to `Reading` at the reference's
        // generation; until the view's drop moves it to `Free`, the protocol lets no handle
        // write its bytes (a writer needs `Free` to acquire it). `len <= slot_size` (checked).
        let bytes = unsafe { self.segment.region.bytes(self.slot_offset(slot), len) };
        Ok(PoolView::new(self, slot, generation, bytes))
    }

    /// Takes the lock of the first holder entry whose lock is free and returns its index;
    /// `None` where the pool or the OS has no such locks (then nothing is ever reclaimed, and
    /// every handle uses entry 0).
    fn claim(&self) -> Result<Option<u32>, PoolOpenError> {
        let segment = &self.segment;
        if !segment.locked {
            return Ok(None);
        }
        for entry in 0..segment.holders {
            match segment.segment.lock_byte(holder_lock_byte(entry)) {
                Ok(Some(true)) => return Ok(Some(entry)),
                Ok(Some(false)) => {}
                Ok(None) => return Ok(None),
                Err((operation, source)) => {
                    return Err(PoolOpenError::Io {
                        name: self.name().to_owned(),
                        operation,
                        source,
                    })
                }
            }
        }
        Err(PoolOpenError::HoldersFull {
            name: self.name().to_owned(),
            holders: segment.holders,
        })
    }

    /// The error for a reference whose slot word is `word` rather than `Published` at its
    /// generation.
    fn unreadable(&self, reference: &PoolRef, word: u64) -> ResolveError {
        let (state, current) = split_word(word);
        let name = self.name().to_owned();
        let (slot, generation) = (reference.slot(), reference.generation());
        match state {
            FILLING if current == generation => ResolveError::NotPublished {
                name,
                slot,
                generation,
            },
            READING | PUBLISHED if current == generation => ResolveError::AlreadyResolved {
                name,
                slot,
                generation,
            },
            _ => ResolveError::Stale {
                name,
                slot,
                generation,
                current,
                state: state_name(state),
            },
        }
    }

    /// Looks once through the slots for a free one and takes it.
    fn scan(&self) -> Option<PoolLoan<'_>> {
        for slot in 0..self.capacity() {
            let word = self.word(slot).load(Relaxed);
            let (state, generation) = split_word(word);
            if state != FREE {
                continue;
            }
            let generation = next_generation(generation);
            // Acquire: the last reader's reads of this slot happen before our writes. The new
            // word names this handle's holder entry, whose lock it holds.
            match self.word(slot).compare_exchange(
                word,
                slot_word(FILLING, generation, self.holder),
                Acquire,
                Relaxed,
            ) {
                Ok(_) => {
                    // SAFETY: this handle moved the slot from `Free` to `Filling`; until it
                    // publishes or gives it back, the protocol lets no other handle read or
                    // write the slot's bytes, and the loan is the only slice of them.
                    let bytes = unsafe {
                        self.segment
                            .region
                            .bytes_mut(self.slot_offset(slot), self.slot_size() as usize)
                    };
                    return Some(PoolLoan::new(self, slot, generation, bytes));
                }
                // Another handle, or another thread of this one, took it first.
                Err(_) => continue,
            }
        }
        None
    }

    /// Frees the slots whose handle died (or was dropped) while filling or reading them: their
    /// state says held, by a holder entry whose lock no process holds. Returns how many it
    /// freed. Probes each entry's lock at most once. Nothing where the OS has no such locks
    /// (then nothing is ever reclaimed).
    fn reclaim(&self) -> u32 {
        if !self.segment.locked {
            return 0;
        }
        // Per holder entry: 0 not probed yet, 1 alive (or unknown), 2 gone.
        let mut entries = [0u8; MAX_HOLDERS as usize];
        let mut freed = 0;
        for slot in 0..self.capacity() {
            let word = self.word(slot).load(Acquire);
            let (state, generation) = split_word(word);
            if state != FILLING && state != READING {
                continue;
            }
            let holder = holder_of(word);
            // This handle's own slots (any of its threads'): its lock does not show to itself.
            // An entry past the table is damage, never touched.
            if holder == self.holder || holder >= self.segment.holders {
                continue;
            }
            let known = &mut entries[holder as usize];
            if *known == 0 {
                let locked = self
                    .segment
                    .segment
                    .byte_locked_elsewhere(holder_lock_byte(holder));
                *known = if locked == Some(false) { 2 } else { 1 };
            }
            if *known != 2 {
                continue;
            }
            // A handle holds its entry's lock from before it takes any slot until it is gone,
            // and a new claimant of the entry frees that entry's slots before it takes any.
            // So a word unchanged since it was seen, naming an entry whose lock was free
            // after, is a dead handle's. Its generation makes a slot freed and taken again
            // meanwhile fail this exchange.
            if self
                .word(slot)
                .compare_exchange(word, slot_word(FREE, generation, 0), Release, Relaxed)
                .is_ok()
            {
                freed += 1;
            }
        }
        if freed > 0 {
            self.notify();
        }
        freed
    }

    /// Moves slot `slot` from `state` at `generation`, held by this handle, to `Free` (a loan
    /// given back, or a view dropped) and wakes blocked acquirers.
    fn release(&self, slot: u32, state: u64, generation: u64) {
        // Release: this handle's reads or writes of the slot happen before the next holder's.
        // A failure means a process that does not follow the protocol changed the word; the
        // slot is then left to it.
        let _ = self.word(slot).compare_exchange(
            slot_word(state, generation, self.holder),
            slot_word(FREE, generation, 0),
            Release,
            Relaxed,
        );
        self.notify();
    }

    /// Tells blocked acquirers, in every process, that a slot came free.
    fn notify(&self) {
        let releases = self.releases();
        releases.fetch_add(1, SeqCst);
        if self.segment.region.word32(WAITERS_OFFSET).load(SeqCst) != 0 {
            crate::wait::wake_all(releases);
        }
    }

    fn releases(&self) -> &AtomicU32 {
        self.segment.region.word32(RELEASES_OFFSET)
    }

    fn word(&self, slot: u32) -> &AtomicU64 {
        self.segment.region.word64(entry_offset(slot))
    }

    fn length(&self, slot: u32) -> &AtomicU64 {
        self.segment.region.word64(entry_offset(slot) + 8)
    }

    /// The process-id word of holder entry `holder`.
    fn holder_pid(&self, holder: u32) -> &AtomicU32 {
        let table = layout::holder_table_offset(self.capacity()) as usize;
        self.segment
            .region
            .word32(table + holder as usize * layout::HOLDER_ENTRY_LEN)
    }

    /// Byte offset of slot `slot` (below the slot count) in the mapping.
    fn slot_offset(&self, slot: u32) -> usize {
        // Fits: the mapping's length, a `usize`, covers every slot.
        (layout::data_offset(self.capacity(), self.segment.holders)
            + layout::slot_stride(self.slot_size()) * u64::from(slot)) as usize
    }
}

impl Drop for BufferPool {
    fn drop(&mut self) {
        // Only the creating process's owner handle removes the name, and only while it still
        // names this object; its owner lock is still held here.
        if self.owner && self.segment.segment.is_own_process() {
            let _ = self.segment.segment.unlink();
        }
    }
}

impl std::fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferPool")
            .field("name", &self.name())
            .field("capacity", &self.capacity())
            .field("slot_size", &self.slot_size())
            .field("owner", &self.owner)
            .finish()
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Threads of one handle share its holder entry: a slot one thread holds is never
    /// reclaimed by another thread of the same handle (its own lock does not show to it), nor
    /// by another handle, while the handle lives.
    #[test]
    fn threads_of_one_handle_share_its_entry_and_never_reclaim_each_others_slots() {
        let pool = BufferPool::create_unique(1, 64).unwrap();
        let winner =
            std::thread::scope(|s| s.spawn(|| pool.try_acquire().unwrap()).join()).unwrap();
        assert_eq!(holder_of(pool.word(0).load(Relaxed)), pool.holder);
        assert_eq!(
            pool.reclaim(),
            0,
            "a handle reclaimed its own thread's slot"
        );
        let other = BufferPool::open(pool.name()).unwrap();
        assert_ne!(other.holder, pool.holder);
        assert_eq!(
            other
                .segment
                .segment
                .byte_locked_elsewhere(holder_lock_byte(pool.holder)),
            Some(true)
        );
        assert!(matches!(
            other.try_acquire(),
            Err(TryAcquireError::Exhausted { .. })
        ));
        drop(winner);
        assert!(other.try_acquire().is_ok());
    }
}
