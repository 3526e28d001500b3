"""The state directory: 0750, atomic JSON files, and a guard flock that really excludes."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import time
from datetime import datetime, timezone

import pytest
from ansible_collections.slipway.ops.plugins.module_utils import _release_store as store


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_the_directory_is_created_0750_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        assert store.ensure_dir(tmp_path / "a" / "release")
    finally:
        os.umask(old)
    assert mode(tmp_path / "a" / "release") == 0o750
    assert not store.ensure_dir(tmp_path / "a" / "release")


def test_a_file_in_the_way_of_the_directory_is_named(tmp_path):
    (tmp_path / "release").write_text("")
    with pytest.raises(store.StoreError, match="exists and is not a directory"):
        store.ensure_dir(tmp_path / "release")


def test_json_is_written_whole_with_mode_0640_and_no_temporary_left(tmp_path):
    target = tmp_path / "ledger.json"
    target.write_text('{"old": true}')
    store.write_json(target, {"current": "v2"})
    assert json.loads(target.read_text()) == {"current": "v2"}
    assert mode(target) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "ledger.json"
    target.write_text('{"old": true}')
    with pytest.raises(TypeError):
        store.write_json(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"old": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.json"]


def test_reading_a_missing_file_gives_none(tmp_path):
    assert store.read_json(tmp_path / "lock.json") is None


@pytest.mark.parametrize(
    ("text", "message"), [("{", "is not valid JSON"), ("[]", "holds a JSON list")]
)
def test_a_broken_file_is_named_and_left_alone(tmp_path, text, message):
    target = tmp_path / "lock.json"
    target.write_text(text)
    with pytest.raises(store.StoreError, match=message):
        store.read_json(target)
    assert target.read_text() == text


def test_the_guard_waits_for_its_holder_then_names_the_file(tmp_path):
    # flock locks belong to an open file: a second open in this process competes like a second run.
    other = os.open(tmp_path / store.GUARD_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(other, fcntl.LOCK_EX)
    try:
        started = time.monotonic()
        with pytest.raises(store.StoreError, match=r"has held .*\.guard for more than 0.3 s"):  # noqa: SIM117  # 3.8
            with store.guarded(tmp_path, timeout=0.3):
                pass
        assert time.monotonic() - started >= 0.3
    finally:
        os.close(other)
    with store.guarded(tmp_path, timeout=0.3):
        pass


def test_the_guard_is_released_when_the_block_ends(tmp_path):
    with store.guarded(tmp_path):
        pass
    fd = os.open(tmp_path / store.GUARD_NAME, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_a_read_only_guard_creates_nothing(tmp_path):
    with store.guarded(tmp_path / "missing", create=False):
        pass
    with store.guarded(tmp_path, create=False):
        pass
    assert list(tmp_path.iterdir()) == []


def test_times_are_utc_seconds_with_z():
    moment = datetime(2026, 11, 23, 5, 0, 0, 999, tzinfo=timezone.utc)
    assert store.format_time(moment) == "2026-11-23T05:00:00Z"
    assert store.parse_time("2026-11-23T05:00:00Z") == moment.replace(microsecond=0)
    with pytest.raises(ValueError, match="no time zone"):
        store.parse_time("2026-11-23T05:00:00")
