"""The wire layout: header offsets, limits, capacity rounding and segment names.

A segment is a 16-byte header of little-endian u32 words followed by the data area::

    offset 0   head      written by the producer (bytes ever written, modulo 2**32)
    offset 4   tail      written by the consumer (bytes ever consumed, modulo 2**32)
    offset 8   capacity  written by the producer once, last (0 = not ready)
    offset 12  reserved  the original library writes 0; a shm_ring producer EXTENSION_MARKER

Byte ``i`` of the stream lives at ``HEADER_LEN + (i & (capacity - 1))``. A message is a
record ``[u32 LE payload length][payload]``; records are packed with no padding and both parts
may wrap around the end of the data area at any byte.

A shm_ring producer also keeps a 64-byte extension block at ``extension_offset(capacity)``,
the first 64-byte boundary at or after the end of the data area, and sizes the object to
``segment_len(requested)`` so that the block fits. Byte 0 of the block holds the producer's
flags, byte 1 the consumer's (see ``_kernel``), bytes 2 to 63 are 0. The block sits on a cache
line of its own: a publisher reads the other side's flag byte after every publish, and that
read stays cheap only on a line the other side does not keep writing. A ring of the original
library has no block (``reserved`` is 0).

Nothing here touches memory or the operating system.
"""

HEADER_LEN = 16
PREFIX_LEN = 4
HEAD_WORD = 0
TAIL_WORD = 1
CAPACITY_WORD = 2
RESERVED_WORD = 3

#: ``reserved`` of a segment that carries the extension block: the bytes b"SRX1".
EXTENSION_MARKER = 0x31585253
#: Length of the extension block: one cache line.
EXTENSION_LEN = 64
#: Offsets of the flag bytes within the extension block: the producer writes byte 0 only, the
#: consumer byte 1 only.
PRODUCER_FLAGS = 0
CONSUMER_FLAGS = 1

MIN_CAPACITY = 8
MAX_CAPACITY = 1 << 31
MAX_REQUEST = (1 << 32) - 1
INDEX_MASK = (1 << 32) - 1

MAX_NAME_LEN = 30
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


def name_problem(name):
    """Return why ``name`` is not a valid segment name, or None when it is valid."""
    bare = name[1:] if name.startswith("/") else name
    if not bare:
        if name:
            return "the name is empty after its leading '/'"
        return "the name is empty"
    if bare.startswith("/"):
        return "only one leading '/' is allowed"
    if len(bare) > MAX_NAME_LEN:
        return "the name has {} characters; at most {} are allowed".format(
            len(bare), MAX_NAME_LEN
        )
    for position, ch in enumerate(bare):
        if ch not in _NAME_CHARS:
            if ch == "/":
                return "'/' at position {} is not allowed: only one leading '/' may be given".format(
                    position
                )
            return "character {!r} at position {} is not allowed (use A-Z a-z 0-9 . _ -)".format(
                ch, position
            )
    if bare in (".", ".."):
        return "'.' and '..' are not valid names"
    return None


def bare_name(name):
    """Validate ``name`` and return it without its optional leading '/'.

    Raises TypeError for a non-string and InvalidNameError for a name that breaks the rules.
    """
    from ._errors import InvalidNameError

    if not isinstance(name, str):
        raise TypeError("a segment name must be a str, not {}".format(type(name).__name__))
    problem = name_problem(name)
    if problem is not None:
        raise InvalidNameError(name, problem)
    return name[1:] if name.startswith("/") else name


def capacity_for(requested):
    """The data-area capacity for a requested size: the largest power of two <= requested.

    Raises InvalidCapacityError when ``requested`` is outside ``8 ..= 2**32 - 1``.

    >>> capacity_for(100), capacity_for(6_220_800)
    (64, 4194304)
    """
    from ._errors import InvalidCapacityError

    if isinstance(requested, bool) or not isinstance(requested, int):
        raise TypeError(
            "a capacity must be an int, not {}".format(type(requested).__name__)
        )
    if requested < MIN_CAPACITY or requested > MAX_REQUEST:
        raise InvalidCapacityError(
            "requested capacity {} is outside {}..={} bytes".format(
                requested, MIN_CAPACITY, MAX_REQUEST
            ),
            requested,
        )
    return 1 << (requested.bit_length() - 1)


def extension_offset(capacity):
    """Where the extension block of a ring of ``capacity`` bytes starts: the first multiple of
    64 at or after the end of the data area.

    >>> extension_offset(64), extension_offset(4096), extension_offset(8)
    (128, 4160, 64)
    """
    end = HEADER_LEN + capacity
    return (end + EXTENSION_LEN - 1) // EXTENSION_LEN * EXTENSION_LEN


def segment_len(requested):
    """The size of the object a producer creates for a (valid) requested capacity:
    ``16 + requested`` as the original library makes it, or more when the extension block
    would not fit in that.

    >>> segment_len(100), segment_len(4096), segment_len(6_220_800)
    (192, 4224, 6220816)
    """
    block_end = extension_offset(capacity_for(requested)) + EXTENSION_LEN
    return max(HEADER_LEN + requested, block_end)


def has_extension(reserved, capacity, size):
    """Whether a segment of ``size`` bytes whose header holds ``reserved`` and ``capacity``
    carries the extension block: the marker is there and the block fits in the object."""
    return reserved == EXTENSION_MARKER and size >= extension_offset(capacity) + EXTENSION_LEN


def is_valid_capacity(capacity):
    """Whether a capacity word read from a header is a power of two from 8 to 2**31."""
    return MIN_CAPACITY <= capacity <= MAX_CAPACITY and capacity & (capacity - 1) == 0
