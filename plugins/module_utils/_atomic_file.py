# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replace a file whole or not at all, and durably: the one way Slipway's modules and
controller plugins write a file that something else reads (a host's ledger and lock,
the load balancer's rotation, the audit log's head, metrics for node_exporter).

The data goes to a temporary file in the same directory, which is fsynced, then
renamed over the old file; then the directory is fsynced, so that the rename itself
survives a crash. A reader sees the old file or the new one, never half of one, and
a failure anywhere leaves the old file and no temporary file behind.

The scripts the roles install on hosts (roles/*/files) are single files with no
collection to import from; each carries the same steps, held to the same tests
(tests/unit/plugins/module_utils/test__atomic_file.py).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def sync_directory(directory: Path) -> None:
    """fsync a directory: the entries renamed into it survive a crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(
    path: Path, data: bytes | str, mode: int = 0o644, owner: tuple[int, int] | None = None
) -> None:
    """Replace `path` with `data` (text is written as UTF-8), with permissions `mode` and,
    given, the owner `(uid, gid)`."""
    path = Path(path)
    body = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            if owner is not None:
                os.fchown(out.fileno(), *owner)
            os.fchmod(out.fileno(), mode)
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    sync_directory(path.parent)
