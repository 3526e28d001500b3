"""The agent worker: takes tasks from the queue, runs them, stores results.

It runs PLATFORM_WORKER_CONCURRENCY tasks at once (agents mostly wait on I/O).
On SIGTERM it stops taking tasks and finishes those in hand; if that takes
longer than PLATFORM_WORKER_GRACE_SECONDS it exits without acknowledging them,
and another worker runs them once this one's heartbeat has expired.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
import uuid

from sqlalchemy import func, update

from . import agents, taskqueue
from .alive import ALIVE_FILE
from .db import make_engine, make_sessions
from .logs import event
from .models import TASK_DONE, TASK_OPEN, Agent, Task, TaskEvent
from .settings import Settings

log = logging.getLogger("agent_platform.worker")


class Worker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
        self.redis = taskqueue.connect(settings.redis_url)
        self.engine = make_engine(settings.database_url, pool_size=settings.worker_concurrency + 1)
        self.sessions = make_sessions(self.engine)
        self.streams = [taskqueue.golden_stream(settings.release), taskqueue.TASKS_STREAM]
        self.stopping = threading.Event()
        self.started_at = time.time()
        # Queue entry id -> task id, for every task a slot is running now.
        self.in_hand: dict[str, str] = {}
        self.lock = threading.Lock()
        self.processed = 0

    # ---- lifecycle -----------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        for stream in self.streams:
            taskqueue.ensure_group(self.redis, stream)
        self._beat()
        threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True).start()
        slots = [
            threading.Thread(target=self._slot, args=(n,), name=f"slot-{n}", daemon=True)
            for n in range(self.settings.worker_concurrency)
        ]
        for slot in slots:
            slot.start()
        event(
            log,
            "worker started",
            worker=self.id,
            release=self.settings.release,
            concurrency=len(slots),
            **self.settings.faults.active(),
        )
        while any(slot.is_alive() for slot in slots):
            for slot in slots:
                slot.join(0.2)  # short joins: the main thread must stay free for signals
        self.redis.delete(taskqueue.WORKER_PREFIX + self.id)
        event(log, "worker stopped", worker=self.id, processed=self.processed)
        self.engine.dispose()
        return 0

    def _on_stop_signal(self, signum: int, _frame: object) -> None:
        if self.stopping.is_set():
            return
        self.stopping.set()
        grace = self.settings.worker_grace_seconds
        event(
            log,
            "stop requested: taking no more tasks",
            signal=signum,
            current_tasks=self._held(),
            grace_seconds=grace,
        )
        timer = threading.Timer(grace, self._grace_expired)
        timer.daemon = True
        timer.start()

    def _grace_expired(self) -> None:
        event(
            log,
            "grace period expired with a task in hand; it stays pending for another worker",
            logging.ERROR,
            current_tasks=self._held(),
        )
        self.redis.delete(taskqueue.WORKER_PREFIX + self.id)
        os._exit(1)

    def _beat(self) -> None:
        taskqueue.heartbeat(
            self.redis,
            self.id,
            self.settings.worker_dead_after_seconds,
            release=self.settings.release,
            host=socket.gethostname(),
            started_at=self.started_at,
            processed=self.processed,
            current_tasks=self._held(),
            stopping=self.stopping.is_set(),
        )
        ALIVE_FILE.touch()

    def _heartbeat_loop(self) -> None:
        while True:
            time.sleep(self.settings.heartbeat_seconds)
            try:
                self._beat()
            except Exception:
                log.warning("heartbeat failed", exc_info=True)

    # ---- tasks ---------------------------------------------------------
    def _held(self) -> list[str]:
        with self.lock:
            return sorted(self.in_hand.values())

    def _slot(self, index: int) -> None:
        """One task at a time; slot 0 also sweeps for pending and abandoned tasks."""
        next_sweep = 0.0
        while not self.stopping.is_set():
            try:
                if index == 0 and time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self.settings.heartbeat_seconds
                    self._run_all(self._sweep())
                self._run_all(taskqueue.take(self.redis, self.id, self.streams, block_ms=1000))
            except Exception:
                log.exception("task loop error; the task stays pending and is retried")
                self.stopping.wait(1)

    def _sweep(self) -> list[taskqueue.Delivery]:
        """Own tasks left pending by an error, then tasks of dead workers."""
        with self.lock:
            running = set(self.in_hand)
        own = taskqueue.own_pending(self.redis, self.id, self.streams)
        mine = [d for d in own if d.entry_id not in running]
        min_idle_ms = self.settings.heartbeat_seconds * 1000
        return mine + taskqueue.claim_abandoned(self.redis, self.id, self.streams, min_idle_ms)

    def _run_all(self, deliveries: list[taskqueue.Delivery]) -> None:
        for delivery in deliveries:
            if self.stopping.is_set():
                return
            self._process(delivery)

    def _process(self, delivery: taskqueue.Delivery) -> None:
        with self.lock:
            self.in_hand[delivery.entry_id] = delivery.task_id
        try:
            self._run_task(delivery)
        finally:
            with self.lock:
                self.in_hand.pop(delivery.entry_id, None)

    def _run_task(self, delivery: taskqueue.Delivery) -> None:
        task = self._start(delivery)
        if task is None:
            taskqueue.remove(self.redis, delivery.stream, delivery.entry_id)
            return
        task_id, kind, task_input, agent_type, agent_config = task
        if self.settings.faults.stall_tasks:
            event(
                log,
                "fault: holding the task and never completing it",
                logging.WARNING,
                task=task_id,
            )
            while True:
                time.sleep(3600)
        began = time.monotonic()
        result, error = None, None
        try:
            result = self._run_agent(kind, task_input, agent_type, agent_config)
        except agents.AgentError as exc:
            error = str(exc)
        except Exception as exc:
            log.exception("agent raised")
            error = f"agent error: {type(exc).__name__}"
        duration_ms = int((time.monotonic() - began) * 1000)
        outcome = "failed" if error else "succeeded"
        completed = self._finish(task_id, outcome, result, error, duration_ms)
        taskqueue.remove(self.redis, delivery.stream, delivery.entry_id)
        if completed:
            taskqueue.count_outcome(self.redis, task_id, outcome, self.settings.release, agent_type)
            with self.lock:
                self.processed += 1
        event(
            log,
            "task " + outcome,
            task=task_id,
            duration_ms=duration_ms,
            error=error,
            counted=completed,
        )

    def _start(self, delivery: taskqueue.Delivery) -> tuple | None:
        """Mark the task running; None when there is nothing (more) to run."""
        try:
            task_uuid = uuid.UUID(delivery.task_id)
        except ValueError:
            log.warning("dropping a queue entry without a task id: %s", delivery.entry_id)
            return None
        with self.sessions.begin() as db:
            task = db.get(Task, task_uuid, with_for_update=True)
            if task is None or task.status in TASK_DONE:
                return None
            if task.attempts >= self.settings.task_max_attempts:
                task.status, task.finished_at = "failed", func.now()
                task.error = (
                    f"gave up after {task.attempts} attempts: every worker that took it died"
                )
                db.add(self._event(task.id, "completed"))
                return None
            task.status, task.attempts, task.worker_id, task.started_at = (
                "running",
                task.attempts + 1,
                self.id,
                func.now(),
            )
            db.add(self._event(task.id, "started"))
            agent = db.get(Agent, task.agent_id) if task.agent_id else None
            return (
                str(task.id),
                task.kind,
                dict(task.input),
                agent.type if agent else task.kind,
                dict(agent.config) if agent else {},
            )

    def _run_agent(self, kind: str, task_input: dict, agent_type: str, config: dict) -> dict:
        if kind == "golden":
            return agents.run_golden(task_input, self.settings.release)
        if agent_type == "toolbox":
            return agents.run_toolbox(config, task_input)
        if agent_type == "llm":
            return agents.run_llm(
                config, task_input, self.settings.anthropic_api_key, self.settings.llm_model
            )
        raise agents.AgentError("the task's agent was deleted before the task ran")

    def _finish(
        self, task_id: str, outcome: str, result: dict | None, error: str | None, duration_ms: int
    ) -> bool:
        """Store the outcome unless the task is already done; True if this call completed it."""
        with self.sessions.begin() as db:
            done = db.execute(
                update(Task)
                .where(Task.id == uuid.UUID(task_id), Task.status.in_(TASK_OPEN))
                .values(
                    status=outcome,
                    result=result,
                    error=error,
                    finished_at=func.now(),
                    completed_by_release=self.settings.release,
                    duration_ms=duration_ms,
                )
            )
            if done.rowcount != 1:
                return False
            db.add(self._event(uuid.UUID(task_id), "completed"))
            return True

    def _event(self, task_id: uuid.UUID, name: str) -> TaskEvent:
        return TaskEvent(
            task_id=task_id, event=name, worker_id=self.id, release=self.settings.release
        )


def main(settings: Settings) -> int:
    return Worker(settings).run()
