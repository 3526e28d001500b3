#!/usr/bin/env python3
"""The canary judge's false alarms: an A/A run on the lab's recorded traffic.

Both app hosts run the same release. Under about 50 requests/s and 2 tasks/s
through lb1 (tests/lab_load.py) for --minutes, this records lb1's access log
(the judge's default evidence). Then it replays the deploy's canary analysis
from every start --step seconds apart, both ways (app1 as the canary against
app2, and the other way round): a look every --interval seconds at the window
so far, each at alpha divided among the looks, failed at a look with more
errors or once --latency-looks looks in a row are slower
(slipway_deploy_canary_latency_looks, 2), passed once a
look passes at --window seconds or more, inconclusive at --max-window. The
canary side keeps a random share of its requests (decided once per request),
so that it carries what a canary at the default weight carries (--share of
all requests). Every "failed" is a false alarm.

The watch (docs/canary.md) is replayed too: from every start --step seconds
apart, each host's --watch-window seconds at its whole traffic against both
hosts' --watch-baseline seconds before, in one look, with no peers; and the
fleet at the end (each host with the other as its peer: "The fleet at the
end"), as recorded and with every answer --environment times slower (the
deploy's own load). Its power: the fleet's window with one host's reads
slowed, both ways, must fail every time.

The same canary sequences are judged from the lab's Prometheus (the platform's request
histograms; each host's whole traffic, since binned counts cannot be thinned
per request), and both sources' request counts for the last minute are printed
side by side.

The same recorded traffic then carries a fault on the canary's side only, so
that the gate's power is measured on the noise its false alarms were: a slow
release (one read in four 1,500 ms later, as 1.1.0-slow-read's route is for
the lab load) and a failing one (30 % of task submissions answer 500, as
1.1.0-failing-submissions). A sequence starts every --power-step seconds;
each must fail, within 60 s of the canary taking traffic.

Prints the false-fail rate of each source against its target (<= 1 %), the
inconclusive rate, the median look at which the sequences ended, and exits 1
when a target is missed. Needs the lab converged (make site), every app host
on one release; or --log to replay a log recorded before.
Usage: canary_aa.py [--minutes 10] [--step 5] [--interval 15] [--window 60]
                    [--max-window 180] [--share 0.2] [--latency-looks 2] [--watch-window 20]
                    [--watch-baseline 300] [--environment 4] [--log FILE]
"""

from __future__ import annotations

import argparse
import bisect
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.slipway.ops.plugins.module_utils import (  # noqa: E402
    _canary_evidence as evidence,
)
from ansible_collections.slipway.ops.plugins.module_utils import (  # noqa: E402
    _canary_judge as judge,
)

from tests.lab_deploy import lab_exec, running_releases  # noqa: E402
from tests.lab_load import LbLoad, lab_api_key  # noqa: E402

TARGET_FALSE_FAIL = 0.01
TARGET_DETECTION = 60
# The injected faults (the e2e's route-only bad releases, on the lab load's route mix).
SLOW_SHARE, SLOW_MS, FAILING_SHARE = 0.25, 1500.0, 0.3
# A stall both hosts share (a busy machine): every STALL_EVERY s, STALL_SECONDS in which
# every answer is 1 to 3 s late (CI's slow-read canary was missed through one).
STALL_EVERY, STALL_SECONDS, STALL_MS = 45, 10, (1000.0, 3000.0)
UPSTREAMS = {"10.242.0.21:8000": "app1", "10.242.0.22:8000": "app2"}
HOSTS = ("app1", "app2")
PROMETHEUS = "http://10.242.0.41:9090"
ACCESS_LOG = "/var/log/nginx/access.log"


def record(minutes: float) -> tuple[float, float, Path]:
    """Run the load for `minutes`; lb1's access log lines of the run, in a local file."""
    before = int(lab_exec("lb1", "stat", "-c", "%s", ACCESS_LOG).strip())
    api_key = lab_api_key()
    start = time.time()
    with LbLoad(api_key) as load:
        while time.time() - start < minutes * 60:
            time.sleep(min(60.0, max(0.0, start + minutes * 60 - time.time())))
            done = (time.time() - start) / 60
            print(f"recording lb1's traffic: {done:.0f} of {minutes:g} min", flush=True)
        report = load.stop()
    end = time.time()
    print(f"load: {report.summary()}")
    text = lab_exec("lb1", "tail", "-c", f"+{before + 1}", ACCESS_LOG)
    path = Path(tempfile.mkdtemp(prefix="canary-aa-")) / "access.log"
    path.write_text(text)
    return start, end, path


