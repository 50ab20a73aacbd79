"""BufferPool in Python: payloads, generations, exhaustion and waiting, dead holders (Python
child processes killed with SIGKILL), memory lent in place, interrupts, hostile headers, slot
words and references. The Rust <-> Python cases are in tests/pool_python.rs."""

import gc
import json
import mmap
import os
import signal
import subprocess
import sys
import tempfile
import threading
import unittest

from shm_ring import (
    AlreadyResolvedError,
    BufferPool,
    BusyError,
    ClosedError,
    GeometryExceedsSizeError,
    InUseError,
    InvalidGeometryError,
    InvalidHolderCountError,
    LengthExceedsSlotError,
    LengthMismatchError,
    NotABufferPoolError,
    NotFoundError,
    NotPublishedError,
    NotReadyError,
    PoolExhaustedError,
    PoolHoldersFullError,
    PoolRef,
    PoolRefError,
    PublishTooLargeError,
    SegmentTooSmallError,
    ShmTimeoutError,
    SlotOutOfRangeError,
    StaleError,
    UnsupportedPoolVersionError,
    UnsupportedVersionError,
    WrongPoolError,
)
from shm_ring import _kernel, _pool
from shm_ring._segment import _shm_open, _shm_unlink

from .support import HANG_GUARD, unique_name, unlink_quietly
from .test_interrupt import MAX_POINTS, Interrupt, InterruptAt, retrying
from .test_views import REQUIRE_NUMPY, holders, numpy

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pool_peer.py")
LINUX = sys.platform.startswith("linux")


def payload(seed, length):
    return bytes(((i * 31) & 0xFF) ^ seed for i in range(length))


class PoolCase(unittest.TestCase):
    def pool(self, slots=2, size=64):
        name = unique_name("pool")
        self.addCleanup(unlink_quietly, name)
        pool = BufferPool.create(name, slots, size)
        self.addCleanup(self.close_quietly, pool)
        return pool

    @staticmethod
    def close_quietly(pool):
        gc.collect()
        try:
            pool.close()
        except BusyError:
            pass

    def publish(self, pool, seed, length):
        with pool.try_acquire() as loan:
            loan.copy_from(payload(seed, length))
            return loan.publish(length)

    def need_numpy(self):
        if numpy is None:
            message = "NumPy is not installed: pip install numpy (.ci/run installs it)"
            if REQUIRE_NUMPY:
                self.fail(message)
            self.skipTest(message)

    def peer(self, *args):
        """pool_peer.py with piped stdin and stdout; killed at the end of the test."""
        process = subprocess.Popen(
            [sys.executable, PEER] + [str(arg) for arg in args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
        )

        def stop():
            if process.poll() is None:
                process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout, process.stderr):
                stream.close()

        self.addCleanup(stop)
        return process

    def line(self, process):
        text = process.stdout.readline()
        if not text:
            process.wait()
            self.fail("the peer ended ({}): {}".format(process.returncode, process.stderr.read()))
        return text.strip()

    def kill(self, process):
        """SIGKILL and reap: once this returns, the kernel has dropped the peer's locks."""
        process.send_signal(signal.SIGKILL)
        process.wait()


