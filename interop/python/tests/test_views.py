"""Zero-copy slices: whatever Python object keeps hold of a write or read grant's memory,
``commit()``, ``release()`` and the copying reads refuse (BusyError) until it is gone, so that
memory the ring reuses is never reachable from an object of the caller's."""

import ctypes
import os
import pickle
import struct
import unittest

from shm_ring import BusyError, ShmConsumer, ShmProducer

from .support import unique_name, unlink_quietly

try:
    import numpy
except ImportError:  # reported by the tests that need it (see need_numpy)
    numpy = None

#: Set by .ci/run, which installs NumPy: there a missing NumPy fails these tests. Elsewhere (a
#: fresh machine has only the standard library) the NumPy cases are reported as skipped.
REQUIRE_NUMPY = os.environ.get("SHM_RING_REQUIRE_NUMPY") == "1"


def holders(writable):
    """(name, function making an object that keeps hold of a part's memory) pairs: every way
    tested here of keeping a view of a part."""
    ways = [
        ("memoryview(part)", lambda part: memoryview(part)),
        ("a slice of the part", lambda part: part[1:3]),
        ("a slice of a slice of a cast", lambda part: part.cast("B")[1:][::2]),
        ("memoryview(part.obj)", lambda part: memoryview(part.obj)),
        ("struct.iter_unpack", lambda part: struct.iter_unpack("B", part)),
        ("pickle.PickleBuffer", lambda part: pickle.PickleBuffer(part)),
    ]
    if numpy is not None:
        ways += [
            ("numpy.frombuffer", lambda part: numpy.frombuffer(part, dtype=numpy.uint8)),
            ("numpy.asarray", lambda part: numpy.asarray(part)),
            (
                "numpy.asarray of a slice of memoryview(part)",
                lambda part: numpy.asarray(memoryview(part)[2:]),
            ),
        ]
    if writable:
        ways.append(
            ("ctypes from_buffer", lambda part: (ctypes.c_char * len(part)).from_buffer(part))
        )
    return ways


class ExportedPartsTest(unittest.TestCase):
    CAPACITY = 64

    def setUp(self):
        self.ring(wrapped=False)

    def need_numpy(self):
        """Fails (where NumPy is required) or skips, saying so, when NumPy is missing."""
        if numpy is None:
            message = "NumPy is not installed: pip install numpy (.ci/run installs it)"
            if REQUIRE_NUMPY:
                self.fail(message)
            self.skipTest(message + "; the cases holding parts with NumPy arrays did not run")

    def test_numpy_cases_run(self):
        self.need_numpy()

    def ring(self, wrapped):
        """A fresh producer and consumer; with ``wrapped``, the first 20-byte payload wraps
        around the end of the data area (its prefix starts 10 bytes before the end)."""
        self.name = unique_name("v")
        self.addCleanup(unlink_quietly, self.name)
        start = self.CAPACITY - 10 if wrapped else 0
        self.producer = ShmProducer(self.name, self.CAPACITY, start_index=start)
        self.addCleanup(self.producer.close)
        self.consumer = ShmConsumer(self.name)
        self.addCleanup(self.consumer.close)

    def test_a_read_grant_is_not_consumed_while_its_memory_is_held(self):
        for wrapped in (False, True):
            for way, hold in holders(writable=False):
                with self.subTest(way=way, wrapped=wrapped):
                    self.ring(wrapped)
                    message = bytes(range(65, 85))
                    self.assertTrue(self.producer.try_write(message))
                    grant = self.consumer.try_read()
                    first, second = grant.as_slices()
                    self.assertEqual(len(second) > 0, wrapped)
                    holder = hold(second if wrapped else first)
                    del first, second
                    with self.assertRaises(BusyError):
                        grant.commit()
                    with self.assertRaises(BusyError):
                        grant.release()
                    self.assertEqual(self.consumer.readable_bytes(), 24, "nothing consumed")
                    self.assertEqual(
                        b"".join(bytes(part) for part in grant.as_slices()),
                        message,
                        "the grant is still usable",
                    )
                    del holder
                    grant.commit()
                    self.assertTrue(self.consumer.is_empty())
                    self.assertTrue(self.producer.is_empty())

    def test_a_reservation_is_not_published_or_cancelled_while_its_memory_is_held(self):
        for wrapped in (False, True):
            for way, hold in holders(writable=True):
                with self.subTest(way=way, wrapped=wrapped):
                    self.ring(wrapped)
                    message = bytes(range(97, 117))
                    reservation = self.producer.try_reserve(len(message))
                    first, second = reservation.as_slices()
                    self.assertEqual(len(second) > 0, wrapped)
                    del first, second
                    reservation.copy_from(message)
                    holder = hold(reservation.as_slices()[1 if wrapped else 0])
                    with self.assertRaises(BusyError):
                        reservation.commit()
                    with self.assertRaises(BusyError):
                        reservation.release()
                    self.assertTrue(self.consumer.is_empty(), "nothing published")
                    reservation.copy_from(message)  # still usable
                    del holder
                    reservation.commit()
                    self.assertEqual(self.consumer.try_read().into_bytes(), message)

    def test_an_array_kept_from_a_reservation_cannot_overwrite_the_next_message(self):
        self.need_numpy()
        reservation = self.producer.reserve(60, timeout=5)
        array = numpy.frombuffer(reservation.as_slices()[0], dtype=numpy.uint8)
        array[:] = ord("a")
        with self.assertRaises(BusyError):
            reservation.commit()
        del array
        reservation.commit()
        self.assertEqual(self.consumer.read(timeout=5).into_bytes(), b"a" * 60)
        self.producer.write(b"X" * 60, timeout=5)
        self.assertEqual(self.consumer.read(timeout=5).into_bytes(), b"X" * 60)

    def test_read_grant_slices_are_read_only(self):
        self.assertTrue(self.producer.try_write(b"read only"))
        with self.consumer.try_read() as grant:
            part = grant.as_slices()[0]
            self.assertTrue(part.readonly)
            with self.assertRaises(TypeError):
                part[0] = 0
            with self.assertRaises(TypeError):  # ctypes cannot keep a writable view of it
                (ctypes.c_char * len(part)).from_buffer(part)
            if numpy is not None:  # without it, test_numpy_cases_run says so
                array = numpy.frombuffer(part, dtype=numpy.uint8)
                self.assertFalse(array.flags.writeable)
                with self.assertRaises(ValueError):
                    array[0] = 0
                del array
            copied = (ctypes.c_char * len(part)).from_buffer_copy(part)  # a copy holds nothing
            del part
            grant.commit()
        self.assertEqual(copied.raw, b"read only")
        self.assertTrue(self.consumer.is_empty())

    def test_closing_with_held_memory_keeps_it_mapped_and_the_message_unconsumed(self):
        self.assertTrue(self.producer.try_write(b"kept"))
        grant = self.consumer.try_read()
        held = memoryview(grant.as_slices()[0])
        self.consumer.close()
        self.assertEqual(held.tobytes(), b"kept", "still mapped")
        with ShmConsumer(self.name) as again:
            self.assertEqual(again.try_read().into_bytes(), b"kept")


if __name__ == "__main__":
    unittest.main()
