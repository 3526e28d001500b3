# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.ops.awx_objects: Slipway's AWX objects as awx.awx module options, and their problems."""

from __future__ import annotations

DOCUMENTATION = r"""
name: awx_objects
short_description: Slipway's AWX objects (awx/*.yml) as the awx.awx modules' options
description:
  - Expands C(slipway_awx_objects), C(slipway_awx_job_templates) and C(slipway_awx_workflows)
    (awx/*.yml) into one list of module options per kind, in the order awx.yml applies them; an
    entry with C(environments) becomes one object per environment.
  - C(problems) lists, one sentence each, a missing secret, a name that refers to no object, a
    survey AWX would refuse (or with a password question), a deploy-type template that may run
    twice at once or be sliced, and a workflow that reaches production without an approval or has
    a node that can never run. awx.yml applies nothing while there is one.
  - The same code backs C(scripts/check_awx_objects.py), which also checks every object against
    its awx.awx module's argument spec (docs/awx.md).
version_added: 1.1.0
author: Slipway maintainers (@slipway-ops)
positional: _input
options:
  _input:
    description: C(slipway_awx_objects).
    type: dict
    required: true
  job_templates:
    description: C(slipway_awx_job_templates) (C(defaults) and C(templates)).
    type: dict
    required: true
  workflows:
    description: C(slipway_awx_workflows).
    type: list
    elements: dict
    required: true
  secrets:
    description: C(slipway_awx_secrets), the secret inputs keyed by the object's name.
    type: dict
    required: true
  playbooks:
    description: The playbooks at the project's top level (a template must name one).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Expand the objects
  ansible.builtin.set_fact:
    __awx: >-
      {{ slipway_awx_objects | slipway.ops.awx_objects(slipway_awx_job_templates,
           slipway_awx_workflows, slipway_awx_secrets, ['site.yml', 'deploy.yml']) }}
"""

RETURN = r"""
_value:
  description: One key per kind (organization, credential_type, credential, execution_environment,
    project, inventory, inventory_source, notification_template, job_template,
    workflow_job_template), each a list of module options, and C(problems), a list of sentences.
  type: dict
"""

from ansible_collections.slipway.ops.plugins.plugin_utils import _awx_rules
from ansible_collections.slipway.ops.plugins.plugin_utils._awx_objects import expand


def awx_objects(objects, job_templates, workflows, secrets, playbooks):
    expanded = expand(dict(objects), dict(job_templates), list(workflows), dict(secrets or {}))
    expanded["problems"] = _awx_rules.problems(expanded, set(playbooks))
    return expanded


class FilterModule:
    def filters(self):
        return {"awx_objects": awx_objects}
