"""Slipway's AWX objects, checked without a server: the modules' specs, AWX's survey rules,
the deploy-type rules and the promote workflow's graph; and awx.yml refusing bad objects
before it sends anything."""

from __future__ import annotations

import copy
import json
import sys

import pytest

from tests.conftest import ROOT, ansible_env, run

sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "collections"))

import check_awx_objects as checker
from ansible_collections.slipway.ops.plugins.plugin_utils import _awx_rules
from ansible_collections.slipway.ops.plugins.plugin_utils._awx_objects import KINDS, expand

pytestmark = pytest.mark.controller


@pytest.fixture(scope="module")
def specs():
    return checker.module_specs(KINDS)


@pytest.fixture
def data():
    return checker.load_objects(ROOT / "awx")


def problems_of(data, specs) -> list[str]:
    expanded = expand(
        data["slipway_awx_objects"],
        data["slipway_awx_job_templates"],
        data["slipway_awx_workflows"],
        None,
    )
    found = _awx_rules.problems(expanded, {path.name for path in ROOT.glob("*.yml")})
    found += checker.spec_problems(expanded, specs)
    found += checker.coverage_problems(
        expanded, checker.passed_options(ROOT / "playbooks" / "awx.yml")
    )
    return found


def template(data, name: str) -> dict:
    return next(t for t in data["slipway_awx_job_templates"]["templates"] if t["name"] == name)


def question(data, name: str, variable: str) -> dict:
    spec = template(data, name)["survey_spec"]["spec"]
    return next(q for q in spec if q["variable"] == variable)


def asks(template_name: str, asked: str, **change):
    """A change to one survey question of the data (the one asking for `asked`)."""
    return lambda d: question(d, template_name, asked).update(**change)


def test_the_objects_pass_every_check(data, specs):
    assert problems_of(data, specs) == []
    expanded = expand(
        data["slipway_awx_objects"],
        data["slipway_awx_job_templates"],
        data["slipway_awx_workflows"],
        None,
    )
    names = [t["name"] for t in expanded["job_template"]]
    for env in ("staging", "production"):
        for playbook in ("site", "deploy", "rollback", "verify", "backup", "restore"):
            assert f"Slipway {env} {playbook}" in names
    assert all(
        t["allow_simultaneous"] is False and t["job_slice_count"] == 1
        for t in expanded["job_template"]
    )
    assert question(data, "Slipway {env} restore", "restore_confirm")["required"] is True


def test_the_script_says_so(data):
    done = run([sys.executable, "scripts/check_awx_objects.py"])
    assert done.returncode == 0, done.stdout
    assert "every AWX object agrees with its module" in done.stdout


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            asks("Slipway {env} deploy", "slipway_deploy_serial", type="password"),
            "no password questions: AWX hands the answer to the playbook in clear",
        ),
        (
            asks("Slipway {env} deploy", "slipway_deploy_rollback_policy", default="all"),
            "default ['all'] is not among the choices ['fleet', 'host']",
        ),
        (
            asks("Slipway {env} deploy", "slipway_deploy_serial", min=5, max=4),
            "min 5 is over max 4",
        ),
        (
            asks("Slipway {env} deploy", "slipway_deploy_serial", default="12345"),
            "default '12345' is outside min/max length",
        ),
        (
            asks("Slipway {env} deploy", "slipway_deploy_serial", variable="slipway_release"),
            "variable slipway_release is asked twice",
        ),
        (
            asks("Slipway {env} deploy", "slipway_release", max=64),
            "slipway_release's max must be 128, the longest release deploy.yml takes, got 64",
        ),
        (
            asks("Slipway {env} verify", "slipway_validation_level", type="radio"),
            "type must be one of text, textarea, password, integer, float, multiplechoice, multi",
        ),
        (
            lambda d: template(d, "Slipway {env} backup").update(playbook="backups.yml"),
            "Slipway staging backup: playbook backups.yml is not in the project",
        ),
        (
            lambda d: d["slipway_awx_job_templates"]["defaults"]["credentials"].append(
                "Slipway {env} valt"
            ),
            "Slipway production site: credential 'Slipway production valt' is not defined here",
        ),
        (
            lambda d: d["slipway_awx_objects"]["project"].update(scm_urll="https://x"),
            "awx.awx.project 'Slipway': scm_urll is not an option of the module",
        ),
        (
            lambda d: d["slipway_awx_objects"]["inventory_sources"][0].update(
                overwrite="sometimes"
            ),
            "awx.awx.inventory_source 'Slipway staging from the project': argument 'overwrite' is",
        ),
        (
            lambda d: d["slipway_awx_objects"]["project"].update(scm_track_submodules=True),
            "playbooks/awx.yml's awx.awx.project task does not pass scm_track_submodules",
        ),
    ],
)
def test_each_broken_object_is_named(data, specs, change, said):
    change(data)
    found = problems_of(data, specs)
    assert any(said in problem for problem in found), found


