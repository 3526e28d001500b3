#!/usr/bin/env python3
"""How the controller's cost of a deploy grows with the fleet, and 500 hosts on paper.

The lab grows to N app hosts (app3.. appN beside the inventory's app1 and app2: cheap
systemd containers, each with its Docker Engine and the platform, made by playbooks/lab.yml
and converged by site.yml from the inventory .cache/fleet/hosts.yml, which this writes).
At each N (--sizes, 2 8 16) one deploy.yml between 1.0.0 and 1.1.0 runs with
slipway_deploy_serial as a percentage (--serial, 25%), the default policy, under load
through lb1 from a client that keeps 8 connections alive (tests/lab_load.Clients).
For each N it prints:

  wall                  the deploy's wall time, and its lower bound: the policy's waits
                        for that many batches (tests/lab_deploy.policy_waits, the canary's
                        window as long as the judge took to decide) plus each batch's
                        slowest boot-to-ready (BootWatch, off each host's port)
  controller CPU        user + system CPU of ansible-playbook and its forks, in all, a
                        host and a batch

Then a least-squares line through the measured CPU (a + b N) and through the overhead a
batch (wall - bound, against the batch's size) gives 500 hosts in batches of 10 % on
paper: the controller's CPU a host, and the wall time (the policy's waits for 10 batches,
10 boots, 10 batches' overhead; never less than the CPU spread over this machine's cores).
Targets (issue 19): controller CPU <= 2 s a host, 500 hosts <= 30 min. At the largest
size it then deploys a release slow on a real route (--bad, 1.1.0-slow-read) with no
canary analysis, so that the first batch is watched as one (docs/canary.md, "The watch"):
the run must fail on latency, naming that batch, with every host back on the release it
ran, none drained and no failed request. Exits 1 when a target is missed or a check fails.
The lab goes back to the inventory's own hosts at the end (site.yml without the extra
hosts, then their containers removed) unless --keep.
Each run's output is kept in .cache/bench/fleet_scale/.
Usage: fleet_scale.py [--sizes 2 8 16] [--serial 25%] [--bad RELEASE] [--keep]
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.lab_deploy import (  # noqa: E402
    APP_PORTS,
    BootWatch,
    canary_looks,
    drained_at_lbs,
    measured_playbook,
    plugin_utils,
    policy_waits,
    running_releases,
    watches,
)
from tests.lab_load import Clients, lab_api_key  # noqa: E402

OLD, GOOD = "1.0.0", "1.1.0"
# Two directories below the checkout: group_vars/lab.yml finds the lab's key at
# {{ inventory_dir }}/../../.lab, for the hosts of this inventory too.
FLEET = ROOT / ".cache" / "fleet" / "hosts.yml"
LOGS = ROOT / ".cache" / "bench" / "fleet_scale"
LAB_NAME = "slipway-lab"
CPU_PER_HOST_TARGET = 2.0
WALL_500_TARGET = 1800.0
PAPER_HOSTS, PAPER_BATCHES = 500, 10


def say(msg: str) -> None:
    print(f"fleet-bench: {msg}", flush=True)


def extra_hosts(size: int) -> dict[str, dict]:
    """The app hosts beyond the inventory's two, numbered on from app3: addresses and
    ports clear of the dev inventory's (10.242.0.11-41, 2201-2231, 18001-18002)."""
    return {
        f"app{i}": {
            "ansible_port": 2300 + i,
            "lab_ip": f"10.242.0.{50 + i}",
            "lab_published_ports": [f"{18000 + i}:8000"],
        }
        for i in range(3, size + 1)
    }


def ports(size: int) -> dict[str, int]:
    return APP_PORTS | {host: 18000 + int(host[3:]) for host in extra_hosts(size)}


def write_inventory(size: int) -> list[str]:
    """The inventory arguments for a fleet of `size` app hosts."""
    lines = [
        "---",
        "# Written by tests/bench/fleet_scale.py: the app hosts beyond app1 and app2.",
        "all:",
        "  children:",
        "    app:",
        "      hosts:",
    ]
    for host, settings in extra_hosts(size).items():
        lines.append(f"        {host}:")
        lines += [
            f"          {key}: {value!r}".replace("'", '"') for key, value in settings.items()
        ]
    FLEET.parent.mkdir(parents=True, exist_ok=True)
    FLEET.write_text("\n".join(lines) + "\n")
    return ["-i", str(FLEET)] if size > len(APP_PORTS) else []


def run(name: str, release: str | None, log: str, *extra: str) -> tuple[int, str, float, float]:
    """A playbook on the lab, its output in LOGS/<log>.log."""
    return measured_playbook(name, release, LOGS, log, *extra)


def converge(size: int) -> list[str]:
    """The lab at `size` app hosts, site.yml converged; the inventory arguments."""
    inventory = write_inventory(size)
    for name in ("playbooks/lab.yml", "site.yml"):
        rc, out, seconds, cpu = run(name, None, f"{Path(name).stem}-{size}", *inventory)
        say(f"{name} for {size} app hosts: rc {rc}, {seconds:.0f} s, controller CPU {cpu:.0f} s")
        if rc != 0:
            sys.exit(f"{name} failed for {size} app hosts:\n{out[-3000:]}")
    return inventory


