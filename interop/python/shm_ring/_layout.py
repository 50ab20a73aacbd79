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
``segment_len(capacity)``: exactly header, data area and block (the drop-in modules size it
``original_segment_len(requested)``, the original library's size when the block fits in it). Byte 0 of the block holds the producer's
flags, byte 1 the consumer's (see ``_kernel``), byte 2 a large-message receiver's envelope
version (see ``_large``), bytes 3 to 63 are 0. The block sits on a cache
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


def _check_int(value, what):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("{} must be an int, not {}".format(what, type(value).__name__))


def round_capacity(requested):
    """The data-area capacity a producer makes for a requested size: the smallest power of two
    that is at least ``requested``, and at least 8.

    Raises InvalidCapacityError when ``requested`` is outside ``1 ..= 2**31``.

    >>> round_capacity(100), round_capacity(6_220_800), round_capacity(1)
    (128, 8388608, 8)
    """
    from ._errors import InvalidCapacityError

    _check_int(requested, "a capacity")
    if requested < 1 or requested > MAX_CAPACITY:
        raise InvalidCapacityError(
            "requested capacity {} is outside 1..={} bytes".format(requested, MAX_CAPACITY),
            requested,
        )
    return max(MIN_CAPACITY, 1 << (requested - 1).bit_length())


def capacity_for_message(max_message_len: int) -> int:
    """The capacity to request so that a ring carries messages of up to ``max_message_len``
    bytes: the smallest power of two that holds such a message and its 4-byte length prefix.

    Returns an int (bytes). Raises ValueError (InvalidCapacityError) when no ring carries such
    a message (more than ``2**31 - 4`` bytes) or the length is negative, TypeError for a
    non-int. A ring that should hold several such messages at once needs a multiple of it.

    >>> capacity_for_message(1920 * 1080 * 3), capacity_for_message(4092), capacity_for_message(4093)
    (8388608, 4096, 8192)
    """
    from ._errors import InvalidCapacityError

    _check_int(max_message_len, "a message length")
    if max_message_len < 0 or max_message_len > MAX_CAPACITY - PREFIX_LEN:
        raise InvalidCapacityError(
            "no ring carries a {}-byte message: the largest any ring carries is {} bytes".format(
                max_message_len, MAX_CAPACITY - PREFIX_LEN
            ),
            max_message_len,
        )
    return round_capacity(max_message_len + PREFIX_LEN)


def needed_capacity(length):
    """``capacity_for_message(length)``, or None when no ring carries ``length`` bytes."""
    if 0 <= length <= MAX_CAPACITY - PREFIX_LEN:
        return capacity_for_message(length)
    return None


def original_capacity(requested):
    """The capacity the original library makes for a requested size: the largest power of two
    not above ``requested`` (the drop-in modules keep this rounding).

    Raises InvalidCapacityError when ``requested`` is outside ``8 ..= 2**32 - 1``.

    >>> original_capacity(100), original_capacity(6_220_800)
    (64, 4194304)
    """
    from ._errors import InvalidCapacityError

    _check_int(requested, "a capacity")
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


def segment_len(capacity):
    """The size of the object a producer creates for a ring of ``capacity`` bytes (a power of
    two): the header, the data area and the extension block after it.

    >>> segment_len(8), segment_len(128), segment_len(4096)
    (128, 256, 4224)
    """
    return extension_offset(capacity) + EXTENSION_LEN


def original_segment_len(requested):
    """The size of the object the drop-in producer creates for a (valid) requested capacity:
    ``16 + requested`` as the original library makes it, or more when the extension block
    would not fit in that.

    >>> original_segment_len(100), original_segment_len(4096), original_segment_len(6_220_800)
    (192, 4224, 6220816)
    """
    return max(HEADER_LEN + requested, segment_len(original_capacity(requested)))


def has_extension(reserved, capacity, size):
    """Whether a segment of ``size`` bytes whose header holds ``reserved`` and ``capacity``
    carries the extension block: the marker is there and the block fits in the object."""
    return reserved == EXTENSION_MARKER and size >= extension_offset(capacity) + EXTENSION_LEN


def is_valid_capacity(capacity):
    """Whether a capacity word read from a header is a power of two from 8 to 2**31."""
    return MIN_CAPACITY <= capacity <= MAX_CAPACITY and capacity & (capacity - 1) == 0
