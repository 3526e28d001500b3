# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Push metrics to a Prometheus Pushgateway without ever holding up a run.

Every push is spooled to disk first and removed once the gateway took it; a
push is a PUT that replaces its group, so only the newest body per group is
kept. Each attempt runs in a daemon thread bounded by a deadline: a gateway
that accepts and never answers costs at most the timeout, and after the first
failure the rest of the spool waits for the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
import urllib.parse
from pathlib import Path

from ansible.module_utils.urls import open_url
from ansible_collections.slipway.ops.plugins.module_utils._atomic_file import write_atomic


def group_path(job: str, grouping: dict[str, str]) -> str:
    """The Pushgateway URL path of a group: /metrics/job/<job>/<label>/<value>..."""
    parts = ["metrics", "job", urllib.parse.quote(job, safe="")]
    for name, value in sorted(grouping.items()):
        parts += [name, urllib.parse.quote(str(value) or "none", safe="")]
    return "/" + "/".join(parts)


def put(url: str, body: str, timeout: float) -> str | None:
    """PUT a body; None on success, else why not. Never raises; returns within ~timeout."""
    outcome: list[str | None] = ["timed out"]

    def attempt():
        try:
            with open_url(
                url,
                data=body.encode(),
                method="PUT",
                headers={"Content-Type": "text/plain; version=0.0.4"},
                timeout=timeout,
            ) as response:
                outcome[0] = None if 200 <= response.status < 300 else f"HTTP {response.status}"
        except (OSError, ValueError) as error:
            outcome[0] = str(getattr(error, "reason", error)) or type(error).__name__

    if not url.startswith(("http://", "https://")):
        return f"not an http(s) URL: {url}"
    worker = threading.Thread(target=attempt, name="slipway-audit-push", daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    return outcome[0]


class Spool:
    """Pushes not yet taken by the gateway, one file per group."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def _file(self, path: str) -> Path:
        return self.directory / (hashlib.sha256(path.encode()).hexdigest()[:16] + ".json")

    def add(self, path: str, body: str) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        entry = {"path": path, "body": body, "spooled_at": time.time()}
        target = self._file(path)
        write_atomic(target, json.dumps(entry), 0o640)
        return target

    def pending(self) -> list[tuple[Path, dict]]:
        entries = []
        for file in sorted(self.directory.glob("*.json")):
            with contextlib.suppress(OSError, ValueError):
                entries.append((file, json.loads(file.read_text())))
        return entries


def push_all(
    base_url: str, pushes: list[tuple[str, str]], spool: Spool, timeout: float
) -> tuple[int, int, str | None]:
    """Spool the new pushes, then send the spool oldest group first until one fails.

    Returns (sent, left in the spool, the first error or None).
    """
    for path, body in pushes:
        spool.add(path, body)
    sent, error = 0, None
    pending = spool.pending()
    for file, entry in pending:
        error = put(base_url.rstrip("/") + entry["path"], entry["body"], timeout)
        if error:
            break
        with contextlib.suppress(FileNotFoundError):
            file.unlink()
        sent += 1
    return sent, len(pending) - sent, error
