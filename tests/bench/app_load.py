#!/usr/bin/env python3
"""The reference platform under load: one api container, one worker, 50 clients.

  GET /health          50 clients, each 10 requests/s (500/s): p50 and p95
                       (target p95 < 10 ms); then wrk, 50 connections back to
                       back: the most requests/s and p95 at that load
  task submit→result   50 clients, each POST /v1/tasks then GET
                       /v1/tasks/{id}?wait=10, one task a second each (50/s):
                       p50, p95 (target p95 < 200 ms); then back to back: the
                       most tasks per second and p95 at that load

PostgreSQL and Redis are real servers on 127.0.0.1 (tests/app/servers.py);
the containers run the lab registry's image on the host network. Each figure
is the median of --runs rounds. Exits 1 when a median misses its target.
Needs `make app-images` (the image) and wrk (installed when missing).
Usage: app_load.py [--runs N] [--seconds S] [--image IMAGE]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from tests.app.servers import Postgres, Redis, free_port, wait_for_port  # noqa: E402

KEY = "sk_bench_" + uuid.uuid4().hex
CLIENTS = 50
# The offered load for the latency targets: 50 clients, each calling /health
# 10 times a second (500 requests/s) and submitting one task a second (50
# tasks/s). The ", max" figures are the same clients back to back: capacity.
HEALTH_INTERVAL = 0.1
TASK_INTERVAL = 1.0
TARGETS = {"health p95 ms": 10.0, "task p95 ms": 200.0}
WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("p50=%f p95=%f rps=%f\\n", latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, summary.requests / (summary.duration / 1e6)))
end
"""


