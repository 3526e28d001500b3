# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verification suite's bookkeeping, with no I/O of its own: the check catalogue,
which checks a validation level selects, the result record of each check, the
summary, the overall verdict, and run_suite(), which runs a selection. The checks
themselves are in _verify_checks.py (and _verify_security.py); the options in
_verify_options.py."""

from __future__ import annotations

import datetime
import functools
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ansible_collections.slipway.ops.plugins.module_utils import _vocabulary as vocabulary
from ansible_collections.slipway.ops.plugins.module_utils._verify_http import Endpoint
from ansible_collections.slipway.ops.plugins.module_utils._verify_options import (
    LEVELS,
    SEVERITIES,
    with_defaults,
)

SKIPPED_BY_REQUEST = "skipped by request"
# The keys of every check's record, as the module documents them.
RECORD_KEYS = (
    "test_name",
    "test_type",
    "severity",
    "passed",
    "skipped",
    "message",
    "metrics",
    "execution_time",
    "timestamp",
)


# The rollback trigger a failed check names (the release ledger's vocabulary);
# a check not listed here names HEALTH.
HEALTH = vocabulary.HEALTH_CHECK_FAILURE
TRIGGER_OF = {
    "performance_baseline": vocabulary.PERFORMANCE_DEGRADATION,
    "security_posture": vocabulary.SECURITY_VIOLATION,
    "rollback_capability": vocabulary.DEPLOYMENT_FAILURE,
}


@dataclass(frozen=True)
class Check:
    name: str
    type: str
    severity: str
    level: str  # the lowest validation level that selects it
    proves: str  # one line for the docs and for `checks` errors

    @property
    def trigger(self) -> str:
        return TRIGGER_OF.get(self.name, HEALTH)


CATALOGUE: tuple[Check, ...] = (
    Check("health", "health", "critical", "basic", "/health answers 200 and /version the release"),
    Check("service_availability", "availability", "critical", "basic", "/ready answers 200"),
    Check(
        "database_connectivity",
        "database",
        "critical",
        "basic",
        "PostgreSQL answers its protocol and the API reports no database problem",
    ),
    Check(
        "api_endpoints",
        "functional",
        "critical",
        "standard",
        "an agent task goes through the API, the queue and a worker and comes back right",
    ),
    Check(
        "performance_baseline",
        "performance",
        "high",
        "standard",
        "latency percentiles and error rate are within budget",
    ),
    Check(
        "rollback_capability",
        "rollback",
        "high",
        "standard",
        "the previous release is known and its image is on the host",
    ),
    Check("monitoring", "monitoring", "medium", "standard", "Prometheus scrapes the target"),
    Check(
        "security_posture",
        "security",
        "high",
        "strict",
        "TLS, security headers, authentication on mutations, no debug endpoints",
    ),
    Check(
        "external_integrations",
        "integrations",
        "medium",
        "strict",
        "the external services the platform needs answer",
    ),
    Check("backup_freshness", "backup", "medium", "strict", "the last good backup is recent"),
)
BY_NAME = {check.name: check for check in CATALOGUE}


@dataclass
class Outcome:
    """What a check function returns: the rest of the record is the suite's."""

    passed: bool
    message: str
    metrics: dict = field(default_factory=dict)
    skipped: bool = False


def passed(message: str, **metrics) -> Outcome:
    return Outcome(True, message, metrics)


def failed(message: str, **metrics) -> Outcome:
    return Outcome(False, message, metrics)


def skipped(message: str, **metrics) -> Outcome:
    """Not run: counts as skipped, never as a failure."""
    return Outcome(True, message, metrics, skipped=True)


def unknown_names(names: list[str]) -> list[str]:
    return [name for name in names if name not in BY_NAME]


def select(
    level: str, checks: list[str], skip: list[str], required: tuple[str, ...] = ()
) -> list[tuple[Check, str | None]]:
    """The checks to report, in catalogue order, each with the reason it is skipped
    (None: run it). An explicit `checks` list overrides the level's selection;
    `required` checks join it at every level. Raises ValueError on an unknown
    level or check name."""
    if level not in LEVELS:
        raise ValueError(f"validation_level must be one of {', '.join(LEVELS)}, not {level!r}")
    for option, names in (("checks", checks), ("skip", skip)):
        bad = unknown_names(names)
        if bad:
            raise ValueError(
                f"{option}: unknown check(s) {', '.join(bad)}; the checks are {', '.join(BY_NAME)}"
            )
    if checks:
        chosen = [check for check in CATALOGUE if check.name in checks]
    else:
        rank = LEVELS.index(level)
        chosen = [
            check
            for check in CATALOGUE
            if LEVELS.index(check.level) <= rank or check.name in required
        ]
    return [(check, SKIPPED_BY_REQUEST if check.name in skip else None) for check in chosen]


