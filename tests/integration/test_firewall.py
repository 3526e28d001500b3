"""The host firewall, seen from neighbours on the lab network (after site.yml).

Each scan runs nmap in a throwaway container that shares the network of its
vantage point: a lab host (so the scan comes from that host's address) or a
bare outsider on the lab network. Apps do not listen yet, so nmap's states say
what the firewall does: open or closed = let through (closed: nothing
listens), filtered = dropped. `SLIPWAY_SCAN_PORTS=1-65535` scans every port.

Run `pytest tests/integration/test_firewall.py -s` to print the scans.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from xml.etree import ElementTree

import pytest

from tests.conftest import run
from tests.integration.conftest import LAB_HOSTS, lab_host

SCANNER_IMAGE = "local/slipway-scanner:1"
BASE_IMAGE = "local/debian-systemd:12"
NETWORK = "slipway-lab"
APT_PROXY = 'Acquire::http::Proxy "http://aptcache:3142";'
# Every port the platform's policy names, SSH, and some that nothing allows.
PORTS = os.environ.get(
    "SLIPWAY_SCAN_PORTS",
    "21,22,25,53,80,111,443,2375,2376,3000,3306,5432,6379,8000,8080,8081,8443,9090,9091,9093,9100,9113,9121,9187,9200,27017",
)
XML_MARK = "==== nmap xml"
GROUPS = {"lb1": "lb", "app1": "app", "app2": "app", "db1": "db", "mon1": "monitoring"}

# What each vantage point may reach, per target group (playbooks/vars/firewall.yml
# with the dev inventory): lb 80/443 from anywhere and its status page (8081)
# from monitoring; app 8000 from lb and monitoring; db 5432/6379 from app and
# monitoring; exporters (node 9100 everywhere, Nginx 9113 on lb, Redis 9121
# and PostgreSQL 9187 on db) from monitoring; SSH and the monitoring UIs
# only from the admin networks (the controller), which none of these vantage
# points is.
ALLOWED = {
    "outsider": {"lb": {80, 443}, "app": set(), "db": set(), "monitoring": set()},
    "lb1": {"lb": {80, 443}, "app": {8000}, "db": set(), "monitoring": set()},
    "app1": {"lb": {80, 443}, "app": set(), "db": {5432, 6379}, "monitoring": set()},
    "db1": {"lb": {80, 443}, "app": set(), "db": set(), "monitoring": set()},
    "mon1": {
        "lb": {80, 443, 8081, 9100, 9113},
        "app": {8000, 9100},
        "db": {5432, 6379, 9100, 9121, 9187},
        "monitoring": {9100},
    },
}


@pytest.fixture(scope="module")
def scanner_image():
    """An image with nmap, made once from the lab base image through the apt cache."""
    if run(["docker", "image", "inspect", SCANNER_IMAGE]).returncode == 0:
        return SCANNER_IMAGE
    name = f"slipway-scanner-build-{uuid.uuid4().hex[:8]}"
    script = (
        f"echo '{APT_PROXY}' > /etc/apt/apt.conf.d/01proxy && apt-get update -qq && "
        "apt-get install -y -qq --no-install-recommends nmap > /dev/null && apt-get clean"
    )
    built = run(
        ["docker", "run", "--name", name, "--network", NETWORK, BASE_IMAGE, "bash", "-c", script]
    )
    try:
        assert built.returncode == 0, built.stdout
        assert run(["docker", "commit", name, SCANNER_IMAGE]).returncode == 0
    finally:
        run(["docker", "rm", "-f", name])
    return SCANNER_IMAGE


def scan(
    image: str, vantage: str, targets: list[str], ports: str = PORTS
) -> tuple[str, dict[str, dict[int, str]]]:
    """nmap from a vantage point; returns its report and {target ip: {port: state}}."""
    network = NETWORK if vantage == "outsider" else f"container:slipway-lab-{vantage}"
    nmap = f"nmap -Pn -n -sS -T4 --max-retries 1 -p {ports} -oX /scan.xml {' '.join(targets)}"
    script = f"{nmap} && echo {XML_MARK} && cat /scan.xml"
    result = run(["docker", "run", "--rm", "--network", network, image, "bash", "-c", script])
    assert result.returncode == 0, result.stdout
    report, _, xml = result.stdout.partition(f"{XML_MARK}\n")
    states: dict[str, dict[int, str]] = {}
    # The XML comes from our own nmap run, not from an untrusted source.
    for host in ElementTree.fromstring(xml).iter("host"):  # noqa: S314
        ip = host.find("address").get("addr")
        states[ip] = {
            int(port.get("portid")): port.find("state").get("state") for port in host.iter("port")
        }
    return report, states


@pytest.mark.parametrize("vantage", sorted(ALLOWED))
def test_neighbours_reach_exactly_the_allowed_ports(scanner_image, vantage):
    targets = {LAB_HOSTS[name]["lab_ip"]: name for name in GROUPS if name != vantage}
    report, states = scan(scanner_image, vantage, sorted(targets))
    print(f"\n==== scan from {vantage}\n{report}")
    assert set(states) == set(targets), report
    for ip, ports in states.items():
        # Unlisted ports are the ones nmap folds into "Not shown: N filtered".
        reachable = {port for port, state in ports.items() if state in ("open", "closed")}
        expected = ALLOWED[vantage][GROUPS[targets[ip]]]
        assert reachable == expected, f"{vantage} -> {targets[ip]}: {ports}"


PROBE_IMAGE = "slipway/firewall-probe:1"


@pytest.fixture
def published_probe(scanner_image):
    """A container on app1 listening on 8000, published by Docker on the host's 9100
    (the exporter port: allowed from monitoring only). Its image goes through the
    lab registry, as an app's would."""
    pushed = f"127.0.0.1:15000/{PROBE_IMAGE}"
    assert run(["docker", "tag", scanner_image, pushed]).returncode == 0
    push = run(["docker", "push", pushed])
    assert push.returncode == 0, push.stdout
    app1 = lab_host("app1")
    app1.run("docker rm -f slipway-firewall-probe")
    # node_exporter holds 9100 on every host: step it aside while the probe has the port.
    app1.run_expect([0], "systemctl stop prometheus-node-exporter")
    app1.run_expect(
        [0],
        "docker run -d --name slipway-firewall-probe -p 9100:8000 "
        f"registry:5000/{PROBE_IMAGE} python3 -m http.server 8000",
    )
    # Scanned once it listens: a scan of a probe still starting says nothing of the policy.
    listening = "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 8000), 1)'"
    deadline = time.monotonic() + 30
    while app1.run(f"docker exec slipway-firewall-probe {listening}").rc != 0:
        assert time.monotonic() < deadline, "the probe did not listen on 8000 within 30 s"
        time.sleep(0.5)
    yield LAB_HOSTS["app1"]["lab_ip"]
    app1.run("docker rm -f slipway-firewall-probe")
    app1.run_expect([0], "systemctl start prometheus-node-exporter")


