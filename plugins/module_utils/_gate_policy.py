# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health gate's verdict: pure bookkeeping over samples, no I/O.

A sample is one round of every check (each HTTP check, the container watch,
the Prometheus condition) taken at time t (seconds since the gate started).
The gate waits until `consecutive` samples in a row pass (bounded by
`timeout`), then keeps sampling for `soak` seconds, where any failure fails it
at once; a latency budget is judged at the end. Some failures (a container
that restarted, memory over its share) are fatal in every phase.

`run()` drives a Gate with an injected sampler, clock and sleep, so the whole
loop is tested on a fake clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ansible_collections.slipway.ops.plugins.module_utils import _stats as stats
from ansible_collections.slipway.ops.plugins.module_utils import _vocabulary as vocabulary

HEALTH = vocabulary.HEALTH_CHECK_FAILURE
PERFORMANCE = vocabulary.PERFORMANCE_DEGRADATION
RESOURCES = vocabulary.RESOURCE_EXHAUSTION
# The triggers a gate can name (its `trigger` option chooses among them).
TRIGGERS = (HEALTH, PERFORMANCE, RESOURCES)

WAITING = "waiting"
SOAK = "soak"
# A gate passes or fails; "inconclusive" is the canary judge's alone.
PASSED, FAILED, _INCONCLUSIVE = vocabulary.VERDICTS

# The latency budget is judged on at least this many requests, or says so.
MIN_LATENCY_SAMPLES = 5
# The samples returned: the first HEAD and the newest TAIL (a long gate keeps both ends).
SAMPLES_HEAD = 100
SAMPLES_TAIL = 400


@dataclass
class Outcome:
    """One check's result within a sample."""

    check: str  # http | containers | prometheus
    url: str  # what was checked: the URL, the Docker socket, the Prometheus server
    ok: bool
    status: int | None = None
    latency_ms: float | None = None
    error: str = ""
    # Fatal outcomes fail the gate in any phase (a restarted container, memory over its share).
    fatal: bool = False
    trigger: str = HEALTH

    @property
    def name(self) -> str:
        return self.url if self.check == "http" else self.check


