"""Shared test helpers: the repository root and a runner for Ansible commands."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

# What a shared machine may add to a wall-clock bound: CI has stalled this long.
# A test bounds a wait by the code's own limit plus STALL_SLACK, against a
# failing mode (no limit at all, or a peer that answers far later) that lies
# well beyond it; it never compares two runs' wall times.
STALL_SLACK = 5.0


def ansible_env(**extra: str) -> dict[str, str]:
    """The environment `make` gives Ansible: this checkout's ansible.cfg, no colour."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_FORCE_COLOR="false",
        ANSIBLE_NOCOLOR="true",
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update(extra)
    return env


def run(args: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout=900):
    """Run a command from the checkout, capturing text output (stderr folded in)."""
    return subprocess.run(
        args,
        cwd=cwd,
        env=env or ansible_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    """A TCP port nothing listens on at the moment, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
