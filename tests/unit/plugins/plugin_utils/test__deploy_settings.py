"""The deploy's inputs: each bad one named before the lock, defaults once, the holder."""

from __future__ import annotations

import re

import pytest
from ansible_collections.slipway.ops.plugins.module_utils import _vocabulary as vocabulary
from ansible_collections.slipway.ops.plugins.plugin_utils._deploy_settings import (
    INPUTS,
    PLAYBOOKS,
    operator,
    settle,
)

from tests.conftest import ROOT

HOSTS = ["app1", "app2"]


def settled(given=None, **kwargs):
    args = {"kind": "deploy", "release": "1.2.0", "app_hosts": HOSTS, **kwargs}
    return settle(given or {}, **args)


def test_nothing_given_gives_every_default_and_no_problem():
    settings = settled()
    assert settings["problems"] == []
    assert settings["gate_timeout"] == 120
    assert settings["gate_interval"] == 1.0
    assert settings["canary_soak"] == 40
    assert settings["validation_level"] == "standard"
    assert settings["fail_on"] == ["critical"]
    assert settings["lock_host"] == "app1"
    assert settings["lock_break"] is False
    assert re.fullmatch(r"deploy-\d{8}T\d{6}Z-[a-z0-9]{6}", settings["id"])
    assert settings["rollback_gate_successes"] == 2


def test_extra_vars_arrive_as_strings_and_are_typed():
    given = {
        "slipway_deploy_gate_interval": "0.5",
        "slipway_deploy_gate_timeout": "45",
        "slipway_deploy_lock_break": "true",
        "slipway_deploy_fail_on": "critical,high",
        "slipway_deploy_serial": "50%",
    }
    settings = settled(given)
    assert settings["problems"] == []
    assert (settings["gate_interval"], settings["gate_timeout"]) == (0.5, 45)
    assert settings["lock_break"] is True
    assert settings["fail_on"] == ["critical", "high"]
    assert settings["serial"] == "50%"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "slipway_deploy_gate_interval",
            "0",
            "slipway_deploy_gate_interval must be seconds from 0.1",
        ),
        (
            "slipway_deploy_gate_timeout",
            "abc",
            "slipway_deploy_gate_timeout must be a whole number",
        ),
        ("slipway_deploy_latency_p95_ms", 0, "slipway_deploy_latency_p95_ms must be milliseconds"),
        ("slipway_deploy_memory_max_percent", 120, "must be a whole percentage from 1 to 100"),
        (
            "slipway_deploy_golden_timeout",
            "-1",
            "slipway_deploy_golden_timeout must be whole seconds",
        ),
        ("slipway_deploy_fleet_soak", "ten", "slipway_deploy_fleet_soak must be a whole number"),
        ("slipway_deploy_serial", "0", "a host count (1, 2) or a percentage"),
        ("slipway_deploy_rollback_policy", "all", "must be fleet or host"),
        ("slipway_deploy_validation_level", "paranoid", "must be basic or standard or strict"),
        ("slipway_deploy_fail_on", ["critical", "urgent"], "must be a list of severities"),
        ("slipway_deploy_lock_ttl", 30, "slipway_deploy_lock_ttl must be whole seconds from 60"),
        ("slipway_deploy_lock_break", "maybe", "must be true or false"),
        ("slipway_deploy_id", "a b", "slipway_deploy_id must be letters"),
        (
            "slipway_rollback_gate_interval",
            "fast",
            "slipway_rollback_gate_interval must be a number",
        ),
        ("slipway_verify_backup_max_age_hours", "0", "slipway_verify_backup_max_age_hours must be"),
        ("slipway_release_ledger_dir", "var/lib", "must be an absolute path"),
    ],
)
def test_each_bad_input_is_named_with_its_value(variable, value, message):
    problems = settled({variable: value})["problems"]
    assert len(problems) == 1, problems
    assert message in problems[0]
    assert repr(value) in problems[0]


