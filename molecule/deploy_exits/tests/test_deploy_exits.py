"""The ways out of a deploy past its hosts' own checks, on the lab under load through
lb1: a failed fleet verification, a release that turns bad after its canary and
fails the watch on the fleet, a host lost mid-step, a rollback that itself
fails, a controller killed mid-gate. Each asserts
the end state (every host's release, the lb's upstream, the lock, the ledgers,
the audit outcome) and that the next run mends the fleet. `make deploy-exits`;
outside `make test` for its time (docs/deploy.md, "Every way out of a run").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(ROOT))

from tests.lab_deploy import (  # noqa: E402
    AT_ONCE,
    GOOD,
    IMAGE,
    LAB_PREFIX,
    OLD,
    QUICK,
    analysis_verdicts,
    ansible_module,
    assert_settled,
    audit_outcome,
    canary_looks,
    deploy,
    drained_at_lbs,
    finish_playbook,
    fleet_on,
    lab_exec,
    ledgers,
    lock_state,
    playbook,
    run_id,
    running_releases,
    start_playbook,
    wait_for,
    watches,
    weights_at_lbs,
)
from tests.lab_load import LbLoad, lab_api_key  # noqa: E402

RESULTS = ROOT / ".cache" / "deploy_exits"
# Keep a bad release's gate short.
FAST = ["-e", "slipway_deploy_gate_timeout=45"]
# Seconds of load before a deploy whose baseline is the traffic before it.
WARM_UP = 30
# What production blocks on (inventories/production): strict checks, high and critical.
PRODUCTION_LEVEL = [
    *("-e", "slipway_deploy_validation_level=strict"),
    *("-e", "slipway_deploy_fail_on=critical,high"),
]


@pytest.fixture(scope="module")
def api_key() -> str:
    return lab_api_key()


@pytest.fixture
def on_good():
    fleet_on(GOOD)


def test_a_release_that_fails_the_fleet_verification_puts_every_host_back(on_good, api_key):
    """Its API docs are on: every probe is healthy, both hosts pass their gates, and the
    fleet verification at production's level (strict, blocking on high) fails it."""
    with LbLoad(api_key) as load:
        rc, out, seconds = deploy("1.1.0-debug-endpoints", *PRODUCTION_LEVEL, *QUICK)
        report = load.stop()
    print(f"\nfleet verification failure: {seconds:.1f} s; {report.summary()}")
    assert rc != 0
    assert "failed on fleet (trigger: security_violation)" in " ".join(out.split()), out[-3000:]
    assert "debug endpoint(s) exposed" in out
    assert_settled(out, {"app1": GOOD, "app2": GOOD}, "rolled_back")
    for host, ledger in ledgers().items():
        assert ledger["history"][-1]["outcome"] == "rolled_back", host
        assert ledger["current"] == GOOD, host
    assert report.failed == 0, report.failures[:10]


def test_a_release_that_turns_bad_after_its_canary_is_caught_by_the_watch_on_the_fleet(
    on_good, api_key
):
    """1.1.0-slow-read-later is good for 140 s after it boots, then its main read route
    waits 1.5 s (a leak). app1's canary is over about 90 s after boot, and app2's watch
    judges a host that booted a minute later: both pass. The watch on the fleet at the end
    (docs/canary.md, "The fleet at the end"; 40 s windows here, so that it ends well after
    app1's onset and before app2's) judges each host against the fleet before the deploy
    with the other as its peer: app1's reads turned slow and app2's did not, so app1 fails,
    named, and every updated host goes back."""
    release = "1.1.0-slow-read-later"
    with LbLoad(api_key) as load:
        time.sleep(WARM_UP)
        rc, out, seconds = deploy(
            release,
            *FAST,
            "-e",
            "slipway_deploy_canary_soak=10",
            "-e",
            "slipway_deploy_watch_window=40",
            "-e",
            f"slipway_deploy_watch_baseline={WARM_UP}",
        )
        report = load.stop()
    looks = canary_looks(out)
    print(
        f"\n{release}: {seconds:.1f} s; looks {looks}; watches {watches(out)}; {report.summary()}"
    )
    assert rc != 0, "a bad release fails the run"
    assert looks, "the canary was judged"
    assert looks[-1][2] == "passed", looks
    assert watches(out) == [("app2", "passed"), ("the fleet", "failed")], out[-3000:]
    assert analysis_verdicts()[("watch", "the fleet")] == "failed"
    assert "(trigger: performance_degradation)" in out, out[-3000:]
    assert running_releases() == {"app1": GOOD, "app2": GOOD}
    assert drained_at_lbs() == {"lb1": []}
    assert weights_at_lbs() == {"lb1": {}}
    assert not lock_state()["active"], "the lock is released"
    for host, ledger in ledgers().items():
        assert ledger["current"] == GOOD, host


