"""config_files' plan and apply, called directly: what a diff shows, and a change that
cannot land midway."""

from __future__ import annotations

import grp
import os
import pwd

import pytest
from ansible_collections.slipway.ops.plugins.module_utils import _config_files

ME = {"owner": pwd.getpwuid(os.getuid()).pw_name, "group": grp.getgrgid(os.getgid()).gr_name}


def entry(path, **fields) -> dict:
    return {"state": "file", "mode": "0644", "validate": None, **ME, "path": str(path), **fields}


def test_a_new_directory_shows_its_state_owner_and_mode(tmp_path):
    (change,) = _config_files.plan([entry(tmp_path / "d", state="directory", mode="0750")])
    assert change["diff"]["before"] == {"state": "absent"}
    assert change["diff"]["after"] == {"state": "directory", **ME, "mode": "0750"}


def test_a_file_over_the_diff_limit_is_named_by_its_size_not_shown(tmp_path):
    big = "x" * (_config_files.DIFF_LIMIT + 1)
    (change,) = _config_files.plan([entry(tmp_path / "big", content=big)])
    assert change["diff"]["after"] == (
        f"[{len(big)} bytes, over the diff's limit of {_config_files.DIFF_LIMIT}]\n"
    )


def test_a_file_not_utf8_is_compared_by_its_bytes(tmp_path):
    (tmp_path / "latin1").write_bytes(b"caf\xe9\n")
    (change,) = _config_files.plan([entry(tmp_path / "latin1", content="café\n")])
    assert change["diff"]["before"] == "caf\ufffd\n"
    _config_files.apply(change)
    assert (tmp_path / "latin1").read_bytes() == "café\n".encode()
    assert _config_files.plan([entry(tmp_path / "latin1", content="café\n")]) == []


def test_a_directory_gone_between_plan_and_apply_fails_and_leaves_no_temporary_file(tmp_path):
    (tmp_path / "d").mkdir()
    (change,) = _config_files.plan([entry(tmp_path / "d" / "f", content="new\n")])
    (tmp_path / "d").rmdir()
    with pytest.raises(FileNotFoundError):
        _config_files.apply(change)
    assert list(tmp_path.iterdir()) == []


def test_a_directory_is_made_with_its_missing_parents_which_get_its_owner_and_mode(tmp_path):
    deep = tmp_path / "a" / "b" / "c"
    changes = _config_files.plan(
        [
            entry(deep, state="directory", mode="0750"),
            entry(tmp_path / "a" / "b" / "f", content="in a parent made on the way\n"),
        ]
    )
    for change in changes:
        _config_files.apply(change)
    for made in (tmp_path / "a", tmp_path / "a" / "b", deep):
        assert oct(made.stat().st_mode & 0o7777) == "0o750", made
    assert (tmp_path / "a" / "b" / "f").read_text() == "in a parent made on the way\n"


def test_a_file_that_is_a_symbolic_link_is_replaced_by_the_file_and_its_target_kept(tmp_path):
    # Debian 13 ships /etc/default/locale as a link to /etc/locale.conf.
    (tmp_path / "locale.conf").write_text("LANG=C.UTF-8\n")
    (tmp_path / "locale").symlink_to("locale.conf")
    (change,) = _config_files.plan([entry(tmp_path / "locale", content="LANG=en_US.UTF-8\n")])
    assert change["diff"]["before"] == "[a symbolic link to locale.conf]\n"
    _config_files.apply(change)
    assert not (tmp_path / "locale").is_symlink()
    assert (tmp_path / "locale").read_text() == "LANG=en_US.UTF-8\n"
    assert (tmp_path / "locale.conf").read_text() == "LANG=C.UTF-8\n"
    assert _config_files.plan([entry(tmp_path / "locale", content="LANG=en_US.UTF-8\n")]) == []


def test_a_directory_that_is_a_symbolic_link_to_one_is_followed(tmp_path):
    (tmp_path / "real").mkdir(mode=0o755)
    (tmp_path / "link").symlink_to("real")
    assert _config_files.plan([entry(tmp_path / "link", state="directory", mode="0755")]) == []