def test_a_misspelt_input_is_named_with_the_one_meant():
    problems = settled({"slipway_deploy_gate_timout": 30})["problems"]
    assert problems == [
        "slipway_deploy_gate_timout is not an input of deploy.yml or rollback.yml "
        "(did you mean slipway_deploy_gate_timeout?)."
    ]


def test_every_problem_is_reported_at_once():
    given = {"slipway_deploy_gate_interval": 0, "slipway_deploy_soak": -5}
    problems = settled(given, release="bad tag")["problems"]
    assert len(problems) == 3
    assert problems[0].startswith("slipway_release must name an image tag")


def test_a_reconcile_names_no_release_but_its_inputs_are_checked():
    settings = settled({"slipway_deploy_gate_interval": 0}, kind="reconcile", release="")
    assert re.fullmatch(r"reconcile-\d{8}T\d{6}Z-[a-z0-9]{6}", settings["id"])
    assert [p.split(" ")[0] for p in settings["problems"]] == ["slipway_deploy_gate_interval"]
    assert settings["title"] == f"Reconcile {settings['id']} (site.yml)"
    assert settings["playbook"] == "site.yml"


def test_every_kind_of_run_has_its_playbook():
    assert set(PLAYBOOKS) == set(vocabulary.KINDS)
    assert all((ROOT / "playbooks" / name).is_file() for name in PLAYBOOKS.values())


def test_the_lock_host_must_be_an_app_host():
    problems = settled({"slipway_deploy_lock_host": "db1"})["problems"]
    assert problems == ["slipway_deploy_lock_host must be an app host (app1, app2), got db1."]


def test_the_environments_level_and_severities_apply_unless_the_deploy_names_its_own():
    production = settled(validation_level="strict", fail_on=["critical", "high"])
    assert (production["validation_level"], production["fail_on"]) == (
        "strict",
        ["critical", "high"],
    )
    overridden = settled({"slipway_deploy_validation_level": "basic"}, validation_level="strict")
    assert overridden["validation_level"] == "basic"
    bad = settled(validation_level="strictest")["problems"]
    assert bad == ["slipway_validation_level must be basic or standard or strict, got 'strictest'."]


def test_the_holder_is_the_os_account_and_host_whatever_user_says(monkeypatch):
    monkeypatch.delenv("USER", raising=False)
    who = operator({})
    assert "unknown" not in who
    assert re.fullmatch(r"[^@\s]+@\S+", who)
    assert operator({"SUDO_USER": "alice"}).startswith("alice as ")
    awx = operator({}, awx_user="bob", job_id="42")
    assert awx.startswith("bob (AWX job 42) as ")


def test_promotion_inputs_are_checked_before_the_lock():
    assert settled()["promote_from"] == ""
    given = {
        "slipway_deploy_promote_from": "staging",
        "slipway_deploy_promotion_override": "  hotfix\n for INC-1 ",
    }
    settings = settled(given, environment="production")
    assert settings["problems"] == []
    assert (settings["promote_from"], settings["promotion_override"]) == (
        "staging",
        "hotfix for INC-1",
    )
    bad = settled(
        {
            "slipway_deploy_promote_from": "production",
            "slipway_deploy_promotion_override": "because",
        },
        environment="production",
    )
    assert bad["problems"] == [
        "slipway_deploy_promotion_override must be empty, or a reason of 10 characters or more "
        "(it is recorded), got 'because'.",
        "slipway_deploy_promote_from names this inventory's own environment (production): "
        "name the one before it (production's is staging), or leave it empty.",
    ]


def test_docs_deploy_lists_every_input_with_its_default():
    table = (ROOT / "docs" / "deploy.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z_0-9]+)` \| ([^|]+) \|", table, re.MULTILINE))
    for spec in INPUTS:
        assert spec.variable in rows, f"docs/deploy.md has no row for {spec.variable}"
        if spec.default is not None:
            shown = str(spec.default).lower() if isinstance(spec.default, bool) else spec.default
            said = "empty" if shown == "" else f"`{shown}`"
            assert rows[spec.variable].startswith(said), (spec.variable, rows[spec.variable])
