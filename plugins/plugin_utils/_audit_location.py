# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the audit callback writes, as the callback resolves it (for the lookups that read it)."""

from __future__ import annotations

from pathlib import Path

from ansible import constants as C
from ansible.errors import AnsibleLookupError
from ansible.plugins.loader import callback_loader

AUDIT_CALLBACK = "slipway.ops.audit"


def audit_settings(variables) -> tuple[str, bytes | None]:
    """The audit callback's dir and HMAC key: ansible.cfg's [callback_slipway_audit],
    SLIPWAY_AUDIT_DIR and SLIPWAY_AUDIT_KEY_FILE, or the defaults."""
    callback = callback_loader.get(AUDIT_CALLBACK, class_only=True)
    if callback is None:
        raise AnsibleLookupError(f"the {AUDIT_CALLBACK} callback cannot be loaded")
    options = C.config.get_plugin_options("callback", callback._load_name, variables=variables)
    key = None
    if options.get("key_file"):
        try:
            key = Path(options["key_file"]).expanduser().read_bytes().strip()
        except OSError as error:
            raise AnsibleLookupError(f"cannot read the audit key_file: {error}") from error
    return str(Path(options["dir"]).expanduser()), key
