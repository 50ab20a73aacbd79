"""The conformance peer, ``python -m shm_ring``, as other checks drive it."""

import json
import mmap
import os
import re
import subprocess
import sys
import unittest

from shm_ring import ShmProducer, _kernel, _segment

from .support import (
    CONSUMER_CHILD,
    HANG_GUARD,
    Child,
    RawSegment,
    exists,
    finish,
    peer_env,
    start_peer,
    stream_length,
    stream_payload,
    unique_name,
    unlink_quietly,
    wait_for_segment,
    wait_until,
)

LINE = re.compile(
    r'\{"role":"(producer|consumer)","messages":(\d+),"bytes":(\d+),'
    r'"seconds":(\d+\.\d{6}),"msgs_per_sec":(\d+\.\d)\}\n\Z'
)


def expected_bytes(count, min_size, max_size):
    return sum(stream_length(i, min_size, max_size) for i in range(count))


class PeerCase(unittest.TestCase):
    def setUp(self):
        self.name = unique_name("x")
        self.addCleanup(unlink_quietly, self.name)

    def assert_success(self, result, role, count, total):
        code, out, err = result
        self.assertEqual(code, 0, "{} failed: {}".format(role, err))
        self.assertEqual(err, "")
        match = LINE.match(out)
        self.assertIsNotNone(match, "bad result line: {!r}".format(out))
        self.assertEqual(match.group(1), role)
        self.assertEqual(int(match.group(2)), count)
        self.assertEqual(int(match.group(3)), total)
        parsed = json.loads(out)
        self.assertEqual(list(parsed), ["role", "messages", "bytes", "seconds", "msgs_per_sec"])
        seconds = float(match.group(4))
        rate = float(match.group(5))
        if seconds > 0:
            self.assertAlmostEqual(rate, round(count / seconds, 1), delta=0.051)
        else:
            self.assertEqual(rate, 0.0)

    def assert_failure(self, result, expected_line):
        code, out, err = result
        self.assertEqual(code, 1, "expected a failure, got {!r} {!r}".format(out, err))
        self.assertEqual(out, "")
        self.assertEqual(err.count("\n"), 1, err)
        if hasattr(expected_line, "match"):
            self.assertRegex(err, expected_line)
        else:
            self.assertEqual(err, expected_line + "\n")

    def run_pair(self, producer_args, consumer_args, count, total, producer_first=False):
        if producer_first:
            producer = start_peer("producer", self.name, *producer_args)
            wait_for_segment(self.name, producer)
            consumer = start_peer("consumer", self.name, *consumer_args)
        else:
            consumer = start_peer("consumer", self.name, *consumer_args)
            producer = start_peer("producer", self.name, *producer_args)
        consumer_result = finish(consumer)
        producer_result = finish(producer)
        self.assert_success(producer_result, "producer", count, total)
        self.assert_success(consumer_result, "consumer", count, total)
        self.assertFalse(exists(self.name), "the producer unlinks the segment when done")


class ConformanceTest(PeerCase):
    def test_sizes_1_to_8192_through_a_16_kib_ring_consumer_first(self):
        sizes = ["--min-size", 1, "--max-size", 8192]
        self.run_pair(
            ["--count", 20000, "--capacity", 16384] + sizes,
            ["--count", 20000] + sizes,
            20000,
            expected_bytes(20000, 1, 8192),
        )

    def test_sizes_1_to_8192_producer_first(self):
        sizes = ["--min-size", 1, "--max-size", 8192]
        self.run_pair(
            ["--count", 5000, "--capacity", 16384] + sizes,
            ["--count", 5000] + sizes,
            5000,
            expected_bytes(5000, 1, 8192),
            producer_first=True,
        )

    def test_index_wrap_at_2_32(self):
        sizes = ["--min-size", 1, "--max-size", 300]
        for producer_first in (False, True):
            self.run_pair(
                ["--count", 5000, "--capacity", 4096, "--start-index", 4294967000] + sizes,
                ["--count", 5000] + sizes,
                5000,
                expected_bytes(5000, 1, 300),
                producer_first=producer_first,
            )

    def test_batch_and_zero_copy_modes_interoperate(self):
        sizes = ["--min-size", 1, "--max-size", 1000]
        modes = [[], ["--batch"], ["--zero-copy"], ["--batch", "--zero-copy"]]
        total = expected_bytes(3000, 1, 1000)
        for producer_mode, consumer_mode in zip(modes, modes[1:] + modes[:1]):
            with self.subTest(producer=producer_mode, consumer=consumer_mode):
                self.run_pair(
                    ["--count", 3000, "--capacity", 4096, "--start-index", 4294966000]
                    + sizes
                    + producer_mode,
                    ["--count", 3000] + sizes + consumer_mode,
                    3000,
                    total,
                )
        for mode in modes[1:]:
            with self.subTest(both=mode):
                self.run_pair(
                    ["--count", 3000, "--capacity", 2048] + sizes + mode,
                    ["--count", 3000] + sizes + mode,
                    3000,
                    total,
                )

    def test_fixed_size_and_no_verify(self):
        self.run_pair(
            ["--count", 10000, "--size", 64, "--capacity", 1024],
            ["--count", 10000, "--size", 64, "--no-verify", "--capacity", 8, "--start-index", 5],
            10000,
            640000,
        )

    def test_largest_message(self):
        self.run_pair(
            ["--count", 50, "--size", 60, "--capacity", 64],
            ["--count", 50, "--size", 60],
            50,
            3000,
        )

    def test_zero_messages(self):
        self.assert_success(
            finish(start_peer("producer", self.name, "--count", 0, "--size", 8)), "producer", 0, 0
        )
        self.assertFalse(exists(self.name))
        producer = ShmProducer(self.name, 64)
        self.addCleanup(producer.close)
        self.assert_success(
            finish(start_peer("consumer", self.name, "--count", 0, "--size", 8)), "consumer", 0, 0
        )


