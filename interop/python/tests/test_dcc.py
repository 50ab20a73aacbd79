"""shm_ring.dcc: the reference's documented usage runs with only the import line changed, in one
process and across processes, with the calls, keyword arguments, attributes and return types
the reference documents, on shm_ring's guarantees."""

import gc
import os
import subprocess
import sys
import unittest

import shm_ring
from shm_ring import _scene
from shm_ring.dcc import (
    PayloadTooLargeError,
    PoolExhaustedError,
    PyBufferPool,
    PySceneDataKind,
    PySharedBuffer,
    PySharedSceneBuffer,
)

from .support import HANG_GUARD, Child, exists, peer_env

REQUIRE_LZ4 = os.environ.get("SHM_RING_REQUIRE_LZ4") == "1"

#: The reference's documented usage of its four names, as a program: the calls, keyword
#: arguments and results its documentation gives, with this package's import line. It prints
#: what it read back.
DOCUMENTED_USAGE = """\
from shm_ring.dcc import PyBufferPool, PySceneDataKind, PySharedBuffer, PySharedSceneBuffer

vertex_bytes = bytes(range(256)) * 4096

buf = PySharedBuffer.create(capacity=1024 * 1024)
written = buf.write(b"vertex data")
data = buf.read()
assert (written, data, buf.data_len(), buf.capacity()) == (11, b"vertex data", 11, 1024 * 1024)
same = PySharedBuffer.open(path=buf.path(), id=buf.id)
assert same.read() == b"vertex data"
same = PySharedBuffer.open(name=buf.name(), id=buf.id)
assert same.read() == b"vertex data"
descriptor = buf.descriptor_json()
buf.clear()
assert buf.data_len() == 0

buf = PySharedBuffer.create(capacity=1024, ttl_secs=60)
assert not buf.is_expired()

pool = PyBufferPool(capacity=4, buffer_size=1024 * 1024)
buf = pool.acquire()
buf.write(b"scene snapshot")
assert (pool.available(), pool.capacity(), pool.buffer_size()) == (3, 4, 1024 * 1024)
del buf
assert pool.available() == 4

ssb = PySharedSceneBuffer.write(
    data=vertex_bytes,
    kind=PySceneDataKind.Geometry,
    source_dcc="Maya",
    use_compression=True,
)
desc_json = ssb.descriptor_json()
recovered = ssb.read()
assert recovered == vertex_bytes
assert (ssb.kind, ssb.source_dcc, ssb.use_compression, ssb.size_bytes) == (
    PySceneDataKind.Geometry, "Maya", True, len(vertex_bytes))
other = PySharedSceneBuffer.from_descriptor_json(desc_json)
assert other.read() == vertex_bytes
print("ok", type(descriptor).__name__, type(desc_json).__name__)
"""

#: A child that writes a scene buffer (argv: compress 0/1, source or "-") and prints its
#: descriptor, then keeps it until told.
SCENE_WRITER = """\
import sys
from shm_ring.dcc import PySceneDataKind, PySharedSceneBuffer
data = bytes(range(256)) * 1000
source = None if sys.argv[2] == "-" else sys.argv[2]
ssb = PySharedSceneBuffer.write(data=data, kind=PySceneDataKind.AnimationCache,
                                source_dcc=source, use_compression=sys.argv[1] == "1")
print("ready", flush=True)
print(ssb.descriptor_json(), flush=True)
sys.stdin.read()
del ssb  # the writer's segment goes with it
"""

#: A child that creates a shared buffer, writes it and prints its path and id.
BUFFER_WRITER = """\
import sys
from shm_ring.dcc import PySharedBuffer
buf = PySharedBuffer.create(capacity=100)
buf.write(b"from another process")
print("ready", flush=True)
print(buf.path(), buf.id, flush=True)
sys.stdin.read()
del buf
"""

#: A child that resolves a pool reference (argv: JSON) and prints the payload.
POOL_READER = """\
import sys
from shm_ring import BufferPool, PoolRef
reference = PoolRef.from_json(sys.argv[1])
pool = BufferPool.open(reference.pool)
with pool.resolve(reference) as view:
    print(view.tobytes().decode(), flush=True)
"""


