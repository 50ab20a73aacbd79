#!/usr/bin/env python3
"""Checks what the shm_ring crate's locked dependencies cost: the Rust they need, and how many
crates its examples build.

    python3 .ci/check_deps.py

Reads `cargo metadata` (the packages of Cargo.lock with their `rust-version`, for the host
platform) and walks the dependency graph of the library.

- Minimum Rust: fails, naming each one, if any normal or build dependency of the library
  (transitively) declares a newer Rust than the library's `rust-version`. Prints what the tests
  and examples need (the same walk with the library's dev-dependencies added) and fails unless
  README.md states both figures as "<version> or newer". Whether the library's own code builds
  with its declared Rust is the next step of .ci/run (`cargo +<rust-version> check --lib`).
- The workspace's other packages that declare a `rust-version` (the `shm-ring` tool, the
  bridge): fails if a normal or build dependency of one (transitively) needs a newer Rust.
- Examples: every example builds every dev-dependency, so the number of crates that
  `cargo run --example quickstart` compiles must stay at most EXAMPLE_CRATES. Heavy tools
  (criterion and the like) belong in the bench/ package of the workspace.

Standard library only.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARY = "shm_ring"

# The examples' dependency graph (the library, its dependencies and dev-dependencies, and
# theirs) has 57 packages, 6 of them the tests' support library and serde_json with what it
# needs; they build cold in about 24 s of CPU time (about 12 s on 2 idle cores). criterion
# would add 32.
EXAMPLE_CRATES = 64


def version(text):
    """'1.77' or '1.77.2' as a tuple of numbers; None (undeclared) as the oldest."""
    return tuple(int(part) for part in text.split(".")) if text else (0,)


def show(numbers):
    return ".".join(str(part) for part in numbers)


def metadata():
    cargo = os.environ.get("CARGO", "cargo")
    host = next(
        line.split(":", 1)[1].strip()
        for line in subprocess.check_output(["rustc", "-vV"], universal_newlines=True).splitlines()
        if line.startswith("host:")
    )
    text = subprocess.check_output(
        [cargo, "metadata", "--format-version", "1", "--locked", "--filter-platform", host],
        cwd=ROOT,
        universal_newlines=True,
    )
    return json.loads(text)


def reachable(graph, start, with_dev):
    """Package ids `start` needs: normal and build dependencies, transitively, and its own
    dev-dependencies (not theirs) when `with_dev`."""
    found = set()
    stack = [(start, with_dev)]
    while stack:
        package, dev = stack.pop()
        for dependency in graph[package]["deps"]:
            kinds = {kind["kind"] for kind in dependency["dep_kinds"]}
            if kinds & {None, "build"} or (dev and "dev" in kinds):
                if dependency["pkg"] not in found:
                    found.add(dependency["pkg"])
                    stack.append((dependency["pkg"], False))
    return found


def main():
    data = metadata()
    packages = {package["id"]: package for package in data["packages"]}
    graph = {node["id"]: node for node in data["resolve"]["nodes"]}
    library = next(p for p in data["packages"] if p["name"] == LIBRARY and p["source"] is None)
    declared = version(library["rust_version"])
    if declared == (0,):
        print("check_deps: FAILED: Cargo.toml declares no rust-version for {}".format(LIBRARY))
        return 1

    def needs(ids):
        return max((version(packages[i]["rust_version"]), packages[i]["name"]) for i in ids)

    normal = reachable(graph, library["id"], with_dev=False)
    too_new = sorted(
        (packages[i]["name"], packages[i]["version"], packages[i]["rust_version"])
        for i in normal
        if version(packages[i]["rust_version"]) > declared
    )
    library_floor, library_by = needs(normal)
    tests_floor, tests_by = needs(reachable(graph, library["id"], with_dev=True))
    print(
        "check_deps: {} declares Rust {}; its {} locked dependencies need {} ({}); "
        "with the dev-dependencies (tests, examples) {} ({})".format(
            LIBRARY,
            show(declared),
            len(normal),
            show(library_floor),
            library_by,
            show(tests_floor),
            tests_by,
        )
    )
    failed = False
    for name, number, needed in too_new:
        print(
            "check_deps: FAILED: {} {} needs Rust {}, newer than the rust-version {} of {}".format(
                name, number, needed, show(declared), LIBRARY
            )
        )
        failed = True
    examples = reachable(graph, library["id"], with_dev=True) | {library["id"]}
    print(
        "check_deps: the examples' dependency graph has {} packages (at most {})".format(
            len(examples), EXAMPLE_CRATES
        )
    )
    if len(examples) > EXAMPLE_CRATES:
        dev = sorted(
            packages[d["pkg"]]["name"]
            for d in graph[library["id"]]["deps"]
            if any(kind["kind"] == "dev" for kind in d["dep_kinds"])
        )
        print(
            "check_deps: FAILED: the examples' dependency graph has {} packages, more than {}: "
            "every example "
            "builds every dev-dependency ({}); move heavy ones to the bench/ package".format(
                len(examples), EXAMPLE_CRATES, ", ".join(dev)
            )
        )
        failed = True
    # The workspace's programs (the tool, the bridge) may need a newer Rust than the library,
    # but not a newer one than they declare.
    members = set(data["workspace_members"])
    for member in sorted(
        (packages[i] for i in members if packages[i]["name"] != LIBRARY),
        key=lambda p: p["name"],
    ):
        if not member["rust_version"]:
            continue
        floor, by = needs(reachable(graph, member["id"], with_dev=False))
        print(
            "check_deps: {} declares Rust {}; its dependencies need {} ({})".format(
                member["name"], member["rust_version"], show(floor), by
            )
        )
        padded = lambda numbers: numbers + (0,) * (3 - len(numbers))
        if padded(floor) > padded(version(member["rust_version"])):
            print(
                "check_deps: FAILED: {} needs Rust {} ({}), newer than its rust-version {}".format(
                    member["name"], show(floor), by, member["rust_version"]
                )
            )
            failed = True
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as readme:
        text = readme.read()
    for figure, what in ((declared, "the library"), (max(tests_floor, declared), "the tests")):
        claim = "{} or newer".format(show(figure))
        if claim not in text:
            print("check_deps: FAILED: README.md does not say {!r} (for {})".format(claim, what))
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