class ConsumerChecksTest(PeerCase):
    """The consumer against a stream written in-process, including wrong ones."""

    def producer(self, capacity=4096):
        producer = ShmProducer(self.name, capacity)
        self.addCleanup(producer.close)
        return producer

    def consume(self, *args):
        return finish(start_peer("consumer", self.name, "--timeout-ms", 60000, *args))

    def test_accepts_a_stream_written_here(self):
        producer = self.producer()
        for i in range(30):
            producer.write(stream_payload(i, stream_length(i, 3, 90)), timeout=60)
        self.assert_success(self.consume("--count", 30, "--min-size", 3, "--max-size", 90), "consumer", 30, expected_bytes(30, 3, 90))
        self.assertTrue(exists(self.name), "a consumer never unlinks")

    def test_reports_a_wrong_length(self):
        producer = self.producer()
        producer.write(stream_payload(0, 40))
        self.assert_failure(self.consume("--count", 1, "--size", 12), "consumer: message 0: length 40, expected 12")

    def test_reports_a_wrong_byte(self):
        producer = self.producer()
        for i in range(4):
            payload = bytearray(stream_payload(i, 10))
            if i == 3:
                payload[5] ^= 0xFF
            producer.write(payload)
        expected = "consumer: message 3: byte 5 is 0x{:02x}, expected 0x{:02x}".format(
            (3 * 7 + 5) % 251 ^ 0xFF, (3 * 7 + 5) % 251
        )
        for mode in ([], ["--batch"], ["--zero-copy"]):
            with self.subTest(mode=mode):
                reader = self.consume("--count", 4, "--size", 10, *mode)
                self.assert_failure(reader, expected)
                # Rewind the shared tail so the next mode sees the same stream.
                producer._words[1] = 0

    def test_no_verify_still_checks_lengths(self):
        producer = self.producer()
        producer.write(b"\x00" * 10)
        producer.write(b"\x00" * 11)
        self.assert_failure(
            self.consume("--count", 2, "--size", 10, "--no-verify"),
            "consumer: message 1: length 11, expected 10",
        )

    def test_zero_length_records_placed_by_hand(self):
        raw = RawSegment(self.name, 16 + 64, capacity=64)
        self.addCleanup(raw.close)
        index = 0
        for _ in range(3):
            index = raw.put_record(index, b"")
        raw.set_words(head=index)
        self.assert_success(self.consume("--count", 3, "--size", 0), "consumer", 3, 0)
        self.assertEqual(raw.word(1), 12)

    def test_corruption_is_reported_with_the_message_index(self):
        raw = RawSegment(self.name, 16 + 64, capacity=64)
        self.addCleanup(raw.close)
        index = raw.put_record(0, stream_payload(0, 5))
        raw.put_record(index, b"", length=100)
        raw.set_words(head=index + 4)
        code, out, err = self.consume("--count", 2, "--size", 5)
        self.assertEqual((code, out), (1, ""))
        self.assertTrue(err.startswith("consumer: message 1: corrupted ring: "), err)
        self.assertIn("claims 100 payload bytes", err)

    def test_times_out_waiting_for_the_segment(self):
        result = finish(start_peer("consumer", self.name, "--count", 1, "--size", 1, "--timeout-ms", 100))
        self.assert_failure(
            result,
            re.compile(r"consumer: timed out after 100 ms waiting for shared-memory segment '.*': .*does not exist\n\Z"),
        )

    def test_times_out_waiting_for_a_message(self):
        producer = self.producer()
        producer.write(stream_payload(0, 4))
        result = finish(start_peer("consumer", self.name, "--count", 2, "--size", 4, "--timeout-ms", 100))
        self.assert_failure(result, "consumer: message 1: timed out after 100 ms waiting for a message")


