"""SharedBuffer in one process: write/read, limits, views and hostile headers."""

import os
import stat
import subprocess
import sys
import unittest

from shm_ring import SharedBuffer
from shm_ring._buffer import (
    LengthExceedsCapacityError,
    NotASharedBufferError,
    OverwrittenError,
    PayloadTooLargeError,
    UnsupportedVersionError,
    WriterGoneError,
    WriterInUseError,
)
from shm_ring._errors import InvalidCapacityError, NotFoundError, SegmentTooSmallError
from shm_ring._segment import _shm_open, _shm_unlink, segment_exists

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "buffer_peer.py")


def _name(what):
    return "pybuf-{}-{}".format(what, os.getpid())


class RawSegment:
    """A hand-made segment of ``size`` bytes, removed at the end of the test."""

    def __init__(self, test, name, size):
        self.name = name
        try:
            _shm_unlink(name)
        except FileNotFoundError:
            pass
        self.fd = _shm_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        os.ftruncate(self.fd, size)
        test.addCleanup(self.close)

    def put(self, offset, data):
        os.pwrite(self.fd, data, offset)

    def header(self, magic=b"SRBF", version=1, capacity=16):
        self.put(0, magic + version.to_bytes(4, "little") + capacity.to_bytes(8, "little"))

    def close(self):
        if self.fd is None:
            return
        os.close(self.fd)
        self.fd = None
        try:
            _shm_unlink(self.name)
        except FileNotFoundError:
            pass


class SharedBufferTest(unittest.TestCase):
    def test_payloads_of_zero_one_and_capacity_bytes_round_trip(self):
        with SharedBuffer.create(_name("rt"), 64) as writer, SharedBuffer.open(_name("rt")) as reader:
            self.assertEqual(reader.read(), b"")
            for payload in (b"", b"x", bytes(range(64))):
                self.assertEqual(writer.write(payload), len(payload))
                self.assertEqual(reader.read(), payload)
                self.assertEqual(reader.data_len(), len(payload))

    def test_a_payload_past_the_capacity_is_refused_and_changes_nothing(self):
        with SharedBuffer.create(None, 8) as buffer:
            buffer.write(b"kept")
            with self.assertRaises(PayloadTooLargeError) as caught:
                buffer.write(b"123456789")
            self.assertEqual((caught.exception.length, caught.exception.capacity), (9, 8))
            self.assertEqual(buffer.read(), b"kept")

    def test_create_with_data_holds_it_from_the_start(self):
        for capacity, payload in ((1, b""), (1, b"x"), (64, bytes(range(64))), (4096, b"ab" * 1000)):
            with SharedBuffer.create(None, capacity, payload) as writer:
                with SharedBuffer.open(writer.name) as reader:
                    self.assertEqual(reader.read(), payload)
                    self.assertEqual(reader.data_len(), len(payload))
                    with reader.read_in_place() as view:
                        self.assertEqual(view.sequence % 2, 0)
                        self.assertEqual(bytes(view.data), payload)
                writer.write(b"n")  # the creator goes on writing as usual
                self.assertEqual(writer.read(), b"n")

    def test_create_with_data_past_the_capacity_is_refused_and_makes_nothing(self):
        name = _name("toolarge")
        with self.assertRaises(PayloadTooLargeError) as caught:
            SharedBuffer.create(name, 8, b"123456789")
        self.assertEqual((caught.exception.length, caught.exception.capacity), (9, 8))
        self.assertFalse(segment_exists(name))

    def test_a_reader_opening_a_fresh_buffer_early_sees_its_whole_payload(self):
        # The payload is copied into the segment as it is made; a reader in another process
        # that opens the name during the copy must find it not ready, never part of the
        # payload or none of it.
        rounds, length = 6, 16 << 20
        payload = (bytes(range(256)) * (length // 256 + 1))[:length]
        base = _name("early")
        reader = subprocess.Popen(
            [sys.executable, PEER, "early-read", base, str(rounds), str(length)],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.addCleanup(reader.wait)
        self.addCleanup(reader.stdout.close)
        self.addCleanup(reader.kill)  # first: a failed round leaves it waiting for the next
        self.assertEqual(reader.stdout.readline(), "ready\n")
        for r in range(rounds):
            with SharedBuffer.create("{}-{}".format(base, r), length, payload):
                self.assertEqual(reader.stdout.readline(), "whole\n", "round {}".format(r))
        self.assertEqual(reader.wait(), 0)

    def test_generated_names_fit_the_macos_limit_and_the_mode_is_0600(self):
        with SharedBuffer.create(None, 8) as buffer:
            self.assertEqual(len(buffer.name), 24)
            fd = _shm_open(buffer.name, os.O_RDONLY, 0)
            try:
                self.assertEqual(stat.S_IMODE(os.fstat(fd).st_mode), 0o600)
            finally:
                os.close(fd)
        with self.assertRaises(NotFoundError):
            SharedBuffer.open(buffer.name)

    def test_a_view_reports_a_write_that_overlapped_it(self):
        with SharedBuffer.create(None, 16) as writer, SharedBuffer.open(writer.name) as reader:
            writer.write(b"first")
            with reader.read_in_place() as view:
                self.assertEqual(bytes(view.data), b"first")
                view.verify()
                writer.write(b"second")
                with self.assertRaises(OverwrittenError):
                    view.verify()

    def test_one_writer_at_a_time(self):
        with SharedBuffer.create(None, 16) as owner, SharedBuffer.open(owner.name) as other:
            with self.assertRaises(WriterInUseError):
                other.write(b"x")

    def test_invalid_capacities_are_refused(self):
        for capacity in (0, -1, (1 << 46) + 1):
            with self.assertRaises(InvalidCapacityError):
                SharedBuffer.create(None, capacity)

    def test_hostile_headers_are_typed_errors(self):
        name = _name("hostile")
        raw = RawSegment(self, name, 40)
        with self.assertRaises(SegmentTooSmallError):
            SharedBuffer.open(name)
        raw.close()
        cases = [
            (dict(magic=b"SRX1"), NotASharedBufferError),
            (dict(version=2), UnsupportedVersionError),
            (dict(capacity=0), InvalidCapacityError),
            (dict(capacity=1 << 40), SegmentTooSmallError),
        ]
        for header, error in cases:
            raw = RawSegment(self, name, 64 + 16)
            raw.header(**header)
            with self.assertRaises(error, msg=str(header)):
                SharedBuffer.open(name)
            raw.close()

    def test_a_length_word_past_the_capacity_and_a_dead_writer_are_typed_errors(self):
        name = _name("words")
        raw = RawSegment(self, name, 64 + 16)
        raw.header()
        raw.put(24, (17).to_bytes(8, "little"))
        with SharedBuffer.open(name) as buffer:
            with self.assertRaises(LengthExceedsCapacityError):
                buffer.read()
            with self.assertRaises(LengthExceedsCapacityError):
                buffer.read_in_place()
            raw.put(16, (7).to_bytes(8, "little"))
            with self.assertRaises(WriterGoneError):
                buffer.read()
            buffer.write(b"whole")
            self.assertEqual(buffer.read(), b"whole")
            with buffer.read_in_place() as view:
                self.assertEqual(view.sequence, 8)


if __name__ == "__main__":
    unittest.main()
