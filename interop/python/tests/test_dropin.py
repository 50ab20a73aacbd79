"""The original library's modules (``shm_channel``, ``byte_ring_buffer``) as its documentation
describes them, item by item, and against shm_ring's own classes in both directions."""

import subprocess
import sys
import threading
import unittest

import shm_ring
from shm_ring import PeerState
from byte_ring_buffer import ByteRingBuffer
from shm_channel import SegmentNotReadyError, ShmConsumer, ShmProducer

from .support import HANG_GUARD, RawSegment, exists, fstat, peer_env, unique_name, unlink_quietly


def message(i, length):
    """Message ``i`` of the conformance stream, ``length`` bytes."""
    return bytes((i * 7 + j) % 251 for j in range(length))


def words(memory):
    return [int.from_bytes(memory[k : k + 4], "little") for k in range(0, 16, 4)]


class ByteRingBufferTest(unittest.TestCase):
    def ring_pair(self, data_bytes):
        memory = bytearray(16 + data_bytes)
        producer = ByteRingBuffer(memoryview(memory), is_producer=True)
        consumer = ByteRingBuffer(memoryview(memory))
        return memory, producer, consumer

    def test_capacity_is_the_largest_power_of_two_in_the_memory(self):
        for requested, capacity in ((100, 64), (33, 32), (128, 128), (8, 8), (4095, 2048)):
            memory, producer, consumer = self.ring_pair(requested)
            self.assertEqual(producer.capacity, capacity)
            self.assertEqual(consumer.capacity, capacity)
            self.assertEqual(words(memory), [0, 0, capacity, 0])
            self.assertEqual(producer.writeable_bytes(), capacity)
            self.assertEqual(consumer.readable_bytes(), 0)

    def test_a_twelve_byte_payload_fills_a_sixteen_byte_area(self):
        memory, producer, consumer = self.ring_pair(16)
        self.assertIs(producer.write(message(0, 12)), True)
        self.assertEqual(producer.writeable_bytes(), 0)
        self.assertEqual(consumer.readable_bytes(), 16)
        self.assertIs(producer.write(b"x"), False)
        self.assertEqual(words(memory)[0], 16)  # nothing more was written
        self.assertEqual(consumer.read(), message(0, 12))
        self.assertIs(producer.write(b"x"), True)

    def test_has_data_means_four_readable_bytes_and_read_never_waits(self):
        memory, producer, consumer = self.ring_pair(64)
        self.assertFalse(consumer.has_data())
        self.assertIsNone(consumer.read())
        producer.write(b"x")
        self.assertTrue(consumer.has_data())
        self.assertEqual(consumer.readable_bytes(), 5)
        self.assertEqual(consumer.read(), b"x")
        self.assertFalse(consumer.has_data())
        self.assertIsNone(consumer.read())

    def test_producer_and_consumer_are_two_views_over_one_block(self):
        # 4 KiB payloads through a 16 KiB area: records wrap at ever different offsets.
        memory, producer, consumer = self.ring_pair(16384)
        written = read = 0
        while read < 200:
            if written < 200 and producer.write(message(written, 4096 - written % 7)):
                written += 1
                continue
            self.assertEqual(consumer.read(), message(read, 4096 - read % 7))
            read += 1
        self.assertIsNone(consumer.read())

    def test_one_object_both_writes_and_reads(self):
        memory = bytearray(16 + 64)
        ring = ByteRingBuffer(memoryview(memory), is_producer=True)
        for i in range(100):
            self.assertTrue(ring.write(message(i, 1 + i % 13)))
            self.assertEqual(ring.read(), message(i, 1 + i % 13))
        other = ByteRingBuffer(memoryview(memory))  # a consumer's object writes from the head
        self.assertTrue(other.write(b"xy"))
        self.assertEqual(ring.read(), b"xy")

    def test_indices_wrap_at_two_to_the_32(self):
        memory = bytearray(16 + 64)
        ByteRingBuffer(memoryview(memory), is_producer=True)
        start = (0xFFFFFFF0).to_bytes(4, "little")
        memory[0:4] = memory[4:8] = start
        ring = ByteRingBuffer(memoryview(memory))
        for i in range(40):
            self.assertTrue(ring.write(message(i, 1 + i % 11)))
            self.assertEqual(ring.readable_bytes(), 1 + i % 11 + 4)
            self.assertEqual(ring.read(), message(i, 1 + i % 11))
        head, tail = words(memory)[:2]
        self.assertEqual(head, tail)
        self.assertLess(head, 0x1000)  # went past 2**32

    def test_a_zero_byte_write_returns_true_and_writes_nothing(self):
        memory, producer, consumer = self.ring_pair(64)
        self.assertIs(producer.write(b""), True)
        self.assertIs(producer.write(bytearray()), True)
        self.assertEqual(producer.empty_writes_dropped, 2)
        self.assertEqual(words(memory)[0], 0)
        self.assertIsNone(consumer.read())

    def test_an_empty_record_is_delivered_and_the_next_one_follows(self):
        memory, producer, consumer = self.ring_pair(64)
        memory[16:20] = (0).to_bytes(4, "little")  # a zero-length record at index 0
        memory[0:4] = (4).to_bytes(4, "little")
        writer = ByteRingBuffer(memoryview(memory))  # writes from the shared head
        writer.write(b"abc")
        self.assertEqual(consumer.read(), b"")
        self.assertEqual(consumer.read(), b"abc")
        self.assertEqual(words(memory)[1], 11)

    def test_a_message_that_can_never_fit_raises(self):
        memory, producer, consumer = self.ring_pair(64)
        with self.assertRaises(shm_ring.MessageTooLargeError):
            producer.write(bytes(61))
        self.assertTrue(producer.write(bytes(60)))

    def test_no_byte_past_the_memory_is_touched(self):
        block = bytearray(b"\xa5") * (16 + 100 + 64)
        memory = memoryview(block)[: 16 + 100]
        producer = ByteRingBuffer(memory, is_producer=True)
        consumer = ByteRingBuffer(memory)
        for i in range(500):
            self.assertTrue(producer.write(message(i, 1 + i % 60)))
            self.assertEqual(consumer.read(), message(i, 1 + i % 60))
        self.assertEqual(bytes(block[16 + 64 :]), b"\xa5" * (100 - 64 + 64))

    def test_unusable_memory_is_refused(self):
        with self.assertRaises(ValueError):
            ByteRingBuffer(memoryview(bytearray(64))[1:], is_producer=True)  # misaligned
        with self.assertRaises(ValueError):
            ByteRingBuffer(memoryview(bytearray(20)), is_producer=True)  # 4 bytes of data
        with self.assertRaises(TypeError):
            ByteRingBuffer(memoryview(bytes(64)), is_producer=True)  # read-only

    def test_a_consumer_made_before_the_producer_attaches_later(self):
        memory = bytearray(16 + 64)
        consumer = ByteRingBuffer(memoryview(memory))
        self.assertEqual(consumer.capacity, 0)
        self.assertFalse(consumer.has_data())
        self.assertIsNone(consumer.read())
        producer = ByteRingBuffer(memoryview(memory), is_producer=True)
        producer.write(b"hi")
        self.assertEqual(consumer.capacity, 64)
        self.assertEqual(consumer.read(), b"hi")

    def test_close_lets_go_of_the_memory(self):
        memory = bytearray(16 + 64)
        ring = ByteRingBuffer(memoryview(memory), is_producer=True)
        ring.write(b"x")
        ring.read()
        ring.close()
        memory.extend(b"more")  # no export of the bytearray is left


