"""The producer and consumer ends of the ring.

Indices are kept locally and published with one aligned 4-byte store of a memoryview cast to
'I'; the other side's index is re-read only when the cached copy says there is not enough room
(producer) or nothing left (consumer). Every index is reduced modulo 2**32, and a distance
``head - tail`` above the capacity is taken as a torn or stale read: the producer sees the ring
as full, the consumer as empty, and both look again later. See ``_order`` for the barriers.

After publishing its index, each side loads the other side's flag byte in the extension block
past the data area (one byte load, on a cache line of its own) and, only if the SLEEPING bit
is set there, wakes it through futex (see ``_wait.Waiter``). A consumer of a ring without an
extension block (the original library's) has no flag byte to look at and never wakes anyone.
Blocking calls wait through the ring's Waiter, which sleeps in the kernel and notices a dead
peer.

Store, then flag load. Every publication (try_write, _publish for batches and commits, _take,
_advance for the read grants, _read_batch) stores its own index and
then loads the other side's flag byte; a sleeper that has set SLEEPING and issued membarrier
relies on that order. Nothing can swap the two in the compiled code: the store and the load
are each made by a separate C function of memoryview (its item-assignment and subscript slots),
which the interpreter reaches through a function pointer of the type, between two bytecodes.
A compiler must keep memory accesses on both sides of a call it cannot see through, so the
store is done before the load begins in program order. The CPU may still let the load pass
the store (even x86 does, through its store buffer); that is what the sleeper's membarrier is
for: it runs a full barrier on the publisher's CPU, so that either the sleeper's futex sees
the new index or the publisher's load sees SLEEPING.

Interrupts. A signal handler (SIGINT's raises KeyboardInterrupt) runs between two bytecodes,
where the interpreter checks for pending signals: on entry to a Python function, after a call
to a C function returns, on a loop's back edge. So an exception can come out of nearly any
call made here. The rule is that it may abort a call but never leaves the ring or the object
inconsistent, and never loses a message that was consumed:

* every update of shared and local state that goes with one publication (the index store, the
  local copy of the index, the open grant) is made by plain assignments,
  with no call in between, so no signal can land among them; everything that can be
  interrupted before them (copying, checking, barriers) can simply be done again;
* the wake-up after a publication runs inside ``try``: an exception raised there (the only
  place one can come from once the message is published or consumed) is kept, the call
  returns its result, and the next call on the object (any call, ``close()`` included, after
  it has closed) raises the kept exception before it does anything else.
"""

from __future__ import annotations

import enum
import os
import struct
from typing import Iterable, List, Optional, Tuple, Union

from . import _kernel, _order
from ._errors import (
    BufferTooSmallError,
    BusyError,
    ClosedError,
    CorruptedError,
    EmptyMessageError,
    MessageTooLargeError,
    NotFoundError,
    NotReadyError,
    ShmRingError,
)
from ._layout import (
    HEADER_LEN,
    INDEX_MASK,
    MAX_REQUEST,
    bare_name,
    original_capacity,
    original_segment_len,
    round_capacity,
    segment_len,
)
from ._segment import (
    PrivateMapping,
    attach,
    create_memory_ring,
    create_segment,
    open_memory_ring,
    open_segment,
    unlink_if_same,
)
from ._wait import Waiter, check_timeout, wait_for

#: Any object supporting the buffer protocol: bytes, bytearray, memoryview, array.array, NumPy
#: arrays... (typing has no name for it before Python 3.12's collections.abc.Buffer).
Buffer = Union[bytes, bytearray, memoryview]

_PREFIX = struct.Struct("<I")
_pack_prefix = _PREFIX.pack_into
_unpack_prefix = _PREFIX.unpack_from
_M32 = INDEX_MASK
_H = HEADER_LEN
_END = object()
# After publishing, each side tests the other side's SLEEPING bit. The hot paths spell the
# bit as a literal (a constant is cheaper than a global in CPython); this name documents it.
_SLEEPING = 1
assert _SLEEPING == _kernel.SLEEPING


def _barrier_for_new_ring():
    """Whether a ring created now advertises BARRIER: membarrier registration succeeded and
    this process can also wake a sleeper (a peer sleeping on our word relies on that)."""
    return _kernel.futex_available() and _kernel.barrier_registered()


def _byte_view(data):
    """``data`` as something a slice of a 'B' memoryview can be assigned from, without copying.

    bytes is returned as is; any other bytes-like object becomes a flat 'B' memoryview of the
    same memory. A non-contiguous buffer (e.g. a strided array) cannot be viewed flat and is
    copied once. Raises TypeError for objects that are not bytes-like.
    """
    if type(data) is bytes:
        return data
    view = memoryview(data)
    if view.format == "B" and view.ndim == 1 and view.c_contiguous:
        return view
    try:
        return view.cast("B")
    except TypeError:
        return view.tobytes()


def _check_count(value, what):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("{} must be an int, not {}".format(what, type(value).__name__))
    if value < 0:
        raise ValueError("{} must be >= 0, got {}".format(what, value))
    return value


def _release_memory(memory, what):
    """Release a grant's private mapping (see PrivateMapping), or raise
    BusyError while something still holds its memory."""
    try:
        memory.release()
    except BufferError:
        raise BusyError(
            "the {}'s memory is still in use: something made from its parts (a memoryview, "
            "a slice, a NumPy array, a ctypes object, an iterator...) is alive; drop it "
            "first".format(what)
        ) from None


_EMPTY_READONLY = memoryview(b"")
_EMPTY_WRITABLE = memoryview(bytearray())


class _NoMemory:
    """The parts of a zero-length message (another producer's): nothing is mapped."""

    __slots__ = ()

    @staticmethod
    def parts():
        return (memoryview(b"").toreadonly(),)

    def release(self):
        pass

    drop = release


class PeerState(enum.Enum):
    """What one end of a ring knows of the other end (``peer_state()``).

    The answer is a snapshot: an ALIVE peer may exit right after, and a GONE consumer may be
    replaced by a new one attaching. Blocking calls keep checking while they wait, and end
    with PeerGoneError once the peer is gone.
    """

    #: The peer's process holds its liveness lock on the segment.
    ALIVE = "alive"
    #: The peer held its lock and has let go: its process exited or was killed, or it closed
    #: its end.
    GONE = "gone"
    #: The peer announces nothing: it has not attached yet, is a program of the original
    #: library, or this system has no liveness locks to tell by.
    UNKNOWN = "unknown"


