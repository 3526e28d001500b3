"""slipway.ops.lb_traffic and slipway.ops.canary_judge: a real access log in, a verdict out."""

from __future__ import annotations

import json
import time

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.slipway.ops.plugins.module_utils import _canary_judge as judge
from ansible_collections.slipway.ops.plugins.modules import canary_judge, lb_traffic

from tests.access_logs import T0, UPSTREAMS, write_log
from tests.conftest import STALL_SLACK


def call(module, capsys, **args) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def judge_log(tmp_path, capsys, bad: float):
    log = tmp_path / "access.log"
    write_log(log, 60, bad_submissions=bad)
    seen = call(lb_traffic, capsys, access_log=str(log), upstreams=UPSTREAMS, start=T0, end=T0 + 60)
    assert seen["changed"] is False
    return call(
        canary_judge, capsys, canary=["app1"], baseline=["app2"], traffic=[seen["traffic"]]
    ), seen


def test_a_good_canary_passes_and_says_each_route_in_a_line(tmp_path, capsys):
    result, seen = judge_log(tmp_path, capsys, bad=0.0)
    assert seen["requests"] == {"app1": 624, "app2": 2496}
    assert result["verdict"] == "passed", result["reason"]
    assert "failed" not in result
    assert result["lines"][0].startswith("reads: passed; canary 600 requests, p50 13 ms")


def test_failing_submissions_fail_the_task_as_health(tmp_path, capsys):
    result, _ = judge_log(tmp_path, capsys, bad=0.3)
    assert result["failed"] is True
    assert (result["verdict"], result["trigger"]) == ("failed", "health_check_failure")
    assert result["msg"].startswith("canary failed: task_submissions: errors ")


@pytest.mark.parametrize("bad", [0.0, 0.3])
def test_a_watch_judges_a_host_against_the_fleet_before_the_deploy(tmp_path, capsys, bad):
    """The earlier window: both hosts on the old release; then app1 alone, maybe failing."""
    log = tmp_path / "access.log"
    write_log(log, 60)
    write_log(log, 60, bad_submissions=bad, start=T0 + 120)
    read = {"access_log": str(log), "upstreams": UPSTREAMS}
    before = call(lb_traffic, capsys, **read, start=T0, end=T0 + 60)["traffic"]
    now = call(lb_traffic, capsys, **read, start=T0 + 120, end=T0 + 180)["traffic"]
    result = call(
        canary_judge,
        capsys,
        canary=["app1"],
        baseline=["app1", "app2"],
        traffic=[now],
        baseline_traffic=[before],
        fail=False,
    )
    assert result["verdict"] == ("failed" if bad else "passed"), result["reason"]
    assert result["lines"][0].startswith("reads: passed; canary 600 requests, p50 13 ms")
    assert "baseline 3000 requests" in result["lines"][0]


def test_a_shift_the_peers_show_alike_is_the_environments(tmp_path, capsys):
    """Every host slower in the window (the load of a drained host's share, say): against the
    fleet before the deploy app1 is worse, against app2 alongside it, not."""
    log = tmp_path / "access.log"
    write_log(log, 60)
    write_log(log, 60, start=T0 + 120, base=0.060)
    read = {"access_log": str(log), "upstreams": UPSTREAMS}
    before = call(lb_traffic, capsys, **read, start=T0, end=T0 + 60)["traffic"]
    now = call(lb_traffic, capsys, **read, start=T0 + 120, end=T0 + 180)["traffic"]
    watch = {"canary": ["app1"], "baseline": ["app1", "app2"], "fail": False}
    alone = call(canary_judge, capsys, **watch, traffic=[now], baseline_traffic=[before])
    assert (alone["verdict"], alone["trigger"]) == ("failed", "performance_degradation")
    peers = call(
        canary_judge, capsys, **watch, traffic=[now], baseline_traffic=[before], peers=["app2"]
    )
    assert peers["verdict"] == "passed", peers["reason"]
    assert peers["reason"].startswith("the peers alongside shifted alike (no regression on")
    result = call(
        canary_judge, capsys, canary=["app1"], baseline=["app2"], traffic=[now], peers=["app2"]
    )
    assert result["msg"] == "peers need an earlier window (baseline_traffic, or a Prometheus one)"