def lb_rows(log: Path, seed: int) -> list[tuple]:
    """Every judged observation of the log in time order, each with a uniform draw that
    decides, once, whether a canary at the share would have served it."""
    rng = random.Random(seed)  # noqa: S311 - reproducible subsampling, not secrets
    rows = []
    with log.open() as lines:
        for line in lines:
            rows += [(*row, rng.random()) for row in evidence.observations(line)]
    rows.sort(key=lambda row: row[0])
    return rows


class Replayed:
    """The recorded log as a source; the canary host keeps the requests its draw allows."""

    def __init__(self, rows: list[tuple], canary: str, keep: float) -> None:
        self.rows, self.canary, self.keep = rows, canary, keep
        self.times = [row[0] for row in rows]

    def traffic(self, start: float, end: float) -> dict:
        lo, hi = bisect.bisect_left(self.times, start), bisect.bisect_left(self.times, end)
        kept = (
            row[:5]
            for row in self.rows[lo:hi]
            if UPSTREAMS.get(row[1]) != self.canary or row[5] < self.keep
        )
        return evidence.collect(kept, UPSTREAMS, start, end)


def sequence(source, canary: str, baseline: str, t0: float, args) -> tuple[str, int, str]:
    """The deploy's looks from t0 (canary_look.yml): the verdict, the look (s) that decided
    it, the reason."""
    looks = [*range(args.interval, args.max_window, args.interval), args.max_window]
    policy = judge.Policy(looks=len(looks))
    verdict, in_a_row = "inconclusive", 0
    for look in looks:
        traffic = source.traffic(t0, t0 + look)
        result = judge.judge(traffic[canary], traffic[baseline], policy)
        verdict = result["verdict"]
        in_a_row = in_a_row + 1 if verdict == "failed" else 0
        erring = any(
            r["verdict"] == "failed" and r["trigger"] == "health_check_failure"
            for r in result["routes"]
        )
        if (
            erring
            or in_a_row >= args.latency_looks
            or (verdict == "passed" and look >= args.window)
        ):
            return verdict, look, result["reason"]
    return verdict, looks[-1], result["reason"]


def replay(make_source, start: float, end: float, args) -> dict:
    counts = {"failed": 0, "inconclusive": 0, "passed": 0}
    ended: list[int] = []
    alarms: list[str] = []
    t0 = start + 10  # the load's first seconds are its ramp
    while t0 + args.max_window <= end - 5:
        for canary, baseline in (("app1", "app2"), ("app2", "app1")):
            verdict, look, reason = sequence(make_source(canary), canary, baseline, t0, args)
            counts[verdict] += 1
            ended.append(look)
            if verdict == "failed":
                alarms.append(f"{canary} from +{t0 - start:.0f} s, at {look} s: {reason}")
        t0 += args.step
    return {"counts": counts, "ended": ended, "alarms": alarms}


def injected(rows: list[tuple], canary: str, kind: str, seed: int = 3) -> list[tuple]:
    """The rows with a fault on the canary's side: "slow" reads or "failing" submissions."""
    rng = random.Random(seed)  # noqa: S311 - reproducible injection, not secrets
    out = []
    for t, addr, route, ms, error, draw in rows:
        if UPSTREAMS.get(addr) == canary:
            if kind == "slow" and route == "reads" and ms is not None and rng.random() < SLOW_SHARE:
                ms += SLOW_MS
            elif kind == "failing" and route == "task_submissions" and rng.random() < FAILING_SHARE:
                ms, error = None, True
        out.append((t, addr, route, ms, error, draw))
    return out


def stalled(rows: list[tuple], start: float, seed: int = 5) -> list[tuple]:
    """The rows with the shared stalls: both hosts' answers late alike."""
    rng = random.Random(seed)  # noqa: S311 - reproducible injection, not secrets
    out = []
    for t, addr, route, ms, error, draw in rows:
        if ms is not None and (t - start) % STALL_EVERY < STALL_SECONDS:
            ms += rng.uniform(*STALL_MS)
        out.append((t, addr, route, ms, error, draw))
    return out


