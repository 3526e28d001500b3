#!/usr/bin/env python3
"""What slipway.ops.audit adds to a run's wall time: a 200-task playbook on the lab hosts.

The playbook changes nothing on the hosts (ping, `true`, debug, set_fact). It
runs with the callback (as ansible.cfg enables it) and without it
(ANSIBLE_CALLBACKS_ENABLED naming only the other callback), interleaved
A B, B A, A B ... so drift on a shared machine hits both alike; the audit
writes to a temporary directory. Prints both medians and the ratio of wall
time (the target), and of CPU time (user + system of ansible-playbook and its
children: less moved by other load on the machine); exits 1 when the callback
adds more wall time than the target.
Run with `make bench` (the lab must be up). Usage: audit_overhead.py [--runs N] [--tasks N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = 0.03  # at most 3% added wall time
# The lab's platform hosts: the playbook runs on each of them.
HOSTS = "lb:app:db:monitoring"
TASKS = [
    "ansible.builtin.ping:",
    'ansible.builtin.command: "true"\n      changed_when: false',
    'ansible.builtin.debug:\n        msg: "step {n}"',
    "ansible.builtin.set_fact:\n        bench_step: {n}",
]


def playbook(tasks: int) -> str:
    lines = [
        "---",
        "- name: Run many tasks that change nothing",
        f"  hosts: {HOSTS}",
        "  gather_facts: false",
        "  tasks:",
    ]
    for n in range(tasks):
        body = TASKS[n % len(TASKS)].format(n=n)
        lines += [f"    - name: Step {n}", f"      {body}"]
    return "\n".join(lines) + "\n"


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(path: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one ansible-playbook run."""
    cmd = ["ansible-playbook", "-i", "inventories/dev", str(path)]
    cpu, start = cpu_of_children(), time.monotonic()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed, cpu = time.monotonic() - start, cpu_of_children() - cpu
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    return elapsed, cpu


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="slipway-bench-") as tmp:
        path = Path(tmp) / "bench.yml"
        path.write_text(playbook(args.tasks))
        base = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
        audited = {**base, "SLIPWAY_AUDIT_DIR": f"{tmp}/audit"}
        plain = {**base, "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"}
        timed(path, audited)  # warm up: SSH control masters, caches
        samples: dict[str, list[tuple[float, float]]] = {"with audit": [], "without": []}
        for i in range(args.runs):
            # A B, then B A: neither variant always runs first.
            order = [("with audit", audited), ("without", plain)][:: 1 if i % 2 == 0 else -1]
            for name, env in order:
                samples[name].append(timed(path, env))
            shown = ", ".join(
                f"{k} {v[-1][0]:.1f} s ({v[-1][1]:.1f} s CPU)" for k, v in samples.items()
            )
            print(f"run {i + 1}/{args.runs}: {shown}", flush=True)
        records = len((Path(tmp) / "audit" / "audit.jsonl").read_bytes().splitlines())
    with_audit, without = (statistics.median(w for w, _ in samples[k]) for k in samples)
    cpu_with, cpu_without = (statistics.median(c for _, c in samples[k]) for k in samples)
    added = with_audit / without - 1
    print(f"\n{args.tasks} tasks x 5 hosts, median of {args.runs} runs each, interleaved")
    print(f"  without the callback  {without:8.2f} s wall  {cpu_without:8.2f} s CPU")
    print(f"  with the callback     {with_audit:8.2f} s wall  {cpu_with:8.2f} s CPU")
    print(f"  ({records} audit records written in {args.runs + 1} audited runs)")
    print(f"  CPU ratio {cpu_with / cpu_without:.4f}: {cpu_with / cpu_without - 1:+.2%}")
    # Each A/B pair ran back to back: the median of their ratios cancels slow drift.
    pairs = statistics.median(a[0] / b[0] for a, b in zip(*samples.values(), strict=True))
    print(f"  median of the {args.runs} paired wall ratios {pairs:.4f}: {pairs - 1:+.2%}")
    verdict = "ok" if added < TARGET else "MISSED"
    print(
        f"  ratio {with_audit / without:.4f}: {added:+.2%} added, target < {TARGET:.0%}  {verdict}"
    )
    return 0 if added < TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
