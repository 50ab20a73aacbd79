"""Removing this package's segments whose owner is provably gone, and nothing else.

The same rules as the Rust crate's ``shm_ring::cleanup``, on the same layouts: a segment is an
orphan when its owner announced a liveness lock in it and no longer holds it, and no other
process holds one of its locks; it is removed only by a process holding that owner lock, and
only while its name still refers to the object judged.
"""

import collections
import os
import struct

from . import _kernel
from ._buffer import FLAG_LOCKED as _BUFFER_LOCKED
from ._buffer import MAGIC as _BUFFER_MAGIC
from ._buffer import VERSION as _BUFFER_VERSION
from ._buffer import WRITER_LOCK_BYTE
from ._errors import ShmRingError
from ._pool import FLAG_LOCKED as _POOL_LOCKED
from ._pool import HEADER_LEN as _POOL_HEADER_LEN
from ._pool import MAGIC as _POOL_MAGIC
from ._pool import VERSION as _POOL_VERSION
from ._pool import holder_lock_byte, is_valid_geometry, is_valid_holder_count, segment_len
from ._layout import (
    CONSUMER_FLAGS,
    EXTENSION_LEN,
    EXTENSION_MARKER,
    PRODUCER_FLAGS,
    extension_offset,
    is_valid_capacity,
    name_problem,
)
from ._segment import _DEV_SHM, _names_object, _shm_open, _shm_unlink, os_error

# The buffer pool's header (docs/PROTOCOL.md): magic, version, slot count, flags, slot size,
# releases, waiters, holders.
_POOL_HEADER = struct.Struct("<IIIIQIII")
_BUFFER_HEADER = struct.Struct("<IIQQQI")
_BUFFER_HEADER_LEN = 64

#: What ``cleanup`` removed (or, in a dry run, would remove): the segment name, its kind
#: ("extended ring", "shared buffer" or "buffer pool") and why it was an orphan.
Orphan = collections.namedtuple("Orphan", "name kind reason")

#: What ``cleanup`` did: ``orphans``, a list of Orphan sorted by name, and ``failures``, a list
#: of (name, ShmRingError) for orphans that could not be removed.
CleanupReport = collections.namedtuple("CleanupReport", "orphans failures")

RING_ENDS_GONE = "its producer and consumer are gone"
BUFFER_OWNER_GONE = "its owner and writer are gone"
POOL_OWNER_GONE = "its owner and every slot holder are gone"


def _gone(fd, byte, announced):
    """Whether the holder of the lock on ``byte`` announced it and no longer holds it."""
    return announced and _kernel.lock_held(fd, byte) is False


def _judge(fd):
    """``(kind, reason)`` if the object open as ``fd`` is an orphan, else None.

    Locks held through ``fd`` itself do not count as held (F_OFD_GETLK reports other open
    file descriptions' locks only).
    """
    size = os.fstat(fd).st_size
    if size < 16:
        return None
    header = os.pread(fd, 64, 0)
    magic = int.from_bytes(header[0:4], "little")
    if magic == _BUFFER_MAGIC:
        if size < _BUFFER_HEADER_LEN or len(header) < _BUFFER_HEADER_LEN:
            return None
        _, version, _, _, _, flags = _BUFFER_HEADER.unpack_from(header)
        locked = bool(flags & _BUFFER_LOCKED)
        if (
            version == _BUFFER_VERSION
            and _gone(fd, _kernel.PRODUCER_LOCK_BYTE, locked)
            and _kernel.lock_held(fd, WRITER_LOCK_BYTE) is not True
        ):
            return ("shared buffer", BUFFER_OWNER_GONE)
        return None
    if magic == _POOL_MAGIC:
        if size < _POOL_HEADER_LEN or len(header) < _POOL_HEADER_LEN:
            return None
        _, version, slot_count, flags, slot_size, _, _, holders = _POOL_HEADER.unpack_from(header)
        if (
            version == _POOL_VERSION
            and is_valid_geometry(slot_count, slot_size)
            and is_valid_holder_count(holders)
            and segment_len(slot_count, slot_size, holders) <= size
            and _gone(fd, _kernel.PRODUCER_LOCK_BYTE, bool(flags & _POOL_LOCKED))
            and _kernel.lock_held(fd, holder_lock_byte(0), holders) is False
        ):
            return ("buffer pool", POOL_OWNER_GONE)
        return None
    capacity = int.from_bytes(header[8:12], "little")
    reserved = int.from_bytes(header[12:16], "little")
    if reserved != EXTENSION_MARKER or not is_valid_capacity(capacity):
        # Not a ring of ours: an original-layout ring announces no lock, so nothing tells
        # whether its producer lives; anything else is not ours at all.
        return None
    block = extension_offset(capacity)
    if block + EXTENSION_LEN > size:
        return None
    flags = os.pread(fd, 2, block)
    if len(flags) < 2:
        return None
    producer_locked = bool(flags[PRODUCER_FLAGS] & _kernel.LOCKED)
    if (
        _gone(fd, _kernel.PRODUCER_LOCK_BYTE, producer_locked)
        and _kernel.lock_held(fd, _kernel.CONSUMER_LOCK_BYTE) is not True
    ):
        return ("extended ring", RING_ENDS_GONE)
    return None


