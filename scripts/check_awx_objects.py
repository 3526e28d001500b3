#!/usr/bin/env python3
"""Check Slipway's AWX objects (awx/*.yml) without an AWX server.

- every object's options against its awx.awx module's argument spec (from the
  module's documentation, which ansible-test holds to the spec), as the module
  would validate them on a real run;
- every option the objects use is passed by playbooks/awx.yml's task for that
  kind (an option dropped there would never reach AWX);
- the surveys, references, deploy-type rules and the workflow's graph
  (plugins/plugin_utils/_awx_rules.py, the rules awx.yml applies too).

Prints one line per problem and exits 1 on any. Needs the awx.awx collection
(scripts/ensure-awx-collection puts it in .cache/collections).
Usage: check_awx_objects.py [--awx-dir awx] [--playbook playbooks/awx.yml]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess  # nosec B404  # ansible-doc, fixed arguments
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "collections"))

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # noqa: E402
from ansible_collections.slipway.ops.plugins.plugin_utils import _awx_rules  # noqa: E402
from ansible_collections.slipway.ops.plugins.plugin_utils._awx_objects import (  # noqa: E402
    KINDS,
    expand,
)

# The connection options every awx.awx module takes; not ours to set.
CONNECTION = {
    "controller_host",
    "controller_username",
    "controller_password",
    "controller_oauthtoken",
    "controller_config_file",
    "validate_certs",
    "request_timeout",
}


class _Loader(yaml.SafeLoader):
    """YAML as Ansible reads it: !unsafe strings are strings."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load_objects(awx_dir: Path) -> dict:
    data: dict = {}
    for name in ("settings.yml", "objects.yml", "job_templates.yml"):
        text = (awx_dir / name).read_text()
        data.update(yaml.load(text, Loader=_Loader) or {})  # noqa: S506  # nosec B506 (a SafeLoader)
    return data


def module_specs(kinds) -> dict[str, dict]:
    """{kind: the module's documented options}, from one ansible-doc call."""
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": f"{ROOT / '.cache' / 'collections'}:{ROOT / 'collections'}",
    }
    names = [f"awx.awx.{kind}" for kind in kinds]
    done = subprocess.run(  # nosec B603
        [str(Path(sys.executable).parent / "ansible-doc"), "-j", *names],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    docs = json.loads(done.stdout or "{}") if done.returncode == 0 else {}
    missing = [name for name in names if name not in docs]
    if missing:
        sys.exit(
            f"cannot read {', '.join(missing)}: is the awx.awx collection in .cache/collections? "
            f"run scripts/ensure-awx-collection ({done.stderr.strip()[-300:]})"
        )
    return {kind: docs[f"awx.awx.{kind}"]["doc"]["options"] for kind in kinds}


def to_argument_spec(options: dict) -> dict:
    """ansible-doc's options as an argument_spec (types, choices, elements, suboptions)."""
    spec = {}
    for name, doc in options.items():
        entry = {key: doc[key] for key in ("type", "choices", "elements", "aliases") if key in doc}
        entry["required"] = bool(doc.get("required"))
        if entry.get("type") == "path":
            entry["type"] = "str"
        if "suboptions" in doc:
            entry["options"] = to_argument_spec(doc["suboptions"])
        spec[name] = entry
    return spec


def spec_problems(expanded: dict, specs: dict[str, dict]) -> list[str]:
    problems = []
    for kind in KINDS:
        validator = ArgumentSpecValidator(to_argument_spec(specs[kind]))
        for params in expanded[kind]:
            result = validator.validate(json.loads(json.dumps(params)))
            where = f"awx.awx.{kind} {params.get('name')!r}"
            for unknown in sorted(map(str, result.unsupported_parameters)):
                problems.append(f"{where}: {unknown} is not an option of the module")
            problems += [
                f"{where}: {error}"
                for error in result.errors
                if type(error).__name__ != "UnsupportedError"
            ]
    return problems


def passed_options(playbook: Path) -> dict[str, set[str]]:
    """{kind: the options playbooks/awx.yml's task for that kind passes}."""
    passed: dict[str, set[str]] = {}
    for play in yaml.safe_load(playbook.read_text()):
        for task in play.get("tasks") or []:
            for key, args in task.items():
                if key.startswith("awx.awx.") and isinstance(args, dict):
                    passed[key.removeprefix("awx.awx.")] = set(args)
    return passed


def coverage_problems(expanded: dict, passed: dict[str, set[str]]) -> list[str]:
    problems = []
    for kind in KINDS:
        used = {key for params in expanded[kind] for key in params}
        if kind not in passed:
            problems.append(f"playbooks/awx.yml has no awx.awx.{kind} task")
            continue
        for key in sorted(used - passed[kind]):
            problems.append(f"playbooks/awx.yml's awx.awx.{kind} task does not pass {key}")
    return problems


def check(awx_dir: Path, playbook: Path, specs: dict | None = None) -> list[str]:
    data = load_objects(awx_dir)
    expanded = expand(
        data["slipway_awx_objects"],
        data["slipway_awx_job_templates"],
        data["slipway_awx_workflows"],
        None,
    )
    playbooks = {path.name for path in ROOT.glob("*.yml")}
    problems = _awx_rules.problems(expanded, playbooks)
    problems += spec_problems(expanded, specs or module_specs(KINDS))
    problems += coverage_problems(expanded, passed_options(playbook))
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--awx-dir", type=Path, default=ROOT / "awx")
    parser.add_argument("--playbook", type=Path, default=ROOT / "playbooks" / "awx.yml")
    args = parser.parse_args()
    problems = check(args.awx_dir, args.playbook)
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{args.awx_dir}: every AWX object agrees with its module, AWX's rules and ours")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
