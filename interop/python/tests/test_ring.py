"""In-process behaviour of a producer and a consumer sharing one segment."""

import array
import struct
import sys
import threading
import unittest

from shm_ring import (
    BufferTooSmallError,
    BusyError,
    ClosedError,
    CorruptedError,
    EmptyMessageError,
    MessageTooLargeError,
    ShmConsumer,
    ShmProducer,
    ShmRingError,
    ShmTimeoutError,
)

from .support import RawSegment, unique_name, unlink_quietly

M32 = (1 << 32) - 1


class RingCase(unittest.TestCase):
    """Creates a producer (capacity ``CAPACITY``) and a consumer on a fresh segment."""

    CAPACITY = 64
    START = 0

    def setUp(self):
        self.name = unique_name("r")
        self.addCleanup(unlink_quietly, self.name)
        self.producer = ShmProducer(self.name, self.CAPACITY, start_index=self.START)
        self.addCleanup(self.producer.close)
        self.consumer = ShmConsumer(self.name)
        self.addCleanup(self.consumer.close)
        self.mm = self.producer._mm

    def word(self, index):
        return int.from_bytes(self.mm[4 * index : 4 * index + 4], "little")

    def set_word(self, index, value):
        self.producer._words[index] = value & M32

    def data_bytes(self, index, length):
        """The raw bytes at stream index ``index`` (wrapping at the end of the data area)."""
        cap = self.producer.capacity
        return bytes(self.mm[16 + ((index + k) & (cap - 1))] for k in range(length))


class HeaderTest(RingCase):
    START = 123456

    def test_header_words_are_little_endian_u32(self):
        self.assertEqual(self.mm[0:12], (123456).to_bytes(4, "little") * 2 + (64).to_bytes(4, "little"))
        # The reserved word holds the marker; the flag bytes live in the extension block at
        # 128 (the first 64-byte boundary past the data area, 16..80): the producer's, the
        # consumer's, then zeros. Nothing else past the data area is written.
        self.assertEqual(self.mm[12:16], b"SRX1")
        self.assertEqual(len(self.mm), 192)
        self.assertEqual(self.mm[80:128], bytes(48))
        block = bytes([self.producer._segment.flags, self.consumer._segment.flags]) + bytes(62)
        self.assertEqual(self.mm[128:192], block)
        self.producer.write(b"abc")
        self.assertEqual(self.mm[0:4], (123456 + 7).to_bytes(4, "little"))
        self.assertEqual(self.consumer.read(timeout=5).into_bytes(), b"abc")
        self.assertEqual(self.mm[4:8], (123456 + 7).to_bytes(4, "little"))

    def test_record_layout_on_the_wire(self):
        self.producer.write(b"hello")
        self.assertEqual(self.data_bytes(123456, 9), b"\x05\x00\x00\x00hello")

    def test_consumer_resumes_at_the_shared_tail(self):
        for payload in (b"one", b"two", b"three"):
            self.producer.write(payload)
        self.assertEqual(self.consumer.read(timeout=5).into_bytes(), b"one")
        self.consumer.close()
        with ShmConsumer(self.name) as again:
            self.assertEqual(again.read(timeout=5).into_bytes(), b"two")
            self.assertEqual(again.read(timeout=5).into_bytes(), b"three")

    def test_capacity_is_read_once(self):
        self.set_word(2, 1 << 20)
        self.assertEqual(self.consumer.capacity, 64)
        self.producer.write(b"x" * 50)
        self.assertFalse(self.producer.try_write(b"y" * 20))
        self.assertEqual(self.consumer.read(timeout=5).into_bytes(), b"x" * 50)
        self.set_word(2, 64)