def _judge_name(bare):
    """``_judge`` of the object named ``bare``, opened read-only; None if it cannot be read."""
    try:
        fd = _shm_open(bare, os.O_RDONLY, 0)
    except OSError:
        return None
    try:
        return _judge(fd)
    except OSError:
        return None
    finally:
        os.close(fd)


def _remove_orphan(bare):
    """Remove ``bare`` if it is an orphan, judged again while holding its owner's lock.

    Returns the Orphan removed, or None (no longer an orphan, re-created, or gone). Raises
    ShmRingError if the OS refuses.
    """
    try:
        fd = _shm_open(bare, os.O_RDWR, 0)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise os_error(error, bare, "shm_open") from error
    try:
        # Without the owner's lock nothing proves the owner gone; holding it, no owner can
        # start on this object while it is judged and its name removed.
        if _kernel.take_lock(fd, _kernel.PRODUCER_LOCK_BYTE) is not True:
            return None
        try:
            judged = _judge(fd)
        except OSError as error:
            raise os_error(error, bare, "pread") from error
        if judged is None or not _names_object(bare, fd):
            return None
        try:
            _shm_unlink(bare)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise os_error(error, bare, "shm_unlink") from error
        return Orphan(bare, judged[0], judged[1])
    finally:
        os.close(fd)  # releases the lock of an object that no longer has a name


def _names(prefix):
    """The names in /dev/shm that a segment can have and that start with ``prefix``, sorted."""
    found = []
    with os.scandir(_DEV_SHM) as entries:
        for entry in entries:
            try:
                regular = entry.is_file(follow_symlinks=False)
            except OSError:
                continue
            if regular and entry.name.startswith(prefix) and name_problem(entry.name) is None:
                found.append(entry.name)
    return sorted(found)


def cleanup(dry_run=False, prefix=""):
    """Find this package's segments whose owner is provably gone and remove them (with
    ``dry_run=True``, only list them). Never removes a segment whose owner lives, nor one it
    does not recognise. Only names starting with ``prefix`` are looked at.

    An orphan is an extended ring whose producer announced its liveness lock and let go of it
    and whose consumer holds none; a SharedBuffer whose creator's lock and writer lock are
    free; or a buffer pool whose creator's lock is free and no holder entry's lock is held (no
    handle has it open).
    Rings of the original layout are never removed: their producers announce no lock, so a
    live one cannot be told from a dead one (``remove(name)`` removes one by name). Objects
    with another header, damaged ones and those this user cannot read are left alone.

    Each removal takes the owner's liveness lock, judges the segment again while holding it
    and removes the name only if it still refers to that object, so a segment re-created
    meanwhile is never removed. Processes that have it mapped keep it.

    Returns a CleanupReport(orphans, failures). Linux only (it lists /dev/shm and needs OFD
    locks): elsewhere raises ShmRingError.

    >>> report = cleanup(dry_run=True, prefix="render-")          # doctest: +SKIP
    >>> [(o.name, o.kind, o.reason) for o in report.orphans]      # doctest: +SKIP
    [('render-frames', 'extended ring', 'its producer and consumer are gone')]
    """
    if not isinstance(prefix, str):
        raise TypeError("prefix must be a str, not {}".format(type(prefix).__name__))
    if not _kernel.locks_available() or not os.path.isdir(_DEV_SHM):
        raise ShmRingError(
            "cleanup needs Linux: it lists /dev/shm and tells owners' liveness by OFD locks"
        )
    orphans, failures = [], []
    for bare in _names(prefix):
        judged = _judge_name(bare)
        if judged is None:
            continue
        if dry_run:
            orphans.append(Orphan(bare, judged[0], judged[1]))
            continue
        try:
            removed = _remove_orphan(bare)
        except ShmRingError as error:
            failures.append((bare, error))
            continue
        if removed is not None:
            orphans.append(removed)
    return CleanupReport(orphans, failures)
