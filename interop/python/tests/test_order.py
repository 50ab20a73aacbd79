"""Memory-ordering barriers: when they are used, and the ring working with them forced on."""

import io
import platform
import threading
import unittest

from shm_ring import ShmConsumer, ShmProducer, _order

from . import test_layout, test_ring, test_segment, test_wake
from .support import unique_name, unlink_quietly


class BarrierChoiceTest(unittest.TestCase):
    def test_only_x86_machines_go_without_barriers(self):
        machine = platform.machine().lower()
        x86 = machine in ("x86_64", "amd64", "i386", "i486", "i586", "i686", "x86")
        self.assertEqual(_order.NEEDS_FENCE, not x86)
        for other in ("aarch64", "arm64", "armv7l", "ppc64le", "riscv64", "s390x"):
            self.assertNotIn(other, _order._TSO_MACHINES)

    def test_rings_follow_the_choice(self):
        name = unique_name("f")
        self.addCleanup(unlink_quietly, name)
        saved = _order.force_fence
        self.addCleanup(setattr, _order, "force_fence", saved)
        _order.force_fence = False
        with ShmProducer(name, 64) as producer, ShmConsumer(name) as consumer:
            self.assertEqual(producer._fence is not None, _order.NEEDS_FENCE)
            self.assertEqual(consumer._fence is not None, _order.NEEDS_FENCE)
        _order.force_fence = True
        with ShmProducer(name, 64) as producer, ShmConsumer(name) as consumer:
            self.assertIsNotNone(producer._fence)
            self.assertIsNotNone(consumer._fence)

    def test_barrier_never_blocks(self):
        fence = _order.make_fence()

        def many():
            for _ in range(10000):
                fence()

        thread = threading.Thread(target=many, daemon=True)
        thread.start()
        thread.join(120)
        self.assertFalse(thread.is_alive(), "the barrier blocked")


class BarrierForcedSuiteTest(unittest.TestCase):
    """Runs the in-process suites again with barriers on, counting that they are issued."""

    def test_in_process_suites_pass_with_barriers_forced_on(self):
        issued = [0]
        original = _order.make_fence

        def counting_make_fence():
            fence = original()

            def counted():
                issued[0] += 1
                fence()

            return counted

        saved = _order.force_fence
        _order.force_fence = True
        _order.make_fence = counting_make_fence
        try:
            loader = unittest.TestLoader()
            suite = unittest.TestSuite(
                loader.loadTestsFromModule(module)
                for module in (test_layout, test_ring, test_segment, test_wake)
            )
            output = io.StringIO()
            result = unittest.TextTestRunner(stream=output, verbosity=1).run(suite)
        finally:
            _order.make_fence = original
            _order.force_fence = saved
        self.assertTrue(result.wasSuccessful(), output.getvalue())
        self.assertGreater(result.testsRun, 50)
        self.assertGreater(issued[0], 5000)


if __name__ == "__main__":
    unittest.main()
