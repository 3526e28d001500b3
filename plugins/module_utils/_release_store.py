# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release state directory on a host: a guard flock, JSON reads, durable atomic writes.

The only file I/O behind slipway.ops.release. Every read-decide-write of
ledger.json or lock.json happens while holding an exclusive flock on
`<dir>/.guard`, so two runs on one host (two controllers, two AWX jobs)
cannot both decide that the deploy lock is free. Writes are atomic and
durable (_atomic_file): a reader sees the old state or the new one, never
half of either, and a power cut after the run does not lose a release the
run reported.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from ansible_collections.slipway.ops.plugins.module_utils._atomic_file import write_atomic

LEDGER_NAME = "ledger.json"
LOCK_NAME = "lock.json"
GUARD_NAME = ".guard"
DIR_MODE = 0o750
FILE_MODE = 0o640


class StoreError(Exception):
    """The state directory or one of its files cannot be used; the message says why."""


def ensure_dir(path: Path) -> bool:
    """Create the state directory (mode 0750) if missing; True when it was created."""
    if path.is_dir():
        return False
    try:
        path.mkdir(mode=DIR_MODE, parents=True)
    except FileExistsError:
        if not path.is_dir():
            raise StoreError(f"{path} exists and is not a directory") from None
        return False
    os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask
    return True


@contextlib.contextmanager
def guarded(path: Path, *, create: bool = True, timeout: float = 30.0, poll: float = 0.05):
    """Hold the directory's guard flock for the block.

    With create false (check mode, query) a missing directory or guard file
    is not created and there is nothing to hold. Gives up after `timeout`
    seconds with a message saying which file is held, instead of hanging a deploy.
    """
    guard = path / GUARD_NAME
    flags = os.O_RDWR | os.O_CREAT if create else os.O_RDONLY
    try:
        fd = os.open(guard, flags, FILE_MODE)
    except FileNotFoundError:
        if create:
            raise
        fd = None
    except PermissionError as err:
        raise StoreError(f"cannot open {guard}: {err.strerror} (run with become: true)") from None
    if fd is None:
        yield
        return
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"another slipway.ops.release run has held {guard} for more than "
                        f"{timeout:g} s; is one stuck? (fuser -v {guard})"
                    ) from None
                time.sleep(poll)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def read_json(path: Path) -> dict | None:
    """The JSON object in a file, or None when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as err:
        raise StoreError(f"cannot read {path}: {err.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as err:
        raise StoreError(
            f"{path} is not valid JSON ({err}); nothing was changed. Inspect it, "
            "then move it aside to start it afresh"
        ) from None
    if not isinstance(data, dict):
        raise StoreError(f"{path} holds a JSON {type(data).__name__}, not an object")
    return data


def write_json(path: Path, data: dict) -> None:
    """Replace a file with `data` as JSON, whole or not at all, and make it durable."""
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n", FILE_MODE)


def format_time(moment: datetime) -> str:
    """The files' time format: ISO-8601 UTC to the second, `2026-11-23T05:00:00Z`."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """A time written by format_time (or any ISO-8601 time with a zone) as an aware datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment
