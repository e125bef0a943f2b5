#!/usr/bin/env python3
"""Counts test results across meson test logs and prints "N passed, N failed, N skipped".

Each TAP subtest counts once (a test file with 14 cases is 14 tests); a test that
failed without printing any TAP result (a crash, a timeout) counts as one failure.
A test's "# warning: TEXT" lines (tests/lib/tap.sh, tap_warn) are repeated above the
count, so that a warning from any suite is seen without reading its log.
Exits 1 when anything failed or nothing ran.
"""
import json
import re
import sys

TAP_RESULT = re.compile(r"^(not ok|ok)\b(.*)$")
TAP_WARNING = re.compile(r"^# warning: (.*)$")


def count(log_path, warnings):
    """The (passed, failed, skipped) of one meson test log; appends its warnings."""
    passed = failed = skipped = 0
    with open(log_path, encoding="utf-8") as log:
        for line in log:
            entry = json.loads(line)
            lines = entry.get("stdout", "").splitlines()
            for w in (TAP_WARNING.match(l) for l in lines):
                if w:
                    warnings.append(f"{entry['name']}: {w.group(1)}")
            results = [TAP_RESULT.match(l) for l in lines]
            results = [r for r in results if r]
            if not results:
                if entry["result"] in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                elif entry["result"] == "SKIP":
                    skipped += 1
                else:
                    failed += 1
                continue
            for r in results:
                if "# SKIP" in r.group(2).upper():
                    skipped += 1
                elif r.group(1) == "ok":
                    passed += 1
                else:
                    failed += 1
            # A crash or timeout after some subtests still fails the test.
            if entry["result"] not in ("OK", "SKIP", "EXPECTEDFAIL") and not any(
                r.group(1) == "not ok" for r in results
            ):
                failed += 1
    return passed, failed, skipped


def main():
    totals = [0, 0, 0]
    warnings = []
    for path in sys.argv[1:]:
        try:
            for i, n in enumerate(count(path, warnings)):
                totals[i] += n
        except FileNotFoundError:
            totals[1] += 1
            print(f"test-summary: {path} is missing: that build's tests did not run")
    passed, failed, skipped = totals
    for warning in warnings:
        print(f"warning: {warning}")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
