"""LargeSender / LargeReceiver in one process: size classes, guards held together and released
in any order, full ring and exhausted pool, the opt-in (a plain consumer never gets an
envelope), hostile envelopes, and a zero-copy NumPy view of a message read in place. The Rust
tests (tests/large.rs) run the same pair against the Rust crate across processes."""

import os
import struct
import unittest

try:
    import numpy
except ImportError:  # the NumPy case fails or skips, saying so (see need_numpy)
    numpy = None

from shm_ring import (
    BufferPool,
    BusyError,
    EnvelopeError,
    LargeReceiver,
    LargeSender,
    LargeSetupError,
    MessageTooLargeError,
    NoReceiverError,
    NotFoundError,
    ShmConsumer,
    ShmProducer,
    ShmTimeoutError,
)
from shm_ring._pool import (
    PoolRef,
    PublishTooLargeError,
    SlotOutOfRangeError,
    StaleError,
    WrongPoolError,
)

from .support import stream_payload as stream_message, unique_name, unlink_quietly

REQUIRE_NUMPY = os.environ.get("SHM_RING_REQUIRE_NUMPY") == "1"

SLOT = 64 * 1024
THRESHOLD = 256


def envelope(version, kind):
    return b"SRLM" + bytes([version, kind, 0, 0])


