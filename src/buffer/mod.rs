//! [`SharedBuffer`]: one payload of up to `capacity` bytes in a named segment, replaced by a
//! writer and read whole by any number of readers in other processes.
//!
//! Readers and the writer agree through a seqlock: the writer makes the `sequence` word odd,
//! writes the payload and its length, and makes the word even again; a reader notes the (even)
//! word, reads, and keeps what it read only if the word is unchanged. docs/DESIGN.md explains
//! the choice and the memory ordering, docs/PROTOCOL.md the layout.

#[cfg(feature = "json")]
pub(crate) mod descriptor;
pub(crate) mod error;
pub(crate) mod layout;
mod view;

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{fence, AtomicU32, AtomicU64};
use std::time::{Duration, Instant};

pub use self::view::BufferView;
use crate::buffer::layout::{ACKS_OFFSET, LENGTH_OFFSET, SEQUENCE_OFFSET};
use crate::segment::buffer::{self as segment, BufferSegment};
use crate::{BufferOpenError, BufferReadError, BufferWriteError};

/// How many times a read tries before it reports [`BufferReadError::Contended`]. The first
/// few retries spin; the rest yield the CPU, so that a writer descheduled mid-write can finish.
const READ_ATTEMPTS: u32 = 1024;

/// Retries that spin before the reader starts yielding.
const SPIN_ATTEMPTS: u32 = 16;

/// How many generated names [`SharedBuffer::create_unique`] tries before giving up.
const UNIQUE_NAME_ROUNDS: u32 = 16;

/// A named shared-memory segment holding one payload of up to [`capacity`](Self::capacity)
/// bytes (sizes are `u64`), which another process opens by name and reads whole.
///
/// The creating handle is the buffer's owner: it holds the segment's liveness lock, creates
/// it with mode `0600` and removes its name when dropped (in the creating process only; a
/// child made by `fork()` leaves it). One handle at a time, in any process, writes: the first
/// [`write`](Self::write) (or [`clear`](Self::clear)) of a handle takes the writer lock, which
/// the creator takes at creation, and holds it until the handle is dropped.
///
/// A reader never gets a torn or mixed payload: [`read`](Self::read) retries a copy that a
/// write overlapped, and a borrow from [`read_in_place`](Self::read_in_place) reports such a
/// write through [`BufferView::verify`]. See the crate's trust model for what a borrow can
/// and cannot promise.
///
/// ```
/// use shm_ring::SharedBuffer;
/// let name = &format!("doc-buffer-{}", std::process::id());
/// let mut writer = SharedBuffer::create(name, 1 << 20)?;
/// writer.write(b"mesh bytes")?;
///
/// let reader = SharedBuffer::open(name)?; // usually in another process
/// assert_eq!(reader.read()?, b"mesh bytes");
/// assert_eq!((reader.data_len()?, reader.capacity()), (10, 1 << 20));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SharedBuffer {
    segment: BufferSegment,
    /// Whether this handle created the segment (and so removes its name on drop).
    owner: bool,
    /// Whether this handle holds the writer lock (or the OS has no such locks and it wrote).
    writer: bool,
}

impl SharedBuffer {
    /// Creates the shared buffer `name` (1 to 30 characters of `A-Z a-z 0-9 . _ -`, with or
    /// without a leading `/`) holding up to `capacity` bytes, with an empty payload.
    ///
    /// The memory is allocated now (a full `/dev/shm` is an error here, not a crash later).
    /// A segment of that name whose owner is gone is replaced; one with a live owner is
    /// [`BufferOpenError::InUse`]. A capacity outside `1 ..= MAX_BUFFER_CAPACITY` is
    /// [`BufferOpenError::CapacityOutOfRange`].
    ///
    /// ```
    /// use shm_ring::{BufferOpenError, SharedBuffer};
    /// let name = &format!("doc-buffer-create-{}", std::process::id());
    /// let buffer = SharedBuffer::create(name, 4096)?;
    /// assert!(matches!(SharedBuffer::create(name, 4096), Err(BufferOpenError::InUse { .. })));
    /// assert!(matches!(
    ///     SharedBuffer::create("other", 0),
    ///     Err(BufferOpenError::CapacityOutOfRange { requested: 0, .. })
    /// ));
    /// # drop(buffer);
    /// # Ok::<(), BufferOpenError>(())
    /// ```
    pub fn create(name: &str, capacity: u64) -> Result<SharedBuffer, BufferOpenError> {
        Self::create_with(name, capacity, false, None)
    }

