"""The original library's ``shm_channel`` module (cpp_py_shmbuf v2), over shm_ring.

A program written against cpp_py_shmbuf imports this module unchanged and gets shm_ring
underneath: no stall behind an empty record, indices that wrap at 2**32, single 4-byte index
stores, a consumer that never unlinks the producer's segment (not even at interpreter exit),
mode 0600, a live producer's segment never replaced, and the kernel waking a blocked side.
docs/MIGRATING.md lists every difference from the original and its reason.

    from shm_channel import ShmProducer, ShmConsumer

    with ShmProducer("frames", 1 << 20) as producer:    # exit destroys (unlinks) the segment
        while not producer.write(b"frame"):             # False while full: retry
            pass

    with ShmConsumer("frames") as consumer:             # in another process
        if consumer.has_data():
            data = consumer.read()                      # bytes, or None; never waits
"""

from shm_ring import NotReadyError, ShmTimeoutError
from shm_ring import ShmConsumer as _Consumer
from shm_ring import ShmProducer as _Producer

__all__ = ["ShmProducer", "ShmConsumer", "SegmentNotReadyError"]


class SegmentNotReadyError(NotReadyError, FileNotFoundError):
    """The segment exists but its producer has not initialised it yet (a moment after it was
    created). A FileNotFoundError too, so that a loop waiting for the producer with
    ``except FileNotFoundError`` keeps waiting."""


class ShmProducer:
    """The writing end: creates the segment and writes messages into it.

    ``ShmProducer(name, capacity)``: ``name`` is 1 to 30 characters of ``[A-Za-z0-9._-]``
    (a leading ``/`` is optional); ``capacity`` the requested data-area size, 8 to 2**32 - 1
    bytes, rounded down to a power of two as the original library does (shm_ring's own
    ShmProducer rounds up). The object is ``capacity + 16`` bytes (or a little
    more when shm_ring's 64-byte extension block would not fit). An existing object of that
    name is removed first, unless a live producer owns it: then shm_ring's InUseError, and
    nothing is touched.
    """

    def __init__(self, name, capacity):
        self._ring = _Producer._with_original_sizing(name, capacity)
        self._empty_writes_dropped = 0

    def write(self, data, *, timeout=0):
        """Write one message (any bytes-like object) if its record (4 + len bytes) fits.

        Returns True when written, False when the ring is full (nothing is written then, so
        ``while not producer.write(data): pass`` never duplicates a message). Writing b""
        returns True and writes nothing (the original library's consumers stall forever
        behind an empty record); ``empty_writes_dropped`` counts those. Raises shm_ring's
        MessageTooLargeError (a ValueError) for a message above ``capacity - 4`` bytes, which
        could never be written.

        ``timeout`` (seconds, keyword only) waits for room: 0 (the default) tries once, None
        waits as long as it takes; False when it runs out. Raises shm_ring's PeerGoneError
        (a ConnectionError) when a consumer of shm_ring that was attached is gone while the
        ring is full.
        """
        if (len(data) if type(data) is bytes else memoryview(data).nbytes) == 0:
            self._empty_writes_dropped += 1
            return True
        if timeout == 0:
            return self._ring.try_write(data)
        try:
            self._ring.write(data, timeout)
        except ShmTimeoutError:
            return False
        return True

    def writeable_bytes(self):
        """Free bytes in the ring (a message of n bytes needs 4 + n)."""
        return self._ring.writable_bytes()

    @property
    def capacity(self):
        """The data area's size in bytes (a power of two)."""
        return self._ring.capacity

    @property
    def is_valid(self):
        """True until ``close()`` or ``destroy()``."""
        return not self._ring.closed

    def close(self):
        """Unmap the segment; its name stays (consumers may still attach). Idempotent."""
        self._ring.close()

    def destroy(self):
        """Unlink the segment's name (if it still refers to this producer's segment) and
        unmap it. Idempotent."""
        if not self._ring.closed:
            self._ring.unlink()
        self._ring.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.destroy()

    # -- beyond the original API -----------------------------------------------------------

    def peer_state(self):
        """What is known of the consumer: shm_ring's ``PeerState.ALIVE``, ``GONE`` (it died or
        closed the ring) or ``UNKNOWN`` (no consumer of shm_ring has attached, for example the
        original's)."""
        return self._ring.peer_state()

    @property
    def empty_writes_dropped(self):
        """How many ``write(b"")`` calls returned True and wrote nothing."""
        return self._empty_writes_dropped

    @property
    def ring(self):
        """The shm_ring ShmProducer underneath."""
        return self._ring


class ShmConsumer:
    """The reading end: opens an existing segment and reads messages from it.

    ``ShmConsumer(name, size=0)``: ``size`` is accepted for compatibility and not needed: the
    object's real size is mapped, after checking that it holds the ring its header claims.
    Raises FileNotFoundError (shm_ring's NotFoundError) when the segment does not exist,
    SegmentNotReadyError (also a FileNotFoundError) when its producer has not initialised it
    yet, and shm_ring's InUseError when a live consumer of shm_ring already reads it. Never
    unlinks the segment.
    """

    def __init__(self, name, size=0):
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError("size must be an int >= 0, got {!r}".format(size))
        try:
            self._ring = _Consumer(name)
        except NotReadyError as error:
            raise SegmentNotReadyError(str(error)) from error
        # The polling loop's two calls go straight to the ring: one Python call each.
        self._take = self._ring._take
        self.has_data = self._ring._has_message

    def read(self, *, timeout=0):
        """The next message as bytes, or None when there is no complete message.

        Never waits unless asked: ``timeout`` (seconds, keyword only) waits for a message, None
        as long as it takes; None when it runs out. Raises shm_ring's PeerGoneError (a
        ConnectionError) once a producer of shm_ring is gone and everything it wrote has been
        read. An empty record (written by the original library's producer) is returned as b"".
        """
        if timeout == 0:
            return self._take()
        try:
            return self._ring.read(timeout).into_bytes()
        except ShmTimeoutError:
            return None

    def has_data(self):
        """Whether at least 4 bytes are readable. (Each object binds this name to the ring's
        own test, so that a polling loop pays one call for it.)"""
        return self._ring._has_message()

    def readable_bytes(self):
        """Bytes published and not yet read, length prefixes included."""
        return self._ring.readable_bytes()

    @property
    def capacity(self):
        """The data area's size in bytes (a power of two)."""
        return self._ring.capacity

    @property
    def is_valid(self):
        """True until ``close()``."""
        return not self._ring.closed

    def close(self):
        """Unmap the segment; never unlinks it. Idempotent."""
        self._ring.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- beyond the original API -----------------------------------------------------------

    def peer_state(self):
        """What is known of the producer: shm_ring's ``PeerState.ALIVE``, ``GONE`` (it died or
        closed the ring) or ``UNKNOWN`` (it takes no shm_ring liveness lock, for example the
        original's)."""
        return self._ring.peer_state()

    @property
    def ring(self):
        """The shm_ring ShmConsumer underneath."""
        return self._ring
