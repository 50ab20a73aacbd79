"""A consumer written only against the original library's API (the ``shm_channel`` module), as
its programs are: waits for the segment to appear, then polls ``has_data()`` and reads the
conformance stream, checking every message.

    python3 consumer.py NAME COUNT SIZE     prints "read COUNT messages"; exit status 1 on a
                                            mismatch
"""

import sys
import time

from shm_channel import ShmConsumer


def main():
    name, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    while True:
        try:
            consumer = ShmConsumer(name)
            break
        except FileNotFoundError:
            time.sleep(0.001)
    with consumer:
        i = 0
        while i < count:
            if not consumer.has_data():
                time.sleep(0.0001)
                continue
            data = consumer.read()
            expected = bytes((i * 7 + j) % 251 for j in range(size))
            if data != expected:
                sys.stderr.write(
                    "consumer: message {} is {!r}..., expected {!r}...\n".format(
                        i, data[:16], expected[:16]
                    )
                )
                sys.exit(1)
            i += 1
    print("read {} messages".format(count))


if __name__ == "__main__":
    main()
