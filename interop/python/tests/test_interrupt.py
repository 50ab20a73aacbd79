"""Interrupts: an exception raised by a signal handler (KeyboardInterrupt for SIGINT) inside a
call may abort the call, but never leaves the ring or the object inconsistent and never loses
a message that was consumed.

In-process tests raise ``Interrupt`` (a BaseException, as KeyboardInterrupt is, but one that
does not stop the test runner) at chosen points: from the wake-up hook after a publication,
and, through a profile hook, at every point of a call where the interpreter would run a signal
handler (entry to a function of the package, return from a C function it calls). The storm
tests send real SIGINTs to a child process that streams messages.
"""

import itertools
import os
import select
import signal
import subprocess
import sys
import unittest

import shm_ring
from shm_ring import BusyError, PeerState, ShmConsumer, ShmProducer
from shm_ring._layout import CONSUMER_FLAGS, PRODUCER_FLAGS

from .support import HANG_GUARD, exists, peer_env, stream_payload, unique_name, unlink_quietly

PACKAGE_DIR = os.path.dirname(os.path.abspath(shm_ring.__file__))


class Interrupt(BaseException):
    """What a signal handler raises, for these tests."""


def retrying(call):
    """``call()`` until it is not interrupted; returns its result."""
    while True:
        try:
            return call()
        except Interrupt:
            pass


def payload(i):
    return stream_payload(i, 1 + (i * 37) % 90)


class RingFixture(unittest.TestCase):
    CAPACITY = 256

    def setUp(self):
        self.name = unique_name("i")
        self.addCleanup(unlink_quietly, self.name)
        self.producer = ShmProducer(self.name, self.CAPACITY)
        self.addCleanup(self.close_quietly, self.producer)
        self.consumer = ShmConsumer(self.name)
        self.addCleanup(self.close_quietly, self.consumer)
        extension = self.producer._segment.extension
        self.mm = self.producer._mm
        self.producer_flag = extension + PRODUCER_FLAGS
        self.consumer_flag = extension + CONSUMER_FLAGS

    @staticmethod
    def close_quietly(end):
        end._pending = None
        end.close()

    def set_sleeping(self, flag_at):
        """Make the other side look asleep, so that every publication takes the wake path."""
        self.mm[flag_at] = self.mm[flag_at] | 1
        self.addCleanup(self.clear_sleeping, flag_at)

    def clear_sleeping(self, flag_at):
        if self.mm is not None and not self.producer.closed:
            self.mm[flag_at] = self.mm[flag_at] & ~1


# -- the operations under test -----------------------------------------------------------------
# Each producer operation writes ``message``; each consumer operation returns one message.
# Every one can be called again after an interrupt and then does the right thing; ``state``
# carries an open reservation or read view over to the next attempt.


def write_with_try_write(producer, message, state):
    while not producer.try_write(message):
        pass


def write_with_write(producer, message, state):
    producer.write(message, timeout=HANG_GUARD)


def write_with_try_write_batch(producer, message, state):
    while producer.try_write_batch([message]) != 1:
        pass


def write_with_write_batch(producer, message, state):
    if producer.write_batch([message], timeout=HANG_GUARD) != 1:
        raise AssertionError("write_batch wrote nothing")


def write_with_reserve(producer, message, state):
    reservation = state.get("reservation")
    if reservation is None:
        reservation = producer.reserve(len(message), timeout=HANG_GUARD)
        state["reservation"] = reservation
    reservation.copy_from(message)
    reservation.commit()
    state["reservation"] = None


def write_with_reserve_and_cancel(producer, message, state):
    reservation = state.get("reservation")
    if reservation is None:
        reservation = producer.reserve(len(message), timeout=HANG_GUARD)
        state["reservation"] = reservation
    reservation.release()
    state["reservation"] = None
    producer.write(message, timeout=HANG_GUARD)


PRODUCER_OPERATIONS = [
    write_with_try_write,
    write_with_write,
    write_with_try_write_batch,
    write_with_write_batch,
    write_with_reserve,
    write_with_reserve_and_cancel,
]


