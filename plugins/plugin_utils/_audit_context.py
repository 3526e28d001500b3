# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who ran Slipway and with which toolkit: the local user or the AWX job, and the git sha."""

from __future__ import annotations

import getpass
import json
import re
import shutil
import socket
import subprocess  # nosec B404  # git, fixed arguments: names the toolkit's commit
from collections.abc import Mapping
from pathlib import Path


def _first(mapping: Mapping, *names: str):
    for name in names:
        value = mapping.get(name)
        if value not in (None, ""):
            return value
    return None


def who(env: Mapping[str, str], extra_vars: Mapping) -> dict:
    """The person or job behind a run.

    AWX (and Automation Controller) passes its job's metadata as extra vars
    (awx_* and tower_* names, from the job model's awx_meta_vars) and sets
    JOB_ID in the environment of ansible-playbook.
    """
    try:
        local = getpass.getuser()
    except (KeyError, OSError):
        local = "unknown"
    person = {"user": env.get("SUDO_USER") or local, "host": socket.gethostname()}
    if env.get("SUDO_USER"):
        person["as"] = local
    job_id = _first(extra_vars, "awx_job_id", "tower_job_id") or _first(env, "JOB_ID", "AWX_JOB_ID")
    awx_user = _first(extra_vars, "awx_user_name", "tower_user_name")
    if job_id is None and awx_user is None:
        person["source"] = "local"
        return person
    person["source"] = "awx"
    person["user"] = str(awx_user) if awx_user else f"awx job {job_id}"
    for key, names in {
        "awx_job_id": ("awx_job_id", "tower_job_id"),
        "awx_job_template": ("awx_job_template_name", "tower_job_template_name"),
        "awx_launch_type": ("awx_job_launch_type", "tower_job_launch_type"),
        "awx_schedule": ("awx_schedule_name", "tower_schedule_name"),
        "awx_workflow_job_id": ("awx_workflow_job_id", "tower_workflow_job_id"),
    }.items():
        value = _first(extra_vars, *names)
        if value is not None:
            person[key] = str(value)
    if job_id is not None:
        person.setdefault("awx_job_id", str(job_id))
    return person


def _git(root: Path, *args: str) -> str | None:
    git = shutil.which("git")
    if not git:
        return None
    try:
        done = subprocess.run(  # noqa: S603  # nosec B603  # fixed arguments, no shell
            [git, "-C", str(root), *args], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def toolkit(root: Path, extra_vars: Mapping) -> dict:
    """The toolkit's revision: git sha (and whether the checkout has local edits),
    else the AWX project revision, else the collection's version."""
    found: dict = {}
    sha = _git(root, "rev-parse", "HEAD")
    if sha:
        found["git_sha"] = sha
        status = _git(root, "status", "--porcelain", "--untracked-files=no")
        found["dirty"] = bool(status)
    else:
        revision = _first(extra_vars, "awx_project_revision", "tower_project_revision")
        if revision:
            found["git_sha"] = str(revision)
    found["version"] = _version(root)
    return found


def _version(root: Path) -> str | None:
    """The collection's version: MANIFEST.json when installed, galaxy.yml in a checkout."""
    try:
        manifest = root / "MANIFEST.json"
        if manifest.is_file():
            return json.loads(manifest.read_text())["collection_info"]["version"]
        galaxy = (root / "galaxy.yml").read_text()
    except (OSError, ValueError, KeyError):
        return None
    found = re.search(r"^version:\s*(\S+)", galaxy, re.MULTILINE)
    return found.group(1) if found else None