    /// Creates the shared buffer `name` of `capacity` bytes holding `data` as its first
    /// payload: the fastest way to fill a fresh buffer, and nobody can open it before the
    /// payload is whole (an opener gets [`BufferOpenError::NotReady`] or
    /// [`BufferOpenError::NotFound`] until then).
    ///
    /// The payload is copied through the segment's file descriptor (`pwrite`), which
    /// allocates the memory as it copies: one pass over it, where [`create`](Self::create)
    /// then [`write`](Self::write) allocate it, fault it into the mapping and copy. Data
    /// longer than `capacity` is [`BufferOpenError::PayloadTooLarge`]; other errors as
    /// [`create`](Self::create).
    ///
    /// ```
    /// use shm_ring::{BufferOpenError, SharedBuffer};
    /// let name = &format!("doc-buffer-filled-{}", std::process::id());
    /// let buffer = SharedBuffer::create_filled(name, 4096, b"mesh")?;
    /// assert_eq!(SharedBuffer::open(name)?.read()?, b"mesh");
    /// assert!(matches!(
    ///     SharedBuffer::create_filled("other", 2, b"abc"),
    ///     Err(BufferOpenError::PayloadTooLarge { len: 3, capacity: 2 })
    /// ));
    /// # drop(buffer);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_filled(
        name: &str,
        capacity: u64,
        data: &[u8],
    ) -> Result<SharedBuffer, BufferOpenError> {
        Self::create_with(name, capacity, false, Some(data))
    }

    /// Creates a shared buffer of `capacity` bytes under a new, generated name of 24
    /// characters (short enough for macOS's 31-byte limit), which [`name`](Self::name)
    /// returns. Errors as [`create`](Self::create).
    ///
    /// ```
    /// use shm_ring::SharedBuffer;
    /// let buffer = SharedBuffer::create_unique(64)?;
    /// assert!(buffer.name().starts_with("srb-"));
    /// assert_eq!(buffer.name().len(), 24);
    /// # Ok::<(), shm_ring::BufferOpenError>(())
    /// ```
    pub fn create_unique(capacity: u64) -> Result<SharedBuffer, BufferOpenError> {
        Self::create_unique_with(capacity, None)
    }

    /// [`create_filled`](Self::create_filled) under a new, generated name, as
    /// [`create_unique`](Self::create_unique) makes.
    ///
    /// ```
    /// let buffer = shm_ring::SharedBuffer::create_unique_filled(64, &[7; 64])?;
    /// assert_eq!(shm_ring::SharedBuffer::open(buffer.name())?.read()?, [7; 64]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_unique_filled(
        capacity: u64,
        data: &[u8],
    ) -> Result<SharedBuffer, BufferOpenError> {
        Self::create_unique_with(capacity, Some(data))
    }

    fn create_unique_with(
        capacity: u64,
        data: Option<&[u8]>,
    ) -> Result<SharedBuffer, BufferOpenError> {
        let mut last = None;
        for _ in 0..UNIQUE_NAME_ROUNDS {
            match Self::create_with(&unique_name("srb"), capacity, true, data) {
                Err(BufferOpenError::AlreadyExists { name }) => {
                    last = Some(BufferOpenError::AlreadyExists { name })
                }
                other => return other,
            }
        }
        Err(last.expect("at least one round"))
    }

    fn create_with(
        name: &str,
        capacity: u64,
        exclusive: bool,
        data: Option<&[u8]>,
    ) -> Result<SharedBuffer, BufferOpenError> {
        if let Some(data) = data {
            if data.len() as u64 > capacity {
                return Err(BufferOpenError::PayloadTooLarge {
                    len: data.len() as u64,
                    capacity,
                });
            }
        }
        let segment = segment::create(name, capacity, 0o600, exclusive, data)?;
        Ok(SharedBuffer {
            segment,
            owner: true,
            writer: true,
        })
    }

    /// Opens the existing shared buffer `name` to read it (and to write it, once no other
    /// handle holds the writer lock).
    ///
    /// The header is validated before anything past it is mapped: a segment that is not a
    /// shared buffer is [`BufferOpenError::WrongMagic`], another layout version is
    /// [`BufferOpenError::UnsupportedVersion`], a capacity word outside the limits or beyond the
    /// segment's size is [`BufferOpenError::InvalidCapacity`] or
    /// [`BufferOpenError::CapacityExceedsSize`]; a missing name is
    /// [`BufferOpenError::NotFound`].
    ///
    /// ```
    /// use shm_ring::{BufferOpenError, SharedBuffer};
    /// let name = &format!("doc-buffer-open-{}", std::process::id());
    /// let _owner = SharedBuffer::create(name, 4096)?;
    /// let reader = SharedBuffer::open(name)?;
    /// assert_eq!(reader.capacity(), 4096);
    /// # Ok::<(), BufferOpenError>(())
    /// ```
    pub fn open(name: &str) -> Result<SharedBuffer, BufferOpenError> {
        Ok(SharedBuffer {
            segment: segment::open(name)?,
            owner: false,
            writer: false,
        })
    }

    /// The segment's name, without a leading `/`.
    ///
    /// ```
    /// # let name = &format!("doc-buffer-name-{}", std::process::id());
    /// let buffer = shm_ring::SharedBuffer::create(&format!("/{name}"), 8)?;
    /// assert_eq!(buffer.name(), name);
    /// # Ok::<(), shm_ring::BufferOpenError>(())
    /// ```
    pub fn name(&self) -> &str {
        self.segment.segment.name()
    }

    /// The largest payload the buffer holds, in bytes.
    ///
    /// ```
    /// let buffer = shm_ring::SharedBuffer::create_unique(3 << 20)?;
    /// assert_eq!(buffer.capacity(), 3 << 20); // exactly as asked: no rounding
    /// # Ok::<(), shm_ring::BufferOpenError>(())
    /// ```
    pub fn capacity(&self) -> u64 {
        self.segment.capacity
    }

    fn sequence(&self) -> &AtomicU64 {
        self.segment.region.word64(SEQUENCE_OFFSET)
    }

    fn length(&self) -> &AtomicU64 {
        self.segment.region.word64(LENGTH_OFFSET)
    }

    fn acks(&self) -> &AtomicU32 {
        self.segment.region.word32(ACKS_OFFSET)
    }

    /// Replaces the payload with `data`, in one step as readers see it. Returns its length.
    ///
    /// A payload longer than the capacity is [`BufferWriteError::TooLarge`]; while another
    /// live handle holds the writer lock, [`BufferWriteError::WriterInUse`]. Either way nothing
    /// changes.
    ///
    /// ```
    /// use shm_ring::{BufferWriteError, SharedBuffer};
    /// let mut buffer = SharedBuffer::create_unique(8)?;
    /// assert_eq!(buffer.write(b"12345678")?, 8);
    /// let error = buffer.write(b"123456789").unwrap_err();
    /// assert!(error.to_string().contains("9-byte payload"), "{error}");
    /// assert_eq!(buffer.read()?, b"12345678");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write(&mut self, data: &[u8]) -> Result<u64, BufferWriteError> {
        let len = data.len() as u64;
        if len > self.capacity() {
            return Err(BufferWriteError::TooLarge {
                name: self.name().to_owned(),
                len,
                capacity: self.capacity(),
            });
        }
        self.claim_writer()?;
        // Only the holder of the writer lock stores the sequence word, so a plain load and
        // store suffice. An odd word means a writer died mid-write: its write is finished by
        // this one, under the same odd value.
        let before = self.sequence().load(Relaxed);
        let odd = before | 1;
        self.sequence().store(odd, Relaxed);
        // Orders the odd store before every payload store below: a reader that sees any of
        // them sees the odd word when it checks again (it pairs with the reader's acquire
        // fence).
        fence(Release);
        self.segment.region.copy_in(data);
        self.length().store(len, Relaxed);
        // Publishes the payload and length with the even word.
        self.sequence().store(odd.wrapping_add(1), Release);
        Ok(len)
    }

    /// Empties the payload (a write of zero bytes).
    ///
    /// ```
    /// let mut buffer = shm_ring::SharedBuffer::create_unique(8)?;
    /// buffer.write(b"abc")?;
    /// buffer.clear()?;
    /// assert_eq!(buffer.data_len()?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clear(&mut self) -> Result<(), BufferWriteError> {
        self.write(&[]).map(drop)
    }

    /// Takes the writer lock unless this handle holds it.
    fn claim_writer(&mut self) -> Result<(), BufferWriteError> {
        if self.writer {
            return Ok(());
        }
        match self.segment.segment.take_writer_lock() {
            Ok(Some(false)) => Err(BufferWriteError::WriterInUse {
                name: self.name().to_owned(),
            }),
            Ok(_) => {
                self.writer = true;
                Ok(())
            }
            Err((operation, source)) => Err(BufferWriteError::Io {
                name: self.name().to_owned(),
                operation,
                source,
            }),
        }
    }

    /// Copies the payload out, whole: never a mix of two writes.
    ///
    /// A copy that a write overlapped is thrown away and made again, up to 1024 times (the
    /// later ones after yielding the CPU); then [`BufferReadError::Contended`]. A sequence
    /// word left odd by a writer that died is [`BufferReadError::WriterGone`]; a length word
    /// larger than the capacity is [`BufferReadError::LengthExceedsCapacity`]. At most
    /// [`capacity`](Self::capacity) bytes are ever allocated.
    ///
    /// ```
    /// let mut buffer = shm_ring::SharedBuffer::create_unique(1024)?;
    /// assert_eq!(buffer.read()?, b""); // a new buffer holds an empty payload
    /// buffer.write(&[7; 1024])?;
    /// assert_eq!(buffer.read()?, vec![7; 1024]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read(&self) -> Result<Vec<u8>, BufferReadError> {
        let mut out = Vec::new();
        self.read_into(&mut out)?;
        Ok(out)
    }

    /// [`read`](Self::read) into `out`, replacing its contents and reusing its allocation.
    /// Returns the payload's length. Errors as [`read`](Self::read); on error `out` holds
    /// nothing meaningful.
    ///
    /// ```
    /// let mut buffer = shm_ring::SharedBuffer::create_unique(64)?;
    /// buffer.write(b"frame")?;
    /// let mut scratch = Vec::with_capacity(64);
    /// assert_eq!(buffer.read_into(&mut scratch)?, 5);
    /// assert_eq!(scratch, b"frame");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_into(&self, out: &mut Vec<u8>) -> Result<usize, BufferReadError> {
        self.read_into_at(out).map(|(len, _)| len)
    }

    /// [`read_into`](Self::read_into), also returning the (even) sequence word of the write
    /// whose payload it copied.
    pub(crate) fn read_into_at(&self, out: &mut Vec<u8>) -> Result<(usize, u64), BufferReadError> {
        let mut attempt = 0;
        loop {
            let start = self.sequence().load(Acquire);
            if start & 1 == 0 {
                let length = self.length().load(Relaxed);
                let len = self.checked_len(length);
                if let Some(len) = len {
                    // A raw copy between the acquire load and the fence below; see
                    // docs/DESIGN.md.
                    self.segment.region.copy_out(len, out);
                }
                fence(Acquire);
                if self.sequence().load(Relaxed) == start {
                    return len
                        .map(|len| (len, start))
                        .ok_or_else(|| self.length_error(length));
                }
            }
            attempt += 1;
            if attempt == READ_ATTEMPTS {
                return Err(self.contended(attempt));
            }
            back_off(attempt);
        }
    }

    /// Lends the payload in place, with no copy, as a [`BufferView`] that derefs to `&[u8]`.
    ///
    /// The borrow begins at a moment no write is under way (waiting as [`read`](Self::read)
    /// does, with the same errors). [`BufferView::verify`] then says whether a write began
    /// since.
    ///
    /// # Safety
    /// A writer does not wait for readers, so a write may begin while the view lives and change
    /// the bytes it lends; a `&[u8]` promises they do not change, and Rust's memory model calls
    /// such a write, concurrent with a read of those bytes, a data race: undefined behaviour
    /// however the bytes are used. The caller must ensure that no process writes this buffer
    /// while the caller reads bytes through the view: for example, the writer writes again
    /// only after the reader has said it is done (over a ring, a socket, or any other channel). [`BufferView::verify`] detects a write that broke that
    /// rule, after the fact; it does not make the borrow sound. Without such an arrangement,
    /// use [`read`](Self::read) or [`read_into`](Self::read_into), which copy, discard a copy
    /// that a write overlapped, and never lend shared bytes. See the crate's trust model.
    ///
    /// ```
    /// let mut buffer = shm_ring::SharedBuffer::create_unique(64)?;
    /// buffer.write(b"in place")?;
    /// let reader = shm_ring::SharedBuffer::open(buffer.name())?;
    /// // SAFETY: `buffer`, the only writer, is not written while the view's bytes are read.
    /// let view = unsafe { reader.read_in_place() }?;
    /// let checksum: u32 = view.iter().map(|&b| u32::from(b)).sum();
    /// view.verify()?; // nothing overlapped: `checksum` is of one whole payload
    /// assert_eq!(checksum, b"in place".iter().map(|&b| u32::from(b)).sum::<u32>());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn read_in_place(&self) -> Result<BufferView<'_>, BufferReadError> {
        self.lend()
    }

    /// [`read_in_place`](Self::read_in_place) without its contract, for this crate's own uses
    /// that touch no lent byte.
    fn lend(&self) -> Result<BufferView<'_>, BufferReadError> {
        let mut attempt = 0;
        loop {
            let start = self.sequence().load(Acquire);
            if start & 1 == 0 {
                let length = self.length().load(Relaxed);
                fence(Acquire);
                if self.sequence().load(Relaxed) == start {
                    let len = self
                        .checked_len(length)
                        .ok_or_else(|| self.length_error(length))?;
                    return Ok(BufferView::new(self, start, self.segment.region.slice(len)));
                }
            }
            attempt += 1;
            if attempt == READ_ATTEMPTS {
                return Err(self.contended(attempt));
            }
            back_off(attempt);
        }
    }

    /// The current payload's length in bytes, read consistently (as [`read`](Self::read)
    /// reads, with the same errors).
    ///
    /// ```
    /// let mut buffer = shm_ring::SharedBuffer::create_unique(64)?;
    /// buffer.write(&[0; 48])?;
    /// assert_eq!(buffer.data_len()?, 48);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn data_len(&self) -> Result<u64, BufferReadError> {
        self.lend().map(|view| view.len() as u64)
    }

    /// Says that this process has read the payload: adds one to the buffer's acknowledgement
    /// count (a `u32` in the header that wraps at 2^32) and wakes every process sleeping in
    /// [`wait_acknowledged`](Self::wait_acknowledged). Any handle may call it; it takes no
    /// lock and never fails. What the count means is the program's: a writer that hands a
    /// payload to one reader waits for one acknowledgement before removing the buffer.
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut writer = shm_ring::SharedBuffer::create_unique(64)?;
    /// writer.write(b"done?")?;
    /// let seen = writer.acknowledgements();
    /// let reader = shm_ring::SharedBuffer::open(writer.name())?; // another process, usually
    /// assert_eq!(reader.read()?, b"done?");
    /// reader.acknowledge();
    /// assert_eq!(writer.wait_acknowledged(seen, Duration::from_secs(5)), Some(seen + 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acknowledge(&self) {
        self.acks().fetch_add(1, Release);
        crate::wait::wake_all(self.acks());
    }

    /// The acknowledgement count now (see [`acknowledge`](Self::acknowledge)).
    ///
    /// ```
    /// let buffer = shm_ring::SharedBuffer::create_unique(8)?;
    /// assert_eq!(buffer.acknowledgements(), 0);
    /// buffer.acknowledge();
    /// assert_eq!(buffer.acknowledgements(), 1);
    /// # Ok::<(), shm_ring::BufferOpenError>(())
    /// ```
    pub fn acknowledgements(&self) -> u32 {
        self.acks().load(Acquire)
    }

    /// Sleeps until the acknowledgement count differs from `seen` (a count returned by
    /// [`acknowledgements`](Self::acknowledgements) earlier), for at most `timeout`. Returns
    /// the new count, or `None` when the time ran out first.
    ///
    /// On Linux the wait sleeps in the kernel (a futex on the count) and
    /// [`acknowledge`](Self::acknowledge) wakes it at once; elsewhere it looks again every
    /// few milliseconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// let buffer = shm_ring::SharedBuffer::create_unique(8)?;
    /// assert_eq!(buffer.wait_acknowledged(0, Duration::from_millis(1)), None);
    /// # Ok::<(), shm_ring::BufferOpenError>(())
    /// ```
    pub fn wait_acknowledged(&self, seen: u32, timeout: Duration) -> Option<u32> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let now = self.acknowledgements();
            if now != seen {
                return Some(now);
            }
            let left = match deadline {
                Some(deadline) => deadline.checked_duration_since(Instant::now())?,
                None => timeout,
            };
            if left.is_zero() {
                return None;
            }
            crate::wait::sleep_on(self.acks(), seen, left);
        }
    }

    /// Whether the buffer's name still refers to this segment: `false` once it was removed
    /// (by [`crate::remove`], say) or replaced, after which no process can open it by name.
    /// Always `true` on Windows, where a mapping keeps its name while any handle to it is open.
    ///
    /// ```ignore-windows
    /// let buffer = shm_ring::SharedBuffer::create_unique(8)?;
    /// assert!(buffer.is_named());
    /// shm_ring::remove_forced(buffer.name())?;
    /// assert!(!buffer.is_named());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_named(&self) -> bool {
        self.segment.segment.is_named()
    }

    /// The payload length a length word names, if the mapping holds it.
    fn checked_len(&self, length: u64) -> Option<usize> {
        if length > self.capacity() {
            return None;
        }
        usize::try_from(length)
            .ok()
            .filter(|&len| len <= self.segment.region.payload_len())
    }

    fn length_error(&self, length: u64) -> BufferReadError {
        BufferReadError::LengthExceedsCapacity {
            name: self.name().to_owned(),
            length,
            capacity: self.capacity(),
        }
    }

    /// The error after `attempts` failed reads: a dead writer's odd word, or contention.
    fn contended(&self, attempts: u32) -> BufferReadError {
        let sequence = self.sequence().load(Acquire);
        if sequence & 1 == 1 && self.segment.segment.writer_locked_elsewhere() == Some(false) {
            return BufferReadError::WriterGone {
                name: self.name().to_owned(),
                sequence,
            };
        }
        BufferReadError::Contended {
            name: self.name().to_owned(),
            attempts,
        }
    }

    /// The sequence word now, for [`BufferView::verify`].
    pub(crate) fn sequence_now(&self) -> u64 {
        // Every read through the view comes before this fence in program order; a write that
        // any of them saw had made the word odd before (see `write`).
        fence(Acquire);
        self.sequence().load(Relaxed)
    }
}

impl Drop for SharedBuffer {
    fn drop(&mut self) {
        // Only the creating process's owner handle removes the name, and only while it still
        // names this object; its owner lock is still held here.
        if self.owner && self.segment.segment.is_own_process() {
            let _ = self.segment.segment.unlink();
        }
    }
}

impl std::fmt::Debug for SharedBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedBuffer")
            .field("name", &self.name())
            .field("capacity", &self.capacity())
            .field("owner", &self.owner)
            .finish()
    }
}

/// Waits a little before read attempt `attempt` + 1.
fn back_off(attempt: u32) {
    if attempt < SPIN_ATTEMPTS {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// A new name of 24 characters: `prefix` (three characters, `srb` for shared buffers, `srp`
/// for pools), `-`, this process's id and 12 hexadecimal digits that differ from call to call
/// and from process to process.
pub(crate) fn unique_name(prefix: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::AtomicU32;
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(COUNTER.fetch_add(1, Relaxed));
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    format!(
        "{prefix}-{:08x}{:012x}",
        std::process::id(),
        hasher.finish() & 0xffff_ffff_ffff
    )
}
