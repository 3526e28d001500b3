"""The execution environment pins what the toolchain's lock pins: one version of each."""

from __future__ import annotations

import re

import yaml

from tests.conftest import ROOT


def locked() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    return {name.lower(): version for name, version in pins}


def test_the_ee_pins_are_the_locks():
    definition = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    deps = definition["dependencies"]
    wanted = [deps["ansible_core"]["package_pip"], deps["ansible_runner"]["package_pip"]]
    wanted += [
        line.strip()
        for line in (ROOT / deps["python"]).read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    lock = locked()
    for pin in wanted:
        name, version = pin.split("==")
        assert lock.get(name.lower()) == version, (
            f"{pin}: requirements.txt has {lock.get(name.lower())}"
        )
    assert {p.split("==")[0] for p in wanted} >= {"ansible-core", "ansible-runner", "ansible"}
