"""Memory ordering between the data copy and the index words.

The protocol needs release/acquire ordering: a producer's payload bytes must become visible
before the ``head`` that publishes them, and a consumer must finish reading a record before
the ``tail`` that frees it. Pure Python has no fence instruction, so this module picks one of
two strategies per machine:

* x86 and x86-64 order stores after stores and loads after loads in hardware (total store
  order), and CPython performs each slice copy and each index store as separate C calls that
  the compiler cannot merge or reorder. Nothing extra is needed there, and nothing is done.

* On every other CPU (AArch64, ARM, POWER, RISC-V, ...) each ring keeps a private
  ``threading.Lock`` that it holds, and issues a *barrier* by releasing it and at once taking it
  back. In CPython, releasing a lock is an atomic operation with release ordering and taking it
  is an atomic operation with acquire ordering (``sem_post``/``sem_trywait`` or a mutex on
  CPython <= 3.12, atomic compare-and-swap in ``PyMutex`` from 3.13). A release followed in
  program order by an acquire is ordered on AArch64 (its release/acquire instructions are
  sequentially consistent with respect to each other) and on ARMv7 and POWER (the release is a
  ``dmb``/``lwsync`` barrier), so every memory access before the pair is ordered before every
  access after it. The barrier is placed after each load of the other side's index and before
  each store of one's own index (once per batch in the batch paths). The lock is private and
  never contended, so the pair never blocks. Other weakly ordered CPUs (RISC-V, ...) get the
  same barrier, but its strength there depends on how the C library implements locks.

``force_fence`` (a module attribute) turns the barrier on regardless of the machine; the test
suite uses it to run the ring code with barriers on an x86-64 host. It is read when a producer
or consumer is created.
"""

import platform
import threading

# Machines whose memory model is total store order (platform.machine() spellings, lowercased).
_TSO_MACHINES = frozenset(
    ("x86_64", "amd64", "x64", "i386", "i486", "i586", "i686", "x86", "i86pc")
)

#: True when this machine needs real barriers (anything but x86 / x86-64).
NEEDS_FENCE = platform.machine().lower() not in _TSO_MACHINES

#: Set to True to use barriers even on x86 / x86-64 (tests). Read at create/open time.
force_fence = False


def fence_enabled():
    """Whether rings created now will issue barriers."""
    return NEEDS_FENCE or force_fence


def make_fence():
    """Return a barrier function backed by a private, held, never-contended lock."""
    lock = threading.Lock()
    lock.acquire()
    release = lock.release
    acquire = lock.acquire

    def fence():
        # An interrupt raised once release() has returned must not leave the lock released
        # (the next fence would then fail): the acquire runs whatever happens.
        try:
            release()
        finally:
            acquire()

    return fence


def fence_for_new_ring():
    """The barrier function a new producer or consumer uses, or None when none is needed."""
    return make_fence() if fence_enabled() else None
