"""One ASGI middleware for every request: request id, body size limit,
metrics and the access log. Plain ASGI rather than
BaseHTTPMiddleware: it costs a few microseconds, not a task per request."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from ..logs import event, request_id
from ..metrics import Metrics
from ..settings import Settings

log = logging.getLogger("agent_platform.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Probes and scrapes are logged at debug level: they would drown the rest.
_QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})


async def _send_json(send, status: int, payload: dict, rid: str) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", rid.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ObserveMiddleware:
    def __init__(self, app, settings: Settings, metrics: Metrics) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        began = time.perf_counter()
        state = {"status": 500, "started": False, "too_large": False}
        try:
            await self._handle(scope, receive, send, headers, rid, state)
        finally:
            seconds = time.perf_counter() - began
            # Requests refused before routing (body too large) have no route.
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(route, scope["method"], state["status"], seconds)
            level = (
                logging.DEBUG
                if scope["path"] in _QUIET_PATHS and state["status"] < 500
                else logging.INFO
            )
            if log.isEnabledFor(level):
                event(
                    log,
                    "request",
                    level,
                    method=scope["method"],
                    path=scope["path"],
                    route=route,
                    status=state["status"],
                    duration_ms=round(seconds * 1000, 2),
                    client=(scope.get("client") or ("", 0))[0],
                )
            request_id.reset(token)

    async def _handle(self, scope, receive, send, headers, rid, state) -> None:
        limit = self.settings.max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            state["status"] = 413
            await _send_json(
                send, 413, {"error": f"request body over {limit} bytes", "request_id": rid}, rid
            )
            return
        received = 0

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    state["too_large"] = True
                    return {"type": "http.disconnect"}
            return message

        async def tagged_send(message):
            if state["too_large"]:
                return  # the app saw a disconnect; the 413 below answers instead
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        await self.app(scope, counting_receive, tagged_send)
        if state["too_large"] and not state["started"]:
            state["status"] = 413
            await _send_json(
                send, 413, {"error": f"request body over {limit} bytes", "request_id": rid}, rid
            )