class PayloadTest(PoolCase):
    def test_payloads_of_zero_one_and_slot_size_bytes_round_trip_between_handles(self):
        pool = self.pool(2, 4096)
        with BufferPool.open(pool.name) as reader:
            for length in (0, 1, 4096):
                reference = self.publish(pool, length & 0xFF, length)
                self.assertEqual(reference.len, length)
                with reader.resolve(PoolRef.from_bytes(reference.to_bytes())) as view:
                    self.assertEqual(len(view), length)
                    self.assertEqual(view.tobytes(), payload(length & 0xFF, length))
                    self.assertEqual(bytes(view.data), payload(length & 0xFF, length))
                    self.assertTrue(view.data.readonly)
                    self.assertEqual(pool.available(), 1)
                self.assertEqual(pool.available(), 2)

    def test_copies_at_any_offset_land_in_place_before_and_after_data_is_used(self):
        size = 3 * mmap.PAGESIZE + 100
        pool = self.pool(2, size)
        expected = bytearray(payload(0, size))
        with pool.try_acquire() as loan:
            loan.copy_from(expected)
            for offset, data in ((mmap.PAGESIZE - 6, b"across a page"), (size - 3, b"end")):
                loan.copy_from(data, offset)
                expected[offset : offset + len(data)] = data
            self.assertEqual(bytes(loan.data), bytes(expected))
            loan.copy_from(b"after", 7)
            expected[7:12] = b"after"
            reference = loan.publish(size)
        with pool.resolve(reference) as view:
            self.assertEqual(view.tobytes(), bytes(expected))

    def test_copies_stay_inside_their_slot_at_both_ends(self):
        size = 2 * mmap.PAGESIZE + 37  # slots are 64-byte aligned: a gap after each
        pool = self.pool(3, size)
        loans = [pool.try_acquire() for _ in range(3)]
        for loan in loans:
            loan.copy_from(bytes([0xC0 + loan.slot]) * size)
        middle = loans[1]
        middle.copy_from(b"\x01" * 5)  # the first bytes
        middle.copy_from(b"\x02" * 5, size - 5)  # the last bytes, exactly
        for bad_offset in (size - 4, size, -1, 1.0, None):
            with self.assertRaises(ValueError):
                middle.copy_from(b"\x03" * 5, bad_offset)
        middle.copy_from(b"", size)  # nothing, at the very end: allowed
        with self.assertRaises(ValueError):
            middle.copy_from(bytes(size + 1))
        references = [loan.publish(size) for loan in loans]
        for reference in references:
            with pool.resolve(reference) as view:
                fill = bytes([0xC0 + reference.slot])
                if reference.slot == middle.slot:
                    expected = b"\x01" * 5 + fill * (size - 10) + b"\x02" * 5
                else:
                    expected = fill * size
                self.assertEqual(view.tobytes(), expected)

    def test_one_byte_past_the_slot_is_refused_and_the_slot_goes_back(self):
        pool = self.pool(1, 64)
        loan = pool.try_acquire()
        with self.assertRaises(PublishTooLargeError) as caught:
            loan.publish(65)
        self.assertEqual((caught.exception.length, caught.exception.slot_size), (65, 64))
        self.assertIn("cannot publish 65 bytes from a 64-byte slot", str(caught.exception))
        self.assertTrue(loan.closed)
        self.assertEqual(pool.available(), 1)
        with pool.try_acquire() as loan:
            with self.assertRaises(ValueError):
                loan.copy_from(bytes(65))
            with self.assertRaises(ValueError):
                loan.publish(-1)

    def test_geometry_name_and_limits(self):
        pool = self.pool(3, 100)
        self.assertEqual((pool.capacity(), pool.slot_size(), pool.available()), (3, 100, 3))
        self.assertTrue(pool.name.startswith("srtpool"))
        for slots, size in ((0, 64), (65537, 64), (1, 0), (2, 1 << 46), (1, -1), (True, 64)):
            with self.assertRaises(InvalidGeometryError):
                BufferPool.create(unique_name("geo"), slots, size)
        with BufferPool.create_unique(1, 8) as unique:
            self.assertEqual(len(unique.name), 24)
            self.assertTrue(unique.name.startswith("srp-"))
        self.assertEqual(os.fstat(_fd(pool.name)).st_mode & 0o777, 0o600)

    def test_a_live_owner_is_never_replaced_and_the_name_goes_with_it(self):
        pool = self.pool(1, 8)
        with self.assertRaises(InUseError):
            BufferPool.create(pool.name, 1, 8)
        pool.close()
        with self.assertRaises(NotFoundError):
            BufferPool.open(pool.name)

    def test_without_libatomic_create_and_open_say_what_to_install_and_leave_nothing(self):
        from shm_ring import AtomicsUnavailableError, _atomic

        existing = self.pool(1, 8)

        def missing(name, *args, **kwargs):
            raise OSError("{}: cannot open shared object file".format(name))

        saved = _atomic._library, _atomic.ctypes.CDLL
        self.addCleanup(setattr, _atomic, "_library", saved[0])
        self.addCleanup(setattr, _atomic.ctypes, "CDLL", saved[1])
        _atomic._library, _atomic.ctypes.CDLL = None, missing
        name = unique_name("noatomic")
        self.addCleanup(unlink_quietly, name)
        with self.assertRaises(AtomicsUnavailableError) as caught:
            BufferPool.create(name, 1, 8)
        self.assertIn("libatomic1", str(caught.exception))
        with self.assertRaises(FileNotFoundError):
            _shm_open(name, os.O_RDONLY, 0)
        with self.assertRaises(AtomicsUnavailableError):
            BufferPool.open(existing.name)

    def test_close_refuses_while_a_loan_or_view_is_open(self):
        pool = self.pool(1, 8)
        loan = pool.try_acquire()
        with self.assertRaises(BusyError):
            pool.close()
        reference = loan.publish(1)
        view = pool.resolve(reference)
        with self.assertRaises(BusyError):
            pool.close()
        view.release()
        pool.close()
        with self.assertRaises(ClosedError):
            pool.try_acquire()


def _fd(name):
    fd = _shm_open(name, os.O_RDONLY, 0)
    unittest.addModuleCleanup(os.close, fd)
    return fd


