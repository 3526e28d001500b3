"""slipway.ops.lb_traffic and slipway.ops.canary_judge: a real access log in, a verdict out."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.slipway.ops.plugins.modules import canary_judge, lb_traffic

UPSTREAMS = {"10.242.0.21:8000": "app1", "10.242.0.22:8000": "app2"}
T0 = 1_800_000_000.0


def call(module, capsys, **args) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def write_log(path, seconds: int, bad_submissions: float = 0.0) -> None:
    """50 reads and 2 submissions a second, app1 (the canary) taking a fifth; a share of
    app1's submissions answered 500."""
    lines = []
    for i in range(seconds * 52):
        t = T0 + i / 52
        submission = i % 26 == 0
        addr = "10.242.0.21:8000" if i % 5 == 0 else "10.242.0.22:8000"
        status = 202 if submission else 200
        if submission and addr.startswith("10.242.0.21") and (i // 26) % 10 < bad_submissions * 10:
            status = 500
        record = {
            "msec": f"{t:.3f}",
            "method": "POST" if submission else "GET",
            "uri": "/v1/tasks" if submission else "/v1/agents/a1",
            "status": status,
            "upstream_addr": addr,
            "upstream_status": str(status),
            "upstream_response_time": f"{0.010 + (i % 7) / 1000:.3f}",
        }
        lines.append(json.dumps(record) + "\n")
    path.write_text("".join(lines))


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


def test_the_backends_come_from_what_the_role_recorded(tmp_path, capsys):
    log = tmp_path / "access.log"
    write_log(log, 10)
    backends = tmp_path / "backends.json"
    backends.write_text(
        json.dumps(
            {
                "backends": [
                    {"name": "app1", "address": "10.242.0.21"},
                    {"name": "app2", "address": "10.242.0.22", "port": 8000},
                ],
                "default_port": 8000,
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
