# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One run of Slipway as the audit callback sees it: records in, log and metrics out.

The callback hands plain values (strings, numbers, dicts) to an AuditSession;
the session redacts, chains and writes records, follows deploys, and at the
end writes the metrics, pushes them and exports traces. Nothing here raises
into a run: a failure to write becomes a warning, and writing stops.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ansible_collections.slipway.ops.plugins.module_utils._atomic_file import write_atomic
from ansible_collections.slipway.ops.plugins.plugin_utils import (
    _audit_otel,
)
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_chain import (
    INDEX_NAME,
    ChainError,
    ChainWriter,
)
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_deploy import (
    ContractError,
    DeployTracker,
    analysis_families,
)
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_dora import figures
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_metrics import (
    Family,
    Histogram,
    render,
)
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_push import (
    Spool,
    group_path,
    push_all,
)
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_redact import (
    DEFAULT_PATTERN,
    Redactor,
)

HOST_STATUSES = ("ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored")
LOG_NAME = "audit.jsonl"


def iso(ts: float) -> str:
    """UTC, millisecond precision, with a Z: sorts as text and parses back."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "playbook"


@dataclass
class AuditConfig:
    directory: Path
    metrics_dir: Path | None = None
    key: bytes | None = None
    redact_pattern: str = DEFAULT_PATTERN
    task_records: bool = True
    pushgateway_url: str = ""
    push_timeout: float = 2.0
    dora_window_days: int = 30
    otel: str = "auto"
    otel_file: Path | None = None


class AuditSession:
    def __init__(self, config: AuditConfig, clock=time.time, is_secret_value=None):
        self.config = config
        self.clock = clock
        self.run_id = uuid.uuid4().hex
        self.redactor = Redactor(config.redact_pattern, is_secret_value)
        self.directory = Path(config.directory)
        self.metrics_dir = Path(config.metrics_dir or self.directory / "metrics")
        self.writer: ChainWriter | None = None
        self.warnings: list[str] = []
        self.broken = False
        self.started_at: float = clock()
        self.info: dict = {}
        self.playbook = "playbook"
        self.deploys = DeployTracker(self.run_id, scrub=self.redactor.scrub)
        self.histogram = Histogram()
        self.spans: list[dict] = []  # kept only when traces will be exported
        self.tracing = self.otel_enabled()
        self.records = 0
        self.ended = False
        self.inventory_pushgateway_url = ""

    # ---- writing ------------------------------------------------------------
    def _write(self, record: dict, ts: float | None = None) -> dict | None:
        if self.broken:
            return None
        try:
            if self.writer is None:
                self.writer = ChainWriter(self.directory / LOG_NAME, self.config.key)
            full = {"ts": iso(self.clock() if ts is None else ts), "run": self.run_id, **record}
            written = self.writer.append(full)
        except (OSError, ChainError) as error:
            self.broken = True
            self.warnings.append(f"slipway.ops.audit: cannot write {self.directory}: {error}")
            return None
        self.records += 1
        return written

    def _index(self, written: dict) -> None:
        line = {**written["deploy"], "seq": written["seq"], "hash": written["hash"]}
        data = json.dumps(line, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        fd = os.open(self.directory / INDEX_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    # ---- the run ------------------------------------------------------------
    def start(self, *, playbook: str, extra_vars: dict, check_mode: bool, **facts) -> None:
        """The run_start record: facts are inventory, limit, tags, who, toolkit, ..."""
        self.playbook = slug(Path(playbook).stem)
        self.deploys.check_mode = bool(check_mode)
        redacted = self.redactor.redact(extra_vars or {})
        self.info = {"playbook": playbook, "check_mode": bool(check_mode), **facts}
        self._write({"type": "run_start", **self.info, "extra_vars": redacted}, ts=self.started_at)

    def playbook_start(self, playbook: str) -> None:
        self._write({"type": "playbook", "playbook": playbook})

    def play(self, name: str, hosts: str) -> None:
        self._write({"type": "play", "play": self.redactor.scrub(name), "hosts": hosts})

    def task_result(
        self,
        *,
        play: str,
        task: str,
        action: str,
        host: str,
        status: str,
        changed: bool,
        start: float,
        end: float,
        no_log: bool = False,
        msg: str | None = None,
        deploy_data: object = None,
    ) -> None:
        duration = max(0.0, end - start)
        self.histogram.observe(duration)
        name = self.redactor.scrub(task, 300)
        if self.tracing:
            span = {"task": name, "action": action, "host": host, "status": status}
            self.spans.append({**span, "start": start, "end": end})
        if self.config.task_records:
            record = {
                "type": "task",
                "play": self.redactor.scrub(play, 300),
                "task": name,
                "action": action,
                "host": host,
                "status": status,
                "changed": bool(changed),
                "duration_ms": round(duration * 1000),
            }
            if no_log:
                record["no_log"] = True
            elif msg and status in ("failed", "unreachable", "ignored"):
                record["msg"] = self.redactor.scrub(msg)
            self._write(record, ts=end)
        if deploy_data is not None:
            self.deploy(deploy_data, end, host)

    def deploy(self, data: object, ts: float, host: str | None = None) -> None:
        # The inventory's Pushgateway, which the deploy playbooks report: used
        # when neither the environment nor ansible.cfg names one.
        reported = data.get("pushgateway_url") if isinstance(data, dict) else None
        if isinstance(reported, str) and reported.startswith(("http://", "https://")):
            self.inventory_pushgateway_url = reported
        try:
            records = self.deploys.observe(data, iso(ts), host)
        except ContractError as error:
            self.warnings.append(f"slipway.ops.audit: ignored slipway_deploy stats: {error}")
            return
        for record in records:
            self._deploy_record(record, ts)

    def _deploy_record(self, record: dict, ts: float) -> None:
        record = {**record}
        if record["type"] == "deploy_outcome":
            record["deploy"] = {**record["deploy"], "who": self.info.get("who")}
            record["deploy"]["toolkit"] = self.info.get("toolkit")
        written = self._write(record, ts=ts)
        if written and record["type"] == "deploy_outcome":
            try:
                self._index(written)
                self.writer.sync()
            except OSError as error:
                self.warnings.append(f"slipway.ops.audit: cannot write the deploy index: {error}")

    def end(self, host_stats: dict[str, dict[str, int]], interrupted: bool = False) -> None:
        """run_end, inferred deploy outcomes, metrics, push, traces. Call once.

        interrupted: the run was cut short (Ctrl-C, a signal) before Ansible's
        own end of run; its open deploys are recorded as failed, saying so.
        """
        if self.ended:
            return
        self.ended = True
        now = self.clock()
        failed = interrupted or any(
            s.get("failures") or s.get("unreachable") for s in host_stats.values()
        )
        for record in self.deploys.finish(iso(now), failed, interrupted=interrupted):
            self._deploy_record(record, now)
        self._write(
            {
                "type": "run_end",
                "outcome": "interrupted" if interrupted else "failed" if failed else "success",
                "duration_ms": round((now - self.started_at) * 1000),
                "hosts": host_stats,
                "records": self.records + 1,
            },
            ts=now,
        )
        if self.writer:
            self.writer.close()
        self._publish(now, failed, host_stats)

    # ---- metrics and traces -------------------------------------------------
    def playbook_metrics(self, now: float, failed: bool, host_stats: dict) -> str:
        labels = {"playbook": self.playbook}
        hosts = Family(
            "slipway_playbook_host_results",
            "gauge",
            "Task results per host and status in the playbook's last run.",
        )
        for host, stats in sorted(host_stats.items()):
            for status in HOST_STATUSES:
                name = "failed" if status == "failures" else status
                hosts.add(stats.get(status, 0), **labels, host=host, status=name)
        return render(
            [
                Family(
                    "slipway_playbook_duration_seconds",
                    "gauge",
                    "Wall time of the playbook's last run.",
                ).add(round(now - self.started_at, 3), **labels),
                Family(
                    "slipway_playbook_last_run_timestamp_seconds",
                    "gauge",
                    "When the playbook's last run ended.",
                ).add(round(now, 3), **labels),
                Family(
                    "slipway_playbook_success",
                    "gauge",
                    "1 when no host failed or was unreachable in the playbook's last run.",
                ).add(0 if failed else 1, **labels),
                Family(
                    "slipway_playbook_task_duration_seconds",
                    "histogram",
                    "Task durations per host in the playbook's last run.",
                ).add_histogram(self.histogram, **labels),
                hosts,
                *analysis_families(self.deploys.analyses),
            ]
        )

    def audit_metrics(self, now: float) -> str:
        deploys = []
        index = self.directory / INDEX_NAME
        if index.is_file():
            for line in index.read_text().splitlines():
                try:
                    deploys.append(json.loads(line))
                except ValueError:
                    self.warnings.append(f"slipway.ops.audit: damaged line in {index}")
        window = self.config.dora_window_days
        by_env = figures(deploys, now, window)
        fams = {
            "deploys": Family(
                "slipway_deploys_total", "counter", "Deploys by outcome (check mode excluded)."
            ),
            "rollbacks": Family(
                "slipway_rollbacks_total",
                "counter",
                "Rollbacks by trigger: automatic (a deploy rolled back) or rollback.yml.",
            ),
            "last": Family(
                "slipway_last_successful_deploy_timestamp_seconds",
                "gauge",
                "When the last successful deploy ended.",
            ),
            "last_failure": Family(
                "slipway_last_failed_deploy_timestamp_seconds",
                "gauge",
                "When the last deploy that failed or was rolled back ended, by outcome.",
            ),
            "last_rollback": Family(
                "slipway_last_rollback_timestamp_seconds",
                "gauge",
                "When the last rollback ended, by trigger.",
            ),
            "freq": Family(
                "slipway_dora_deployment_frequency_per_day",
                "gauge",
                f"Successful deploys per day over the last {window} days.",
            ),
            "lead": Family(
                "slipway_dora_lead_time_seconds",
                "gauge",
                f"Median commit-to-deployed time over the last {window} days.",
            ),
            "cfr": Family(
                "slipway_dora_change_failure_ratio",
                "gauge",
                f"Failed or rolled-back deploys over all deploys in the last {window} days.",
            ),
            "ttr": Family(
                "slipway_dora_time_to_restore_seconds",
                "gauge",
                f"Median time from a failed deploy to service restored, last {window} days.",
            ),
            "success": Family(
                "slipway_deploy_success_ratio",
                "gauge",
                f"Successful deploys over all deploys asked for (refused too), last {window} days.",
            ),
            "mean": Family(
                "slipway_deploy_duration_mean_seconds",
                "gauge",
                f"Mean start-to-end time of the successful deploys, last {window} days.",
            ),
            "p95": Family(
                "slipway_deploy_duration_p95_seconds",
                "gauge",
                f"p95 start-to-end time of the successful deploys, last {window} days.",
            ),
        }
        for env, fig in sorted(by_env.items()):
            for outcome, count in sorted(fig.outcomes.items()):
                fams["deploys"].add(count, environment=env, outcome=outcome)
            for trigger, count in sorted(fig.rollbacks.items()):
                fams["rollbacks"].add(count, environment=env, trigger=trigger)
            if fig.last_success is not None:
                fams["last"].add(round(fig.last_success, 3), environment=env)
            for outcome, moment in sorted(fig.last_failure.items()):
                fams["last_failure"].add(round(moment, 3), environment=env, outcome=outcome)
            for trigger, moment in sorted(fig.last_rollback.items()):
                fams["last_rollback"].add(round(moment, 3), environment=env, trigger=trigger)
            fams["freq"].add(round(fig.deploys_per_day, 6), environment=env)
            for key, value in (
                ("lead", fig.lead_time),
                ("cfr", fig.change_failure_rate),
                ("ttr", fig.time_to_restore),
                ("success", fig.success_ratio),
                ("mean", fig.duration_mean),
                ("p95", fig.duration_p95),
            ):
                if value is not None:
                    fams[key].add(round(value, 6), environment=env)
        head = Family(
            "slipway_audit_chain_head_seq",
            "gauge",
            "Records in the audit log's hash chain; the log must never be shorter.",
        )
        if self.writer:
            head.add(self.writer.head[0])
        return render([head, *fams.values()])

    def _publish(self, now: float, failed: bool, host_stats: dict) -> None:
        try:
            playbook_text = self.playbook_metrics(now, failed, host_stats)
            audit_text = self.audit_metrics(now)
            spooled = self._push(playbook_text, audit_text)
            audit_text += render(
                [
                    Family(
                        "slipway_audit_push_spooled",
                        "gauge",
                        "Pushgateway pushes waiting in the local spool for a later run.",
                    ).add(spooled)
                ]
            )
            self.metrics_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(
                self.metrics_dir / f"slipway_playbook_{self.playbook}.prom",
                playbook_text.encode(),
                0o644,
            )
            write_atomic(self.metrics_dir / "slipway_audit.prom", audit_text.encode(), 0o644)
        except OSError as error:
            self.warnings.append(f"slipway.ops.audit: cannot write metrics: {error}")
        self._trace(now, failed)

    @property
    def pushgateway_url(self) -> str:
        """Where metrics go: the option (environment, ansible.cfg), else the inventory's."""
        return self.config.pushgateway_url or self.inventory_pushgateway_url

    def _push(self, playbook_text: str, audit_text: str) -> int:
        if not self.pushgateway_url:
            return 0
        instance = socket.gethostname()
        pushes = [
            (
                group_path("slipway_playbook", {"instance": instance, "playbook": self.playbook}),
                playbook_text,
            ),
            (group_path("slipway_audit", {"instance": instance}), audit_text),
        ]
        _sent, left, error = push_all(
            self.pushgateway_url,
            pushes,
            Spool(self.directory / "spool"),
            self.config.push_timeout,
        )
        if error:
            self.warnings.append(
                f"slipway.ops.audit: Pushgateway {self.pushgateway_url}: {error}; "
                f"{left} push(es) spooled for the next run"
            )
        return left

    def otel_enabled(self) -> bool:
        mode = self.config.otel
        if mode == "off" or not _audit_otel.available():
            return False
        if mode == "on" or self.config.otel_file:
            return True
        return any(
            os.environ.get(name)
            for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        )

    def _trace(self, now: float, failed: bool) -> None:
        if not self.tracing:
            return
        ns = 1_000_000_000
        run = {
            "name": f"ansible-playbook {self.playbook}",
            "start_ns": int(self.started_at * ns),
            "end_ns": int(now * ns),
            "success": not failed,
            "attrs": {
                "slipway.run": self.run_id,
                "slipway.check_mode": bool(self.info.get("check_mode")),
            },
        }
        results = [
            {
                "name": span["task"],
                "start_ns": int(span["start"] * ns),
                "end_ns": int(span["end"] * ns),
                "failed": span["status"] in ("failed", "unreachable"),
                "attrs": {
                    "ansible.task.host": span["host"],
                    "ansible.task.action": span["action"],
                    "ansible.task.status": span["status"],
                },
            }
            for span in self.spans
        ]
        error = _audit_otel.export(run, results, self.config.otel_file)
        if error:
            self.warnings.append(f"slipway.ops.audit: OpenTelemetry export failed: {error}")