class GenerationTest(PoolCase):
    def test_a_reference_to_a_recycled_slot_is_stale_never_the_new_payload(self):
        pool = self.pool(1, 64)
        old = self.publish(pool, 1, 10)
        with pool.resolve(old) as view:
            self.assertEqual(view.tobytes(), payload(1, 10))
        with self.assertRaises(StaleError) as caught:
            pool.resolve(old)
        self.assertEqual(caught.exception.state, "free")
        loan = pool.try_acquire()
        self.assertEqual((loan.slot, loan.generation), (old.slot, old.generation + 1))
        loan.copy_from(payload(2, 10))
        with self.assertRaises(StaleError) as caught:
            pool.resolve(old)
        self.assertEqual(caught.exception.state, "filling")
        new = loan.publish(10)
        with self.assertRaises(StaleError) as caught:
            pool.resolve(old)
        self.assertEqual(
            (caught.exception.state, caught.exception.current), ("published", new.generation)
        )
        with BufferPool.open(pool.name) as reader:
            with reader.resolve(new) as view:
                with self.assertRaises(StaleError):
                    reader.resolve(old)
                self.assertEqual(view.tobytes(), payload(2, 10))

    def test_a_reference_is_read_once_and_checked_against_the_pool(self):
        pool = self.pool(2, 64)
        reference = self.publish(pool, 3, 5)
        view = pool.resolve(reference)
        with self.assertRaises(AlreadyResolvedError):
            pool.resolve(reference)
        view.release()
        other = PoolRef("other-pool", 0, reference.generation, 5)
        with self.assertRaises(WrongPoolError):
            pool.resolve(other)
        with self.assertRaises(SlotOutOfRangeError):
            pool.resolve(PoolRef(pool.name, 2, 1, 5))
        with self.assertRaises(LengthExceedsSlotError):
            pool.resolve(PoolRef(pool.name, 0, 1, 65))
        with self.assertRaises(TypeError):
            pool.resolve(reference.to_bytes())

    def test_a_forged_length_is_refused_and_the_payload_stays_readable(self):
        pool = self.pool(1, 64)
        reference = self.publish(pool, 4, 8)
        forged = PoolRef(pool.name, reference.slot, reference.generation, 9)
        with self.assertRaises(LengthMismatchError) as caught:
            pool.resolve(forged)
        self.assertEqual((caught.exception.length, caught.exception.stored), (9, 8))
        with pool.resolve(reference) as view:
            self.assertEqual(view.tobytes(), payload(4, 8))

    def test_an_unpublished_slot_is_never_readable(self):
        pool = self.pool(1, 64)
        loan = pool.try_acquire()
        loan.copy_from(b"half")
        with self.assertRaises(NotPublishedError):
            pool.resolve(PoolRef(pool.name, loan.slot, loan.generation, 4))
        loan.release()
        with self.assertRaises(StaleError):
            pool.resolve(PoolRef(pool.name, loan.slot, loan.generation, 4))


class WaitingTest(PoolCase):
    def test_every_slot_taken_is_exhausted_and_a_timed_acquire_times_out(self):
        pool = self.pool(2, 8)
        held = [pool.try_acquire(), pool.try_acquire()]
        with self.assertRaises(PoolExhaustedError) as caught:
            pool.try_acquire()
        self.assertEqual(caught.exception.slots, 2)
        with self.assertRaises(ShmTimeoutError):
            pool.acquire(0)
        with self.assertRaises(ShmTimeoutError):
            pool.acquire(0.001)
        for loan in held:
            loan.release()
        with pool.acquire(0) as loan:
            self.assertEqual(loan.generation, 2)

    @unittest.skipUnless(LINUX, "futex wake-ups are Linux-only")
    def test_a_blocked_acquire_sleeps_in_the_kernel_and_wakes_when_another_process_releases(self):
        self.assertTrue(_kernel.futex_available(), "futex must work on Linux")
        pool = self.pool(1, 64)
        reference = self.publish(pool, 5, 64)
        peer = self.peer("hold", pool.name, reference.to_json())
        self.assertEqual(self.line(peer), "resolved 64")
        # Sleeps as long as the hang guard: only the release's wake-up ends this one in time.
        self.addCleanup(setattr, _pool, "ACQUIRE_SLICE", _pool.ACQUIRE_SLICE)
        _pool.ACQUIRE_SLICE = HANG_GUARD
        result = {}
        ready = threading.Event()

        def acquire():
            result["tid"] = threading.get_native_id()
            ready.set()
            with pool.acquire(HANG_GUARD) as loan:
                result["generation"] = loan.generation

        thread = threading.Thread(target=acquire)
        thread.start()
        ready.wait()
        _wait_until(
            lambda: pool._words32[_pool._WAITERS_I] == 1 and _in_futex(result["tid"]),
            "the acquire to sleep in FUTEX_WAIT",
        )
        peer.stdin.write("go\n")
        peer.stdin.flush()
        self.assertEqual(self.line(peer), "released")
        thread.join(HANG_GUARD)
        self.assertFalse(thread.is_alive())
        self.assertEqual(result["generation"], reference.generation + 1)


