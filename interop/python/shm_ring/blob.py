"""The scene-buffer conformance program, the twin of the Rust example ``blob``::

    python3 -m shm_ring.blob write [--kind K] [--source S] [--lz4] [--keep] FILE
    python3 -m shm_ring.blob read [--sha256] DESCRIPTOR

``write`` puts FILE's bytes in a new scene buffer and prints its descriptor (one line of
JSON) on stdout; then it keeps the segment until a reader acknowledges having read it, and
removes it (with ``--keep``: leaves it and exits at once). It gives up, removing the segment,
if the segment's name is removed by someone else meanwhile or on SIGINT, SIGTERM or SIGHUP.

``read`` opens the scene buffer DESCRIPTOR names (the JSON text, or ``@FILE`` for a file
holding it), reads and checks the payload, acknowledges it, and writes it to stdout (with
``--sha256``: its SHA-256 in hexadecimal and a newline).

Exit status 0 on success; 1 with one line on stderr otherwise.
"""

import argparse
import hashlib
import signal
import sys

from ._errors import ShmRingError
from ._scene import SceneBuffer

#: How long the writer sleeps on the acknowledgement word before it looks whether its name
#: still exists (an acknowledgement wakes it at once).
NAME_CHECK_SECONDS = 1.0


class _Failure(Exception):
    """One line for stderr, exit status 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _Failure("{}: {}".format(self.prog, message))


def _parser():
    parser = _Parser(prog="blob", description="Hand a file's bytes to another process as a scene buffer.")
    commands = parser.add_subparsers(dest="command", metavar="{write,read}")
    commands.required = True
    write = commands.add_parser("write", help="write FILE into a scene buffer, print its descriptor")
    write.add_argument("--kind", default="Arbitrary", help="data kind (default Arbitrary)")
    write.add_argument("--source", default="", help="the writing application")
    write.add_argument("--lz4", action="store_true", help="LZ4-compress, if that is smaller")
    write.add_argument("--keep", action="store_true", help="leave the segment and exit at once")
    write.add_argument("file", metavar="FILE")
    read = commands.add_parser("read", help="read the scene buffer a descriptor names")
    read.add_argument("--sha256", action="store_true", help="print the payload's SHA-256")
    read.add_argument("descriptor", metavar="DESCRIPTOR", help="the JSON text, or @FILE")
    return parser


class _Interrupted(BaseException):
    """Raised by the signal handler. A BaseException, like KeyboardInterrupt, so that no
    ``except Exception`` on the way (a fallback around loading ctypes, say) swallows it."""


def _interrupt(signum, _frame):
    raise _Interrupted(signal.Signals(signum).name)


def _write(args):
    try:
        with open(args.file, "rb") as file:
            data = file.read()
    except OSError as error:
        raise _Failure("cannot read {}: {}".format(args.file, error.strerror or error))
    scene = SceneBuffer.write(data, kind=args.kind, source=args.source, lz4=args.lz4)
    try:
        sys.stdout.write(scene.descriptor_json() + "\n")
        sys.stdout.flush()
        if args.keep:
            scene.buffer._owner = False  # the name outlives this process
            return
        while not scene.wait_acknowledged(NAME_CHECK_SECONDS):
            if not scene.buffer.is_named():
                raise _Failure(
                    "segment {} was removed before any reader acknowledged it".format(scene.name)
                )
    except _Interrupted as signal_name:
        raise _Failure(
            "interrupted by {} before any reader acknowledged {}; removed it".format(
                signal_name, scene.name
            )
        )
    finally:
        scene.close()


def _read(args):
    text = args.descriptor
    if text.startswith("@"):
        try:
            with open(text[1:], "rb") as file:
                text = file.read()
        except OSError as error:
            raise _Failure("cannot read {}: {}".format(text[1:], error.strerror or error))
    with SceneBuffer.open(text) as scene:
        payload = scene.read()
        scene.acknowledge()
    if args.sha256:
        sys.stdout.write(hashlib.sha256(payload).hexdigest() + "\n")
        sys.stdout.flush()
    else:
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()


def main(argv=None):
    """Run the program; returns the exit status."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    try:
        args = _parser().parse_args(argv)
        if args.command == "write":
            _write(args)
        else:
            _read(args)
    except _Failure as failure:
        message = str(failure)
    except (ShmRingError, ValueError, OSError) as error:
        message = "blob {}: {}".format(args.command, error)
    except _Interrupted as signal_name:
        message = "blob: interrupted by {}".format(signal_name)
    else:
        return 0
    sys.stderr.write(" ".join(message.split("\n")) + "\n")
    sys.stderr.flush()
    return 1


if __name__ == "__main__":
    sys.exit(main())
