"""`ansible-galaxy collection build` makes an artifact that installs and works elsewhere."""

from __future__ import annotations

import os
import tarfile

from tests.conftest import ROOT, ansible_env, run


def test_artifact_installs_offline_and_runs_outside_the_checkout(tmp_path):
    built = run(["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path)])
    assert built.returncode == 0, built.stdout
    artifact = tmp_path / "slipway-ops-0.1.0.tar.gz"
    with tarfile.open(artifact) as tar:
        names = tar.getnames()
    assert "roles/lab/tasks/main.yml" in names
    assert "playbooks/deploy.yml" in names
    # Local state, tests and the checkout's self-link stay out of the artifact.
    leaked = [
        n for n in names if n.split("/")[0] in {".lab", ".venv", ".ansible", "tests", "collections"}
    ]
    assert leaked == [] or leaked == ["collections", "collections/requirements.yml"], leaked

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = ansible_env(ANSIBLE_COLLECTIONS_PATH=str(elsewhere / "collections"))
    env.pop("ANSIBLE_CONFIG")
    installed = run(
        [
            "ansible-galaxy",
            "collection",
            "install",
            "--offline",
            "-p",
            "collections",
            str(artifact),
        ],
        cwd=elsewhere,
        env=env,
    )
    assert installed.returncode == 0, installed.stdout
    assert (elsewhere / "collections/ansible_collections/slipway/ops/MANIFEST.json").is_file()

    # A playbook of the installed collection runs from a directory with no ansible.cfg.
    deploy = run(
        ["ansible-playbook", "slipway.ops.deploy", "-i", "localhost,", "-e", "slipway_release=v1"],
        cwd=elsewhere,
        env=env,
    )
    # An inventory without app hosts: refused, naming the group, from the installed collection.
    assert deploy.returncode != 0
    assert (
        "Release v1 was not deployed: the inventory has no host in the group app" in deploy.stdout
    ), deploy.stdout
    assert str(ROOT) not in deploy.stdout.replace(os.fspath(elsewhere), "")

    doc = run(["ansible-doc", "-t", "role", "slipway.ops.apt_proxy"], cwd=elsewhere, env=env)
    assert doc.returncode == 0, doc.stdout
    assert "apt_proxy_url" in doc.stdout
