#!/usr/bin/env python3
"""Write docs/variables.md, the reference of every role variable, from the roles'
meta/argument_specs.yml and defaults/main.yml; and each role's README.md (what
Galaxy shows and its importer requires), from the same specs and from the plays
of playbooks/ that apply the role.

Usage: render_variable_docs.py [--check]
  --check  write nothing; exit 1 if a file is not what would be written.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "variables.md"


def _cell(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text.strip().replace("|", "\\|").replace("\n", " ")


def render(roles_dir: Path) -> str:
    lines = [
        "# Role variables",
        "",
        "Generated from each role's `meta/argument_specs.yml` and `defaults/main.yml` by",
        "`scripts/render_variable_docs.py`; `make lint` fails when this file is stale.",
    ]
    for role_dir in sorted(p for p in roles_dir.iterdir() if p.is_dir()):
        specs = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())
        defaults = yaml.safe_load((role_dir / "defaults" / "main.yml").read_text()) or {}
        main = specs["argument_specs"]["main"]
        lines += ["", f"## {role_dir.name}", "", _cell(main.get("short_description", "")), ""]
        lines += ["| variable | type | default | description |", "|---|---|---|---|"]
        for name, spec in main.get("options", {}).items():
            kind = spec.get("type", "")
            if kind == "list" and "elements" in spec:
                kind = f"list of {spec['elements']}"
            if "choices" in spec:
                kind += " (" + ", ".join(map(str, spec["choices"])) + ")"
            shown = _cell(defaults.get(name, "")) or '""'
            default = "required" if spec.get("required") else f"`{shown}`"
            description = spec.get("description", "")
            if isinstance(description, list):
                description = " ".join(description)
            lines.append(f"| `{name}` | {kind} | {default} | {_cell(description)} |")
    return "\n".join(lines) + "\n"


def _prose(text: str) -> str:
    """ansible-doc's markup (C(x), V(x), O(x), I(x)) as Markdown code."""
    return re.sub(r"\b[CVOI]\(([^()]*)\)", r"`\1`", " ".join(text.split()))


def applied_by(role: str) -> list[tuple[str, str, str]]:
    """(playbook, hosts, tasks_from or "") of each play of playbooks/ that applies the role."""
    found = []
    for playbook in sorted((ROOT / "playbooks").glob("*.yml")):
        for play in yaml.safe_load(playbook.read_text()) or []:
            if not isinstance(play, dict) or "hosts" not in play:
                continue
            for entry in play.get("roles", []):
                if (
                    entry.get("role") if isinstance(entry, dict) else entry
                ) == f"slipway.ops.{role}":
                    found.append((playbook.name, play["hosts"], ""))
            for task in play.get("tasks", []):
                if not isinstance(task, dict):
                    continue
                hosts = play["hosts"]
                called = task.get("ansible.builtin.import_role", {})
                # An include that applies a role to a group of a play of every host
                # (site.yml's free play); a looped one names its roles in the loop.
                if "ansible.builtin.include_role" in task and (
                    _group(task.get("when")) or hosts == "all"
                ):
                    called = task["ansible.builtin.include_role"]
                    hosts = _group(task.get("when")) or hosts
                names = (
                    task.get("loop", []) if "{{" in called.get("name", "") else [called.get("name")]
                )
                if f"slipway.ops.{role}" in names:
                    found.append((playbook.name, hosts, called.get("tasks_from", "")))
    return found


def _group(when) -> str:
    """The group of a task's `'<group>' in group_names` condition, else ""."""
    found = re.fullmatch(r"""'([\w-]+)' in group_names""", str(when or "").strip())
    return found.group(1) if found else ""


def render_readme(role_dir: Path) -> str:
    specs = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())
    main = specs["argument_specs"]["main"]
    role = role_dir.name
    description = main.get("description", [])
    if isinstance(description, str):
        description = [description]
    plays = applied_by(role)
    whole = [on for _, on, tasks_from in plays if not tasks_from]
    hosts = whole[0] if whole else "all"
    lines = [
        f"# slipway.ops.{role}",
        "",
        f"{_prose(main.get('short_description', ''))}.",
        "",
        *[f"- {_prose(item)}" for item in description],
        "",
        "## Use",
        "",
        "```yaml",
        f"- name: Apply slipway.ops.{role}",
        f"  hosts: {hosts}",
        "  roles:",
        f"    - role: slipway.ops.{role}",
        "```",
        "",
    ]
    if plays:
        where = "; ".join(
            f"`playbooks/{book}` on the `{on}` hosts" + (f" (its {part} tasks)" if part else "")
            for book, on, part in plays
        )
        lines += [f"In this collection, applied by {where}.", ""]
    lines += [
        "## Variables",
        "",
        "Every variable, its type, default and meaning:"
        f" [docs/variables.md](../../docs/variables.md#{role}), generated from"
        " `meta/argument_specs.yml`, which also checks them when the role starts.",
    ]
    guide = ROOT / "docs" / f"{role}.md"
    if guide.is_file():
        lines += ["", f"The role's guide: [docs/{role}.md](../../docs/{role}.md)."]
    lines += [
        "",
        "This file is generated by `scripts/render_variable_docs.py` from the role's"
        " argument specs.",
    ]
    return "\n".join(lines) + "\n"


def outputs() -> dict[Path, str]:
    """Every file this script writes, and what it holds."""
    roles = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir())
    return {DOCS: render(ROOT / "roles")} | {r / "README.md": render_readme(r) for r in roles}


def main(argv: list[str]) -> int:
    stale = [
        path for path, text in outputs().items() if not path.is_file() or path.read_text() != text
    ]
    if "--check" in argv:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run scripts/render_variable_docs.py")
        if not stale:
            print(f"{DOCS.relative_to(ROOT)} and the roles' README.md are up to date")
        return 1 if stale else 0
    for path, text in outputs().items():
        if path in stale:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
