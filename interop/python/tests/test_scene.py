"""Scene buffers and descriptors in Python: round trips, LZ4, hostile descriptors and segments
(each a typed error, with no large allocation), acknowledgements.

The LZ4 cases need the ``lz4`` package: .ci/run installs it and sets SHM_RING_REQUIRE_LZ4=1,
which makes its absence a failure; elsewhere they are reported as skipped, saying what to
install. tests/scene.rs and tests/blob.rs check the same documents and programs against Rust.
"""

import json
import os
import threading
import tracemalloc
import unittest
import zlib
from unittest import mock

from shm_ring import (
    ChecksumMismatchError,
    DescriptorError,
    DescriptorMismatchError,
    ExpiredError,
    LengthMismatchError,
    Lz4UnavailableError,
    PayloadLimitError,
    SceneBuffer,
    SceneDescriptor,
    SharedBuffer,
    StaleDescriptorError,
    _scene,
)
from shm_ring._buffer import (
    LengthExceedsCapacityError,
    NotASharedBufferError,
    UnsupportedVersionError,
)
from shm_ring._errors import NotFoundError, SegmentTooSmallError
from shm_ring._segment import _shm_open, _shm_unlink

#: Set by .ci/run, which installs lz4: there a missing lz4 fails these tests.
REQUIRE_LZ4 = os.environ.get("SHM_RING_REQUIRE_LZ4") == "1"


def _segment_fd(name):
    return _shm_open(name, os.O_RDWR, 0)


def _poke(name, offset, data):
    fd = _segment_fd(name)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def _document(scene):
    return json.loads(scene.descriptor_json())


def _text(document):
    return json.dumps(document)


class SceneTestCase(unittest.TestCase):
    def need_lz4(self):
        """Fails (where lz4 is required) or skips, saying so, when lz4 is missing."""
        if _scene._lz4_block is None:
            message = "the Python package lz4 is not installed: pip install lz4 (.ci/run installs it)"
            if REQUIRE_LZ4:
                self.fail(message)
            self.skipTest(message + "; the LZ4 cases did not run")

    def write(self, data, **options):
        scene = SceneBuffer.write(data, **options)
        self.addCleanup(scene.close)
        return scene

    def open(self, descriptor):
        scene = SceneBuffer.open(descriptor)
        self.addCleanup(scene.close)
        return scene


