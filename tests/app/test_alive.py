"""The worker's liveness marker, as the container's HEALTHCHECK reads it."""

from __future__ import annotations

import os
import time

from agent_platform.alive import MAX_AGE_SECONDS, fresh


def test_a_missing_marker_is_not_fresh(tmp_path):
    assert not fresh(tmp_path / "alive")


def test_a_marker_touched_within_the_limit_is_fresh(tmp_path):
    marker = tmp_path / "alive"
    marker.touch()
    assert fresh(marker)


def test_a_marker_older_than_the_limit_is_stale(tmp_path):
    marker = tmp_path / "alive"
    marker.touch()
    old = time.time() - MAX_AGE_SECONDS - 1
    os.utime(marker, (old, old))
    assert not fresh(marker)
