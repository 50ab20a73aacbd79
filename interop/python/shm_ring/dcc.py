"""The Python names of dcc-mcp-core's shared-memory API, on top of shm_ring.

Programs written against ``dcc_mcp_core``'s documented ``PySharedBuffer``, ``PyBufferPool``,
``PySharedSceneBuffer`` and ``PySceneDataKind`` run unchanged apart from the import line::

    from shm_ring.dcc import PyBufferPool, PySceneDataKind, PySharedBuffer, PySharedSceneBuffer

    ssb = PySharedSceneBuffer.write(
        data=vertex_bytes,
        kind=PySceneDataKind.Geometry,
        source_dcc="Maya",
        use_compression=True,
    )
    desc_json = ssb.descriptor_json()              # send it to another process, then there:
    recovered = PySharedSceneBuffer.from_descriptor_json(desc_json).read()

Underneath are shm_ring's own classes, so the calls keep shm_ring's guarantees: a reader in
another process never sees a torn or mixed payload (``SharedBuffer``'s seqlock), a scene
buffer's read checks its length, sequence and CRC-32 and records its compression in the
descriptor (LZ4 is never guessed), and ``PyBufferPool`` is a cross-process ``BufferPool``:
``available()`` counts the slots free in every process, and a slot held by a process that
dies is reclaimed. docs/DCC.md maps every call to the shm_ring API it uses.

Errors are shm_ring's; where the reference raises ``RuntimeError`` (a write past the
capacity, an exhausted pool), the error raised here is also a ``RuntimeError``.
"""

import enum
import time

from ._buffer import PayloadTooLargeError as _PayloadTooLargeError
from ._buffer import SharedBuffer
from ._layout import bare_name
from ._pool import BufferPool
from ._pool import PoolExhaustedError as _PoolExhaustedError
from ._scene import SceneBuffer, SceneKind

__all__ = [
    "PySceneDataKind",
    "PySharedBuffer",
    "PyBufferPool",
    "PySharedSceneBuffer",
    "PayloadTooLargeError",
    "PoolExhaustedError",
]

#: The prefix of the names shm_ring generates for shared buffers; ``id`` is the rest.
_GENERATED_PREFIX = "srb-"


class PayloadTooLargeError(_PayloadTooLargeError, RuntimeError):
    """A write past the buffer's capacity (nothing written): shm_ring's PayloadTooLargeError,
    and a RuntimeError as the reference raises. Attributes: ``name``, ``length``,
    ``capacity``."""


class PoolExhaustedError(_PoolExhaustedError, RuntimeError):
    """Every slot of the pool is taken: shm_ring's PoolExhaustedError, and a RuntimeError as
    the reference raises. Attributes: ``name``, ``slots``."""


class PySceneDataKind(enum.Enum):
    """The kind of a scene buffer's data. Each value is the kind's name in a shm_ring scene
    descriptor (``SceneKind``)."""

    Geometry = SceneKind.GEOMETRY
    AnimationCache = SceneKind.ANIMATION_CACHE
    Screenshot = SceneKind.SCREENSHOT
    Arbitrary = SceneKind.ARBITRARY


def _kind_name(kind):
    """The descriptor's kind name for a PySceneDataKind (or a kind name given as str)."""
    if isinstance(kind, PySceneDataKind):
        return kind.value
    if isinstance(kind, str):
        return kind
    raise TypeError("kind must be a PySceneDataKind, not {}".format(type(kind).__name__))


def _kind_of(name):
    """The PySceneDataKind of a descriptor's kind name; a user-defined kind stays a str."""
    try:
        return PySceneDataKind(name)
    except ValueError:
        return name


def _id_of(name):
    """The ``id`` of the buffer named ``name``: a generated name without its prefix."""
    if name.startswith(_GENERATED_PREFIX):
        return name[len(_GENERATED_PREFIX):]
    return name


def _too_large(error):
    return PayloadTooLargeError(error.name, error.length, error.capacity)


