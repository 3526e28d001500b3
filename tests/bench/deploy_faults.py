#!/usr/bin/env python3
"""deploy.yml on the lab under continuous load: a good release, every bad one, and the naive way.

Under about 50 requests/s and 2 tasks/s through lb1 for each whole run from
each of two clients (tests/lab_load.py): one that opens a new connection per
request, and one that keeps 8 HTTPS connections alive (as an SDK does). The
deploy cases start after WARM_UP s of that load (the watch's baseline is the
traffic before the deploy). Side by side in one run of this script:

  naive      what an operator does without Slipway: the new tag in .env and
             `docker compose up -d` on every app host at once; its failed
             requests and the time until every host answers ready on it
  good       deploy.yml 1.0.0 -> 1.1.0: failed requests of each client (target
             0), lost tasks (target 0), the verdicts of the canary and of each
             watch (target: passed), and wall time over its lower bound: the
             batches' boot-to-ready times plus the policy's waits (target <= 1.25;
             tests/bench/deploy_speed.py takes the median of 3)
  bad        deploy.yml of each bad release (app/README.md): the run fails
             with the expected trigger, the fleet ends on 1.1.0, failure
             detection to healthy on the previous release <= 20 s per host
             (and the time to back in rotation), failed requests 0 (each
             client). The
             releases bad on one real route only are caught by the canary:
             from its taking traffic to its verdict <= 60 s, and failed
             requests within its share of its window's requests
  quiet      each release bad on one route only, with no client at all after a
             quiet minute: the canary is judged on the run's own requests
             (docs/canary.md, "A quiet fleet"); detection <= 60 s, the trigger
             named, the fleet on 1.1.0
  rollback   rollback.yml, the emergency path, three times each way (1.1.0 ->
             1.0.0 -> 1.1.0): per host, the start of its step to back in
             rotation (median target <= 20 s) and, within it, leaving
             rotation to back in it; failed requests 0; then once with
             every host on the release already (left alone: its wall time)

Exits 1 when a figure misses its target. Needs the lab converged (make site).
Usage: deploy_faults.py [--only NAME ...]   (NAME: naive, good, rollback, quiet, a bad release)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.lab_deploy import (  # noqa: E402
    APP_PORTS,
    BootWatch,
    ansible_shell,
    canary_looks,
    deploy,
    in_rotation_after,
    out_of_rotation,
    playbook,
    policy_waits,
    ready_after,
    restored_after,
    running_releases,
    step_time,
    watches,
)
from tests.lab_load import Clients, lab_api_key  # noqa: E402

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
    # Bad on one real route only: the canary judge's (docs/canary.md).
    "1.1.0-slow-read": "performance_degradation",
    "1.1.0-failing-submissions": "health_check_failure",
    # Good for 140 s after boot, then slow on its main read route: the watch on the fleet's.
    "1.1.0-slow-read-later": "performance_degradation",
}
ROUTE_ONLY = ("1.1.0-slow-read", "1.1.0-failing-submissions")
# Past the canary and each host's watch by design: the watch on the fleet must fail it,
# with 40 s windows so that it starts well after the onset (140 s after boot).
LATER = ("1.1.0-slow-read-later",)
LATER_ARGS = ["-e", "slipway_deploy_watch_window=40"]
# The good deploy's wall time over its lower bound (issue 19; tests/bench/deploy_speed.py).
RATIO_TARGET, RESTORE_TARGET, DETECTION_TARGET = 1.25, 20.0, 60
# Seconds with no client before a quiet case: the minute the canary's quiet check reads.
QUIET = 65
# The canary's share of the requests at the default weight, two app hosts: 25 / (25 + 100).
CANARY_SHARE = 0.2


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
    with Clients(key) as load:
        started = time.monotonic()
        ansible_shell("app", edit)
        ready = all_ready_on(GOOD)
        seconds = time.monotonic() - started
        time.sleep(5)
        load.stop()
    lost = load.lost_tasks()
    say(
        f"naive compose up -d on every host: {seconds:.1f} s to all ready ({ready:.1f} s polling); "
        f"failed requests {load.failed}; {load.summary()}; lost tasks {len(lost)}"
    )
    return {"failed": load.failed, "seconds": seconds, "lost": len(lost)}


def good(key: str) -> tuple[dict, bool]:
    ensure(OLD)
    with Clients(key) as load, BootWatch(GOOD) as watch:
        rc, out, seconds = deploy(GOOD)
        load.stop()
    lost = load.lost_tasks()
    boots = watch.boot_to_ready()
    hosts = len(APP_PORTS)
    # serial 1: one host a batch, so the batches' boot-to-ready times add up, and the
    # policy's own waits come on top of them.
    booted = sum(boots.values()) if len(boots) == hosts else 0.0
    soaks = policy_waits(hosts)
    bound = booted + soaks if booted else 0.0
    ratio = seconds / bound if bound else float("inf")
    beyond = (seconds - bound) / hosts if bound else float("inf")
    verdicts = [v for _, _, v in canary_looks(out)][-1:] + [v for _, v in watches(out)]
    judged = verdicts == ["passed"] * (hosts + 1)
    ok = rc == 0 and not any(load.failed.values()) and not lost and ratio <= RATIO_TARGET and judged
    say(
        f"good {OLD} -> {GOOD}: rc {rc}, {seconds:.1f} s, lower bound {bound:.1f} s "
        f"(boot-to-ready per batch {boots}, the gate saw ready after {ready_after(out)}),"
        f" ratio {ratio:.2f} (target <= {RATIO_TARGET}; {soaks} s of it the policy's waits; "
        f"{beyond:.1f} s a host beyond the bound); "
        f"canary and watches {verdicts} (target: all passed); failed requests {load.failed} "
        f"(target 0 each); {load.summary()}; lost tasks {len(lost)}"
    )
    if rc != 0:
        say(out[-3000:])
    return {
        "rc": rc,
        "seconds": seconds,
        "bound": bound,
        "ratio": round(ratio, 2),
        "overhead_per_host": round(beyond, 1),
        "boots": boots,
        "verdicts": verdicts,
        "failed": load.failed,
        "lost": len(lost),
    }, ok


def bad(key: str, release: str, trigger: str) -> tuple[dict, bool]:
    ensure(GOOD)
    with Clients(key) as load:
        rc, out, seconds = deploy(release, *FAST, *(LATER_ARGS if release in LATER else []))
        load.stop()
    lost = load.lost_tasks()
    restored = restored_after(out)
    fleet = running_releases()
    named = f"(trigger: {trigger})" in out
    worst = max(restored) if restored else 0.0
    # A failed host is timed back to health; a failed fleet (LATER) goes back host by host
    # through the fleet rollback, which the fleet check below covers.
    needs_restore = trigger != "deployment_failure" and release not in LATER
    looks = canary_looks(out)
    detected = looks[-1][1] if looks and looks[-1][2] == "failed" else None
    # A release bad on real routes only is seen by the canary, which serves a share of the
    # traffic: what failed must stay within that share of its window's requests.
    exposure = CANARY_SHARE * load.requests / load.seconds * (detected or 0)
    failed = sum(load.failed.values())
    route_only = release in ROUTE_ONLY
    # A failing submission may fail the one task the host verification submits first.
    early = route_only and not looks and "verification failed" in " ".join(out.split())
    ok = (
        rc != 0
        and named
        and set(fleet.values()) == {GOOD}
        and (failed <= exposure if route_only else failed == 0)
        and (not route_only or early or (detected is not None and detected <= DETECTION_TARGET))
        and not lost
        and (not needs_restore or (restored and worst <= RESTORE_TARGET))
        and (release not in LATER or ("the fleet", "failed") in watches(out))
    )
    canary = (
        f"caught by the host verification before the canary; failed requests {load.failed}; "
        if early
        else f"canary detection {detected} s after it took traffic (target <= {DETECTION_TARGET}), "
        f"failed requests {load.failed} (both within the canary's exposure {exposure:.0f}); "
        if route_only
        else ""
    )
    say(
        f"bad {release}: run failed {rc != 0}, trigger {trigger} named {named}, fleet {fleet}, "
        f"{canary}healthy again after {restored} s (target <= {RESTORE_TARGET}), in rotation "
        f"after {in_rotation_after(out)} s, run {seconds:.1f} s; watches {watches(out)}; "
        f"failed requests {load.failed}; "
        f"{load.summary()}; lost tasks {len(lost)}"
    )
    if not ok:
        say(out[-3000:])
    return {
        "rc": rc,
        "named": named,
        "restored": restored,
        "in_rotation": in_rotation_after(out),
        "detected": detected,
        "failed": load.failed,
        "lost": len(lost),
        "seconds": seconds,
    }, bool(ok)


def quiet(release: str, trigger: str) -> tuple[dict, bool]:
    """A route-only bad release on a fleet nobody uses: the run's own requests."""
    ensure(GOOD)
    time.sleep(QUIET)
    rc, out, seconds = deploy(release, *FAST)
    looks = canary_looks(out)
    flat = " ".join(out.split())
    detected = looks[-1][1] if looks and looks[-1][2] == "failed" else None
    early = not looks and "verification failed" in flat
    own = "the run sends its own requests" in flat
    fleet = running_releases()
    named = f"(trigger: {trigger})" in out
    ok = (
        rc != 0
        and named
        and set(fleet.values()) == {GOOD}
        and (early or (own and detected is not None and detected <= DETECTION_TARGET))
    )
    say(
        f"quiet {release}: run failed {rc != 0}, trigger {trigger} named {named}, fleet {fleet}, "
        + (
            "caught by the host verification before the canary"
            if early
            else f"the run's own requests sent {own}, canary detection {detected} s after it "
            f"took traffic (target <= {DETECTION_TARGET})"
        )
        + f", run {seconds:.1f} s"
    )
    if not ok:
        say(out[-3000:])
    return {"rc": rc, "named": named, "own_requests": own, "detected": detected, "early": early}, ok