def iso_utc(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def one_line(text: str, limit: int = 500) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def record(check: Check, severity: str, outcome: Outcome, started: float, elapsed: float) -> dict:
    """The result of one check, with exactly RECORD_KEYS."""
    return {
        "test_name": check.name,
        "test_type": check.type,
        "severity": severity,
        "passed": bool(outcome.passed),
        "skipped": bool(outcome.skipped),
        "message": one_line(outcome.message),
        "metrics": dict(outcome.metrics),
        "execution_time": round(elapsed, 4),
        "timestamp": iso_utc(started),
    }


def run_one(
    check: Check,
    severity: str,
    runner: Callable[[], Outcome],
    clock: Callable[[], float] = time.time,
    timer: Callable[[], float] = time.monotonic,
) -> dict:
    """Run one check; an exception in it is a failure that names the exception."""
    started, began = clock(), timer()
    try:
        outcome = runner()
    except Exception as error:  # a broken check must not take the suite down
        outcome = failed(f"the check itself failed: {type(error).__name__}: {error}")
    return record(check, severity, outcome, started, timer() - began)


def summarize(results: list[dict]) -> dict:
    by_severity = {s: {"passed": 0, "failed": 0, "skipped": 0} for s in SEVERITIES}
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    for result in results:
        state = "skipped" if result["skipped"] else "passed" if result["passed"] else "failed"
        totals[state] += 1
        by_severity[result["severity"]][state] += 1
    return {"total": len(results), **totals, "by_severity": by_severity}


def verdict(results: list[dict], fail_on: list[str]) -> tuple[str, list[str], list[dict]]:
    """('passed' | 'failed', the names of every failed check, the failures that fail
    the task: those whose severity is in fail_on)."""
    failures = [r for r in results if not r["passed"] and not r["skipped"]]
    blocking = [r for r in failures if r["severity"] in fail_on]
    return ("failed" if blocking else "passed"), [r["test_name"] for r in failures], blocking


def trigger(blocking: list[dict]) -> str:
    """The trigger of a failed verdict: that of its first blocking check, in
    catalogue order (a dead /health outranks the slow answers it causes); ''
    when nothing blocks."""
    return BY_NAME[blocking[0]["test_name"]].trigger if blocking else ""


def message(results: list[dict], fail_on: list[str], level: str) -> str:
    """The task's msg: on failure each blocking check with its severity and reason."""
    outcome, failures, blocking = verdict(results, fail_on)
    if outcome == "failed":
        parts = [f"{r['test_name']} ({r['severity']}): {r['message']}" for r in blocking]
        others = [name for name in failures if name not in {r["test_name"] for r in blocking}]
        tail = f"; also failed, below fail_on: {', '.join(others)}" if others else ""
        return "verification failed: " + "; ".join(parts) + tail
    counts = summarize(results)
    text = (
        f"verification passed at level {level}: {counts['passed']} passed, "
        f"{counts['skipped']} skipped, {counts['failed']} failed"
    )
    if failures:
        text += f" (below fail_on: {', '.join(failures)})"
    return text


def run_suite(params: dict, runners: dict[str, Callable], check_mode: bool = False) -> dict:
    """Run the selected checks in catalogue order, each by its runner in `runners`
    (_verify_checks.RUNNERS: ep, opts, check_mode -> Outcome); the module's result
    (without `changed`). Raises ValueError on bad input, naming the option."""
    opts = with_defaults(params)
    for severity in list(opts["fail_on"]) + list(opts["severities"].values()):
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r}; use {', '.join(SEVERITIES)}")
    bad = unknown_names(list(opts["severities"]))
    if bad:
        raise ValueError(f"severities: unknown check(s) {', '.join(bad)}")
    # A golden release asks for the worker gate: api_endpoints runs at every level.
    required = ("api_endpoints",) if opts.get("golden_release") else ()
    selection = select(opts["validation_level"], list(opts["checks"]), list(opts["skip"]), required)
    try:
        ep = Endpoint(
            opts["base_url"],
            opts["server_name"],
            bool(opts["validate_certs"]),
            opts["ca_path"],
            opts["api_key"],
            float(opts["timeout"]),
        )
    except (ValueError, OSError, ssl.SSLError) as error:
        raise ValueError(f"base_url/ca_path: {error}") from None
    began = time.monotonic()
    results = []
    for check, skip_reason in selection:
        severity = opts["severities"].get(check.name, check.severity)
        if skip_reason:
            runner = functools.partial(skipped, skip_reason)
        else:
            runner = functools.partial(runners[check.name], ep, opts, check_mode)
        results.append(run_one(check, severity, runner))
    outcome, failed_checks, blocking = verdict(results, opts["fail_on"])
    return {
        "results": results,
        "summary": summarize(results),
        "failed_checks": failed_checks,
        "verdict": outcome,
        "trigger": trigger(blocking),
        "validation_level": opts["validation_level"],
        "scope": opts["scope"],
        "base_url": opts["base_url"],
        "execution_time": round(time.monotonic() - began, 3),
        "msg": message(results, opts["fail_on"], opts["validation_level"]),
    }
