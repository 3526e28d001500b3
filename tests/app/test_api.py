"""The API's behaviour: the agent registry, tasks, auth, bad input, limits, logs."""

from __future__ import annotations

import uuid

import pytest

from .conftest import API_KEY, AUTH, make_agent, metric, query, submit, wait_task


@pytest.fixture
def api(platform):
    return platform.api()


def count_rows(platform, table: str) -> int:
    return query(platform.database_url, f"SELECT count(*) FROM {table}")[0][0]  # noqa: S608 - fixed names


def test_agent_registry_create_list_get_delete(api, client):
    created = make_agent(
        client, api, "summariser", config={"tools": ["echo", "text_stats"]}, description="d"
    )
    assert created["name"] == "summariser"
    assert created["config"] == {"tools": ["echo", "text_stats"]}
    make_agent(client, api, "calc")

    listed = client.get(f"{api.url}/v1/agents").json()
    assert [a["name"] for a in listed] == ["summariser", "calc"]
    assert (
        client.get(f"{api.url}/v1/agents", params={"limit": 1, "offset": 1}).json()[0]["name"]
        == "calc"
    )
    assert client.get(f"{api.url}/v1/agents/{created['id']}").json() == created

    assert client.delete(f"{api.url}/v1/agents/{created['id']}", headers=AUTH).status_code == 204
    gone = client.get(f"{api.url}/v1/agents/{created['id']}")
    assert gone.status_code == 404
    assert gone.json()["error"] == f"agent {created['id']} not found"
    assert client.delete(f"{api.url}/v1/agents/{created['id']}", headers=AUTH).status_code == 404


def test_duplicate_agent_name_is_a_conflict(api, client):
    make_agent(client, api, "twin")
    again = client.post(
        f"{api.url}/v1/agents", json={"name": "twin", "type": "toolbox"}, headers=AUTH
    )
    assert again.status_code == 409
    assert "already exists" in again.json()["error"]


def test_task_runs_each_tool_and_records_its_steps(platform, api, client):
    platform.worker()
    agent = make_agent(client, api)
    cases = [
        ({"prompt": "hello"}, "hello"),
        ({"prompt": "2 ** 10 - 24"}, 1000),
        (
            {"tool": "text_stats", "input": "a b a"},
            {"characters": 5, "words": 3, "lines": 1, "top_words": ["a", "b"]},
        ),
        ({"tool": "wait", "input": 0.1}, {"waited_seconds": 0.1}),
    ]
    for task_input, output in cases:
        done = wait_task(client, api, submit(client, api, agent["id"], task_input)["id"])
        assert done["status"] == "succeeded", done
        assert done["result"]["output"] == output
        assert done["result"]["steps"][0]["output"] == output
        assert done["attempts"] == 1
        assert done["completed_by_release"] == "1.0.0"


def test_a_task_the_agent_cannot_do_fails_with_the_reason(platform, api, client):
    platform.worker()
    agent = make_agent(client, api, config={"tools": ["echo"]})
    refused = wait_task(client, api, submit(client, api, agent["id"], {"prompt": "1 + 1"})["id"])
    assert refused["status"] == "failed"
    assert (
        refused["error"] == "tool 'calculator' is not enabled for this agent (config.tools: echo)"
    )
    unsafe = make_agent(client, api, "calc")
    bad = wait_task(
        client,
        api,
        submit(client, api, unsafe["id"], {"tool": "calculator", "input": "__import__('os')"})[
            "id"
        ],
    )
    assert bad["status"] == "failed"
    assert "is not arithmetic" in bad["error"]


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "missing or invalid API key"),
        ({"Authorization": "Bearer sk_wrong"}, "missing or invalid API key"),
        ({"X-API-Key": API_KEY[:-1]}, "missing or invalid API key"),
    ],
)
def test_mutations_need_a_valid_key_and_write_nothing(platform, api, client, headers, why):
    for method, path, body in [
        ("POST", "/v1/agents", {"name": "x", "type": "toolbox"}),
        ("POST", "/v1/tasks", {"agent_id": str(uuid.uuid4()), "input": {}}),
        ("DELETE", f"/v1/agents/{uuid.uuid4()}", None),
        ("POST", "/v1/golden", {"release": "1.0.0"}),
    ]:
        reply = client.request(method, api.url + path, json=body, headers=headers)
        assert reply.status_code == 401, (path, reply.text)
        assert reply.json()["error"] == why
        assert reply.headers["www-authenticate"] == "Bearer"
    assert count_rows(platform, "agents") == 0
    assert count_rows(platform, "tasks") == 0


