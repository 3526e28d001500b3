# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn the deploy playbook's `slipway_deploy` stats into deploy stage and outcome records.

The contract (docs/audit.md): a task runs `ansible.builtin.set_stats` with
data `slipway_deploy: {id, stage, status}` at each stage, and once
`slipway_deploy: {id, outcome, ...}` at the end. A verdict on real traffic
comes as `slipway_deploy: {id, analysis: {kind, subject, verdict, trigger,
routes}}` (the canary judge's result): a `deploy_analysis` record, and the
run's metrics. A deploy that reported stages
but no outcome gets one inferred when the run ends. `pushgateway_url`, where
given, is the inventory's Pushgateway (the session pushes there unless its
own option names one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ansible_collections.slipway.ops.plugins.module_utils import _vocabulary as vocabulary
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_metrics import Family

STAGE_STATUSES = ("started", "ok", "failed", "skipped")
OUTCOMES = tuple(vocabulary.OUTCOMES)
KINDS = tuple(vocabulary.KINDS)
# Descriptive fields taken as given (as short strings); anything else is dropped.
FIELDS = (
    "release",
    "previous_release",
    "environment",
    "commit_time",
    "trigger",
    "reason",
    "canary",
    "watch",
    "promotion",
)
MAX_FIELD = 200
ANALYSES = tuple(vocabulary.ANALYSES)
VERDICTS = tuple(vocabulary.VERDICTS)
ROUTE_FIGURES = ("requests", "errors", "error_rate", "p50_ms", "p95_ms")


class ContractError(ValueError):
    """A slipway_deploy value that does not follow the contract."""


@dataclass
class Deploy:
    id: str
    kind: str = "deploy"
    fields: dict = field(default_factory=dict)
    started_at: str | None = None
    failed_at: str | None = None
    stages: list[str] = field(default_factory=list)
    done: bool = False


def _text(value: object, scrub) -> str:
    return scrub(value, MAX_FIELD) if scrub else str(value)[:MAX_FIELD]


class DeployTracker:
    """Deploys seen in one run; observe() and finish() return records to write."""

    def __init__(self, run_id: str, check_mode: bool = False, scrub=None):
        self.run_id = run_id
        self.check_mode = check_mode
        self.scrub = scrub
        self.deploys: dict[str, Deploy] = {}
        # Each verdict on real traffic in this run (deploy_analysis records), in order.
        self.analyses: list[dict] = []

    def observe(self, data: object, ts: str, host: str | None = None) -> list[dict]:
        if not isinstance(data, Mapping):
            raise ContractError("slipway_deploy must be a mapping")
        deploy_id = _text(data.get("id") or self.run_id, self.scrub)
        deploy = self.deploys.get(deploy_id)
        if deploy is None:
            kind = str(data.get("kind") or "deploy")
            if kind not in KINDS:
                raise ContractError(f"slipway_deploy.kind must be one of {KINDS}, got {kind}")
            deploy = self.deploys[deploy_id] = Deploy(deploy_id, kind, started_at=ts)
        for name in FIELDS:
            if data.get(name) not in (None, ""):
                deploy.fields[name] = _text(data[name], self.scrub)
        records = []
        if data.get("stage"):
            records.append(self._stage(deploy, data, ts, host))
        if data.get("analysis"):
            records.append(self._analysis(deploy, data["analysis"]))
        if data.get("outcome"):
            records.append(self.outcome(deploy, str(data["outcome"]), ts))
        if not records:
            raise ContractError("slipway_deploy needs a stage, an analysis or an outcome")
        return records

    def _stage(self, deploy: Deploy, data: Mapping, ts: str, host: str | None) -> dict:
        status = str(data.get("status") or "ok")
        if status not in STAGE_STATUSES:
            raise ContractError(f"slipway_deploy.status must be one of {STAGE_STATUSES}")
        stage = _text(data["stage"], self.scrub)
        if stage not in deploy.stages:
            deploy.stages.append(stage)
        if status == "failed" and deploy.failed_at is None:
            deploy.failed_at = ts
        record = {"type": "deploy_stage", "deploy": deploy.id, "stage": stage, "status": status}
        if host:
            record["host"] = host
        return record

    def _analysis(self, deploy: Deploy, data: object) -> dict:
        """A verdict on real traffic: the judge's figures per route class, nothing else."""
        if not isinstance(data, Mapping):
            raise ContractError("slipway_deploy.analysis must be a mapping")
        kind, verdict = str(data.get("kind")), str(data.get("verdict"))
        if kind not in ANALYSES or verdict not in VERDICTS:
            raise ContractError(
                f"slipway_deploy.analysis needs a kind in {ANALYSES} and a verdict in {VERDICTS}"
            )
        routes = []
        for route in data.get("routes") or []:
            if not isinstance(route, Mapping) or route.get("route") not in vocabulary.ROUTE_CLASSES:
                raise ContractError("slipway_deploy.analysis.routes: each names a route class")
            sides = {
                side: {k: (route.get(side) or {}).get(k) for k in ROUTE_FIGURES}
                for side in ("canary", "baseline")
            }
            p_values = {str(k): float(v) for k, v in (route.get("p_values") or {}).items()}
            routes.append(
                {
                    "route": route["route"],
                    "verdict": str(route.get("verdict")),
                    **sides,
                    "p_values": p_values,
                }
            )
        analysis = {
            "kind": kind,
            "subject": _text(data.get("subject") or "", self.scrub),
            "verdict": verdict,
            "trigger": str(data.get("trigger") or ""),
            "reason": _text(data.get("reason") or "", self.scrub),
            "routes": routes,
        }
        self.analyses.append(analysis)
        return {"type": "deploy_analysis", "deploy": deploy.id, **analysis}

    def outcome(self, deploy: Deploy, outcome: str, ts: str, inferred: bool = False) -> dict:
        if outcome not in OUTCOMES:
            raise ContractError(f"slipway_deploy.outcome must be one of {OUTCOMES}, got {outcome}")
        if outcome in ("failed", "rolled_back") and deploy.failed_at is None:
            deploy.failed_at = ts
        deploy.done = True
        summary = {
            "id": deploy.id,
            "kind": deploy.kind,
            "outcome": outcome,
            **deploy.fields,
            "stages": list(deploy.stages),
            "started_at": deploy.started_at,
            "finished_at": ts,
            "check_mode": self.check_mode,
            "run": self.run_id,
        }
        if deploy.failed_at:
            summary["failed_at"] = deploy.failed_at
        if inferred:
            summary["inferred"] = True
        return {"type": "deploy_outcome", "deploy": summary}

    def finish(self, ts: str, run_failed: bool, interrupted: bool = False) -> list[dict]:
        """Outcomes for deploys that reported none: interrupted if the run was, failed if
        it failed, else success."""
        records = []
        for deploy in self.deploys.values():
            if not deploy.done:
                failed = run_failed or deploy.failed_at is not None
                outcome = "interrupted" if interrupted else "failed" if failed else "success"
                if interrupted:
                    deploy.fields["reason"] = (
                        "the run was interrupted (Ctrl-C or a signal) before the deploy "
                        "reported an outcome"
                    )
                elif failed and "reason" not in deploy.fields:
                    deploy.fields["reason"] = "the run ended before the deploy reported an outcome"
                records.append(self.outcome(deploy, outcome, ts, inferred=True))
        return records


def analysis_families(analyses: list[dict]) -> list[Family]:
    """The run's verdicts on real traffic as metrics: the last one per kind and subject."""
    last = {(a["kind"], a["subject"]): a for a in analyses}
    verdicts = Family(
        "slipway_deploy_analysis_verdict",
        "gauge",
        "1 for the verdict of the run's last analysis of each kind (canary, watch) and subject.",
    )
    requests = Family(
        "slipway_deploy_analysis_requests",
        "gauge",
        "Requests per route class and side (canary: the judged hosts) in the last analysis.",
    )
    errors = Family(
        "slipway_deploy_analysis_error_ratio",
        "gauge",
        "Errors (5xx, upstream errors, timeouts) over requests, per route class and side.",
    )
    latency = Family(
        "slipway_deploy_analysis_latency_seconds",
        "gauge",
        "The upstream response time's p50 and p95 per route class and side.",
    )
    p_values = Family(
        "slipway_deploy_analysis_p_value",
        "gauge",
        "Each test's p-value (errors, latency, tail) per route class in the last analysis.",
    )
    for (kind, subject), analysis in sorted(last.items()):
        labels = {"kind": kind, "subject": subject}
        for verdict in VERDICTS:
            verdicts.add(int(verdict == analysis["verdict"]), **labels, verdict=verdict)
        for route in analysis["routes"]:
            at = {**labels, "route": route["route"]}
            for side in ("canary", "baseline"):
                figures = route[side]
                requests.add(figures["requests"] or 0, **at, side=side)
                errors.add(float(figures["error_rate"] or 0), **at, side=side)
                for quantile, key in (("0.5", "p50_ms"), ("0.95", "p95_ms")):
                    if figures[key] is not None:
                        latency.add(figures[key] / 1000, **at, side=side, quantile=quantile)
            for test, value in sorted(route["p_values"].items()):
                p_values.add(value, **at, test=test)
    return [verdicts, requests, errors, latency, p_values]
