"""Sleeping in the kernel and being woken: every blocking call, the flag bytes in the extension
block, the peers that never wake anyone, and the same again with futex or membarrier switched
off."""

import unittest

from shm_ring import ShmConsumer, ShmProducer, _kernel, _wait
from shm_ring._layout import CONSUMER_FLAGS, EXTENSION_MARKER, PRODUCER_FLAGS, extension_offset

from .support import Call, RawSegment, unique_name, unlink_quietly, wait_until

SLEEPING = _kernel.SLEEPING
LOCKED = _kernel.LOCKED
BARRIER = _kernel.BARRIER
#: The flag bytes of the 64-byte rings used here: bytes 0 and 1 of the extension block.
EXTENSION = extension_offset(64)
PRODUCER_BYTE = EXTENSION + PRODUCER_FLAGS
CONSUMER_BYTE = EXTENSION + CONSUMER_FLAGS

#: Timeout of the blocked calls: reached only if a wake-up is lost.
BLOCKED_TIMEOUT = 30


class Switches:
    """Mixin: sets the kernel-facility switches for the test, and makes lost wake-ups visible.

    With futex and membarrier on, the kernel slice against one of our peers is raised far
    above ``BLOCKED_TIMEOUT``, so a blocked call that returns in time was woken (or saw the
    change before it slept), never rescued by the end of a slice. Polling sleeps are recorded
    so that the no-futex variant can tell when a call is blocked.
    """

    FUTEX = True
    MEMBARRIER = True

    def setUp(self):
        super().setUp()
        for module, attribute, value in (
            (_kernel, "use_futex", self.FUTEX),
            (_kernel, "use_membarrier", self.MEMBARRIER),
            (_wait, "WAKER_SLICE", 600.0),
        ):
            self.addCleanup(setattr, module, attribute, getattr(module, attribute))
            setattr(module, attribute, value)
        self.naps = 0
        original = _wait.pause

        def pause(seconds):
            self.naps += 1
            original(seconds)

        self.addCleanup(setattr, _wait, "pause", original)
        _wait.pause = pause

    def sleeps_in_kernel(self):
        return self.FUTEX and _kernel.futex_available()

    def wait_blocked(self, mm, flag_byte, call):
        """Return once ``call`` is blocked: its side's SLEEPING bit is set (kernel sleep) or,
        without futex or without a flag byte (``flag_byte`` None: no extension block), it has
        started napping."""
        if self.sleeps_in_kernel() and flag_byte is not None:
            wait_until(lambda: mm[flag_byte] & SLEEPING, "the SLEEPING bit", thread=call)
        else:
            wait_until(lambda: self.naps > 0, "the call sleeping", thread=call)
            if flag_byte is not None:
                self.assertEqual(mm[flag_byte] & SLEEPING, 0, "SLEEPING set without futex")

    def start(self, function):
        self.naps = 0
        call = Call(function)
        call.start()
        return call


