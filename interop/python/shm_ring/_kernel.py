"""Kernel services behind sleeping and liveness: futex, membarrier and OFD byte-range locks.

Everything here is optional. On a system or machine that lacks a facility, or when ``ctypes``,
the C library or a system call is missing or refuses, the functions say "unavailable" and the
callers fall back: blocking calls poll (short sleeps), liveness is "unknown". Nothing here
raises because a facility is missing.

* futex and membarrier are called through ``syscall(2)`` from the C library, with ``ctypes``,
  on Linux x86-64 and AArch64 (little-endian, 64-bit processes) only: those are the machines
  whose system-call numbers this module knows.
* Liveness locks are Linux open-file-description ("OFD") locks taken with ``fcntl``. They
  belong to the open file description, not to the process, so two rings in one process see
  each other's locks, and closing some other descriptor of the same object releases nothing.
* On Windows a segment's "descriptor" is a ``NamedLocks`` (below), and the lock on byte B is
  the named mutex ``<name>:lock<B>``, as in the Rust crate and the C++ header.

The switches ``use_futex``, ``use_membarrier`` and ``use_locks`` turn a facility off (tests use
them to exercise the fallbacks); like ``_order.force_fence`` they are read when a producer or
consumer is created or opened.
"""

import errno
import os
import struct
import sys

#: Flag bits, one flag byte per side in the extension block past the data area (see
#: ``_layout``): SLEEPING, this side is asleep (or about to be) in FUTEX_WAIT on the other
#: side's index word; LOCKED, it holds its liveness lock; BARRIER, its process is registered
#: for MEMBARRIER_CMD_GLOBAL_EXPEDITED.
SLEEPING = 0x01
LOCKED = 0x02
BARRIER = 0x04

#: The byte of the object each side locks for as long as it lives.
PRODUCER_LOCK_BYTE = 0
CONSUMER_LOCK_BYTE = 1

#: Test switches: set to False to behave as if the facility were missing.
use_futex = True
use_membarrier = True
use_locks = True

_FUTEX_WAIT = 0
_FUTEX_WAKE = 1
_MEMBARRIER_CMD_GLOBAL_EXPEDITED = 2
_MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED = 4

# (futex, membarrier) system-call numbers, by platform.machine().
_SYSCALL_NUMBERS = {
    "x86_64": (202, 324),
    "amd64": (202, 324),
    "aarch64": (98, 283),
    "arm64": (98, 283),
}

# futex errors that only mean "look again": the word changed, the time ran out, a signal.
_BENIGN = frozenset((errno.EAGAIN, errno.ETIMEDOUT, errno.EINTR))

_LINUX = sys.platform.startswith("linux")
_WINDOWS = sys.platform == "win32"


class _Calls:
    """The loaded system-call entry points (one instance, made on first use)."""

    __slots__ = ("ctypes", "syscall", "futex_nr", "membarrier_nr", "timespec", "futex_ok")


_calls = None  # None: not tried yet; False: unavailable; else a _Calls
_registered = {}  # pid -> whether membarrier registration succeeded in that process


def _machine():
    import platform

    return platform.machine().lower()


def _load():
    """Load ``syscall`` through ctypes once; return the _Calls or False."""
    global _calls
    if _calls is not None:
        return _calls
    result = False
    numbers = _SYSCALL_NUMBERS.get(_machine()) if _LINUX else None
    if numbers is not None and sys.byteorder == "little":
        try:
            import ctypes

            if ctypes.sizeof(ctypes.c_void_p) == 8:
                libc = ctypes.CDLL(None, use_errno=True)
                syscall = libc.syscall
                syscall.restype = ctypes.c_long

                class Timespec(ctypes.Structure):
                    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

                calls = _Calls()
                calls.ctypes = ctypes
                calls.syscall = syscall
                calls.futex_nr = ctypes.c_long(numbers[0])
                calls.membarrier_nr = ctypes.c_long(numbers[1])
                calls.timespec = Timespec
                # Does futex work at all? Waking nobody on a private word answers 0 if it does.
                probe = ctypes.c_uint32(0)
                calls.futex_ok = (
                    syscall(
                        calls.futex_nr,
                        ctypes.c_void_p(ctypes.addressof(probe)),
                        ctypes.c_long(_FUTEX_WAKE),
                        ctypes.c_long(1),
                        None,
                        None,
                        ctypes.c_long(0),
                    )
                    == 0
                )
                result = calls
        except Exception:  # no ctypes, no C library, no syscall symbol: poll instead
            result = False
    _calls = result
    return result