_PEER_STATES = {True: PeerState.ALIVE, False: PeerState.GONE, None: PeerState.UNKNOWN}


class _RingEnd:
    """What the producer and the consumer share: the segment and its mapping, the waiting
    and waking (through a Waiter), the queries, the one open grant, the exception kept from
    an interrupted wake-up, and closing."""

    _role = "end"

    def _bind_end(self, segment, capacity, fence):
        self._segment = segment
        # Only the process that made this end removes the name or wakes the peer on close (a
        # forked child's copy never).
        self._pid = os.getpid()
        self._waiter = Waiter(self._role, segment, segment.flags, fence)
        self._wake = self._waiter.wake
        self._peer_flag = self._waiter.peer_at
        self._mm = segment.mm
        self._buf = segment.buf
        self._rbuf = segment.rbuf
        self._words = segment.words
        self._fence = fence
        self._cap = capacity
        self._mask = capacity - 1
        self._max = capacity - 4
        self._grant = None
        self._released = False
        self._closed = False

    # -- queries ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The segment name, without a leading '/' (``""`` for a ring in caller memory)."""
        return self._name

    @property
    def capacity(self) -> int:
        """Size of the data area in bytes (a power of two), fixed when the ring was made."""
        return self._cap

    @property
    def max_message_len(self) -> int:
        """The largest payload this ring carries, in bytes: ``capacity - 4``."""
        return self._max

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._closed

    def readable_bytes(self) -> int:
        """Bytes published and not yet consumed, length prefixes included (a message of n
        bytes takes ``n + 4``). Raises ClosedError once closed."""
        return self._used()

    def writable_bytes(self) -> int:
        """Free bytes in the ring, ``capacity - readable_bytes()``: a message of n bytes
        needs ``n + 4``. Raises ClosedError once closed."""
        return self._cap - self._used()

    def is_empty(self) -> bool:
        """Whether every message published so far has been consumed."""
        return self._used() == 0

    def peer_state(self) -> PeerState:
        """What is known of the other end: ``PeerState.ALIVE``, ``PeerState.GONE`` (it
        attached and is gone: its process ended or it closed the ring) or
        ``PeerState.UNKNOWN`` (it announces nothing: not attached yet, the original library's,
        or no liveness locks on this system). Raises ClosedError once closed."""
        self._check_open()
        return _PEER_STATES[self._waiter.alive()]

    def __repr__(self):
        state = "closed" if self._closed else "capacity={}".format(self._cap)
        return "<{} {!r} {}>".format(type(self).__name__, getattr(self, "_name", None), state)

    # -- internals -------------------------------------------------------------------------

    def _check_open(self):
        if self._pending is not None:
            self._raise_pending()
        if self._closed:
            raise ClosedError("the {} of {!r} is closed".format(self._role, self._name))

    def _raise_pending(self):
        """Raise the exception kept from an interrupted wake-up (see the module docstring)."""
        error = self._pending
        self._pending = None
        raise error

    def _check_usable(self):
        self._check_open()
        if self._grant is not None:
            raise BusyError(
                "a {} is open: commit or release it first".format(self._grant._what)
            )

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        if not self._released:
            self._closed = True
            creator = os.getpid() == self._pid
            try:
                try:
                    self._before_let_go(creator)
                except ShmRingError:
                    raise
                except BaseException as error:
                    # An interrupt: every step can be done again, and must be done while the
                    # descriptor (and so the liveness lock) is held. Raised at the end.
                    self._pending = error
                    self._before_let_go(creator)
            finally:
                try:
                    self._let_go(creator)
                except BaseException as error:  # an interrupt: finish, raise it at the end
                    self._pending = error
                    self._let_go(creator)
        if self._pending is not None:
            self._raise_pending()

    def _before_let_go(self, creator):
        """Close the open grant, if any, without committing it."""
        grant = self._grant
        if grant is not None:
            grant._drop()

    def _let_go(self, creator):
        """Close the descriptor, wake a sleeping peer (only in the process that made this end)
        and unmap, which releases the liveness lock unless a forked child still holds it. Each
        step can be done again."""
        segment = self._segment
        if segment.fd is not None:
            segment.close_fd()
            if creator:
                self._waiter.closing()
        segment.close()
        self._released = True
        self._mm = self._buf = self._rbuf = self._words = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self._pending = None
        try:
            self.close()
        except Exception:
            pass


