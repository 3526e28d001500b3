"""slipway.ops.verify's checks against the real reference platform: its API and
workers as processes, on real PostgreSQL and Redis (tests/app/conftest.py).

Good releases pass; each injected fault fails the check meant to catch it."""

from __future__ import annotations

import sys

import httpx

from tests.conftest import ROOT, free_port

if str(ROOT / "collections") not in sys.path:
    sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.slipway.ops.plugins.module_utils._verify_checks import RUNNERS
from ansible_collections.slipway.ops.plugins.module_utils._verify_suite import run_suite

from .conftest import API_KEY


def suite(api, **params):
    return run_suite({"base_url": api.url, "api_key": API_KEY, **params}, RUNNERS)


def by_name(result):
    return {r["test_name"]: r for r in result["results"]}


def test_a_good_platform_passes_standard(platform, pg):
    api = platform.api()
    platform.worker()
    result = suite(
        api,
        validation_level="standard",
        expected_release="1.0.0",
        golden_release="1.0.0",
        golden_timeout=10,
        database={"host": "127.0.0.1", "port": pg.port},
        skip=["rollback_capability"],  # the platform runs as processes here: no image
        fail_on=["critical", "high", "medium", "low", "info"],
    )
    checks = by_name(result)
    assert result["verdict"] == "passed", result["msg"]
    assert list(checks) == [
        "health",
        "service_availability",
        "database_connectivity",
        "api_endpoints",
        "performance_baseline",
        "rollback_capability",
        "monitoring",
    ]
    assert result["failed_checks"] == []
    assert (result["summary"]["passed"], result["summary"]["skipped"]) == (5, 2)
    assert checks["health"]["message"] == "/health 200, release 1.0.0"
    assert checks["database_connectivity"]["metrics"]["port"] == pg.port
    api_check = checks["api_endpoints"]
    assert api_check["message"].startswith("agent task 2 * (3 + 4) = 14 in ")
    assert api_check["message"].endswith(", golden task of 1.0.0 done; test agent deleted")
    assert api_check["metrics"]["completed_by_release"] == "1.0.0"
    # The suite's own records are gone: the test agent was deleted.
    agent = httpx.get(f"{api.url}/v1/agents/{api_check['metrics']['agent_id']}")
    assert agent.status_code == 404
    perf = checks["performance_baseline"]["metrics"]
    assert perf["requests"] == 50
    assert perf["errors"] == 0
    assert perf["p95_ms"] < 500
    assert checks["monitoring"]["skipped"]
    assert "not configured" in checks["monitoring"]["message"]


def test_a_platform_that_is_never_ready_fails_availability(platform, pg):
    api = platform.api(PLATFORM_FAULT_NEVER_READY="1")
    result = suite(api, validation_level="basic", database={"host": "127.0.0.1", "port": pg.port})
    checks = by_name(result)
    assert result["verdict"] == "failed"
    assert result["failed_checks"] == ["service_availability"]
    assert checks["service_availability"]["message"] == (
        "not ready: fault injected: PLATFORM_FAULT_NEVER_READY"
    )
    assert result["msg"] == (
        "verification failed: service_availability (critical): "
        "not ready: fault injected: PLATFORM_FAULT_NEVER_READY"
    )
    # Not a database problem: PostgreSQL answers and the API reports none.
    assert checks["database_connectivity"]["passed"]
    assert checks["health"]["metrics"]["faults"]


def test_a_slow_platform_fails_the_performance_baseline(platform):
    api = platform.api(PLATFORM_FAULT_LATENCY_MS="600")
    result = suite(
        api,
        checks=["performance_baseline"],
        performance={"requests": 8, "concurrency": 4},
        fail_on=["critical", "high"],
    )
    check = by_name(result)["performance_baseline"]
    assert result["verdict"] == "failed"
    assert check["severity"] == "high"
    assert check["metrics"]["p95_ms"] >= 600
    assert check["message"].startswith("p95 6")
    assert (
        "ms over the 500 ms budget: 8 of 8 requests slower, more than chance allows"
        in (check["message"])
    )
    assert "(8 requests: p50 " in check["message"]


