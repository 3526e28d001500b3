"""The run's own route traffic against a real local HTTP server (plain HTTP: the
module adds only the TLS context)."""

from __future__ import annotations

import http.client
import http.server
import threading
import time
from typing import ClassVar

import pytest
from ansible_collections.slipway.ops.plugins.module_utils import _route_traffic as traffic


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
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "route", ["POST /v1/tasks", "GET", "GET v1/agents", "DELETE /v1/agents/{id}"]
)
def test_only_reads_are_sent(route):
    with pytest.raises(ValueError, match="must be a read"):
        traffic.parse_route(route)
