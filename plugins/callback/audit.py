# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.ops.audit: a tamper-evident audit log and Prometheus metrics for every run."""

from __future__ import annotations

DOCUMENTATION = r"""
name: audit
type: aggregate
short_description: Tamper-evident audit log and deploy metrics for every run
description:
  - Writes a hash-chained JSON Lines audit log of the run, the plays, every task result per host
    (status, changed, duration) and the deploy's stages and outcome, with who ran it (the local
    user, or the AWX user and job id), the toolkit's git sha, inventory, limit and check mode.
  - Each record carries the hash of the one before; C(scripts/audit_verify.py) detects edited,
    inserted, reordered and deleted records and records cut off the end (see docs/audit.md).
  - Nothing secret is written. Results of C(no_log) tasks are logged as status only, extra vars
    whose name matches O(redact_pattern) and vaulted values are redacted, and their values are cut
    out of any message written. Task arguments are never written.
  - Writes Prometheus text metrics atomically for node_exporter's textfile collector, optionally
    pushes them to a Pushgateway (short timeout, local spool, retried by the next run), and
    exports OpenTelemetry traces when opentelemetry-sdk is installed.
  - An aggregate callback, it runs beside any stdout callback, AWX's included. Enable it with
    C(callbacks_enabled = slipway.ops.audit) in ansible.cfg or C(ANSIBLE_CALLBACKS_ENABLED).
requirements:
  - enable in configuration (callbacks_enabled)
  - opentelemetry-sdk and opentelemetry-exporter-otlp, optional, for traces
options:
  dir:
    description:
      - Directory for the audit log (C(audit.jsonl)), its head, the deploy index and the push spool.
    type: path
    default: ~/.ansible/slipway/audit
    env:
      - name: SLIPWAY_AUDIT_DIR
    ini:
      - section: callback_slipway_audit
        key: dir
  metrics_dir:
    description:
      - Directory for the C(.prom) files, written atomically. Point node_exporter's
        C(--collector.textfile.directory) here. Defaults to C(metrics/) under O(dir).
    type: path
    env:
      - name: SLIPWAY_AUDIT_METRICS_DIR
    ini:
      - section: callback_slipway_audit
        key: metrics_dir
  key_file:
    description:
      - File holding a secret key. When set, records are chained with HMAC-SHA256 instead of
        SHA-256, so that only a holder of the key can rewrite the chain. Keep the key away from
        those who can write the log; start a fresh log when turning it on.
    type: path
    env:
      - name: SLIPWAY_AUDIT_KEY_FILE
    ini:
      - section: callback_slipway_audit
        key: key_file
  redact_pattern:
    description: Regular expression; extra vars whose name matches it, at any depth, are redacted.
    type: str
    default: (?i)(pass|secret|token|key|credential|private|auth|cookie|session|cert|vault|signature)
    env:
      - name: SLIPWAY_AUDIT_REDACT_PATTERN
    ini:
      - section: callback_slipway_audit
        key: redact_pattern
  task_records:
    description:
      - Write one record per task result per host. Off, the log keeps runs, plays and deploys.
    type: bool
    default: true
    env:
      - name: SLIPWAY_AUDIT_TASK_RECORDS
    ini:
      - section: callback_slipway_audit
        key: task_records
  pushgateway_url:
    description:
      - Base URL of a Prometheus Pushgateway, for example C(http://mon1:9091).
      - Empty, nothing is pushed.
    type: str
    default: ''
    env:
      - name: SLIPWAY_AUDIT_PUSHGATEWAY_URL
    ini:
      - section: callback_slipway_audit
        key: pushgateway_url
  push_timeout:
    description: Seconds a push may take at the end of a run before it is left in the spool.
    type: float
    default: 2.0
    env:
      - name: SLIPWAY_AUDIT_PUSH_TIMEOUT
    ini:
      - section: callback_slipway_audit
        key: push_timeout
  dora_window_days:
    description: Days of deploy history the DORA figures cover.
    type: int
    default: 30
    env:
      - name: SLIPWAY_AUDIT_DORA_WINDOW_DAYS
    ini:
      - section: callback_slipway_audit
        key: dora_window_days
  otel:
    description:
      - OpenTelemetry traces. V(auto) exports when opentelemetry-sdk is installed and an OTLP
        endpoint (E(OTEL_EXPORTER_OTLP_ENDPOINT)) or O(otel_file) is set; V(on) exports whenever
        the SDK is installed; V(off) never.
    type: str
    default: auto
    choices: [auto, 'on', 'off']
    env:
      - name: SLIPWAY_AUDIT_OTEL
    ini:
      - section: callback_slipway_audit
        key: otel
  otel_file:
    description: Write spans as JSON lines to this file instead of sending them over OTLP.
    type: path
    env:
      - name: SLIPWAY_AUDIT_OTEL_FILE
    ini:
      - section: callback_slipway_audit
        key: otel_file
"""

EXAMPLES = r"""
# ansible.cfg
# [defaults]
# callbacks_enabled = slipway.ops.audit
# [callback_slipway_audit]
# dir = .cache/audit
# pushgateway_url = http://mon1:9091

# Check a log:  python scripts/audit_verify.py .cache/audit/audit.jsonl
"""

