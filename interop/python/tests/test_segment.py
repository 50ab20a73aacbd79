"""Creating, opening and removing segments: what the OS and other processes see."""

import os
import subprocess
import sys
import threading
import unittest

import shm_ring
from shm_ring import (
    AlreadyExistsError,
    InUseError,
    InvalidNameError,
    InvalidCapacityError,
    NotFoundError,
    NotReadyError,
    PeerState,
    PermissionDeniedError,
    SegmentTooSmallError,
    ShmConsumer,
    ShmProducer,
    ShmTimeoutError,
)

from shm_ring import _segment

from .support import RawSegment, exists, fstat, peer_env, unique_name, unlink_quietly


class OpenTest(unittest.TestCase):
    def setUp(self):
        self.name = unique_name("o")
        self.addCleanup(unlink_quietly, self.name)

    def raw(self, size, capacity=None):
        raw = RawSegment(self.name, size, capacity=capacity)
        self.addCleanup(raw.close)
        return raw

    def test_missing_segment(self):
        with self.assertRaises(NotFoundError) as caught:
            ShmConsumer(self.name)
        self.assertIsInstance(caught.exception, FileNotFoundError)
        self.assertIn(repr(self.name), str(caught.exception))

    def test_open_timeout_reports_the_last_transient_error(self):
        with self.assertRaises(ShmTimeoutError) as caught:
            ShmConsumer(self.name, timeout=0.05)
        self.assertIsInstance(caught.exception.last, NotFoundError)
        self.assertIn("timed out after 50 ms waiting for shared-memory segment", str(caught.exception))
        self.raw(16 + 64, capacity=0)
        with self.assertRaises(ShmTimeoutError) as caught:
            ShmConsumer(self.name, timeout=0.05)
        self.assertIsInstance(caught.exception.last, NotReadyError)

    def test_unsized_segment_is_not_ready(self):
        self.raw(0)
        with self.assertRaises(NotReadyError):
            ShmConsumer(self.name)

    def test_capacity_zero_is_not_ready(self):
        raw = self.raw(16 + 64, capacity=0)
        with self.assertRaises(NotReadyError):
            ShmConsumer(self.name)
        raw.set_words(capacity=64)
        with ShmConsumer(self.name) as consumer:
            self.assertEqual(consumer.capacity, 64)

    def test_segment_smaller_than_the_header(self):
        self.raw(10)
        with self.assertRaises(SegmentTooSmallError) as caught:
            ShmConsumer(self.name)
        self.assertEqual(caught.exception.size, 10)
        self.assertIn("10 bytes", str(caught.exception))

    def test_capacity_larger_than_the_segment(self):
        self.raw(16 + 64, capacity=128)
        with self.assertRaises(SegmentTooSmallError) as caught:
            ShmConsumer(self.name)
        self.assertEqual((caught.exception.size, caught.exception.capacity), (80, 128))
        self.assertIn("128", str(caught.exception))
        self.assertIn("80 bytes", str(caught.exception))

    def test_invalid_capacity_words(self):
        raw = self.raw(16 + 4096)
        for capacity in (100, 4, 1, 3 << 10, 0xFFFFFFFF, 1 << 31 | 1):
            raw.set_words(capacity=capacity)
            with self.assertRaises(InvalidCapacityError) as caught:
                ShmConsumer(self.name)
            self.assertEqual(caught.exception.capacity, capacity)
            self.assertIn(str(capacity), str(caught.exception))

    def test_consumer_maps_the_real_size(self):
        self.raw(16 + 8, capacity=8)
        with ShmConsumer(self.name) as consumer:
            self.assertEqual(consumer.capacity, 8)
            self.assertEqual(len(consumer._mm), 24)

    def test_a_huge_sparse_object_maps_only_the_layout_its_header_describes(self):
        # 1 GiB of address space, no memory behind it: the header says capacity 64.
        gib = 1 << 30
        fd = _segment._shm_open(self.name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.ftruncate(fd, gib)
            os.pwrite(fd, (0).to_bytes(8, "little") + (64).to_bytes(4, "little") + b"SRX1", 0)
            before = os.fstat(fd).st_blocks
        finally:
            os.close(fd)
        with ShmConsumer(self.name) as consumer:
            self.assertEqual(consumer.capacity, 64)
            # 16 + 64 bytes of ring, then the extension block at 128 (marker, and it fits).
            self.assertEqual(len(consumer._mm), 192)
            self.assertEqual(consumer._segment.extension, 128)
            grown = fstat(self.name).st_blocks - before
        # st_blocks counts 512-byte units: at most a few pages were allocated by opening.
        self.assertLessEqual(grown, 8 * 4096 // 512, "opening allocated {} KiB".format(grown // 2))
        self.assertEqual(fstat(self.name).st_size, gib)

    def test_consumer_waits_for_the_producer(self):
        result = []

        def open_consumer():
            with ShmConsumer(self.name, timeout=120) as consumer:
                result.append(consumer.read(timeout=120).into_bytes())

        thread = threading.Thread(target=open_consumer)
        thread.start()
        try:
            with ShmProducer(self.name, 64) as producer:
                producer.write(b"hello late consumer", timeout=120)
                producer.wait_until_empty(timeout=120)
        finally:
            thread.join(120)
        self.assertEqual(result, [b"hello late consumer"])

    def test_permission_denied(self):
        if os.geteuid() == 0:
            # root bypasses permission bits; drop to "nobody" in a child to see the refusal.
            with ShmProducer(self.name, 64, mode=0o600):
                code = (
                    "import os, sys\n"
                    "import shm_ring\n"
                    "os.setgid(65534); os.setuid(65534)\n"
                    "try:\n"
                    "    shm_ring.ShmConsumer(sys.argv[1])\n"
                    "except shm_ring.PermissionDeniedError as e:\n"
                    "    assert isinstance(e, PermissionError)\n"
                    "    print('denied:', e)\n"
                )
                result = subprocess.run(
                    [sys.executable, "-c", code, self.name],
                    env=peer_env(),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    universal_newlines=True,
                    timeout=300,
                )
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("denied: permission denied for shared-memory segment", result.stdout)
        else:
            with ShmProducer(self.name, 64, mode=0o000):
                with self.assertRaises(PermissionDeniedError):
                    ShmConsumer(self.name)


class CreateTest(unittest.TestCase):
    def setUp(self):
        self.name = unique_name("p")
        self.addCleanup(unlink_quietly, self.name)

    def test_default_mode_is_0600(self):
        with ShmProducer(self.name, 64):
            self.assertEqual(fstat(self.name).st_mode & 0o7777, 0o600)

    def test_mode_is_applied_exactly_whatever_the_umask(self):
        old = os.umask(0o077)
        try:
            with ShmProducer(self.name, 64, mode=0o644):
                self.assertEqual(fstat(self.name).st_mode & 0o7777, 0o644)
        finally:
            os.umask(old)
        old = os.umask(0)
        try:
            with ShmProducer(self.name, 64):
                self.assertEqual(fstat(self.name).st_mode & 0o7777, 0o600)
        finally:
            os.umask(old)

    def test_bad_arguments(self):
        for kwargs in ({"mode": 0o10000}, {"mode": -1}, {"start_index": 1 << 32}, {"start_index": -1}):
            with self.assertRaises(ValueError):
                ShmProducer(self.name, 64, **kwargs)
        self.assertFalse(exists(self.name))

    def test_exclusive_create_fails_on_an_existing_name(self):
        with ShmProducer(self.name, 64) as first:
            first.write(b"first")
            with self.assertRaises(AlreadyExistsError) as caught:
                ShmProducer(self.name, 64, exclusive=True)
            self.assertIsInstance(caught.exception, FileExistsError)
            with ShmConsumer(self.name) as consumer:
                self.assertEqual(consumer.read(timeout=5).into_bytes(), b"first")

    def test_exclusive_create_on_a_free_name(self):
        with ShmProducer(self.name, 64, exclusive=True) as producer:
            self.assertTrue(exists(self.name))
            self.assertEqual(producer.capacity, 64)

    def test_non_exclusive_create_replaces_a_stale_object(self):
        old = ShmProducer(self.name, 64)
        self.addCleanup(old.close)
        old_consumer = ShmConsumer(self.name)
        self.addCleanup(old_consumer.close)
        old.write(b"to the old object")
        old.close()  # its producer is gone: the object is stale
        new = ShmProducer(self.name, 128)
        self.addCleanup(new.close)
        self.assertEqual(old_consumer.read(timeout=5).into_bytes(), b"to the old object")
        with ShmConsumer(self.name) as new_consumer:
            self.assertEqual(new_consumer.capacity, 128)
            self.assertTrue(new_consumer.is_empty())

    def test_close_does_not_unlink_by_default(self):
        ShmProducer(self.name, 64).close()
        self.assertTrue(exists(self.name))
        producer = ShmProducer(self.name, 64)
        del producer
        self.assertTrue(exists(self.name))

    def test_unlink_on_close(self):
        with ShmProducer(self.name, 64, unlink_on_close=True):
            self.assertTrue(exists(self.name))
        self.assertFalse(exists(self.name))

    def test_unlink_leaves_a_recreated_name_alone(self):
        old = ShmProducer(self.name, 64, unlink_on_close=True)
        unlink_quietly(self.name)  # someone else removes the name and creates it anew
        new = ShmProducer(self.name, 128)
        self.addCleanup(new.close)
        self.assertFalse(old.unlink())
        old.close()
        self.assertTrue(exists(self.name))
        with ShmConsumer(self.name) as consumer:
            self.assertEqual(consumer.capacity, 128)
        self.assertTrue(new.unlink())
        self.assertFalse(exists(self.name))
        self.assertFalse(new.unlink())


class NeverUnlinkTest(unittest.TestCase):
    def setUp(self):
        self.name = unique_name("u")
        self.addCleanup(unlink_quietly, self.name)
        self.producer = ShmProducer(self.name, 256)
        self.addCleanup(self.producer.close)

    def test_consumer_close_keeps_the_segment(self):
        self.producer.write(b"x")
        with ShmConsumer(self.name) as consumer:
            consumer.read(timeout=5).into_bytes()
        self.assertTrue(exists(self.name))

    def test_consumer_in_an_exiting_child_process_keeps_the_segment(self):
        for i, ending in enumerate(("consumer.close()", "pass", "del consumer", "os._exit(0)")):
            self.producer.write(b"for the child %d" % i)
            code = (
                "import os, sys\n"
                "import shm_ring\n"
                "consumer = shm_ring.ShmConsumer(sys.argv[1], timeout=60)\n"
                "data = consumer.read(timeout=60).into_bytes()\n"
                "assert 'multiprocessing.resource_tracker' not in sys.modules\n"
                "sys.stdout.write(data.decode()); sys.stdout.flush()\n" + ending + "\n"
            )
            # run() returns once the pipes are closed, i.e. once the child and any helper
            # process it started (such as a resource tracker, which inherits them) are gone.
            result = subprocess.run(
                [sys.executable, "-c", code, self.name],
                env=peer_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                universal_newlines=True,
                timeout=300,
            )
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(result.stdout, "for the child %d" % i)
            self.assertTrue(exists(self.name), "segment gone after a child ending with " + ending)
            self.producer.write(b"still here")
            with ShmConsumer(self.name) as consumer:
                self.assertEqual(consumer.read(timeout=5).into_bytes(), b"still here")


#: ``NAME ENDING``: creates a producer with unlink_on_close, writes 5 messages, forks. The
#: child ends as ENDING says; the parent waits for it, prints the child's exit status and
#: whether the name exists and the segment's bytes are unchanged, writes 5 more messages,
#: waits until they are read and closes (which unlinks the name).
FORKING_PRODUCER = (
    "import atexit, os, sys, shm_ring\n"
    "name, ending = sys.argv[1], sys.argv[2]\n"
    "producer = shm_ring.ShmProducer(name, 256, unlink_on_close=True)\n"
    "for i in range(5):\n"
    "    producer.write(b'message %d' % i)\n"
    "before = bytes(producer._mm)\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    if ending == 'close':\n"
    "        producer.close()\n"
    "    elif ending == 'with':\n"
    "        with producer:\n"
    "            pass\n"
    "    elif ending == 'sys.exit':\n"
    "        sys.exit(0)\n"
    "    elif ending == 'atexit':\n"
    "        atexit.register(producer.close)\n"
    "    elif ending == 'del':\n"
    "        del producer\n"
    "    elif ending == 'exception':\n"
    "        raise RuntimeError('the child fails')\n"
    "    elif ending == 'failed exec':\n"
    "        try:\n"
    "            os.execv('/nonexistent/program', ['program'])\n"
    "        except OSError:\n"
    "            pass\n"
    "else:\n"
    "    status = os.waitpid(pid, 0)[1]\n"
    "    same = bytes(producer._mm) == before\n"
    "    exists = shm_ring._segment.segment_exists(name)\n"
    "    print(os.WEXITSTATUS(status), exists, same, flush=True)\n"
    "    for i in range(5, 10):\n"
    "        producer.write(b'message %d' % i)\n"
    "    producer.wait_until_empty()\n"
    "    producer.close()\n"
)


class RemoveTest(unittest.TestCase):
    """Removing a segment by name: ``remove`` refuses a live producer's, ``remove_forced``
    does not."""

    def setUp(self):
        self.name = unique_name("rm")
        self.addCleanup(unlink_quietly, self.name)

    def test_a_live_producers_segment_is_refused_and_kept(self):
        with ShmProducer(self.name, 64) as producer, ShmConsumer(self.name) as consumer:
            with self.assertRaises(InUseError) as caught:
                shm_ring.remove("/" + self.name)
            self.assertEqual((caught.exception.name, caught.exception.holder), (self.name, "producer"))
            self.assertIn(repr(self.name), str(caught.exception))
            self.assertTrue(exists(self.name))
            producer.write(b"still here")
            self.assertEqual(consumer.try_read().into_bytes(), b"still here")
        shm_ring.remove(self.name)  # its producer is gone now
        self.assertFalse(exists(self.name))

    def test_a_live_producer_in_another_process_is_refused(self):
        child = subprocess.Popen(
            [sys.executable, "-c", PRODUCER_CHILD, self.name],
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE,
            env=peer_env(),
        )
        self.addCleanup(child.stdout.close)
        self.addCleanup(child.stdin.close)
        self.addCleanup(child.wait)
        self.addCleanup(child.kill)
        self.assertEqual(child.stdout.readline(), b"ready\n")
        with self.assertRaises(InUseError):
            shm_ring.remove(self.name)
        self.assertTrue(exists(self.name))
        child.kill()
        child.wait()
        shm_ring.remove(self.name)
        self.assertFalse(exists(self.name))

    def test_an_original_library_segment_is_removed(self):
        raw = RawSegment(self.name, 16 + 64, capacity=64)
        self.addCleanup(raw.close)
        shm_ring.remove(self.name)
        self.assertFalse(exists(self.name))

    def test_attached_consumers_keep_reading(self):
        producer = ShmProducer(self.name, 64)
        consumer = ShmConsumer(self.name)
        self.addCleanup(consumer.close)
        producer.write(b"in flight")
        producer.close()
        shm_ring.remove(self.name)
        self.assertEqual(consumer.try_read().into_bytes(), b"in flight")

    def test_forced_removal_takes_a_live_producers_segment(self):
        with ShmProducer(self.name, 64) as producer:
            shm_ring.remove_forced(self.name)
            self.assertFalse(exists(self.name))
            with self.assertRaises(NotFoundError):
                ShmConsumer(self.name)
            self.assertFalse(producer.unlink(), "already gone")
            self.assertTrue(producer.try_write(b"still writable"))

    def test_missing_and_invalid_names(self):
        for remove in (shm_ring.remove, shm_ring.remove_forced):
            with self.assertRaises(NotFoundError) as caught:
                remove(self.name)
            self.assertIsInstance(caught.exception, FileNotFoundError)
            self.assertIn(repr(self.name), str(caught.exception))
            with self.assertRaises(InvalidNameError):
                remove("a/b")


#: A child producer that says "ready" and holds its segment until killed.
PRODUCER_CHILD = (
    "import sys, shm_ring\n"
    "producer = shm_ring.ShmProducer(sys.argv[1], 64)\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)


class ForkTest(unittest.TestCase):
    """What a child made by fork() does to its parent's segment when it ends normally."""

    ENDINGS = {
        # ending: the child's exit status
        "end of script": 0,
        "close": 0,
        "with": 0,
        "sys.exit": 0,
        "atexit": 0,
        "del": 0,
        "exception": 1,
        "failed exec": 0,
    }

    def setUp(self):
        self.name = unique_name("f")
        self.addCleanup(unlink_quietly, self.name)

    def test_a_forked_child_never_removes_or_touches_the_parents_segment(self):
        for ending, status in self.ENDINGS.items():
            with self.subTest(ending=ending):
                parent = subprocess.Popen(
                    [sys.executable, "-c", FORKING_PRODUCER, self.name, ending],
                    env=peer_env(),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    universal_newlines=True,
                )
                try:
                    report = parent.stdout.readline().split()
                    if report != [str(status), "True", "True"]:
                        parent.kill()
                        self.fail(
                            "child exit status, name exists, segment unchanged: {} "
                            "(expected {} True True)\n{}".format(
                                report, status, parent.communicate()[1]
                            )
                        )
                    # The name still refers to the parent's segment: a new consumer reads the
                    # parent's whole stream, from before the fork and after it.
                    with ShmConsumer(self.name, timeout=300) as consumer:
                        self.assertIs(consumer.peer_state(), PeerState.ALIVE)
                        for i in range(10):
                            self.assertEqual(consumer.read(timeout=300).into_bytes(), b"message %d" % i)
                    out, err = parent.communicate(timeout=300)
                finally:
                    if parent.poll() is None:
                        parent.kill()
                        parent.communicate()
                self.assertEqual(parent.returncode, 0, err)
                self.assertFalse(exists(self.name), "the creator unlinks it on close")

    def test_a_forked_child_registers_for_membarrier_when_its_parent_has(self):
        from shm_ring import _kernel

        with ShmProducer(self.name, 256):
            registered = _kernel.barrier_registered()
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: report whether it is registered, then leave at once
                try:
                    os.write(write_end, b"1" if _kernel._registered.get(os.getpid()) else b"0")
                finally:
                    os._exit(0)
            os.close(write_end)
            try:
                answer = os.read(read_end, 1)
            finally:
                os.close(read_end)
                os.waitpid(pid, 0)
        self.assertEqual(answer, b"1" if registered else b"0")

    def test_a_forked_child_holding_the_handle_keeps_the_producer_alive(self):
        # The child inherits the descriptor, and with it the open file description that holds
        # the liveness lock: the producer is alive until both have let go of it.
        with ShmProducer(self.name, 256) as producer:
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: wait for the parent's word, then leave at once
                try:
                    os.close(write_end)
                    os.read(read_end, 1)
                finally:
                    os._exit(0)
            os.close(read_end)
            try:
                consumer = ShmConsumer(self.name)
                self.addCleanup(consumer.close)
                producer.close()
                self.assertIs(consumer.peer_state(), PeerState.ALIVE, "the child still holds the lock")
            finally:
                os.close(write_end)
                os.waitpid(pid, 0)
            self.assertIs(consumer.peer_state(), PeerState.GONE)


if __name__ == "__main__":
    unittest.main()
