"""The platform on the lab's app hosts, in fleet mode (after site.yml).

app1 and app2 run the api and workers against PostgreSQL and Redis on db1; the
controller reaches each API through its published port (18001, 18002).
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.integration.conftest import LAB_HOSTS, lab_host

APP_HOSTS = ("app1", "app2")


def api_url(name: str) -> str:
    port = next(
        p.split(":")[0] for p in LAB_HOSTS[name]["lab_published_ports"] if p.endswith(":8000")
    )
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def client():
    key = LAB_HOSTS["app1"]["vault_slipway_api_keys"][0]
    with httpx.Client(timeout=30, headers={"X-API-Key": key}) as c:
        yield c


@pytest.mark.parametrize("name", APP_HOSTS)
def test_each_app_host_is_ready_on_the_lab_release(client, name):
    assert client.get(f"{api_url(name)}/ready").status_code == 200
    assert client.get(f"{api_url(name)}/version").json()["release"] == "1.1.0"


def test_the_app_hosts_share_one_database_and_one_queue(client):
    name = f"fleet-{time.time_ns()}"
    created = client.post(f"{api_url('app1')}/v1/agents", json={"name": name, "type": "toolbox"})
    assert created.status_code == 201, created.text
    agent = created.json()
    # Seen from app2: the same PostgreSQL.
    assert client.get(f"{api_url('app2')}/v1/agents/{agent['id']}").json()["name"] == name
    # Submitted on app2, done by some worker of the fleet, read on app1.
    task = client.post(
        f"{api_url('app2')}/v1/tasks",
        json={"agent_id": agent["id"], "input": {"prompt": "stats: a b a"}},
    ).json()
    deadline = time.monotonic() + 30
    state = {"status": "queued"}
    while state["status"] not in ("succeeded", "failed") and time.monotonic() < deadline:
        reply = client.get(f"{api_url('app1')}/v1/tasks/{task['id']}", params={"wait": 5})
        state = reply.json()
    assert state["status"] == "succeeded", state


@pytest.mark.parametrize("name", APP_HOSTS)
def test_the_database_url_points_at_db1_and_stays_root_only(name):
    env = lab_host(name).file("/opt/slipway/app/app.env")
    assert env.mode == 0o600
    assert f"@{LAB_HOSTS['db1']['lab_ip']}:5432/platform" in env.content_string
