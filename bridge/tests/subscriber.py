"""A subscriber of a bridge's stream written against eclipse-zenoh alone.

    python subscriber.py ENDPOINT KEYEXPR

Connects to ENDPOINT (nothing else: no scouting), prints one line per message,
``<sequence number> <payload in hex>``, then ``end <number of messages>`` at the end of the
stream, and exits.
"""

import json
import sys

import zenoh


def main():
    endpoint, key = sys.argv[1], sys.argv[2]
    config = zenoh.Config()
    for setting, value in (
        ("mode", '"peer"'),
        ("connect/endpoints", json.dumps([endpoint])),
        ("listen/endpoints", "[]"),
        ("scouting/multicast/enabled", "false"),
        ("scouting/gossip/enabled", "false"),
    ):
        config.insert_json5(setting, value)
    out = sys.stdout
    with zenoh.open(config) as session:
        # Kept in a variable: a subscriber no longer referenced is undeclared.
        subscriber = session.declare_subscriber(key)
        for sample in subscriber:
            sequence = int.from_bytes(sample.attachment.to_bytes(), "little")
            if sample.kind == zenoh.SampleKind.DELETE:
                out.write("end {}\n".format(sequence))
                break
            out.write("{} {}\n".format(sequence, sample.payload.to_bytes().hex()))
    out.flush()


if __name__ == "__main__":
    main()
