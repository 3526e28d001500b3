"""One HTTP probe against real servers on 127.0.0.1 (a scripted target, a TLS server)."""

from __future__ import annotations

import http.server
import ssl
import threading
import time

import pytest
from ansible_collections.slipway.ops.plugins.module_utils._gate_probe import (
    dotted,
    json_mismatches,
    probe,
    ssl_context,
)

from tests.certs import self_signed
from tests.conftest import STALL_SLACK


def test_a_200_with_the_expected_fields_passes_and_is_timed(target):
    target.script((200, '{"status": "ok", "checks": [{"name": "db", "ok": true}]}'))
    outcome = probe(target.url(), expect_json={"status": "ok", "checks.0.ok": True})
    assert (outcome.ok, outcome.status, outcome.error) == (True, 200, "")
    assert 0 < outcome.latency_ms < 1000


def test_a_503_quotes_its_body_and_cuts_a_long_one(target):
    target.script((503, '{"problems": ["' + "x" * 500 + '"]}'))
    outcome = probe(target.url())
    assert not outcome.ok
    assert outcome.status == 503
    assert outcome.error.startswith('503 {"problems": ["xxx')
    assert outcome.error.endswith(" (body truncated)")
    assert len(outcome.error) < 260


def test_the_status_list_and_headers_are_honoured(target):
    target.script((204, ""))
    outcome = probe(target.url("/health"), status=[200, 204], headers={"X-Probe": "gate"})
    assert outcome.ok
    path, headers = target.hits[0]
    assert path == "/health"
    assert headers["X-Probe"] == "gate"


def test_a_field_that_does_not_match_is_named(target):
    target.script((200, '{"status": "degraded"}'))
    outcome = probe(target.url(), expect_json={"status": "ok", "release": "1.1.0"})
    assert not outcome.ok
    assert outcome.error.startswith(
        '200 but status is "degraded", expected "ok"; release missing: {"status"'
    )


def test_a_body_that_is_not_json_fails_a_json_check(target):
    target.script((200, "<html>hello</html>"))
    assert probe(target.url(), expect_json={"status": "ok"}).error == (
        "200 but the body is not JSON: <html>hello</html>"
    )


def test_a_refused_connection_is_said_plainly(closed_port):
    outcome = probe(closed_port + "/ready")
    assert (outcome.ok, outcome.status, outcome.error) == (False, None, "connection refused")


def test_a_slow_server_costs_the_timeout(target):
    target.script((200, "{}", 30.0))
    start = time.monotonic()
    outcome = probe(target.url(), timeout=0.3)
    assert time.monotonic() - start < 0.3 + STALL_SLACK  # far from the 30 s answer
    assert outcome.error == "no answer within 0.3 s"


def test_a_server_that_hangs_up_without_answering(target):
    target.script("close")
    assert probe(target.url()).error in (
        "the server closed the connection without answering",
        "connection reset by the server",
    )


def test_a_target_that_dies_refuses_from_then_on(target):
    assert probe(target.url()).ok
    target.die()
    assert probe(target.url()).error == "connection refused"


def test_a_bad_url_is_said():
    assert probe("ftp://x/").error == "not an http(s) URL: ftp://x/"


@pytest.fixture
def tls_target(tmp_path):
    """An https server with a self-signed certificate for 127.0.0.1."""
    cert, key, _ = self_signed(name="gate-test")
    (tmp_path / "cert.pem").write_text(cert)
    (tmp_path / "key.pem").write_text(key)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}/health", str(tmp_path / "cert.pem")
    server.shutdown()
    server.server_close()


def test_https_is_verified_against_the_ca_given(tls_target):
    url, ca = tls_target
    assert probe(url, context=ssl_context(True, ca)).ok
    untrusted = probe(url, context=ssl_context(True, ""))
    assert untrusted.error.startswith("TLS certificate not trusted")
    assert probe(url, context=ssl_context(False)).ok


def test_dotted_paths_reach_into_objects_and_lists():
    document = {"a": {"b": [{"c": 1}, {"c": 2}]}}
    assert dotted(document, "a.b.1.c") == 2
    assert dotted(document, "a.b.-1.c") == 2
    assert json_mismatches(b'{"a": {"b": []}}', {"a.b.0": 1}) == ["a.b.0 missing"]


def test_yaml_quoting_is_forgiven_but_types_are_not_confused():
    assert json_mismatches(b'{"n": 1, "up": true}', {"n": "1", "up": "true"}) == []
    assert json_mismatches(b'{"n": 1}', {"n": 1.0}) == []
    assert json_mismatches(b'{"n": 1}', {"n": True}) == ["n is 1, expected true"]
