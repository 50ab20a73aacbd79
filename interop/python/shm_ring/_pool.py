"""BufferPool: N fixed-size slots in one named shared-memory segment, filled in place by a
writer and handed to a reader in any process (Rust or Python) as a small PoolRef.

Layout and protocol are the Rust crate's (docs/PROTOCOL.md, "Buffer pools", is the
reference)::

    0        u32 magic       b"SRPL", written last by the creator
    4        u32 version     2
    8        u32 slot_count  1 ..= 65536
    12       u32 flags       0x02: the owner and every handle take liveness locks
    16       u64 slot_size   1 ..= 2**46
    24       u32 releases    +1 on every release; blocked acquirers sleep on it (futex)
    28       u32 waiters     acquirers about to sleep or asleep
    32       u32 holders     entries of the holder table, 1 ..= 256 (128 when created here)
    36       reserved        zero up to 64
    64+16i   u64 slot word i state (bits 0-7: 0 free, 1 filling, 2 published, 3 reading),
                             holder entry (bits 8-15, while filling or reading) and
                             generation (bits 16-63)
    72+16i   u64 length i    the published payload's length
    H+8j     u32 pid j       the process of the handle that claimed holder entry j
    D+S*i    slot i          H = 64 + 16 * slot_count, D = round64(H + 8 * holders),
                             S = round64(slot_size)

Every change of a slot word is a compare-exchange of the whole word (``_atomic``: the C
compiler's atomic runtime, the same instructions the Rust side uses), so a Python process and a
Rust process share one pool as two Rust processes would. A slot goes
``Free -> Filling (generation + 1) -> Published -> Reading -> Free``; a reference names a slot
*at a generation*, so an old reference is ``StaleError``, never the next payload's bytes.

Liveness: each handle claims one entry j of the holder table when it creates or opens the
pool, by taking an OFD lock on byte ``2**32 + j`` of the object, held until it is closed, and
frees the slots a dead handle of that entry left. A slot it takes (a writer's Filling, a
reader's Reading) names its entry in the slot word, so taking and giving back slots are
compare-exchanges only, with no system call. A slot Filling or Reading whose entry's byte is
unlocked belongs to a dead handle; an acquire that finds no free slot frees such slots at the
same generation. A writer that dies mid-fill therefore never makes its slot readable.

Memory lent to the caller: a loan's ``data`` and a view's ``data`` are memoryviews of a
mapping made for that loan or view alone (``_segment.PrivateMapping``), so anything made from
them (a slice, a NumPy array, a ctypes object) makes ``publish()`` and ``release()`` raise
BusyError until it is gone: a slot that goes back to the pool is never reachable from an
object of the caller's. A loan or view collected by the garbage collector while such an object
lives goes back to the pool when the last of them is gone.

Interrupts: an exception from a signal handler (KeyboardInterrupt) never leaves a slot taken
by nobody. A compare-exchange that an interrupt may have cut short is judged by the slot word
afterwards (only the take holding the slot's claim in this handle changes a word naming the
handle's entry), the steps after it are finished, and the interrupt is raised: at once when
the call has nothing to return (release), otherwise from the pool's next call, after this one
returned its loan, view or reference.
"""

from __future__ import annotations

import json
import mmap
import os
import random
import time
import weakref
from typing import Optional, Tuple, Union

from . import _errors, _kernel
from ._atomic import address_of, operations
from ._errors import (
    AlreadyExistsError,
    BusyError,
    ClosedError,
    NotReadyError,
    SegmentTooSmallError,
    ShmRingError,
)
from ._buffer import UnsupportedVersionError
from ._layout import MAX_NAME_LEN, bare_name, name_problem
from ._segment import (
    PrivateMapping,
    _allocate,
    _create_fd,
    _names_object,
    _second_description,
    _shm_open,
    _shm_unlink,
    os_error,
)
from ._wait import check_timeout, pause, timed_out

#: Any object supporting the buffer protocol (bytes, bytearray, memoryview, NumPy arrays...).
Buffer = Union[bytes, bytearray, memoryview]

HEADER_LEN = 64
MAGIC = int.from_bytes(b"SRPL", "little")
VERSION = 2
FLAG_LOCKED = 0x02
SLOT_ENTRY_LEN = 16
#: The number of holder entries of a pool created here: how many handles, in all processes
#: together, may have it open at once.
POOL_HOLDERS = 128
#: The most holder entries a header may state (a holder's index fits 8 bits of a slot word).
MAX_HOLDERS = 256
HOLDER_ENTRY_LEN = 8
#: The most slots a pool has.
MAX_POOL_SLOTS = 1 << 16
#: The largest slot size, and the largest total of all slots, in bytes (2**46).
MAX_POOL_BYTES = 1 << 46
FREE, FILLING, PUBLISHED, READING = 0, 1, 2, 3
#: Generations count modulo 2**48 (the slot word's upper 48 bits).
GENERATION_LIMIT = 1 << 48
#: A reference's generation field is below 2**56 (its format predates layout version 2).
REFERENCE_GENERATION_LIMIT = 1 << 56
_STATE_NAMES = {FREE: "free", FILLING: "filling", PUBLISHED: "published", READING: "reading"}

# Header words: indices in the 4-byte view, and offsets.
_RELEASES_I, _WAITERS_I, _HOLDERS_I = 6, 7, 8
_RELEASES_AT, _WAITERS_AT = 24, 28

#: The longest a blocked acquire sleeps before it looks at the slots again unwoken: it bounds
#: how late it notices a slot whose holder died. Seconds.
ACQUIRE_SLICE = 0.020
#: Longest poll sleep where futexes are missing, in seconds.
POLL_SLEEP = 0.001

_U32 = (1 << 32) - 1
_U64 = (1 << 64) - 1


def slot_word(state, generation, holder=0):
    """The slot word for ``state`` at ``generation`` held by holder entry ``holder`` (0 when
    the state has no holder: Free, Published)."""
    return (generation << 16) | ((holder & 0xFF) << 8) | state


def split_word(word):
    """``(state, generation)`` of a slot word."""
    return word & 0xFF, word >> 16


def holder_of(word):
    """The holder entry a slot word names (meaningful while Filling or Reading)."""
    return (word >> 8) & 0xFF


def holder_lock_byte(holder):
    """The byte of the object whose lock says the handle of holder entry ``holder`` lives."""
    return (1 << 32) + holder


def _round64(n):
    return (n + 63) // 64 * 64


def holder_table_offset(slot_count):
    """Byte offset of the holder table: right after the slot table."""
    return HEADER_LEN + SLOT_ENTRY_LEN * slot_count


def data_offset(slot_count, holders):
    """Byte offset of the first slot."""
    return _round64(holder_table_offset(slot_count) + HOLDER_ENTRY_LEN * holders)


def segment_len(slot_count, slot_size, holders):
    """The object's size in bytes for a valid geometry and holder count."""
    return data_offset(slot_count, holders) + _round64(slot_size) * slot_count


def is_valid_holder_count(holders):
    """1 to MAX_HOLDERS holder entries."""
    return 1 <= holders <= MAX_HOLDERS


