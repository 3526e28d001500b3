"""A whole run through AuditSession, without Ansible: records, metrics, no secret."""

from __future__ import annotations

import json

from ansible_collections.slipway.ops.plugins.plugin_utils import _audit_otel
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_chain import verify_log
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_session import (
    AuditConfig,
    AuditSession,
    iso,
)

SECRET = "pl4nted-S3cret-value"  # noqa: S105 - the planted secret the test greps for


class Clock:
    def __init__(self, now=1_900_000_000.0):
        self.now = now

    def __call__(self):
        self.now += 1.5
        return self.now


def run_session(tmp_path, deploy=True, **config):
    clock = Clock()
    session = AuditSession(AuditConfig(directory=tmp_path / "audit", **config), clock=clock)
    session.start(
        playbook="/x/playbooks/deploy.yml",
        extra_vars={"slipway_release": "2.0", "registry_token": SECRET},
        check_mode=False,
        who={"user": "alice", "source": "local"},
        toolkit={"git_sha": "abc"},
    )
    session.play("Ship", "app")
    results = [
        ("Pull", "changed", {"changed": True}),
        ("Login", "ok", {"no_log": True, "msg": SECRET}),
        ("Probe", "failed", {"msg": f"curl -u admin:{SECRET} failed"}),
    ]
    for task, status, extra in results:
        extra.setdefault("changed", False)
        session.task_result(
            play="Ship",
            action="ansible.builtin.command",
            host="app1",
            task=task,
            status=status,
            start=clock(),
            end=clock(),
            **extra,
        )
    if deploy:
        session.deploy(
            {
                "id": "d1",
                "environment": "prod",
                "stage": "batch",
                "status": "failed",
                "reason": f"token {SECRET} rejected",
            },
            clock(),
        )
    session.end({"app1": {"ok": 2, "changed": 1, "failures": 1}})
    return session


def test_a_run_writes_a_verifiable_chain_of_records(tmp_path):
    session = run_session(tmp_path)
    log = tmp_path / "audit" / "audit.jsonl"
    report = verify_log(log)
    assert report.ok, report.problems
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["type"] for r in records] == [
        "run_start",
        "play",
        "task",
        "task",
        "task",
        "deploy_stage",
        "deploy_outcome",
        "run_end",
    ]
    assert {r["run"] for r in records} == {session.run_id}
    assert records[0]["extra_vars"] == {"slipway_release": "2.0", "registry_token": "********"}
    assert records[3]["no_log"] is True
    assert "msg" not in records[3]
    assert records[4]["msg"] == "curl -u admin:******** failed"
    assert records[2]["duration_ms"] == 1500
    outcome = records[6]["deploy"]
    assert (outcome["outcome"], outcome["inferred"]) == ("failed", True)
    assert outcome["who"] == {"user": "alice", "source": "local"}
    assert records[7]["outcome"] == "failed"
    assert records[7]["records"] == 8


def test_no_file_written_holds_the_secret(tmp_path):
    run_session(tmp_path)
    written = [p for p in (tmp_path / "audit").rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {
        "audit.jsonl",
        "audit.jsonl.head",
        "deploys.jsonl",
        "slipway_audit.prom",
        "slipway_playbook_deploy.prom",
    }
    for path in written:
        assert SECRET not in path.read_text(), path


def test_metrics_cover_the_run_and_the_deploys(tmp_path):
    run_session(tmp_path)
    metrics = tmp_path / "audit" / "metrics"
    playbook = (metrics / "slipway_playbook_deploy.prom").read_text()
    assert 'slipway_playbook_success{playbook="deploy"} 0' in playbook
    assert (
        'slipway_playbook_host_results{host="app1",playbook="deploy",status="failed"} 1' in playbook
    )
    assert 'slipway_playbook_task_duration_seconds_count{playbook="deploy"} 3' in playbook
    audit = (metrics / "slipway_audit.prom").read_text()
    assert 'slipway_deploys_total{environment="prod",outcome="failed"} 1' in audit
    assert 'slipway_dora_change_failure_ratio{environment="prod"} 1.0' in audit
    assert "slipway_audit_chain_head_seq 8" in audit
    assert "slipway_audit_push_spooled 0" in audit


def test_a_second_run_continues_the_chain(tmp_path):
    run_session(tmp_path)
    run_session(tmp_path, deploy=False)
    report = verify_log(tmp_path / "audit" / "audit.jsonl")
    assert report.ok, report.problems
    assert report.records == 8 + 6


def test_an_unwritable_directory_warns_and_never_raises(tmp_path):
    (tmp_path / "audit").write_text("a file where the directory should be")
    session = run_session(tmp_path)
    assert any("cannot write" in w for w in session.warnings)


def test_opentelemetry_is_off_without_the_sdk(tmp_path, monkeypatch):
    monkeypatch.setattr(_audit_otel, "available", lambda: False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    spans = tmp_path / "spans.jsonl"
    session = run_session(tmp_path, otel="on", otel_file=spans)
    assert not session.otel_enabled()
    assert not spans.exists()


def test_timestamps_are_utc_with_milliseconds():
    assert iso(0.5) == "1970-01-01T00:00:00.500Z"


def _deploy_reporting(tmp_path, reported: str, **config) -> AuditSession:
    session = AuditSession(AuditConfig(directory=tmp_path / "audit", **config), clock=Clock())
    session.start(playbook="/x/deploy.yml", extra_vars={}, check_mode=False)
    session.deploy({"id": "d1", "stage": "validating", "pushgateway_url": reported}, 1.0)
    session.deploy({"id": "d1", "outcome": "rolled_back", "trigger": "manual"}, 2.0)
    session.end({"app1": {"ok": 1}})
    return session


def test_the_inventorys_pushgateway_gets_the_metrics_when_no_option_names_one(tmp_path, gateway):
    url, received = gateway
    session = _deploy_reporting(tmp_path, url)
    assert session.pushgateway_url == url
    assert {path.split("/")[3] for path, _ in received} == {"slipway_playbook", "slipway_audit"}
    audit_body = next(body for path, body in received if "/job/slipway_audit/" in path)
    assert 'slipway_deploys_total{environment="unknown",outcome="rolled_back"} 1' in audit_body


def test_the_option_wins_over_the_inventorys_pushgateway(tmp_path, gateway, closed_port):
    url, received = gateway
    session = _deploy_reporting(tmp_path, closed_port, pushgateway_url=url)
    assert session.pushgateway_url == url
    assert received, "the option's gateway got the pushes"


def test_a_reported_url_that_is_not_http_is_ignored(tmp_path):
    session = _deploy_reporting(tmp_path, "file:///etc/passwd")
    assert session.pushgateway_url == ""
