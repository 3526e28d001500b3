"""The deploy scenario's tests import the checkout's test helpers (tests/) and the
collection as Ansible does (collections/ansible_collections/slipway/ops links here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
for path in (ROOT, ROOT / "collections"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
