#!/usr/bin/env python3
"""What one task slot (a task on one host) costs the controller, by kind of task.

Issue 19 holds a deploy to 2 s of controller CPU a host. This splits that budget: a
playbook of --tasks tasks of one kind runs on the lab's app hosts, and the controller's
user + system CPU (ansible-playbook and its forks: getrusage of the children), less a
one-task run's, over the slots, is that kind's cost. The kinds run interleaved, --runs
rounds, so a shared machine's drift hits each alike; medians are printed. The last
column is how many such slots fit in the 2 s budget.

  set_fact, debug, skipped   decided on the controller: a fork, templating, callbacks
  module over SSH            ping, and slipway.ops.release (module_utils shipped along)
  module on the controller   delegate_to: localhost: a Python interpreter started there
                             for each run (the canary judge, the watch, wait_for)

Needs the lab converged (make site); each run's output is kept in .cache/bench/task_costs/.
Usage: task_costs.py [--runs N] [--tasks N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.lab_deploy import measured_playbook  # noqa: E402

LOGS = ROOT / ".cache" / "bench" / "task_costs"
BUDGET = 2.0  # controller CPU seconds a host, a deploy (issue 19)
HOSTS = "app"
KINDS = {
    "set_fact": "ansible.builtin.set_fact:\n        bench_{n}: {n}",
    "debug": "ansible.builtin.debug:\n        msg: step {n}",
    "skipped": "ansible.builtin.command: 'true'\n      when: false",
    "ping over SSH": "ansible.builtin.ping:",
    "slipway.ops.release over SSH": (
        "slipway.ops.release:\n        path: /var/lib/slipway/releases\n        action: query"
    ),
    "ping delegated to localhost": "ansible.builtin.ping:\n      delegate_to: localhost",
}


def playbook(kind: str, tasks: int) -> str:
    body = "\n".join(f"    - name: t{n}\n      {KINDS[kind].format(n=n)}" for n in range(tasks))
    return f"- name: {kind}\n  hosts: {HOSTS}\n  gather_facts: false\n  tasks:\n{body}\n"


def run(kind: str, tasks: int) -> tuple[float, float, int]:
    """(wall s, controller CPU s, hosts) of one playbook run; its output in LOGS."""
    path = LOGS / f"{kind.replace(' ', '_')}-{tasks}.yml"
    LOGS.mkdir(parents=True, exist_ok=True)
    path.write_text(playbook(kind, tasks))
    rc, out, wall, cpu = measured_playbook(str(path), None, LOGS, path.stem)
    if rc:
        sys.exit(f"task_costs: the playbook failed:\n{out[-3000:]}")
    hosts = len({line.split()[0] for line in out.splitlines() if " : ok=" in line})
    return wall, cpu, hosts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=30)
    args = parser.parse_args()
    cpu: dict[str, list[float]] = {kind: [] for kind in KINDS}
    wall: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for round_ in range(args.runs):
        base_wall, base_cpu, _ = run("set_fact", 1)
        order = list(KINDS) if round_ % 2 == 0 else list(reversed(KINDS))
        for kind in order:
            w, c, hosts = run(kind, args.tasks)
            slots = hosts * (args.tasks - 1)
            cpu[kind].append((c - base_cpu) / slots * 1000)
            wall[kind].append((w - base_wall) / (args.tasks - 1) * 1000)
        print(f"task-costs: round {round_ + 1} of {args.runs} done", file=sys.stderr)
    print(f"\n{'kind of task':<32}{'CPU a slot':>12}{'wall a task':>13}{'slots in 2 s':>14}")
    for kind in KINDS:
        per_slot = statistics.median(cpu[kind])
        fits = int(BUDGET * 1000 / per_slot) if per_slot > 0 else 0
        print(f"{kind:<32}{per_slot:>9.0f} ms{statistics.median(wall[kind]):>10.0f} ms{fits:>14}")
    print(f"(medians of {args.runs} interleaved rounds of {args.tasks} tasks on the app hosts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
