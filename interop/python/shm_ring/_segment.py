"""POSIX shared-memory objects: create, open, map, unlink.

The segment is opened with ``_posixshmem.shm_open`` (the C binding behind
``multiprocessing.shared_memory``) and mapped with ``mmap``. ``SharedMemory`` itself is not used:
on Python <= 3.12 it registers every segment it touches with ``multiprocessing.resource_tracker``,
which unlinks them when the process exits, including segments a consumer merely attached to.
Where ``_posixshmem`` is missing, Linux's ``/dev/shm`` directory is used directly.
"""

import errno
import mmap
import os
import sys

from ._errors import (
    AlreadyExistsError,
    InvalidCapacityError,
    NotFoundError,
    NotReadyError,
    PermissionDeniedError,
    SegmentTooSmallError,
    ShmRingError,
)
from ._layout import (
    CAPACITY_WORD,
    HEAD_WORD,
    HEADER_LEN,
    RESERVED_WORD,
    TAIL_WORD,
    is_valid_capacity,
)

try:
    import _posixshmem
except ImportError:  # pragma: no cover - every CPython on Linux and macOS has it
    _posixshmem = None

_DEV_SHM = "/dev/shm"


def _shm_open(bare, flags, mode):
    if _posixshmem is not None:
        return _posixshmem.shm_open("/" + bare, flags, mode)
    if os.path.isdir(_DEV_SHM):
        return os.open(os.path.join(_DEV_SHM, bare), flags | getattr(os, "O_CLOEXEC", 0), mode)
    raise OSError(errno.ENOSYS, "POSIX shared memory is not available on this platform")


def _shm_unlink(bare):
    if _posixshmem is not None:
        _posixshmem.shm_unlink("/" + bare)
    elif os.path.isdir(_DEV_SHM):
        os.unlink(os.path.join(_DEV_SHM, bare))
    else:
        raise OSError(errno.ENOSYS, "POSIX shared memory is not available on this platform")


def os_error(error, bare, operation):
    """Translate an OSError from an operation on segment ``bare`` into a ShmRingError."""
    code = error.errno
    if code == errno.ENOENT:
        result = NotFoundError("shared-memory segment {!r} does not exist".format(bare))
    elif code in (errno.EACCES, errno.EPERM):
        result = PermissionDeniedError(
            "permission denied for shared-memory segment {!r} ({})".format(bare, operation)
        )
    elif code == errno.EEXIST:
        result = AlreadyExistsError("shared-memory segment {!r} already exists".format(bare))
    else:
        result = ShmRingError(
            "{} failed for shared-memory segment {!r}: {}".format(
                operation, bare, error.strerror or error
            )
        )
    return result


class _SwappedWords:
    """Header words on a big-endian host: each access is still one aligned 4-byte access of
    the native word view, with the value byte-swapped to the wire's little-endian order."""

    __slots__ = ("_words",)

    def __init__(self, words):
        self._words = words

    @staticmethod
    def _swap(value):
        return int.from_bytes(value.to_bytes(4, "little"), "big")

    def __getitem__(self, index):
        return self._swap(self._words[index])

    def __setitem__(self, index, value):
        self._words[index] = self._swap(value)

    def release(self):
        self._words.release()


class Segment:
    """A mapped segment: the mmap, a byte view of it, and its header words."""

    __slots__ = ("name", "mm", "buf", "rbuf", "words", "size", "dev", "ino")

    def __init__(self, name, mm, size, dev, ino):
        self.name = name
        self.mm = mm
        self.size = size
        self.dev = dev
        self.ino = ino
        self.buf = memoryview(mm)
        self.rbuf = self.buf.toreadonly()
        words = self.buf[:HEADER_LEN].cast("I")
        self.words = words if sys.byteorder == "little" else _SwappedWords(words)

    def close(self):
        """Unmap, unless memoryviews derived from the mapping are still alive; then the
        mapping stays until the last of them is gone (it can never dangle)."""
        mm = self.mm
        if mm is None:
            return
        self.mm = None
        for view in (self.words, self.rbuf, self.buf):
            try:
                view.release()
            except BufferError:
                pass
        self.words = self.rbuf = self.buf = None
        try:
            mm.close()
        except BufferError:
            pass


def _map(fd, size, bare):
    try:
        return mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    except OSError as error:
        raise os_error(error, bare, "mmap") from error


