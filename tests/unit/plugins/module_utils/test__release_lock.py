"""The deploy lease: one deploy at a time, renewals, expiry, recorded breaks (`now` is given)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from ansible_collections.slipway.ops.plugins.module_utils import _release_lock as locks

T0 = datetime(2026, 11, 23, 5, 0, 0, tzinfo=timezone.utc)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def take(lock=None, deploy_id="d-1", holder="alice@ctl", job_id="42", ttl=900, now=T0, **kw):
    return locks.acquire(
        lock or locks.free_lock(),
        deploy_id=deploy_id,
        holder=holder,
        job_id=job_id,
        ttl=ttl,
        now=now,
        **kw,
    )


@pytest.fixture
def held():
    """alice's deploy d-1 (AWX job 42) took the lock at T0 for 900 s."""
    return take().lock


def test_a_free_lock_is_taken_with_the_holder_and_an_expiry():
    outcome = take()
    assert outcome.changed
    assert outcome.acquired
    assert outcome.broken is None
    assert not outcome.expired
    assert locks.lease(outcome.lock) == {
        "holder": "alice@ctl",
        "deploy_id": "d-1",
        "job_id": "42",
        "acquired_at": "2026-11-23T05:00:00Z",
        "renewed_at": "2026-11-23T05:00:00Z",
        "expires_at": "2026-11-23T05:15:00Z",
    }
    assert outcome.lock["lock_breaks"] == []


def test_the_same_deploy_locking_again_renews_its_lease(held):
    outcome = take(held, now=at(300))
    assert outcome.acquired
    assert outcome.broken is None
    assert outcome.lock["acquired_at"] == "2026-11-23T05:00:00Z"
    assert outcome.lock["renewed_at"] == "2026-11-23T05:05:00Z"
    assert outcome.lock["expires_at"] == "2026-11-23T05:20:00Z"


def test_another_deploy_is_refused_with_who_holds_it_and_for_how_long(held):
    with pytest.raises(locks.LockRefused) as refused:
        take(held, deploy_id="d-2", holder="bob@ctl", job_id="", now=at(488))
    assert str(refused.value) == (
        "deploy lock held by alice@ctl (deploy d-1, AWX job 42) since 2026-11-23T05:00:00Z, "
        "expires in 412 s (2026-11-23T05:15:00Z); wait for it, or break it with "
        "-e slipway_deploy_lock_break=true if that deploy is dead"
    )


def test_a_holder_outside_awx_is_named_without_a_job():
    lock = take(job_id="").lock
    with pytest.raises(locks.LockRefused, match=r"\(deploy d-1, no AWX job\)"):
        take(lock, deploy_id="d-2")


def test_an_expired_lease_is_taken_over_and_the_takeover_recorded(held):
    outcome = take(held, deploy_id="d-2", holder="bob@ctl", job_id="", now=at(1000))
    assert outcome.acquired
    assert outcome.expired
    assert outcome.lock["deploy_id"] == "d-2"
    assert outcome.lock["acquired_at"] == "2026-11-23T05:16:40Z"
    assert outcome.broken == {
        "reason": "expired",
        "at": "2026-11-23T05:16:40Z",
        "by": {"holder": "bob@ctl", "deploy_id": "d-2", "job_id": ""},
        "broken": locks.lease(held),
        "seconds_left": -100,
    }
    assert outcome.lock["lock_breaks"] == [outcome.broken]


def test_the_lease_ends_at_expires_at_exactly(held):
    assert locks.is_active(held, at(899))
    assert not locks.is_active(held, at(900))
    assert take(held, deploy_id="d-2", now=at(900)).expired


def test_force_breaks_a_live_lease_and_says_who_broke_whom(held):
    outcome = take(held, deploy_id="d-2", holder="bob@ctl", job_id="7", now=at(60), force=True)
    assert outcome.acquired
    assert not outcome.expired
    assert outcome.broken["reason"] == "forced"
    assert outcome.broken["by"] == {"holder": "bob@ctl", "deploy_id": "d-2", "job_id": "7"}
    assert outcome.broken["broken"]["holder"] == "alice@ctl"
    assert outcome.broken["seconds_left"] == 840
    assert outcome.lock["holder"] == "bob@ctl"