class WriteReadTest(RingCase):
    def test_empty_message_is_refused(self):
        for empty in (b"", bytearray(), memoryview(b""), array.array("i")):
            with self.assertRaises(EmptyMessageError):
                self.producer.try_write(empty)
            with self.assertRaises(EmptyMessageError):
                self.producer.write(empty, timeout=0)
        self.assertTrue(self.producer.is_empty())
        self.assertEqual(self.word(0), 0)

    def test_too_large_is_refused_with_both_lengths(self):
        with self.assertRaises(MessageTooLargeError) as caught:
            self.producer.try_write(b"x" * 61)
        self.assertEqual((caught.exception.length, caught.exception.max_length), (61, 60))
        self.assertIn("61", str(caught.exception))
        self.assertIn("60", str(caught.exception))
        self.assertTrue(self.producer.try_write(b"x" * 60))
        self.assertEqual(self.consumer.try_read().into_bytes(), b"x" * 60)

    def test_the_one_call_copying_read_consumes_in_order(self):
        self.assertIsNone(self.consumer.try_read_bytes())
        for message in (b"one", b"two", b"three"):
            self.assertTrue(self.producer.try_write(message))
        self.assertEqual(self.consumer.try_read_bytes(), b"one")
        self.assertEqual(self.consumer.read_bytes(timeout=5), b"two")
        # It shares the grant's rules: no copying read while a grant is open.
        grant = self.consumer.try_read()
        with self.assertRaises(BusyError):
            self.consumer.try_read_bytes()
        grant.release()
        self.assertEqual(self.consumer.read_bytes(timeout=5), b"three")
        with self.assertRaises(ShmTimeoutError):
            self.consumer.read_bytes(timeout=0)
        self.assertTrue(self.consumer.is_empty())

    def test_full_ring_refuses_and_writes_nothing(self):
        self.assertTrue(self.producer.try_write(b"a" * 40))
        self.assertEqual(self.producer.writable_bytes(), 20)
        self.assertFalse(self.producer.try_write(b"b" * 17))
        self.assertEqual(self.word(0), 44)
        self.assertTrue(self.producer.try_write(b"b" * 16))
        self.assertEqual(self.producer.writable_bytes(), 0)
        self.assertFalse(self.producer.try_write(b"c"))
        self.assertEqual(self.consumer.readable_bytes(), 64)
        self.assertEqual(self.consumer.try_read().into_bytes(), b"a" * 40)
        self.assertTrue(self.producer.try_write(b"c"))
        self.assertEqual(self.consumer.try_read().into_bytes(), b"b" * 16)
        self.assertEqual(self.consumer.try_read().into_bytes(), b"c")
        self.assertIsNone(self.consumer.try_read())
        self.assertTrue(self.consumer.is_empty())

    def test_introspection(self):
        self.assertEqual(self.producer.readable_bytes(), 0)
        self.assertEqual(self.producer.writable_bytes(), 64)
        self.producer.write(b"12345")
        for side in (self.producer, self.consumer):
            self.assertEqual(side.readable_bytes(), 9)
            self.assertEqual(side.writable_bytes(), 55)
            self.assertFalse(side.is_empty())
            self.assertEqual(side.capacity, 64)
            self.assertEqual(side.max_message_len, 60)
            self.assertEqual(side.name, self.name)

    def test_buffer_protocol_inputs(self):
        inputs = [
            bytearray(b"bytearray"),
            memoryview(b"memoryview"),
            memoryview(b"xxsliced viewxx")[2:-2],
            array.array("H", [1, 2, 0xFFFF]),
            array.array("d", [1.5]),
            memoryview(bytes(range(12))).cast("B", (3, 4)),
            memoryview(b"a-b-c-d")[::2],
        ]
        expected = [
            b"bytearray",
            b"memoryview",
            b"sliced view",
            array.array("H", [1, 2, 0xFFFF]).tobytes(),
            array.array("d", [1.5]).tobytes(),
            bytes(range(12)),
            b"abcd",
        ]
        for data, want in zip(inputs, expected):
            self.producer.write(data, timeout=5)
            self.assertEqual(self.consumer.read(timeout=5).into_bytes(), want)

    def test_non_bytes_like_is_a_type_error(self):
        for data in ("text", 5, None, [1, 2]):
            with self.assertRaises(TypeError):
                self.producer.try_write(data)

    def test_many_messages_of_every_size(self):
        for round_ in range(3):
            for n in range(1, 61):
                payload = bytes((n * 3 + k + round_) % 256 for k in range(n))
                self.assertTrue(self.producer.try_write(payload))
                self.assertEqual(self.consumer.try_read().into_bytes(), payload)

    def test_timeouts(self):
        with self.assertRaises(ShmTimeoutError) as caught:
            self.consumer.read(timeout=0).into_bytes()
        self.assertIsInstance(caught.exception, TimeoutError)
        self.assertIn("timed out after 0 ms waiting for a message", str(caught.exception))
        self.producer.write(b"z" * 60)
        with self.assertRaises(ShmTimeoutError) as caught:
            self.producer.write(b"more", timeout=0.02)
        self.assertIn("timed out after 20 ms waiting for space", str(caught.exception))
        self.assertEqual(caught.exception.timeout, 0.02)
        with self.assertRaises(ShmTimeoutError):
            self.producer.wait_until_empty(timeout=0.01)
        with self.assertRaises(ShmTimeoutError):
            self.producer.write_batch([b"more"], timeout=0.01)
        with self.assertRaises(ShmTimeoutError):
            self.producer.reserve(4, timeout=0.01)
        self.assertEqual(self.consumer.read(timeout=0).into_bytes(), b"z" * 60)
        for call in (self.consumer.read_batch, ):
            with self.assertRaises(ShmTimeoutError):
                call(4, timeout=0.01)
        with self.assertRaises(ShmTimeoutError):
            self.consumer.read(timeout=0.01)
        self.producer.wait_until_empty(timeout=0)

    def test_bad_timeouts(self):
        with self.assertRaises(ValueError):
            self.consumer.read(timeout=-1)
        with self.assertRaises(TypeError):
            self.consumer.read(timeout="1")

    def test_blocking_read_and_write_across_threads(self):
        count = 2000
        received = []

        def consume():
            for _ in range(count):
                received.append(self.consumer.read(timeout=120).into_bytes())

        thread = threading.Thread(target=consume)
        thread.start()
        try:
            for i in range(count):
                self.producer.write(i.to_bytes(4, "little") * (1 + i % 14), timeout=120)
            self.producer.wait_until_empty(timeout=120)
        finally:
            thread.join(120)
        self.assertFalse(thread.is_alive())
        self.assertEqual(received, [i.to_bytes(4, "little") * (1 + i % 14) for i in range(count)])

    def test_closed_objects_refuse_work(self):
        self.producer.close()
        self.consumer.close()
        self.producer.close()
        with self.assertRaises(ClosedError):
            self.producer.try_write(b"x")
        with self.assertRaises(ClosedError):
            self.consumer.try_read()
        with self.assertRaises(ClosedError):
            self.consumer.readable_bytes()
        self.assertTrue(self.producer.closed and self.consumer.closed)


