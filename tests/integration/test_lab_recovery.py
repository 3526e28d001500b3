"""The lab recovers from leftovers of earlier runs, and comes down cleanly.

These tests break the running lab on purpose, then bring it up again; they run
last (tests/integration/conftest.py orders them so) and leave the lab up.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from tests.conftest import ROOT, run
from tests.integration.conftest import PLATFORM_HOSTS, pinged_hosts

LAB_UP = ["ansible-playbook", "playbooks/lab.yml", "-i", "inventories/dev"]


def lab_up():
    result = run(LAB_UP)
    assert result.returncode == 0, result.stdout
    return result


def changed_count(result) -> int:
    return int(re.search(r"^localhost\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.M).group(1))


def labelled(kind: str) -> list[str]:
    cmd = {
        "container": ["docker", "ps", "-aq"],
        "volume": ["docker", "volume", "ls", "-q"],
        "network": ["docker", "network", "ls", "-q"],
    }[kind]
    # Containers the lab started; others made from its images inherit slipway.lab.
    label = "slipway.lab.container" if kind == "container" else "slipway.lab"
    return run([*cmd, "--filter", f"label={label}=slipway-lab"]).stdout.split()


def test_lab_up_replaces_removed_and_restarts_stopped_containers():
    run(["docker", "rm", "-f", "slipway-lab-db1"])
    run(["docker", "stop", "slipway-lab-app2", "slipway-lab-registry"])
    first = lab_up()
    assert changed_count(first) > 0
    assert pinged_hosts() == PLATFORM_HOSTS
    assert changed_count(lab_up()) == 0


def test_lab_up_repairs_a_host_moved_off_its_address():
    # A leftover container attached with another address (e.g. by hand) is put back.
    run(["docker", "network", "disconnect", "slipway-lab", "slipway-lab-lb1"])
    run(["docker", "network", "connect", "slipway-lab", "slipway-lab-lb1"])
    lab_up()
    inspect = json.loads(run(["docker", "inspect", "slipway-lab-lb1"]).stdout)[0]
    address = inspect["NetworkSettings"]["Networks"]["slipway-lab"]["IPAddress"]
    assert address == "10.242.0.11"
    assert pinged_hosts() == PLATFORM_HOSTS


def test_lab_up_after_dockerd_restarts_with_old_state():
    pid_file = Path("/var/run/docker.pid")
    if Path("/run/systemd/system").is_dir():
        assert run(["systemctl", "restart", "docker"]).returncode == 0
    else:
        pid = int(pid_file.read_text())
        run(["kill", "-TERM", str(pid)])
        deadline = time.monotonic() + 60
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        started = run([str(ROOT / "scripts" / "ensure-docker")])
        assert started.returncode == 0, started.stdout
    lab_up()
    assert pinged_hosts() == PLATFORM_HOSTS


def test_lab_down_removes_everything_it_made_and_comes_back():
    down = run([*LAB_UP, "-e", "lab_state=absent", "-e", "lab_remove_images=false"])
    assert down.returncode == 0, down.stdout
    assert labelled("container") == []
    assert labelled("volume") == []
    assert labelled("network") == []
    assert not (ROOT / ".lab").exists()
    lab_up()
    assert pinged_hosts() == PLATFORM_HOSTS
    # A deploy to hosts that run no release yet refuses before it changes anything,
    # naming the fix (it once failed on a template error instead).
    refused = run(
        ["ansible-playbook", "deploy.yml", "-i", "inventories/dev", "-e", "slipway_release=1.0.0"]
    )
    flat = " ".join(refused.stdout.split())
    assert refused.returncode != 0
    assert "runs no release yet" in flat, flat[-2000:]
    assert "converge it with site.yml first" in flat, flat[-2000:]
    assert "stopped before any host changed" in flat, flat[-2000:]
