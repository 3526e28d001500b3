"""The request-level faults (see agent_platform/faults.py), as a dependency of
every route so that their failures are counted under the real route."""

from __future__ import annotations

import asyncio
import random

from fastapi import HTTPException, Request

_random = random.SystemRandom()


async def inject_faults(request: Request) -> None:
    if request.url.path == "/metrics":  # the gate must see the failures
        return
    faults = request.app.state.settings.faults
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    if faults.error_rate and _random.random() < faults.error_rate:
        raise HTTPException(500, "fault injected: PLATFORM_FAULT_ERROR_RATE")
