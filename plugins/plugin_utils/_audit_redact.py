# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep secrets out of what the audit callback writes.

Variables whose name matches a pattern are replaced by a marker, at any depth,
and their values are remembered so that they are also cut out of any free
text written later (a failure message that echoes a password).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

REDACTED = "********"
DEFAULT_PATTERN = (
    r"(?i)(pass|secret|token|key|credential|private|auth|cookie|session|cert|vault|signature)"
)
# Values shorter than this are too likely to be ordinary words to scrub from text.
MIN_SCRUB_LENGTH = 4
MAX_TEXT = 1000


class Redactor:
    def __init__(self, pattern: str = DEFAULT_PATTERN, is_secret_value=None):
        """is_secret_value(value) -> bool marks values secret whatever their name (vaulted)."""
        self.pattern = re.compile(pattern)
        self.is_secret_value = is_secret_value or (lambda value: False)
        self.secrets: set[str] = set()

    def remember(self, value: object) -> None:
        """Note every string inside a secret value, so scrub() removes it from text."""
        if isinstance(value, Mapping):
            for item in value.values():
                self.remember(item)
        elif isinstance(value, list | tuple | set):
            for item in value:
                self.remember(item)
        elif value is not None and not isinstance(value, bool):
            try:
                text = str(value)
            except Exception:  # an undecryptable vault value: nothing readable to remember
                return
            if len(text) >= MIN_SCRUB_LENGTH:
                self.secrets.add(text)

    def redact(self, data: object, secret: bool = False) -> object:
        """A copy of data with the values under secret-looking names replaced."""
        if secret or self.is_secret_value(data):
            self.remember(data)
            return REDACTED
        if isinstance(data, Mapping):
            return {
                str(k): self.redact(v, secret=bool(self.pattern.search(str(k))))
                for k, v in data.items()
            }
        if isinstance(data, list | tuple | set):
            return [self.redact(item) for item in data]
        if data is None or isinstance(data, bool | int | str):
            return data
        return str(data)

    def scrub(self, text: object, limit: int = MAX_TEXT) -> str:
        """Free text with every remembered secret cut out, shortened to limit characters."""
        text = str(text)
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        if len(text) > limit:
            text = text[:limit] + "..."
        return text
