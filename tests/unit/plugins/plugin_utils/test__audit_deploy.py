"""The slipway_deploy stats contract (docs/audit.md) turned into records."""

from __future__ import annotations

import pytest
from ansible_collections.slipway.ops.plugins.module_utils import _canary_judge as judge
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_deploy import (
    ContractError,
    DeployTracker,
    analysis_families,
)
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_metrics import render


def test_stages_then_an_outcome():
    tracker = DeployTracker("run1")
    start = {"id": "d1", "release": "2.0", "environment": "prod", "stage": "preflight"}
    assert tracker.observe({**start, "status": "started"}, "t1") == [
        {"type": "deploy_stage", "deploy": "d1", "stage": "preflight", "status": "started"}
    ]
    tracker.observe({"id": "d1", "stage": "batch 1", "status": "failed"}, "t2", host="app1")
    [record] = tracker.observe(
        {"id": "d1", "outcome": "rolled_back", "trigger": "health_gate"}, "t3"
    )
    assert record["deploy"] == {
        "id": "d1",
        "kind": "deploy",
        "outcome": "rolled_back",
        "release": "2.0",
        "environment": "prod",
        "trigger": "health_gate",
        "stages": ["preflight", "batch 1"],
        "started_at": "t1",
        "failed_at": "t2",
        "finished_at": "t3",
        "check_mode": False,
        "run": "run1",
    }
    assert tracker.finish("t4", run_failed=True) == []


@pytest.mark.parametrize(
    ("run_failed", "interrupted", "outcome"),
    [(True, False, "failed"), (False, False, "success"), (True, True, "interrupted")],
)
def test_a_deploy_without_an_outcome_gets_one_inferred(run_failed, interrupted, outcome):
    tracker = DeployTracker("run1", check_mode=True)
    tracker.observe({"stage": "preflight"}, "t1")
    [record] = tracker.finish("t2", run_failed=run_failed, interrupted=interrupted)
    assert record["deploy"]["id"] == "run1"  # no id given: the run's
    assert record["deploy"]["outcome"] == outcome
    assert record["deploy"]["inferred"] is True
    assert record["deploy"]["check_mode"] is True


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("deploy", "must be a mapping"),
        ({"id": "d"}, "needs a stage, an analysis or an outcome"),
        ({"analysis": {"kind": "look", "verdict": "passed"}}, "needs a kind in"),
        ({"analysis": {"kind": "watch", "verdict": "passed", "routes": [{}]}}, "a route class"),
        ({"stage": "s", "status": "meh"}, "status must be one of"),
        ({"outcome": "fine"}, "outcome must be one of"),
        ({"kind": "other", "stage": "s"}, "kind must be one of"),
    ],
)
def test_contract_errors_name_the_field(data, message):
    with pytest.raises(ContractError, match=message):
        DeployTracker("r").observe(data, "t")


def test_fields_are_scrubbed_and_unknown_fields_dropped():
    tracker = DeployTracker("r", scrub=lambda value, limit: str(value).replace("s3cret", "***"))
    [record] = tracker.observe({"outcome": "failed", "reason": "bad s3cret", "x": 1}, "t")
    assert record["deploy"]["reason"] == "bad ***"
    assert "x" not in record["deploy"]


def test_a_verdict_on_real_traffic_is_a_record_and_metrics():
    """The canary judge's own result, as canary_look.yml and watch.yml report it."""
    slow = judge.Traffic(latencies=[300.0 + i for i in range(200)])  # ms
    fast = judge.Traffic(latencies=[10.0 + i / 10 for i in range(800)])
    result = judge.judge({"reads": slow}, {"reads": fast}, judge.Policy())
    tracker = DeployTracker("r")
    data = {"id": "d1", "analysis": {"kind": "canary", "subject": "app1", **result}}
    [record] = tracker.observe(data, "t")
    assert record["type"] == "deploy_analysis"
    assert (record["verdict"], record["trigger"]) == ("failed", "performance_degradation")
    assert record["routes"][0]["canary"]["requests"] == 200
    text = render(analysis_families(tracker.analyses))
    assert (
        'slipway_deploy_analysis_verdict{kind="canary",subject="app1",verdict="failed"} 1' in text
    )
    assert (
        'slipway_deploy_analysis_requests{kind="canary",route="reads",side="baseline",'
        'subject="app1"} 800' in text
    )
    p95 = 'quantile="0.95",route="reads",side="canary",subject="app1"} 0.4'
    assert f'slipway_deploy_analysis_latency_seconds{{kind="canary",{p95}' in text
    assert (
        'slipway_deploy_analysis_p_value{kind="canary",route="reads",subject="app1",test="latency"}'
        in text
    )
