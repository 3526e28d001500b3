# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a module that puts a list of things in place (slipway.ops.config_files, its files;
slipway.ops.services, its units) reports: changed when one changed, the list of what
changed (or would, in check mode) under `key`, and with --diff each one's diff."""

from __future__ import annotations


def exit_with_changes(module, changes: list[dict], key: str, field: str) -> None:
    """Exit the module with `changes` (each a dict holding `field` and its `diff`)."""
    result = {"changed": bool(changes), key: [change[field] for change in changes]}
    if module._diff:
        result["diff"] = [change["diff"] for change in changes]
    module.exit_json(**result)
