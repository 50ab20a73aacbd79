"""shm_ring.cleanup: of segments whose owners live in child processes and segments whose owners
were killed (SIGKILL), only the dead owners' segments are listed and removed; a dry run removes
nothing; a segment with another live user, a ring of the original layout and an object of
another program are never touched. Every case works under a name prefix of its own."""

import unittest

import shm_ring
from shm_ring import _cleanup, _segment

from .support import CONSUMER_CHILD, PRODUCER_CHILD, Child, RawSegment, exists, unique_name, unlink_quietly

#: A child owning a SharedBuffer ``name`` with a payload in it.
BUFFER_CHILD = (
    "import sys, shm_ring\n"
    "buffer = shm_ring.SharedBuffer.create(sys.argv[1], 4096)\n"
    "buffer.write(b'payload')\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)

#: A child that opens the SharedBuffer ``name`` and writes it (taking its writer lock).
WRITER_CHILD = (
    "import sys, shm_ring\n"
    "buffer = shm_ring.SharedBuffer.open(sys.argv[1])\n"
    "buffer.write(b'another payload')\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)

#: A child owning a buffer pool ``name`` of 2 slots of 64 bytes.
POOL_CHILD = (
    "import sys, shm_ring\n"
    "pool = shm_ring.BufferPool.create(sys.argv[1], 2, 64)\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)

#: A child that opens the buffer pool ``name`` and holds a slot (its liveness lock).
HOLDER_CHILD = (
    "import sys, shm_ring\n"
    "pool = shm_ring.BufferPool.open(sys.argv[1])\n"
    "loan = pool.try_acquire()\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)


class CleanupTest(unittest.TestCase):
    def setUp(self):
        self.prefix = unique_name("gc")

    def name(self, what):
        name = "{}-{}".format(self.prefix, what)
        self.addCleanup(unlink_quietly, name)
        return name

    def child(self, code, *args):
        child = Child(code, *args).wait_ready()
        self.addCleanup(child.kill)
        return child

    def cleanup(self, dry_run):
        report = shm_ring.cleanup(dry_run=dry_run, prefix=self.prefix)
        self.assertEqual(report.failures, [])
        return [tuple(orphan) for orphan in report.orphans]

    def test_only_the_segments_of_killed_owners_are_listed_and_removed(self):
        names = {what: self.name(what) for what in (
            "ring-dead", "ring-live", "buf-dead", "buf-live", "pool-dead", "pool-live",
            "orig", "foreign",
        )}
        ring_dead = self.child(PRODUCER_CHILD, names["ring-dead"], 4096, 1)
        self.child(PRODUCER_CHILD, names["ring-live"], 4096, 1)
        buffer_dead = self.child(BUFFER_CHILD, names["buf-dead"])
        self.child(BUFFER_CHILD, names["buf-live"])
        pool_dead = self.child(POOL_CHILD, names["pool-dead"])
        self.child(POOL_CHILD, names["pool-live"])
        original = RawSegment(names["orig"], 16 + 256, capacity=256)
        foreign = RawSegment(names["foreign"], 4096)
        foreign.mm[0:15] = b"not one of ours"
        self.addCleanup(original.mm.close)
        self.addCleanup(foreign.mm.close)

        self.assertEqual(self.cleanup(True), [])
        for child in (ring_dead, buffer_dead, pool_dead):
            child.kill()
        expected = [
            (names["buf-dead"], "shared buffer", _cleanup.BUFFER_OWNER_GONE),
            (names["pool-dead"], "buffer pool", _cleanup.POOL_OWNER_GONE),
            (names["ring-dead"], "extended ring", _cleanup.RING_ENDS_GONE),
        ]
        self.assertEqual(self.cleanup(True), expected)
        for name in names.values():
            self.assertTrue(exists(name), "the dry run removed " + name)

        self.assertEqual(self.cleanup(False), expected)
        for what, name in names.items():
            self.assertEqual(exists(name), not what.endswith("-dead"), name)
        for what in ("ring-live", "buf-live", "pool-live"):
            self.assertTrue(_segment.producer_alive(names[what]), what)
        self.assertEqual(self.cleanup(False), [])

    def test_a_segment_with_a_live_user_besides_its_dead_owner_is_kept(self):
        ring, buffer, pool = self.name("ring"), self.name("buf"), self.name("pool")
        ring_owner = self.child(PRODUCER_CHILD, ring, 4096, 0)
        ring_user = self.child(CONSUMER_CHILD, ring)
        buffer_owner = self.child(BUFFER_CHILD, buffer)
        pool_owner = self.child(POOL_CHILD, pool)
        pool_user = self.child(HOLDER_CHILD, pool)
        for child in (ring_owner, buffer_owner, pool_owner):
            child.kill()
        # The owner held the writer lock; once it is gone, another process writes.
        buffer_user = self.child(WRITER_CHILD, buffer)
        self.assertEqual(self.cleanup(False), [])
        for name in (ring, buffer, pool):
            self.assertTrue(exists(name), name + " was removed")
        for child in (ring_user, buffer_user, pool_user):
            child.kill()
        self.assertEqual([orphan[0] for orphan in self.cleanup(False)], [buffer, pool, ring])

    def test_a_name_replaced_after_the_check_is_left_alone(self):
        name = self.name("race")
        owner = self.child(PRODUCER_CHILD, name, 4096, 0)
        owner.kill()
        self.assertEqual(_cleanup._judge_name(name), ("extended ring", _cleanup.RING_ENDS_GONE))
        # Between the check and the removal, the name comes to refer to an original-layout
        # ring (whose owner no lock tells about), then to a live producer's ring.
        shm_ring.remove_forced(name)
        original = RawSegment(name, 16 + 256, capacity=256)
        self.addCleanup(original.mm.close)
        self.assertIsNone(_cleanup._remove_orphan(name))
        self.assertTrue(exists(name))
        shm_ring.remove_forced(name)
        with shm_ring.ShmProducer(name, 4096):
            self.assertIsNone(_cleanup._remove_orphan(name))
            self.assertTrue(_segment.producer_alive(name))

    def test_a_prefix_must_be_a_string(self):
        with self.assertRaises(TypeError):
            shm_ring.cleanup(prefix=b"x")


if __name__ == "__main__":
    unittest.main()