@pytest.mark.parametrize(
    ("base", "slow_reads", "verdict"),
    [(0.010, 0.0, "passed"), (0.060, 0.0, "passed"), (0.010, 1.5, "failed")],
    ids=["steady", "all-slower", "app1-turned-slow"],
)
def test_the_fleet_at_the_end_judges_each_host_with_the_others_as_its_peers(
    tmp_path, capsys, base, slow_reads, verdict
):
    """The fleet at the end (each): the deploy's own load slows every host alike and passes;
    one host whose reads turned slow fails, named, though the fleet has no peer on the old
    release. app3 is in the inventory but out of rotation: said, and it holds nothing back."""
    log = tmp_path / "access.log"
    write_log(log, 60)
    write_log(log, 60, start=T0 + 120, base=base, slow_reads=slow_reads)
    read = {"access_log": str(log), "upstreams": UPSTREAMS}
    before = call(lb_traffic, capsys, **read, start=T0, end=T0 + 60)["traffic"]
    now = call(lb_traffic, capsys, **read, start=T0 + 120, end=T0 + 180)["traffic"]
    fleet = ["app1", "app2", "app3"]
    result = call(
        canary_judge,
        capsys,
        canary=fleet,
        baseline=fleet,
        each=True,
        traffic=[now],
        baseline_traffic=[before],
        fail=False,
    )
    assert result["verdict"] == verdict, result["reason"]
    assert result["reason"].endswith("; served nothing: app3"), result["reason"]
    assert {r["host"] for r in result["routes"]} == {"app1", "app2"}
    assert any(line.startswith("app1 reads: ") for line in result["lines"]), result["lines"]
    # Each host's own verdict, for a batch whose hosts fail on their own (watch.yml).
    assert result["hosts"] == {"app1": verdict, "app2": "passed", "app3": "inconclusive"}
    if verdict == "failed":
        assert result["trigger"] == "performance_degradation"
        assert result["reason"].startswith("app1: reads: ")
        assert "app2:" not in result["reason"]
    elif base > 0.010:
        assert "app1: the peers alongside shifted alike" in result["reason"]
    # Over one window (a quiet fleet on the run's own requests): each against the others.
    alongside = call(canary_judge, capsys, canary=fleet, baseline=fleet, each=True, traffic=[now])
    assert alongside["verdict"] == verdict, alongside["reason"]


def test_bad_input_names_what_to_fix(tmp_path, capsys):
    result = call(canary_judge, capsys, canary=["app1"], baseline=["app1"], traffic=[{}])
    assert result["msg"] == (
        "canary and baseline must each name at least one host, and none in both (in both: app1)"
    )
    result = call(
        canary_judge, capsys, canary=["a"], baseline=["b"], traffic=[{}], policy={"alpha": 2}
    )
    assert result["msg"] == "policy: alpha 2.0 must be between 0 and 0.5"
    result = call(
        lb_traffic, capsys, access_log=str(tmp_path / "nope"), upstreams={}, start=1, end=2
    )
    assert "does not exist: set the path nginx_tls logs to" in result["msg"]
    result = call(canary_judge, capsys, canary=["a"], baseline=["b"], source="prometheus")
    assert (
        result["msg"] == "source=prometheus needs prometheus.url, prometheus.start, prometheus.end"
    )
    result = call(
        canary_judge,
        capsys,
        canary=["a"],
        baseline=["a", "b"],
        source="prometheus",
        prometheus={"url": "http://127.0.0.1:9", "start": 1, "end": 2, "baseline_start": 0},
    )
    assert result["msg"] == "source=prometheus needs prometheus.baseline_end"