def read_with_try_read(consumer, state):
    grant = state.get("grant")
    while grant is None:
        grant = consumer.try_read()
    state["grant"] = grant
    data = grant.into_bytes()
    state["grant"] = None
    return data


def read_with_read(consumer, state):
    grant = state.get("grant")
    if grant is None:
        grant = consumer.read(timeout=HANG_GUARD)
        state["grant"] = grant
    data = grant.into_bytes()
    state["grant"] = None
    return data


# No call (where a signal handler could run) between a call that consumed a message and the
# return of what it returned: slicing is not a call, ``bytes(...)`` would be.


def read_with_try_read_into_buffer(consumer, state):
    buffer = bytearray(consumer.max_message_len)
    grant = state.get("grant")
    while grant is None:
        grant = consumer.try_read()
    state["grant"] = grant
    n = grant.into_buffer(buffer)
    state["grant"] = None
    return buffer[:n]


def read_with_read_into_buffer(consumer, state):
    buffer = bytearray(consumer.max_message_len)
    grant = state.get("grant")
    if grant is None:
        grant = consumer.read(timeout=HANG_GUARD)
        state["grant"] = grant
    n = grant.into_buffer(buffer)
    state["grant"] = None
    return buffer[:n]


def read_with_slices(consumer, state):
    grant = state.get("grant")
    if grant is None:
        grant = consumer.read(timeout=HANG_GUARD)
        state["grant"] = grant
    first, second = grant.as_slices()
    data = first.tobytes() + second.tobytes()
    del first, second
    grant.commit()
    state["grant"] = None
    return data


def read_with_try_read_batch(consumer, state):
    while True:
        batch = consumer.try_read_batch(1)
        if batch:
            return batch[0]


def read_with_read_batch(consumer, state):
    (data,) = consumer.read_batch(1, timeout=HANG_GUARD)
    return data


CONSUMER_OPERATIONS = [
    read_with_try_read,
    read_with_read,
    read_with_try_read_into_buffer,
    read_with_read_into_buffer,
    read_with_slices,
    read_with_try_read_batch,
    read_with_read_batch,
]


class WakeHookTest(RingFixture):
    """The wake-up after a publication raises: the call has done its work, so it returns its
    result, and the next call raises the interrupt before it does anything."""

    def interrupting_wake(self):
        self.wakes += 1
        raise Interrupt()

    def test_a_producer_interrupted_while_waking_has_written_its_message(self):
        self.set_sleeping(self.consumer_flag)
        self.producer._wake = self.interrupting_wake
        for i, operation in enumerate(PRODUCER_OPERATIONS):
            with self.subTest(operation=operation.__name__):
                self.wakes = 0
                operation(self.producer, payload(i), {})
                self.assertEqual(self.wakes, 1, "the wake path was taken")
                with self.assertRaises(Interrupt, msg="the next call raises the interrupt"):
                    self.producer.readable_bytes()
                self.assertEqual(self.producer.readable_bytes(), len(payload(i)) + 4)
                self.assertEqual(self.consumer.try_read().into_bytes(), payload(i))
                self.assertIsNone(self.consumer.try_read())

    def test_a_consumer_interrupted_while_waking_returns_the_message_it_consumed(self):
        self.set_sleeping(self.producer_flag)
        self.consumer._wake = self.interrupting_wake
        for i, operation in enumerate(CONSUMER_OPERATIONS * 2):
            with self.subTest(operation=operation.__name__):
                self.wakes = 0
                # Two messages: try_read takes its slow path for the first of a pair, then
                # its fast path (the head is known) for the second.
                self.assertTrue(self.producer.try_write(payload(2 * i)))
                self.assertTrue(self.producer.try_write(payload(2 * i + 1)))
                for k in (2 * i, 2 * i + 1):
                    self.assertEqual(operation(self.consumer, {}), payload(k))
                    self.assertEqual(self.wakes, 1, "the wake path was taken")
                    with self.assertRaises(Interrupt, msg="the next call raises the interrupt"):
                        self.consumer.readable_bytes()
                    self.wakes = 0
                self.assertTrue(self.consumer.is_empty())
                self.assertTrue(self.producer.is_empty())

    def test_close_raises_a_kept_interrupt_after_closing(self):
        self.set_sleeping(self.consumer_flag)
        self.producer._wake = self.interrupting_wake
        self.wakes = 0
        self.assertTrue(self.producer.try_write(b"last"))
        with self.assertRaises(Interrupt):
            self.producer.close()
        self.assertTrue(self.producer.closed)
        self.producer.close()
        self.assertEqual(self.consumer.read(timeout=HANG_GUARD).into_bytes(), b"last")


