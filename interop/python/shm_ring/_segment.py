"""POSIX shared-memory objects: create, open, map, unlink.

The segment is opened with ``_posixshmem.shm_open`` (the C binding behind
``multiprocessing.shared_memory``) and mapped with ``mmap``. ``SharedMemory`` itself is not used:
on Python <= 3.12 it registers every segment it touches with ``multiprocessing.resource_tracker``,
which unlinks them when the process exits, including segments a consumer merely attached to.
Where ``_posixshmem`` is missing, Linux's ``/dev/shm`` directory is used directly.

Each producer and consumer keeps its descriptor of the object open for as long as it lives:
it holds the liveness lock (see ``_kernel``) and serves to ask about the other side's lock.
"""

import errno
import mmap
import os
import sys

from . import _kernel
from ._errors import (
    AlreadyExistsError,
    InUseError,
    InvalidCapacityError,
    NotFoundError,
    NotReadyError,
    PermissionDeniedError,
    SegmentTooSmallError,
    UnsupportedError,
    ShmRingError,
)
from ._layout import (
    CAPACITY_WORD,
    CONSUMER_FLAGS,
    EXTENSION_LEN,
    EXTENSION_MARKER,
    HEAD_WORD,
    HEADER_LEN,
    PRODUCER_FLAGS,
    RESERVED_WORD,
    TAIL_WORD,
    extension_offset,
    has_extension,
    is_valid_capacity,
)

try:
    import _posixshmem
except ImportError:  # pragma: no cover - every CPython on Linux and macOS has it
    _posixshmem = None

_DEV_SHM = "/dev/shm"

# Windows: pagefile-backed named mappings under the segment's own name, the liveness locks
# named mutexes (``_kernel.NamedLocks``): the design of the Rust crate and the C++ header.
# Nothing can run it here (see README): it is kept small and parallel to the POSIX code.
_WINDOWS = sys.platform == "win32"

_NO_REMOVAL = (
    "a Windows named mapping has no name to remove: it disappears when the last process "
    "holding it closes it"
)
_NO_REPLACEMENT = (
    "a Windows named mapping lives while any process has it open, and its name cannot be "
    "taken from it; ShmProducer.open takes over its producer role"
)


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