def is_valid_geometry(slot_count, slot_size):
    """1 to MAX_POOL_SLOTS slots of 1 to MAX_POOL_BYTES bytes, at most MAX_POOL_BYTES in all."""
    return (
        1 <= slot_count <= MAX_POOL_SLOTS
        and 1 <= slot_size <= MAX_POOL_BYTES
        and _round64(slot_size) * slot_count <= MAX_POOL_BYTES
    )


# -- errors ------------------------------------------------------------------------------------


class NotABufferPoolError(ShmRingError):
    """The segment's magic word is not b"SRPL": it is not a buffer pool (a ring or a shared
    buffer, say) or its header is damaged. Attributes: ``name``, ``found``, ``expected``."""

    def __init__(self, name, found):
        super().__init__(
            "shared-memory segment {!r} is not a buffer pool: magic word {:#010x}, expected "
            "{:#010x} (b'SRPL')".format(name, found, MAGIC)
        )
        self.name = name
        self.found = found
        self.expected = MAGIC


class UnsupportedPoolVersionError(UnsupportedVersionError):
    """The pool's layout version is not one this module reads. Attributes: ``name``,
    ``found``, ``supported``."""

    def __init__(self, name, found):
        ShmRingError.__init__(
            self,
            "shared-memory segment {!r} has pool layout version {}; this module reads version "
            "{}".format(name, found, VERSION),
        )
        self.name = name
        self.found = found
        self.supported = VERSION


class InvalidGeometryError(ShmRingError, ValueError):
    """A slot count or slot size outside the limits (1 to 65536 slots of 1 to 2**46 bytes,
    at most 2**46 bytes in all), asked for or read from a header. Attributes: ``name`` (None
    for a request), ``slot_count``, ``slot_size``."""

    def __init__(self, name, slot_count, slot_size):
        if name is None:
            message = (
                "a pool of {!r} slots of {!r} bytes is outside the limits (1..={} slots, "
                "1..={} bytes in all)".format(slot_count, slot_size, MAX_POOL_SLOTS, MAX_POOL_BYTES)
            )
        else:
            message = (
                "shared-memory segment {!r} claims {} slots of {} bytes, outside the "
                "limits".format(name, slot_count, slot_size)
            )
        super().__init__(message)
        self.name = name
        self.slot_count = slot_count
        self.slot_size = slot_size


class GeometryExceedsSizeError(SegmentTooSmallError):
    """The header's slot count and size need more bytes than the object has. Attributes:
    ``name``, ``slot_count``, ``slot_size``, ``needed``, ``size``."""

    def __init__(self, name, slot_count, slot_size, needed, size):
        super().__init__(
            "shared-memory segment {!r} claims {} slots of {} bytes, which need {} bytes, but "
            "it has {}".format(name, slot_count, slot_size, needed, size),
            size,
        )
        self.name = name
        self.slot_count = slot_count
        self.slot_size = slot_size
        self.needed = needed


class InvalidHolderCountError(ShmRingError, ValueError):
    """The header's holder count is outside ``1 ..= 256``. Attributes: ``name``, ``found``,
    ``max``."""

    def __init__(self, name, found):
        super().__init__(
            "shared-memory segment {!r} claims {} holder entries, outside 1..={}".format(
                name, found, MAX_HOLDERS
            )
        )
        self.name = name
        self.found = found
        self.max = MAX_HOLDERS


class PoolHoldersFullError(ShmRingError):
    """Every holder entry of the pool is claimed by a live handle: ``holders`` handles, in all
    processes together, have it open. Close one (a dead process's entry is free again as soon
    as the process is gone). Attributes: ``name``, ``holders``."""

    def __init__(self, name, holders):
        super().__init__(
            "buffer pool {!r} is open in {} handles, as many as its holder table has entries; "
            "close one first".format(name, holders)
        )
        self.name = name
        self.holders = holders


class PoolExhaustedError(ShmRingError):
    """Every slot is taken (being filled, published, or being read). Attributes: ``name``,
    ``slots``."""

    def __init__(self, name, slots):
        super().__init__("buffer pool {!r}: all {} slots are in use".format(name, slots))
        self.name = name
        self.slots = slots


class PublishTooLargeError(ShmRingError, ValueError):
    """A publish length larger than the slot; the slot went back to the pool. Attributes:
    ``name``, ``length``, ``slot_size`` (bytes)."""

    def __init__(self, name, length, slot_size):
        super().__init__(
            "buffer pool {!r}: cannot publish {} bytes from a {}-byte slot".format(
                name, length, slot_size
            )
        )
        self.name = name
        self.length = length
        self.slot_size = slot_size


class SlotLostError(ShmRingError):
    """The slot word changed under a loan: a process that ignores the protocol wrote it.
    Attributes: ``name``, ``slot``, ``expected``, ``found`` (slot words)."""

    def __init__(self, name, slot, expected, found):
        super().__init__(
            "buffer pool {!r}: slot {} was taken from its writer (slot word {:#x}, expected "
            "{:#x})".format(name, slot, found, expected)
        )
        self.name = name
        self.slot = slot
        self.expected = expected
        self.found = found


class ResolveError(ShmRingError):
    """Base of the reasons a reference resolves to no bytes. Nothing but the bytes a reference
    was published with is ever returned: these errors are what a reader gets instead."""


class WrongPoolError(ResolveError, ValueError):
    """The reference names another pool. Attributes: ``reference``, ``pool`` (names)."""

    def __init__(self, reference, pool):
        super().__init__(
            "a reference to buffer pool {!r} cannot be resolved in pool {!r}".format(
                reference, pool
            )
        )
        self.reference = reference
        self.pool = pool


class SlotOutOfRangeError(ResolveError, ValueError):
    """The reference's slot is not a slot of the pool. Attributes: ``name``, ``slot``,
    ``slots``."""

    def __init__(self, name, slot, slots):
        super().__init__(
            "buffer pool {!r} has {} slots; the reference names slot {}".format(name, slots, slot)
        )
        self.name = name
        self.slot = slot
        self.slots = slots


class LengthExceedsSlotError(ResolveError, ValueError):
    """The reference claims more bytes than a slot holds. Attributes: ``name``, ``length``,
    ``slot_size``."""

    def __init__(self, name, length, slot_size):
        super().__init__(
            "buffer pool {!r}: the reference claims {} bytes, but slots hold {}".format(
                name, length, slot_size
            )
        )
        self.name = name
        self.length = length
        self.slot_size = slot_size


class StaleError(ResolveError):
    """The slot was released (and maybe reused) since the reference was published: its
    payload is gone. Attributes: ``name``, ``slot``, ``generation`` (the reference's),
    ``current`` (the slot's now), ``state`` ("free", "filling", "published", "reading" or
    "invalid")."""

    def __init__(self, name, slot, generation, current, state):
        super().__init__(
            "buffer pool {!r}: the reference to slot {} is stale (generation {}; the slot is {} "
            "at generation {})".format(name, slot, generation, state, current)
        )
        self.name = name
        self.slot = slot
        self.generation = generation
        self.current = current
        self.state = state


class NotPublishedError(ResolveError):
    """The slot is at the reference's generation but its writer has not published it (or died
    before it did): it is never readable. Attributes: ``name``, ``slot``, ``generation``."""

    def __init__(self, name, slot, generation):
        super().__init__(
            "buffer pool {!r}: slot {} at generation {} is not published".format(
                name, slot, generation
            )
        )
        self.name = name
        self.slot = slot
        self.generation = generation


