# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Slipway's AWX objects (awx/*.yml) expanded into the awx.awx modules' options.

One definition, used by awx.yml (through the slipway.ops.awx_objects filter)
and by scripts/check_awx_objects.py: an entry with `environments` becomes one
object per environment, `{env}` in its strings replaced; every object gets the
organization; job templates get their defaults (the project, the environment's
inventory and credentials, the execution environment) and the notifications. Secrets come
from a separate mapping, keyed by the object's name.
"""

from __future__ import annotations

import copy

# The order awx.yml applies them in: each refers only to kinds before it.
KINDS = (
    "organization",
    "credential_type",
    "credential",
    "execution_environment",
    "project",
    "inventory",
    "inventory_source",
    "notification_template",
    "job_template",
    "workflow_job_template",
)
# Keys of ours, read here and never sent to a module.
OURS = ("environments", "secret_inputs", "secret_configuration")


def _for_env(value, env: str):
    if isinstance(value, str):
        return value.replace("{env}", env)
    if isinstance(value, list):
        return [_for_env(item, env) for item in value]
    if isinstance(value, dict):
        return {key: _for_env(item, env) for key, item in value.items()}
    return value


def per_environment(entries: list[dict]) -> list[tuple[str, dict]]:
    """(environment or '', entry) for each object an entry stands for."""
    expanded = []
    for entry in entries or []:
        environments = entry.get("environments") or [""]
        for env in environments:
            expanded.append((env, _for_env(copy.deepcopy(entry), env) if env else dict(entry)))
    return expanded


def _strip(entry: dict) -> dict:
    return {key: value for key, value in entry.items() if key not in OURS}


def _with_secrets(entry: dict, field: str, wanted: str, secrets: dict, problems: list) -> dict:
    """The entry with its secret fields filled from secrets[name]; a missing one is a problem."""
    given = secrets.get(entry["name"]) or {}
    missing = [name for name in entry.get(wanted) or [] if not given.get(name)]
    if missing:
        problems.append(
            f"slipway_awx_secrets[{entry['name']!r}] has no {', '.join(missing)}: "
            f"add it to your secrets file (awx/secrets.yml.example)"
        )
    merged = _strip(entry)
    merged[field] = {**(entry.get(field) or {}), **given}
    return merged


def _survey(spec: dict | None) -> dict:
    if not spec:
        return {"survey_enabled": False}
    return {"survey_enabled": True, "survey_spec": spec}


def _node(node: dict, organization: str) -> dict:
    if "approval" in node:
        template = {"type": "workflow_approval", **node["approval"]}
    else:
        template = {
            "type": "job_template",
            "name": node["job_template"],
            "organization": {"name": organization},
        }
    return {
        "identifier": node["identifier"],
        "unified_job_template": template,
        "related": {
            f"{when}_nodes": [{"identifier": target} for target in node.get(when) or []]
            for when in ("success", "failure", "always")
        },
    }


def expand(objects: dict, job_templates: dict, workflows: list, secrets: dict | None) -> dict:
    """{kind: [module options]} and `problems` (missing secrets; with secrets None, none asked)."""
    check_secrets = secrets is not None
    secrets = secrets or {}
    problems: list[str] = []
    org = objects["organization"]["name"]
    out: dict = {kind: [] for kind in KINDS}
    out["organization"].append(dict(objects["organization"]))
    out["credential_type"] = [_strip(e) for e in objects.get("credential_types") or []]
    wanted = problems if check_secrets else []
    for _env, entry in per_environment(objects.get("credentials")):
        out["credential"].append(
            {
                **_with_secrets(entry, "inputs", "secret_inputs", secrets, wanted),
                "organization": org,
            }
        )
    for entry in objects.get("execution_environments") or []:
        out["execution_environment"].append({**_strip(entry), "organization": org})
    out["project"].append({**objects["project"], "organization": org})
    for _env, entry in per_environment(objects.get("inventories")):
        out["inventory"].append({**_strip(entry), "organization": org})
    for _env, entry in per_environment(objects.get("inventory_sources")):
        out["inventory_source"].append({**_strip(entry), "organization": org})
    notifications = []
    for entry in objects.get("notification_templates") or []:
        merged = _with_secrets(
            entry, "notification_configuration", "secret_configuration", secrets, wanted
        )
        out["notification_template"].append({**merged, "organization": org})
        notifications.append(entry["name"])
    defaults = job_templates.get("defaults") or {}
    for _env, entry in per_environment(
        [{**defaults, **t} for t in job_templates.get("templates") or []]
    ):
        out["job_template"].append(
            {
                **_strip(entry),
                "organization": org,
                # One job at a time, never sliced: slicing breaks run_once and the localhost plays.
                "allow_simultaneous": False,
                "job_slice_count": 1,
                "ask_variables_on_launch": False,
                "notification_templates_error": notifications,
                "notification_templates_success": notifications,
                **_survey(entry.get("survey_spec")),
            }
        )
    for entry in workflows or []:
        workflow = {
            key: value for key, value in entry.items() if key not in ("nodes", "survey_spec")
        }
        workflow.update(
            organization=org,
            allow_simultaneous=False,
            destroy_current_nodes=True,
            notification_templates_error=notifications,
            notification_templates_success=notifications,
            notification_templates_approvals=notifications,
            workflow_nodes=[_node(node, org) for node in entry["nodes"]],
            **_survey(entry.get("survey_spec")),
        )
        out["workflow_job_template"].append(workflow)
    out["problems"] = problems
    return out
