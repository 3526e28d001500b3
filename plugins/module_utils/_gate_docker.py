# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health gate's container watch: a tiny Docker Engine API client over its unix socket.

Targets carry no Docker SDK, so this speaks the Engine API with http.client
over /var/run/docker.sock. It reads only: the containers a label selector
matches, `inspect` (restart count, start time, state, health) and one-shot
`stats` (memory usage against the limit).

A restart is seen three ways: RestartCount grew (the restart policy brought
the process back), the start time moved (`docker restart`, by hand or by the
app_stack watchdog, does not count in RestartCount), or the container is gone
or replaced (Compose recreated it).
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from dataclasses import dataclass

from ansible_collections.slipway.ops.plugins.module_utils._gate_policy import (
    HEALTH,
    RESOURCES,
    Outcome,
)
from ansible_collections.slipway.ops.plugins.module_utils._unix_http import UnixHTTPConnection

# Containers in these states when the gate starts are left alone (one-offs, stopped ones).
NOT_WATCHED_AT_START = ("exited", "dead", "removing")


class DockerError(Exception):
    """The Engine could not be asked, or did not like the question."""


class Docker:
    """The few read-only Engine API calls the gate needs."""

    def __init__(self, socket_path: str = "/var/run/docker.sock", timeout: float = 10.0):
        self.socket_path = socket_path
        self.timeout = timeout

    def get(self, path: str, query: dict | None = None):
        """GET path; the decoded JSON, None on 404; DockerError otherwise."""
        target = path + ("?" + urllib.parse.urlencode(query) if query else "")
        connection = UnixHTTPConnection(self.socket_path, self.timeout)
        try:
            connection.request("GET", target, headers={"Accept": "application/json"})
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise DockerError(
                f"cannot reach the Docker Engine at {self.socket_path}: {error}"
            ) from error
        finally:
            connection.close()
        if response.status == 404:
            return None
        if response.status != 200:
            message = body.decode("utf-8", "replace").strip()
            with_message = (
                json.loads(message).get("message", message) if message.startswith("{") else message
            )
            raise DockerError(f"Docker Engine: GET {path}: {response.status} {with_message}")
        return json.loads(body)

    def containers(self, labels: dict) -> list[dict]:
        """Every container (running or not) that carries all these labels."""
        selector = [f"{k}={v}" for k, v in sorted(labels.items())]
        found = self.get(
            "/containers/json", {"all": "1", "filters": json.dumps({"label": selector})}
        )
        return found or []

    def inspect(self, container_id: str) -> dict | None:
        return self.get(f"/containers/{container_id}/json")

    def stats(self, container_id: str) -> dict | None:
        """One stats reading without the second sample CPU needs (API 1.41: one-shot)."""
        return self.get(
            f"/containers/{container_id}/stats", {"stream": "false", "one-shot": "true"}
        )


def memory_percent(stats: dict | None) -> tuple[float, int] | None:
    """(usage in % of the limit, limit in bytes) as `docker stats` counts; None if not running.

    Page cache that the kernel can drop is not usage: total_inactive_file on
    cgroup v1, inactive_file on v2.
    """
    memory = (stats or {}).get("memory_stats") or {}
    usage, limit = memory.get("usage"), memory.get("limit")
    if not usage or not limit:
        return None
    details = memory.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file"):
        if key in details and details[key] < usage:
            usage -= details[key]
            break
    return usage / limit * 100, limit


def cgroup_memory(pid: int, proc: str = "/proc", cgroup_root: str = "/sys/fs/cgroup") -> dict:
    """A stats-like `memory_stats` read from the process's memory cgroup ({} if unreadable).

    Read directly, it costs microseconds where the Engine's stats call waits up
    to a second, and it works where the Engine has no stats at all (seen here:
    Docker 20.10 on a sandboxed cgroup v1 host answers `memory_stats: {}`).
    """
    try:
        with open(f"{proc}/{pid}/cgroup") as f:
            lines = [line.rstrip("\n").split(":", 2) for line in f if line.count(":") >= 2]
        v1 = [path for _hid, controllers, path in lines if "memory" in controllers.split(",")]
        if v1:
            base = f"{cgroup_root}/memory{v1[0]}"
            usage = int(_read(f"{base}/memory.usage_in_bytes"))
            limit = int(_read(f"{base}/memory.limit_in_bytes"))
        else:
            base = cgroup_root + next(path for hid, _controllers, path in lines if hid == "0")
            usage = int(_read(f"{base}/memory.current"))
            raw = _read(f"{base}/memory.max")
            limit = 0 if raw == "max" else int(raw)
        stat = {}
        for line in _read(f"{base}/memory.stat").splitlines():
            key, _sep, value = line.partition(" ")
            if value.isdigit():
                stat[key] = int(value)
    except (OSError, ValueError, StopIteration):
        return {}
    host = _host_memory(proc)
    if not limit or (host and limit > host):  # no limit: the host's memory, as `docker stats` says
        limit = host
    return {"usage": usage, "limit": limit, "stats": stat}


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _host_memory(proc: str) -> int:
    try:
        for line in _read(f"{proc}/meminfo").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def summarise(inspected: dict) -> dict:
    """What the watch keeps of one `inspect`."""
    state = inspected.get("State") or {}
    return {
        "id": inspected["Id"],
        "name": (inspected.get("Name") or "").lstrip("/"),
        "restart_count": int(inspected.get("RestartCount") or 0),
        "started_at": state.get("StartedAt", ""),
        "status": state.get("Status", "unknown"),
        "exit_code": state.get("ExitCode"),
        "pid": state.get("Pid") or 0,
        "health": (state.get("Health") or {}).get("Status", ""),
        "health_log": ((state.get("Health") or {}).get("Log") or [{}])[-1].get("Output", ""),
    }


