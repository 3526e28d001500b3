"""Acceptance: a playbook run through ansible-runner (the engine AWX uses) leaves an
audit log whose chain verifies, catches tampering, holds no secret, and metrics.

Runs against localhost only; the callback is enabled by this checkout's ansible.cfg.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time

import ansible_runner
import pytest

from tests.conftest import ROOT, STALL_SLACK, VENV_BIN, ansible_env, run

PROBE = "tests/unit/plugins/callback/playbooks/audit_probe.yml"
VERIFY = [str(VENV_BIN / "python"), "scripts/audit_verify.py"]
SECRET = "Pl4nted-Secr3t-9f2c"  # noqa: S105 - the planted secret the test greps for


def runner(tmp_path, name, outcome="success", **env):
    """Run the probe playbook through ansible-runner; return its runner."""
    audit = tmp_path / "audit"
    envvars = {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "SLIPWAY_AUDIT_DIR": str(audit),
        "SLIPWAY_AUDIT_METRICS_DIR": str(audit / "metrics"),
        "SLIPWAY_AUDIT_OTEL_FILE": str(audit / "spans.jsonl"),
        "JOB_ID": "4242",
        **env,
    }
    extravars = {
        "probe_secret": SECRET,
        "probe_deploy_id": f"deploy-{name}",
        "probe_outcome": outcome,
        "db_password": SECRET,
        "awx_user_name": "auditor",
        "awx_job_id": 4242,
    }
    if outcome == "rolled_back":
        extravars["probe_trigger"] = "health_gate"
    private = tmp_path / f"runner-{name}"
    private.mkdir()
    result = ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(ROOT),
        playbook=PROBE,
        inventory="localhost ansible_connection=local ansible_python_interpreter="
        + str(VENV_BIN / "python"),
        extravars=extravars,
        envvars=envvars,
        quiet=True,
    )
    out = result.stdout.read()
    result.stdout.seek(0)
    assert result.status == "successful", out
    # A hook that raised is only a warning to Ansible: the log would miss what it records.
    assert "Callback dispatch" not in out, out
    return result


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """Two runs: a successful deploy, then one rolled back."""
    tmp_path = tmp_path_factory.mktemp("audited")
    runner(tmp_path, "one")
    runner(tmp_path, "two", outcome="rolled_back")
    return tmp_path / "audit"


def records(audit):
    return [json.loads(line) for line in (audit / "audit.jsonl").read_text().splitlines()]


def test_the_log_records_runs_tasks_and_deploys(audited):
    found = records(audited)
    starts = [r for r in found if r["type"] == "run_start"]
    assert len(starts) == 2
    assert starts[0]["who"]["source"] == "awx"
    assert starts[0]["who"]["user"] == "auditor"
    assert starts[0]["who"]["awx_job_id"] == "4242"
    assert starts[0]["toolkit"]["git_sha"]
    assert starts[0]["check_mode"] is False
    assert starts[0]["extra_vars"]["db_password"] == "********"  # noqa: S105 - redacted
    tasks = [r for r in found if r["type"] == "task"]
    statuses = {r["task"]: r["status"] for r in tasks}
    assert statuses["Report a change"] == "changed"
    assert statuses["Fail with a message that echoes the secret"] == "ignored"
    assert statuses["Run a handler"] == "ok"
    assert all(isinstance(r["duration_ms"], int) for r in tasks)
    outcomes = [r["deploy"] for r in found if r["type"] == "deploy_outcome"]
    assert [(d["id"], d["outcome"]) for d in outcomes] == [
        ("deploy-one", "success"),
        ("deploy-two", "rolled_back"),
    ]
    assert outcomes[1]["trigger"] == "health_gate"
    assert outcomes[0]["release"] == "1.2.3"


def test_the_chain_verifies(audited):
    result = run([*VERIFY, str(audited / "audit.jsonl")])
    assert result.returncode == 0, result.stdout
    assert "intact" in result.stdout


@pytest.mark.parametrize("tamper", ["edit", "delete", "swap", "truncate", "index"])
def test_verify_catches_tampering(audited, tmp_path, tamper):
    copy = tmp_path / "audit"
    shutil.copytree(audited, copy)
    log = copy / "audit.jsonl"
    rows = log.read_text().splitlines(keepends=True)
    if tamper == "edit":
        n = next(i for i, row in enumerate(rows) if '"changed":true' in row)
        rows[n] = rows[n].replace('"changed":true', '"changed":false')
    elif tamper == "delete":
        del rows[4]
    elif tamper == "swap":
        rows[2], rows[3] = rows[3], rows[2]
    elif tamper == "truncate":
        rows = rows[:-3]
    else:
        index = copy / "deploys.jsonl"
        index.write_text(index.read_text().replace('"rolled_back"', '"success"'))
    log.write_text("".join(rows))
    result = run([*VERIFY, str(log)])
    assert result.returncode == 1, result.stdout
    assert "TAMPERED" in result.stdout


def test_no_file_the_callback_writes_holds_the_secret(audited):
    written = [p for p in audited.rglob("*") if p.is_file()]
    assert len(written) >= 5
    for path in written:
        assert SECRET not in path.read_text(errors="replace"), path
    # The scrubbed failure message is still there, without the secret.
    assert any(r.get("msg") == "refused ********" for r in records(audited))


def test_metrics_are_written_for_the_textfile_collector(audited):
    metrics = audited / "metrics"
    assert sorted(p.name for p in metrics.iterdir()) == [
        "slipway_audit.prom",
        "slipway_playbook_audit_probe.prom",
    ]
    audit = (metrics / "slipway_audit.prom").read_text()
    assert 'slipway_deploys_total{environment="probe",outcome="success"} 1' in audit
    assert 'slipway_deploys_total{environment="probe",outcome="rolled_back"} 1' in audit
    assert 'slipway_rollbacks_total{environment="probe",trigger="health_gate"} 1' in audit
    # The alert rules' "in the last hour": when the last rollback and failure ended.
    stamps = dict(re.findall(r"^(slipway_last_\w+_timestamp_seconds\{[^}]*\}) (\S+)$", audit, re.M))
    rolled_back = (
        'slipway_last_failed_deploy_timestamp_seconds{environment="probe",outcome="rolled_back"}'
    )
    by_trigger = (
        'slipway_last_rollback_timestamp_seconds{environment="probe",trigger="health_gate"}'
    )
    assert stamps[rolled_back] == stamps[by_trigger]
    assert abs(float(stamps[by_trigger]) - time.time()) < 3600
    assert 'slipway_dora_change_failure_ratio{environment="probe"} 0.5' in audit
    assert "slipway_last_successful_deploy_timestamp_seconds" in audit
    assert f"slipway_audit_chain_head_seq {len(records(audited))}" in audit
    playbook = (metrics / "slipway_playbook_audit_probe.prom").read_text()
    assert (
        'slipway_playbook_host_results{host="localhost",playbook="audit_probe",status="changed"} 1'
        in playbook
    )
    assert 'slipway_playbook_task_duration_seconds_count{playbook="audit_probe"} 6' in playbook


def test_opentelemetry_exports_the_run_as_one_trace(audited):
    """SLIPWAY_AUDIT_OTEL_FILE is set and the SDK is installed: the run is one trace
    (without the SDK nothing is exported: test__audit_otel.py)."""
    spans = [json.loads(line) for line in (audited / "spans.jsonl").read_text().splitlines()]
    roots = {
        span["context"]["span_id"]: span["name"] for span in spans if not span.get("parent_id")
    }
    assert set(roots.values()) == {"ansible-playbook audit_probe"}, roots
    # Every other span (a task) hangs from one of the runs' root spans.
    tasks = [span for span in spans if span.get("parent_id")]
    assert tasks
    assert all(span["parent_id"] in roots for span in tasks)


def test_a_silent_pushgateway_does_not_hold_up_the_run_and_is_retried(
    tmp_path, silent_peer, gateway
):
    push = {"SLIPWAY_AUDIT_PUSHGATEWAY_URL": silent_peer.url, "SLIPWAY_AUDIT_PUSH_TIMEOUT": "1"}
    result = runner(tmp_path, "silent", **push)
    # The run waited on the gateway once, for its timeout (the peer holds a client
    # with no timeout for 30 s); the second push was spooled without a try.
    held = silent_peer.connections()
    assert len(held) == 1, held
    assert held[0] < 1 + STALL_SLACK, held
    assert "2 push(es) spooled for the next run" in " ".join(result.stdout.read().split())
    audit = tmp_path / "audit"
    assert len(list((audit / "spool").glob("*.json"))) == 2
    assert "slipway_audit_push_spooled 2" in (audit / "metrics" / "slipway_audit.prom").read_text()

    url, received = gateway
    runner(tmp_path, "live", SLIPWAY_AUDIT_PUSHGATEWAY_URL=url)
    assert list((audit / "spool").glob("*.json")) == []
    paths = sorted(path for path, _ in received)
    assert len(paths) == 2
    assert paths[0].startswith("/metrics/job/slipway_audit/instance/")
    assert paths[1].endswith("/playbook/audit_probe")
    for _, body in received:
        assert SECRET not in body


def test_a_vaulted_extra_var_is_redacted_whatever_its_name(tmp_path):
    vault_password = tmp_path / "vault-password"
    vault_password.write_text("probe-vault-password\n")
    encrypted = run(
        [
            "ansible-vault",
            "encrypt_string",
            "--vault-id",
            f"probe@{vault_password}",
            # ansible.cfg names the lab's identity too: say which one encrypts.
            "--encrypt-vault-id",
            "probe",
            SECRET,
            "--name",
            "release_note",
        ]
    )
    assert encrypted.returncode == 0, encrypted.stdout
    extra = tmp_path / "vaulted.yml"
    extra.write_text(encrypted.stdout[encrypted.stdout.index("release_note:") :])
    audit = tmp_path / "audit"
    args = ["-e", "probe_secret=x", "-e", "probe_deploy_id=v", "-e", "probe_outcome=success"]
    result = run(
        [
            "ansible-playbook",
            "-i",
            "localhost,",
            "--vault-id",
            f"probe@{vault_password}",
            "-e",
            f"@{extra}",
            *args,
            PROBE,
        ],
        env=ansible_env(SLIPWAY_AUDIT_DIR=str(audit)),
    )
    assert result.returncode == 0, result.stdout
    assert records(audit)[0]["extra_vars"]["release_note"] == "********"
    for path in (p for p in audit.rglob("*") if p.is_file()):
        assert SECRET not in path.read_text(errors="replace"), path


def test_an_interrupted_deploy_is_recorded_as_interrupted_saying_so(tmp_path):
    """Ctrl-C never reaches the end-of-run callback: the log still closes the run and the deploy."""
    audit = tmp_path / "audit"
    proc = subprocess.Popen(
        [
            "ansible-playbook",
            "-i",
            "localhost,",
            "tests/unit/plugins/callback/playbooks/audit_interrupted.yml",
        ],
        cwd=ROOT,
        env=ansible_env(SLIPWAY_AUDIT_DIR=str(audit)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = ""
    deadline = time.monotonic() + 60
    while "Wait for the operator's Ctrl-C" not in seen and time.monotonic() < deadline:
        seen += proc.stdout.readline()
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0, seen + out
    found = records(audit)
    assert found[-1]["type"] == "run_end"
    assert found[-1]["outcome"] == "interrupted"
    outcome = next(r for r in found if r["type"] == "deploy_outcome")["deploy"]
    assert outcome["id"] == "deploy-interrupted"
    assert outcome["outcome"] == "interrupted"
    assert outcome["reason"].startswith("the run was interrupted (Ctrl-C or a signal)")
    report = run([*VERIFY, str(audit / "audit.jsonl")])
    assert report.returncode == 0, report.stdout
