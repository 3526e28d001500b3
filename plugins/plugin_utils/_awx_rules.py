# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What AWX would refuse, or what would hurt a fleet, in Slipway's expanded AWX objects.

Without a server: surveys against the rules AWX applies to a survey spec
(awx/main/api/serializers.py, SurveySpec validation: types, min/max, choices,
defaults, unique variables), plus Slipway's own (no password questions: AWX
sends them to the playbook in clear and reuses them on relaunch); every name an
object refers to exists; deploy-type templates never run two at once and are
never sliced; the promote workflow's graph (no unreachable node, no cycle,
production only after an approval). Each problem is one sentence naming the object.
"""

from __future__ import annotations

import re

from ansible_collections.slipway.ops.plugins.plugin_utils._deploy_settings import RELEASE_MAX

SURVEY_TYPES = ("text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect")
TEXT_TYPES = ("text", "textarea", "password")
VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Playbooks that change the fleet or take Slipway's lock: one job at a time, never sliced.
DEPLOY_TYPE = ("site.yml", "deploy.yml", "rollback.yml", "restore.yml", "backup.yml")


def _choices(question: dict) -> list[str]:
    choices = question.get("choices")
    if isinstance(choices, str):
        return [c for c in choices.split("\n") if c]
    return [str(c) for c in choices or []]


def _number_bounds(where: str, question: dict, problems: list[str], cast) -> dict:
    bounds = {}
    for bound in ("min", "max"):
        if question.get(bound) is not None:
            try:
                bounds[bound] = cast(question[bound])
            except (TypeError, ValueError):
                problems.append(f"{where}: {bound} must be a number, got {question[bound]!r}")
    if len(bounds) == 2 and bounds["min"] > bounds["max"]:
        problems.append(f"{where}: min {bounds['min']} is over max {bounds['max']}")
    return bounds


def survey_problems(owner: str, survey: dict) -> list[str]:
    """The survey spec's problems, as AWX checks a spec on save, and ours."""
    problems: list[str] = []
    if not isinstance(survey.get("name"), str) or not isinstance(survey.get("description"), str):
        problems.append(f"{owner}: the survey needs a name and a description (strings)")
    spec = survey.get("spec")
    if not isinstance(spec, list) or not spec:
        return [*problems, f"{owner}: the survey's spec must be a non-empty list of questions"]
    seen = set()
    for number, question in enumerate(spec, start=1):
        where = f"{owner}: survey question {number} ({question.get('variable', '?')})"
        kind, variable = question.get("type"), question.get("variable")
        if not question.get("question_name"):
            problems.append(f"{where}: no question_name")
        if not isinstance(variable, str) or not VARIABLE.match(variable):
            problems.append(f"{where}: variable must be a variable name")
        elif variable in seen:
            problems.append(f"{where}: variable {variable} is asked twice")
        seen.add(variable)
        if not isinstance(question.get("required"), bool):
            problems.append(f"{where}: required must be true or false")
        if kind not in SURVEY_TYPES:
            problems.append(f"{where}: type must be one of {', '.join(SURVEY_TYPES)}, got {kind!r}")
            continue
        if kind == "password":
            problems.append(
                f"{where}: no password questions: AWX hands the answer to the playbook in clear "
                "and reuses it on relaunch; put the secret in a credential (Slipway deploy secrets)"
            )
        default = question.get("default")
        if kind in TEXT_TYPES:
            bounds = _number_bounds(where, question, problems, int)
            if isinstance(default, str) and default:
                if len(default) < bounds.get("min", 0) or len(default) > bounds.get("max", 1 << 30):
                    problems.append(f"{where}: default {default!r} is outside min/max length")
            elif default not in (None, ""):
                problems.append(f"{where}: default must be text, got {default!r}")
        elif kind in ("integer", "float"):
            cast = int if kind == "integer" else float
            bounds = _number_bounds(where, question, problems, cast)
            if default not in (None, ""):
                if not isinstance(default, (int, float)) or isinstance(default, bool):
                    problems.append(f"{where}: default must be a number, got {default!r}")
                elif not bounds.get("min", default) <= default <= bounds.get("max", default):
                    problems.append(f"{where}: default {default} is outside min/max")
        else:
            choices = _choices(question)
            if not choices:
                problems.append(f"{where}: a {kind} question needs choices")
            if len(set(choices)) != len(choices):
                problems.append(f"{where}: a choice is listed twice")
            picked = (
                [c for c in str(default).split("\n") if c]
                if kind == "multiselect" and isinstance(default, str)
                else default
                if isinstance(default, list)
                else [default]
            )
            wrong = [d for d in picked if d not in (None, "") and str(d) not in choices]
            if wrong:
                problems.append(f"{where}: default {wrong} is not among the choices {choices}")
    return problems


def _release_question(owner: str, survey: dict) -> list[str]:
    """A survey asking for slipway_release admits every release deploy.yml admits."""
    for question in survey.get("spec") or []:
        is_release = (
            question.get("variable") == "slipway_release" and question.get("type") == "text"
        )
        if is_release and question.get("max") != RELEASE_MAX:
            return [
                f"{owner}: slipway_release's max must be {RELEASE_MAX}, the longest release "
                f"deploy.yml takes, got {question.get('max')}"
            ]
    return []


def _missing(owner: str, what: str, names: list, known: set) -> list[str]:
    return [f"{owner}: {what} {name!r} is not defined here" for name in names if name not in known]


