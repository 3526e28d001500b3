#!/usr/bin/env python3
"""Print one closing line, 'tests: N passed, N failed', from pytest JUnit XML files.

Usage: junit_summary.py FILE...   (exits 1 when any test failed or errored)
"""

from __future__ import annotations

import sys

# Parses only the JUnit files our own pytest runs just wrote, never untrusted XML.
import xml.etree.ElementTree as ET  # nosec B405


def count(paths: list[str]) -> tuple[int, int, int]:
    passed = failed = skipped = 0
    for path in paths:
        root = ET.parse(path).getroot()  # noqa: S314  # nosec B314
        for suite in root.iter("testsuite"):
            total = int(suite.get("tests", 0))
            bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skip = int(suite.get("skipped", 0))
            failed += bad
            skipped += skip
            passed += total - bad - skip
    return passed, failed, skipped


def main(paths: list[str]) -> int:
    passed, failed, skipped = count(paths)
    print(f"tests: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
