"""SharedBuffer: one payload of up to ``capacity`` bytes in a named shared-memory segment,
replaced by a writer and read whole by readers in other processes (Rust or Python).

Layout (little-endian; docs/PROTOCOL.md is the reference)::

    0   u32 magic     b"SRBF", written last by the creator
    4   u32 version   1
    8   u64 capacity
    16  u64 sequence  seqlock word: odd while a write is under way
    24  u64 length    the payload's length, written inside a write
    32  u32 flags     0x02: the creator holds the owner lock (byte 0) of the object
    36  u32 acks      how many readers acknowledged reading (wrapping); a futex word
    40  reserved      zero up to 64
    64  payload       capacity bytes

Seqlock: the writer stores the sequence word odd, writes payload and length, and stores it
even again. A reader notes an even word, reads the length and the bytes, and keeps them only
if the word is still the same; otherwise it tries again (up to ``READ_ATTEMPTS`` times). The
64-bit words are read and written as single aligned 8-byte accesses through a ``memoryview``
cast to ``"Q"``. Ordering: on x86 / x86-64 (total store order) the stores of a write become
visible in program order and a reader's loads happen in program order, which is all the
seqlock needs; elsewhere a barrier (``shm_ring._order``) sits after the odd store and before
the even one, and after the reader's first load of the word and before its second.

Liveness: the creator holds an OFD lock on byte 0 of the object (the byte a ring producer
locks, so ``shm_ring`` never replaces or removes a live owner's segment), and the handle that
writes holds one on byte 2 (one writer at a time, in any process). A write from an opened
handle takes the writer lock first and raises WriterInUseError while another handle holds it.
"""

import json
import os
import random
import sys
import time

from . import _kernel, _order
from ._errors import (
    AlreadyExistsError,
    InUseError,
    InvalidCapacityError,
    NotReadyError,
    SegmentTooSmallError,
    ShmRingError,
)
from ._layout import bare_name as _bare
from ._layout import name_problem as _name_problem
from ._segment import (
    _allocate,
    _create_fd,
    _map,
    _names_object,
    _second_description,
    _shm_open,
    _shm_unlink,
    os_error,
    write_at,
)

HEADER_LEN = 64
MAGIC = int.from_bytes(b"SRBF", "little")
VERSION = 1
MAX_BUFFER_CAPACITY = 1 << 46
FLAG_LOCKED = 0x02
WRITER_LOCK_BYTE = 2
READ_ATTEMPTS = 1024

#: The ``schema`` field of a shared buffer's descriptor.
SHARED_BUFFER_SCHEMA = "shm_ring/shared_buffer/1"

ACKS_OFFSET = 36

#: Without futex (not Linux x86-64 / AArch64), a wait for an acknowledgement looks again after
#: at most this many seconds.
_ACK_POLL = 0.005

# Offsets of the header words, and their indices in the "I" (4-byte) and "Q" (8-byte) views.
_MAGIC_I, _VERSION_I, _FLAGS_I, _ACKS_I = 0, 1, 8, 9
_CAPACITY_Q, _SEQUENCE_Q, _LENGTH_Q = 1, 2, 3


class NotASharedBufferError(ShmRingError):
    """The segment's magic word is not b"SRBF": it is not a shared buffer (a ring, say) or its
    header is damaged. Attributes: ``name``, ``found``, ``expected``."""

    def __init__(self, name, found):
        super().__init__(
            "shared-memory segment {!r} is not a shared buffer: magic word {:#010x}, "
            "expected {:#010x} (b'SRBF')".format(name, found, MAGIC)
        )
        self.name = name
        self.found = found
        self.expected = MAGIC


class UnsupportedVersionError(ShmRingError):
    """The segment's layout version is not one this module reads. Attributes: ``name``,
    ``found``, ``supported``."""

    def __init__(self, name, found):
        super().__init__(
            "shared-memory segment {!r} has shared-buffer layout version {}; this module reads "
            "version {}".format(name, found, VERSION)
        )
        self.name = name
        self.found = found
        self.supported = VERSION


