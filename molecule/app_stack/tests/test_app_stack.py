"""The platform runs on the converged host: healthy, reachable, limited, self-healing.

The API is published on 127.0.0.1:SLIPWAY_APP_STACK_PORT (18100) by the
instance; tasks go through it end to end (API -> Redis -> worker -> PostgreSQL).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

API = f"http://127.0.0.1:{os.environ.get('SLIPWAY_APP_STACK_PORT', '18100')}"
KEY = "molecule-api-key"
PROJECT = "/opt/slipway/app"
METRICS = "/var/lib/prometheus/node-exporter/slipway_app_stack.prom"
WATCHDOG_INTERVAL = 5  # app_stack_watchdog_interval in molecule.yml
ROOT = Path(__file__).resolve().parents[3]
CONVERGE = str(ROOT / "molecule/app_stack/converge.yml")


def call(method: str, path: str, body: dict | None = None, timeout: float = 30) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310 (a fixed 127.0.0.1 URL)
        API + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"X-API-Key": KEY, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310 (a fixed 127.0.0.1 URL)
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def wait_until(predicate, seconds: float, step: float = 0.5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def containers(host, service: str) -> list[dict]:
    ids = host.check_output(
        "docker ps -a -q --filter label=com.docker.compose.project=slipway"
        f" --filter label=com.docker.compose.service={service}"
    ).split()
    return json.loads(host.check_output(f"docker inspect {' '.join(ids)}")) if ids else []


def health(host, service: str) -> list[str]:
    return [
        (c["State"].get("Health") or {}).get("Status", "none") for c in containers(host, service)
    ]


def restarts(host, service: str, reason: str) -> int:
    text = host.file(METRICS).content_string if host.file(METRICS).exists else ""
    labels = f'project="slipway",service="{service}",reason="{reason}"'
    label = f"slipway_app_container_restarts_total{{{labels}}} "
    return next((int(line.split()[-1]) for line in text.splitlines() if line.startswith(label)), 0)


def started_at(host, container_id: str) -> str:
    return host.check_output(f"docker inspect -f '{{{{.State.StartedAt}}}}' {container_id}")


def ready() -> bool:
    try:
        return call("GET", "/ready", timeout=3)[0] == 200
    except OSError:
        return False


def test_ready_through_the_published_port():
    status, body = call("GET", "/ready")
    assert status == 200, body
    assert call("GET", "/version")[1]["release"] == "1.1.0"


def test_a_task_runs_end_to_end():
    status, agent = call(
        "POST", "/v1/agents", {"name": f"molecule-{time.time_ns()}", "type": "toolbox"}
    )
    assert status == 201, agent
    body = {"agent_id": agent["id"], "input": {"prompt": "6 * 7"}}
    status, task = call("POST", "/v1/tasks", body)
    assert status == 202, task

    def finished():
        state = call("GET", f"/v1/tasks/{task['id']}?wait=5")[1]
        return state if state["status"] in ("succeeded", "failed") else None

    done = wait_until(finished, 30)
    assert done, "the task did not finish"
    assert done["status"] == "succeeded", done
    assert "42" in json.dumps(done["result"])


def test_every_service_is_healthy_with_its_replicas(host):
    assert health(host, "api") == ["healthy"]
    assert health(host, "worker") == ["healthy", "healthy"]
    assert health(host, "postgres") == ["healthy"]
    assert health(host, "redis") == ["healthy"]


def test_limits_restart_policy_and_log_rotation(host):
    for c in containers(host, "api") + containers(host, "worker"):
        config = c["HostConfig"]
        assert config["Memory"] == 512 * 1024 * 1024  # development: 512 MB
        assert config["NanoCpus"] == 500_000_000  # 0.5 CPU
        assert config["RestartPolicy"]["Name"] == "unless-stopped"
        rotation = {"max-file": "5", "max-size": "10m"}
        assert config["LogConfig"] == {"Type": "json-file", "Config": rotation}


def test_secrets_are_in_a_root_only_env_file_with_digests_only(host):
    env = host.file(f"{PROJECT}/app.env")
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)
    assert KEY not in env.content_string
    assert hashlib.sha256(KEY.encode()).hexdigest() in env.content_string
    assert host.file(f"{PROJECT}/data.env").mode == 0o600
    assert "molecule-db-password" not in host.file(f"{PROJECT}/compose.yaml").content_string


def test_migrations_ran_once_for_the_release(host):
    marker = host.file("/var/lib/slipway/app_stack/migrated").content_string
    assert marker.strip().endswith(":1.1.0")
    assert not containers(host, "migrate")  # the one-off container is gone


def test_watchdog_timer_runs(host):
    assert host.service("slipway-app-watchdog.timer").is_running
    assert wait_until(lambda: host.file(METRICS).exists, 2 * WATCHDOG_INTERVAL + 15)


@pytest.mark.parametrize("service", ["api"])
def test_a_killed_api_process_comes_back_and_is_counted(host, service):
    before = restarts(host, service, "exited")
    state = containers(host, service)[0]["State"]
    killed = time.monotonic()
    host.run_expect([0], f"kill -9 {state['Pid']}")
    restarted = wait_until(
        lambda: containers(host, service)[0]["State"]["StartedAt"] != state["StartedAt"], 30
    )
    assert restarted, "the killed API's container was not started again"
    assert wait_until(ready, 60), "the API did not come back"
    back = time.monotonic() - killed
    counted = wait_until(
        lambda: restarts(host, service, "exited") == before + 1, 2 * WATCHDOG_INTERVAL + 10
    )
    assert counted, restarts(host, service, "exited")
    print(
        f"api killed -> ready again in {back:.1f} s;"
        f" restarts{{reason=exited}} {before} -> {before + 1}"
    )


def test_an_unhealthy_worker_is_restarted_by_the_watchdog_and_counted(host):
    worker = containers(host, "worker")[0]
    before = restarts(host, "worker", "unhealthy")
    # A frozen worker: its process runs, its heartbeat stops, Docker keeps it.
    host.run_expect([0], f"docker kill --signal STOP {worker['Id']}")
    went_bad = wait_until(lambda: health(host, "worker").count("unhealthy") == 1, 90, 1)
    assert went_bad, health(host, "worker")
    unhealthy = time.monotonic()
    first_start = worker["State"]["StartedAt"]
    restarted = wait_until(
        lambda: started_at(host, worker["Id"]) != first_start, WATCHDOG_INTERVAL + 45, 0.5
    )
    took = time.monotonic() - unhealthy
    assert restarted, "the watchdog did not restart the unhealthy worker"
    healed = wait_until(lambda: health(host, "worker") == ["healthy", "healthy"], 60, 1)
    assert healed, health(host, "worker")
    assert restarts(host, "worker", "unhealthy") == before + 1
    print(
        f"worker unhealthy -> restarted by the watchdog in {took:.1f} s"
        f" (it runs every {WATCHDOG_INTERVAL} s)"
    )


def converge(*extra_vars: str) -> subprocess.CompletedProcess:
    """The scenario's converge again, with -e overrides (bad input)."""
    argv = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], CONVERGE]
    for extra in extra_vars:
        argv += ["-e", extra]
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        # One line per result: messages are not folded.
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
    }
    return subprocess.run(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def running(host) -> dict[str, str]:
    """Each container's id and start time: what a refused run must leave as it was."""
    out = host.check_output(
        "docker ps -q | xargs docker inspect -f '{{.Name}} {{.State.StartedAt}}'"
    )
    return dict(line.split() for line in out.splitlines())


def test_a_tag_missing_from_the_registry_fails_before_any_container_is_touched(host):
    before, env_file = running(host), host.file(f"{PROJECT}/.env").content_string
    result = converge("app_stack_release=9.9.9-missing")
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert "Could not pull ['registry:5000/slipway/agent-platform:9.9.9-missing']" in out, out[
        -3000:
    ]
    assert "manifest unknown" in out  # the registry's own words
    assert running(host) == before
    assert host.file(f"{PROJECT}/.env").content_string == env_file


def test_a_missing_secret_fails_in_preflight_naming_it(host):
    before = running(host)
    result = converge('{"app_stack_api_keys": []}')
    assert result.returncode != 0
    assert "A required secret is missing: app_stack_api_keys" in " ".join(result.stdout.split())
    assert running(host) == before


def test_a_release_from_an_image_archive_replaces_the_running_one(host, tmp_path):
    """Air-gapped delivery: `docker save` on the controller, shipped and loaded; then back."""
    archive = tmp_path / "platform-1.0.0.tar"
    image = "127.0.0.1:15000/slipway/agent-platform:1.0.0"
    subprocess.run(["docker", "pull", "-q", image], check=True, capture_output=True)
    subprocess.run(
        ["docker", "tag", image, "registry:5000/slipway/agent-platform:1.0.0"], check=True
    )
    saved = subprocess.run(
        ["docker", "save", "-o", str(archive), "registry:5000/slipway/agent-platform:1.0.0"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    result = converge(
        "app_stack_release=1.0.0",
        "app_stack_image_source=archive",
        f"app_stack_image_archive={archive}",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert wait_until(lambda: ready() and call("GET", "/version")[1]["release"] == "1.0.0", 60)
    assert (
        host.file("/var/lib/slipway/app_stack/migrated").content_string.strip().endswith(":1.0.0")
    )

    back = converge("app_stack_release=1.1.0")
    assert back.returncode == 0, back.stdout[-3000:]
    assert call("GET", "/version")[1]["release"] == "1.1.0"