class RoundTripTest(SceneTestCase):
    def test_lz4_cases_run(self):
        self.need_lz4()

    def test_payloads_of_0_1_and_many_bytes_round_trip(self):
        for data in (b"", b"x", bytes(range(256)) * 1000, os.urandom(50000)):
            scene = self.write(data, kind="Geometry", source="Maya")
            reader = self.open(scene.descriptor_json())
            self.assertEqual(reader.read(), data)
            self.assertEqual((reader.kind, reader.source, len(reader)), ("Geometry", "Maya", len(data)))

    def test_lz4_is_kept_only_when_smaller(self):
        self.need_lz4()
        zeros = self.write(bytes(300000), lz4=True)
        self.assertEqual(zeros.descriptor.compression, "lz4")
        self.assertLess(zeros.descriptor.stored_length, 2000)
        self.assertEqual(self.open(zeros.descriptor_json()).read(), bytes(300000))
        noise = self.write(os.urandom(4096), lz4=True)
        self.assertEqual(noise.descriptor.compression, "none")
        self.assertEqual(self.write(b"", lz4=True).descriptor.compression, "none")

    def test_the_checksum_covers_the_stored_bytes(self):
        self.need_lz4()
        zeros = self.write(bytes(300000), lz4=True)
        block = SharedBuffer.open(zeros.name).read()
        self.assertEqual(len(block), zeros.descriptor.stored_length)
        self.assertEqual(zeros.descriptor.crc32, zlib.crc32(block))
        self.assertNotEqual(zeros.descriptor.crc32, zlib.crc32(bytes(300000)))
        # A damaged block is caught by its checksum, before it is decoded.
        _poke(zeros.name, 64 + len(block) // 2, bytes([block[len(block) // 2] ^ 0x40]))
        with self.assertRaises(ChecksumMismatchError):
            self.open(zeros.descriptor_json()).read()

    def test_descriptor_text_round_trips_and_keeps_the_field_order(self):
        scene = self.write(b"stage", kind="usd:stage/v2", source='Blender \u00e9 "q"', ttl_ms=5000)
        text = scene.descriptor_json()
        self.assertEqual(SceneDescriptor.from_json(text).to_json(), text)
        self.assertEqual(list(json.loads(text)), list(_scene._FIELDS))
        self.assertEqual(SceneDescriptor.from_json(text.encode()), scene.descriptor)

    def test_without_lz4_reading_or_writing_compressed_says_what_to_install(self):
        self.need_lz4()
        scene = self.write(bytes(10000), lz4=True)
        with mock.patch.object(_scene, "_lz4_block", None):
            with self.assertRaises(Lz4UnavailableError) as raised:
                self.open(scene.descriptor_json()).read()
            self.assertIn("pip install lz4", str(raised.exception))
            with self.assertRaises(Lz4UnavailableError):
                SceneBuffer.write(b"x", lz4=True)
            # Uncompressed payloads need no lz4.
            self.assertEqual(self.open(self.write(b"plain").descriptor_json()).read(), b"plain")

    def test_an_acknowledgement_wakes_the_writer(self):
        scene = self.write(b"x")
        self.assertFalse(scene.wait_acknowledged(0))
        reader = self.open(scene.descriptor)
        thread = threading.Thread(target=lambda: (reader.read(), reader.acknowledge()))
        thread.start()
        self.assertTrue(scene.wait_acknowledged(120))
        thread.join()
        self.assertEqual(scene.buffer.acknowledgements(), 1)


class SharedBufferDescriptorTest(SceneTestCase):
    def test_a_descriptor_opens_the_buffer_and_checks_its_capacity(self):
        with SharedBuffer.create(None, 128) as writer:
            writer.write(b"payload")
            text = writer.descriptor()
            self.assertEqual(
                text,
                '{"schema":"shm_ring/shared_buffer/1","segment":"%s","layout_version":1,'
                '"capacity":128}' % writer.name,
            )
            with SharedBuffer.open_descriptor(text) as reader:
                self.assertEqual(reader.read(), b"payload")
            with self.assertRaises(DescriptorMismatchError) as raised:
                SharedBuffer.open_descriptor(text.replace("128", "256"))
            self.assertEqual((raised.exception.descriptor, raised.exception.segment), (256, 128))
            with self.assertRaises(DescriptorError):
                SharedBuffer.open_descriptor(text.replace("shared_buffer", "scene_buffer"))
            self.assertTrue(writer.is_named())
        self.assertFalse(writer.is_named())


class HostileTest(SceneTestCase):
    def assert_small_allocations(self, call, error):
        """``call`` raises ``error`` and allocates less than 1 MiB meanwhile."""
        tracemalloc.start()
        try:
            with self.assertRaises(error) as raised:
                call()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        self.assertLess(peak, 1 << 20)
        return raised.exception

    def test_malformed_documents_are_descriptor_errors(self):
        valid = _document(self.write(b"0123456789"))
        bad = [
            "",
            "{",
            "[]",
            "null",
            _text(valid) + " x",
            _text(valid).replace('"kind"', '"kind":"Arbitrary","kind"', 1),
            _text(dict(valid, extra=1)),
            _text({k: v for k, v in valid.items() if k != "crc32"}),
            _text(dict(valid, capacity="10")),
            _text(dict(valid, capacity=10.0)),
            _text(dict(valid, capacity=True)),
            _text(dict(valid, capacity=-1)),
            _text(dict(valid, crc32=1 << 32)),
            _text(dict(valid, sequence=1 << 64)),
            _text(dict(valid, crc32=float("nan"))),
            _text(dict(valid, source="\ud800")),
        ]
        for text in bad:
            with self.assertRaises(DescriptorError, msg=text) as raised:
                SceneDescriptor.from_json(text)
            self.assertIsNone(raised.exception.field, text)
        invalid = [
            ("schema", dict(valid, schema="shm_ring/scene_buffer/1")),
            ("segment", dict(valid, segment="/" + valid["segment"])),
            ("segment", dict(valid, segment="x" * 31)),
            ("layout_version", dict(valid, layout_version=2)),
            ("capacity", dict(valid, capacity=0)),
            ("sequence", dict(valid, sequence=3)),
            ("kind", dict(valid, kind="two words")),
            ("source", dict(valid, source="a\x07b")),
            ("source", dict(valid, source="\u00e9" * 129)),
            ("compression", dict(valid, compression="zstd")),
            ("length", dict(valid, length=11)),
            ("stored_length", dict(valid, stored_length=11, length=11)),
            ("stored_length", dict(valid, compression="lz4")),
        ]
        for field, document in invalid:
            with self.assertRaises(DescriptorError, msg=field) as raised:
                SceneBuffer.open(_text(document))
            self.assertEqual(raised.exception.field, field)

    def test_a_missing_segment_is_not_found(self):
        scene = SceneBuffer.write(b"x")
        text = scene.descriptor_json()
        scene.close()
        with self.assertRaises(NotFoundError):
            SceneBuffer.open(text)

    def test_a_segment_smaller_than_its_descriptor_says_is_a_mismatch(self):
        document = _document(self.write(bytes(100)))
        document.update(capacity=1 << 40, length=1 << 40, stored_length=1 << 40)
        error = self.assert_small_allocations(
            lambda: SceneBuffer.open(_text(document)), DescriptorMismatchError
        )
        self.assertEqual((error.descriptor, error.segment), (1 << 40, 100))

    def test_wrong_magic_version_and_size_are_typed_errors(self):
        scene = self.write(bytes(16))
        name = scene.name
        _poke(name, 0, b"SRX1")
        with self.assertRaises(NotASharedBufferError):
            SceneBuffer.open(scene.descriptor)
        _poke(name, 0, b"SRBF" + (2).to_bytes(4, "little"))
        with self.assertRaises(UnsupportedVersionError):
            SceneBuffer.open(scene.descriptor)
        fd = _segment_fd(name)
        os.ftruncate(fd, 40)
        os.close(fd)
        with self.assertRaises(SegmentTooSmallError):
            SceneBuffer.open(scene.descriptor)

    def test_a_corrupted_length_word_is_a_typed_error(self):
        scene = self.write(bytes(16))
        reader = self.open(scene.descriptor)
        _poke(scene.name, 24, (1 << 40).to_bytes(8, "little"))
        self.assert_small_allocations(reader.read, LengthExceedsCapacityError)
        _poke(scene.name, 24, (8).to_bytes(8, "little"))
        with self.assertRaises(LengthMismatchError):
            reader.read()

    def test_an_lz4_size_claim_of_one_tebibyte_is_refused_without_allocating(self):
        document = _document(self.write(bytes(1000)))
        document.update(compression="lz4", length=1 << 40)
        error = self.assert_small_allocations(
            lambda: SceneBuffer.open(_text(document)), DescriptorError
        )
        self.assertEqual(error.field, "length")
        self.assertIn("1099511627776", str(error))
        # Within LZ4's ratio but above the read's limit: refused before allocating.
        self.need_lz4()
        scene = self.write(bytes(100000), lz4=True)
        document = _document(scene)
        document["length"] = document["stored_length"] * 255
        reader = self.open(_text(document))
        self.assert_small_allocations(lambda: reader.read(max_length=100000), PayloadLimitError)

    def test_a_checksum_mismatch_is_a_typed_error(self):
        scene = self.write(bytes(4096))
        document = _document(scene)
        document["crc32"] ^= 1
        with self.assertRaises(ChecksumMismatchError):
            self.open(_text(document)).read()
        _poke(scene.name, 64 + 100, b"\x04")
        with self.assertRaises(ChecksumMismatchError):
            scene.read()

    def test_a_rewritten_buffer_makes_its_descriptor_stale(self):
        scene = SceneBuffer.write(b"first")
        reader = self.open(scene.descriptor)
        other = SharedBuffer.open(scene.name)
        self.addCleanup(other.close)
        scene.close()
        other.write(b"other")
        with self.assertRaises(StaleDescriptorError) as raised:
            reader.read()
        self.assertEqual((raised.exception.descriptor, raised.exception.segment), (2, 4))

    def test_an_expired_descriptor_is_a_typed_error(self):
        document = _document(self.write(b"old"))
        document.update(created_unix_ms=1000, ttl_ms=1)
        with self.assertRaises(ExpiredError) as raised:
            self.open(_text(document)).read()
        self.assertEqual(raised.exception.expired_unix_ms, 1001)


if __name__ == "__main__":
    unittest.main()
