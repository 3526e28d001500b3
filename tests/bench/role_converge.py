#!/usr/bin/env python3
"""Converge time of each role on a fresh molecule instance, median of N runs.

For each role's scenario, N times: a fresh instance (destroy, create,
prepare), then `molecule converge` timed, then a second converge timed, which
must report changed=0. Prints the medians and the samples; exits 1 when a
second converge changed something or a median misses its target.
Run with `make bench-roles` (the lab network and image must exist: `make lab`).
With --warm, one fresh instance per scenario, one converge, then N converges
of the warm host timed (what a re-run of site.yml costs).
Usage: role_converge.py [--runs N] [--warm] [SCENARIO ...]   (default: every scenario in TARGETS)
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Targets on a 2-core machine with the apt cache warm.
TARGETS = {"host_prep": 120.0, "docker_engine": 150.0, "app_stack": 240.0}
# The second converge (a warm host, nothing to change), where a target is set.
WARM_TARGETS = {"app_stack": 60.0}
ENV = {**os.environ, "PY_COLORS": "0", "ANSIBLE_FORCE_COLOR": "false"}


def molecule(action: str, scenario: str) -> tuple[float, str]:
    start = time.monotonic()
    result = subprocess.run(
        ["molecule", action, "-s", scenario],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - start
    out = result.stdout + result.stderr
    if result.returncode != 0:
        sys.exit(f"molecule {action} -s {scenario} failed:\n{out[-4000:]}")
    return elapsed, out


def changed(output: str) -> list[int]:
    return [int(n) for n in re.findall(r"^\S+\s+: ok=\d+\s+changed=(\d+)", output, re.MULTILINE)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warm", action="store_true", help="one fresh host, N warm converges")
    parser.add_argument("scenarios", nargs="*", default=list(TARGETS))
    args = parser.parse_args()
    failed = False
    rows = []
    for scenario in args.scenarios:
        first, second = [], []
        for i in range(args.runs):
            print(f"{scenario}: run {i + 1}/{args.runs}", flush=True)
            if not args.warm or i == 0:
                for action in ("destroy", "create", "prepare"):
                    molecule(action, scenario)
                elapsed, out = molecule("converge", scenario)
            first.append(elapsed)
            elapsed, out = molecule("converge", scenario)
            second.append(elapsed)
            if any(changed(out)):
                print(f"{scenario}: the second converge changed {changed(out)}", flush=True)
                failed = True
        molecule("destroy", scenario)
        rows.append((scenario, first, second))
    header = f"{'scenario':<16}{'converge s':>12}{'target s':>10}{'again s':>10}{'target s':>10}"
    print(f"\n{header}  samples (converge/again)")
    for scenario, first, second in rows:
        median, warm = statistics.median(first), statistics.median(second)
        target = TARGETS.get(scenario, float("inf"))
        warm_target = WARM_TARGETS.get(scenario, float("inf"))
        verdict = "ok" if median <= target and warm <= warm_target else "MISSED"
        failed |= verdict != "ok"
        samples = ", ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(first, second, strict=True))
        line = f"{scenario:<16}{median:>12.1f}{target:>10.0f}{warm:>10.1f}{warm_target:>10.0f}"
        print(f"{line}  {samples}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
