# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health gate wired together: module parameters -> checks -> Gate -> result."""

from __future__ import annotations

import time

from ansible_collections.slipway.ops.plugins.module_utils._gate_docker import (
    ContainerWatch,
    Docker,
    DockerError,
)
from ansible_collections.slipway.ops.plugins.module_utils._gate_policy import (
    HEALTH,
    Gate,
    Outcome,
    run,
)
from ansible_collections.slipway.ops.plugins.module_utils._gate_probe import probe, ssl_context
from ansible_collections.slipway.ops.plugins.module_utils._gate_prometheus import (
    check as prometheus_check,
)
from ansible_collections.slipway.ops.plugins.module_utils._gate_prometheus import (
    parse_condition,
)


def problems(params: dict) -> list[str]:
    """What is wrong with the parameters, each naming the option and the fix."""
    found = []
    if not params["checks"]:
        found.append("checks: give at least one check (url, status, json)")
    for i, check in enumerate(params["checks"] or []):
        if not str(check.get("url") or "").startswith(("http://", "https://")):
            found.append(f"checks[{i}].url {check.get('url')!r}: want an http:// or https:// URL")
    if params["consecutive_successes"] < 1:
        found.append("consecutive_successes: want 1 or more")
    if params["interval"] <= 0:
        found.append("interval: want more than 0 seconds")
    for name in ("timeout", "soak", "latency_p95_ms"):
        if params[name] < 0:
            found.append(f"{name}: want 0 or more")
    prometheus = params.get("prometheus")
    if prometheus:
        try:
            parse_condition(prometheus["condition"])
        except ValueError as error:
            found.append(str(error))
    return found


def gate_from(params: dict) -> Gate:
    return Gate(
        consecutive=params["consecutive_successes"],
        timeout=params["timeout"],
        soak=params["soak"],
        latency_p95_ms=params["latency_p95_ms"],
        latency_confirm=params["latency_confirm"],
    )


def evaluate(params: dict, clock=time.monotonic, sleep=time.sleep) -> dict:
    """Run the gate to its verdict; the module's result (changed aside)."""
    context = ssl_context(params["validate_certs"], params.get("ca_path") or "")
    gate = gate_from(params)
    watch = None
    if params.get("containers"):
        spec = params["containers"]
        watch = ContainerWatch(
            Docker(params["docker_socket"]),
            spec["labels"],
            min_count=spec["min_count"],
            memory_max_percent=spec["memory_max_percent"],
        )
        try:
            watch.start()
        except DockerError as error:
            # No Docker, no watch: say so rather than pass on half the evidence.
            gate.record(
                0.0, [Outcome("containers", watch.where, False, error=str(error), fatal=True)]
            )
            gate.reason = f"cannot start the container watch: {error}"
            gate.trigger = HEALTH
            return {**gate.result(), "containers": []}

    def sample(_t: float) -> list[Outcome]:
        outcomes = [
            probe(
                check["url"],
                status=check.get("status") or [200],
                expect_json=check.get("json"),
                headers=check.get("headers"),
                timeout=check.get("timeout") or 5.0,
                context=context,
            )
            for check in params["checks"]
        ]
        if watch is not None:
            outcomes.append(watch.check())
        if params.get("prometheus"):
            outcomes.append(prometheus_check(params["prometheus"], context))
        return outcomes

    run(gate, sample, interval=params["interval"], clock=clock, sleep=sleep)
    return {**gate.result(), "containers": watch.report() if watch else []}
