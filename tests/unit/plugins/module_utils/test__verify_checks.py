"""The checks that need no platform, against real sockets on 127.0.0.1: a TLS server
with certificates from tests/certs.py, a closed port, a silent one, the local Docker
Engine, and small stand-ins for Prometheus and external services. The checks that
talk to the platform run against the real one in tests/app/test_verify_checks.py."""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from ansible_collections.slipway.ops.plugins.module_utils import _verify_checks as checks
from ansible_collections.slipway.ops.plugins.module_utils import _verify_options as options
from ansible_collections.slipway.ops.plugins.module_utils import _verify_security as security
from ansible_collections.slipway.ops.plugins.module_utils import _verify_suite as suite
from ansible_collections.slipway.ops.plugins.module_utils._verify_http import (
    Endpoint,
)

from tests.certs import self_signed
from tests.conftest import STALL_SLACK
from tests.unit.plugins.conftest import IMAGE, needs_docker


def run(params: dict) -> dict:
    return suite.run_suite(params, checks.RUNNERS)


def opts(**over):
    return options.with_defaults(over)


def endpoint(url="http://127.0.0.1:1", **kw):
    return Endpoint(url, timeout=kw.pop("timeout", 2), **kw)


def serve(handler_class, tls_context=None):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    if tls_context is not None:
        server.socket = tls_context.wrap_socket(server.socket, server_side=True)
    # A short poll interval: shutdown() waits for it.
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


class Site(BaseHTTPRequestHandler):
    """A load balancer's answers: headers on every answer, 401 on unauthenticated
    mutations, 404 elsewhere; the test sets what differs."""

    headers_sent: ClassVar[dict] = {
        "Strict-Transport-Security": "max-age=63072000",
        "X-Content-Type-Options": "nosniff",
    }
    exposed: tuple = ()
    post_status = 401

    def answer(self, status, body=b"{}"):
        self.send_response(status)
        for name, value in self.headers_sent.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health" or self.path in self.exposed:
            self.answer(200, b'{"status": "ok"}')
        else:
            self.answer(404)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.answer(self.post_status, b'{"id": "x"}')

    def log_message(self, *args):
        pass


@pytest.fixture
def https_site(tmp_path):
    """start(days=30, **handler attributes) -> (base_url, ca_file): a real TLS server
    whose self-signed certificate names verify-lb and 127.0.0.1."""
    servers = []

    def start(days=30, **attributes):
        cert, key, _ = self_signed("verify-lb", days=days)
        (tmp_path / "cert.pem").write_text(cert)
        (tmp_path / "key.pem").write_text(key)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
        handler = type("Handler", (Site,), attributes)
        server = serve(handler, context)
        servers.append(server)
        return f"https://127.0.0.1:{server.server_address[1]}", str(tmp_path / "cert.pem")

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def http_site(**attributes):
    return serve(type("Handler", (Site,), attributes))


# ---- security_posture -----------------------------------------------------------


def test_a_sound_tls_site_passes_security(https_site):
    url, ca = https_site()
    ep = Endpoint(url, server_name="verify-lb", ca_path=ca, timeout=5)
    outcome = security.check_security_posture(ep, opts(), False)
    assert outcome.passed, outcome.message
    assert outcome.metrics["tls_protocol"] in ("TLSv1.2", "TLSv1.3")
    assert 29 < outcome.metrics["cert_days_left"] <= 30
    assert outcome.metrics["legacy_tls_accepted"] in (False, None)
    assert outcome.metrics["unauthenticated_post_status"] == 401
    assert outcome.message.startswith("TLSv1.")


def test_a_certificate_close_to_expiry_fails(https_site):
    url, ca = https_site(days=5)
    ep = Endpoint(url, server_name="verify-lb", ca_path=ca, timeout=5)
    outcome = security.check_security_posture(ep, opts(), False)
    assert not outcome.passed
    assert re.search(r"certificate expires in (4\.9|5\.0) days", outcome.message)
    assert "(under cert_min_days 14)" in outcome.message


