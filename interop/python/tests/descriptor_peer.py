"""The Python side of the Rust tests that check both languages read and write the same
descriptors (tests/scene.rs).

    python3 descriptor_peer.py classify   # stdin: one JSON string (a descriptor's text) a line
    python3 descriptor_peer.py make       # stdout: descriptors of scene buffers written here

``classify`` prints, for each text, what SceneDescriptor.from_json made of it: ``ok`` and the
descriptor as this module writes it, ``json`` (not the schema's object), ``schema`` (another
schema) or ``invalid FIELD``. ``make`` writes scene buffers of a few payloads and kinds, prints
their descriptors, and removes them.
"""

import json
import sys

from shm_ring import DescriptorError, SceneBuffer, SceneDescriptor, _scene


def classify(text):
    try:
        descriptor = SceneDescriptor.from_json(text)
    except DescriptorError as error:
        if error.field is None:
            return "json"
        if error.field == "schema":
            return "schema"
        return "invalid " + error.field
    return "ok " + descriptor.to_json()


def make():
    cases = [
        (b"", dict()),
        (b"x", dict(kind="Geometry", source="Maya")),
        (bytes(range(256)) * 4, dict(kind="AnimationCache", source="Houdini 20.5", ttl_ms=60000)),
        # Compressed where the lz4 package is installed (the LZ4 cases of tests/blob.rs say
        # whether it must be).
        (
            b"\0" * 65536,
            dict(kind="Screenshot", source="Blender \u00e9\u4e2d", lz4=_scene._lz4_block is not None),
        ),
        (b"abc" * 10, dict(kind="usd:stage/v2", source="a \"quoted\" \\ name")),
    ]
    for data, options in cases:
        with SceneBuffer.write(data, **options) as scene:
            print(scene.descriptor_json())


def main():
    if sys.argv[1:] == ["classify"]:
        for line in sys.stdin:
            print(classify(json.loads(line)))
    elif sys.argv[1:] == ["make"]:
        make()
    else:
        sys.exit("usage: descriptor_peer.py classify|make")


if __name__ == "__main__":
    main()
