"""Continuous client load through the lab's load balancer, for deploy tests and benchmarks.

A background thread offers a fixed rate of reads (GET /v1/agents/{id}, which
reads PostgreSQL) and of task submissions (POST /v1/tasks) through lb1. By
default each request has a new TLS connection, offered at a fixed rate
whatever the answers take. `keepalive=N` makes the client one that keeps N
HTTPS connections alive and reuses them, as an SDK's pool of N threads on a
`requests.Session` does: each of N workers sends its share of the rate, one
request at a time, never more than one late (it retries nothing: a
connection the load balancer closes as a request goes out on it is a failed
request). Every request that does not
answer its expected status is a failure, with its time and what came back.
After the run, every task submitted must complete: `lost_tasks()` waits for
each and returns the ones that never succeeded.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[1]
LB_URL = "https://127.0.0.1:18443"
LAB_CA = ROOT / ".lab" / "tls" / "ca.crt"


def lab_api_key() -> str:
    """The lab's first API key, from the dev vault (ansible-vault, the lab's password file)."""
    out = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "ansible-vault"),
            "view",
            "--vault-id",
            f"lab@{ROOT / 'inventories' / 'dev.vault-password'}",
            str(ROOT / "inventories" / "dev" / "group_vars" / "all" / "vault.yml"),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    return yaml.safe_load(out)["vault_slipway_api_keys"][0]


@dataclass
class Report:
    seconds: float = 0.0
    requests: int = 0
    failures: list[tuple[float, str, str]] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failures)

    def summary(self) -> str:
        rate = self.requests / self.seconds if self.seconds else 0
        return (
            f"{self.requests} requests in {self.seconds:.0f} s ({rate:.1f}/s), "
            f"{self.failed} failed, {len(self.tasks)} tasks submitted"
        )


class LbLoad:
    """Offer `rate` reads and `task_rate` task submissions per second until stop().

    A read is the load's agent (GET /v1/agents/{id}); one in `poll_every` polls a task
    submitted earlier (GET /v1/tasks/{id}), as a client waiting for its result does."""

    def __init__(
        self,
        api_key: str,
        base: str = LB_URL,
        ca: Path = LAB_CA,
        rate: float = 48.0,
        task_rate: float = 2.0,
        timeout: float = 30.0,
        poll_every: int = 4,
        keepalive: int = 0,
    ) -> None:
        self.api_key, self.base, self.rate, self.task_rate = api_key, base, rate, task_rate
        self.poll_every, self.keepalive = poll_every, keepalive
        self.ssl = ssl.create_default_context(cafile=str(ca))
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.report = Report()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._agent_id: str | None = None
        self._started = 0.0

    # -- running -----------------------------------------------------------
    def start(self) -> LbLoad:
        self._agent_id = asyncio.run(self._create_agent())
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._started = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> Report:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=60)
        self.report.seconds = time.monotonic() - self._started
        return self.report

    def __enter__(self) -> LbLoad:
        return self.start()

    def __exit__(self, *exc) -> None:
        if not self._stop.is_set():
            self.stop()

    def _session(self) -> aiohttp.ClientSession:
        if self.keepalive:
            connector = aiohttp.TCPConnector(
                ssl=self.ssl, limit=self.keepalive, keepalive_timeout=60
            )
        else:
            connector = aiohttp.TCPConnector(ssl=self.ssl, force_close=True, limit=200)
        return aiohttp.ClientSession(connector=connector, timeout=self.timeout)

    async def _create_agent(self) -> str:
        async with self._session() as session:
            body = {"name": f"load-{uuid.uuid4().hex[:10]}", "type": "toolbox", "config": {}}
            async with session.post(
                f"{self.base}/v1/agents", json=body, headers={"X-API-Key": self.api_key}
            ) as reply:
                data = await reply.json()
                if reply.status != 201:
                    raise RuntimeError(f"creating the load's agent: {reply.status} {data}")
                return data["id"]

    def _next(self, session: aiohttp.ClientSession, sent: int):
        """The `sent`-th request of the mix: a submission in task_rate / (rate + task_rate),
        else a read (one in poll_every of them a task poll)."""
        every = round((self.rate + self.task_rate) / self.task_rate) if self.task_rate else 0
        if every and sent % every == 0:
            return self._submit(session)
        if self.report.tasks and self.poll_every and sent % self.poll_every == 1:
            return self._poll(session)
        return self._read(session)

    async def _worker(self, session: aiohttp.ClientSession, index: int, start: float) -> None:
        gap = self.keepalive / (self.rate + self.task_rate)
        due = start + index * gap / self.keepalive
        while not self._stop.is_set():
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            self._sent += 1
            await self._next(session, self._sent)
            # Paced: late by more than a gap, it starts again from now (no burst to catch up).
            due = max(due + gap, time.monotonic())

    async def _run(self) -> None:
        if self.keepalive:
            async with self._session() as session:
                self._sent = 0
                start = time.monotonic()
                await asyncio.gather(
                    *(self._worker(session, i, start) for i in range(self.keepalive))
                )
            return
        async with self._session() as session:
            pending: set[asyncio.Task] = set()
            start = time.monotonic()
            reads = tasks = 0
            while not self._stop.is_set():
                elapsed = time.monotonic() - start
                while reads < elapsed * self.rate:
                    reads += 1
                    poll = self.report.tasks and self.poll_every and reads % self.poll_every == 0
                    read = self._poll(session) if poll else self._read(session)
                    pending.add(asyncio.create_task(read))
                while tasks < elapsed * self.task_rate:
                    tasks += 1
                    pending.add(asyncio.create_task(self._submit(session)))
                pending = {t for t in pending if not t.done()}
                await asyncio.sleep(0.005)
            if pending:
                await asyncio.wait(pending)

    def _fail(self, what: str, outcome: str) -> None:
        self.report.failures.append(
            (round(time.monotonic() - self._started, 2), what, outcome[:200])
        )

    async def _read(self, session: aiohttp.ClientSession) -> None:
        await self._get(session, f"/v1/agents/{self._agent_id}", "GET agent")

    async def _poll(self, session: aiohttp.ClientSession) -> None:
        task_id = self.report.tasks[-min(len(self.report.tasks), 5)]
        await self._get(session, f"/v1/tasks/{task_id}", "GET task")

    async def _get(self, session: aiohttp.ClientSession, path: str, what: str) -> None:
        self.report.requests += 1
        try:
            async with session.get(f"{self.base}{path}") as reply:
                body = await reply.text()
                if reply.status != 200:
                    self._fail(what, f"{reply.status} {body}")
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._fail(what, f"{type(exc).__name__}: {exc}")

    async def _submit(self, session: aiohttp.ClientSession) -> None:
        self.report.requests += 1
        body = {"agent_id": self._agent_id, "input": {"prompt": "2 * (3 + 4)"}}
        try:
            async with session.post(
                f"{self.base}/v1/tasks", json=body, headers={"X-API-Key": self.api_key}
            ) as reply:
                text = await reply.text()
                if reply.status != 202:
                    self._fail("POST task", f"{reply.status} {text}")
                    return
                self.report.tasks.append(json.loads(text)["id"])
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._fail("POST task", f"{type(exc).__name__}: {exc}")

    # -- after the run -------------------------------------------------------
    def lost_tasks(self, timeout: float = 120.0) -> list[tuple[str, str]]:
        """Tasks submitted during the run that did not succeed within `timeout` s."""
        return asyncio.run(self._lost(timeout))

    async def _lost(self, timeout: float) -> list[tuple[str, str]]:
        deadline = time.monotonic() + timeout
        lost: list[tuple[str, str]] = []
        async with self._session() as session:
            for task_id in self.report.tasks:
                status = "unknown"
                while time.monotonic() < deadline:
                    try:
                        async with session.get(f"{self.base}/v1/tasks/{task_id}?wait=10") as reply:
                            status = (await reply.json()).get("status", f"HTTP {reply.status}")
                    except (TimeoutError, aiohttp.ClientError) as exc:
                        status = type(exc).__name__
                    if status in ("succeeded", "failed"):
                        break
                if status != "succeeded":
                    lost.append((task_id, status))
        return lost


# Seconds of load before a deploy starts: the watch's baseline is the traffic before it.
WARM_UP = 30


class Clients:
    """The clients' load for the `with` block (a new connection per request unless
    fresh=False, and 8 kept alive, as an SDK's pool does), after WARM_UP s of it; their
    reports and lost tasks."""

    def __init__(self, key: str, fresh: bool = True) -> None:
        """fresh=False: the kept-alive client alone."""
        self.fresh = LbLoad(key) if fresh else None
        self.kept = LbLoad(key, keepalive=8)

    def __enter__(self) -> Clients:
        for client in self._clients():
            client.start()
        time.sleep(WARM_UP)
        return self

    def _clients(self) -> list[LbLoad]:
        return [c for c in (self.fresh, self.kept) if c is not None]

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if not self.kept.report.seconds:
            for client in self._clients():
                client.stop()

    @property
    def failed(self) -> dict[str, int]:
        names = {"new_connection": self.fresh, "kept_alive": self.kept}
        return {name: c.report.failed for name, c in names.items() if c is not None}

    @property
    def requests(self) -> int:
        return sum(c.report.requests for c in self._clients())

    @property
    def seconds(self) -> float:
        return self.kept.report.seconds

    def lost_tasks(self) -> list:
        return [task for c in self._clients() for task in c.lost_tasks()]

    def summary(self) -> str:
        kept = f"kept-alive client {self.kept.report.summary()}"
        if self.fresh is None:
            return kept
        return f"new-connection client {self.fresh.report.summary()}; {kept}"
