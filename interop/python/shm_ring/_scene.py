"""SceneBuffer: one payload (a mesh, an animation cache, a screenshot...) in a shared buffer of
its own, with metadata, a CRC-32 and optional LZ4 compression, handed to another process (Rust
or Python) by a small JSON descriptor. docs/PROTOCOL.md ("Scene buffer descriptors") has the
schema; this module and the Rust crate produce and accept the same documents.

    from shm_ring import SceneBuffer
    scene = SceneBuffer.write(mesh_bytes, kind="Geometry", source="Maya", lz4=True)
    send(scene.descriptor_json())                      # any channel: a socket, a ring...

    reader = SceneBuffer.open(descriptor_json)         # in the other process
    data = reader.read()                               # checked: length, sequence, CRC-32
    reader.acknowledge()                               # tells a writer waiting for it

LZ4 needs the ``lz4`` package (``pip install ./interop/python[lz4]``); without it, writing
with ``lz4=True`` or reading a compressed payload raises Lz4UnavailableError, which says so.
"""

import time
import zlib

from ._buffer import (
    VERSION,
    DescriptorError,
    DescriptorMismatchError,
    SharedBuffer,
    check_common,
    dump_document,
    parse_document,
)
from . import _errors
from ._errors import ShmRingError

try:
    import lz4.block as _lz4_block
except ImportError:  # reported when LZ4 is needed (see Lz4UnavailableError)
    _lz4_block = None

#: The ``schema`` field of a scene buffer's descriptor.
SCENE_SCHEMA = "shm_ring/scene_buffer/2"

#: The limit ``read`` puts on a payload's length (16 GiB) unless given another.
DEFAULT_MAX_SCENE_LEN = 1 << 34

#: The most bytes one byte of an LZ4 block decodes to.
LZ4_MAX_RATIO = 255

MAX_KIND_LEN = 64
MAX_SOURCE_LEN = 256

_KIND_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-:/")

_FIELDS = {
    "schema": "str",
    "segment": "str",
    "layout_version": "u32",
    "capacity": "u64",
    "sequence": "u64",
    "kind": "str",
    "source": "str",
    "created_unix_ms": "u64",
    "ttl_ms": "u64?",
    "length": "u64",
    "stored_length": "u64",
    "compression": "str",
    "crc32": "u32",
}


class SceneKind:
    """The four well-known kinds, spelled as in a descriptor's ``kind`` field. Any other name
    of 1 to 64 characters of ``A-Z a-z 0-9 . _ - : /`` is a user-defined kind."""

    GEOMETRY = "Geometry"
    ANIMATION_CACHE = "AnimationCache"
    SCREENSHOT = "Screenshot"
    ARBITRARY = "Arbitrary"
    WELL_KNOWN = (GEOMETRY, ANIMATION_CACHE, SCREENSHOT, ARBITRARY)


def check_kind(kind):
    """Raise DescriptorError unless ``kind`` is a valid kind name."""
    if not isinstance(kind, str):
        raise DescriptorError("{!r} is not a string".format(kind), "kind")
    if not 1 <= len(kind.encode("utf-8")) <= MAX_KIND_LEN:
        raise DescriptorError(
            "{!r} is {} bytes long; a kind has 1 to {}".format(
                kind, len(kind.encode("utf-8")), MAX_KIND_LEN
            ),
            "kind",
        )
    for ch in kind:
        if ch not in _KIND_CHARS:
            raise DescriptorError(
                "{!r} has the character {!r}; a kind has only A-Z a-z 0-9 . _ - : /".format(
                    kind, ch
                ),
                "kind",
            )


def _is_control(ch):
    code = ord(ch)
    return code < 0x20 or 0x7F <= code <= 0x9F


def check_source(source):
    """Raise DescriptorError unless ``source`` is at most 256 bytes of UTF-8 with no control
    characters."""
    if not isinstance(source, str):
        raise DescriptorError("{!r} is not a string".format(source), "source")
    size = len(source.encode("utf-8", "surrogatepass"))  # a lone surrogate: refused below
    if size > MAX_SOURCE_LEN:
        raise DescriptorError(
            "{} bytes long; a source has at most {}".format(size, MAX_SOURCE_LEN), "source"
        )
    for ch in source:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise DescriptorError("{!r} holds a lone surrogate".format(source), "source")
        if _is_control(ch):
            raise DescriptorError(
                "{!r} has the control character {!r}".format(source, ch), "source"
            )


