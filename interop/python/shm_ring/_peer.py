"""The conformance peer: ``python -m shm_ring producer|consumer ...``.

::

    producer|consumer --name NAME --count N (--size S | --min-size A --max-size B)
        [--capacity BYTES] [--timeout-ms T] [--no-verify] [--start-index I]
        [--zero-copy] [--batch]
    --help | -h

``--help`` prints the usage line and exits with status 0. The producer creates the segment, writes the conformance stream, waits until the consumer has
read everything, unlinks the segment and prints one JSON line. The consumer waits for the
segment, reads and checks the stream and prints one JSON line. On failure either prints one
line on stderr and exits with status 1; when the other side is gone that line is
``consumer: message N: the producer is gone`` (N: the first message not received) or
``producer: message N: the consumer is gone`` (N: the message being written, or the first one
the consumer did not read when the producer was waiting for it to read everything).
"""

import re
import sys
import time

from ._errors import EmptyMessageError, MessageTooLargeError, PeerGoneError, ShmRingError
from ._ring import ShmConsumer, ShmProducer
from ._stream import Stream, first_mismatch

USAGE = (
    "usage: python -m shm_ring producer|consumer --name NAME --count N "
    "(--size S | --min-size A --max-size B) [--capacity BYTES] [--timeout-ms T] "
    "[--no-verify] [--start-index I] [--zero-copy] [--batch]"
)

_VALUE_FLAGS = (
    "--name",
    "--count",
    "--size",
    "--min-size",
    "--max-size",
    "--capacity",
    "--timeout-ms",
    "--start-index",
)
_SWITCHES = ("--no-verify", "--zero-copy", "--batch")
_DIGITS = re.compile(r"[0-9]+\Z")
_U32_MAX = (1 << 32) - 1

#: Messages per batch in --batch mode.
BATCH = 256


class Failure(Exception):
    """A failure to report as ``<role>: [message <i>: ]<what>``."""

    def __init__(self, what, index=None):
        super().__init__(what)
        self.what = what
        self.index = index


def _failure(error, index=None):
    """The Failure for a ShmRingError met at message ``index``."""
    if isinstance(error, PeerGoneError):
        return Failure("the {} is gone".format(error.peer), index)
    return Failure(str(error), index)


class Options:
    __slots__ = (
        "role",
        "name",
        "count",
        "min_size",
        "max_size",
        "capacity",
        "timeout",
        "verify",
        "start_index",
        "zero_copy",
        "batch",
    )


def _number(flag, text, maximum=None):
    if not _DIGITS.match(text):
        raise Failure("{} expects a non-negative integer, got {!r}".format(flag, text))
    value = int(text)
    if maximum is not None and value > maximum:
        raise Failure("{} must be at most {}, got {}".format(flag, maximum, value))
    return value


class Help(Exception):
    """``--help`` or ``-h`` was asked for: print the usage and exit 0."""