#: More points than any call here has: a call still interrupted there is looping.
MAX_POINTS = 400


class InterruptAt:
    """A profile hook that raises Interrupt at the ``n``-th point of the package's code where
    the interpreter checks for signals (entry to a function, return from a C function), then
    removes itself."""

    def __init__(self, n):
        self.n = n
        self.seen = 0
        self.fired = False

    def __call__(self, frame, event, arg):
        if event in ("call", "c_return") and frame.f_code.co_filename.startswith(PACKAGE_DIR):
            self.seen += 1
            if self.seen == self.n:
                sys.setprofile(None)
                self.fired = True
                raise Interrupt()


def interrupted_at(n, call):
    """Run ``call()`` with an interrupt at its ``n``-th signal check; then again until it is not
    interrupted. Returns (whether the interrupt was raised, the result)."""
    hook = InterruptAt(n)
    sys.setprofile(hook)
    try:
        result = call()
    except Interrupt:
        result = retrying(call)
    finally:
        sys.setprofile(None)
    return hook.fired, result


class EveryPointTest(RingFixture):
    """An interrupt at each point where a signal handler can run, in each call: retrying the
    call then writes or reads every message exactly once, and nothing stays busy."""

    def setUp(self):
        super().setUp()
        # The other side looks asleep: the wake path runs on every publication.
        self.set_sleeping(self.consumer_flag)
        self.set_sleeping(self.producer_flag)

    # Calls that would block are not used to check the outcome: on a ring left inconsistent
    # they would wait forever instead of failing.

    def test_every_producer_call(self):
        index = itertools.count()
        for operation in PRODUCER_OPERATIONS:
            for n in range(1, MAX_POINTS):
                where = "{}, interrupted at point {}".format(operation.__name__, n)
                i = next(index)
                state = {}
                fired, _ = interrupted_at(n, lambda: operation(self.producer, payload(i), state))
                # A kept interrupt comes out of the next call; then all is as it should be.
                retrying(self.producer.readable_bytes)
                self.assertEqual(
                    retrying(lambda: self.consumer.try_read().into_bytes()), payload(i), where
                )
                self.assertIsNone(retrying(self.consumer.try_read), where + ": written twice")
                self.assertTrue(self.producer.try_write(b"after"), where + ": no room after")
                self.assertEqual(self.consumer.try_read().into_bytes(), b"after", where)
                if not fired:
                    break
            self.assertGreater(n, 2, operation.__name__)
            self.assertLess(n, MAX_POINTS - 1, operation.__name__)

    def test_every_consumer_call(self):
        index = itertools.count()
        for operation in CONSUMER_OPERATIONS:
            for n in range(1, MAX_POINTS):
                where = "{}, interrupted at point {}".format(operation.__name__, n)
                i = next(index)
                self.assertTrue(self.producer.try_write(payload(i)), where)
                self.assertTrue(self.producer.try_write(b"next"), where)
                state = {}
                fired, data = interrupted_at(n, lambda: operation(self.consumer, state))
                self.assertEqual(data, payload(i), where + ": the message is returned")
                retrying(self.consumer.readable_bytes)
                self.assertEqual(self.consumer.try_read().into_bytes(), b"next", where + ": read once")
                self.assertTrue(self.consumer.is_empty(), where)
                if not fired:
                    break
            self.assertGreater(n, 2, operation.__name__)
            self.assertLess(n, MAX_POINTS - 1, operation.__name__)

    def test_every_point_of_close(self):
        for n in range(1, MAX_POINTS):
            where = "close interrupted at point {}".format(n)
            name = unique_name("ic")
            self.addCleanup(unlink_quietly, name)
            producer = ShmProducer(name, 64, unlink_on_close=True)
            consumer = ShmConsumer(name)
            self.addCleanup(self.close_quietly, consumer)
            producer.write(b"before close")
            fired, _ = interrupted_at(n, producer.close)
            retrying(producer.close)
            self.assertTrue(producer.closed, where)
            self.assertFalse(exists(name), where + ": not unlinked")
            self.assertIs(consumer.peer_state(), PeerState.GONE, where + ": the lock is still held")
            self.assertEqual(consumer.try_read().into_bytes(), b"before close", where)
            consumer.close()
            if not fired:
                break
        self.assertGreater(n, 2)
        self.assertLess(n, MAX_POINTS - 1)


