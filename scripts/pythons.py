"""Where the interpreters and the ansible-core releases of the test matrix come from.

Imported by the scripts beside it (scripts/ is on sys.path when one of them runs).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess  # nosec B404  # venv and pip, fixed arguments
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The Pythons that run the collection's host code (modules, module_utils, role scripts).
TARGETS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13")
# The ansible-core releases the collection supports: the current one and the two
# before it, each with the controller Python its venv is made with (2.20 and
# later need 3.12 or newer). The current one is requirements.txt's pin, the
# toolchain's (scripts/check_core_units.py checks that they agree).
CORES = {"2.21": ("2.21.5", "3.13"), "2.20": ("2.20.10", "3.13"), "2.19": ("2.19.14", "3.11")}
# The oldest target Python each ansible-core's module_utils accept (2.20 dropped 3.8).
TARGET_FLOOR = {"2.21": "3.9", "2.20": "3.9", "2.19": "3.8"}
# What the plugins' unit tests import beyond ansible-core, at requirements.txt's pins:
# every ansible-core's venv has them (scripts/check_core_units.py).
TEST_PACKAGES = (
    "pytest",
    "scipy",
    "ansible-runner",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-semantic-conventions",
)


def interpreter(version: str) -> str | None:
    """pyenv's newest X.Y.*, else python3.X on PATH (not a pyenv shim: that one runs
    only the versions pyenv's global setting names)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    installed = pyenv.glob(f"{version}.*/bin/python{version}")
    # By patch number, not by text: 3.8.18 is newer than 3.8.9.
    newest = max(
        installed, key=lambda p: [int(x) for x in re.findall(r"\d+", p.parts[-3])], default=None
    )
    if newest:
        return str(newest)
    found = shutil.which(f"python{version}")
    return found if found and "/shims/" not in found else None


def missing_interpreter(version: str) -> str:
    return (
        f"Python {version}: no interpreter (python{version} on PATH or pyenv's); install it"
        f" (pyenv install {version})"
    )


def lock_pins() -> tuple[str, ...]:
    """Every `name==version` requirements.txt pins."""
    text = (ROOT / "requirements.txt").read_text()
    return tuple(re.findall(r"^[A-Za-z0-9][A-Za-z0-9._-]*==\S+", text, re.MULTILINE))


def test_pins() -> tuple[str, ...]:
    """TEST_PACKAGES as requirements.txt pins them."""
    pinned = {pin.split("==")[0].lower(): pin for pin in lock_pins()}
    missing = [name for name in TEST_PACKAGES if name.lower() not in pinned]
    if missing:
        sys.exit(f"requirements.txt pins no {missing[0]}; add it (make lock) or drop it here")
    return tuple(pinned[name.lower()] for name in TEST_PACKAGES)


def core_venv(minor: str) -> Path:
    """The venv of ansible-core `minor` and the test packages, under .cache/cores, made
    once per set of pins; exits saying why when it cannot be made."""
    version, python_version = CORES[minor]
    python = interpreter(python_version)
    if python is None:
        sys.exit(
            missing_interpreter(python_version) + f", the controller Python of ansible-core {minor}"
        )
    pins = (f"ansible-core=={version}", *test_pins())
    home = ROOT / ".cache" / "cores" / minor
    return venv_with(home, python, pins, f"ansible-core {minor}", lock_constraints())


def lock_constraints() -> tuple[str, ...]:
    """requirements.txt's pins but ansible-core's and ansible's: what ansible-core and the
    test packages pull in comes at the lock's versions too, not the index's newest (a
    cryptography released since the lock made ansible-core 2.19 and 2.20 print a
    deprecation warning before ansible-doc's JSON, and a unit test failed on it)."""
    return tuple(pin for pin in lock_pins() if not re.match(r"(?i)ansible(-core)?==", pin))


def venv_with(
    home: Path, python: str, pins: tuple[str, ...], label: str, constraints: tuple[str, ...] = ()
) -> Path:
    """A venv at `home` made by `python` with `pins` installed, and what they pull in held
    to `constraints`; made again only when either changes (a stamp file holds them). Exits
    saying why when pip fails."""
    stamp = home / ".installed"
    wanted = "\n".join((*pins, *constraints))
    if stamp.is_file() and stamp.read_text() == wanted:
        return home
    print(f"{label}: making {home.relative_to(ROOT)} ({Path(python).name})", flush=True)
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    held = home / "constraints.txt"
    held.write_text("".join(f"{pin}\n" for pin in constraints))
    pip = [str(home / "bin" / "python"), "-m", "pip", "install", "-q", "-c", str(held)]
    for command in (
        [python, "-m", "venv", str(home)],
        [*pip, "--disable-pip-version-check", *pins],
    ):
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # nosec B603
        if done.returncode:
            sys.exit(f"{label}: {' '.join(command[:4])} failed:\n{done.stdout}{done.stderr}")
    stamp.write_text(wanted)
    return home


def run_pytest(
    venv: Path, args: list[str], label: str, env: dict[str, str] | None = None
) -> tuple[bool, str]:
    """pytest with `args` in `venv`, from the checkout: (passed?, one report line, with
    the output's tail when it failed). The caller prints it (runs may go in parallel)."""
    started = time.monotonic()
    run = subprocess.run(  # nosec B603
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    summary = (run.stdout.strip().splitlines() or ["(no output)"])[-1]
    said = f"{label}: {summary} ({time.monotonic() - started:.0f} s)"
    if run.returncode:
        said += f"\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
    return run.returncode == 0, said


def target_path(folder: Path) -> str:
    """PATH with `folder` first, holding a python3.X link to each target interpreter, so
    that a tool which looks for python3.X finds pyenv's, not its shim (and nothing else
    on PATH changes)."""
    folder.mkdir(parents=True, exist_ok=True)
    for version in TARGETS:
        link, python = folder / f"python{version}", interpreter(version)
        if python and not link.exists():
            link.symlink_to(python)
    return os.pathsep.join([str(folder), os.environ.get("PATH", "")])


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def ansible_for_target(version: str) -> tuple[str, Path]:
    """(ansible-core X.Y, its `ansible` package) that serves a host with Python
    `version`: the toolchain's own, else the newest supported ansible-core whose
    module_utils still accept that Python (its venv is made when missing)."""
    import ansible  # the toolchain's; scripts run in .venv

    own = ".".join(ansible.__version__.split(".")[:2])
    for minor in sorted(CORES, key=_key, reverse=True):
        if _key(TARGET_FLOOR[minor]) > _key(version):
            continue
        if minor == own:
            return minor, Path(ansible.__file__).parent
        return minor, next(core_venv(minor).glob("lib/python3.*/site-packages/ansible"))
    sys.exit(f"no supported ansible-core accepts Python {version} on hosts")


def host_shim(ansible_package: Path) -> Path:
    """A folder that holds what a host's module sees: ansible-core's package and this
    collection, by symbolic link (the caller removes it)."""
    folder = Path(tempfile.mkdtemp(prefix="slipway-host-"))
    (folder / "ansible").symlink_to(ansible_package)
    (folder / "ansible_collections" / "slipway").mkdir(parents=True)
    (folder / "ansible_collections" / "slipway" / "ops").symlink_to(ROOT)
    return folder
