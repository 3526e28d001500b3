"""slipway.ops.services on a real systemd (a lab host): what it enables, starts, stops and
refuses, and that check mode changes nothing. Scratch units only (slipway-test-*), removed
at the end."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.conftest import ROOT, ansible_env
from tests.lab_deploy import ansible_shell

HOST = "app1"
UNIT = """[Unit]
Description=Slipway's services test ({name})
[Service]
{service}
[Install]
WantedBy=multi-user.target
"""
SCRATCH = {
    "slipway-test-a": "ExecStart=/bin/sleep infinity",
    "slipway-test-b": "ExecStart=/bin/sleep infinity",
    # A start that fails: systemctl start waits for a oneshot and reports its exit.
    "slipway-test-fail": "Type=oneshot\nExecStart=/bin/false",
}


def services(units: list[dict], *flags: str, daemon_reload: bool = False) -> tuple[str, dict]:
    """Run the module ad hoc on HOST: its status (SUCCESS, CHANGED, FAILED!) and result."""
    args = json.dumps({"units": units, "daemon_reload": daemon_reload})
    command = ["ansible", HOST, "-i", "inventories/dev", "-m", "slipway.ops.services"]
    done = subprocess.run(
        [*command, "-a", args, "-o", *flags],
        cwd=ROOT,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(rf"^{HOST} \| (\S+)[^{{]*(\{{.*\}})\s*$", done.stdout, re.MULTILINE)
    assert found, done.stdout + done.stderr
    return found[1], json.loads(found[2])


def states(*names: str) -> dict[str, tuple[str, str]]:
    """Each unit's (enabled, active) as systemctl says on HOST."""
    out = ansible_shell(
        HOST,
        " ; ".join(
            f"echo {n} $(systemctl is-enabled {n}) $(systemctl is-active {n})" for n in names
        ),
    )
    found = re.findall(r"^(slipway-test-\S+) (\S+) (\S+)$", out, re.MULTILINE)
    return {name: (enabled, active) for name, enabled, active in found}


@pytest.fixture(scope="module")
def scratch_units():
    writes = " && ".join(
        f"printf %b {json.dumps(UNIT.format(name=name, service=service))}"
        f" > /etc/systemd/system/{name}.service"
        for name, service in SCRATCH.items()
    )
    ansible_shell(HOST, f"{writes} && systemctl daemon-reload")
    yield list(SCRATCH)
    names = " ".join(SCRATCH)
    ansible_shell(
        HOST,
        f"systemctl disable --now {names};"
        f" cd /etc/systemd/system && rm -f {' '.join(f'{n}.service' for n in SCRATCH)};"
        " systemctl daemon-reload; systemctl reset-failed",
    )


def test_enables_and_starts_only_what_differs_and_check_mode_changes_nothing(scratch_units):
    wanted = [
        {"name": n, "enabled": True, "state": "started"}
        for n in ("slipway-test-a", "slipway-test-b")
    ]
    status, checked = services(wanted, "--check", "--diff")
    assert status == "CHANGED", checked
    assert checked["changed_units"] == ["slipway-test-a", "slipway-test-b"]
    assert states("slipway-test-a", "slipway-test-b") == {
        "slipway-test-a": ("disabled", "inactive"),
        "slipway-test-b": ("disabled", "inactive"),
    }, "check mode changed nothing"

    status, done = services(wanted)
    assert (status, done["changed_units"]) == ("CHANGED", checked["changed_units"])
    assert states("slipway-test-a", "slipway-test-b") == {
        "slipway-test-a": ("enabled", "active"),
        "slipway-test-b": ("enabled", "active"),
    }
    assert services(wanted)[0] == "SUCCESS", "a second run changes nothing"

    status, done = services([{"name": "slipway-test-b", "enabled": False, "state": "stopped"}])
    assert (status, done["changed_units"]) == ("CHANGED", ["slipway-test-b"])
    assert states("slipway-test-b") == {"slipway-test-b": ("disabled", "inactive")}


def test_a_start_that_fails_names_the_unit_and_what_changed_before_it(scratch_units):
    services([{"name": "slipway-test-a", "state": "stopped"}])
    status, failed = services(
        [
            {"name": "slipway-test-a", "state": "started"},
            {"name": "slipway-test-fail", "state": "started"},
        ]
    )
    assert status == "FAILED!", failed
    assert "systemctl start slipway-test-fail failed" in failed["msg"]
    assert "journalctl -u slipway-test-fail" in failed["msg"]
    assert failed["changed_units"] == ["slipway-test-a"]
    assert failed["changed"] is True
    assert states("slipway-test-a")["slipway-test-a"][1] == "active"


def test_a_missing_or_masked_unit_fails_before_anything_changes(scratch_units):
    services([{"name": "slipway-test-b", "state": "stopped"}])
    wanted = [
        {"name": "slipway-test-b", "state": "started"},
        {"name": "slipway-test-nosuch", "enabled": True},
    ]
    status, failed = services(wanted)
    assert status == "FAILED!", failed
    assert "slipway-test-nosuch: no such unit on the host" in failed["msg"]
    assert states("slipway-test-b")["slipway-test-b"][1] == "inactive", "nothing changed"
    # In check mode a package earlier in the run would have installed it.
    status, checked = services(wanted, "--check")
    assert (status, checked["changed_units"]) == ("CHANGED", [w["name"] for w in wanted])

    ansible_shell(HOST, "systemctl mask slipway-test-masked")
    try:
        status, failed = services([{"name": "slipway-test-masked", "enabled": True}])
    finally:
        ansible_shell(HOST, "systemctl unmask slipway-test-masked")
    assert status == "FAILED!", failed
    assert (
        "slipway-test-masked is masked: unmask it (systemctl unmask slipway-test-masked)"
        in (failed["msg"])
    )
