# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The canary judge: the traffic a canary served against its baseline's, per route
class, over the same window. Pure Python, no I/O: the evidence comes from a
source (_canary_evidence: the load balancers' access logs, or Prometheus), and
the Kubernetes target calls the same judge.

Per route class (the vocabulary's ROUTE_CLASSES), three questions, each a
one-sided test at `alpha` (divided among the looks a deploy takes at a growing
window) with a minimum effect, so that neither a real regression is missed nor
chance cries wolf:

- errors: is the canary's error share greater than the baseline's? Fisher's
  exact test, and at least `error_min_increase` more in absolute share. Also
  failed when the Wilson interval's lower bound of the canary's share is over
  the absolute budget `error_budget`, whatever the baseline does.
- latency: is the canary slower? The Mann-Whitney U test, and the canary's
  median at least `latency_min_increase` (a share) and `latency_min_ms` over
  the baseline's.
- tail: do more of the canary's requests exceed the baseline's p95, or its p75
  (TAIL_QUANTILES), at the same moment (STRETCH_SECONDS)? Fisher's exact test, at
  least twice the baseline's share and `tail_min_increase` more. A route slowed
  for some requests only moves the tail, not the median.

A class fails on any of them, even on a few requests (ten failures out of ten
are evidence enough). It passes only with `min_requests` on both sides; else
it is inconclusive. The verdict fails when a class fails, passes when a class
passed and every other one passed or was quiet (under `quiet_share` of all the
requests, both sides together), and is inconclusive otherwise: never a silent
pass.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field, replace

from ansible_collections.slipway.ops.plugins.module_utils import _stats as stats
from ansible_collections.slipway.ops.plugins.module_utils import _vocabulary as vocabulary

PASS, FAIL, INCONCLUSIVE = vocabulary.VERDICTS  # passed, failed, inconclusive
HEALTH = vocabulary.HEALTH_CHECK_FAILURE
PERFORMANCE = vocabulary.PERFORMANCE_DEGRADATION


# The tail is judged over the baseline's p95, and over its p75, each at half the level
# (the reason names the first that fails): a route slow on a few of its requests shows
# over the p95; one slow on a quarter of them lifts the p95 itself, not the p75.
TAIL_QUANTILES = (0.95, 0.75)
# Over one window, each request is held against the baseline's quantile at the same
# moment: the window is cut into stretches of at least STRETCH_SECONDS holding at least
# STRETCH_REQUESTS of the baseline's answered requests. A stall the whole fleet shares (a
# busy machine: every request one to three seconds late) lifts its own stretches'
# quantiles, so the canary's requests in it are not counted slow for it, and the calm
# stretches still show the canary's slow route. Over the whole window at once, a stall of
# a fifth of it put the baseline's p75 over the slow route's 1.5 s; stretches of 2 s missed
# half the time under stalls of 0.3 s every 1.5 s (tests/unit's test__canary_judge).
STRETCH_SECONDS = 0.5
STRETCH_REQUESTS = 15


@dataclass
class Traffic:
    """What one side served on one route class: every answered request's upstream
    time (ms) and how many requests were errors (5xx, upstream error, timeout); and
    when each answered request ended (epoch seconds, in the order of `latencies`), or
    nothing when the source cannot say (Prometheus's bins)."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    times: list[float] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.latencies) + self.errors

    @property
    def timed(self) -> bool:
        """Whether every answered request says when it ended."""
        return bool(self.latencies) and len(self.times) == len(self.latencies)

    # On the wire (lb_traffic's result, canary_judge's input) each list is one string of
    # numbers apart by spaces: latencies in ms, times in whole ms since the epoch. The
    # controller copies a result for each task and callback that touches it, element by
    # element for a list: 100,000 requests read, kept and judged cost it 6.6 s of CPU as
    # lists, 1.6 s as strings (tests/bench/evidence_cost.py; docs/deploy.md, "Evidence as
    # text").
    def packed(self) -> dict:
        """This side as lb_traffic returns it: {latencies, times, errors}."""
        return {
            "latencies": " ".join(f"{v:.10g}" for v in self.latencies),
            "times": " ".join(str(round(t * 1000)) for t in self.times),
            "errors": self.errors,
        }

    @classmethod
    def unpacked(cls, side: dict) -> Traffic:
        """A side from packed(), or from lists of numbers (latencies in ms, times in epoch
        seconds). Raises ValueError naming the field that holds something else."""
        return cls(
            _numbers(side, "latencies", 1),
            int(side.get("errors", 0)),
            _numbers(side, "times", 1000),
        )


def _numbers(side: dict, name: str, per_unit: int) -> list[float]:
    """The list `name` of a side; a packed string's numbers in `per_unit`s (ms a second: 1000)."""
    value = side.get(name) or []
    try:
        if isinstance(value, str):
            return [float(v) / per_unit for v in value.split()]
        return [float(v) for v in value]
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be numbers apart by spaces (as lb_traffic returns them) or a list"
            f" of numbers, got {str(value)[:60]!r}"
        ) from None


def together(canary: Traffic, baseline: Traffic) -> bool:
    """Whether the two sides were served over the same window, so that a request can be
    held against the baseline's at the same moment: both timed, and nine in ten of the
    canary's requests within the baseline's first and last. A side from an earlier window
    (the watch's fleet before the deploy) is judged over its whole window."""
    if not (canary.timed and baseline.timed):
        return False
    first, last = min(baseline.times), max(baseline.times)
    within = sum(1 for t in canary.times if first <= t <= last)
    return within >= 0.9 * len(canary.times)


# The policy's fields that are shares (0..1).
SHARES = (
    "error_budget",
    "error_min_increase",
    "latency_min_increase",
    "tail_min_increase",
    "quiet_share",
)


@dataclass(frozen=True)
class Policy:
    """The judge's thresholds. The defaults and why: docs/canary.md."""

    alpha: float = 0.01
    # How many times the judge looks at a growing window (a deploy judges every few
    # seconds and fails at the first look that shows a regression): each look tests at
    # alpha / looks, so that the whole sequence cries wolf at most alpha of the time.
    looks: int = 1
    min_requests: int = 50
    error_budget: float = 0.01
    error_min_increase: float = 0.005
    latency_min_increase: float = 0.5
    latency_min_ms: float = 25
    tail_min_increase: float = 0.10
    quiet_share: float = 0.10

    @property
    def level(self) -> float:
        """The significance each test of one look uses."""
        return self.alpha / self.looks

    def check(self) -> list[str]:
        """What is wrong with the thresholds, one phrase each ([] when nothing)."""
        problems = []
        if not 0 < self.alpha < 0.5:
            problems.append(f"alpha {self.alpha} must be between 0 and 0.5")
        if self.looks < 1:
            problems.append(f"looks {self.looks} must be at least 1")
        if self.min_requests < 1:
            problems.append(f"min_requests {self.min_requests} must be at least 1")
        for name in SHARES:
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} {getattr(self, name)} must be a share between 0 and 1")
        if self.latency_min_ms < 0:
            problems.append(f"latency_min_ms {self.latency_min_ms} must be 0 or more")
        return problems