@pytest.mark.parametrize(("vantage", "state"), [("mon1", "open"), ("lb1", "filtered")])
def test_docker_published_ports_obey_the_policy(scanner_image, published_probe, vantage, state):
    """Docker DNATs published ports to the container: the forward chain applies the policy.
    A dropped port stays dropped; a SYN lost on a loaded machine (nmap tries twice) is
    asked again, up to three scans, before an allowed port is called filtered."""
    for _ in range(3):
        report, states = scan(scanner_image, vantage, [published_probe], ports="9100")
        print(f"\n==== scan from {vantage} of a port Docker publishes on app1\n{report}")
        seen = states[published_probe].get(9100, "filtered")
        if seen != "filtered" or state == "filtered":
            break
    assert seen == state, report


def test_the_controller_keeps_ssh_and_nothing_else_it_is_not_allowed(each_lab_host):
    name, host = each_lab_host
    assert host.run("true").rc == 0  # SSH through the published port still works
    ruleset = host.check_output("nft list chain inet slipway input")
    assert "policy drop" in ruleset
    # Docker's own tables are never flushed by the firewall.
    if GROUPS[name] == "app":
        assert "table ip nat" in host.check_output("nft list tables")


@pytest.mark.parametrize("become", ["false", "true"], ids=["root", "become"])
def test_admin_networks_without_the_controller_are_refused_before_any_change(become):
    # With become (production), sudo clears SSH_CLIENT: the role reads it as the login user.
    extra = f'{{"host_prep_admin_networks": ["192.0.2.0/24"], "ansible_become": {become}}}'
    result = run(
        ["ansible-playbook", "site.yml", "-i", "inventories/dev", "--limit", "app1", "-e", extra]
    )
    assert result.returncode != 0
    message = " ".join(result.stdout.split())
    assert "The controller reaches app1 from 10.242.0.128, which is in none of" in message
    assert "Add that address (or its network) to host_prep_admin_networks" in message
    assert re.search(r"^app1\s+: ok=\d+\s+changed=0\s", result.stdout, re.MULTILINE)
    assert lab_host("app1").run("true").rc == 0
