#!/usr/bin/python
# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.ops.services: a role's systemd units enabled and started in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: services
short_description: Enable, disable, start and stop several systemd units in one module run
version_added: 0.1.0
description:
  - Reads every unit of O(units) with one C(systemctl show) and changes only what differs from
    what each entry wants. C(ansible.builtin.systemd_service) takes a module run for each unit;
    a role's no-op re-run spent one for every service it keeps running.
  - Units to enable are enabled in one C(systemctl enable), units to disable in one
    C(systemctl disable); then each unit to start or stop is started or stopped on its own, so
    that a failure names it (and the units changed before it).
  - A unit that is not on the host, or is masked, fails the task before anything is changed,
    naming the unit and the fix.
  - A unit whose file state is C(static), C(alias), C(indirect), C(generated) or C(transient) is
    enabled already as far as C(systemctl is-enabled) goes, and no C(systemctl disable) changes
    it; it is left as it is.
author: Slipway maintainers (@slipway-ops)
attributes:
  check_mode:
    description:
      - Reports what would change, with a diff, and changes nothing. A unit not on the host yet
        counts as a change (a package earlier in the run would have installed it); a real run
        fails on it.
    support: full
  diff_mode:
    description: Each changed unit's enabled state and active state, before and after.
    support: full
options:
  units:
    description: The units, each with what it should be.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The unit's name (C(.service) when it has no suffix).
        type: str
        required: true
      enabled:
        description:
          - V(true) - started at boot; V(false) - not. Not given - left as it is.
        type: bool
      state:
        description:
          - V(started) - running now (started when it is not); V(stopped) - not running.
            Not given - left as it is (a unit that cannot run here, only enabled).
          - One of O(units[].enabled) and O(units[].state) is needed.
        type: str
        choices: [started, stopped]
  daemon_reload:
    description:
      - Run C(systemctl daemon-reload) first (a unit file changed earlier in the run). Not in
        check mode.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Enable and start the monitoring services
  slipway.ops.services:
    units:
      - {name: prometheus, enabled: true, state: started}
      - {name: prometheus-alertmanager, enabled: true, state: started}
    daemon_reload: true

- name: Enable chrony (in a container it declines to start, so only enable it there)
  slipway.ops.services:
    units:
      - name: chrony
        enabled: true
        state: "{{ omit if in_container else 'started' }}"
"""

RETURN = r"""
changed_units:
  description: The units that changed (or would, in check mode), in the order of O(units).
  returned: always
  type: list
  elements: str
  sample: [prometheus]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.slipway.ops.plugins.module_utils._change_report import exit_with_changes
from ansible_collections.slipway.ops.plugins.module_utils._services import (
    Refused,
    apply,
    parse_show,
    plan,
    show_command,
)

ARGUMENT_SPEC = {
    "units": {
        "type": "list",
        "elements": "dict",
        "required": True,
        "options": {
            "name": {"type": "str", "required": True},
            "enabled": {"type": "bool"},
            "state": {"type": "str", "choices": ["started", "stopped"]},
        },
    },
    "daemon_reload": {"type": "bool", "default": False},
}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    units = module.params["units"]
    names = [unit["name"] for unit in units]
    if not names:
        module.exit_json(changed=False, changed_units=[])
    try:
        if module.params["daemon_reload"] and not module.check_mode:
            rc, out, err = module.run_command(["systemctl", "daemon-reload"])
            if rc != 0:
                raise Refused(f"systemctl daemon-reload failed (rc {rc}): {(err or out).strip()}")
        rc, out, err = module.run_command(show_command(names))
        if rc != 0:
            raise Refused(f"systemctl show failed (rc {rc}): {(err or out).strip()}")
        changes = plan(units, parse_show(out, names), module.check_mode)
        if not module.check_mode:
            apply(changes, module.run_command)
    except Refused as err:
        # Only a start or stop that failed leaves units changed before it.
        module.fail_json(msg=str(err), changed=bool(err.done), changed_units=err.done)
    exit_with_changes(module, changes, "changed_units", "name")


if __name__ == "__main__":
    main()