class WrapTest(unittest.TestCase):
    """Records that wrap around the end of the data area, and indices that wrap at 2**32."""

    def ring(self, start, capacity=64):
        name = unique_name("w")
        self.addCleanup(unlink_quietly, name)
        producer = ShmProducer(name, capacity, start_index=start)
        self.addCleanup(producer.close)
        consumer = ShmConsumer(name)
        self.addCleanup(consumer.close)
        return producer, consumer

    def raw(self, producer, index, length):
        cap = producer.capacity
        return bytes(producer._mm[16 + ((index + k) & (cap - 1))] for k in range(length))

    def test_prefix_split_at_each_byte_position(self):
        # 4, 3, 2 and 1 prefix bytes before the end of the data area, the rest at its start.
        for start in (60, 61, 62, 63):
            producer, consumer = self.ring(start)
            payload = bytes(range(100, 110))
            self.assertTrue(producer.try_write(payload))
            record = (10).to_bytes(4, "little") + payload
            self.assertEqual(self.raw(producer, start, 14), record)
            area = producer._mm[16:80]
            tail_part = 64 - (start % 64)
            self.assertEqual(area[start % 64 :], record[:tail_part])
            self.assertEqual(area[: 14 - tail_part], record[tail_part:])
            self.assertEqual(consumer.try_read().into_bytes(), payload)
            # And again through every read path.
            for reader in ("into", "view", "batch"):
                producer, consumer = self.ring(start)
                producer.write(payload)
                if reader == "into":
                    out = bytearray(16)
                    self.assertEqual(consumer.try_read().into_buffer(out), 10)
                    self.assertEqual(bytes(out[:10]), payload)
                elif reader == "view":
                    with consumer.try_read() as grant:
                        first, second = grant.as_slices()
                        self.assertEqual(bytes(first) + bytes(second), payload)
                        del first, second
                        grant.commit()
                else:
                    self.assertEqual(consumer.try_read_batch(5), [payload])
                self.assertTrue(consumer.is_empty())

    def test_payload_split_at_every_position(self):
        for start in range(40, 64):
            producer, consumer = self.ring(start)
            payload = bytes(range(1, 25))
            producer.write(payload)
            self.assertEqual(self.raw(producer, start, 28), (24).to_bytes(4, "little") + payload)
            self.assertEqual(consumer.read(timeout=5).into_bytes(), payload)

    def test_index_wrap_at_2_32(self):
        for start in (M32 - 100, M32 - 3, M32 - 2, M32 - 1, M32):
            producer, consumer = self.ring(start)
            head = start
            for i in range(60):
                payload = bytes([i]) * (1 + i % 23)
                producer.write(payload, timeout=5)
                head = (head + 4 + len(payload)) & M32
                self.assertEqual(int.from_bytes(producer._mm[0:4], "little"), head)
                self.assertEqual(consumer.read(timeout=5).into_bytes(), payload)
                self.assertEqual(int.from_bytes(producer._mm[4:8], "little"), head)
            self.assertLess(head, start, "the index must have crossed 2**32")

    def test_index_wrap_with_batches_and_zero_copy(self):
        producer, consumer = self.ring(M32 - 50)
        sent = []
        received = []
        for i in range(40):
            batch = [bytes([i, k]) * (k + 1) for k in range(3)]
            sent.extend(batch)
            self.assertEqual(producer.try_write_batch(batch), 3)
            received.extend(consumer.try_read_batch(10))
            with producer.try_reserve(5) as reservation:
                reservation.copy_from(bytes([i]) * 5)
                reservation.commit()
            sent.append(bytes([i]) * 5)
            with consumer.try_read() as grant:
                first, second = grant.as_slices()
                received.append(bytes(first) + bytes(second))
                del first, second
                grant.commit()
        self.assertEqual(received, sent)
        self.assertLess(producer._head, M32 - 50)


