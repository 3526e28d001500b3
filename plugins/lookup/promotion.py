# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.ops.promotion: was a release shipped to an earlier environment, by the audit log."""

from __future__ import annotations

DOCUMENTATION = r"""
name: promotion
short_description: Whether a release was promoted from an earlier environment, by the audit log
version_added: 1.1.0
author: Slipway maintainers (@slipway-ops)
description:
  - Reads the audit log that M(slipway.ops.audit) writes (the callback's own C(dir) and
    C(key_file) settings, unless O(dir) names another), verifies its chain, head and deploy
    index, and says whether the release's newest word in O(source) is a success.
  - A release is promoted when a deploy of it to O(source) ended C(success), not in check mode,
    and no later deploy of it there failed, was rolled back or interrupted, and no rollback
    moved O(source) off it. A log that does not verify promotes nothing.
  - deploy.yml uses it when C(slipway_deploy_promote_from) is set (docs/deploy.md, Promotion).
options:
  _terms:
    description: The release (image tag or digest).
    required: true
  source:
    description: The environment the release must have shipped to (its C(slipway_environment)).
    type: str
    required: true
  dir:
    description:
      - The audit directory to read. Defaults to the audit callback's C(dir) (ansible.cfg's
        C([callback_slipway_audit]), or C(SLIPWAY_AUDIT_DIR)).
    type: path
"""

EXAMPLES = r"""
- name: Refuse a release staging has not shipped
  ansible.builtin.assert:
    that: lookup('slipway.ops.promotion', slipway_release, source='staging').promoted
"""

RETURN = r"""
_raw:
  description: One mapping per term.
  type: list
  elements: dict
  contains:
    promoted:
      description: Whether the release is promoted from O(source).
      type: bool
    reason:
      description: The sentence that says why, naming the deploy it rests on.
      type: str
    deploy:
      description: The deploy outcome it rests on (docs/audit.md), or null.
      type: dict
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.slipway.ops.plugins.plugin_utils._audit_location import audit_settings
from ansible_collections.slipway.ops.plugins.plugin_utils._promotion import find


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        source = self.get_option("source")
        if not source:
            raise AnsibleLookupError(
                "source: name the environment the release must have shipped to"
            )
        directory, key = audit_settings(variables)
        if self.get_option("dir"):
            directory = self.get_option("dir")
        return [find(directory, str(term), source, key).as_dict() for term in terms]