# -- SIGINT storms ---------------------------------------------------------------------------

#: Common to both storm children: a SIGINT handler that raises KeyboardInterrupt only while a
#: call of the package runs (``armed``), so that the child's own bookkeeping between calls is
#: never interrupted; ``step`` runs such a call until it has not been interrupted. The child
#: prints ``ready``, waits for the first SIGINT, then streams; it ends by printing
#: ``done INTERRUPTS``.
STORM_COMMON = (
    "import os, signal, sys, shm_ring\n"
    "sys.path.insert(0, sys.argv[3])\n"
    "from tests.test_interrupt import PRODUCER_OPERATIONS, CONSUMER_OPERATIONS, payload\n"
    "name, count = sys.argv[1], int(sys.argv[2])\n"
    "armed = False\n"
    "interrupts = 0\n"
    "def on_sigint(signum, frame):\n"
    "    if armed:\n"
    "        raise KeyboardInterrupt\n"
    "signal.signal(signal.SIGINT, on_sigint)\n"
    "def step(call, end, state, message=None):\n"
    "    global armed, interrupts\n"
    "    while True:\n"
    "        try:\n"
    "            armed = True\n"
    "            # A plain call: the interpreter runs no signal handler between the return\n"
    "            # of a Python function and the next instruction of its caller (3.11+).\n"
    "            if message is None:\n"
    "                result = call(end, state)\n"
    "            else:\n"
    "                result = call(end, message, state)\n"
    "            armed = False\n"
    "            return result\n"
    "        except KeyboardInterrupt:\n"
    "            armed = False\n"
    "            interrupts += 1\n"
)

STORM_PRODUCER = STORM_COMMON + (
    "producer = shm_ring.ShmProducer(name, 1024)\n"
    "print('ready', flush=True)\n"
    "signal.sigwait({signal.SIGINT})\n"
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})\n"
    "state = {}\n"
    "for i in range(count):\n"
    "    step(PRODUCER_OPERATIONS[i % len(PRODUCER_OPERATIONS)], producer, state, payload(i))\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "producer._pending = None\n"
    "producer.wait_until_empty()\n"
    "print('done', interrupts, flush=True)\n"
    "sys.stdin.read()\n"
    "producer.close()\n"
)

STORM_CONSUMER = STORM_COMMON + (
    "consumer = shm_ring.ShmConsumer(name)\n"
    "print('ready', flush=True)\n"
    "signal.sigwait({signal.SIGINT})\n"
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})\n"
    "state = {}\n"
    "for i in range(count):\n"
    "    data = step(CONSUMER_OPERATIONS[i % len(CONSUMER_OPERATIONS)], consumer, state)\n"
    "    if data != payload(i):\n"
    "        print('message', i, 'is', data[:20], 'expected', payload(i)[:20], flush=True)\n"
    "        sys.exit(1)\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "consumer._pending = None\n"
    "extra = consumer.try_read()\n"
    "print('done', interrupts, 'extra' if extra is not None else '', flush=True)\n"
    "sys.stdin.read()\n"
    "consumer.close()\n"
)