class TornIndexTest(RingCase):
    def test_consumer_treats_an_impossible_head_as_empty(self):
        self.producer.write(b"real")
        head = self.word(0)
        for torn in (head + 64 + 1, -5, 0x80000000):
            self.set_word(0, torn)
            self.assertIsNone(self.consumer.try_read())
            self.assertEqual(self.consumer.try_read_batch(4), [])
            self.assertTrue(self.consumer.is_empty())
        self.set_word(0, head)
        self.assertEqual(self.consumer.try_read().into_bytes(), b"real")

    def test_producer_treats_an_impossible_tail_as_full(self):
        self.assertTrue(self.producer.try_write(b"a" * 40))
        self.assertEqual(self.consumer.try_read().into_bytes(), b"a" * 40)
        good_tail = self.word(1)
        for torn in (good_tail + 100, good_tail - 65, 0x80000000):
            self.set_word(1, torn)
            self.assertFalse(self.producer.try_write(b"b" * 30))
            self.assertEqual(self.producer.try_write_batch([b"b" * 30]), 0)
            self.assertIsNone(self.producer.try_reserve(30))
            self.assertEqual(self.producer.writable_bytes(), 0)
        self.set_word(1, good_tail)
        self.assertTrue(self.producer.try_write(b"b" * 30))
        self.assertEqual(self.consumer.try_read().into_bytes(), b"b" * 30)


