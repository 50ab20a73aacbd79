"""Waiting for the other side: every blocking call of the package waits through here.

Every wait first retries at once a number of times (the other side is usually a few
microseconds away). Then:

* A ring end whose process can use futex (see ``_kernel``) sleeps in the kernel on the other
  side's index word, after announcing it in its own flag byte in the extension block
  (``Waiter``). The other side wakes it after publishing. Each sleep is a *slice*: 20 ms when
  the other side advertises both LOCKED and BARRIER (so it wakes us and its death can be
  seen), otherwise short slices that start at ``FIRST_SLEEP`` and double up to ``MAX_SLEEP``,
  because a peer of the original library never wakes anyone. A producer first polls for
  ``PRODUCER_POLL`` before each kernel sleep (see there why).
* Otherwise (no futex; a consumer of a ring without an extension block, whose producer is
  the original library's and never wakes anyone; and opening a consumer) it polls: sleeps
  that start short and double up to ``MAX_SLEEP``.

Before each sleep, and so after every slice, a ring end asks whether the other side is still
alive (see ``Waiter.wait``). A wait with a timeout never sleeps past its deadline and tries one
last time at the deadline before it gives up, so it always ends.
"""

import math
import time

from . import _kernel
from ._errors import PeerGoneError, ShmTimeoutError
from ._layout import CONSUMER_FLAGS, PRODUCER_FLAGS

#: Immediate retries before the first sleep.
SPINS = 200
#: First sleep, in seconds.
FIRST_SLEEP = 20e-6
#: Longest sleep when a wake-up may never come, in seconds.
MAX_SLEEP = 1e-3
#: Longest kernel sleep when the other side wakes us: it only bounds how late the death of
#: the other side is noticed. Read at each sleep.
WAKER_SLICE = 20e-3
#: How long a producer polls (naps from FIRST_SLEEP, doubling) before each kernel sleep.
#: While a side's SLEEPING bit is set, every publication of the other side costs a system call,
#: until the sleeper has been scheduled and cleared it; a producer that waits for space often
#: waits only until the consumer's next few reads, and one that waits for the ring to drain is
#: woken by each of them. Polling first keeps those short waits off the consumer's path. The
#: consumer needs no such phase: see ShmProducer._wake_consumer. Read at each wait.
PRODUCER_POLL = 1e-3

#: How a polling wait sleeps (a module attribute, so that tests can observe it).
pause = time.sleep


