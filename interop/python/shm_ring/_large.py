"""Large messages through a ring: LargeSender and LargeReceiver, byte-compatible with the Rust
crate's types of the same names.

A sender owns a ring producer and a buffer pool. A payload of up to ``inline_threshold`` bytes
travels in the ring behind an 8-byte envelope; a larger one is copied into a free pool slot
and a 72-byte message (envelope + 64-byte PoolRef) travels instead. The receiver hands either
out as one LargeMessage whose ``data`` is a read-only memoryview: of a copy for an inline
message, of the pool slot in place for one sent by reference (``numpy.frombuffer(m.data,
dtype)`` wraps it without a copy); releasing the message returns the slot to the pool, in
whichever process sent it.

The envelope (docs/PROTOCOL.md, "Large messages"), little-endian::

    0  4  magic b"SRLM"
    4  1  envelope version, 1
    5  1  kind: 0 inline (the payload follows), 1 pool reference (64 bytes follow)
    6  2  zero

Every message of such a ring carries one, so no payload is ever taken for a reference. A
receiver announces the envelope version it reads in byte 2 of the ring's extension block and
holds an OFD lock on byte 2 of the object for as long as it lives; a sender checks both before
every send, so a plain consumer (of this module, the Rust crate, or the original library)
never gets an envelope.
"""

import struct
import time

from . import _kernel
from ._errors import ClosedError, MessageTooLargeError, ShmRingError
from ._pool import BufferPool, PoolExhaustedError, PoolRef
from ._wait import check_timeout

MAGIC = b"SRLM"
VERSION = 1
KIND_INLINE = 0
KIND_REFERENCE = 1
ENVELOPE_LEN = 8
REFERENCE_MESSAGE_LEN = ENVELOPE_LEN + PoolRef.LEN
#: The inline threshold a sender starts with, in bytes (the Rust crate's
#: ``DEFAULT_INLINE_THRESHOLD``).
DEFAULT_INLINE_THRESHOLD = 4096

#: Byte of the extension block where a receiver announces its envelope version.
RECEIVER_ENVELOPE = 2
#: Byte of the object a receiver holds an OFD lock on for as long as it lives.
RECEIVER_LOCK_BYTE = 2

_INLINE_HEADER = MAGIC + bytes([VERSION, KIND_INLINE, 0, 0])
_REFERENCE_HEADER = MAGIC + bytes([VERSION, KIND_REFERENCE, 0, 0])
_RECEIVER_POLL = 1e-3


class NoReceiverError(ShmRingError, ConnectionError):
    """No live receiver that reads message envelopes (version 1) is attached to the ring: none
    is, or the consumer is a plain one. Nothing was sent.

    Attributes: ``ring`` (its name) and ``announced`` (the envelope version the consumer's
    byte announces; 0 for none).
    """

    def __init__(self, ring, announced, waited=None):
        message = (
            "no receiver of message envelopes version {} is attached to ring {!r} (the "
            "consumer announces version {}; 0 means a plain consumer or none)".format(
                VERSION, ring, announced
            )
        )
        if waited is not None:
            message += " after waiting {} s".format(waited)
        super().__init__(message)
        self.ring = ring
        self.announced = announced


class LargeSetupError(ShmRingError, ValueError):
    """A sender or receiver could not be made: the ring is too small for a reference message,
    has no extension block (the original library's layout), or already has a live receiver.
    Attribute: ``ring``."""

    def __init__(self, message, ring):
        super().__init__(message)
        self.ring = ring


class EnvelopeError(ShmRingError, ValueError):
    """A received message's envelope is invalid (the message is consumed; the next receive
    reads the one after it).

    Attributes: ``field`` (``"length"``, ``"magic"``, ``"version"``, ``"kind"``,
    ``"padding"``, ``"reference"``) and ``value`` (what was found).
    """

    def __init__(self, message, field, value):
        super().__init__(message)
        self.field = field
        self.value = value