class HandPlacedRecordTest(unittest.TestCase):
    """Records a correct producer never writes, placed in a hand-made segment."""

    def segment(self, capacity=64, start=0):
        name = unique_name("h")
        self.addCleanup(unlink_quietly, name)
        raw = RawSegment(name, 16 + capacity, capacity=capacity, head=start, tail=start)
        self.addCleanup(raw.close)
        consumer = ShmConsumer(name)
        self.addCleanup(consumer.close)
        return raw, consumer

    def test_zero_length_record_is_delivered_as_empty(self):
        for start in (0, 62, M32 - 1):
            raw, consumer = self.segment(start=start)
            index = raw.put_record(start, b"")
            index = raw.put_record(index, b"after")
            raw.set_words(head=index)
            self.assertEqual(consumer.try_read().into_bytes(), b"")
            self.assertEqual(consumer.try_read().into_bytes(), b"after")
            self.assertEqual(raw.word(1), index)
        raw, consumer = self.segment()
        index = raw.put_record(0, b"")
        index = raw.put_record(index, b"")
        index = raw.put_record(index, b"x")
        raw.set_words(head=index)
        self.assertEqual(consumer.try_read_batch(10), [b"", b"", b"x"])
        raw, consumer = self.segment()
        raw.set_words(head=raw.put_record(0, b""))
        with consumer.try_read() as grant:
            self.assertEqual(len(grant), 0)
            self.assertEqual([bytes(part) for part in grant.as_slices()], [b"", b""])
            grant.commit()
        raw.set_words(head=raw.put_record(4, b""))
        self.assertEqual(consumer.try_read().into_buffer(bytearray(0)), 0)

    def test_length_above_capacity_is_corrupted(self):
        raw, consumer = self.segment(start=10)
        raw.put_record(10, b"x" * 8, length=61)
        raw.set_words(head=10 + 12)
        for read in (consumer.try_read, lambda: consumer.try_read_batch(3),
                     lambda: consumer.read(timeout=0)):
            with self.assertRaises(CorruptedError) as caught:
                read()
            error = caught.exception
            self.assertEqual((error.tail, error.length, error.readable), (10, 61, 12))
            for value in ("index 10", "61", "12"):
                self.assertIn(value, str(error))
        self.assertEqual(raw.word(1), 10, "nothing may be consumed")

    def test_length_beyond_published_bytes_is_corrupted(self):
        raw, consumer = self.segment()
        raw.put_record(0, b"abc", length=20)
        raw.set_words(head=7)
        with self.assertRaises(CorruptedError) as caught:
            consumer.try_read()
        self.assertEqual((caught.exception.tail, caught.exception.length, caught.exception.readable), (0, 20, 7))
        # Once the producer publishes the rest, the record is fine.
        raw.put(7, b"d" * 17)
        raw.set_words(head=24)
        self.assertEqual(consumer.try_read().into_bytes(), b"abc" + b"d" * 17)

    def test_partial_prefix_is_corrupted(self):
        raw, consumer = self.segment()
        raw.put(0, b"\x01\x00")
        raw.set_words(head=2)
        with self.assertRaises(CorruptedError) as caught:
            consumer.try_read()
        self.assertEqual((caught.exception.tail, caught.exception.length, caught.exception.readable), (0, None, 2))
        self.assertIn("only 2 bytes", str(caught.exception))

    def test_batch_returns_good_messages_before_corruption_then_raises(self):
        raw, consumer = self.segment()
        index = raw.put_record(0, b"good1")
        index = raw.put_record(index, b"good2")
        bad = index
        raw.put_record(index, b"", length=1000)
        raw.set_words(head=index + 4)
        self.assertEqual(consumer.try_read_batch(10), [b"good1", b"good2"])
        self.assertEqual(raw.word(1), bad)
        with self.assertRaises(CorruptedError) as caught:
            consumer.try_read_batch(10)
        self.assertEqual(caught.exception.tail, bad)

    def test_wrapped_prefix_from_another_producer(self):
        raw, consumer = self.segment(start=62)
        index = raw.put_record(62, b"wrapped prefix")
        raw.set_words(head=index)
        self.assertEqual(consumer.try_read_batch(2), [b"wrapped prefix"])


class ReadIntoTest(RingCase):
    def test_buffer_too_small_leaves_the_message(self):
        self.producer.write(b"0123456789")
        small = bytearray(4)
        grant = self.consumer.try_read()
        with self.assertRaises(BufferTooSmallError) as caught:
            grant.into_buffer(small)
        self.assertEqual((caught.exception.needed, caught.exception.available), (10, 4))
        self.assertIn("10", str(caught.exception))
        self.assertEqual(small, bytearray(4))
        self.assertEqual(self.consumer.readable_bytes(), 14)
        exact = bytearray(10)
        self.assertEqual(grant.into_buffer(exact), 10)
        self.assertEqual(exact, b"0123456789")
        self.assertIsNone(self.consumer.try_read())
        # Leaving a with block after the refusal leaves the message too.
        self.producer.write(b"0123456789")
        with self.assertRaises(BufferTooSmallError):
            with self.consumer.try_read() as grant:
                grant.into_buffer(small)
        self.assertEqual(self.consumer.try_read().into_bytes(), b"0123456789")

    def test_into_various_buffers(self):
        self.producer.write(b"\x01\x00\x02\x00")
        target = array.array("H", [0, 0, 0])
        self.assertEqual(self.consumer.try_read().into_buffer(target), 4)
        self.assertEqual(list(target), [1, 2, 0])
        self.producer.write(b"mv")
        backing = bytearray(b"......")
        self.assertEqual(self.consumer.read(timeout=5).into_buffer(memoryview(backing)[2:]), 2)
        self.assertEqual(backing, b"..mv..")
        self.producer.write(b"ro")
        grant = self.consumer.try_read()
        with self.assertRaises(TypeError):
            grant.into_buffer(b"readonly")
        self.assertEqual(grant.into_bytes(), b"ro")


