"""Liveness: the locks each side holds, the LOCKED bit in the extension block, peers that die
(SIGKILL of a child process) or close, and live segments that are not taken over."""

import os
import select
import subprocess
import sys
import unittest

from shm_ring import InUseError, PeerGoneError, PeerState, ShmConsumer, ShmProducer, _kernel, _segment, _wait
from shm_ring._layout import CONSUMER_FLAGS, PRODUCER_FLAGS, extension_offset

from .support import (
    CONSUMER_CHILD,
    PRODUCER_CHILD,
    Call,
    HANG_GUARD,
    Child,
    SleepCounter,
    exists,
    fstat,
    peer_env,
    unique_name,
    unlink_quietly,
    wait_until,
)

LOCKED = _kernel.LOCKED
SLEEPING = _kernel.SLEEPING

#: Timeout of the blocked calls: they end long before, when they notice the other side gone.
BLOCKED_TIMEOUT = 300
#: How many sleeps a blocked call may complete once the other side is gone: the one under way
#: (or one begun just before the other side went), then it asks whether the other side lives
#: before sleeping again. Counted, not timed, so that a loaded machine changes nothing.
SLEEPS_TO_NOTICE = 2


@unittest.skipUnless(_kernel.locks_available(), "no OFD locks on this system")
class LivenessTest(unittest.TestCase):
    CAPACITY = 64

    def setUp(self):
        self.sleeps = SleepCounter().install(self)
        self.name = unique_name("l")
        self.addCleanup(unlink_quietly, self.name)
        extension = extension_offset(self.CAPACITY)
        self.producer_at = extension + PRODUCER_FLAGS
        self.consumer_at = extension + CONSUMER_FLAGS

    def child(self, code, *args):
        child = Child(code, self.name, *args).wait_ready()
        self.addCleanup(child.kill)
        return child

    def blocked(self, function, mm, flag_at):
        """Start ``function`` in a thread and return once it sleeps (its SLEEPING bit is set)
        or, without futex, once it has had time to start waiting."""
        naps = self.sleeps.naps
        call = Call(function)
        call.start()
        if _kernel.futex_available():
            wait_until(lambda: mm[flag_at] & SLEEPING, "the call asleep", thread=call)
        else:
            wait_until(lambda: self.sleeps.naps > naps, "the call napping", thread=call)
        return call

    def expect_gone(self, call, since, peer):
        """``call`` raises PeerGoneError for ``peer`` after at most SLEEPS_TO_NOTICE sleeps
        from ``since`` (the sleep count when the peer went)."""
        with self.assertRaises(PeerGoneError) as caught:
            call.finish()
        self.assertEqual(caught.exception.peer, peer)
        self.assertIsInstance(caught.exception, ConnectionError)
        self.assertLessEqual(
            self.sleeps.sleeps() - since,
            SLEEPS_TO_NOTICE,
            "the gone {} was noticed late, after that many sleeps".format(peer),
        )

    def test_a_consumer_drains_a_dead_producer_then_reports_it_gone(self):
        child = self.child(PRODUCER_CHILD, self.CAPACITY, 3)
        with ShmConsumer(self.name, timeout=BLOCKED_TIMEOUT) as consumer:
            mm = consumer._mm
            self.assertEqual(mm[self.producer_at] & LOCKED, LOCKED)
            self.assertEqual(mm[self.consumer_at] & LOCKED, LOCKED)
            self.assertIs(consumer.peer_state(), PeerState.ALIVE)
            self.assertEqual(consumer.read(timeout=0).into_bytes(), b"m0")
            child.kill()
            self.assertIs(consumer.peer_state(), PeerState.GONE)
            # What was published before the end is still delivered, then the end is reported.
            self.assertEqual(consumer.read(timeout=BLOCKED_TIMEOUT).into_bytes(), b"m1")
            self.assertEqual(consumer.read_batch(4, timeout=BLOCKED_TIMEOUT), [b"m2"])
            since = self.sleeps.sleeps()
            with self.assertRaises(PeerGoneError) as caught:
                consumer.read(timeout=BLOCKED_TIMEOUT).into_bytes()
            self.assertEqual(caught.exception.peer, "producer")
            self.assertEqual(self.sleeps.sleeps(), since, "the producer was known gone")
            # Non-blocking calls are unchanged.
            self.assertIsNone(consumer.try_read())

    def test_a_blocked_read_notices_the_producer_die(self):
        child = self.child(PRODUCER_CHILD, self.CAPACITY, 0)
        with ShmConsumer(self.name, timeout=BLOCKED_TIMEOUT) as consumer:
            call = self.blocked(
                lambda: consumer.read(timeout=BLOCKED_TIMEOUT).into_bytes(), consumer._mm, self.consumer_at
            )
            child.kill()  # returns once the child is reaped: its lock is gone
            since = self.sleeps.sleeps()
            self.expect_gone(call, since, "producer")

    def test_a_blocked_write_notices_the_consumer_die(self):
        with ShmProducer(self.name, self.CAPACITY) as producer:
            self.assertIs(producer.peer_state(), PeerState.UNKNOWN)  # no consumer has attached yet
            child = self.child(CONSUMER_CHILD)
            self.assertIs(producer.peer_state(), PeerState.ALIVE)
            while producer.try_write(b"x" * 26):
                pass
            call = self.blocked(
                lambda: producer.write(b"y" * 26, timeout=BLOCKED_TIMEOUT),
                producer._mm,
                self.producer_at,
            )
            child.kill()  # returns once the child is reaped: its lock is gone
            since = self.sleeps.sleeps()
            self.expect_gone(call, since, "consumer")
            self.assertIs(producer.peer_state(), PeerState.GONE)
            # The consumer's LOCKED bit stays: "gone", not "never attached".
            self.assertEqual(producer._mm[self.consumer_at] & LOCKED, LOCKED)

    def test_closing_the_consumer_wakes_a_sleeping_producer_at_once(self):
        # The slice is raised above the call's timeout: only the wake-up on close ends the
        # sleep (a slice that runs out is counted), and it finds the consumer gone.
        self.addCleanup(setattr, _wait, "WAKER_SLICE", _wait.WAKER_SLICE)
        _wait.WAKER_SLICE = 2 * BLOCKED_TIMEOUT
        with ShmProducer(self.name, self.CAPACITY) as producer:
            consumer = ShmConsumer(self.name)
            self.addCleanup(consumer.close)
            while producer.try_write(b"x" * 26):
                pass

            def wait():
                producer.wait_until_empty(timeout=BLOCKED_TIMEOUT)

            call = self.blocked(wait, producer._mm, self.producer_at)
            since = self.sleeps.sleeps()
            consumer.close()
            self.expect_gone(call, since, "consumer")
            if _kernel.futex_available() and _kernel.barrier_registered():
                self.assertEqual(self.sleeps.run_out, 0, "a slice ran out: no wake-up on close")

    def test_closing_releases_the_lock_before_waking_the_other_side(self):
        # Woken by a close, the other side asks at once whether this side lives: the lock
        # must be gone by then, or it sleeps again for a whole slice.
        seen = []
        original = _wait.Waiter.closing

        def closing(waiter):
            seen.append((waiter.role, _kernel.lock_held(probe, _kernel.CONSUMER_LOCK_BYTE)))
            seen.append((waiter.role, _kernel.lock_held(probe, _kernel.PRODUCER_LOCK_BYTE)))
            original(waiter)

        self.addCleanup(setattr, _wait.Waiter, "closing", original)
        _wait.Waiter.closing = closing
        producer = ShmProducer(self.name, self.CAPACITY)
        self.addCleanup(producer.close)
        consumer = ShmConsumer(self.name)
        probe = _segment._shm_open(self.name, os.O_RDONLY, 0)
        self.addCleanup(os.close, probe)
        consumer.close()
        producer.close()
        self.assertEqual(
            seen,
            [("consumer", False), ("consumer", True), ("producer", False), ("producer", False)],
        )

    def test_a_second_consumer_is_refused_while_the_first_lives(self):
        with ShmProducer(self.name, self.CAPACITY) as producer:
            child = self.child(CONSUMER_CHILD)
            with self.assertRaises(InUseError) as caught:
                ShmConsumer(self.name)
            self.assertEqual(
                (caught.exception.name, caught.exception.holder), (self.name, "consumer")
            )
            child.kill()
            self.assertIs(producer.peer_state(), PeerState.GONE)
            with ShmConsumer(self.name) as consumer:
                self.assertIs(producer.peer_state(), PeerState.ALIVE)
                self.assertIs(consumer.peer_state(), PeerState.ALIVE)

    def test_a_live_producer_is_not_replaced_and_a_dead_one_is(self):
        child = self.child(PRODUCER_CHILD, self.CAPACITY, 1)
        before = fstat(self.name)
        with self.assertRaises(InUseError) as caught:
            ShmProducer(self.name, 128)
        self.assertEqual((caught.exception.name, caught.exception.holder), (self.name, "producer"))
        after = fstat(self.name)
        self.assertEqual((after.st_ino, after.st_size), (before.st_ino, before.st_size))
        child.kill()
        with ShmProducer(self.name, 128) as producer:
            self.assertEqual(producer.capacity, 128)
            self.assertEqual(fstat(self.name).st_size, 256)  # data 16..144, block 192..256


