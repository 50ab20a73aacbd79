"""Atomic read-modify-write operations on words of a shared mapping, for the buffer pool.

The ring and the shared buffer need only single aligned loads and stores, which a memoryview
gives. A buffer pool's slot words change by compare-exchange, in any process, so that two
processes can never both take a slot; Python has no such operation. It is borrowed from the
C compiler's atomic runtime, ``libatomic`` (part of GCC, installed on nearly every Linux
system, package ``libatomic1`` on Debian and Ubuntu), through ``ctypes``:
``__atomic_compare_exchange_8`` and ``__atomic_fetch_add_4``. For 8-byte and 4-byte words on
x86-64 and AArch64 these are the processor's own lock-free instructions (``lock cmpxchg``,
``lock xadd``; ``ldaxr``/``stlxr`` or ``casal``), so they interoperate with the Rust crate's
``AtomicU64`` / ``AtomicU32`` on the same memory. Every call is sequentially consistent: a full
barrier, which covers the acquire and release orderings the pool's protocol asks for.

Where ``libatomic`` cannot be loaded, :func:`operations` raises :class:`AtomicsUnavailableError`
saying what to install; nothing falls back to a lock (a lock would not exclude the Rust side).
"""

import ctypes
import ctypes.util
import sys

from ._errors import ShmRingError

_SEQ_CST = 5


class AtomicsUnavailableError(ShmRingError):
    """The atomic operations a buffer pool needs cannot be loaded (``libatomic`` is missing)."""


class Atomics:
    """Compare-exchange on 8-byte words and fetch-add on 4-byte words, at absolute
    addresses (of a mapping the caller keeps alive)."""

    __slots__ = ("_cas", "_add")

    def __init__(self, library):
        # getattr: a name starting with two underscores would be mangled inside a class.
        cas = getattr(library, "__atomic_compare_exchange_8")
        cas.argtypes = (
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_uint64),
            ctypes.c_uint64,
            ctypes.c_int,
            ctypes.c_int,
        )
        cas.restype = ctypes.c_bool
        add = getattr(library, "__atomic_fetch_add_4")
        add.argtypes = (ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int)
        add.restype = ctypes.c_uint32
        self._cas = cas
        self._add = add

    def compare_exchange(self, address, expected, desired):
        """Replace the 8-byte word at ``address`` by ``desired`` if it holds ``expected``.
        Returns ``(True, expected)`` on success, ``(False, found)`` otherwise."""
        cell = ctypes.c_uint64(expected)
        done = self._cas(address, ctypes.byref(cell), desired, _SEQ_CST, _SEQ_CST)
        return bool(done), cell.value

    def fetch_add(self, address, value):
        """Add ``value`` (modulo 2**32) to the 4-byte word at ``address``; return the old
        value."""
        return self._add(address, value & 0xFFFFFFFF, _SEQ_CST)


_library = None


def operations():
    """A new :class:`Atomics`. Raises AtomicsUnavailableError where libatomic is missing or
    the host is not a little-endian 64-bit one."""
    global _library
    if sys.byteorder != "little" or ctypes.sizeof(ctypes.c_void_p) != 8:
        raise AtomicsUnavailableError(
            "buffer pools need a little-endian 64-bit host; this one is {}-endian with "
            "{}-byte pointers".format(sys.byteorder, ctypes.sizeof(ctypes.c_void_p))
        )
    if _library is None:
        path = ctypes.util.find_library("atomic")
        candidates = [path] if path else []
        candidates += ["libatomic.so.1", "libatomic.dylib"]
        errors = []
        for candidate in candidates:
            try:
                library = ctypes.CDLL(candidate)
                library.__atomic_compare_exchange_8
                library.__atomic_fetch_add_4
            except (OSError, AttributeError) as error:
                errors.append("{}: {}".format(candidate, error))
                continue
            _library = library
            break
        else:
            raise AtomicsUnavailableError(
                "buffer pools need the C compiler's atomic runtime, libatomic, for "
                "compare-exchange on shared memory; install it (Debian/Ubuntu: apt-get install "
                "libatomic1; Fedora: dnf install libatomic). Tried: {}".format("; ".join(errors))
            )
    return Atomics(_library)


def address_of(mm):
    """The address of the first byte of the writable mmap ``mm``. The ctypes object that
    exposes it is dropped at once, so no buffer export keeps the mmap from closing."""
    anchor = ctypes.c_char.from_buffer(mm)
    address = ctypes.addressof(anchor)
    del anchor
    return address
