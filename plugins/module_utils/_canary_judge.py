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
  (TAIL_QUANTILES)? Fisher's exact test, at least twice the baseline's share and
  `tail_min_increase` more. A route slowed for some requests only moves the
  tail, not the median.

A class fails on any of them, even on a few requests (ten failures out of ten
are evidence enough). It passes only with `min_requests` on both sides; else
it is inconclusive. The verdict fails when a class fails, passes when a class
passed and every other one passed or was quiet (under `quiet_share` of all the
requests, both sides together), and is inconclusive otherwise: never a silent
pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ansible_collections.slipway.ops.plugins.module_utils import _stats as stats
from ansible_collections.slipway.ops.plugins.module_utils import _vocabulary as vocabulary

PASS, FAIL, INCONCLUSIVE = vocabulary.VERDICTS  # passed, failed, inconclusive
HEALTH = vocabulary.HEALTH_CHECK_FAILURE
PERFORMANCE = vocabulary.PERFORMANCE_DEGRADATION


# The tail is judged over the baseline's p95, and over its p75, each at half the level
# (the reason names the first that fails): a stall the whole fleet shares (a few seconds
# of a busy machine) lifts the baseline's p95 over a regression on some of the canary's
# requests; its p75 stays where the routes answer.
TAIL_QUANTILES = (0.95, 0.75)


@dataclass
class Traffic:
    """What one side served on one route class: every answered request's upstream
    time (ms) and how many requests were errors (5xx, upstream error, timeout)."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def requests(self) -> int:
        return len(self.latencies) + self.errors


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
    """The whole distribution (its median), then its tail (the baseline's p95)."""
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
    tail = [_tail(lc, lb, q, policy) for q in TAIL_QUANTILES]
    p_values["tail"] = min(p for p, _said in tail)
    failures += [(PERFORMANCE, said) for _p, said in tail if said][:1]
    return failures


def _tail(lc: list, lb: list, q: float, policy: Policy) -> tuple[float, str]:
    """Slow: over the baseline's q-quantile by the same least effect as the median's, for
    more of the canary's requests (its p-value, and the reason when it fails)."""
    pq = stats.percentile(lb, q)
    threshold = max(pq * (1 + policy.latency_min_increase), pq + policy.latency_min_ms)
    slow_c = sum(1 for v in lc if v > threshold)
    slow_b = sum(1 for v in lb if v > threshold)
    p = stats.fisher_greater(slow_c, len(lc) - slow_c, slow_b, len(lb) - slow_b)
    share_c, share_b = _share(slow_c, len(lc)), _share(slow_b, len(lb))
    wider = share_c >= 2 * share_b and share_c - share_b >= policy.tail_min_increase
    if not (p < policy.level / len(TAIL_QUANTILES) and wider):
        return p, ""
    said = f"{slow_c} of {len(lc)} requests ({share_c:.0%}) over {threshold:.0f} ms, well over"
    said += f" the baseline's p{q * 100:.0f} of {pq:.0f} ms (the baseline's {share_b:.0%}),"
    return p, f"{said} p = {p:.2g}"


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
            into.latencies += traffic.latencies
            into.errors += traffic.errors
    return out


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
