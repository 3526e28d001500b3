"""deploy.yml on the lab, under continuous load through lb1: a good release, bad ones,
(molecule/deploy_exits has the other ways out of a run: a failed fleet
verification, a host lost mid-step, a rollback that fails, a controller killed).

Each case runs `ansible-playbook deploy.yml -i inventories/dev -e slipway_release=X`
from the controller while tests/lab_load.py offers about 50 requests/s and
2 tasks/s through lb1. What an operator relies on: a good release lands on
every host with no failed request and no lost task; a bad one fails the run
naming its trigger, the fleet ends on the release it ran, each host says
when it was back, and no request failed meanwhile. Times are printed, not
asserted: the targets are the benchmark's (tests/bench/deploy_faults.py).
"""

from __future__ import annotations

import time

import pytest

from tests.lab_deploy import (
    AT_ONCE,
    GOOD,
    OLD,
    QUICK,
    active_alerts,
    analysis_verdicts,
    ansible_module,
    audit_outcomes,
    canary_look_lines,
    canary_looks,
    deploy,
    drained_at_lbs,
    fleet_on,
    in_rotation_after,
    lb_requests,
    ledgers,
    lock_state,
    prometheus_values,
    rescue_timeline,
    restored_after,
    running_releases,
    slowest_tasks,
    watches,
    weights_at_lbs,
)
from tests.lab_load import LbLoad, lab_api_key

# The canary's share of the requests at the default weight, two app hosts: 25 / (25 + 100).
CANARY_SHARE = 0.2

STARTED = time.time()
# From a run's end to its alert in Alertmanager: the push, a 5 s scrape, a 5 s
# rule evaluation (the lab's intervals), with room for a loaded machine.
ALERT_DEADLINE_S = 90
# Keep a bad release's gate short: the matrix has many of them.
FAST = ["-e", "slipway_deploy_gate_timeout=45"]
# The watch's baseline is the traffic before the deploy: the load runs this
# long first (a fleet in use has it; the lab's is idle between cases).
WARM_UP = 30


@pytest.fixture(scope="module")
def api_key() -> str:
    return lab_api_key()


def caught_by_the_canary(rc: int, out: str, release: str, trigger: str) -> int | None:
    """The run failed a route-only bad release with its trigger: by the canary within 60 s
    of its taking traffic (returns that time), or, for failing submissions, by the host
    verification's one task before the canary (a third of the time at 30 %; returns None)."""
    looks, said = canary_looks(out), "\n".join(canary_look_lines(out))
    print(f"canary looks (host, s, verdict): {looks}\n{said}")
    assert rc != 0, "a bad release fails the run"
    assert f"(trigger: {trigger})" in out, out[-3000:]
    if not looks:
        assert release == "1.1.0-failing-submissions", out[-3000:]
        assert "verifying the host on 1.1.0-failing-submissions: verification failed" in " ".join(
            out.split()
        )
        return None
    assert looks[-1][2] == "failed", said
    detected = looks[-1][1]
    assert detected <= 60, f"detected {detected} s after the canary took traffic:\n{said}"
    return detected


@pytest.fixture
def on_good(api_key):
    """The case starts with the whole fleet on GOOD (deployed from OLD when needed)."""
    fleet_on(GOOD)


