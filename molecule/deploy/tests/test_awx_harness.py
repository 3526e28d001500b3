"""deploy.yml, verify.yml and rollback.yml as AWX runs them (tests/awx_harness.py): through
ansible-runner, with the input directory AWX writes, on the lab.

What an operator on AWX relies on: the audit log names the AWX user and job,
the lock and the ledger name the job, the job's events carry the deploy's
stages, and a survey answer holding a Jinja expression stays text. The fleet
starts and ends on OLD (test_deploy.py starts from there).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.awx_harness import Job, run_job, set_stats_of, task_results
from tests.lab_deploy import (
    GOOD,
    OLD,
    QUICK,
    ROOT,
    ansible_env,
    audit_outcomes,
    ledgers,
    lock_state,
    playbook_args,
    running_releases,
)

# A survey answer that Ansible would run if it templated it: AWX marks answers unsafe.
# The deploy's stages (_vocabulary.STAGES) a successful deploy reports, in order.
STAGES = ["validating", "deploying", "monitoring", "completed"]
JINJA = "{{ lookup('ansible.builtin.pipe', 'id -un') }} says staging is down"


def quick() -> dict:
    """QUICK's -e pairs as extra vars."""
    return dict(pair.split("=", 1) for pair in QUICK[1::2])


@pytest.fixture(scope="module")
def audit(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("awx") / "audit"


@pytest.fixture(autouse=True)
def as_awx(monkeypatch):
    """AWX runs the job from the project directory, with no ANSIBLE_CONFIG of ours."""
    monkeypatch.delenv("ANSIBLE_CONFIG", raising=False)


def test_awx_jobs_deploy_verify_and_roll_back_naming_the_user_and_job(audit, tmp_path):
    assert set(running_releases().values()) == {OLD}
    injected = {"SLIPWAY_AUDIT_DIR": str(audit)}  # what the deploy secrets credential injects

    # Unpromoted, no reason given: refused before the lock, the fleet untouched.
    refused = run_job(
        tmp_path,
        Job(4241, "Slipway development deploy"),
        "deploy.yml",
        survey={"slipway_release": GOOD},
        extra_vars={**quick(), "slipway_deploy_promote_from": "staging"},
        injected_env=injected,
    )
    assert (refused.status, refused.rc) == ("failed", 2), refused.stdout[-3000:]
    said = " ".join(refused.stdout.split())
    assert f"development takes only releases promoted from staging, and release {GOOD} has" in said
    assert running_releases() == {"app1": OLD, "app2": OLD}
    assert lock_state()["active"] is False
    first = audit_outcomes(audit)[-1]
    assert (first["outcome"], first["who"]["awx_job_id"]) == ("refused", "4241")

    deploy = run_job(
        tmp_path,
        Job(4242, "Slipway development deploy"),
        "deploy.yml",
        survey={"slipway_release": GOOD, "slipway_deploy_promotion_override": JINJA},
        # As production's inventory would have it: the survey's reason forces past it.
        extra_vars={**quick(), "slipway_deploy_promote_from": "staging"},
        injected_env=injected,
    )
    assert (deploy.status, deploy.rc) == ("successful", 0), deploy.stdout[-4000:]
    assert running_releases() == {"app1": GOOD, "app2": GOOD}

    # The job's events carry the deploy's stages, as AWX's job output shows them.
    reported = [d["stage"] for d in set_stats_of(deploy.events) if d.get("stage")]
    stages = list(dict.fromkeys(reported))
    assert [s for s in stages if s in STAGES] == STAGES, reported
    outcome = [d["outcome"] for d in set_stats_of(deploy.events) if d.get("outcome")]
    assert outcome[-1:] == ["success"], outcome

    # The lock, while held, named the job; the ledger names the AWX user and job.
    taken = task_results(deploy.events, "Take the fleet's deploy lock")
    assert taken, "the lock task's result is in the job's events"
    lock = taken[0]["lock"]
    assert lock["job_id"] == "4242"
    assert lock["holder"].startswith("alice (AWX job 4242) as ")
    assert lock_state()["active"] is False, "released at the end"
    for host, ledger in ledgers().items():
        mine = [e for e in ledger["history"] if e["deploy_id"] == lock["deploy_id"]]
        assert mine, host
        assert all(e["who"].startswith("alice (AWX job 4242)") for e in mine), host

    # The audit log names the AWX user and job, and keeps the survey's Jinja as text.
    shipped = audit_outcomes(audit)[-1]
    assert (shipped["release"], shipped["outcome"]) == (GOOD, "success")
    assert shipped["who"]["source"] == "awx"
    assert shipped["who"]["user"] == "alice"
    assert shipped["who"]["awx_job_id"] == "4242"
    assert shipped["who"]["awx_job_template"] == "Slipway development deploy"
    assert shipped["promotion"] == f"forced past staging: {JINJA}"
    assert "root says staging is down" not in json.dumps(audit_outcomes(audit))

    verify = run_job(
        tmp_path, Job(4243, "Slipway development verify"), "verify.yml", injected_env=injected
    )
    assert (verify.status, verify.rc) == ("successful", 0), verify.stdout[-4000:]

    rollback = run_job(
        tmp_path,
        Job(4244, "Slipway development rollback", user="bob"),
        "rollback.yml",
        injected_env=injected,
    )
    assert (rollback.status, rollback.rc) == ("successful", 0), rollback.stdout[-4000:]
    assert running_releases() == {"app1": OLD, "app2": OLD}
    back = audit_outcomes(audit)[-1]
    assert (back["kind"], back["release"], back["outcome"]) == ("rollback", OLD, "success")
    assert (back["who"]["user"], back["who"]["awx_job_id"]) == ("bob", "4244")
    assert lock_state()["active"] is False

    # The report for operators without AWX reads the same records.
    done = subprocess.run(
        [*playbook_args("report.yml", None), "-e", "slipway_report_last=4"],
        cwd=ROOT,
        env={**ansible_env(), "SLIPWAY_AUDIT_DIR": str(audit)},
        capture_output=True,
        text=True,
        check=False,
    )
    said = " ".join(done.stdout.split())
    assert done.returncode == 0, done.stdout[-3000:]
    assert f"app1 {OLD}" in said
    assert f"app2 {OLD}" in said
    assert f"development rollback {OLD}: success" in said
    assert f"development deploy {GOOD}: success" in said
    assert "by bob (rollback-" in said
    assert f"development deploy {GOOD}: refused (deployment_failure)" in said
    assert "development: success 50.0 %" in said, said[-1500:]
