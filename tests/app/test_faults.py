"""Fault injection: each bad-release behaviour the deploy gates are tested against."""

from __future__ import annotations

import time

import pytest

from .conftest import AUTH, make_agent, submit

# A slowed route's added seconds: far above what a shared machine's stall adds to
# a fast request, so "slow" and "not slow" are told apart on a busy CI machine too.
SLOW = 2


def test_crash_on_boot_exits_before_serving(platform):
    for role in (platform.api, platform.worker):
        proc = role(wait=False, PLATFORM_FAULT_CRASH_ON_BOOT="1")
        assert proc.wait(20) == 3
        assert proc.logs()[-1]["msg"] == "fault: crashing on boot"


def test_never_ready_is_live_but_not_ready(platform, client):
    api = platform.api(PLATFORM_FAULT_NEVER_READY="1")
    assert client.get(f"{api.url}/health").status_code == 200
    reply = client.get(f"{api.url}/ready")
    assert reply.status_code == 503
    assert reply.json()["problems"] == ["fault injected: PLATFORM_FAULT_NEVER_READY"]
    assert client.get(f"{api.url}/version").json()["faults"] == {"never_ready": True}


@pytest.mark.parametrize(("rate", "low", "high"), [("1", 100, 100), ("0.5", 30, 70), ("0", 0, 0)])
def test_error_rate_answers_that_share_with_500(platform, client, rate, low, high):
    api = platform.api(PLATFORM_FAULT_ERROR_RATE=rate)
    codes = [client.get(f"{api.url}/health").status_code for _ in range(100)]
    assert low <= codes.count(500) <= high
    assert set(codes) <= {200, 500}
    # The failures show in the metrics, which are never faulted.
    page = client.get(f"{api.url}/metrics")
    assert page.status_code == 200
    if high:
        assert 'route="/health",status="500"' in page.text


def test_added_latency(platform, client):
    api = platform.api(PLATFORM_FAULT_LATENCY_MS=str(SLOW * 1000))
    began = time.monotonic()
    assert client.get(f"{api.url}/health").status_code == 200
    assert time.monotonic() - began >= SLOW
    began = time.monotonic()
    client.get(f"{api.url}/metrics")
    assert time.monotonic() - began < SLOW


def test_crash_after_seconds(platform, client):
    # The timer starts before the server binds: 5 s leaves a loaded machine time to boot
    # and answer, and the API is asked at once, before the worker's own boot (a clean
    # clone's loaded run saw the 2 s it had run out while the worker started).
    api = platform.api(PLATFORM_FAULT_CRASH_AFTER_SECONDS="5")
    assert client.get(f"{api.url}/health").status_code == 200
    worker = platform.worker(PLATFORM_FAULT_CRASH_AFTER_SECONDS="5")
    assert api.wait(20) == 3
    assert worker.wait(20) == 3
    assert api.logs()[-1]["msg"] == "fault: crashing now"


def test_stalled_worker_takes_tasks_and_never_completes_them(platform, client):
    api = platform.api()
    worker = platform.worker(PLATFORM_FAULT_STALL_TASKS="1")
    golden = client.post(
        f"{api.url}/v1/golden", json={"release": "1.0.0", "timeout_seconds": 2}, headers=AUTH
    )
    assert golden.status_code == 504
    assert golden.json()["error"].endswith("took the golden task but did not finish it within 2 s")
    agent = make_agent(client, api)
    task = submit(client, api, agent["id"], {"prompt": "never"})
    time.sleep(1)
    assert client.get(f"{api.url}/v1/tasks/{task['id']}").json()["status"] in ("queued", "running")
    assert worker.proc.poll() is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PLATFORM_FAULT_ERROR_RATE", "lots", "PLATFORM_FAULT_ERROR_RATE='lots' is not a number"),
        ("PLATFORM_FAULT_ERROR_RATE", "1.5", "PLATFORM_FAULT_ERROR_RATE=1.5 is out of range"),
        (
            "PLATFORM_FAULT_CRASH_ON_BOOT",
            "maybe",
            "PLATFORM_FAULT_CRASH_ON_BOOT='maybe' is not a boolean",
        ),
        (
            "PLATFORM_FAULT_ROUTE",
            "GET:/ready",
            "PLATFORM_FAULT_ROUTE='GET:/ready' is not an API route",
        ),
        ("PLATFORM_FAULT_ROUTE", "/v1/tasks", "set METHOD:/v1/route"),
        ("PLATFORM_FAULT_ROUTE_LATENCY_MS", "900", "is set without PLATFORM_FAULT_ROUTE"),
        ("PLATFORM_FAULT_ROUTE_AFTER_SECONDS", "60", "is set without PLATFORM_FAULT_ROUTE"),
    ],
)
def test_a_malformed_fault_is_a_configuration_error(platform, name, value, message):
    proc = platform.api(wait=False, **{name: value})
    assert proc.wait(20) == 2
    assert message in proc.log.read_text()


