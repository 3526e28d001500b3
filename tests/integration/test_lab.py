"""The running lab: five systemd hosts over SSH, their network, registry and apt cache.

Run after `make site` (the integration target does it): the lab is up and
site.yml has converged it.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
import requests

from tests.conftest import run
from tests.integration.conftest import PLATFORM_HOSTS, lab_host, pinged_hosts

REGISTRY = "127.0.0.1:15000"


def test_inventory_is_the_five_platform_hosts(lab_hosts):
    assert set(lab_hosts) == PLATFORM_HOSTS


def test_ansible_ping_answers_from_every_host_over_ssh():
    assert pinged_hosts() == PLATFORM_HOSTS


def test_host_boots_systemd_and_serves_ssh(each_lab_host, lab_hosts):
    name, host = each_lab_host
    assert host.process.get(pid=1).comm == "systemd"
    assert host.run("systemctl is-system-running").stdout.strip() == "running"
    assert host.service("ssh").is_running
    assert host.check_output("hostname") == name
    assert lab_hosts[name]["lab_ip"] in host.check_output("ip -4 -o addr show")


def test_host_has_its_own_ssh_host_key(lab_hosts):
    keys = {lab_host(n).check_output("cat /etc/ssh/ssh_host_ed25519_key.pub") for n in lab_hosts}
    assert len(keys) == len(lab_hosts)


def test_hosts_reach_each_other_by_inventory_name(lb1, lab_hosts):
    for name, hostvars in lab_hosts.items():
        assert lb1.check_output(f"getent hosts {name}").split()[0] == hostvars["lab_ip"]
    assert lb1.run("curl -sf -o /dev/null http://registry:5000/v2/").rc == 0


def test_every_published_port_listens_on_loopback_only():
    # The containers the lab started (others, made from its images, inherit
    # slipway.lab but not slipway.lab.container).
    names = run(
        ["docker", "ps", "--format", "{{.Names}}", "--filter", "label=slipway.lab.container"]
    ).stdout.split()
    lab_own = {f"slipway-lab-{h}" for h in PLATFORM_HOSTS} | {
        "slipway-lab-aptcache",
        "slipway-lab-registry",
    }
    assert lab_own == set(names)
    inspect = json.loads(run(["docker", "inspect", *names]).stdout)
    bindings = [
        b
        for c in inspect
        for spec in (c["HostConfig"]["PortBindings"] or {}).values()
        for b in spec
    ]
    assert bindings
    assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}


def test_registry_takes_a_push_and_serves_it_back(tmp_path):
    tag = f"{REGISTRY}/slipway/lab-probe:{uuid.uuid4().hex[:8]}"
    (tmp_path / "probe").write_text("probe\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY probe /probe\n")
    assert run(["docker", "build", "-q", "-t", tag, str(tmp_path)]).returncode == 0
    pushed = run(["docker", "push", tag])
    assert pushed.returncode == 0, pushed.stdout
    repo, _, version = tag.removeprefix(f"{REGISTRY}/").partition(":")
    tags = requests.get(f"http://{REGISTRY}/v2/{repo}/tags/list", timeout=10).json()
    assert version in tags["tags"]
    run(["docker", "image", "rm", tag])


@pytest.mark.parametrize("name", ["db1", "mon1"])
def test_apt_goes_through_the_lab_cache(name):
    host = lab_host(name)
    out = host.check_output("apt-get -o Debug::Acquire::http=true update 2>&1")
    gets = [line for line in out.splitlines() if line.startswith("GET ")]
    assert gets
    assert all(line.startswith("GET http://") for line in gets), gets


# In check mode only: a real second run of each role is molecule's idempotence
# step, and a second real run of the whole site cost ~250 s of `make test` for
# what check mode on the converged lab also sees (a role that undoes another's
# work shows as a predicted change). Check mode must tell the truth as well.
def test_site_predicts_no_change_on_the_converged_lab():
    result = run(["ansible-playbook", "site.yml", "-i", "inventories/dev", "--check", "--diff"])
    assert result.returncode == 0, result.stdout
    recap = re.findall(r"^(\w+)\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.MULTILINE)
    assert {host for host, _ in recap} == PLATFORM_HOSTS
    assert all(changed == "0" for _, changed in recap), recap


@pytest.mark.parametrize("mode", [[], ["--check"]], ids=["run", "check"])
def test_lab_up_again_changes_nothing(mode):
    result = run(["ansible-playbook", "playbooks/lab.yml", "-i", "inventories/dev", *mode])
    assert result.returncode == 0, result.stdout
    assert re.search(r"^localhost\s+: ok=\d+\s+changed=0\s", result.stdout, re.MULTILINE), (
        result.stdout
    )
