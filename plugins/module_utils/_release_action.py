# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One slipway.ops.release action on a state directory: read under the guard, decide, write.

Glue between the files (_release_store) and the pure rules (_release_lock,
_release_ledger). `now` is a parameter so that tests can move the clock;
the module passes the real time.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ansible_collections.slipway.ops.plugins.module_utils import (
    _release_ledger as ledgers,
)
from ansible_collections.slipway.ops.plugins.module_utils import (
    _release_lock as locks,
)
from ansible_collections.slipway.ops.plugins.module_utils import (
    _release_store as store,
)

ACTIONS = ("query", "lock", "renew", "unlock", "record")


class ActionFailed(Exception):
    """The action was refused or could not run; `result` is what the module returns with it."""

    def __init__(self, msg: str, result: dict | None = None):
        super().__init__(msg)
        self.result = result or {}


def _lock_diff(lock: dict) -> dict:
    return {key: lock[key] for key in ("holder", "deploy_id", "job_id", "expires_at")}


def _ledger_diff(ledger: dict) -> dict:
    shown = {"current": ledger["current"], "previous": ledger["previous"]}
    if ledger["history"]:
        newest = ledger["history"][-1]
        shown["newest"] = " ".join(str(newest.get(key)) for key in ledgers.IDENTITY)
    return shown


def _load(path: Path) -> tuple[dict, dict]:
    try:
        ledger = ledgers.normalize(store.read_json(path / store.LEDGER_NAME))
        lock = locks.normalize(store.read_json(path / store.LOCK_NAME))
    except ValueError as err:
        raise ActionFailed(f"{path}/{err}; nothing was changed") from None
    return ledger, lock


def _decide(params: dict, ledger: dict, lock: dict, now: datetime) -> tuple[dict, dict, dict]:
    """The new ledger, the new lock and the action's own return values."""
    action = params["action"]
    extra: dict = {}
    if action == "lock":
        outcome = locks.acquire(
            lock,
            deploy_id=params["deploy_id"],
            holder=params["holder"],
            job_id=params["job_id"] or "",
            ttl=params["ttl"],
            now=now,
            force=params["force"],
            breaks_limit=params["history_limit"],
        )
        extra = {"acquired": outcome.acquired, "broken": outcome.broken, "expired": outcome.expired}
        lock = outcome.lock
    elif action == "renew":
        lock = locks.renew(lock, deploy_id=params["deploy_id"], ttl=params["ttl"], now=now).lock
    elif action == "unlock":
        outcome = locks.release(lock, deploy_id=params["deploy_id"])
        extra = {"held_by": outcome.held_by}
        lock = outcome.lock
    elif action == "record":
        entry = ledgers.make_entry(
            deploy_id=params["deploy_id"],
            release=params["release"],
            stage=params["stage"],
            outcome=params["outcome"],
            now=now,
            reason=params["reason"] or "",
            trigger=params["trigger"] or "",
            who=params["who"] or "",
        )
        ledger, _changed = ledgers.record(ledger, entry, params["history_limit"])
        extra = {"entry": ledger["history"][-1]}
    return ledger, lock, extra


def _check(params: dict) -> None:
    """Refuse bad input before anything on disk is touched."""
    action = params["action"]
    if action not in ACTIONS:
        raise ActionFailed(f"action must be one of {', '.join(ACTIONS)}; got {action!r}")
    if action != "query" and not params.get("deploy_id"):
        raise ActionFailed(f"action={action} needs deploy_id (the deploy's id, not empty)")
    if action == "lock" and not params.get("holder"):
        raise ActionFailed("action=lock needs holder: who takes the lock, e.g. alice@controller")
    if action in ("lock", "renew") and params["ttl"] < 1:
        raise ActionFailed(f"ttl must be a positive number of seconds, got {params['ttl']}")
    if action == "record" and not params.get("release"):
        raise ActionFailed("action=record needs release: the release this entry is about")
    if params["history_limit"] < 1:
        raise ActionFailed(f"history_limit must be at least 1, got {params['history_limit']}")


def perform(
    params: dict, *, now: datetime, check_mode: bool = False, guard_timeout: float = 30.0
) -> dict:
    """Run one action; returns the module's result, raises ActionFailed with it on refusal."""
    _check(params)
    path = Path(params["path"])
    writes = params["action"] != "query" and not check_mode
    if writes:
        try:
            store.ensure_dir(path)
        except (store.StoreError, OSError) as err:
            raise ActionFailed(f"cannot create {path}: {err}") from None
    try:
        with store.guarded(path, create=writes, timeout=guard_timeout):
            ledger, lock = _load(path)
            try:
                new_ledger, new_lock, extra = _decide(params, ledger, lock, now)
            except locks.LockRefused as err:
                raise ActionFailed(
                    str(err), {"ledger": ledger, "lock": locks.view(lock, now)}
                ) from None
            except ValueError as err:
                raise ActionFailed(str(err)) from None
            changed_ledger = new_ledger != ledger
            changed_lock = new_lock != lock
            if writes and changed_ledger:
                store.write_json(path / store.LEDGER_NAME, new_ledger)
            if writes and changed_lock:
                store.write_json(path / store.LOCK_NAME, new_lock)
    except store.StoreError as err:
        raise ActionFailed(str(err)) from None
    except OSError as err:
        raise ActionFailed(f"cannot use {path}: {err} (not root? run with become: true)") from None
    result = {
        "changed": changed_ledger or changed_lock,
        "ledger": new_ledger,
        "open_entry": ledgers.open_entry(new_ledger["history"]),
        "lock": locks.view(new_lock, now),
        **extra,
    }
    if params["action"] == "record":
        result["diff"] = {"before": _ledger_diff(ledger), "after": _ledger_diff(new_ledger)}
    elif params["action"] != "query":
        result["diff"] = {"before": _lock_diff(lock), "after": _lock_diff(new_lock)}
    return result