class AlreadyResolvedError(ResolveError):
    """Another resolve of the same reference holds the slot: a reference is read once.
    Attributes: ``name``, ``slot``, ``generation``."""

    def __init__(self, name, slot, generation):
        super().__init__(
            "buffer pool {!r}: slot {} at generation {} is already being read".format(
                name, slot, generation
            )
        )
        self.name = name
        self.slot = slot
        self.generation = generation


class LengthMismatchError(ResolveError, _errors.LengthMismatchError):
    """The slot's length word disagrees with the reference (a forged reference or a damaged
    slot table). Attributes: ``name``, ``slot``, ``length``, ``stored``."""

    def __init__(self, name, slot, length, stored):
        super().__init__(
            "buffer pool {!r}: slot {} holds {} bytes, the reference says {}".format(
                name, slot, stored, length
            )
        )
        self.name = name
        self.slot = slot
        self.length = length
        self.stored = stored


class PoolRefError(ShmRingError, ValueError):
    """A pool reference that cannot be decoded or made (binary or JSON form). Attributes:
    ``field`` (what was wrong: "length", "magic", "version", "format", "pool", "slot",
    "generation", "len", "padding", "json") and ``value`` (the offending value, as read)."""

    def __init__(self, message, field, value):
        super().__init__(message)
        self.field = field
        self.value = value


# -- references --------------------------------------------------------------------------------

_REF_MAGIC = b"SRPR"
_REF_VERSION = 1
_REF_NAME_AT = 32
#: The ``format`` member of the JSON form, and its ``version``.
JSON_FORMAT = "shm_ring.pool_ref"
JSON_VERSION = 1
_JSON_KEYS = ("format", "version", "pool", "slot", "generation", "len")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


class PoolRef:
    """A reference to the payload in one slot of a buffer pool at one generation: ``pool``
    (name), ``slot``, ``generation`` and ``len`` (bytes). Made by :meth:`PoolLoan.publish`,
    sent as :meth:`to_bytes` (64 bytes) or :meth:`to_json`, read back with :meth:`from_bytes`
    or :meth:`from_json`, resolved with :meth:`BufferPool.resolve`. Immutable, hashable,
    equal when all four fields are.

    ``PoolRef(pool, slot, generation, len)`` checks its fields: a valid segment name (a
    leading '/' is dropped), slot below 2**32, generation below 2**56, len below 2**64;
    anything else is PoolRefError.
    """

    __slots__ = ("_pool", "_slot", "_generation", "_len")

    #: Length of the binary form in bytes.
    LEN = 64

    def __init__(self, pool: str, slot: int, generation: int, len: int) -> None:  # noqa: A002
        if not isinstance(pool, str):
            raise PoolRefError(
                "a pool reference's pool name must be a str, not {}".format(type(pool).__name__),
                "pool",
                pool,
            )
        problem = name_problem(pool)
        if problem is not None:
            raise PoolRefError(
                "invalid pool name {!r} in a reference: {}".format(pool, problem), "pool", pool
            )
        for field, value, limit in (
            ("slot", slot, _U32),
            ("generation", generation, REFERENCE_GENERATION_LIMIT - 1),
            ("len", len, _U64),
        ):
            if not _is_int(value) or not 0 <= value <= limit:
                raise PoolRefError(
                    "pool reference {} {!r} is not an integer in 0..={}".format(field, value, limit),
                    field,
                    value,
                )
        self._pool = pool[1:] if pool.startswith("/") else pool
        self._slot = slot
        self._generation = generation
        self._len = len

    @property
    def pool(self) -> str:
        """The pool's name, without a leading '/'."""
        return self._pool

    @property
    def slot(self) -> int:
        """The slot index."""
        return self._slot

    @property
    def generation(self) -> int:
        """The slot's generation when it was published."""
        return self._generation

    @property
    def len(self) -> int:
        """The payload's length in bytes."""
        return self._len

    def _key(self):
        return (self._pool, self._slot, self._generation, self._len)

    def __eq__(self, other):
        if not isinstance(other, PoolRef):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return "PoolRef(pool={!r}, slot={}, generation={}, len={})".format(*self._key())

    # -- binary form -------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The 64-byte binary form (docs/PROTOCOL.md): b"SRPR", version 1, name length, slot,
        generation, len, name; little-endian, zero padding."""
        name = self._pool.encode("ascii")
        out = bytearray(self.LEN)
        out[0:4] = _REF_MAGIC
        out[4] = _REF_VERSION
        out[5] = len(name)
        out[8:12] = self._slot.to_bytes(4, "little")
        out[16:24] = self._generation.to_bytes(8, "little")
        out[24:32] = self._len.to_bytes(8, "little")
        out[_REF_NAME_AT : _REF_NAME_AT + len(name)] = name
        return bytes(out)

    @classmethod
    def from_bytes(cls, data: Buffer) -> PoolRef:
        """Read a reference from its binary form, validating every field (length, magic,
        version, name length and name, zero padding, generation). Raises PoolRefError naming
        the field and the value. Slot and length are checked against the pool on resolve."""
        data = bytes(memoryview(data).cast("B"))
        if len(data) != cls.LEN:
            raise PoolRefError(
                "a pool reference is {} bytes, not {}".format(cls.LEN, len(data)),
                "length",
                len(data),
            )
        if data[0:4] != _REF_MAGIC:
            magic = int.from_bytes(data[0:4], "little")
            raise PoolRefError(
                "not a pool reference: magic {:#010x}, expected {:#010x} (b'SRPR')".format(
                    magic, int.from_bytes(_REF_MAGIC, "little")
                ),
                "magic",
                magic,
            )
        if data[4] != _REF_VERSION:
            raise PoolRefError(
                "pool reference format version {}; this module reads version {}".format(
                    data[4], _REF_VERSION
                ),
                "version",
                data[4],
            )
        name_len = data[5]
        if name_len > MAX_NAME_LEN:
            raise PoolRefError(
                "malformed pool reference: the name length {} exceeds {}".format(
                    name_len, MAX_NAME_LEN
                ),
                "pool",
                name_len,
            )
        name_end = _REF_NAME_AT + name_len
        if any(data[6:8]) or any(data[12:16]) or any(data[name_end:]):
            raise PoolRefError(
                "malformed pool reference: reserved bytes are not zero", "padding", data.hex()
            )
        try:
            name = data[_REF_NAME_AT:name_end].decode("utf-8")
        except UnicodeDecodeError:
            raise PoolRefError(
                "malformed pool reference: the name is not UTF-8",
                "pool",
                data[_REF_NAME_AT:name_end],
            ) from None
        if name.startswith("/"):
            raise PoolRefError(
                "malformed pool reference: the name {!r} starts with '/'".format(name), "pool", name
            )
        return cls(
            name,
            int.from_bytes(data[8:12], "little"),
            int.from_bytes(data[16:24], "little"),
            int.from_bytes(data[24:32], "little"),
        )

    # -- JSON form ---------------------------------------------------------------------------

    def to_json(self) -> str:
        """The JSON form, one compact line with the members in this order (docs/PROTOCOL.md):
        ``{"format":"shm_ring.pool_ref","version":1,"pool":...,"slot":...,"generation":...,
        "len":...}``; integers as JSON numbers, exact."""
        return json.dumps(
            {
                "format": JSON_FORMAT,
                "version": JSON_VERSION,
                "pool": self._pool,
                "slot": self._slot,
                "generation": self._generation,
                "len": self._len,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: Union[str, bytes]) -> PoolRef:
        """Read a reference from its JSON form (str or UTF-8 bytes). Exactly the six members,
        each once; ``format`` "shm_ring.pool_ref", ``version`` 1; integers written as JSON
        integers (no fraction, exponent or sign), within their ranges. Raises PoolRefError
        naming the member and the value; malformed JSON is field "json"."""
        if isinstance(text, (bytes, bytearray, memoryview)):
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError as error:
                raise PoolRefError(
                    "a pool reference's JSON is not UTF-8: {}".format(error), "json", None
                ) from None
        if not isinstance(text, str):
            raise TypeError("from_json takes str or bytes, not {}".format(type(text).__name__))

        def members(pairs):
            seen = {}
            for key, value in pairs:
                if key in seen:
                    raise PoolRefError(
                        "pool reference JSON has member {!r} twice".format(key), key, value
                    )
                seen[key] = value
            return seen

        def no_float(literal):
            raise PoolRefError(
                "pool reference JSON has the non-integer number {}".format(literal),
                "json",
                literal,
            )

        def unsigned(literal):
            if literal.startswith("-"):
                raise PoolRefError(
                    "pool reference JSON has the negative number {}".format(literal),
                    "json",
                    literal,
                )
            return int(literal)

        try:
            document = json.loads(
                text,
                object_pairs_hook=members,
                parse_float=no_float,
                parse_int=unsigned,
                parse_constant=no_float,
            )
        except ValueError as error:
            if isinstance(error, PoolRefError):
                raise
            raise PoolRefError(
                "malformed pool reference JSON: {}".format(error), "json", text[:200]
            ) from None
        if not isinstance(document, dict):
            raise PoolRefError(
                "a pool reference's JSON must be an object, not {}".format(
                    type(document).__name__
                ),
                "json",
                document,
            )
        for key in document:
            if key not in _JSON_KEYS:
                raise PoolRefError(
                    "pool reference JSON has the unknown member {!r}".format(key), key, document[key]
                )
        for key in _JSON_KEYS:
            if key not in document:
                raise PoolRefError(
                    "pool reference JSON lacks the member {!r}".format(key), key, None
                )
        if document["format"] != JSON_FORMAT:
            raise PoolRefError(
                "pool reference JSON has format {!r}; expected {!r}".format(
                    document["format"], JSON_FORMAT
                ),
                "format",
                document["format"],
            )
        version = document["version"]
        if not _is_int(version) or version != JSON_VERSION:
            raise PoolRefError(
                "pool reference JSON version {!r}; this module reads version {}".format(
                    version, JSON_VERSION
                ),
                "version",
                version,
            )
        pool = document["pool"]
        if isinstance(pool, str) and pool.startswith("/"):
            raise PoolRefError(
                "malformed pool reference: the name {!r} starts with '/'".format(pool), "pool", pool
            )
        return cls(pool, document["slot"], document["generation"], document["len"])


# -- loans and views ---------------------------------------------------------------------------


class _SlotMapping(PrivateMapping):
    """A private mapping of some of a slot's bytes. A writer's (``populate``) is faulted in
    as it is made, in one call, which costs half what faulting page by page during the copy
    does; a reader's is not, so that viewing a payload costs the same whatever its size."""

    __slots__ = ("_populate",)

    def __init__(self, pool, start, stop, writable, populate):
        self._populate = populate
        PrivateMapping.__init__(self, pool, ((start, stop),), writable)

    def _map(self):
        length = max(stop for _, stop in self._spans)
        fd = self._segment.view_fd()
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if self._writable else 0)
        flags = mmap.MAP_SHARED | (getattr(mmap, "MAP_POPULATE", 0) if self._populate else 0)
        try:
            return mmap.mmap(fd, length, flags, prot, offset=self._base)
        except (OSError, TypeError) as error:  # TypeError: the pool is closed (no descriptor)
            raise ShmRingError(
                "mmap failed for buffer pool {!r}: {}".format(self._segment.name, error)
            ) from error