def test_a_certificate_for_another_name_fails(https_site):
    url, ca = https_site()
    ep = Endpoint(url, server_name="api.example.com", ca_path=ca, timeout=5)
    outcome = security.check_security_posture(ep, opts(), False)
    assert not outcome.passed
    assert "as api.example.com: TLS certificate not trusted: Hostname mismatch" in outcome.message


def test_an_untrusted_certificate_fails(https_site):
    url, _ = https_site()
    ep = Endpoint(url, server_name="verify-lb", timeout=5)  # the system's CAs only
    outcome = security.check_security_posture(ep, opts(), False)
    assert not outcome.passed
    assert "TLS certificate not trusted: self-signed certificate" in outcome.message


def test_without_validation_the_expiry_is_still_read(https_site):
    url, _ = https_site(days=3)
    ep = Endpoint(url, validate_certs=False, timeout=5)
    outcome = security.check_security_posture(ep, opts(), False)
    assert outcome.metrics["cert_verified"] is False
    assert re.search(r"certificate expires in (2\.9|3\.0) days", outcome.message)


def test_missing_headers_exposed_debug_paths_and_open_mutations_fail(https_site):
    url, ca = https_site(
        headers_sent={"X-Content-Type-Options": "nosniff"},
        exposed=("/openapi.json",),
        post_status=201,
    )
    ep = Endpoint(url, server_name="verify-lb", ca_path=ca, timeout=5)
    outcome = security.check_security_posture(ep, opts(), False)
    assert not outcome.passed
    assert "missing header(s) Strict-Transport-Security" in outcome.message
    assert "POST /v1/agents without a key CREATED an agent (201)" in outcome.message
    assert "debug endpoint(s) exposed: /openapi.json (200)" in outcome.message
    assert outcome.metrics["debug_paths"]["/docs"] == 404


