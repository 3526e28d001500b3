"""Prometheus metrics for /metrics.

HTTP metrics are this API process's own. Task, queue and worker metrics are
read from Redis at scrape time: workers serve no HTTP, so they count their
outcomes in Redis and the API exposes the fleet's figures.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from . import taskqueue

log = logging.getLogger("agent_platform.metrics")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class RedisCollector:
    """Tasks processed and failed, queue depth and oldest task age, worker heartbeats."""

    def __init__(self, redis_client) -> None:
        self.redis = redis_client

    def collect(self):
        up = GaugeMetricFamily("platform_queue_reachable", "1 when Redis answered this scrape")
        try:
            outcomes = taskqueue.outcomes(self.redis)
            backlog = taskqueue.backlog(self.redis)
            workers = taskqueue.workers(self.redis)
        except Exception as exc:  # a scrape must answer even when Redis does not
            log.warning("metrics: Redis did not answer: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        processed = CounterMetricFamily(
            "platform_tasks_processed", "Tasks workers completed", labels=["release", "agent_type"]
        )
        failed = CounterMetricFamily(
            "platform_tasks_failed", "Tasks that ended failed", labels=["release", "agent_type"]
        )
        for outcome, release, agent_type, count in outcomes:
            processed.add_metric([release, agent_type], count)
            if outcome == "failed":
                failed.add_metric([release, agent_type], count)
        yield processed
        yield failed
        depth = GaugeMetricFamily(
            "platform_queue_depth", "Tasks queued or in hand, by queue", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "platform_queue_oldest_task_age_seconds",
            "Age of the oldest task not yet done",
            labels=["queue"],
        )
        for queue, size, oldest in backlog:
            depth.add_metric([queue], size)
            age.add_metric([queue], oldest)
        yield depth
        yield age
        live = GaugeMetricFamily(
            "platform_workers", "Workers with a live heartbeat, by release", labels=["release"]
        )
        beat_age = GaugeMetricFamily(
            "platform_worker_heartbeat_age_seconds",
            "Seconds since each worker's last heartbeat",
            labels=["worker", "release"],
        )
        by_release: dict[str, int] = {}
        now = time.time()
        for w in workers:
            by_release[w["release"]] = by_release.get(w["release"], 0) + 1
            beat_age.add_metric([w["id"], w["release"]], max(0.0, now - w["beat_at"]))
        for release, count in sorted(by_release.items()):
            live.add_metric([release], count)
        yield live
        yield beat_age


class Metrics:
    def __init__(self, release: str, git_sha: str, redis_client) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "platform_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "platform_http_request_duration_seconds",
            "HTTP request latency by route, method and status",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        info = Gauge(
            "platform_build_info",
            "The running release",
            ["release", "git_sha"],
            registry=self.registry,
        )
        info.labels(release, git_sha).set(1)
        self.registry.register(RedisCollector(redis_client))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        labels = (route, method, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)
