"""Removing a segment by name, for whoever asks (not only its producer)."""

from ._layout import bare_name
from ._segment import remove_segment


def remove(name: str) -> None:
    """Remove the segment ``name`` (with or without a leading '/'), unless a live producer
    holds it.

    A producer of this package, of the Rust crate or of the C++ header holds a lock on its
    segment for as long as its process lives: while it does, this raises InUseError and
    removes nothing. Otherwise (a dead producer, or one of the original library, which
    announces nothing) the name is removed while this process holds that lock, so a producer
    starting meanwhile never loses its new segment. Consumers that have the segment open keep
    reading it; new ones no longer find it. Raises NotFoundError (a FileNotFoundError) for a
    missing name, InvalidNameError for an invalid one, PermissionDeniedError when the OS
    refuses. To remove a live producer's segment too, use ``remove_forced``.

    >>> producer = ShmProducer("frames", 4096)                  # doctest: +SKIP
    >>> remove("frames")                                        # doctest: +SKIP
    Traceback (most recent call last):
    shm_ring.InUseError: shared-memory segment 'frames' is in use: its producer is alive
    >>> producer.close(); remove("frames")                      # doctest: +SKIP
    """
    remove_segment(bare_name(name), False)


def remove_forced(name: str) -> None:
    """Remove the segment ``name`` whatever holds it, as ``rm /dev/shm/NAME`` does.

    A live producer keeps writing into its segment and its attached consumer keeps reading,
    but no new consumer finds it, and the producer's own ``unlink()`` then finds nothing to
    remove. Raises NotFoundError for a missing name, InvalidNameError for an invalid one,
    PermissionDeniedError when the OS refuses. Prefer ``remove``, which leaves a live
    producer's segment alone.

    >>> remove_forced("frames")                                 # doctest: +SKIP
    """
    remove_segment(bare_name(name), True)