def test_plaintext_http_skips_the_tls_part_and_says_so():
    server = http_site()
    try:
        ep = endpoint(f"http://127.0.0.1:{server.server_address[1]}")
        outcome = security.check_security_posture(ep, opts(), False)
        assert outcome.passed, outcome.message
        assert "TLS not checked: base_url is plaintext http" in outcome.message
        required = security.check_security_posture(ep, opts(security={"tls": "true"}), False)
        assert not required.passed
        assert "security.tls is true but http://127.0.0.1:" in required.message
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_speaks_tls_1_1_is_caught(tmp_path):
    cert, key, _ = self_signed("verify-lb")
    (tmp_path / "c.pem").write_text(cert)
    (tmp_path / "k.pem").write_text(key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():  # deprecated protocols: that is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot serve TLS 1.1")
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    server = serve(Site, context)
    try:
        ep = endpoint(f"https://127.0.0.1:{server.server_address[1]}", validate_certs=False)
        accepted = security.legacy_tls_accepted(ep)
        if accepted is None:
            pytest.skip("this OpenSSL cannot offer TLS 1.1")
        assert accepted is True
    finally:
        server.shutdown()
        server.server_close()


# ---- database_connectivity (the real PostgreSQL: tests/app) -----------------------


def test_database_on_a_closed_port_fails_fast(closed_port):
    port = int(closed_port.rsplit(":", 1)[1])
    outcome = checks.check_database_connectivity(
        endpoint(), opts(database={"host": "127.0.0.1", "port": port}), False
    )
    assert not outcome.passed
    assert outcome.message == f"TCP 127.0.0.1:{port}: connection refused"


def test_database_that_never_answers_times_out(silent_gateway):
    port = int(silent_gateway.rsplit(":", 1)[1])
    error, elapsed = checks.postgres_answers("127.0.0.1", port, 0.5)
    assert error == f"TCP 127.0.0.1:{port}: timed out"
    assert elapsed < (0.5 + STALL_SLACK) * 1000  # not the peer's 30 s


@pytest.mark.parametrize(
    ("banner", "says"),
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n", "answered b'SSH-2.0-OpenSSH_9.2"),
        (b"HTTP/1.0 400 Bad\r\n\r\n", "answered b'H', not PostgreSQL's 'S' or 'N'"),
        (b"", "closed the connection without a PostgreSQL answer"),
    ],
)
def test_a_server_that_is_not_postgres_is_told_apart(banner, says):
    """Even one whose first byte is PostgreSQL's 'S' (SSH's banner)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer():
        conn, _ = listener.accept()
        with conn:
            conn.recv(8)
            conn.sendall(banner)

    threading.Thread(target=answer, daemon=True).start()
    try:
        error, _ = checks.postgres_answers("127.0.0.1", listener.getsockname()[1], 2)
        assert says in error
    finally:
        listener.close()


def test_database_is_skipped_when_not_configured():
    outcome = checks.check_database_connectivity(endpoint(), opts(), False)
    assert (outcome.passed, outcome.skipped) == (True, True)
    assert outcome.message == "not configured: database.host is empty"


# ---- api_endpoints without a platform ---------------------------------------------


def test_api_endpoints_without_a_key_fails_naming_the_variable():
    outcome = checks.check_api_endpoints(endpoint(), opts(), False)
    assert not outcome.passed
    assert outcome.message.startswith("api_key is empty")


def test_api_endpoints_is_not_run_in_check_mode():
    outcome = checks.check_api_endpoints(endpoint(api_key="k"), opts(), True)
    assert (outcome.passed, outcome.skipped) == (True, True)
    assert outcome.message.startswith("not run in check mode")


def test_an_unreachable_platform_fails_health_and_availability(closed_port):
    ep = endpoint(closed_port)
    health = checks.check_health(ep, opts(), False)
    ready = checks.check_service_availability(ep, opts(), False)
    assert health.message == f"{closed_port} did not answer: connection refused"
    assert ready.message == "/ready did not answer: connection refused"


# ---- performance (latency budgets against the real platform: tests/app) ----------


def test_performance_budgets():
    figures = {
        "requests": 50,
        "p50_ms": 10.0,
        "p95_ms": 600.0,
        "error_rate": 0.04,
        "first_errors": ["HTTP 500"],
    }
    slow = [10.0] * 40 + [600.0] * 10
    outcome = checks.judge_performance(dict(figures), slow, 500, 0.01)
    assert not outcome.passed
    assert outcome.message.startswith(
        "p95 600 ms over the 500 ms budget: 10 of 50 requests slower, more than chance allows"
        " (p = 0.00016); error rate 4.0% over 1.0% (HTTP 500)"
    )
    assert outcome.metrics["over_p95_budget"] == 10
    fast = [10.0] * 50
    good = {**figures, "p95_ms": 20, "error_rate": 0}
    assert checks.judge_performance(good, fast, 500, 0.01).passed


def test_two_slow_requests_of_fifty_are_chance():
    figures = {"requests": 50, "p50_ms": 10.0, "p95_ms": 10.0, "error_rate": 0.0}
    outcome = checks.judge_performance(figures, [10.0] * 48 + [700.0, 900.0], 500, 0.0)
    assert outcome.passed, outcome.message
    assert outcome.message.endswith("; 2 over the 500 ms budget, within chance")


def performance(target, confirm, **over):
    """The check on 10 requests against a 100 ms p95 budget; a slow step is 0.3 s."""
    perf = {"requests": 10, "concurrency": 4, "path": "/ready", "p95_ms": 100}
    perf.update(error_rate=0.0, confirm=confirm, **over)
    ep = endpoint(target.url(""))
    return checks.check_performance_baseline(ep, opts(performance=perf), False)


SLOW_STEP, FAST_STEP = (200, "{}", 0.3), (200, "{}")


def test_a_stall_over_one_sample_is_not_confirmed_by_the_second(monkeypatch):
    """The samples' latencies are scripted (a real fast sample could itself meet a stall of
    the machine that runs the test): 10 at 300 ms, then 10 at 5 ms."""
    samples = iter([[300.0] * 10, [5.0] * 10])

    def measure(ep, path, requests, concurrency):
        latencies = next(samples)
        figures = {"requests": requests, "errors": 0, "error_rate": 0.0, "first_errors": []}
        p50, p95 = (round(checks.stats.percentile(latencies, q), 1) for q in (0.5, 0.95))
        return {**figures, "p50_ms": p50, "p95_ms": p95}, latencies

    monkeypatch.setattr(checks, "measure", measure)
    perf = {"requests": 10, "concurrency": 4, "path": "/ready", "p95_ms": 100}
    perf.update(error_rate=0.0, confirm=True)
    outcome = checks.check_performance_baseline(endpoint(), opts(performance=perf), False)
    assert outcome.passed, outcome.message
    assert outcome.message == (
        "10 requests: p50 5 ms, p95 5 ms, errors 0.0% in a second sample of 10 requests; "
        "the first one's p95 300 ms over the 100 ms budget: 10 of 10 requests slower, more "
        "than chance allows (p = 9.8e-14) (10 requests: p50 300 ms, p95 300 ms, errors 0.0%) "
        "did not hold (a stall, not the release)"
    )
    assert outcome.metrics["first_sample"]["over_p95_budget"] == 10
    assert outcome.metrics["over_p95_budget"] == 0


def test_a_slower_release_is_confirmed_by_the_second_sample(target):
    target.script(SLOW_STEP)
    outcome = performance(target, confirm=True)
    assert not outcome.passed
    assert outcome.message.startswith("p95 ")
    assert ", confirmed by a second sample of 10 requests (the first: p95 " in outcome.message
    assert len(target.hits) == 20


@pytest.mark.parametrize(
    ("step", "confirm"),
    [(SLOW_STEP, False), ((500, "{}", 0.3), True)],
    ids=["not-asked-to-confirm", "errors-fail-at-once"],
)
def test_a_breach_fails_on_the_first_sample_when_it_is_not_confirmed(target, step, confirm):
    target.script(step)
    outcome = performance(target, confirm=confirm)
    assert not outcome.passed
    assert "confirmed" not in outcome.message
    assert len(target.hits) == 10


def test_performance_counts_refused_connections_as_errors(closed_port):
    metrics, latencies = checks.measure(endpoint(closed_port), "/health", 6, 3)
    assert len(latencies) == 6
    assert metrics["errors"] == 6
    assert metrics["first_errors"] == ["connection refused"]


# ---- rollback_capability: the local Docker Engine ---------------------------------


@needs_docker
def test_rollback_finds_an_image_the_engine_has(engine):
    image, tag = IMAGE.rsplit(":", 1)
    rollback = {"previous_release": tag, "image": image, "docker_socket": engine}
    outcome = checks.check_rollback_capability(endpoint(), opts(rollback=rollback), False)
    assert outcome.passed, outcome.message
    assert outcome.metrics["image_id"].startswith("sha256:")


@needs_docker
def test_rollback_fails_when_the_previous_image_is_gone(engine):
    rollback = {
        "previous_release": "0.0.0-never",
        "image": "slipway/agent-platform",
        "docker_socket": engine,
    }
    outcome = checks.check_rollback_capability(endpoint(), opts(rollback=rollback), False)
    assert not outcome.passed
    assert outcome.message == (
        "image slipway/agent-platform:0.0.0-never is not in the local Docker Engine: "
        "a rollback would need a pull"
    )


def test_rollback_needs_a_previous_release_and_an_engine(tmp_path):
    none = checks.check_rollback_capability(endpoint(), opts(), False)
    assert not none.passed
    assert none.message.startswith("no previous release recorded (rollback.previous_release)")
    rollback = {"previous_release": "1.0.0", "image": "x", "docker_socket": str(tmp_path / "d")}
    gone = checks.check_rollback_capability(endpoint(), opts(rollback=rollback), False)
    assert gone.message == f"Docker Engine at {tmp_path / 'd'}: no such socket"
    assert checks.image_reference("r/a", "sha256:abc") == "r/a@sha256:abc"


# ---- monitoring: a stand-in Prometheus HTTP API -----------------------------------


@pytest.fixture
def prometheus():
    """A Prometheus HTTP API answering `up` with the values the test sets."""
    state = {"series": [], "targets": [], "queries": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/api/v1/query"):
                state["queries"].append(self.path)
                data = {"resultType": "vector", "result": state["series"]}
            else:
                data = {"activeTargets": state["targets"]}
            body = json.dumps({"status": "success", "data": data}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = serve(Handler)
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()
    server.server_close()


def monitoring(url, **labels):
    return opts(monitoring={"prometheus_url": url, **labels})


def test_monitoring_passes_when_the_target_is_up(prometheus):
    url, state = prometheus
    state["series"] = [{"metric": {"job": "platform", "instance": "app1:8000"}, "value": [0, "1"]}]
    outcome = checks.check_monitoring(endpoint(), monitoring(url, job="platform"), False)
    assert outcome.passed, outcome.message
    assert outcome.message == 'Prometheus scrapes 1 target(s) up for up{job="platform"}'
    assert "query=up%7Bjob%3D%22platform%22%7D" in state["queries"][0]


def test_monitoring_fails_with_prometheus_reason_when_down(prometheus):
    url, state = prometheus
    state["series"] = [{"metric": {"job": "platform", "instance": "app1:8000"}, "value": [0, "0"]}]
    state["targets"] = [
        {"labels": {"job": "platform", "instance": "app1:8000"}, "lastError": "connection refused"}
    ]
    outcome = checks.check_monitoring(
        endpoint(), monitoring(url, job="platform", instance="app1:8000"), False
    )
    assert not outcome.passed
    assert outcome.message == (
        'Prometheus target(s) down for up{job="platform",instance="app1:8000"}: app1:8000 '
        "(app1:8000: connection refused)"
    )


def test_monitoring_fails_when_no_target_matches(prometheus):
    url, _ = prometheus
    outcome = checks.check_monitoring(endpoint(), monitoring(url, job="nope"), False)
    assert outcome.message.startswith('Prometheus has no target matching up{job="nope"}')


def test_monitoring_is_skipped_when_not_configured(closed_port):
    outcome = checks.check_monitoring(endpoint(), opts(), False)
    assert (outcome.passed, outcome.skipped) == (True, True)
    assert "not configured" in outcome.message
    unreachable = checks.check_monitoring(endpoint(), monitoring(closed_port), False)
    assert unreachable.message == f"Prometheus at {closed_port}: connection refused"


# ---- external_integrations, backup_freshness --------------------------------------


def test_integrations_pass_when_each_answers_an_accepted_status(closed_port):
    server = http_site()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        services = [
            {"name": "status", "url": url + "/health", "status": [200]},
            {"name": "hooks", "url": url + "/missing", "status": [200, 404]},
        ]
        good = checks.check_external_integrations(endpoint(), opts(integrations=services), False)
        assert good.passed, good.message
        assert good.metrics["answers"] == {"status": 200, "hooks": 404}
        services += [{"name": "llm", "url": closed_port + "/", "status": [200]}]
        services += [{"name": "strict", "url": url + "/missing", "status": [200]}]
        bad = checks.check_external_integrations(endpoint(), opts(integrations=services), False)
        assert bad.message == ("llm: connection refused; strict answered 404, expected [200]")
    finally:
        server.shutdown()
        server.server_close()
    empty = checks.check_external_integrations(endpoint(), opts(), False)
    assert (empty.passed, empty.skipped) == (True, True)


def test_backup_freshness():
    now = 1_700_000_000.0
    fresh = opts(backup={"last_success_timestamp": now - 3600})
    stale = opts(backup={"last_success_timestamp": "2023-11-13T00:00:00Z", "max_age_hours": 26})
    assert checks.check_backup_freshness(endpoint(), fresh, False, now=now).passed
    outcome = checks.check_backup_freshness(endpoint(), stale, False, now=now)
    assert not outcome.passed
    assert outcome.message == "last good backup 46.2 h ago, over the 26 h limit"
    skipped = checks.check_backup_freshness(endpoint(), opts(), False)
    assert (skipped.passed, skipped.skipped) == (True, True)
    bad = opts(backup={"last_success_timestamp": "yesterday"})
    assert (
        "neither epoch seconds nor ISO-8601"
        in checks.check_backup_freshness(endpoint(), bad, False).message
    )


# ---- the whole suite ---------------------------------------------------------------


def test_run_suite_refuses_bad_input_naming_the_option():
    with pytest.raises(ValueError, match="unknown severity 'urgent'"):
        run({"fail_on": ["urgent"]})
    with pytest.raises(ValueError, match="checks: unknown check"):
        run({"checks": ["nope"]})
    with pytest.raises(ValueError, match="not an http"):
        run({"base_url": "ftp://x"})


def test_run_suite_against_nothing_fails_with_the_reasons(closed_port):
    result = run({"base_url": closed_port, "validation_level": "basic"})
    assert result["verdict"] == "failed"
    assert result["failed_checks"] == ["health", "service_availability"]
    assert result["trigger"] == "health_check_failure"
    assert result["msg"].startswith(
        f"verification failed: health (critical): {closed_port} did not answer: connection refused"
    )
    assert result["summary"]["skipped"] == 1  # database_connectivity: not configured


def test_severity_overrides_and_skip_by_request(closed_port):
    result = run(
        {
            "base_url": closed_port,
            "validation_level": "basic",
            "severities": {"service_availability": "low"},
            "skip": ["health"],
        }
    )
    by_name = {r["test_name"]: r for r in result["results"]}
    assert by_name["health"]["skipped"]
    assert by_name["health"]["message"] == "skipped by request"
    assert by_name["service_availability"]["severity"] == "low"
    assert result["verdict"] == "passed"
    assert result["failed_checks"] == ["service_availability"]
    assert result["trigger"] == ""


def test_backup_freshness_reads_the_metric_from_prometheus(prometheus):
    url, state = prometheus
    now = 1_700_000_000.0
    metric = "slipway_backup_last_success_timestamp_seconds"
    settings = opts(monitoring={"prometheus_url": url}, backup={"metric": metric})
    state["series"] = [{"metric": {}, "value": [now, str(now - 2 * 3600)]}]
    fresh = checks.check_backup_freshness(endpoint(), settings, False, now=now)
    assert fresh.passed, fresh.message
    assert not fresh.skipped
    assert fresh.message == "last good backup 2.0 h ago (limit 26 h)"
    assert "query=max%28slipway_backup_last_success_timestamp_seconds%29" in state["queries"][0]
    state["series"] = [{"metric": {}, "value": [now, str(now - 30 * 3600)]}]
    stale = checks.check_backup_freshness(endpoint(), settings, False, now=now)
    assert stale.message == "last good backup 30.0 h ago, over the 26 h limit"
    # Backups configured and none reported: a failure, not a skip.
    state["series"] = []
    none = checks.check_backup_freshness(endpoint(), settings, False, now=now)
    assert (none.passed, none.skipped) == (False, False)
    assert none.message == f"Prometheus has no {metric} series: no backup has reported a success"


def test_backup_freshness_from_a_metric_needs_prometheus(closed_port):
    metric = {"metric": "slipway_backup_last_success_timestamp_seconds"}
    alone = checks.check_backup_freshness(endpoint(), opts(backup=metric), False)
    assert alone.skipped
    assert alone.message.endswith("needs monitoring.prometheus_url")
    gone = opts(monitoring={"prometheus_url": closed_port}, backup=metric)
    outcome = checks.check_backup_freshness(endpoint(), gone, False)
    assert (outcome.passed, outcome.message) == (
        False,
        f"Prometheus at {closed_port}: connection refused",
    )