def _second_description(fd):
    """A second open file description of the object open as ``fd``, to map it from.

    ``mmap`` keeps a duplicate of the descriptor it maps, and a duplicate of ``fd`` would keep
    this side's liveness lock (which belongs to ``fd``'s open file description) until the
    mapping is gone: after the close's wake-up of the other side (which then finds this side
    still alive), or as long as a held part keeps a private mapping. Opening /proc/self/fd/N
    makes a new description that holds no lock. Where that is not possible, ``fd`` itself is
    used.
    """
    try:
        return os.open("/proc/self/fd/{}".format(fd), os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return fd


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
    """A mapped segment: the mmap, a byte view of it, its header words, and the descriptor
    of the object (kept open: it carries this side's liveness lock).

    ``extension`` is the offset of the extension block, or None when the segment has none (a
    ring of the original library): then there are no flag bytes to read or write.
    """

    __slots__ = (
        "name",
        "mm",
        "buf",
        "rbuf",
        "words",
        "size",
        "dev",
        "ino",
        "fd",
        "locked",
        "views_fd",
        "flags",
        "extension",
    )

    def __init__(self, name, size, dev, ino, fd):
        """Map ``size`` bytes of the object open as ``fd`` (raises ShmRingError)."""
        self.name = name
        self.size = size
        self.dev = dev
        self.ino = ino
        self.fd = fd
        self.locked = False
        # The mapping is made from a second open file description (see
        # ``_second_description``): mmap's own duplicate of the descriptor then holds no lock,
        # and closing ``fd`` releases this side's liveness lock at once.
        self.views_fd = _second_description(fd)
        try:
            mm = _map(self.views_fd, size, name)
        except BaseException:
            if self.views_fd != fd:
                os.close(self.views_fd)
            raise
        self.mm = mm
        self.flags = 0  # this side's flag byte, without SLEEPING
        self.extension = None
        self.buf = memoryview(mm)
        self.rbuf = self.buf.toreadonly()
        words = self.buf[:HEADER_LEN].cast("I")
        self.words = words if sys.byteorder == "little" else _SwappedWords(words)

    def view_fd(self):
        """The descriptor private mappings (``PrivateMapping``) are made from (see
        ``_second_description``), or None once the segment is closed."""
        return self.views_fd

    def close_fd(self):
        """Close the descriptor. Idempotent.

        This releases this side's liveness lock, which belongs to the open file description
        of ``fd`` (the mappings are made from another, see ``_second_description``), unless
        a forked child still has it open (or its parent, when this is the child's close).
        """
        views_fd = self.views_fd
        if views_fd is not None:
            self.views_fd = None
            if views_fd != self.fd:
                try:
                    os.close(views_fd)
                except OSError:
                    pass
        fd = self.fd
        if fd is not None and not isinstance(fd, int):
            # Windows: the mapping's NamedLocks, whose close can be done again.
            fd.close()
            self.fd = None
            self.locked = False
        elif fd is not None:
            self.fd = None
            self.locked = False
            try:
                os.close(fd)
            except OSError:
                pass

    def close(self):
        """Close the descriptor (see ``close_fd``) and unmap, unless memoryviews derived from
        the mapping are still alive; then the mapping stays until the last of them is gone (it
        can never dangle). Every step can be done again: a close interrupted by a signal
        handler's exception is finished by the next."""
        self.close_fd()
        for attribute in ("words", "rbuf", "buf"):
            view = getattr(self, attribute)
            if view is not None:
                try:
                    view.release()
                except BufferError:
                    pass
                setattr(self, attribute, None)
        mm = self.mm
        if mm is not None:
            try:
                mm.close()
            except BufferError:
                pass
            self.mm = None


class PrivateMapping:
    """Bytes of a segment mapped for one reservation or read view alone, so that it can be
    told whether anything still holds them.

    Every memoryview, NumPy array, ctypes object or iterator made from the memory, directly
    or from a slice of a slice, keeps a buffer export of this mapping's ``mmap`` (Python
    counts them there), and ``mmap.close()`` refuses while any is alive. ``parts()`` hands out
    memoryviews of the chosen spans; ``release()`` releases those and unmaps, or raises
    BufferError while some other export is alive. After a ``release()`` that did not complete
    (an export, or an interrupt), ``parts()`` maps the same bytes again if need be.
    """

    __slots__ = ("_segment", "_spans", "_writable", "_base", "_mm", "_parts")

    def __init__(self, segment, spans, writable):
        """``spans``: one or two (start, stop) byte offsets of the segment, start < stop,
        within the mapped layout. One mapping covers them all, from the page holding the
        first start to the last stop (a wrapped message: the whole data area)."""
        first = min(start for start, _ in spans)
        self._base = first - first % mmap.ALLOCATIONGRANULARITY
        self._segment = segment
        self._spans = tuple((start - self._base, stop - self._base) for start, stop in spans)
        self._writable = writable
        self._parts = None
        self._mm = self._map()

    def _map(self):
        segment = self._segment
        length = max(stop for _, stop in self._spans)
        fd = segment.view_fd()
        try:
            if self._writable:
                # The whole mapping is the message's pages, but a wrapped one's.
                flags = _MAP_FLAGS if len(self._spans) == 1 else mmap.MAP_SHARED
                return mmap.mmap(
                    fd,
                    length,
                    flags,
                    mmap.PROT_READ | mmap.PROT_WRITE,
                    offset=self._base,
                )
            # Read-only pages: nothing can write to the ring through a read view.
            return mmap.mmap(fd, length, access=mmap.ACCESS_READ, offset=self._base)
        except (OSError, TypeError) as error:  # TypeError: the descriptor is closed (None)
            raise ShmRingError(
                "mmap failed for shared-memory segment {!r}: {}".format(segment.name, error)
            ) from error

    def parts(self):
        """Memoryviews of the spans, in order (the same ones until ``release``)."""
        if self._parts is None:
            if self._mm.closed:
                self._mm = self._map()
            spans = self._spans
            (start, stop) = spans[0]
            second = spans[1] if spans[1:] else None
            whole = memoryview(self._mm)
            # ``whole`` is released whatever happens, and the parts are recorded before any
            # point where a signal handler could run: a traceback that kept this frame (an
            # interrupt's) would otherwise keep the mapping exported. Recorded parts are
            # released by release(), whoever else refers to them.
            try:
                if second is None:
                    self._parts = (whole[start:stop],)
                else:
                    self._parts = (whole[start:stop], whole[second[0] : second[1]])
            finally:
                whole.release()
        return self._parts

    def release(self):
        """Release the handed-out memoryviews and unmap. Raises BufferError while anything
        else holds the memory; can be called again (it then carries on where it stopped)."""
        parts = self._parts
        if parts is not None:
            held = False
            for part in parts:
                try:
                    part.release()
                except BufferError:  # exported itself: forgotten here, remade by parts()
                    held = True
            self._parts = None
            if held:
                raise BufferError("a part is exported")
        self._mm.close()

    def drop(self):
        """As ``release``, but leaves a mapping still held to be unmapped once its last holder
        is gone (the memory can never dangle)."""
        try:
            self.release()
        except BufferError:
            pass


def _allocate(fd, size, start=0):
    """Backs bytes ``start .. size`` of the object (all of it by default) with memory now,
    where the file system can.

    A sparse object gets its pages on first touch, and if /dev/shm is full by then that
    touch kills the process with SIGBUS; allocating here turns it into an error from create.
    """
    try:
        os.posix_fallocate(fd, start, size - start)
    except OSError as error:
        if error.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            raise


def write_at(fd, view, offset):
    """Write all of memoryview ``view`` (bytes) to ``fd`` at byte ``offset``, in as many
    ``pwrite`` calls as it takes (Linux writes at most about 2 GiB per call). Raises
    OSError (ENOSPC when the shared-memory file system is full)."""
    done, total = 0, view.nbytes
    while done < total:
        done += os.pwrite(fd, view[done:], offset + done)


#: Map every page in now (Python 3.10+ on Linux), so a large ring takes no page faults later.
_MAP_FLAGS = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)