class Lz4UnavailableError(ShmRingError):
    """LZ4 is needed (to write with ``lz4=True`` or to read a compressed payload) and the
    ``lz4`` package is not installed. Attribute: ``name`` (the segment, or None)."""

    def __init__(self, name=None):
        what = (
            "scene buffer {!r} is LZ4-compressed".format(name)
            if name is not None
            else "LZ4 compression was asked for"
        )
        super().__init__(
            "{}, but the Python package lz4 is not installed: pip install lz4 (or "
            "pip install ./interop/python[lz4])".format(what)
        )
        self.name = name


class SceneReadError(ShmRingError):
    """The base of the errors a scene buffer's read raises instead of returning a payload
    that fails a check. Attribute: ``name``."""


class StaleDescriptorError(SceneReadError):
    """The buffer was written again since the descriptor was made. Attributes: ``name``,
    ``descriptor``, ``segment`` (sequence words)."""

    def __init__(self, name, descriptor, segment):
        super().__init__(
            "scene buffer {!r} was written again since its descriptor was made: sequence {}, "
            "descriptor {}".format(name, segment, descriptor)
        )
        self.name, self.descriptor, self.segment = name, descriptor, segment


class LengthMismatchError(SceneReadError, _errors.LengthMismatchError):
    """The buffer holds another length than the descriptor's ``stored_length``. Attributes:
    ``name``, ``descriptor``, ``segment``."""

    def __init__(self, name, descriptor, segment):
        super().__init__(
            "scene buffer {!r} holds {} bytes, but its descriptor says {}".format(
                name, segment, descriptor
            )
        )
        self.name, self.descriptor, self.segment = name, descriptor, segment


class ExpiredError(SceneReadError):
    """The descriptor's time to live has run out. Attributes: ``name``, ``expired_unix_ms``,
    ``now_unix_ms``."""

    def __init__(self, name, expired_unix_ms, now_unix_ms):
        super().__init__(
            "scene buffer {!r} expired at {} ms after the Unix epoch (now {})".format(
                name, expired_unix_ms, now_unix_ms
            )
        )
        self.name, self.expired_unix_ms, self.now_unix_ms = name, expired_unix_ms, now_unix_ms


class PayloadLimitError(SceneReadError):
    """The payload's length exceeds the read's limit; nothing was allocated. Attributes:
    ``name``, ``length``, ``limit``."""

    def __init__(self, name, length, limit):
        super().__init__(
            "scene buffer {!r} holds a {}-byte payload, more than this read's limit of {} "
            "bytes".format(name, length, limit)
        )
        self.name, self.length, self.limit = name, length, limit


class DecompressError(SceneReadError):
    """The stored bytes are not an LZ4 block that decodes to exactly ``length`` bytes.
    Attributes: ``name``, ``length``, ``reason``."""

    def __init__(self, name, length, reason):
        super().__init__(
            "scene buffer {!r}: its LZ4 block does not decode to {} bytes: {}".format(
                name, length, reason
            )
        )
        self.name, self.length, self.reason = name, length, reason


class ChecksumMismatchError(SceneReadError):
    """The CRC-32 of the stored bytes differs from the descriptor's: they are not the bytes
    described (damaged, or another payload's). Attributes: ``name``, ``descriptor``,
    ``computed``."""

    def __init__(self, name, descriptor, computed):
        super().__init__(
            "scene buffer {!r}: the stored bytes' CRC-32 is {:#010x}, but its descriptor says "
            "{:#010x}".format(name, computed, descriptor)
        )
        self.name, self.descriptor, self.computed = name, descriptor, computed


