"""The conformance stream shared by every peer.

Message ``i`` (0-based) has length ``L(i)`` and byte ``j`` of its payload is
``(i * 7 + j) % 251``. With a fixed size ``S``, ``L(i) = S``; with a range ``A..=B``,
``L(i) = A + ((i * 2654435761) mod 2**32) mod (B - A + 1)``.

Payload ``i`` is the slice ``pattern[(i * 7) % 251 : (i * 7) % 251 + L(i)]`` of a pattern
where ``pattern[k] = k % 251``, so no byte is computed per message.
"""


class Stream:
    """Lengths and payloads of the conformance stream for sizes ``min_size..=max_size``."""

    __slots__ = ("min_size", "span", "pattern")

    def __init__(self, min_size, max_size, longest=None):
        """``longest`` caps the pattern (and so the payloads that can be produced or checked)
        below ``max_size``; a longer message is then reported, not built."""
        if min_size > max_size:
            raise ValueError("min_size {} is above max_size {}".format(min_size, max_size))
        self.min_size = min_size
        self.span = max_size - min_size + 1
        cap = max_size if longest is None else min(max_size, longest)
        self.pattern = bytes(k % 251 for k in range(251)) * ((cap + 250) // 251 + 1)

    def length(self, i):
        """``L(i)``."""
        return self.min_size + ((i * 2654435761) & 0xFFFFFFFF) % self.span

    def lengths(self, start, stop):
        """``[L(i) for i in range(start, stop)]``."""
        return [self.length(i) for i in range(start, stop)]

    @staticmethod
    def offset(i):
        """Where payload ``i`` starts in ``pattern``."""
        return (i * 7) % 251

    def payload(self, i, length=None):
        """Payload ``i`` as bytes (``length`` defaults to ``L(i)``)."""
        if length is None:
            length = self.length(i)
        off = self.offset(i)
        return self.pattern[off : off + length]

    def fits(self, length):
        """Whether payloads of ``length`` bytes can be built from the pattern."""
        return length + 250 <= len(self.pattern)


def first_mismatch(data, i):
    """Index and value of the first byte of ``data`` that differs from payload ``i``, or None."""
    base = Stream.offset(i)
    for j, value in enumerate(data):
        expected = (base + j) % 251
        if value != expected:
            return j, value, expected
    return None
