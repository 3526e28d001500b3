#!/usr/bin/env python3
"""What the canary's evidence costs the controller as the traffic grows.

A watch or a canary look reads every load balancer's access log (slipway.ops.lb_traffic, on
the load balancer), keeps what it read (set_fact) and judges it (slipway.ops.canary_judge,
in the controller's worker): the tasks of playbooks/rolling/traffic.yml and watch.yml. What
they carry grows with the requests in the window, not with the hosts: the watch's baseline
is the 300 s before the deploy, a few hundred thousand requests on a busy fleet. This writes
a synthetic access log of each --requests size on lb1 (tests/access_logs.write_log: two
backends, 52 requests a second for as long as the size takes), runs those tasks against it
from app1, and prints the controller's CPU (ansible-playbook and its forks) for each size;
with --compare DIR, from DIR's checkout too, the runs taking turns. Medians of --runs.
Target: one read and judgment of 100,000 requests costs the controller at most TARGET s more
than one of 2,000 (the judge's arithmetic grows with them; the plumbing must not).
Needs the lab converged (make site); output kept in .cache/bench/evidence_cost/.
Usage: evidence_cost.py [--requests 2000 20000 100000] [--runs 3] [--compare DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.access_logs import RATE, T0, UPSTREAMS, write_log  # noqa: E402
from tests.lab_deploy import measured_playbook  # noqa: E402

LOGS = ROOT / ".cache" / "bench" / "evidence_cost"
LB = "slipway-lab-lb1"
TARGET = 1.0  # s of controller CPU from 2,000 to 100,000 requests

PLAYBOOK = """\
- name: Read, keep and judge one window of evidence, as traffic.yml and watch.yml do
  hosts: app1
  gather_facts: false
  tasks:
    - name: Read what the load balancer's backends served
      slipway.ops.lb_traffic:
        access_log: {log}
        upstreams: {upstreams}
        start: {start}
        end: {end}
      delegate_to: lb1
      register: read
    - name: Keep what the load balancer served
      ansible.builtin.set_fact:
        window: "{{{{ [read.traffic] }}}}"
    - name: Keep it as the baseline too
      ansible.builtin.set_fact:
        before: "{{{{ window }}}}"
    - name: Judge app1 against app2
      slipway.ops.canary_judge:
        canary: [app1]
        baseline: [app2]
        traffic: "{{{{ window }}}}"
        fail: false
      register: verdict
    - name: Keep the verdict
      ansible.builtin.set_fact:
        kept: "{{{{ verdict | combine({{'reason': 'r'}}) }}}}"
"""


def put_log(requests: int) -> tuple[str, int]:
    """A log of at least `requests` on lb1, RATE a second, and its path and seconds."""
    path = f"/root/slipway-evidence-{requests}.log"  # on lb1
    seconds = math.ceil(requests / RATE)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "access.log"
        write_log(log, seconds)
        subprocess.run(["docker", "cp", str(log), f"{LB}:{path}"], check=True)
    return path, seconds


def run(root: Path, label: str, requests: int, log: tuple[str, int], turn: int) -> float:
    path, seconds = log
    LOGS.mkdir(parents=True, exist_ok=True)
    book = LOGS / f"evidence-{requests}.yml"
    book.write_text(
        PLAYBOOK.format(log=path, upstreams=json.dumps(UPSTREAMS), start=T0, end=T0 + seconds)
    )
    name = f"{label or 'this'}-{requests}-{turn}".replace(" ", "").replace(":", "")
    rc, out, _, cpu = measured_playbook(str(book), None, LOGS, name, root=root)
    if rc:
        sys.exit(f"evidence-bench: the playbook failed from {root}:\n{out[-3000:]}")
    return cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, nargs="*", default=[2000, 20000, 100000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compare", type=Path, help="another checkout to compare with")
    args = parser.parse_args()
    trees = {"": ROOT}
    if args.compare:
        trees = {f"{args.compare.name}: ": args.compare.resolve(), "": ROOT}
    logs = {n: put_log(n) for n in args.requests}
    cpu: dict[tuple[str, int], list[float]] = {(t, n): [] for t in trees for n in args.requests}
    for turn in range(args.runs):
        for n in args.requests:
            for label, root in trees.items():
                cpu[(label, n)].append(run(root, label, n, logs[n], turn))
        print(f"evidence-bench: round {turn + 1} of {args.runs} done", flush=True)
    subprocess.run(["docker", "exec", LB, "rm", "-f", *(p for p, _ in logs.values())], check=True)
    print(f"\n{'checkout':<16}" + "".join(f"{n:>12,}" for n in args.requests) + "   requests")
    medians = {}
    for label in trees:
        medians[label] = [statistics.median(cpu[(label, n)]) for n in args.requests]
        print(f"{label or 'this':<16}" + "".join(f"{v:>10.2f} s" for v in medians[label]))
    growth = medians[""][-1] - medians[""][0]
    ok = growth <= TARGET
    print(
        f"growth from {args.requests[0]:,} to {args.requests[-1]:,} requests: {growth:.2f} s"
        f" (target {TARGET:.1f} s) {'ok' if ok else 'MISSED'}; medians of {args.runs}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
