"""Fixtures for tests against the running lab (`make lab` brings it up)."""

from __future__ import annotations

import json
import re

import pytest
import testinfra

from tests.conftest import ROOT, run

# The platform's hosts in inventories/dev: what every lab test expects to find.
PLATFORM_HOSTS = {"lb1", "app1", "app2", "db1", "mon1"}
LAB_KEY = ROOT / ".lab" / "ssh" / "id_ed25519"
SSH_OPTS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"


def lab_inventory() -> dict:
    """The dev inventory as Ansible sees it: hostvars per lab host."""
    result = run(["ansible-inventory", "-i", "inventories/dev", "--list"])
    assert result.returncode == 0, result.stdout
    data = json.loads(result.stdout[result.stdout.index("{") :])
    return data["_meta"]["hostvars"]


LAB_HOSTS = lab_inventory()


def lab_host(name: str):
    """A testinfra host reached the way Ansible reaches it: SSH on its 127.0.0.1 port."""
    port = LAB_HOSTS[name]["ansible_port"]
    return testinfra.get_host(
        f"ssh://root@127.0.0.1:{port}?ssh_identity_file={LAB_KEY}&timeout=30",
        ssh_extra_args=SSH_OPTS,
    )


def pinged_hosts() -> set[str]:
    """The lab hosts that answer `ansible -m ping` over SSH."""
    result = run(["ansible", "all", "-i", "inventories/dev", "-m", "ansible.builtin.ping"])
    return set(re.findall(r"^(\w+) \| SUCCESS", result.stdout, re.MULTILINE))


@pytest.fixture(scope="session")
def lab_hosts():
    return LAB_HOSTS


@pytest.fixture(params=sorted(LAB_HOSTS), ids=sorted(LAB_HOSTS))
def each_lab_host(request):
    return request.param, lab_host(request.param)


@pytest.fixture
def lb1():
    return lab_host("lb1")


def pytest_collection_modifyitems(session, config, items):
    """test_lab_recovery.py takes the lab down and brings it up blank: it runs last,
    whatever the other files are named."""
    items.sort(key=lambda item: item.fspath.basename == "test_lab_recovery.py")