def _share(k: int, n: int) -> float:
    return k / n if n else 0.0


def _figures(side: Traffic) -> dict:
    return {
        "requests": side.requests,
        "errors": side.errors,
        "error_rate": round(_share(side.errors, side.requests), 4),
        "p50_ms": stats.percentile(side.latencies, 0.50),
        "p95_ms": stats.percentile(side.latencies, 0.95),
    }


def _count(k: int, n: int) -> str:
    return f"{k} of {n} ({_share(k, n):.1%})"


def _errors(canary: Traffic, baseline: Traffic, policy: Policy, p_values: dict) -> list:
    """Errors against the baseline's, and against the absolute budget."""
    nc, nb = canary.requests, baseline.requests
    if not nc:
        return []
    ec, eb = canary.errors, baseline.errors
    p = p_values["errors"] = stats.fisher_greater(ec, nc - ec, eb, nb - eb)
    if p < policy.level and _share(ec, nc) - _share(eb, nb) >= policy.error_min_increase:
        said = f"errors {_count(ec, nc)} against the baseline's {_count(eb, nb)}, p = {p:.2g}"
        return [(HEALTH, said)]
    low, _high = stats.wilson_interval(ec, nc)
    if low > policy.error_budget:
        said = f"errors {_count(ec, nc)}: at least {low:.1%} with 99 % confidence"
        return [(HEALTH, f"{said}, over the {policy.error_budget:.1%} budget")]
    return []


