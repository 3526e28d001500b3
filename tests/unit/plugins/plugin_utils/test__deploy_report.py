"""The deploy report: the last deploys newest first, the figures per environment, as text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from ansible_collections.slipway.ops.plugins.plugin_utils._audit_dora import parse_time
from ansible_collections.slipway.ops.plugins.plugin_utils._deploy_report import (
    lines,
    read_index,
    report,
)

NOW = parse_time("2030-01-31T00:00:00Z")


def outcome(n, result, env="production", kind="deploy", seconds=60, **extra):
    finished = datetime(2030, 1, 20 + n, 10, tzinfo=UTC)
    started = (finished - timedelta(seconds=seconds)).isoformat()
    finished = finished.isoformat()
    return {
        "id": f"{kind}-{n}",
        "kind": kind,
        "environment": env,
        "release": f"1.{n}.0",
        "outcome": result,
        "started_at": started,
        "finished_at": finished,
        "who": {"user": "alice", "source": "local"},
        **extra,
    }


def test_the_report_lists_the_last_deploys_newest_first_with_their_figures(tmp_path):
    history = [
        outcome(1, "success", seconds=120),
        outcome(2, "rolled_back", trigger="health_check_failure", seconds=300),
        outcome(3, "success", seconds=240),
        outcome(4, "success", check_mode=True),
        outcome(5, "refused", trigger="deployment_failure", seconds=0),
        outcome(6, "success", env="staging", kind="rollback", trigger="manual"),
    ]
    index = tmp_path / "deploys.jsonl"
    index.write_text("".join(json.dumps(d) + "\n" for d in history) + "{torn\n")
    deploys, notes = read_index(tmp_path)
    assert notes == [f"{index} line 7 is damaged and left out"]
    found = report(deploys, NOW, last=3)
    assert [d["id"] for d in found["recent"]] == ["rollback-6", "deploy-5", "deploy-3"]
    production = found["figures"]["production"]
    assert production["success_ratio"] == 2 / 4  # two of four asked (check mode is no deploy)
    assert production["duration_mean_s"] == 180.0
    assert production["duration_p95_s"] == 240.0
    assert production["change_failure_ratio"] == 1 / 3
    said = lines(found, {"app1": "1.3.0", "app2": None})
    assert said[:3] == [
        "Release on each app host:",
        "  app1         1.3.0",
        "  app2         (none)",
    ]
    assert (
        "  2030-01-25 10:00:00 production deploy 1.5.0: refused (deployment_failure) in 0 s, "
        "by alice (deploy-5)"
    ) in said
    assert any(
        line.startswith("  production: success 50.0 %, deploy time mean 180 s / p95 240 s")
        for line in said
    )


def test_no_index_says_where_it_looked(tmp_path):
    assert read_index(tmp_path) == (
        [],
        [f"no deploy index at {tmp_path / 'deploys.jsonl'}: no deploy was recorded there"],
    )