def _map(fd, size, bare, populate=True):
    flags = _MAP_FLAGS if populate else mmap.MAP_SHARED
    try:
        return mmap.mmap(fd, size, flags, mmap.PROT_READ | mmap.PROT_WRITE)
    except OSError as error:
        raise os_error(error, bare, "mmap") from error


#: How many rounds a producer makes to claim a name that others keep re-creating.
_CREATE_ATTEMPTS = 64


def producer_alive(bare):
    """Whether the object named ``bare`` has a live producer (one holding its lock).

    Returns True, False (no such object, or nobody holds the lock: a dead producer of ours,
    one of the original library, a half-made object), or None when it cannot be told.
    """
    if _WINDOWS:
        try:
            locks, _ = _kernel.open_mapping(bare)
        except FileNotFoundError:
            return False
        except OSError:
            return None
        try:
            return locks.held_elsewhere(_kernel.PRODUCER_LOCK_BYTE)
        finally:
            locks.close()
    try:
        fd = _shm_open(bare, os.O_RDONLY, 0)
    except FileNotFoundError:
        return False
    except PermissionError:
        return None
    except OSError as error:
        raise os_error(error, bare, "shm_open") from error
    try:
        return _kernel.lock_held(fd, _kernel.PRODUCER_LOCK_BYTE)
    finally:
        os.close(fd)


def _in_use(bare, holder):
    if holder == "producer":
        why = "its producer is alive"
    else:
        why = "another consumer is attached to it"
    return InUseError(
        "shared-memory segment {!r} is in use: {}".format(bare, why), bare, holder
    )


def _names_object(bare, fd):
    """Whether the name ``bare`` refers to the object open as ``fd`` (same device and inode)."""
    try:
        other = _shm_open(bare, os.O_RDONLY, 0)
    except FileNotFoundError:
        return False
    except OSError as error:
        raise os_error(error, bare, "shm_open") from error
    try:
        named = os.fstat(other)
        ours = os.fstat(fd)
    except OSError as error:
        raise os_error(error, bare, "fstat") from error
    finally:
        os.close(other)
    return (named.st_dev, named.st_ino) == (ours.st_dev, ours.st_ino)


