"""A buffer-pool peer that the Rust tests (tests/pool_python.rs) drive across processes.

    pool_peer.py publish NAME SEED LEN     open NAME, fill a slot with payload(SEED, LEN) and
                                           publish it; print {"bytes": HEX, "json": TEXT}
    pool_peer.py resolve NAME REF          resolve REF (64-byte form in hex, or the JSON form),
                                           print {"len": n, "hex": "..."}, release it
    pool_peer.py hold NAME REF             resolve REF, print "resolved LEN", wait for a line
                                           on stdin, release, print "released"
    pool_peer.py acquire NAME [SLICE]      acquire a slot, waiting (futex) as long as it takes,
                                           in kernel sleeps of at most SLICE seconds (default
                                           20 ms; a long one proves a wake-up ended the sleep);
                                           print "acquired SLOT GENERATION", give it back
    pool_peer.py fill-and-die NAME         acquire a slot, fill half of it, print "filling
                                           SLOT GENERATION HALF", wait to be killed
    pool_peer.py to-json POOL SLOT GEN LEN print PoolRef(...).to_json()
    pool_peer.py from-json                 for each line of stdin, print "ok" and to_json() of
                                           the reference it holds, or "error FIELD"

payload(seed, n)[i] = ((i * 31) & 0xFF) ^ seed, as tests/pool.rs writes. Errors print the
exception's class name and message on one line on stderr and exit 1.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from shm_ring import BufferPool, PoolRef, PoolRefError, _pool  # noqa: E402


def payload(seed, length):
    return bytes(((i * 31) & 0xFF) ^ seed for i in range(length))


def parse_ref(text):
    text = text.strip()
    if text.startswith("{"):
        return PoolRef.from_json(text)
    return PoolRef.from_bytes(bytes.fromhex(text))


def say(line):
    print(line, flush=True)


def main(argv):
    command = argv[0]
    if command == "publish":
        name, seed, length = argv[1], int(argv[2]), int(argv[3])
        with BufferPool.open(name) as pool:
            loan = pool.try_acquire()
            with loan:
                if length <= len(loan):
                    loan.copy_from(payload(seed, length))
                reference = loan.publish(length)
            say(json.dumps({"bytes": reference.to_bytes().hex(), "json": reference.to_json()}))
    elif command == "resolve":
        with BufferPool.open(argv[1]) as pool:
            with pool.resolve(parse_ref(argv[2])) as view:
                data = view.tobytes()
            say(json.dumps({"len": len(data), "hex": data.hex()}))
    elif command == "hold":
        with BufferPool.open(argv[1]) as pool:
            with pool.resolve(parse_ref(argv[2])) as view:
                say("resolved {}".format(len(view)))
                sys.stdin.readline()
            say("released")
    elif command == "acquire":
        if len(argv) > 2:
            _pool.ACQUIRE_SLICE = float(argv[2])
        with BufferPool.open(argv[1]) as pool:
            with pool.acquire(None) as loan:
                say("acquired {} {}".format(loan.slot, loan.generation))
    elif command == "fill-and-die":
        pool = BufferPool.open(argv[1])
        loan = pool.try_acquire()
        half = len(loan) // 2
        loan.copy_from(payload(0xEE, half))
        say("filling {} {} {}".format(loan.slot, loan.generation, half))
        while True:
            sys.stdin.readline()
    elif command == "to-json":
        say(PoolRef(argv[1], int(argv[2]), int(argv[3]), int(argv[4])).to_json())
    elif command == "from-json":
        for line in sys.stdin:
            try:
                say("ok " + PoolRef.from_json(line.rstrip("\n")).to_json())
            except PoolRefError as error:
                say("error {}".format(error.field))
    else:
        raise SystemExit("unknown command {!r}".format(command))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Exception as error:  # one line for the driving test
        print("{}: {}".format(type(error).__name__, error), file=sys.stderr)
        sys.exit(1)
