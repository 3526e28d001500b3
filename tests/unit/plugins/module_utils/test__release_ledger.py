"""The release ledger moves current/previous only when the host's release really changed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from ansible_collections.slipway.ops.plugins.module_utils import _release_ledger as ledgers

T0 = datetime(2026, 11, 23, 5, 0, 0, tzinfo=timezone.utc)


def entry(release, stage="completed", outcome="success", deploy_id=None, n=0, **kw):
    return ledgers.make_entry(
        deploy_id=deploy_id or f"d-{release}",
        release=release,
        stage=stage,
        outcome=outcome,
        now=T0 + timedelta(minutes=n),
        **kw,
    )


def play(*steps, ledger=None, limit=50):
    """Record steps (release, stage, outcome) in order; the ledger after the last."""
    ledger = ledger or ledgers.empty_ledger()
    for n, step in enumerate(steps):
        ledger, _ = ledgers.record(ledger, entry(*step, n=n), limit)
    return ledger


def deployed(*releases):
    """A host that completed each release in turn."""
    return play(*[(r, "completed", "success") for r in releases])


def state(ledger):
    return ledger["current"], ledger["previous"]


def test_an_entry_carries_every_field():
    assert entry("v1", reason="", trigger="", who="alice") == {
        "deploy_id": "d-v1",
        "release": "v1",
        "stage": "completed",
        "outcome": "success",
        "reason": "",
        "trigger": "",
        "who": "alice",
        "at": "2026-11-23T05:00:00Z",
    }


def test_the_first_completed_release_becomes_current():
    ledger = deployed("v1")
    assert state(ledger) == ("v1", None)
    assert ledger["history"][-1]["replaced"] is None


def test_a_completed_release_moves_current_to_previous():
    ledger = deployed("v1", "v2")
    assert state(ledger) == ("v2", "v1")
    assert ledger["history"][-1]["replaced"] == "v1"


@pytest.mark.parametrize(
    ("stage", "outcome"),
    [
        ("validating", "in_progress"),
        ("deploying", "in_progress"),
        ("monitoring", "success"),
        ("deploying", "failed"),
        ("failed", "failed"),
        ("rolling_back", "in_progress"),
    ],
)
def test_steps_before_completion_touch_history_only(stage, outcome):
    ledger, changed = ledgers.record(deployed("v1"), entry("v2", stage, outcome))
    assert changed
    assert state(ledger) == ("v1", None)
    assert ledger["history"][-1]["release"] == "v2"
    assert "replaced" not in ledger["history"][-1]


def test_completing_the_current_release_again_keeps_previous():
    ledger = play(("v1", "completed", "success"), ("v2", "completed", "success"))
    ledger, changed = ledgers.record(ledger, entry("v2", deploy_id="d-again"))
    assert changed
    assert state(ledger) == ("v2", "v1")


def test_adopting_a_running_release_makes_it_current():
    ledger = play(("v7", "adopted", "success"))
    assert state(ledger) == ("v7", None)


def test_the_same_step_recorded_again_changes_nothing():
    ledger = deployed("v1", "v2")
    again, changed = ledgers.record(ledger, entry("v2", reason="a second time", n=9))
    assert not changed
    assert again == ledger


def test_the_same_step_of_another_deploy_is_recorded():
    ledger = deployed("v1")
    again, changed = ledgers.record(ledger, entry("v1", deploy_id="d-other"))
    assert changed
    assert len(again["history"]) == 2


def test_an_older_repeat_is_not_a_repeat():
    ledger = play(("v2", "deploying", "in_progress"), ("v2", "deploying", "failed"))
    _, changed = ledgers.record(ledger, entry("v2", "deploying", "in_progress"))
    assert changed


def test_rollback_after_the_host_reached_the_bad_release():
    # v1 -> v2 -> v3 completed here, then the fleet's deploy of v3 failed elsewhere.
    ledger = deployed("v1", "v2", "v3")
    ledger, changed = ledgers.record(
        ledger,
        entry("v2", "rolled_back", "rolled_back", deploy_id="d-v3", trigger="health_check_failure"),
    )
    assert changed
    # Back on v2; previous is what ran before v2, never the v3 rolled back from.
    assert state(ledger) == ("v2", "v1")
    assert ledger["history"][-1]["replaced"] == "v3"
    assert ledger["history"][-1]["trigger"] == "health_check_failure"


def test_rollback_when_the_host_never_left_the_release():
    # The deploy of v3 failed on this host before it was recorded on v3.
    ledger = play(
        ("v1", "completed", "success"),
        ("v2", "completed", "success"),
        ("v3", "deploying", "in_progress"),
        ("v3", "deploying", "failed"),
    )
    ledger, changed = ledgers.record(ledger, entry("v2", "rolled_back", "rolled_back"))
    assert changed
    assert state(ledger) == ("v2", "v1")
    assert "replaced" not in ledger["history"][-1]


def test_rolling_back_twice_walks_back_and_never_offers_a_release_rolled_back_from():
    ledger = deployed("v1", "v2", "v3")
    ledger, _ = ledgers.record(ledger, entry("v2", "rolled_back", "rolled_back"))
    ledger, _ = ledgers.record(ledger, entry("v1", "rolled_back", "rolled_back"))
    assert state(ledger) == ("v1", None)


def test_a_new_deploy_after_a_rollback_remembers_the_good_release():
    ledger = deployed("v1", "v2", "v3")
    ledger, _ = ledgers.record(ledger, entry("v2", "rolled_back", "rolled_back"))
    ledger, _ = ledgers.record(ledger, entry("v4"))
    assert state(ledger) == ("v4", "v2")
    # Rolling v4 back goes to v2, whose predecessor is still v1 (not the bad v3).
    ledger, _ = ledgers.record(ledger, entry("v2", "rolled_back", "rolled_back", deploy_id="x"))
    assert state(ledger) == ("v2", "v1")


def test_rollback_to_a_release_history_no_longer_holds_leaves_no_previous():
    ledger = play(*[(f"v{n}", "completed", "success") for n in range(1, 6)], limit=2)
    ledger, _ = ledgers.record(ledger, entry("v2", "rolled_back", "rolled_back"), 2)
    assert state(ledger) == ("v2", None)


def test_history_keeps_the_newest_entries_up_to_the_limit():
    ledger = play(*[(f"v{n}", "completed", "success") for n in range(1, 8)], limit=3)
    assert [e["release"] for e in ledger["history"]] == ["v5", "v6", "v7"]
    assert state(ledger) == ("v7", "v6")


def test_record_leaves_the_ledger_it_was_given_alone():
    before = deployed("v1")
    snapshot = {**before, "history": list(before["history"])}
    ledgers.record(before, entry("v2"))
    assert before == snapshot


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"release": ""}, "action=record needs release"),
        ({"deploy_id": ""}, "action=record needs deploy_id"),
        ({"stage": "done"}, "stage must be one of validating, testing"),
        ({"outcome": "ok"}, "outcome must be one of in_progress, success"),
        ({"trigger": "boom"}, "trigger must be one of .*host_unreachable, ''"),
    ],
)
def test_bad_entries_name_the_option(kwargs, message):
    args = {"deploy_id": "d-1", "release": "v1", "stage": "completed", "outcome": "success"}
    with pytest.raises(ValueError, match=message):
        ledgers.make_entry(**{**args, **kwargs}, now=T0)


def test_history_limit_below_one_is_refused():
    with pytest.raises(ValueError, match="history_limit must be at least 1"):
        ledgers.record(ledgers.empty_ledger(), entry("v1"), 0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"current": 1}, "current must be a string or null"),
        ({"history": {}}, "history must be a list of objects"),
        ({"history": ["x"]}, "history must be a list of objects"),
    ],
)
def test_a_malformed_ledger_file_is_refused(data, message):
    with pytest.raises(ValueError, match=message):
        ledgers.normalize(data)


def test_a_missing_ledger_file_is_an_empty_ledger():
    assert ledgers.normalize(None) == {"current": None, "previous": None, "history": []}


def test_the_open_entry_is_the_newest_step_of_a_deploy_that_never_closed():
    history = [
        entry("v1", "completed", "success", deploy_id="d-1"),
        entry("v2", "validating", "in_progress", deploy_id="d-killed"),
        entry("v2", "deploying", "in_progress", deploy_id="d-killed"),
        # A later run refused (the lock was held) and one adopted what ran: neither closes d-killed.
        entry("v3", "failed", "refused", deploy_id="d-refused"),
        entry("v2", "adopted", "success", deploy_id="d-query"),
    ]
    found = ledgers.open_entry(history)
    assert (found["deploy_id"], found["stage"]) == ("d-killed", "deploying")
    closed = [*history, entry("v2", "failed", "interrupted", deploy_id="d-killed")]
    assert ledgers.open_entry(closed) is None
    assert ledgers.open_entry([]) is None