def _in_futex(tid):
    try:
        with open("/proc/self/task/{}/syscall".format(tid)) as status:
            return status.read().split()[0] in ("202", "98")
    except OSError:
        return False


def _wait_until(ready, what):
    """Poll ``ready`` (a hang guard only bounds it)."""
    import time

    deadline = time.monotonic() + HANG_GUARD
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError("gave up waiting for " + what)
        time.sleep(0.001)


@unittest.skipUnless(LINUX, "reclaiming needs Linux's OFD locks")
class DeadHolderTest(PoolCase):
    def test_a_slot_held_by_a_killed_reader_is_reclaimed(self):
        pool = self.pool(1, 64)
        reference = self.publish(pool, 6, 64)
        peer = self.peer("hold", pool.name, reference.to_bytes().hex())
        self.assertEqual(self.line(peer), "resolved 64")
        with self.assertRaises(PoolExhaustedError):
            pool.try_acquire()
        self.assertEqual(pool.available(), 0)
        self.kill(peer)
        with pool.try_acquire() as loan:
            self.assertEqual(loan.generation, reference.generation + 1)
        self.assertEqual(pool.available(), 1)

    def test_a_writer_killed_mid_fill_never_makes_its_slot_readable(self):
        pool = self.pool(1, 1024)
        peer = self.peer("fill-and-die", pool.name)
        fields = self.line(peer).split()
        self.assertEqual(fields[0], "filling")
        slot, generation, half = (int(field) for field in fields[1:])
        self.kill(peer)
        for length in (0, half, 1024):
            with self.assertRaises(NotPublishedError):
                pool.resolve(PoolRef(pool.name, slot, generation, length))
        self.assertEqual(pool.available(), 0)
        with pool.acquire(HANG_GUARD) as loan:
            self.assertEqual((loan.slot, loan.generation), (slot, generation + 1))
        with self.assertRaises(StaleError):
            pool.resolve(PoolRef(pool.name, slot, generation, half))

    def test_a_cycle_holding_a_handle_and_its_loan_is_collected_safely(self):
        # The garbage collector finalises a cycle's objects in any order: the handle may be
        # closed (its words unmapped) before its loan gives the slot back. The slot is then
        # reclaimed as a dead holder's, by this or another handle.
        pool = self.pool(1, 64)
        for order in range(2):
            other = BufferPool.open(pool.name)
            loan = other.try_acquire()
            cycle = [other, loan]
            cycle.append(cycle)
            if order:
                cycle.reverse()
            del other, loan, cycle
            gc.collect()
            with pool.try_acquire() as loan:
                self.assertEqual(loan.slot, 0)

    def test_a_live_holder_in_another_handle_is_never_reclaimed(self):
        pool = self.pool(1, 64)
        with BufferPool.open(pool.name) as other:
            loan = other.try_acquire()
            with self.assertRaises(PoolExhaustedError):
                pool.try_acquire()
            loan.release()
        pool.try_acquire().release()


    def test_an_entry_reused_after_its_holder_died_does_not_adopt_its_slots(self):
        # The owner holds entry 0, the writer took entry 1; once it is dead, the next handle
        # takes entry 1 and frees the dead writer's slot before it takes any itself.
        pool = self.pool(2, 1024)
        peer = self.peer("fill-and-die", pool.name)
        fields = self.line(peer).split()
        self.assertEqual(fields[0], "filling")
        slot, generation, half = (int(field) for field in fields[1:])
        self.kill(peer)
        self.assertEqual(pool.available(), 1)
        with BufferPool.open(pool.name) as reused:
            self.assertEqual(reused._holder, 1)
            self.assertEqual(
                pool.available(), 2, "the new holder of the entry adopted the dead one's slot"
            )
            with self.assertRaises(StaleError):
                reused.resolve(PoolRef(pool.name, slot, generation, half))
            # The new holder's own slots are live ones: never reclaimed.
            first, second = reused.try_acquire(), reused.try_acquire()
            with self.assertRaises(PoolExhaustedError):
                pool.try_acquire()
            first.release()
            second.release()

    def test_opening_more_handles_than_the_holder_table_has_raises(self):
        pool = self.pool(1, 64)
        handles = []
        self.addCleanup(lambda: [handle.close() for handle in handles])
        for _ in range(_pool.POOL_HOLDERS - 1):
            handles.append(BufferPool.open(pool.name))
        with self.assertRaises(PoolHoldersFullError) as caught:
            BufferPool.open(pool.name)
        self.assertEqual(caught.exception.holders, _pool.POOL_HOLDERS)
        self.assertIn(str(_pool.POOL_HOLDERS), str(caught.exception))
        handles.pop().close()
        handles.append(BufferPool.open(pool.name))


