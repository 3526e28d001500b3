"""A reliable task queue on Redis streams.

Tasks go to the stream `platform:tasks`; golden tasks for release R go to
`platform:golden:R`, which only workers of release R read. Every stream has
one consumer group, `workers`. A delivered task stays in the group's pending
list until the worker that holds it acknowledges it, after the result is in
PostgreSQL. A worker that dies leaves its tasks pending; once its heartbeat
has expired, another worker claims them (XCLAIM) and runs them again, and the
conditional update in worker.py makes the completion count exactly once.
Acknowledged entries are deleted, so a stream's length is its backlog.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import redis

TASKS_STREAM = "platform:tasks"
GOLDEN_PREFIX = "platform:golden:"
GROUP = "workers"
WORKER_PREFIX = "platform:worker:"
STATS_KEY = "platform:stats"
DONE_CHANNEL = "platform:done"


def golden_stream(release: str) -> str:
    return GOLDEN_PREFIX + release


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_timeout=5, socket_connect_timeout=3, decode_responses=True
    )


def ensure_group(r: redis.Redis, stream: str) -> None:
    """Create the group from the stream's start, so nothing added earlier is skipped."""
    try:
        r.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def enqueue(r: redis.Redis, task_id: str, release: str | None = None) -> str:
    stream = golden_stream(release) if release else TASKS_STREAM
    ensure_group(r, stream)
    return r.xadd(stream, {"task_id": task_id})


def remove(r: redis.Redis, stream: str, entry_id: str) -> None:
    """Acknowledge and delete in one round trip."""
    pipe = r.pipeline(transaction=True)
    pipe.xack(stream, GROUP, entry_id)
    pipe.xdel(stream, entry_id)
    pipe.execute()


@dataclass(frozen=True)
class Delivery:
    stream: str
    entry_id: str
    task_id: str


def _deliveries(reply) -> list[Delivery]:
    out = []
    for stream, entries in reply or []:
        for entry_id, fields in entries:
            if fields is None:  # deleted after delivery: nothing to run
                continue
            out.append(Delivery(stream, entry_id, fields.get("task_id", "")))
    return out


def take(r: redis.Redis, consumer: str, streams: list[str], block_ms: int) -> list[Delivery]:
    """New tasks for this consumer, waiting up to block_ms for one."""
    return _deliveries(
        r.xreadgroup(GROUP, consumer, dict.fromkeys(streams, ">"), count=1, block=block_ms)
    )


def own_pending(r: redis.Redis, consumer: str, streams: list[str]) -> list[Delivery]:
    """Tasks delivered to this consumer and not yet acknowledged (a retry after an error)."""
    return _deliveries(r.xreadgroup(GROUP, consumer, dict.fromkeys(streams, "0"), count=10))


def claim_abandoned(
    r: redis.Redis, consumer: str, streams: list[str], min_idle_ms: int
) -> list[Delivery]:
    """Claim tasks held by consumers whose heartbeat has expired.

    XCLAIM with min-idle-time is atomic: when two workers race for the same
    entry, the first claim resets its idle time and the second claims nothing.
    """
    claimed: list[Delivery] = []
    for stream in streams:
        for entry in r.xpending_range(stream, GROUP, min="-", max="+", count=100, idle=min_idle_ms):
            holder = entry["consumer"]
            if holder == consumer or r.exists(WORKER_PREFIX + holder):
                continue
            for entry_id, fields in r.xclaim(
                stream, GROUP, consumer, min_idle_ms, [entry["message_id"]]
            ):
                if fields:
                    claimed.append(Delivery(stream, entry_id, fields.get("task_id", "")))
                else:
                    r.xack(stream, GROUP, entry_id)
        _forget_dead_consumers(r, stream)
    return claimed


def _forget_dead_consumers(r: redis.Redis, stream: str) -> None:
    for info in r.xinfo_consumers(stream, GROUP):
        if (
            info["pending"] == 0
            and not r.exists(WORKER_PREFIX + info["name"])
            and info["idle"] > 60_000
        ):
            r.xgroup_delconsumer(stream, GROUP, info["name"])


def heartbeat(r: redis.Redis, worker_id: str, ttl_seconds: int, **state: object) -> None:
    state.update(id=worker_id, beat_at=time.time())
    r.set(WORKER_PREFIX + worker_id, json.dumps(state), ex=ttl_seconds)


def workers(r: redis.Redis) -> list[dict]:
    found = []
    for key in r.scan_iter(match=WORKER_PREFIX + "*", count=100):
        raw = r.get(key)
        if raw:
            found.append(json.loads(raw))
    return found


def count_outcome(
    r: redis.Redis, task_id: str, outcome: str, release: str, agent_type: str
) -> None:
    """Count the outcome and tell waiting API requests the task is done."""
    pipe = r.pipeline(transaction=False)
    pipe.hincrby(STATS_KEY, f"{outcome}|{release}|{agent_type}", 1)
    pipe.publish(DONE_CHANNEL, task_id)
    pipe.execute()


def outcomes(r: redis.Redis) -> list[tuple[str, str, str, int]]:
    """(outcome, release, agent type, count) for every task a worker finished."""
    rows = []
    for field, value in r.hgetall(STATS_KEY).items():
        outcome, release, agent_type = field.split("|", 2)
        rows.append((outcome, release, agent_type, int(value)))
    return rows


def backlog(r: redis.Redis) -> list[tuple[str, int, float]]:
    """(queue, depth, oldest task age in seconds) for every stream."""
    now_ms = time.time() * 1000
    streams = [TASKS_STREAM, *r.scan_iter(match=GOLDEN_PREFIX + "*", count=100)]
    rows = []
    for stream in streams:
        depth = r.xlen(stream)
        oldest = r.xrange(stream, count=1)
        age = max(0.0, (now_ms - int(oldest[0][0].split("-")[0])) / 1000) if oldest else 0.0
        queue = "tasks" if stream == TASKS_STREAM else "golden:" + stream[len(GOLDEN_PREFIX) :]
        rows.append((queue, depth, age))
    return rows
