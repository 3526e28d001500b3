#!/usr/bin/python
# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.ops.canary_judge: a canary's traffic against its baseline's, per route class."""

from __future__ import annotations

DOCUMENTATION = r"""
module: canary_judge
short_description: Judge a canary on the traffic it served against its baseline's
version_added: 0.1.0
description:
  - Compares what the canary hosts served with what the baseline hosts served over the same
    window, or over an earlier window (a watch against what the fleet served before the deploy -
    O(baseline_traffic), O(prometheus.baseline_start)), per route class (reads, task
    submissions, other writes). Errors with Fisher's exact test and an absolute budget (Wilson
    interval), latency with the Mann-Whitney U test and the tail over the baseline's p95 and
    p75 at the same moment (O(source=lb_log) over one window; else over the whole window), each
    with a minimum effect (docs/canary.md).
  - The verdict is V(passed), V(failed) (with the trigger, V(health_check_failure) for errors,
    V(performance_degradation) for latency) or V(inconclusive) when too few requests came.
  - The evidence is either what the load balancers logged, as C(slipway.ops.lb_traffic) returned
    it from each (O(source=lb_log)), or the platform's request histograms in Prometheus
    (O(source=prometheus)).
  - Runs on the controller. Reads only; changes nothing.
author: Slipway maintainers (@slipway-ops)
attributes:
  check_mode:
    description: Judges in check mode too; it changes nothing either way.
    support: full
  diff_mode:
    description: Nothing to show.
    support: none
options:
  canary:
    description: The canary hosts.
    type: list
    elements: str
    required: true
  baseline:
    description:
      - The baseline hosts, still on the previous release.
      - With an earlier window, the hosts that served then (the canary hosts may be among them).
    type: list
    elements: str
    required: true
  source:
    description: Where the evidence comes from.
    type: str
    choices: [lb_log, prometheus]
    default: lb_log
  traffic:
    description:
      - O(source=lb_log) - each load balancer's RV(slipway.ops.lb_traffic#module:traffic).
      - Each side's C(latencies) (ms) and C(times) (ms since the epoch) as that module returns
        them, numbers apart by spaces; lists of numbers (C(times) in seconds since the epoch) are
        taken too.
    type: list
    elements: dict
    default: []
  baseline_traffic:
    description:
      - O(source=lb_log) - the baseline's evidence from an earlier window, each load balancer's
        RV(slipway.ops.lb_traffic#module:traffic) over it. Empty - the baseline's is in O(traffic).
    type: list
    elements: dict
    default: []
  peers:
    description:
      - With an earlier window - hosts that served alongside the canary over its window. A
        regression against the earlier window that the canary does not show against them (they
        shifted alike) is the environment's, not the release's - the verdict is V(passed), said.
    type: list
    elements: str
    default: []
  each:
    description:
      - Judge each canary host on its own (the fleet at the end - docs/canary.md). With an earlier
        window, each against O(baseline) then, the other canary hosts and O(peers) its peers over
        the window; over one window, each against the other O(baseline) hosts.
      - Alpha is divided among the hosts, so that the fleet cries wolf no more often than one
        host. The verdict fails when a host fails (named), passes when every host that served
        passed; a host that served nothing (out of rotation) is said and holds nothing back.
    type: bool
    default: false
  prometheus:
    description: O(source=prometheus) - where the platform's request metrics are.
    type: dict
    default: {}
    suboptions:
      url: {description: The Prometheus server's URL., type: str}
      job: {description: The scrape job of the API., type: str, default: api}
      instances:
        description: The C(instance) label of each host (default, the host's own name).
        type: dict
        default: {}
      start: {description: The window's start (epoch seconds)., type: float}
      end: {description: The window's end (epoch seconds)., type: float}
      baseline_start:
        description: The baseline's earlier window's start (epoch seconds); unset - the same window.
        type: float
      baseline_end: {description: The baseline's earlier window's end (epoch seconds)., type: float}
  policy:
    description: The judge's thresholds; the defaults and why are in docs/canary.md.
    type: dict
    default: {}
    suboptions:
      alpha: {description: Significance of the whole sequence of looks., type: float, default: 0.01}
      looks:
        description: The looks at a growing window this one is among; each tests at alpha / looks.
        type: int
        default: 1
      min_requests:
        description: Requests each side needs before a route class can pass.
        type: int
        default: 50
      error_budget:
        description: Absolute error share over which the canary fails.
        type: float
        default: 0.01
      error_min_increase:
        description: The least error share over the baseline's that fails.
        type: float
        default: 0.005
      latency_min_increase:
        description: The least slowdown that fails, a share (of the median; the p95 for the tail).
        type: float
        default: 0.5
      latency_min_ms:
        description: The least slowdown that fails, in ms (of the median; of the p95 for the tail).
        type: float
        default: 25
      tail_min_increase:
        description: The least rise in the share of requests well over the baseline p95 that fails.
        type: float
        default: 0.1
      quiet_share:
        description: A route class under this share of all requests cannot hold a verdict back.
        type: float
        default: 0.1
  fail:
    description: Fail the task on a V(failed) verdict (an V(inconclusive) one never fails it).
    type: bool
    default: true
  sequence:
    description:
      - This look's place among a deploy's looks at a growing window (docs/canary.md). Given, the
        result says whether this look decides the verdict (RV(decided)) and how many failed in a
        row (RV(failed_in_a_row)).
      - Decided when a route class shows more errors, when O(sequence.latency_looks) looks in a
        row failed, when it passed at O(sequence.window) seconds or later, or at
        O(sequence.max_window).
    type: dict
    suboptions:
      at:
        description: Seconds into the window of this look.
        type: int
        required: true
      window:
        description: Seconds a pass needs.
        type: int
        required: true
      max_window:
        description: Seconds of the longest window (the last look).
        type: int
        required: true
      latency_looks:
        description: Failed looks in a row that fail the canary.
        type: int
        required: true
      failed_in_a_row:
        description: Failed looks in a row before this one.
        type: int
        default: 0
  not_before:
    description:
      - Seconds since the epoch before which the judge does not read its evidence - it waits
        until then. With O(source=prometheus), the window's end.
    type: float
notes:
  - An action plugin runs the judge in the controller's worker for the task, with no Python
    interpreter started for it; O(not_before) waits there too.
"""

