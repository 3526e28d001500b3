# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet deploy lock as a lease: take, renew, release and break it (pure functions).

A lease names its holder (who), the deploy (deploy_id) and the AWX job, and
lasts until expires_at. Only one deploy holds it at a time; the holder renews
it while it works; a lease nobody renewed is expired and the next deploy
takes it over. Every takeover of another deploy's lease, forced or expired,
is appended to `lock_breaks`, which outlives the lease. Each function takes
the current state and `now` and returns the new state: no files, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ansible_collections.slipway.ops.plugins.module_utils._release_store import (
    format_time,
    parse_time,
)

LEASE_KEYS = ("holder", "deploy_id", "job_id", "acquired_at", "renewed_at", "expires_at")
BREAK_HINT = "-e slipway_deploy_lock_break=true"


class LockRefused(Exception):
    """The lock cannot be taken or renewed; the message tells the operator why and what to do."""


@dataclass
class LockOutcome:
    lock: dict
    changed: bool
    acquired: bool = False
    broken: dict | None = None
    expired: bool = False
    held_by: dict | None = None


def free_lock(lock_breaks: list | None = None) -> dict:
    return {**dict.fromkeys(LEASE_KEYS), "lock_breaks": list(lock_breaks or [])}


def normalize(data: dict | None) -> dict:
    """A lock file's content with every key present; raises ValueError on a malformed one."""
    lock = free_lock()
    if not data:
        return lock
    for key in LEASE_KEYS:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"lock.json: {key} must be a string or null, not {value!r}")
        lock[key] = value
    breaks = data.get("lock_breaks", [])
    if not isinstance(breaks, list):
        raise ValueError("lock.json: lock_breaks must be a list")
    lock["lock_breaks"] = breaks
    if lock["deploy_id"] is not None:
        if lock["expires_at"] is None:
            raise ValueError("lock.json: a lease without expires_at")
        try:
            parse_time(lock["expires_at"])
        except ValueError:
            raise ValueError(
                f"lock.json: expires_at {lock['expires_at']!r} is not an ISO-8601 UTC time"
            ) from None
    return lock


def is_held(lock: dict) -> bool:
    """A lease is recorded (it may have expired)."""
    return lock["deploy_id"] is not None


def expires_in(lock: dict, now: datetime) -> int:
    """Whole seconds the lease has left; 0 when there is none or it has expired."""
    if not is_held(lock):
        return 0
    left = (parse_time(lock["expires_at"]) - now).total_seconds()
    return max(0, int(left))


def is_active(lock: dict, now: datetime) -> bool:
    return is_held(lock) and now < parse_time(lock["expires_at"])


def lease(lock: dict) -> dict:
    """The lease alone (holder, deploy, job, times), without the break history."""
    return {key: lock[key] for key in LEASE_KEYS}


def who(lock: dict) -> str:
    """`alice@ctl (deploy d-1, AWX job 42)`: the holder as an operator reads it."""
    job = f"AWX job {lock['job_id']}" if lock["job_id"] else "no AWX job"
    return f"{lock['holder'] or 'unknown'} (deploy {lock['deploy_id']}, {job})"


def view(lock: dict, now: datetime) -> dict:
    """The lock as the module returns it: the file's content plus `active` and `expires_in`."""
    return {**lock, "active": is_active(lock, now), "expires_in": expires_in(lock, now)}


def held_message(lock: dict, now: datetime) -> str:
    return (
        f"deploy lock held by {who(lock)} since {lock['acquired_at']}, expires in "
        f"{expires_in(lock, now)} s ({lock['expires_at']}); wait for it, or break it with "
        f"{BREAK_HINT} if that deploy is dead"
    )


def _check_ttl(ttl: int) -> None:
    if ttl < 1:
        raise ValueError(f"ttl must be a positive number of seconds, got {ttl}")


def _new_lease(deploy_id: str, holder: str, job_id: str, ttl: int, now: datetime) -> dict:
    stamp = format_time(now)
    return {
        "holder": holder,
        "deploy_id": deploy_id,
        "job_id": job_id,
        "acquired_at": stamp,
        "renewed_at": stamp,
        "expires_at": format_time(now + timedelta(seconds=ttl)),
    }


def _trim(entries: list, limit: int) -> list:
    return entries[-limit:] if limit > 0 else []


def acquire(
    lock: dict,
    *,
    deploy_id: str,
    holder: str,
    job_id: str,
    ttl: int,
    now: datetime,
    force: bool = False,
    breaks_limit: int = 50,
) -> LockOutcome:
    """Take the lock for deploy_id, renew it if deploy_id holds it already.

    Raises LockRefused when another deploy holds a live lease and force is
    false. An expired lease of another deploy, or a live one with force, is
    taken over and the break is recorded in lock_breaks and returned.
    """
    _check_ttl(ttl)
    if not deploy_id:
        raise ValueError("deploy_id must not be empty")
    if not holder:
        raise ValueError("holder must name who takes the lock, e.g. alice@controller")
    if is_held(lock) and lock["deploy_id"] == deploy_id:
        return LockOutcome(renew(lock, deploy_id=deploy_id, ttl=ttl, now=now).lock, True, True)

    broken = None
    expired = False
    if is_held(lock):
        if is_active(lock, now) and not force:
            raise LockRefused(held_message(lock, now))
        expired = not is_active(lock, now)
        broken = {
            "reason": "expired" if expired else "forced",
            "at": format_time(now),
            "by": {"holder": holder, "deploy_id": deploy_id, "job_id": job_id},
            "broken": lease(lock),
            # How long the broken lease had left (negative: expired that long ago).
            "seconds_left": int((parse_time(lock["expires_at"]) - now).total_seconds()),
        }
    breaks = _trim(lock["lock_breaks"] + ([broken] if broken else []), breaks_limit)
    new = {**_new_lease(deploy_id, holder, job_id, ttl, now), "lock_breaks": breaks}
    return LockOutcome(new, True, True, broken, expired)


def renew(lock: dict, *, deploy_id: str, ttl: int, now: datetime) -> LockOutcome:
    """Extend deploy_id's lease to now + ttl; refused unless deploy_id holds it.

    A holder whose own lease ran out may renew it as long as nobody took it over.
    """
    _check_ttl(ttl)
    if not is_held(lock):
        raise LockRefused(
            f"cannot renew the deploy lock for deploy {deploy_id}: nobody holds it (it was "
            "released, or broken and released); take it again with action=lock"
        )
    if lock["deploy_id"] != deploy_id:
        raise LockRefused(
            f"cannot renew the deploy lock for deploy {deploy_id}: it is held by {who(lock)} "
            f"since {lock['acquired_at']} (expires {lock['expires_at']}); "
            f"deploy {deploy_id} lost it, stop and check before going on"
        )
    new = {
        **lock,
        "renewed_at": format_time(now),
        "expires_at": format_time(now + timedelta(seconds=ttl)),
    }
    return LockOutcome(new, True, True)


def release(lock: dict, *, deploy_id: str) -> LockOutcome:
    """Remove deploy_id's lease; never anyone else's (then unchanged, held_by says whose)."""
    if not is_held(lock):
        return LockOutcome(lock, False)
    if lock["deploy_id"] != deploy_id:
        return LockOutcome(lock, False, held_by=lease(lock))
    return LockOutcome(free_lock(lock["lock_breaks"]), True)
