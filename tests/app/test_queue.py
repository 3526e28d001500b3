"""The worker and its queue: no task lost, none completed twice; graceful stops; golden tasks."""

from __future__ import annotations

import signal
import time

from .conftest import AUTH, make_agent, metric, query, submit, wait_task


def events(platform, task_id: str) -> list[tuple[str, str]]:
    return query(
        platform.database_url,
        "SELECT event, worker_id FROM task_events WHERE task_id = :t ORDER BY id",
        t=task_id,
    )


def wait_until(predicate, seconds: float = 15, what: str = "condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {seconds} s")


def submit_running(client, api, agent_id: str, task_input: dict) -> dict:
    """Submit a task and return once a worker has started it."""
    task = submit(client, api, agent_id, task_input)
    url = f"{api.url}/v1/tasks/{task['id']}"
    wait_until(lambda: client.get(url).json()["status"] == "running", what="task running")
    return task


def test_a_task_held_by_a_killed_worker_completes_exactly_once(platform, client):
    api = platform.api()
    doomed = platform.worker()
    agent = make_agent(client, api)
    task = submit_running(client, api, agent["id"], {"tool": "wait", "input": 2})

    doomed.signal(signal.SIGKILL)  # dies holding the task: no ack, heartbeat left to expire
    doomed.wait()
    rescuer = platform.worker()
    done = wait_task(client, api, task["id"], seconds=30)

    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    history = events(platform, task["id"])
    starts = [w for e, w in history if e == "started"]
    completions = [w for e, w in history if e == "completed"]
    assert len(starts) == 2
    assert starts[0] != starts[1]
    assert completions == [starts[1]]
    assert rescuer.wait_log("task succeeded")["counted"] is True
    page = client.get(f"{api.url}/metrics").text
    assert (
        metric(page, "platform_tasks_processed_total", agent_type="toolbox", release="1.0.0") == 1
    )
    assert metric(page, "platform_queue_depth", queue="tasks") == 0


def test_many_tasks_across_worker_deaths_none_lost_none_doubled(platform, client):
    api = platform.api(PLATFORM_RATE_LIMIT_PER_MINUTE="0")
    first, second = platform.worker(), platform.worker()
    agent = make_agent(client, api)
    ids = [
        submit(client, api, agent["id"], {"tool": "wait", "input": 0.05})["id"] for _ in range(40)
    ]
    time.sleep(0.5)
    first.signal(signal.SIGKILL)
    platform.worker()
    time.sleep(0.5)
    second.signal(signal.SIGKILL)
    results = [wait_task(client, api, i, seconds=60) for i in ids]
    assert [r["status"] for r in results] == ["succeeded"] * 40
    for i in ids:
        assert [e for e, _ in events(platform, i)].count("completed") == 1


def test_sigterm_finishes_the_tasks_in_hand_and_takes_no_more(platform, client):
    api = platform.api()
    worker = platform.worker(PLATFORM_WORKER_GRACE_SECONDS="10", PLATFORM_WORKER_CONCURRENCY="2")
    agent = make_agent(client, api)
    first = submit_running(client, api, agent["id"], {"tool": "wait", "input": 1.5})
    second = submit_running(client, api, agent["id"], {"tool": "wait", "input": 1.5})

    worker.signal(signal.SIGTERM)
    late = submit(client, api, agent["id"], {"prompt": "after the stop"})
    assert worker.wait(15) == 0
    for task in (first, second):
        assert client.get(f"{api.url}/v1/tasks/{task['id']}").json()["status"] == "succeeded"
    assert client.get(f"{api.url}/v1/tasks/{late['id']}").json()["status"] == "queued"
    assert worker.wait_log("worker stopped")["processed"] == 2

    platform.worker()
    assert wait_task(client, api, late["id"])["status"] == "succeeded"


