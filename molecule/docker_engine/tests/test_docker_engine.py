"""Docker Engine runs containers, Compose v2 drives them, daemon.json is honoured."""

from __future__ import annotations

import json

import pytest

IMAGE = "local/busybox:molecule"
PROJECT = "/root/compose-probe"
COMPOSE = """\
services:
  web:
    image: local/busybox:molecule
    command: ["busybox", "httpd", "-f", "-p", "8080", "-h", "/"]
    ports: ["18080:8080"]
"""


@pytest.fixture(scope="module")
def busybox(host):
    """A one-binary image made on the host (no public registry here): busybox-static."""
    host.run_expect([0], "apt-get install -y --no-install-recommends busybox-static")
    host.run_expect(
        [0], f"tar -C /bin -c busybox | docker import -c 'ENTRYPOINT [\"/busybox\"]' - {IMAGE}"
    )
    return IMAGE


def test_docker_engine_is_debians_and_running(host):
    assert host.package("docker.io").is_installed
    assert host.service("docker").is_enabled
    assert host.service("docker").is_running


def test_daemon_json_is_honoured(host):
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file"
    assert info["LiveRestoreEnabled"] is True
    assert info["RegistryConfig"]["IndexConfigs"]["registry:5000"]["Secure"] is False


def test_compose_v2_plugin_answers(host):
    assert host.check_output("docker compose version --short").startswith("2.")
    plugin = host.file("/usr/local/lib/docker/cli-plugins/docker-compose")
    assert plugin.mode == 0o755
    assert plugin.user == "root"


def test_registry_ca_and_credentials_are_root_only(host):
    assert host.file("/etc/docker/certs.d/registry.example:5000/ca.crt").contains(
        "BEGIN CERTIFICATE"
    )
    auth = host.file("/root/.docker/config.json")
    assert auth.mode == 0o600
    assert "registry.example:5000" in json.loads(auth.content_string)["auths"]


def test_compose_runs_a_service_on_a_network_from_the_pool(host, busybox):
    host.run_expect([0], f"mkdir -p {PROJECT}")
    host.run_expect([0], f"cat > {PROJECT}/compose.yaml <<'EOF'\n{COMPOSE}EOF")
    try:
        host.run_expect([0], f"docker compose --project-directory {PROJECT} up -d --wait")
        fmt = "'{{(index .IPAM.Config 0).Subnet}}'"
        subnet = host.check_output(f"docker network inspect compose-probe_default --format {fmt}")
        assert subnet.startswith("172.30.")
        host.run_expect([0], "curl -sf -o /dev/null http://127.0.0.1:18080/etc/hostname")
        log_opts = host.check_output(
            "docker inspect compose-probe-web-1 --format '{{json .HostConfig.LogConfig}}'"
        )
        assert json.loads(log_opts)["Config"] == {"max-file": "3", "max-size": "10m"}
    finally:
        host.run(f"docker compose --project-directory {PROJECT} down")