def _release_memory(memory, what):
    """Release a private mapping, or raise BusyError while anything still holds it."""
    try:
        memory.release()
    except BufferError:
        raise BusyError(
            "the {}'s memory is still in use: something made from its data (a memoryview, a "
            "slice, a NumPy array, a ctypes object...) is alive; drop it first".format(what)
        ) from None


def _settle(step):
    """Run ``step()`` until it completes; return the first exception that came out of it (an
    interrupt), or None. Only for steps that can be done again (see the module docstring).

    Where work has been committed to shared memory and must be finished, the calling method
    runs the same loop itself instead: a call to this function could be interrupted on its
    way in, before its ``try``."""
    interrupt = None
    for _ in range(1000):
        try:
            step()
            return interrupt
        except BaseException as error:  # an interrupt: do it again, report it afterwards
            if interrupt is None:
                interrupt = error
    raise interrupt


class _Lent:
    """What a loan and a view share: the slot, its generation, a private mapping of its bytes
    made on first use, and giving the slot back."""

    __slots__ = ("_pool", "_slot", "_generation", "_state", "_memory", "_open", "__weakref__")

    _what = "slot"

    def __init__(self, pool, slot, generation, state):
        self._pool = pool
        self._slot = slot
        self._generation = generation
        self._state = state
        self._memory = None
        # Made closed: the pool opens it once the slot is surely this handle's (see _take),
        # so a copy abandoned to an interrupt gives nothing back when collected.
        self._open = False
        pool._lent.add(self)

    @property
    def slot(self) -> int:
        """The slot's index, ``0 .. capacity()``."""
        return self._slot

    @property
    def generation(self) -> int:
        """The slot's generation for this loan or view (the reference's)."""
        return self._generation

    @property
    def closed(self) -> bool:
        """Whether the slot has been published or given back."""
        return not self._open

    def _check(self):
        if not self._open:
            raise ClosedError("the {} has been published or released".format(self._what))

    def _mapped(self, length, writable):
        if self._memory is None:
            pool = self._pool
            start = pool._slot_offset(self._slot)
            self._memory = _SlotMapping(pool, start, start + length, writable, writable)
        return self._memory.parts()[0]

    def release(self) -> None:
        """Give the slot back to the pool (a loan: unpublished; a view: read), waking blocked
        acquirers in every process. Idempotent. Raises BusyError, and keeps the slot, while
        anything made from ``data`` is alive."""
        if not self._open:
            return
        memory = self._memory
        if memory is not None:
            _release_memory(memory, self._what)
        self._memory = None
        interrupt = None
        while True:
            try:
                self._give_back()
                break
            except BaseException as error:  # an interrupt: finish, then raise it
                if interrupt is None:
                    interrupt = error
        if interrupt is not None:
            raise interrupt

    def _give_back(self):
        pool = self._pool
        if self._open:
            # A pool closed first (the garbage collector finalises a cycle holding both in
            # any order) has unmapped its words, and closing its descriptor let go of its
            # holder entry's lock: the slot is then reclaimed like a dead holder's.
            if pool._fd is not None:
                pool._release(self._slot, self._state, self._generation)
            self._open = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False

    def __del__(self):
        if not getattr(self, "_open", False):
            return
        try:
            self.release()
        except BusyError:
            # Something made from the data outlives this object: give the slot back when the
            # mapping itself goes, with the last of those objects.
            memory = self._memory
            self._memory = None
            weakref.finalize(memory._mm, _settle, self._give_back)
        except Exception:
            pass


