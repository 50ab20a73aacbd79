"""The consumer of ``cargo run --release --example frames``: receives 1080p RGBA frames through
a large-message ring and shows each as a NumPy array of shape (1080, 1920, 4) over the pool
slot in place (no copy), checks it, and prints a line per frame and a summary.

    python3 interop/python/examples/frames_consumer.py RING FRAMES

Frame i's pixel (x, y) is (x mod 256, y mod 256, i mod 256, 255). Exits 0 when every frame
arrived whole and in place, 1 otherwise, 2 without NumPy.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from shm_ring import LargeReceiver, ShmConsumer  # noqa: E402

try:
    import numpy
except ImportError:
    print("frames_consumer: NumPy is required: pip install numpy", file=sys.stderr)
    sys.exit(2)

WIDTH, HEIGHT, CHANNELS = 1920, 1080, 4
TIMEOUT = 60.0


def check(frame, index):
    """What is wrong with frame ``index``, or None."""
    if not (frame[:, :, 2] == index % 256).all():
        return "blue channel is not the frame number"
    if not (frame[:, :, 3] == 255).all():
        return "alpha is not 255"
    if not (frame[:, :, 0] == numpy.arange(WIDTH, dtype=numpy.uint16) % 256).all():
        return "red channel is not x mod 256"
    if not (frame[:, :, 1].T == numpy.arange(HEIGHT, dtype=numpy.uint16) % 256).all():
        return "green channel is not y mod 256"
    return None


def main(argv):
    if len(argv) != 2:
        print("usage: frames_consumer.py RING FRAMES", file=sys.stderr)
        return 1
    ring, frames = argv[0], int(argv[1])
    bad = 0
    with LargeReceiver(ShmConsumer(ring, timeout=TIMEOUT)) as receiver:
        for index in range(frames):
            with receiver.recv(TIMEOUT) as message:
                frame = numpy.frombuffer(message.data, dtype=numpy.uint8)
                frame = frame.reshape(HEIGHT, WIDTH, CHANNELS)
                # A view of the slot: NumPy owns no data, and the bytes cannot be written.
                in_place = message.is_by_reference and not frame.flags.owndata
                problem = check(frame, index) if in_place else "copied, not a view of the slot"
                del frame  # the slot goes back to the pool when the message is released
            if problem is None:
                print(
                    "frame {}: {}x{}x{} uint8 array over the pool slot, in place: ok".format(
                        index, HEIGHT, WIDTH, CHANNELS
                    ),
                    flush=True,
                )
            else:
                bad += 1
                print("frame {}: BAD: {}".format(index, problem), flush=True)
    print(
        "consumer: {} frames received, {} ok, {} bad, read in place as NumPy arrays".format(
            frames, frames - bad, bad
        ),
        flush=True,
    )
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
