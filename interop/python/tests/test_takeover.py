"""Taking over the producer role of an existing ring (``ShmProducer.open``): after a producer
process dies mid-stream, and on a ring of the original library's layout."""

import unittest

from shm_ring import InUseError, NotFoundError, PeerState, ShmConsumer, ShmProducer, _kernel
from shm_ring._layout import PRODUCER_FLAGS, extension_offset

from .support import HANG_GUARD, Child, RawSegment, exists, fstat, unique_name, unlink_quietly

#: A producer that dies mid-stream: ``name`` creates a ring of 4096 bytes, writes m0..m9, then
#: reserves room for m10, fills half of it and says ``ready`` (it is then killed).
PRODUCER_MID_COMMIT = (
    "import sys, shm_ring\n"
    "producer = shm_ring.ShmProducer(sys.argv[1], 4096)\n"
    "for i in range(10):\n"
    "    producer.write(b'm%d' % i, timeout=60)\n"
    "grant = producer.try_reserve(3)\n"
    "grant.as_slices()[0][:2] = b'm10'[:2]\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)


def message(i):
    return b"m%d" % i


class TakeoverTest(unittest.TestCase):
    def setUp(self):
        self.name = unique_name("to")
        self.addCleanup(unlink_quietly, self.name)

    def test_a_killed_producer_is_taken_over_without_loss(self):
        if not _kernel.locks_available():
            self.fail("this system has no OFD locks: a live producer cannot be told from a dead one")
        child = Child(PRODUCER_MID_COMMIT, self.name).wait_ready()
        self.addCleanup(child.kill)
        with ShmConsumer(self.name) as consumer:
            self.assertEqual(consumer.read(timeout=HANG_GUARD).into_bytes(), message(0))
            with self.assertRaises(InUseError) as caught:
                ShmProducer.open(self.name)
            self.assertEqual((caught.exception.name, caught.exception.holder), (self.name, "producer"))
            child.kill()
            self.assertIs(consumer.peer_state(), PeerState.GONE)
            successor = ShmProducer.open("/" + self.name)
            self.assertEqual((successor.name, successor.capacity), (self.name, 4096))
            self.assertIs(consumer.peer_state(), PeerState.ALIVE)
            self.assertIs(successor.peer_state(), PeerState.ALIVE)
            flag = successor._mm[extension_offset(4096) + PRODUCER_FLAGS]
            self.assertEqual(flag & (_kernel.LOCKED | _kernel.SLEEPING), _kernel.LOCKED)
            for i in range(10, 20):
                successor.write(message(i), timeout=HANG_GUARD)
            for i in range(1, 20):
                self.assertEqual(consumer.read(timeout=HANG_GUARD).into_bytes(), message(i), i)
            self.assertIsNone(consumer.try_read())
            successor.close()
            self.assertTrue(exists(self.name), "a producer that took over never unlinks")
            self.assertIs(consumer.peer_state(), PeerState.GONE)

    def test_a_ring_of_the_original_layout_is_written_on_by_a_producer_of_ours(self):
        # Made by another program, without the extension block, holding one unread message.
        raw = RawSegment(self.name, 16 + 64, capacity=64, head=1000, tail=1000)
        self.addCleanup(raw.close)
        head = raw.put_record(1000, b"left")
        raw.set_words(head=head)
        producer = ShmProducer.open(self.name)
        self.assertEqual(producer.capacity, 64)
        self.assertEqual(producer.readable_bytes(), 8)
        self.assertIs(producer.peer_state(), PeerState.UNKNOWN)
        self.assertTrue(producer.try_write(b"ours"))
        self.assertEqual(raw.word(0), head + 8, "the head moves on from where it was")
        self.assertEqual(raw.word(2), 64)
        self.assertEqual(raw.word(3), 0, "the header is left as the original library wrote it")
        self.assertEqual(fstat(self.name).st_size, 16 + 64)
        with ShmConsumer(self.name) as consumer:
            self.assertEqual(consumer.try_read().into_bytes(), b"left")
            self.assertEqual(consumer.try_read().into_bytes(), b"ours")
        # A tail that cannot be right reads as a full ring, never as room to overwrite.
        raw.set_words(tail=head + 8 - 65)
        producer.close()
        self.assertTrue(exists(self.name))
        with ShmProducer.open(self.name) as producer:
            self.assertEqual(producer.readable_bytes(), 64)
            self.assertFalse(producer.try_write(b"x"))
        self.assertEqual(raw.word(0), head + 8)

    def test_a_missing_ring_is_not_found(self):
        with self.assertRaises(NotFoundError):
            ShmProducer.open(self.name)
        self.assertFalse(exists(self.name))


if __name__ == "__main__":
    unittest.main()