def _retire(bare):
    """Unlink the stale object ``bare`` names, if its producer lock can be taken.

    Only a process holding the producer lock of the object a name refers to unlinks that
    name, so no creator can remove an object another creator has just made and locked, and
    two creators cannot both replace the same stale object. Returns True if this call removed
    the name, False if the name was gone or came to refer to another object meanwhile (the
    caller looks again); raises InUseError if a live producer holds it.
    """
    try:
        fd = _shm_open(bare, os.O_RDWR, 0)
    except FileNotFoundError:
        return False  # gone meanwhile
    except OSError as error:
        raise os_error(error, bare, "shm_open") from error
    try:
        taken = _kernel.take_lock(fd, _kernel.PRODUCER_LOCK_BYTE)
        if taken is False:
            raise _in_use(bare, "producer")
        # Holding the lock, nobody else can change what the name refers to; but the name may
        # have been changed between our open and our lock.
        if taken is None or _names_object(bare, fd):
            # taken is None: no OFD locks here; the race this closes stays open (documented).
            try:
                _shm_unlink(bare)
            except FileNotFoundError:
                return False
            except OSError as error:
                raise os_error(error, bare, "shm_unlink") from error
            return True
        return False
    finally:
        os.close(fd)  # releases the lock on the retired object


def remove_segment(bare, forced):
    """Remove the name ``bare`` (see ``shm_ring.remove``): unless ``forced``, only while no
    live producer holds its object, and under that object's producer lock (``_retire``).

    Raises NotFoundError for a missing name, InUseError for a live producer's segment
    (unless ``forced``), PermissionDeniedError or ShmRingError for other OS refusals. On
    Windows: NotFoundError, InUseError (unless ``forced``) or UnsupportedError.
    """
    if _WINDOWS:
        if not segment_exists(bare):
            raise os_error(FileNotFoundError(errno.ENOENT, "No such file"), bare, "OpenFileMappingW")
        if not forced and producer_alive(bare):
            raise _in_use(bare, "producer")
        raise UnsupportedError("removing shared-memory segment {!r}: {}".format(bare, _NO_REMOVAL))
    if forced:
        try:
            _shm_unlink(bare)
        except OSError as error:
            raise os_error(error, bare, "shm_unlink") from error
        return
    # Each further round means another process replaced the name meanwhile; this bounds a
    # storm of creators, never a single one.
    for _ in range(_CREATE_ATTEMPTS):
        if _retire(bare):
            return
        if not segment_exists(bare):
            raise os_error(FileNotFoundError(errno.ENOENT, "No such file"), bare, "shm_open")
    raise InUseError(
        "shared-memory segment {!r} is in use: it was re-created {} times while it was being "
        "removed".format(bare, _CREATE_ATTEMPTS),
        bare,
        "producer",
    )


def _create_fd(bare, mode, exclusive):
    """Create the object exclusively and take its producer lock at once; unless ``exclusive``,
    first retire a stale object of that name (see ``_retire``).

    Once the lock of the new object is held, the name must still refer to it: another creator
    may have retired the fresh object (taken its lock, unlinked it and let the lock go) before
    this one asked for the lock. Holding the lock of the object the name refers to, nobody
    else can change the name any more.

    Returns ``(fd, locked)``; ``locked`` is False only where OFD locks do not work. Raises
    InUseError when a live producer holds the name, or when another creator holds the lock of
    the object this call just made (that creator is replacing it and will own the name).
    """
    flags = os.O_CREAT | os.O_EXCL | os.O_RDWR
    for _ in range(_CREATE_ATTEMPTS):
        try:
            fd = _shm_open(bare, flags, mode)
        except FileExistsError as error:
            if exclusive:
                raise os_error(error, bare, "shm_open") from error
            _retire(bare)
            continue
        except OSError as error:
            raise os_error(error, bare, "shm_open") from error
        taken = _kernel.take_lock(fd, _kernel.PRODUCER_LOCK_BYTE)
        if taken is False:
            # Another creator holds the lock of the object we just made: it is retiring it
            # and will own the name. Never unlink here: the name is not ours to change.
            os.close(fd)
            raise _in_use(bare, "producer")
        if taken is True and not _names_object(bare, fd):
            # Another creator took the lock, unlinked our fresh object and let the lock go
            # before we asked for it: the object is nobody's now. Start again.
            os.close(fd)
            continue
        return fd, taken is True
    raise InUseError(
        "shared-memory segment {!r} is in use: it was re-created {} times while this producer "
        "tried to claim it".format(bare, _CREATE_ATTEMPTS),
        bare,
        "producer",
    )