def batch_size(size: int, serial: str) -> int:
    """Hosts a batch, as Ansible reads a serial percentage: rounded down, at least 1."""
    if serial.endswith("%"):
        return max(1, int(size * float(serial[:-1]) / 100))
    return int(serial)


def deploy(size: int, serial: str, inventory: list[str], key: str) -> dict | None:
    """One measured deploy over `size` app hosts; None when it failed."""
    fleet = running_releases(ports(size))
    release = OLD if set(fleet.values()) == {OLD} else GOOD
    if set(fleet.values()) != {release}:
        say(f"the fleet runs {fleet}: putting it on {release} first (not measured)")
        rc, out, _, _ = run("deploy.yml", release, f"settle-{size}", *inventory)
        if rc != 0:
            sys.exit(f"could not put the fleet on {release}:\n{out[-3000:]}")
    target = GOOD if release == OLD else OLD
    per_batch = batch_size(size, serial)
    batches = math.ceil(size / per_batch)
    order = list(ports(size))  # Ansible's batches follow the inventory's order
    with Clients(key, fresh=False) as load, BootWatch(target, ports(size)) as watch:
        rc, out, seconds, cpu = run(
            "deploy.yml",
            target,
            f"deploy-{size}",
            *inventory,
            "-e",
            f"slipway_deploy_serial={serial}",
        )
        load.stop()
    boots = watch.boot_to_ready()
    slowest = [
        max((boots.get(h, 0.0) for h in order[i : i + per_batch]), default=0.0)
        for i in range(0, size, per_batch)
    ]
    # The canary's window grows until the judge has its requests (docs/canary.md): on a
    # larger fleet each canary host gets a smaller share. That wait is the policy's too.
    looks = [seconds for _host, seconds, _verdict in canary_looks(out)]
    waits = policy_waits(batches, **({"canary_window": max(looks)} if looks else {}))
    bound = waits + sum(slowest)
    say(
        f"{size} app hosts, {batches} batches of {per_batch}: deploy {release} -> {target} rc {rc},"
        f" {seconds:.1f} s (bound {bound:.1f} s: {waits} s of waits, boots {boots}),"
        f" controller CPU {cpu:.1f} s; failed requests {load.failed}"
    )
    if (
        rc != 0
        or any(load.failed.values())
        or set(running_releases(ports(size)).values()) != {target}
    ):
        say(f"the deploy failed, or a request did, or a host is not on {target}: {out[-3000:]}")
        return None
    return {
        "hosts": size,
        "batch": per_batch,
        "batches": batches,
        "wall": seconds,
        "bound": bound,
        "boot": sum(slowest) / batches,
        "cpu": cpu,
    }


def bad_batch(size: int, serial: str, inventory: list[str], key: str, release: str) -> bool:
    """A release slow on a real route, with no canary analysis: the first batch is watched
    as one, each host fails on its own verdict, and the fleet ends where it was, with no
    failed request and no host drained."""
    fleet = running_releases(ports(size))
    per_batch = batch_size(size, serial)
    first = ", ".join(list(ports(size))[:per_batch])
    with Clients(key, fresh=False) as load:
        time.sleep(30)  # the watch's baseline: the traffic before the deploy
        rc, out, seconds, _ = run(
            "deploy.yml",
            release,
            f"bad-{size}",
            *inventory,
            "-e",
            f"slipway_deploy_serial={serial}",
            "-e",
            "slipway_deploy_canary_window=0",
            "-e",
            "slipway_deploy_watch_baseline=30",
            "-e",
            "slipway_deploy_gate_timeout=45",
        )
        load.stop()
    seen = watches(out)
    checks = {
        "the run failed": rc != 0,
        "on latency": "(trigger: performance_degradation)" in out,
        f"the first batch ({first}) failed its watch": (first, "failed") in seen,
        "every host back where it was": running_releases(ports(size)) == fleet,
        "no host drained": not any(drained_at_lbs().values()),
        "no failed request": not any(load.failed.values()),
    }
    say(
        f"{release} over {size} app hosts in batches of {per_batch}, no canary: rc {rc},"
        f" {seconds:.1f} s, watches {seen}; "
        + "; ".join(f"{name}: {'ok' if ok else 'NO'}" for name, ok in checks.items())
    )
    if not all(checks.values()):
        say(out[-3000:])
    return all(checks.values())


