"""slipway.ops.promotion in Ansible: it reads the log where the audit callback writes it."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ansible_env, run
from tests.unit.plugins.plugin_utils.test__promotion import run as audited_run

pytestmark = pytest.mark.controller


def promotion(env: dict, release: str = "1.2.0", source: str = "staging") -> dict:
    term = f"lookup('slipway.ops.promotion', '{release}', source='{source}')"
    args = ["ansible", "localhost", "-m", "ansible.builtin.debug", "-a", f"msg={{{{ {term} }}}}"]
    result = run(args, env={**env, "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"})
    assert result.returncode == 0, result.stdout
    said = result.stdout.split("=>", 1)[1]
    return json.loads(said)["msg"]


def test_it_reads_the_callbacks_dir_and_key(tmp_path):
    key = tmp_path / "audit.key"
    key.write_bytes(b"s" * 32 + b"\n")
    shipped = audited_run(tmp_path / "audit", release="1.2.0", key=b"s" * 32)
    env = ansible_env(SLIPWAY_AUDIT_DIR=str(tmp_path / "audit"), SLIPWAY_AUDIT_KEY_FILE=str(key))
    found = promotion(env)
    assert found["promoted"] is True
    assert found["deploy"]["id"] == shipped
    assert promotion(env, release="1.3.0")["promoted"] is False
    assert (
        promotion(env, source="qa")["reason"]
        == "release 1.2.0 has no successful deploy to qa on record"
    )


def test_without_the_key_the_keyed_log_promotes_nothing(tmp_path):
    audited_run(tmp_path / "audit", release="1.2.0", key=b"s" * 32)
    found = promotion(ansible_env(SLIPWAY_AUDIT_DIR=str(tmp_path / "audit")))
    assert found["promoted"] is False
    assert "give the key" in found["reason"]