def create_segment(bare, requested, capacity, mode, exclusive, start_index, fence):
    """Create and initialise segment ``bare`` (see the producer's documentation)."""
    if not exclusive:
        try:
            _shm_unlink(bare)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise os_error(error, bare, "shm_unlink") from error
    try:
        fd = _shm_open(bare, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode)
    except OSError as error:
        raise os_error(error, bare, "shm_open") from error
    segment = None
    try:
        size = HEADER_LEN + requested
        operation = "fchmod"
        try:
            os.fchmod(fd, mode)
            operation = "ftruncate"
            os.ftruncate(fd, size)
            operation = "fstat"
            st = os.fstat(fd)
        except OSError as error:
            raise os_error(error, bare, operation) from error
        segment = Segment(bare, _map(fd, size, bare), size, st.st_dev, st.st_ino)
    finally:
        os.close(fd)
        if segment is None:
            try:
                _shm_unlink(bare)
            except OSError:
                pass
    words = segment.words
    start_index &= 0xFFFFFFFF
    words[HEAD_WORD] = start_index
    words[TAIL_WORD] = start_index
    words[RESERVED_WORD] = 0
    if fence is not None:
        fence()
    words[CAPACITY_WORD] = capacity
    return segment


def open_segment(bare, fence):
    """Open and map an existing, initialised segment; return (segment, capacity)."""
    try:
        fd = _shm_open(bare, os.O_RDWR, 0)
    except OSError as error:
        raise os_error(error, bare, "shm_open") from error
    try:
        try:
            st = os.fstat(fd)
        except OSError as error:
            raise os_error(error, bare, "fstat") from error
        size = st.st_size
        if size == 0:
            raise NotReadyError(
                "shared-memory segment {!r} is not ready yet: its producer has not sized it".format(
                    bare
                )
            )
        if size < HEADER_LEN:
            raise SegmentTooSmallError(
                "shared-memory segment {!r} is {} bytes, smaller than the {}-byte header".format(
                    bare, size, HEADER_LEN
                ),
                size,
            )
        segment = Segment(bare, _map(fd, size, bare), size, st.st_dev, st.st_ino)
    finally:
        os.close(fd)
    try:
        capacity = segment.words[CAPACITY_WORD]
        if fence is not None:
            fence()
        if capacity == 0:
            raise NotReadyError(
                "shared-memory segment {!r} is not ready yet: "
                "its producer has not written the capacity".format(bare)
            )
        if not is_valid_capacity(capacity):
            raise InvalidCapacityError(
                "shared-memory segment {!r} has capacity {}, which is not a power of two "
                "from 8 to 2^31".format(bare, capacity),
                capacity,
            )
        if HEADER_LEN + capacity > size:
            raise SegmentTooSmallError(
                "shared-memory segment {!r} claims capacity {}, but its {} bytes hold at most {} "
                "after the header".format(bare, capacity, size, size - HEADER_LEN),
                size,
                capacity,
            )
    except BaseException:
        segment.close()
        raise
    return segment, capacity


def unlink_if_same(bare, dev, ino):
    """Unlink ``bare`` if the name still refers to the object (dev, ino).

    Returns True if it was unlinked, False if the name is gone or now names another object
    (or cannot be inspected). There is an unavoidable window between the check and the unlink.
    """
    try:
        fd = _shm_open(bare, os.O_RDONLY, 0)
    except FileNotFoundError:
        return False
    except PermissionError:
        try:
            fd = _shm_open(bare, os.O_RDWR, 0)
        except OSError:
            return False
    except OSError as error:
        raise os_error(error, bare, "shm_open") from error
    try:
        st = os.fstat(fd)
    except OSError as error:
        raise os_error(error, bare, "fstat") from error
    finally:
        os.close(fd)
    if (st.st_dev, st.st_ino) != (dev, ino):
        return False
    try:
        _shm_unlink(bare)
    except FileNotFoundError:
        return False
    except OSError as error:
        raise os_error(error, bare, "shm_unlink") from error
    return True


def segment_exists(bare):
    """Whether a segment named ``bare`` exists (used by tests and tools)."""
    try:
        fd = _shm_open(bare, os.O_RDONLY, 0)
    except FileNotFoundError:
        return False
    except PermissionError:
        return True
    except OSError as error:
        raise os_error(error, bare, "shm_open") from error
    os.close(fd)
    return True
