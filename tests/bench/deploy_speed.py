#!/usr/bin/env python3
"""What Slipway adds to a deploy's time, and what site.yml costs with nothing to change.

Side by side in one run on the converged lab (make site), the deploys under load through
lb1 from a client that keeps 8 connections alive, as an SDK does (tests/lab_load.Clients):
real traffic for the canary and the watches to judge. deploy_faults.py adds a client that
opens a connection per request and holds the deploy to no failed request; here its TLS
handshakes would make the load generator's own CPU part of what is measured.

  deploy wall / bound       deploy.yml between 1.0.0 and 1.1.0, each run the other way,
                            serial 1, the default policy: its wall time over its lower
                            bound, the hosts' boot-to-ready times (BootWatch, off each
                            host's own port) plus the policy's waits (each batch's soak,
                            the canary's window, the watches: tests/lab_deploy.policy_waits)
  deploy overhead per host  (wall time - lower bound) / hosts
  controller CPU per host   the controller's user + system CPU for the run
                            (ansible-playbook and its forks) over the hosts
  site.yml no-op            site.yml on the converged lab; every run must change nothing

Each counted deploy's task slots (a task on one host: a fork and a result on the
controller) are counted from its output, and their median a host printed for each checkout.

With --profile, each deploy also writes the controller's CPU a task
(tests/bench/profile/task_cpu.py) next to its log, and the run ends with the median CPU of
each playbook file, for each checkout: where a change won or lost.

With --compare DIR (another checkout of Slipway, its .venv and .lab linked to this one's),
the deploys alternate between DIR's playbooks and this checkout's, each taking the fleet
the other way, the site.yml runs alternate too, and the table shows both, side by side
(only this checkout's rows are held to the targets). Medians of --runs (3) against the
targets of issue 19. A deploy counts only when it passed with no failed request, a
site.yml run only with changed=0 on every host (a run that changed something is printed,
not counted). Exits 1 when a median misses its target or a measure has no passing run.
Leaves the fleet on 1.1.0, the lab's release, and each run's output in
.cache/bench/deploy_speed/.
Usage: deploy_speed.py [--runs N] [--only deploy|site ...] [--compare DIR] [--profile]
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import json
import os
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from medians import print_medians  # noqa: E402

from tests.lab_deploy import (  # noqa: E402
    APP_PORTS,
    BootWatch,
    measured_playbook,
    playbook,
    policy_waits,
    running_releases,
)
from tests.lab_load import Clients, lab_api_key  # noqa: E402

OLD, GOOD = "1.0.0", "1.1.0"
TARGETS = {
    "deploy wall / bound": 1.25,
    "deploy overhead per host": 5.0,
    "controller CPU per host": 2.0,
    "site.yml no-op": 60.0,
}
UNITS = {"deploy wall / bound": "x"}
LOGS = ROOT / ".cache" / "bench" / "deploy_speed"
# With --profile: each checkout's counted deploys' task CPU files, by label.
PROFILES: dict[str, list[Path]] = {}
# Task slots (a task on one host: each costs the controller a fork and a result), from
# the default callback's output: a task's result lines (a loop's items: one slot for the
# host), and the hosts an include was processed for (an include in a loop: one an item).
TASK = re.compile(r"^(?:TASK|RUNNING HANDLER) \[")
RESULT = re.compile(r"^(?:ok|changed|skipping|failed|fatal|unreachable): \[([^\] ]+)")
INCLUDED = re.compile(r"^included: \S+ for (.+?)(?: => \(item=(.*)\))?$")
# Each checkout's counted deploys' task slots a host, by label.
SLOTS: dict[str, list[float]] = {}
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def say(msg: str) -> None:
    print(f"speed-bench: {msg}", flush=True)


def task_slots(out: str) -> int:
    """The task slots of a run, from its output (TASK, RESULT, INCLUDED)."""
    slots: set[tuple[int, str, str | None]] = set()
    task = 0
    for line in out.splitlines():
        if TASK.match(line):
            task += 1
        elif result := RESULT.match(line):
            slots.add((task, result.group(1), None))
        elif included := INCLUDED.match(line):
            hosts, item = included.groups()
            slots.update((task, host, item or "") for host in hosts.split(", "))
    return len(slots)


def measured(
    name: str, release: str | None, log: str, root: Path = ROOT
) -> tuple[int, str, float, float]:
    """A playbook from the checkout at `root`, its output in LOGS/<log>.log."""
    return measured_playbook(name, release, LOGS, log, root=root)


@contextlib.contextmanager
def profiling(root: Path, log: str, on: bool):
    """With `on`, the run writes its CPU a task to LOGS/<log>.cpu.json (the checkout's own
    callbacks stay enabled)."""
    if not on:
        yield None
        return
    cfg = configparser.ConfigParser()
    cfg.read(root / "ansible.cfg")
    enabled = cfg.get("defaults", "callbacks_enabled", fallback="")
    out = LOGS / f"{log}.cpu.json"
    env = {
        "ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "tests" / "bench" / "profile"),
        "ANSIBLE_CALLBACKS_ENABLED": ",".join(filter(None, [enabled, "task_cpu"])),
        "SLIPWAY_TASK_CPU_OUT": str(out),
    }
    with mock.patch.dict(os.environ, env):
        yield out


def print_profile(profiles: dict[str, list[Path]]) -> None:
    """The median controller CPU of each playbook file over each checkout's deploys."""
    medians: dict[str, dict[str, float]] = {}
    for label, paths in profiles.items():
        runs = []
        for path in paths:
            files: dict[str, float] = defaultdict(float)
            for task, row in json.loads(path.read_text()).items():
                files[task.split(":")[0].rpartition("/")[2]] += row["cpu"]
            runs.append(files)
        names = {name for run in runs for name in run}
        medians[label] = {n: statistics.median(run.get(n, 0.0) for run in runs) for n in names}
    labels = list(medians)
    names = sorted(
        {n for m in medians.values() for n in m}, key=lambda n: -medians[labels[-1]].get(n, 0)
    )
    print(
        "\ncontroller CPU by playbook file, median s a deploy: "
        + " | ".join(x or "this checkout" for x in labels)
    )
    for name in [*names, "(all)"]:
        row = [sum(m.values()) if name == "(all)" else m.get(name, 0.0) for m in medians.values()]
        print(f"  {name:<28}" + "".join(f"{v:>10.2f}" for v in row))