#: A racing creator: ``ID GO_FD COUNT``. For each line ``NAME unlink|keep`` on stdin it says
#: ``armed``, waits for one byte on the shared GO_FD pipe (all racers are released at once),
#: tries to create NAME and says ``won``, ``inuse`` or ``error ...``. A winner then writes
#: COUNT messages b"ID:i", waits until they are read, and closes (unlinking the name or not)
#: when it reads ``close``, then says ``closed``.
RACER = (
    "import os, sys, shm_ring\n"
    "me, go, count = sys.argv[1].encode(), int(sys.argv[2]), int(sys.argv[3])\n"
    "print('ready', flush=True)\n"
    "for line in sys.stdin:\n"
    "    name, ending = line.split()\n"
    "    print('armed', flush=True)\n"
    "    os.read(go, 1)\n"
    "    try:\n"
    "        producer = shm_ring.ShmProducer(name, 64, unlink_on_close=ending == 'unlink')\n"
    "    except shm_ring.InUseError as error:\n"
    "        print('inuse' if error.holder == 'producer' else 'error %s' % error, flush=True)\n"
    "        continue\n"
    "    except Exception as error:\n"
    "        print('error %r' % error, flush=True)\n"
    "        continue\n"
    "    print('won', flush=True)\n"
    "    for i in range(count):\n"
    "        producer.write(b'%s:%d' % (me, i))\n"
    "    producer.wait_until_empty()\n"
    "    sys.stdin.readline()\n"
    "    producer.close()\n"
    "    print('closed', flush=True)\n"
)


