"""Wake requests that wait for a task (GET /v1/tasks/{id}?wait=, golden tasks)
as soon as a worker announces the task done on Redis, instead of polling
PostgreSQL. Announcements can be missed (pub/sub keeps nothing), so a waiter
still re-reads the task every half second."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import redis.asyncio

from ..taskqueue import DONE_CHANNEL

log = logging.getLogger("agent_platform.completions")


class Completions:
    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.waiters: dict[str, set[asyncio.Event]] = {}

    @contextlib.contextmanager
    def waiter(self, task_id: str) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self.waiters.setdefault(task_id, set()).add(event)
        try:
            yield event
        finally:
            waiting = self.waiters.get(task_id, set())
            waiting.discard(event)
            if not waiting:
                self.waiters.pop(task_id, None)

    async def listen(self) -> None:
        """Runs for the life of the API; reconnects when Redis goes away."""
        while True:
            client = redis.asyncio.Redis.from_url(self.redis_url, decode_responses=True)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(DONE_CHANNEL)
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            for event in self.waiters.get(message["data"], ()):
                                event.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: waiters fall back to re-reading
                log.warning("completion listener: %s; retrying in 1 s", exc)
                await asyncio.sleep(1)
            finally:
                await client.aclose()
