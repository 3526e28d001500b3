"""The run's own route traffic against a real local HTTP server (plain HTTP: the
module adds only the TLS context)."""

from __future__ import annotations

import http.client
import http.server
import json
import threading
import time
from typing import ClassVar

import pytest
from ansible_collections.slipway.ops.plugins.module_utils import _route_traffic as traffic

from tests.conftest import STALL_SLACK


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, str, str]]] = []

    def do_GET(self):
        Handler.seen.append((self.path, self.headers["Host"], self.headers["User-Agent"]))
        status = (
            500 if self.path.startswith("/v1/broken") else 404 if "/tasks/" in self.path else 200
        )
        body = b"{}"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Handler.seen = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()


def _send(port, routes, duration=1.0, rate=40, stop_file=None):
    return traffic.send(
        routes=routes,
        rate=rate,
        duration=duration,
        connections=2,
        connect=lambda: http.client.HTTPConnection("127.0.0.1", port, timeout=5),
        headers={"Host": "app.example", "User-Agent": traffic.USER_AGENT},
        stop_file=stop_file,
    )


def test_it_sends_at_the_rate_the_routes_in_turn_with_fresh_ids(server):
    result = _send(server, ["GET /v1/agents?limit=20", "GET /v1/tasks/{id}"], duration=1.0)
    # 40/s for 1 s, paced: not a burst, not a trickle.
    assert 30 <= result["sent"] <= 44, result
    assert result["errors"] == 0
    assert set(result["by_route"]) == {"GET /v1/agents?limit=20", "GET /v1/tasks/{id}"}
    assert result["by_route"]["GET /v1/tasks/{id}"].keys() == {"4xx"}
    ids = [p for p, _, _ in Handler.seen if p.startswith("/v1/tasks/")]
    assert len(set(ids)) == len(ids)
    assert "{id}" not in ids[0]
    assert {(h, ua) for _, h, ua in Handler.seen} == {("app.example", "slipway-route-traffic")}


def test_server_errors_and_unanswered_requests_count_as_errors(server):
    result = _send(server, ["GET /v1/broken"], duration=0.5)
    assert result["errors"] == result["sent"] > 0
    closed = traffic.send(
        routes=["GET /v1/agents"],
        rate=20,
        duration=0.5,
        connections=1,
        connect=lambda: http.client.HTTPConnection("127.0.0.1", 9, timeout=1),
        headers={},
    )
    assert closed["errors"] == closed["sent"] > 0
    assert closed["by_route"]["GET /v1/agents"].keys() == {"error"}


def test_the_stop_file_ends_it_early(server, tmp_path):
    stop = tmp_path / "stop"
    threading.Timer(0.5, stop.touch).start()
    started = time.monotonic()
    result = _send(server, ["GET /v1/agents"], duration=30, stop_file=stop)
    assert result["stopped"] is True
    assert time.monotonic() - started < 0.5 + STALL_SLACK  # not the 30 s duration


@pytest.mark.parametrize(
    "route",
    [
        "POST /v1/tasks",
        'POST /v1/tasks {"agent_id": "a1", "input": {}}',
        "DELETE /v1/agents/{id}",
        "GET /v1/agents {}",
    ],
)
def test_only_reads_and_writes_naming_a_fresh_id_are_sent(route):
    with pytest.raises(ValueError, match="changes nothing"):
        traffic.parse_route(route)


@pytest.mark.parametrize("route", ["GET", "GET v1/agents"])
def test_a_route_needs_a_path(route):
    with pytest.raises(ValueError, match="leading slash"):
        traffic.parse_route(route)


def test_a_write_body_must_be_json():
    with pytest.raises(ValueError, match="not JSON"):
        traffic.parse_route("POST /v1/tasks {agent: {id}}")


def test_a_write_carries_its_body_with_a_fresh_id_and_the_key(server):
    seen = []

    def do_post(handler):
        length = int(handler.headers["Content-Length"])
        seen.append(
            (
                handler.rfile.read(length),
                handler.headers["X-API-Key"],
                handler.headers["Content-Type"],
            )
        )
        handler.send_response(404)
        handler.send_header("Content-Length", "2")
        handler.end_headers()
        handler.wfile.write(b"{}")

    Handler.do_POST = do_post
    try:
        result = traffic.send(
            routes=['POST /v1/tasks {"agent_id": "{id}", "input": {}}'],
            rate=20,
            duration=0.5,
            connections=1,
            connect=lambda: http.client.HTTPConnection("127.0.0.1", server, timeout=5),
            headers={"Host": "app.example"},
            write_headers={"X-API-Key": "k1"},
        )
    finally:
        del Handler.do_POST
    assert result["errors"] == 0
    assert result["sent"] == len(seen) > 0
    ids = [json.loads(body)["agent_id"] for body, _, _ in seen]
    assert len(set(ids)) == len(ids)
    assert {(key, kind) for _, key, kind in seen} == {("k1", "application/json")}