def test_a_host_lost_mid_step_fails_the_run_settled_and_site_then_deploy_mend_it(on_good, api_key):
    """app2's lab container is stopped while its gate runs. The run goes on: it names
    app2, keeps it out of rotation, settles app1 and releases the lock. Once app2 is
    back, a plain site.yml puts it back on the release its ledger knows and into
    rotation, and a plain deploy puts the fleet on one release, with no failed request."""
    container = LAB_PREFIX + "app2"
    with LbLoad(api_key) as load:
        proc = start_playbook("deploy.yml", OLD, *QUICK)
        try:
            wait_for(lambda: running_releases()["app2"] == OLD, 600, "app2 starting " + OLD)
            subprocess.run(
                ["docker", "stop", "-t", "1", container], check=True, capture_output=True
            )
            rc, out = finish_playbook(proc, timeout=900)
        finally:
            if proc.poll() is None:
                proc.kill()
        report = load.stop()
    try:
        squeezed = " ".join(out.split())
        print(f"\nhost lost: run failed={rc != 0}; {report.summary()}")
        assert rc != 0
        assert "(trigger: host_unreachable)" in squeezed, out[-3000:]
        assert "they are out of rotation: app2" in squeezed
        assert "The deploy lock is released." in squeezed
        assert "Next: once app2 answer again, run ansible-playbook deploy.yml" in squeezed
        # Two hosts: rolling app1 back would leave no host in rotation, so it
        # stays on the release it passed its gates with, named.
        assert running_releases()["app1"] == OLD
        assert drained_at_lbs() == {"lb1": ["app2"]}
        assert not lock_state()["active"]
        assert audit_outcome(run_id(out))["outcome"] == "failed"
    finally:
        subprocess.run(["docker", "start", container], check=True, capture_output=True)
    wait_for(lambda: _answers("app2"), 180, "app2 answering over SSH again", interval=2)
    with LbLoad(api_key) as load:
        rc, out, seconds = playbook("site.yml", None)
        site_report = load.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "site-after-lost-host.log").write_text(out)
    squeezed = " ".join(out.split())
    print(f"site.yml after the host came back: {seconds:.1f} s; {site_report.summary()}")
    assert rc == 0, out[-4000:]
    # app2's ledger knows GOOD; OLD is what the dead step may have left it on.
    assert f"Putting app2 back on {GOOD} (reconcile reconcile-" in squeezed, out[-4000:]
    put_back = "Put back on the release their ledger knows and into rotation"
    assert f"{put_back}: app2 on {GOOD}." in squeezed
    assert "The fleet runs more than one release" in squeezed
    assert_settled(out, {"app1": OLD, "app2": GOOD}, "success")
    assert ledgers()["app2"]["current"] == GOOD
    with LbLoad(api_key) as load:
        rc, out, seconds = deploy(GOOD, *QUICK)
        report = load.stop()
    print(f"the next deploy: {seconds:.1f} s; {report.summary()}")
    assert rc == 0, out[-4000:]
    assert "Putting app2 back on" not in " ".join(out.split())
    assert_settled(out, {"app1": GOOD, "app2": GOOD}, "success")
    assert site_report.failed == 0, site_report.failures[:10]
    assert report.failed == 0, report.failures[:10]


def _answers(host: str) -> bool:
    try:
        ansible_module(host, "ansible.builtin.ping", "")
    except RuntimeError:
        return False
    return True