def _create_posix(bare, size, mode, exclusive):
    """The object for ``create_segment`` on POSIX: created, locked, sized and mapped."""
    fd, locked = _create_fd(bare, mode, exclusive)
    segment = None
    try:
        operation = "fchmod"
        try:
            os.fchmod(fd, mode)
            operation = "ftruncate"
            os.ftruncate(fd, size)
            operation = "fallocate"
            _allocate(fd, size)
            operation = "fstat"
            st = os.fstat(fd)
        except OSError as error:
            raise os_error(error, bare, operation) from error
        segment = Segment(bare, size, st.st_dev, st.st_ino, fd)
        segment.locked = locked
    finally:
        if segment is None:
            try:
                if _names_object(bare, fd):
                    _shm_unlink(bare)
            except (OSError, ShmRingError):
                pass
            os.close(fd)
    return segment


def _create_windows(bare, size, mode, exclusive):
    """The mapping for ``create_segment`` on Windows: the producer lock first, then, holding
    it, the name must be free (a mapping still held open cannot be replaced), then the mapping
    is made and sized in one call."""
    if segment_exists(bare):
        if exclusive:
            raise os_error(FileExistsError(errno.EEXIST, "File exists"), bare, "CreateFileMappingW")
        if producer_alive(bare):
            raise _in_use(bare, "producer")
        raise UnsupportedError("creating shared-memory segment {!r}: {}".format(bare, _NO_REPLACEMENT))
    locks = _kernel.NamedLocks(bare, None, mode)
    taken = _kernel.take_lock(locks, _kernel.PRODUCER_LOCK_BYTE)
    if taken is False:
        raise _in_use(bare, "producer")
    try:
        made = _kernel.create_mapping(bare, size, mode)
    except OSError as error:
        locks.close()
        raise os_error(error, bare, "CreateFileMappingW") from error
    made.held = locks.held
    segment = WindowsSegment(bare, size, made)
    segment.locked = taken is True
    return segment


class WindowsSegment(Segment):
    """A segment in a Windows named mapping: ``fd`` is its ``_kernel.NamedLocks`` (the mapping's
    handle and this end's liveness mutexes); the view is ``mmap.mmap(-1, size, tagname=name)``,
    which opens the mapping of that name."""

    __slots__ = ()

    def __init__(self, name, size, locks):
        self.name = name
        self.size = size
        self.dev = self.ino = None
        self.fd = locks
        self.views_fd = None
        self.locked = False
        self.flags = 0
        self.extension = None
        self.mm = mmap.mmap(-1, size, tagname=name)
        self.buf = memoryview(self.mm)
        self.rbuf = self.buf.toreadonly()
        words = self.buf[:HEADER_LEN].cast("I")
        self.words = words if sys.byteorder == "little" else _SwappedWords(words)


def create_segment(bare, size, capacity, mode, exclusive, start_index, fence, barrier):
    """Create and initialise segment ``bare`` (see the producer's documentation).

    The object is ``size`` bytes, at least ``segment_len(capacity)``, so that the extension
    block fits past the data area. The producer's liveness lock is taken right after the exclusive create,
    before anything else (see ``_create_fd``). The header, the marker in ``reserved``, the
    zeroed extension block and the producer's flag byte in it (LOCKED if the lock was taken,
    BARRIER if ``barrier``) are all written before the capacity word publishes the segment.
    If anything fails after the create, the name is unlinked only while it still refers to
    this object, and before its lock is released.
    """
    if _WINDOWS:
        segment = _create_windows(bare, size, mode, exclusive)
    else:
        segment = _create_posix(bare, size, mode, exclusive)
    flags = (_kernel.LOCKED if segment.locked else 0) | (_kernel.BARRIER if barrier else 0)
    segment.flags = flags
    extension = extension_offset(capacity)
    segment.extension = extension
    words = segment.words
    start_index &= 0xFFFFFFFF
    words[HEAD_WORD] = start_index
    words[TAIL_WORD] = start_index
    words[RESERVED_WORD] = EXTENSION_MARKER
    # Nobody else looks at this object before the capacity word below is written.
    buf = segment.buf
    buf[extension : extension + EXTENSION_LEN] = bytes(EXTENSION_LEN)
    buf[extension + PRODUCER_FLAGS] = flags
    if fence is not None:
        fence()
    words[CAPACITY_WORD] = capacity
    return segment