def test_debug_endpoints_serve_the_docs_and_the_schema_and_stay_healthy(platform, client):
    api = platform.api(PLATFORM_FAULT_DEBUG_ENDPOINTS="1")
    assert client.get(f"{api.url}/docs").status_code == 200
    assert client.get(f"{api.url}/openapi.json").json()["info"]["title"] == "agent-platform"
    for path in ("/health", "/ready", "/version"):
        assert client.get(f"{api.url}{path}").status_code == 200, path
    good = platform.api()
    assert client.get(f"{good.url}/docs").status_code == 404


def test_a_slow_route_is_slow_and_every_other_route_and_probe_is_not(platform, client):
    api = platform.api(
        PLATFORM_FAULT_ROUTE="GET:/v1/tasks/{task_id}",
        PLATFORM_FAULT_ROUTE_LATENCY_MS=str(SLOW * 1000),
    )
    agent = make_agent(client, api)
    task = submit(client, api, agent["id"], {"prompt": "2 + 2"})
    began = time.monotonic()
    assert client.get(f"{api.url}/v1/tasks/{task['id']}").status_code == 200
    assert time.monotonic() - began >= SLOW
    for path in ("/health", "/ready", "/version", f"/v1/agents/{agent['id']}"):
        began = time.monotonic()
        assert client.get(f"{api.url}{path}").status_code == 200, path
        assert time.monotonic() - began < SLOW, path
    assert client.get(f"{api.url}/version").json()["faults"] == {
        "route": "GET:/v1/tasks/{task_id}",
        "route_latency_ms": SLOW * 1000.0,
    }


def test_a_route_fault_with_an_onset_starts_that_long_after_boot(platform, client):
    """A release good for its first minutes (a leak, a cache that fills): only a watch
    long after the host took traffic sees it (docs/canary.md, "The fleet at the end")."""
    api = platform.api(
        PLATFORM_FAULT_ROUTE="GET:/v1/agents/{agent_id}",
        PLATFORM_FAULT_ROUTE_LATENCY_MS=str(SLOW * 1000),
        PLATFORM_FAULT_ROUTE_AFTER_SECONDS="4",
    )
    agent = make_agent(client, api)
    began = time.monotonic()
    assert client.get(f"{api.url}/v1/agents/{agent['id']}").status_code == 200
    assert time.monotonic() - began < SLOW, "good before its onset"
    time.sleep(4)
    began = time.monotonic()
    assert client.get(f"{api.url}/v1/agents/{agent['id']}").status_code == 200
    assert time.monotonic() - began >= SLOW, "slow after it"
    assert client.get(f"{api.url}/ready").status_code == 200


def test_a_failing_route_answers_its_share_with_500_and_only_it(platform, client):
    api = platform.api(PLATFORM_FAULT_ROUTE="POST:/v1/tasks", PLATFORM_FAULT_ROUTE_ERROR_RATE="1")
    agent = make_agent(client, api)
    body = {"agent_id": agent["id"], "input": {"prompt": "2 + 2"}}
    reply = client.post(f"{api.url}/v1/tasks", json=body, headers=AUTH)
    assert reply.status_code == 500
    assert "PLATFORM_FAULT_ROUTE_ERROR_RATE" in reply.text
    for path in ("/health", "/ready", f"/v1/agents/{agent['id']}"):
        assert client.get(f"{api.url}{path}").status_code == 200, path
    page = client.get(f"{api.url}/metrics").text
    assert 'method="POST",route="/v1/tasks",status="500"' in page
