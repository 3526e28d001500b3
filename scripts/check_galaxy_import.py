#!/usr/bin/env python3
"""Build the collection as `ansible-galaxy collection build` does, and check the
artifact the way Galaxy and Automation Hub do on upload: galaxy-importer, in a
virtualenv of its own (.cache/galaxy-importer; its pins are not the toolchain's).
Then check that the artifact holds none of the lab's or the toolchain's files.

The importer's own ansible-lint run is off: `make lint` runs ansible-lint on the
checkout with the collections the collection depends on, which the importer's
sandbox does not have. ansible-test sanity is scripts/check_sanity.py's, also in `make lint`.

Exit 0 when the import has no error and the artifact nothing it must not ship.
"""

from __future__ import annotations

import subprocess  # nosec B404  # ansible-galaxy, pip and the importer, fixed arguments
import sys
import tarfile
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPORTER = "galaxy-importer==0.4.44"
HOME = ROOT / ".cache" / "galaxy-importer"
BUILD = ROOT / ".cache" / "build"
CONFIG = """[galaxy-importer]
RUN_ANSIBLE_TEST = False
RUN_ANSIBLE_LINT = False
"""
# What an installed collection must never carry (galaxy.yml's build_ignore).
NEVER = (
    "inventories/dev.vault-password",
    "inventories/dev/",
    "ansible.cfg",
    "app/",
    "images/",
    "scripts/",
    ".lab/",
    ".cache/",
    ".venv/",
    "tests/",
    "molecule/",
)


def importer() -> Path:
    """The importer's virtualenv, made once per pinned version."""
    stamp = HOME / "installed"
    python = HOME / "bin" / "python"
    if not stamp.is_file() or stamp.read_text() != IMPORTER:
        print(f"installing {IMPORTER} into {HOME.relative_to(ROOT)}", flush=True)
        venv.create(HOME, with_pip=True, clear=True)
        pip = subprocess.run(  # nosec B603
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", IMPORTER],
            capture_output=True,
            text=True,
            check=False,
        )
        if pip.returncode:
            sys.exit(f"pip install {IMPORTER} failed:\n{pip.stdout}{pip.stderr}")
        stamp.write_text(IMPORTER)
    return python


def build() -> Path:
    BUILD.mkdir(parents=True, exist_ok=True)
    for old in BUILD.glob("*.tar.gz"):
        old.unlink()
    subprocess.run(  # nosec B603
        [
            str(Path(sys.executable).with_name("ansible-galaxy")),
            "collection",
            "build",
            "--output-path",
            str(BUILD),
            str(ROOT),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (artifact,) = BUILD.glob("*.tar.gz")
    return artifact


def main() -> int:
    python = importer()
    artifact = build()
    with tarfile.open(artifact) as tar:
        names = tar.getnames()
    shipped = sorted(
        {never for never in NEVER for n in names if n == never.rstrip("/") or n.startswith(never)}
    )
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / "galaxy-importer.cfg"
        config.write_text(CONFIG)
        run = subprocess.run(  # nosec B603
            [str(python), "-m", "galaxy_importer.main", str(artifact)],
            cwd=scratch,
            env={
                "GALAXY_IMPORTER_CONFIG": str(config),
                "PATH": str(python.parent),
                "HOME": scratch,
            },
            capture_output=True,
            text=True,
            check=False,
        )
    lines = (run.stdout + run.stderr).splitlines()
    errors = [line for line in lines if line.startswith("ERROR")]
    warnings = [line for line in lines if line.startswith("WARNING")]
    size = artifact.stat().st_size // 1024
    print(
        f"{artifact.relative_to(ROOT)}: {len(names)} entries, {size} KiB; galaxy-importer: exit"
        f" {run.returncode}, {len(errors)} errors, {len(warnings)} warnings"
    )
    for line in errors + warnings:
        print(f"  {line}")
    for name in shipped:
        print(f"  ships {name}: add it to galaxy.yml's build_ignore")
    return 1 if run.returncode or errors or shipped else 0


if __name__ == "__main__":
    sys.exit(main())