def _latency(canary: Traffic, baseline: Traffic, policy: Policy, p_values: dict) -> list:
    """The whole distribution (its median), then its tail (the baseline's quantiles)."""
    lc, lb = canary.latencies, baseline.latencies
    if not lc or not lb:
        return []
    failures = []
    _u, p = stats.mann_whitney_greater(lc, lb)
    p_values["latency"] = p
    mc, mb = stats.percentile(lc, 0.50), stats.percentile(lb, 0.50)
    if p < policy.level and mc - mb >= max(policy.latency_min_ms, policy.latency_min_increase * mb):
        failures.append(
            (PERFORMANCE, f"median {mc:.0f} ms against the baseline's {mb:.0f} ms, p = {p:.2g}")
        )
    tail = [_tail(canary, baseline, q, policy) for q in TAIL_QUANTILES]
    p_values["tail"] = min(p for p, _said in tail)
    failures += [(PERFORMANCE, said) for _p, said in tail if said][:1]
    return failures


def stretches(times: list[float]) -> list[float]:
    """Where the window's stretches after the first begin, from the baseline's times: each
    at least STRETCH_SECONDS long and holding at least STRETCH_REQUESTS of them."""
    starts: list[float] = []
    ordered = sorted(times)
    if not ordered:
        return starts
    first, count = ordered[0], 0
    for t in ordered:
        if count >= STRETCH_REQUESTS and t - first >= STRETCH_SECONDS:
            starts.append(t)
            first, count = t, 0
        count += 1
    if starts and count < STRETCH_REQUESTS:
        starts.pop()  # too few in the last one: it joins the one before
    return starts


def _where(side: Traffic, starts: list[float]) -> list[int]:
    """The stretch of each of the side's answered requests (all in one with no starts)."""
    if not starts:
        return [0] * len(side.latencies)
    return [bisect.bisect_right(starts, t) for t in side.times]


def _slow(canary: Traffic, baseline: Traffic, q: float, policy: Policy) -> tuple:
    """How many of the canary's requests, and of the baseline's, are well over the baseline's
    q-quantile at the same moment (over it by the median's least effect; a baseline request
    against the others of its stretch, as a canary request is against all of them); and each
    stretch's quantile."""
    starts = stretches(baseline.times) if together(canary, baseline) else []
    groups: list[list[float]] = [[] for _stretch in range(len(starts) + 1)]
    for i, v in zip(_where(baseline, starts), baseline.latencies):
        groups[i].append(v)
    for group in groups:
        group.sort()

    def over(pq: float) -> float:
        return max(pq * (1 + policy.latency_min_increase), pq + policy.latency_min_ms)

    quantiles = [stats.percentile(group, q) for group in groups]
    where = _where(canary, starts)
    slow_c = sum(1 for i, v in zip(where, canary.latencies) if v > over(quantiles[i]))
    slow_b = 0
    for group in groups:
        # Without the request itself, the quantile's rank among the n - 1 others is r: the
        # value at rank r for the requests above it, at r + 1 for the others (never slow).
        r = max(1, math.ceil(q * (len(group) - 1)))
        if len(group) > r:
            slow_b += sum(1 for v in group[r:] if v > over(group[r - 1]))
    return slow_c, slow_b, quantiles


def _tail(canary: Traffic, baseline: Traffic, q: float, policy: Policy) -> tuple[float, str]:
    """Slow: more of the canary's requests well over the baseline's q-quantile at the same
    moment (its p-value, and the reason when it fails). Untimed, the moment is the whole
    window."""
    nc, nb = len(canary.latencies), len(baseline.latencies)
    slow_c, slow_b, quantiles = _slow(canary, baseline, q, policy)
    p = stats.fisher_greater(slow_c, nc - slow_c, slow_b, nb - slow_b)
    share_c, share_b = _share(slow_c, nc), _share(slow_b, nb)
    wider = share_c >= 2 * share_b and share_c - share_b >= policy.tail_min_increase
    if not (p < policy.level / len(TAIL_QUANTILES) and wider):
        return p, ""
    said = f"{slow_c} of {nc} requests ({share_c:.0%}) well over the baseline's p{q * 100:.0f}"
    if len(quantiles) == 1:
        said += f" of {quantiles[0]:.0f} ms"
    else:
        said += f" at the same moment ({min(quantiles):.0f} to {max(quantiles):.0f} ms"
        said += f" over {len(quantiles)} stretches)"
    return p, f"{said} (the baseline's {share_b:.0%}), p = {p:.2g}"


