#!/usr/bin/env python3
"""Prints the ninja targets the tests of some suites need, one per line: each test's
program and its `depends`, as meson's introspection of BUILD_DIR lists them. Lets a
build make only what its suites run (tools/setup --for-suites).
Usage: tools/suite-targets.py BUILD_DIR SUITE[,SUITE...]
"""
import json
import os
import subprocess
import sys


def introspect(build, what):
    return json.loads(subprocess.run(["meson", "introspect", build, what], check=True,
                                     capture_output=True, text=True).stdout)


def main():
    build, suites = sys.argv[1], set(sys.argv[2].split(","))
    files = {t["id"]: t["filename"] for t in introspect(build, "--targets")}
    # A test's suites are listed bare and as PROJECT:SUITE.
    tests = [t for t in introspect(build, "--tests")
             if suites & {s.split(":")[-1] for s in t["suite"]}]
    needed = set()
    for test in tests:
        for target in test["depends"]:
            needed.update(os.path.relpath(f, build) for f in files[target])
        program = test["cmd"][0]
        if os.path.abspath(program).startswith(os.path.abspath(build) + os.sep):
            needed.add(os.path.relpath(program, build))
    print("\n".join(sorted(needed)))
    return 0 if tests else 1


if __name__ == "__main__":
    sys.exit(main())