def power(rows: list[tuple], start: float, end: float, keep: float, args) -> bool:
    """Each injected fault's sequences: how many failed, and when. True when all met."""
    ok = True
    for kind in ("slow", "failing", "slow+stalls"):
        caught: list[int] = []
        missed = 0
        misses: list[str] = []
        fault = kind.split("+")[0]
        faulty = {canary: injected(rows, canary, fault) for canary in ("app1", "app2")}
        if kind.endswith("+stalls"):
            faulty = {canary: stalled(got, start) for canary, got in faulty.items()}
        t0 = start + 10
        while t0 + args.max_window <= end - 5:
            for canary, baseline in (("app1", "app2"), ("app2", "app1")):
                source = Replayed(faulty[canary], canary, keep)
                verdict, look, reason = sequence(source, canary, baseline, t0, args)
                if verdict == "failed":
                    caught.append(look)
                else:
                    missed += 1
                    at = f"+{t0 - start:.0f} s, {verdict} at {look} s"
                    misses.append(f"  missed: {canary} from {at}: {reason}")
            t0 += args.power_step
        met = not missed and caught and max(caught) <= TARGET_DETECTION
        ok &= bool(met)
        median = statistics.median(caught) if caught else 0
        print(
            f"{kind:<14}{len(caught) + missed:>10}{len(caught):>8}{missed:>8}"
            f"{median:>10g}{max(caught, default=0):>6}{TARGET_DETECTION:>8}  "
            f"{'ok' if met else 'MISSED'}"
        )
        for line in misses:
            print(line)
    return ok


def slower(window: dict, factor: float) -> dict:
    """Every host's answers `factor` times slower (the deploy's own load on a 2-core lab)."""
    return {
        host: {
            route: judge.Traffic([ms * factor for ms in t.latencies], t.errors, t.times)
            for route, t in routes.items()
        }
        for host, routes in window.items()
    }


def watch_replay(make_source, start: float, end: float, args) -> dict:
    """The watch from every t0: each host's window against both hosts before t0 (with no
    peers); and the fleet at the end (finish.yml), each host with the other as its peer,
    as recorded and with every host --environment times slower."""
    source = make_source("none")
    counts = {"failed": 0, "inconclusive": 0, "passed": 0}
    alarms: list[str] = []
    t0 = start + 10 + args.watch_baseline
    while t0 + args.watch_window <= end - 5:
        fleet = judge.pooled(list(source.traffic(t0 - args.watch_baseline, t0).values()))
        window = source.traffic(t0, t0 + args.watch_window)
        results = {h: judge.judge(window.get(h, {}), fleet, judge.Policy()) for h in HOSTS}
        each = {h: window.get(h, {}) for h in HOSTS}
        results["the fleet"] = judge.judge_each(each, fleet, judge.Policy())
        slowed = slower(each, args.environment)
        results["the fleet, slower"] = judge.judge_each(slowed, fleet, judge.Policy())
        for what, result in results.items():
            counts[result["verdict"]] += 1
            if result["verdict"] == "failed":
                alarms.append(f"{what} from +{t0 - start:.0f} s: {result['reason']}")
        t0 += args.step
    return {"counts": counts, "ended": [args.watch_window], "alarms": alarms}


