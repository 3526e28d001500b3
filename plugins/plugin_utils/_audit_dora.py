# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deploy counters and the four DORA figures, from the history of deploy outcomes.

A deploy outcome is a dict as the audit callback writes it (docs/audit.md):
environment, outcome (one of _vocabulary.OUTCOMES), finished_at,
and where known failed_at, commit_time and trigger. Check-mode deploys are not
deploys and are left out. Definitions, per environment, over a window of days:

- deploy frequency: successful deploys per day;
- lead time: median of (finished_at - commit_time) over successful deploys
  that name their commit time; absent when none does;
- change failure rate: the change failures (_vocabulary.CHANGE_FAILURES:
  failed, rolled_back, interrupted) over them plus the successes; a refused
  deploy (stopped before any host changed) is not counted;
- time to restore: median, over those failures, of the time from failure to
  service restored: for rolled_back, failed_at to finished_at (the rollback
  restored it); for failed and interrupted, finished_at to the next success
  (a deploy or a manual rollback).

And two of Slipway's own, over the same window:

- success ratio: successful deploys over every deploy asked for, refused ones
  included (of the deploys an operator started, how many landed);
- deploy time: the mean and the p95 (nearest rank) of started_at to
  finished_at over the successful deploys.

Only runs of kind `deploy` count as deploys in the window's figures. A run of
kind `rollback` (rollback.yml) counts as a rollback, by trigger (`manual`
unless named); one of kind `reconcile` (site.yml putting back what an
interrupted run left) as neither, though either may be the success that
restores service after a failure.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ansible_collections.slipway.ops.plugins.module_utils import _vocabulary as vocabulary

OUTCOMES = tuple(vocabulary.OUTCOMES)
FAILURES = vocabulary.CHANGE_FAILURES
DAY = 86400.0


def parse_time(value: object) -> float | None:
    """Seconds since the epoch from an ISO 8601 string (a trailing Z is UTC), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass
class EnvironmentFigures:
    outcomes: Counter = field(default_factory=Counter)
    rollbacks: Counter = field(default_factory=Counter)
    last_success: float | None = None
    # When the last deploy ended with each failed outcome, and the last rollback
    # by each trigger: alert rules read "in the last hour" from these gauges,
    # which, unlike increase() over a counter, see a series' first value.
    last_failure: dict[str, float] = field(default_factory=dict)
    last_rollback: dict[str, float] = field(default_factory=dict)
    deploys_per_day: float = 0.0
    lead_time: float | None = None
    change_failure_rate: float | None = None
    time_to_restore: float | None = None
    success_ratio: float | None = None
    duration_mean: float | None = None
    duration_p95: float | None = None


def figures(
    deploys: list[dict], now: float, window_days: int = 30
) -> dict[str, EnvironmentFigures]:
    """Counters over all history and DORA figures over the window, per environment."""
    by_env: dict[str, list[tuple[float, dict]]] = defaultdict(list)
    for deploy in deploys:
        finished = parse_time(deploy.get("finished_at"))
        if finished is None or deploy.get("check_mode") or deploy.get("outcome") not in OUTCOMES:
            continue
        by_env[str(deploy.get("environment") or "unknown")].append((finished, deploy))
    since = now - window_days * DAY
    result = {}
    for env, history in by_env.items():
        history.sort(key=lambda item: item[0])
        fig = EnvironmentFigures()
        for finished, deploy in history:
            if _not_a_deploy(deploy):
                if deploy.get("kind") == "rollback" and deploy["outcome"] == "success":
                    trigger = str(deploy.get("trigger") or "manual")
                    fig.rollbacks[trigger] += 1
                    fig.last_rollback[trigger] = finished
                continue
            fig.outcomes[deploy["outcome"]] += 1
            if deploy["outcome"] in FAILURES:
                fig.last_failure[deploy["outcome"]] = finished
            if deploy["outcome"] == "rolled_back":
                trigger = str(deploy.get("trigger") or "unknown")
                fig.rollbacks[trigger] += 1
                fig.last_rollback[trigger] = finished
            if deploy["outcome"] == "success":
                fig.last_success = finished
        _window_figures(fig, history, since, window_days)
        result[env] = fig
    return result


def _not_a_deploy(deploy: dict) -> bool:
    return deploy.get("kind", "deploy") != "deploy"


def _window_figures(fig, history, since, window_days) -> None:
    recent = [(t, d) for t, d in history if t >= since and not _not_a_deploy(d)]
    successes = [(finished, d) for finished, d in recent if d["outcome"] == "success"]
    failures = [(finished, d) for finished, d in recent if d["outcome"] in FAILURES]
    fig.deploys_per_day = len(successes) / window_days
    if recent:
        fig.success_ratio = len(successes) / len(recent)
    durations = sorted(
        finished - started
        for finished, d in successes
        if (started := parse_time(d.get("started_at"))) is not None and started <= finished
    )
    if durations:
        fig.duration_mean = statistics.fmean(durations)
        fig.duration_p95 = durations[max(0, math.ceil(0.95 * len(durations)) - 1)]
    if successes or failures:
        fig.change_failure_rate = len(failures) / (len(successes) + len(failures))
    lead_times = [
        finished - commit
        for finished, d in successes
        if (commit := parse_time(d.get("commit_time"))) is not None and commit <= finished
    ]
    if lead_times:
        fig.lead_time = statistics.median(lead_times)
    restores = []
    for finished, d in failures:
        if d["outcome"] == "rolled_back":
            failed_at = parse_time(d.get("failed_at"))
            if failed_at is not None and failed_at <= finished:
                restores.append(finished - failed_at)
            continue
        later = [t for t, s in history if t > finished and s["outcome"] == "success"]
        if later:
            restores.append(later[0] - finished)
    if restores:
        fig.time_to_restore = statistics.median(restores)