def check_timeout(timeout):
    """Validate a timeout argument: None (wait forever) or a number of seconds >= 0."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            "a timeout must be None or a number of seconds, not {}".format(type(timeout).__name__)
        )
    timeout = float(timeout)
    if math.isnan(timeout) or timeout < 0:
        raise ValueError("a timeout must be None or >= 0 seconds, got {!r}".format(timeout))
    if math.isinf(timeout):
        return None
    return timeout


def format_ms(seconds):
    """Seconds as a short millisecond string: 60.0 -> '60000', 0.0005 -> '0.5'."""
    ms = seconds * 1000.0
    if ms == int(ms):
        return str(int(ms))
    return ("%.3f" % ms).rstrip("0").rstrip(".")


def timed_out(timeout, waiting_for, detail=None):
    """The ShmTimeoutError for a wait of ``timeout`` seconds for ``waiting_for``."""
    message = "timed out after {} ms waiting for {}".format(format_ms(timeout), waiting_for)
    if detail is not None:
        message += ": {}".format(detail)
    return ShmTimeoutError(message, timeout, waiting_for, detail)


def wait_for(attempt, timeout, waiting_for, spins=SPINS, first_sleep=FIRST_SLEEP, last=None):
    """Call ``attempt()`` until it returns something other than None, and return that.

    ``timeout`` is None (forever) or seconds (already checked by check_timeout); 0 means one
    attempt. On timeout, raise ShmTimeoutError naming ``waiting_for``; ``last``, if given, is a
    callable returning an extra detail (and the ``last`` attribute of the error).
    """
    result = attempt()
    if result is not None:
        return result
    clock = time.monotonic
    deadline = None if timeout is None else clock() + timeout
    if timeout is None or timeout > 0:
        for _ in range(spins):
            result = attempt()
            if result is not None:
                return result
        delay = first_sleep
        while True:
            if deadline is None:
                pause(delay)
            else:
                remaining = deadline - clock()
                if remaining <= 0:
                    break
                pause(delay if delay < remaining else remaining)
            result = attempt()
            if result is not None:
                return result
            if delay < MAX_SLEEP:
                delay = min(delay * 2, MAX_SLEEP)
        result = attempt()
        if result is not None:
            return result
    raise timed_out(timeout, waiting_for, last() if last is not None else None)


class Waiter:
    """How one end of a ring waits for, wakes, and asks after the other end.

    The producer sleeps on ``tail`` and wakes the consumer through ``head``; the consumer
    sleeps on ``head`` and wakes the producer through ``tail``. Each side writes only its own
    flag byte of the extension block (byte 0 for the producer, 1 for the consumer), with
    single-byte stores. Without an extension block (a consumer of the original library's
    ring) there are no flag bytes: ``own_at`` and ``peer_at`` are None, the waiter polls, and
    the producer's liveness is unknown.
    """

    __slots__ = (
        "role",
        "peer",
        "own_at",
        "peer_at",
        "_buf",
        "_words",
        "_other",
        "_segment",
        "_peer_lock",
        "_base",
        "_futex",
        "_membarrier",
        "_fence",
        "_polls",
    )

    def __init__(self, role, segment, own_flags, fence):
        producer = role == "producer"
        self.role = role
        self.peer = "consumer" if producer else "producer"
        extension = segment.extension
        if extension is None:
            self.own_at = self.peer_at = None
        else:
            own = PRODUCER_FLAGS if producer else CONSUMER_FLAGS
            self.own_at = extension + own
            self.peer_at = extension + (CONSUMER_FLAGS + PRODUCER_FLAGS - own)
        self._buf = segment.buf
        self._words = segment.words
        # The word this side waits on is the other side's index; it wakes through its own.
        self._other = 1 if producer else 0
        self._segment = segment
        self._peer_lock = _kernel.CONSUMER_LOCK_BYTE if producer else _kernel.PRODUCER_LOCK_BYTE
        self._base = own_flags
        self._fence = fence
        self._polls = producer
        self._futex = None
        if extension is not None and _kernel.futex_available():
            mm = segment.mm
            self._futex = _kernel.Futex(
                _kernel.word_address(mm, 4 * self._other),
                _kernel.word_address(mm, 4 * (1 - self._other)),
            )
        self._membarrier = self._futex is not None and _kernel.membarrier_available()

    @property
    def can_wake(self):
        """Whether this side wakes a sleeping peer after publishing."""
        return self._futex is not None

    def wake(self):
        """Wake the other side, sleeping on the index this side just published. Called only
        when the other side's SLEEPING bit is set."""
        futex = self._futex
        if futex is not None:
            futex.wake()

    def closing(self):
        """Called when this side closes (its lock just released): wake a sleeping peer so
        that it notices at once."""
        if self._futex is not None and self._buf[self.peer_at] & _kernel.SLEEPING:
            self._futex.wake()

    def peer_flags(self):
        """The other side's flag byte; 0 when there is none (no extension block)."""
        peer_at = self.peer_at
        return 0 if peer_at is None else self._buf[peer_at]

    def alive(self):
        """Whether the other side lives: True, False (gone), or None (unknown)."""
        if not self.peer_flags() & _kernel.LOCKED:
            return None
        fd = self._segment.fd
        if fd is None:
            return None
        return _kernel.lock_held(fd, self._peer_lock)

    def _gone(self, waiting_for):
        return PeerGoneError(
            "the {} of {!r} is gone (its process ended or it closed the ring) while waiting "
            "for {}".format(self.peer, self._segment.name, waiting_for),
            self.peer,
            waiting_for,
        )

    def wait(self, attempt, timeout, waiting_for):
        """Call ``attempt()`` until it returns something other than None, and return that.

        ``timeout`` is None (forever) or seconds (checked); 0 means one attempt. Raises
        ShmTimeoutError when it runs out, and PeerGoneError as soon as the other side is found
        gone and one more attempt (which drains what was published before the end, or sees
        the space or the empty ring the consumer left) fails. An unknown peer never ends a
        wait early.
        """
        result = attempt()
        if result is not None:
            return result
        if timeout is None or timeout > 0:
            for _ in range(SPINS):
                result = attempt()
                if result is not None:
                    return result
            clock = time.monotonic
            deadline = None if timeout is None else clock() + timeout
            words = self._words
            other = self._other
            delay = FIRST_SLEEP
            polled = 0.0
            poll = PRODUCER_POLL if self._polls else 0.0
            while True:
                if deadline is None:
                    left = None
                else:
                    left = deadline - clock()
                    if left <= 0:
                        break
                peer = self.peer_flags()
                if peer & _kernel.LOCKED and self.alive() is False:
                    # One more look: what the other side did before it went (published
                    # messages, freed space, read everything) still counts.
                    result = attempt()
                    if result is not None:
                        return result
                    raise self._gone(waiting_for)
                # The index is read before the attempt: if it still holds this value when the
                # kernel looks, the attempt's answer still stands.
                expected = words[other]
                result = attempt()
                if result is not None:
                    return result
                if self._futex is None or polled < poll:
                    nap = delay if left is None or delay < left else left
                    pause(nap)
                    polled += nap
                else:
                    self._sleep(peer, expected, delay, left)
                    polled = 0.0
                result = attempt()
                if result is not None:
                    return result
                if delay < MAX_SLEEP:
                    delay = min(delay * 2, MAX_SLEEP)
            result = attempt()
            if result is not None:
                return result
        raise timed_out(timeout, waiting_for)

    def _sleep(self, peer, expected, delay, left):
        """One kernel sleep (a slice) on the other side's index, announced by SLEEPING."""
        futex = self._futex
        both = _kernel.LOCKED | _kernel.BARRIER
        barrier = self._membarrier and peer & _kernel.BARRIER
        length = WAKER_SLICE if barrier and peer & both == both else delay
        buf = self._buf
        own_at = self.own_at
        try:
            # Inside the try: however the sleep ends (an interrupt included), SLEEPING is
            # cleared, or the other side would make a system call on every publication.
            buf[own_at] = self._base | _kernel.SLEEPING
            if barrier:
                # A full barrier on every CPU running a registered process: either the other
                # side's index store is visible to the kernel's check below, or its next load
                # of our flag byte sees SLEEPING and it wakes us.
                if not _kernel.barrier_all():
                    self._membarrier = False
                    length = min(length, delay)
            elif self._fence is not None:
                self._fence()
            # Without membarrier a wake-up may be missed (the publisher uses no fence), hence
            # the short slice. The kernel's futex check itself comes after a full barrier.
            code = futex.wait(expected, length if left is None or length < left else left)
        finally:
            buf[own_at] = self._base
        if not _kernel.is_benign(code):
            # futex refuses to work on this mapping: poll from now on.
            self._futex = None
            self._membarrier = False