def parse(argv):
    """Parse the command line (without the program name) into Options; raise Failure, or
    Help for ``--help`` / ``-h``."""
    if any(arg in ("--help", "-h") for arg in argv):
        raise Help()
    if not argv or argv[0] not in ("producer", "consumer"):
        got = repr(argv[0]) if argv else "nothing"
        raise Failure("expected 'producer' or 'consumer' first, got {}; {}".format(got, USAGE))
    role = argv[0]
    values = {}
    switches = set()
    args = iter(argv[1:])
    for arg in args:
        flag, eq, inline = arg.partition("=")
        if flag in _VALUE_FLAGS:
            if eq:
                value = inline
            else:
                value = next(args, None)
                if value is None:
                    raise Failure("{} needs a value".format(flag))
            if flag in values:
                raise Failure("{} given twice".format(flag))
            values[flag] = value
        elif arg in _SWITCHES:
            if arg in switches:
                raise Failure("{} given twice".format(arg))
            switches.add(arg)
        else:
            raise Failure("unknown argument {!r}; {}".format(arg, USAGE))
    options = Options()
    options.role = role
    if "--name" not in values:
        raise Failure("--name is required")
    options.name = values["--name"]
    if "--count" not in values:
        raise Failure("--count is required")
    options.count = _number("--count", values["--count"])
    has_size = "--size" in values
    has_min = "--min-size" in values
    has_max = "--max-size" in values
    if has_size and (has_min or has_max):
        raise Failure("give either --size or --min-size and --max-size, not both")
    if has_size:
        options.min_size = options.max_size = _number("--size", values["--size"], _U32_MAX)
    elif has_min and has_max:
        options.min_size = _number("--min-size", values["--min-size"], _U32_MAX)
        options.max_size = _number("--max-size", values["--max-size"], _U32_MAX)
        if options.min_size > options.max_size:
            raise Failure(
                "--min-size {} is above --max-size {}".format(options.min_size, options.max_size)
            )
    elif has_min or has_max:
        raise Failure("--min-size and --max-size must be given together")
    else:
        raise Failure("give --size or --min-size and --max-size")
    options.capacity = _number("--capacity", values.get("--capacity", "1048576"))
    options.timeout = _number("--timeout-ms", values.get("--timeout-ms", "60000")) / 1000.0
    options.start_index = _number("--start-index", values.get("--start-index", "0"))
    if role == "producer" and options.start_index > _U32_MAX:
        raise Failure("--start-index must be at most {}, got {}".format(_U32_MAX, options.start_index))
    options.verify = "--no-verify" not in switches
    options.zero_copy = "--zero-copy" in switches
    options.batch = "--batch" in switches
    return options


def _invalid(length, limit):
    """The error a producer meets for a message of ``length`` bytes, or None if it is valid."""
    if length == 0:
        return EmptyMessageError()
    if length > limit:
        return MessageTooLargeError(length, limit)
    return None


def _produce(options, producer, stream):
    """Write the stream; return (total payload bytes, seconds)."""
    count = options.count
    timeout = options.timeout
    limit = producer.max_message_len
    length = stream.length
    payload = stream.payload
    total = 0
    start = time.perf_counter()
    if options.batch:
        write_batch = producer.write_batch
        pending = []
        lengths = []
        queued = 0
        done = 0
        while done < count:
            while len(pending) < BATCH and queued < count:
                n = length(queued)
                if n == 0 or n > limit:
                    break
                pending.append(payload(queued, n))
                lengths.append(n)
                queued += 1
            if not pending:
                raise Failure(str(_invalid(length(done), limit)), done)
            try:
                written = write_batch(pending, timeout)
            except ShmRingError as error:
                raise _failure(error, done)
            total += sum(lengths[:written])
            del pending[:written]
            del lengths[:written]
            done += written
    elif options.zero_copy:
        reserve = producer.reserve
        for i in range(count):
            n = length(i)
            try:
                grant = reserve(n, timeout)
            except ShmRingError as error:
                raise _failure(error, i)
            grant.copy_from(payload(i, n))
            grant.commit()
            total += n
    else:
        try_write = producer.try_write
        write = producer.write
        for i in range(count):
            n = length(i)
            if n == 0 or n > limit:
                raise Failure(str(_invalid(n, limit)), i)
            message = payload(i, n)
            if not try_write(message):
                try:
                    write(message, timeout)
                except ShmRingError as error:
                    raise _failure(error, i)
            total += n
    return total, time.perf_counter() - start


def _mismatch(data, i, expected_length):
    if len(data) != expected_length:
        return "length {}, expected {}".format(len(data), expected_length)
    found = first_mismatch(data, i)
    if found is None:  # pragma: no cover - only called after a failed comparison
        return "payload differs from the expected one"
    j, value, expected = found
    return "byte {} is 0x{:02x}, expected 0x{:02x}".format(j, value, expected)


def _check(data, i, stream, verify):
    """Raise Failure unless ``data`` is message ``i`` (its length only, unless ``verify``);
    return its length."""
    n = stream.length(i)
    if len(data) != n or (verify and data != stream.payload(i, n)):
        raise Failure(_mismatch(bytes(data), i, n), i)
    return n