def test_force_on_a_free_lock_breaks_nothing():
    outcome = take(force=True)
    assert outcome.broken is None
    assert outcome.lock["lock_breaks"] == []


def test_lock_breaks_keep_the_newest_up_to_the_limit(held):
    lock = held
    for n in range(5):
        lock = take(lock, deploy_id=f"b-{n}", now=at(10 + n), force=True, breaks_limit=3).lock
    assert [b["by"]["deploy_id"] for b in lock["lock_breaks"]] == ["b-2", "b-3", "b-4"]


def test_renew_extends_the_holders_lease(held):
    lock = locks.renew(held, deploy_id="d-1", ttl=600, now=at(800)).lock
    assert lock["expires_at"] == "2026-11-23T05:23:20Z"
    assert lock["acquired_at"] == held["acquired_at"]
    assert locks.expires_in(lock, at(800)) == 600


def test_a_holder_may_renew_its_own_lapsed_lease_nobody_took(held):
    lock = locks.renew(held, deploy_id="d-1", ttl=60, now=at(2000)).lock
    assert locks.is_active(lock, at(2000))


def test_renew_by_another_deploy_is_refused_naming_the_holder(held):
    with pytest.raises(locks.LockRefused, match=r"held by alice@ctl \(deploy d-1, AWX job 42\)"):
        locks.renew(held, deploy_id="d-2", ttl=60, now=at(10))


def test_renew_of_a_free_lock_is_refused():
    with pytest.raises(locks.LockRefused, match="nobody holds it"):
        locks.renew(locks.free_lock(), deploy_id="d-1", ttl=60, now=T0)


def test_release_by_the_holder_frees_the_lock_and_keeps_the_breaks(held):
    broken = take(held, deploy_id="d-2", now=at(10), force=True).lock
    outcome = locks.release(broken, deploy_id="d-2")
    assert outcome.changed
    assert not locks.is_held(outcome.lock)
    assert len(outcome.lock["lock_breaks"]) == 1


def test_release_never_frees_another_deploys_lease(held):
    outcome = locks.release(held, deploy_id="d-2")
    assert not outcome.changed
    assert outcome.lock == held
    assert outcome.held_by == locks.lease(held)


def test_release_of_a_free_lock_changes_nothing():
    outcome = locks.release(locks.free_lock(), deploy_id="d-1")
    assert not outcome.changed
    assert outcome.held_by is None


def test_view_adds_active_and_seconds_left(held):
    assert locks.view(held, at(100)) == {**held, "active": True, "expires_in": 800}
    assert locks.view(held, at(1000))["active"] is False
    assert locks.view(held, at(1000))["expires_in"] == 0
    assert locks.view(locks.free_lock(), T0)["active"] is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ttl": 0}, "ttl must be a positive number"),
        ({"holder": ""}, "holder must name who takes the lock"),
        ({"deploy_id": ""}, "deploy_id must not be empty"),
    ],
)
def test_bad_lock_input_names_the_option(kwargs, message):
    with pytest.raises(ValueError, match=message):
        take(**kwargs)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"deploy_id": "d-1"}, "a lease without expires_at"),
        (
            {"deploy_id": "d-1", "expires_at": "soon"},
            "expires_at 'soon' is not an ISO-8601 UTC time",
        ),
        ({"holder": 3}, "holder must be a string"),
        ({"lock_breaks": {}}, "lock_breaks must be a list"),
    ],
)
def test_a_malformed_lock_file_is_refused(data, message):
    with pytest.raises(ValueError, match=message):
        locks.normalize(data)


def test_a_missing_lock_file_is_a_free_lock():
    assert locks.normalize(None) == locks.free_lock()
    assert not locks.is_held(locks.normalize({}))
