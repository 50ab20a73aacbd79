"""Large payloads from Python, beside references measured in the same run: shm_ring's pure-Python
SharedBuffer, libc memcpy (the reference), and the reference library dcc_mcp_core (its
documented Python API) when it is installed.

    PYTHONPATH=interop/python python3 bench/python/large_payloads.py [--runs N]

Prints a markdown section. Every figure is the median of N runs (default 5), minimum and maximum
in brackets; the workloads take turns, one run each per round. The payload is 64 MiB of float32
vertex-like data (a ramp, so LZ4 finds something to compress).
"""

import ctypes
import os
import sys
import time

os.environ.setdefault("RUST_LOG", "error")  # the reference library logs every buffer at debug

import numpy as np

from shm_ring import SharedBuffer

MIB = 1 << 20
PAYLOAD = 64 * MIB
SMALL = 64 * 1024
GIB = float(1 << 30)


def timed(function, repeat=1):
    start = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - start) / repeat


def spread(values, unit):
    """"median [min – max]" of ``values`` (seconds) in ``unit``, a number (lowest first)."""
    shown = sorted(unit(value) for value in values)
    return "{:.2f} [{:.2f} – {:.2f}]".format(shown[len(shown) // 2], shown[0], shown[-1])


def gibs(seconds):
    return PAYLOAD / GIB / seconds


def micros(seconds):
    return seconds * 1e6


def median(values):
    return sorted(values)[len(values) // 2]


def main():
    runs = 5
    if "--runs" in sys.argv:
        runs = int(sys.argv[sys.argv.index("--runs") + 1])
    source = (np.arange(PAYLOAD // 4, dtype=np.float32) % 4096).view(np.uint8)
    source_bytes = source.tobytes()
    target = np.empty_like(source)
    target[:] = 1  # touched before timing
    copy = ctypes.memmove
    source_at, target_at = source.ctypes.data, target.ctypes.data

    writer = SharedBuffer.create(None, PAYLOAD)
    reader = SharedBuffer.open(writer.name)
    small_writer = SharedBuffer.create(None, SMALL)
    small_reader = SharedBuffer.open(small_writer.name)
    small_writer.write(source[:SMALL])

    def as_numpy(buffer):
        def read():
            with buffer.read_in_place() as view:
                array = np.frombuffer(view.data, dtype=np.float32)
                array[-1]  # touch it: a real reader looks at the data
                del array
                view.verify()

        return read

    try:
        import dcc_mcp_core as dcc
    except ImportError:
        dcc = None

    figures = {}

    def record(name, value):
        figures.setdefault(name, []).append(value)

    # The reference's objects are made once, as ours are (a pooled buffer and a shared buffer
    # are meant to be written again and again).
    if dcc is not None:
        ref_pool = dcc.PyBufferPool(capacity=4, buffer_size=PAYLOAD)
        ref_buffer = dcc.PySharedBuffer.create(capacity=PAYLOAD)
    for read in (as_numpy(reader), as_numpy(small_reader)):
        timed(read, 1000)  # warm: the first reads map pages and fill caches
    for _ in range(runs):
        record("memcpy", timed(lambda: copy(target_at, source_at, PAYLOAD)))
        record("write", timed(lambda: writer.write(source)))
        record("read", timed(reader.read))
        record("numpy 64 MiB", timed(as_numpy(reader), 2000))
        record("numpy 64 KiB", timed(as_numpy(small_reader), 2000))
        if dcc is not None:
            scene = [None]

            def scene_write(compress):
                def write():
                    scene[0] = dcc.PySharedSceneBuffer.write(
                        data=source_bytes,
                        kind=dcc.PySceneDataKind.Geometry,
                        source_dcc="Maya",
                        use_compression=compress,
                    )

                return write

            record("ref scene write", timed(scene_write(False)))
            record("ref scene read", timed(lambda: scene[0].read()))
            record("ref scene write lz4", timed(scene_write(True)))
            record("ref scene read lz4", timed(lambda: scene[0].read()))
            scene[0] = None
            record("ref buffer write", timed(lambda: ref_buffer.write(source_bytes)))
            record("ref buffer read", timed(ref_buffer.read))

            def pooled_fill():
                buffer = ref_pool.acquire()
                buffer.write(source_bytes)
                del buffer

            record("ref pooled fill", timed(pooled_fill))

    memcpy = median(figures["memcpy"])

    def ratio(name):
        return "{:.2f}×".format(memcpy / median(figures[name]))

    print("\n## Large payloads from Python, 64 MiB\n")
    print("| what | GiB/s | ratio to memcpy |")
    print("|---|---|---|")
    print("| memcpy of 64 MiB (libc, through `ctypes.memmove`), the reference | {} | 1.00× |".format(spread(figures["memcpy"], gibs)))
    rows = [
        ("shm_ring `SharedBuffer.write(ndarray)`: a Python writer fills shared memory", "write"),
        ("shm_ring `SharedBuffer.read()`: a copy out, checked whole", "read"),
    ]
    if dcc is not None:
        rows += [
            ("dcc_mcp_core `PySharedSceneBuffer.write(data=…, use_compression=False)`", "ref scene write"),
            ("dcc_mcp_core scene buffer `read()`", "ref scene read"),
            ("dcc_mcp_core `PySharedSceneBuffer.write(…, use_compression=True)` (LZ4)", "ref scene write lz4"),
            ("dcc_mcp_core LZ4 scene buffer `read()`", "ref scene read lz4"),
            ("dcc_mcp_core `PySharedBuffer.write(data)`", "ref buffer write"),
            ("dcc_mcp_core `PySharedBuffer.read()`", "ref buffer read"),
            ("dcc_mcp_core `PyBufferPool.acquire()` + `write(data)` (pooled fill)", "ref pooled fill"),
        ]
    for label, name in rows:
        print("| {} | {} | {} |".format(label, spread(figures[name], gibs), ratio(name)))
    if dcc is None:
        print("\n(dcc_mcp_core is not installed: `pip install dcc-mcp-core` adds its rows.)")
    print(
        "\nshm_ring rows not measured here: the Python buffer pool and scene buffers with LZ4 "
        "are not part of this build."
    )
    print("\n| reading as a numpy array without a copy (`read_in_place` → `np.frombuffer` → `verify`) | µs per read |")
    print("|---|---|")
    print("| 64 MiB payload | {} |".format(spread(figures["numpy 64 MiB"], micros)))
    print("| 64 KiB payload | {} |".format(spread(figures["numpy 64 KiB"], micros)))
    for buffer in (reader, small_reader, writer, small_writer):
        buffer.close()


if __name__ == "__main__":
    main()
