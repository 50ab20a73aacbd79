"""PEP 517 build hooks for shm_ring: setuptools, plus a fallback wheel writer.

Every hook is setuptools' own (``setuptools.build_meta``) whenever setuptools can build wheels,
i.e. with setuptools >= 70.1 or with the ``wheel`` package installed. Older setuptools without
``wheel`` (for example the setuptools a fresh Python 3.11 venv ships, used offline with
``pip install --no-build-isolation --no-index``) cannot build any wheel. In that case the wheel
is written here instead, with the standard library: metadata comes from setuptools (which reads
pyproject.toml), the files are the pure-Python package, and the layout follows the wheel
specification (PEP 427: METADATA, WHEEL and RECORD with sha256 digests).

setuptools writes ``build/`` and ``shm_ring.egg-info`` into the directory it runs in, so its
hooks run in a scratch copy of the source tree: building or installing from a checkout leaves the
checkout as it was. Editable installs are the exception: they must point at the tree itself.
"""

import base64
import functools
import hashlib
import os
import re
import shutil
import tempfile
import zipfile
from io import StringIO

from setuptools import build_meta as _setuptools

PACKAGE = "shm_ring"
# Top-level modules beside the package: the original library's module names.
MODULES = ("shm_channel", "byte_ring_buffer")


def _setuptools_builds_wheels():
    try:
        import setuptools.command.bdist_wheel  # noqa: F401  (setuptools >= 70.1)

        return True
    except ImportError:
        pass
    try:
        import wheel.bdist_wheel  # noqa: F401

        return True
    except ImportError:
        return False


# What a scratch copy leaves out: outputs of earlier builds, not sources.
_NOT_SOURCES = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", "*.pyc")


def _out_of_tree(hook):
    """``hook``, run with a scratch copy of the source tree as its working directory.

    The only strings PEP 517 passes to hooks are directories (for the results, or
    ``metadata_directory``): they are made absolute first, so that results still land where
    the frontend asked.
    """

    def absolute(value):
        return os.path.abspath(value) if isinstance(value, str) else value

    @functools.wraps(hook)
    def run(*args, **kwargs):
        args = [absolute(value) for value in args]
        kwargs = {key: absolute(value) for key, value in kwargs.items()}
        source = os.getcwd()
        with tempfile.TemporaryDirectory(prefix="shm_ring_build-") as scratch:
            tree = os.path.join(scratch, "tree")
            shutil.copytree(source, tree, ignore=_NOT_SOURCES)
            os.chdir(tree)
            try:
                return hook(*args, **kwargs)
            finally:
                os.chdir(source)

    return run


get_requires_for_build_sdist = _out_of_tree(_setuptools.get_requires_for_build_sdist)
build_sdist = _out_of_tree(_setuptools.build_sdist)

if _setuptools_builds_wheels():
    get_requires_for_build_wheel = _out_of_tree(_setuptools.get_requires_for_build_wheel)
    prepare_metadata_for_build_wheel = _out_of_tree(_setuptools.prepare_metadata_for_build_wheel)
    build_wheel = _out_of_tree(_setuptools.build_wheel)
    get_requires_for_build_editable = _setuptools.get_requires_for_build_editable
    prepare_metadata_for_build_editable = _setuptools.prepare_metadata_for_build_editable
    build_editable = _setuptools.build_editable
else:

    def get_requires_for_build_wheel(config_settings=None):
        return []

    def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
        return _write_wheel(wheel_directory)


def _digest(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def _write_wheel(wheel_directory):
    from setuptools.dist import Distribution

    dist = Distribution()
    dist.parse_config_files()
    name = re.sub(r"[-_.]+", "_", dist.get_name())
    version = dist.get_version()
    metadata = StringIO()
    dist.metadata.write_pkg_file(metadata)
    info = "{}-{}.dist-info".format(name, version)
    files = []
    for entry in sorted(os.listdir(PACKAGE)):
        # py.typed: the marker of PEP 561 that the package carries type information.
        if entry.endswith(".py") or entry == "py.typed":
            with open(os.path.join(PACKAGE, entry), "rb") as source:
                files.append(("{}/{}".format(PACKAGE, entry), source.read()))
    for module in MODULES:
        with open(module + ".py", "rb") as source:
            files.append((module + ".py", source.read()))
    files.append((info + "/METADATA", metadata.getvalue().encode("utf-8")))
    wheel_file = (
        "Wheel-Version: 1.0\n"
        "Generator: shm_ring_build\n"
        "Root-Is-Purelib: true\n"
        "Tag: py3-none-any\n"
    )
    files.append((info + "/WHEEL", wheel_file.encode("ascii")))
    top_level = "".join(name + "\n" for name in (PACKAGE,) + MODULES)
    files.append((info + "/top_level.txt", top_level.encode("ascii")))
    record = "".join("{},{},{}\n".format(path, _digest(data), len(data)) for path, data in files)
    record += info + "/RECORD,,\n"
    files.append((info + "/RECORD", record.encode("utf-8")))
    filename = "{}-{}-py3-none-any.whl".format(name, version)
    with zipfile.ZipFile(
        os.path.join(wheel_directory, filename), "w", compression=zipfile.ZIP_DEFLATED
    ) as archive:
        for path, data in files:
            archive.writestr(path, data)
    return filename