def rollbacks(key: str, rounds: int = 3) -> tuple[dict, bool]:
    """rollback.yml under load, each way `rounds` times, then once with nothing to move."""
    ensure(GOOD)
    per_host: list[float] = []
    out: list[float] = []
    walls: list[float] = []
    failed = 0
    ok = True
    with Clients(key) as load:
        for _ in range(rounds):
            for target in (OLD, GOOD):
                rc, output, seconds = playbook("rollback.yml", target)
                steps, moved = step_time(output), out_of_rotation(output)
                fleet = running_releases()
                ok &= rc == 0 and set(fleet.values()) == {target} and len(steps) == len(APP_PORTS)
                per_host += steps.values()
                out += moved.values()
                walls.append(seconds)
                say(
                    f"rollback.yml to {target}: rc {rc}, {seconds:.1f} s; per host, step {steps} s,"
                    f" out of rotation {moved} s"
                )
                if rc != 0:
                    say(output[-3000:])
        rc, output, idle = playbook("rollback.yml", GOOD)
        load.stop()
    left_alone = rc == 0 and step_time(output) == {} and "left alone" in output
    failed = load.failed
    median = statistics.median(per_host) if per_host else float("inf")
    ok = ok and left_alone and not any(failed.values()) and median <= RESTORE_TARGET
    say(
        f"rollback.yml: per host, start of its step to back in rotation, median {median:.1f} s "
        f"(target <= {RESTORE_TARGET}) over {len(per_host)}, max {max(per_host, default=0):.1f} s;"
        f" out of rotation, median {statistics.median(out) if out else 0:.1f} s; run median "
        f"{statistics.median(walls):.1f} s for {len(APP_PORTS)} hosts; every host already there: "
        f"{idle:.1f} s, left alone {left_alone}; failed requests {failed}; {load.summary()}"
    )
    return {
        "per_host_median": round(median, 1),
        "out_of_rotation_median": round(statistics.median(out), 1) if out else None,
        "per_host_max": round(max(per_host, default=0), 1),
        "run_median": round(statistics.median(walls), 1),
        "nothing_to_move": round(idle, 1),
        "failed": failed,
    }, ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", nargs="*", help="naive, good, rollback, quiet, or bad release tags"
    )
    args = parser.parse_args()
    wanted = set(args.only or ["naive", "good", "rollback", *BAD, "quiet"])
    key = lab_api_key()
    results, passed = {}, True
    if "naive" in wanted:
        results["naive"] = naive(key)
    if "good" in wanted:
        results["good"], ok = good(key)
        passed &= ok
    if "rollback" in wanted:
        results["rollback"], ok = rollbacks(key)
        passed &= ok
    for release, trigger in BAD.items():
        if release in wanted:
            results[release], ok = bad(key, release, trigger)
            passed &= ok
    if "quiet" in wanted:
        for release in ROUTE_ONLY:
            results[f"quiet {release}"], ok = quiet(release, BAD[release])
            passed &= ok
    ensure(GOOD)
    say("summary:")
    for name, figures in results.items():
        say(f"  {name}: {figures}")
    say("all targets met" if passed else "a target was missed")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
