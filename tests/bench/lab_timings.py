#!/usr/bin/env python3
"""Lab timings, median of N runs measured side by side, compared with targets.

  lab up from nothing   lab down with its images, then lab up (debootstrap included)
  lab up, image present lab down keeping the images, then lab up
  ansible all -m ping   the five lab hosts over SSH

Run with `make bench` (the lab must be up: it is left up). Exits 1 when a
median misses its target. Usage: lab_timings.py [--runs N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from medians import print_medians

ROOT = Path(__file__).resolve().parents[2]
LAB = ["ansible-playbook", "playbooks/lab.yml", "-i", "inventories/dev"]
PING = ["ansible", "all", "-i", "inventories/dev", "-m", "ansible.builtin.ping"]
# Targets on a 2-core machine; the debootstrap step depends on the mirror's speed.
TARGETS = {
    "lab up from nothing": 240.0,
    "lab up, image present": 60.0,
    "ansible all -m ping": 10.0,
}


def timed(cmd: list[str]) -> float:
    start = time.monotonic()
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    return elapsed


def lab_down(keep_images: bool) -> None:
    timed(
        [*LAB, "-e", "lab_state=absent", "-e", f"lab_remove_images={str(not keep_images).lower()}"]
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    samples: dict[str, list[float]] = {name: [] for name in TARGETS}
    for i in range(runs):
        print(f"run {i + 1}/{runs}", flush=True)
        lab_down(keep_images=False)
        samples["lab up from nothing"].append(timed(LAB))
        lab_down(keep_images=True)
        samples["lab up, image present"].append(timed(LAB))
        samples["ansible all -m ping"].append(timed(PING))
    failed = not print_medians(samples, TARGETS, "measure")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
