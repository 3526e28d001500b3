#!/usr/bin/env python3
"""The plugins' unit tests (tests/unit/plugins) under each supported ansible-core
other than the toolchain's own pin, which `make unit` runs.

Each ansible-core has a venv of its own (.cache/cores/<version>, scripts/pythons.py)
with the test requirements at requirements.txt's pins; the callback's tests run that venv's
ansible-playbook, so the audit callback is exercised by each ansible-core.

    python scripts/check_core_units.py          every supported ansible-core but the pin
    python scripts/check_core_units.py 2.21     one of them
Exit 0 when every run passes.
"""

from __future__ import annotations

import re
import sys

from pythons import CORES, ROOT, core_venv, run_pytest


def toolchain_core() -> str:
    """requirements.txt's ansible-core, X.Y; exits when CORES does not hold that release."""
    pin = re.search(
        r"^ansible-core==((\d+\.\d+)\.\d+)", (ROOT / "requirements.txt").read_text(), re.M
    )
    if not pin or CORES.get(pin.group(2), ("",))[0] != pin.group(1):
        sys.exit(
            f"requirements.txt pins ansible-core {pin.group(1) if pin else '(none)'}, which"
            f" scripts/pythons.py's CORES does not hold as the current release; make them agree"
        )
    return pin.group(2)


def units(minor: str) -> bool:
    args = [
        "tests/unit/plugins",
        "-m",
        "not engine",
        "--junitxml",
        f".cache/junit-core-{minor}.xml",
    ]
    ok, said = run_pytest(core_venv(minor), args, f"ansible-core {minor}: tests/unit/plugins")
    print(said, flush=True)
    return ok


def main(argv: list[str]) -> int:
    wanted = argv or [minor for minor in CORES if minor != toolchain_core()]
    unknown = [v for v in wanted if v not in CORES]
    if unknown:
        sys.exit(f"unknown ansible-core {unknown}; supported: {', '.join(CORES)}")
    failed = [minor for minor in wanted if not units(minor)]
    if failed:
        print(f"the plugins' unit tests failed under ansible-core {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
