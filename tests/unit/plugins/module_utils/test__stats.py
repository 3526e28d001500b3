"""The statistics the gates judge with, against scipy as the reference (tests only)."""

from __future__ import annotations

import random

import pytest
from ansible_collections.slipway.ops.plugins.module_utils import _stats as stats
from scipy import stats as reference


def test_percentiles_by_nearest_rank():
    values = list(range(1, 101))
    assert stats.percentile(values, 0.50) == 50
    assert stats.percentile(values, 0.95) == 95
    assert stats.percentile([7.0], 0.95) == 7.0
    assert stats.percentile([1, 2, 3, 4], 0.50) == 2
    assert stats.percentile([], 0.95) is None


@pytest.mark.parametrize(
    ("k", "n", "p"),
    [
        (0, 13, 0.05),
        (1, 13, 0.05),
        (3, 13, 0.05),
        (13, 13, 0.05),
        (8, 38, 0.05),
        (7, 50, 0.05),
        (31, 400, 0.05),
        (60, 1000, 0.05),
        (500, 1000, 0.5),
        (2, 5, 0.9),
    ],
)
def test_binomial_tail_matches_scipy(k, n, p):
    assert stats.binomial_sf(k, n, p) == pytest.approx(reference.binom.sf(k - 1, n, p), rel=1e-9)


def test_binomial_tail_edges():
    assert stats.binomial_sf(14, 13, 0.05) == 0.0
    assert stats.binomial_sf(1, 13, 0.0) == 0.0
    assert stats.binomial_sf(1, 13, 1.0) == 1.0


def test_a_budget_breaks_only_on_more_slow_requests_than_chance_allows():
    # 13 samples, p95 budget: 3 slow ones are chance at alpha 0.01, 4 are not
    assert not stats.judge_budget([50.0] * 10 + [700.0] * 3, 500).broken
    broken = stats.judge_budget([50.0] * 9 + [700.0] * 4, 500)
    assert broken.broken
    assert (broken.samples, broken.over, broken.quantile_ms) == (13, 4, 700.0)
    assert broken.p_value == pytest.approx(reference.binom.sf(3, 13, 0.05))


def test_a_budget_held_by_a_good_release_is_rarely_called_broken():
    # A/A: latencies whose true p95 is exactly at the budget; the false-fail rate is
    # at most alpha (the test is exact, so conservative).
    rng = random.Random(7)  # noqa: S311 - reproducible samples, not secrets
    trials, fails = 4000, 0
    for _ in range(trials):
        n = rng.choice([13, 38, 50, 200])
        sample = [rng.expovariate(1.0) for _ in range(n)]
        fails += stats.judge_budget(sample, 2.995732, 0.95).broken  # the exponential's p95
    assert fails / trials <= stats.ALPHA


def test_a_release_slower_everywhere_is_always_caught():
    rng = random.Random(11)  # noqa: S311 - reproducible samples, not secrets
    for _ in range(200):
        sample = [600 + rng.random() * 900 for _ in range(5)]
        assert stats.judge_budget(sample, 500).broken


def samples(seed: int, n: int, scale: float = 1.0, shift: float = 0.0) -> list[float]:
    rng = random.Random(seed)  # noqa: S311 - reproducible samples, not secrets
    # whole milliseconds, as the load balancer logs them: many ties
    return [float(round(shift + scale * rng.lognormvariate(3.0, 0.6))) for _ in range(n)]


@pytest.mark.parametrize(
    ("canary", "baseline"),
    [
        (samples(1, 40), samples(2, 400)),
        (samples(3, 40, shift=15), samples(4, 400)),
        (samples(5, 300, scale=1.1), samples(6, 2000)),
        (samples(7, 9), samples(8, 12)),
        ([5.0] * 20 + [6.0] * 5, [5.0] * 30 + [6.0] * 2),
    ],
)
def test_mann_whitney_matches_scipy(canary, baseline):
    u, p = stats.mann_whitney_greater(canary, baseline)
    want = reference.mannwhitneyu(canary, baseline, alternative="greater", method="asymptotic")
    assert u == pytest.approx(want.statistic)
    assert p == pytest.approx(want.pvalue, rel=1e-9, abs=1e-15)


def test_mann_whitney_without_spread_or_samples():
    assert stats.mann_whitney_greater([], [1.0]) == (0.0, 1.0)
    assert stats.mann_whitney_greater([3.0, 3.0], [3.0, 3.0])[1] == 1.0


@pytest.mark.parametrize(
    "table",
    [
        (3, 97, 10, 990),
        (12, 88, 10, 990),
        (0, 50, 3, 1000),
        (5, 5, 0, 10),
        (1, 0, 0, 1),
        (0, 0, 0, 0),
    ],
)
def test_fisher_matches_scipy(table):
    a, b, c, d = table
    want = 1.0 if not sum(table) else reference.fisher_exact([[a, b], [c, d]], "greater").pvalue
    assert stats.fisher_greater(a, b, c, d) == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize(("k", "n"), [(0, 50), (3, 100), (50, 100), (100, 100), (1, 7)])
def test_wilson_matches_scipy(k, n):
    want = reference.binomtest(k, n).proportion_ci(confidence_level=0.98, method="wilson")
    low, high = stats.wilson_interval(k, n, z=reference.norm.ppf(0.99))
    assert (low, high) == (pytest.approx(want.low, abs=1e-12), pytest.approx(want.high, abs=1e-12))