def judge_route(route: str, canary: Traffic, baseline: Traffic, policy: Policy) -> dict:
    """One route class's figures, p-values, verdict, trigger and reason."""
    p_values: dict[str, float] = {}
    failures = _errors(canary, baseline, policy, p_values)
    failures += _latency(canary, baseline, policy, p_values)
    nc, nb = canary.requests, baseline.requests
    result = {
        "route": route,
        "canary": _figures(canary),
        "baseline": _figures(baseline),
        "p_values": p_values,
        "verdict": INCONCLUSIVE,
        "trigger": "",
        "reason": f"inconclusive: {nc} requests against {nb} (judged on {policy.min_requests})",
    }
    if failures:
        # Errors first: users see an error before they see a slow answer.
        failures.sort(key=lambda f: f[0] != HEALTH)
        result.update(
            verdict=FAIL,
            trigger=failures[0][0],
            reason="; ".join(reason for _trigger, reason in failures),
        )
    elif nc >= policy.min_requests and nb >= policy.min_requests:
        result.update(verdict=PASS, reason=f"{nc} requests against {nb}: no regression")
    return result


def judge(canary: dict, baseline: dict, policy: Policy) -> dict:
    """The verdict over every route class: canary and baseline map a route class
    to its Traffic (an absent class carried no request)."""
    routes = []
    for route in vocabulary.ROUTE_CLASSES:
        c, b = canary.get(route, Traffic()), baseline.get(route, Traffic())
        if c.requests or b.requests:
            routes.append(judge_route(route, c, b, policy))
    failed = [r for r in routes if r["verdict"] == FAIL]
    passed = [r for r in routes if r["verdict"] == PASS]
    everything = sum(r["canary"]["requests"] + r["baseline"]["requests"] for r in routes)
    quiet = [
        r
        for r in routes
        if r["verdict"] == INCONCLUSIVE
        and r["canary"]["requests"] + r["baseline"]["requests"] < policy.quiet_share * everything
    ]
    total = sum(r["canary"]["requests"] for r in routes)
    if failed:
        verdict, trigger = FAIL, failed[0]["trigger"]
        reason = "; ".join(f"{r['route']}: {r['reason']}" for r in failed)
    elif passed and len(passed) + len(quiet) == len(routes):
        verdict, trigger = PASS, ""
        reason = ", ".join(f"{r['route']} {r['canary']['requests']}" for r in passed)
        reason = f"no regression on {total} requests ({reason})"
    else:
        verdict, trigger = INCONCLUSIVE, ""
        reason = f"inconclusive: {total} requests"
        short = [r["route"] for r in routes if r["verdict"] == INCONCLUSIVE and r not in quiet]
        if short:
            reason += f" (too few on {', '.join(short)} to judge)"
    return {"verdict": verdict, "trigger": trigger, "reason": reason, "routes": routes}


def judge_watch(host: dict, before: dict, peers: dict, policy: Policy) -> dict:
    """A watch (docs/canary.md): the watched hosts' traffic against the fleet's before the
    deploy. A regression the peers serving alongside them over the same window show alike is
    the environment's (load, a drained host's share), not the release's: it passes, said."""
    result = judge(host, before, policy)
    if result["verdict"] != FAIL or not peers:
        return result
    alongside = judge(host, peers, policy)
    if alongside["verdict"] != PASS:
        return result
    return {
        **result,
        "verdict": PASS,
        "trigger": "",
        "reason": f"the peers alongside shifted alike ({alongside['reason']}); against the fleet "
        f"before the deploy: {result['reason']}",
    }


def pooled(sides: list[dict]) -> dict:
    """Several hosts' {route: Traffic} as one."""
    out: dict[str, Traffic] = {}
    for side in sides:
        for route, traffic in side.items():
            into = out.setdefault(route, Traffic())
            into.times = (into.times + traffic.times) if _aligned(into, traffic) else []
            into.latencies += traffic.latencies
            into.errors += traffic.errors
    return out


