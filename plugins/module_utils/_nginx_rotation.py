# Copyright: Slipway maintainers
# Apache License 2.0 (see galaxy.yml)
"""One load balancer's rotation change in one step (slipway.ops.nginx_rotation).

Write the drained list and the upstream that marks those backends down, check
the whole Nginx configuration, reload gracefully, and (when draining) wait
until the workers that served before the reload have exited: then every
request that was in flight has finished. A configuration that does not parse
is rolled back and Nginx is not reloaded. One module call instead of a task
per step: a drain and an undrain are on the deploy's critical path.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# A backend's weight when nothing is reduced (a percentage: the canary's is less).
FULL_WEIGHT = 100


class RotationFailed(Exception):
    """The change could not be made; `failure` says which step (config, reload, in_flight)."""

    def __init__(self, failure: str, message: str):
        super().__init__(message)
        self.failure = failure


def drained_text(drained: list[str]) -> str:
    """The drained list as the file holds it (what `to_json` wrote before this module)."""
    return json.dumps(sorted(set(drained))) + "\n"


def weights_text(weights: dict[str, int]) -> str | None:
    """The reduced weights as the file holds them; None (no file) when every backend has its full
    weight."""
    reduced = {name: int(w) for name, w in sorted(weights.items()) if int(w) < FULL_WEIGHT}
    return json.dumps(reduced, sort_keys=True) + "\n" if reduced else None


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def write(path: Path, text: str | None) -> None:
    """Replace the file atomically (mode 0644), or remove it when text is None."""
    if text is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may hold spaces: split after it.
    return stat[stat.rindex(")") + 2 :].split()


def children(parent: int) -> list[int]:
    """The live processes whose parent is `parent` (Nginx's workers under its master)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and fields[0] != "Z" and int(fields[1]) == parent:
                found.append(int(entry.name))
    return sorted(found)


def alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def master_pid(pid_file: Path) -> int | None:
    text = read(pid_file)
    return int(text.strip()) if text and text.strip().isdigit() else None


def apply(
    *,
    drained: list[str],
    drained_file: Path,
    upstream_file: Path,
    upstream_content: str,
    wait_in_flight: bool,
    timeout: float,
    pid_file: Path,
    check_mode: bool,
    run: Callable[[list[str]], tuple[int, str, str]],
    nginx: str = "/usr/sbin/nginx",
    weights: dict[str, int] | None = None,
    weights_file: Path | None = None,
) -> dict:
    """Make the change; the module's result. Raises RotationFailed.

    With weights_file, the backends' reduced weights (a canary's) are part of the
    state: a change of weight alone is a change too."""
    before = read(drained_file)
    after = drained_text(drained)
    previous = sorted(json.loads(before)) if before else []
    w_before = read(weights_file) if weights_file else None
    w_after = weights_text(weights or {}) if weights_file else None
    result = {
        "changed": previous != sorted(set(drained)) or w_before != w_after,
        "drained": sorted(set(drained)),
        "previous": previous,
        "weights": json.loads(w_after) if w_after else {},
        "waited": 0.0,
        "workers": [],
        "diff": {"before": before or "[]\n", "after": after},
    }
    if w_before or w_after:
        result["diff"]["before"] += f"weights: {(w_before or '{}').strip()}\n"
        result["diff"]["after"] += f"weights: {(w_after or '{}').strip()}\n"
    if not result["changed"] or check_mode:
        return result
    old_upstream = read(upstream_file)
    master = master_pid(pid_file) if wait_in_flight else None
    workers = children(master) if master else []
    if not upstream_content.endswith("\n"):
        upstream_content += "\n"
    write(drained_file, after)
    if weights_file:
        write(weights_file, w_after)
    write(upstream_file, upstream_content)
    rc, out, err = run([nginx, "-t", "-q"])
    if rc != 0:
        write(upstream_file, old_upstream)
        write(drained_file, before)
        if weights_file:
            write(weights_file, w_before)
        raise RotationFailed("config", (err or out).strip())
    rc, out, err = run(["systemctl", "reload", "nginx"])
    if rc != 0:
        raise RotationFailed("reload", (err or out).strip())
    started = time.monotonic()
    while any(alive(pid) for pid in workers):
        if time.monotonic() - started > timeout:
            result["workers"] = [pid for pid in workers if alive(pid)]
            raise RotationFailed("in_flight", f"workers {result['workers']} still running")
        time.sleep(0.1)
    result["waited"] = round(time.monotonic() - started, 2)
    result["workers"] = workers
    return result
