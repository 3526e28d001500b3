#!/usr/bin/python3
"""Restart a Compose project's unhealthy containers and count every restart.

Docker's restart policy restarts a container whose process exits, never one
that runs but fails its health check. This watchdog (run by a systemd timer)
restarts those, and writes node_exporter textfile metrics:

    slipway_app_container_restarts_total{project,service,reason}
        reason="exited": Docker's restart policy brought it back (RestartCount)
        reason="unhealthy": this watchdog restarted it
    slipway_app_containers{project,service,health}
    slipway_app_watchdog_last_run_timestamp_seconds{project}

Only containers labelled io.slipway.watchdog=true are watched.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess  # nosec B404
import sys
import tempfile
import time
from collections import Counter

REASONS = ("exited", "unhealthy")
DOCKER = "/usr/bin/docker"


def inspect(project: str) -> list[dict]:
    """docker inspect of the project's watched containers."""
    ids = subprocess.run(  # nosec B603
        [
            DOCKER, "ps", "--all", "--quiet",
            "--filter", f"label=com.docker.compose.project={project}",
            "--filter", "label=io.slipway.watchdog=true",
        ],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    if not ids:
        return []
    out = subprocess.run([DOCKER, "inspect", *ids], check=True, capture_output=True, text=True)  # nosec B603
    return json.loads(out.stdout)


def summarise(container: dict) -> dict:
    """What the watchdog needs from one `docker inspect` entry."""
    state = container.get("State", {})
    return {
        "id": container["Id"],
        "name": container.get("Name", "").lstrip("/"),
        "service": container.get("Config", {})
        .get("Labels", {})
        .get("com.docker.compose.service", "?"),
        "restart_count": int(container.get("RestartCount", 0)),
        "running": bool(state.get("Running")) and not state.get("Restarting"),
        "health": (state.get("Health") or {}).get("Status", "none"),
    }


def tally(containers: list[dict], state: dict) -> tuple[dict, list[dict]]:
    """Fold Docker's restart counts into the totals; say which containers to restart.

    state = {"seen": {container id: RestartCount last seen}, "totals": {"service/reason": n}}.
    A container seen for the first time brings all its restarts (it was created
    since the last run). Containers gone are forgotten; totals never go down.
    """
    seen = state.get("seen", {})
    totals = Counter(state.get("totals", {}))
    for c in containers:
        new = c["restart_count"] - seen.get(c["id"], 0)
        if new > 0:
            totals[f"{c['service']}/exited"] += new
    unhealthy = [c for c in containers if c["running"] and c["health"] == "unhealthy"]
    for c in unhealthy:
        totals[f"{c['service']}/unhealthy"] += 1
    return (
        {"seen": {c["id"]: c["restart_count"] for c in containers}, "totals": dict(totals)},
        unhealthy,
    )


def render(project: str, containers: list[dict], state: dict, now: float) -> str:
    """The textfile metrics: totals per service and reason, containers per health."""
    services = sorted(
        {key.split("/")[0] for key in state["totals"]} | {c["service"] for c in containers}
    )
    lines = [
        "# HELP slipway_app_container_restarts_total Restarts of the app's containers, by cause.",
        "# TYPE slipway_app_container_restarts_total counter",
    ]
    for service in services:
        for reason in REASONS:
            n = state["totals"].get(f"{service}/{reason}", 0)
            labels = f'project="{project}",service="{service}",reason="{reason}"'
            lines.append(f"slipway_app_container_restarts_total{{{labels}}} {n}")
    lines += [
        "# HELP slipway_app_containers The app's containers by service and health.",
        "# TYPE slipway_app_containers gauge",
    ]
    health = Counter((c["service"], c["health"] if c["running"] else "down") for c in containers)
    for (service, status), n in sorted(health.items()):
        labels = f'project="{project}",service="{service}",health="{status}"'
        lines.append(f"slipway_app_containers{{{labels}}} {n}")
    lines += [
        "# HELP slipway_app_watchdog_last_run_timestamp_seconds When the watchdog last ran.",
        "# TYPE slipway_app_watchdog_last_run_timestamp_seconds gauge",
        f'slipway_app_watchdog_last_run_timestamp_seconds{{project="{project}"}} {now:.0f}',
    ]
    return "\n".join(lines) + "\n"


def write_atomically(path: str, text: str, mode: int = 0o644) -> None:
    """Readers (node_exporter) never see half a file: the steps of the collection's
    module_utils/_atomic_file.py (this script is installed alone, with nothing to import)."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), mode)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_state(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--state", required=True, help="JSON file with the counters")
    parser.add_argument("--metrics", required=True, help="node_exporter textfile (.prom)")
    parser.add_argument(
        "--stop-timeout", type=int, default=30, help="seconds `docker restart` waits"
    )
    args = parser.parse_args(argv)

    containers = [summarise(c) for c in inspect(args.project)]
    state, unhealthy = tally(containers, load_state(args.state))
    for c in unhealthy:
        print(f"restarting {c['name']} ({c['service']}): unhealthy", flush=True)
        done = subprocess.run(  # nosec B603
            [DOCKER, "restart", "--time", str(args.stop_timeout), c["id"]],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(
                f"could not restart {c['name']}: {done.stderr.strip()}", file=sys.stderr, flush=True
            )
    write_atomically(args.state, json.dumps(state, sort_keys=True), mode=0o600)
    write_atomically(args.metrics, render(args.project, containers, state, time.time()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
