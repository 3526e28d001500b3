#!/usr/bin/env python3
"""Check that every role's meta/argument_specs.yml agrees with its defaults/main.yml.

Each public variable must have a default with the same value as its spec, a
type and a description, and a name that starts with the role's name. Prints one
line per problem, naming the role, the variable and the fix; exits 1 on any.
Usage: check_argument_specs.py [ROLES_DIR]   (default: roles/ beside this script)
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def _load(path: Path) -> dict:
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def spec_options(role_dir: Path) -> dict[str, dict]:
    """All options of every entry point of a role's argument specs."""
    specs = _load(role_dir / "meta" / "argument_specs.yml").get("argument_specs") or {}
    options: dict[str, dict] = {}
    for entry in specs.values():
        options.update((entry or {}).get("options") or {})
    return options


def check_role(role_dir: Path) -> list[str]:
    """Return the problems of one role, as lines an operator can act on."""
    role = role_dir.name
    where = f"roles/{role}"
    defaults = _load(role_dir / "defaults" / "main.yml")
    if not (role_dir / "meta" / "argument_specs.yml").is_file():
        return [f"{where}: meta/argument_specs.yml is missing (declare every input there)"]
    options = spec_options(role_dir)
    problems = []
    for name in sorted(set(defaults) - set(options)):
        problems.append(
            f"{where}: {name} is in defaults/main.yml but not in meta/argument_specs.yml "
            "(add it with type and description)"
        )
    for name, spec in sorted(options.items()):
        spec = spec or {}
        if name not in defaults and not spec.get("required", False):
            problems.append(
                f"{where}: {name} is in meta/argument_specs.yml but has no default in "
                "defaults/main.yml (add a default, or mark it required: true)"
            )
        if not name.startswith(f"{role}_"):
            problems.append(f"{where}: {name} must start with '{role}_' (house style rule 1)")
        for key in ("type", "description"):
            if key not in spec:
                problems.append(f"{where}: {name} has no {key} in meta/argument_specs.yml")
        if name in defaults and "default" in spec and spec["default"] != defaults[name]:
            problems.append(
                f"{where}: {name} defaults to {defaults[name]!r} in defaults/main.yml but "
                f"{spec['default']!r} in meta/argument_specs.yml (make them the same)"
            )
    return problems


def check_roles(roles_dir: Path) -> list[str]:
    problems: list[str] = []
    for role_dir in sorted(p for p in roles_dir.iterdir() if p.is_dir()):
        problems.extend(check_role(role_dir))
    return problems


def main(argv: list[str]) -> int:
    roles_dir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "roles"
    problems = check_roles(roles_dir)
    for line in problems:
        print(line)
    count = len(list(p for p in roles_dir.iterdir() if p.is_dir()))
    print(f"argument specs: {count} roles checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
