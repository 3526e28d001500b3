"""The request-level faults (see agent_platform/faults.py), as a dependency of
every route so that their failures are counted under the real route. A route
fault acts on its one route (method and template) only, from
PLATFORM_FAULT_ROUTE_AFTER_SECONDS after the process started."""

from __future__ import annotations

import asyncio
import random
import time

from fastapi import HTTPException, Request

_random = random.SystemRandom()
_STARTED = time.monotonic()


async def inject_faults(request: Request) -> None:
    if request.url.path == "/metrics":  # the gate must see the failures
        return
    faults = request.app.state.settings.faults
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    if faults.error_rate and _random.random() < faults.error_rate:
        raise HTTPException(500, "fault injected: PLATFORM_FAULT_ERROR_RATE")
    if (
        faults.route
        and faults.route == f"{request.method}:{_template(request)}"
        and time.monotonic() - _STARTED >= faults.route_after_seconds
    ):
        if faults.route_latency_ms:
            await asyncio.sleep(faults.route_latency_ms / 1000)
        if faults.route_error_rate and _random.random() < faults.route_error_rate:
            raise HTTPException(500, "fault injected: PLATFORM_FAULT_ROUTE_ERROR_RATE")


def _template(request: Request) -> str:
    """The matched route's template (/v1/tasks/{task_id}), as the metrics label it."""
    return getattr(request.scope.get("route"), "path", "")
