# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What slipway.ops.config_files does with its list of files, directories, links and
paths to remove: plan reads each entry and says what differs, validate runs each changed
file's check on its new content, apply puts one change in place (a file or a link whole,
by rename)."""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import stat
import tempfile
from pathlib import Path

from ansible_collections.slipway.ops.plugins.module_utils._atomic_file import write_atomic

# A diff shows text this long at most; a longer file's diff says so instead.
DIFF_LIMIT = 64 * 1024


class Refused(Exception):
    """An entry that cannot be put in place; nothing was changed."""


def _id(lookup, field: str, kind: str, name: str, path: str, check_mode: bool):
    """A user's or group's number; in check mode, one not there yet is its name (a package
    earlier in the run would have made it)."""
    try:
        return getattr(lookup(name), field)
    except KeyError:
        if check_mode:
            return name
        raise Refused(f"files: {path}: no such {kind} ({name}); create it first.") from None


def _wanted(entry: dict, check_mode: bool) -> dict:
    """The entry's owner, group and mode as numbers, or Refused naming what is wrong."""
    path = entry["path"]
    try:
        mode = int(entry["mode"], 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o7777:
        raise Refused(
            f"files: {path}: mode {entry['mode']!r} is not octal permissions (e.g. '0644')."
        )
    uid = _id(pwd.getpwnam, "pw_uid", "user", entry["owner"], path, check_mode)
    gid = _id(grp.getgrnam, "gr_gid", "group", entry["group"], path, check_mode)
    return {"uid": uid, "gid": gid, "mode": mode}


def _attributes(st: os.stat_result) -> dict:
    return {"uid": st.st_uid, "gid": st.st_gid, "mode": stat.S_IMODE(st.st_mode)}


def _name(lookup, field: str, number):
    """The name of a user's or group's number where the host knows it, else what was given
    (a number, or in check mode the name of one not made yet)."""
    try:
        return getattr(lookup(number), field)
    except (KeyError, TypeError):
        return number


def _shown(attrs: dict) -> dict:
    """Owner, group and mode as a diff shows them."""
    return {
        "owner": _name(pwd.getpwuid, "pw_name", attrs["uid"]),
        "group": _name(grp.getgrgid, "gr_name", attrs["gid"]),
        "mode": f"{attrs['mode']:04o}",
    }


def _text(data: bytes | None) -> str:
    if data is None:
        return ""
    if len(data) > DIFF_LIMIT:
        return f"[{len(data)} bytes, over the diff's limit of {DIFF_LIMIT}]\n"
    return data.decode("utf-8", errors="replace")


def _missing(path: str) -> list[str]:
    """`path` and those of its parents that do not exist, deepest first."""
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    return missing


def plan(files: list[dict], check_mode: bool = False) -> list[dict]:
    """What each entry needs: a list of changes (path, state, new content or None, whether it
    exists, wanted attributes, validate, and the diff). Reads only; raises Refused for an
    entry that cannot be made. In check mode a missing directory is not refused: an earlier
    task of the run (a package that owns it) would have made it."""
    changes = []
    made = set()
    for entry in files:
        if not os.path.isabs(entry["path"]):
            raise Refused(f"files: {entry['path']!r} is not an absolute path.")
        if entry["state"] in ("absent", "link"):
            change = _plan_link_or_absent(entry, made, check_mode)
            changes += [change] if change else []
            continue
        wanted = _wanted(entry, check_mode)
        path = entry["path"]
        directory = entry["state"] == "directory"
        # A directory's symbolic link is followed (as ansible.builtin.file does); a file's is
        # replaced by the file (as ansible.builtin.template does: Debian 13 ships
        # /etc/default/locale as a link to /etc/locale.conf).
        try:
            st = os.stat(path) if directory else os.lstat(path)
        except FileNotFoundError:
            st = None
        link = os.readlink(path) if st is not None and stat.S_ISLNK(st.st_mode) else None
        if st is None and not directory:
            _need_parent(path, made, check_mode)
        if st is not None and link is None and stat.S_ISDIR(st.st_mode) != directory:
            kind = "a directory" if directory else "a file"
            raise Refused(f"files: {path} exists and is not {kind}; move it away first.")
        if directory:
            made.update(_missing(path))
        new = None if directory else entry["content"].encode("utf-8")
        old = None if st is None or directory or link else Path(path).read_bytes()
        before = None if st is None or link else _attributes(st)
        if new == old and before == wanted:
            continue
        diff = {"before_header": path, "after_header": path}
        if st is None:
            diff.update(
                before={"state": "absent"}, after={"state": entry["state"], **_shown(wanted)}
            )
            if not directory:
                diff.update(before="", after=_text(new))
        elif link is not None:
            diff.update(before=f"[a symbolic link to {link}]\n", after=_text(new))
        elif new != old:
            diff.update(before=_text(old), after=_text(new))
        else:
            diff.update(before=_shown(before), after=_shown(wanted))
        changes.append(
            {
                "path": path,
                "state": entry["state"],
                "content": None if new == old else new,
                "exists": st is not None,
                "wanted": wanted,
                "validate": entry.get("validate"),
                "diff": diff,
            }
        )
    return changes


def _need_parent(path: str, made: set, check_mode: bool) -> None:
    """Refused when the path's directory is not there nor made by an entry before it. In
    check mode it is not refused: an earlier task of the run (a package that owns it) would
    have made it."""
    parent = os.path.dirname(path)
    if not (os.path.isdir(parent) or parent in made or check_mode):
        raise Refused(f"files: {path}: its directory {parent} does not exist; list it first.")


def _plan_link_or_absent(entry: dict, made: set, check_mode: bool) -> dict | None:
    """An entry that is absent, or a symbolic link to `src`: its change, None when none.
    A link's directory must be there, or made by an entry before it (as a file's)."""
    path = entry["path"]
    if entry["state"] == "link":
        _need_parent(path, made, check_mode)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise Refused(
            f"files: {path} is a directory; state {entry['state']} replaces only a file or a link."
        )
    link = os.readlink(path) if st is not None and stat.S_ISLNK(st.st_mode) else None
    src = entry.get("src") if entry["state"] == "link" else None
    if (st is None and src is None) or (src is not None and link == src):
        return None
    if st is None:
        before = {"state": "absent"}
    else:
        before = {"state": "link", "src": link} if link is not None else {"state": "file"}
    after = {"state": "link", "src": src} if src is not None else {"state": "absent"}
    return {
        "path": path,
        "state": entry["state"],
        "src": src,
        "content": None,
        "exists": st is not None,
        "validate": None,
        "diff": {"before_header": path, "after_header": path, "before": before, "after": after},
    }


def validate(change: dict, run_command) -> None:
    """Run the entry's validate command on its new content; Refused with its output."""
    command = change["validate"]
    if not command or change["content"] is None:
        return
    if "%s" not in command:
        raise Refused(f"files: {change['path']}: validate must contain %s (got {command!r}).")
    # Not beside the file: a directory read whole (sudoers.d, conf.d) would load it.
    fd, tmp = tempfile.mkstemp(prefix="slipway-validate.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(change["content"])
        rc, out, err = run_command(shlex.split(command.replace("%s", shlex.quote(tmp))))
    finally:
        os.unlink(tmp)
    if rc != 0:
        raise Refused(
            f"files: {change['path']}: the new content failed {command!r} (rc {rc}): "
            f"{(err or out).strip()} Nothing was changed."
        )


def apply(change: dict) -> None:
    path = change["path"]
    if change["state"] == "absent":
        os.unlink(path)
        return
    if change["state"] == "link":
        # A new link beside it, renamed over it: the path is never missing.
        tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.slipway-link")
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(change["src"], tmp)
        os.replace(tmp, path)
        return
    wanted = change["wanted"]
    owner = (wanted["uid"], wanted["gid"])
    if change["content"] is not None:
        write_atomic(Path(path), change["content"], wanted["mode"], owner)
    elif not change["exists"]:
        # As ansible.builtin.file does: the directories made on the way get the same
        # owner and mode.
        for made in reversed(_missing(path)):
            os.mkdir(made, wanted["mode"])
            os.chown(made, *owner)
            os.chmod(made, wanted["mode"])
    else:
        os.chown(path, *owner)
        os.chmod(path, wanted["mode"])