class PayloadTooLargeError(ShmRingError, ValueError):
    """A payload longer than the buffer's capacity; nothing was written. Attributes:
    ``name``, ``length`` and ``capacity`` (bytes)."""

    def __init__(self, name, length, capacity):
        super().__init__(
            "a {}-byte payload does not fit shared buffer {!r}, whose capacity is {} "
            "bytes".format(length, name, capacity)
        )
        self.name = name
        self.length = length
        self.capacity = capacity


class WriterInUseError(InUseError):
    """Another live handle (in this or another process) holds the buffer's writer lock."""

    def __init__(self, name):
        super().__init__(
            "shared buffer {!r} has another live writer".format(name), name, "writer"
        )


class ContendedError(ShmRingError):
    """A write overlapped every read attempt. Attributes: ``name``, ``attempts``."""

    def __init__(self, name, attempts):
        super().__init__(
            "shared buffer {!r}: a write overlapped each of {} read attempts".format(
                name, attempts
            )
        )
        self.name = name
        self.attempts = attempts


class OverwrittenError(ShmRingError):
    """A write began while a view from ``read_in_place`` was in use: what was read through
    it may mix two payloads. Attributes: ``name``, ``borrowed`` and ``now`` (sequence words)."""

    def __init__(self, name, borrowed, now):
        super().__init__(
            "shared buffer {!r} was written while borrowed: sequence {} at the borrow, {} at "
            "the check".format(name, borrowed, now)
        )
        self.name = name
        self.borrowed = borrowed
        self.now = now


class WriterGoneError(ShmRingError):
    """The sequence word is odd and nobody holds the writer lock: a writer died mid-write,
    and the payload is incomplete until the next write. Attributes: ``name``, ``sequence``."""

    def __init__(self, name, sequence):
        super().__init__(
            "shared buffer {!r}: its writer died during a write (sequence {} is odd); the "
            "payload is incomplete until the next write".format(name, sequence)
        )
        self.name = name
        self.sequence = sequence


class LengthExceedsCapacityError(ShmRingError):
    """A stable length word larger than the capacity: the header was damaged. Attributes:
    ``name``, ``length``, ``capacity``."""

    def __init__(self, name, length, capacity):
        super().__init__(
            "shared buffer {!r} is corrupt: its length word {} exceeds its capacity {}".format(
                name, length, capacity
            )
        )
        self.name = name
        self.length = length
        self.capacity = capacity




class DescriptorError(ShmRingError, ValueError):
    """A JSON text that is not a valid descriptor: not JSON, not an object of the schema's
    fields and types (``field`` is None), or a field whose value no valid descriptor has
    (``field`` names it). Attributes: ``field``, ``reason``."""

    def __init__(self, reason, field=None):
        if field is None:
            message = "not a valid descriptor: {}".format(reason)
        else:
            message = "descriptor field {!r} is invalid: {}".format(field, reason)
        super().__init__(message)
        self.field = field
        self.reason = reason


class DescriptorMismatchError(ShmRingError):
    """The segment a descriptor names differs from it (a segment smaller than the descriptor
    says, say). Attributes: ``name``, ``field``, ``descriptor``, ``segment``."""

    def __init__(self, name, field, descriptor, segment):
        super().__init__(
            "shared-memory segment {!r} has {} {}, but its descriptor says {}".format(
                name, field, segment, descriptor
            )
        )
        self.name = name
        self.field = field
        self.descriptor = descriptor
        self.segment = segment


_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF


def _reject_constant(name):
    raise DescriptorError("{} is not a JSON number".format(name))