class SceneDescriptor:
    """Everything a process needs to open a scene buffer and check what it reads. Attributes
    (as the JSON fields): ``segment``, ``layout_version``, ``capacity``, ``sequence``,
    ``kind``, ``source``, ``created_unix_ms`` (milliseconds since the Unix epoch),
    ``ttl_ms`` (milliseconds, or None), ``length`` (bytes, uncompressed), ``stored_length``,
    ``compression`` ("none" or "lz4") and ``crc32`` (of the ``stored_length`` bytes in the
    segment: the payload, or its LZ4 block)."""

    __slots__ = tuple(field for field in _FIELDS if field != "schema")

    def __init__(self, **fields):
        for field in self.__slots__:
            setattr(self, field, fields[field])

    @classmethod
    def from_json(cls, text):
        """Parse and check a descriptor (str or bytes). Raises DescriptorError naming what is
        wrong: not exactly the schema's object (``field`` None), or a field value no written
        descriptor has (an odd sequence, stored_length > capacity, a length other than
        stored_length without compression, with LZ4 stored_length >= length or length more
        than 255 times stored_length)."""
        document = parse_document(text, _FIELDS)
        check_common(document, SCENE_SCHEMA)
        del document["schema"]
        descriptor = cls(**document)
        descriptor.check()
        return descriptor

    def check(self):
        """The checks of :meth:`from_json` on the fields' values."""
        check_common(dict(self.fields(), schema=SCENE_SCHEMA), SCENE_SCHEMA)
        if self.compression not in ("none", "lz4"):
            raise DescriptorError(
                '{!r} is neither "none" nor "lz4"'.format(self.compression), "compression"
            )
        check_kind(self.kind)
        check_source(self.source)
        if self.sequence % 2:
            raise DescriptorError(
                "{} is odd; a finished write leaves it even".format(self.sequence), "sequence"
            )
        if self.stored_length > self.capacity:
            raise DescriptorError(
                "{} exceeds the capacity, {} bytes".format(self.stored_length, self.capacity),
                "stored_length",
            )
        if self.compression == "none":
            if self.length != self.stored_length:
                raise DescriptorError(
                    "{} differs from stored_length {} without compression".format(
                        self.length, self.stored_length
                    ),
                    "length",
                )
        else:
            if self.stored_length >= self.length:
                raise DescriptorError(
                    "{} is not smaller than length {}: LZ4 is kept only when smaller".format(
                        self.stored_length, self.length
                    ),
                    "stored_length",
                )
            if self.length > self.stored_length * LZ4_MAX_RATIO:
                raise DescriptorError(
                    "{} bytes from {} stored bytes of LZ4 is more than {} times the stored "
                    "length, more than any LZ4 block decodes to".format(
                        self.length, self.stored_length, LZ4_MAX_RATIO
                    ),
                    "length",
                )

    def fields(self):
        """(field, value) pairs in the documented order, ``schema`` first."""
        return [("schema", SCENE_SCHEMA)] + [(f, getattr(self, f)) for f in self.__slots__]

    def to_json(self):
        """One line of JSON, fields in the documented order (the same text Rust writes)."""
        return dump_document(self.fields())

    def expires_unix_ms(self):
        """``created_unix_ms + ttl_ms``, or None without a time to live."""
        return None if self.ttl_ms is None else self.created_unix_ms + self.ttl_ms

    def __eq__(self, other):
        return isinstance(other, SceneDescriptor) and self.fields() == other.fields()

    def __repr__(self):
        return "SceneDescriptor({})".format(
            ", ".join("{}={!r}".format(f, getattr(self, f)) for f in self.__slots__)
        )


def _unix_ms():
    return time.time_ns() // 1_000_000


