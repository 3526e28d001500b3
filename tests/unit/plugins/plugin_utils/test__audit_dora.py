"""Deploy counters and DORA figures from the deploy history."""

from __future__ import annotations

import pytest
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_dora import figures, parse_time

NOW = parse_time("2030-01-31T00:00:00Z")
HOUR = 3600.0


def deploy(outcome, finished, env="production", **extra):
    return {"environment": env, "outcome": outcome, "finished_at": finished, **extra}


def test_counters_cover_all_history_and_dora_the_window():
    history = [
        deploy("success", "2029-06-01T00:00:00Z"),  # outside the 30-day window
        deploy("success", "2030-01-10T10:00:00Z", commit_time="2030-01-10T08:00:00Z"),
        deploy(
            "rolled_back",
            "2030-01-12T10:30:00Z",
            trigger="health_gate",
            failed_at="2030-01-12T10:20:00Z",
        ),
        deploy("failed", "2030-01-20T00:00:00Z"),
        deploy("success", "2030-01-20T01:00:00Z", commit_time="2030-01-19T20:00:00Z"),
        deploy("refused", "2030-01-21T00:00:00Z"),
    ]
    fig = figures(history, NOW, window_days=30)["production"]
    assert fig.outcomes == {"success": 3, "rolled_back": 1, "failed": 1, "refused": 1}
    assert fig.rollbacks == {"health_gate": 1}
    assert fig.last_success == parse_time("2030-01-20T01:00:00Z")
    # Over all history, like the counters: the alert rules' "in the last hour".
    assert fig.last_failure == {
        "rolled_back": parse_time("2030-01-12T10:30:00Z"),
        "failed": parse_time("2030-01-20T00:00:00Z"),
    }
    assert fig.last_rollback == {"health_gate": parse_time("2030-01-12T10:30:00Z")}
    assert fig.deploys_per_day == pytest.approx(2 / 30)
    assert fig.lead_time == pytest.approx(3.5 * HOUR)  # median of 2 h and 5 h
    assert fig.change_failure_rate == pytest.approx(2 / 4)  # refused is not a change
    assert fig.time_to_restore == pytest.approx(35 * 60)  # median of 10 min and 1 h


def test_check_mode_and_unknown_outcomes_are_not_deploys():
    history = [
        deploy("success", "2030-01-10T00:00:00Z", check_mode=True),
        deploy("maybe", "2030-01-10T00:00:00Z"),
        deploy("success", "not a time"),
    ]
    assert figures(history, NOW) == {}


def test_rollback_runs_count_as_rollbacks_and_restore_service():
    history = [
        deploy("failed", "2030-01-20T00:00:00Z"),
        deploy("success", "2030-01-20T00:15:00Z", kind="rollback"),
    ]
    fig = figures(history, NOW)["production"]
    assert fig.rollbacks == {"manual": 1}
    assert fig.last_rollback == {"manual": parse_time("2030-01-20T00:15:00Z")}
    assert fig.outcomes == {"failed": 1}
    assert fig.change_failure_rate == 1.0
    assert fig.time_to_restore == pytest.approx(900)
    assert fig.deploys_per_day == 0


def test_a_reconcile_is_no_deploy_but_restores_service():
    history = [
        deploy("interrupted", "2030-01-20T00:00:00Z"),
        deploy("success", "2030-01-20T00:10:00Z", kind="reconcile"),
    ]
    fig = figures(history, NOW)["production"]
    assert fig.outcomes == {"interrupted": 1}
    assert fig.rollbacks == {}
    assert fig.deploys_per_day == 0
    assert fig.change_failure_rate == 1.0
    assert fig.time_to_restore == pytest.approx(600)


def test_figures_are_per_environment_and_absent_when_not_derivable():
    history = [deploy("success", "2030-01-10T00:00:00Z", env="staging")]
    result = figures(history, NOW)
    assert set(result) == {"staging"}
    assert result["staging"].lead_time is None
    assert result["staging"].time_to_restore is None
    assert result["staging"].change_failure_rate == 0.0


def test_success_ratio_counts_refusals_and_deploy_time_only_successes():
    minutes = [2, 3, 4, 5, 30]  # successful deploys' start-to-end times
    history = [
        deploy("success", f"2030-01-1{n}T01:00:00Z", started_at=f"2030-01-1{n}T00:{60 - m:02d}:00Z")
        for n, m in enumerate(minutes)
    ]
    history += [
        deploy("refused", "2030-01-20T00:00:00Z", started_at="2030-01-20T00:00:00Z"),
        deploy("rolled_back", "2030-01-21T02:00:00Z", started_at="2030-01-21T00:00:00Z"),
        deploy("success", "2029-01-01T00:00:00Z", started_at="2028-12-31T00:00:00Z"),  # old
    ]
    fig = figures(history, NOW, window_days=30)["production"]
    assert fig.success_ratio == pytest.approx(5 / 7)
    assert fig.duration_mean == pytest.approx(sum(minutes) / 5 * 60)
    assert fig.duration_p95 == pytest.approx(30 * 60)  # nearest rank: the 5th of 5
    assert (
        figures([deploy("refused", "2030-01-20T00:00:00Z")], NOW)["production"].duration_p95 is None
    )