def _unique_pairs(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise DescriptorError("duplicate field {!r}".format(key))
        seen[key] = value
    return seen


def parse_document(text, fields):
    """Parse ``text`` as a JSON object with exactly ``fields`` (name -> (kind, required),
    kind one of "str", "u32", "u64", "u64?"): the rules serde applies on the Rust side.
    Returns the dict (an absent optional field as None). Raises DescriptorError."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as error:
            raise DescriptorError("not UTF-8: {}".format(error)) from None
    if not isinstance(text, str):
        raise TypeError("a descriptor is a str, not {}".format(type(text).__name__))
    try:
        document = json.loads(
            text, object_pairs_hook=_unique_pairs, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError) as error:
        if isinstance(error, DescriptorError):
            raise
        raise DescriptorError(str(error)) from None
    if not isinstance(document, dict):
        raise DescriptorError("expected a JSON object, found {}".format(type(document).__name__))
    for key in document:
        if key not in fields:
            raise DescriptorError("unknown field {!r}".format(key))
    out = {}
    for key, kind in fields.items():
        if key not in document:
            if kind.endswith("?"):
                out[key] = None
                continue
            raise DescriptorError("missing field {!r}".format(key))
        value = document[key]
        if kind.endswith("?"):
            if value is None:
                out[key] = None
                continue
            kind = kind[:-1]
        if kind == "str":
            ok = isinstance(value, str)
            if ok:
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise DescriptorError(
                        "field {!r}: {!r} holds a lone surrogate, which is not Unicode text".format(
                            key, value
                        )
                    ) from None
        else:
            limit = _U32 if kind == "u32" else _U64
            ok = type(value) is int and 0 <= value <= limit
        if not ok:
            raise DescriptorError(
                "field {!r}: {!r} is not {}".format(
                    key, value, "a string" if kind == "str" else "an integer in 0..={}".format(
                        _U32 if kind == "u32" else _U64
                    )
                )
            )
        out[key] = value
    return out


def check_common(document, expected_schema):
    """The checks every descriptor's common fields get (schema, segment, layout_version,
    capacity). Raises DescriptorError."""
    if document["schema"] != expected_schema:
        raise DescriptorError(
            "descriptor schema {!r} is not {!r}".format(document["schema"], expected_schema),
            "schema",
        )
    segment = document["segment"]
    problem = _name_problem(segment)
    if problem is not None:
        raise DescriptorError("{!r}: {}".format(segment, problem), "segment")
    if segment.startswith("/"):
        raise DescriptorError(
            "{!r} starts with '/'; descriptors name segments without it".format(segment),
            "segment",
        )
    if document["layout_version"] != VERSION:
        raise DescriptorError(
            "{}; this module reads shared-buffer layout version {}".format(
                document["layout_version"], VERSION
            ),
            "layout_version",
        )
    capacity = document["capacity"]
    if not 1 <= capacity <= MAX_BUFFER_CAPACITY:
        raise DescriptorError(
            "{} is outside 1..={}".format(capacity, MAX_BUFFER_CAPACITY), "capacity"
        )


def dump_document(pairs):
    """One line of JSON, fields in the given order, as serde_json writes it."""
    return json.dumps(dict(pairs), separators=(",", ":"), ensure_ascii=False)


_BUFFER_FIELDS = {"schema": "str", "segment": "str", "layout_version": "u32", "capacity": "u64"}


def _unique_name():
    """24 characters: ``srb-``, the process id and 12 random hexadecimal digits."""
    return "srb-{:08x}{:012x}".format(os.getpid() & 0xFFFFFFFF, random.getrandbits(48))


def _back_off(attempt):
    """After the first 16 attempts, yield the CPU so a descheduled writer can finish."""
    if attempt >= 16 and hasattr(os, "sched_yield"):
        os.sched_yield()


class BufferView:
    """The payload lent in place by :meth:`SharedBuffer.read_in_place`.

    ``data`` is a read-only ``memoryview`` of the shared memory (no copy; ``numpy.frombuffer``
    takes it as is). The writer does not wait for readers: a write that begins while the view
    is used changes the bytes under it. Use the bytes, then call :meth:`verify`, and trust
    what was derived from them only if it does not raise :class:`OverwrittenError`. A check
    covers only reads made before it. Holding the view (or anything made from ``data``) does
    not block the writer; it only keeps the mapping alive, so release it (or use ``with``)
    before closing the buffer to unmap at once.
    """

    __slots__ = ("_buffer", "sequence", "data")

    def __init__(self, buffer, sequence, data):
        self._buffer = buffer
        #: The (even) sequence word when the view was taken.
        self.sequence = sequence
        #: The payload, in place, as a read-only memoryview.
        self.data = data

    def verify(self):
        """Raise OverwrittenError if a write began since the view was taken."""
        now = self._buffer._sequence_after_reads()
        if now != self.sequence:
            raise OverwrittenError(self._buffer.name, self.sequence, now)

    def release(self):
        """Release the memoryview. Idempotent."""
        self.data.release()

    def __len__(self):
        return self.data.nbytes

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False


class SharedBuffer:
    """A named shared-memory segment holding one payload of up to ``capacity`` bytes.

    ``SharedBuffer.create(name, capacity)`` (or ``create(None, capacity)`` for a generated
    24-character name) makes it, mode 0600, and owns it: ``close()`` (or the end of a ``with``
    block) removes the name in the creating process. ``SharedBuffer.open(name)`` opens it
    elsewhere. ``write(data)`` replaces the payload; ``read()`` returns it as ``bytes``, never
    torn or mixed; ``read_in_place()`` lends it as a :class:`BufferView`.
    """

    def __init__(self, name, fd, capacity, owner, writer, dev, ino, populate=True):
        self.name = name
        self._fd = fd
        self._capacity = capacity
        self._owner = owner
        self._writer = writer
        self._pid = os.getpid()
        self._identity = (dev, ino)
        self._fence = _order.fence_for_new_ring()
        views_fd = _second_description(fd)
        try:
            self._mm = _map(views_fd, HEADER_LEN + capacity, name, populate)
        finally:
            if views_fd != fd:
                os.close(views_fd)
        self._buf = memoryview(self._mm)
        self._rbuf = self._buf.toreadonly()
        if sys.byteorder != "little":  # pragma: no cover - every supported host is little-endian
            raise ShmRingError("shared buffers need a little-endian host")
        self._words32 = self._buf[:HEADER_LEN].cast("I")
        self._words64 = self._buf[:HEADER_LEN].cast("Q")

    # -- creating and opening ------------------------------------------------------------

    @classmethod
    def create(cls, name, capacity, data=None):
        """Create the buffer ``name`` (None: a generated name) of ``capacity`` bytes (1 to
        2**46). A segment of that name whose owner is gone is replaced; one whose owner lives
        raises InUseError. Raises InvalidCapacityError, InvalidNameError, ShmRingError.

        ``data`` (any bytes-like object of at most ``capacity`` bytes; PayloadTooLargeError
        otherwise) becomes the first payload, written before the segment can be opened: an
        opener finds either no buffer yet (NotReadyError) or this payload whole. It is copied
        through the file descriptor, which allocates the pages as it copies: one pass over the
        memory, where creating and then writing allocate it, fault it into the mapping and
        copy into it."""
        if not isinstance(capacity, int) or not 1 <= capacity <= MAX_BUFFER_CAPACITY:
            raise InvalidCapacityError(
                "requested capacity {!r} is outside 1..={} bytes".format(
                    capacity, MAX_BUFFER_CAPACITY
                ),
                capacity,
            )
        payload = None
        if data is not None:
            payload = memoryview(data).cast("B")
            if payload.nbytes > capacity:
                raise PayloadTooLargeError(
                    "(to be created)" if name is None else name, payload.nbytes, capacity
                )
        if name is None:
            for _ in range(16):
                try:
                    return cls._create(_unique_name(), capacity, True, payload)
                except AlreadyExistsError:
                    continue
            raise AlreadyExistsError("no free generated name after 16 tries")
        return cls._create(_bare(name), capacity, False, payload)

    @classmethod
    def _create(cls, bare, capacity, exclusive, payload):
        fd, locked = _create_fd(bare, 0o600, exclusive)
        try:
            size = HEADER_LEN + capacity
            try:
                os.ftruncate(fd, size)
            except OSError as error:
                raise os_error(error, bare, "ftruncate") from error
            if payload is not None:
                # The kernel allocates each page as it copies into it: one pass over the
                # payload, where fallocate, faulting the pages into a mapping and copying
                # through it take three. ENOSPC is an error here, never a SIGBUS later.
                try:
                    write_at(fd, payload, HEADER_LEN)
                except OSError as error:
                    raise os_error(error, bare, "pwrite") from error
            try:
                if payload is None:
                    _allocate(fd, size)
                else:  # the header, and what the payload leaves of the capacity
                    _allocate(fd, HEADER_LEN)
                    if HEADER_LEN + payload.nbytes < size:
                        _allocate(fd, size, HEADER_LEN + payload.nbytes)
            except OSError as error:
                raise os_error(error, bare, "fallocate") from error
            _kernel.take_lock(fd, WRITER_LOCK_BYTE)
            stat = os.fstat(fd)
            # The writer of a payload written above never reads it through the mapping: its
            # pages are left to fault in if it ever does, instead of all now.
            buffer = cls(
                bare, fd, capacity, True, True, stat.st_dev, stat.st_ino, payload is None
            )
        except BaseException:
            try:
                if _names_object(bare, fd):
                    _shm_unlink(bare)
            except (OSError, ShmRingError):
                pass
            os.close(fd)
            raise
        words32, words64 = buffer._words32, buffer._words64
        words32[_VERSION_I] = VERSION
        words64[_CAPACITY_Q] = capacity
        if payload is not None:
            # One finished write (0 -> odd -> 2), as create-then-write leaves it. Nobody can
            # open the segment before the magic word below, so no reader sees it odd.
            words64[_LENGTH_Q] = payload.nbytes
            words64[_SEQUENCE_Q] = 2
        words32[_FLAGS_I] = FLAG_LOCKED if locked else 0
        # The payload's bytes came before, in the pwrite call: on x86 / x86-64 the kernel's
        # stores precede this process's later ones in the total store order; elsewhere the
        # barrier orders them (the kernel returns to user space without one of its own).
        if buffer._fence is not None:
            buffer._fence()
        words32[_MAGIC_I] = MAGIC
        return buffer

    @classmethod
    def open(cls, name):
        """Open the existing buffer ``name``. The header is validated before more than it is
        mapped. Raises NotFoundError, NotReadyError, SegmentTooSmallError,
        NotASharedBufferError, UnsupportedVersionError, InvalidCapacityError."""
        bare = _bare(name)
        try:
            fd = _shm_open(bare, os.O_RDWR, 0)
        except OSError as error:
            raise os_error(error, bare, "shm_open") from error
        try:
            stat = os.fstat(fd)
            size = stat.st_size
            if size == 0:
                raise NotReadyError(
                    "shared-memory segment {!r} is not ready yet: its creator has not finished "
                    "initialising it".format(bare)
                )
            if size < HEADER_LEN:
                raise SegmentTooSmallError(
                    "shared-memory segment {!r} is {} bytes, smaller than the 64-byte "
                    "shared-buffer header".format(bare, size),
                    size,
                )
            header = os.pread(fd, HEADER_LEN, 0)
            magic = int.from_bytes(header[0:4], "little")
            version = int.from_bytes(header[4:8], "little")
            capacity = int.from_bytes(header[8:16], "little")
            if magic == 0:
                raise NotReadyError(
                    "shared-memory segment {!r} is not ready yet: its creator has not finished "
                    "initialising it".format(bare)
                )
            if magic != MAGIC:
                raise NotASharedBufferError(bare, magic)
            if version != VERSION:
                raise UnsupportedVersionError(bare, version)
            if not 1 <= capacity <= MAX_BUFFER_CAPACITY:
                raise InvalidCapacityError(
                    "shared-memory segment {!r} has capacity {}, outside 1..={}".format(
                        bare, capacity, MAX_BUFFER_CAPACITY
                    ),
                    capacity,
                )
            if HEADER_LEN + capacity > size:
                raise SegmentTooSmallError(
                    "shared-memory segment {!r} claims capacity {}, but its {} bytes hold at "
                    "most {} after the header".format(bare, capacity, size, size - HEADER_LEN),
                    size,
                    capacity,
                )
            return cls(bare, fd, capacity, False, False, stat.st_dev, stat.st_ino)
        except BaseException:
            os.close(fd)
            raise

    # -- properties ------------------------------------------------------------------------

    @property
    def capacity(self):
        """The largest payload the buffer holds, in bytes."""
        return self._capacity

    # -- descriptors -----------------------------------------------------------------------

    def descriptor(self):
        """The buffer's descriptor: one line of JSON naming the segment, its layout version and
        capacity, which :meth:`open_descriptor` (or Rust's ``SharedBuffer::open_descriptor``)
        turns back into a handle in another process."""
        return dump_document(
            (
                ("schema", SHARED_BUFFER_SCHEMA),
                ("segment", self.name),
                ("layout_version", VERSION),
                ("capacity", self._capacity),
            )
        )

    @classmethod
    def open_descriptor(cls, text):
        """Open the buffer a descriptor (str or bytes of JSON) names, as :meth:`open` does, and
        check that its capacity is the descriptor's. Raises DescriptorError for a text that is
        not such a descriptor, DescriptorMismatchError for another capacity, and what
        :meth:`open` raises (NotFoundError for a missing segment)."""
        document = parse_document(text, _BUFFER_FIELDS)
        check_common(document, SHARED_BUFFER_SCHEMA)
        buffer = cls.open(document["segment"])
        if buffer.capacity != document["capacity"]:
            buffer.close()
            raise DescriptorMismatchError(
                document["segment"], "capacity", document["capacity"], buffer.capacity
            )
        return buffer

    # -- acknowledgements ------------------------------------------------------------------

    def acknowledge(self):
        """Say that this process has read the payload: add one to the acknowledgement count
        (a u32 in the header, wrapping) and wake every process waiting in
        :meth:`wait_acknowledged`. Any handle may call it; it takes no lock.

        Pure Python has no atomic read-modify-write on shared memory, so this is a load and a
        store: two acknowledgements at the same instant may count once. The count still
        changes, which is what a waiting writer looks for."""
        futex = self._ack_futex()
        if self._fence is not None:
            self._fence()  # the reads of the payload come before the acknowledgement
        words32 = self._words32
        words32[_ACKS_I] = (words32[_ACKS_I] + 1) & _U32
        if futex is not None:
            futex.wake()

    def acknowledgements(self):
        """The acknowledgement count now."""
        return self._words32[_ACKS_I]

    def wait_acknowledged(self, seen, timeout):
        """Sleep until the acknowledgement count differs from ``seen`` (a count from
        :meth:`acknowledgements`), at most ``timeout`` seconds. Returns the new count, or
        None when the time ran out. Sleeps in a futex on Linux x86-64 and AArch64 (woken at
        once by :meth:`acknowledge`), elsewhere looks again every few milliseconds."""
        deadline = time.monotonic() + timeout
        futex = self._ack_futex()
        while True:
            now = self._words32[_ACKS_I]
            if now != seen:
                return now
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if futex is not None:
                code = futex.wait(seen, left)
                if _kernel.is_benign(code):
                    continue
            time.sleep(min(left, _ACK_POLL))

    def _ack_futex(self):
        futex = getattr(self, "_futex", None)
        if futex is None and _kernel.futex_available():
            address = _kernel.word_address(self._mm, ACKS_OFFSET)
            futex = self._futex = _kernel.Futex(address, address, wake_count=0x7FFFFFFF)
        return futex

    def is_named(self):
        """Whether the buffer's name still refers to this segment: False once it was removed
        (by ``shm_ring.remove``, say) or replaced, after which nobody can open it by name."""
        try:
            return _names_object(self.name, self._fd)
        except (OSError, ShmRingError):
            return False

    # -- writing ---------------------------------------------------------------------------

    def write(self, data):
        """Replace the payload with ``data`` (any bytes-like object); return its length.

        Raises PayloadTooLargeError past the capacity, WriterInUseError while another handle
        writes. Either way nothing changes."""
        view = memoryview(data).cast("B")
        length = view.nbytes
        if length > self._capacity:
            raise PayloadTooLargeError(self.name, length, self._capacity)
        self._claim_writer()
        words64 = self._words64
        odd = words64[_SEQUENCE_Q] | 1  # odd already: a dead writer's write is finished here
        words64[_SEQUENCE_Q] = odd
        if self._fence is not None:
            self._fence()
        self._buf[HEADER_LEN : HEADER_LEN + length] = view
        words64[_LENGTH_Q] = length
        if self._fence is not None:
            self._fence()
        words64[_SEQUENCE_Q] = (odd + 1) & 0xFFFFFFFFFFFFFFFF
        return length

    def clear(self):
        """Empty the payload (a write of zero bytes)."""
        self.write(b"")

    def _claim_writer(self):
        if self._writer:
            return
        if _kernel.take_lock(self._fd, WRITER_LOCK_BYTE) is False:
            raise WriterInUseError(self.name)
        self._writer = True

    # -- reading ---------------------------------------------------------------------------

    def read(self):
        """The payload as ``bytes``, whole: a copy a write overlapped is made again (up to
        1024 times). Raises ContendedError, WriterGoneError, LengthExceedsCapacityError."""
        return self._read_at()[0]

    def _read_at(self):
        """:meth:`read`, also returning the (even) sequence word of the write it copied."""
        words64, fence, rbuf = self._words64, self._fence, self._rbuf
        for attempt in range(READ_ATTEMPTS):
            start = words64[_SEQUENCE_Q]
            if not start & 1:
                if fence is not None:
                    fence()
                length = words64[_LENGTH_Q]
                data = None
                if length <= self._capacity:
                    data = bytes(rbuf[HEADER_LEN : HEADER_LEN + length])
                if fence is not None:
                    fence()
                if words64[_SEQUENCE_Q] == start:
                    if data is None:
                        raise LengthExceedsCapacityError(self.name, length, self._capacity)
                    return data, start
            _back_off(attempt)
        raise self._contended()

    def read_in_place(self):
        """The payload lent in place as a :class:`BufferView` (see its caveats). Raises as
        :meth:`read`."""
        words64, fence = self._words64, self._fence
        for attempt in range(READ_ATTEMPTS):
            start = words64[_SEQUENCE_Q]
            if not start & 1:
                if fence is not None:
                    fence()
                length = words64[_LENGTH_Q]
                if fence is not None:
                    fence()
                if words64[_SEQUENCE_Q] == start:
                    if length > self._capacity:
                        raise LengthExceedsCapacityError(self.name, length, self._capacity)
                    return BufferView(
                        self, start, self._rbuf[HEADER_LEN : HEADER_LEN + length]
                    )
            _back_off(attempt)
        raise self._contended()

    def data_len(self):
        """The current payload's length in bytes (read as :meth:`read` reads)."""
        with self.read_in_place() as view:
            return len(view)

    def _sequence_now(self):
        """The sequence word (for the handle that writes: the word of its last write)."""
        return self._words64[_SEQUENCE_Q]

    def _sequence_after_reads(self):
        if self._fence is not None:
            self._fence()
        return self._words64[_SEQUENCE_Q]

    def _contended(self):
        sequence = self._words64[_SEQUENCE_Q]
        if sequence & 1 and _kernel.lock_held(self._fd, WRITER_LOCK_BYTE) is False:
            return WriterGoneError(self.name, sequence)
        return ContendedError(self.name, READ_ATTEMPTS)

    # -- closing ---------------------------------------------------------------------------

    def close(self):
        """Remove the name (the owner, in the creating process, while the name still refers
        to this object), release the locks and unmap (once no view is alive). Idempotent."""
        fd = self._fd
        if fd is None:
            return
        if self._owner and self._pid == os.getpid():
            try:
                if _names_object(self.name, fd):
                    _shm_unlink(self.name)
            except (OSError, ShmRingError):
                pass
        self._fd = None
        os.close(fd)
        for view in (self._words32, self._words64, self._rbuf, self._buf):
            try:
                view.release()
            except BufferError:
                pass
        try:
            self._mm.close()
        except BufferError:
            pass  # a view is still alive: the mapping goes with the last of them

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return "SharedBuffer(name={!r}, capacity={})".format(self.name, self._capacity)
