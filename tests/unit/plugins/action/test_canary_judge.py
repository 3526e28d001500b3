"""slipway.ops.canary_judge's action plugin: the module's verdict, judged in the worker."""

from __future__ import annotations

import json

import yaml
from ansible_collections.slipway.ops.plugins.modules import canary_judge, lb_traffic

from tests.conftest import run
from tests.unit.plugins.modules.test_canary_judge import T0, UPSTREAMS, call, write_log


def playbook(tmp_path, args: dict) -> dict:
    """Run the task with ARGS through ansible-playbook on localhost; its registered result, and
    under `stdout` what the run said at -vvv."""
    out = tmp_path / "result.json"
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {"slipway.ops.canary_judge": args, "register": "judged", "ignore_errors": True},
                {"ansible.builtin.copy": {"content": "{{ judged | to_json }}", "dest": str(out)}},
            ],
        }
    ]
    path = tmp_path / "judge.yml"
    path.write_text(yaml.safe_dump(play))
    done = run(["ansible-playbook", "-vvv", "-i", "localhost,", "-c", "local", str(path)])
    assert done.returncode == 0, done.stdout
    return {**json.loads(out.read_text()), "stdout": done.stdout}


def test_the_action_judges_as_the_module_does_and_fails_the_task_alike(tmp_path, capsys):
    log = tmp_path / "access.log"
    write_log(log, 60, bad_submissions=0.3)
    seen = call(lb_traffic, capsys, access_log=str(log), upstreams=UPSTREAMS, start=T0, end=T0 + 60)
    args = {"canary": ["app1"], "baseline": ["app2"], "traffic": [seen["traffic"]]}
    module = call(canary_judge, capsys, **args)
    action = playbook(tmp_path, args)
    for key in ("failed", "msg", "verdict", "trigger", "reason", "lines", "routes"):
        assert action[key] == module[key], key
    assert action["msg"].startswith("canary failed: task_submissions: errors ")
    # No interpreter ran a module for the judge (the copy after it ran one).
    assert "AnsiballZ_copy.py" in action["stdout"]
    assert "AnsiballZ_canary_judge" not in action["stdout"]


def test_bad_options_fail_the_task_with_the_module_s_message(tmp_path, capsys):
    args = {"canary": ["app1"], "baseline": ["app1"], "traffic": [{}], "sample": 3}
    action = playbook(tmp_path, args)
    assert action["failed"] is True
    assert "sample" in action["msg"], action["msg"]
    del args["sample"]
    action = playbook(tmp_path, args)
    assert action["msg"] == call(canary_judge, capsys, **args)["msg"]
    assert "none in both (in both: app1)" in action["msg"]
