"""Every way Slipway replaces a file that something else reads, held to one contract
(module_utils/_atomic_file.py): the data is fsynced before the rename, the directory
after it; a failure before the rename leaves the old file whole and no temporary file;
the mode is the one asked for. A plain open-and-write fails each of these tests."""

from __future__ import annotations

import os
import stat

import pytest
from ansible_collections.slipway.ops.plugins.module_utils import _atomic_file

from tests.unit.roles.test_app_stack_watchdog import watchdog
from tests.unit.roles.test_slipway_pgbackrest import tool as pgbackrest

WRITERS = {
    "module_utils": lambda path, text: _atomic_file.write_atomic(path, text, 0o644),
    "app_stack_watchdog": lambda path, text: watchdog.write_atomically(str(path), text),
    "slipway_pgbackrest": lambda path, text: pgbackrest.write_atomically(path, text),
}


@pytest.fixture(params=sorted(WRITERS))
def write(request):
    return WRITERS[request.param]


def test_replaces_the_file_with_the_mode_asked_and_leaves_nothing_else(tmp_path, write):
    target = tmp_path / "m.prom"
    write(target, "a 1\n")
    write(target, "a 2\n")
    assert target.read_text() == "a 2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["m.prom"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_the_data_is_synced_before_the_rename_and_the_directory_after(tmp_path, write, monkeypatch):
    target = tmp_path / "m.prom"
    target.write_text("old\n")
    steps = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        what = "directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "data"
        # What a reader of the target sees at that moment.
        steps.append((what, target.read_text()))
        real_fsync(fd)

    def replace(src, dst):
        steps.append(("rename", target.read_text()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write(target, "new\n")
    assert steps == [("data", "old\n"), ("rename", "old\n"), ("directory", "new\n")]


def test_a_failure_before_the_rename_keeps_the_old_file_whole(tmp_path, write, monkeypatch):
    target = tmp_path / "m.prom"
    target.write_text("old\n")

    def replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="No space left"):
        write(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["m.prom"]