def test_good_release_lands_with_no_failed_request_and_no_lost_task(api_key):
    """Two clients at once: one opens a connection per request, the other keeps 8
    alive (as requests.Session or an SDK does); drains must be invisible to both."""
    assert set(running_releases().values()) == {OLD}, "converge puts the fleet on 1.0.0"
    with (
        LbLoad(api_key, rate=24.0, task_rate=1.0) as load,
        LbLoad(api_key, rate=24.0, task_rate=1.0, keepalive=8) as kept,
    ):
        time.sleep(WARM_UP)
        rc, out, seconds = deploy(GOOD)
        report, kept_report = load.stop(), kept.stop()
    lost = load.lost_tasks() + kept.lost_tasks()
    print(
        f"\ngood deploy {OLD} -> {GOOD}: {seconds:.1f} s; new connections: {report.summary()};"
        f" kept alive: {kept_report.summary()}; lost {len(lost)}"
    )
    print(slowest_tasks(out))
    assert rc == 0, out[-4000:]
    looks, said = canary_looks(out), "\n".join(canary_look_lines(out))
    print(f"canary looks (host, s, verdict): {looks}\n{said}")
    assert looks, "the canary was judged"
    assert looks[-1][2] == "passed", said
    assert looks[-1][1] >= 60, said
    assert weights_at_lbs() == {"lb1": {}}, "the canary is back at its full weight"
    assert watches(out) == [("app2", "passed"), ("the fleet", "passed")], watches(out)
    assert analysis_verdicts() == {
        ("canary", "app1"): "passed",
        ("watch", "app2"): "passed",
        ("watch", "the fleet"): "passed",
    }
    assert report.failed == 0, report.failures[:10]
    assert kept_report.failed == 0, kept_report.failures[:10]
    assert report.tasks, "the load submitted tasks"
    assert kept_report.tasks, "the kept-alive client submitted tasks"
    assert lost == []
    assert running_releases() == {"app1": GOOD, "app2": GOOD}
    for host, ledger in ledgers().items():
        assert (ledger["current"], ledger["previous"]) == (GOOD, OLD), host


@pytest.mark.parametrize(
    ("release", "trigger"),
    [
        ("1.1.0-slow-read", "performance_degradation"),
        ("1.1.0-failing-submissions", "health_check_failure"),
    ],
)
def test_a_release_bad_only_on_real_routes_is_caught_by_the_canary(
    on_good, api_key, release, trigger
):
    """Its probes stay healthy: only the traffic users send shows it (docs/canary.md). A
    share of failing submissions may also fail the one task the host verification submits
    (a third of the time at 30 %): then it is caught before the canary, which is fine."""
    with LbLoad(api_key) as load:
        rc, out, seconds = deploy(release, *FAST)
        report = load.stop()
    print(f"\nroute-only bad release {release}: {seconds:.1f} s; {report.summary()}")
    detected = caught_by_the_canary(rc, out, release, trigger)
    if detected is not None:
        assert "the canary analysis on real traffic" in out, out[-3000:]
        # What users saw: at most the canary's share of the requests of its window failed.
        exposure = CANARY_SHARE * report.requests / report.seconds * detected
        assert report.failed <= exposure, report.failures[:10]
    assert running_releases() == {"app1": GOOD, "app2": GOOD}
    assert drained_at_lbs() == {"lb1": []}
    assert weights_at_lbs() == {"lb1": {}}, "the canary is back at its full weight"
    for host, ledger in ledgers().items():
        assert ledger["current"] == GOOD, host


def test_without_a_canary_the_watch_catches_a_release_bad_only_on_real_routes(on_good, api_key):
    """No canary analysis (slipway_deploy_canary_window=0): the first host is watched at its
    full weight against the fleet before the deploy (docs/canary.md, "The watch"). Its slow
    read route is slow, not failing: the users' requests all succeed, late."""
    release = "1.1.0-slow-read"
    off = ["-e", "slipway_deploy_canary_window=0", "-e", "slipway_deploy_canary_soak=10"]
    with LbLoad(api_key) as load:
        time.sleep(WARM_UP)
        rc, out, seconds = deploy(
            release, *FAST, *off, "-e", f"slipway_deploy_watch_baseline={WARM_UP}"
        )
        report = load.stop()
    print(f"\nwatch on {release}: {seconds:.1f} s; watches {watches(out)}; {report.summary()}")
    assert rc != 0, "a bad release fails the run"
    assert "(trigger: performance_degradation)" in out, out[-3000:]
    assert canary_looks(out) == []
    assert watches(out) == [("app1", "failed")], out[-3000:]
    assert analysis_verdicts() == {("watch", "app1"): "failed"}
    assert report.failed == 0, report.failures[:10]
    assert running_releases() == {"app1": GOOD, "app2": GOOD}
    assert drained_at_lbs() == {"lb1": []}
    for host, ledger in ledgers().items():
        assert ledger["current"] == GOOD, host