def deploys(
    runs: int, samples: dict[str, list[float]], trees: dict[str, Path], profile: bool = False
) -> None:
    """`runs` deploys from each checkout in `trees` ({label: root}), taking turns."""
    key = lab_api_key()
    hosts = len(APP_PORTS)
    waits = policy_waits(hosts)
    turns = [(label, root) for _ in range(runs) for label, root in trees.items()]
    # An odd number of deploys from OLD ends on GOOD; an even one starts from GOOD.
    release = OLD if len(turns) % 2 else GOOD
    if set(running_releases().values()) != {release}:
        rc, out, _ = playbook("deploy.yml", release)
        if rc != 0:
            sys.exit(f"could not put the fleet on {release}:\n{out[-3000:]}")
    for turn, (label, root) in enumerate(turns, 1):
        target = GOOD if release == OLD else OLD
        with (
            profiling(root, f"deploy-{turn}", profile) as tasks,
            Clients(key, fresh=False) as load,
            BootWatch(target) as watch,
        ):
            rc, out, seconds, cpu = measured("deploy.yml", target, f"deploy-{turn}", root)
            load.stop()
        boots = watch.boot_to_ready()
        bound = sum(boots.values()) + waits
        say(
            f"{label}deploy {release} -> {target} ({turn}/{len(turns)}): rc {rc}, {seconds:.1f} s,"
            f" bound {bound:.1f} s ({waits} s of the policy's waits, boot-to-ready {boots}),"
            f" controller CPU {cpu:.1f} s; failed requests {load.failed}"
        )
        if rc != 0:
            say(f"not counted, and the runs stop here: {out[-3000:]}")
            break
        release = target
        if len(boots) != hosts or any(load.failed.values()):
            say("not counted: a host's boot was not seen, or a request failed")
            continue
        if tasks is not None:
            PROFILES.setdefault(label, []).append(tasks)
        SLOTS.setdefault(label, []).append(task_slots(out) / hosts)
        samples[f"{label}deploy wall / bound"].append(seconds / bound)
        samples[f"{label}deploy overhead per host"].append((seconds - bound) / hosts)
        samples[f"{label}controller CPU per host"].append(cpu / hosts)


def site_noops(runs: int, samples: dict[str, list[float]], trees: dict[str, Path]) -> None:
    """`runs` site.yml runs from each checkout in `trees` ({label: root}), taking turns."""
    turns = [(label, root) for _ in range(runs) for label, root in trees.items()]
    for turn, (label, root) in enumerate(turns, 1):
        rc, out, seconds, cpu = measured("site.yml", None, f"site-{turn}", root)
        changed = {host: int(n) for host, n, _, _ in RECAP.findall(out) if int(n)}
        say(
            f"{label}site.yml ({turn}/{len(turns)}): rc {rc}, {seconds:.1f} s,"
            f" controller CPU {cpu:.1f} s, changed {changed or 'nothing'}"
        )
        if rc != 0:
            say(out[-3000:])
            return
        if not changed:
            samples[f"{label}site.yml no-op"].append(seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=["deploy", "site"])
    parser.add_argument("--compare", type=Path, help="another checkout to compare with")
    parser.add_argument("--profile", action="store_true", help="the deploys' CPU by playbook file")
    args = parser.parse_args()
    wanted = set(args.only or ["deploy", "site"])
    trees = {"": ROOT}
    if args.compare:
        trees = {f"{args.compare.name}: ": args.compare.resolve(), "": ROOT}
    samples: dict[str, list[float]] = {
        f"{label}{name}": []
        for label in trees
        for name in TARGETS
        if ("site" if name.startswith("site") else "deploy") in wanted
    }
    targets = {name: TARGETS[name.rpartition(": ")[2]] for name in samples}
    units = {name: UNITS.get(name.rpartition(": ")[2], "s") for name in samples}
    if "deploy" in wanted:
        deploys(args.runs, samples, trees, args.profile)
    if "site" in wanted:
        site_noops(args.runs, samples, trees)
    if PROFILES:
        print_profile(PROFILES)
    for label, values in SLOTS.items():
        print(
            f"task slots a host, median: {statistics.median(values):.1f}"
            f" ({label.rstrip(': ') or 'this checkout'}: {', '.join(f'{v:.1f}' for v in values)})"
        )
    ours = {name: values for name, values in samples.items() if ": " not in name}
    if args.compare:
        theirs = {name: values for name, values in samples.items() if name not in ours}
        print_medians(theirs, targets, "compared (not held to the targets)", units)
    return 0 if print_medians(ours, targets, "measure", units) else 1


if __name__ == "__main__":
    sys.exit(main())
