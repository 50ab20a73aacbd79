"""Helpers shared by the test modules: unique names, hand-made segments, running the peer."""

import errno
import itertools
import mmap
import os
import platform
import select
import signal
import subprocess
import sys
import threading
import time

import shm_ring
from shm_ring import _segment

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_counter = itertools.count()


def unique_name(tag="t"):
    """A segment name no other test (or concurrent test run) uses."""
    return "srt{}-{}-{}".format(tag, os.getpid(), next(_counter))


def unlink_quietly(name):
    bare = name.lstrip("/")
    try:
        _segment._shm_unlink(bare)
    except OSError:
        pass


def exists(name):
    return _segment.segment_exists(name.lstrip("/"))


def fstat(name):
    fd = _segment._shm_open(name.lstrip("/"), os.O_RDONLY, 0)
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


class RawSegment:
    """A segment made by hand, to place any header and any bytes a producer never would."""

    def __init__(self, name, size, capacity=None, head=0, tail=0):
        self.name = name
        fd = _segment._shm_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            if size:
                os.ftruncate(fd, size)
                self.mm = mmap.mmap(fd, size)
            else:
                self.mm = None
        finally:
            os.close(fd)
        if self.mm is not None and size >= 16:
            self.set_words(head=head, tail=tail, capacity=capacity or 0)
        self.capacity = capacity

    def set_words(self, head=None, tail=None, capacity=None, reserved=None):
        for offset, value in ((0, head), (4, tail), (8, capacity), (12, reserved)):
            if value is not None:
                self.mm[offset : offset + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")

    def word(self, index):
        return int.from_bytes(self.mm[4 * index : 4 * index + 4], "little")

    def put(self, index, data):
        """Write ``data`` at stream index ``index`` (wrapping around the data area)."""
        cap = self.capacity
        for k, byte in enumerate(data):
            self.mm[16 + ((index + k) & (cap - 1))] = byte

    def put_record(self, index, payload, length=None):
        """Write a record at ``index``; return the index after it."""
        if length is None:
            length = len(payload)
        self.put(index, length.to_bytes(4, "little") + bytes(payload))
        return (index + 4 + len(payload)) & 0xFFFFFFFF

    def close(self):
        if self.mm is not None:
            self.mm.close()
            self.mm = None


def peer_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_DIR + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def start_peer(role, name, *args, python=None, env=None, cwd=None):
    """Start ``python -m shm_ring ROLE --name NAME ARGS...`` with pipes for its output."""
    command = [python or sys.executable, "-m", "shm_ring", role, "--name", name]
    command.extend(str(arg) for arg in args)
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=peer_env() if env is None else env,
        cwd=cwd,
        universal_newlines=True,
    )


#: Guards against hangs only; generous because the test machine may be loaded.
HANG_GUARD = 300


def finish(process):
    """Wait for a peer to exit; return (returncode, stdout, stderr)."""
    try:
        out, err = process.communicate(timeout=HANG_GUARD)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError("peer did not finish: {}\n{}".format(out, err))
    return process.returncode, out, err


def wait_for_segment(name, process=None):
    """Wait until segment ``name`` exists (the event a second peer is started on).

    Fails if ``process`` exits first or the hang guard runs out."""
    deadline = time.monotonic() + HANG_GUARD
    while not exists(name):
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(
                "peer exited with {} before creating the segment: {} {}".format(
                    process.returncode, out, err
                )
            )
        if time.monotonic() > deadline:
            raise AssertionError("segment {} never appeared".format(name))
        time.sleep(0.001)


def wait_until(predicate, what, thread=None, process=None):
    """Wait (polling) until ``predicate()`` is true; fail if ``thread`` ends or ``process``
    exits first, or when the hang guard runs out."""
    deadline = time.monotonic() + HANG_GUARD
    while not predicate():
        if thread is not None and not thread.is_alive():
            raise AssertionError("the call ended before {}: {!r}".format(what, thread.outcome()))
        if process is not None and process.poll() is not None:
            raise AssertionError("the child exited before {}: {}".format(what, process.stderr.read()))
        if time.monotonic() > deadline:
            raise AssertionError("never saw " + what)
        time.sleep(0.001)