def futex_available():
    """Whether rings created now may sleep in and wake through futex."""
    if not use_futex:
        return False
    calls = _load()
    return bool(calls) and calls.futex_ok


def barrier_registered():
    """Register this process for MEMBARRIER_CMD_GLOBAL_EXPEDITED (once per process).

    Returns True if registered, so that the BARRIER flag may be advertised. Failure (ENOSYS,
    EINVAL, EPERM, ...) is not an error: the flag is simply not set.
    """
    if not use_membarrier:
        return False
    calls = _load()
    if not calls:
        return False
    pid = os.getpid()
    done = _registered.get(pid)
    if done is None:
        ctypes = calls.ctypes
        done = (
            calls.syscall(
                calls.membarrier_nr,
                ctypes.c_long(_MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED),
                ctypes.c_long(0),
                ctypes.c_long(0),
            )
            == 0
        )
        _registered[pid] = done
        if done:
            _register_children()
    return done


_fork_hook = False


def _register_children():
    """Have every child forked from now on register for membarrier too, once, at the fork.

    Registration belongs to a process; a child that inherits a ring whose flag byte says
    BARRIER and then uses it must be registered itself, or the barrier a sleeping peer issues
    would not cover its stores.
    """
    global _fork_hook
    register = getattr(os, "register_at_fork", None)
    if _fork_hook or register is None:
        return
    _fork_hook = True
    register(after_in_child=barrier_registered)


def membarrier_available():
    """Whether this process may issue MEMBARRIER_CMD_GLOBAL_EXPEDITED before sleeping."""
    return use_membarrier and bool(_load())


def barrier_all():
    """Issue a full memory barrier on every CPU running a registered process.

    Returns True on success, False if the kernel refused (the caller then uses short slices).
    """
    calls = _load()
    if not calls:
        return False
    ctypes = calls.ctypes
    return (
        calls.syscall(
            calls.membarrier_nr,
            ctypes.c_long(_MEMBARRIER_CMD_GLOBAL_EXPEDITED),
            ctypes.c_long(0),
            ctypes.c_long(0),
        )
        == 0
    )


def word_address(mm, offset):
    """The address of the 4-byte word at ``offset`` of the mmap ``mm``.

    The ctypes object that exposes it is dropped at once, so no buffer export keeps the mmap
    from closing; the address is only used while the ring is open (and so mapped).
    """
    ctypes = _load().ctypes
    word = ctypes.c_uint32.from_buffer(mm, offset)
    address = ctypes.addressof(word)
    del word
    return address


