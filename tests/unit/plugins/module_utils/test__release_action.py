"""One action on a real state directory, with the clock moved by the test instead of sleeping."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from ansible_collections.slipway.ops.plugins.module_utils import _release_action as action

T0 = datetime(2026, 11, 23, 5, 0, 0, tzinfo=timezone.utc)
DEFAULTS = {
    "job_id": "",
    "ttl": 900,
    "force": False,
    "holder": None,
    "release": None,
    "stage": None,
    "outcome": None,
    "reason": "",
    "trigger": "",
    "who": "",
    "history_limit": 50,
}


def perform(tmp_path, seconds=0, check_mode=False, **params):
    args = {**DEFAULTS, "path": str(tmp_path / "release"), **params}
    return action.perform(args, now=T0 + timedelta(seconds=seconds), check_mode=check_mode)


def test_a_lease_left_to_expire_is_taken_over_by_the_next_deploy(tmp_path):
    perform(tmp_path, action="lock", deploy_id="d-1", holder="alice@ctl", ttl=60)
    with pytest.raises(action.ActionFailed, match="expires in 1 s") as refused:
        perform(tmp_path, 59, action="lock", deploy_id="d-2", holder="bob@ctl")
    assert refused.value.result["lock"]["deploy_id"] == "d-1"
    taken = perform(tmp_path, 60, action="lock", deploy_id="d-2", holder="bob@ctl")
    assert taken["expired"]
    assert taken["broken"]["seconds_left"] == 0
    on_disk = json.loads((tmp_path / "release" / "lock.json").read_text())
    assert on_disk["deploy_id"] == "d-2"
    assert on_disk["lock_breaks"] == [taken["broken"]]


def test_query_shows_a_lapsed_lease_as_inactive(tmp_path):
    perform(tmp_path, action="lock", deploy_id="d-1", holder="alice@ctl", ttl=60)
    assert perform(tmp_path, 30, action="query")["lock"]["expires_in"] == 30
    lapsed = perform(tmp_path, 61, action="query")["lock"]
    assert lapsed["deploy_id"] == "d-1"
    assert lapsed["active"] is False
    assert lapsed["expires_in"] == 0


def test_check_mode_on_an_existing_directory_creates_no_guard(tmp_path):
    (tmp_path / "release").mkdir()
    perform(tmp_path, check_mode=True, action="lock", deploy_id="d-1", holder="alice@ctl")
    assert list((tmp_path / "release").iterdir()) == []


def test_a_record_entry_is_stamped_with_the_given_time(tmp_path):
    result = perform(
        tmp_path,
        90,
        action="record",
        deploy_id="d-1",
        release="v1",
        stage="completed",
        outcome="success",
    )
    assert result["entry"]["at"] == "2026-11-23T05:01:30Z"
    assert result["diff"]["after"] == {
        "current": "v1",
        "previous": None,
        "newest": "d-1 v1 completed success",
    }