class BatchTest(RingCase):
    CAPACITY = 256

    def count_stores(self, side, word):
        stores = []
        words = side._words

        class Recorder:
            def __getitem__(self, index):
                return words[index]

            def __setitem__(self, index, value):
                if index == word:
                    stores.append(value)
                words[index] = value

        side._words = Recorder()
        self.addCleanup(setattr, side, "_words", words)
        return stores

    def test_write_batch_publishes_head_once(self):
        stores = self.count_stores(self.producer, 0)
        messages = [bytes([i]) * 10 for i in range(10)]
        self.assertEqual(self.producer.try_write_batch(messages), 10)
        self.assertEqual(stores, [140])
        self.assertEqual(self.consumer.try_read_batch(100), messages)

    def test_read_batch_publishes_tail_once(self):
        messages = [bytes([i]) * (i + 1) for i in range(12)]
        self.assertEqual(self.producer.try_write_batch(messages), 12)
        stores = self.count_stores(self.consumer, 1)
        self.assertEqual(self.consumer.try_read_batch(5), messages[:5])
        self.assertEqual(self.consumer.try_read_batch(100), messages[5:])
        self.assertEqual(stores, [sum(n + 5 for n in range(5)), sum(n + 5 for n in range(12))])
        self.assertEqual(self.consumer.try_read_batch(100), [])
        self.assertEqual(len(stores), 2)

    def test_batch_stops_at_the_first_message_that_does_not_fit(self):
        a, b, c, d, e = b"a" * 120, b"b" * 120, b"c" * 10, b"d" * 10, b"e" * 230
        self.assertEqual(self.producer.try_write_batch([a, b, c, d]), 2)
        self.assertEqual(self.producer.try_write_batch([c]), 0)
        self.assertEqual(self.consumer.try_read_batch(10), [a, b])
        self.assertEqual(self.producer.try_write_batch([c, d, e]), 2)
        self.assertEqual(self.producer.try_write_batch([e]), 0)
        self.assertEqual(self.consumer.try_read_batch(10), [c, d])
        self.assertEqual(self.producer.try_write_batch([e]), 1)
        self.assertEqual(self.consumer.read_batch(10, timeout=5), [e])
        self.assertEqual(self.producer.try_write_batch([]), 0)
        self.assertEqual(self.producer.try_write_batch(iter([])), 0)
        self.assertEqual(self.consumer.try_read_batch(0), [])

    def test_batch_accepts_any_iterable_of_bytes_like(self):
        generator = (bytes([i]) * 3 for i in range(4))
        self.assertEqual(self.producer.write_batch(generator, timeout=5), 4)
        mixed = [bytearray(b"ba"), memoryview(b"mv"), array.array("B", [7, 8])]
        self.assertEqual(self.producer.write_batch(mixed), 3)
        self.assertEqual(
            self.consumer.read_batch(10, timeout=5),
            [b"\x00" * 3, b"\x01" * 3, b"\x02" * 3, b"\x03" * 3, b"ba", b"mv", b"\x07\x08"],
        )

    def test_invalid_message_in_a_batch(self):
        with self.assertRaises(EmptyMessageError) as caught:
            self.producer.try_write_batch([b"ok", b"", b"never"])
        self.assertEqual(caught.exception.written, 1)
        with self.assertRaises(MessageTooLargeError) as caught:
            self.producer.write_batch([b"x" * 253])
        self.assertEqual(caught.exception.written, 0)
        self.assertEqual(self.consumer.try_read_batch(10), [b"ok"])

    def test_write_batch_waits_for_room_for_the_first(self):
        self.producer.write(b"f" * 250)
        results = []
        thread = threading.Thread(
            target=lambda: results.append(self.producer.write_batch([b"x" * 100, b"y" * 100], timeout=120))
        )
        thread.start()
        try:
            self.assertEqual(self.consumer.read(timeout=120).into_bytes(), b"f" * 250)
        finally:
            thread.join(120)
        self.assertEqual(results, [2])
        self.assertEqual(self.consumer.read_batch(5, timeout=5), [b"x" * 100, b"y" * 100])

    def test_read_batch_reads_across_the_wrap(self):
        sent = []
        for round_ in range(20):
            batch = [bytes([round_, k]) * (7 + k) for k in range(6)]
            written = self.producer.try_write_batch(batch)
            sent.extend(batch[:written])
            self.assertGreater(written, 0)
            got = self.consumer.try_read_batch(100)
            self.assertEqual(got, batch[:written])


