"""deploy.yml inside Slipway's execution environment, as AWX runs it: ansible-navigator with
the image `make ee` built (localhost/slipway/ee), on the lab.

The container runs as root on the host's network (the lab's hosts are SSH ports
on 127.0.0.1); the checkout is mounted as the project, as AWX mounts its
project. The fleet ends on the release it started on.
"""

from __future__ import annotations

import json
import subprocess

from tests.lab_deploy import (
    GOOD,
    OLD,
    QUICK,
    ROOT,
    ansible_env,
    fleet_on,
    lock_state,
    running_releases,
)

NAVIGATOR = ROOT / ".cache" / "ee-tools" / "bin" / "ansible-navigator"
VERSION = (ROOT / "galaxy.yml").read_text().split("\nversion:", 1)[1].split()[0]
IMAGE = f"localhost/slipway/ee:{VERSION}"


def test_a_release_ships_from_inside_the_execution_environment(tmp_path):
    before = set(running_releases().values())
    assert len(before) == 1, before
    (start,) = before
    target = GOOD if start == OLD else OLD
    artifact = tmp_path / "artifact.json"
    env = {**ansible_env(), "ANSIBLE_NAVIGATOR_LOG_FILE": str(tmp_path / "navigator.log")}
    done = subprocess.run(
        [
            str(NAVIGATOR), "run", "deploy.yml", "-i", "inventories/dev", "--mode", "stdout",
            "--eei", IMAGE, "--ce", "docker", "--pp", "never",
            "--co=--network=host", "--co=--user=0",
            "--pae", "true", "--pas", str(artifact),
            "-e", f"slipway_release={target}", *QUICK,
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert running_releases() == {"app1": target, "app2": target}
    assert lock_state()["active"] is False
    ran = json.loads(artifact.read_text())
    assert ran["status"] == "successful"
    # The run was the image's: navigator says which execution environment it used.
    settings = json.dumps(ran.get("settings_entries") or ran)
    assert IMAGE in settings, settings[:2000]
    # The audit log (the checkout's .cache/audit, mounted with the project) has the deploy.
    index = (ROOT / ".cache" / "audit" / "deploys.jsonl").read_text().splitlines()
    last = json.loads(index[-1])
    assert (last["release"], last["outcome"]) == (target, "success")

    # Back with a deploy, not a rollback: the ledgers end as the scenario always left
    # them (current GOOD, previous OLD), which integration's verify checks rely on.
    fleet_on(start)