def decode(message):
    """The envelope of ``message`` (bytes): ``(KIND_INLINE, None)`` or ``(KIND_REFERENCE,
    PoolRef)``. Raises EnvelopeError (a bad reference: with the PoolRefError chained)."""
    n = len(message)
    if n < ENVELOPE_LEN:
        raise EnvelopeError(
            "a {}-byte message is shorter than the 8-byte message envelope".format(n), "length", n
        )
    magic = bytes(message[0:4])
    if magic != MAGIC:
        found = struct.unpack("<I", magic)[0]
        raise EnvelopeError(
            "not a message envelope: magic {:#010x}, expected 0x4d4c5253 (\"SRLM\")".format(found),
            "magic",
            found,
        )
    version, kind, pad0, pad1 = message[4], message[5], message[6], message[7]
    if version != VERSION:
        raise EnvelopeError(
            "message envelope version {}; this module reads version {}".format(version, VERSION),
            "version",
            version,
        )
    if pad0 or pad1:
        raise EnvelopeError(
            "message envelope padding is {!r}, not zero".format([pad0, pad1]),
            "padding",
            (pad0, pad1),
        )
    if kind == KIND_INLINE:
        return KIND_INLINE, None
    if kind != KIND_REFERENCE:
        raise EnvelopeError("message envelope of unknown kind {}".format(kind), "kind", kind)
    if n != REFERENCE_MESSAGE_LEN:
        raise EnvelopeError(
            "a pool-reference message is {} bytes, not {}".format(REFERENCE_MESSAGE_LEN, n),
            "length",
            n,
        )
    try:
        return KIND_REFERENCE, PoolRef.from_bytes(bytes(message[ENVELOPE_LEN:]))
    except ShmRingError as error:
        raise EnvelopeError(
            "bad pool reference in a message envelope: {}".format(error), "reference", error
        ) from error


