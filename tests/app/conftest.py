"""Fixtures for the reference platform's tests: real PostgreSQL and Redis
servers, and the API and workers run as real processes against them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy

from .servers import APP_DIR, Postgres, Redis, free_port, wait_for_port

sys.path.insert(0, str(APP_DIR))

API_KEY = "sk_test_" + uuid.uuid4().hex
API_KEY_SHA256 = __import__("hashlib").sha256(API_KEY.encode()).hexdigest()
AUTH = {"Authorization": f"Bearer {API_KEY}"}


class Proc:
    """An API or worker process with its JSON log."""

    def __init__(self, role: str, env: dict[str, str], log: Path, port: int | None = None) -> None:
        self.role, self.log, self.port = role, log, port
        self.handle = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent_platform", role],
            env=env,
            cwd=APP_DIR,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> list[dict]:
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def wait_log(self, msg: str, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.logs():
                if entry.get("msg") == msg:
                    return entry
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(
            f"{self.role} never logged {msg!r}; log:\n{self.log.read_text()[-3000:]}"
        )

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.handle.close()


class Platform:
    """Start APIs and workers of any release, with any faults, on one database."""

    def __init__(self, database_url: str, redis_url: str, tmp: Path) -> None:
        self.database_url, self.redis_url, self.tmp = database_url, redis_url, tmp
        self.procs: list[Proc] = []

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PLATFORM_", "DATABASE_URL", "REDIS_URL"))
        }
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            PLATFORM_API_KEY_SHA256=API_KEY_SHA256,
            PLATFORM_RELEASE="1.0.0",
            PLATFORM_HEARTBEAT_SECONDS="1",
            PLATFORM_WORKER_DEAD_AFTER_SECONDS="3",
            PYTHONPATH=str(APP_DIR),
        )
        env.update(extra)
        return env

    def api(self, wait: bool = True, **extra: str) -> Proc:
        port = free_port()
        proc = Proc(
            "api", self.env(PLATFORM_PORT=str(port), **extra), self.tmp / f"api-{port}.log", port
        )
        self.procs.append(proc)
        if wait:
            wait_for_port(port, proc=proc.proc)
        return proc

    def worker(self, wait: bool = True, **extra: str) -> Proc:
        n = sum(p.role == "worker" for p in self.procs)
        alive = self.tmp / f"worker-{n}.alive"
        proc = Proc(
            "worker",
            self.env(PLATFORM_WORKER_ALIVE_FILE=str(alive), **extra),
            self.tmp / f"worker-{n}.log",
        )
        self.procs.append(proc)
        if wait:
            proc.wait_log("worker started")
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


def migrate(url: str, *args: str) -> subprocess.CompletedProcess:
    """`python -m agent_platform migrate ARGS` against the database at url."""
    return subprocess.run(
        [sys.executable, "-m", "agent_platform", "migrate", *args],
        env={"DATABASE_URL": url, "REDIS_URL": "redis://unused:6379/0", "PATH": "/usr/bin:/bin"},
        cwd=APP_DIR,
        capture_output=True,
        text=True,
        check=False,
    )


def engine_for(url: str) -> sqlalchemy.Engine:
    return sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))


def query(url: str, statement: str, **params: object) -> list[tuple]:
    """The rows of one SQL statement, on a connection of its own."""
    engine = engine_for(url)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sqlalchemy.text(statement), params)]
    engine.dispose()
    return rows


@pytest.fixture(scope="session")
def pg():
    server = Postgres()
    server.sql("CREATE DATABASE platform_template")
    done = migrate(server.url("platform_template"))
    assert done.returncode == 0, done.stdout + done.stderr
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server():
    server = Redis()
    yield server
    server.stop()


def _scratch_database(pg, prefix: str, template: str | None = None):
    name = prefix + uuid.uuid4().hex[:12]
    pg.sql(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    yield pg.url(name)
    pg.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def database(pg):
    """A fresh database at the newest schema, copied from the migrated template."""
    yield from _scratch_database(pg, "t_", template="platform_template")


@pytest.fixture
def empty_database(pg):
    """A fresh database with no schema at all."""
    yield from _scratch_database(pg, "e_")


@pytest.fixture
def redis_url(redis_server):
    import redis

    client = redis.Redis.from_url(redis_server.url())
    client.flushall()
    client.close()
    return redis_server.url()


@pytest.fixture
def platform(database, redis_url, tmp_path):
    plat = Platform(database, redis_url, tmp_path)
    yield plat
    plat.stop()


@pytest.fixture
def client():
    with httpx.Client(timeout=30) as c:
        yield c


def make_agent(client: httpx.Client, api: Proc, name: str = "helper", **body) -> dict:
    reply = client.post(
        f"{api.url}/v1/agents", json={"name": name, "type": "toolbox", **body}, headers=AUTH
    )
    assert reply.status_code == 201, reply.text
    return reply.json()


def submit(client: httpx.Client, api: Proc, agent_id: str, task_input: dict) -> dict:
    reply = client.post(
        f"{api.url}/v1/tasks", json={"agent_id": agent_id, "input": task_input}, headers=AUTH
    )
    assert reply.status_code == 202, reply.text
    return reply.json()


def wait_task(client: httpx.Client, api: Proc, task_id: str, seconds: float = 20) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        task = client.get(f"{api.url}/v1/tasks/{task_id}", params={"wait": 5}).json()
        if task["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return task


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a /metrics page, or None when absent."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


@pytest.fixture
def api_only(platform, client):
    return platform.api(), client
