"""shm_ring: a lock-free single-producer/single-consumer message ring in POSIX shared memory.

Pure Python (3.8+, standard library only), byte-compatible with the shm_ring Rust crate and
C++ header and with the cpp_py_shmbuf v2 layout.

    from shm_ring import ShmProducer, ShmConsumer

    with ShmProducer("frames", 1 << 20) as producer:        # creates /frames
        producer.write(b"hello")
    with ShmConsumer("frames", timeout=5.0) as consumer:      # in another process
        print(consumer.read(timeout=1.0).into_bytes())
    shm_ring.remove("frames")                                 # once its producer is gone
    shm_ring.cleanup(dry_run=True)        # segments of ours whose owner is provably gone

Every call that can wait comes as a pair: ``try_x()`` returns at once and reports "full" or
"empty" as a value (False or None), never a timeout; ``x(..., timeout)`` waits and raises
ShmTimeoutError or PeerGoneError, never "full" or "empty". Reads lend the message as a
ReadGrant (copy it out with ``into_bytes()``, or look at ``as_slices()`` and ``commit()``;
releasing it without either leaves the message), zero-copy writes as a WriteGrant.

The segment is a 16-byte header (head, tail, capacity, reserved: little-endian u32 words) and a
power-of-two data area holding records ``[u32 LE length][payload]`` that may wrap around its end.
Indices wrap modulo 2**32 and are read and written as single aligned 4-byte accesses.

Memory ordering: on x86 / x86-64 (total store order) the copies and index stores need no
barrier. On any other CPU each ring issues a barrier after loading the other side's index and
before storing its own: it releases and re-takes a private ``threading.Lock``, whose release and
acquire are atomic operations with release and acquire ordering in CPython; in that order they
keep every access before the pair ahead of every access after it on AArch64, ARMv7 and POWER.
See ``shm_ring._order``.

A producer of shm_ring writes the marker b"SRX1" into ``reserved`` and keeps a 64-byte block of
flag bytes (one per side) on the first cache line past the data area; the original library has
neither, and against it the extras below simply do not apply.

Large payloads: ``BufferPool`` is the Rust crate's cross-process pool of fixed-size slots (the
same bytes, so Rust and Python processes share one pool): a writer fills a slot in place and
publishes a small ``PoolRef`` (64 bytes, or JSON); a reader in any process resolves it to a
read-only view of the bytes in place, and its release returns the slot to the pool.

Waiting: a short spin, then (Linux x86-64 and AArch64) a futex sleep on the other side's index
word, announced in this side's flag byte so that the other side wakes it after publishing;
elsewhere, or against the original library, polling with sleeps of at most 1 ms. Every wait
with a timeout ends. Each side holds an OFD lock on the object for as long as it lives, so
blocking calls raise PeerGoneError once the other side is gone, and a live segment is never
replaced (InUseError). See ``_wait`` and ``_kernel``.
"""

from ._errors import (
    AlreadyExistsError,
    BufferTooSmallError,
    BusyError,
    ClosedError,
    CorruptedError,
    EmptyMessageError,
    InUseError,
    UnsupportedError,
    InvalidCapacityError,
    InvalidNameError,
    MessageTooLargeError,
    NotFoundError,
    NotReadyError,
    PeerGoneError,
    PermissionDeniedError,
    SegmentTooSmallError,
    ShmRingError,
    ShmTimeoutError,
)
from ._layout import HEADER_LEN, MAX_CAPACITY, MAX_NAME_LEN, MIN_CAPACITY, PREFIX_LEN, capacity_for_message
from ._remove import remove, remove_forced
from ._cleanup import CleanupReport, Orphan, cleanup
from ._ring import PeerState, ReadGrant, ShmConsumer, ShmProducer, WriteGrant
from ._buffer import (
    BufferView,
    SharedBuffer,
    NotASharedBufferError,
    UnsupportedVersionError,
    PayloadTooLargeError,
    WriterInUseError,
    ContendedError,
    OverwrittenError,
    WriterGoneError,
    LengthExceedsCapacityError,
    DescriptorError,
    DescriptorMismatchError,
    SHARED_BUFFER_SCHEMA,
)
from ._scene import (
    SceneBuffer,
    SceneDescriptor,
    SceneKind,
    SCENE_SCHEMA,
    DEFAULT_MAX_SCENE_LEN,
    Lz4UnavailableError,
    SceneReadError,
    StaleDescriptorError,
    ExpiredError,
    PayloadLimitError,
    DecompressError,
    ChecksumMismatchError,
)
from ._atomic import AtomicsUnavailableError
from ._errors import LengthMismatchError
from ._pool import (
    MAX_POOL_BYTES,
    MAX_POOL_SLOTS,
    POOL_HOLDERS,
    AlreadyResolvedError,
    BufferPool,
    GeometryExceedsSizeError,
    InvalidGeometryError,
    InvalidHolderCountError,
    LengthExceedsSlotError,
    NotABufferPoolError,
    NotPublishedError,
    PoolExhaustedError,
    PoolHoldersFullError,
    PoolLoan,
    PoolRef,
    PoolRefError,
    PoolView,
    PublishTooLargeError,
    ResolveError,
    SlotLostError,
    SlotOutOfRangeError,
    StaleError,
    UnsupportedPoolVersionError,
    WrongPoolError,
)

