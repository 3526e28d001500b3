"""The reference platform's image, as the lab registry serves it: non-root,
healthy by its own HEALTHCHECK, stamped with its release, and its bad
releases misbehave as labelled. Needs `scripts/build-app-images` (make app-images)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import httpx
import pytest

from tests.app.conftest import API_KEY_SHA256, AUTH
from tests.app.servers import Postgres, Redis, free_port, wait_for_port

REGISTRY_IMAGE = "127.0.0.1:15000/slipway/agent-platform"


def docker(*args: str, check: bool = True) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check:
        assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def backing():
    pg, redis = Postgres(), Redis()
    pg.sql("CREATE DATABASE agents")
    yield pg.url("agents"), redis.url()
    pg.stop()
    redis.stop()


@pytest.fixture
def containers():
    names: list[str] = []
    yield names
    for name in names:
        docker("rm", "-f", name, check=False)


def run_container(containers, backing, tag: str, role: str, **env: str) -> str:
    name = f"slipway-test-{role}-{uuid.uuid4().hex[:6]}"
    db, redis = backing
    argv = ["run", "-d", "--name", name, "--network", "host"]
    settings = {
        "DATABASE_URL": db,
        "REDIS_URL": redis,
        "PLATFORM_API_KEY_SHA256": API_KEY_SHA256,
        **env,
    }
    for key, value in settings.items():
        argv += ["-e", f"{key}={value}"]
    docker(*argv, f"{REGISTRY_IMAGE}:{tag}", role)
    containers.append(name)
    return name


def health(name: str) -> str:
    state = json.loads(docker("inspect", "--format", "{{json .State}}", name))
    return state.get("Health", {}).get("Status", state["Status"])


def wait_health(name: str, want: str, seconds: float = 40) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if health(name) == want:
            return
        time.sleep(0.5)
    raise AssertionError(
        f"{name} is {health(name)}, not {want}; logs:\n{docker('logs', name)[-2000:]}"
    )


def test_good_release_migrates_serves_and_is_healthy(backing, containers):
    db, redis = backing
    migrate = subprocess.run(
        [
            *("docker", "run", "--rm", "--network", "host"),
            *(
                "-e",
                f"DATABASE_URL={db}",
                "-e",
                f"REDIS_URL={redis}",
                f"{REGISTRY_IMAGE}:1.0.0",
                "migrate",
            ),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr + migrate.stdout
    port = free_port()
    api = run_container(containers, backing, "1.0.0", "api", PLATFORM_PORT=str(port))
    worker = run_container(containers, backing, "1.0.0", "worker")
    wait_for_port(port)
    wait_health(api, "healthy")
    wait_health(worker, "healthy")

    assert docker("exec", api, "id", "-u") == "10001"
    assert docker("exec", worker, "id", "-u") == "10001"
    url = f"http://127.0.0.1:{port}"
    version = httpx.get(f"{url}/version").json()
    assert version["release"] == "1.0.0"
    assert version["git_sha"] not in ("", "unknown")
    assert version["faults"] == {}
    assert httpx.get(f"{url}/ready").status_code == 200
    golden = httpx.post(f"{url}/v1/golden", json={"release": "1.0.0"}, headers=AUTH, timeout=20)
    assert golden.status_code == 200, golden.text

    docker("stop", "-t", "30", worker)
    assert docker("inspect", "--format", "{{.State.ExitCode}}", worker) == "0"
    logs = [
        json.loads(line) for line in docker("logs", worker).splitlines() if line.startswith("{")
    ]
    assert logs[-1]["msg"] == "worker stopped"


def test_bad_releases_misbehave_as_labelled(backing, containers):
    crash = run_container(
        containers, backing, "1.1.0-crash-on-boot", "api", PLATFORM_PORT=str(free_port())
    )
    deadline = time.monotonic() + 30
    while (
        docker("inspect", "--format", "{{.State.Status}}", crash) != "exited"
        and time.monotonic() < deadline
    ):
        time.sleep(0.3)
    assert docker("inspect", "--format", "{{.State.ExitCode}}", crash) == "3"

    port = free_port()
    never = run_container(containers, backing, "1.1.0-never-ready", "api", PLATFORM_PORT=str(port))
    wait_for_port(port)
    wait_health(never, "healthy")  # alive: only the readiness gate can catch it
    ready = httpx.get(f"http://127.0.0.1:{port}/ready")
    assert ready.status_code == 503
    assert "PLATFORM_FAULT_NEVER_READY" in ready.json()["problems"][0]
    labels = json.loads(
        docker(
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            f"{REGISTRY_IMAGE}:1.1.0-errors",
        )
    )
    assert labels["slipway.faults"] == "PLATFORM_FAULT_ERROR_RATE=0.5"


def test_the_registry_serves_every_release():
    catalog = httpx.get("http://127.0.0.1:15000/v2/slipway/agent-platform/tags/list").json()
    assert {"1.0.0", "1.1.0", "1.1.0-crash-on-boot", "1.1.0-stalled-worker"} <= set(catalog["tags"])