def sh(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def ensure_wrk() -> None:
    if (
        subprocess.run(["sh", "-c", "command -v wrk"], capture_output=True, check=False).returncode
        != 0
    ):
        print("installing wrk (Debian package)", flush=True)
        sh("apt-get", "install", "-y", "-qq", "wrk")


def start_platform(image: str, db: str, redis: str, port: int) -> list[str]:
    import hashlib

    env = [
        *("-e", f"DATABASE_URL={db}", "-e", f"REDIS_URL={redis}"),
        *("-e", f"PLATFORM_API_KEY_SHA256={hashlib.sha256(KEY.encode()).hexdigest()}"),
        # One key drives all 50 clients: the per-client rate limit would cap them.
        *("-e", "PLATFORM_RATE_LIMIT_PER_MINUTE=0"),
    ]
    sh("docker", "run", "--rm", "--network", "host", *env, image, "migrate")
    names = [f"slipway-bench-api-{port}", f"slipway-bench-worker-{port}"]
    sh(
        "docker",
        "run",
        "-d",
        "--name",
        names[0],
        "--network",
        "host",
        *env,
        "-e",
        f"PLATFORM_PORT={port}",
        image,
        "api",
    )
    sh("docker", "run", "-d", "--name", names[1], "--network", "host", *env, image, "worker")
    wait_for_port(port, timeout=60)
    return names


def health_saturation(url: str, seconds: int, script: Path) -> dict[str, float]:
    out = sh("wrk", "-t2", f"-c{CLIENTS}", f"-d{seconds}s", "-s", str(script), f"{url}/health")
    line = next(x for x in out.splitlines() if x.startswith("p50="))
    figures = dict(part.split("=") for part in line.split())
    return {"health rps, max": float(figures["rps"]), "health p95 ms, max": float(figures["p95"])}


async def clients(url: str, seconds: int, interval: float | None, one) -> tuple[list[float], float]:
    """Run CLIENTS clients for `seconds`; each calls `one(session, n, i)` in a loop.

    With an interval, each client starts a call every `interval` seconds (an
    offered load, from a random phase); without one, back to back (saturation).
    Latency is measured from the call's scheduled start, so a late call counts
    its wait (no coordinated omission).
    """
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        began = time.perf_counter()
        deadline = began + seconds

        async def client(n: int) -> None:
            i = 0
            due = began + (random.random() * interval if interval else 0)  # noqa: S311 - load phase
            while due < deadline:
                if interval:
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                else:
                    due = time.perf_counter()
                await one(session, n, i)
                latencies.append(time.perf_counter() - due)
                i += 1
                due += interval or 0

        await asyncio.gather(*(client(n) for n in range(CLIENTS)))
        elapsed = time.perf_counter() - began
    return latencies, elapsed


def percentiles(prefix: str, latencies: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(latencies, n=100)
    return {f"{prefix} p50 ms": cuts[49] * 1000, f"{prefix} p95 ms": cuts[94] * 1000}


async def health_paced(url: str, seconds: int) -> dict[str, float]:
    async def one(session, _n, _i) -> None:
        async with session.get(f"{url}/health") as reply:
            assert reply.status == 200

    latencies, _ = await clients(url, seconds, HEALTH_INTERVAL, one)
    return percentiles("health", latencies)


async def tasks(
    url: str, seconds: int, agent_id: str, interval: float | None
) -> tuple[list[float], float]:
    async def one(session, n, i) -> None:
        body = {"agent_id": agent_id, "input": {"prompt": f"{n} * {i} + 1"}}
        async with session.post(f"{url}/v1/tasks", json=body) as reply:
            task = await reply.json()
            assert reply.status == 202, task
        async with session.get(f"{url}/v1/tasks/{task['id']}", params={"wait": "10"}) as reply:
            done = await reply.json()
        assert done["status"] == "succeeded", done

    return await clients(url, seconds, interval, one)


async def task_round(url: str, seconds: int, agent_id: str) -> dict[str, float]:
    paced, _ = await tasks(url, seconds, agent_id, TASK_INTERVAL)
    flat_out, elapsed = await tasks(url, seconds, agent_id, None)
    figures = percentiles("task", paced)
    saturated = percentiles("task", flat_out)
    figures["tasks per s, max"] = len(flat_out) / elapsed
    figures["task p95 ms, max"] = saturated["task p95 ms"]
    return figures


def make_agent(url: str) -> str:
    import json
    import urllib.request

    req = urllib.request.Request(  # noqa: S310 - the local API under test
        f"{url}/v1/agents",
        data=json.dumps({"name": "bench", "type": "toolbox"}).encode(),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req) as reply:  # noqa: S310 - as above
        return json.loads(reply.read())["id"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--image", default="127.0.0.1:15000/slipway/agent-platform:1.1.0")
    args = parser.parse_args()
    ensure_wrk()
    pg, redis = Postgres(), Redis()
    pg.sql("CREATE DATABASE agents")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    script = Path(pg.dir) / "p95.lua"
    script.write_text(WRK_SCRIPT)
    names: list[str] = []
    try:
        names = start_platform(args.image, pg.url("agents"), redis.url(), port)
        agent_id = make_agent(url)
        samples: dict[str, list[float]] = {}
        for i in range(args.runs):
            print(f"round {i + 1}/{args.runs}", flush=True)
            rounds = (
                asyncio.run(health_paced(url, args.seconds)),
                health_saturation(url, args.seconds, script),
                asyncio.run(task_round(url, args.seconds, agent_id)),
            )
            for figures in rounds:
                for name, value in figures.items():
                    samples.setdefault(name, []).append(value)
    finally:
        for name in names:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
        pg.stop()
        redis.stop()
    failed = False
    print(f"\n{'measure':<16}{'median':>10}{'target':>10}  samples")
    print(f"({CLIENTS} clients, {args.seconds} s per round, {args.runs} rounds)")
    for name, values in samples.items():
        median = statistics.median(values)
        target = TARGETS.get(name)
        verdict, bound = "", ""
        if target is not None:
            verdict = "ok" if median < target else "MISSED"
            bound = f"< {target:g}"
            failed |= median >= target
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name:<16}{median:>10.1f}{bound:>10}  {shown}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