class Call(threading.Thread):
    """Runs ``function()`` in a daemon thread and keeps its result or exception, and when
    (``time.monotonic()``) it ended."""

    def __init__(self, function):
        super().__init__(daemon=True)
        self._function = function
        self.result = None
        self.error = None
        self.ended = None

    def run(self):
        try:
            self.result = self._function()
        except BaseException as error:  # kept for the test to inspect
            self.error = error
        finally:
            self.ended = time.monotonic()

    def outcome(self):
        return self.error if self.error is not None else self.result

    def finish(self):
        """Wait for the call to end; return its result or raise its exception."""
        self.join(HANG_GUARD)
        if self.is_alive():
            raise AssertionError("the call did not end")
        if self.error is not None:
            raise self.error
        return self.result


def in_futex_wait(tid, address):
    """Whether thread ``tid`` of this process is blocked in the futex system call on the word
    at ``address``, as /proc/self/task/TID/syscall tells (its number, then its arguments).

    A thread waiting for the GIL is in futex too, on another word: hence the address. Returns
    None when the file cannot be read (then only the flag byte can tell).
    """
    numbers = {"x86_64": "202", "amd64": "202", "aarch64": "98", "arm64": "98"}
    number = numbers.get(platform.machine().lower())
    if number is None:
        return None
    try:
        with open("/proc/self/task/{}/syscall".format(tid)) as status:
            fields = status.read().split()
    except OSError:
        return None
    # A running thread shows "running" instead of a system call.
    return len(fields) >= 2 and fields[0] == number and int(fields[1], 16) == address


class SleepCounter:
    """Counts the sleeps of blocking calls in this process: kernel slices (FUTEX_WAIT), how
    many of them ran out their whole slice instead of being woken, and polling naps.

    Tests use the counts, not the clock, to tell that a call was woken, or that it noticed
    something within a number of sleeps: ``install(test)`` patches ``_kernel.Futex.wait`` and
    ``_wait.pause`` until the test's cleanup.
    """

    def __init__(self):
        self.slices = 0
        self.run_out = 0
        self.naps = 0

    def install(self, test):
        from shm_ring import _kernel, _wait

        futex_wait = _kernel.Futex.wait
        pause = _wait.pause
        counter = self

        def counted_wait(futex, expected, seconds):
            code = futex_wait(futex, expected, seconds)
            counter.slices += 1
            if code == errno.ETIMEDOUT:
                counter.run_out += 1
            return code

        def counted_pause(seconds):
            counter.naps += 1
            pause(seconds)

        test.addCleanup(setattr, _kernel.Futex, "wait", futex_wait)
        test.addCleanup(setattr, _wait, "pause", pause)
        _kernel.Futex.wait = counted_wait
        _wait.pause = counted_pause
        return self

    def sleeps(self):
        """Every sleep so far, kernel slices and naps."""
        return self.slices + self.naps


class Child:
    """A Python snippet in a child process: it prints ``ready`` once set up, then blocks
    reading its stdin (so it also ends if this process goes away)."""

    def __init__(self, code, *args):
        self.process = subprocess.Popen(
            [sys.executable, "-c", code] + [str(arg) for arg in args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=peer_env(),
            universal_newlines=True,
        )

    def wait_ready(self):
        ready, _, _ = select.select([self.process.stdout], [], [], HANG_GUARD)
        line = self.process.stdout.readline() if ready else ""
        if line != "ready\n":
            self.kill()
            raise AssertionError(
                "the child did not get ready: {!r} {}".format(line, self.process.stderr.read())
            )
        return self

    def kill(self):
        """SIGKILL the child and reap it (its locks are gone once this returns)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(HANG_GUARD)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            stream.close()


#: A child producer: ``name capacity count`` writes messages b"m0", b"m1", ... then blocks.
PRODUCER_CHILD = (
    "import sys, shm_ring\n"
    "producer = shm_ring.ShmProducer(sys.argv[1], int(sys.argv[2]))\n"
    "for i in range(int(sys.argv[3])):\n"
    "    producer.write(b'm%d' % i, timeout=60)\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)

#: A child consumer: ``name`` attaches, reads nothing, then blocks.
CONSUMER_CHILD = (
    "import sys, shm_ring\n"
    "consumer = shm_ring.ShmConsumer(sys.argv[1], timeout=60)\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)


def stream_length(i, min_size, max_size):
    return min_size + ((i * 2654435761) % (1 << 32)) % (max_size - min_size + 1)


def stream_payload(i, length):
    return bytes((i * 7 + j) % 251 for j in range(length))


__all__ = ["shm_ring"]