class ShmProducer(_RingEnd):
    """The writing end: creates the segment and writes messages into it.

    ``ShmProducer(name, capacity, *, mode=0o600, exclusive=False, start_index=0,
    unlink_on_close=False)``

    * ``name``: 1 to 30 characters of ``[A-Za-z0-9._-]``, optionally after one ``/``.
    * ``capacity``: requested data-area size in bytes, 1 to 2**31. The ring uses the smallest
      power of two at least that large (and at least 8): 100 makes 128. It carries messages
      of up to ``capacity - 4`` bytes; ``capacity_for_message(n)`` gives the capacity to
      request for messages of up to ``n`` bytes. The object is exactly the 16-byte header,
      the data area and the 64-byte extension block at the first 64-byte boundary past it.
    * ``mode``: permission bits of the new object, applied exactly (the umask does not apply).
    * ``exclusive``: fail with AlreadyExistsError if the name exists. Otherwise an existing
      object of that name is replaced (unlinked first, as the original library's producer
      does), unless a live producer holds it: then InUseError, and nothing is touched. A
      consumer still attached to a replaced object keeps reading the old one.
    * ``start_index``: initial head and tail (any u32), to exercise the 2**32 wrap.
    * ``unlink_on_close``: unlink the name on ``close()``, if it still refers to this
      producer's object and ``close()`` runs in the process that created the producer (never
      in a forked child). Otherwise the segment outlives the producer until ``unlink()``.

    Not thread-safe: one thread writes at a time.
    """

    _role = "producer"

    def __init__(
        self,
        name: str,
        capacity: int,
        *,
        mode: int = 0o600,
        exclusive: bool = False,
        start_index: int = 0,
        unlink_on_close: bool = False,
    ) -> None:
        ring_capacity = round_capacity(capacity)
        self._create(
            name,
            ring_capacity,
            segment_len(ring_capacity),
            mode,
            exclusive,
            start_index,
            unlink_on_close,
        )

    @classmethod
    def _with_original_sizing(cls, name, requested):
        """A producer that sizes its ring as the original library does (for the drop-in
        module): the largest power of two not above ``requested`` (8 ..= 2**32 - 1), in an
        object of ``16 + requested`` bytes, or more when the extension block needs it."""
        self = cls.__new__(cls)
        self._closed = True
        self._released = True
        self._pending = None
        self._create(
            name, original_capacity(requested), original_segment_len(requested), 0o600, False, 0, False
        )
        return self

    def _create(self, name, ring_capacity, size, mode, exclusive, start_index, unlink_on_close):
        bare = bare_name(name)
        if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o7777:
            raise ValueError("mode must be an int from 0 to 0o7777, got {!r}".format(mode))
        if (
            isinstance(start_index, bool)
            or not isinstance(start_index, int)
            or not 0 <= start_index <= MAX_REQUEST
        ):
            raise ValueError(
                "start_index must be an int from 0 to {}, got {!r}".format(MAX_REQUEST, start_index)
            )
        self._closed = True
        self._released = True
        self._pending = None
        self._unlink_on_close = bool(unlink_on_close)
        fence = _order.fence_for_new_ring()
        segment = create_segment(
            bare,
            size,
            ring_capacity,
            mode,
            bool(exclusive),
            start_index,
            fence,
            _barrier_for_new_ring(),
        )
        self._bind(bare, segment, ring_capacity, fence, start_index, start_index)

    def _bind(self, name, segment, capacity, fence, head, tail):
        """Take ``segment`` (its ring of ``capacity`` bytes) as this producer's, writing on at
        stream index ``head`` with the consumer's tail last seen at ``tail``."""
        self._name = name
        self._head = head
        self._tail_cache = tail
        # The consumer's flag byte, or None for a ring without the extension block (see
        # ``_resume``).
        self._bind_end(segment, capacity, fence)

    def _used(self):
        """Bytes in use as this producer sees them; a torn tail counts as a full ring."""
        self._check_open()
        used = (self._head - self._words[1]) & _M32
        return self._cap if used > self._cap else used

    def _checked(self, data):
        view = _byte_view(data)
        n = len(view)
        if n == 0:
            raise EmptyMessageError()
        if n > self._max:
            raise MessageTooLargeError(n, self._max)
        return view, n

    def _room(self, need):
        """Whether ``need`` bytes are free, re-reading the shared tail only if the cached one
        says they are not."""
        head = self._head
        cap = self._cap
        if need <= cap - ((head - self._tail_cache) & _M32):
            return True
        tail = self._words[1]
        if self._fence is not None:
            self._fence()
        used = (head - tail) & _M32
        if used > cap:
            return False
        self._tail_cache = tail
        return need <= cap - used

    def _put_prefix(self, pos, n):
        """Write length prefix ``n`` at data-area offset ``pos``; return the payload's offset."""
        cap = self._cap
        if pos <= cap - 4:
            _pack_prefix(self._buf, _H + pos, n)
            pos += 4
            return 0 if pos == cap else pos
        buf = self._buf
        first = cap - pos
        prefix = n.to_bytes(4, "little")
        buf[_H + pos : _H + cap] = prefix[:first]
        buf[_H : _H + 4 - first] = prefix[first:]
        return 4 - first

    def _put_record(self, pos, view, n):
        p = self._put_prefix(pos, n)
        cap = self._cap
        end = p + n
        if end <= cap:
            self._buf[_H + p : _H + end] = view
        else:
            buf = self._buf
            first = cap - p
            if type(view) is bytes:
                view = memoryview(view)
            buf[_H + p : _H + cap] = view[:first]
            buf[_H : _H + n - first] = view[first:]

    def _publish(self, head, reservation=None):
        """Publish ``head`` (and close ``reservation``, if given, in the same step)."""
        before = self._head
        if self._fence is not None:
            self._fence()
        # From the store to the end of the step: assignments only (see the module docstring).
        self._words[0] = head
        self._head = head
        if reservation is not None:
            self._grant = None
            reservation._open = False
        try:
            if self._buf[self._peer_flag] & 1:  # the consumer's SLEEPING bit
                self._wake_consumer(before)
        except BaseException as error:  # an interrupt: the message is out, raise it next call
            self._pending = error

    def _wake_consumer(self, before):
        """The consumer's SLEEPING bit was seen after publishing the head that followed
        ``before``: wake it, unless it cannot be asleep on ``before``.

        A consumer sleeps on a head value only once it has read everything up to it, so a
        sleep this publication has to end is one on ``before``, and then the shared tail is
        ``before`` (the consumer stores its tail before its flag byte). While the tail is
        elsewhere the consumer is either still waking from an earlier wake-up or sleeping on
        an older head, which the kernel sees has changed; waking it again would only cost a
        system call per message until it gets to run and clears its bit.
        """
        if self._fence is not None:
            self._fence()
        if self._words[1] == before:
            self._wake()

    def _try_put(self, view, n):
        if not self._room(n + 4):
            return None
        head = self._head
        self._put_record(head & self._mask, view, n)
        self._publish((head + n + 4) & _M32)
        return True

    # -- writing ---------------------------------------------------------------------------

    def try_write(self, data: Buffer) -> bool:
        """Write one message if it fits now. Returns True if written, False if the ring is full.

        ``data``: any bytes-like object (bytes, bytearray, memoryview, array.array, numpy
        arrays, ...), copied straight into the ring. Raises EmptyMessageError for an empty one
        and MessageTooLargeError for one above ``max_message_len``.
        """
        if self._closed or self._grant is not None or self._pending is not None:
            self._check_usable()
        view = data if type(data) is bytes else _byte_view(data)
        n = len(view)
        if n == 0 or n > self._max:
            self._checked(view)
        need = n + 4
        head = self._head
        cap = self._cap
        if need > cap - ((head - self._tail_cache) & _M32) and not self._room(need):
            return False
        pos = head & self._mask
        buf = self._buf
        if pos + need <= cap:
            at = _H + pos
            _pack_prefix(buf, at, n)
            buf[at + 4 : at + need] = view
        else:
            self._put_record(pos, view, n)
        before = head
        head = (head + need) & _M32
        if self._fence is not None:
            self._fence()
        # From the store on: assignments only, then the wake-up (as in _publish).
        self._words[0] = head
        self._head = head
        try:
            if buf[self._peer_flag] & 1:  # the consumer's SLEEPING bit
                self._wake_consumer(before)
        except BaseException as error:
            self._pending = error
        return True

    def write(self, data: Buffer, timeout: Optional[float] = None) -> None:
        """Write one message, waiting while the ring is full.

        ``timeout``: seconds, or None to wait forever. Raises ShmTimeoutError when it runs out.
        """
        if self.try_write(data):
            return
        timeout = check_timeout(timeout)
        view, n = self._checked(data)
        self._waiter.wait(lambda: self._try_put(view, n), timeout, "space")

    def _put_batch(self, first, items):
        """Write ``first`` (already checked) then messages from iterator ``items`` while they
        fit; publish head once. Returns the number written."""
        cap = self._cap
        mask = self._mask
        limit = self._max
        checked = _byte_view
        put = self._put_record
        pack = _pack_prefix
        buf = self._buf
        head = self._head
        free = cap - ((head - self._tail_cache) & _M32)
        refreshed = False
        count = 0
        error = None
        while True:
            if first is not None:
                view, n = first
                first = None
            else:
                data = next(items, _END)
                if data is _END:
                    break
                view = data if type(data) is bytes else checked(data)
                n = len(view)
                if n == 0:
                    error = EmptyMessageError()
                    break
                if n > limit:
                    error = MessageTooLargeError(n, limit)
                    break
            need = n + 4
            if need > free:
                if not refreshed:
                    refreshed = True
                    tail = self._words[1]
                    if self._fence is not None:
                        self._fence()
                    used = (head - tail) & _M32
                    if used <= cap:
                        self._tail_cache = tail
                        free = cap - used
                if need > free:
                    break
            pos = head & mask
            if pos + need <= cap:
                at = _H + pos
                pack(buf, at, n)
                buf[at + 4 : at + need] = view
            else:
                put(pos, view, n)
            head = (head + need) & _M32
            free -= need
            count += 1
        if count:
            self._publish(head)
        if error is not None:
            error.written = count
            raise error
        return count

    def try_write_batch(self, messages: Iterable[Buffer]) -> int:
        """Write messages from the iterable, in order, as long as they fit; publish once.

        Returns how many were written (0 if the first does not fit). Stops at the first message
        that does not fit: that message is not written, and if ``messages`` is an iterator it has
        been taken from it (pass a sequence to resume with ``messages[count:]``). An empty or
        too-large message raises after the ones before it have been published; the exception's
        ``written`` attribute says how many.
        """
        self._check_usable()
        items = iter(messages)
        data = next(items, _END)
        if data is _END:
            return 0
        try:
            first = self._checked(data)
        except (EmptyMessageError, MessageTooLargeError) as error:
            error.written = 0
            raise
        return self._put_batch(first, items)

    def write_batch(self, messages: Iterable[Buffer], timeout: Optional[float] = None) -> int:
        """Like try_write_batch, but first waits (up to ``timeout`` seconds, None = forever) for
        room for the first message. Returns how many were written (at least 1 unless
        ``messages`` is empty)."""
        self._check_usable()
        timeout = check_timeout(timeout)
        items = iter(messages)
        data = next(items, _END)
        if data is _END:
            return 0
        try:
            first = self._checked(data)
        except (EmptyMessageError, MessageTooLargeError) as error:
            error.written = 0
            raise
        need = first[1] + 4
        if not self._room(need):
            self._waiter.wait(lambda: True if self._room(need) else None, timeout, "space")
        return self._put_batch(first, items)

    # -- zero-copy writing -----------------------------------------------------------------

    def _reserve_now(self, length):
        if not self._room(length + 4):
            return None
        cap = self._cap
        pos = self._head & self._mask
        p = (pos + 4) & self._mask
        if p + length <= cap:
            spans = ((_H + p, _H + p + length),)
        else:
            spans = ((_H + p, _H + cap), (_H, _H + p + length - cap))
        grant = WriteGrant(self, pos, PrivateMapping(self._segment, spans, True), length)
        self._grant = grant
        return grant

    def _check_length(self, length):
        if isinstance(length, bool) or not isinstance(length, int):
            raise TypeError("a message length must be an int, not {}".format(type(length).__name__))
        if length <= 0:
            if length == 0:
                raise EmptyMessageError()
            raise ValueError("a message length must be positive, got {}".format(length))
        if length > self._max:
            raise MessageTooLargeError(length, self._max)

    def try_reserve(self, length: int) -> Optional[WriteGrant]:
        """Reserve room for a ``length``-byte message to be filled in place.

        Returns a WriteGrant, or None if the ring is full (never a timeout). Fill it with
        ``grant.copy_from(data, offset=0)`` or through ``grant.as_slices()`` (two writable
        memoryviews, the second empty unless the payload wraps around the end of the ring),
        then ``commit()``. Nothing is published until then; ``release()`` (or leaving a
        ``with`` block without committing) publishes nothing. No other write is allowed while
        it is open (BusyError). Raises EmptyMessageError for 0, MessageTooLargeError above
        ``max_message_len``.
        """
        self._check_usable()
        self._check_length(length)
        return self._reserve_now(length)

    def reserve(self, length: int, timeout: Optional[float] = None) -> WriteGrant:
        """Like try_reserve, but waits up to ``timeout`` seconds (None = forever) for room.

        Never returns None: raises ShmTimeoutError when the time runs out and PeerGoneError once
        the consumer is gone."""
        self._check_usable()
        self._check_length(length)
        reservation = self._reserve_now(length)
        if reservation is None:
            reservation = self._waiter.wait(
                lambda: self._reserve_now(length), check_timeout(timeout), "space"
            )
        return reservation

    def _commit(self, reservation, length):
        self._put_prefix(reservation._pos, length)
        self._publish((self._head + length + 4) & _M32, reservation)

    # -- draining and lifetime -------------------------------------------------------------

    def wait_until_empty(self, timeout: Optional[float] = None) -> None:
        """Wait until the consumer has read everything written (shared tail == head)."""
        self._check_open()
        timeout = check_timeout(timeout)

        def drained():
            tail = self._words[1]
            if self._fence is not None:
                self._fence()
            if tail == self._head:
                self._tail_cache = tail
                return True
            return None

        self._waiter.wait(drained, timeout, "the consumer to read everything")

    def unlink(self) -> bool:
        """Remove the segment's name if it still refers to this producer's object.

        Returns True if it was removed, False if the name is gone or was re-created by someone
        else. Consumers already attached keep their mapping.
        """
        return unlink_if_same(self._name, self._segment.dev, self._segment.ino)

    def close(self) -> None:
        """Unmap the segment (an open write grant is released, publishing nothing). Unlinks
        the name only if ``unlink_on_close`` was given and this is the process that created
        the producer. Idempotent.

        In a child made by ``fork()`` the producer's copy only lets go of its descriptor and
        mapping: it neither unlinks the name nor wakes the consumer, and writes nothing to the
        segment. The liveness lock stays held until the parent closes too (it belongs to the
        open file description the two processes share).
        """
        _RingEnd.close(self)

    def _before_let_go(self, creator):
        _RingEnd._before_let_go(self, creator)
        if self._unlink_on_close and creator and self._segment.fd is not None:
            self.unlink()

    # -- taking over a ring --------------------------------------------------------------

    @classmethod
    def open(cls, name: str) -> "ShmProducer":
        """Take over the producer role of the existing ring ``name``, whose producer is gone,
        and write on after what is already in it: messages published and not yet read stay,
        and the consumer (attached or to come) reads them first.

        This is how a restarted producer process continues its stream, and how a ring of the
        original library's layout, made by a program that has ended, is written to. Only the
        layout the header describes is mapped (the header is checked first), the producer's
        flag byte is written only if the ring has the extension block, and nothing else of the
        header changes. A tail more than ``capacity`` bytes behind the head reads as a full
        ring. The segment keeps its size, mode and name: ``close()`` never unlinks it.

        Raises InUseError (``holder == "producer"``) while a live producer holds the ring, and
        what ``ShmConsumer(name)`` raises for a segment that is missing (NotFoundError), not
        initialised yet (NotReadyError) or not a valid ring (InvalidCapacityError,
        SegmentTooSmallError).
        """
        bare = bare_name(name)
        fence = _order.fence_for_new_ring()
        segment, capacity = open_segment(bare, fence)
        attach(segment, _barrier_for_new_ring(), "producer")
        return cls._resume(bare, segment, capacity, fence)

    # -- rings in caller-provided memory ---------------------------------------------------

    @classmethod
    def _in_memory(cls, buffer, *, create, start_index=0):
        """A producer of a ring in the writable bytes-like ``buffer`` (4-byte aligned), laid
        out as the original library lays one out: header and data area only.

        ``create``: write a fresh header (capacity: the largest power of two not above
        ``len(buffer) - 16``); otherwise attach to the header there and resume at its shared
        head. No name, no liveness, no extension block: waits poll, and nothing outside the
        memory is touched.
        """
        fence = _order.fence_for_new_ring()
        if create:
            segment, capacity = create_memory_ring(buffer, start_index, fence)
        else:
            segment, capacity = open_memory_ring(buffer, fence)
        return cls._resume("", segment, capacity, fence)

    @classmethod
    def _resume(cls, name, segment, capacity, fence):
        """A producer of the validated ``segment`` (its ring of ``capacity`` bytes; its lock
        and flag byte, if any, already taken and written), writing on at the shared head: what
        was published stays, unread or not."""
        self = cls.__new__(cls)
        self._closed = True
        self._released = True
        self._pending = None
        self._unlink_on_close = False
        head = segment.words[0]
        tail = segment.words[1]
        # A torn or stale tail counts as a full ring until the next look.
        if (head - tail) & _M32 > capacity:
            tail = (head - capacity) & _M32
        self._bind(name, segment, capacity, fence, head, tail)
        if segment.extension is None:
            # There is no consumer flag byte: the reserved word's first byte stands in for it.
            # Its SLEEPING bit means nothing there, and waking without futex does nothing.
            self._peer_flag = HEADER_LEN - 4
        return self