class Futex:
    """FUTEX_WAIT / FUTEX_WAKE (shared, not PRIVATE) on two words of one mapping."""

    __slots__ = ("_syscall", "_timespec", "_wait_args", "_wake_args", "_ctypes", "_byref")

    def __init__(self, wait_address, wake_address, wake_count=1):
        calls = _load()
        ctypes = calls.ctypes
        self._ctypes = ctypes
        self._byref = ctypes.byref
        self._syscall = calls.syscall
        self._timespec = calls.timespec
        self._wait_args = (calls.futex_nr, ctypes.c_void_p(wait_address), ctypes.c_long(_FUTEX_WAIT))
        self._wake_args = (
            calls.futex_nr,
            ctypes.c_void_p(wake_address),
            ctypes.c_long(_FUTEX_WAKE),
            ctypes.c_long(wake_count),
            None,
            None,
            ctypes.c_long(0),
        )

    def wait(self, expected, seconds):
        """Sleep while the wait word holds ``expected``, at most ``seconds``.

        Returns 0 when woken, or the errno: EAGAIN (the word was not ``expected``), ETIMEDOUT,
        EINTR, or anything else meaning futex does not work here.
        """
        if seconds < 0:
            seconds = 0.0
        whole = int(seconds)
        timeout = self._timespec(whole, int((seconds - whole) * 1e9))
        ctypes = self._ctypes
        nr, address, op = self._wait_args
        result = self._syscall(
            nr, address, op, ctypes.c_long(expected), self._byref(timeout), None, ctypes.c_long(0)
        )
        if result == 0:
            return 0
        return ctypes.get_errno() or errno.EINVAL

    def wake(self):
        """Wake ``wake_count`` sleepers (one by default) on the wake word (the word this side
        publishes)."""
        self._syscall(*self._wake_args)

    def wake_all(self):
        """Wake every sleeper on the wake word (a buffer pool's ``releases``)."""
        nr, address, op = self._wake_args[:3]
        everyone = self._ctypes.c_long(0x7FFFFFFF)
        self._syscall(nr, address, op, everyone, None, None, self._ctypes.c_long(0))


def is_benign(code):
    """Whether a futex wait result only means "look again"."""
    return code == 0 or code in _BENIGN


# -- OFD locks --------------------------------------------------------------------------------

# struct flock on 64-bit Linux: l_type, l_whence (short), padding, l_start, l_len (off_t),
# l_pid (pid_t), padding: 32 bytes.
_FLOCK = struct.Struct("hhxxxxqqixxxx")


def _fcntl():
    try:
        import fcntl
    except ImportError:  # pragma: no cover - every POSIX CPython has it
        return None
    return fcntl


def locks_available():
    """Whether liveness locks can be used: Linux, a 64-bit process, and the switch on."""
    if not (use_locks and _LINUX and struct.calcsize("P") == 8):
        return False
    return _fcntl() is not None


def _request(kind, byte, length=1):
    """A struct flock for ``length`` bytes from ``byte`` of the object, l_pid 0 (required)."""
    return _FLOCK.pack(kind, os.SEEK_SET, byte, length, 0)


def take_lock(fd, byte):
    """Take a write lock on ``byte`` of ``fd`` (F_OFD_SETLK, never blocking).

    Returns True if taken, False if another open file description holds it (EAGAIN/EACCES),
    None if OFD locks do not work here.
    """
    if _WINDOWS:
        return fd.take(byte) if use_locks else None
    if not locks_available():
        return None
    fcntl = _fcntl()
    command = getattr(fcntl, "F_OFD_SETLK", 37)
    try:
        fcntl.fcntl(fd, command, _request(fcntl.F_WRLCK, byte))
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES):
            return False
        return None
    return True


def release_lock(fd, byte):
    """Release this open file description's lock on ``byte`` of ``fd`` (F_OFD_SETLK with
    F_UNLCK). Returns True if done, None if OFD locks do not work here."""
    if not locks_available():
        return None
    fcntl = _fcntl()
    command = getattr(fcntl, "F_OFD_SETLK", 37)
    try:
        fcntl.fcntl(fd, command, _request(fcntl.F_UNLCK, byte))
    except OSError:
        return None
    return True


def lock_held(fd, byte, length=1):
    """Whether another open file description holds a lock on ``byte`` of ``fd`` (or on any of
    the ``length`` bytes from it: one call, whatever ``length``).

    F_OFD_GETLK takes nothing. Returns True / False, or None if the question cannot be asked.
    """
    if _WINDOWS:
        return fd.held_elsewhere(byte) if use_locks else None
    if not locks_available():
        return None
    fcntl = _fcntl()
    command = getattr(fcntl, "F_OFD_GETLK", 36)
    try:
        answer = fcntl.fcntl(fd, command, _request(fcntl.F_WRLCK, byte, length))
    except OSError:
        return None
    try:
        kind = _FLOCK.unpack(answer)[0]
    except struct.error:
        return None
    return kind != fcntl.F_UNLCK