class ZeroCopyTest(RingCase):
    def test_reserve_fill_commit(self):
        reservation = self.producer.try_reserve(12)
        self.assertEqual(len(reservation), 12)
        first, second = reservation.as_slices()
        self.assertEqual((len(first), len(second)), (12, 0))
        first[:] = b"in the ring!"
        del first, second
        self.assertTrue(self.consumer.is_empty(), "nothing is published before commit")
        reservation.commit()
        self.assertEqual(self.consumer.read(timeout=5).into_bytes(), b"in the ring!")

    def test_uncommitted_reservation_publishes_nothing(self):
        with self.producer.try_reserve(8) as reservation:
            reservation.copy_from(b"abandon!")
        self.assertTrue(self.consumer.is_empty())
        self.assertEqual(self.word(0), 0)
        try:
            with self.producer.try_reserve(8) as reservation:
                reservation.copy_from(b"abandon!")
                raise KeyError("boom")
        except KeyError:
            pass
        self.assertTrue(self.consumer.is_empty())
        self.producer.write(b"next")
        self.assertEqual(self.consumer.read(timeout=5).into_bytes(), b"next")

    def test_commit_shorter(self):
        with self.producer.reserve(20, timeout=5) as reservation:
            reservation.copy_from(b"short")
            reservation.commit(5)
        self.assertEqual(self.consumer.read(timeout=5).into_bytes(), b"short")
        self.assertEqual(self.word(0), 9)
        reservation = self.producer.try_reserve(4)
        with self.assertRaises(ValueError):
            reservation.commit(5)
        with self.assertRaises(ValueError):
            reservation.commit(0)
        reservation.release()
        with self.assertRaises(ClosedError):
            reservation.as_slices()

    def test_wrapped_reservation_has_two_parts(self):
        self.producer.write(b"x" * 50)
        self.assertEqual(self.consumer.read(timeout=5).into_bytes(), b"x" * 50)
        # head = 54: prefix at 54..57, payload from 58, wraps after 6 bytes.
        reservation = self.producer.try_reserve(20)
        self.assertEqual([len(part) for part in reservation.as_slices()], [6, 14])
        reservation.copy_from(b"ABCDEFGHIJKLMNOPQRST")
        reservation.commit()
        self.assertEqual(self.data_bytes(54, 24), (20).to_bytes(4, "little") + b"ABCDEFGHIJKLMNOPQRST")
        with self.consumer.try_read() as grant:
            self.assertEqual(
                [bytes(part) for part in grant.as_slices()], [b"ABCDEF", b"GHIJKLMNOPQRST"]
            )
            self.assertTrue(all(part.readonly for part in grant.as_slices()))
            grant.commit()
        self.assertTrue(self.consumer.is_empty())

    def test_reservation_write_offsets(self):
        reservation = self.producer.try_reserve(10)
        reservation.copy_from(b"56789", offset=5)
        reservation.copy_from(b"01234")
        with self.assertRaises(ValueError):
            reservation.copy_from(b"toolong", offset=5)
        reservation.commit()
        self.assertEqual(self.consumer.read(timeout=5).into_bytes(), b"0123456789")

    def test_reserve_validates_length(self):
        with self.assertRaises(EmptyMessageError):
            self.producer.try_reserve(0)
        with self.assertRaises(MessageTooLargeError):
            self.producer.try_reserve(61)
        with self.assertRaises(ValueError):
            self.producer.try_reserve(-1)
        self.producer.write(b"q" * 60)
        self.assertIsNone(self.producer.try_reserve(1))

    def test_one_reservation_at_a_time(self):
        reservation = self.producer.try_reserve(4)
        with self.assertRaises(BusyError):
            self.producer.try_write(b"x")
        with self.assertRaises(BusyError):
            self.producer.try_reserve(4)
        reservation.commit()
        self.assertTrue(self.producer.try_write(b"x"))

    def test_grant_stays_until_committed(self):
        self.producer.write(b"look")
        grant = self.consumer.try_read()
        self.assertEqual(bytes(grant.as_slices()[0]), b"look")
        self.assertEqual(self.consumer.readable_bytes(), 8, "not consumed while the grant is open")
        with self.assertRaises(BusyError):
            self.consumer.try_read()
        part = grant.as_slices()[0]
        grant.commit()
        with self.assertRaises(ValueError):
            bytes(part)
        self.assertTrue(self.consumer.is_empty())
        grant.release()
        self.assertTrue(self.consumer.is_empty())
        with self.assertRaises(ClosedError):
            grant.commit()

    def test_released_grant_leaves_the_message(self):
        self.producer.write(b"peek")
        grant = self.consumer.try_read()
        part = grant.as_slices()[0]
        grant.release()
        with self.assertRaises(ValueError):
            bytes(part)
        with self.assertRaises(ClosedError):
            grant.into_bytes()
        with self.consumer.read(timeout=5) as grant:
            self.assertEqual(len(grant), 4)  # looked at, left
        with self.consumer.try_read() as grant:
            self.assertEqual(grant.into_bytes(), b"peek")
        self.assertIsNone(self.consumer.try_read())

    def test_view_whose_memory_is_exported_is_not_consumed(self):
        self.producer.write(b"held")
        grant = self.consumer.try_read()
        exporter = struct.iter_unpack("B", grant.as_slices()[0])  # holds a buffer export
        for consume in (grant.commit, grant.into_bytes, lambda: grant.into_buffer(bytearray(9))):
            with self.assertRaises(BusyError):
                consume()
        with self.assertRaises(BusyError):
            grant.release()
        self.assertEqual(self.consumer.readable_bytes(), 8)
        self.assertEqual([value for (value,) in exporter], list(b"held"))
        del exporter
        grant.commit()
        self.assertTrue(self.consumer.is_empty())

    def test_reservation_whose_memory_is_exported_is_not_published(self):
        reservation = self.producer.try_reserve(4)
        reservation.copy_from(b"wait")
        exporter = struct.iter_unpack("B", reservation.as_slices()[0])
        with self.assertRaises(BusyError):
            reservation.commit()
        self.assertTrue(self.consumer.is_empty())
        del exporter
        reservation.commit()
        self.assertEqual(self.consumer.read(timeout=5).into_bytes(), b"wait")

    def test_closing_consumer_with_open_view_does_not_consume(self):
        self.producer.write(b"stay")
        self.consumer.try_read()
        self.consumer.close()
        with ShmConsumer(self.name) as again:
            self.assertEqual(again.try_read().into_bytes(), b"stay")

    def test_closing_producer_cancels_reservation(self):
        self.producer.try_reserve(10)
        self.producer.close()
        self.assertTrue(self.consumer.is_empty())