#: ``PID``: sends SIGINT to PID every 100 microseconds until PID is gone or stdin closes.
STORM = (
    "import os, select, signal, sys\n"
    "pid = int(sys.argv[1])\n"
    "while not select.select([sys.stdin], [], [], 0.0001)[0]:\n"
    "    try:\n"
    "        os.kill(pid, signal.SIGINT)\n"
    "    except ProcessLookupError:\n"
    "        break\n"
)


class SigintStormTest(unittest.TestCase):
    COUNT = 3000

    def setUp(self):
        self.name = unique_name("storm")
        self.addCleanup(unlink_quietly, self.name)

    def spawn(self, code, *args):
        process = subprocess.Popen(
            [sys.executable, "-c", code] + [str(arg) for arg in args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=peer_env(),
            universal_newlines=True,
            # The SIGINT the child waits for must stay pending until it asks for it.
            preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}),
        )
        self.addCleanup(self.stop, process)
        return process

    def stop(self, process):
        if process.poll() is None:
            process.kill()
        process.wait(HANG_GUARD)
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    def line(self, process):
        ready, _, _ = select.select([process.stdout], [], [], HANG_GUARD)
        line = process.stdout.readline() if ready else ""
        if not line:
            process.kill()
            self.fail("the child ended or hung: {}".format(process.communicate()[1]))
        return line.split()

    def storm(self, child):
        storm = subprocess.Popen(
            [sys.executable, "-c", STORM, str(child.pid)], stdin=subprocess.PIPE
        )
        self.addCleanup(self.stop, storm)
        return storm

    def test_a_producer_under_a_sigint_storm_writes_every_message_once(self):
        root = os.path.dirname(PACKAGE_DIR)
        child = self.spawn(STORM_PRODUCER, self.name, self.COUNT, root)
        self.assertEqual(self.line(child), ["ready"])
        storm = self.storm(child)
        with ShmConsumer(self.name) as consumer:
            for i in range(self.COUNT):
                try:
                    data = consumer.read(timeout=HANG_GUARD).into_bytes()
                except shm_ring.PeerGoneError:
                    child.wait(HANG_GUARD)
                    self.fail("the producer ended at message {}: {}".format(i, child.stderr.read()))
                self.assertEqual(data, payload(i), "message %d" % i)
            done = self.line(child)
            storm.stdin.close()
            storm.wait(HANG_GUARD)
            self.assertEqual(done[0], "done")
            self.assertGreater(int(done[1]), 0, "interrupts caught by the producer")
            self.assertIsNone(consumer.try_read(), "no message written twice")
        child.stdin.close()
        self.assertEqual(child.wait(HANG_GUARD), 0, child.stderr.read())

    def test_a_consumer_under_a_sigint_storm_reads_every_message_once(self):
        root = os.path.dirname(PACKAGE_DIR)
        with ShmProducer(self.name, 1024) as producer:
            child = self.spawn(STORM_CONSUMER, self.name, self.COUNT, root)
            self.assertEqual(self.line(child), ["ready"])
            storm = self.storm(child)
            for i in range(self.COUNT):
                try:
                    producer.write(payload(i), timeout=HANG_GUARD)
                except shm_ring.PeerGoneError:
                    child.wait(HANG_GUARD)
                    self.fail(
                        "the consumer ended at message {}: {} {}".format(
                            i, child.stdout.read(), child.stderr.read()
                        )
                    )
            done = self.line(child)
            storm.stdin.close()
            storm.wait(HANG_GUARD)
            self.assertEqual(done[0], "done", " ".join(done))
            self.assertGreater(int(done[1]), 0, "interrupts caught by the consumer")
            self.assertEqual(done[2:], [], "no message read twice or left over")
            child.stdin.close()
            self.assertEqual(child.wait(HANG_GUARD), 0, child.stderr.read())


if __name__ == "__main__":
    unittest.main()