class ProducerChecksTest(PeerCase):
    def produce(self, *args):
        return finish(start_peer("producer", self.name, *args))

    def test_refuses_empty_messages(self):
        for mode in ([], ["--batch"], ["--zero-copy"]):
            with self.subTest(mode=mode):
                result = self.produce("--count", 3, "--size", 0, *mode)
                self.assert_failure(
                    result,
                    "producer: message 0: empty messages are refused "
                    "(consumers of the original library would stall on them)",
                )
                self.assertFalse(exists(self.name))

    def test_refuses_too_large_messages_at_their_index(self):
        # Sizes 1..=100 through capacity 64: message 0 has 1 byte, message 1 has 62 > 60.
        self.assertEqual([stream_length(i, 1, 100) for i in range(2)], [1, 62])
        for mode in ([], ["--batch"], ["--zero-copy"]):
            with self.subTest(mode=mode):
                result = self.produce(
                    "--count", 5, "--min-size", 1, "--max-size", 100, "--capacity", 64, *mode
                )
                self.assert_failure(
                    result,
                    "producer: message 1: a 62-byte message can never fit: the largest this "
                    "ring carries is 60 bytes; create the ring with capacity 128 to carry it",
                )
                self.assertFalse(exists(self.name))

    def test_too_large_size(self):
        result = self.produce("--count", 1, "--size", 61, "--capacity", 64)
        self.assert_failure(
            result,
            "producer: message 0: a 61-byte message can never fit: the largest this ring carries "
            "is 60 bytes; create the ring with capacity 128 to carry it",
        )

    def test_times_out_waiting_for_space(self):
        # Two 26-byte records fill 60 of the 64 bytes; nobody reads, so the third waits.
        result = self.produce("--count", 3, "--size", 26, "--capacity", 64, "--timeout-ms", 100)
        self.assert_failure(result, "producer: message 2: timed out after 100 ms waiting for space")
        self.assertFalse(exists(self.name))

    def test_times_out_waiting_for_the_ring_to_drain(self):
        result = self.produce("--count", 1, "--size", 30, "--timeout-ms", 100)
        self.assert_failure(
            result, "producer: timed out after 100 ms waiting for the consumer to read everything"
        )

    def test_bad_capacity(self):
        result = self.produce("--count", 1, "--size", 1, "--capacity", 0)
        self.assert_failure(result, "producer: requested capacity 0 is outside 1..=2147483648 bytes")


