"""The argument-spec check catches every way defaults and specs drift apart."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location(
    "check_argument_specs", ROOT / "scripts" / "check_argument_specs.py"
)
checker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(checker)


def make_role(tmp_path: Path, defaults: str, specs: str, name: str = "demo") -> Path:
    role = tmp_path / name
    (role / "defaults").mkdir(parents=True)
    (role / "meta").mkdir()
    (role / "defaults" / "main.yml").write_text(textwrap.dedent(defaults))
    (role / "meta" / "argument_specs.yml").write_text(textwrap.dedent(specs))
    return role


GOOD_SPECS = """
    argument_specs:
      main:
        options:
          demo_port: {type: int, default: 80, description: Port.}
"""


def test_every_role_in_the_repository_is_in_sync():
    assert checker.check_roles(ROOT / "roles") == []


def test_a_role_in_sync_has_no_problem(tmp_path):
    role = make_role(tmp_path, "demo_port: 80\n", GOOD_SPECS)
    assert checker.check_role(role) == []


@pytest.mark.parametrize(
    ("defaults", "specs", "expected"),
    [
        (
            "demo_port: 80\ndemo_extra: 1\n",
            GOOD_SPECS,
            "demo_extra is in defaults/main.yml but not in meta/argument_specs.yml",
        ),
        ("{}\n", GOOD_SPECS, "demo_port is in meta/argument_specs.yml but has no default"),
        ("demo_port: 8080\n", GOOD_SPECS, "demo_port defaults to 8080 in defaults/main.yml but 80"),
        (
            "demo_port: 80\n",
            GOOD_SPECS.replace("type: int, ", ""),
            "demo_port has no type",
        ),
        (
            "demo_port: 80\n",
            GOOD_SPECS.replace(", description: Port.", ""),
            "demo_port has no description",
        ),
        (
            "port: 80\n",
            GOOD_SPECS.replace("demo_port", "port"),
            "port must start with 'demo_'",
        ),
    ],
)
def test_drift_is_reported_naming_role_and_variable(tmp_path, defaults, specs, expected):
    role = make_role(tmp_path, defaults, specs)
    problems = checker.check_role(role)
    assert any(expected in line and line.startswith("roles/demo: ") for line in problems), problems


def test_a_required_option_needs_no_default(tmp_path):
    specs = GOOD_SPECS.replace("default: 80, ", "required: true, ")
    role = make_role(tmp_path, "{}\n", specs)
    assert checker.check_role(role) == []


def test_a_role_without_specs_is_reported(tmp_path):
    role = make_role(tmp_path, "demo_port: 80\n", "")
    (role / "meta" / "argument_specs.yml").unlink()
    assert checker.check_role(role) == [
        "roles/demo: meta/argument_specs.yml is missing (declare every input there)"
    ]


def test_main_exits_non_zero_on_drift(tmp_path, capsys):
    make_role(tmp_path, "demo_port: 8080\n", GOOD_SPECS)
    assert checker.main(["check", str(tmp_path)]) == 1
    assert "1 roles checked, 1 problems" in capsys.readouterr().out
