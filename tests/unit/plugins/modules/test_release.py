"""slipway.ops.release run as Ansible runs it: a real process, real files, real flock."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from ansible_collections.slipway.ops.plugins.modules.release import ARGUMENT_SPEC

from tests.conftest import ROOT, ansible_env, run

MODULE = ROOT / "plugins" / "modules" / "release.py"
HELD = "deploy lock held by alice@ctl (deploy d-1, AWX job 42) since "


def start(tmp_path, args: dict, *, check=False, diff=False) -> subprocess.Popen:
    """Start the module on an arguments file, as AnsiballZ would run it on a host."""
    module_args = {"path": str(tmp_path / "release"), **args}
    if check:
        module_args["_ansible_check_mode"] = True
    if diff:
        module_args["_ansible_diff"] = True
    args_file = tmp_path / f"args-{time.monotonic_ns()}.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": module_args}))
    # The checkout's collections first, then what the caller has (a target Python's
    # run has ansible-core's package there, as a host does).
    path = [str(ROOT / "collections"), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    return subprocess.Popen(
        [sys.executable, str(MODULE), str(args_file)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def result_of(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=60)
    assert out, err
    return json.loads(out)


def release(tmp_path, check=False, diff=False, **args) -> dict:
    return result_of(start(tmp_path, args, check=check, diff=diff))


def lock(tmp_path, deploy_id="d-1", holder="alice@ctl", job_id="42", **args) -> dict:
    return release(
        tmp_path, action="lock", deploy_id=deploy_id, holder=holder, job_id=job_id, **args
    )


def files(tmp_path) -> dict:
    state = tmp_path / "release"
    return {p.name: json.loads(p.read_text()) for p in state.glob("*.json")}


def write_lock(tmp_path, **lease):
    state = tmp_path / "release"
    state.mkdir(exist_ok=True)
    (state / "lock.json").write_text(json.dumps({**lease, "lock_breaks": []}))


def test_lock_creates_the_state_and_takes_the_lease(tmp_path):
    result = lock(tmp_path)
    assert result["changed"]
    assert result["acquired"]
    assert result["broken"] is None
    assert result["expired"] is False
    assert result["lock"]["active"]
    assert 890 <= result["lock"]["expires_in"] <= 900
    state = tmp_path / "release"
    assert stat.S_IMODE(state.stat().st_mode) == 0o750
    assert stat.S_IMODE((state / "lock.json").stat().st_mode) == 0o640
    on_disk = files(tmp_path)["lock.json"]
    assert on_disk["holder"] == "alice@ctl"
    assert on_disk["job_id"] == "42"
    assert on_disk["expires_at"].endswith("Z")
    # The module writes no ledger until something is recorded.
    assert "ledger.json" not in files(tmp_path)


def test_a_second_deploy_fails_at_once_with_who_holds_the_lock(tmp_path):
    lock(tmp_path)
    before = files(tmp_path)
    result = lock(tmp_path, deploy_id="d-2", holder="bob@ctl", job_id="")
    assert result["failed"]
    assert result["msg"].startswith(HELD)
    assert "wait for it, or break it with -e slipway_deploy_lock_break=true" in result["msg"]
    assert result["lock"]["deploy_id"] == "d-1"
    assert files(tmp_path) == before


def test_an_awx_job_id_given_as_a_number_is_kept_as_text(tmp_path):
    assert lock(tmp_path, job_id=42)["lock"]["job_id"] == "42"


def test_the_same_deploy_locking_again_renews(tmp_path):
    first = lock(tmp_path)
    again = lock(tmp_path, ttl=1200)
    assert again["acquired"]
    assert again["lock"]["acquired_at"] == first["lock"]["acquired_at"]
    assert again["lock"]["expires_in"] > 1000


def test_an_expired_lease_is_taken_over_and_recorded(tmp_path):
    write_lock(
        tmp_path,
        holder="alice@ctl",
        deploy_id="d-1",
        job_id="42",
        acquired_at="2020-01-01T00:00:00Z",
        renewed_at="2020-01-01T00:00:00Z",
        expires_at="2020-01-01T00:15:00Z",
    )
    result = lock(tmp_path, deploy_id="d-2", holder="bob@ctl")
    assert result["acquired"]
    assert result["expired"]
    assert result["broken"]["reason"] == "expired"
    assert result["broken"]["broken"]["holder"] == "alice@ctl"
    assert result["broken"]["by"]["deploy_id"] == "d-2"
    assert "taken over (expired)" in json.dumps(result["warnings"])
    assert files(tmp_path)["lock.json"]["lock_breaks"] == [result["broken"]]


def test_force_breaks_a_live_lease_and_the_break_is_kept_after_unlock(tmp_path):
    lock(tmp_path)
    result = lock(tmp_path, deploy_id="d-2", holder="bob@ctl", force=True)
    assert result["acquired"]
    assert result["broken"]["reason"] == "forced"
    assert result["broken"]["by"]["holder"] == "bob@ctl"
    assert result["broken"]["broken"]["deploy_id"] == "d-1"
    freed = release(tmp_path, action="unlock", deploy_id="d-2")
    assert freed["changed"]
    assert freed["lock"]["deploy_id"] is None
    assert len(files(tmp_path)["lock.json"]["lock_breaks"]) == 1


def test_unlock_never_frees_another_deploys_lease(tmp_path):
    lock(tmp_path)
    result = release(tmp_path, action="unlock", deploy_id="d-2")
    assert not result.get("failed")
    assert not result["changed"]
    assert result["held_by"]["holder"] == "alice@ctl"
    assert files(tmp_path)["lock.json"]["deploy_id"] == "d-1"


def test_unlock_of_a_free_lock_is_ok_and_unchanged(tmp_path):
    result = release(tmp_path, action="unlock", deploy_id="d-1")
    assert not result.get("failed")
    assert not result["changed"]
    assert result["held_by"] is None


def test_renew_by_another_deploy_fails_naming_the_holder(tmp_path):
    lock(tmp_path)
    result = release(tmp_path, action="renew", deploy_id="d-2")
    assert result["failed"]
    assert "held by alice@ctl (deploy d-1, AWX job 42)" in result["msg"]
    renewed = release(tmp_path, action="renew", deploy_id="d-1", ttl=60)
    assert renewed["changed"]
    assert renewed["lock"]["expires_in"] <= 60


def test_query_reports_the_lock_and_writes_nothing(tmp_path):
    empty = release(tmp_path, action="query")
    assert not empty["changed"]
    assert empty["ledger"] == {"current": None, "previous": None, "history": []}
    assert empty["lock"]["active"] is False
    assert not (tmp_path / "release").exists()
    lock(tmp_path)
    held = release(tmp_path, action="query")
    assert held["lock"]["active"] is True
    assert held["lock"]["holder"] == "alice@ctl"


def test_record_moves_current_and_previous_and_repeats_change_nothing(tmp_path):
    step = {"action": "record", "stage": "completed", "outcome": "success", "who": "alice"}
    release(tmp_path, deploy_id="d-1", release="v1", **step)
    result = release(tmp_path, deploy_id="d-2", release="v2", **step)
    assert result["changed"]
    assert (result["ledger"]["current"], result["ledger"]["previous"]) == ("v2", "v1")
    assert result["entry"]["who"] == "alice"
    again = release(tmp_path, deploy_id="d-2", release="v2", **step)
    assert not again["changed"]
    on_disk = files(tmp_path)["ledger.json"]
    assert [e["release"] for e in on_disk["history"]] == ["v1", "v2"]
    assert on_disk["current"] == "v2"


def test_a_rollback_record_puts_the_host_back(tmp_path):
    done = {"action": "record", "stage": "completed", "outcome": "success"}
    for n in (1, 2, 3):
        release(tmp_path, deploy_id=f"d-{n}", release=f"v{n}", **done)
    result = release(
        tmp_path,
        action="record",
        deploy_id="d-3",
        release="v2",
        stage="rolled_back",
        outcome="rolled_back",
        trigger="health_check_failure",
        reason="/ready failed on app1",
        diff=True,
    )
    assert (result["ledger"]["current"], result["ledger"]["previous"]) == ("v2", "v1")
    assert result["diff"]["before"]["current"] == "v3"
    assert result["diff"]["after"]["current"] == "v2"
    assert result["entry"]["replaced"] == "v3"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {"action": "record", "deploy_id": "d-1", "stage": "completed", "outcome": "success"},
            "action is record but all of the following are missing: release",
        ),
        (
            {"action": "record", "deploy_id": "d-1", "release": "", "stage": "completed"},
            "missing: outcome",
        ),
        (
            {
                "action": "record",
                "deploy_id": "d-1",
                "release": "",
                "stage": "completed",
                "outcome": "success",
            },
            "action=record needs release",
        ),
        ({"action": "lock", "deploy_id": "d-1"}, "missing: holder"),
        ({"action": "unlock", "deploy_id": ""}, "action=unlock needs deploy_id"),
        ({"action": "lock", "deploy_id": "d", "holder": "me", "ttl": 0}, "ttl must be a positive"),
        ({"action": "record", "stage": "done"}, "value of stage must be one of"),
        ({"action": "query", "history_limit": 0}, "history_limit must be at least 1"),
    ],
)
def test_bad_input_fails_naming_the_option(tmp_path, args, message):
    result = release(tmp_path, **args)
    assert result["failed"]
    assert message in result["msg"]
    assert not (tmp_path / "release").exists()


def test_a_corrupt_ledger_fails_and_is_left_alone(tmp_path):
    state = tmp_path / "release"
    state.mkdir()
    (state / "ledger.json").write_text("{not json")
    result = release(
        tmp_path,
        action="record",
        deploy_id="d-1",
        release="v1",
        stage="completed",
        outcome="success",
    )
    assert result["failed"]
    assert "ledger.json is not valid JSON" in result["msg"]
    assert (state / "ledger.json").read_text() == "{not json"


def test_check_mode_tells_what_would_happen_and_writes_nothing(tmp_path):
    result = lock(tmp_path, check=True, diff=True)
    assert result["changed"]
    assert result["acquired"]
    assert result["diff"] == {
        "before": {"holder": None, "deploy_id": None, "job_id": None, "expires_at": None},
        "after": {
            "holder": "alice@ctl",
            "deploy_id": "d-1",
            "job_id": "42",
            "expires_at": result["lock"]["expires_at"],
        },
    }
    assert not (tmp_path / "release").exists()
    recorded = release(
        tmp_path,
        check=True,
        action="record",
        deploy_id="d-1",
        release="v1",
        stage="completed",
        outcome="success",
    )
    assert recorded["changed"]
    assert recorded["ledger"]["current"] == "v1"
    assert not (tmp_path / "release").exists()


def test_check_mode_still_refuses_a_held_lock(tmp_path):
    lock(tmp_path)
    before = files(tmp_path)
    result = lock(tmp_path, deploy_id="d-2", check=True)
    assert result["failed"]
    assert result["msg"].startswith(HELD)
    forced = lock(tmp_path, deploy_id="d-2", check=True, force=True)
    assert forced["broken"]["reason"] == "forced"
    assert files(tmp_path) == before


def test_no_diff_is_returned_unless_asked(tmp_path):
    assert "diff" not in lock(tmp_path)


def race(tmp_path, count: int, hold_guard: bool) -> list[dict]:
    """`count` runs that each try to take the lock for their own deploy at once.

    With hold_guard the test holds the guard while they start, so every run
    is waiting on the flock when it is let go: they contend at the same instant.
    """
    state = tmp_path / "release"
    state.mkdir(exist_ok=True)
    guard = os.open(state / ".guard", os.O_RDWR | os.O_CREAT, 0o640)
    if hold_guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
    try:
        procs = [
            start(tmp_path, {"action": "lock", "deploy_id": f"d-{n}", "holder": f"h{n}@ctl"})
            for n in range(count)
        ]
        if hold_guard:
            time.sleep(1.5)  # every process has imported and is waiting on the guard
            assert all(p.poll() is None for p in procs), "a run did not wait for the guard"
    finally:
        os.close(guard)
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(result_of, procs))


@pytest.mark.parametrize("hold_guard", [True, False], ids=["released-together", "started-together"])
def test_racing_runs_on_one_host_let_exactly_one_deploy_take_the_lock(tmp_path, hold_guard):
    results = race(tmp_path, 4, hold_guard)
    winners = [r for r in results if not r.get("failed")]
    losers = [r for r in results if r.get("failed")]
    assert len(winners) == 1, results
    winner = winners[0]["lock"]
    assert files(tmp_path)["lock.json"]["deploy_id"] == winner["deploy_id"]
    assert len(losers) == 3
    for loser in losers:
        assert loser["msg"].startswith(f"deploy lock held by {winner['holder']} ")


@pytest.mark.controller
def test_ansible_runs_the_module_with_its_module_utils(tmp_path):
    """Through ansible itself: AnsiballZ must ship the _release_* module_utils."""
    state = tmp_path / "release"
    args = f"action=lock deploy_id=t1 holder=me path={state}"
    cmd = ["ansible", "localhost", "-c", "local", "-m", "slipway.ops.release", "-a", args]
    first = run(cmd, env=ansible_env(), timeout=120)
    assert first.returncode == 0, first.stdout
    assert "acquired: true" in first.stdout
    second = run([*cmd[:-1], args.replace("t1", "t2")], env=ansible_env(), timeout=120)
    assert second.returncode != 0
    assert "deploy lock held by me (deploy t1, no AWX job)" in second.stdout


@pytest.mark.controller
def test_the_documented_options_are_the_argument_spec():
    env = ansible_env(ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"))
    shown = run(["ansible-doc", "--json", "-t", "module", "slipway.ops.release"], env=env)
    assert shown.returncode == 0, shown.stdout
    documented = json.loads(shown.stdout)["slipway.ops.release"]["doc"]["options"]
    assert set(documented) == set(ARGUMENT_SPEC)
    for name, spec in ARGUMENT_SPEC.items():
        doc = documented[name]
        assert doc["type"] == spec["type"], name
        assert doc.get("default") == spec.get("default"), name
        assert doc.get("choices") == spec.get("choices"), name