class LargeMessages(unittest.TestCase):
    def pair(self, ring=4096, slots=2, receiver=True):
        name = unique_name("lg")
        self.addCleanup(unlink_quietly, name)
        pool = BufferPool.create_unique(slots, SLOT)
        sender = LargeSender(ShmProducer(name, ring), pool, inline_threshold=THRESHOLD)
        self.addCleanup(sender.close)
        if not receiver:
            return name, sender
        rx = LargeReceiver(ShmConsumer(name))
        self.addCleanup(rx.close)
        return name, sender, rx

    def test_every_size_class_arrives_whole_inline_or_by_reference(self):
        _, sender, rx = self.pair()
        cases = [(0, False), (1, False), (THRESHOLD - 1, False), (THRESHOLD, False),
                 (THRESHOLD + 1, True), (SLOT, True)]
        for i, (length, by_reference) in enumerate(cases):
            message = stream_message(i, length)
            if i % 2:
                self.assertTrue(sender.try_send(message))
            else:
                sender.send(message, timeout=5.0)
            with rx.recv(5.0) as got:
                self.assertEqual(got.is_by_reference, by_reference, length)
                self.assertEqual(got.data, message, length)
        with self.assertRaises(MessageTooLargeError):
            sender.try_send(bytes(SLOT + 1))
        with self.assertRaises(MessageTooLargeError):
            sender.send(bytes(SLOT + 1), timeout=5.0)
        self.assertTrue(sender.producer.is_empty())
        self.assertEqual(sender.pool.available(), 2)

    def test_messages_are_held_together_and_released_in_any_order(self):
        _, sender, rx = self.pair(slots=3)
        for i in range(3):
            sender.send(stream_message(i, 10000), timeout=5.0)
        messages = [rx.recv(5.0) for _ in range(3)]
        self.assertEqual(sender.pool.available(), 0)
        for released, i in enumerate([1, 2, 0], start=1):
            self.assertEqual(messages[i].data, stream_message(i, 10000))
            messages[i].release()
            self.assertEqual(sender.pool.available(), released)

    def test_an_exhausted_pool_or_full_ring_refuses_and_keeps_nothing(self):
        _, sender, rx = self.pair(slots=2)
        sender.send(b"a" * 1000, timeout=5.0)
        sender.send(b"b" * 1000, timeout=5.0)
        held = [rx.recv(5.0), rx.recv(5.0)]
        self.assertFalse(sender.try_send(b"c" * 1000))
        with self.assertRaises(ShmTimeoutError):
            sender.send(b"c" * 1000, timeout=0.005)
        self.assertIsNone(rx.try_recv())
        self.assertTrue(sender.try_send(b"inline"))  # needs no slot
        self.assertEqual(rx.recv(5.0).tobytes(), b"inline")
        held[1].release()
        self.assertTrue(sender.try_send(b"c" * 1000))
        self.assertEqual(rx.recv(5.0).tobytes(), b"c" * 1000)
        held[0].release()

        _, small, _ = self.pair(ring=128, slots=4)
        self.assertTrue(small.try_send(b"d" * 1000))
        self.assertFalse(small.try_send(b"e" * 1000))
        self.assertEqual(small.pool.available(), 3)

    def test_the_zero_copy_loan(self):
        _, sender, rx = self.pair(slots=1)
        loan = sender.try_loan()
        with self.assertRaises(BusyError):  # the ring's room for the reference is reserved
            sender.try_send(b"meanwhile")
        loan.release()
        self.assertIsNone(rx.try_recv())
        self.assertEqual(sender.pool.available(), 1)
        loan = sender.loan(5.0)
        self.assertEqual(len(loan), SLOT)
        loan.data[:5] = b"frame"
        loan.commit(5)
        with rx.recv(5.0) as got:
            self.assertTrue(got.is_by_reference)
            self.assertEqual(got.tobytes(), b"frame")
        with sender.try_loan() as loan:
            with self.assertRaises(PublishTooLargeError):
                loan.commit(SLOT + 1)
        self.assertTrue(sender.producer.is_empty())
        self.assertEqual(sender.pool.available(), 1)

    def test_a_plain_consumer_never_gets_an_envelope(self):
        name, sender = self.pair(receiver=False)
        with self.assertRaises(NoReceiverError) as caught:
            sender.try_send(b"x")
        self.assertEqual(caught.exception.announced, 0)
        plain = ShmConsumer(name)
        for message in (b"small", b"L" * 10000):
            with self.assertRaises(NoReceiverError):
                sender.try_send(message)
            with self.assertRaises(NoReceiverError):
                sender.send(message, timeout=0.005)
            with self.assertRaises(NoReceiverError):
                sender.try_loan()
        self.assertIsNone(plain.try_read_bytes())
        rx = LargeReceiver(plain)
        self.assertTrue(sender.try_send(b"for the receiver"))
        self.assertEqual(rx.try_recv().tobytes(), b"for the receiver")
        rx.close()
        plain = ShmConsumer(name)
        self.addCleanup(plain.close)
        with self.assertRaises(NoReceiverError):
            sender.try_send(b"x")
        self.assertIsNone(plain.try_read_bytes())

    def test_hostile_envelopes_are_typed_errors_and_the_stream_goes_on(self):
        name = unique_name("lgh")
        self.addCleanup(unlink_quietly, name)
        producer = ShmProducer(name, 1 << 16)
        self.addCleanup(producer.close)
        rx = LargeReceiver(ShmConsumer(name))
        self.addCleanup(rx.close)
        pool = BufferPool.create_unique(2, 1024)
        self.addCleanup(pool.close)
        loan = pool.try_acquire()
        loan.copy_from(b"old")
        stale = loan.publish(3)
        pool.resolve(stale).release()
        other = BufferPool.create_unique(1, 64)
        self.addCleanup(other.close)
        other_ref = other.try_acquire().publish(1)
        bad_reference = bytearray(envelope(1, 1) + stale.to_bytes())
        bad_reference[8:12] = b"XXXX"
        padded = bytearray(envelope(1, 0))
        padded[7] = 1
        missing = PoolRef(unique_name("nopool"), 0, 1, 3)
        cases = [
            (b"abc", EnvelopeError, "length"),
            (b"plain payload", EnvelopeError, "magic"),
            (envelope(2, 0), EnvelopeError, "version"),
            (envelope(1, 7), EnvelopeError, "kind"),
            (bytes(padded), EnvelopeError, "padding"),
            (envelope(1, 1), EnvelopeError, "length"),
            (bytes(bad_reference), EnvelopeError, "reference"),
            (envelope(1, 1) + missing.to_bytes(), NotFoundError, None),
            (envelope(1, 1) + stale.to_bytes(), StaleError, None),
            (envelope(1, 1) + PoolRef(pool.name, 9, 1, 3).to_bytes(), SlotOutOfRangeError, None),
            (envelope(1, 1) + other_ref.to_bytes(), WrongPoolError, None),
        ]
        for message, _, _ in cases:
            producer.try_write(message)
            producer.try_write(envelope(1, 0) + b"good")
        for message, error, field in cases:
            with self.assertRaises(error, msg=repr(message)) as caught:
                rx.try_recv()
            if field is not None:
                self.assertEqual(caught.exception.field, field, repr(message))
            self.assertEqual(rx.try_recv().tobytes(), b"good")
        self.assertIsNone(rx.try_recv())
        self.assertEqual(other.available(), 0)  # the other pool's slot was not touched

    def test_a_ring_of_the_original_layout_cannot_have_a_receiver(self):
        name = unique_name("lgo")
        self.addCleanup(unlink_quietly, name)
        # The original library's sizing: no extension block.
        fd = os.open("/dev/shm/" + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.ftruncate(fd, 16 + 4096)
            os.pwrite(fd, struct.pack("<IIII", 0, 0, 4096, 0), 0)
        finally:
            os.close(fd)
        consumer = ShmConsumer(name)
        self.addCleanup(consumer.close)
        with self.assertRaises(LargeSetupError):
            LargeReceiver(consumer)

    def need_numpy(self):
        if numpy is None:
            message = "NumPy is not installed: pip install numpy (.ci/run installs it)"
            if REQUIRE_NUMPY:
                self.fail(message)
            self.skipTest(message + "; the zero-copy NumPy view of a message did not run")

    def test_a_message_by_reference_is_a_numpy_array_in_place(self):
        self.need_numpy()
        _, sender, rx = self.pair(slots=1)
        frame = numpy.arange(4 * 64 * 48, dtype=numpy.uint32).astype(numpy.uint8)
        sender.send(frame, timeout=5.0)
        message = rx.recv(5.0)
        array = numpy.frombuffer(message.data, dtype=numpy.uint8).reshape(48, 64, 4)
        self.assertFalse(array.flags.owndata)
        self.assertFalse(array.flags.writeable)
        self.assertTrue((array.reshape(-1) == frame).all())
        with self.assertRaises(BusyError):  # the array still looks at the slot
            message.release()
        self.assertEqual(sender.pool.available(), 0)
        del array
        message.release()
        self.assertEqual(sender.pool.available(), 1)


if __name__ == "__main__":
    unittest.main()