def _read_header(fd, bare):
    """The four header words, read with ``pread`` (nothing is mapped before they are checked)."""
    try:
        header = os.pread(fd, HEADER_LEN, 0)
    except OSError as error:
        raise os_error(error, bare, "pread") from error
    if len(header) < HEADER_LEN:
        # The object shrank after it was measured.
        raise SegmentTooSmallError(
            "shared-memory segment {!r} holds only {} bytes, smaller than the {}-byte "
            "header".format(bare, len(header), HEADER_LEN),
            len(header),
        )
    return [int.from_bytes(header[k : k + 4], "little") for k in range(0, HEADER_LEN, 4)]


def _layout_of(bare, words, size, fence):
    """Check the header ``words`` of a segment of ``size`` bytes; return (capacity, offset of
    the extension block or None, the bytes to map). Raises NotReadyError,
    InvalidCapacityError, SegmentTooSmallError."""
    capacity = words[CAPACITY_WORD]
    # The system call orders the read of the capacity before any later access on every
    # CPU; the fence keeps the rule that it is followed by one.
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
    # ``reserved`` is written before the capacity word, so the read above covers it too.
    extension = None
    length = HEADER_LEN + capacity
    if has_extension(words[RESERVED_WORD], capacity, size):
        extension = extension_offset(capacity)
        length = extension + EXTENSION_LEN
    return capacity, extension, length


def open_segment(bare, fence):
    """Open and map an existing, initialised segment; return (segment, capacity).

    The header is read with ``pread`` and checked before anything is mapped; then only the
    layout it describes is mapped (and pre-faulted): ``16 + capacity`` bytes, plus the
    extension block when the producer wrote the marker and the block fits in the object.
    Bytes past that are never mapped or touched, whatever size the object claims. The segment
    keeps the descriptor open; nothing is locked or written yet (see ``attach``).
    """
    if _WINDOWS:
        return _open_windows(bare, fence)
    try:
        fd = _shm_open(bare, os.O_RDWR, 0)
    except OSError as error:
        raise os_error(error, bare, "shm_open") from error
    segment = None
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
        words = _read_header(fd, bare)
        capacity, extension, length = _layout_of(bare, words, size, fence)
        segment = Segment(bare, length, st.st_dev, st.st_ino, fd)
        segment.extension = extension
    finally:
        if segment is None:
            os.close(fd)
    return segment, capacity


def _open_windows(bare, fence):
    """``open_segment`` on Windows: the header mapped alone and checked first (against the
    mapping's size, whole pages), then only the layout it describes."""
    try:
        locks, size = _kernel.open_mapping(bare)
    except OSError as error:
        raise os_error(error, bare, "OpenFileMappingW") from error
    try:
        if size < HEADER_LEN:
            raise SegmentTooSmallError(
                "shared-memory segment {!r} is {} bytes, smaller than the {}-byte header".format(
                    bare, size, HEADER_LEN
                ),
                size,
            )
        header = mmap.mmap(-1, HEADER_LEN, tagname=bare)
        try:
            raw = header[:HEADER_LEN]
        finally:
            header.close()
        words = [int.from_bytes(raw[k : k + 4], "little") for k in range(0, HEADER_LEN, 4)]
        capacity, extension, length = _layout_of(bare, words, size, fence)
        segment = WindowsSegment(bare, length, locks)
        segment.extension = extension
    except BaseException:
        locks.close()
        raise
    return segment, capacity


def attach(segment, barrier, role="consumer"):
    """Make ``segment`` (opened by ``open_segment``) this end's: take ``role``'s lock
    ("consumer" or "producer") and, if the segment has an extension block, write that role's
    flag byte there (a ring of the original library gets no byte written outside its header and
    data area). Raises InUseError, after closing the segment, if a live end of that role holds
    the lock."""
    producer = role == "producer"
    lock = _kernel.PRODUCER_LOCK_BYTE if producer else _kernel.CONSUMER_LOCK_BYTE
    taken = _kernel.take_lock(segment.fd, lock)
    if taken is False:
        segment.close()
        raise _in_use(segment.name, role)
    segment.locked = taken is True
    extension = segment.extension
    if extension is None:
        return
    flags = (_kernel.LOCKED if segment.locked else 0) | (_kernel.BARRIER if barrier else 0)
    segment.flags = flags
    segment.buf[extension + (PRODUCER_FLAGS if producer else CONSUMER_FLAGS)] = flags