def test_the_evidence_travels_as_text_and_judges_as_the_lists_did(tmp_path, capsys):
    """lb_traffic returns each side's numbers as one string (the controller copies a list
    element by element for each task that touches it); the judge reads that, and lists."""
    result, seen = judge_log(tmp_path, capsys, bad=0.3)
    reads = seen["traffic"]["app1"]["reads"]
    assert isinstance(reads["latencies"], str)
    assert isinstance(reads["times"], str)
    side = judge.Traffic.unpacked(reads)
    assert len(side.latencies) == len(side.times) == 600
    # app1 first reads at the 5th request, 5/52 s in: to the millisecond.
    assert min(side.times) == pytest.approx(T0 + 5 / 52, abs=0.0005)
    assert judge.Traffic.unpacked(side.packed()) == side
    as_lists = [
        {
            host: {route: vars(judge.Traffic.unpacked(s)) for route, s in routes.items()}
            for host, routes in seen["traffic"].items()
        }
    ]
    again = call(canary_judge, capsys, canary=["app1"], baseline=["app2"], traffic=as_lists)
    assert (again["verdict"], again["lines"]) == (result["verdict"], result["lines"])


def test_evidence_that_is_not_numbers_is_refused_by_name(capsys):
    bad = [{"app1": {"reads": {"latencies": "12 fast", "times": "", "errors": 0}}, "app2": {}}]
    result = call(canary_judge, capsys, canary=["app1"], baseline=["app2"], traffic=bad)
    assert result["failed"] is True
    assert result["msg"] == (
        "traffic is not as slipway.ops.lb_traffic returns it: latencies must be numbers apart by"
        " spaces (as lb_traffic returns them) or a list of numbers, got '12 fast'"
    )


def test_the_backends_come_from_what_the_role_recorded(tmp_path, capsys):
    log = tmp_path / "access.log"
    write_log(log, 10)
    backends = tmp_path / "backends.json"
    backends.write_text(
        json.dumps(
            {
                "backends": [
                    {"name": "app1", "address": "10.242.0.21"},
                    {"name": "app2", "address": "app2.internal", "port": 8000},
                ],
                "default_port": 8000,
                # A host name, as the converge resolved it on the lb: Nginx logs the address.
                "resolved": {"app2.internal": "10.242.0.22"},
            }
        )
    )
    seen = call(
        lb_traffic, capsys, access_log=str(log), backends_file=str(backends), start=T0, end=T0 + 10
    )
    assert seen["requests"] == {"app1": 104, "app2": 416}
    backends.write_text("{}")
    seen = call(
        lb_traffic, capsys, access_log=str(log), backends_file=str(backends), start=T0, end=T0 + 10
    )
    assert seen["msg"].endswith(
        "converge the load balancer (site.yml) so that nginx_tls records its backends"
    )


def test_the_documented_policy_is_the_judges():
    import yaml

    documented = yaml.safe_load(canary_judge.DOCUMENTATION)["options"]["policy"]["suboptions"]
    assert {name: spec["default"] for name, spec in documented.items()} == {
        name: spec["default"] for name, spec in canary_judge.POLICY.items()
    }
    assert {name: spec["type"] for name, spec in documented.items()} == {
        name: spec["type"] for name, spec in canary_judge.POLICY.items()
    }


def test_the_judge_reads_no_earlier_than_not_before(tmp_path, capsys):
    log = tmp_path / "access.log"
    write_log(log, 60)
    seen = call(lb_traffic, capsys, access_log=str(log), upstreams=UPSTREAMS, start=T0, end=T0 + 60)
    began = time.time()
    result = call(
        canary_judge,
        capsys,
        canary=["app1"],
        baseline=["app2"],
        traffic=[seen["traffic"]],
        not_before=began + 2,
    )
    assert time.time() - began >= 2
    assert result["verdict"] == "passed", result["reason"]


def test_a_load_balancer_reads_once_the_window_has_closed_and_waits_no_longer_than_it(
    tmp_path, capsys
):
    log = tmp_path / "access.log"
    began = time.time()
    write_log(log, 3, start=began)
    read = {"access_log": str(log), "upstreams": UPSTREAMS, "wait": True}
    seen = call(lb_traffic, capsys, **read, start=began, end=began + 2)
    assert time.time() - began >= 2
    assert sum(seen["requests"].values()) == 2 * 52
    # A window far ahead of the clock is waited for no longer than it lasts.
    began = time.time()
    call(lb_traffic, capsys, **read, start=began + 600, end=began + 601)
    assert time.time() - began < 1 + STALL_SLACK