# -- Windows: named mappings and named mutexes (never run here: see README) ------------------
#
# The same design as src/segment/windows.rs and detail/windows.hpp: every liveness mutex of
# the process is taken and released by one thread that lives as long as the process (Windows
# gives a mutex to a thread and abandons it when that thread ends), and a mutex's state is
# queried with NtQueryMutant, which takes nothing.


def _win32():
    """kernel32, advapi32 and ntdll through ctypes, with the signatures used here."""
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
    ntdll = ctypes.WinDLL("ntdll")
    kernel32.CreateMutexW.restype = wintypes.HANDLE
    kernel32.CreateMutexW.argtypes = (ctypes.c_void_p, wintypes.BOOL, wintypes.LPCWSTR)
    kernel32.OpenMutexW.restype = wintypes.HANDLE
    kernel32.OpenMutexW.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.LPCWSTR)
    kernel32.CreateFileMappingW.restype = wintypes.HANDLE
    kernel32.CreateFileMappingW.argtypes = (
        wintypes.HANDLE, ctypes.c_void_p, wintypes.DWORD, wintypes.DWORD, wintypes.DWORD,
        wintypes.LPCWSTR,
    )
    kernel32.OpenFileMappingW.restype = wintypes.HANDLE
    kernel32.OpenFileMappingW.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.LPCWSTR)
    kernel32.WaitForSingleObject.argtypes = (wintypes.HANDLE, wintypes.DWORD)
    kernel32.ReleaseMutex.argtypes = (wintypes.HANDLE,)
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    kernel32.LocalFree.argtypes = (ctypes.c_void_p,)
    advapi32.ConvertStringSecurityDescriptorToSecurityDescriptorW.argtypes = (
        wintypes.LPCWSTR, wintypes.DWORD, ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p,
    )
    return ctypes, kernel32, advapi32, ntdll


_MUTANT_QUERY_STATE = 0x0001
_SECTION_QUERY = 0x0001
_FILE_MAP_WRITE = 0x0002
_FILE_MAP_READ = 0x0004
_PAGE_READWRITE = 0x04
_WAIT_OBJECT_0 = 0x0
_WAIT_ABANDONED = 0x80
_ERROR_FILE_NOT_FOUND = 2
_ERROR_ALREADY_EXISTS = 183


def _security_attributes(ctypes, advapi32, mode):
    """SECURITY_ATTRIBUTES granting the owner everything ("OW"), and Everyone too when
    ``mode`` has a group or other bit; None if the descriptor cannot be built."""
    sddl = "D:P(A;;GA;;;OW)" + ("(A;;GA;;;WD)" if mode & 0o077 else "")
    descriptor = ctypes.c_void_p()
    if not advapi32.ConvertStringSecurityDescriptorToSecurityDescriptorW(
        sddl, 1, ctypes.byref(descriptor), None
    ):
        return None

    class SecurityAttributes(ctypes.Structure):
        _fields_ = [("length", ctypes.c_ulong), ("descriptor", ctypes.c_void_p),
                    ("inherit", ctypes.c_int)]

    return SecurityAttributes(ctypes.sizeof(SecurityAttributes), descriptor, 0)


class _Holder:
    """The thread that owns every liveness mutex of this process."""

    def __init__(self):
        import queue
        import threading

        self._requests = queue.Queue()
        threading.Thread(target=self._serve, name="shm_ring liveness", daemon=True).start()

    def call(self, *request):
        import queue

        answer = queue.Queue(1)
        self._requests.put((answer,) + request)
        return answer.get()

    def _serve(self):
        ctypes, kernel32, advapi32, _ = _win32()
        held = {}
        while True:
            answer, what, name, mode = self._requests.get()
            if what == "take":
                if name in held:
                    answer.put(False)
                    continue
                attributes = _security_attributes(ctypes, advapi32, mode)
                mutex = kernel32.CreateMutexW(
                    ctypes.byref(attributes) if attributes is not None else None, False, name
                )
                if not mutex:
                    answer.put(None)
                    continue
                if kernel32.WaitForSingleObject(mutex, 0) in (_WAIT_OBJECT_0, _WAIT_ABANDONED):
                    held[name] = mutex
                    answer.put(True)
                else:
                    kernel32.CloseHandle(mutex)
                    answer.put(False)
            else:
                mutex = held.pop(name, None)
                if mutex is not None:
                    kernel32.ReleaseMutex(mutex)
                    kernel32.CloseHandle(mutex)
                answer.put(None)


