"""Names and capacities: pure rules, no shared memory involved except where stated."""

import unittest

import shm_ring
from shm_ring import InvalidCapacityError, InvalidNameError, ShmConsumer, ShmProducer
from shm_ring._layout import (
    EXTENSION_MARKER,
    bare_name,
    extension_offset,
    has_extension,
    original_capacity,
    original_segment_len,
    round_capacity,
    segment_len,
)

from .support import unique_name, unlink_quietly


class NameTest(unittest.TestCase):
    def test_valid_names_keep_their_bare_form(self):
        self.assertEqual(bare_name("foo"), "foo")
        self.assertEqual(bare_name("/foo"), "foo")
        self.assertEqual(bare_name("a"), "a")
        self.assertEqual(bare_name("A-z_0.9"), "A-z_0.9")
        self.assertEqual(bare_name("x" * 30), "x" * 30)
        self.assertEqual(bare_name("/" + "x" * 30), "x" * 30)
        self.assertEqual(bare_name("..."), "...")

    def check_invalid(self, name, fragment):
        with self.assertRaises(InvalidNameError) as caught:
            bare_name(name)
        error = caught.exception
        self.assertIsInstance(error, ValueError)
        self.assertIsInstance(error, shm_ring.ShmRingError)
        self.assertEqual(error.name, name)
        self.assertIn(fragment, str(error))
        self.assertIn(repr(name), str(error))

    def test_empty(self):
        self.check_invalid("", "empty")
        self.check_invalid("/", "empty after its leading '/'")

    def test_too_long_is_refused_not_truncated(self):
        self.check_invalid("x" * 31, "31 characters; at most 30")
        self.check_invalid("/" + "x" * 31, "31 characters; at most 30")
        self.check_invalid("x" * 255, "255 characters")

    def test_bad_characters(self):
        self.check_invalid("a b", "character ' ' at position 1")
        self.check_invalid("caf\u00e9", "character '\u00e9' at position 3")
        self.check_invalid("a:b", "character ':' at position 1")
        self.check_invalid("a\x00", "position 1")

    def test_slashes(self):
        self.check_invalid("//foo", "only one leading '/'")
        self.check_invalid("a/b", "'/' at position 1")
        self.check_invalid("/a/b", "'/' at position 1")

    def test_dot_names(self):
        self.check_invalid(".", "'.' and '..'")
        self.check_invalid("..", "'.' and '..'")
        self.check_invalid("/..", "'.' and '..'")

    def test_non_string_is_a_type_error(self):
        with self.assertRaises(TypeError):
            bare_name(b"foo")

    def test_producer_and_consumer_validate_before_touching_the_os(self):
        with self.assertRaises(InvalidNameError):
            ShmProducer("bad name", 64)
        with self.assertRaises(InvalidNameError):
            ShmConsumer("//x")

    def test_slash_and_bare_name_are_one_object(self):
        name = unique_name("n")
        self.addCleanup(unlink_quietly, name)
        with ShmProducer("/" + name, 64) as producer:
            self.assertEqual(producer.name, name)
            with ShmConsumer(name) as consumer:
                producer.write(b"same")
                self.assertEqual(consumer.read(timeout=5).into_bytes(), b"same")


