"""The worker's liveness marker: touched at every heartbeat, read by the HEALTHCHECK.

Kept apart from the worker so that the health check imports nothing heavy: under
a container's CPU limit, importing the worker (Redis, SQLAlchemy) takes seconds.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_ALIVE_DEFAULT = "/tmp/agent-platform-worker.alive"  # noqa: S108  # nosec B108
ALIVE_FILE = Path(os.environ.get("PLATFORM_WORKER_ALIVE_FILE", _ALIVE_DEFAULT))
# A worker whose marker is older than this is stuck (heartbeats are seconds apart).
MAX_AGE_SECONDS = 30


def fresh(path: Path = ALIVE_FILE, now: float | None = None) -> bool:
    """Whether the worker touched its marker within MAX_AGE_SECONDS."""
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except OSError:
        return False
    return age < MAX_AGE_SECONDS