EXAMPLES = r"""
- name: Judge the canary on what the load balancers saw
  slipway.ops.canary_judge:
    canary: [app1]
    baseline: "{{ groups['app'] | difference(['app1']) }}"
    traffic: "{{ __canary_traffic.results | map(attribute='traffic') | list }}"
  register: __canary_verdict
"""

RETURN = r"""
verdict:
  description: V(passed), V(failed) or V(inconclusive).
  returned: always
  type: str
trigger:
  description: On V(failed), the trigger of the first failing route class.
  returned: always
  type: str
reason:
  description: One line, for the run's output and the audit log.
  returned: always
  type: str
  sample: "task_submissions: errors 9 of 31 (29.0%), the baseline 0 of 118 (0.0%), p = 3e-6"
routes:
  description:
    - Per route class, both sides' requests, errors, p50, p95, p-values and verdict.
    - With O(each), every host's, each with its C(host).
  returned: always
  type: list
  elements: dict
lines:
  description: The same, one line per route class, for the run's output.
  returned: always
  type: list
  elements: str
hosts:
  description: With O(each), each host's own verdict (a host that served nothing, V(inconclusive)).
  returned: with O(each)
  type: dict
decided:
  description: Whether this look decides the verdict.
  returned: with O(sequence)
  type: bool
failed_in_a_row:
  description: Failed looks in a row, this one included.
  returned: with O(sequence)
  type: int
"""

import dataclasses
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.slipway.ops.plugins.module_utils import _canary_judge as judge
from ansible_collections.slipway.ops.plugins.module_utils._canary_evidence import (
    PrometheusSource,
)

# The policy's options are the judge's Policy fields, their defaults its own (one definition;
# a unit test keeps DOCUMENTATION equal).
POLICY = {
    f.name: {"type": "int" if f.type in ("int", int) else "float", "default": f.default}
    for f in dataclasses.fields(judge.Policy)
}
ARGUMENT_SPEC = {
    "canary": {"type": "list", "elements": "str", "required": True},
    "baseline": {"type": "list", "elements": "str", "required": True},
    "source": {"type": "str", "choices": ["lb_log", "prometheus"], "default": "lb_log"},
    "traffic": {"type": "list", "elements": "dict", "default": []},
    "baseline_traffic": {"type": "list", "elements": "dict", "default": []},
    "peers": {"type": "list", "elements": "str", "default": []},
    "each": {"type": "bool", "default": False},
    "prometheus": {
        "type": "dict",
        "default": {},
        "options": {
            "url": {"type": "str"},
            "job": {"type": "str", "default": "api"},
            "instances": {"type": "dict", "default": {}},
            "start": {"type": "float"},
            "end": {"type": "float"},
            "baseline_start": {"type": "float"},
            "baseline_end": {"type": "float"},
        },
    },
    "policy": {"type": "dict", "default": {}, "options": POLICY},
    "fail": {"type": "bool", "default": True},
    "sequence": {
        "type": "dict",
        "options": {
            **{f.name: {"type": "int", "required": True} for f in dataclasses.fields(judge.Looks)},
            "failed_in_a_row": {"type": "int", "default": 0},
        },
    },
    "not_before": {"type": "float"},
}


def merge(hosts: list[str], traffic: list[dict]) -> dict:
    """The hosts' traffic summed over every load balancer: {route: Traffic}."""
    try:
        return judge.pooled(
            [
                {
                    route: judge.Traffic.unpacked(side)
                    for route, side in (seen.get(host) or {}).items()
                }
                for seen in traffic
                for host in hosts
            ]
        )
    except (AttributeError, ValueError) as err:
        raise Refused(f"traffic is not as slipway.ops.lb_traffic returns it: {err}") from None


