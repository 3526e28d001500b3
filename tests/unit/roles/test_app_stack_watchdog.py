"""app_stack's watchdog: which containers it restarts, and how it counts restarts."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT

_PATH = ROOT / "roles/app_stack/files/usr/local/libexec/slipway/app_stack_watchdog.py"
_SPEC = importlib.util.spec_from_file_location("app_stack_watchdog", _PATH)
watchdog = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(watchdog)


def container(cid="a", service="api", restarts=0, running=True, health="healthy"):
    return {"id": cid, "name": f"slipway-{service}-1", "service": service,
            "restart_count": restarts, "running": running, "health": health}  # fmt: skip


def test_summarise_reads_docker_inspect():
    inspected = {
        "Id": "abc",
        "Name": "/slipway-worker-2",
        "RestartCount": 3,
        "Config": {"Labels": {"com.docker.compose.service": "worker"}},
        "State": {"Running": True, "Restarting": False, "Health": {"Status": "unhealthy"}},
    }
    assert watchdog.summarise(inspected) == container("abc", "worker", 3, True, "unhealthy") | {
        "name": "slipway-worker-2"
    }


def test_a_container_without_a_health_check_is_health_none():
    assert watchdog.summarise({"Id": "x", "State": {"Running": True}})["health"] == "none"


def test_only_running_unhealthy_containers_are_restarted():
    state, restart = watchdog.tally(
        [
            container("a", health="unhealthy"),
            container("b", health="healthy"),
            container("c", health="unhealthy", running=False),  # Docker handles exits
            container("d", health="starting"),
        ],
        {},
    )
    assert [c["id"] for c in restart] == ["a"]
    assert state["totals"] == {"api/unhealthy": 1}


def test_docker_restarts_are_counted_once_each():
    state, _ = watchdog.tally([container("a", restarts=1)], {})
    assert state["totals"] == {"api/exited": 1}
    state, _ = watchdog.tally([container("a", restarts=1)], state)
    assert state["totals"] == {"api/exited": 1}
    state, _ = watchdog.tally([container("a", restarts=3)], state)
    assert state["totals"] == {"api/exited": 3}


def test_totals_survive_a_recreated_container():
    state, _ = watchdog.tally([container("old", restarts=2)], {})
    state, _ = watchdog.tally([container("new", restarts=0)], state)
    assert state["totals"] == {"api/exited": 2}
    assert state["seen"] == {"new": 0}


def test_metrics_name_every_service_and_reason():
    containers = [container("a", "api"), container("b", "worker", health="unhealthy")]
    state, _ = watchdog.tally(containers, {"totals": {"worker/exited": 4}})
    text = watchdog.render("slipway", containers, state, 1700000000.0)
    assert (
        'slipway_app_container_restarts_total{project="slipway",service="api",reason="exited"} 0'
        in text
    )
    assert (
        'slipway_app_container_restarts_total{project="slipway",service="worker",reason="exited"} 4'
        in text
    )
    unhealthy = 'service="worker",reason="unhealthy"} 1'
    assert f'slipway_app_container_restarts_total{{project="slipway",{unhealthy}' in text
    assert 'slipway_app_containers{project="slipway",service="worker",health="unhealthy"} 1' in text
    assert 'slipway_app_watchdog_last_run_timestamp_seconds{project="slipway"} 1700000000' in text


def test_metrics_parse_as_prometheus_text():
    from prometheus_client.parser import text_string_to_metric_families

    state, _ = watchdog.tally([container()], {})
    families = {
        f.name
        for f in text_string_to_metric_families(watchdog.render("p", [container()], state, 1.0))
    }
    assert {"slipway_app_container_restarts", "slipway_app_containers"} <= families