class LargeSender:
    """The sending end of a large-message ring: ``LargeSender(producer, pool)`` over a
    :class:`ShmProducer` and a :class:`BufferPool`, which it then owns (``close()`` closes
    both). Sends messages of any size up to the pool's slot size in one call.

    ``try_send(data)`` returns True, or False when the ring or the pool has no room now;
    ``send(data, timeout)`` waits (for a receiver to attach, for room in the ring, for a free
    slot) and raises ShmTimeoutError or PeerGoneError. Both raise NoReceiverError while no
    receiver has announced itself, MessageTooLargeError past ``max_message_len``.

    >>> sender = LargeSender(ShmProducer("frames", 1 << 16), BufferPool.create_unique(4, 8 << 20))  # doctest: +SKIP
    >>> sender.send(frame_bytes, timeout=5.0)                                          # doctest: +SKIP
    """

    def __init__(self, producer, pool, inline_threshold=DEFAULT_INLINE_THRESHOLD):
        if producer.max_message_len < REFERENCE_MESSAGE_LEN:
            raise LargeSetupError(
                "ring {!r} carries messages of at most {} bytes; a large-message ring needs at "
                "least {}".format(producer.name, producer.max_message_len, REFERENCE_MESSAGE_LEN),
                producer.name,
            )
        self._producer = producer
        self._pool = pool
        self._threshold = 0
        self.set_inline_threshold(inline_threshold)

    @property
    def producer(self):
        """The ring's producer."""
        return self._producer

    @property
    def pool(self):
        """The pool large payloads travel through."""
        return self._pool

    @property
    def inline_threshold(self):
        """Payloads of up to this many bytes travel in the ring; larger ones through the pool."""
        return self._threshold

    def set_inline_threshold(self, threshold):
        """Set the inline threshold, capped at what the ring carries besides the envelope
        (``capacity - 12``); return the threshold in effect."""
        if not isinstance(threshold, int) or threshold < 0:
            raise ValueError("an inline threshold is an int >= 0, not {!r}".format(threshold))
        self._threshold = min(threshold, self._producer.max_message_len - ENVELOPE_LEN)
        return self._threshold

    @property
    def max_message_len(self):
        """The largest message this sender carries: the slot size, or the inline threshold if
        larger."""
        return max(self._pool.slot_size(), self._threshold)

    def _announced(self):
        """0 if a receiver that reads our envelope version is attached, else the version the
        consumer's byte announces (0 for none, or for one whose process is gone) or -1."""
        segment = self._producer._segment
        if segment.extension is None:
            return -1
        announced = segment.buf[segment.extension + RECEIVER_ENVELOPE]
        if announced != VERSION:
            return announced
        # The byte outlives a receiver that died; its lock does not.
        if _kernel.lock_held(segment.fd, RECEIVER_LOCK_BYTE) is False:
            return 0
        return None

    def has_receiver(self):
        """Whether a live receiver that reads envelopes is attached (checked by every send)."""
        return self._announced() is None

    def _require_receiver(self):
        announced = self._announced()
        if announced is not None:
            raise NoReceiverError(self._producer.name, max(announced, 0))

    def _check_len(self, n):
        if n > self._pool.slot_size():
            raise MessageTooLargeError(n, self.max_message_len)

    def try_send(self, data):
        """Send bytes-like ``data`` if there is room now (inline up to the threshold, else
        through a free slot); return False, sending nothing, if the ring or the pool is full.
        Raises NoReceiverError, MessageTooLargeError."""
        self._require_receiver()
        view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        n = len(view)
        producer = self._producer
        if n <= self._threshold:
            return producer.try_write(_INLINE_HEADER + bytes(view))
        self._check_len(n)
        # Only this producer uses up free space, so room seen now is still there below.
        if producer.writable_bytes() < 4 + REFERENCE_MESSAGE_LEN:
            return False
        try:
            loan = self._pool.try_acquire()
        except PoolExhaustedError:
            return False
        reference = self._fill_and_publish(loan, view, n)
        sent = producer.try_write(_REFERENCE_HEADER + reference.to_bytes())
        assert sent, "the ring's free space shrank under its only producer"
        return True

    def send(self, data, timeout=None):
        """Like try_send, waiting up to ``timeout`` seconds in all (None: forever) for a
        receiver to attach, for room in the ring and for a free slot. Raises NoReceiverError
        (no receiver within the timeout), ShmTimeoutError, PeerGoneError,
        MessageTooLargeError."""
        timeout = check_timeout(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wait_for_receiver(deadline, timeout)
        view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        n = len(view)
        producer = self._producer
        if n <= self._threshold:
            producer.write(_INLINE_HEADER + bytes(view), timeout=_left(deadline))
            return
        self._check_len(n)
        grant = producer.reserve(REFERENCE_MESSAGE_LEN, timeout=_left(deadline))
        try:
            loan = self._pool.acquire(_left(deadline))
            reference = self._fill_and_publish(loan, view, n)
        except BaseException:
            grant.release()
            raise
        grant.copy_from(_REFERENCE_HEADER + reference.to_bytes())
        grant.commit()

    def try_loan(self):
        """A free pool slot to fill in place, with room for its reference reserved in the ring,
        as a :class:`LargeLoan`; None if the ring or the pool is full. The zero-copy form of
        try_send: fill ``loan.data``, then ``loan.commit(length)``; ``loan.release()`` sends
        nothing and gives the slot back. While the loan is open the producer takes no other
        write (BusyError). Raises NoReceiverError."""
        self._require_receiver()
        grant = self._producer.try_reserve(REFERENCE_MESSAGE_LEN)
        if grant is None:
            return None
        try:
            slot = self._pool.try_acquire()
        except PoolExhaustedError:
            grant.release()
            return None
        except BaseException:
            grant.release()
            raise
        return LargeLoan(grant, slot)

    def loan(self, timeout=None):
        """Like try_loan, waiting up to ``timeout`` seconds in all (None: forever), as
        :meth:`send` does. Raises NoReceiverError, ShmTimeoutError, PeerGoneError."""
        timeout = check_timeout(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wait_for_receiver(deadline, timeout)
        grant = self._producer.reserve(REFERENCE_MESSAGE_LEN, timeout=_left(deadline))
        try:
            slot = self._pool.acquire(_left(deadline))
        except BaseException:
            grant.release()
            raise
        return LargeLoan(grant, slot)

    def _fill_and_publish(self, loan, view, n):
        try:
            loan.copy_from(view)
            return loan.publish(n)
        except BaseException:
            loan.release()
            raise

    def _wait_for_receiver(self, deadline, timeout):
        while True:
            announced = self._announced()
            if announced is None:
                return
            left = _left(deadline)
            if left is not None and left <= 0:
                raise NoReceiverError(self._producer.name, max(announced, 0), timeout)
            # Attaching wakes nobody: look again shortly.
            time.sleep(_RECEIVER_POLL if left is None else min(left, _RECEIVER_POLL))

    def close(self):
        """Close the producer and the pool (the pool's owner removes its name)."""
        self._producer.close()
        self._pool.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class LargeLoan:
    """A pool slot lent by :meth:`LargeSender.try_loan` or :meth:`LargeSender.loan` to fill in
    place, with room for its reference reserved in the ring. ``data`` is a writable memoryview
    of the slot's ``slot_size`` bytes (``numpy.frombuffer(loan.data, dtype)`` wraps it without
    a copy); ``commit(length)`` sends its first ``length`` bytes; ``release()``, or leaving a
    ``with`` block uncommitted, sends nothing and gives the slot back."""

    __slots__ = ("_grant", "_slot")

    def __init__(self, grant, slot):
        self._grant = grant
        self._slot = slot

    @property
    def data(self):
        """The slot's bytes in place, writable. ``commit()`` raises BusyError while anything
        made from it is alive."""
        return self._slot.data

    def __len__(self):
        return len(self._slot)

    def copy_from(self, data, offset=0):
        """Copy bytes-like ``data`` into the slot at byte ``offset``."""
        self._slot.copy_from(data, offset)

    @property
    def closed(self):
        """Whether the loan has been committed or released."""
        return self._slot.closed

    def commit(self, length):
        """Publish the slot's first ``length`` bytes and send the reference. Raises
        PublishTooLargeError past the slot size (nothing is sent; the slot goes back),
        BusyError (nothing done) while anything made from ``data`` is alive."""
        grant = self._grant
        try:
            reference = self._slot.publish(length)
        except BaseException:
            if self._slot.closed:
                grant.release()
            raise
        grant.copy_from(_REFERENCE_HEADER + reference.to_bytes())
        grant.commit()

    def release(self):
        """Send nothing and give the slot back. Idempotent."""
        if not self._slot.closed:
            self._slot.release()
        self._grant.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False

    def __repr__(self):
        return "<LargeLoan slot={} {}>".format(
            self._slot.slot, "closed" if self.closed else "open"
        )


class LargeMessage:
    """One message from a :class:`LargeReceiver`. ``data`` is a read-only memoryview of its
    bytes: a copy for a message that travelled inline, the pool slot in place for one that
    travelled by reference (``is_by_reference``). ``release()``, or the end of a ``with``
    block, returns the slot to the pool (BusyError while anything made from ``data`` is
    alive); a message that is garbage-collected releases itself."""

    __slots__ = ("_inline", "_view", "_closed")

    def __init__(self, inline=None, view=None):
        self._inline = inline
        self._view = view
        self._closed = False

    @property
    def is_by_reference(self):
        """Whether the message travelled by reference (read in place in a pool slot)."""
        return self._view is not None

    @property
    def data(self):
        """The message's bytes as a read-only memoryview. Raises ClosedError once released."""
        if self._closed:
            raise ClosedError("the message has been released")
        if self._view is not None:
            return self._view.data
        return self._inline

    def __len__(self):
        return len(self._view) if self._view is not None else len(self._inline)

    def tobytes(self):
        """A copy of the message as bytes."""
        return bytes(self.data)

    @property
    def closed(self):
        """Whether the message has been released."""
        return self._closed

    def release(self):
        """Return the slot to the pool (nothing for an inline message). Idempotent."""
        if self._closed:
            return
        if self._view is not None:
            self._view.release()
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False

    def __repr__(self):
        return "<LargeMessage len={} {}{}>".format(
            len(self),
            "by reference" if self._view is not None else "inline",
            " closed" if self._closed else "",
        )


class LargeReceiver:
    """The receiving end of a large-message ring: ``LargeReceiver(consumer)`` over a
    :class:`ShmConsumer`, which it then owns. Announces, in the ring's extension block, that
    it reads envelopes, and holds the ring's receiver lock until ``close()``.

    ``try_recv()`` returns a :class:`LargeMessage` or None; ``recv(timeout)`` waits and raises
    ShmTimeoutError or PeerGoneError. A message whose envelope is invalid (EnvelopeError),
    whose pool cannot be opened (NotFoundError, ...) or whose reference does not resolve
    (StaleError, SlotOutOfRangeError, WrongPoolError, ...) is consumed and raised; the next
    call reads the one after it. The pool is the one the first reference names, opened then
    and kept. Messages may be held several at a time and released in any order.
    """

    def __init__(self, consumer):
        segment = consumer._segment
        if segment.extension is None:
            raise LargeSetupError(
                "ring {!r} has no shm_ring extension block: its producer cannot learn that this "
                "receiver reads envelopes".format(consumer.name),
                consumer.name,
            )
        if _kernel.take_lock(segment.fd, RECEIVER_LOCK_BYTE) is False:
            raise LargeSetupError(
                "ring {!r} already has a live large-message receiver".format(consumer.name),
                consumer.name,
            )
        # The lock first, the byte second: a sender that sees both sees a live receiver.
        segment.buf[segment.extension + RECEIVER_ENVELOPE] = VERSION
        self._consumer = consumer
        self._pool = None

    @property
    def name(self):
        """The ring's name."""
        return self._consumer.name

    @property
    def consumer(self):
        """The ring's consumer."""
        return self._consumer

    @property
    def pool(self):
        """The pool references are resolved in, once the first one has named it (else None)."""
        return self._pool

    def try_recv(self):
        """The next message, or None if none is waiting. Never waits."""
        message = self._consumer.try_read_bytes()
        if message is None:
            return None
        return self._deliver(message)

    def recv(self, timeout=None):
        """The next message, waiting up to ``timeout`` seconds (None: forever). Raises
        ShmTimeoutError, PeerGoneError (the sender is gone and everything it sent was read)."""
        return self._deliver(self._consumer.read_bytes(timeout))

    def _deliver(self, message):
        kind, reference = decode(message)
        if kind == KIND_INLINE:
            return LargeMessage(inline=memoryview(message)[ENVELOPE_LEN:])
        pool = self._pool
        if pool is None:
            pool = self._pool = BufferPool.open(reference.pool)
        return LargeMessage(view=pool.resolve(reference))

    def close(self):
        """Withdraw the announcement and close the consumer (which drops the receiver lock).
        The pool handle closes now if no message is open, else with the last of them."""
        consumer = self._consumer
        if not consumer.closed:
            segment = consumer._segment
            segment.buf[segment.extension + RECEIVER_ENVELOPE] = 0
            consumer.close()
        pool = self._pool
        if pool is not None:
            try:
                pool.close()
            except ShmRingError:
                pass  # messages still open hold it; it goes with them

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _left(deadline):
    """Seconds left until ``deadline`` (None: forever), never negative."""
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())
