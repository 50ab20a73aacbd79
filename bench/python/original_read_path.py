"""A stand-in for the original library's Python consumer (cpp_py_shmbuf v2), for the bench.

The original's ``ShmConsumer`` maps the segment and reads through a ``ByteRingBuffer`` over a
memoryview of it: ``has_data()`` unpacks head and tail with ``struct``; ``read()`` unpacks the
header words again, copies the 4-byte length prefix out (in two pieces when it wraps),
unpacks it, copies the payload out (in two pieces when it wraps) and stores the new tail with
``struct.pack_into``. Indices are plain Python ints, never reduced modulo 2**32, and a
zero-length record is taken as "incomplete". This module does the same work per message, so
that its message rate stands for the original's; it is not the original's code.

    python3 original_read_path.py NAME COUNT SIZE    # prints {"msgs_per_sec": ...}
"""

import mmap
import os
import struct
import sys
import time

_HEADER = struct.Struct("<IIII")
_INDICES = struct.Struct("<II")
_WORD = struct.Struct("<I")


class ByteRingBuffer:
    """The original's read path over ``buf`` (header then data area)."""

    def __init__(self, buf):
        self._buf = buf
        self._capacity = _HEADER.unpack_from(buf, 0)[2]
        self._data = buf[16 : 16 + self._capacity]

    def readable_bytes(self):
        head, tail = _INDICES.unpack_from(self._buf, 0)
        return head - tail

    def has_data(self):
        return self.readable_bytes() >= 4

    def _copy_out(self, pos, n):
        first = min(n, self._capacity - pos)
        out = bytes(self._data[pos : pos + first])
        if first < n:
            out += bytes(self._data[: n - first])
        return out

    def read(self):
        head, tail, capacity, _ = _HEADER.unpack_from(self._buf, 0)
        available = head - tail
        if available < 4:
            return None
        mask = capacity - 1
        pos = tail & mask
        (length,) = _WORD.unpack(self._copy_out(pos, 4))
        if length == 0 or available < 4 + length:
            return None
        data = self._copy_out((pos + 4) & mask, length)
        _WORD.pack_into(self._buf, 4, tail + 4 + length)
        return data


class ShmConsumer:
    """The original's consumer: the object mapped whole, a ring over it."""

    def __init__(self, name):
        fd = os.open("/dev/shm/" + name.lstrip("/"), os.O_RDWR)
        try:
            self._mm = mmap.mmap(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        self._ring = ByteRingBuffer(memoryview(self._mm))

    def has_data(self):
        return self._ring.has_data()

    def read(self):
        return self._ring.read()


def open_when_ready(name):
    """Wait for the producer to create and initialise the segment."""
    while True:
        try:
            fd = os.open("/dev/shm/" + name, os.O_RDONLY)
        except FileNotFoundError:
            time.sleep(0.001)
            continue
        try:
            header = os.pread(fd, 16, 0)
        finally:
            os.close(fd)
        if len(header) == 16 and _HEADER.unpack(header)[2] != 0:
            return ShmConsumer(name)
        time.sleep(0.001)


def main():
    name, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    consumer = open_when_ready(name)
    # Every message is published and the producer has finished (it gives up waiting for the
    # ring to drain and removes the name) before the clock starts, and the clock is this
    # process's CPU time: the figure is the read path's own cost, whatever else the machine
    # runs, with nobody to wake.
    while consumer._ring.readable_bytes() < count * (4 + size) or os.path.exists("/dev/shm/" + name):
        time.sleep(0.001)
    received = 0
    start = time.process_time()
    while received < count:
        if consumer.has_data():
            data = consumer.read()
            if data is not None:
                received += 1
    seconds = time.process_time() - start
    print('{{"msgs_per_sec":{:.1f}}}'.format(count / seconds if seconds > 0 else 0.0))


if __name__ == "__main__":
    main()