def test_no_worker_fails_api_endpoints_and_still_deletes_the_agent(platform):
    api = platform.api()
    result = suite(api, checks=["api_endpoints"], task_timeout=2)
    check = by_name(result)["api_endpoints"]
    assert result["verdict"] == "failed"
    task_id = check["metrics"]["task_id"]
    assert check["message"] == f"task {task_id} never completed within 2 s: no worker took it"
    assert check["metrics"]["agent_deleted"] is True
    agent = httpx.get(f"{api.url}/v1/agents/{check['metrics']['agent_id']}")
    assert agent.status_code == 404


def test_a_worker_of_another_release_fails_the_golden_task(platform):
    api = platform.api()
    platform.worker()  # release 1.0.0
    result = suite(api, checks=["api_endpoints"], golden_release="9.9.9", golden_timeout=2)
    check = by_name(result)["api_endpoints"]
    assert not check["passed"]
    assert check["message"] == (
        "golden task for release 9.9.9: HTTP 504: "
        "no worker of release 9.9.9 took the golden task within 2 s"
    )


def test_a_missing_api_key_fails_with_a_clear_message(platform):
    api = platform.api()
    result = run_suite({"base_url": api.url, "checks": ["api_endpoints"]}, RUNNERS)
    assert result["msg"] == (
        "verification failed: api_endpoints (critical): api_key is empty: the functional "
        "check needs a platform API key (pass api_key, e.g. vault_slipway_api_keys[0])"
    )


def test_a_wrong_release_fails_health_and_check_mode_writes_nothing(platform):
    api = platform.api()
    result = run_suite(
        {"base_url": api.url, "api_key": API_KEY, "expected_release": "1.1.0", "skip": []},
        RUNNERS,
        check_mode=True,
    )
    checks = by_name(result)
    assert checks["health"]["message"] == "/version reports release 1.0.0, expected 1.1.0"
    assert checks["api_endpoints"]["skipped"]
    assert checks["api_endpoints"]["message"].startswith("not run in check mode")
    assert httpx.get(f"{api.url}/v1/agents").json() == []


def test_database_against_real_postgres_and_a_closed_port(platform, pg):
    api = platform.api()
    good = suite(
        api, checks=["database_connectivity"], database={"host": "127.0.0.1", "port": pg.port}
    )
    assert good["verdict"] == "passed", good["msg"]
    closed = free_port()
    bad = suite(
        api, checks=["database_connectivity"], database={"host": "127.0.0.1", "port": closed}
    )
    assert bad["msg"] == (
        "verification failed: database_connectivity (critical): "
        f"TCP 127.0.0.1:{closed}: connection refused"
    )


def test_the_platform_at_strict_level_reports_its_security_gaps(platform):
    """The API alone (no load balancer): no HSTS; any listed path that answers is reported."""
    api = platform.api()
    # /version stands in for a debug endpoint someone left open: it answers 200.
    paths = ["/docs", "/redoc", "/openapi.json", "/version"]
    result = suite(
        api,
        checks=["security_posture"],
        fail_on=["critical", "high"],
        security={"debug_paths": paths},
    )
    check = by_name(result)["security_posture"]
    assert check["metrics"]["unauthenticated_post_status"] == 401
    assert "missing header(s) Strict-Transport-Security, X-Content-Type-Options" in check["message"]
    assert "TLS not checked: base_url is plaintext http" in check["message"]
    # The platform serves neither its docs nor its schema.
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert check["metrics"]["debug_paths"][path] == 404, path
    assert check["metrics"]["debug_paths"]["/version"] == 200
    assert "debug endpoint(s) exposed: /version (200)" in check["message"]