class DccTest(unittest.TestCase):
    def tearDown(self):
        # Buffers and pools kept alive by a caught exception's traceback are collected here,
        # not during a later test module's run.
        gc.collect()

    def need_lz4(self):
        if _scene._lz4_block is None:
            message = "the Python package lz4 is not installed: pip install lz4"
            if REQUIRE_LZ4:
                self.fail(message)
            self.skipTest(message)

    def child(self, code, *args):
        child = Child(code, *args).wait_ready()
        self.addCleanup(child.kill)
        return child

    def finish(self, child):
        """Let the child end (it removes its segment) and wait for it."""
        child.process.stdin.close()
        self.assertEqual(child.process.wait(HANG_GUARD), 0, child.process.stderr.read())

    def test_the_documented_usage_runs_with_only_the_import_changed(self):
        self.need_lz4()
        done = subprocess.run(
            [sys.executable, "-c", DOCUMENTED_USAGE],
            env=peer_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=HANG_GUARD,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout, "ok str str\n")

    def test_a_scene_buffer_is_read_from_its_descriptor_in_another_process(self):
        cases = [("0", "Houdini"), ("0", "-")]
        if _scene._lz4_block is not None or REQUIRE_LZ4:
            cases.append(("1", "Maya"))
        for compress, source in cases:
            writer = self.child(SCENE_WRITER, compress, source)
            desc_json = writer.process.stdout.readline()
            ssb = PySharedSceneBuffer.from_descriptor_json(desc_json)
            self.assertEqual(ssb.read(), bytes(range(256)) * 1000)
            self.assertIs(ssb.kind, PySceneDataKind.AnimationCache)
            self.assertEqual(ssb.source_dcc, None if source == "-" else source)
            self.assertIs(ssb.use_compression, compress == "1")
            self.assertEqual((ssb.size_bytes, ssb.total_bytes), (256000, 256000))
            self.assertIsInstance(ssb.id, str)
            del ssb
            self.finish(writer)

    def test_a_shared_buffer_is_opened_by_path_or_name_and_id_in_another_process(self):
        writer = self.child(BUFFER_WRITER)
        path, buffer_id = writer.process.stdout.readline().split()
        for opened in (
            PySharedBuffer.open(path=path, id=buffer_id),
            PySharedBuffer.open(name=path, id=buffer_id),
            PySharedBuffer.open(path),
        ):
            self.assertEqual(opened.read(), b"from another process")
            self.assertEqual((opened.data_len(), opened.capacity()), (20, 100))
            self.assertEqual((opened.path(), opened.name(), opened.id), (path, path, buffer_id))
        with self.assertRaises(ValueError):
            PySharedBuffer.open(path=path, id="not-its-id")
        with self.assertRaises(TypeError):
            PySharedBuffer.open(id=buffer_id)
        with self.assertRaises(shm_ring.NotFoundError):
            PySharedBuffer.open(path=path + "x")
        del opened
        self.finish(writer)
        self.assertFalse(exists(path))

    def test_calls_return_the_documented_types(self):
        buf = PySharedBuffer.create(capacity=8)
        self.assertIs(type(buf.write(bytearray(b"abc"))), int)
        self.assertIs(type(buf.read()), bytes)
        self.assertIs(type(buf.data_len()), int)
        self.assertIs(type(buf.capacity()), int)
        self.assertIs(type(buf.id), str)
        self.assertIs(type(buf.path()), str)
        self.assertIs(type(buf.descriptor_json()), str)
        self.assertIsNone(buf.clear())
        ssb = PySharedSceneBuffer.write(data=b"mesh", kind=PySceneDataKind.Screenshot)
        self.assertIs(type(ssb.read()), bytes)
        self.assertIs(type(ssb.descriptor_json()), str)
        self.assertEqual((ssb.source_dcc, ssb.use_compression, ssb.size_bytes), (None, False, 4))
        self.assertEqual([kind.name for kind in PySceneDataKind],
                         ["Geometry", "AnimationCache", "Screenshot", "Arbitrary"])

    def test_a_write_past_the_capacity_raises_a_runtime_error_and_writes_nothing(self):
        buf = PySharedBuffer.create(capacity=4)
        buf.write(b"keep")
        with self.assertRaises(RuntimeError) as raised:
            buf.write(b"12345")
        self.assertIsInstance(raised.exception, shm_ring.PayloadTooLargeError)
        self.assertEqual(buf.read(), b"keep")
        pooled = PyBufferPool(capacity=1, buffer_size=4).acquire()
        pooled.write(b"keep")
        with self.assertRaises(PayloadTooLargeError):
            pooled.write(b"12345")
        self.assertEqual((pooled.read(), pooled.data_len(), pooled.capacity()), (b"keep", 4, 4))

    def test_an_exhausted_pool_raises_and_a_dropped_buffer_goes_back(self):
        pool = PyBufferPool(capacity=2, buffer_size=64)
        first, second = pool.acquire(), pool.acquire()
        self.assertEqual(pool.available(), 0)
        with self.assertRaises(RuntimeError) as raised:
            pool.acquire()
        self.assertIsInstance(raised.exception, PoolExhaustedError)
        self.assertIsInstance(raised.exception, shm_ring.PoolExhaustedError)
        # The pool is one segment: another handle sees the same slots taken.
        other = shm_ring.BufferPool.open(pool.name())
        self.addCleanup(other.close)
        self.assertEqual(other.available(), 0)
        del first
        self.assertEqual((pool.available(), other.available()), (1, 1))
        second.clear()
        self.assertEqual(second.read(), b"")
        del second
        self.assertEqual(pool.available(), 2)

    def test_a_pooled_buffer_published_is_read_and_released_by_another_process(self):
        pool = PyBufferPool(capacity=1, buffer_size=64)
        buf = pool.acquire()
        buf.write(b"pooled payload")
        reference = buf.descriptor_json()
        self.assertEqual(pool.available(), 0)
        done = subprocess.run(
            [sys.executable, "-c", POOL_READER, reference],
            env=peer_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=HANG_GUARD,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout, "pooled payload\n")
        self.assertEqual(pool.available(), 1)

    def test_the_writer_owns_the_segment(self):
        buf = PySharedBuffer.create(capacity=16)
        path = buf.path()
        ssb = PySharedSceneBuffer.write(data=b"x")
        scene_segment = ssb.id
        self.assertTrue(exists(path) and exists(scene_segment))
        del buf, ssb
        self.assertFalse(exists(path) or exists(scene_segment))


if __name__ == "__main__":
    unittest.main()
