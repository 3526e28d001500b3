#!/usr/bin/env python3
"""ansible-test sanity on the collection as it ships, under every supported ansible-core.

The tree ansible-test judges is the artifact `ansible-galaxy collection build` makes
(what Galaxy, Automation Hub and `ansible-galaxy collection install` get), unpacked
into .cache/sanity/<version>/ansible_collections/slipway/ops with tests/sanity beside
it, one tree per ansible-core (ansible-test writes into it), two runs at a time.
The repository's own code (app/, scripts/, tests/) is ruff's, bandit's and pytest's.

Offline but for the package index: ansible-test fetches a get-pip script from
ci-files.testing.ansible.com to put pip into the venvs it makes. The script it
would run is replaced by one that takes pip from the interpreter's own ensurepip,
then the version ansible-test asks for from the index.

Each ansible-core runs in a venv of its own (.cache/cores/<version>); the compile
and import tests run under each target Python (python3.X links to pyenv's).

    python scripts/check_sanity.py            every supported ansible-core
    python scripts/check_sanity.py 2.21       one of them
Exit 0 when every run is clean.
"""

from __future__ import annotations

import concurrent.futures
import shutil
import subprocess  # nosec B404  # ansible-galaxy and ansible-test, fixed arguments
import sys
import tarfile
import time
from pathlib import Path

from pythons import CORES, ROOT, core_venv, target_path

WORK = ROOT / ".cache" / "sanity"
# Stands in for get-pip.py: run as a module by ansible-test's quiet_pip.py, with
# pip's options and the packages to install (pip==X first) as its arguments.
GET_PIP = '''"""pip from ensurepip, then the version asked for from the package index."""
import subprocess, sys
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True,
               stdout=subprocess.DEVNULL)
sys.exit(subprocess.run([sys.executable, "-m", "pip", "install", "-q"] + args).returncode)
'''
# ansible-test's chatter on a passing run; everything else is printed.
QUIET = (
    "WARNING: Location ",
    "Collecting ",
    "Downloading ",
    "Processing ",
    "Installing ",
    "Successfully installed",
    "Looking in ",
    "Using cached pip",
    "Requirement already",
)


def build() -> Path:
    """The artifact, built afresh."""
    build = WORK / "build"
    shutil.rmtree(WORK, ignore_errors=True)
    build.mkdir(parents=True)
    galaxy = Path(sys.executable).with_name("ansible-galaxy")
    subprocess.run(  # nosec B603
        [str(galaxy), "collection", "build", "--output-path", str(build), str(ROOT)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return next(build.glob("*.tar.gz"))


def tree(artifact: Path, minor: str) -> Path:
    """The artifact unpacked, with tests/sanity, for one ansible-core's run."""
    path = WORK / minor / "ansible_collections" / "slipway" / "ops"
    path.mkdir(parents=True)
    with tarfile.open(artifact) as unpacked:
        unpacked.extractall(path, filter="data")
    shutil.copytree(ROOT / "tests" / "sanity", path / "tests" / "sanity")
    # A repository of its own: ansible-test lists files with git, and the checkout's
    # git would list none here (.cache is ignored).
    subprocess.run(["git", "init", "-q", str(path)], check=True)  # nosec B603 B607
    (path / ".gitignore").write_text("/tests/output/\n")
    return path


def home(minor: str) -> Path:
    """The HOME of one ansible-core's run: ansible-test keeps its venvs under
    ~/.ansible/test, named by their requirements, and two runs side by side
    that make the same one race (one finds the other's half-made venv)."""
    return WORK / "home" / minor


def bootstrap_pip(venv: Path, minor: str) -> None:
    """Put the get-pip stand-in where ansible-test looks for its cached download."""
    source = (venv / "lib").glob(
        "python3.*/site-packages/ansible_test/_internal/python_requirements.py"
    )
    version = next(
        line.split("'")[1] for line in next(source).read_text().splitlines() if "pip='" in line
    )
    cache = home(minor) / ".ansible" / "test" / "cache" / f"get_pip_{version.replace('.', '_')}.py"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(GET_PIP)


def sanity(minor: str, venv: Path, path: Path, search_path: str) -> tuple[bool, str]:
    """(clean?, what ansible-test said but its chatter) of one ansible-core's run."""
    env = {
        "PATH": search_path,
        "HOME": str(home(minor)),
        # pip's download cache is safe to share, and saves the index a round.
        "PIP_CACHE_DIR": str(Path.home() / ".cache" / "pip"),
        "LC_ALL": "C.UTF-8",
    }
    started = time.monotonic()
    run = subprocess.run(  # nosec B603
        [str(venv / "bin" / "ansible-test"), "sanity", "--venv", "--color", "no"],
        cwd=path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    said = [
        f"  {line}"
        for line in run.stdout.splitlines()
        if line.strip() and not line.strip().startswith((*QUIET, "━"))
    ]
    ok = run.returncode == 0
    said.append(
        f"ansible-core {minor}: sanity {'clean' if ok else 'FAILED'}"
        f" in {time.monotonic() - started:.0f} s"
    )
    return ok, "\n".join(said)


# What pip says when the package index dropped a download: the run is made
# again once (its half-made venvs removed), not failed on the network's behalf.
NETWORK_ERRORS = (
    "Connection reset by peer",
    "Connection broken",
    "ReadTimeoutError",
    "Could not install packages due to an OSError",
)


def sanity_retried(minor: str, venv: Path, path: Path, search_path: str) -> tuple[bool, str]:
    """sanity(), and once more when the package index failed it."""
    ok, said = sanity(minor, venv, path, search_path)
    if ok or not any(error in said for error in NETWORK_ERRORS):
        return ok, said
    shutil.rmtree(home(minor) / ".ansible" / "test" / "venv", ignore_errors=True)
    again_ok, again = sanity(minor, venv, path, search_path)
    note = f"ansible-core {minor}: the package index failed a download; sanity ran again"
    return again_ok, f"{said}\n{note}\n{again}"


def main(argv: list[str]) -> int:
    wanted = argv or list(CORES)
    unknown = [v for v in wanted if v not in CORES]
    if unknown:
        sys.exit(f"unknown ansible-core {unknown}; supported: {', '.join(CORES)}")
    artifact = build()
    # The venvs first, one by one (pip's output stays readable), then the runs.
    venvs = {minor: core_venv(minor) for minor in wanted}
    for minor, venv in venvs.items():
        bootstrap_pip(venv, minor)
    trees = {minor: tree(artifact, minor) for minor in wanted}
    search_path = target_path(WORK / "pythons")
    failed = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        runs = {
            pool.submit(sanity_retried, minor, venvs[minor], trees[minor], search_path): minor
            for minor in wanted
        }
        for done in concurrent.futures.as_completed(runs):
            ok, said = done.result()
            print(said, flush=True)
            if not ok:
                failed.append(runs[done])
    if failed:
        print(
            f"sanity failed under ansible-core {', '.join(sorted(failed))}; fix what it names"
            " above, or (only for a file installed on hosts, where the rule does not apply)"
            " add it to tests/sanity/ignore-<version>.txt with the reason"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
