"""The deploy scenario's tests import the checkout's test helpers (tests/) and the
collection as Ansible does (collections/ansible_collections/slipway/ops links here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
for path in (ROOT, ROOT / "collections"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


@pytest.fixture(autouse=True)
def machine_state():
    """Print how busy the machine is when a case starts and ends: a gate judges latency,
    so a case that fails on a saturated machine says so (load, CPU pressure, containers)."""
    print(f"\n[machine at start] {_machine()}")
    yield
    print(f"\n[machine at end] {_machine()}")


def _machine() -> str:
    load = Path("/proc/loadavg").read_text().split()[:3]
    pressure = Path("/proc/pressure/cpu").read_text().split("\n")[0].split()
    some = dict(field.split("=") for field in pressure[1:])
    containers = subprocess.run(
        ["docker", "ps", "--format", "{{.Names}}"], capture_output=True, text=True, check=False
    ).stdout.split()
    return (
        f"load {' '.join(load)}; CPU pressure {some['avg10']} % (10 s), {some['avg60']} % (60 s);"
        f" {len(containers)} containers running: {' '.join(sorted(containers))}"
    )