class ShmConsumer(_RingEnd):
    """The reading end: attaches to a producer's segment and reads messages from it.

    ``ShmConsumer(name, *, timeout=0)``: ``timeout`` is how long to wait for the segment to
    exist and be initialised (0 = try once, None = forever). Retries NotFoundError and
    NotReadyError until then, then raises ShmTimeoutError (its ``last`` attribute holds the last
    of those errors). Raises InUseError at once if a live consumer is attached to the ring.

    The consumer maps the segment read-write (it writes ``tail``), resumes at the shared tail,
    and never unlinks the segment. Not thread-safe: one thread reads at a time.
    """

    _role = "consumer"

    def __init__(self, name: str, *, timeout: Optional[float] = 0) -> None:
        bare = bare_name(name)
        timeout = check_timeout(timeout)
        self._closed = True
        self._released = True
        self._pending = None
        self._name = bare
        fence = _order.fence_for_new_ring()
        if timeout == 0:
            segment, capacity = open_segment(bare, fence)
        else:
            last = [None]

            def attempt():
                try:
                    return open_segment(bare, fence)
                except (NotFoundError, NotReadyError) as error:
                    last[0] = error
                    return None

            segment, capacity = wait_for(
                attempt,
                timeout,
                "shared-memory segment {!r}".format(bare),
                spins=0,
                first_sleep=1e-3,
                last=lambda: last[0],
            )
        attach(segment, _barrier_for_new_ring())
        self._bind(segment, capacity, fence)

    def _bind(self, segment, capacity, fence):
        """Take ``segment`` (its ring of ``capacity`` bytes) as this consumer's, resuming at
        its shared tail."""
        tail = segment.words[1]
        self._tail = tail
        self._head_cache = tail
        # The producer's flag byte is None when the ring has no extension block.
        self._bind_end(segment, capacity, fence)

    def _used(self):
        """Bytes in use as this consumer sees them; a torn head counts as an empty ring."""
        self._check_open()
        used = (self._words[0] - self._tail) & _M32
        return 0 if used > self._cap else used

    def _refresh(self, tail):
        """Re-read the shared head. Returns the published byte count from ``tail``, or None for
        a torn or stale read (more than the capacity)."""
        head = self._words[0]
        if self._fence is not None:
            self._fence()
        used = (head - tail) & _M32
        if used > self._cap:
            return None
        self._head_cache = head
        return used

    def _wrapped_prefix(self, pos):
        mm = self._mm
        cap = self._cap
        return int.from_bytes(mm[_H + pos : _H + cap] + mm[_H : _H + 4 - (cap - pos)], "little")

    def _truncated(self, tail, readable):
        return CorruptedError(
            "only {} bytes are published at index {}, fewer than a 4-byte length prefix".format(
                readable, tail
            ),
            tail,
            None,
            readable,
        )

    def _too_long(self, tail, n, readable):
        return CorruptedError(
            "the record at index {} claims {} payload bytes, more than the {} this ring can hold "
            "({} bytes are published)".format(tail, n, self._max, readable),
            tail,
            n,
            readable,
        )

    def _beyond(self, tail, n, readable):
        return CorruptedError(
            "the record at index {} claims {} payload bytes, but only {} bytes (prefix included) "
            "are published".format(tail, n, readable),
            tail,
            n,
            readable,
        )

    def _next(self):
        """Locate the next record: (payload offset in the data area, length), or None when
        there is nothing (whole) to read yet. Raises CorruptedError."""
        tail = self._tail
        avail = (self._head_cache - tail) & _M32
        if avail < 4:
            # Nothing cached, or less than a prefix (which a producer never publishes, so the
            # cached head was stale or torn): look at the shared head once.
            avail = self._refresh(tail)
            if not avail:
                return None
            if avail < 4:
                raise self._truncated(tail, avail)
        cap = self._cap
        pos = tail & self._mask
        if pos <= cap - 4:
            n = _unpack_prefix(self._mm, _H + pos)[0]
        else:
            n = self._wrapped_prefix(pos)
        if n > cap - 4:
            raise self._too_long(tail, n, avail)
        if n + 4 > avail:
            avail = self._refresh(tail)
            if avail is None:
                return None
            if n + 4 > avail:
                raise self._beyond(tail, n, avail)
        p = pos + 4
        if p >= cap:
            p -= cap
        return p, n

    def _advance(self, need, view=None):
        """Consume ``need`` bytes (and close ``view``, if given, in the same step)."""
        tail = (self._tail + need) & _M32
        if self._fence is not None:
            self._fence()
        # From the store to the end of the step: assignments only (see the module docstring).
        self._words[1] = tail
        self._tail = tail
        if view is not None:
            self._grant = None
            view._open = False
        peer_flag = self._peer_flag
        try:
            if peer_flag is not None and self._buf[peer_flag] & 1:  # SLEEPING producer
                self._wake()
        except BaseException as error:  # an interrupt: the message is consumed, raise it later
            self._pending = error

    # -- reading ---------------------------------------------------------------------------

    def _take(self):
        """The next message as bytes, consumed, or None if there is none yet: the copying
        read without a grant (try_read_bytes, read_bytes and the drop-in module's ``read()``).
        Raises CorruptedError if the producer's side breaks the protocol."""
        if self._closed or self._grant is not None or self._pending is not None:
            self._check_usable()
        # Fast path: a whole record is known to be published (the cached head is never more
        # than the capacity ahead) and its prefix does not wrap.
        tail = self._tail
        avail = (self._head_cache - tail) & _M32
        if avail >= 4:
            at = _H + (tail & self._mask)
            ring_end = _H + self._cap
            if at <= ring_end - 4:
                mm = self._mm
                n = _unpack_prefix(mm, at)[0]
                if n + 4 <= avail:
                    at += 4
                    if at == ring_end:
                        at = _H
                    end = at + n
                    if end <= ring_end:
                        data = mm[at:end]
                    else:
                        data = mm[at:ring_end] + mm[_H : end - self._cap]
                    tail = (tail + n + 4) & _M32
                    if self._fence is not None:
                        self._fence()
                    self._words[1] = tail
                    self._tail = tail
                    peer_flag = self._peer_flag
                    try:
                        if peer_flag is not None and mm[peer_flag] & 1:  # SLEEPING producer
                            self._wake()
                    except BaseException as error:  # as in _advance
                        self._pending = error
                    return data
        found = self._next()
        if found is None:
            return None
        p, n = found
        data = self._copy_out(p, n)
        self._advance(n + 4)
        return data

    def _has_message(self):
        """Whether at least a length prefix is published (the drop-in module's
        ``has_data()``): the cached head first, the shared one only when that says no."""
        if self._closed or self._pending is not None:
            self._check_open()
        tail = self._tail
        if (self._head_cache - tail) & _M32 >= 4:
            return True
        used = (self._words[0] - tail) & _M32
        return 4 <= used <= self._cap

    def _copy_out(self, p, n):
        """The ``n`` payload bytes at data-area offset ``p``, as bytes."""
        mm = self._mm
        end = _H + p + n
        limit = _H + self._cap
        if end <= limit:
            return mm[_H + p : end]
        return mm[_H + p : limit] + mm[_H : end - self._cap]

    def _private_mapping(self, p, n):
        """The ``n`` payload bytes at data-area offset ``p``, mapped read-only for one grant."""
        cap = self._cap
        if p + n <= cap:
            return PrivateMapping(self._segment, ((_H + p, _H + p + n),), False)
        return PrivateMapping(self._segment, ((_H + p, _H + cap), (_H, _H + p + n - cap)), False)

    def _grant_now(self):
        found = self._next()
        if found is None:
            return None
        grant = ReadGrant(self, found[0], found[1])
        self._grant = grant
        return grant

    def try_read(self) -> Optional[ReadGrant]:
        """The next message, lent in place, or None if there is none yet.

        Returns a ReadGrant: copy the message out and consume it with ``into_bytes()`` or
        ``into_buffer(buffer)``, or look at it in place with ``as_slices()`` and consume it with
        ``commit()``. Releasing the grant without either (``release()``, or leaving a ``with``
        block) leaves the message in the ring: a peek. No other read is allowed while the grant
        is open (BusyError). Never waits and never raises a timeout; raises CorruptedError if
        the producer's side breaks the protocol. A zero-length record (which our producers
        never write) is lent as a grant of length 0.

        >>> with consumer.try_read() as grant:       # doctest: +SKIP
        ...     data = grant.into_bytes()
        """
        self._check_usable()
        return self._grant_now()

    def try_read_bytes(self) -> Optional[bytes]:
        """The next message copied into a new bytes object and consumed, or None if there is
        none yet: ``try_read().into_bytes()`` in one call, without making a grant.

        The common case gets its own call in Python because a grant object per message costs
        about as much as copying a small message. Same errors as try_read.

        >>> producer.try_write(b"abc"); consumer.try_read_bytes()   # doctest: +SKIP
        b'abc'
        """
        return self._take()

    def read_bytes(self, timeout: Optional[float] = None) -> bytes:
        """Like try_read_bytes, but waits up to ``timeout`` seconds (None = forever) for a
        message; the same errors as read."""
        data = self._take()
        if data is None:
            data = self._waiter.wait(self._take, check_timeout(timeout), "a message")
        return data

    def read(self, timeout: Optional[float] = None) -> ReadGrant:
        """Like try_read, but waits up to ``timeout`` seconds (None = forever) for a message.

        Never returns None: raises ShmTimeoutError when the time runs out, PeerGoneError once
        the producer is gone and everything it published has been read, CorruptedError."""
        self._check_usable()
        grant = self._grant_now()
        if grant is None:
            grant = self._waiter.wait(self._grant_now, check_timeout(timeout), "a message")
        return grant

    def _read_batch(self, max_messages):
        # Hot loop: everything is a local, positions are offsets into the mapping (header
        # included), and the stream index is only rebuilt on the rare slow paths.
        out = []
        append = out.append
        tail = self._tail
        cap = self._cap
        limit = cap - 4
        ring_end = _H + cap
        mm = self._mm
        unpack = _unpack_prefix
        avail = (self._head_cache - tail) & _M32
        at = _H + (tail & self._mask)
        consumed = 0
        refreshed = False
        error = None
        for _ in range(max_messages):
            if avail < 4:
                if avail == 0 and refreshed:
                    break
                refreshed = True
                index = (tail + consumed) & _M32
                avail = self._refresh(index)
                if not avail:
                    break
                if avail < 4:
                    error = self._truncated(index, avail)
                    break
            if at <= ring_end - 4:
                n = unpack(mm, at)[0]
            else:
                n = self._wrapped_prefix(at - _H)
            if n > limit:
                error = self._too_long((tail + consumed) & _M32, n, avail)
                break
            need = n + 4
            if need > avail:
                index = (tail + consumed) & _M32
                fresh = self._refresh(index)
                if fresh is None:
                    break
                if need > fresh:
                    error = self._beyond(index, n, fresh)
                    break
                avail = fresh
            at += 4
            if at >= ring_end:
                at -= cap
            end = at + n
            if end <= ring_end:
                append(mm[at:end])
                at = end
                if at == ring_end:
                    at = _H
            else:
                append(mm[at:ring_end] + mm[_H : end - cap])
                at = end - cap
            avail -= need
            consumed += need
        if consumed:
            tail = (tail + consumed) & _M32
            if self._fence is not None:
                self._fence()
            self._words[1] = tail
            self._tail = tail
            peer_flag = self._peer_flag
            try:
                if peer_flag is not None and mm[peer_flag] & 1:  # SLEEPING producer
                    self._wake()
            except BaseException as caught:  # as in _advance
                self._pending = caught
        elif error is not None:
            raise error
        return out

    def try_read_batch(self, max_messages: int) -> List[bytes]:
        """Read up to ``max_messages`` messages that are already there; publish tail once.

        Returns a list of bytes (empty if there is nothing). If corruption is found after some
        messages, those are returned and the next call raises CorruptedError.
        """
        self._check_usable()
        return self._read_batch(_check_count(max_messages, "max_messages"))

    def read_batch(self, max_messages: int, timeout: Optional[float] = None) -> List[bytes]:
        """Like try_read_batch, but waits up to ``timeout`` seconds (None = forever) for at
        least one message (unless ``max_messages`` is 0)."""
        self._check_usable()
        max_messages = _check_count(max_messages, "max_messages")
        timeout = check_timeout(timeout)
        batch = self._read_batch(max_messages)
        if batch or max_messages == 0:
            return batch
        return self._waiter.wait(
            lambda: self._read_batch(max_messages) or None, timeout, "a message"
        )

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Unmap the segment; never unlinks it. An open read grant is released, leaving its
        message in the ring. Idempotent. In a child made by ``fork()`` it only lets go of the
        descriptor and the mapping (see ShmProducer.close)."""
        _RingEnd.close(self)

    # -- rings in caller-provided memory ---------------------------------------------------

    @classmethod
    def _in_memory(cls, buffer):
        """A consumer of the ring whose header is in the writable bytes-like ``buffer``
        (4-byte aligned), resuming at its shared tail. No name, no liveness, no extension
        block: waits poll, and nothing outside the memory is touched. Raises NotReadyError
        while the capacity word is 0."""
        fence = _order.fence_for_new_ring()
        segment, capacity = open_memory_ring(buffer, fence)
        self = cls.__new__(cls)
        self._closed = True
        self._released = True
        self._pending = None
        self._name = ""
        self._bind(segment, capacity, fence)
        return self


class _Grant:
    """What the two grants share: a message's length, its bytes lent in place as one or two
    memoryviews of a private mapping (see PrivateMapping), and the rule that leaving a
    ``with`` block without ``commit()`` releases the grant, which then does nothing to the
    ring."""

    __slots__ = ("_end", "_memory", "_length", "_open")

    _what = "grant"

    def __len__(self) -> int:
        """The message's length in bytes."""
        return self._length

    def _check(self):
        if not self._open:
            raise ClosedError("the {} has been committed or released".format(self._what))

    def _slices(self, empty):
        parts = self._memory.parts()
        if len(parts) == 2:
            return parts
        return parts[0], empty

    def release(self) -> None:
        """Close the grant without committing: a write grant publishes nothing, a read grant
        leaves its message in the ring. Idempotent. Raises BusyError (and stays open) while
        anything made from ``as_slices()`` is alive."""
        if not self._open:
            return
        memory = self._memory
        if memory is not None:
            try:
                _release_memory(memory, self._what)
            except BusyError:
                raise
            except BaseException as error:  # an interrupt: finish, raise it from the next call
                self._end._pending = error
                _release_memory(memory, self._what)
        self._drop()

    def _drop(self):
        memory = self._memory
        if memory is not None:
            memory.drop()
        # Both in one step: a grant closed here is never left open in its end.
        self._open = False
        if self._end._grant is self:
            self._end._grant = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._open:
            self.release()