class WakeTest(Switches, unittest.TestCase):
    CAPACITY = 64

    def setUp(self):
        super().setUp()
        self.name = unique_name("w")
        self.addCleanup(unlink_quietly, self.name)
        self.producer = ShmProducer(self.name, self.CAPACITY)
        self.addCleanup(self.producer.close)
        self.consumer = ShmConsumer(self.name)
        self.addCleanup(self.consumer.close)
        self.mm = self.producer._mm

    def fill(self):
        """Fill the ring with 26-byte messages (two records use 60 of 64 bytes)."""
        written = []
        while True:
            payload = bytes([65 + len(written)]) * 26
            if not self.producer.try_write(payload):
                return written
            written.append(payload)

    def test_flags_advertise_what_this_process_can_do(self):
        barrier = self.FUTEX and self.MEMBARRIER and _kernel.barrier_registered()
        expected = (LOCKED if _kernel.locks_available() else 0) | (BARRIER if barrier else 0)
        self.assertEqual(self.mm[PRODUCER_BYTE], expected)
        self.assertEqual(self.mm[CONSUMER_BYTE], expected)
        self.assertEqual(self.mm[12:16], EXTENSION_MARKER.to_bytes(4, "little"))
        self.assertEqual(self.mm[EXTENSION + 2 : EXTENSION + 64], bytes(62))

    def test_blocked_reads_return_when_a_message_is_written(self):
        buffer = bytearray(64)

        def read_view():
            with self.consumer.read_view(timeout=BLOCKED_TIMEOUT) as view:
                return view.tobytes()

        calls = {
            "read": lambda: self.consumer.read(timeout=BLOCKED_TIMEOUT),
            "read_into": lambda: bytes(
                buffer[: self.consumer.read_into(buffer, timeout=BLOCKED_TIMEOUT)]
            ),
            "read_view": read_view,
            "read_batch": lambda: self.consumer.read_batch(4, timeout=BLOCKED_TIMEOUT),
        }
        producer_flags = self.mm[PRODUCER_BYTE]
        consumer_flags = self.mm[CONSUMER_BYTE]
        for number, (what, function) in enumerate(sorted(calls.items())):
            with self.subTest(call=what):
                payload = b"wake up %d" % number
                call = self.start(function)
                self.wait_blocked(self.mm, CONSUMER_BYTE, call)
                self.assertEqual(self.mm[PRODUCER_BYTE], producer_flags)
                self.producer.write(payload)
                result = call.finish()
                self.assertEqual(result, [payload] if what == "read_batch" else payload)
                # The consumer cleared its own bit; nobody touched the producer's byte.
                self.assertEqual(self.mm[CONSUMER_BYTE], consumer_flags)
                self.assertEqual(self.mm[PRODUCER_BYTE], producer_flags)

    def test_blocked_writes_return_when_the_consumer_reads(self):
        def reserve():
            with self.producer.reserve(26, timeout=BLOCKED_TIMEOUT) as reservation:
                reservation.write(b"r" * 26)
                reservation.commit()
            return True

        calls = {
            "write": lambda: self.producer.write(b"w" * 26, timeout=BLOCKED_TIMEOUT),
            "write_batch": lambda: self.producer.write_batch([b"b" * 26], timeout=BLOCKED_TIMEOUT),
            "reserve": reserve,
        }
        expected_last = {"write": b"w" * 26, "write_batch": b"b" * 26, "reserve": b"r" * 26}
        producer_flags = self.mm[PRODUCER_BYTE]
        consumer_flags = self.mm[CONSUMER_BYTE]
        for what, function in sorted(calls.items()):
            with self.subTest(call=what):
                written = self.fill()
                call = self.start(function)
                self.wait_blocked(self.mm, PRODUCER_BYTE, call)
                self.assertEqual(self.mm[CONSUMER_BYTE], consumer_flags)
                self.assertEqual(self.consumer.read(timeout=0), written[0])
                call.finish()
                self.assertEqual(self.mm[PRODUCER_BYTE], producer_flags)
                self.assertEqual(self.mm[CONSUMER_BYTE], consumer_flags)
                rest = self.consumer.read_batch(8, timeout=0)
                self.assertEqual(rest, written[1:] + [expected_last[what]])

    def test_wait_until_empty_returns_when_the_consumer_has_read_everything(self):
        written = self.fill()

        def wait():
            self.producer.wait_until_empty(timeout=BLOCKED_TIMEOUT)
            return self.producer.readable_bytes()

        call = self.start(wait)
        self.wait_blocked(self.mm, PRODUCER_BYTE, call)
        self.assertEqual(self.consumer.read(timeout=0), written[0])
        self.assertEqual(self.consumer.read_batch(8, timeout=0), written[1:])
        self.assertEqual(call.finish(), 0)

    def test_threads_exchange_many_messages_through_a_small_ring(self):
        count = 3000

        def consume():
            return [self.consumer.read(timeout=BLOCKED_TIMEOUT) for _ in range(count)]

        call = self.start(consume)
        for i in range(count):
            self.producer.write(i.to_bytes(4, "little") * (1 + i % 10), timeout=BLOCKED_TIMEOUT)
        self.assertEqual(
            call.finish(), [i.to_bytes(4, "little") * (1 + i % 10) for i in range(count)]
        )