from ._large import (
    DEFAULT_INLINE_THRESHOLD,
    EnvelopeError,
    LargeLoan,
    LargeMessage,
    LargeReceiver,
    LargeSender,
    LargeSetupError,
    NoReceiverError,
)

__version__ = "0.1.0"

__all__ = [
    "LargeSender",
    "LargeReceiver",
    "LargeMessage",
    "LargeLoan",
    "DEFAULT_INLINE_THRESHOLD",
    "EnvelopeError",
    "LargeSetupError",
    "NoReceiverError",
    "ShmProducer",
    "ShmConsumer",
    "WriteGrant",
    "ReadGrant",
    "PeerState",
    "capacity_for_message",
    "remove",
    "remove_forced",
    "cleanup",
    "CleanupReport",
    "Orphan",
    "SharedBuffer",
    "BufferView",
    "HEADER_LEN",
    "PREFIX_LEN",
    "MIN_CAPACITY",
    "MAX_CAPACITY",
    "MAX_NAME_LEN",
    "ShmRingError",
    "InvalidNameError",
    "InvalidCapacityError",
    "SegmentTooSmallError",
    "NotFoundError",
    "NotReadyError",
    "AlreadyExistsError",
    "PermissionDeniedError",
    "CorruptedError",
    "MessageTooLargeError",
    "EmptyMessageError",
    "BufferTooSmallError",
    "ShmTimeoutError",
    "BusyError",
    "ClosedError",
    "InUseError",
    "UnsupportedError",
    "PeerGoneError",
    "NotASharedBufferError",
    "UnsupportedVersionError",
    "PayloadTooLargeError",
    "WriterInUseError",
    "ContendedError",
    "OverwrittenError",
    "WriterGoneError",
    "LengthExceedsCapacityError",
    "DescriptorError",
    "DescriptorMismatchError",
    "SHARED_BUFFER_SCHEMA",
    "SceneBuffer",
    "SceneDescriptor",
    "SceneKind",
    "SCENE_SCHEMA",
    "DEFAULT_MAX_SCENE_LEN",
    "Lz4UnavailableError",
    "SceneReadError",
    "StaleDescriptorError",
    "LengthMismatchError",
    "ExpiredError",
    "PayloadLimitError",
    "DecompressError",
    "ChecksumMismatchError",
    "BufferPool",
    "PoolLoan",
    "PoolView",
    "PoolRef",
    "MAX_POOL_SLOTS",
    "POOL_HOLDERS",
    "MAX_POOL_BYTES",
    "AtomicsUnavailableError",
    "NotABufferPoolError",
    "UnsupportedPoolVersionError",
    "InvalidGeometryError",
    "InvalidHolderCountError",
    "GeometryExceedsSizeError",
    "PoolExhaustedError",
    "PoolHoldersFullError",
    "PublishTooLargeError",
    "SlotLostError",
    "ResolveError",
    "WrongPoolError",
    "SlotOutOfRangeError",
    "LengthExceedsSlotError",
    "StaleError",
    "NotPublishedError",
    "AlreadyResolvedError",
    "PoolRefError",
]