def nodes(data) -> list[dict]:
    return data["slipway_awx_workflows"][0]["nodes"]


def node(data, identifier: str) -> dict:
    return next(n for n in nodes(data) if n["identifier"] == identifier)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            # verify-staging straight to the production deploy: the approval is skipped
            lambda d: node(d, "verify-staging").update(
                success=["deploy-production", "approve-production"]
            ),
            "node deploy-production reaches production with no approval before it",
        ),
        (
            lambda d: nodes(d).append(
                {"identifier": "stray", "job_template": "Slipway staging backup"}
            ),
            "want one first node, got ['deploy-staging', 'stray']",
        ),
        (
            lambda d: node(d, "verify-production").update(success=["deploy-staging"]),
            "want one first node, got none (a cycle)",
        ),
        (
            lambda d: node(d, "approve-production").update(success=["deploy-prod"]),
            "node approve-production leads to deploy-prod, not a node",
        ),
        (
            lambda d: node(d, "verify-production").update(job_template="Slipway production verfy"),
            "node verify-production runs 'Slipway production verfy', not a job template here",
        ),
    ],
)
def test_each_broken_workflow_is_named(data, specs, change, said):
    change(data)
    found = problems_of(data, specs)
    assert any(said in problem for problem in found), found


def test_a_cycle_below_the_first_node_is_found(data, specs):
    node(data, "verify-production").update(success=["approve-production"])
    found = problems_of(data, specs)
    assert "Slipway promote: a cycle through approve-production" in found


def test_deploy_type_rules_hold_whatever_the_data_says():
    sliced = {
        "name": "t",
        "playbook": "deploy.yml",
        "allow_simultaneous": True,
        "job_slice_count": 3,
    }
    assert _awx_rules.template_problems(sliced) == [
        "t: a deploy-type template must not run two jobs at once",
        "t: a deploy-type template is never sliced (slicing breaks run_once "
        "and the localhost plays)",
    ]


def test_every_missing_secret_is_named(data):
    secrets = {"Slipway staging machine": {"ssh_key_data": "KEY"}}
    expanded = expand(
        data["slipway_awx_objects"],
        data["slipway_awx_job_templates"],
        data["slipway_awx_workflows"],
        secrets,
    )
    assert "slipway_awx_secrets['Slipway production machine'] has no ssh_key_data: " in " ".join(
        expanded["problems"]
    )
    assert not any("'Slipway staging machine'" in p for p in expanded["problems"])
    staging = next(c for c in expanded["credential"] if c["name"] == "Slipway staging machine")
    assert staging["inputs"] == {"username": "slipway", "ssh_key_data": "KEY"}
    slack = next(n for n in expanded["notification_template"] if n["name"] == "Slipway Slack")
    assert "has no token" in " ".join(expanded["problems"])
    assert "token" not in slack["notification_configuration"]


def awx_yml(*extra: str, **env: str):
    # An inline inventory: awx.yml runs on the controller only.
    return run(["ansible-playbook", "awx.yml", "-i", "localhost,", *extra], env=ansible_env(**env))


def test_awx_yml_names_the_missing_connection_and_sends_nothing():
    done = awx_yml(CONTROLLER_HOST="")
    assert done.returncode != 0
    assert "CONTROLLER_HOST is not set: export CONTROLLER_HOST=https://<your AWX>" in done.stdout
    assert "Apply the organization" not in done.stdout


def test_awx_yml_refuses_missing_secrets_before_it_sends_anything(tmp_path):
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"slipway_awx_secrets": {"Slipway SCM": {"ssh_key_data": "x"}}}))
    # A closed port: a task that tried to reach AWX would fail differently, and later.
    done = awx_yml("-e", f"@{secrets}", CONTROLLER_HOST="https://127.0.0.1:9")
    said = " ".join(done.stdout.split())
    assert done.returncode != 0
    assert (
        "Nothing was sent to AWX: slipway_awx_secrets['Slipway staging machine'] has no "
        "ssh_key_data" in said
    )
    assert "slipway_awx_secrets['Slipway Slack'] has no token" in said
    assert "'Slipway SCM'" not in said.split("Nothing was sent to AWX")[1]
    assert "TASK [Apply the organization]" not in done.stdout


def test_objects_are_not_changed_by_expansion(data):
    before = copy.deepcopy(data)
    expand(
        data["slipway_awx_objects"],
        data["slipway_awx_job_templates"],
        data["slipway_awx_workflows"],
        {},
    )
    assert data == before
