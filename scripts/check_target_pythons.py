#!/usr/bin/env python3
"""Import everything that runs on hosts under each target Python, 3.8 to 3.13.

Modules run on the hosts' own Python, as ansible-core's targets do: Ubuntu 22.04
has 3.10, RHEL 9 has 3.9, ansible-core supports targets from 3.8. So the
modules, the module_utils they import and the scripts the roles install must
import there. `vermin` (make lint) finds what a newer Python added; this runs
the code: each file is imported by each interpreter, with ansible-core's
module_utils beside it as on a host.

The interpreters: python3.X on PATH, else pyenv's (PYENV_ROOT, or ~/.pyenv).
SLIPWAY_TARGET_PYTHONS="3.11 3.12" checks a subset (a machine without pyenv).
Exit 0 when every file imports under every interpreter, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess  # nosec B404  # the target interpreters, fixed arguments
import sys
import time

from pythons import ROOT, TARGETS, ansible_for_target, host_shim, interpreter, missing_interpreter

COLLECTION = "ansible_collections.slipway.ops"

# Run by each target interpreter: import every file, print what failed as JSON.
CHILD = """
import importlib, importlib.util, json, sys, traceback
sys.path[0:0] = [sys.argv[2]]
failed = []
for kind, name, path in json.loads(sys.argv[1]):
    try:
        if kind == "package":
            importlib.import_module(name)
        else:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
    except BaseException as error:
        where = traceback.extract_tb(error.__traceback__)[-1]
        failed.append([path, f"{type(error).__name__}: {error} (line {where.lineno})"])
print(json.dumps(failed))
"""


def host_code() -> list[tuple[str, str, str]]:
    """(kind, import name, path) of every file that runs on hosts."""
    files = []
    for folder in ("modules", "module_utils"):
        for path in sorted((ROOT / "plugins" / folder).glob("*.py")):
            if path.name != "__init__.py":
                name = f"{COLLECTION}.plugins.{folder}.{path.stem}"
                files.append(("package", name, str(path.relative_to(ROOT))))
    for path in sorted(ROOT.glob("roles/*/files/**/*.py")):
        files.append(("script", f"slipway_script_{path.stem}", str(path.relative_to(ROOT))))
    return files


def check(version: str, files: list) -> int:
    """Import every file under Python `version`, beside the module_utils of the
    ansible-core that serves it: the number of problems."""
    python = interpreter(version)
    if python is None:
        print(f'{missing_interpreter(version)}, or leave it out with SLIPWAY_TARGET_PYTHONS="..."')
        return 1
    core, package = ansible_for_target(version)
    folder = host_shim(package)
    started = time.monotonic()
    # -E -s: nothing of the controller's environment or user site; -B: no .pyc here.
    run = subprocess.run(  # nosec B603
        [python, "-E", "-s", "-B", "-c", CHILD, json.dumps(files), str(folder)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    shutil.rmtree(folder)
    if run.returncode:
        failed = [["(the interpreter)", (run.stderr or run.stdout).strip()[-500:]]]
    else:
        # The last line: ansible-core prints its own JSON when it refuses a Python.
        failed = json.loads(run.stdout.strip().splitlines()[-1])
    took = time.monotonic() - started
    verdict = f"{len(failed)} failed" if failed else "ok"
    print(
        f"Python {version} ({python}, ansible-core {core}'s module_utils):"
        f" {len(files)} files imported in {took:.1f} s: {verdict}"
    )
    for path, why in failed:
        print(f"  {path}: {why}")
    return len(failed)


def main() -> int:
    wanted = os.environ.get("SLIPWAY_TARGET_PYTHONS", " ".join(TARGETS)).split()
    files = host_code()
    problems = sum(check(version, files) for version in wanted)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