_holder = None


def _the_holder():
    global _holder
    if _holder is None:
        _holder = _Holder()
    return _holder


class NamedLocks:
    """A Windows segment's stand-in for a descriptor: its mapping's name and handle (kept
    open, so the mapping lives) and the liveness mutexes this end holds."""

    def __init__(self, name, mapping, mode=0o600):
        self.name = name
        self.mapping = mapping
        self.mode = mode
        self.held = set()

    def _mutex(self, byte):
        return "{}:lock{}".format(self.name, byte)

    def take(self, byte):
        """True if taken (or held already), False if a live end holds it, None on failure."""
        if byte in self.held:
            return True
        taken = _the_holder().call("take", self._mutex(byte), self.mode)
        if taken:
            self.held.add(byte)
        return taken

    def held_elsewhere(self, byte):
        """Whether another end holds the lock: True / False, or None if it cannot be told."""
        if byte in self.held:
            return False
        ctypes, kernel32, _, ntdll = _win32()
        mutex = kernel32.OpenMutexW(_MUTANT_QUERY_STATE, False, self._mutex(byte))
        if not mutex:
            return False if ctypes.get_last_error() == _ERROR_FILE_NOT_FOUND else None
        try:
            info = (ctypes.c_long * 2)()  # CurrentCount, then OwnedByCaller and AbandonedState
            if ntdll.NtQueryMutant(mutex, 0, info, ctypes.sizeof(info), None) < 0:
                return None
            return info[0] <= 0
        finally:
            kernel32.CloseHandle(mutex)

    def close(self):
        """Release this end's mutexes and close the mapping's handle. Idempotent."""
        for byte in sorted(self.held):
            _the_holder().call("release", self._mutex(byte), 0)
        self.held.clear()
        if self.mapping:
            _, kernel32, _, _ = _win32()
            kernel32.CloseHandle(self.mapping)
            self.mapping = None


def open_mapping(name):
    """(NamedLocks, size in bytes, whole pages) for the existing mapping ``name``; raises
    FileNotFoundError / PermissionError / OSError."""
    ctypes, kernel32, _, ntdll = _win32()
    mapping = kernel32.OpenFileMappingW(
        _FILE_MAP_READ | _FILE_MAP_WRITE | _SECTION_QUERY, False, name
    )
    if not mapping:
        raise ctypes.WinError(ctypes.get_last_error())
    info = (ctypes.c_longlong * 3)()  # BaseAddress, AllocationAttributes, MaximumSize
    if ntdll.NtQuerySection(mapping, 0, info, ctypes.sizeof(info), None) < 0:
        kernel32.CloseHandle(mapping)
        raise OSError(errno.EIO, "NtQuerySection failed for {!r}".format(name))
    return NamedLocks(name, mapping), info[2]


def create_mapping(name, size, mode):
    """A NamedLocks for a new mapping ``name`` of ``size`` bytes of the paging file, owner-only
    unless ``mode`` says otherwise; raises FileExistsError if the name exists."""
    ctypes, kernel32, advapi32, _ = _win32()
    attributes = _security_attributes(ctypes, advapi32, mode)
    mapping = kernel32.CreateFileMappingW(
        -1, ctypes.byref(attributes) if attributes is not None else None, _PAGE_READWRITE,
        size >> 32, size & 0xFFFFFFFF, name,
    )
    if not mapping:
        raise ctypes.WinError(ctypes.get_last_error())
    if ctypes.get_last_error() == _ERROR_ALREADY_EXISTS:
        kernel32.CloseHandle(mapping)
        raise FileExistsError(errno.EEXIST, "a mapping named {!r} exists".format(name))
    return NamedLocks(name, mapping, mode)