class CapacityTest(unittest.TestCase):
    def test_rounds_up_to_a_power_of_two(self):
        self.assertEqual(round_capacity(100), 128)
        self.assertEqual(round_capacity(6_220_800), 8 << 20)
        self.assertEqual(round_capacity(1), 8)
        self.assertEqual(round_capacity(8), 8)
        self.assertEqual(round_capacity(9), 16)
        self.assertEqual(round_capacity(16), 16)
        self.assertEqual(round_capacity(1 << 20), 1 << 20)
        self.assertEqual(round_capacity((1 << 31) - 1), 1 << 31)
        self.assertEqual(round_capacity(1 << 31), 1 << 31)

    def test_the_original_sizing_rounds_down(self):
        self.assertEqual(original_capacity(100), 64)
        self.assertEqual(original_capacity(6_220_800), 4_194_304)
        self.assertEqual(original_capacity(8), 8)
        self.assertEqual(original_capacity(15), 8)
        self.assertEqual(original_capacity(16), 16)
        self.assertEqual(original_capacity(1 << 20), 1 << 20)
        self.assertEqual(original_capacity((1 << 32) - 1), 1 << 31)
        self.assertEqual(original_capacity(1 << 31), 1 << 31)

    def test_out_of_range_requests_name_the_value(self):
        for rounding, requests in (
            (round_capacity, (0, (1 << 31) + 1, 1 << 32, -1)),
            (original_capacity, (0, 7, 1 << 32, -1)),
        ):
            for requested in requests:
                with self.assertRaises(InvalidCapacityError) as caught:
                    rounding(requested)
                self.assertEqual(caught.exception.capacity, requested)
                self.assertIn(str(requested), str(caught.exception))
                self.assertIsInstance(caught.exception, ValueError)

    def test_non_integers_are_type_errors(self):
        for rounding in (round_capacity, original_capacity, shm_ring.capacity_for_message):
            for requested in (64.0, "64", True):
                with self.assertRaises(TypeError):
                    rounding(requested)

    def test_capacity_for_message_holds_the_message_and_its_prefix(self):
        capacity_for_message = shm_ring.capacity_for_message
        self.assertEqual(capacity_for_message(1920 * 1080 * 3), 8 << 20)
        self.assertEqual(capacity_for_message(4092), 4096)
        self.assertEqual(capacity_for_message(4093), 8192)
        self.assertEqual(capacity_for_message(0), 8)
        self.assertEqual(capacity_for_message(4), 8)
        self.assertEqual(capacity_for_message(5), 16)
        self.assertEqual(capacity_for_message((1 << 31) - 4), 1 << 31)
        for length in ((1 << 31) - 3, 1 << 31, -1):
            with self.assertRaises(InvalidCapacityError) as caught:
                capacity_for_message(length)
            self.assertIsInstance(caught.exception, ValueError)
            self.assertIn(str(length), str(caught.exception))

    def test_a_ring_of_the_helpers_capacity_carries_the_message(self):
        name = unique_name("c")
        self.addCleanup(unlink_quietly, name)
        frame = 1920 * 1080 * 3
        with ShmProducer(name, frame) as producer:
            self.assertGreaterEqual(producer.max_message_len, frame)
        for length in (1, 4092, 4093, 5000):
            with ShmProducer(name, shm_ring.capacity_for_message(length)) as producer:
                self.assertEqual(producer.max_message_len >= length, True)
                self.assertTrue(producer.try_write(bytes(length)))
                with self.assertRaises(shm_ring.MessageTooLargeError):
                    producer.try_write(bytes(producer.max_message_len + 1))

    def test_too_large_names_the_capacity_to_request(self):
        name = unique_name("c")
        self.addCleanup(unlink_quietly, name)
        with ShmProducer(name, 16) as producer:
            with self.assertRaises(shm_ring.MessageTooLargeError) as caught:
                producer.try_write(bytes(13))
            error = caught.exception
            self.assertEqual((error.length, error.max_length, error.needed_capacity), (13, 12, 32))
            self.assertIn("create the ring with capacity 32 to carry it", str(error))
            with self.assertRaises(shm_ring.MessageTooLargeError) as caught:
                producer.try_reserve(1 << 31)
            self.assertIsNone(caught.exception.needed_capacity)
            self.assertIn("no ring carries more than 2147483644 bytes", str(caught.exception))

    def test_producer_rounds_up_and_sizes_the_segment_to_the_ring(self):
        from .support import fstat

        name = unique_name("c")
        self.addCleanup(unlink_quietly, name)
        with ShmProducer(name, 100) as producer:
            self.assertEqual(producer.capacity, 128)
            self.assertEqual(producer.max_message_len, 124)
            # header 0..16, data 16..144, extension block 192..256
            self.assertEqual(fstat(name).st_size, 256)
        with ShmProducer(name, 4096) as producer:
            self.assertEqual(fstat(name).st_size, 4160 + 64)
        with ShmProducer(name, 6_220_800) as producer:
            self.assertEqual(producer.capacity, 8 << 20)
            self.assertEqual(fstat(name).st_size, (8 << 20) + 64 + 64)
            with ShmConsumer(name) as consumer:
                self.assertEqual(consumer.capacity, 8 << 20)
                self.assertEqual(consumer.max_message_len, (8 << 20) - 4)

    def test_the_extension_block_starts_at_the_first_cache_line_past_the_data_area(self):
        self.assertEqual(EXTENSION_MARKER.to_bytes(4, "little"), b"SRX1")
        expected = ((8, 64), (16, 64), (32, 64), (64, 128), (4096, 4160), (1 << 31, (1 << 31) + 64))
        for capacity, offset in expected:
            self.assertEqual(extension_offset(capacity), offset, capacity)
            self.assertEqual(offset % 64, 0)
            self.assertGreaterEqual(offset, 16 + capacity)
            self.assertLess(offset, 16 + capacity + 64)

    def test_segment_length_is_header_data_and_block(self):
        self.assertEqual(segment_len(8), 128)  # data 16..24, block 64..128
        self.assertEqual(segment_len(128), 256)
        self.assertEqual(segment_len(4096), 4224)
        self.assertEqual(segment_len(1 << 31), (1 << 31) + 128)

    def test_original_segment_length_is_the_original_size_unless_the_block_needs_more(self):
        self.assertEqual(original_segment_len(8), 128)  # data 16..24, block 64..128
        self.assertEqual(original_segment_len(100), 192)
        self.assertEqual(original_segment_len(4096), 4224)
        self.assertEqual(original_segment_len(4207), 4224)  # capacity 4096; 16 + 4207 = 4223
        self.assertEqual(original_segment_len(4208), 4224)
        self.assertEqual(original_segment_len(4209), 4225)
        self.assertEqual(original_segment_len(6_220_800), 6_220_816)
        self.assertEqual(original_segment_len((1 << 32) - 1), (1 << 32) + 15)

    def test_a_consumer_uses_the_block_only_with_the_marker_and_room_for_it(self):
        self.assertTrue(has_extension(EXTENSION_MARKER, 64, 192))
        self.assertTrue(has_extension(EXTENSION_MARKER, 64, 4096))
        self.assertFalse(has_extension(EXTENSION_MARKER, 64, 191))
        self.assertFalse(has_extension(EXTENSION_MARKER, 64, 16 + 64))
        self.assertFalse(has_extension(0, 64, 192))
        self.assertFalse(has_extension(EXTENSION_MARKER ^ 1, 64, 192))

    def test_producer_refuses_out_of_range_capacity(self):
        name = unique_name("c")
        self.addCleanup(unlink_quietly, name)
        for requested in (0, (1 << 31) + 1):
            with self.assertRaises(InvalidCapacityError):
                ShmProducer(name, requested)
        from .support import exists

        self.assertFalse(exists(name))


if __name__ == "__main__":
    unittest.main()