class SceneBuffer:
    """A payload in a shared buffer of its own, with metadata and a checksum, described by a
    :class:`SceneDescriptor`.

    ``SceneBuffer.write(data, ...)`` makes one and owns its segment (``close()`` removes it);
    ``SceneBuffer.open(descriptor)`` (a SceneDescriptor, or its JSON as str or bytes) opens it
    in another process; ``read()`` returns the payload as ``bytes`` after every check."""

    def __init__(self, buffer, descriptor):
        self._buffer = buffer
        self.descriptor = descriptor

    @classmethod
    def write(cls, data, kind=SceneKind.ARBITRARY, source="", lz4=False, ttl_ms=None):
        """Write ``data`` (any bytes-like object) into a new shared buffer with a generated
        name, just large enough for the stored bytes.

        ``kind``: a well-known or user-defined kind name; ``source``: the writing application
        (at most 256 bytes, no control characters); ``lz4``: compress as one LZ4 block, kept
        only if smaller; ``ttl_ms``: milliseconds after creation it may be read (None: no
        limit). Raises DescriptorError for a bad kind or source, Lz4UnavailableError for
        ``lz4=True`` without the lz4 package, and what SharedBuffer.create raises."""
        check_kind(kind)
        check_source(source)
        if ttl_ms is not None and (type(ttl_ms) is not int or not 0 <= ttl_ms <= 0xFFFFFFFFFFFFFFFF):
            raise DescriptorError("{!r} is not an integer in 0..=2**64-1".format(ttl_ms), "ttl_ms")
        payload = memoryview(data).cast("B")
        stored, compression = payload, "none"
        if lz4:
            if _lz4_block is None:
                raise Lz4UnavailableError()
            compressed = _lz4_block.compress(payload, store_size=False)
            if len(compressed) < payload.nbytes:
                stored, compression = compressed, "lz4"
        # Written as the segment is made: the fastest way to fill fresh memory (see
        # SharedBuffer.create), and nobody can open the segment before it holds the payload.
        buffer = SharedBuffer.create(None, max(len(stored), 1), stored)
        try:
            sequence = buffer._sequence_now()
            descriptor = SceneDescriptor(
                segment=buffer.name,
                layout_version=VERSION,
                capacity=buffer.capacity,
                sequence=sequence,
                kind=kind,
                source=source,
                created_unix_ms=_unix_ms(),
                ttl_ms=ttl_ms,
                length=payload.nbytes,
                stored_length=len(stored),
                compression=compression,
                crc32=zlib.crc32(stored),
            )
        except BaseException:
            buffer.close()
            raise
        return cls(buffer, descriptor)

    @classmethod
    def open(cls, descriptor):
        """Open the scene buffer ``descriptor`` (a SceneDescriptor, or its JSON as str or
        bytes) describes, after checking every field, and check the segment against it.
        Raises DescriptorError, DescriptorMismatchError (a segment whose capacity differs:
        smaller than the descriptor says, say), and what SharedBuffer.open raises
        (NotFoundError, NotASharedBufferError, UnsupportedVersionError...)."""
        if not isinstance(descriptor, SceneDescriptor):
            descriptor = SceneDescriptor.from_json(descriptor)
        else:
            descriptor.check()
        buffer = SharedBuffer.open(descriptor.segment)
        if buffer.capacity != descriptor.capacity:
            buffer.close()
            raise DescriptorMismatchError(
                descriptor.segment, "capacity", descriptor.capacity, buffer.capacity
            )
        return cls(buffer, descriptor)

    def read(self, max_length=DEFAULT_MAX_SCENE_LEN):
        """The payload as ``bytes``, if its length is at most ``max_length`` bytes.

        In order: ExpiredError past the time to live; PayloadLimitError above ``max_length``
        (nothing allocated); the stored bytes are copied under the seqlock (never torn;
        errors as SharedBuffer.read); StaleDescriptorError if the buffer was written since,
        LengthMismatchError for another stored length; ChecksumMismatchError for another
        CRC-32 of the stored bytes; Lz4UnavailableError without the lz4 package,
        DecompressError for a block that does not decode to exactly ``length`` bytes."""
        d = self.descriptor
        name = self._buffer.name
        expires = d.expires_unix_ms()
        if expires is not None:
            now = _unix_ms()
            if now > expires:
                raise ExpiredError(name, expires, now)
        if d.length > max_length:
            raise PayloadLimitError(name, d.length, max_length)
        stored, sequence = self._buffer._read_at()
        if sequence != d.sequence:
            raise StaleDescriptorError(name, d.sequence, sequence)
        if len(stored) != d.stored_length:
            raise LengthMismatchError(name, d.stored_length, len(stored))
        # The stored bytes are what sits in shared memory, where another process could have
        # damaged them: checked before anything is decoded from them.
        computed = zlib.crc32(stored)
        if computed != d.crc32:
            raise ChecksumMismatchError(name, d.crc32, computed)
        if d.compression == "lz4":
            if _lz4_block is None:
                raise Lz4UnavailableError(name)
            try:
                payload = _lz4_block.decompress(stored, uncompressed_size=d.length)
            except Exception as error:  # lz4.block.LZ4BlockError, and MemoryError
                raise DecompressError(name, d.length, str(error)) from None
            if len(payload) != d.length:
                raise DecompressError(
                    name, d.length, "it decodes to {} bytes".format(len(payload))
                )
            return payload
        return stored

    def descriptor_json(self):
        """The descriptor as one line of JSON."""
        return self.descriptor.to_json()

    @property
    def name(self):
        """The shared buffer's segment name."""
        return self._buffer.name

    @property
    def kind(self):
        return self.descriptor.kind

    @property
    def source(self):
        return self.descriptor.source

    def __len__(self):
        return self.descriptor.length

    @property
    def buffer(self):
        """The SharedBuffer underneath."""
        return self._buffer

    def acknowledge(self):
        """Tell the writer that this process has read the payload."""
        self._buffer.acknowledge()

    def wait_acknowledged(self, timeout):
        """Sleep until some reader acknowledges, at most ``timeout`` seconds; return whether one
        did."""
        return self._buffer.wait_acknowledged(0, timeout) is not None

    def close(self):
        """Close the shared buffer (the writer's handle also removes its name). Idempotent."""
        self._buffer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return "SceneBuffer(name={!r}, kind={!r}, length={}, compression={!r})".format(
            self.name, self.kind, self.descriptor.length, self.descriptor.compression
        )
