"""The audit callback on a run against the lab hosts: a record per host, metrics per host."""

from __future__ import annotations

import json

from tests.conftest import VENV_BIN, ansible_env, run
from tests.integration.conftest import PLATFORM_HOSTS

PLAYBOOK = """---
- name: Touch every lab host without changing it
  hosts: lb:app:db:monitoring
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
    - name: Run a read-only command
      ansible.builtin.command: "true"
      changed_when: false
"""
SECRET = "lab-Planted-S3cret"  # noqa: S105 - the planted secret the test greps for


def test_a_lab_run_is_audited_per_host(tmp_path):
    playbook = tmp_path / "touch.yml"
    playbook.write_text(PLAYBOOK)
    audit = tmp_path / "audit"
    result = run(
        ["ansible-playbook", "-i", "inventories/dev", str(playbook), "-e", f"lab_token={SECRET}"],
        env=ansible_env(SLIPWAY_AUDIT_DIR=str(audit)),
    )
    assert result.returncode == 0, result.stdout
    found = [json.loads(line) for line in (audit / "audit.jsonl").read_text().splitlines()]
    tasks = [r for r in found if r["type"] == "task"]
    assert {r["host"] for r in tasks} == PLATFORM_HOSTS
    assert len(tasks) == 2 * len(PLATFORM_HOSTS)
    assert found[0]["inventory"][0].endswith("inventories/dev")
    assert found[-1]["outcome"] == "success"
    verify = run([str(VENV_BIN / "python"), "scripts/audit_verify.py", str(audit / "audit.jsonl")])
    assert verify.returncode == 0, verify.stdout
    metrics = (audit / "metrics" / "slipway_playbook_touch.prom").read_text()
    for host in PLATFORM_HOSTS:
        assert f'{{host="{host}",playbook="touch",status="ok"}} 2' in metrics
    for path in (p for p in audit.rglob("*") if p.is_file()):
        assert SECRET not in path.read_text(), path