@dataclass
class Gate:
    """The policy and what the samples so far say about it."""

    consecutive: int = 3
    timeout: float = 120.0
    soak: float = 0.0
    latency_p95_ms: float = 0.0
    # A budget broken at the end of the soak is confirmed by a second soak of the
    # same length, judged on its own requests: a slower release stays slow, a stall
    # of a few seconds on a shared machine does not fail it.
    latency_confirm: bool = False

    phase: str = WAITING
    phase_reached: str = WAITING
    reason: str = ""
    trigger: str = ""
    streak: int = 0
    first_success_after: float | None = None
    soak_started: float | None = None
    elapsed: float = 0.0
    samples_total: int = 0
    head: list = field(default_factory=list)
    tail: list = field(default_factory=list)
    latencies: list = field(default_factory=list)  # responded requests, all samples
    success_latencies: list = field(default_factory=list)  # from the first success on
    last_failures: dict = field(default_factory=dict)  # check name -> its newest failure
    last_sample_failures: list = field(default_factory=list)
    first_breach: str = ""  # what the first soak's budget said, while a second confirms it

    @property
    def done(self) -> bool:
        return self.phase in (PASSED, FAILED)

    # ---- Recording ------------------------------------------------------------
    def record(self, t: float, outcomes: list[Outcome]) -> str:
        """Take one sample taken at t; return the phase after it."""
        if self.done:
            return self.phase
        self.elapsed = t
        self._keep(t, outcomes)
        failures = [o for o in outcomes if not o.ok]
        self.last_sample_failures = failures
        for o in failures:
            self.last_failures[o.name] = o
        fatal = [o for o in failures if o.fatal]
        if fatal:
            return self._fail(fatal[0].trigger, f"{fatal[0].error} {t:.0f} s into the gate")

        if self.phase == WAITING:
            return self._waiting(t, outcomes, failures)
        return self._soaking(t, outcomes, failures)

    def _keep(self, t: float, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            entry = {
                "t": round(t, 3),
                "check": o.check,
                "url": o.url,
                "status": o.status,
                "ok": o.ok,
                "latency_ms": None if o.latency_ms is None else round(o.latency_ms, 1),
                "error": o.error,
            }
            self.samples_total += 1
            if len(self.head) < SAMPLES_HEAD:
                self.head.append(entry)
            else:
                self.tail.append(entry)
                if len(self.tail) > SAMPLES_TAIL:
                    del self.tail[0]
            if o.latency_ms is not None and o.status is not None:
                self.latencies.append(o.latency_ms)

    def _responded(self, outcomes: list[Outcome]) -> list[float]:
        return [o.latency_ms for o in outcomes if o.latency_ms is not None and o.status is not None]

    def _waiting(self, t: float, outcomes: list[Outcome], failures: list[Outcome]) -> str:
        if not failures and self.first_success_after is None:
            self.first_success_after = t
        if self.first_success_after is not None:
            self.success_latencies += self._responded(outcomes)
        if failures:
            self.streak = 0
        else:
            self.streak += 1
            if self.streak >= self.consecutive:
                if self.soak > 0:
                    self.phase = self.phase_reached = SOAK
                    self.soak_started = t
                    return self.phase
                return self._judge_latency()
        if t >= self.timeout:
            return self._fail(HEALTH, self._timeout_reason())
        return self.phase

    def _soaking(self, t: float, outcomes: list[Outcome], failures: list[Outcome]) -> str:
        self.success_latencies += self._responded(outcomes)
        into = t - self.soak_started
        if failures:
            first = failures[0]
            return self._fail(
                first.trigger,
                f"failed {into:.0f} s into the {self.soak:g} s soak: {first.name}: {first.error}",
            )
        if into >= self.soak:
            return self._judge_latency()
        return self.phase

    # ---- Verdicts -------------------------------------------------------------
    def _fail(self, trigger: str, reason: str) -> str:
        self.phase, self.trigger, self.reason = FAILED, trigger, reason
        return self.phase

    def _judge_latency(self) -> str:
        held = f"passed {self.consecutive} time{'s' if self.consecutive != 1 else ''} in a row"
        held += f" after {self.first_success_after:.1f} s"
        if self.soak > 0:
            held += f", then held through a {self.soak:g} s soak"
        n = len(self.success_latencies)
        few = f", judged on {n} only" if n < MIN_LATENCY_SAMPLES else ""
        if self.latency_p95_ms > 0:
            # Broken only when more requests are slow than chance allows (see _stats).
            verdict = stats.judge_budget(self.success_latencies, self.latency_p95_ms)
            said = verdict.describe(self.latency_p95_ms, 0.95)
            # The phrase names the count when some were over the budget.
            said += few if verdict.over else f" ({n} samples{few})"
            # A first breach at the end of a soak: soak again, on the new requests only.
            confirm = self.latency_confirm and self.phase == SOAK and not self.first_breach
            if verdict.broken and confirm:
                self.first_breach = said
                self.soak_started, self.success_latencies = self.elapsed, []
                return self.phase
            again = f"a second {self.soak:g} s soak"
            if verdict.broken:
                if self.first_breach:
                    said = stats.confirmed(said, again, self.first_breach)
                return self._fail(PERFORMANCE, said)
            if self.first_breach:
                said = stats.not_confirmed(said, again, self.first_breach)
            budget = f"; {said}"
        else:
            p95 = stats.percentile(self.success_latencies, 0.95)
            budget = f"; p95 {_ms(p95)} ({n} samples, no latency budget)"
        self.phase = self.phase_reached = PASSED
        self.reason = held + budget
        return self.phase

    def _timeout_reason(self) -> str:
        within = (
            f"never passed {self.consecutive} time{'s' if self.consecutive != 1 else ''} "
            f"in a row within {self.timeout:g} s"
        )
        if self.last_sample_failures:
            parts = [f"{o.name} {within}: last {o.error}" for o in self.last_sample_failures]
            return "; ".join(parts)
        # The newest sample passed: the streak was started but too short.
        earlier = "; ".join(f"{name}: {o.error}" for name, o in self.last_failures.items())
        return f"checks {within} ({self.streak} by the deadline); last failures: {earlier}"

    # ---- Results --------------------------------------------------------------
    def result(self) -> dict:
        measured = self.success_latencies or self.latencies
        return {
            "verdict": PASSED if self.phase == PASSED else FAILED,
            "reason": self.reason,
            "trigger": self.trigger if self.phase == FAILED else "",
            "phase_reached": self.phase_reached,
            "samples": self.head + self.tail,
            "samples_total": self.samples_total,
            "p50_ms": _round(stats.percentile(measured, 0.50)),
            "p95_ms": _round(stats.percentile(measured, 0.95)),
            "first_success_after": _round(self.first_success_after, 3),
            "elapsed": round(self.elapsed, 3),
        }


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def run(gate: Gate, sample, *, interval: float, clock, sleep) -> Gate:
    """Sample every `interval` seconds (start to start) until the gate is decided.

    sample(t) returns the sample's outcomes; clock() is monotonic seconds.
    The wait for the first success is bounded by gate.timeout: the last sleep
    is cut short so that a sample lands on the deadline.
    """
    start = clock()
    while True:
        began = clock() - start
        gate.record(began, sample(began))
        if gate.done:
            gate.elapsed = clock() - start
            return gate
        next_at = began + interval
        if gate.phase == WAITING:
            next_at = min(next_at, max(gate.timeout, began))
        elif gate.phase == SOAK:
            next_at = min(next_at, gate.soak_started + gate.soak)
        sleep(max(0.0, next_at - (clock() - start)))