def line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares y = a + b x."""
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = (
        sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
        if spread
        else 0.0
    )
    return mean_y - slope * mean_x, slope


def report(rows: list[dict]) -> bool:
    print()
    print(
        f"{'app hosts':>9} {'batches':>8} {'wall s':>8} {'bound s':>8} {'CPU s':>8}"
        f" {'CPU/host':>9} {'CPU/batch':>10}"
    )
    for r in rows:
        print(
            f"{r['hosts']:>9} {r['batches']:>4} x {r['batch']:<2} {r['wall']:>8.1f}"
            f" {r['bound']:>8.1f} {r['cpu']:>8.1f} {r['cpu'] / r['hosts']:>9.2f}"
            f" {r['cpu'] / r['batches']:>10.1f}"
        )
    ok = all(r["cpu"] / r["hosts"] <= CPU_PER_HOST_TARGET for r in rows)
    if len(rows) < 2:
        print("\none size measured: no line to extrapolate on")
        return False
    fixed, per_host = line([r["hosts"] for r in rows], [r["cpu"] for r in rows])
    base, per_host_in_batch = line(
        [r["batch"] for r in rows], [(r["wall"] - r["bound"]) / r["batches"] for r in rows]
    )
    paper_batch = PAPER_HOSTS // PAPER_BATCHES
    # 50 canary hosts at a reduced weight among 500: each gets too small a share for the
    # judge within the window, which grows to its longest.
    defaults = {i.setting: i.default for i in plugin_utils("_deploy_settings").INPUTS}
    paper_waits = policy_waits(PAPER_BATCHES, canary_window=defaults["canary_max_window"])
    cpu_500 = fixed + per_host * PAPER_HOSTS
    boot = max(r["boot"] for r in rows)
    modelled = paper_waits + PAPER_BATCHES * (boot + base + per_host_in_batch * paper_batch)
    cores = os.cpu_count() or 1
    wall_500 = max(modelled, cpu_500 / cores)
    print(
        f"\ncontroller CPU ~ {fixed:.1f} s + {per_host:.2f} s a host;"
        f" overhead a batch ~ {base:.1f} s + {per_host_in_batch:.2f} s a host in it"
    )
    print(f"{PAPER_HOSTS} hosts in {PAPER_BATCHES} batches of {paper_batch}, on paper:")
    for name, value, target in (
        ("controller CPU a host", cpu_500 / PAPER_HOSTS, CPU_PER_HOST_TARGET),
        ("wall time", wall_500, WALL_500_TARGET),
    ):
        verdict = "ok" if value <= target else "MISSED"
        ok &= value <= target
        print(f"  {name:<22} {value:>9.1f} s   target <= {target:.0f} s   {verdict}")
    print(
        f"  (the policy's waits {paper_waits} s, the canary's longest window among them;"
        f" the modelled batches {modelled:.0f} s;"
        f" the CPU over {cores} cores {cpu_500 / cores:.0f} s)"
    )
    return ok


def shrink() -> None:
    """The lab back to the inventory's own hosts: site.yml without the extra ones (the
    balancer, the database and Prometheus forget them), then their containers go."""
    write_inventory(len(APP_PORTS))
    rc, out, seconds, _ = run("site.yml", None, "site-restore")
    say(f"site.yml on the inventory's own hosts: rc {rc}, {seconds:.0f} s")
    names = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"name=^{LAB_NAME}-app([3-9]|[1-9][0-9])$"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if names:
        subprocess.run(["docker", "rm", "-f", "-v", *names], capture_output=True, check=True)
    volumes = subprocess.run(
        [
            "docker",
            "volume",
            "ls",
            "-q",
            "--filter",
            f"name=^{LAB_NAME}-app([3-9]|[1-9][0-9])-docker$",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if volumes:
        subprocess.run(["docker", "volume", "rm", *volumes], capture_output=True, check=True)
    say(f"removed {len(names)} extra hosts and {len(volumes)} volumes")
    if rc != 0:
        sys.exit(f"site.yml could not take the lab back to its own hosts:\n{out[-3000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 8, 16])
    parser.add_argument("--serial", default="25%")
    parser.add_argument("--keep", action="store_true", help="leave the extra hosts up")
    parser.add_argument(
        "--bad",
        default="1.1.0-slow-read",
        help="a release bad on a real route, deployed at the largest size ('' for none)",
    )
    args = parser.parse_args()
    if min(args.sizes) < len(APP_PORTS) or max(args.sizes) > 40:
        parser.error(f"sizes run from {len(APP_PORTS)} (the inventory's app hosts) to 40")
    if not re.fullmatch(r"[1-9][0-9]?%|100%|[1-9][0-9]*", args.serial):
        parser.error("--serial is a count or a percentage, as slipway_deploy_serial")
    key = lab_api_key()
    rows = []
    started = time.monotonic()
    try:
        for size in sorted(args.sizes):
            inventory = converge(size) if size > len(APP_PORTS) else write_inventory(size)
            row = deploy(size, args.serial, inventory, key)
            if row is None:
                return 1
            rows.append(row)
        if args.bad and not bad_batch(size, args.serial, inventory, key, args.bad):
            return 1
    finally:
        if not args.keep and max(args.sizes) > len(APP_PORTS):
            shrink()
        say(f"{time.monotonic() - started:.0f} s in all")
    return 0 if report(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
