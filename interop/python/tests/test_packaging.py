"""The package installs with pip, offline, into a fresh venv and works from outside the tree."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from .support import HANG_GUARD, PACKAGE_DIR, exists, unique_name, unlink_quietly


# A PEP 517 frontend reduced to its calls, in the order pip and `python -m build` make them,
# run in the source tree with the results going to the directory given as argument.
FRONTEND = """
import sys
sys.path.insert(0, "_backend")
import shm_ring_build as backend
out = sys.argv[1]
backend.get_requires_for_build_sdist(None)
backend.build_sdist(out)
backend.get_requires_for_build_wheel(None)
if hasattr(backend, "prepare_metadata_for_build_wheel"):
    backend.prepare_metadata_for_build_wheel(out)
backend.build_wheel(out)
"""


def listing(tree):
    """Every path under ``tree``, relative to it."""
    found = []
    for directory, subdirectories, files in os.walk(tree):
        for entry in subdirectories + files:
            found.append(os.path.relpath(os.path.join(directory, entry), tree))
    return sorted(found)


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
            # The PEP 561 marker: type checkers read the package's annotations.
            self.assertTrue(os.path.isfile(os.path.join(os.path.dirname(location), "py.typed")))

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

    def test_building_leaves_the_source_tree_as_it_was(self):
        # Built from a copy, so that a test run never writes into the checkout either.
        with tempfile.TemporaryDirectory() as home:
            tree = os.path.join(home, "python")
            shutil.copytree(
                PACKAGE_DIR, tree, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
            )
            before = listing(tree)
            out = os.path.join(home, "out")
            os.mkdir(out)
            built = run([sys.executable, "-c", FRONTEND, out], cwd=tree)
            self.assertEqual(built.returncode, 0, built.stdout)
            self.assertEqual(listing(tree), before, "the build wrote into the source tree")
            results = sorted(os.listdir(out))
            self.assertTrue(any(name.endswith(".tar.gz") for name in results), results)
            self.assertTrue(any(name.endswith(".whl") for name in results), results)


if __name__ == "__main__":
    unittest.main()
