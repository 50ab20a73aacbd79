"""The package installs with pip, offline, into a fresh venv and works from outside the tree."""

import os
import subprocess
import sys
import tempfile
import unittest

from .support import HANG_GUARD, PACKAGE_DIR, exists, unique_name, unlink_quietly


def run(command, **kwargs):
    return subprocess.run(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
        timeout=HANG_GUARD,
        **kwargs
    )


class PackagingTest(unittest.TestCase):
    def test_offline_install_into_a_venv(self):
        with tempfile.TemporaryDirectory() as home:
            venv = os.path.join(home, "venv")
            made = run([sys.executable, "-m", "venv", venv])
            self.assertEqual(made.returncode, 0, made.stdout)
            python = os.path.join(venv, "bin", "python")
            env = {
                key: value
                for key, value in os.environ.items()
                if key not in ("PYTHONPATH", "PYTHONHOME", "PIP_REQUIRE_VIRTUALENV")
            }
            installed = run(
                [python, "-m", "pip", "install", "--no-build-isolation", "--no-index", PACKAGE_DIR],
                env=env,
                cwd=home,
            )
            self.assertEqual(installed.returncode, 0, installed.stdout)

            where = run([python, "-c", "import shm_ring, sys; print(shm_ring.__file__)"], env=env, cwd=home)
            self.assertEqual(where.returncode, 0, where.stdout)
            location = os.path.realpath(where.stdout.strip())
            self.assertTrue(location.startswith(os.path.realpath(venv)), location)
            self.assertFalse(location.startswith(os.path.realpath(PACKAGE_DIR)), location)

            # The original library's module names are installed beside the package.
            for module in ("shm_channel", "byte_ring_buffer"):
                where = run(
                    [python, "-c", "import {0}; print({0}.__file__)".format(module)],
                    env=env,
                    cwd=home,
                )
                self.assertEqual(where.returncode, 0, where.stdout)
                location = os.path.realpath(where.stdout.strip())
                self.assertTrue(location.startswith(os.path.realpath(venv)), location)

            name = unique_name("pkg")
            self.addCleanup(unlink_quietly, name)
            args = ["--name", name, "--count", "500", "--min-size", "1", "--max-size", "300"]
            producer = subprocess.Popen(
                [python, "-m", "shm_ring", "producer"] + args + ["--capacity", "1024"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env, cwd=home,
            )
            consumer = subprocess.Popen(
                [python, "-m", "shm_ring", "consumer"] + args,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env, cwd=home,
            )
            consumer_out, consumer_err = consumer.communicate(timeout=HANG_GUARD)
            producer_out, producer_err = producer.communicate(timeout=HANG_GUARD)
            self.assertEqual(consumer.returncode, 0, consumer_err)
            self.assertEqual(producer.returncode, 0, producer_err)
            self.assertTrue(consumer_out.startswith('{"role":"consumer","messages":500,'), consumer_out)
            self.assertTrue(producer_out.startswith('{"role":"producer","messages":500,'), producer_out)
            self.assertFalse(exists(name))

            usage = run([python, "-m", "shm_ring"], env=env, cwd=home)
            self.assertEqual(usage.returncode, 1)
            self.assertIn("expected 'producer' or 'consumer'", usage.stdout)


if __name__ == "__main__":
    unittest.main()