def _side(figures: dict) -> str:
    p50 = "-" if figures["p50_ms"] is None else f"{figures['p50_ms']:.0f}"
    p95 = "-" if figures["p95_ms"] is None else f"{figures['p95_ms']:.0f}"
    return (
        f"{figures['requests']} requests, p50 {p50} ms, p95 {p95} ms, "
        f"errors {figures['error_rate']:.1%}"
    )


def lines(result: dict) -> list[str]:
    out = []
    for route in result["routes"]:
        p = ", ".join(f"{name} {value:.2g}" for name, value in route["p_values"].items())
        host = f"{route['host']} " if route.get("host") else ""
        out.append(
            f"{host}{route['route']}: {route['verdict']}; canary {_side(route['canary'])}; "
            f"baseline {_side(route['baseline'])}; p-values {p or 'none'}"
        )
    return out


def earlier(p: dict) -> bool:
    """Whether the baseline's evidence is from an earlier window than the canary's."""
    if p["source"] == "lb_log":
        return bool(p["baseline_traffic"])
    return p["prometheus"].get("baseline_start") is not None


class Refused(Exception):
    """The judge cannot judge (bad input, unreadable evidence) or judged V(failed) with O(fail):
    the message, and what it returns with it."""

    def __init__(self, msg: str, **result):
        super().__init__(msg)
        self.result = result


def _prometheus(p: dict, hosts: list[str], start: float, end: float) -> list[dict]:
    prom = p["prometheus"]
    instances = {prom["instances"].get(h, h): h for h in hosts}
    source = PrometheusSource(prom["url"], instances, job=prom["job"])
    try:
        seen = source.traffic(start, end)
    except RuntimeError as err:
        raise Refused(f"Prometheus at {prom['url']}: {err}") from None
    return [
        {
            h: {r: {"latencies": t.latencies, "errors": t.errors} for r, t in routes.items()}
            for h, routes in seen.items()
        }
    ]


def evidence(p: dict) -> tuple[list[dict], list[dict]]:
    """The canary's window's evidence and the baseline's (the same list unless earlier)."""
    if p["source"] == "lb_log":
        if not p["traffic"]:
            raise Refused("traffic is empty: pass each load balancer's lb_traffic result")
        return p["traffic"], p["baseline_traffic"] or p["traffic"]
    prom = p["prometheus"]
    needed = ["url", "start", "end"] + (["baseline_end"] if earlier(p) else [])
    missing = [k for k in needed if prom.get(k) in (None, "")]
    if missing:
        raise Refused(f"source=prometheus needs prometheus.{', prometheus.'.join(missing)}")
    if not earlier(p):
        seen = _prometheus(p, p["canary"] + p["baseline"], prom["start"], prom["end"])
        return seen, seen
    return (
        _prometheus(p, p["canary"] + p["peers"], prom["start"], prom["end"]),
        _prometheus(p, p["baseline"], prom["baseline_start"], prom["baseline_end"]),
    )


def judge_each(p: dict, seen: list[dict], before: list[dict], policy: judge.Policy) -> dict:
    """Each canary host on its own (O(each)): the other canary hosts and O(peers) alongside;
    over one window, the O(baseline) hosts too."""
    alongside = p["peers"] + ([] if earlier(p) else p["baseline"])
    return judge.judge_each(
        {h: merge([h], seen) for h in p["canary"]},
        merge(p["baseline"], before) if earlier(p) else None,
        policy,
        {h: merge([h], seen) for h in alongside if h not in p["canary"]},
    )


def verdict(p: dict) -> dict:
    """The verdict on the validated options P; raises Refused (the module's failure)."""
    policy = judge.Policy(**p["policy"])
    problems = policy.check()
    if problems:
        raise Refused("policy: " + "; ".join(problems))
    # Over one window a host is either side (each: judged against the others); against an
    # earlier window it may be both.
    both = set() if earlier(p) or p["each"] else set(p["canary"]) & set(p["baseline"])
    if not p["canary"] or not p["baseline"] or both:
        raise Refused(
            "canary and baseline must each name at least one host, and none in both"
            + (f" (in both: {', '.join(sorted(both))})" if both else "")
        )
    peers = [h for h in p["peers"] if h not in p["canary"]]
    if peers and not earlier(p):
        raise Refused("peers need an earlier window (baseline_traffic, or a Prometheus one)")
    if p["not_before"] is not None:
        time.sleep(max(0.0, p["not_before"] - time.time()))
    seen, before = evidence(p)
    canary = merge(p["canary"], seen)
    if p["each"]:
        result = judge_each(p, seen, before, policy)
    elif earlier(p):
        result = judge.judge_watch(canary, merge(p["baseline"], before), merge(peers, seen), policy)
    else:
        result = judge.judge(canary, merge(p["baseline"], before), policy)
    result["lines"] = lines(result)
    if p["sequence"]:
        result.update(judge.decide(result, judge.Looks(**p["sequence"])))
    if result["verdict"] == judge.FAIL and p["fail"]:
        raise Refused(f"canary failed: {result['reason']}", **result)
    return result


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result = verdict(module.params)
    except Refused as err:
        module.fail_json(msg=str(err), changed=False, **err.result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
