# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verification suite's checks, one function per check type, and RUNNERS, which
_verify_suite.run_suite() runs them by (security_posture's is in _verify_security.py).
Standard library only: the module runs on the target hosts."""

from __future__ import annotations

import contextlib
import datetime
import math
import socket
import struct
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.slipway.ops.plugins.module_utils import _stats as stats
from ansible_collections.slipway.ops.plugins.module_utils import _verify_suite as suite
from ansible_collections.slipway.ops.plugins.module_utils._verify_http import (
    Endpoint,
    describe,
    unix_get,
)
from ansible_collections.slipway.ops.plugins.module_utils._verify_security import (
    check_security_posture,
)
from ansible_collections.slipway.ops.plugins.module_utils._verify_suite import (
    failed,
    passed,
    skipped,
)

PG_SSL_REQUEST = struct.pack("!ii", 8, 80877103)  # PostgreSQL's SSLRequest message
TASK_PROMPT = {"prompt": "2 * (3 + 4)"}
TASK_ANSWER = 14
MAX_WAIT = 30  # the platform caps GET /v1/tasks/{id}?wait= at 30 s
NOT_EXPOSED = (401, 403, 404, 405, 410)


# ---- health, availability, database -----------------------------------------


def check_health(ep: Endpoint, opts: dict, check_mode: bool) -> suite.Outcome:
    try:
        health = ep.request("GET", "/health")
        version = ep.request("GET", "/version")
    except OSError as error:
        return failed(f"{ep.base_url} did not answer: {describe(error)}")
    metrics = {"health_status": health.status, "health_ms": round(health.elapsed_ms, 1)}
    if health.status != 200:
        return failed(f"/health answered {health.reason()}", **metrics)
    info = version.json() if version.status == 200 else None
    if not isinstance(info, dict) or not info.get("release"):
        return failed(f"/version did not report a release: {version.reason()}", **metrics)
    release, faults = str(info["release"]), info.get("faults") or {}
    metrics.update(release=release, git_sha=info.get("git_sha"), faults=faults)
    expected = opts["expected_release"]
    if expected and release != expected:
        return failed(f"/version reports release {release}, expected {expected}", **metrics)
    note = f"; fault injection active: {faults}" if faults else ""
    return passed(f"/health 200, release {release}{note}", **metrics)


def check_service_availability(ep: Endpoint, opts: dict, check_mode: bool) -> suite.Outcome:
    try:
        ready = ep.request("GET", "/ready")
    except OSError as error:
        return failed(f"/ready did not answer: {describe(error)}")
    body = ready.json() if isinstance(ready.json(), dict) else {}
    metrics = {"status": ready.status, "ready_ms": round(ready.elapsed_ms, 1)}
    if ready.status == 200:
        return passed("/ready 200: PostgreSQL, Redis and the schema are fine", **metrics)
    problems = body.get("problems") or []
    metrics["problems"] = problems
    if ready.status == 503 and problems:
        return failed("not ready: " + "; ".join(problems), **metrics)
    return failed(f"/ready answered {ready.reason()}", **metrics)


def postgres_answers(host: str, port: int, timeout: float) -> tuple[str | None, float]:
    """(None when a PostgreSQL server answered an SSLRequest with 'S' or 'N', else
    why not; milliseconds taken). Sends nothing else: no login, no credentials."""
    began = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(PG_SSL_REQUEST)
            answer = sock.recv(1)
            # PostgreSQL then waits for us; a server that speaks first (SSH's
            # "SSH-2.0-...") says more at once.
            sock.settimeout(0.3)
            try:
                more = sock.recv(64) if answer else b""
            except TimeoutError:
                more = b""
    except OSError as error:
        return f"TCP {host}:{port}: {describe(error)}", (time.monotonic() - began) * 1000
    elapsed = (time.monotonic() - began) * 1000
    if answer in (b"S", b"N") and more:
        said = (answer + more)[:20]
        return f"{host}:{port} answered {said!r}...: another protocol, not PostgreSQL", elapsed
    if answer in (b"S", b"N"):
        return None, elapsed
    if not answer:
        return f"{host}:{port} closed the connection without a PostgreSQL answer", elapsed
    return f"{host}:{port} answered {answer!r}, not PostgreSQL's 'S' or 'N'", elapsed


def _database_problem(problem: str) -> bool:
    return problem.startswith("postgresql") or "schema" in problem or "migration" in problem


def check_database_connectivity(ep: Endpoint, opts: dict, check_mode: bool) -> suite.Outcome:
    db = opts["database"]
    if not db["host"]:
        return skipped("not configured: database.host is empty")
    error, elapsed = postgres_answers(db["host"], int(db["port"]), float(opts["timeout"]))
    metrics = {"host": db["host"], "port": int(db["port"]), "connect_ms": round(elapsed, 1)}
    if error:
        return failed(error, **metrics)
    try:
        ready = ep.request("GET", "/ready")
    except OSError as error:
        return failed(f"PostgreSQL answers, but /ready did not: {describe(error)}", **metrics)
    data = ready.json()
    problems = [p for p in (data or {}).get("problems", []) if _database_problem(p)]
    if ready.status not in (200, 503) or not isinstance(data, dict):
        return failed(f"PostgreSQL answers, but /ready answered {ready.reason()}", **metrics)
    if problems:
        metrics["problems"] = problems
        return failed("the API reports: " + "; ".join(problems), **metrics)
    return passed(
        f"PostgreSQL at {db['host']}:{db['port']} answers; the API reports no database problem",
        **metrics,
    )


# ---- functional: an agent task end to end ------------------------------------


def _wait_task(ep: Endpoint, task_id: str, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    task: dict = {}
    while True:
        left = deadline - time.monotonic()
        wait = max(0, min(MAX_WAIT, math.ceil(left)))
        reply = ep.request("GET", f"/v1/tasks/{task_id}?wait={wait}", timeout=wait + 15)
        if reply.status != 200:
            raise ConnectionError(f"GET /v1/tasks/{task_id}: {reply.reason()}")
        task = reply.json() or {}
        if task.get("status") in ("succeeded", "failed") or time.monotonic() >= deadline:
            return task


def _golden(ep: Endpoint, release: str, timeout: float) -> str | None:
    body = {"release": release, "timeout_seconds": timeout}
    reply = ep.request("POST", "/v1/golden", body, key=True, timeout=timeout + 15)
    return None if reply.status == 200 else f"golden task for release {release}: {reply.reason()}"


def _functional(ep: Endpoint, opts: dict, metrics: dict) -> str | None:
    """Create the agent, run the task (and the golden task); None when all went right."""
    name = f"slipway-verify-{uuid.uuid4().hex[:8]}"
    agent = {"name": name, "type": "toolbox", "description": "slipway verify probe (deleted)"}
    reply = ep.request("POST", "/v1/agents", agent, key=True)
    if reply.status != 201:
        return f"POST /v1/agents: {reply.reason()}"
    metrics["agent_id"] = (reply.json() or {}).get("id")
    reply = ep.request(
        "POST", "/v1/tasks", {"agent_id": metrics["agent_id"], "input": TASK_PROMPT}, key=True
    )
    if reply.status != 202:
        return f"POST /v1/tasks: {reply.reason()}"
    task_id = metrics["task_id"] = (reply.json() or {}).get("id")
    began, timeout = time.monotonic(), float(opts["task_timeout"])
    task = _wait_task(ep, task_id, timeout)
    metrics["task_ms"] = round((time.monotonic() - began) * 1000, 1)
    status = task.get("status")
    metrics["task_status"] = status
    if status == "queued":
        return f"task {task_id} never completed within {timeout:g} s: no worker took it"
    if status == "running":
        return (
            f"task {task_id} never completed within {timeout:g} s: "
            f"worker {task.get('worker_id')} took it and did not finish"
        )
    if status != "succeeded":
        return f"task {task_id} {status}: {task.get('error')}"
    output = (task.get("result") or {}).get("output")
    if output != TASK_ANSWER:
        return f"task {task_id} answered {output!r} to 2 * (3 + 4), not {TASK_ANSWER}"
    metrics["completed_by_release"] = task.get("completed_by_release")
    if opts["golden_release"]:
        began = time.monotonic()
        problem = _golden(ep, opts["golden_release"], float(opts["golden_timeout"]))
        metrics["golden_ms"] = round((time.monotonic() - began) * 1000, 1)
        return problem
    return None


def check_api_endpoints(ep: Endpoint, opts: dict, check_mode: bool) -> suite.Outcome:
    if check_mode:
        return skipped("not run in check mode (it writes a test agent and task)")
    if not ep.api_key:
        return failed(
            "api_key is empty: the functional check needs a platform API key "
            "(pass api_key, e.g. vault_slipway_api_keys[0])"
        )
    metrics: dict = {}
    try:
        problem = _functional(ep, opts, metrics)
    except OSError as error:
        problem = f"{ep.base_url} stopped answering: {describe(error)}"
    cleanup = None
    if metrics.get("agent_id"):  # delete the test agent whatever happened
        try:
            reply = ep.request("DELETE", f"/v1/agents/{metrics['agent_id']}", key=True)
            if reply.status not in (204, 404):
                cleanup = reply.reason()
        except OSError as error:
            cleanup = describe(error)
        metrics["agent_deleted"] = cleanup is None
    if cleanup:
        note = f"deleting test agent {metrics['agent_id']} failed: {cleanup}"
        problem = f"{problem}; {note}" if problem else note
    if problem:
        return failed(problem, **metrics)
    golden = f", golden task of {opts['golden_release']} done" if opts["golden_release"] else ""
    return passed(
        f"agent task 2 * (3 + 4) = 14 in {metrics['task_ms']:.0f} ms{golden}; test agent deleted",
        **metrics,
    )


# ---- performance --------------------------------------------------------------


def measure(ep: Endpoint, path: str, requests: int, concurrency: int) -> tuple[dict, list[float]]:
    """Send `requests` GETs, `concurrency` at a time, each on a new connection
    (the latency a new client sees, connect and TLS handshake included).

    Returns the figures and every request's latency in ms."""
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []

    def one(_index):
        began = time.monotonic()
        try:
            reply = ep.request("GET", path)
            error = None if 200 <= reply.status < 400 else f"HTTP {reply.status}"
        except OSError as exc:
            error = describe(exc)
        elapsed = (time.monotonic() - began) * 1000
        with lock:
            latencies.append(elapsed)
            if error:
                errors.append(error)

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        list(pool.map(one, range(requests)))
    wall = time.monotonic() - began
    return {
        "requests": requests,
        "concurrency": concurrency,
        "errors": len(errors),
        "error_rate": round(len(errors) / requests, 4),
        "first_errors": sorted(set(errors))[:3],
        "p50_ms": round(stats.percentile(latencies, 0.50), 1),
        "p95_ms": round(stats.percentile(latencies, 0.95), 1),
        "max_ms": round(max(latencies), 1),
        "requests_per_second": round(requests / wall, 1) if wall else None,
    }, latencies


def judge_performance(
    metrics: dict, latencies: list[float], p95_budget: float, error_budget: float
) -> suite.Outcome:
    """The budgets: p95 judged by what chance allows (see _stats), the error rate as is."""
    over = []
    latency = stats.judge_budget(latencies, p95_budget)
    metrics["over_p95_budget"] = latency.over
    metrics["p95_p_value"] = float(f"{latency.p_value:.2g}")
    if latency.broken:
        over.append(latency.describe(p95_budget, 0.95))
    if metrics["error_rate"] > error_budget:
        over.append(
            f"error rate {metrics['error_rate']:.1%} over {error_budget:.1%} "
            f"({', '.join(metrics['first_errors'])})"
        )
    figures = (
        f"{metrics['requests']} requests: p50 {metrics['p50_ms']:.0f} ms, "
        f"p95 {metrics['p95_ms']:.0f} ms, errors {metrics['error_rate']:.1%}"
    )
    if over:
        return failed("; ".join(over) + f" ({figures})", **metrics)
    if latency.over:
        figures += f"; {latency.over} over the {p95_budget:g} ms budget, within chance"
    return passed(figures, **metrics)


def sample_performance(ep: Endpoint, perf: dict) -> tuple[suite.Outcome, bool]:
    """One sample judged: the outcome, and whether latency alone broke it."""
    metrics, latencies = measure(ep, perf["path"], int(perf["requests"]), int(perf["concurrency"]))
    metrics["path"] = perf["path"]
    budget = float(perf["error_rate"])
    outcome = judge_performance(metrics, latencies, float(perf["p95_ms"]), budget)
    return outcome, not outcome.passed and metrics["error_rate"] <= budget


def check_performance_baseline(ep: Endpoint, opts: dict, check_mode: bool) -> suite.Outcome:
    perf = opts["performance"]
    if int(perf["requests"]) < 1:
        return failed("performance.requests must be at least 1")
    first, latency_only = sample_performance(ep, perf)
    if not (latency_only and perf["confirm"]):
        return first
    # Latency alone broke it: a second sample decides (errors fail at once).
    second = sample_performance(ep, perf)[0]
    again = f"a second sample of {perf['requests']} requests"
    said = second.message
    metrics = {**second.metrics, "first_sample": first.metrics}
    if second.passed:
        return passed(stats.not_confirmed(said, again, first.message), **metrics)
    return failed(stats.confirmed(said, again, first.message), **metrics)


# ---- rollback, monitoring, integrations, backup -------------------------------


def image_reference(image: str, release: str) -> str:
    return f"{image}@{release}" if release.startswith("sha256:") else f"{image}:{release}"


def check_rollback_capability(ep: Endpoint, opts: dict, check_mode: bool) -> suite.Outcome:
    rb = opts["rollback"]
    if not rb["previous_release"]:
        return failed(
            "no previous release recorded (rollback.previous_release): nothing to go back to"
        )
    if not rb["image"]:
        return failed("rollback.image is empty: cannot tell whether the previous image is here")
    ref = image_reference(rb["image"], rb["previous_release"])
    metrics = {"image": ref, "previous_release": rb["previous_release"]}
    try:
        reply = unix_get(
            rb["docker_socket"],
            f"/images/{urllib.parse.quote(ref, safe='/:@')}/json",
            float(opts["timeout"]),
        )
    except OSError as error:
        return failed(f"Docker Engine at {rb['docker_socket']}: {describe(error)}", **metrics)
    if reply.status == 404:
        return failed(
            f"image {ref} is not in the local Docker Engine: a rollback would need a pull",
            **metrics,
        )
    if reply.status != 200:
        return failed(f"Docker Engine: GET image {ref}: {reply.reason()}", **metrics)
    info = reply.json() or {}
    metrics.update(image_id=info.get("Id"), created=info.get("Created"))
    return passed(
        f"previous release {rb['previous_release']} recorded, image {ref} present", **metrics
    )


def prometheus_selector(job: str, instance: str) -> str:
    labels = [f'{k}="{v}"' for k, v in (("job", job), ("instance", instance)) if v]
    return "up{" + ",".join(labels) + "}"


def prometheus_query(ep: Endpoint, prometheus_url: str, query: str) -> tuple[Endpoint, list | str]:
    """(Prometheus's endpoint, the instant vector's series) or, when the query
    failed, (endpoint, one line saying why)."""
    url = prometheus_url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    prom, path = ep.sibling(url)
    try:
        reply = prom.request("GET", path)
    except OSError as error:
        return prom, f"Prometheus at {prometheus_url}: {describe(error)}"
    data = reply.json() or {}
    if reply.status != 200 or data.get("status") != "success":
        return prom, f"Prometheus query {query}: {reply.reason()}"
    return prom, data.get("data", {}).get("result", [])


def check_monitoring(ep: Endpoint, opts: dict, check_mode: bool) -> suite.Outcome:
    mon = opts["monitoring"]
    if not mon["prometheus_url"]:
        return skipped("not configured: monitoring.prometheus_url is empty")
    query = prometheus_selector(mon["job"], mon["instance"])
    metrics: dict = {"query": query}
    prom, series = prometheus_query(ep, mon["prometheus_url"], query)
    if isinstance(series, str):
        return failed(series, **metrics)
    metrics["targets"] = len(series)
    if not series:
        return failed(
            f"Prometheus has no target matching {query}: is it in the scrape config?", **metrics
        )
    down = [s["metric"].get("instance", "?") for s in series if s.get("value", [0, "0"])[1] != "1"]
    metrics["down"] = down
    if down:
        return failed(
            f"Prometheus target(s) down for {query}: {', '.join(down)}"
            + _last_errors(prom, mon, down),
            **metrics,
        )
    return passed(f"Prometheus scrapes {len(series)} target(s) up for {query}", **metrics)


def _last_errors(prom: Endpoint, mon: dict, down: list[str]) -> str:
    """Prometheus's own reason for the down targets, when it says one."""
    base = urllib.parse.urlsplit(mon["prometheus_url"]).path.rstrip("/")
    try:
        data = prom.request("GET", base + "/api/v1/targets?state=active").json() or {}
    except OSError:
        return ""
    reasons = [
        f"{t['labels'].get('instance')}: {t.get('lastError')}"
        for t in data.get("data", {}).get("activeTargets", [])
        if t.get("labels", {}).get("instance") in down
        and (not mon["job"] or t["labels"].get("job") == mon["job"])
        and t.get("lastError")
    ]
    return f" ({'; '.join(reasons)})" if reasons else ""


def check_external_integrations(ep: Endpoint, opts: dict, check_mode: bool) -> suite.Outcome:
    services = opts["integrations"] or []
    if not services:
        return skipped("not configured: integrations is empty")
    bad, answers = [], {}
    for service in services:
        name, expected = service.get("name") or service["url"], service.get("status") or [200]
        try:
            other, path = ep.sibling(service["url"])
            reply = other.request("GET", path)
            answers[name] = reply.status
            if reply.status not in expected:
                bad.append(f"{name} answered {reply.status}, expected {expected}")
        except (OSError, ValueError) as error:
            answers[name] = None
            bad.append(f"{name}: {describe(error)}")
    if bad:
        return failed("; ".join(bad), answers=answers)
    return passed(
        f"{len(services)} external service(s) answer: {', '.join(answers)}", answers=answers
    )


def epoch_of(value) -> float:
    """Seconds since the epoch from a number or an ISO-8601 time (naive = UTC)."""
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    with contextlib.suppress(ValueError):
        return float(text)
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def backup_stamp_from_prometheus(ep: Endpoint, opts: dict) -> tuple[float | None, str]:
    """(the newest value of backup.metric, '') or (None, why there is none)."""
    metric, url = opts["backup"]["metric"], opts["monitoring"]["prometheus_url"]
    query = f"max({metric})"
    _prom, series = prometheus_query(ep, url, query)
    if isinstance(series, str):
        return None, series
    if not series:
        return None, f"Prometheus has no {metric} series: no backup has reported a success"
    return float(series[0]["value"][1]), ""


def check_backup_freshness(ep: Endpoint, opts: dict, check_mode: bool, now=None) -> suite.Outcome:
    backup = opts["backup"]
    stamp = backup["last_success_timestamp"]
    if (not stamp or stamp in ("0", 0)) and backup["metric"]:
        if not opts["monitoring"]["prometheus_url"]:
            return skipped(
                f"not configured: backup.metric {backup['metric']} needs monitoring.prometheus_url"
            )
        stamp, why = backup_stamp_from_prometheus(ep, opts)
        if stamp is None:
            return failed(why, metric=backup["metric"])
    if not stamp or stamp in ("0", 0):
        return skipped(
            "not configured: backup.last_success_timestamp is 0 and backup.metric is empty"
        )
    try:
        last = epoch_of(stamp)
    except ValueError:
        return failed(
            f"backup.last_success_timestamp {stamp!r} is neither epoch seconds nor ISO-8601"
        )
    age_hours = ((now or time.time()) - last) / 3600
    limit = float(backup["max_age_hours"])
    metrics = {
        "last_success": suite.iso_utc(last),
        "age_hours": round(age_hours, 2),
        "max_age_hours": limit,
    }
    if age_hours > limit:
        return failed(
            f"last good backup {age_hours:.1f} h ago, over the {limit:g} h limit", **metrics
        )
    return passed(f"last good backup {age_hours:.1f} h ago (limit {limit:g} h)", **metrics)


RUNNERS = {
    "health": check_health,
    "service_availability": check_service_availability,
    "database_connectivity": check_database_connectivity,
    "api_endpoints": check_api_endpoints,
    "performance_baseline": check_performance_baseline,
    "rollback_capability": check_rollback_capability,
    "monitoring": check_monitoring,
    "security_posture": check_security_posture,
    "external_integrations": check_external_integrations,
    "backup_freshness": check_backup_freshness,
}