def test_the_x_api_key_header_works_too(api, client):
    reply = client.post(
        f"{api.url}/v1/agents",
        json={"name": "k", "type": "toolbox"},
        headers={"X-API-Key": API_KEY},
    )
    assert reply.status_code == 201


def test_without_configured_keys_mutations_are_refused(platform, client):
    api = platform.api(PLATFORM_API_KEY_SHA256="")
    reply = client.post(f"{api.url}/v1/agents", json={"name": "x", "type": "toolbox"}, headers=AUTH)
    assert reply.status_code == 401
    assert "PLATFORM_API_KEY_SHA256" in reply.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 422, "the body is not valid JSON"),
        (b'{"name": "a", "type": "toolbox", "colour": "red"}', 422, "colour: unknown field"),
        (b'{"type": "toolbox"}', 422, "name: required"),
        (b'{"name": "a", "type": "oracle"}', 422, "type: Input should be 'toolbox' or 'llm'"),
        (b'{"name": "a b", "type": "toolbox"}', 422, "name: String should match pattern"),
        (
            b'{"name": "a", "type": "toolbox", "config": {"tools": ["rm"]}}',
            422,
            "unknown tool(s) rm",
        ),
    ],
)
def test_bad_agent_input_is_refused_and_writes_nothing(
    platform, api, client, body, status, message
):
    reply = client.post(
        f"{api.url}/v1/agents", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert reply.status_code == status, reply.text
    assert message in reply.json()["error"]
    assert count_rows(platform, "agents") == 0


def test_a_task_for_an_unknown_agent_is_404_and_writes_nothing(platform, api, client):
    missing = uuid.uuid4()
    reply = client.post(
        f"{api.url}/v1/tasks", json={"agent_id": str(missing), "input": {}}, headers=AUTH
    )
    assert reply.status_code == 404
    assert reply.json()["error"] == f"agent {missing} not found"
    assert count_rows(platform, "tasks") == 0
    bad_id = client.post(
        f"{api.url}/v1/tasks", json={"agent_id": "nope", "input": {}}, headers=AUTH
    )
    assert bad_id.status_code == 422
    assert "agent_id" in bad_id.json()["error"]
    assert client.get(f"{api.url}/v1/tasks/{missing}").status_code == 404


def test_oversized_bodies_are_413_declared_or_streamed(platform, client):
    api = platform.api(PLATFORM_MAX_BODY_BYTES="2048")
    big = b'{"name": "a", "type": "toolbox", "description": "' + b"x" * 4096 + b'"}'
    declared = client.post(
        f"{api.url}/v1/agents", content=big, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.json()["error"] == "request body over 2048 bytes"

    def chunks():
        for i in range(0, len(big), 512):
            yield big[i : i + 512]

    streamed = client.post(
        f"{api.url}/v1/agents",
        content=chunks(),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413
    assert count_rows(platform, "agents") == 0


def test_rate_limit_answers_429_with_retry_after(platform, client):
    api = platform.api(PLATFORM_RATE_LIMIT_PER_MINUTE="5")
    codes = [client.get(f"{api.url}/v1/agents").status_code for _ in range(7)]
    assert codes[:5] == [200] * 5
    assert codes[5:] == [429, 429]
    limited = client.get(f"{api.url}/v1/agents")
    assert 1 <= int(limited.headers["retry-after"]) <= 61
    assert "5 requests per minute" in limited.json()["error"]
    # Each key has its own budget; probes are never limited.
    assert (
        client.post(
            f"{api.url}/v1/agents", json={"name": "r", "type": "toolbox"}, headers=AUTH
        ).status_code
        == 201
    )
    assert client.get(f"{api.url}/health").status_code == 200


def test_request_id_is_echoed_and_logged(api, client):
    reply = client.get(f"{api.url}/v1/agents", headers={"X-Request-ID": "req-abc.123"})
    assert reply.headers["x-request-id"] == "req-abc.123"
    generated = client.get(f"{api.url}/v1/agents/{uuid.uuid4()}")
    rid = generated.headers["x-request-id"]
    assert len(rid) == 32
    assert generated.json()["request_id"] == rid
    hostile = client.get(f"{api.url}/v1/agents", headers={"X-Request-ID": b"bad id\xe9"})
    assert hostile.headers["x-request-id"] != "bad id"
    logged = {e.get("request_id"): e for e in api.logs() if e.get("msg") == "request"}
    assert logged["req-abc.123"]["route"] == "/v1/agents"
    assert logged["req-abc.123"]["status"] == 200
    assert logged[rid]["status"] == 404
    assert logged[rid]["route"] == "/v1/agents/{agent_id}"


def test_version_reports_the_build(platform, client):
    api = platform.api(
        PLATFORM_RELEASE="1.2.3",
        PLATFORM_GIT_SHA="abc1234",
        PLATFORM_BUILD_TIME="2026-11-22T00:00:00Z",
    )
    assert client.get(f"{api.url}/version").json() == {
        "release": "1.2.3",
        "git_sha": "abc1234",
        "build_time": "2026-11-22T00:00:00Z",
        "schema": "0002",
        "faults": {},
    }


def test_ready_names_a_schema_behind_this_release(platform, empty_database, client):
    platform.database_url = empty_database
    api = platform.api()
    assert client.get(f"{api.url}/health").status_code == 200
    reply = client.get(f"{api.url}/ready")
    assert reply.status_code == 503
    assert reply.json()["problems"] == [
        "schema lacks migration 0002: run 'python -m agent_platform migrate'"
    ]


def test_ready_names_an_unreachable_redis(platform, client):
    api = platform.api(REDIS_URL="redis://127.0.0.1:1/0")
    reply = client.get(f"{api.url}/ready")
    assert reply.status_code == 503
    assert reply.json()["problems"][0].startswith("redis: ConnectionError")


def test_task_submission_with_redis_down_is_503_and_writes_nothing(platform, client):
    api = platform.api(REDIS_URL="redis://127.0.0.1:1/0", PLATFORM_RATE_LIMIT_PER_MINUTE="0")
    agent = make_agent(client, api)
    reply = client.post(
        f"{api.url}/v1/tasks", json={"agent_id": agent["id"], "input": {}}, headers=AUTH
    )
    assert reply.status_code == 503
    assert "nothing was queued" in reply.json()["error"]
    assert count_rows(platform, "tasks") == 0


def test_metrics_count_requests_by_route_and_status(platform, api, client):
    platform.worker()
    agent = make_agent(client, api)
    wait_task(client, api, submit(client, api, agent["id"], {"prompt": "hi"})["id"])
    client.get(f"{api.url}/v1/agents/{uuid.uuid4()}")
    text = client.get(f"{api.url}/metrics").text
    route = {"method": "POST", "route": "/v1/agents", "status": "201"}
    assert metric(text, "platform_http_requests_total", **route) == 1
    missing = {"method": "GET", "route": "/v1/agents/{agent_id}", "status": "404"}
    assert metric(text, "platform_http_requests_total", **missing) == 1
    submitted = {"method": "POST", "route": "/v1/tasks", "status": "202"}
    assert (
        metric(text, "platform_http_request_duration_seconds_bucket", le="0.25", **submitted) == 1
    )
    assert metric(text, "platform_http_request_duration_seconds_count", **submitted) == 1
    assert (
        metric(text, "platform_tasks_processed_total", agent_type="toolbox", release="1.0.0") == 1
    )
    assert metric(text, "platform_workers", release="1.0.0") == 1
    assert metric(text, "platform_queue_depth", queue="tasks") == 0
    assert metric(text, "platform_build_info", git_sha="unknown", release="1.0.0") == 1


def test_health_needs_no_dependency(platform, client):
    api = platform.api(
        REDIS_URL="redis://127.0.0.1:1/0", DATABASE_URL="postgresql://x@127.0.0.1:1/none"
    )
    assert client.get(f"{api.url}/health").json() == {"status": "ok", "release": "1.0.0"}
    assert client.get(f"{api.url}/ready").status_code == 503
    assert metric(client.get(f"{api.url}/metrics").text, "platform_queue_reachable") == 0


def test_unknown_route_is_404_json(api, client):
    reply = client.get(f"{api.url}/v2/nothing")
    assert reply.status_code == 404
    assert reply.json()["error"] == "Not Found"