class ChannelTest(unittest.TestCase):
    def name(self, tag):
        name = unique_name(tag)
        self.addCleanup(unlink_quietly, name)
        return name

    def test_capacity_rounds_down_and_messages_go_through(self):
        name = self.name("ch")
        with ShmProducer(name, 100) as producer, ShmConsumer(name) as consumer:
            self.assertTrue(producer.is_valid and consumer.is_valid)
            self.assertEqual((producer.capacity, consumer.capacity), (64, 64))
            self.assertEqual(producer.writeable_bytes(), 64)
            self.assertFalse(consumer.has_data())
            self.assertIsNone(consumer.read())
            self.assertIs(producer.write(b"hello"), True)
            self.assertEqual(producer.writeable_bytes(), 55)
            self.assertTrue(consumer.has_data())
            self.assertEqual(consumer.readable_bytes(), 9)
            self.assertEqual(consumer.read(), b"hello")
            self.assertIsNone(consumer.read())
            self.assertTrue(exists(name))
            # The original library's object size, 16 + 100, grown to fit the extension block.
            self.assertEqual(fstat(name).st_size, 192)
        self.assertFalse(exists(name))  # the producer's exit destroys
        self.assertFalse(producer.is_valid)
        self.assertFalse(consumer.is_valid)

    def test_four_kib_payloads_and_numpy_style_frames(self):
        name = self.name("4k")
        with ShmProducer(name, 16384) as producer, ShmConsumer(name, 1920 * 1080 * 3 + 16) as consumer:
            for i in range(50):
                self.assertTrue(producer.write(memoryview(message(i, 4096)).cast("B", (64, 64))))
                self.assertEqual(consumer.read(), message(i, 4096))

    def test_a_second_segment_name_is_a_second_ring(self):
        a, b = self.name("a"), self.name("b")
        with ShmProducer(a, 64) as pa, ShmProducer("/" + b, 128) as pb:
            with ShmConsumer("/" + a) as ca, ShmConsumer(b) as cb:
                pa.write(b"A")
                pb.write(b"BB")
                self.assertEqual(cb.read(), b"BB")
                self.assertEqual(ca.read(), b"A")
                self.assertEqual(cb.capacity, 128)

    def test_consumer_of_a_missing_segment_raises_file_not_found(self):
        with self.assertRaises(FileNotFoundError):
            ShmConsumer(self.name("none"))

    def test_a_segment_not_initialised_yet_is_file_not_found_too(self):
        name = self.name("nr")
        raw = RawSegment(name, 16 + 64, capacity=0)
        self.addCleanup(raw.close)
        with self.assertRaises(FileNotFoundError) as caught:
            ShmConsumer(name)
        self.assertIsInstance(caught.exception, SegmentNotReadyError)

    def test_close_keeps_the_name_and_destroy_removes_it(self):
        name = self.name("cd")
        producer = ShmProducer(name, 64)
        producer.write(b"kept")
        producer.close()
        self.assertFalse(producer.is_valid)
        self.assertTrue(exists(name))
        with ShmConsumer(name) as consumer:
            self.assertEqual(consumer.read(), b"kept")
        self.assertTrue(exists(name))  # the consumer's exit only closes
        again = ShmProducer(name, 64)
        again.destroy()
        again.destroy()
        self.assertFalse(exists(name))

    def test_a_live_producers_segment_is_not_replaced(self):
        name = self.name("live")
        with ShmProducer(name, 64) as first:
            with self.assertRaises(shm_ring.InUseError):
                ShmProducer(name, 64)
            with ShmConsumer(name) as consumer:
                first.write(b"x")
                self.assertEqual(consumer.read(), b"x")

    def test_empty_writes_are_dropped_and_too_large_ones_raise(self):
        name = self.name("ez")
        with ShmProducer(name, 64) as producer, ShmConsumer(name) as consumer:
            self.assertIs(producer.write(b""), True)
            self.assertEqual(producer.empty_writes_dropped, 1)
            self.assertIsNone(consumer.read())
            with self.assertRaises(shm_ring.MessageTooLargeError):
                producer.write(bytes(61))

    def test_a_rejected_write_leaves_nothing_so_a_retry_is_no_duplicate(self):
        name = self.name("rt")
        with ShmProducer(name, 64) as producer, ShmConsumer(name) as consumer:
            sent = 0
            while producer.write(message(sent, 10)):
                sent += 1
            self.assertEqual(sent, 4)  # 4 records of 14 bytes; a fifth does not fit
            for _ in range(3):
                self.assertIs(producer.write(message(sent, 10)), False)
            self.assertEqual(consumer.readable_bytes(), 56)
            self.assertEqual(consumer.read(), message(0, 10))
            self.assertIs(producer.write(message(sent, 10)), True)
            for i in range(1, 5):
                self.assertEqual(consumer.read(), message(i, 10))
            self.assertIsNone(consumer.read())

    def test_the_retry_loop_delivers_every_message_once_in_order(self):
        name = self.name("loop")
        count = 2000
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-4)  # the spinning writer hands the interpreter over often
        self.addCleanup(sys.setswitchinterval, interval)
        with ShmProducer(name, 64) as producer, ShmConsumer(name) as consumer:

            def produce():
                for i in range(count):
                    data = message(i, 1 + i % 40)
                    while not producer.write(data):
                        pass

            writer = threading.Thread(target=produce, daemon=True)
            writer.start()
            received = []
            while len(received) < count:
                if consumer.has_data():
                    received.append(consumer.read())
                self.assertTrue(writer.is_alive() or consumer.has_data() or len(received) == count)
            writer.join(HANG_GUARD)
            self.assertIsNone(consumer.read())
        self.assertEqual(received, [message(i, 1 + i % 40) for i in range(count)])

    def test_blocking_calls_time_out_and_see_a_dead_producer(self):
        name = self.name("blk")
        producer = ShmProducer(name, 16)
        with ShmConsumer(name) as consumer:
            self.assertIsNone(consumer.read(timeout=0.001))
            self.assertIs(producer.write(message(0, 12), timeout=0.001), True)
            self.assertIs(producer.write(b"z", timeout=0.001), False)
            self.assertIs(producer.peer_state(), PeerState.ALIVE)
            self.assertIs(consumer.peer_state(), PeerState.ALIVE)
            producer.destroy()
            self.assertIs(consumer.peer_state(), PeerState.GONE)
            self.assertEqual(consumer.read(timeout=60), message(0, 12))
            with self.assertRaises(shm_ring.PeerGoneError):
                consumer.read(timeout=60)

    def test_a_consumer_process_never_removes_the_segment_at_exit(self):
        name = self.name("exit")
        with ShmProducer(name, 64) as producer:
            producer.write(b"x")
            code = "from shm_channel import ShmConsumer\nc = ShmConsumer({!r})\nassert c.read() == b'x'\n"
            done = subprocess.run(
                [sys.executable, "-c", code.format(name)],
                env=peer_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                universal_newlines=True,
                timeout=HANG_GUARD,
            )
            self.assertEqual(done.returncode, 0, done.stdout)
            self.assertTrue(exists(name))
            self.assertTrue(producer.write(b"y"))

    def test_drop_in_producer_feeds_a_full_api_consumer(self):
        name = self.name("d2f")
        with ShmProducer(name, 4096) as producer, shm_ring.ShmConsumer(name) as consumer:
            self.assertIsInstance(producer.ring, shm_ring.ShmProducer)
            for i in range(300):
                self.assertTrue(producer.write(message(i, 1 + i % 500)))
                self.assertEqual(consumer.try_read().into_bytes(), message(i, 1 + i % 500))

    def test_full_api_producer_feeds_a_drop_in_consumer(self):
        name = self.name("f2d")
        with shm_ring.ShmProducer(name, 4096, unlink_on_close=True) as producer:
            with ShmConsumer(name) as consumer:
                self.assertIsInstance(consumer.ring, shm_ring.ShmConsumer)
                for i in range(300):
                    producer.write(message(i, 1 + i % 500), timeout=60)
                    self.assertTrue(consumer.has_data())
                    self.assertEqual(consumer.read(), message(i, 1 + i % 500))


if __name__ == "__main__":
    unittest.main()
