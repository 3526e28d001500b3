# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A host's release ledger: which release it runs, which it ran before, and what happened (pure).

The ledger is {"current", "previous", "history"}; history holds one entry per
recorded step of a deploy or rollback, newest last. Recording an entry moves
current/previous only when the host's release really changed:

- outcome success at stage completed or adopted, for a release other than
  current: previous <- current, current <- release.
- outcome rolled_back, for a release other than current (the host went back
  TO that release): current <- release, and previous <- the release the host
  ran before `release` was deployed, as history remembers it, never the
  release just rolled back from (None when history no longer knows). So
  "roll back to previous" twice walks back V <- W <- X, and never offers the
  release that was just rolled back from.
- outcome rolled_back for the release that is already current (the deploy
  failed before the host was recorded on the new release): no change.
- anything else (in_progress, failed): history only.

An entry that moved current carries `replaced`: the release it moved off.
"""

from __future__ import annotations

from datetime import datetime

from ansible_collections.slipway.ops.plugins.module_utils import _vocabulary as vocabulary
from ansible_collections.slipway.ops.plugins.module_utils._release_store import format_time

# The vocabulary is defined once (_vocabulary.py); the ledger accepts these.
STAGES = tuple(vocabulary.STAGES)
OUTCOMES = vocabulary.LEDGER_OUTCOMES
TRIGGERS = vocabulary.LEDGER_TRIGGERS
# Stages at which a successful outcome means the host now runs the release.
ARRIVAL_STAGES = ("completed", "adopted")
# Two entries with the same values here are the same step recorded twice.
IDENTITY = ("deploy_id", "release", "stage", "outcome")


def empty_ledger() -> dict:
    return {"current": None, "previous": None, "history": []}


def normalize(data: dict | None) -> dict:
    """A ledger file's content with every key present; raises ValueError on a malformed one."""
    ledger = empty_ledger()
    if not data:
        return ledger
    for key in ("current", "previous"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"ledger.json: {key} must be a string or null, not {value!r}")
        ledger[key] = value
    history = data.get("history", [])
    if not isinstance(history, list) or not all(isinstance(e, dict) for e in history):
        raise ValueError("ledger.json: history must be a list of objects")
    ledger["history"] = history
    return ledger


def make_entry(
    *,
    deploy_id: str,
    release: str,
    stage: str,
    outcome: str,
    now: datetime,
    reason: str = "",
    trigger: str = "",
    who: str = "",
) -> dict:
    """A history entry; raises ValueError naming the option that is missing or wrong."""
    if not deploy_id:
        raise ValueError("action=record needs deploy_id: the deploy this entry belongs to")
    if not release:
        raise ValueError("action=record needs release: the release this entry is about")
    for option, value, allowed in (
        ("stage", stage, STAGES),
        ("outcome", outcome, OUTCOMES),
        ("trigger", trigger, TRIGGERS),
    ):
        if value not in allowed:
            names = ", ".join(name or "''" for name in allowed)
            raise ValueError(f"{option} must be one of {names}; got {value!r}")
    return {
        "deploy_id": deploy_id,
        "release": release,
        "stage": stage,
        "outcome": outcome,
        "reason": reason,
        "trigger": trigger,
        "who": who,
        "at": format_time(now),
    }


def is_repeat(ledger: dict, entry: dict) -> bool:
    """The newest entry already records this step (same deploy, release, stage, outcome)."""
    if not ledger["history"]:
        return False
    newest = ledger["history"][-1]
    return all(newest.get(key) == entry[key] for key in IDENTITY)


def open_entry(history: list) -> dict | None:
    """The newest entry of a deploy that never closed (its last entry is in_progress): a
    run that died (a killed controller, a lost host) left the host at that step. Entries
    recorded since by other runs (a refusal, a query's adoption) do not hide it."""
    closed: set = set()
    for entry in reversed(history):
        if entry.get("outcome") != vocabulary.IN_PROGRESS:
            closed.add(entry.get("deploy_id"))
        elif entry.get("deploy_id") not in closed:
            return entry
    return None


def release_before(history: list, release: str, leaving: str | None) -> str | None:
    """The release the host ran before `release` was last deployed, skipping `leaving`."""
    for entry in reversed(history):
        if (
            entry.get("release") == release
            and entry.get("outcome") == "success"
            and entry.get("stage") in ARRIVAL_STAGES
            and entry.get("replaced") not in (None, release, leaving)
        ):
            return entry["replaced"]
    return None


def record(ledger: dict, entry: dict, history_limit: int = 50) -> tuple[dict, bool]:
    """The ledger with entry recorded, and whether that changed it (a repeat does not)."""
    if history_limit < 1:
        raise ValueError(f"history_limit must be at least 1, got {history_limit}")
    if is_repeat(ledger, entry):
        return ledger, False
    current, previous = ledger["current"], ledger["previous"]
    release, entry = entry["release"], dict(entry)
    if release != current:
        if entry["outcome"] == "success" and entry["stage"] in ARRIVAL_STAGES:
            entry["replaced"] = current
            current, previous = release, current if current is not None else previous
        elif entry["outcome"] == "rolled_back":
            entry["replaced"] = current
            previous = release_before(ledger["history"], release, current)
            current = release
    history = [*ledger["history"], entry][-history_limit:]
    return {"current": current, "previous": previous, "history": history}, True
