"""The verification suite's bookkeeping: selection by level, records, summary, verdict."""

from __future__ import annotations

import pytest
from ansible_collections.slipway.ops.plugins.module_utils import _verify_suite as suite


def names(selection):
    return [check.name for check, _ in selection]


def test_each_level_adds_to_the_one_before():
    basic = names(suite.select("basic", [], []))
    standard = names(suite.select("standard", [], []))
    strict = names(suite.select("strict", [], []))
    assert basic == ["health", "service_availability", "database_connectivity"]
    assert standard == [
        *basic,
        "api_endpoints",
        "performance_baseline",
        "rollback_capability",
        "monitoring",
    ]
    assert strict == [*standard, "security_posture", "external_integrations", "backup_freshness"]


def test_the_catalogue_has_the_documented_types_and_severities():
    table = {c.name: (c.type, c.severity, c.level) for c in suite.CATALOGUE}
    assert table["api_endpoints"] == ("functional", "critical", "standard")
    assert table["performance_baseline"] == ("performance", "high", "standard")
    assert table["security_posture"] == ("security", "high", "strict")
    assert table["backup_freshness"] == ("backup", "medium", "strict")
    assert all(c.severity in suite.SEVERITIES for c in suite.CATALOGUE)


def test_an_explicit_list_overrides_the_level_and_keeps_catalogue_order():
    chosen = suite.select("basic", ["security_posture", "health"], [])
    assert names(chosen) == ["health", "security_posture"]


def test_skip_reports_the_check_skipped_by_request():
    chosen = dict((c.name, why) for c, why in suite.select("basic", [], ["health"]))
    assert chosen == {
        "health": "skipped by request",
        "service_availability": None,
        "database_connectivity": None,
    }


@pytest.mark.parametrize(
    ("level", "checks", "skip", "says"),
    [
        ("paranoid", [], [], "validation_level must be one of basic, standard, strict"),
        ("basic", ["helth"], [], "checks: unknown check(s) helth"),
        ("basic", [], ["nope"], "skip: unknown check(s) nope"),
    ],
)
def test_bad_names_are_refused_naming_the_option(level, checks, skip, says):
    with pytest.raises(ValueError, match=r"^" + says.replace("(", r"\(").replace(")", r"\)")):
        suite.select(level, checks, skip)


def test_a_record_has_exactly_the_documented_keys():
    check = suite.BY_NAME["health"]
    rec = suite.record(check, "critical", suite.passed("ok\n  fine", release="1.0"), 0.0, 0.25)
    assert tuple(rec) == suite.RECORD_KEYS
    assert rec["message"] == "ok fine"  # one line
    assert rec["timestamp"] == "1970-01-01T00:00:00.000Z"
    assert rec["metrics"] == {"release": "1.0"}
    assert isinstance(rec["execution_time"], float)


def test_an_exception_in_a_check_is_a_failure_that_names_it():
    def broken():
        raise KeyError("performance")

    rec = suite.run_one(suite.BY_NAME["performance_baseline"], "high", broken)
    assert rec["passed"] is False
    assert rec["message"] == "the check itself failed: KeyError: 'performance'"


def results_of(*entries):
    out = []
    for name, severity, state in entries:
        outcome = {
            "pass": suite.passed("fine"),
            "fail": suite.failed(f"{name} broke"),
            "skip": suite.skipped("not configured"),
        }[state]
        out.append(suite.record(suite.BY_NAME[name], severity, outcome, 0.0, 0.0))
    return out


def test_summary_counts_overall_and_by_severity():
    results = results_of(
        ("health", "critical", "pass"),
        ("service_availability", "critical", "fail"),
        ("monitoring", "medium", "skip"),
        ("performance_baseline", "high", "fail"),
    )
    summary = suite.summarize(results)
    assert (summary["total"], summary["passed"], summary["failed"], summary["skipped"]) == (
        4,
        1,
        2,
        1,
    )
    assert summary["by_severity"]["critical"] == {"passed": 1, "failed": 1, "skipped": 0}
    assert summary["by_severity"]["medium"] == {"passed": 0, "failed": 0, "skipped": 1}
    assert set(summary["by_severity"]) == set(suite.SEVERITIES)


def test_only_severities_in_fail_on_fail_the_verdict():
    results = results_of(("health", "critical", "pass"), ("monitoring", "medium", "fail"))
    assert suite.verdict(results, ["critical"])[:2] == ("passed", ["monitoring"])
    assert suite.verdict(results, ["critical", "medium"])[:2] == ("failed", ["monitoring"])
    msg = suite.message(results, ["critical"], "standard")
    assert msg == (
        "verification passed at level standard: 1 passed, 0 skipped, 1 failed "
        "(below fail_on: monitoring)"
    )


def test_the_failure_message_names_each_blocking_check_with_severity_and_reason():
    results = results_of(
        ("service_availability", "critical", "fail"),
        ("api_endpoints", "critical", "fail"),
        ("monitoring", "medium", "fail"),
    )
    assert suite.message(results, ["critical"], "standard") == (
        "verification failed: service_availability (critical): service_availability broke; "
        "api_endpoints (critical): api_endpoints broke; also failed, below fail_on: monitoring"
    )


def test_skipped_checks_never_fail():
    results = results_of(("monitoring", "critical", "skip"))
    assert suite.verdict(results, ["critical"])[:2] == ("passed", [])


@pytest.mark.parametrize(
    ("failing", "fail_on", "trigger"),
    [
        (["performance_baseline"], ["critical", "high"], "performance_degradation"),
        (["security_posture"], ["critical", "high"], "security_violation"),
        (["rollback_capability"], ["critical", "high"], "deployment_failure"),
        (["api_endpoints"], ["critical"], "health_check_failure"),
        # A dead /health outranks the slow answers it causes.
        (["health", "performance_baseline"], ["critical", "high"], "health_check_failure"),
        # A failure below fail_on names no trigger: the verdict passed.
        (["performance_baseline"], ["critical"], ""),
    ],
)
def test_a_failed_verdict_names_the_trigger_of_its_first_blocking_check(failing, fail_on, trigger):
    results = results_of(*[(name, suite.BY_NAME[name].severity, "fail") for name in failing])
    assert suite.trigger(suite.verdict(results, fail_on)[2]) == trigger


def test_a_required_check_runs_at_every_level_unless_skipped():
    basic = [check.name for check, _ in suite.select("basic", [], [], ("api_endpoints",))]
    assert "api_endpoints" in basic
    assert "performance_baseline" not in basic
    skipped = dict(
        (c.name, why) for c, why in suite.select("basic", [], ["api_endpoints"], ("api_endpoints",))
    )
    assert skipped["api_endpoints"] == suite.SKIPPED_BY_REQUEST