def test_a_rollback_that_fails_leaves_the_host_out_of_rotation_named_and_the_lock_free(
    on_good, api_key
):
    """app1's previous image is removed while the bad release boots: its rollback cannot
    start it. The run says so, releases the lock and records the outcome; rollback.yml
    mends the fleet once the image is back."""
    with LbLoad(api_key) as load:
        proc = start_playbook("deploy.yml", "1.1.0-crash-on-boot", *FAST)
        try:
            wait_for(
                lambda: (
                    "crash-on-boot"
                    in lab_exec("app1", "docker", "ps", "-a", "--format", "{{.Image}}")
                ),
                600,
                "app1 starting the bad release",
            )
            lab_exec("app1", "docker", "image", "rm", "-f", f"{IMAGE}:{GOOD}")
            rc, out = finish_playbook(proc, timeout=900)
        finally:
            if proc.poll() is None:
                proc.kill()
        report = load.stop()
    squeezed = " ".join(out.split())
    print(f"\nrollback fails: run failed={rc != 0}; {report.summary()}")
    assert rc != 0
    stuck = "Could not be put back, and are out of rotation: app1 (rolling back to 1.1.0:"
    assert stuck in squeezed, out[-3000:]
    assert (
        f"ansible-playbook rollback.yml -i {ROOT}/inventories/dev -e slipway_release={GOOD}"
        in squeezed
    )
    assert drained_at_lbs() == {"lb1": ["app1"]}
    assert running_releases()["app2"] == GOOD
    assert not lock_state()["active"]
    assert audit_outcome(run_id(out))["outcome"] == "failed"
    assert ledgers()["app1"]["history"][-1]["outcome"] == "failed"
    assert report.failed == 0, report.failures[:10]

    lab_exec("app1", "docker", "pull", f"{IMAGE}:{GOOD}")
    with LbLoad(api_key) as load:
        rc, out, seconds = playbook("rollback.yml", GOOD)
        report = load.stop()
    print(f"rollback.yml mends it: {seconds:.1f} s; {report.summary()}")
    assert rc == 0, out[-4000:]
    assert_settled(out, {"app1": GOOD, "app2": GOOD}, "success")
    assert report.failed == 0, report.failures[:10]


def test_a_killed_controller_leaves_a_lock_the_next_deploy_names_and_a_break_mends(
    on_good, api_key
):
    """SIGKILL to the whole controller during app1's canary gate: nothing settles.
    The next deploy refuses naming the holder; with the lock broken it puts back
    what the dead run left and converges; the audit log gets the dead run's outcome."""
    killed_id = f"deploy-killed-{int(time.time())}"
    proc = start_playbook("deploy.yml", OLD, "-e", f"slipway_deploy_id={killed_id}", *QUICK)
    try:
        wait_for(lambda: running_releases()["app1"] == OLD, 600, "app1 starting " + OLD)
        os.killpg(proc.pid, signal.SIGKILL)
        finish_playbook(proc, timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    rc, out, seconds = deploy(GOOD)
    assert rc != 0
    assert f"(deploy {killed_id}" in out, out[-3000:]
    assert seconds < AT_ONCE
    # site.yml cannot tell a dead run from a live one: while the lease lasts, it names
    # what the run left and leaves it.
    rc, out, seconds = playbook("site.yml", None)
    squeezed = " ".join(out.split())
    print(f"\nsite.yml under the dead run's lock: {seconds:.1f} s")
    assert rc == 0, out[-4000:]
    # app1 was drained mid-gate; both hosts hold the dead run's open ledger entries.
    left = "Left as a run that has not settled leaves them (drained, or a ledger entry still open)"
    assert f"{left}: app1, app2; {killed_id} of" in squeezed, out[-3000:]
    assert "so they are left to that run" in squeezed
    assert drained_at_lbs() == {"lb1": ["app1"]}
    assert lock_state()["deploy_id"] == killed_id
    with LbLoad(api_key) as load:
        rc, out, seconds = deploy(GOOD, "-e", "slipway_deploy_lock_break=true", *QUICK)
        report = load.stop()
    print(
        f"\nafter the killed controller, with the lock broken: {seconds:.1f} s; {report.summary()}"
    )
    assert rc == 0, out[-4000:]
    assert "Putting app1 back on 1.1.0" in " ".join(out.split())
    assert_settled(out, {"app1": GOOD, "app2": GOOD}, "success")
    assert audit_outcome(killed_id)["outcome"] == "interrupted"
    assert report.failed == 0, report.failures[:10]
