"""slipway.ops.config_files run as Ansible runs it: a real process writing real files."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

MODULE = ROOT / "plugins" / "modules" / "config_files.py"
# A validator that fails on anything that is not JSON, naming what it read.
JSON_CHECK = f"{sys.executable} -c 'import json,sys; json.load(open(sys.argv[1]))' %s"


def config_files(tmp_path, files, *, check=False, diff=False) -> dict:
    """Run the module on an arguments file, as AnsiballZ would run it on a host."""
    module_args = {"files": files, "_ansible_check_mode": check, "_ansible_diff": diff}
    # Beside tmp_path, not in it: the tests compare what is in it.
    args_file = tmp_path.parent / f"{tmp_path.name}-args-{time.monotonic_ns()}.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": module_args}))
    path = [str(ROOT / "collections"), *filter(None, [os.environ.get("PYTHONPATH")])]
    proc = subprocess.run(
        [sys.executable, str(MODULE), str(args_file)],
        cwd=tmp_path.parent,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


def owner_names(path) -> tuple[str, str]:
    import grp
    import pwd

    st = os.stat(path)
    return pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name


@pytest.fixture
def me():
    """The test's own user and group: the module sets them as it would root's."""
    import grp
    import pwd

    return {"owner": pwd.getpwuid(os.getuid()).pw_name, "group": grp.getgrgid(os.getgid()).gr_name}


def tree(tmp_path, me) -> list[dict]:
    return [
        {"path": str(tmp_path / "conf.d"), "state": "directory", "mode": "0750", **me},
        {"path": str(tmp_path / "conf.d" / "a.conf"), "content": "a = 1\n", **me},
        {"path": str(tmp_path / "b.json"), "content": "{}\n", "mode": "0600", **me},
    ]


def test_writes_every_entry_then_a_second_run_changes_nothing(tmp_path, me):
    result = config_files(tmp_path, tree(tmp_path, me))
    assert result["changed"] is True, result
    assert result["changed_files"] == [e["path"] for e in tree(tmp_path, me)]
    assert (tmp_path / "conf.d" / "a.conf").read_text() == "a = 1\n"
    assert stat.S_IMODE((tmp_path / "conf.d").stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "b.json").stat().st_mode) == 0o600
    assert owner_names(tmp_path / "b.json") == (me["owner"], me["group"])

    again = config_files(tmp_path, tree(tmp_path, me), diff=True)
    assert again["changed"] is False, again
    assert again["changed_files"] == []
    assert again["diff"] == []


def test_check_mode_reports_each_change_with_its_diff_and_writes_nothing(tmp_path, me):
    config_files(tmp_path, tree(tmp_path, me))
    (tmp_path / "conf.d" / "a.conf").write_text("a = 2\n")
    os.chmod(tmp_path / "b.json", 0o644)
    before = {
        p.name: (p.read_bytes(), p.stat().st_mode) for p in tmp_path.rglob("*.*") if p.is_file()
    }

    result = config_files(tmp_path, tree(tmp_path, me), check=True, diff=True)

    assert result["changed"] is True, result
    assert result["changed_files"] == [
        str(tmp_path / "conf.d" / "a.conf"),
        str(tmp_path / "b.json"),
    ]
    content, mode = result["diff"]
    assert (content["before"], content["after"]) == ("a = 2\n", "a = 1\n")
    assert (mode["before"]["mode"], mode["after"]["mode"]) == ("0644", "0600")
    assert {
        p.name: (p.read_bytes(), p.stat().st_mode) for p in tmp_path.rglob("*.*") if p.is_file()
    } == before


def test_check_mode_on_a_fresh_host_reports_files_whose_directory_a_package_makes(tmp_path, me):
    entry = {"path": str(tmp_path / "chrony" / "chrony.conf"), "content": "pool x\n", **me}
    predicted = config_files(tmp_path, [entry], check=True)
    assert predicted["changed_files"] == [entry["path"]], predicted
    real = config_files(tmp_path, [entry])
    assert real["failed"] is True
    assert f"its directory {tmp_path / 'chrony'} does not exist" in real["msg"]
    assert not (tmp_path / "chrony").exists()


def test_check_mode_on_a_fresh_host_reports_files_owned_by_a_user_a_package_makes(tmp_path, me):
    (tmp_path / "redis.conf").write_text("bind 0.0.0.0\n")
    entry = {**me, "path": str(tmp_path / "redis.conf"), "content": "bind 0.0.0.0\n"}
    entry["owner"] = "no-such-user-slipway"
    predicted = config_files(tmp_path, [entry], check=True, diff=True)
    assert predicted["changed_files"] == [entry["path"]], predicted
    assert predicted["diff"][0]["after"]["owner"] == "no-such-user-slipway"
    real = config_files(tmp_path, [entry])
    assert real["msg"].endswith("no such user (no-such-user-slipway); create it first."), real


def test_a_file_that_fails_validation_changes_nothing_not_even_the_entries_before_it(tmp_path, me):
    config_files(tmp_path, tree(tmp_path, me))
    files = tree(tmp_path, me)
    files[1]["content"] = "a = 3\n"
    files[2].update(content="{not json\n", validate=JSON_CHECK)

    result = config_files(tmp_path, files)

    assert result["failed"] is True, result
    assert result["changed"] is False
    assert str(tmp_path / "b.json") in result["msg"]
    assert "JSONDecodeError" in result["msg"]
    assert result["msg"].endswith("Nothing was changed.")
    assert (tmp_path / "conf.d" / "a.conf").read_text() == "a = 1\n"
    assert (tmp_path / "b.json").read_text() == "{}\n"
    # The validator's copy is not left where it ran, nor beside the file.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "b.json",
        "conf.d",
    ]


def test_a_file_that_passes_validation_is_written(tmp_path, me):
    entry = {"path": str(tmp_path / "c.json"), "content": '{"a": 1}\n', "validate": JSON_CHECK}
    result = config_files(tmp_path, [{**entry, **me}])
    assert result["changed_files"] == [entry["path"]], result
    assert json.loads((tmp_path / "c.json").read_text()) == {"a": 1}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"path": "relative.conf", "content": "x"}, "'relative.conf' is not an absolute path"),
        ({"path": "{tmp}/x.conf", "content": "x", "mode": "rw-r--r--"}, "is not octal permissions"),
        ({"path": "{tmp}/x.conf", "content": "x", "mode": "01777777"}, "is not octal permissions"),
        (
            {"path": "{tmp}/x.conf", "content": "x", "owner": "no-such-user-slipway"},
            "no such user (no-such-user-slipway)",
        ),
        ({"path": "{tmp}/x.conf"}, "content"),
        ({"path": "{tmp}/none/x.conf", "content": "x"}, "its directory {tmp}/none does not exist"),
        ({"path": "{tmp}/sub", "content": "x"}, "{tmp}/sub exists and is not a file"),
        ({"path": "{tmp}/x.conf", "content": "x", "validate": "true"}, "validate must contain %s"),
        ({"path": "{tmp}/x.conf", "state": "link"}, "src"),
        (
            {"path": "{tmp}/none/x", "state": "link", "src": "/etc"},
            "its directory {tmp}/none does not exist",
        ),
        ({"path": "{tmp}/sub", "state": "absent"}, "{tmp}/sub is a directory"),
        ({"path": "{tmp}/sub", "state": "link", "src": "/etc"}, "{tmp}/sub is a directory"),
    ],
)
def test_bad_input_fails_naming_the_entry_and_changes_nothing(tmp_path, me, entry, message):
    (tmp_path / "sub").mkdir()
    first = {"path": str(tmp_path / "first.conf"), "content": "first\n", **me}
    entry = {k: v.replace("{tmp}", str(tmp_path)) for k, v in entry.items()}
    result = config_files(tmp_path, [first, {**me, **entry}])
    assert result["failed"] is True, result
    assert not result.get("changed")
    assert message.replace("{tmp}", str(tmp_path)) in result["msg"]
    assert not (tmp_path / "first.conf").exists()


def test_links_and_absent_paths_change_only_what_differs_and_tell_the_truth(tmp_path, me):
    (tmp_path / "old.env").write_text("SECRET=1\n")
    (tmp_path / "localtime").symlink_to("/usr/share/zoneinfo/Etc/UTC")
    (tmp_path / "site").write_text("a file where the link goes\n")
    files = [
        {"path": str(tmp_path / "old.env"), "state": "absent"},
        {"path": str(tmp_path / "never.env"), "state": "absent"},
        {"path": str(tmp_path / "localtime"), "state": "link", "src": "/usr/share/zoneinfo/UTC"},
        {"path": str(tmp_path / "site"), "state": "link", "src": "../available/site"},
        {"path": str(tmp_path / "new"), "state": "link", "src": "target"},
    ]
    check = config_files(tmp_path, files, check=True, diff=True)
    assert check["changed_files"] == [files[i]["path"] for i in (0, 2, 3, 4)], check
    assert [(d["before"], d["after"]) for d in check["diff"]] == [
        ({"state": "file"}, {"state": "absent"}),
        (
            {"state": "link", "src": "/usr/share/zoneinfo/Etc/UTC"},
            {"state": "link", "src": "/usr/share/zoneinfo/UTC"},
        ),
        ({"state": "file"}, {"state": "link", "src": "../available/site"}),
        ({"state": "absent"}, {"state": "link", "src": "target"}),
    ]
    assert (tmp_path / "old.env").exists()
    assert not (tmp_path / "new").is_symlink()

    result = config_files(tmp_path, files)
    assert result["changed_files"] == check["changed_files"], result
    assert not (tmp_path / "old.env").exists()
    assert os.readlink(tmp_path / "localtime") == "/usr/share/zoneinfo/UTC"
    assert os.readlink(tmp_path / "site") == "../available/site"
    assert os.readlink(tmp_path / "new") == "target"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["localtime", "new", "site"]
    assert config_files(tmp_path, files)["changed"] is False