_ROUND_TRIPS = """
import os, sys
from shm_ring import BufferPool
with BufferPool.create_unique(4, 4096) as writer, BufferPool.open(writer.name) as reader:
    def round_trip():
        loan = writer.try_acquire()
        view = reader.resolve(loan.publish(8))
        view.release()
    for _ in range(1000):  # warm up: the allocator's and the interpreter's first requests
        round_trip()
    try:
        os.stat("/shm-ring-round-trips-begin")
    except OSError:
        pass
    for _ in range(1000):
        round_trip()
    try:
        os.stat("/shm-ring-round-trips-end")
    except OSError:
        pass
    assert writer.available() == 4
"""


@unittest.skipUnless(LINUX, "strace is Linux's")
class NoSystemCallTest(unittest.TestCase):
    def test_a_round_trip_makes_no_system_call(self):
        # Acquire, publish, resolve and release between two handles, 1000 times, traced by
        # strace between two marks: no system call (layout version 1 made four fcntl calls
        # per round trip). Writing and reading the slot's bytes maps them (not measured here).
        with tempfile.TemporaryDirectory() as directory:
            trace = os.path.join(directory, "trace")
            try:
                done = subprocess.run(
                    ["strace", "-f", "-o", trace, sys.executable, "-c", _ROUND_TRIPS],
                    cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    timeout=HANG_GUARD,
                )
            except FileNotFoundError:
                self.fail("strace is needed by this test (apt-get install strace)")
            self.assertEqual(done.returncode, 0)
            with open(trace) as lines:
                lines = lines.read().splitlines()
        begin = next(i for i, line in enumerate(lines) if "round-trips-begin" in line)
        end = next(i for i, line in enumerate(lines) if "round-trips-end" in line)
        thread = lines[begin].split()[0]
        calls = [line for line in lines[begin + 1 : end] if line.split()[0] == thread]
        self.assertEqual(
            len(calls), 0, "system calls in 1000 round trips, the first: {}".format(calls[:8])
        )


class _TakeOnFirstLoad:
    """Stands for a pool's slot-word view: the first load of slot 0's word first runs
    ``take`` (another thread's acquire, in the same handle), then reads the word."""

    def __init__(self, words, take):
        self._words = words
        self._take = take

    def __getitem__(self, index):
        if index == 8 and self._take is not None:
            take, self._take = self._take, None
            take()
        return self._words[index]

    def __setitem__(self, index, value):
        self._words[index] = value


@unittest.skipUnless(LINUX, "holder locks are Linux's OFD locks")
class SameHandleThreadsTest(PoolCase):
    """Threads of one handle share its holder entry: a thread that loses a slot to another of
    the same handle must not take it too (the slot word, naming the entry, is the same for
    both), and reclaiming must never take a slot another thread of the handle is taking. The
    interleavings are made deterministic by running the other thread's step at the point
    where it would race."""

    def lock_seen_from_another_handle(self, pool):
        with BufferPool.open(pool.name) as other:
            return _kernel.lock_held(other._fd, _pool.holder_lock_byte(pool._holder))

    def test_a_thread_that_loses_a_slot_keeps_the_winners_lock(self):
        pool = self.pool(1, 64)
        winner = pool.try_acquire()
        # The losing thread read the word while the slot was still free, then tries to take it.
        free = _pool.slot_word(_pool.FREE, winner.generation - 1)
        taking = _pool.slot_word(_pool.FILLING, winner.generation, pool._holder)
        lost, _ = pool._take(0, free, taking, lambda: _pool.PoolLoan(pool, 0, 0, _pool.FILLING))
        self.assertIsNone(lost, "the slot was lent twice")
        self.assertIs(self.lock_seen_from_another_handle(pool), True)
        # So no other process takes the winner's slot for a dead holder's.
        with BufferPool.open(pool.name) as other:
            with self.assertRaises(PoolExhaustedError):
                other.try_acquire()
        winner.release()

    def test_reclaiming_never_takes_a_slot_another_thread_is_taking(self):
        pool = self.pool(1, 64)
        taken = []
        pool._words64 = _TakeOnFirstLoad(pool._words64, lambda: taken.append(pool.try_acquire()))
        self.addCleanup(setattr, pool, "_words64", pool._words64._words)
        self.assertEqual(pool._reclaim(), 0)
        (loan,) = taken
        self.assertEqual(
            pool._words64[8],
            _pool.slot_word(_pool.FILLING, loan.generation, pool._holder),
            "the loan was taken",
        )
        loan.copy_from(b"mine")
        with pool.resolve(loan.publish(4)) as view:
            self.assertEqual(view.tobytes(), b"mine")