#: A child producer of the conformance stream: ``name count`` writes messages 0..count of 10
#: bytes into a 4096-byte ring, then blocks.
STREAM_PRODUCER_CHILD = (
    "import sys, shm_ring\n"
    "producer = shm_ring.ShmProducer(sys.argv[1], 4096)\n"
    "for i in range(int(sys.argv[2])):\n"
    "    producer.write(bytes((i * 7 + j) % 251 for j in range(10)), timeout=60)\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)


@unittest.skipUnless(_kernel.locks_available(), "no OFD locks on this system")
class PeerGoneTest(PeerCase):
    """The peer's report when the other side dies (a child process killed with SIGKILL)."""

    def child(self, code, *args):
        child = Child(code, self.name, *args).wait_ready()
        self.addCleanup(child.kill)
        return child

    def header_word(self, index):
        fd = _segment._shm_open(self.name, os.O_RDONLY, 0)
        try:
            with mmap.mmap(fd, 16, prot=mmap.PROT_READ) as mm:
                return int.from_bytes(mm[4 * index : 4 * index + 4], "little")
        finally:
            os.close(fd)

    def test_the_producer_names_the_message_it_was_writing(self):
        # Two 30-byte records fill the 64-byte ring; the consumer reads nothing, so message 2
        # waits for space until the consumer dies.
        args = ("--count", 5, "--size", 26, "--capacity", 64, "--timeout-ms", 60000)
        producer = start_peer("producer", self.name, *args)
        wait_for_segment(self.name, producer)
        consumer = self.child(CONSUMER_CHILD)
        wait_until(lambda: self.header_word(0) == 60, "the ring full", process=producer)
        consumer.kill()
        self.assert_failure(finish(producer), "producer: message 2: the consumer is gone")
        self.assertFalse(exists(self.name))

    def test_the_producer_names_the_first_message_left_unread(self):
        args = ("--count", 2, "--size", 26, "--capacity", 64, "--timeout-ms", 60000)
        producer = start_peer("producer", self.name, *args)
        wait_for_segment(self.name, producer)
        consumer = self.child(CONSUMER_CHILD)
        wait_until(lambda: self.header_word(0) == 60, "both messages written", process=producer)
        consumer.kill()
        self.assert_failure(finish(producer), "producer: message 0: the consumer is gone")

    def test_the_consumer_reads_what_was_written_then_names_the_first_message_missing(self):
        producer = self.child(STREAM_PRODUCER_CHILD, 3)
        args = ("--count", 10, "--size", 10, "--timeout-ms", 60000)
        consumer = start_peer("consumer", self.name, *args)
        wait_until(lambda: self.header_word(1) == 42, "three messages read", process=consumer)
        producer.kill()
        self.assert_failure(finish(consumer), "consumer: message 3: the producer is gone")


class ArgumentsTest(PeerCase):
    def check(self, role, args, expected):
        result = finish(start_peer(role, self.name, *args))
        self.assert_failure(result, re.compile(expected))
        self.assertFalse(exists(self.name))

    def test_bad_arguments_fail_with_one_line(self):
        self.check("producer", ["--count", 1], r"producer: give --size or --min-size and --max-size\n\Z")
        self.check("consumer", ["--size", 1], r"consumer: --count is required\n\Z")
        self.check("consumer", ["--count", "x", "--size", 1], r"consumer: --count expects a non-negative integer, got 'x'\n\Z")
        self.check("consumer", ["--count", "-1", "--size", 1], r"consumer: --count expects a non-negative integer")
        self.check("producer", ["--count", 1, "--size", 1, "--min-size", 1, "--max-size", 2], r"producer: give either --size or --min-size and --max-size, not both\n\Z")
        self.check("producer", ["--count", 1, "--min-size", 1], r"producer: --min-size and --max-size must be given together\n\Z")
        self.check("producer", ["--count", 1, "--min-size", 5, "--max-size", 2], r"producer: --min-size 5 is above --max-size 2\n\Z")
        self.check("producer", ["--count", 1, "--size", 1, "--bogus"], r"producer: unknown argument '--bogus'")
        self.check("producer", ["--count", 1, "--size", 1, "--count", 2], r"producer: --count given twice\n\Z")
        self.check("producer", ["--count", 1, "--size", 1, "--start-index", 4294967296], r"producer: --start-index must be at most 4294967295, got 4294967296\n\Z")
        self.check("producer", ["--count", 1, "--size", 1, "--timeout-ms"], r"producer: --timeout-ms needs a value\n\Z")

    def test_bad_names_and_roles(self):
        result = finish(start_peer("consumer", "bad name", "--count", 1, "--size", 1))
        self.assert_failure(result, re.compile(r"consumer: invalid segment name 'bad name': character ' ' at position 3"))
        result = finish(start_peer("watcher", self.name, "--count", 1, "--size", 1))
        self.assert_failure(result, re.compile(r"peer: expected 'producer' or 'consumer' first, got 'watcher'"))

    def test_help_prints_the_usage_and_succeeds(self):
        for args in (["--help"], ["-h"], ["producer", "--help"], ["consumer", "--count", "1", "-h"]):
            with self.subTest(args=args):
                result = subprocess.run(
                    [sys.executable, "-m", "shm_ring", *args],
                    capture_output=True,
                    env=peer_env(),
                    timeout=HANG_GUARD,
                )
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertEqual(result.stderr, b"")
                self.assertTrue(
                    result.stdout.startswith(b"usage: python -m shm_ring producer|consumer --name"),
                    result.stdout,
                )
                self.assertEqual(result.stdout.count(b"\n"), 1)

    def test_equals_form_and_defaults(self):
        producer = start_peer("producer", self.name, "--count=200", "--size=100")
        wait_for_segment(self.name, producer)
        consumer = start_peer("consumer", self.name, "--count=200", "--size=100", "--timeout-ms=60000")
        self.assert_success(finish(consumer), "consumer", 200, 20000)
        self.assert_success(finish(producer), "producer", 200, 20000)


if __name__ == "__main__":
    unittest.main()
