# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run's own requests to the platform's real routes (slipway.ops.route_traffic).

When an environment is too quiet for the canary judge, the deploy sends these
through each load balancer, so that the canary and its baseline serve requests
the judge can compare. Paced over a few kept-alive connections, for a duration
or until a stop file appears. Pure Python; `connect` is injected for tests."""

from __future__ import annotations

import collections
import http.client
import json
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

USER_AGENT = "slipway-route-traffic"


def parse_route(route: str) -> tuple[str, str, str | None]:
    """'GET /v1/agents' -> ('GET', '/v1/agents', None); 'POST /v1/tasks {...}' -> with its
    JSON body. A write must name a fresh id ({id}) in its body: one that exists nowhere, so
    that the route runs and changes nothing. ValueError names the route and the fix."""
    parts = route.split(None, 2)
    method, path = [*parts, "", ""][:2]
    body = parts[2] if len(parts) == 3 else None
    if not path.startswith("/"):
        raise ValueError(
            f"route {route!r} must be 'METHOD /path' (the path from its leading slash)"
        )
    if method in ("GET", "HEAD") and body is None:
        return method, path, None
    if method == "POST" and body is not None and "{id}" in body:
        try:
            json.loads(body.replace("{id}", str(uuid.uuid4())))
        except ValueError:
            raise ValueError(f"route {route!r}: its body is not JSON") from None
        return method, path, body
    raise ValueError(
        f"route {route!r} must be a read ('GET /path'), or a write that changes nothing: "
        "'POST /path {json body naming {id}}', a fresh id that exists nowhere (a task for "
        "an agent that does not exist: the route runs and creates nothing)"
    )


def send(
    *,
    routes: list[str],
    rate: float,
    duration: float,
    connections: int,
    connect: Callable[[], http.client.HTTPConnection],
    headers: dict[str, str],
    write_headers: dict[str, str] | None = None,
    stop_file: Path | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict:
    """Send `rate` requests a second over `connections` kept-alive connections for
    `duration` seconds (or until `stop_file` exists), the routes in turn; a write
    also carries `write_headers` (the API key). Returns what was sent and what
    answered, per route."""
    parsed = [parse_route(r) for r in routes]
    write_headers = {"Content-Type": "application/json", **(write_headers or {})}
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
            route, (method, path, body) = routes[i % len(routes)], parsed[i % len(routes)]
            i += 1
            outcome = "error"
            fresh = str(uuid.uuid4())
            try:
                conn = conn or connect()
                conn.request(
                    method,
                    path.replace("{id}", fresh),
                    body=body.replace("{id}", fresh).encode() if body else None,
                    headers={**headers, **write_headers} if body else headers,
                )
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
