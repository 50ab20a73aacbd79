"""The exceptions raised by shm_ring.

Every exception derives from :class:`ShmRingError`. Where a builtin exception describes the
same situation, the class derives from it too, so that ordinary ``except`` clauses keep
working (``except FileNotFoundError`` catches a missing segment, ``except TimeoutError`` a
timed-out wait, ``except ValueError`` a refused argument).
"""


class ShmRingError(Exception):
    """Base class of every error raised by shm_ring.

    Raised as such only for failures of an operating-system call that none of the subclasses
    describe (the original ``OSError`` is chained as ``__cause__``).
    """


class InvalidNameError(ShmRingError, ValueError):
    """The segment name breaks the naming rules.

    Attributes: ``name`` (as given) and ``reason`` (which rule it breaks).
    """

    def __init__(self, name, reason):
        super().__init__("invalid segment name {!r}: {}".format(name, reason))
        self.name = name
        self.reason = reason


class InvalidCapacityError(ShmRingError, ValueError):
    """A capacity is out of range.

    Raised for a requested capacity outside ``1 ..= 2**31`` (the drop-in producer:
    ``8 ..= 2**32 - 1``), by ``capacity_for_message`` for a length no ring carries, and for a
    segment whose header holds a capacity that is not a power of two from 8 to ``2**31``.
    Attribute: ``capacity``.
    """

    def __init__(self, message, capacity):
        super().__init__(message)
        self.capacity = capacity


class SegmentTooSmallError(ShmRingError):
    """The segment is smaller than its header, or than the data area its header claims.

    Attributes: ``size`` (the segment's size in bytes) and ``capacity`` (the capacity word,
    or None when the segment cannot even hold the header).
    """

    def __init__(self, message, size, capacity=None):
        super().__init__(message)
        self.size = size
        self.capacity = capacity


class NotFoundError(ShmRingError, FileNotFoundError):
    """No segment of that name exists (transient while a producer starts)."""


class NotReadyError(ShmRingError):
    """The segment exists but its producer has not finished initialising it (transient)."""


class AlreadyExistsError(ShmRingError, FileExistsError):
    """An exclusive create found a segment of that name."""


class PermissionDeniedError(ShmRingError, PermissionError):
    """The operating system refused access to the segment."""


class CorruptedError(ShmRingError):
    """The producer's side of the ring breaks the protocol; reading cannot go on.

    Attributes: ``tail`` (stream index of the record), ``length`` (its length prefix, or None
    when not even a whole prefix is published) and ``readable`` (bytes published from
    ``tail``, prefix included).
    """

    def __init__(self, message, tail, length, readable):
        super().__init__("corrupted ring: " + message)
        self.tail = tail
        self.length = length
        self.readable = readable


class MessageTooLargeError(ShmRingError, ValueError):
    """The message can never fit: its payload is larger than ``capacity - 4`` bytes.

    Attributes: ``length`` (the payload's bytes), ``max_length`` (the largest payload this
    ring carries) and ``needed_capacity`` (the capacity to create a ring with so that it
    carries this message, ``capacity_for_message(length)``, or None when no ring can: more
    than ``2**31 - 4`` bytes). The message names the capacity to request.
    """

    def __init__(self, length, max_length):
        from ._layout import MAX_CAPACITY, PREFIX_LEN, needed_capacity

        needed = needed_capacity(length)
        if needed is None:
            advice = "no ring carries more than {} bytes".format(MAX_CAPACITY - PREFIX_LEN)
        else:
            advice = "create the ring with capacity {} to carry it".format(needed)
        super().__init__(
            "a {}-byte message can never fit: the largest this ring carries is {} bytes; "
            "{}".format(length, max_length, advice)
        )
        self.length = length
        self.max_length = max_length
        self.needed_capacity = needed


class EmptyMessageError(ShmRingError, ValueError):
    """Empty messages are refused: consumers of the original library would stall on them."""

    def __init__(self):
        super().__init__(
            "empty messages are refused (consumers of the original library would stall on them)"
        )


class BufferTooSmallError(ShmRingError, ValueError):
    """The caller's buffer is smaller than the next message; the message stays in the ring.

    Attributes: ``needed`` (the message's length) and ``available`` (the buffer's length).
    """

    def __init__(self, needed, available):
        super().__init__(
            "the next message has {} bytes but the buffer holds only {}; "
            "the message stays in the ring".format(needed, available)
        )
        self.needed = needed
        self.available = available


class ShmTimeoutError(ShmRingError, TimeoutError):
    """A wait ran out of time.

    Attributes: ``timeout`` (seconds), ``waiting_for`` (what was awaited) and ``last`` (for an
    open, the last transient error seen; otherwise None).
    """

    def __init__(self, message, timeout, waiting_for, last=None):
        super().__init__(message)
        self.timeout = timeout
        self.waiting_for = waiting_for
        self.last = last


class BusyError(ShmRingError):
    """A reservation or a read view is still open; commit, cancel or release it first."""


class ClosedError(ShmRingError, ValueError):
    """The producer or consumer has been closed."""


class InUseError(ShmRingError):
    """A live process already holds this end of the segment.

    Raised when a producer is created (not exclusively) on a name whose producer is alive or
    takes over (``ShmProducer.open``) a ring whose producer is alive, and when a consumer opens
    a ring whose consumer is alive. The segment is left untouched.
    Attributes: ``name`` (the segment) and ``holder`` (``"producer"`` or ``"consumer"``).

    It derives from no builtin on purpose: ``FileExistsError`` means "the name is taken", and
    code written for exclusive creation often answers that by unlinking or renaming, which is
    exactly what must not happen to a live segment; ``BlockingIOError`` invites an immediate
    retry, while this lasts as long as the other process lives.
    """

    def __init__(self, message, name, holder):
        super().__init__(message)
        self.name = name
        self.holder = holder


class UnsupportedError(ShmRingError):
    """The OS cannot do this. On Windows a named mapping lives while any process has it open
    and has no name to remove: removing a segment, and creating one over a name another process
    still holds, raise this (``ShmProducer.open`` takes over such a ring's producer role)."""


class PeerGoneError(ShmRingError, ConnectionError):
    """The other end of the ring is gone: its process died or it closed the ring.

    Raised by blocking calls only, once nothing more can come: a consumer first reads what was
    published before the producer went away. A ``ConnectionError`` too, since the situation is
    the one of a connection whose other end has gone. Attributes: ``peer`` (``"producer"`` or
    ``"consumer"``) and ``waiting_for`` (what the call was waiting for).
    """

    def __init__(self, message, peer, waiting_for):
        super().__init__(message)
        self.peer = peer
        self.waiting_for = waiting_for


class LengthMismatchError(ShmRingError):
    """A length recorded in shared memory disagrees with the one a reference or descriptor
    gives: a buffer pool's slot (``shm_ring.BufferPool.resolve``) or a scene buffer
    (``shm_ring.SceneBuffer.read``) raises its own subclass, with that kind's attributes.
    """
