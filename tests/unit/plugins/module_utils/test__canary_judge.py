"""The canary judge on synthetic traffic: what it catches, what it leaves as chance."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from ansible_collections.slipway.ops.plugins.module_utils import _canary_judge as judge
from ansible_collections.slipway.ops.plugins.module_utils._canary_judge import Policy, Traffic

POLICY = Policy()


def traffic(
    seed: int,
    n: int,
    *,
    errors: int = 0,
    slow_share: float = 0.0,
    slow_ms: float = 1500,
    scale: float = 1.0,
    stall_share: float = 0.0,
    stalls: list[tuple[float, float]] | None = None,
) -> Traffic:
    """n requests: lognormal upstream times around 20 ms in whole ms, `errors` of them errors,
    `slow_share` of the answered ones at slow_ms; `stall_share` of them 1 to 3 s later (a
    stall of the machine: both sides share it). With `stalls`, each request ends at a time
    within 30 s, and those within a stall are 1 to 3 s later."""
    rng = random.Random(seed)  # noqa: S311 - reproducible samples, not secrets
    answered = n - errors
    latencies, times = [], []
    for _ in range(answered):
        t = round(rng.uniform(0, 30), 3) if stalls is not None else None
        slow = rng.random() < slow_share
        latency = float(slow_ms if slow else round(scale * rng.lognormvariate(3.0, 0.5)))
        stalled = any(a <= t < b for a, b in stalls) if stalls is not None else False
        if rng.random() < stall_share or stalled:
            latency += round(rng.uniform(1000, 3000))
        latencies.append(latency)
        times += [t] if t is not None else []
    return Traffic(latencies=latencies, errors=errors, times=times)


def untimed(side: Traffic) -> Traffic:
    """The same requests with no times: judged over the whole window."""
    return Traffic(side.latencies, side.errors)


def test_a_good_canary_passes_on_every_route_with_traffic():
    canary = {"reads": traffic(1, 200), "task_submissions": traffic(2, 80)}
    baseline = {"reads": traffic(3, 800), "task_submissions": traffic(4, 320)}
    result = judge.judge(canary, baseline, POLICY)
    assert result["verdict"] == "passed", result
    assert result["reason"] == "no regression on 280 requests (reads 200, task_submissions 80)"
    assert [r["route"] for r in result["routes"]] == ["reads", "task_submissions"]


def test_a_route_slowed_for_a_share_of_its_requests_fails_on_its_tail():
    # the median barely moves; a fifth of the canary's reads take 1.5 s
    canary = {"reads": traffic(1, 150, slow_share=0.2)}
    baseline = {"reads": traffic(3, 600)}
    result = judge.judge(canary, baseline, POLICY)
    assert (result["verdict"], result["trigger"]) == ("failed", "performance_degradation")
    assert "well over the baseline's p95" in result["reason"]


@pytest.mark.parametrize("stall_share", [0.05, 0.10, 0.15])
def test_a_stall_the_fleet_shares_does_not_hide_a_route_slowed_for_a_share(stall_share):
    # CI's slow-read release passed: a stall of a few seconds in the window lifted the
    # baseline's p95 over 1.5 s. The canary's reads are a quarter slower than its p75.
    canary = {"reads": traffic(1, 570, slow_share=0.25, stall_share=stall_share)}
    baseline = {"reads": traffic(3, 2280, stall_share=stall_share)}
    result = judge.judge(canary, baseline, replace(POLICY, looks=12))
    assert (result["verdict"], result["trigger"]) == ("failed", "performance_degradation")
    assert "well over the baseline's p75" in result["reason"], result["reason"]


# A stall of 10 s of a 30 s look (CI's, at the slow-read canary's second and third looks),
# and one of 0.3 s every 1.5 s (a machine under CPU pressure).
STALLS = {"one long": [(5.0, 15.0)], "many short": [(1.5 * i, 1.5 * i + 0.3) for i in range(20)]}


@pytest.mark.parametrize("stalls", STALLS.values(), ids=STALLS.keys())
def test_a_stall_the_fleet_shares_is_held_against_the_baseline_at_the_same_moment(stalls):
    policy = replace(POLICY, looks=12)
    missed = caught = alarms = 0
    for i in range(20):
        baseline = {"reads": traffic(2 * i + 1, 900, stalls=stalls)}
        canary = {"reads": traffic(2 * i, 300, stalls=stalls, slow_share=0.25)}
        result = judge.judge(canary, baseline, policy)
        caught += result["verdict"] == "failed"
        assert "at the same moment" in result["reason"], result["reason"]
        # The same requests with no times (the whole window's quantiles) miss some.
        whole = {"reads": untimed(canary["reads"])}
        missed += (
            judge.judge(whole, {"reads": untimed(baseline["reads"])}, policy)["verdict"] != "failed"
        )
        good = {"reads": traffic(1000 + i, 300, stalls=stalls)}
        alarms += judge.judge(good, baseline, policy)["verdict"] == "failed"
    assert (caught, alarms) == (20, 0)
    assert missed > 0


def test_the_stretches_hold_enough_of_the_baselines_requests_and_seconds():
    assert judge.stretches([]) == []
    assert judge.stretches([i / 10 for i in range(10)]) == []  # too few: one stretch
    # 40 a second: a stretch every half second (20 requests each)
    assert judge.stretches([i / 40 for i in range(400)]) == [i / 2 for i in range(1, 20)]
    # 10 a second: a stretch every 15 requests; the last 10 join the one before
    assert judge.stretches([i / 10 for i in range(100)]) == [1.5, 3.0, 4.5, 6.0, 7.5]


def test_the_times_of_one_side_alone_or_of_another_window_change_nothing():
    canary, baseline = traffic(1, 300, stalls=[], slow_share=0.25), traffic(2, 900, stalls=[])
    whole = judge.judge({"reads": untimed(canary)}, {"reads": untimed(baseline)}, POLICY)
    assert "well over the baseline's p95 of" in whole["reason"]
    one_side = judge.judge({"reads": canary}, {"reads": untimed(baseline)}, POLICY)
    assert one_side == whole
    # The watch: the fleet 300 s before, against the host's window.
    earlier = Traffic(baseline.latencies, times=[t - 300 for t in baseline.times])
    assert not judge.together(canary, earlier)
    assert judge.judge({"reads": canary}, {"reads": earlier}, POLICY) == whole
    assert judge.together(canary, baseline)
    # pooled with a side that has no times: none is kept
    mixed = judge.pooled([{"reads": canary}, {"reads": untimed(baseline)}])["reads"]
    assert (mixed.requests, mixed.times) == (1200, [])
    assert judge.pooled([{"reads": canary}, {"reads": baseline}])["reads"].timed


def test_a_route_slower_on_every_request_fails_on_its_median():
    result = judge.judge({"reads": traffic(1, 60, scale=3.0)}, {"reads": traffic(3, 600)}, POLICY)
    assert (result["verdict"], result["trigger"]) == ("failed", "performance_degradation")
    assert result["reason"].startswith("reads: median ")


def test_a_share_of_failed_submissions_fails_as_health_even_on_few_requests():
    canary = {"task_submissions": traffic(1, 12, errors=4), "reads": traffic(2, 300)}
    baseline = {"task_submissions": traffic(3, 60), "reads": traffic(4, 1200)}
    result = judge.judge(canary, baseline, POLICY)
    assert (result["verdict"], result["trigger"]) == ("failed", "health_check_failure")
    assert result["reason"].startswith("task_submissions: errors 4 of 12 (33.3%) against")


def test_errors_over_the_budget_fail_even_when_the_baseline_errs_alike():
    result = judge.judge(
        {"reads": traffic(1, 400, errors=40)}, {"reads": traffic(3, 400, errors=40)}, POLICY
    )
    assert result["verdict"] == "failed"
    assert "over the 1.0% budget" in result["reason"]


def test_one_error_among_many_is_chance():
    result = judge.judge({"reads": traffic(1, 300, errors=1)}, {"reads": traffic(3, 1200)}, POLICY)
    assert result["verdict"] == "passed", result["reason"]


def test_too_few_requests_is_inconclusive_and_says_how_many():
    result = judge.judge({"reads": traffic(1, 20)}, {"reads": traffic(3, 500)}, POLICY)
    assert result["verdict"] == "inconclusive"
    assert result["reason"] == "inconclusive: 20 requests (too few on reads to judge)"
    assert judge.judge({}, {}, POLICY)["reason"] == "inconclusive: 0 requests"


def test_a_quiet_route_does_not_hold_back_a_verdict_the_busy_ones_give():
    canary = {"reads": traffic(1, 200), "other_writes": traffic(2, 3)}
    baseline = {"reads": traffic(3, 800), "other_writes": traffic(4, 10)}
    assert judge.judge(canary, baseline, POLICY)["verdict"] == "passed"


def test_the_result_carries_each_routes_figures_and_p_values():
    route = judge.judge({"reads": traffic(1, 100)}, {"reads": traffic(3, 400)}, POLICY)["routes"][0]
    assert route["canary"]["requests"] == 100
    assert set(route["p_values"]) == {"errors", "latency", "tail"}
    assert route["baseline"]["p50_ms"] > 0


def test_the_policy_names_what_is_wrong():
    assert Policy().check() == []
    assert Policy(alpha=0, min_requests=0).check() == [
        "alpha 0 must be between 0 and 0.5",
        "min_requests 0 must be at least 1",
    ]


def test_a_and_a_false_fail_rate_is_within_alpha():
    # Both sides from one distribution: how often the judge cries wolf.
    fails = 0
    windows = 300
    for i in range(windows):
        canary = {
            "reads": traffic(2 * i, 120, errors=i % 2),
            "task_submissions": traffic(5000 + i, 40),
        }
        baseline = {
            "reads": traffic(2 * i + 1, 480, errors=2),
            "task_submissions": traffic(9000 + i, 160),
        }
        fails += judge.judge(canary, baseline, POLICY)["verdict"] == "failed"
    assert fails / windows <= 0.01


def test_a_and_a_through_a_stall_the_fleet_shares_is_within_alpha():
    # A tenth of both sides' requests a second or more late: the p75 cries wolf no more.
    windows = 300
    fails = sum(
        judge.judge(
            {"reads": traffic(2 * i, 120, stall_share=0.1)},
            {"reads": traffic(2 * i + 1, 480, stall_share=0.1)},
            POLICY,
        )["verdict"]
        == "failed"
        for i in range(windows)
    )
    assert fails / windows <= 0.01


def _verdict(verdict: str, trigger: str = "") -> dict:
    return {"verdict": verdict, "routes": [{"verdict": verdict, "trigger": trigger}]}


LOOKS = judge.Looks(at=10, window=60, max_window=120, latency_looks=2)


@pytest.mark.parametrize(
    ("result", "looks", "expected"),
    [
        # More errors decide at once, at the first look.
        (_verdict(judge.FAIL, judge.HEALTH), LOOKS, (True, 1)),
        # A slower canary is decided on the latency_looks-th look in a row, not before.
        (_verdict(judge.FAIL, judge.PERFORMANCE), LOOKS, (False, 1)),
        (_verdict(judge.FAIL, judge.PERFORMANCE), replace(LOOKS, failed_in_a_row=1), (True, 2)),
        # A look that does not fail ends the run of failed looks.
        (_verdict(judge.PASS), replace(LOOKS, failed_in_a_row=1), (False, 0)),
        # A pass needs the whole window; the longest window decides whatever it shows.
        (_verdict(judge.PASS), replace(LOOKS, at=60), (True, 0)),
        (_verdict(judge.INCONCLUSIVE), replace(LOOKS, at=110), (False, 0)),
        (_verdict(judge.INCONCLUSIVE), replace(LOOKS, at=120), (True, 0)),
    ],
)
def test_a_look_decides_on_errors_at_once_on_latency_in_a_row_and_on_a_pass_over_the_window(
    result, looks, expected
):
    decision = judge.decide(result, looks)
    assert (decision["decided"], decision["failed_in_a_row"]) == expected
