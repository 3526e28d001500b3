"""OpenTelemetry export: off without the SDK; with it, a trace that keeps `changed`.

The shared virtualenv has no opentelemetry-sdk, so the 'on' test is skipped
there; run it in a venv that has it (docs/audit.md, OpenTelemetry).
"""

from __future__ import annotations

import json

from ansible_collections.slipway.ops.plugins.plugin_utils import _audit_otel
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_session import (
    AuditConfig,
    AuditSession,
)


def traced_run(tmp_path, **config):
    session = AuditSession(AuditConfig(directory=tmp_path / "audit", **config))
    session.start(playbook="deploy.yml", extra_vars={}, check_mode=False, who={}, toolkit={})
    start = 1_900_000_000.0
    for n, status in enumerate(("changed", "failed")):
        session.task_result(
            play="Ship",
            task=f"Step {n}",
            action="ansible.builtin.command",
            host="app1",
            status=status,
            changed=status == "changed",
            start=start + n,
            end=start + n + 1,
        )
    session.end({"app1": {"failures": 1}})
    return session


def test_without_the_sdk_nothing_is_exported(tmp_path, monkeypatch):
    monkeypatch.setattr(_audit_otel, "available", lambda: False)
    session = traced_run(tmp_path, otel="on", otel_file=tmp_path / "spans.jsonl")
    assert not session.otel_enabled()
    assert not (tmp_path / "spans.jsonl").exists()
    assert session.warnings == []


def test_off_means_off_even_with_the_sdk(tmp_path, monkeypatch):
    monkeypatch.setattr(_audit_otel, "available", lambda: True)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    session = traced_run(tmp_path, otel="off")
    assert not session.otel_enabled()


def test_auto_needs_an_endpoint_or_a_file(tmp_path, monkeypatch):
    monkeypatch.setattr(_audit_otel, "available", lambda: True)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    session = AuditSession(AuditConfig(directory=tmp_path))
    assert not session.otel_enabled()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert session.otel_enabled()


def test_with_the_sdk_a_run_is_one_trace_that_keeps_changed(tmp_path):
    spans_file = tmp_path / "spans.jsonl"
    session = traced_run(tmp_path, otel_file=spans_file)
    assert session.warnings == []
    spans = {s["name"]: s for s in map(json.loads, spans_file.read_text().splitlines())}
    root = spans["ansible-playbook deploy"]
    assert root["status"]["status_code"] == "ERROR"
    assert spans["Step 0"]["attributes"]["ansible.task.status"] == "changed"
    assert spans["Step 1"]["status"]["status_code"] == "ERROR"
    assert {spans["Step 0"]["parent_id"], spans["Step 1"]["parent_id"]} == {
        root["context"]["span_id"]
    }