def test_a_task_longer_than_the_grace_period_is_left_for_another_worker(platform, client):
    api = platform.api()
    worker = platform.worker(PLATFORM_WORKER_GRACE_SECONDS="1")
    agent = make_agent(client, api)
    task = submit_running(client, api, agent["id"], {"tool": "wait", "input": 4})

    worker.signal(signal.SIGTERM)
    assert worker.wait(10) == 1
    assert worker.wait_log(
        "grace period expired with a task in hand; it stays pending for another worker"
    )
    platform.worker()
    done = wait_task(client, api, task["id"], seconds=30)
    assert done["status"] == "succeeded"
    assert done["attempts"] == 2


def test_golden_task_is_taken_only_by_a_worker_of_that_release(platform, client):
    api = platform.api()
    platform.worker(PLATFORM_RELEASE="1.0.0")
    old = client.post(
        f"{api.url}/v1/golden", json={"release": "1.0.0", "timeout_seconds": 10}, headers=AUTH
    )
    assert old.status_code == 200, old.text
    assert old.json()["status"] == "succeeded"

    absent = client.post(
        f"{api.url}/v1/golden", json={"release": "1.1.0", "timeout_seconds": 1}, headers=AUTH
    )
    assert absent.status_code == 504
    assert absent.json()["error"] == "no worker of release 1.1.0 took the golden task within 1 s"

    new = platform.worker(PLATFORM_RELEASE="1.1.0")
    fresh = client.post(
        f"{api.url}/v1/golden", json={"release": "1.1.0", "timeout_seconds": 10}, headers=AUTH
    )
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["worker_id"].split("-")[-2] == str(new.proc.pid)
    # The abandoned golden task was removed, not left for the new worker.
    page = client.get(f"{api.url}/metrics").text
    assert metric(page, "platform_queue_depth", queue="golden:1.1.0") == 0
    assert metric(page, "platform_workers", release="1.1.0") == 1


def test_bad_golden_requests_are_refused(api_only):
    api, client = api_only
    reply = client.post(
        f"{api.url}/v1/golden", json={"release": "../etc", "timeout_seconds": 1}, headers=AUTH
    )
    assert reply.status_code == 422
    too_long = client.post(
        f"{api.url}/v1/golden", json={"release": "1.0.0", "timeout_seconds": 999}, headers=AUTH
    )
    assert too_long.status_code == 422
    assert "timeout_seconds" in too_long.json()["error"]


def test_heartbeat_reports_release_and_expires_when_the_worker_dies(platform, client):
    api = platform.api()
    worker = platform.worker(PLATFORM_RELEASE="2.0.0")
    page = client.get(f"{api.url}/metrics").text
    assert metric(page, "platform_workers", release="2.0.0") == 1
    worker.signal(signal.SIGKILL)
    wait_until(
        lambda: (
            metric(client.get(f"{api.url}/metrics").text, "platform_workers", release="2.0.0")
            is None
        ),
        seconds=10,
        what="heartbeat expiry",
    )


def test_queue_depth_and_oldest_age_with_no_worker(platform, client):
    api = platform.api()
    agent = make_agent(client, api)
    for _ in range(3):
        submit(client, api, agent["id"], {"prompt": "waiting"})
    time.sleep(1.1)
    page = client.get(f"{api.url}/metrics").text
    assert metric(page, "platform_queue_depth", queue="tasks") == 3
    assert metric(page, "platform_queue_oldest_task_age_seconds", queue="tasks") >= 1.0


def test_a_task_delivered_twice_runs_once(platform, client):
    import redis

    api = platform.api()
    worker = platform.worker()
    agent = make_agent(client, api)
    task = submit(client, api, agent["id"], {"prompt": "once"})
    assert wait_task(client, api, task["id"])["status"] == "succeeded"
    # A worker that died between storing the result and acknowledging leaves
    # the entry to be delivered again: the same effect as adding it twice.
    r = redis.Redis.from_url(platform.redis_url)
    r.xadd("platform:tasks", {"task_id": task["id"]})
    wait_until(lambda: r.xlen("platform:tasks") == 0, what="duplicate consumed")
    assert [e for e, _ in events(platform, task["id"])] == ["started", "completed"]
    assert worker.proc.poll() is None
