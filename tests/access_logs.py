"""Nginx access logs in nginx_tls's slipway_json format, written for the canary judge's
unit tests and tests/bench/evidence_cost.py: two backends, app1 the canary."""

from __future__ import annotations

import json

UPSTREAMS = {"10.242.0.21:8000": "app1", "10.242.0.22:8000": "app2"}
T0 = 1_800_000_000.0
# Requests a second: 50 reads and 2 submissions.
RATE = 52


def write_log(
    path,
    seconds: int,
    bad_submissions: float = 0.0,
    start: float = T0,
    base: float = 0.010,
    slow_reads: float = 0.0,
) -> None:
    """50 reads and 2 submissions a second, app1 (the canary) taking a fifth; a share of
    app1's submissions answered 500; each answer takes `base` s and a few ms, app1's reads
    `slow_reads` s more. Appended to what the log holds."""
    lines = [path.read_text()] if path.exists() else []
    for i in range(seconds * RATE):
        t = start + i / RATE
        submission = i % 26 == 0
        addr = "10.242.0.21:8000" if i % 5 == 0 else "10.242.0.22:8000"
        status = 202 if submission else 200
        if submission and addr.startswith("10.242.0.21") and (i // 26) % 10 < bad_submissions * 10:
            status = 500
        extra = slow_reads if addr.startswith("10.242.0.21") and not submission else 0.0
        record = {
            "msec": f"{t:.3f}",
            "method": "POST" if submission else "GET",
            "uri": "/v1/tasks" if submission else "/v1/agents/a1",
            "status": status,
            "upstream_addr": addr,
            "upstream_status": str(status),
            "upstream_response_time": f"{base + (i % 7) / 1000 + extra:.3f}",
        }
        lines.append(json.dumps(record) + "\n")
    path.write_text("".join(lines))
