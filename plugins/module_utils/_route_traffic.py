# Copyright: Slipway maintainers
# Apache License 2.0 (see galaxy.yml)
"""The run's own requests to the platform's real routes (slipway.ops.route_traffic).

When an environment is too quiet for the canary judge, the deploy sends these
through each load balancer, so that the canary and its baseline serve requests
the judge can compare. Paced over a few kept-alive connections, for a duration
or until a stop file appears. Pure Python; `connect` is injected for tests."""

from __future__ import annotations

import collections
import http.client
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

USER_AGENT = "slipway-route-traffic"


def parse_route(route: str) -> tuple[str, str]:
    """'GET /v1/agents' -> ('GET', '/v1/agents'); ValueError names the route."""
    parts = route.split()
    if len(parts) != 2 or parts[0] not in ("GET", "HEAD") or not parts[1].startswith("/"):
        raise ValueError(
            f"route {route!r} must be a read: 'GET /path' (or HEAD), the path from its "
            "leading slash; {id} stands for a fresh id in each request"
        )
    return parts[0], parts[1]


def send(
    *,
    routes: list[str],
    rate: float,
    duration: float,
    connections: int,
    connect: Callable[[], http.client.HTTPConnection],
    headers: dict[str, str],
    stop_file: Path | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict:
    """Send `rate` requests a second over `connections` kept-alive connections for
    `duration` seconds (or until `stop_file` exists), the routes in turn.
    Returns what was sent and what answered, per route."""
    parsed = [parse_route(r) for r in routes]
    lock = threading.Lock()
    counts: dict[str, collections.Counter] = {r: collections.Counter() for r in routes}
    stop = threading.Event()
    start = clock()
    interval = connections / rate

    def worker(n: int) -> None:
        conn, i = None, n
        next_at = start + n * interval / connections
        while not stop.is_set() and clock() - start < duration:
            delay = next_at - clock()
            if delay > 0:
                time.sleep(delay)
            # Paced, not catching up: a slow answer does not make a burst.
            next_at = max(next_at + interval, clock())
            route, (method, path) = routes[i % len(routes)], parsed[i % len(routes)]
            i += 1
            outcome = "error"
            try:
                conn = conn or connect()
                conn.request(method, path.replace("{id}", str(uuid.uuid4())), headers=headers)
                response = conn.getresponse()
                response.read()
                outcome = f"{response.status // 100}xx"
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
            with lock:
                counts[route][outcome] += 1

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(connections)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        if stop_file is not None and stop_file.exists():
            stop.set()
        time.sleep(0.2)
    by_route = {route: dict(counter) for route, counter in counts.items()}
    return {
        "sent": sum(sum(c.values()) for c in counts.values()),
        "errors": sum(c["error"] + c["5xx"] for c in counts.values()),
        "seconds": round(clock() - start, 1),
        "stopped": stop.is_set(),
        "by_route": by_route,
    }
