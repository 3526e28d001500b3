"""Operational endpoints: liveness, readiness, metrics, version. No auth, no rate limit."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from ..schema import schema_problem

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> dict:
    """Liveness: the process answers. It checks no dependency on purpose."""
    return {"status": "ok", "release": request.app.state.settings.release}


@router.get("/ready")
def ready(request: Request) -> JSONResponse:
    """Readiness: PostgreSQL and Redis answer; the schema is at this release's revision or past."""
    state = request.app.state
    problems = []
    if state.settings.faults.never_ready:
        problems.append("fault injected: PLATFORM_FAULT_NEVER_READY")
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        schema = schema_problem(state.engine, state.expected_revision)
        if schema:
            problems.append(schema)
    except Exception as exc:
        problems.append(f"postgresql: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    try:
        state.redis.ping()
    except Exception as exc:
        problems.append(f"redis: {type(exc).__name__}: {str(exc)[:200]}")
    body = {
        "status": "not ready" if problems else "ready",
        "release": state.settings.release,
        "schema": state.expected_revision,
        "problems": problems,
    }
    return JSONResponse(body, status_code=503 if problems else 200)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )


@router.get("/version")
async def version(request: Request) -> dict:
    s = request.app.state.settings
    return {
        "release": s.release,
        "git_sha": s.git_sha,
        "build_time": s.build_time,
        "schema": request.app.state.expected_revision,
        "faults": s.faults.active(),
    }
