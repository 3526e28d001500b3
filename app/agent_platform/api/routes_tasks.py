"""Tasks: submit one to an agent, read its status and result; golden tasks for deploy gates."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import update
from starlette.concurrency import run_in_threadpool

from .. import taskqueue
from ..models import TASK_DONE, TASK_OPEN, Agent, Task
from .schemas import GoldenIn, TaskIn, TaskOut
from .security import require_api_key

router = APIRouter(prefix="/v1", tags=["tasks"])
MAX_WAIT_SECONDS = 30


def _enqueue_or_undo(request: Request, task: Task, release: str | None = None) -> str:
    """Queue a committed task; if Redis refuses, delete the row so nothing is left half-made."""
    state = request.app.state
    try:
        return taskqueue.enqueue(state.redis, str(task.id), release)
    except Exception:
        with state.sessions.begin() as db:
            db.execute(Task.__table__.delete().where(Task.id == task.id))
        raise HTTPException(
            503, "the task queue is unavailable; nothing was queued, retry later"
        ) from None


@router.post("/tasks", status_code=202, dependencies=[Depends(require_api_key)])
def submit_task(body: TaskIn, request: Request) -> TaskOut:
    # Committed before it is queued: a worker must never see a task id it cannot read.
    with request.app.state.sessions.begin() as db:
        if db.get(Agent, body.agent_id) is None:
            raise HTTPException(404, f"agent {body.agent_id} not found")
        task = Task(
            id=uuid.uuid4(),
            agent_id=body.agent_id,
            kind="user",
            input=body.input,
            status="queued",
            attempts=0,
        )
        db.add(task)
        db.flush()
        db.refresh(task)
        out = TaskOut.model_validate(task)
    _enqueue_or_undo(request, task)
    return out


def _read_task(request: Request, task_id: uuid.UUID) -> Task | None:
    with request.app.state.sessions() as db:
        return db.get(Task, task_id)


async def _wait_for(request: Request, task_id: uuid.UUID, seconds: float) -> Task | None:
    """The task once done, or as it stands after `seconds`."""
    deadline = time.monotonic() + seconds
    with request.app.state.completions.waiter(str(task_id)) as announced:
        while True:
            task = await run_in_threadpool(_read_task, request, task_id)
            left = deadline - time.monotonic()
            if task is None or task.status in TASK_DONE or left <= 0:
                return task
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(announced.wait(), timeout=min(left, 0.5))
            announced.clear()


@router.get("/tasks/{task_id}")
async def get_task(
    task_id: uuid.UUID,
    request: Request,
    wait: float = Query(
        0, ge=0, le=MAX_WAIT_SECONDS, description="seconds to wait for the task to finish"
    ),
) -> TaskOut:
    task = await _wait_for(request, task_id, wait)
    if task is None:
        raise HTTPException(404, f"task {task_id} not found")
    return TaskOut.model_validate(task)


def _create_golden(request: Request, release: str, nonce: str) -> tuple[Task, str]:
    with request.app.state.sessions.begin() as db:
        task = Task(
            id=uuid.uuid4(),
            kind="golden",
            target_release=release,
            input={"nonce": nonce},
            status="queued",
            attempts=0,
        )
        db.add(task)
    return task, _enqueue_or_undo(request, task, release)


def _abandon_golden(request: Request, task: Task, entry_id: str, release: str) -> None:
    state = request.app.state
    state.redis.xdel(taskqueue.golden_stream(release), entry_id)
    with state.sessions.begin() as db:
        db.execute(
            update(Task)
            .where(Task.id == task.id, Task.status.in_(TASK_OPEN))
            .values(status="failed", error="golden task timed out")
        )


@router.post("/golden", dependencies=[Depends(require_api_key)])
async def golden(body: GoldenIn, request: Request) -> JSONResponse:
    """Run a synthetic task that only a worker of `release` may take, and wait for its result.

    Workers serve no HTTP; this is how a deploy health-gates them.
    """
    nonce = secrets.token_hex(8)
    began = time.monotonic()
    task, entry_id = await run_in_threadpool(_create_golden, request, body.release, nonce)
    done = await _wait_for(request, task.id, body.timeout_seconds)
    elapsed_ms = int((time.monotonic() - began) * 1000)
    base = {"task_id": str(task.id), "release": body.release, "elapsed_ms": elapsed_ms}
    if done is None or done.status not in TASK_DONE:
        await run_in_threadpool(_abandon_golden, request, task, entry_id, body.release)
        within = f"within {body.timeout_seconds:g} s"
        if done is not None and done.status == "running":
            why = f"worker {done.worker_id} took the golden task but did not finish it {within}"
        else:
            why = f"no worker of release {body.release} took the golden task {within}"
        return JSONResponse({**base, "error": why}, status_code=504)
    output = (done.result or {}).get("output", {})
    if (
        done.status != "succeeded"
        or output.get("nonce") != nonce
        or output.get("release") != body.release
    ):
        return JSONResponse(
            {**base, "error": f"the golden task came back wrong: {done.error or output}"},
            status_code=502,
        )
    return JSONResponse(
        {
            **base,
            "status": "succeeded",
            "worker_id": done.worker_id,
            "duration_ms": done.duration_ms,
        }
    )