class PySharedBuffer:
    """A named shared buffer of fixed capacity (shm_ring's ``SharedBuffer``), or, as returned
    by :meth:`PyBufferPool.acquire`, one slot of a buffer pool.

    ``PySharedBuffer.create(capacity=...)`` makes one (mode 0600, a generated name) and owns
    it: the name is removed when the object is collected. ``path()`` (also ``name()``) and
    ``id`` name it for :meth:`open` in another process.
    """

    __slots__ = ("_buffer", "_loan", "_pool", "_length", "id", "_ttl_secs", "_created")

    def __init__(self, buffer=None, loan=None, pool=None, ttl_secs=0):
        self._buffer = buffer
        self._loan = loan
        self._pool = pool
        self._length = 0
        self._ttl_secs = ttl_secs
        self._created = time.monotonic()
        if buffer is not None:
            #: The buffer's id (str): with :meth:`path`, what :meth:`open` takes.
            self.id = _id_of(buffer.name)
        else:
            self.id = "{}-{}".format(pool.name, loan.slot)

    # -- making and opening ------------------------------------------------------------------

    @classmethod
    def create(cls, capacity, ttl_secs=0):
        """A new buffer of ``capacity`` bytes (an int, 1 to 2**46) under a generated name.
        ``ttl_secs`` > 0: :meth:`is_expired` is true that many seconds after creation.
        Raises shm_ring's InvalidCapacityError (a ValueError) for another capacity."""
        return cls(buffer=SharedBuffer.create(None, capacity), ttl_secs=ttl_secs)

    @classmethod
    def open(cls, path=None, id=None, name=None):
        """Open the buffer ``path`` (or ``name``: the reference's current spelling) in this or
        another process. ``id``, when given, must be the buffer's :attr:`id`. Raises
        shm_ring's NotFoundError for a missing buffer, ValueError for an ``id`` that is not
        the buffer's, TypeError without a path or name."""
        if path is None:
            path = name
        elif name is not None and name != path:
            raise ValueError("path {!r} and name {!r} differ".format(path, name))
        if path is None:
            raise TypeError("open() needs path=... (or name=...)")
        bare = bare_name(path)
        if id is not None and id != _id_of(bare):
            raise ValueError("id {!r} is not the id of buffer {!r} ({!r})".format(id, bare, _id_of(bare)))
        return cls(buffer=SharedBuffer.open(bare))

    # -- naming ------------------------------------------------------------------------------

    def path(self):
        """The name :meth:`open` takes (str): the segment's name, or a pooled slot's pool."""
        if self._buffer is not None:
            return self._buffer.name
        return self._pool.name

    def name(self):
        """:meth:`path`, as the reference's current release spells it."""
        return self.path()

    # -- the payload ---------------------------------------------------------------------------

    def write(self, data):
        """Replace the payload with ``data`` (any bytes-like object); return its length (int).
        Raises PayloadTooLargeError (a RuntimeError) past the capacity, writing nothing."""
        if self._buffer is not None:
            try:
                return self._buffer.write(data)
            except _PayloadTooLargeError as error:
                raise _too_large(error) from None
        view = memoryview(data).cast("B")
        capacity = self.capacity()
        if view.nbytes > capacity:
            raise PayloadTooLargeError(self.path(), view.nbytes, capacity)
        self._loan.copy_from(view)
        self._length = view.nbytes
        return view.nbytes

    def read(self):
        """The payload as bytes (a copy; a shared buffer's is never torn or mixed)."""
        if self._buffer is not None:
            return self._buffer.read()
        part = self._loan.data[: self._length]
        try:
            return bytes(part)
        finally:
            part.release()

    def data_len(self):
        """The payload's length in bytes (int)."""
        if self._buffer is not None:
            return self._buffer.data_len()
        return self._length

    def capacity(self):
        """The largest payload in bytes (int)."""
        if self._buffer is not None:
            return self._buffer.capacity
        return self._pool.slot_size()

    def clear(self):
        """Empty the payload."""
        if self._buffer is not None:
            self._buffer.clear()
        else:
            self._length = 0

    def is_expired(self):
        """Whether ``ttl_secs`` (given to :meth:`create`; 0: never) have passed."""
        return self._ttl_secs > 0 and time.monotonic() - self._created >= self._ttl_secs

    def descriptor_json(self):
        """A JSON text (str) describing the buffer for another process.

        A shared buffer's is shm_ring's descriptor (``SharedBuffer.open_descriptor`` in Python,
        ``SharedBuffer::open_descriptor`` in Rust opens it). A pooled slot's publishes the
        slot and is its pool reference (``PoolRef.to_json()``: resolve it with
        ``shm_ring.BufferPool.open(name).resolve(PoolRef.from_json(text))``); the object can
        then no longer be written or read."""
        if self._buffer is not None:
            return self._buffer.descriptor()
        return self._loan.publish(self._length).to_json()

    def __repr__(self):
        return "PySharedBuffer(path={!r}, id={!r}, capacity={})".format(
            self.path(), self.id, self.capacity()
        )