def _aligned(into: Traffic, more: Traffic) -> bool:
    """Whether both say when each of their requests ended (an empty one says nothing wrong)."""
    return (into.timed or not into.latencies) and (more.timed or not more.latencies)


def judge_each(
    each: dict, before: dict | None, policy: Policy, alongside: dict | None = None
) -> dict:
    """The fleet at the end (docs/canary.md): each host of `each` ({host: {route: Traffic}}
    over the window) on its own, against `before` (the fleet over an earlier window) with
    the other hosts (and `alongside`'s, {host: ...}) as its peers; with no `before`, against
    them directly. Alpha is divided among the hosts. It fails when a host failed, naming
    it; passes when every host that served passed; a host that served nothing (out of
    rotation) is said and holds nothing back; else it is inconclusive."""
    policy = replace(policy, looks=policy.looks * max(len(each), 1))
    results = {}
    for host, seen in each.items():
        others = pooled([t for h, t in {**each, **(alongside or {})}.items() if h != host])
        if before is None:
            results[host] = judge(seen, others, policy)
        else:
            results[host] = judge_watch(seen, before, others, policy)
    return _each_verdict(results)


def _each_verdict(results: dict[str, dict]) -> dict:
    """One verdict from each host's, and each host's own (`hosts`: a host that served
    nothing is inconclusive there)."""
    served = {h: r for h, r in results.items() if any(x["canary"]["requests"] for x in r["routes"])}
    idle = sorted(set(results) - set(served))
    verdict = _pooled_verdict(served, idle)
    verdict["hosts"] = {h: served[h]["verdict"] if h in served else INCONCLUSIVE for h in results}
    return verdict


def _pooled_verdict(served: dict[str, dict], idle: list[str]) -> dict:
    """The verdict over the hosts that served: failed when one failed, passed when all passed."""
    failed = [h for h, r in served.items() if r["verdict"] == FAIL]
    routes = [{**route, "host": h} for h, r in served.items() for route in r["routes"]]
    said = f"; served nothing: {', '.join(idle)}" if idle else ""
    if failed:
        first = served[failed[0]]
        reason = "; ".join(f"{h}: {served[h]['reason']}" for h in failed)
        return {
            "verdict": FAIL,
            "trigger": first["trigger"],
            "reason": reason + said,
            "routes": routes,
        }
    if served and all(r["verdict"] == PASS for r in served.values()):
        reason = "; ".join(f"{h}: {r['reason']}" for h, r in served.items())
        return {"verdict": PASS, "trigger": "", "reason": reason + said, "routes": routes}
    short = [h for h, r in served.items() if r["verdict"] != PASS]
    reason = f"inconclusive on {', '.join(short)}" if short else "inconclusive: no host served"
    reason += "".join(f"; {h}: {served[h]['reason']}" for h in short)
    return {"verdict": INCONCLUSIVE, "trigger": "", "reason": reason + said, "routes": routes}


@dataclass(frozen=True)
class Looks:
    """Where one look stands in a deploy's sequence of looks at a growing window
    (docs/canary.md, "The canary phase of a deploy"): `at` seconds into the window, which
    passes at `window` seconds and ends at `max_window`; a slower canary fails once
    `latency_looks` looks in a row show it; `failed_in_a_row` looks before this one did."""

    at: int
    window: int
    max_window: int
    latency_looks: int
    failed_in_a_row: int = 0


def decide(result: dict, looks: Looks) -> dict:
    """Whether this look decides the verdict, and the failing looks in a row it leaves.

    Decided when a route class shows more errors (a failure at once), when
    `latency_looks` looks in a row failed (a regression persists; a stall of a few
    seconds does not), when it passed over the whole window, or at the longest window."""
    failed = result["verdict"] == FAIL
    in_a_row = looks.failed_in_a_row + 1 if failed else 0
    erring = any(r["verdict"] == FAIL and r.get("trigger") == HEALTH for r in result["routes"])
    decided = (
        erring
        or in_a_row >= looks.latency_looks
        or (result["verdict"] == PASS and looks.at >= looks.window)
        or looks.at >= looks.max_window
    )
    return {"decided": decided, "failed_in_a_row": in_a_row}
