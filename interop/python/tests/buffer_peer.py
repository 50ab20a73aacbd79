"""A shared-buffer peer that the Rust tests (tests/buffer.rs) drive across processes.

    buffer_peer.py write NAME CAPACITY LENGTH   create NAME, write LENGTH pattern bytes, print
                                                "ready", hold it until a line on stdin
    buffer_peer.py read NAME                    print {"len": n, "hex": "..."} of the payload
    buffer_peer.py torn-write NAME LEN_A LEN_B  create NAME, print "ready", write payloads A and
                                                B in turn until a line on stdin, print the count
    buffer_peer.py torn-read NAME N             read until N whole copies of each payload were
                                                seen; print the counts as JSON
    buffer_peer.py early-read BASE ROUNDS LEN   print "ready"; for each round R, open BASE-R as
                                                soon as it exists and is ready (spinning), read
                                                it, and print "whole" if it is the LEN-byte
                                                ramp (byte i is i mod 256), else "bad LENGTH"

Payload A is LEN_A bytes of 0xA5, payload B is LEN_B bytes of 0x5A. Errors print the
exception's class name and message on one line and exit 1.
"""

import json
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from shm_ring import SharedBuffer  # noqa: E402
from shm_ring._buffer import ContendedError  # noqa: E402
from shm_ring._errors import NotFoundError, NotReadyError  # noqa: E402


def pattern(length):
    return bytes((i * 7 + 3) & 0xFF for i in range(length))


def ramp(length):
    """``length`` bytes, byte i being i mod 256."""
    return (bytes(range(256)) * (length // 256 + 1))[:length]


def classify(data, len_a, len_b):
    """'a', 'b', or 'bad' for a payload read during the torn-read test."""
    if len(data) == len_a and data == b"\xa5" * len_a:
        return "a"
    if len(data) == len_b and data == b"\x5a" * len_b:
        return "b"
    return "bad"


def main(argv):
    command = argv[0]
    if command == "write":
        name, capacity, length = argv[1], int(argv[2]), int(argv[3])
        with SharedBuffer.create(name, capacity) as buffer:
            buffer.write(pattern(length))
            print("ready", flush=True)
            sys.stdin.readline()
    elif command == "read":
        with SharedBuffer.open(argv[1]) as buffer:
            data = buffer.read()
            print(json.dumps({"len": len(data), "hex": data.hex()}), flush=True)
    elif command == "torn-write":
        name, len_a, len_b = argv[1], int(argv[2]), int(argv[3])
        stop = threading.Event()
        payloads = (b"\xa5" * len_a, b"\x5a" * len_b)
        with SharedBuffer.create(name, max(len_a, len_b)) as buffer:
            threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
            buffer.write(payloads[0])
            print("ready", flush=True)
            writes = 1
            while not stop.is_set():
                buffer.write(payloads[writes & 1])
                writes += 1
            print(json.dumps({"writes": writes}), flush=True)
    elif command == "torn-read":
        name, wanted = argv[1], int(argv[2])
        counts = {"a": 0, "b": 0, "bad": 0, "contended": 0}
        with SharedBuffer.open(name) as buffer:
            len_a, len_b = int(argv[3]), int(argv[4])
            while counts["a"] < wanted or counts["b"] < wanted:
                try:
                    counts[classify(buffer.read(), len_a, len_b)] += 1
                except ContendedError:
                    counts["contended"] += 1
                if counts["bad"]:
                    break
        print(json.dumps(counts), flush=True)
    elif command == "early-read":
        base, rounds, length = argv[1], int(argv[2]), int(argv[3])
        expected = ramp(length)
        print("ready", flush=True)
        for r in range(rounds):
            while True:
                try:
                    buffer = SharedBuffer.open("{}-{}".format(base, r))
                    break
                except (NotFoundError, NotReadyError):
                    continue
            with buffer:
                data = buffer.read()
            print("whole" if data == expected else "bad {}".format(len(data)), flush=True)
    else:
        raise SystemExit("unknown command {!r}".format(command))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Exception as error:  # one line for the driving test
        print("{}: {}".format(type(error).__name__, error), file=sys.stderr)
        sys.exit(1)