class LentMemoryTest(PoolCase):
    def test_anything_made_from_a_loan_or_view_blocks_publish_and_release(self):
        pool = self.pool(1, 64)
        for name, hold in holders(writable=True):
            with self.subTest(loan=name):
                loan = pool.try_acquire()
                holder = hold(loan.data)
                with self.assertRaises(BusyError):
                    loan.publish(4)
                with self.assertRaises(BusyError):
                    loan.release()
                self.assertEqual(pool.available(), 0)
                del holder
                reference = loan.publish(4)
            for view_name, hold in holders(writable=False):
                if view_name.startswith("memoryview(part.obj)"):
                    continue  # the read mapping's mmap is the module's own business
                with self.subTest(view=view_name):
                    view = pool.resolve(reference)
                    holder = hold(view.data)
                    with self.assertRaises(BusyError):
                        view.release()
                    self.assertEqual(pool.available(), 0)
                    del holder
                    view.release()
                    self.assertEqual(pool.available(), 1)
                    reference = self.publish(pool, 1, 4)
            pool.resolve(reference).release()

    def test_a_view_collected_while_an_export_lives_returns_the_slot_with_the_export(self):
        pool = self.pool(1, 64)
        view = pool.resolve(self.publish(pool, 7, 16))
        kept = view.data[2:6]
        del view
        gc.collect()
        self.assertEqual(pool.available(), 0, "the slot went back under a live export")
        self.assertEqual(bytes(kept), payload(7, 16)[2:6])
        del kept
        gc.collect()
        self.assertEqual(pool.available(), 1)

    def test_numpy_reads_and_writes_the_slot_in_place(self):
        self.need_numpy()
        pool = self.pool(1, 1 << 16)
        with pool.try_acquire() as loan:
            frame = numpy.frombuffer(loan.data, dtype=numpy.uint16)
            frame[:] = numpy.arange(frame.size, dtype=numpy.uint16)
            del frame
            reference = loan.publish(1 << 16)
        # A second mapping of the segment, outside the protocol, shows that the view's array
        # is the shared memory itself: a byte changed there is seen through the array.
        fd = _shm_open(pool.name, os.O_RDWR, 0)
        self.addCleanup(os.close, fd)
        raw = mmap.mmap(fd, _pool.segment_len(1, 1 << 16, _pool.POOL_HOLDERS))
        self.addCleanup(raw.close)
        with pool.resolve(reference) as view:
            frame = numpy.frombuffer(view.data, dtype=numpy.uint16)
            self.assertFalse(frame.flags.owndata)
            self.assertTrue((frame == numpy.arange(frame.size, dtype=numpy.uint16)).all())
            start = _pool.data_offset(1, _pool.POOL_HOLDERS)
            raw[start : start + 2] = b"\xff\xff"
            self.assertEqual(int(frame[0]), 0xFFFF)
            with self.assertRaises(BusyError):
                view.release()
            del frame


class _InterruptAfter:
    """Wraps a pool's atomics: the ``n``-th compare-exchange is made, then Interrupt is raised,
    as a signal handler would between the call's return and the caller's next step."""

    def __init__(self, atomics, n):
        self._atomics = atomics
        self._left = n

    def compare_exchange(self, address, expected, desired):
        result = self._atomics.compare_exchange(address, expected, desired)
        self._left -= 1
        if self._left == 0:
            raise Interrupt()
        return result

    def fetch_add(self, address, value):
        return self._atomics.fetch_add(address, value)


class InterruptTest(PoolCase):
    def interrupt_next(self, pool):
        pool._atomics = _InterruptAfter(pool._atomics, 1)

    def test_an_interrupted_acquire_returns_its_loan_and_raises_next(self):
        pool = self.pool(1, 64)
        self.interrupt_next(pool)
        loan = pool.try_acquire()
        self.assertFalse(loan.closed)
        with self.assertRaises(Interrupt):
            pool.available()
        self.assertEqual(pool.available(), 0)
        loan.copy_from(b"abc")
        reference = loan.publish(3)
        with pool.resolve(reference) as view:
            self.assertEqual(view.tobytes(), b"abc")

    def test_an_interrupted_publish_returns_its_reference_and_raises_next(self):
        pool = self.pool(1, 64)
        loan = pool.try_acquire()
        loan.copy_from(b"xyz")
        self.interrupt_next(pool)
        reference = loan.publish(3)
        self.assertTrue(loan.closed)
        with self.assertRaises(Interrupt):
            pool.resolve(reference)
        with pool.resolve(reference) as view:
            self.assertEqual(view.tobytes(), b"xyz")

    def test_an_interrupted_resolve_returns_its_view_and_raises_next(self):
        pool = self.pool(1, 64)
        reference = self.publish(pool, 8, 8)
        # Cut short at its first exchange, which leaves the word as it is (an acquire load):
        # nothing is taken, and the interrupt comes out at once.
        self.interrupt_next(pool)
        with self.assertRaises(Interrupt):
            pool.resolve(reference)
        # Cut short right after the exchange that takes the slot: the view is returned and
        # the interrupt comes out of the next call.
        pool._atomics = _InterruptAfter(pool._atomics._atomics, 2)
        view = pool.resolve(reference)
        with self.assertRaises(Interrupt):
            pool.available()
        self.assertEqual(view.tobytes(), payload(8, 8))
        view.release()
        self.assertEqual(pool.available(), 1)

    def test_an_interrupted_release_finishes_then_raises(self):
        pool = self.pool(1, 64)
        view = pool.resolve(self.publish(pool, 9, 8))
        self.interrupt_next(pool)
        with self.assertRaises(Interrupt):
            view.release()
        self.assertTrue(view.closed)
        self.assertEqual(pool.available(), 1)
        self.assertFalse(pool._holders)
        with pool.try_acquire() as loan:
            self.assertEqual(loan.generation, 2)


