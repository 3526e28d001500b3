# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.ops.deploy_report: the last deploys and the deploy figures, from the audit log."""

from __future__ import annotations

DOCUMENTATION = r"""
name: deploy_report
short_description: The last deploys and the deploy figures, from the audit log's deploy index
version_added: 1.1.0
author: Slipway maintainers (@slipway-ops)
description:
  - Reads the deploy index (C(deploys.jsonl)) in the audit directory of M(slipway.ops.audit) (the
    callback's own C(dir), unless O(dir) names another).
  - Returns the last O(last) deploys and rollbacks, newest first, with outcome, trigger and
    duration, and per environment over the last O(window_days) days the success ratio, the mean
    and p95 deploy time, the deploy frequency, the change failure ratio and the time to restore;
    the callback publishes the same figures as metrics (docs/audit.md).
  - report.yml prints it with each app host's release (docs/deploy.md, The deploy report).
options:
  last:
    description: How many deploys and rollbacks to list.
    type: int
    default: 10
  window_days:
    description: The window of the figures, in days.
    type: int
    default: 30
  releases:
    description: The release each app host runs (from its ledger), for the report's first lines.
    type: dict
    default: {}
  dir:
    description: The audit directory to read (default the callback's).
    type: path
"""

EXAMPLES = r"""
- name: Print the deploy report
  ansible.builtin.debug:
    msg: "{{ lookup('slipway.ops.deploy_report', last=20).figures }}"
"""

RETURN = r"""
_raw:
  description: One mapping.
  type: list
  elements: dict
  contains:
    recent:
      description: The last deploys, newest first (id, kind, environment, release, outcome, trigger,
        seconds, finished_at, who).
      type: list
      elements: dict
    figures:
      description: Per environment, the window's figures (null where there is no data).
      type: dict
    window_days:
      description: The window, in days.
      type: int
    notes:
      description: What could not be read (no index, a damaged line).
      type: list
      elements: str
    lines:
      description: The report as text, one line each, O(releases) first.
      type: list
      elements: str
"""

import time

from ansible.plugins.lookup import LookupBase
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_location import audit_settings
from ansible_collections.slipway.ops.plugins.plugin_utils._deploy_report import (
    lines,
    read_index,
    report,
)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        directory = self.get_option("dir") or audit_settings(variables)[0]
        deploys, notes = read_index(directory)
        found = report(
            deploys,
            time.time(),
            last=self.get_option("last"),
            window_days=self.get_option("window_days"),
        )
        said = [*lines(found, dict(self.get_option("releases"))), *notes]
        return [{**found, "notes": notes, "lines": said}]