def _consume(options, consumer, stream):
    """Read and check the stream; return (total payload bytes, seconds)."""
    count = options.count
    timeout = options.timeout
    verify = options.verify
    total = 0
    start = None
    if count == 0:
        return 0, 0.0
    if options.batch:
        try_read_batch = consumer.try_read_batch
        read_batch = consumer.read_batch
        i = 0
        while i < count:
            want = min(BATCH, count - i)
            try:
                batch = try_read_batch(want) or read_batch(want, timeout)
            except ShmRingError as error:
                raise _failure(error, i)
            if start is None:
                start = time.perf_counter()
            for data in batch:
                total += _check(data, i, stream, verify)
                i += 1
    elif not options.zero_copy:
        try_read_bytes = consumer.try_read_bytes
        read_bytes = consumer.read_bytes
        for i in range(count):
            try:
                data = try_read_bytes()
                if data is None:
                    data = read_bytes(timeout)
            except ShmRingError as error:
                raise _failure(error, i)
            if start is None:
                start = time.perf_counter()
            total += _check(data, i, stream, verify)
    else:
        try_read = consumer.try_read
        read = consumer.read
        pattern = stream.pattern
        for i in range(count):
            try:
                grant = try_read()
                if grant is None:
                    grant = read(timeout)
            except ShmRingError as error:
                raise _failure(error, i)
            if start is None:
                start = time.perf_counter()
            n = stream.length(i)
            if len(grant) != n:
                raise Failure("length {}, expected {}".format(len(grant), n), i)
            if verify:
                first, second = grant.as_slices()
                at = stream.offset(i)
                if not (
                    pattern.startswith(first, at)
                    and pattern.startswith(second, at + len(first))
                ):
                    data = bytes(first) + bytes(second)
                    del first, second
                    grant.release()
                    raise Failure(_mismatch(data, i, n), i)
                del first, second
            grant.commit()
            total += n
    return total, time.perf_counter() - start


def _first_unread(producer, stream, count):
    """The index of the first of the ``count`` messages written that the consumer has not
    read, from the bytes still in the ring."""
    unread = producer.readable_bytes()
    i = count
    while unread > 0 and i > 0:
        i -= 1
        unread -= stream.length(i) + 4
    return i


def result_line(role, messages, total, seconds):
    """The JSON line printed on success."""
    seconds = round(seconds, 6)
    rate = messages / seconds if seconds > 0 else 0.0
    return '{{"role":"{}","messages":{},"bytes":{},"seconds":{:.6f},"msgs_per_sec":{:.1f}}}'.format(
        role, messages, total, seconds, rate
    )


def run(options):
    """Run one peer; return the JSON line or raise Failure."""
    if options.role == "producer":
        try:
            producer = ShmProducer(
                options.name, options.capacity, start_index=options.start_index
            )
        except (ShmRingError, ValueError) as error:
            raise Failure(str(error))
        try:
            stream = Stream(options.min_size, options.max_size, producer.max_message_len)
            total, seconds = _produce(options, producer, stream)
            try:
                producer.wait_until_empty(options.timeout)
            except PeerGoneError as error:
                raise _failure(error, _first_unread(producer, stream, options.count))
            except ShmRingError as error:
                raise Failure(str(error))
        finally:
            try:
                producer.unlink()
            finally:
                producer.close()
    else:
        try:
            consumer = ShmConsumer(options.name, timeout=options.timeout)
        except (ShmRingError, ValueError) as error:
            raise Failure(str(error))
        try:
            stream = Stream(options.min_size, options.max_size, consumer.max_message_len)
            total, seconds = _consume(options, consumer, stream)
        finally:
            consumer.close()
    return result_line(options.role, options.count, total, seconds)


def main(argv=None):
    """Entry point; returns the exit status."""
    if argv is None:
        argv = sys.argv[1:]
    role = argv[0] if argv and argv[0] in ("producer", "consumer") else "peer"
    try:
        line = run(parse(argv))
    except Help:
        sys.stdout.write(USAGE + "\n")
        sys.stdout.flush()
        return 0
    except Failure as failure:
        what = failure.what
        if failure.index is not None:
            what = "message {}: {}".format(failure.index, what)
        _fail(role, what)
        return 1
    except Exception as error:  # a bug, or an OS failure outside the documented ones
        _fail(role, "unexpected {}: {}".format(type(error).__name__, error))
        return 1
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    return 0


def _fail(role, what):
    sys.stderr.write("{}: {}\n".format(role, " ".join(str(what).split())))
    sys.stderr.flush()