class PyBufferPool:
    """``capacity`` buffers of ``buffer_size`` bytes, reused: a shm_ring ``BufferPool`` (one
    segment, mode 0600, shared by every process that opens it by :meth:`name`).

    :meth:`acquire` lends a free slot as a :class:`PySharedBuffer`; it goes back to the pool
    when that object is collected (or its ``descriptor_json()`` publishes it to a reader,
    whose release gives it back)."""

    __slots__ = ("_pool",)

    def __init__(self, capacity, buffer_size):
        self._pool = BufferPool.create_unique(capacity, buffer_size)

    def acquire(self):
        """A free slot as a :class:`PySharedBuffer` (empty). Raises PoolExhaustedError (a
        RuntimeError) when every slot is taken, in any process."""
        try:
            loan = self._pool.try_acquire()
        except _PoolExhaustedError as error:
            raise PoolExhaustedError(error.name, error.slots) from None
        return PySharedBuffer(loan=loan, pool=self._pool)

    def available(self):
        """How many slots are free now, in every process (int)."""
        return self._pool.available()

    def capacity(self):
        """The number of slots (int)."""
        return self._pool.capacity()

    def buffer_size(self):
        """The size of each slot in bytes (int)."""
        return self._pool.slot_size()

    def name(self):
        """The pool's segment name, for ``shm_ring.BufferPool.open`` in another process."""
        return self._pool.name

    def __repr__(self):
        return "PyBufferPool(capacity={}, buffer_size={})".format(
            self.capacity(), self.buffer_size()
        )


class PySharedSceneBuffer:
    """A payload with its kind, source application and optional LZ4 compression, in a shared
    buffer of its own (shm_ring's ``SceneBuffer``), handed to another process by its JSON
    descriptor. The writing object owns the segment: keep it until the readers have read."""

    __slots__ = ("_scene",)

    def __init__(self, scene):
        self._scene = scene

    @classmethod
    def write(cls, data, kind=PySceneDataKind.Arbitrary, source_dcc=None, use_compression=False):
        """Store ``data`` (any bytes-like object) in a new scene buffer. ``kind``: a
        PySceneDataKind (or a user-defined kind name); ``source_dcc``: the writing application
        (str or None); ``use_compression``: LZ4, kept only when smaller (needs the ``lz4``
        package: ``pip install ./interop/python[lz4]``; without it, Lz4UnavailableError says
        so). Raises shm_ring's DescriptorError for a bad kind or source."""
        scene = SceneBuffer.write(
            data,
            kind=_kind_name(kind),
            source="" if source_dcc is None else source_dcc,
            lz4=bool(use_compression),
        )
        return cls(scene)

    @classmethod
    def from_descriptor_json(cls, json):
        """Open, in any process, the scene buffer a :meth:`descriptor_json` text describes.
        Raises shm_ring's DescriptorError, DescriptorMismatchError, NotFoundError..."""
        return cls(SceneBuffer.open(json))

    def read(self):
        """The payload as bytes, after checking its length, sequence and CRC-32 (shm_ring's
        SceneReadError subclasses otherwise; Lz4UnavailableError for a compressed payload
        without the lz4 package)."""
        return self._scene.read()

    def descriptor_json(self):
        """The descriptor (str): one line of JSON, shm_ring's scene schema."""
        return self._scene.descriptor_json()

    @property
    def kind(self):
        """The PySceneDataKind (a user-defined kind: its name, a str)."""
        return _kind_of(self._scene.kind)

    @property
    def source_dcc(self):
        """The writing application (str), or None if none was given."""
        return self._scene.source or None

    @property
    def use_compression(self):
        """Whether the payload is stored LZ4-compressed (bool): asked for, and smaller."""
        return self._scene.descriptor.compression == "lz4"

    @property
    def size_bytes(self):
        """The payload's length in bytes, uncompressed (int)."""
        return len(self._scene)

    @property
    def total_bytes(self):
        """:attr:`size_bytes`, as the reference's current release spells it."""
        return self.size_bytes

    @property
    def id(self):
        """The segment's name (str)."""
        return self._scene.name

    def __repr__(self):
        return "PySharedSceneBuffer(id={!r}, kind={!r}, size_bytes={})".format(
            self.id, self.kind, self.size_bytes
        )