class WriteGrant(_Grant):
    """Room reserved in the ring for one message of ``len(grant)`` bytes, filled in place
    (made by ShmProducer.try_reserve and ShmProducer.reserve).

    Fill it with ``copy_from(data, offset=0)``, or through the writable memoryviews of
    ``as_slices()``; then ``commit()``. Nothing is visible to the consumer before that;
    ``release()``, or leaving a ``with`` block without committing, publishes nothing.

    >>> with producer.reserve(11, timeout=1.0) as grant:      # doctest: +SKIP
    ...     grant.copy_from(b"header:")
    ...     grant.copy_from(b"body", offset=7)
    ...     grant.commit()
    """

    __slots__ = ("_pos",)

    _what = "write grant"

    def __init__(self, producer, pos, memory, length):
        self._end = producer
        self._pos = pos
        self._memory = memory
        self._length = length
        self._open = True

    def as_slices(self) -> Tuple[memoryview, memoryview]:
        """The reserved bytes in place: two writable memoryviews, the message being the first
        followed by the second (empty unless the message wraps around the end of the ring).
        Their previous contents are whatever was there, not zeros.

        They map the grant's bytes for this grant alone: ``commit()`` and ``release()`` raise
        BusyError while anything made from them (a memoryview or slice of them, a NumPy array,
        a ctypes object, an iterator...) is alive. Raises ClosedError once the grant is
        committed or released.
        """
        self._check()
        return self._slices(_EMPTY_WRITABLE)

    def copy_from(self, data: Buffer, offset: int = 0) -> None:
        """Copy bytes-like ``data`` into the message at byte ``offset``, across the wrap if
        there is one. Raises ValueError if it does not fit in ``len(grant)`` bytes."""
        self._check()
        parts = self._memory.parts()
        view = _byte_view(data)
        n = len(view)
        if offset < 0 or offset + n > self._length:
            raise ValueError(
                "{} bytes at offset {} do not fit a {}-byte grant".format(n, offset, self._length)
            )
        first = len(parts[0])
        if offset + n <= first:
            parts[0][offset : offset + n] = view
            return
        if type(view) is bytes:
            view = memoryview(view)
        if offset >= first:
            parts[1][offset - first : offset - first + n] = view
            return
        split = first - offset
        parts[0][offset:] = view[:split]
        parts[1][: n - split] = view[split:]

    def commit(self, length: Optional[int] = None) -> None:
        """Publish the message. ``length`` (default: all of it) may shrink it to
        ``1 ..= len(grant)`` bytes. Raises BusyError (publishing nothing, the grant staying
        open) while anything made from ``as_slices()`` is alive, ClosedError once committed or
        released."""
        self._check()
        if length is None:
            length = self._length
        elif isinstance(length, bool) or not isinstance(length, int):
            raise TypeError("length must be an int, not {}".format(type(length).__name__))
        elif not 1 <= length <= self._length:
            raise ValueError(
                "a commit length must be from 1 to {}, got {}".format(self._length, length)
            )
        producer = self._end
        try:
            _release_memory(self._memory, self._what)
            producer._commit(self, length)  # closes the grant as it publishes it
        except BusyError:
            raise
        except BaseException as error:
            # An interrupt before the message was published: finish the commit (each step can
            # be done again) and raise the interrupt from the next call, as after a publication.
            producer._pending = error
            if self._open:
                _release_memory(self._memory, self._what)
                producer._commit(self, length)


