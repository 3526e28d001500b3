# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The canary judge's evidence: what each app host served, per route class, over a
window. Two sources behind one interface, `traffic(start, end)`, which maps an
app host to its route classes' Traffic:

- LbLogSource reads the load balancer's JSON access log (nginx_tls's
  slipway_json format): per request, each upstream attempt with its status, its
  upstream response time and when it ended (so that the judge holds the tail
  against the baseline's at the same moment). The default: it is what users got.
- PrometheusSource reads the platform's per-instance request histogram
  (platform_http_request_duration_seconds) over the window: each request as its
  bucket's upper bound, so the judge's rank tests see binned latencies; and no
  times (the tail is held against the baseline's whole window).

An error is a 5xx from the upstream, an upstream error or timeout (nginx's 502
and 504), or a request the client gave up on (499). Requests the load balancer
answered itself (a rate limit's 429) name no upstream and are left out, as are
the probes and the paths outside the API.

The run's own requests (route_traffic's on a quiet fleet, the health gate's,
verify's) name themselves in their User-Agent (OWN_AGENT_PREFIX). A judgment
on real traffic leaves them out: a baseline must not hold an earlier run's
requests, with their own route mix. A judgment on the run's own requests
counts them (own=True).
"""

from __future__ import annotations

import datetime
import json
import os
import ssl

from ansible_collections.slipway.ops.plugins.module_utils import _gate_prometheus as prometheus
from ansible_collections.slipway.ops.plugins.module_utils._canary_judge import Traffic

API_PREFIX = "/v1/"
PROBES = ("/health", "/ready", "/version", "/metrics")
READS = ("GET", "HEAD")
WRITES = ("POST", "PUT", "PATCH", "DELETE")
# Client gave up (499): the user saw no answer, so it counts as an error.
CLIENT_GAVE_UP = 499
# The User-Agent of every request the run sends itself.
OWN_AGENT_PREFIX = "slipway-"
# Read this much at a time from the end of the access log.
BLOCK = 1 << 20


def route_class(method: str, path: str) -> str | None:
    """The route class of a request (the vocabulary's ROUTE_CLASSES), None when not judged."""
    path = path.split("?", 1)[0]
    if not path.startswith(API_PREFIX) or path in PROBES:
        return None
    if method in READS:
        return "reads"
    if method == "POST" and path.rstrip("/") == "/v1/tasks":
        return "task_submissions"
    if method in WRITES:
        return "other_writes"
    return None


# ---- The load balancer's access log -------------------------------------------


def _attempts(field: str) -> list[str]:
    """nginx joins upstream attempts with ', ' and internal redirects with ' : '."""
    return [part.strip() for part in field.replace(" : ", ", ").split(",")] if field else []


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _time(record: dict) -> float | None:
    """The request's end as epoch seconds: msec when logged, else the ISO time."""
    if "msec" in record:
        return _number(str(record["msec"]))
    try:
        return datetime.datetime.fromisoformat(record["time"]).timestamp()
    except (KeyError, ValueError):
        return None


def observations(line: str, own: bool = False) -> list[tuple[float, str, str, float | None, bool]]:
    """(time, upstream, route class, upstream ms or None, error) per upstream attempt of
    one access log line; [] when the line is not judged (the run's own requests unless
    `own`)."""
    try:
        record = json.loads(line)
    except ValueError:
        return []
    if not own and str(record.get("user_agent", "")).startswith(OWN_AGENT_PREFIX):
        return []
    route = route_class(str(record.get("method", "")), str(record.get("uri", "")))
    t = _time(record)
    if route is None or t is None:
        return []
    addrs = _attempts(str(record.get("upstream_addr", "")))
    statuses = _attempts(str(record.get("upstream_status", "")))
    times = _attempts(str(record.get("upstream_response_time", "")))
    out = []
    for i, addr in enumerate(addrs):
        if not addr or addr == "-" or addr.startswith("unix:"):
            continue
        status = _number(statuses[i]) if i < len(statuses) else None
        ms = _number(times[i]) if i < len(times) else None
        last = i == len(addrs) - 1
        error = status is None or status >= 500
        if last and record.get("status") == CLIENT_GAVE_UP:
            error = True
        out.append((t, addr, route, None if error or ms is None else ms * 1000, error))
    return out


def tail_lines(path: str, since: float):
    """The lines of an access log from about `since` on, read backwards from its end in
    blocks so that a large log costs only the window (lines are in time order)."""
    with open(path, "rb") as log:
        log.seek(0, os.SEEK_END)
        end = position = log.tell()
        while position > 0:
            position = max(0, position - BLOCK)
            log.seek(position)
            if position:
                log.readline()  # a partial line
            first = log.readline()
            t = _time(json.loads(first)) if first.strip().startswith(b"{") else None
            if t is not None and t < since:
                break
        log.seek(position)
        if position:
            log.readline()
        while log.tell() < end:
            line = log.readline()
            if not line:
                break
            yield line.decode("utf-8", "replace")


def collect(rows, upstreams: dict[str, str], start: float, end: float) -> dict:
    """{host: {route class: Traffic}} of the observations within [start, end)."""
    traffic: dict[str, dict[str, Traffic]] = {host: {} for host in upstreams.values()}
    for t, addr, route, ms, error in rows:
        host = upstreams.get(addr)
        if host is None or not start <= t < end:
            continue
        side = traffic[host].setdefault(route, Traffic())
        if error:
            side.errors += 1
        elif ms is not None:
            side.latencies.append(ms)
            side.times.append(round(t, 3))
    return traffic


class LbLogSource:
    """The load balancers' access logs (readable here: the module runs on each lb)."""

    name = "lb_log"

    def __init__(self, paths: list[str], upstreams: dict[str, str], own: bool = False) -> None:
        self.paths = paths
        self.upstreams = upstreams  # "10.242.0.21:8000" -> "app1"
        self.own = own  # count the run's own requests too

    def traffic(self, start: float, end: float) -> dict:
        rows = (
            row
            for path in self.paths
            for line in tail_lines(path, start)
            for row in observations(line, self.own)
        )
        return collect(rows, self.upstreams, start, end)


# ---- Prometheus ----------------------------------------------------------------

HISTOGRAM = "platform_http_request_duration_seconds_bucket"


def binned(buckets: dict[float, float]) -> tuple[list[float], int]:
    """Latencies (ms) from a histogram's cumulative counts {le: count}, each request at
    its bucket's upper bound (+Inf at twice the last finite bound); and the count."""
    bounds = sorted(buckets)
    finite = [b for b in bounds if b != float("inf")]
    latencies: list[float] = []
    below = 0
    for bound in bounds:
        count = max(0, round(buckets[bound]) - below)
        below += count
        value = bound if bound != float("inf") else 2 * (finite[-1] if finite else 1.0)
        latencies += [value * 1000] * count
    return latencies, below


class PrometheusSource:
    """The platform's per-instance request metrics in Prometheus."""

    name = "prometheus"

    def __init__(
        self,
        url: str,
        instances: dict[str, str],
        job: str = "api",
        context: ssl.SSLContext | None = None,
    ) -> None:
        self.url = url
        self.instances = instances  # the `instance` label -> the app host
        self.job = job
        self.context = context

    def query(self, start: float, end: float) -> str:
        window = max(1, round(end - start))
        series = f'{HISTOGRAM}{{job="{self.job}"}}[{window}s]'
        return f"sum by (instance, route, method, status, le) (increase({series}))"

    def traffic(self, start: float, end: float) -> dict:
        data = prometheus.query(self.url, self.query(start, end), context=self.context, at=end)
        series: dict[tuple[str, str, bool], dict[float, float]] = {}
        for item in data.get("result", []):
            labels = item.get("metric", {})
            host = self.instances.get(labels.get("instance", ""))
            route = route_class(labels.get("method", ""), labels.get("route", ""))
            if host is None or route is None:
                continue
            error = labels.get("status", "").startswith("5")
            buckets = series.setdefault((host, route, error), {})
            le = float(labels.get("le", "inf").replace("+Inf", "inf"))
            buckets[le] = buckets.get(le, 0.0) + float(item["value"][1])
        traffic: dict[str, dict[str, Traffic]] = {host: {} for host in self.instances.values()}
        for (host, route, error), buckets in series.items():
            side = traffic[host].setdefault(route, Traffic())
            latencies, count = binned(buckets)
            if error:
                side.errors += count
            else:
                side.latencies += latencies
        return traffic