def restart_problem(before: dict, now: dict | None, replaced_by: str = "") -> str:
    """Why a watched container broke the gate ('' when it did not): before/now are summaries."""
    name = before["name"]
    if now is None:
        if replaced_by:
            return f"container {name} was replaced (id {before['id'][:12]} -> {replaced_by[:12]})"
        return f"container {name} vanished (id {before['id'][:12]} removed)"
    counts = f"restart count {before['restart_count']} -> {now['restart_count']}"
    if now["status"] in ("exited", "dead"):
        return f"container {name} {now['status']} (exit code {now['exit_code']}, {counts})"
    if now["status"] == "restarting":
        return f"container {name} is restarting (exit code {now['exit_code']}, {counts})"
    if now["restart_count"] > before["restart_count"]:
        return f"container {name} restarted ({counts})"
    if now["started_at"] != before["started_at"]:
        return f"container {name} restarted ({counts}; started again at {now['started_at'][:19]})"
    if now["health"] == "unhealthy":
        said = " ".join(now["health_log"].split())[:120]
        return f"container {name} is unhealthy" + (f": {said}" if said else "")
    return ""


@dataclass
class Watched:
    start: dict
    end: dict
    memory_percent_max: float | None = None
    memory_limit: int | None = None

    def report(self) -> dict:
        return {
            "id": self.start["id"][:12],
            "name": self.start["name"],
            "restart_count_start": self.start["restart_count"],
            "restart_count_end": self.end["restart_count"] if self.end else None,
            "status_end": self.end["status"] if self.end else "gone",
            "memory_percent_max": None
            if self.memory_percent_max is None
            else round(self.memory_percent_max, 1),
            "memory_limit_bytes": self.memory_limit,
        }


class ContainerWatch:
    """The containers a label selector matched when the gate started, watched to its end."""

    def __init__(
        self, docker: Docker, labels: dict, min_count: int = 1, memory_max_percent: float = 90
    ):
        self.docker = docker
        self.labels = labels
        self.min_count = min_count
        self.memory_max_percent = memory_max_percent
        self.watched: list[Watched] = []
        self.where = f"unix://{docker.socket_path}"

    def start(self) -> None:
        """Record each matching container's id, restart count and start time. Raises DockerError."""
        for listed in self.docker.containers(self.labels):
            if listed.get("State") in NOT_WATCHED_AT_START:
                continue
            inspected = self.docker.inspect(listed["Id"])
            if inspected is not None:
                first = summarise(inspected)
                self.watched.append(Watched(first, first))

    def check(self) -> Outcome:
        """One sample of the watch: restarts and memory are fatal, too few running is not."""
        try:
            listed = self.docker.containers(self.labels)
            restarts, memory = [], []
            for watched in self.watched:
                restarts += self._restart(watched, listed)
                memory += self._memory(watched)
        except DockerError as error:
            return Outcome("containers", self.where, False, error=str(error))
        if restarts:
            return Outcome("containers", self.where, False, error="; ".join(restarts), fatal=True)
        if memory:
            error = "; ".join(memory)
            return Outcome(
                "containers", self.where, False, error=error, fatal=True, trigger=RESOURCES
            )
        running = sorted(
            (c.get("Names") or ["?"])[0].lstrip("/") for c in listed if c.get("State") == "running"
        )
        if len(running) < self.min_count:
            selector = ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
            error = (
                f"{len(running)} running container{'s' if len(running) != 1 else ''} "
                f"labelled {selector}, want at least {self.min_count}"
            )
            return Outcome("containers", self.where, False, error=error, trigger=HEALTH)
        return Outcome("containers", self.where, True)

    def _restart(self, watched: Watched, listed: list[dict]) -> list[str]:
        if watched.end is None:  # already reported gone
            return []
        inspected = self.docker.inspect(watched.start["id"])
        now = summarise(inspected) if inspected else None
        replaced_by = ""
        if now is None:
            for c in listed:
                if f"/{watched.start['name']}" in (c.get("Names") or []):
                    replaced_by = c["Id"]
        watched.end = now
        problem = restart_problem(watched.start, now, replaced_by)
        return [problem] if problem else []

    def _memory(self, watched: Watched) -> list[str]:
        if not self.memory_max_percent or not watched.end or watched.end["status"] != "running":
            return []
        # The cgroup first: the Engine's stats wait for its collector's next tick
        # (up to a second per container, one-shot or not, on Docker 20.10).
        memory = cgroup_memory(watched.end["pid"]) if watched.end["pid"] else {}
        stats = {"memory_stats": memory} if memory else self.docker.stats(watched.start["id"])
        reading = memory_percent(stats)
        if reading is None:
            return []
        percent, limit = reading
        watched.memory_limit = limit
        watched.memory_percent_max = max(percent, watched.memory_percent_max or 0.0)
        if percent > self.memory_max_percent:
            return [
                f"container {watched.start['name']} uses {percent:.0f}% of its "
                f"{limit / 2**20:.0f} MiB memory limit (over {self.memory_max_percent:g}%)"
            ]
        return []

    def report(self) -> list[dict]:
        return [watched.report() for watched in self.watched]
