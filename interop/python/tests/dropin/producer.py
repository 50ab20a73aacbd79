"""A producer written only against the original library's API (the ``shm_channel`` module), as
its programs are: creates the ring, writes the conformance stream with the retry loop
``while not producer.write(data): pass``, waits until the consumer has read everything, and
removes the segment.

    python3 producer.py NAME COUNT SIZE     prints "wrote COUNT messages"
"""

import sys
import time

from shm_channel import ShmProducer


def main():
    name, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with ShmProducer(name, 4096) as producer:
        for i in range(count):
            data = bytes((i * 7 + j) % 251 for j in range(size))
            while not producer.write(data):
                pass
        while producer.writeable_bytes() != producer.capacity:
            time.sleep(0.001)
    print("wrote {} messages".format(count))


if __name__ == "__main__":
    main()
