#!/usr/bin/env python3
"""deploy.yml on the lab under continuous load: a good release, every bad one, and the naive way.

Under about 50 requests/s and 2 tasks/s through lb1 for each whole run
(tests/lab_load.py), side by side in one run of this script:

  naive      what an operator does without Slipway: the new tag in .env and
             `docker compose up -d` on every app host at once; its failed
             requests and the time until every host answers ready on it
  good       deploy.yml 1.0.0 -> 1.1.0: failed requests (target 0), lost tasks
             (target 0), and wall time over its lower bound, the sum over
             batches of the release's boot-to-ready time (target <= 1.5)
  bad        deploy.yml of each bad release (app/README.md): the run fails
             with the expected trigger, the fleet ends on 1.1.0, failure
             detection to restored <= 20 s per host, failed requests 0

Exits 1 when a figure misses its target. Needs the lab converged (make site).
Usage: deploy_faults.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.lab_deploy import (  # noqa: E402
    APP_PORTS,
    ansible_module,
    deploy,
    ready_after,
    restored_after,
    running_releases,
)
from tests.lab_load import LbLoad, lab_api_key  # noqa: E402

OLD, GOOD = "1.0.0", "1.1.0"
IMAGE = "registry:5000/slipway/agent-platform"
BAD = {
    "1.1.0-crash-on-boot": "health_check_failure",
    "1.1.0-never-ready": "health_check_failure",
    "1.1.0-errors": "health_check_failure",
    "1.1.0-slow": "performance_degradation",
    "1.1.0-crash-after": "health_check_failure",
    "1.1.0-stalled-worker": "health_check_failure",
    "9.9.9-absent": "deployment_failure",
}
RATIO_TARGET, RESTORE_TARGET = 1.5, 20.0
FAST = ["-e", "slipway_deploy_gate_timeout=45"]


def say(msg: str) -> None:
    print(f"deploy-bench: {msg}", flush=True)


def ensure(release: str) -> None:
    if set(running_releases().values()) != {release}:
        rc, out, _ = deploy(release)
        if rc != 0:
            sys.exit(f"could not put the fleet on {release}:\n{out[-3000:]}")


def all_ready_on(release: str, timeout: float = 300) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        ok = 0
        for port in APP_PORTS.values():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2):
                    ok += 1
            except OSError:
                pass
        if ok == len(APP_PORTS) and set(running_releases().values()) == {release}:
            return time.monotonic() - started
        time.sleep(0.2)
    return float("inf")


def naive(key: str) -> dict:
    ensure(OLD)
    edit = (
        f"sed -i -e 's|^SLIPWAY_APP_IMAGE=.*|SLIPWAY_APP_IMAGE={IMAGE}:{GOOD}|' "
        f"-e 's|^SLIPWAY_APP_RELEASE=.*|SLIPWAY_APP_RELEASE={GOOD}|' /opt/slipway/app/.env && "
        "docker compose --project-directory /opt/slipway/app up -d"
    )
    with LbLoad(key) as load:
        started = time.monotonic()
        ansible_module("app", "ansible.builtin.shell", edit)
        ready = all_ready_on(GOOD)
        seconds = time.monotonic() - started
        time.sleep(5)
        report = load.stop()
    lost = load.lost_tasks()
    say(
        f"naive compose up -d on every host: {seconds:.1f} s to all ready ({ready:.1f} s polling); "
        f"{report.summary()}; lost tasks {len(lost)}"
    )
    return {"failed": report.failed, "seconds": seconds, "lost": len(lost)}


def good(key: str) -> tuple[dict, bool]:
    ensure(OLD)
    with LbLoad(key) as load:
        rc, out, seconds = deploy(GOOD)
        report = load.stop()
    lost = load.lost_tasks()
    bound = sum(ready_after(out))
    ratio = seconds / bound if bound else float("inf")
    ok = rc == 0 and report.failed == 0 and not lost and ratio <= RATIO_TARGET
    say(
        f"good {OLD} -> {GOOD}: rc {rc}, {seconds:.1f} s, lower bound {bound:.1f} s "
        f"(boot-to-ready per batch {ready_after(out)}),"
        f" ratio {ratio:.2f} (target <= {RATIO_TARGET}); "
        f"{report.summary()}; lost tasks {len(lost)}"
    )
    if rc != 0:
        say(out[-3000:])
    return {
        "rc": rc,
        "seconds": seconds,
        "bound": bound,
        "ratio": ratio,
        "failed": report.failed,
        "lost": len(lost),
    }, ok


def bad(key: str, release: str, trigger: str) -> tuple[dict, bool]:
    ensure(GOOD)
    with LbLoad(key) as load:
        rc, out, seconds = deploy(release, *FAST)
        report = load.stop()
    lost = load.lost_tasks()
    restored = restored_after(out)
    fleet = running_releases()
    named = f"(trigger: {trigger})" in out
    worst = max(restored) if restored else 0.0
    needs_restore = trigger != "deployment_failure"
    ok = (
        rc != 0
        and named
        and set(fleet.values()) == {GOOD}
        and report.failed == 0
        and not lost
        and (not needs_restore or (restored and worst <= RESTORE_TARGET))
    )
    say(
        f"bad {release}: run failed {rc != 0}, trigger {trigger} named {named}, fleet {fleet}, "
        f"restored after {restored} s (target <= {RESTORE_TARGET}), run {seconds:.1f} s; "
        f"{report.summary()}; lost tasks {len(lost)}"
    )
    if not ok:
        say(out[-3000:])
    return {
        "rc": rc,
        "named": named,
        "restored": restored,
        "failed": report.failed,
        "lost": len(lost),
        "seconds": seconds,
    }, bool(ok)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="naive, good, or bad release tags")
    args = parser.parse_args()
    wanted = set(args.only or ["naive", "good", *BAD])
    key = lab_api_key()
    results, passed = {}, True
    if "naive" in wanted:
        results["naive"] = naive(key)
    if "good" in wanted:
        results["good"], ok = good(key)
        passed &= ok
    for release, trigger in BAD.items():
        if release in wanted:
            results[release], ok = bad(key, release, trigger)
            passed &= ok
    ensure(GOOD)
    say("summary:")
    for name, figures in results.items():
        say(f"  {name}: {figures}")
    say("all targets met" if passed else "a target was missed")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