class PoolLoan(_Lent):
    """A slot lent to its writer by :meth:`BufferPool.try_acquire` or
    :meth:`BufferPool.acquire`. No other process reads or writes the slot while the loan is
    open.

    Fill it through ``data`` (a writable memoryview of the slot's ``slot_size`` bytes, in
    place; ``numpy.frombuffer(loan.data, dtype)`` wraps it without a copy) or
    ``copy_from(data, offset)``, then ``publish(length)`` for the :class:`PoolRef` to send.
    ``release()``, or leaving a ``with`` block unpublished, gives the slot back. A process
    that dies holding a loan never makes the slot readable.
    """

    __slots__ = ()

    _what = "pool loan"

    def __len__(self) -> int:
        """The slot's size in bytes."""
        return self._pool._slot_size

    @property
    def data(self) -> memoryview:
        """The slot's bytes, in place, as a writable memoryview (mapped on first use). Holds
        whatever the slot's last payload left. ``publish()`` and ``release()`` raise
        BusyError while anything made from it is alive. Raises ClosedError after either.

        The first use maps the whole slot and faults all its pages in at once, which costs in
        proportion to the slot size (about 10 ms for 64 MiB): the fastest way to fill most of
        a slot. To write a payload much smaller than the slot, ``copy_from`` costs only the
        payload's pages."""
        self._check()
        return self._mapped(self._pool._slot_size, True)

    def copy_from(self, data: Buffer, offset: int = 0) -> None:
        """Copy bytes-like ``data`` into the slot at byte ``offset``: the fastest way to fill
        a slot from Python. Raises ValueError if it does not fit the slot, ClosedError once
        the loan or the pool is closed.

        Unless ``data`` has been used, the bytes go through a mapping of the slots that the
        pool handle keeps for this alone and never lends out: after the first fill of a page
        the cost is the copy's alone, and no memory of the slot stays reachable from Python
        objects afterwards."""
        self._check()
        view = memoryview(data)
        if view.ndim != 1 or view.format != "B":
            view = view.cast("B") if view.c_contiguous else memoryview(view.tobytes())
        n = view.nbytes
        size = self._pool._slot_size
        if not _is_int(offset) or offset < 0 or offset + n > size:
            raise ValueError(
                "{} bytes at offset {!r} do not fit a {}-byte slot".format(n, offset, size)
            )
        if not n:
            return
        if self._memory is not None:
            self._memory.parts()[0][offset : offset + n] = view
            return
        pool = self._pool
        # The slot's pages exist (the pool allocated them at creation); this copies into them
        # through the handle's own mapping of the slots, which is never lent out. publish()
        # then stores the slot word: on x86 / x86-64 after these stores in the total store
        # order, elsewhere behind the barrier of its atomic exchange.
        start = pool._slot_offset(self._slot) + offset
        pool._slot_memory()[start : start + n] = view

    def publish(self, length: int) -> PoolRef:
        """Publish the slot's first ``length`` bytes; return the :class:`PoolRef` to send.
        The loan is closed. A length past the slot size raises PublishTooLargeError and gives
        the slot back. Raises BusyError (publishing nothing) while anything made from ``data``
        is alive, SlotLostError if a process that ignores the protocol took the slot."""
        self._check()
        pool = self._pool
        if not _is_int(length) or length < 0:
            raise ValueError("a publish length must be an int >= 0, not {!r}".format(length))
        if length > pool._slot_size:
            self.release()
            raise PublishTooLargeError(pool.name, length, pool._slot_size)
        memory = self._memory
        if memory is not None:
            _release_memory(memory, self._what)
        self._memory = None
        slot, generation = self._slot, self._generation
        filling = slot_word(FILLING, generation, pool._holder)
        words = pool._words64
        outcome, started = [], []

        def step():
            if not outcome:
                if started and words[8 + 2 * slot] != filling:
                    # The exchange was made before an interrupt: this handle holds the slot,
                    # so nobody else changed the word from Filling.
                    outcome.append(True)
                else:
                    started.append(True)
                    words[9 + 2 * slot] = length
                    done, found = pool._atomics.compare_exchange(
                        pool._slot_address(slot), filling, slot_word(PUBLISHED, generation)
                    )
                    outcome.append(done if done else found)
            if self._open:
                # A published slot has no holder until a reader resolves it.
                pool._let_go(slot)
                self._open = False
            if outcome[0] is True and len(outcome) == 1:
                outcome.append(PoolRef(pool.name, slot, generation, length))

        # From the exchange on, the work is finished whatever interrupts it; the interrupt is
        # raised by the pool's next call, after this one returned the reference.
        interrupt = None
        while True:
            try:
                step()
                break
            except BaseException as error:
                if interrupt is None:
                    interrupt = error
        if outcome[0] is not True:
            if interrupt is not None:
                raise interrupt
            raise SlotLostError(pool.name, slot, filling, outcome[0])
        if interrupt is not None:
            pool._pending = interrupt
        return outcome[1]

    def __repr__(self):
        return "<PoolLoan {!r} slot={} generation={}{}>".format(
            self._pool.name, self._slot, self._generation, "" if self._open else " closed"
        )


class PoolView(_Lent):
    """The bytes a :class:`PoolRef` names, lent in place by :meth:`BufferPool.resolve`. No
    process writes them while the view is open.

    ``data`` is a read-only memoryview of the payload (``len(view)`` bytes, mapped on first
    use; ``numpy.frombuffer(view.data, dtype)`` wraps it without a copy). ``release()``, or
    the end of a ``with`` block, returns the slot to the pool, whichever process published it;
    it raises BusyError while anything made from ``data`` is alive.
    """

    __slots__ = ("_length",)

    _what = "pool view"

    def __init__(self, pool, slot, generation, length):
        _Lent.__init__(self, pool, slot, generation, READING)
        self._length = length

    def __len__(self) -> int:
        """The payload's length in bytes."""
        return self._length

    @property
    def data(self) -> memoryview:
        """The payload in place, as a read-only memoryview, mapped on first use in a time that
        does not depend on its length (pages are faulted in as they are read). Raises
        ClosedError once released."""
        self._check()
        if self._length == 0:
            return memoryview(b"")
        return self._mapped(self._length, False)

    def tobytes(self) -> bytes:
        """A copy of the payload as bytes (the view stays open)."""
        self._check()
        if self._length == 0:
            return b""
        data = self._mapped(self._length, False)
        return data.tobytes()

    def __repr__(self):
        return "<PoolView {!r} slot={} generation={} len={}{}>".format(
            self._pool.name,
            self._slot,
            self._generation,
            self._length,
            "" if self._open else " closed",
        )


# -- the pool ----------------------------------------------------------------------------------


def _unique_name():
    """24 characters: ``srp-``, the process id and 12 random hexadecimal digits."""
    return "srp-{:08x}{:012x}".format(os.getpid() & 0xFFFFFFFF, random.getrandbits(48))


