"""Waiting for the other side: every blocking call of the package waits through here.

The strategy is polling: retry at once a number of times (the other side is usually a few
microseconds away), then sleep, starting short and doubling up to ``MAX_SLEEP``. A wait with
a timeout never sleeps past its deadline and tries one last time at the deadline before it
gives up, so it always ends.
"""

import math
import time

from ._errors import ShmTimeoutError

#: Immediate retries before the first sleep.
SPINS = 200
#: First sleep, in seconds.
FIRST_SLEEP = 20e-6
#: Longest sleep, in seconds.
MAX_SLEEP = 1e-3


def check_timeout(timeout):
    """Validate a timeout argument: None (wait forever) or a number of seconds >= 0."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            "a timeout must be None or a number of seconds, not {}".format(type(timeout).__name__)
        )
    timeout = float(timeout)
    if math.isnan(timeout) or timeout < 0:
        raise ValueError("a timeout must be None or >= 0 seconds, got {!r}".format(timeout))
    if math.isinf(timeout):
        return None
    return timeout


def format_ms(seconds):
    """Seconds as a short millisecond string: 60.0 -> '60000', 0.0005 -> '0.5'."""
    ms = seconds * 1000.0
    if ms == int(ms):
        return str(int(ms))
    return ("%.3f" % ms).rstrip("0").rstrip(".")


def wait_for(attempt, timeout, waiting_for, spins=SPINS, first_sleep=FIRST_SLEEP, last=None):
    """Call ``attempt()`` until it returns something other than None, and return that.

    ``timeout`` is None (forever) or seconds (already checked by check_timeout); 0 means one
    attempt. On timeout, raise ShmTimeoutError naming ``waiting_for``; ``last``, if given, is a
    callable returning an extra detail (and the ``last`` attribute of the error).
    """
    result = attempt()
    if result is not None:
        return result
    clock = time.monotonic
    sleep = time.sleep
    deadline = None if timeout is None else clock() + timeout
    if timeout is None or timeout > 0:
        for _ in range(spins):
            result = attempt()
            if result is not None:
                return result
        delay = first_sleep
        while True:
            if deadline is None:
                sleep(delay)
            else:
                remaining = deadline - clock()
                if remaining <= 0:
                    break
                sleep(delay if delay < remaining else remaining)
            result = attempt()
            if result is not None:
                return result
            if delay < MAX_SLEEP:
                delay = min(delay * 2, MAX_SLEEP)
        result = attempt()
        if result is not None:
            return result
    detail = last() if last is not None else None
    message = "timed out after {} ms waiting for {}".format(format_ms(timeout), waiting_for)
    if detail is not None:
        message += ": {}".format(detail)
    raise ShmTimeoutError(message, timeout, waiting_for, detail)
