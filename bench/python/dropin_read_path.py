"""The drop-in module's Python consumer (``interop/python/shm_channel.py``), for the bench:
the same ``has_data()`` + ``read()`` loop as ``original_read_path.py``.

    PYTHONPATH=interop/python python3 dropin_read_path.py NAME COUNT SIZE
"""

import os
import sys
import time

from shm_channel import ShmConsumer


def open_when_ready(name):
    """Wait for the producer to create and initialise the segment."""
    while True:
        try:
            return ShmConsumer(name)
        except FileNotFoundError:  # missing, or not initialised yet
            time.sleep(0.001)


def main():
    name, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    consumer = open_when_ready(name)
    # Every message is published and the producer has finished (it gives up waiting for the
    # ring to drain and removes the name) before the clock starts, and the clock is this
    # process's CPU time: the figure is the read path's own cost, whatever else the machine
    # runs, with nobody to wake.
    while consumer.readable_bytes() < count * (4 + size) or os.path.exists("/dev/shm/" + name):
        time.sleep(0.001)
    received = 0
    start = time.process_time()
    while received < count:
        if consumer.has_data():
            data = consumer.read()
            if data is not None:
                received += 1
    seconds = time.process_time() - start
    print('{{"msgs_per_sec":{:.1f}}}'.format(count / seconds if seconds > 0 else 0.0))


if __name__ == "__main__":
    main()
