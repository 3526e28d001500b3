"""Promotion: a release ships to production only on staging's newest word, from a log that verifies.

The logs are written by AuditSession, as the callback writes them in a run.
"""

from __future__ import annotations

import json

import pytest
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_session import (
    AuditConfig,
    AuditSession,
)
from ansible_collections.slipway.ops.plugins.plugin_utils._promotion import find


class Clock:
    def __init__(self):
        self.now = 1_900_000_000.0

    def __call__(self):
        self.now += 1.0
        return self.now


CLOCK = Clock()


def run(directory, *, release, environment="staging", outcome="success", kind="deploy",
        previous="1.0.0", check_mode=False, report_outcome=True, key=None):  # fmt: skip
    """One ansible-playbook run that reports one deploy, as deploy.yml does."""
    session = AuditSession(AuditConfig(directory=directory, key=key), clock=CLOCK)
    session.start(playbook=f"/x/{kind}.yml", extra_vars={}, check_mode=check_mode, who={})
    session.deploys.check_mode = check_mode
    deploy_id = f"{kind}-{release}-{environment}-{outcome}-{CLOCK.now:.0f}"
    stage = {"id": deploy_id, "kind": kind, "stage": "validating", "status": "ok"}
    session.deploy(
        {**stage, "release": release, "previous_release": previous, "environment": environment},
        CLOCK(),
    )
    if report_outcome:
        session.deploy({"id": deploy_id, "kind": kind, "outcome": outcome}, CLOCK())
    session.end({}, interrupted=False)
    return deploy_id


@pytest.fixture
def audit(tmp_path):
    return tmp_path / "audit"


def test_a_release_staging_shipped_is_promoted_naming_the_deploy(audit):
    shipped = run(audit, release="1.2.0")
    evidence = find(audit, "1.2.0", "staging")
    assert evidence.promoted is True
    assert evidence.deploy["id"] == shipped
    assert evidence.reason.startswith(
        f"release 1.2.0 shipped to staging: deploy {shipped} (success, "
    )


@pytest.mark.parametrize(
    ("runs", "said"),
    [
        ([{"release": "1.1.0"}], "release 1.2.0 has no successful deploy to staging on record"),
        (
            [{"release": "1.2.0", "environment": "development"}],
            "has no successful deploy to staging",
        ),
        ([{"release": "1.2.0", "check_mode": True}], "has no successful deploy to staging"),
        ([{"release": "1.2.0", "outcome": "refused"}], "has no successful deploy to staging"),
        # reported no outcome: the session infers success, which proves nothing
        ([{"release": "1.2.0", "report_outcome": False}], "has no successful deploy to staging"),
        (
            [{"release": "1.2.0", "outcome": "rolled_back"}],
            "its last deploy to staging ended rolled_back",
        ),
        ([{"release": "1.2.0"}, {"release": "1.2.0", "outcome": "failed"}], "ended failed"),
        (
            [{"release": "1.2.0"}, {"release": "1.2.0", "outcome": "interrupted"}],
            "ended interrupted",
        ),
        (
            [{"release": "1.2.0"}, {"release": "1.1.0", "kind": "rollback", "previous": "1.2.0"}],
            "staging was rolled back off it: rollback",
        ),
        (
            # a rollback off a fleet that ran two releases, one of them this
            [
                {"release": "1.2.0"},
                {"release": "1.1.0", "kind": "rollback", "previous": "1.1.0,1.2.0"},
            ],
            "staging was rolled back off it",
        ),
    ],
)
def test_no_successful_or_a_later_bad_word_is_not_promoted(audit, runs, said):
    for given in runs:
        run(audit, **given)
    evidence = find(audit, "1.2.0", "staging")
    assert evidence.promoted is False
    assert said in evidence.reason


def test_a_later_success_after_a_failure_promotes_it_again(audit):
    run(audit, release="1.2.0", outcome="rolled_back")
    again = run(audit, release="1.2.0")
    evidence = find(audit, "1.2.0", "staging")
    assert (evidence.promoted, evidence.deploy["id"]) == (True, again)


def test_other_releases_and_environments_take_nothing_back(audit):
    run(audit, release="1.2.0")
    run(audit, release="1.3.0", outcome="rolled_back")
    run(audit, release="1.2.0", environment="production", outcome="rolled_back")
    run(audit, release="1.1.0", kind="rollback", previous="1.3.0")
    assert find(audit, "1.2.0", "staging").promoted is True


def test_no_log_says_where_it_looked(audit):
    evidence = find(audit, "1.2.0", "staging")
    assert evidence.promoted is False
    assert f"no audit log at {audit / 'audit.jsonl'}" in evidence.reason
    assert "SLIPWAY_AUDIT_DIR" in evidence.reason


def _rewrite(log, change):
    lines = log.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    change(records)
    log.write_text(
        "".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in records)
    )


def test_an_edited_log_promotes_nothing(audit):
    """A failed staging deploy edited into a success: the chain no longer verifies."""
    run(audit, release="1.2.0", outcome="rolled_back")

    def to_success(records):
        for record in records:
            if record["type"] == "deploy_outcome":
                record["deploy"]["outcome"] = "success"

    _rewrite(audit / "audit.jsonl", to_success)
    evidence = find(audit, "1.2.0", "staging")
    assert evidence.promoted is False
    assert "does not verify, so it promotes nothing: " in evidence.reason
    assert "content does not match its hash (edited)" in evidence.reason
    assert "scripts/audit_verify.py" in evidence.reason


def test_a_keyed_log_needs_its_key(audit):
    run(audit, release="1.2.0", key=b"k" * 32)
    assert find(audit, "1.2.0", "staging", key=b"k" * 32).promoted is True
    unkeyed = find(audit, "1.2.0", "staging")
    assert unkeyed.promoted is False
    assert "give the key" in unkeyed.reason
