"""Sleeping in the kernel and being woken: every blocking call, the flag bytes in the extension
block, the peers that never wake anyone, and the same again with futex or membarrier switched
off."""

import unittest

from shm_ring import PeerState, ShmConsumer, ShmProducer, _kernel, _wait
from shm_ring._layout import CONSUMER_FLAGS, EXTENSION_LEN, EXTENSION_MARKER, PRODUCER_FLAGS
from shm_ring._layout import extension_offset

from .support import (
    Call,
    RawSegment,
    SleepCounter,
    in_futex_wait,
    unique_name,
    unlink_quietly,
    wait_until,
)

SLEEPING = _kernel.SLEEPING
LOCKED = _kernel.LOCKED
BARRIER = _kernel.BARRIER

#: The header words the two sides sleep on: the consumer on head, the producer on tail.
HEAD = 0
TAIL = 4

#: Timeout of the blocked calls: reached only if a wake-up is lost (and then the kernel sleep
#: that ends at this deadline is counted as one that ran out).
BLOCKED_TIMEOUT = 30


class Switches:
    """Mixin: sets the kernel-facility switches for the test, and makes lost wake-ups visible.

    With futex and membarrier on, the kernel slice against one of our peers is raised far
    above ``BLOCKED_TIMEOUT``, so every kernel sleep of a blocked call ends by a wake-up (or
    by the word changing before it slept): one that runs out its slice (or runs into the
    deadline) is counted, and means a wake-up was lost. No clock is read. Polling sleeps are
    counted too, so that the no-futex variant can tell when a call is blocked, and so are the
    wake-ups each end issues.
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
        self.sleeps = SleepCounter().install(self)
        self.wakes = {"producer": 0, "consumer": 0}

    def count_wakes(self, role, end):
        """Count the wake-ups ``end`` (the ``role``) issues after publishing."""
        original = end._wake

        def counted():
            self.wakes[role] += 1
            original()

        end._wake = counted

    def sleeps_in_kernel(self):
        return self.FUTEX and _kernel.futex_available()

    def wait_blocked(self, mm, flag_at, word_at, call):
        """Return once ``call`` is blocked. With futex and a flag byte to announce it (at
        ``flag_at``; None without an extension block), that is: its SLEEPING bit is set and its
        thread sleeps in FUTEX_WAIT on the header word at ``word_at``. Otherwise: it has
        started napping, without ever setting SLEEPING. ``mm`` is the sleeping end's own
        mapping (the futex address is its address of the word)."""
        if self.sleeps_in_kernel() and flag_at is not None:
            address = _kernel.word_address(mm, word_at)

            def asleep():
                if not mm[flag_at] & SLEEPING:
                    return False
                return in_futex_wait(call.native_id, address) is not False

            wait_until(asleep, "the call asleep in FUTEX_WAIT", thread=call)
        else:
            wait_until(lambda: self.sleeps.naps > 0, "the call sleeping", thread=call)
            if flag_at is not None:
                self.assertEqual(mm[flag_at] & SLEEPING, 0, "SLEEPING set without futex")

    def start(self, function):
        self.sleeps.naps = self.sleeps.run_out = 0
        call = Call(function)
        call.start()
        return call

    def finish_woken(self, call):
        """The call's result; with long kernel sleeps, fails if one of them ran out instead
        of being woken (a lost wake-up)."""
        result = call.finish()
        if getattr(self, "long_sleeps", False):
            self.assertEqual(
                self.sleeps.run_out, 0, "a kernel sleep ran out its slice: a wake-up was lost"
            )
        return result


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
        extension = extension_offset(self.CAPACITY)
        self.producer_at = extension + PRODUCER_FLAGS
        self.consumer_at = extension + CONSUMER_FLAGS
        self.count_wakes("producer", self.producer)
        self.count_wakes("consumer", self.consumer)
        both = LOCKED | BARRIER
        # Both ends advertise that they wake the other and can be fenced: every kernel sleep
        # then lasts the (raised) waker slice, so only a wake-up ends it in time.
        self.long_sleeps = (
            self.sleeps_in_kernel()
            and self.mm[self.producer_at] & both == both
            and self.mm[self.consumer_at] & both == both
        )

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
        extension = extension_offset(self.CAPACITY)
        self.assertEqual(self.mm[12:16], EXTENSION_MARKER.to_bytes(4, "little"))
        self.assertEqual(self.mm[self.producer_at], expected)
        self.assertEqual(self.mm[self.consumer_at], expected)
        rest = self.mm[extension + 2 : extension + EXTENSION_LEN]
        self.assertEqual(rest, bytes(EXTENSION_LEN - 2))
        if self.FUTEX and self.MEMBARRIER and _kernel.futex_available():
            # The wake-up tests below rely on long sleeps where the kernel allows them.
            self.assertEqual(self.long_sleeps, expected == LOCKED | BARRIER)

    def publishers(self):
        """Each way the producer publishes, as functions writing ``payload``."""

        def reserve(payload):
            with self.producer.reserve(len(payload), timeout=0) as reservation:
                reservation.copy_from(payload)
                reservation.commit()

        return {
            "write": lambda payload: self.producer.write(payload, timeout=0),
            "write_batch": lambda payload: self.producer.write_batch([payload], timeout=0),
            "reserve": reserve,
        }

    def readers(self):
        """Each way the consumer reads (and so publishes its tail), as functions taking a
        timeout and returning one message."""
        buffer = bytearray(64)

        def read_into(timeout):
            return bytes(buffer[: self.consumer.read(timeout=timeout).into_buffer(buffer)])

        def read_view(timeout):
            with self.consumer.read(timeout=timeout) as grant:
                first, second = grant.as_slices()
                data = bytes(first) + bytes(second)
                del first, second
                grant.commit()
                return data

        def read_batch(timeout):
            batch = self.consumer.read_batch(1, timeout=timeout)
            self.assertEqual(len(batch), 1)
            return batch[0]

        return {
            "read": lambda timeout: self.consumer.read(timeout=timeout).into_bytes(),
            "read_into": read_into,
            "read_view": read_view,
            "read_batch": read_batch,
        }

    def test_blocked_reads_return_when_a_message_is_written(self):
        producer_flags = self.mm[self.producer_at]
        consumer_flags = self.mm[self.consumer_at]
        number = 0
        for reader, read in sorted(self.readers().items()):
            for publisher, publish in sorted(self.publishers().items()):
                with self.subTest(call=reader, publisher=publisher):
                    number += 1
                    payload = b"wake up %d" % number
                    self.wakes["producer"] = 0
                    call = self.start(lambda: read(BLOCKED_TIMEOUT))
                    self.wait_blocked(self.consumer._mm, self.consumer_at, HEAD, call)
                    self.assertEqual(self.mm[self.producer_at], producer_flags)
                    publish(payload)
                    self.assertEqual(self.finish_woken(call), payload)
                    if self.long_sleeps:
                        self.assertEqual(self.wakes["producer"], 1)
                    elif not self.sleeps_in_kernel():
                        self.assertEqual(self.wakes["producer"], 0)
                    # The consumer cleared its own bit; nobody touched the producer's byte.
                    self.assertEqual(self.mm[self.consumer_at], consumer_flags)
                    self.assertEqual(self.mm[self.producer_at], producer_flags)

    def test_blocked_writes_return_when_the_consumer_reads(self):
        def reserve():
            with self.producer.reserve(26, timeout=BLOCKED_TIMEOUT) as reservation:
                reservation.copy_from(b"r" * 26)
                reservation.commit()
            return True

        calls = {
            "write": lambda: self.producer.write(b"w" * 26, timeout=BLOCKED_TIMEOUT),
            "write_batch": lambda: self.producer.write_batch([b"b" * 26], timeout=BLOCKED_TIMEOUT),
            "reserve": reserve,
        }
        expected_last = {"write": b"w" * 26, "write_batch": b"b" * 26, "reserve": b"r" * 26}
        producer_flags = self.mm[self.producer_at]
        consumer_flags = self.mm[self.consumer_at]
        for what, function in sorted(calls.items()):
            for reader, read in sorted(self.readers().items()):
                with self.subTest(call=what, reader=reader):
                    written = self.fill()
                    self.wakes["consumer"] = 0
                    call = self.start(function)
                    self.wait_blocked(self.mm, self.producer_at, TAIL, call)
                    self.assertEqual(self.mm[self.consumer_at], consumer_flags)
                    self.assertEqual(read(0), written[0])
                    self.finish_woken(call)
                    if self.long_sleeps:
                        self.assertEqual(self.wakes["consumer"], 1)
                    elif not self.sleeps_in_kernel():
                        self.assertEqual(self.wakes["consumer"], 0)
                    self.assertEqual(self.mm[self.producer_at], producer_flags)
                    self.assertEqual(self.mm[self.consumer_at], consumer_flags)
                    rest = self.consumer.read_batch(8, timeout=0)
                    self.assertEqual(rest, written[1:] + [expected_last[what]])

    def test_wait_until_empty_returns_when_the_consumer_has_read_everything(self):
        written = self.fill()

        def wait():
            self.producer.wait_until_empty(timeout=BLOCKED_TIMEOUT)
            return self.producer.readable_bytes()

        call = self.start(wait)
        self.wait_blocked(self.mm, self.producer_at, TAIL, call)
        self.assertEqual(self.consumer.read(timeout=0).into_bytes(), written[0])
        self.assertEqual(self.consumer.read_batch(8, timeout=0), written[1:])
        self.assertEqual(self.finish_woken(call), 0)
        if self.long_sleeps:
            self.assertGreaterEqual(self.wakes["consumer"], 1)

    def test_threads_exchange_many_messages_through_a_small_ring(self):
        count = 3000

        def consume():
            return [self.consumer.read(timeout=BLOCKED_TIMEOUT).into_bytes() for _ in range(count)]

        call = self.start(consume)
        for i in range(count):
            self.producer.write(i.to_bytes(4, "little") * (1 + i % 10), timeout=BLOCKED_TIMEOUT)
        self.assertEqual(
            self.finish_woken(call), [i.to_bytes(4, "little") * (1 + i % 10) for i in range(count)]
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
        self.producer_at = extension_offset(64) + PRODUCER_FLAGS
        self.consumer_at = extension_offset(64) + CONSUMER_FLAGS
        self.count_wakes("producer", self.producer)
        self.count_wakes("consumer", self.consumer)

    def test_the_producer_wakes_a_sleeping_consumer_and_writes_only_its_own_byte(self):
        producer_flags = self.buf[self.producer_at]
        consumer_flags = self.buf[self.consumer_at]
        self.producer.write(b"nobody sleeps")
        self.assertEqual(self.wakes["producer"], 0)
        self.assertEqual(self.consumer.read(timeout=0).into_bytes(), b"nobody sleeps")
        self.buf[self.consumer_at] = consumer_flags | SLEEPING
        self.producer.write(b"one")
        self.assertEqual(self.wakes["producer"], 1)
        # The consumer has not read "one", so it cannot be asleep on the head before "two":
        # no second wake-up while its bit is still set.
        self.producer.write_batch([b"two"])
        self.assertEqual(self.wakes["producer"], 1)
        self.assertEqual(self.buf[self.consumer_at], consumer_flags | SLEEPING)
        self.assertEqual(self.buf[self.producer_at], producer_flags)
        self.assertEqual(self.consumer.read_batch(4, timeout=0), [b"one", b"two"])
        # Caught up again: the next publication (here a commit) wakes it.
        with self.producer.reserve(5) as reservation:
            reservation.copy_from(b"three")
            reservation.commit()
        self.assertEqual(self.wakes["producer"], 2)
        self.assertEqual(self.buf[self.consumer_at], consumer_flags | SLEEPING)
        self.assertEqual(self.wakes["consumer"], 0)

    def test_the_consumer_wakes_a_sleeping_producer_and_writes_only_its_own_byte(self):
        producer_flags = self.buf[self.producer_at]
        consumer_flags = self.buf[self.consumer_at]
        for payload in (b"a", b"b", b"c", b"d"):
            self.producer.write(payload)
        self.assertEqual(self.consumer.read(timeout=0).into_bytes(), b"a")
        self.assertEqual(self.wakes["consumer"], 0)
        self.buf[self.producer_at] = producer_flags | SLEEPING
        buffer = bytearray(4)
        self.assertEqual(self.consumer.read(timeout=0).into_buffer(buffer), 1)
        self.assertEqual(self.wakes["consumer"], 1)
        self.assertEqual(self.consumer.read_batch(1, timeout=0), [b"c"])
        self.assertEqual(self.wakes["consumer"], 2)
        with self.consumer.read(timeout=0) as grant:
            self.assertEqual(bytes(grant.as_slices()[0]), b"d")
            grant.commit()
        self.assertEqual(self.wakes["consumer"], 3)
        self.producer.write(b"e")
        self.assertEqual(self.consumer.read(timeout=0).into_bytes(), b"e")
        self.assertEqual(self.wakes["consumer"], 4)
        self.producer.write(b"f")
        self.producer.write(b"g")
        self.assertEqual(self.consumer._take(), b"f")  # the copying read without a grant
        self.assertEqual(self.consumer._take(), b"g")  # its fast path: the head is known
        self.assertEqual(self.wakes["consumer"], 6)
        self.assertEqual(self.buf[self.producer_at], producer_flags | SLEEPING)
        self.assertEqual(self.buf[self.consumer_at], consumer_flags)
        self.assertEqual(self.wakes["producer"], 0)

    def test_the_sleeping_bit_is_read_in_the_block_not_in_the_header(self):
        # Bits in the reserved word (the old place of the flags) mean nothing: its bytes hold
        # the marker, and b"S" (0x53) has the SLEEPING bit set.
        self.assertEqual(self.buf[12] & SLEEPING, SLEEPING)
        self.producer.write(b"x")
        self.assertEqual(self.consumer.read(timeout=0).into_bytes(), b"x")
        self.assertEqual(self.wakes, {"producer": 0, "consumer": 0})


class SilentPeerTest(Switches, unittest.TestCase):
    """The other side is the original library: no marker, no extension block, plain stores,
    nobody ever wakes anyone."""

    def setUp(self):
        super().setUp()
        self.name = unique_name("s")
        self.addCleanup(unlink_quietly, self.name)

    def test_a_blocked_read_sees_a_record_written_by_hand(self):
        # The original library's producer: reserved 0, an object of exactly 16 + capacity.
        raw = RawSegment(self.name, 16 + 64, capacity=64, head=40, tail=40)
        self.addCleanup(raw.close)
        with ShmConsumer(self.name) as consumer:
            self.count_wakes("consumer", consumer)
            self.assertIs(consumer.peer_state(), PeerState.UNKNOWN)
            head = raw.put_record(40, b"first")
            raw.set_words(head=head)
            self.assertEqual(consumer.read(timeout=0).into_bytes(), b"first")
            call = self.start(lambda: consumer.read(timeout=BLOCKED_TIMEOUT).into_bytes())
            # No flag byte to announce a sleep with: the consumer polls in short naps.
            self.wait_blocked(raw.mm, None, HEAD, call)
            # This record wraps around the end of the data area.
            raw.set_words(head=raw.put_record(head, b"from the old library"))
            self.assertEqual(self.finish_woken(call), b"from the old library")
            self.assertEqual(consumer.try_read_batch(4), [])
            self.assertIs(consumer.peer_state(), PeerState.UNKNOWN)
        self.assertEqual(self.wakes["consumer"], 0)
        self.assertEqual(raw.word(1), raw.word(0))  # the consumer published its tail
        self.assertEqual(raw.mm[8:16], (64).to_bytes(4, "little") + bytes(4))

    def test_nothing_past_the_data_area_is_written_without_the_marker(self):
        # Room for a block, but no marker: the bytes where a block would be are the producer's
        # own (here a pattern with every flag bit set), never flags.
        raw = RawSegment(self.name, 256, capacity=64)
        self.addCleanup(raw.close)
        pattern = bytes([0xA7]) * (256 - 80)
        raw.mm[80:256] = pattern
        with ShmConsumer(self.name) as consumer:
            self.count_wakes("consumer", consumer)
            self.assertIs(consumer.peer_state(), PeerState.UNKNOWN)
            index = 0
            for i in range(20):
                payload = bytes([i]) * (1 + i % 40)
                raw.set_words(head=raw.put_record(index, payload))
                index = (index + 4 + len(payload)) & 0xFFFFFFFF
                self.assertEqual(consumer.read(timeout=0).into_bytes(), payload)
            self.assertIsNone(consumer.try_read())
        self.assertEqual(raw.mm[80:256], pattern)
        self.assertEqual(raw.word(3), 0)
        self.assertEqual(self.wakes["consumer"], 0)

    def test_a_marker_without_room_for_the_block_is_ignored(self):
        raw = RawSegment(self.name, 16 + 64, capacity=64)
        self.addCleanup(raw.close)
        raw.set_words(reserved=EXTENSION_MARKER)
        with ShmConsumer(self.name) as consumer:
            self.assertIs(consumer.peer_state(), PeerState.UNKNOWN)
            raw.set_words(head=raw.put_record(0, b"still works"))
            self.assertEqual(consumer.read(timeout=0).into_bytes(), b"still works")
        self.assertEqual(raw.word(3), EXTENSION_MARKER)

    def test_a_blocked_write_sees_a_tail_advanced_by_hand(self):
        with ShmProducer(self.name, 64) as producer:
            raw_mm = producer._mm
            extension = extension_offset(64)
            self.assertTrue(producer.try_write(b"x" * 26))
            self.assertTrue(producer.try_write(b"y" * 26))
            self.assertIs(producer.peer_state(), PeerState.UNKNOWN)
            call = self.start(lambda: producer.write(b"z" * 26, timeout=BLOCKED_TIMEOUT))
            self.wait_blocked(raw_mm, extension + PRODUCER_FLAGS, TAIL, call)
            raw_mm[4:8] = (30).to_bytes(4, "little")  # a consumer that read one record
            self.finish_woken(call)
            self.assertEqual(int.from_bytes(raw_mm[0:4], "little"), 90)
            self.assertEqual(raw_mm[extension + CONSUMER_FLAGS], 0)


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
