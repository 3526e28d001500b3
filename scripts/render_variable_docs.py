#!/usr/bin/env python3
"""Write docs/variables.md, the reference of every role variable, from the roles'
meta/argument_specs.yml and defaults/main.yml.

Usage: render_variable_docs.py [--check]
  --check  write nothing; exit 1 if docs/variables.md is not what would be written.
"""

from __future__ import annotations

import json
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


def main(argv: list[str]) -> int:
    text = render(ROOT / "roles")
    if "--check" in argv:
        if not DOCS.is_file() or DOCS.read_text() != text:
            print(f"{DOCS.relative_to(ROOT)} is stale: run scripts/render_variable_docs.py")
            return 1
        print(f"{DOCS.relative_to(ROOT)} is up to date")
        return 0
    DOCS.parent.mkdir(exist_ok=True)
    DOCS.write_text(text)
    print(f"wrote {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