def unlink_if_same(bare, dev, ino):
    """Unlink ``bare`` if the name still refers to the object (dev, ino).

    Returns True if it was unlinked, False if the name is gone or now names another object
    (or cannot be inspected). There is an unavoidable window between the check and the unlink.
    On Windows there is no name to remove: False.
    """
    if _WINDOWS:
        return False
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
    if _WINDOWS:
        try:
            locks, _ = _kernel.open_mapping(bare)
        except FileNotFoundError:
            return False
        except OSError:
            return True
        locks.close()
        return True
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


class MemorySegment(Segment):
    """A ring's memory provided by the caller instead of a named object: no descriptor, no
    name, no liveness lock and no extension block, so that nothing outside the memory is ever
    touched. ``mm`` is a ctypes char array over the memory, whose slices are bytes, as an
    mmap's are."""

    __slots__ = ("_source",)

    def __init__(self, buffer):
        import ctypes

        view = memoryview(buffer)
        if view.readonly:
            raise TypeError("a ring's memory must be writable")
        if not view.c_contiguous:
            raise ValueError("a ring's memory must be one contiguous block")
        flat = view if view.format == "B" and view.ndim == 1 else view.cast("B")
        size = flat.nbytes
        if size < HEADER_LEN:
            raise SegmentTooSmallError(
                "the memory is {} bytes, smaller than the {}-byte header".format(size, HEADER_LEN),
                size,
            )
        mm = (ctypes.c_char * size).from_buffer(flat)
        address = ctypes.addressof(mm)
        if address % 4:
            del mm
            raise ValueError(
                "a ring's memory must be 4-byte aligned (its header words are read and written "
                "as single 4-byte accesses); it starts at address {:#x}".format(address)
            )
        self.name = ""
        self.mm = mm
        self.size = size
        self.dev = self.ino = None
        self.fd = None
        self.locked = False
        self.flags = 0
        self.extension = None
        self.buf = memoryview(mm).cast("B")
        self.rbuf = self.buf.toreadonly()
        words = self.buf[:HEADER_LEN].cast("I")
        self.words = words if sys.byteorder == "little" else _SwappedWords(words)
        self._source = flat

    def close(self):
        """Drop every view of the caller's memory (views still exported elsewhere keep it)."""
        if self.mm is None:
            return
        for view in (self.words, self.rbuf, self.buf):
            try:
                view.release()
            except BufferError:
                pass
        self.words = self.rbuf = self.buf = None
        self.mm = None
        try:
            self._source.release()
        except BufferError:
            pass


def create_memory_ring(buffer, start_index, fence):
    """Lay a ring out in ``buffer`` as the original library does: the header (reserved 0) and
    a data area of the largest power of two not above ``len - 16`` bytes, nothing else.
    Returns (segment, capacity). Raises SegmentTooSmallError / InvalidCapacityError."""
    segment = MemorySegment(buffer)
    requested = segment.size - HEADER_LEN
    if requested < 8:
        segment.close()
        raise InvalidCapacityError(
            "the memory is {} bytes: a ring needs the {}-byte header and at least 8 bytes of "
            "data".format(segment.size, HEADER_LEN),
            requested,
        )
    capacity = 1 << (min(requested, 1 << 31).bit_length() - 1)
    words = segment.words
    start_index &= 0xFFFFFFFF
    words[HEAD_WORD] = start_index
    words[TAIL_WORD] = start_index
    words[RESERVED_WORD] = 0
    if fence is not None:
        fence()
    words[CAPACITY_WORD] = capacity
    return segment, capacity


def open_memory_ring(buffer, fence):
    """Attach to the ring whose header is in ``buffer``; return (segment, capacity). Raises
    NotReadyError (capacity word 0), InvalidCapacityError, SegmentTooSmallError."""
    segment = MemorySegment(buffer)
    try:
        capacity = segment.words[CAPACITY_WORD]
        if fence is not None:
            fence()
        if capacity == 0:
            raise NotReadyError("the ring in this memory is not initialised yet (capacity 0)")
        if not is_valid_capacity(capacity):
            raise InvalidCapacityError(
                "the ring in this memory has capacity {}, which is not a power of two from 8 "
                "to 2^31".format(capacity),
                capacity,
            )
        if HEADER_LEN + capacity > segment.size:
            raise SegmentTooSmallError(
                "the ring's header claims capacity {}, but the {} bytes of memory hold at most "
                "{} after the header".format(capacity, segment.size, segment.size - HEADER_LEN),
                segment.size,
                capacity,
            )
    except BaseException:
        segment.close()
        raise
    return segment, capacity