import atexit
import os
import time
from pathlib import Path

from ansible import context
from ansible.parsing.vault import VaultHelper
from ansible.plugins.callback import CallbackBase
from ansible.release import __version__ as ansible_version
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_context import toolkit, who
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_session import (
    AuditConfig,
    AuditSession,
)

COLLECTION_ROOT = Path(__file__).resolve().parents[2]
SET_STATS = ("ansible.builtin.set_stats", "ansible.legacy.set_stats", "set_stats")


def _vaulted(value) -> bool:
    try:
        return VaultHelper.get_ciphertext(value, with_tags=False) is not None
    except Exception:
        return False


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "slipway.ops.audit"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.session: AuditSession | None = None
        self._playbook: str | None = None
        self._play = ""
        self._task_started: dict[str, float] = {}
        self._host_started: dict[tuple[str, str], float] = {}
        self._shown = 0

    def _config(self) -> AuditConfig:
        key_file = self.get_option("key_file")
        otel_file = self.get_option("otel_file")
        return AuditConfig(
            directory=Path(self.get_option("dir")),
            metrics_dir=Path(
                self.get_option("metrics_dir") or Path(self.get_option("dir")) / "metrics"
            ),
            key=Path(key_file).read_bytes().strip() if key_file else None,
            redact_pattern=self.get_option("redact_pattern"),
            task_records=self.get_option("task_records"),
            pushgateway_url=self.get_option("pushgateway_url") or "",
            push_timeout=float(self.get_option("push_timeout")),
            dora_window_days=int(self.get_option("dora_window_days")),
            otel=self.get_option("otel"),
            otel_file=Path(otel_file) if otel_file else None,
        )

    def _warn(self) -> None:
        if self.session:
            for message in self.session.warnings[self._shown :]:
                self._display.warning(message)
            self._shown = len(self.session.warnings)

    # ---- the run ------------------------------------------------------------
    def v2_playbook_on_start(self, playbook):
        path = os.path.abspath(playbook._file_name)
        if self.session is None:
            try:
                self.session = AuditSession(self._config(), is_secret_value=_vaulted)
            except (OSError, ValueError) as error:
                self._display.warning(f"slipway.ops.audit is off for this run: {error}")
                self.disabled = True
                return
            self._playbook = path
            # Ctrl-C never reaches v2_playbook_on_stats; the interpreter's exit does.
            atexit.register(self._end_interrupted)
        elif self.session.info:
            self.session.playbook_start(path)

    def _start(self, extra_vars) -> None:
        if self.session.info:
            return
        cli = context.CLIARGS
        self.session.start(
            playbook=self._playbook or "",
            extra_vars=dict(extra_vars or {}),
            check_mode=bool(cli.get("check")),
            diff=bool(cli.get("diff")),
            inventory=[str(i) for i in cli.get("inventory") or ()],
            limit=cli.get("subset"),
            tags=list(cli.get("tags") or ()),
            skip_tags=list(cli.get("skip_tags") or ()),
            who=who(os.environ, extra_vars or {}),
            toolkit=toolkit(COLLECTION_ROOT, extra_vars or {}),
            ansible_version=ansible_version,
        )
        self._warn()

    def v2_playbook_on_play_start(self, play):
        if self.session is None:
            return
        manager = play.get_variable_manager()
        self._start(manager.extra_vars if manager else {})
        self._play = play.get_name()
        hosts = play.hosts if isinstance(play.hosts, str) else ",".join(play.hosts or ())
        self.session.play(self._play, hosts)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_started[task._uuid] = time.time()

    # Ansible calls it with the task alone.
    def v2_playbook_on_handler_task_start(self, task):
        self._task_started[task._uuid] = time.time()

    def v2_runner_on_start(self, host, task):
        self._host_started[(task._uuid, host.get_name())] = time.time()

    # ---- results ------------------------------------------------------------
    def _record(self, result, status: str) -> None:
        if self.session is None:
            return
        end = time.time()
        task, host = result.task, result.host.get_name()
        data = result.result
        if status == "ok" and result.is_changed():
            status = "changed"
        start = self._host_started.pop((task._uuid, host), None)
        deploy_data = None
        if task.action in SET_STATS:
            deploy_data = (data.get("ansible_stats") or {}).get("data", {}).get("slipway_deploy")
        self.session.task_result(
            play=self._play,
            task=result.task_name or task.action,
            action=task.action,
            host=host,
            status=status,
            changed=result.is_changed(),
            start=start or self._task_started.get(task._uuid, end),
            end=end,
            no_log=bool(task.no_log) or "censored" in data,
            msg=data.get("msg"),
            deploy_data=deploy_data,
        )
        self._warn()

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def _end_interrupted(self) -> None:
        """End a run that stopped before its stats (Ctrl-C): its deploys are recorded as failed."""
        if self.session is not None and self.session.info and not self.session.ended:
            self.session.end({}, interrupted=True)

    def v2_playbook_on_stats(self, stats):
        if self.session is None:
            return
        self._start({})
        self.session.end({host: stats.summarize(host) for host in sorted(stats.processed)})
        self._warn()
