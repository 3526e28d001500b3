"""The verify module as Ansible runs it: its documentation, its argument spec, the
result and failure shapes, check mode. No platform is needed: a closed port fails
what it should, and check mode leaves the writing check out."""

from __future__ import annotations

import json

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from ansible_collections.slipway.ops.plugins.module_utils._verify_options import ARGUMENT_SPEC
from ansible_collections.slipway.ops.plugins.module_utils._verify_suite import RECORD_KEYS
from ansible_collections.slipway.ops.plugins.modules import verify

from tests.conftest import ansible_env, run


def adhoc(args: dict, *extra: str):
    """`ansible localhost -m slipway.ops.verify -a JSON`; (return code, the task's status
    as the callback shows it, the task's result)."""
    # ansible-core's own callback, its results as JSON ("localhost | FAILED! => {...}"):
    # the json callback is ansible.posix's, which a bare ansible-core does not have.
    env = ansible_env(
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_CALLBACK_RESULT_FORMAT="json"
    )
    done = run(
        ["ansible", "localhost", "-m", "slipway.ops.verify", "-a", json.dumps(args), *extra],
        env=env,
    )
    out = done.stdout
    status, shown = out[out.index("localhost | ") :].split(" => ", 1)
    data, _ = json.JSONDecoder().raw_decode(shown)
    return done.returncode, status, data


def in_process(args: dict, capsys, check_mode: bool = False):
    """The module's main() in this process; (exit status, the JSON it printed)."""
    with patch_module_args({**args, "_ansible_check_mode": check_mode}):  # noqa: SIM117  # 3.8
        with pytest.raises(SystemExit) as stop:
            verify.main()
    return stop.value.code, json.loads(capsys.readouterr().out)


def test_the_documentation_matches_the_argument_spec():
    docs = yaml.safe_load(verify.DOCUMENTATION)["options"]
    spec = ARGUMENT_SPEC
    assert set(docs) == set(spec)
    for name, option in spec.items():
        assert docs[name]["type"] == option["type"], name
        assert docs[name].get("default") == option.get("default"), name
        for sub, suboption in option.get("options", {}).items():
            assert docs[name]["suboptions"][sub].get("default") == suboption.get("default"), sub


@pytest.mark.controller
def test_ansible_doc_renders():
    done = run(["ansible-doc", "slipway.ops.verify"])
    assert done.returncode == 0, done.stdout
    assert "validation_level" in done.stdout
    assert "[ERROR]" not in done.stdout


@pytest.mark.controller
def test_a_failed_verification_fails_the_task_with_the_reasons(closed_port):
    code, status, result = adhoc({"base_url": closed_port, "validation_level": "basic"})
    assert code != 0
    assert status == "localhost | FAILED!"
    assert result["changed"] is False
    assert result["verdict"] == "failed"
    assert result["failed_checks"] == ["health", "service_availability"]
    assert result["msg"].startswith("verification failed: health (critical): ")
    assert [sorted(r) for r in result["results"]] == [sorted(RECORD_KEYS)] * 3
    assert result["summary"]["by_severity"]["critical"] == {"passed": 0, "failed": 2, "skipped": 1}


def test_check_mode_skips_the_writing_check_and_hides_the_key(closed_port, capsys):
    args = {"base_url": closed_port, "checks": ["api_endpoints"], "api_key": "sk_secret_value"}
    code, result = in_process(args, capsys, check_mode=True)
    assert code == 0, result
    assert result["verdict"] == "passed"
    assert result["changed"] is False
    assert result["results"][0]["skipped"] is True
    assert result["results"][0]["message"] == (
        "not run in check mode (it writes a test agent and task)"
    )
    assert "sk_secret_value" not in json.dumps(result)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ({"checks": ["helth"]}, "checks: unknown check(s) helth; the checks are health, "),
        ({"severities": {"health": "urgent"}}, "unknown severity 'urgent'"),
        ({"validation_level": "paranoid"}, "value of validation_level must be one of"),
    ],
)
def test_bad_input_fails_naming_the_option(args, says, capsys):
    code, result = in_process(args, capsys)
    assert code == 1
    assert says in result["msg"]