@pytest.mark.parametrize(
    ("release", "trigger"),
    [
        ("1.1.0-slow-read", "performance_degradation"),
        ("1.1.0-failing-submissions", "health_check_failure"),
    ],
)
def test_on_a_quiet_fleet_the_canary_is_judged_on_the_runs_own_requests(on_good, release, trigger):
    """No client at all: the run says the fleet is quiet (at once, or at the first look
    when the case before left traffic in the minute before the canary), sends its own
    requests through the load balancer (docs/canary.md, "A quiet fleet": reads, and task
    submissions for an agent that does not exist), and the canary judged on them catches
    a release bad on one route. They stop with the verdict. A failing submission may fail
    the host verification's one task first, as under load."""
    rc, out, seconds = deploy(release, *FAST)
    ended = time.time()
    flat = " ".join(out.split())
    print(f"\nquiet fleet, {release}: {seconds:.1f} s")
    if caught_by_the_canary(rc, out, release, trigger) is not None:
        assert "the run sends its own requests through every load balancer" in flat, out[-3000:]
        assert "on the run's own requests (a quiet fleet)" in flat
        assert analysis_verdicts() == {("canary", "app1"): "failed"}
    # Stopped with the verdict: nothing of the run's own requests after the run.
    time.sleep(3)
    late = [
        r for r in lb_requests("lb1", since=ended) if r["user_agent"] == "slipway-route-traffic"
    ]
    assert late == [], late[:3]
    assert running_releases() == {"app1": GOOD, "app2": GOOD}
    assert drained_at_lbs() == {"lb1": []}
    assert weights_at_lbs() == {"lb1": {}}
    for host, ledger in ledgers().items():
        assert ledger["current"] == GOOD, host


@pytest.mark.parametrize(
    ("release", "trigger"),
    [
        ("1.1.0-crash-on-boot", "health_check_failure"),
        ("1.1.0-stalled-worker", "health_check_failure"),
    ],
)
def test_bad_release_is_rolled_back_with_no_failed_request(on_good, api_key, release, trigger):
    with LbLoad(api_key) as load:
        rc, out, seconds = deploy(release, *FAST)
        report = load.stop()
    lost = load.lost_tasks()
    restored = restored_after(out)
    print(
        f"\nbad release {release}: run failed={rc != 0} in {seconds:.1f} s; "
        f"healthy on {GOOD} after {restored} s, in rotation after {in_rotation_after(out)} s; "
        f"{report.summary()}; lost tasks {len(lost)}"
    )
    assert rc != 0, "a bad release fails the run"
    assert f"(trigger: {trigger})" in out, out[-3000:]
    assert running_releases() == {"app1": GOOD, "app2": GOOD}
    # The seconds to healthy are printed above, with the rescue's task timings
    # below; the 20 s target is the benchmark's (tests/bench/deploy_faults.py):
    # on these 2 shared cores under the load, the same rollback took 13 to 35 s.
    assert restored, "the run says when each host was back"
    print(rescue_timeline(out))
    assert report.failed == 0, report.failures[:10]
    assert lost == []
    for host, ledger in ledgers().items():
        assert ledger["current"] == GOOD, host
        assert ledger["history"][-1]["outcome"] in ("rolled_back", "failed"), ledger["history"][-3:]


def test_the_rollbacks_reach_prometheus_and_alert(on_good):
    """The audit callback pushed the bad releases' runs to mon1's Pushgateway: the
    rollback's timestamp is in Prometheus and RollbackHappened is active in
    Alertmanager, labelled with its trigger (docs/monitoring.md)."""
    rollbacks = 'slipway_last_rollback_timestamp_seconds{trigger="health_check_failure"}'
    deadline = time.monotonic() + ALERT_DEADLINE_S
    while True:
        pushed = [value for _, value in prometheus_values(rollbacks) if value >= STARTED]
        firing = [
            a
            for a in active_alerts("RollbackHappened")
            if a.get("trigger") == "health_check_failure"
        ]
        if (pushed and firing) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert pushed, f"no {rollbacks} at or after {STARTED:.0f} in Prometheus"
    assert firing, "no active RollbackHappened alert with trigger health_check_failure"
    assert firing[0]["severity"] == "warning"