class WakerTest(Switches, unittest.TestCase):
    """Who wakes whom, with the sleeping side's flag byte set by hand."""

    def setUp(self):
        super().setUp()
        self.name = unique_name("k")
        self.addCleanup(unlink_quietly, self.name)
        self.producer = ShmProducer(self.name, 64)
        self.addCleanup(self.producer.close)
        self.consumer = ShmConsumer(self.name)
        self.addCleanup(self.consumer.close)
        self.buf = self.producer._buf
        self.wakes = {"producer": 0, "consumer": 0}
        for role, end in (("producer", self.producer), ("consumer", self.consumer)):
            original = end._wake

            def counted(role=role, original=original):
                self.wakes[role] += 1
                original()

            end._wake = counted

    def test_the_producer_wakes_a_sleeping_consumer_and_writes_only_its_own_byte(self):
        producer_flags = self.buf[PRODUCER_BYTE]
        consumer_flags = self.buf[CONSUMER_BYTE]
        self.producer.write(b"nobody sleeps")
        self.assertEqual(self.wakes["producer"], 0)
        self.assertEqual(self.consumer.read(timeout=0), b"nobody sleeps")
        self.buf[CONSUMER_BYTE] = consumer_flags | SLEEPING
        self.producer.write(b"one")
        self.assertEqual(self.wakes["producer"], 1)
        # The consumer has not read "one", so it cannot be asleep on the head before "two":
        # no second wake-up while its bit is still set.
        self.producer.write_batch([b"two"])
        self.assertEqual(self.wakes["producer"], 1)
        self.assertEqual(self.buf[CONSUMER_BYTE], consumer_flags | SLEEPING)
        self.assertEqual(self.buf[PRODUCER_BYTE], producer_flags)
        self.assertEqual(self.consumer.read_batch(4, timeout=0), [b"one", b"two"])
        # Caught up again: the next publication (here a commit) wakes it.
        with self.producer.reserve(5) as reservation:
            reservation.write(b"three")
            reservation.commit()
        self.assertEqual(self.wakes["producer"], 2)
        self.assertEqual(self.buf[CONSUMER_BYTE], consumer_flags | SLEEPING)
        self.assertEqual(self.wakes["consumer"], 0)

    def test_the_consumer_wakes_a_sleeping_producer_and_writes_only_its_own_byte(self):
        producer_flags = self.buf[PRODUCER_BYTE]
        consumer_flags = self.buf[CONSUMER_BYTE]
        for payload in (b"a", b"b", b"c", b"d"):
            self.producer.write(payload)
        self.assertEqual(self.consumer.read(timeout=0), b"a")
        self.assertEqual(self.wakes["consumer"], 0)
        self.buf[PRODUCER_BYTE] = producer_flags | SLEEPING
        buffer = bytearray(4)
        self.assertEqual(self.consumer.read_into(buffer, timeout=0), 1)
        self.assertEqual(self.wakes["consumer"], 1)
        self.assertEqual(self.consumer.read_batch(1, timeout=0), [b"c"])
        self.assertEqual(self.wakes["consumer"], 2)
        with self.consumer.read_view(timeout=0) as view:
            self.assertEqual(view.tobytes(), b"d")
        self.assertEqual(self.wakes["consumer"], 3)
        self.assertEqual(self.buf[PRODUCER_BYTE], producer_flags | SLEEPING)
        self.assertEqual(self.buf[CONSUMER_BYTE], consumer_flags)
        self.assertEqual(self.wakes["producer"], 0)


class SilentPeerTest(Switches, unittest.TestCase):
    """The other side is the original library: flags 0, plain stores, nobody ever wakes."""

    def setUp(self):
        super().setUp()
        self.name = unique_name("s")
        self.addCleanup(unlink_quietly, self.name)

    def test_a_blocked_read_sees_a_record_written_by_hand(self):
        raw = RawSegment(self.name, 16 + 64, capacity=64)
        self.addCleanup(raw.close)
        with ShmConsumer(self.name) as consumer:
            self.assertIsNone(consumer.is_peer_alive())
            call = self.start(lambda: consumer.read(timeout=BLOCKED_TIMEOUT))
            # No extension block: nothing announces the sleep, the consumer polls.
            self.wait_blocked(raw.mm, None, call)
            head = raw.put_record(0, b"from the old library")
            raw.set_words(head=head)
            self.assertEqual(call.finish(), b"from the old library")
            self.assertEqual(raw.mm[12:16], bytes(4))

    def test_a_blocked_write_sees_a_tail_advanced_by_hand(self):
        with ShmProducer(self.name, 64) as producer:
            raw_mm = producer._mm
            self.assertTrue(producer.try_write(b"x" * 26))
            self.assertTrue(producer.try_write(b"y" * 26))
            self.assertIsNone(producer.is_peer_alive())
            call = self.start(lambda: producer.write(b"z" * 26, timeout=BLOCKED_TIMEOUT))
            self.wait_blocked(raw_mm, PRODUCER_BYTE, call)
            raw_mm[4:8] = (30).to_bytes(4, "little")  # a consumer that read one record
            call.finish()
            self.assertEqual(int.from_bytes(raw_mm[0:4], "little"), 90)
            self.assertEqual(raw_mm[CONSUMER_BYTE], 0)


class WakeNoMembarrierTest(WakeTest):
    MEMBARRIER = False


class WakeNoFutexTest(WakeTest):
    FUTEX = False


class WakerNoFutexTest(WakerTest):
    FUTEX = False


class SilentPeerNoMembarrierTest(SilentPeerTest):
    MEMBARRIER = False


class SilentPeerNoFutexTest(SilentPeerTest):
    FUTEX = False


if __name__ == "__main__":
    unittest.main()
