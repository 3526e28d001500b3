#!/usr/bin/env python3
"""The unit tests of what runs on hosts, under each target Python (3.8 to 3.13).

The modules and the module_utils they import run on the hosts' own Python, so
their tests (tests/unit/plugins/modules and module_utils) run under each target
interpreter too: in a venv of its own (.cache/targets/<version>) holding only
pytest and what the tests themselves import, with this collection and the
package of the ansible-core that serves that Python on PYTHONPATH, as a host
sees them (the toolchain's; for 3.8, which 2.20 dropped, 2.19's). Tests marked
`controller` drive the controller's commands (ansible, ansible-doc) and run in
`make unit` only. The venvs are made one by one, then two runs go at a time.

    python scripts/check_target_units.py           every target Python
    python scripts/check_target_units.py 3.8       one of them
Exit 0 when every run passes.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import sys
from pathlib import Path

from pythons import (
    ROOT,
    TARGETS,
    ansible_for_target,
    host_shim,
    interpreter,
    missing_interpreter,
    run_pytest,
    test_pins,
    venv_with,
)

# What the tests import, at releases that install on every target Python...
PACKAGES = ("pytest==8.3.5", "PyYAML==6.0.2", "cryptography==44.0.3")
# ...but SciPy (the statistics' reference), whose releases each drop a Python.
SCIPY = {"3.8": "1.10.1", "3.9": "1.13.1", "3.10": "1.15.3"}
TESTS = ("tests/unit/plugins/modules", "tests/unit/plugins/module_utils")


def target_venv(version: str) -> Path | None:
    python = interpreter(version)
    if python is None:
        print(missing_interpreter(version))
        return None
    scipy = (
        SCIPY.get(version) or next(p for p in test_pins() if p.startswith("scipy==")).split("==")[1]
    )
    pins = (*PACKAGES, f"scipy=={scipy}")
    return venv_with(ROOT / ".cache" / "targets" / version, python, pins, f"Python {version}")


def units(version: str, venv: Path) -> bool:
    core, package = ansible_for_target(version)
    folder = host_shim(package)
    env = {**os.environ, "PYTHONPATH": str(folder), "PYTHONDONTWRITEBYTECODE": "1"}
    args = [*TESTS, "-m", "not engine and not controller"]
    label = f"Python {version} (ansible-core {core}'s module_utils)"
    ok, said = run_pytest(venv, args, label, env)
    shutil.rmtree(folder)
    print(said, flush=True)  # one print: two runs go at a time
    return ok


def main(argv: list[str]) -> int:
    wanted = argv or list(TARGETS)
    # The venvs one by one (2.19's too, for 3.8), then the runs two at a time.
    venvs = {version: target_venv(version) for version in wanted}
    for version in wanted:
        ansible_for_target(version)
    failed = [version for version, venv in venvs.items() if venv is None]
    ready = [version for version in wanted if venvs[version] is not None]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda version: units(version, venvs[version]), ready))
    failed += [version for version, ok in zip(ready, results, strict=True) if not ok]
    if failed:
        print(f"the host code's unit tests failed under Python {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