def test_tag_absent_from_the_registry_changes_no_host(on_good):
    rc, out, _ = deploy("9.9.9-absent")
    assert rc != 0
    assert "is not in the registry" in out, out[-3000:]
    assert "stopped before any host changed (trigger: deployment_failure)" in out
    assert running_releases() == {"app1": GOOD, "app2": GOOD}


def test_second_deploy_while_one_holds_the_lock_fails_at_once_naming_the_holder(on_good):
    lock = "deploy_id=held-by-test holder=alice@elsewhere ttl=600"
    ansible_module("app1", "slipway.ops.release", f"action=lock {lock}")
    try:
        rc, out, seconds = deploy(GOOD)
        assert rc != 0
        assert "deploy lock held by alice@elsewhere (deploy held-by-test" in out, out[-3000:]
        assert "this run never held the deploy lock" in " ".join(out.split()), out[-3000:]
        assert seconds < AT_ONCE
    finally:
        ansible_module("app1", "slipway.ops.release", "action=unlock deploy_id=held-by-test")
    assert running_releases() == {"app1": GOOD, "app2": GOOD}


def test_production_ships_only_what_staging_shipped_unless_forced_with_a_reason(
    on_good, tmp_path, monkeypatch
):
    """The promotion rule from the command line, on an audit log of its own: the lab
    plays production (slipway_deploy_promote_from=staging, as production's inventory
    sets it) and staging in turn."""
    audit = tmp_path / "audit"
    monkeypatch.setenv("SLIPWAY_AUDIT_DIR", str(audit))
    production = ["-e", "slipway_environment=production", *QUICK]
    production += ["-e", "slipway_deploy_promote_from=staging"]
    before = ledgers()

    rc, out, seconds = deploy(OLD, *production)
    said = " ".join(out.split())
    assert rc != 0
    assert (
        f"of release {OLD} refused, nothing was changed (trigger: deployment_failure): production "
        f"takes only releases promoted from staging, and release {OLD} has no successful deploy "
        f"to staging on record. Ship it to staging first (ansible-playbook deploy.yml -i "
        f"inventories/staging -e slipway_release={OLD})"
    ) in said, out[-3000:]
    assert seconds < AT_ONCE
    assert running_releases() == {"app1": GOOD, "app2": GOOD}
    assert ledgers() == before, "a refusal writes no ledger"
    assert lock_state()["active"] is False

    rc, out, _ = deploy(OLD, "-e", "slipway_environment=staging", *QUICK)
    assert rc == 0, out[-3000:]
    rc, out, _ = deploy(GOOD, *production)
    assert rc != 0, "staging now runs OLD; GOOD was never shipped there in this log"
    assert running_releases() == {"app1": OLD, "app2": OLD}

    why = "hotfix for INC-1234: staging is down"
    rc, out, _ = deploy(GOOD, *production, "-e", f"slipway_deploy_promotion_override='{why}'")
    assert rc == 0, out[-3000:]
    assert f"skips its promotion from staging (release {GOOD} has no successful deploy" in " ".join(
        out.split()
    )
    assert running_releases() == {"app1": GOOD, "app2": GOOD}

    rc, out, _ = deploy(OLD, *production)
    assert rc == 0, out[-3000:]
    assert running_releases() == {"app1": OLD, "app2": OLD}
    assert lock_state()["active"] is False

    outcomes = audit_outcomes(audit)
    said = [
        (d["environment"], d["release"], d["outcome"], d.get("promotion", "")) for d in outcomes
    ]
    staging_id = outcomes[1]["id"]
    assert said == [
        ("production", OLD, "refused", ""),
        ("staging", OLD, "success", ""),
        ("production", GOOD, "refused", ""),
        ("production", GOOD, "success", f"forced past staging: {why}"),
        ("production", OLD, "success", f"from staging: {staging_id}"),
    ]
    assert outcomes[0]["reason"] == (
        f"not promoted: release {OLD} has no successful deploy to staging on record"
    )
    # The scenario leaves the fleet on GOOD, the lab's release, for what runs after it
    # (the execution environment's test, then integration's lab checks).
    fleet_on(GOOD)


# ---- every way out of a run ends settled ----------------------------------
