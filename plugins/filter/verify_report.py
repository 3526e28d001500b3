# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.ops.verify_report: one line per check of a slipway.ops.verify result."""

from __future__ import annotations

DOCUMENTATION = r"""
name: verify_report
short_description: One line per check of a slipway.ops.verify result
description:
  - Turns the registered result of M(slipway.ops.verify) into lines an operator reads at a
    glance (C(PASS), C(FAIL) or C(SKIP), the check, its severity and seconds, its message),
    then the verdict.
  - A result without checks (the task failed before running them) gives its C(msg).
version_added: 0.1.0
author: Slipway maintainers (@slipway-ops)
positional: _input
options:
  _input:
    description: The registered result of M(slipway.ops.verify).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Report each check
  ansible.builtin.debug:
    msg: "{{ __verify | slipway.ops.verify_report }}"
"""

RETURN = r"""
_value:
  description: The lines.
  type: list
  elements: str
"""


def verify_report(result: dict) -> list[str]:
    result = result or {}
    checks = result.get("results") or []
    if not checks:
        return [str(result.get("msg") or "no check ran")]
    lines = []
    for check in checks:
        word = "SKIP" if check.get("skipped") else "PASS" if check.get("passed") else "FAIL"
        took = float(check.get("execution_time") or 0)
        lines.append(
            f"{word} {check.get('test_name')} ({check.get('severity')}, {took:.1f} s): "
            f"{check.get('message')}"
        )
    summary = result.get("summary") or {}
    lines.append(
        f"{str(result.get('verdict', '?')).upper()} at level {result.get('validation_level')}: "
        f"{summary.get('passed', 0)} passed, {summary.get('failed', 0)} failed, "
        f"{summary.get('skipped', 0)} skipped"
    )
    return lines


class FilterModule:
    def filters(self):
        return {"verify_report": verify_report}
