"""The original library's ``byte_ring_buffer`` module (cpp_py_shmbuf v2), over shm_ring.

A program written against cpp_py_shmbuf imports this module unchanged and gets shm_ring's
ring underneath: indices that wrap at 2**32, single aligned 4-byte index stores, no stall
behind an empty record, and validated length prefixes. docs/MIGRATING.md lists every
difference from the original and its reason.

    from byte_ring_buffer import ByteRingBuffer

    memory = bytearray(16 + 4096)
    producer = ByteRingBuffer(memoryview(memory), is_producer=True)
    consumer = ByteRingBuffer(memoryview(memory))
    producer.write(b"frame")          # True
    consumer.read()                   # b"frame"; None when there is nothing
"""

from shm_ring import NotReadyError
from shm_ring import ShmConsumer as _Consumer
from shm_ring import ShmProducer as _Producer

__all__ = ["ByteRingBuffer"]


class ByteRingBuffer:
    """A message ring over memory the caller owns.

    ``ByteRingBuffer(buf, *, is_producer=False)``: ``buf`` is a writable, contiguous,
    4-byte-aligned bytes-like object (a memoryview of a bytearray, an mmap or a
    ``multiprocessing.shared_memory.SharedMemory``'s ``buf``) of at least 16 + 8 bytes. The
    producer's object writes the header: head = tail = 0, capacity = the largest power of two
    not above ``len(buf) - 16``, reserved = 0; no byte past ``16 + capacity`` is ever touched.
    The consumer's object reads the capacity already there, and looks again on each call until
    the producer has written it. One object may both write and read; per ring, one object at a
    time writes and one reads.

    Raises ValueError for memory that is not 4-byte aligned, TypeError for read-only memory,
    and shm_ring's InvalidCapacityError / SegmentTooSmallError for memory too small to hold a
    ring (or a header claiming more than the memory holds).
    """

    def __init__(self, buf, *, is_producer=False):
        self._memory = buf
        self._is_producer = bool(is_producer)
        self._producer = None
        self._consumer = None
        self._empty_writes_dropped = 0
        if self._is_producer:
            self._producer = _Producer._in_memory(buf, create=True)
        else:
            self._consumer_half()

    def _producer_half(self):
        """The shm_ring producer, attached at the shared head on first use by a consumer's
        object; None while the ring is not initialised."""
        if self._producer is None:
            try:
                self._producer = _Producer._in_memory(self._memory, create=False)
            except NotReadyError:
                return None
        return self._producer

    def _consumer_half(self):
        """The shm_ring consumer, attached at the shared tail on first use; None while the
        ring is not initialised."""
        if self._consumer is None:
            try:
                self._consumer = _Consumer._in_memory(self._memory)
            except NotReadyError:
                return None
        return self._consumer

    def _view(self):
        return self._producer_half() if self._is_producer else self._consumer_half()

    def write(self, data):
        """Write one message (any bytes-like object) if its record (4 + len bytes) fits now.

        Returns True when written, False when the ring has no room now (nothing is written
        then, so a retry never duplicates a message) or is not initialised yet. Writing b""
        returns True and writes nothing (the original library's consumers stall forever behind
        an empty record); ``empty_writes_dropped`` counts those. Raises shm_ring's
        MessageTooLargeError (a ValueError) for a message above ``capacity - 4`` bytes, which
        could never be written.
        """
        if (len(data) if type(data) is bytes else memoryview(data).nbytes) == 0:
            self._empty_writes_dropped += 1
            return True
        producer = self._producer_half()
        if producer is None:
            return False
        return producer.try_write(data)

    def read(self):
        """The next message as bytes, or None when there is no complete message. Never
        waits. An empty record (written by some other producer) is returned as b""."""
        consumer = self._consumer_half()
        if consumer is None:
            return None
        return consumer._take()

    def readable_bytes(self):
        """head - tail: bytes written and not yet read, length prefixes included."""
        side = self._view()
        return 0 if side is None else side.readable_bytes()

    def writeable_bytes(self):
        """capacity - (head - tail): free bytes (a message of n bytes needs 4 + n)."""
        side = self._view()
        return 0 if side is None else side.writable_bytes()

    def has_data(self):
        """Whether at least 4 bytes are readable."""
        return self.readable_bytes() >= 4

    @property
    def capacity(self):
        """The data area's size in bytes (a power of two); 0 while not initialised."""
        side = self._producer if self._producer is not None else self._consumer_half()
        return 0 if side is None else side.capacity

    # -- beyond the original API -----------------------------------------------------------

    @property
    def empty_writes_dropped(self):
        """How many ``write(b"")`` calls returned True and wrote nothing."""
        return self._empty_writes_dropped

    @property
    def producer(self):
        """The shm_ring ShmProducer underneath (a consumer's object attaches it at the shared
        head), or None while the ring is not initialised."""
        return self._producer_half()

    @property
    def consumer(self):
        """The shm_ring ShmConsumer underneath (a producer's object attaches it at the shared
        tail), or None while the ring is not initialised."""
        return self._consumer_half()

    def close(self):
        """Let go of the memory (so that, for example, a SharedMemory holding it can close).
        Idempotent; the object is unusable afterwards."""
        for side in (self._producer, self._consumer):
            if side is not None:
                side.close()
        self._memory = None
