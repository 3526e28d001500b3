"""Playbooks, roles and inventories load from a checkout and refuse bad input.

These run real ansible-playbook commands against localhost and need no Docker
Engine: every case fails in preflight, before anything could be changed.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT, ansible_env, run

PLAYBOOKS = ["site.yml", "deploy.yml", *sorted(p.name for p in (ROOT / "playbooks").glob("*.yml"))]
INVENTORIES = ["dev", "staging", "production"]
# No Docker Engine answers here: a check that got as far as Docker would fail differently.
NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def playbook(path: str, inventory: str, *extra_vars: str, docker: bool = True):
    """Run a playbook with `-e` for each of extra_vars; docker=False hides the engine."""
    args = ["ansible-playbook", path, "-i", f"inventories/{inventory}"]
    for extra in extra_vars:
        args += ["-e", extra]
    return run(args, env=None if docker else ansible_env(**NO_DOCKER))


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_playbook_resolves_slipway_ops_in_place(name):
    path = name if name in ("site.yml", "deploy.yml") else f"playbooks/{name}"
    result = run(["ansible-playbook", "--syntax-check", "-i", "inventories/production", path])
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_inventory_defines_the_platform_groups(inventory):
    result = run(["ansible-inventory", "-i", f"inventories/{inventory}", "--list"])
    assert result.returncode == 0, result.stdout
    groups = json.loads(result.stdout[result.stdout.index("{") :])
    for group in ("lb", "app", "db", "monitoring"):
        assert groups[group]["hosts"], f"{inventory} has no {group} host"


def test_deploy_without_a_release_names_the_variable():
    result = playbook("deploy.yml", "production")
    assert result.returncode != 0
    assert "slipway_release must name the release to ship" in result.stdout
    assert "-e slipway_release=<tag>" in result.stdout


def test_deploy_with_a_malformed_release_is_refused():
    result = playbook("deploy.yml", "production", '{"slipway_release": "a b"}')
    assert result.returncode != 0
    assert "Got a b" in result.stdout


def test_lab_refuses_an_unknown_host_before_touching_docker():
    result = playbook("playbooks/lab.yml", "dev", '{"lab_hosts": ["app1", "app9"]}', docker=False)
    assert result.returncode != 0
    assert "lab_hosts names app9, which the inventory" in result.stdout
    assert "Ask the Docker Engine" not in result.stdout


def test_lab_refuses_an_address_outside_its_subnet():
    result = playbook("playbooks/lab.yml", "dev", "lab_network_subnet=10.9.0.0/24", docker=False)
    assert result.returncode != 0
    assert "inside lab_network_subnet 10.9.0.0/24" in result.stdout
    assert "Ask the Docker Engine" not in result.stdout


def test_lab_without_docker_says_why_and_how(tmp_path):
    result = playbook("playbooks/lab.yml", "dev", f"lab_state_dir={tmp_path}/lab", docker=False)
    assert result.returncode != 0
    assert "No Docker Engine answers" in result.stdout
    assert "scripts/ensure-docker" in result.stdout
    assert not (tmp_path / "lab").exists()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("apt_proxy_url=ftp://cache:21", "it must look like http://host:port"),
        ('{"apt_proxy_direct_hosts": ["bad host"]}', "apt_proxy_direct_hosts has entries that"),
        ("apt_proxy_url=http://127.0.0.1:9", "http://127.0.0.1:9 does not answer from localhost"),
    ],
)
def test_apt_proxy_refuses_bad_input_before_any_change(extra, expected):
    role = ["-m", "ansible.builtin.include_role", "-a", "name=slipway.ops.apt_proxy"]
    result = run(["ansible", "localhost", *role, "-e", extra, "-e", "apt_proxy_check_timeout=2"])
    assert result.returncode != 0
    assert expected in " ".join(result.stdout.split())
    assert "changed=1" not in result.stdout