class EveryPointTest(PoolCase):
    """An interrupt at each point where a signal handler can run (entry to a function of the
    package, return from a C function it calls) of a whole round trip (acquire, fill, publish,
    resolve, read, release), each call retried while it raises the interrupt: the payload
    arrives whole, and afterwards the one slot is free, held by nobody."""

    def test_every_point_of_a_round_trip(self):
        pool = self.pool(1, 64)
        for n in range(1, MAX_POINTS):
            with self.subTest(point=n):
                data = payload(n & 0xFF, 8)
                hook = InterruptAt(n)
                sys.setprofile(hook)
                try:
                    loan = retrying(pool.try_acquire)
                    retrying(lambda: loan.copy_from(data))
                    reference = retrying(lambda: loan.publish(8))
                    view = retrying(lambda: pool.resolve(reference))
                    read = retrying(view.tobytes)
                    retrying(view.release)
                finally:
                    sys.setprofile(None)
                retrying(pool.available)  # a kept interrupt comes out of the next call
                self.assertEqual(read, data)
                self.assertEqual(pool.available(), 1)
                self.assertFalse(pool._holders)
                if not hook.fired:
                    break
        else:
            self.fail("a round trip still had points left after {}".format(MAX_POINTS))
        self.assertGreater(n, 20, "the hook saw the package's code")


class HostileHeaderTest(PoolCase):
    def raw(self, size, magic=b"SRPL", version=2, slots=1, slot_size=64, flags=0, holders=8):
        name = unique_name("hpool")
        self.addCleanup(unlink_quietly, name)
        fd = _shm_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        self.addCleanup(os.close, fd)
        os.ftruncate(fd, size)
        if size >= 64:
            header = (
                magic
                + version.to_bytes(4, "little")
                + slots.to_bytes(4, "little")
                + flags.to_bytes(4, "little")
                + slot_size.to_bytes(8, "little")
                + bytes(8)
                + holders.to_bytes(4, "little")
            )
            os.pwrite(fd, header, 0)
        return name

    def test_hostile_headers_are_typed_errors_naming_the_value(self):
        good = _pool.segment_len(1, 64, 8)
        cases = [
            (self.raw(0), NotReadyError, None),
            (self.raw(32), SegmentTooSmallError, None),
            (self.raw(good, magic=bytes(4)), NotReadyError, None),
            (self.raw(good, magic=b"SRBF"), NotABufferPoolError, "found"),
            (self.raw(good, version=1), UnsupportedPoolVersionError, "found"),
            (self.raw(good, version=3), UnsupportedPoolVersionError, "found"),
            (self.raw(good, holders=0), InvalidHolderCountError, "found"),
            (self.raw(good, holders=257), InvalidHolderCountError, "found"),
            (self.raw(good, slots=0), InvalidGeometryError, "slot_count"),
            (self.raw(good, slots=1 << 20), InvalidGeometryError, "slot_count"),
            (self.raw(good, slot_size=0), InvalidGeometryError, "slot_size"),
            (self.raw(good, slot_size=1 << 47), InvalidGeometryError, "slot_size"),
            (self.raw(good, slots=2, slot_size=1 << 46), InvalidGeometryError, "slot_count"),
            (self.raw(good, slots=1000), GeometryExceedsSizeError, "needed"),
            (self.raw(good - 1), GeometryExceedsSizeError, "needed"),
            (self.raw(good, slot_size=1 << 40), GeometryExceedsSizeError, "needed"),
        ]
        for name, error, attribute in cases:
            with self.subTest(error=error.__name__, attribute=attribute):
                with self.assertRaises(error) as caught:
                    BufferPool.open(name)
                if attribute is not None:
                    value, message = getattr(caught.exception, attribute), str(caught.exception)
                    self.assertTrue(
                        str(value) in message or "{:#010x}".format(value) in message, message
                    )
        self.assertTrue(issubclass(UnsupportedPoolVersionError, UnsupportedVersionError))

    def test_hostile_slot_words_are_never_lent_or_read(self):
        pool = self.pool(1, 64)
        reference = self.publish(pool, 1, 8)
        words = pool._words64
        # A state that is none of the four: never lent, never read.
        words[8] = _pool.slot_word(7, reference.generation)
        with self.assertRaises(PoolExhaustedError):
            pool.try_acquire()
        with self.assertRaises(StaleError) as caught:
            pool.resolve(reference)
        self.assertEqual(caught.exception.state, "invalid")
        # A length word beyond the slot, under a reference that agrees with it.
        words[8] = _pool.slot_word(_pool.PUBLISHED, reference.generation)
        words[9] = 1 << 60
        with self.assertRaises(LengthExceedsSlotError):
            pool.resolve(PoolRef(pool.name, 0, reference.generation, 1 << 60))
        with self.assertRaises(LengthMismatchError) as caught:
            pool.resolve(reference)
        self.assertEqual(caught.exception.stored, 1 << 60)
        words[9] = 8
        pool.resolve(reference).release()


