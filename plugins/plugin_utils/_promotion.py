# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a release was promoted: shipped and verified in the environment before this one.

The evidence is the audit log's deploy outcomes (docs/audit.md), read only from
a log that verifies (an edited or truncated log promotes nothing). A release is
promoted from environment E when E's newest word on it is a success:

- a deploy of it to E ended `success` (which means every app host runs it and
  passed its gates and the fleet verification: _vocabulary.OUTCOMES), not in
  check mode and not inferred (the deploy reported its outcome itself);
- and nothing later in E took that back: a deploy of the same release that
  failed, was rolled back or interrupted, or a rollback that moved E off it.

A release never shipped to E, or whose last word there is a failure, is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ansible_collections.slipway.ops.plugins.module_utils import _vocabulary as vocabulary
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_chain import verify_log

LOG_NAME = "audit.jsonl"


@dataclass(frozen=True)
class Evidence:
    """The verdict and the sentence that explains it (a refusal quotes it)."""

    promoted: bool
    reason: str
    deploy: dict | None = None  # the deploy outcome that promotes it

    def as_dict(self) -> dict:
        return {"promoted": self.promoted, "reason": self.reason, "deploy": self.deploy}


def _counts(deploy: dict) -> bool:
    """A real run: check-mode runs and inferred outcomes say nothing about a release."""
    return not deploy.get("check_mode") and not deploy.get("inferred")


def _verdict(deploy: dict, release: str) -> str | None:
    """What this deploy outcome says of the release: 'good', 'bad' or None (nothing)."""
    kind, outcome = deploy.get("kind"), deploy.get("outcome")
    if kind == "deploy" and deploy.get("release") == release:
        if outcome == "success":
            return "good"
        if outcome in vocabulary.CHANGE_FAILURES:
            return "bad"
    # A rollback off the release: the environment gave up on it.
    left = str(deploy.get("previous_release") or "").split(",")
    if kind == "rollback" and release in left and outcome == "success":
        return "bad"
    return None


def _said(deploy: dict) -> str:
    outcome, finished = deploy.get("outcome"), deploy.get("finished_at")
    return f"{deploy.get('kind')} {deploy.get('id')} ({outcome}, {finished})"


def judge(deploys: list[dict], release: str, source: str) -> Evidence:
    """The verdict from deploy outcomes, oldest first."""
    last = None
    for deploy in deploys:
        if deploy.get("environment") == source and _counts(deploy):
            verdict = _verdict(deploy, release)
            if verdict:
                last = (verdict, deploy)
    if last is None:
        return Evidence(False, f"release {release} has no successful deploy to {source} on record")
    verdict, deploy = last
    if verdict == "bad":
        what = (
            f"{source} was rolled back off it"
            if deploy.get("kind") == "rollback"
            else f"its last deploy to {source} ended {deploy.get('outcome')}"
        )
        return Evidence(
            False, f"release {release} is not good in {source}: {what}: {_said(deploy)}", deploy
        )
    return Evidence(True, f"release {release} shipped to {source}: {_said(deploy)}", deploy)


def find(audit_dir: Path | str, release: str, source: str, key: bytes | None = None) -> Evidence:
    """The verdict from the audit log in audit_dir (its chain, head and deploy index verified)."""
    log = Path(audit_dir) / LOG_NAME
    if not log.is_file():
        return Evidence(
            False,
            f"no audit log at {log}: this controller has no record of deploys to {source} "
            "(point the audit callback's dir at the log the deploys to "
            f"{source} wrote: SLIPWAY_AUDIT_DIR, docs/audit.md)",
        )
    report = verify_log(log, key=key)
    if not report.ok:
        return Evidence(
            False,
            f"the audit log {log} does not verify, so it promotes nothing: {report.problems[0]} "
            f"(all problems: python scripts/audit_verify.py {log})",
        )
    deploys = [summary for _seq, (_hash, summary) in sorted(report.deploys.items())]
    return judge([d for d in deploys if isinstance(d, dict)], release, source)