class ReadGrant(_Grant):
    """The next message, lent in place (made by ShmConsumer.try_read and ShmConsumer.read).

    The message leaves the ring only when the grant says so:

    * ``into_bytes()`` and ``into_buffer(buffer)`` copy it out and consume it (one that
      refuses, such as a buffer too small, leaves it);
    * ``as_slices()`` shows it in place, without copying, and ``commit()`` consumes it;
    * ``release()``, or leaving a ``with`` block without consuming it, leaves it in the ring
      for the next read: a peek.

    No other read is allowed while the grant is open. ``len(grant)`` is the message's length.

    >>> with consumer.read(timeout=1.0) as grant:          # doctest: +SKIP
    ...     first, second = grant.as_slices()
    ...     if bytes(first[:7]) == b"header:":
    ...         grant.commit()                              # consumed; else left in the ring
    """

    __slots__ = ("_pos",)

    _what = "read grant"

    def __init__(self, consumer, pos, length):
        self._end = consumer
        self._pos = pos
        self._length = length
        self._memory = None
        self._open = True

    def as_slices(self) -> Tuple[memoryview, memoryview]:
        """The message in place: two read-only memoryviews, the message being the first
        followed by the second (empty unless the message wraps around the end of the ring).
        Nothing is consumed.

        They map the message's bytes (read-only) for this grant alone, on the first call (an
        ``mmap`` and, at release, a ``munmap``: worth it for messages of tens of kilobytes and
        more). ``commit()``, ``into_bytes()``, ``into_buffer()`` and ``release()`` raise
        BusyError, and do nothing, while anything made from them (a memoryview or slice of
        them, a NumPy array, an iterator...) is alive. Raises ClosedError once the grant is
        closed.
        """
        self._check()
        if self._memory is None:
            n = self._length
            if n == 0:
                self._memory = _NoMemory()
            else:
                self._memory = self._end._private_mapping(self._pos, n)
        return self._slices(_EMPTY_READONLY)

    def _let_memory_go(self):
        memory = self._memory
        if memory is not None:
            _release_memory(memory, self._what)

    def into_bytes(self) -> bytes:
        """Copy the message into a new bytes object and consume it. Raises BusyError (the
        message staying) while anything made from ``as_slices()`` is alive."""
        self._check()
        self._let_memory_go()
        consumer = self._end
        data = consumer._copy_out(self._pos, self._length)
        consumer._advance(self._length + 4, self)  # closes the grant as it consumes it
        return data

    def into_buffer(self, buffer: Buffer) -> int:
        """Copy the message into the writable bytes-like ``buffer`` and consume it; returns
        its length in bytes. If the buffer is too small, raises BufferTooSmallError
        (``needed``: the message's length, ``available``: the buffer's) and leaves the message
        and the grant as they were."""
        self._check()
        out = memoryview(buffer)
        if out.readonly:
            raise TypeError("the buffer must be writable")
        if out.format != "B" or out.ndim != 1:
            out = out.cast("B")
        n = self._length
        if n > len(out):
            raise BufferTooSmallError(n, len(out))
        self._let_memory_go()
        consumer = self._end
        buf = consumer._rbuf
        p = self._pos
        end = p + n
        cap = consumer._cap
        if end <= cap:
            out[:n] = buf[_H + p : _H + end]
        else:
            first = cap - p
            out[:first] = buf[_H + p : _H + cap]
            out[first:n] = buf[_H : _H + n - first]
        consumer._advance(n + 4, self)
        return n

    def commit(self) -> None:
        """Consume the message: it leaves the ring and its space goes back to the producer.
        Raises BusyError (consuming nothing, the grant staying open) while anything made from
        ``as_slices()`` is alive, ClosedError once the grant is closed."""
        self._check()
        consumer = self._end
        try:
            self._let_memory_go()
            consumer._advance(self._length + 4, self)  # closes the grant as it consumes it
        except BusyError:
            raise
        except BaseException as error:
            # An interrupt before the message was consumed: finish (each step can be done
            # again) and raise the interrupt from the next call, as after a wake-up.
            consumer._pending = error
            if self._open:
                self._let_memory_go()
                consumer._advance(self._length + 4, self)