def reference_problems(objects: dict, playbooks: set[str]) -> list[str]:
    """Every name an object refers to is an object here (or AWX's own credential types)."""
    names = {kind: {o["name"] for o in objects[kind]} for kind in objects if kind != "problems"}
    builtin_types = {"Machine", "Vault", "Container Registry", "Source Control"}
    problems = []
    for cred in objects["credential"]:
        problems += _missing(
            cred["name"],
            "credential type",
            [cred["credential_type"]],
            names["credential_type"] | builtin_types,
        )
    for ee in objects["execution_environment"]:
        problems += _missing(ee["name"], "credential", [ee.get("credential")], names["credential"])
    for project in objects["project"]:
        problems += _missing(
            project["name"], "credential", [project.get("credential")], names["credential"]
        )
        problems += _missing(
            project["name"], "execution environment", [project.get("default_environment")],
            names["execution_environment"],
        )  # fmt: skip
    for source in objects["inventory_source"]:
        problems += _missing(source["name"], "inventory", [source["inventory"]], names["inventory"])
        problems += _missing(
            source["name"], "project", [source["source_project"]], names["project"]
        )
    for template in objects["job_template"]:
        owner = template["name"]
        if template["playbook"] not in playbooks:
            problems.append(f"{owner}: playbook {template['playbook']} is not in the project")
        problems += _missing(owner, "project", [template["project"]], names["project"])
        problems += _missing(owner, "inventory", [template["inventory"]], names["inventory"])
        problems += _missing(
            owner, "credential", template.get("credentials") or [], names["credential"]
        )
        problems += _missing(
            owner, "execution environment", [template["execution_environment"]],
            names["execution_environment"],
        )  # fmt: skip
    for owner in ("job_template", "workflow_job_template"):
        for template in objects[owner]:
            for when in ("error", "success", "started", "approvals"):
                problems += _missing(
                    template["name"], "notification template",
                    template.get(f"notification_templates_{when}") or [],
                    names["notification_template"],
                )  # fmt: skip
    return problems


def template_problems(template: dict) -> list[str]:
    """A job template's survey, and the deploy-type rules."""
    owner = template["name"]
    problems = []
    if template.get("survey_enabled"):
        problems += survey_problems(owner, template.get("survey_spec") or {})
        problems += _release_question(owner, template.get("survey_spec") or {})
    if template.get("playbook") in DEPLOY_TYPE:
        if template.get("allow_simultaneous") is not False:
            problems.append(f"{owner}: a deploy-type template must not run two jobs at once")
        if template.get("job_slice_count", 1) != 1 or template.get("ask_job_slice_count_on_launch"):
            problems.append(
                f"{owner}: a deploy-type template is never sliced (slicing breaks run_once "
                "and the localhost plays)"
            )
    return problems


def workflow_problems(workflow: dict, templates: dict[str, dict]) -> list[str]:
    """The graph: known nodes and templates, one root, every node reachable, no cycle, and
    production (a template on a production inventory) only after an approval on every path."""
    owner = workflow["name"]
    problems = []
    if workflow.get("survey_enabled"):
        problems += survey_problems(owner, workflow.get("survey_spec") or {})
        problems += _release_question(owner, workflow.get("survey_spec") or {})
    nodes = {n["identifier"]: n for n in workflow.get("workflow_nodes") or []}
    if len(nodes) != len(workflow.get("workflow_nodes") or []):
        problems.append(f"{owner}: a node identifier is used twice")
    children: dict[str, list[str]] = {}
    for ident, node in nodes.items():
        template = node["unified_job_template"]
        if template["type"] == "job_template" and template["name"] not in templates:
            problems.append(
                f"{owner}: node {ident} runs {template['name']!r}, not a job template here"
            )
        for targets in (node.get("related") or {}).values():
            for target in targets:
                if target["identifier"] not in nodes:
                    problems.append(
                        f"{owner}: node {ident} leads to {target['identifier']}, not a node"
                    )
                else:
                    children.setdefault(ident, []).append(target["identifier"])
    parents = {child for kids in children.values() for child in kids}
    roots = [ident for ident in nodes if ident not in parents]
    if len(roots) != 1:
        problems.append(f"{owner}: want one first node, got {roots or 'none (a cycle)'}")
    # Walk every path from the roots, noting whether an approval came before.
    reached: set[str] = set()

    def walk(ident: str, path: tuple[str, ...], approved: bool) -> None:
        if ident in path:
            problems.append(f"{owner}: a cycle through {ident}")
            return
        reached.add(ident)
        node = nodes[ident]["unified_job_template"]
        if node["type"] == "workflow_approval":
            approved = True
        elif not approved and _is_production(templates.get(node.get("name"), {})):
            problems.append(f"{owner}: node {ident} reaches production with no approval before it")
        for child in children.get(ident, []):
            walk(child, (*path, ident), approved)

    for root in roots:
        walk(root, (), False)
    for ident in nodes:
        if ident not in reached:
            problems.append(f"{owner}: node {ident} can never run (no path from the first node)")
    return problems


def _is_production(template: dict) -> bool:
    return "production" in str(template.get("inventory", "")).lower()


def problems(objects: dict, playbooks: set[str]) -> list[str]:
    """Every problem in the expanded objects."""
    found = list(objects.get("problems") or [])
    found += reference_problems(objects, playbooks)
    for template in objects["job_template"]:
        found += template_problems(template)
    templates = {t["name"]: t for t in objects["job_template"]}
    for workflow in objects["workflow_job_template"]:
        found += workflow_problems(workflow, templates)
    return found
