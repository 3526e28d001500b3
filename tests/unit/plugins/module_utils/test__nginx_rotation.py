"""The rotation change's own logic; the change on a real Nginx (the check, the
roll-back of a configuration that fails it, the wait for requests in flight)
is proved by `molecule test -s nginx_tls` under load."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from ansible_collections.slipway.ops.plugins.module_utils import _nginx_rotation as rotation


def _never(argv):
    raise AssertionError(f"ran {argv}: nothing should run")


def _apply(tmp_path, drained, check_mode=False):
    return rotation.apply(
        drained=drained,
        drained_file=tmp_path / "drained.json",
        upstream_file=tmp_path / "upstream.conf",
        upstream_content="upstream x {}",
        wait_in_flight=True,
        timeout=1,
        pid_file=tmp_path / "nginx.pid",
        check_mode=check_mode,
        run=_never,
    )


def test_the_list_asked_for_changes_nothing_and_runs_nothing(tmp_path):
    (tmp_path / "drained.json").write_text('["app2"]\n')
    result = _apply(tmp_path, ["app2"])
    assert result["changed"] is False
    assert result["previous"] == ["app2"]
    assert not (tmp_path / "upstream.conf").exists()


def test_check_mode_reports_the_change_and_writes_nothing(tmp_path):
    result = _apply(tmp_path, ["app2", "app1", "app2"], check_mode=True)
    assert result["changed"] is True
    assert result["drained"] == ["app1", "app2"]
    assert result["diff"] == {"before": "[]\n", "after": '["app1", "app2"]\n'}
    assert list(tmp_path.iterdir()) == []


def test_the_file_keeps_the_format_the_role_wrote():
    assert rotation.drained_text(["b", "a"]) == '["a", "b"]\n'


def test_workers_are_the_live_children_of_the_master_and_their_exit_is_seen():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in rotation.children(os.getpid())
        assert rotation.alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not rotation.alive(child.pid)
    assert child.pid not in rotation.children(os.getpid())


def test_a_weight_alone_is_a_change_kept_in_its_file_and_full_weight_removes_it(tmp_path):
    calls = []

    def run(argv):
        calls.append(argv)
        return 0, "", ""

    files = {
        "drained_file": tmp_path / "drained.json",
        "upstream_file": tmp_path / "upstream.conf",
        "weights_file": tmp_path / "weights.json",
    }
    common = {
        "upstream_content": "upstream x {}",
        "wait_in_flight": False,
        "timeout": 1,
        "pid_file": tmp_path / "none.pid",
        "check_mode": False,
        "run": run,
        **files,
    }
    result = rotation.apply(drained=[], weights={"app1": 25}, **common)
    assert (result["changed"], result["weights"]) == (True, {"app1": 25})
    assert files["weights_file"].read_text() == '{"app1": 25}\n'
    assert result["diff"]["after"] == '[]\nweights: {"app1": 25}\n'
    assert rotation.apply(drained=[], weights={"app1": 25}, **common)["changed"] is False
    result = rotation.apply(drained=[], weights={"app1": 100}, **common)
    assert (result["changed"], result["weights"]) == (True, {})
    assert not files["weights_file"].exists()
    assert [argv[0] for argv in calls] == ["/usr/sbin/nginx", "systemctl"] * 2


def test_a_weight_change_that_does_not_check_puts_the_weights_back(tmp_path):
    files = {
        "drained_file": tmp_path / "drained.json",
        "upstream_file": tmp_path / "upstream.conf",
        "weights_file": tmp_path / "weights.json",
    }
    files["weights_file"].write_text('{"app2": 50}\n')
    with pytest.raises(rotation.RotationFailed):
        rotation.apply(
            drained=[],
            weights={"app1": 25},
            upstream_content="bad",
            wait_in_flight=False,
            timeout=1,
            pid_file=tmp_path / "none.pid",
            check_mode=False,
            run=lambda argv: (1, "", "emerg"),
            **files,
        )
    assert files["weights_file"].read_text() == '{"app2": 50}\n'
