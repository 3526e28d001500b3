# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.ops.deploy_settings: the typed settings of a deploy or rollback, and its bad inputs."""

from __future__ import annotations

DOCUMENTATION = r"""
name: deploy_settings
short_description: A deploy's or rollback's settings from the variables given, each bad one named
description:
  - Takes the C(slipway_deploy_*) and C(slipway_rollback_*) variables a run was given (inventory
    and extra vars) and returns the typed settings deploy.yml and rollback.yml read, with a
    default for each one not given. C(problems) names every input that cannot be used (its
    value, what it must be), and every C(slipway_deploy_*) name that is not an input (a typo),
    so that the playbook refuses bad input before it takes the lock.
  - Each input's default, type and limits are defined once, in
    C(plugins/plugin_utils/_deploy_settings.py); docs/deploy.md lists them.
  - C(who) defaults to the controller's OS account and host name (not C($USER)), with the sudo
    user, and the AWX user and job when the run comes from AWX.
version_added: 0.2.0
author: Slipway maintainers (@slipway-ops)
positional: _input
options:
  _input:
    description: The variables given, by name (only the C(slipway_deploy_*) and
      C(slipway_rollback_*) ones are read, with the two named in the returned settings).
    type: dict
    required: true
  kind:
    description: V(deploy) or V(rollback).
    type: str
    required: true
  release:
    description: The release to ship or to go back to.
    type: str
    required: true
  app_hosts:
    description: The inventory's app hosts (the lock host must be one).
    type: list
    elements: str
    required: true
  validation_level:
    description: The environment's level (C(slipway_validation_level)) when the deploy names none.
    type: str
    default: standard
  fail_on:
    description: The environment's blocking severities (C(slipway_verify_fail_on)).
    type: raw
    default: [critical]
  job_id:
    description: The AWX job id, if any.
    type: str
    default: ''
  awx_user:
    description: The AWX user who launched the job, if any.
    type: str
    default: ''
  environment:
    description: The inventory's C(slipway_environment) (a release cannot be promoted from it).
    type: str
    default: ''
"""

EXAMPLES = r"""
- name: Settle the deploy's settings
  ansible.builtin.set_fact:
    __deploy: >-
      {{ dict(__names | zip(query('ansible.builtin.vars', *__names)))
         | slipway.ops.deploy_settings(kind='deploy', release=slipway_release,
                                       app_hosts=groups['app']) }}
  vars:
    __names: "{{ query('ansible.builtin.varnames', '^slipway_(deploy|rollback)_') }}"
"""

RETURN = r"""
_value:
  description: The settings (one key per input, see docs/deploy.md), C(kind), C(release),
    C(job_id), and C(problems), a list of sentences (empty when every input is good).
  type: dict
"""

from ansible_collections.slipway.ops.plugins.plugin_utils._deploy_settings import settle


def deploy_settings(given, kind, release, app_hosts, validation_level="standard",
                    fail_on=("critical",), job_id="", awx_user="", environment=""):  # fmt: skip
    return settle(
        dict(given or {}),
        kind=kind,
        release=release,
        app_hosts=list(app_hosts or []),
        validation_level=validation_level,
        fail_on=fail_on,
        job_id=str(job_id or ""),
        awx_user=str(awx_user or ""),
        environment=str(environment or ""),
    )


class FilterModule:
    def filters(self):
        return {"deploy_settings": deploy_settings}