class BufferPool:
    """A named shared-memory segment of ``capacity()`` slots of ``slot_size()`` bytes, shared
    by any number of processes, Rust or Python.

    ``BufferPool.create(name, slot_count, slot_size)`` (or ``create_unique(slot_count,
    slot_size)`` for a generated 24-character name) makes it, mode 0600, and owns it:
    ``close()`` (or the end of a ``with`` block) removes the name in the creating process.
    ``BufferPool.open(name)`` opens it elsewhere. Any handle may acquire, publish, resolve and
    release.

    >>> with BufferPool.create_unique(4, 1 << 20) as pool:      # doctest: +SKIP
    ...     with pool.try_acquire() as loan:
    ...         loan.copy_from(b"mesh vertex")
    ...         wire = loan.publish(11).to_bytes()              # send these 64 bytes
    ...     with pool.resolve(PoolRef.from_bytes(wire)) as view:  # usually another process
    ...         assert view.tobytes() == b"mesh vertex"
    """

    def __init__(self, name, fd, slot_count, slot_size, locked, owner, holders):
        self.name = name
        # Set last: a handle whose construction failed never closes the caller's descriptor.
        self._fd = None
        self._slot_count = slot_count
        self._slot_size = slot_size
        self._locked = locked
        self._owner = owner
        self._pid = os.getpid()
        self._holder_count = holders
        self._data = data_offset(slot_count, holders)
        self._stride = _round64(slot_size)
        #: The holder entry this handle claimed (see _claim); every slot it takes names it.
        self._holder = 0
        #: slot -> the token of the take that holds (or is taking) it in this handle. Taking
        #: a slot claims it here first, in one step (``setdefault``), so that a take cut short
        #: by an interrupt can tell from the slot word alone whether its exchange was made:
        #: the word names the handle's entry, which all its threads share.
        self._holders = {}
        #: The loans and views of this handle (open ones keep close() from unmapping).
        self._lent = weakref.WeakSet()
        self._pending = None
        self._mm = None
        #: The slots, mapped on the first copy_from and kept: never lent out (no export), so
        #: close() can always unmap it, and no Python object outside this handle reaches it.
        self._slots_mm = None
        self._views_fd = None
        self._atomics = operations()
        views_fd = _second_description(fd)
        self._views_fd = views_fd if views_fd != fd else None
        try:
            self._mm = mmap.mmap(
                views_fd, self._data, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
            )
        except OSError as error:
            if self._views_fd is not None:
                os.close(self._views_fd)
            raise os_error(error, name, "mmap") from error
        self._base = address_of(self._mm)
        self._words32 = memoryview(self._mm).cast("I")
        self._words64 = memoryview(self._mm).cast("Q")
        self._futex = None
        if _kernel.futex_available():
            at = self._base + _RELEASES_AT
            self._futex = _kernel.Futex(at, at)
        if locked:
            self._claim(fd)
        self._fd = fd

    def _claim(self, fd):
        """Claim a holder entry: take the lock of the first entry whose lock is free, record
        this process's id in it, and free the slots a dead handle of that entry left, before
        this handle takes any slot under it. Raises PoolHoldersFullError."""
        for holder in range(self._holder_count):
            taken = _kernel.take_lock(fd, holder_lock_byte(holder))
            if taken is None:  # no such locks here: nothing is ever reclaimed
                return
            if taken:
                break
        else:
            self._release_mapping()
            raise PoolHoldersFullError(self.name, self._holder_count)
        self._holder = holder
        self._words32[holder_table_offset(self._slot_count) // 4 + 2 * holder] = os.getpid()
        # Nobody else holds this entry's lock, so a slot naming it is a dead handle's; and
        # nobody but this handle names it until it is closed.
        words, freed = self._words64, 0
        for slot in range(self._slot_count):
            word = words[8 + 2 * slot]
            state = word & 0xFF
            if (state == FILLING or state == READING) and holder_of(word) == holder:
                done, _ = self._atomics.compare_exchange(
                    self._slot_address(slot), word, slot_word(FREE, word >> 16)
                )
                freed += bool(done)
        if freed:
            self._notify()

    def _release_mapping(self):
        """Unmap the words and close the second descriptor (a construction that failed)."""
        for view in (self._words32, self._words64):
            view.release()
        self._mm.close()
        if self._views_fd is not None:
            os.close(self._views_fd)
            self._views_fd = None

    # -- creating and opening ------------------------------------------------------------

    @classmethod
    def create(cls, name: str, slot_count: int, slot_size: int) -> BufferPool:
        """Create the pool ``name`` of ``slot_count`` slots of ``slot_size`` bytes, all free.
        The memory is allocated now. A segment of that name whose owner is gone is replaced;
        one whose owner lives raises InUseError. Raises InvalidGeometryError,
        InvalidNameError, AtomicsUnavailableError, ShmRingError."""
        return cls._create(bare_name(name), slot_count, slot_size, exclusive=False)

    @classmethod
    def create_unique(cls, slot_count: int, slot_size: int) -> BufferPool:
        """Create a pool under a new generated name of 24 characters (``name`` says which).
        Raises as :meth:`create`."""
        for _ in range(16):
            try:
                return cls._create(_unique_name(), slot_count, slot_size, exclusive=True)
            except AlreadyExistsError:
                continue
        raise AlreadyExistsError("no free generated name after 16 tries")

    @classmethod
    def _create(cls, bare, slot_count, slot_size, exclusive):
        if not (_is_int(slot_count) and _is_int(slot_size)) or not is_valid_geometry(
            slot_count, slot_size
        ):
            raise InvalidGeometryError(None, slot_count, slot_size)
        operations()  # before the object exists: a missing libatomic leaves nothing behind
        fd, locked = _create_fd(bare, 0o600, exclusive)
        pool = None
        try:
            size = segment_len(slot_count, slot_size, POOL_HOLDERS)
            try:
                os.fchmod(fd, 0o600)
                os.ftruncate(fd, size)
                _allocate(fd, size)
            except OSError as error:
                raise os_error(error, bare, "ftruncate") from error
            pool = cls(bare, fd, slot_count, slot_size, locked, True, POOL_HOLDERS)
        finally:
            if pool is None:
                try:
                    if _names_object(bare, fd):
                        _shm_unlink(bare)
                except (OSError, ShmRingError):
                    pass
                os.close(fd)
        words32, words64 = pool._words32, pool._words64
        words32[1] = VERSION
        words32[2] = slot_count
        words64[2] = slot_size
        words32[3] = FLAG_LOCKED if locked else 0
        words32[_HOLDERS_I] = POOL_HOLDERS
        # The object is zero-filled: releases, waiters and every slot (free, generation 0).
        # A sequentially consistent read-modify-write (adding 0) is a full barrier: the header
        # is visible before the magic word that publishes it.
        pool._atomics.fetch_add(pool._base + _RELEASES_AT, 0)
        words32[0] = MAGIC
        return pool

    @classmethod
    def open(cls, name: str) -> BufferPool:
        """Open the existing pool ``name``. The header is validated before more than it is
        mapped: NotABufferPoolError (magic), UnsupportedPoolVersionError, InvalidGeometryError,
        InvalidHolderCountError, GeometryExceedsSizeError; NotFoundError, NotReadyError,
        SegmentTooSmallError; PoolHoldersFullError when every holder entry is claimed by a
        live handle."""
        bare = bare_name(name)
        try:
            fd = _shm_open(bare, os.O_RDWR, 0)
        except OSError as error:
            raise os_error(error, bare, "shm_open") from error
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                raise NotReadyError(
                    "shared-memory segment {!r} is not ready yet: its creator has not finished "
                    "initialising it".format(bare)
                )
            if size < HEADER_LEN:
                raise SegmentTooSmallError(
                    "shared-memory segment {!r} is {} bytes, smaller than the 64-byte pool "
                    "header".format(bare, size),
                    size,
                )
            header = os.pread(fd, HEADER_LEN, 0)
            if len(header) < HEADER_LEN:
                raise SegmentTooSmallError(
                    "shared-memory segment {!r} holds only {} bytes".format(bare, len(header)),
                    len(header),
                )
            word = lambda at, n: int.from_bytes(header[at : at + n], "little")  # noqa: E731
            magic, version, slot_count = word(0, 4), word(4, 4), word(8, 4)
            flags, slot_size, holders = word(12, 4), word(16, 8), word(32, 4)
            if magic == 0:
                raise NotReadyError(
                    "shared-memory segment {!r} is not ready yet: its creator has not finished "
                    "initialising it".format(bare)
                )
            if magic != MAGIC:
                raise NotABufferPoolError(bare, magic)
            if version != VERSION:
                raise UnsupportedPoolVersionError(bare, version)
            if not is_valid_geometry(slot_count, slot_size):
                raise InvalidGeometryError(bare, slot_count, slot_size)
            if not is_valid_holder_count(holders):
                raise InvalidHolderCountError(bare, holders)
            needed = segment_len(slot_count, slot_size, holders)
            if needed > size:
                raise GeometryExceedsSizeError(bare, slot_count, slot_size, needed, size)
            locked = bool(flags & FLAG_LOCKED)
            return cls(bare, fd, slot_count, slot_size, locked, False, holders)
        except BaseException:
            os.close(fd)
            raise

    # -- queries ---------------------------------------------------------------------------

    def capacity(self) -> int:
        """The number of slots."""
        return self._slot_count

    def slot_size(self) -> int:
        """The size of each slot in bytes: the largest payload a slot holds."""
        return self._slot_size

    def available(self) -> int:
        """How many slots are free now, in all processes (a snapshot). Slots held by a dead
        process count as taken until an acquire reclaims them."""
        self._check_open()
        words = self._words64
        return sum(1 for slot in range(self._slot_count) if words[8 + 2 * slot] & 0xFF == FREE)

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._fd is None

    # -- acquiring -------------------------------------------------------------------------

    def try_acquire(self) -> PoolLoan:
        """Lend a free slot as a :class:`PoolLoan`. With every slot taken, first reclaim slots
        whose holder died (Linux), then raise PoolExhaustedError."""
        self._check_open()
        loan = self._scan()
        if loan is None and self._reclaim():
            loan = self._scan()
        if loan is None:
            raise PoolExhaustedError(self.name, self._slot_count)
        return loan

    def acquire(self, timeout: Optional[float]) -> PoolLoan:
        """:meth:`try_acquire`, waiting up to ``timeout`` seconds (None: forever) for a slot.
        On Linux it sleeps in the kernel (a futex on the header's ``releases`` word) and a
        release in any process wakes it; it also wakes every 20 ms to reclaim slots of dead
        holders. Elsewhere it polls in sleeps of at most 1 ms. Raises ShmTimeoutError."""
        timeout = check_timeout(timeout)
        self._check_open()
        clock = time.monotonic
        deadline = None if timeout is None else clock() + timeout
        words32 = self._words32
        while True:
            seen = words32[_RELEASES_I]
            loan = self._scan()
            if loan is None and self._reclaim():
                loan = self._scan()
            if loan is not None:
                return loan
            left = None if deadline is None else deadline - clock()
            if left is not None and left <= 0:
                raise timed_out(
                    timeout, "a free slot of buffer pool {!r}".format(self.name),
                    "all {} slots are in use".format(self._slot_count),
                )
            self._sleep(seen, ACQUIRE_SLICE if left is None else min(left, ACQUIRE_SLICE))

    def _sleep(self, seen, seconds):
        futex = self._futex
        if futex is None:
            pause(min(seconds, POLL_SLEEP))
            return
        waiters = self._base + _WAITERS_AT
        # Announce the sleep before it: a releaser increments ``releases`` and then reads
        # ``waiters``, so either it sees this count and wakes us, or the kernel sees its new
        # ``releases`` and does not put us to sleep.
        self._atomics.fetch_add(waiters, 1)
        try:
            code = futex.wait(seen, seconds)
        finally:
            self._atomics.fetch_add(waiters, -1)
        if not _kernel.is_benign(code):
            self._futex = None

    def _scan(self):
        """Look once through the slots for a free one and take it."""
        words = self._words64
        for slot in range(self._slot_count):
            word = words[8 + 2 * slot]
            if word & 0xFF != FREE:
                continue
            generation = ((word >> 16) + 1) % GENERATION_LIMIT
            loan, _ = self._take(
                slot, word, slot_word(FILLING, generation, self._holder),
                lambda: PoolLoan(self, slot, generation, FILLING),
            )
            if loan is not None:
                return loan
        return None

    def _take(self, slot, expected, desired, make) -> Tuple[Optional[_Lent], Optional[int]]:
        """Claim slot ``slot`` in this handle and exchange its word from ``expected`` to
        ``desired`` (which names this handle's entry); return ``(make(), desired)``, opened,
        or ``(None, found)`` with the claim let go if the word was not ``expected`` (``found``
        None: another take of this handle is under way).

        An interrupt anywhere in here is caught and the work finished: while this take holds
        the claim, no other take of this handle writes ``desired`` and no other handle writes
        a word naming this handle's entry, so the word alone tells whether the exchange was
        made. The interrupt is raised by the pool's next call."""
        outcome = {}
        words = self._words64
        token = object()

        def step():
            if "found" in outcome:
                return
            if not self._hold(slot, token):
                outcome["found"] = None
                return
            word = words[8 + 2 * slot]
            if word == expected:
                self._atomics.compare_exchange(self._slot_address(slot), expected, desired)
                word = words[8 + 2 * slot]
            if word != desired:
                self._let_go(slot)
                outcome["found"] = word
                return
            if "lent" not in outcome:
                outcome["lent"] = make()
            outcome["lent"]._open = True
            outcome["found"] = word

        interrupt = None
        while True:
            try:
                step()
                break
            except BaseException as error:
                if interrupt is None:
                    interrupt = error
        if interrupt is not None:
            self._pending = interrupt
        if "lent" in outcome and outcome["lent"]._open:
            return outcome["lent"], outcome["found"]
        return None, outcome["found"]

    def _reclaim(self):
        """Free the slots whose handle died (or was closed) while filling or reading them
        (Filling or Reading, naming a holder entry whose lock is free). Probes each entry's
        lock at most once. Returns how many it freed."""
        if not self._locked:
            return 0
        freed = 0
        words, fd, own, count = self._words64, self._fd, self._holder, self._holder_count
        gone = {}
        for slot in range(self._slot_count):
            word = words[8 + 2 * slot]
            state = word & 0xFF
            if state != FILLING and state != READING:
                continue
            holder = holder_of(word)
            # This handle's own slots: its lock does not show to itself. An entry past the
            # table is damage, never touched.
            if holder == own or holder >= count:
                continue
            if holder not in gone:
                gone[holder] = _kernel.lock_held(fd, holder_lock_byte(holder)) is False
            if not gone[holder]:
                continue
            # A handle holds its entry's lock from before it takes any slot until it is gone,
            # and a new claimant of the entry frees that entry's slots before it takes any, so
            # a word unchanged since it was seen, naming an entry whose lock was free after,
            # is a dead handle's.
            done, _ = self._atomics.compare_exchange(
                self._slot_address(slot), word, slot_word(FREE, word >> 16)
            )
            if done:
                freed += 1
        if freed:
            self._notify()
        return freed

    # -- resolving -------------------------------------------------------------------------

    def resolve(self, reference: PoolRef) -> PoolView:
        """Resolve a reference published by a loan of this pool (in any process) to its bytes
        in place, as a :class:`PoolView`; its release returns the slot to the pool.

        Checked first against the pool: WrongPoolError, SlotOutOfRangeError,
        LengthExceedsSlotError. Then StaleError (released since; never another payload's
        bytes), NotPublishedError (still being filled, or its writer died filling it),
        AlreadyResolvedError (another resolve holds it), LengthMismatchError."""
        self._check_open()
        if not isinstance(reference, PoolRef):
            raise TypeError("resolve takes a PoolRef, not {}".format(type(reference).__name__))
        if reference.pool != self.name:
            raise WrongPoolError(reference.pool, self.name)
        slot, generation, length = reference.slot, reference.generation, reference.len
        if slot >= self._slot_count:
            raise SlotOutOfRangeError(self.name, slot, self._slot_count)
        if length > self._slot_size:
            raise LengthExceedsSlotError(self.name, length, self._slot_size)
        word = self._words64[8 + 2 * slot]
        if generation >= GENERATION_LIMIT:
            raise self._unreadable(reference, word)  # never this layout's: stale
        published = slot_word(PUBLISHED, generation)
        if word != published:
            raise self._unreadable(reference, word)
        # An exchange that leaves the word as it is: an acquire load of it, so the length word
        # read next is the one its writer published (a plain load could be read early on
        # AArch64).
        address = self._slot_address(slot)
        done, found = self._atomics.compare_exchange(address, published, published)
        if not done:
            raise self._unreadable(reference, found)
        # The length is checked before the slot is taken, so a forged reference (or a damaged
        # table) leaves the slot untouched: a slot word never goes back from Reading to
        # Published, so a reclaimer never sees a word it saw before come back.
        stored = self._words64[9 + 2 * slot]
        if stored != length:
            raise LengthMismatchError(self.name, slot, length, stored)
        view, found = self._take(
            slot, published, slot_word(READING, generation, self._holder),
            lambda: PoolView(self, slot, generation, length),
        )
        if view is None:
            if found is None:
                # Another take of this handle is under way on this slot.
                found = slot_word(READING, generation)
            raise self._unreadable(reference, found)
        return view

    def _unreadable(self, reference, word):
        state, current = split_word(word)
        slot, generation = reference.slot, reference.generation
        if state == FILLING and current == generation:
            return NotPublishedError(self.name, slot, generation)
        if state in (READING, PUBLISHED) and current == generation:
            return AlreadyResolvedError(self.name, slot, generation)
        return StaleError(self.name, slot, generation, current, _STATE_NAMES.get(state, "invalid"))

    # -- slot words and locks --------------------------------------------------------------

    def _slot_address(self, slot):
        return self._base + HEADER_LEN + SLOT_ENTRY_LEN * slot

    def _slot_offset(self, slot):
        return self._data + self._stride * slot

    def _hold(self, slot, token):
        """Claim slot ``slot`` for the take ``token`` in this handle: False if another take of
        this handle (another thread) is taking or holds it. Can be done again with the same
        token."""
        return self._holders.setdefault(slot, token) is token

    def _let_go(self, slot):
        """Let go of the claim on slot ``slot``, once its word no longer says this handle
        holds it. Can be done again."""
        self._holders.pop(slot, None)

    def _release(self, slot, state, generation):
        """Move slot ``slot`` from ``state`` at ``generation``, held by this handle, to Free,
        let go of its claim and wake blocked acquirers. Can be done again (a second exchange
        fails harmlessly)."""
        # A failure means a process that ignores the protocol changed the word: the slot is
        # then left to it.
        self._atomics.compare_exchange(
            self._slot_address(slot),
            slot_word(state, generation, self._holder),
            slot_word(FREE, generation),
        )
        self._let_go(slot)
        self._notify()

    def _notify(self):
        """Tell blocked acquirers, in every process, that a slot came free."""
        self._atomics.fetch_add(self._base + _RELEASES_AT, 1)
        if self._words32[_WAITERS_I] != 0 and self._futex is not None:
            self._futex.wake_all()

    def _slot_memory(self):
        """The handle's own mapping of every slot, for copy_from (mapped on first use)."""
        if self._slots_mm is None:
            fd = self.view_fd()
            if fd is None:
                raise ClosedError("buffer pool {!r} is closed".format(self.name))
            length = self._slot_offset(self._slot_count - 1) + self._slot_size
            try:
                self._slots_mm = mmap.mmap(
                    fd, length, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
                )
            except OSError as error:
                raise os_error(error, self.name, "mmap") from error
        return self._slots_mm

    def view_fd(self):
        """The descriptor private mappings of slots are made from (None once closed)."""
        if self._fd is None:
            return None
        return self._views_fd if self._views_fd is not None else self._fd

    # -- lifetime --------------------------------------------------------------------------

    def _check_open(self):
        if self._pending is not None:
            error, self._pending = self._pending, None
            raise error
        if self._fd is None:
            raise ClosedError("buffer pool {!r} is closed".format(self.name))

    def close(self) -> None:
        """Remove the name (the owner, in the creating process, while the name still refers
        to this object), release the locks and unmap. Raises BusyError, doing nothing, while a
        loan or view of this handle is open. Idempotent."""
        fd = self._fd
        if fd is None:
            return
        open_count = sum(1 for lent in list(self._lent) if lent._open)
        if open_count:
            raise BusyError(
                "buffer pool {!r}: {} loans or views of this handle are still open; publish or "
                "release them first".format(self.name, open_count)
            )
        if self._owner and self._pid == os.getpid():
            try:
                if _names_object(self.name, fd):
                    _shm_unlink(self.name)
            except (OSError, ShmRingError):
                pass
        self._fd = None
        self._futex = None
        for view in (self._words32, self._words64):
            try:
                view.release()
            except BufferError:
                pass
        try:
            self._mm.close()
        except BufferError:
            pass
        if self._slots_mm is not None:
            self._slots_mm.close()
            self._slots_mm = None
        if self._views_fd is not None:
            os.close(self._views_fd)
            self._views_fd = None
        os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            if getattr(self, "_fd", None) is not None:
                self.close()
        except Exception:
            pass

    def __repr__(self):
        return "BufferPool(name={!r}, capacity={}, slot_size={})".format(
            self.name, self._slot_count, self._slot_size
        )
