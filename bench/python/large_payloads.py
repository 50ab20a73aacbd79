"""Large payloads from Python, beside references measured in the same run: shm_ring's pure-Python
shared buffers, pool and scene buffers against libc memcpy and against the reference library
dcc_mcp_core (its documented Python API) when it is installed.

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
    try:
        import lz4.block  # noqa: F401  (shm_ring's scene buffers compress with it)

        have_lz4 = True
    except ImportError:
        have_lz4 = False

    from shm_ring import BufferPool, SceneBuffer

    figures = {}

    def record(name, value):
        figures.setdefault(name, []).append(value)

    # Pools and shared buffers are made once on both sides (they are meant to be written again
    # and again); scene buffers are made per write on both sides, as their APIs do.
    pool = BufferPool.create_unique(4, PAYLOAD)
    if dcc is not None:
        ref_pool = dcc.PyBufferPool(capacity=4, buffer_size=PAYLOAD)
        ref_buffer = dcc.PySharedBuffer.create(capacity=PAYLOAD)

    def scene_round(compress):
        """Seconds to write a scene buffer and to read it back from its descriptor."""
        start = time.perf_counter()
        scene = SceneBuffer.write(source, kind="Geometry", source="Maya", lz4=compress)
        wrote = time.perf_counter() - start
        reader = SceneBuffer.open(scene.descriptor_json())
        start = time.perf_counter()
        data = reader.read()
        read = time.perf_counter() - start
        assert len(data) == PAYLOAD
        reader.close()
        scene.close()
        return wrote, read

    def ref_scene_round(compress):
        start = time.perf_counter()
        scene = dcc.PySharedSceneBuffer.write(
            data=source_bytes,
            kind=dcc.PySceneDataKind.Geometry,
            source_dcc="Maya",
            use_compression=compress,
        )
        wrote = time.perf_counter() - start
        start = time.perf_counter()
        data = scene.read()
        read = time.perf_counter() - start
        assert len(data) == PAYLOAD
        return wrote, read

    small_pool = BufferPool.create_unique(1, SMALL)

    def pool_as_numpy(pool, length, repeat):
        """Seconds per read of a published slot as a NumPy array: resolve, wrap, touch,
        release (the writer's acquire and publish are not timed)."""
        total = 0.0
        for _ in range(repeat):
            reference = pool.try_acquire().publish(length)
            start = time.perf_counter()
            view = pool.resolve(reference)
            array = np.frombuffer(view.data, dtype=np.float32)
            array[-1]
            del array
            view.release()
            total += time.perf_counter() - start
        return total / repeat

    def pooled_fill():
        # copy_from is the documented way to fill a slot from Python: it writes through the
        # pool's descriptor, with no mapping of the slot.
        loan = pool.try_acquire()
        loan.copy_from(source)
        loan.release()

    def ref_pooled_fill():
        buffer = ref_pool.acquire()
        buffer.write(source_bytes)
        del buffer

    writer.write(source)
    for read in (as_numpy(reader), as_numpy(small_reader)):
        timed(read, 1000)  # warm: the first reads map pages and fill caches
    for _ in range(runs):
        record("memcpy", timed(lambda: copy(target_at, source_at, PAYLOAD)))
        record("buffer write", timed(lambda: writer.write(source)))
        record("buffer read", timed(reader.read))
        record("pooled fill", timed(pooled_fill))
        record("numpy 64 MiB", timed(as_numpy(reader), 2000))
        record("numpy 64 KiB", timed(as_numpy(small_reader), 2000))
        record("pool numpy 64 MiB", pool_as_numpy(pool, PAYLOAD, 500))
        record("pool numpy 64 KiB", pool_as_numpy(small_pool, SMALL, 500))
        for compress in (False, True) if have_lz4 else (False,):
            wrote, read = scene_round(compress)
            record("scene write" + " lz4" * compress, wrote)
            record("scene read" + " lz4" * compress, read)
        if dcc is not None:
            record("ref buffer write", timed(lambda: ref_buffer.write(source_bytes)))
            record("ref buffer read", timed(ref_buffer.read))
            record("ref pooled fill", timed(ref_pooled_fill))
            for compress in (False, True):
                wrote, read = ref_scene_round(compress)
                record("ref scene write" + " lz4" * compress, wrote)
                record("ref scene read" + " lz4" * compress, read)

    memcpy = median(figures["memcpy"])

    def cell(name):
        if name not in figures:
            return "—", "—"
        return spread(figures[name], gibs), "{:.2f}×".format(memcpy / median(figures[name]))

    print("\n## Large payloads from Python, 64 MiB\n")
    print(
        "memcpy of 64 MiB (libc, through `ctypes.memmove`), the reference for the ratios: "
        "{} GiB/s.\n".format(spread(figures["memcpy"], gibs))
    )
    print("| operation | shm_ring GiB/s | ratio to memcpy | dcc_mcp_core GiB/s | ratio to memcpy | shm_ring ÷ dcc_mcp_core |")
    print("|---|---|---|---|---|---|")
    rows = [
        ("shared buffer: write 64 MiB (ours from a NumPy array)", "buffer write", "ref buffer write"),
        ("shared buffer: read a copy", "buffer read", "ref buffer read"),
        ("pooled fill: acquire, write 64 MiB, give back (ours: `copy_from` a NumPy array, the documented fast way)", "pooled fill", "ref pooled fill"),
        ("scene buffer: write, no compression", "scene write", "ref scene write"),
        ("scene buffer: read (ours: opened from the descriptor, CRC-32 checked)", "scene read", "ref scene read"),
        ("scene buffer: write with LZ4", "scene write lz4", "ref scene write lz4"),
        ("scene buffer: read LZ4", "scene read lz4", "ref scene read lz4"),
    ]
    for label, ours, theirs in rows:
        ours_rate, ours_ratio = cell(ours)
        ref_rate, ref_ratio = cell(theirs)
        versus = "—"
        if ours in figures and theirs in figures:
            versus = "{:.1f}×".format(median(figures[theirs]) / median(figures[ours]))
        print("| {} | {} | {} | {} | {} | {} |".format(label, ours_rate, ours_ratio, ref_rate, ref_ratio, versus))
    if dcc is None:
        print("\n(dcc_mcp_core is not installed: `pip install dcc-mcp-core` adds its columns.)")
    if not have_lz4:
        print("\n(the lz4 package is not installed: `pip install lz4` adds shm_ring's LZ4 rows.)")
    print("\n| reading as a NumPy array without a copy (shared buffer: `read_in_place` → `np.frombuffer` → `verify`) | µs per read |")
    print("|---|---|")
    print("| shared buffer, 64 MiB payload | {} |".format(spread(figures["numpy 64 MiB"], micros)))
    print("| shared buffer, 64 KiB payload | {} |".format(spread(figures["numpy 64 KiB"], micros)))
    print("| pool slot (`resolve` → `np.frombuffer(view.data)` → `release`), 64 MiB | {} |".format(spread(figures["pool numpy 64 MiB"], micros)))
    print("| pool slot, 64 KiB | {} |".format(spread(figures["pool numpy 64 KiB"], micros)))
    for buffer in (reader, small_reader, writer, small_writer):
        buffer.close()
    pool.close()
    small_pool.close()


if __name__ == "__main__":
    main()
