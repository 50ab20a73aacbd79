"""A large-message peer that the Rust tests (tests/large.rs) drive across processes.

    large_peer.py send NAME SLOTS SLOT_SIZE THRESHOLD LEN...
        create ring NAME (64 KiB) and a pool of SLOTS slots of SLOT_SIZE bytes, print
        "created", send message i of length LEN[i] (the conformance stream's bytes), check that
        SLOT_SIZE + 1 bytes is refused, print "sent", wait for a line on stdin.
    large_peer.py recv NAME THRESHOLD LEN...
        attach a receiver to ring NAME, print "attached", receive one message per LEN, check
        its length, bytes and whether it travelled by reference (LEN > THRESHOLD), print
        "received N BY_REFERENCE".

Errors print the exception's class name and message on one line and exit 1.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from shm_ring import (  # noqa: E402
    BufferPool,
    LargeReceiver,
    LargeSender,
    MessageTooLargeError,
    ShmConsumer,
    ShmProducer,
)

TIMEOUT = 60.0


def stream_message(i, length):
    """The conformance stream's message ``i`` (docs/PROTOCOL.md)."""
    return bytes((i * 7 + j) % 251 for j in range(length))


def main(argv):
    command = argv[0]
    if command == "send":
        name, slots, slot_size, threshold = argv[1], int(argv[2]), int(argv[3]), int(argv[4])
        lengths = [int(n) for n in argv[5:]]
        pool = BufferPool.create_unique(slots, slot_size)
        with LargeSender(ShmProducer(name, 1 << 16), pool, inline_threshold=threshold) as sender:
            print("created", flush=True)
            for i, length in enumerate(lengths):
                sender.send(stream_message(i, length), timeout=TIMEOUT)
            try:
                sender.send(bytes(slot_size + 1), timeout=TIMEOUT)
                raise AssertionError("a message one byte larger than a slot was sent")
            except MessageTooLargeError:
                pass
            print("sent", flush=True)
            sys.stdin.readline()
    elif command == "recv":
        name, threshold = argv[1], int(argv[2])
        lengths = [int(n) for n in argv[3:]]
        with LargeReceiver(ShmConsumer(name, timeout=TIMEOUT)) as receiver:
            print("attached", flush=True)
            by_reference = 0
            for i, length in enumerate(lengths):
                with receiver.recv(TIMEOUT) as message:
                    if len(message) != length:
                        raise AssertionError("message {}: {} bytes, expected {}".format(
                            i, len(message), length))
                    if message.data != stream_message(i, length):
                        raise AssertionError("message {} arrived changed".format(i))
                    if message.is_by_reference != (length > threshold):
                        raise AssertionError("message {} of {} bytes: by reference {}".format(
                            i, length, message.is_by_reference))
                    by_reference += message.is_by_reference
            print("received {} {}".format(len(lengths), by_reference), flush=True)
    else:
        raise SystemExit("unknown command {!r}".format(command))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Exception as error:  # one line, for the driving test
        print("{}: {}".format(type(error).__name__, error), file=sys.stderr)
        sys.exit(1)