def fleet_power(rows: list[tuple], start: float, end: float, args) -> bool:
    """The fleet at the end with one host turned slow (1.1.0-slow-read-later): each window
    (every --power-step s) must fail, and still with every host --environment times slower."""
    ok = True
    for label, factor in (
        ("as recorded", 1.0),
        (f"x{args.environment:g} slower", args.environment),
    ):
        caught = missed = 0
        clean = Replayed(rows, "none", 1.0)
        for turned in HOSTS:
            # The fault only from t0 (before it the host was good): the window is read from
            # the injected rows, the fleet before from the recorded ones.
            faulty = Replayed(injected(rows, turned, "slow"), "none", 1.0)
            t0 = start + 10 + args.watch_baseline
            while t0 + args.watch_window <= end - 5:
                before = judge.pooled(list(clean.traffic(t0 - args.watch_baseline, t0).values()))
                window = faulty.traffic(t0, t0 + args.watch_window)
                each = slower({h: window.get(h, {}) for h in HOSTS}, factor)
                result = judge.judge_each(each, before, judge.Policy())
                caught += result["verdict"] == "failed"
                missed += result["verdict"] != "failed"
                t0 += args.power_step
        met = not missed and caught > 0
        ok &= met
        print(
            f"{'fleet, one host turned slow, ' + label:<44}{caught + missed:>6}{caught:>8}"
            f"{missed:>8}  {'ok' if met else 'MISSED'}"
        )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--step", type=float, default=5)
    parser.add_argument("--interval", type=int, default=15)
    parser.add_argument("--window", type=int, default=60)
    parser.add_argument("--max-window", type=int, default=180)
    parser.add_argument("--share", type=float, default=0.2)
    parser.add_argument("--latency-looks", type=int, default=2)
    parser.add_argument("--power-step", type=float, default=20)
    parser.add_argument("--watch-window", type=int, default=20)
    parser.add_argument("--watch-baseline", type=int, default=300)
    parser.add_argument(
        "--environment",
        type=float,
        default=4.0,
        help="how many times slower every host is in the replayed fleet's window "
        "(the deploy's own load: 94 ms against 23 under the benchmark's load)",
    )
    parser.add_argument("--examples", type=int, default=5, help="false alarms to print")
    parser.add_argument(
        "--log", type=Path, help="replay this recorded log (no load, no Prometheus)"
    )
    args = parser.parse_args()
    # Each host carries half; the canary keeps share / (1 - share) of its half.
    keep = args.share / (1 - args.share)
    if args.log:
        log, label = args.log, str(args.log)
        rows = lb_rows(log, seed=7)
        start, end = rows[0][0], rows[-1][0]
    else:
        releases = set(running_releases().values())
        if len(releases) != 1:
            print(f"canary_aa: the app hosts run {sorted(releases)}; put them on one release")
            return 2
        start, end, log = record(args.minutes)
        label = releases.pop()
        print(f"recorded in {log} (replay with --log)")
        rows = lb_rows(log, seed=7)
    sources = {"lb_log": lambda canary: Replayed(rows, canary, keep)}
    # The watch judges each host at its whole traffic: nothing thinned.
    runs = {name: (make, replay) for name, make in sources.items()}
    with_stalls = stalled(rows, start)
    runs["lb_log+stalls"] = (lambda canary: Replayed(with_stalls, canary, keep), replay)
    if not args.log:
        prometheus = evidence.PrometheusSource(PROMETHEUS, {"app1": "app1", "app2": "app2"})
        sources["prometheus"] = lambda canary: prometheus
        runs["prometheus"] = (sources["prometheus"], replay)
        time.sleep(20)  # a scrape after the end, so that Prometheus has the last window
    runs["lb_log watch"] = (lambda canary: Replayed(rows, canary, 1.0), watch_replay)
    print(
        f"\nA/A on {label}: a look every {args.interval} s, pass from {args.window} s, "
        f"at most {args.max_window} s; a sequence every {args.step:g} s over "
        f"{(end - start) / 60:.1f} min, both ways; canary share {args.share:.0%} (lb_log); "
        f"the watch: {args.watch_window} s against the {args.watch_baseline} s before"
    )
    print(
        f"{'source':<14}{'sequences':>10}{'failed':>8}{'inconcl.':>10}{'false-fail':>12}"
        f"{'target':>8}  ended at (median s)"
    )
    ok = True
    for name, (make, run) in runs.items():
        got = run(make, start, end, args)
        counts, total = got["counts"], sum(got["counts"].values())
        rate = counts["failed"] / total if total else 1.0
        verdict = "ok" if total and rate <= TARGET_FALSE_FAIL else "MISSED"
        ok &= verdict == "ok"
        median = statistics.median(got["ended"]) if got["ended"] else 0
        print(
            f"{name:<14}{total:>10}{counts['failed']:>8}{counts['inconclusive']:>10}"
            f"{rate:>11.2%}{TARGET_FALSE_FAIL:>8.0%}  {median:g}  {verdict}"
        )
        for alarm in got["alarms"][: args.examples]:
            print(f"    false alarm: {alarm}")
    print(
        f"\ninjected faults on the canary's side (a sequence every {args.power_step:g} s):\n"
        f"{'fault':<14}{'sequences':>10}{'caught':>8}{'missed':>8}{'median s':>10}{'max':>6}"
        f"{'target':>8}"
    )
    ok &= power(rows, start, end, keep, args)
    print(f"\nthe fleet at the end (a window every {args.power_step:g} s):")
    ok &= fleet_power(rows, start, end, args)
    if not args.log:
        last = {
            name: {
                host: {route: t.requests for route, t in routes.items()}
                for host, routes in make("none").traffic(end - 65, end - 5).items()
            }
            for name, make in sources.items()
        }
        print(f"\nthe last minute's requests per host and route class, by source: {last}")
    print("all targets met" if ok else "a target was missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
