"""The canary judge's evidence from the load balancer's access log (real files in the
slipway_json format nginx_tls writes) and from histogram counts."""

from __future__ import annotations

import datetime
import json

import pytest
from ansible_collections.slipway.ops.plugins.module_utils import _canary_evidence as evidence

UPSTREAMS = {"10.242.0.21:8000": "app1", "10.242.0.22:8000": "app2"}
T0 = 1_800_000_000.0


def line(t: float, method: str = "GET", uri: str = "/v1/agents", status: int = 200, **up) -> str:
    record = {
        "time": "2027-01-15T08:00:00+00:00",
        "msec": f"{t:.3f}",
        "method": method,
        "uri": uri,
        "status": status,
        "upstream_addr": up.get("addr", "10.242.0.21:8000"),
        "upstream_status": up.get("status", str(status)),
        "upstream_response_time": up.get("time", "0.020"),
        "user_agent": up.get("agent", "python-requests/2.32"),
    }
    return json.dumps(record)


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("GET", "/v1/agents", "reads"),
        ("HEAD", "/v1/tasks/42?wait=1", "reads"),
        ("POST", "/v1/tasks", "task_submissions"),
        ("POST", "/v1/tasks/", "task_submissions"),
        ("POST", "/v1/agents", "other_writes"),
        ("DELETE", "/v1/agents/7", "other_writes"),
        ("GET", "/ready", None),
        ("GET", "/health", None),
        ("GET", "/docs", None),
        ("OPTIONS", "/v1/agents", None),
    ],
)
def test_route_classes(method, path, route):
    assert evidence.route_class(method, path) == route


def test_an_answered_request_is_its_upstreams_time_in_ms():
    assert evidence.observations(line(T0, time="0.125")) == [
        (T0, "10.242.0.21:8000", "reads", 125.0, False)
    ]


def test_a_retried_request_counts_against_the_upstream_that_failed_it():
    rows = evidence.observations(
        line(T0, addr="10.242.0.21:8000, 10.242.0.22:8000", status="502, 200", time="0.001, 0.030")
    )
    assert rows == [
        (T0, "10.242.0.21:8000", "reads", None, True),
        (T0, "10.242.0.22:8000", "reads", 30.0, False),
    ]


def test_timeouts_5xx_and_clients_that_gave_up_are_errors():
    assert evidence.observations(line(T0, status=504))[0][4] is True
    assert evidence.observations(line(T0, "POST", "/v1/tasks", status=500))[0][3:] == (None, True)
    gave_up = line(T0, status=499, addr="10.242.0.21:8000", time="1.000")
    gave_up = gave_up.replace('"upstream_status": "499"', '"upstream_status": ""')
    assert evidence.observations(gave_up)[0][4] is True


def test_what_no_upstream_answered_and_the_probes_are_left_out():
    assert evidence.observations(line(T0, status=429, addr="", time="")) == []
    assert evidence.observations(line(T0, uri="/ready")) == []
    assert evidence.observations("not json") == []


def test_logs_without_msec_use_the_iso_time():
    record = json.loads(line(T0))
    del record["msec"]
    when = datetime.datetime(2027, 1, 15, 8, tzinfo=datetime.timezone.utc).timestamp()
    assert evidence.observations(json.dumps(record))[0][0] == when


def test_the_window_is_read_from_the_end_of_a_large_log(tmp_path):
    log = tmp_path / "access.log"
    with log.open("w") as f:
        for i in range(60_000):  # 10 minutes at 100 requests/s, about 14 MB
            t = T0 + i / 100
            addr = "10.242.0.21:8000" if i % 2 else "10.242.0.22:8000"
            f.write(line(t, addr=addr, time="0.040" if i % 2 else "0.020") + "\n")
    source = evidence.LbLogSource([str(log)], UPSTREAMS)
    traffic = source.traffic(T0 + 540, T0 + 600)
    assert traffic["app1"]["reads"].requests == 3000
    assert traffic["app2"]["reads"].requests == 3000
    assert set(traffic["app1"]["reads"].latencies) == {40.0}
    read = sum(len(x) for x in evidence.tail_lines(str(log), T0 + 540))
    assert read < log.stat().st_size / 4, "only the window's end of the log is read"


def test_a_window_before_the_log_began_reads_it_all(tmp_path):
    log = tmp_path / "access.log"
    log.write_text("".join(line(T0 + i) + "\n" for i in range(10)))
    assert len(list(evidence.tail_lines(str(log), T0 - 60))) == 10
    traffic = evidence.LbLogSource([str(log)], UPSTREAMS).traffic(T0 - 60, T0 + 5)
    assert traffic["app1"]["reads"].requests == 5
    assert traffic["app2"] == {}
    # each answered request says when it ended
    assert traffic["app1"]["reads"].times == [T0 + i for i in range(5)]


@pytest.mark.parametrize(
    "agent", ["slipway-route-traffic", "slipway-verify", "slipway-health-gate"]
)
def test_the_runs_own_requests_count_only_when_asked(tmp_path, agent):
    """A baseline must not hold an earlier run's own requests (their route mix is not the
    users'); a judgment on the run's own requests counts them."""
    log = tmp_path / "access.log"
    log.write_text(
        "".join(line(T0 + i, agent=agent) + "\n" for i in range(6))
        + "".join(line(T0 + i, addr="10.242.0.22:8000") + "\n" for i in range(4))
    )
    real = evidence.LbLogSource([str(log)], UPSTREAMS).traffic(T0 - 1, T0 + 10)
    assert (real["app1"], real["app2"]["reads"].requests) == ({}, 4)
    everything = evidence.LbLogSource([str(log)], UPSTREAMS, own=True).traffic(T0 - 1, T0 + 10)
    assert (everything["app1"]["reads"].requests, everything["app2"]["reads"].requests) == (6, 4)


def test_histogram_buckets_become_binned_latencies():
    latencies, count = evidence.binned({0.01: 3, 0.05: 5, 0.1: 5, float("inf"): 6})
    assert count == 6
    assert latencies == [10.0] * 3 + [50.0] * 2 + [200.0]