class CreateRaceTest(unittest.TestCase):
    """Creators racing for one name: exactly one wins, the others get InUseError, and the
    name refers to the winner's segment."""

    RACERS = 8
    ROUNDS = 100
    COUNT = 50

    def setUp(self):
        self.assertTrue(_kernel.locks_available(), "this test needs Linux OFD locks")
        self.name = unique_name("race")
        self.addCleanup(unlink_quietly, self.name)
        go_read, self.go = os.pipe()
        self.addCleanup(os.close, self.go)
        self.racers = []
        try:
            for racer in range(self.RACERS):
                process = subprocess.Popen(
                    [sys.executable, "-c", RACER, str(racer), str(go_read), str(self.COUNT)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=peer_env(),
                    universal_newlines=True,
                    pass_fds=(go_read,),
                )
                self.addCleanup(self.stop, process)
                self.racers.append(process)
        finally:
            os.close(go_read)
        for process in self.racers:
            self.assertEqual(self.line(process), "ready")

    def stop(self, process):
        if process.poll() is None:
            process.kill()
        process.wait(HANG_GUARD)
        for stream in (process.stdin, process.stdout, process.stderr):
            stream.close()

    def line(self, process):
        ready, _, _ = select.select([process.stdout], [], [], HANG_GUARD)
        line = process.stdout.readline() if ready else ""
        if not line:
            self.stop(process)
            self.fail("a racer ended or hung: {}".format(process.stderr.read()))
        return line.strip()

    def tell(self, process, line):
        process.stdin.write(line + "\n")
        process.stdin.flush()

    def test_exactly_one_of_many_simultaneous_creators_wins(self):
        for round_ in range(self.ROUNDS):
            # Every other round the winner leaves its (then stale) segment behind, so that the
            # next round's creators race to replace it rather than to create the name.
            ending = "unlink" if round_ % 2 else "keep"
            for process in self.racers:
                self.tell(process, "{} {}".format(self.name, ending))
            for process in self.racers:
                self.assertEqual(self.line(process), "armed")
            os.write(self.go, b"g" * self.RACERS)
            outcomes = [self.line(process) for process in self.racers]
            winners = [racer for racer, outcome in enumerate(outcomes) if outcome == "won"]
            self.assertEqual(
                len(winners), 1, "round {}: outcomes {}".format(round_, outcomes)
            )
            self.assertEqual(
                outcomes.count("inuse"), self.RACERS - 1, "round {}: {}".format(round_, outcomes)
            )
            winner = winners[0]
            with ShmConsumer(self.name, timeout=HANG_GUARD) as consumer:
                self.assertIs(consumer.peer_state(), PeerState.ALIVE)
                for i in range(self.COUNT):
                    self.assertEqual(
                        consumer.read(timeout=HANG_GUARD).into_bytes(),
                        b"%d:%d" % (winner, i),
                        "round {}, message {}".format(round_, i),
                    )
                self.tell(self.racers[winner], "close")
                self.assertEqual(self.line(self.racers[winner]), "closed")
            self.assertEqual(exists(self.name), ending == "keep", "round {}".format(round_))


if __name__ == "__main__":
    unittest.main()