class SwappedWordsTest(unittest.TestCase):
    """The header accessor used on big-endian hosts, exercised on this host's byte order."""

    def test_values_are_stored_byte_swapped_and_read_back(self):
        from shm_ring._segment import _SwappedWords

        backing = bytearray(16)
        words = _SwappedWords(memoryview(backing).cast("I"))
        words[1] = 0x01020304
        self.assertEqual(words[1], 0x01020304)
        native = int.from_bytes(backing[4:8], sys.byteorder)
        self.assertEqual(native, 0x04030201)
        words.release()


class ErrorHierarchyTest(unittest.TestCase):
    def test_every_error_is_a_shm_ring_error(self):
        import shm_ring

        for name in shm_ring.__all__:
            value = getattr(shm_ring, name)
            if isinstance(value, type) and issubclass(value, BaseException):
                self.assertTrue(issubclass(value, ShmRingError), name)
        self.assertTrue(issubclass(shm_ring.NotFoundError, FileNotFoundError))
        self.assertTrue(issubclass(shm_ring.AlreadyExistsError, FileExistsError))
        self.assertTrue(issubclass(shm_ring.PermissionDeniedError, PermissionError))
        self.assertTrue(issubclass(shm_ring.ShmTimeoutError, TimeoutError))
        self.assertFalse(issubclass(ShmRingError, RuntimeError))


if __name__ == "__main__":
    unittest.main()
