# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The statistics the gates and checks judge with. Pure Python, standard library
only: the modules that use it run on target hosts from Python 3.8 on.

A latency budget ("p95 within 500 ms") is a claim about a share: at most 5 % of
requests slower than 500 ms. A handful of requests cannot show that the share
is over 5 % just because one of them was slow. On a busy host one slow request
in thirteen is chance, and failing a release for it is crying wolf. So the
budget is judged with a one-sided binomial test: it is broken when the count
of slow requests is more than chance allows at the budget's share, at the
significance `alpha`. A release slow on every request fails on a few samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The chance of failing a release whose latency is within its budget, per judgement.
ALPHA = 0.01


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (share in 0..1: the value at rank ceil(share * n)).

    None when there are no values.
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space (no overflow at large n)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    log_n = math.lgamma(n + 1)
    total = 0.0
    for i in range(k, n + 1):
        log_term = log_n - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        total += math.exp(log_term)
    return min(1.0, total)


@dataclass
class Budget:
    """What a set of latencies says about a quantile budget."""

    samples: int
    over: int  # how many were slower than the budget
    quantile_ms: float | None  # the observed quantile (nearest rank)
    p_value: float  # the chance of `over` or more slow ones if the budget held
    broken: bool

    def describe(self, budget_ms: float, quantile: float) -> str:
        """One phrase: the observed quantile, the count over budget and whether it is chance."""
        name = f"p{quantile * 100:g}"
        observed = "n/a" if self.quantile_ms is None else f"{self.quantile_ms:.0f} ms"
        if self.broken:
            return (
                f"{name} {observed} over the {budget_ms:g} ms budget: {self.over} of "
                f"{self.samples} requests slower, more than chance allows (p = {self.p_value:.2g})"
            )
        if self.over:
            return (
                f"{name} {observed}; {self.over} of {self.samples} requests over the "
                f"{budget_ms:g} ms budget, within chance (p = {self.p_value:.2g})"
            )
        return f"{name} {observed} within the {budget_ms:g} ms budget"


def judge_budget(
    latencies: list[float], budget_ms: float, quantile: float = 0.95, alpha: float = ALPHA
) -> Budget:
    """Judge "the `quantile` of the latencies is within `budget_ms`".

    Broken when the number of latencies over the budget is significant at
    `alpha` under the hypothesis that at most (1 - quantile) of all requests
    are over it.
    """
    n = len(latencies)
    over = sum(1 for v in latencies if v > budget_ms)
    p_value = binomial_sf(over, n, 1.0 - quantile)
    return Budget(
        samples=n,
        over=over,
        quantile_ms=percentile(latencies, quantile),
        p_value=p_value,
        broken=over > 0 and p_value < alpha,
    )


# A latency budget broken once may be a stall of the machine, which every
# request of a short sample shares. Where a judgement confirms a breach (the
# health gate's soak, the verification's performance sample), a second sample of
# the same size, judged on its own requests, decides: a slower release stays
# slow, a stall does not. These say which it was, the same way everywhere.
def confirmed(said: str, again: str, first: str) -> str:
    """`said` of the second sample (`again`, e.g. "a second 10 s soak"): broken twice."""
    return f"{said}, confirmed by {again} (the first: {first})"


def not_confirmed(said: str, again: str, first: str) -> str:
    """`said` of the second sample: within the budget, so the first breach was a stall."""
    return f"{said} in {again}; the first one's {first} did not hold (a stall, not the release)"


# ---- Two samples: the canary against its baseline ------------------------------


def normal_sf(z: float) -> float:
    """P(Z >= z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def mann_whitney_greater(x: list[float], y: list[float]) -> tuple[float, float]:
    """One-sided Mann-Whitney U test that x tends to be greater than y.

    Returns (U of x, p-value), by the normal approximation with the tie
    correction and the continuity correction (scipy's mannwhitneyu with
    method="asymptotic", alternative="greater"). Latencies in whole
    milliseconds tie often, so the tie correction matters.
    """
    n1, n2 = len(x), len(y)
    if not n1 or not n2:
        return 0.0, 1.0
    pooled = sorted([(v, 0) for v in x] + [(v, 1) for v in y])
    rank_sum_x = 0.0
    ties = 0.0
    i, n = 0, n1 + n2
    while i < n:
        j = i
        while j + 1 < n and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        rank = (i + j) / 2.0 + 1.0  # the mean rank of the tied run
        count = j - i + 1
        ties += count**3 - count
        rank_sum_x += rank * sum(1 for k in range(i, j + 1) if pooled[k][1] == 0)
        i = j + 1
    u = rank_sum_x - n1 * (n1 + 1) / 2.0
    mean = n1 * n2 / 2.0
    variance = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    if variance <= 0:
        return u, 1.0 if u <= mean else 0.0
    z = (u - mean - 0.5) / math.sqrt(variance)
    return u, normal_sf(z)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_greater(a: int, b: int, c: int, d: int) -> float:
    """One-sided Fisher exact test on [[a, b], [c, d]]: the odds a/b greater than c/d.

    Rows are canary and baseline, columns bad and good requests: the p-value is
    the chance of a canary at least this bad if both sides failed alike
    (scipy's fisher_exact with alternative="greater").
    """
    row1, col1, n = a + b, a + c, a + b + c + d
    if not n:
        return 1.0
    hi = min(row1, col1)
    denominator = _log_comb(n, row1)
    total = 0.0
    for k in range(a, hi + 1):
        total += math.exp(_log_comb(col1, k) + _log_comb(n - col1, row1 - k) - denominator)
    return min(1.0, total)


def wilson_interval(k: int, n: int, z: float = 2.326) -> tuple[float, float]:
    """The Wilson score interval of a share k/n (z 2.326: 98 % two-sided, 99 % each side)."""
    if not n:
        return 0.0, 1.0
    share = k / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)