class PoolRefTest(unittest.TestCase):
    def test_binary_form_round_trips_and_matches_the_layout(self):
        reference = PoolRef("/frames", 3, 17, 1024)
        self.assertEqual(reference.pool, "frames")
        data = reference.to_bytes()
        self.assertEqual(len(data), 64)
        self.assertEqual(data[:6], b"SRPR\x01\x06")
        self.assertEqual(data[8:12], (3).to_bytes(4, "little"))
        self.assertEqual(data[32:38], b"frames")
        self.assertEqual(PoolRef.from_bytes(data), reference)
        self.assertEqual(hash(PoolRef.from_bytes(bytearray(data))), hash(reference))

    def test_hostile_binary_references_are_typed_errors_naming_the_field(self):
        good = PoolRef("frames", 1, 2, 3).to_bytes()

        def changed(at, value):
            data = bytearray(good)
            data[at : at + len(value)] = value
            return bytes(data)

        cases = [
            (good[:63], "length"),
            (good + b"\0", "length"),
            (changed(0, b"SRPX"), "magic"),
            (changed(4, b"\x02"), "version"),
            (changed(5, b"\x1f"), "pool"),
            (changed(5, b"\x00")[:32] + bytes(32), "pool"),
            (changed(5, b"\x00"), "padding"),
            (changed(6, b"\x01"), "padding"),
            (changed(12, b"\x01"), "padding"),
            (changed(40, b"x"), "padding"),
            (changed(63, b"\x01"), "padding"),
            (changed(32, b"\xff"), "pool"),
            (changed(32, b"/"), "pool"),
            (changed(32, b"a/b"[:1] + b"/"), "pool"),
            (changed(16, (1 << 56).to_bytes(8, "little")), "generation"),
        ]
        for data, field in cases:
            with self.subTest(field=field, data=data.hex()):
                with self.assertRaises(PoolRefError) as caught:
                    PoolRef.from_bytes(data)
                self.assertEqual(caught.exception.field, field)

    def test_json_form_is_exact_and_strict(self):
        reference = PoolRef("p", 4294967295, (1 << 56) - 1, (1 << 64) - 1)
        text = reference.to_json()
        self.assertEqual(
            text,
            '{"format":"shm_ring.pool_ref","version":1,"pool":"p","slot":4294967295,'
            '"generation":72057594037927935,"len":18446744073709551615}',
        )
        self.assertEqual(PoolRef.from_json(text), reference)
        self.assertEqual(PoolRef.from_json(text.encode()), reference)
        document = json.loads(text)

        def variant(**members):
            changed = dict(document)
            for key, value in members.items():
                if value is _DROP:
                    del changed[key]
                else:
                    changed[key] = value
            return json.dumps(changed)

        cases = [
            (variant(format="other"), "format"),
            (variant(version=2), "version"),
            (variant(version=True), "version"),
            (variant(pool="/p"), "pool"),
            (variant(pool="a/b"), "pool"),
            (variant(pool=7), "pool"),
            (variant(slot=1 << 32), "slot"),
            (variant(slot="1"), "slot"),
            (variant(slot=None), "slot"),
            (variant(slot=False), "slot"),
            (variant(generation=1 << 56), "generation"),
            (variant(len=1 << 64), "len"),
            (variant(len=_DROP), "len"),
            (variant(extra=1), "extra"),
            (text.replace('"slot":4294967295', '"slot":1.0'), "json"),
            (text.replace('"slot":4294967295', '"slot":1e3'), "json"),
            (text.replace('"slot":4294967295', '"slot":-0'), "json"),
            (text.replace('"slot":4294967295', '"slot":NaN'), "json"),
            (text.replace('"len"', '"slot":1,"len"'), "slot"),
            (text[:-1], "json"),
            ("[]", "json"),
            (b"\xff", "json"),
        ]
        for bad, field in cases:
            with self.subTest(document=bad):
                with self.assertRaises(PoolRefError) as caught:
                    PoolRef.from_json(bad)
                self.assertEqual(caught.exception.field, field)


_DROP = object()
