"""Monitoring on the lab (after site.yml): every target up, the checks pass on mon1,
and a stopped API reaches the lab's webhook receiver as an alert, then as resolved.

The controller reaches Prometheus through mon1's published port 19090; the
receiver's log is read over SSH. The lab's inventory (inventories/dev main.yml)
scrapes and evaluates every 5 s and fires InstanceDown after 15 s.
"""

from __future__ import annotations

import json
import subprocess
import time

import httpx
import pytest

from tests.integration.conftest import LAB_HOSTS, lab_host

PROMETHEUS = "http://127.0.0.1:19090"
RECEIVED = "/var/lib/slipway-alerts/alerts.jsonl"
RULE_TESTS = "/usr/share/slipway/monitoring/rule-tests"
# Every job and the inventory hosts it scrapes (platform.yml's wiring).
EXPECTED = {
    "node": {"lb1", "app1", "app2", "db1", "mon1"},
    "api": {"app1", "app2"},
    "postgres": {"db1"},
    "redis": {"db1"},
    "nginx": {"lb1"},
    "prometheus": {"mon1"},
    "alertmanager": {"mon1"},
    "pushgateway": {"mon1"},
    "blackbox_exporter": {"mon1"},
}
# Stopping the api and starting it again must each reach the receiver within this.
ALERT_DEADLINE = 120


def targets() -> list[dict]:
    reply = httpx.get(f"{PROMETHEUS}/api/v1/targets", params={"state": "active"}, timeout=10)
    reply.raise_for_status()
    return reply.json()["data"]["activeTargets"]


def docker_on(host: str, *args: str) -> str:
    """A docker command inside a lab host's own Docker Engine."""
    result = subprocess.run(
        ["docker", "exec", f"slipway-lab-{host}", "docker", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def notifications(mon1, since: float) -> list[dict]:
    """The receiver's records that arrived after `since` (epoch seconds)."""
    out = mon1.run(f"cat {RECEIVED} 2>/dev/null || true").stdout
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [r for r in records if r["received_at"] >= since]


def api_down_alert(record: dict, host: str) -> dict | None:
    """The InstanceDown alert of host's api in one notification, if it is there."""
    for alert in record["payload"].get("alerts", []):
        labels = alert["labels"]
        if (labels.get("alertname"), labels.get("job"), labels.get("instance")) == (
            "InstanceDown",
            "api",
            host,
        ):
            return alert
    return None


def wait_for_notification(mon1, host: str, status: str, since: float) -> tuple[float, dict]:
    deadline = time.time() + ALERT_DEADLINE
    while time.time() < deadline:
        for record in notifications(mon1, since):
            alert = api_down_alert(record, host)
            if alert and alert["status"] == status:
                return record["received_at"], alert
        time.sleep(1)
    pytest.fail(f"no {status} InstanceDown for {host}'s api within {ALERT_DEADLINE} s")


def test_prometheus_sees_every_target_up():
    deadline = time.monotonic() + 60
    while True:
        active = targets()
        down = [t for t in active if t["health"] != "up"]
        if not down or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert not down, [(t["labels"]["job"], t["labels"]["instance"], t["lastError"]) for t in down]
    seen: dict[str, set[str]] = {}
    for target in active:
        seen.setdefault(target["labels"]["job"], set()).add(target["labels"]["instance"])
    for job, hosts in EXPECTED.items():
        assert seen.get(job) == hosts, (job, seen.get(job))
    # The site through the load balancer: status, TLS (the lab CA) and its certificate.
    assert seen["blackbox_http_2xx"] == {f"https://{LAB_HOSTS['lb1']['lab_ip']}/health"}


def test_platform_metrics_reach_prometheus():
    """The app's, the watchdog's (textfile) and the exporters' series are there."""
    for query in (
        'platform_build_info{job="api"}',
        "slipway_app_watchdog_last_run_timestamp_seconds",
        "pg_up == 1",
        "redis_up == 1",
        "nginx_up == 1",
        "probe_ssl_earliest_cert_expiry",
    ):
        reply = httpx.get(f"{PROMETHEUS}/api/v1/query", params={"query": query}, timeout=10)
        assert reply.json()["data"]["result"], f"nothing for {query}"


def test_promtool_and_amtool_pass_on_mon1():
    mon1 = lab_host("mon1")
    config = mon1.run("promtool check config /etc/prometheus/prometheus.yml")
    assert config.rc == 0, config.stdout + config.stderr
    rules = mon1.run(f"cd {RULE_TESTS} && promtool test rules *_test.yml")
    assert rules.rc == 0, rules.stdout + rules.stderr
    assert (rules.stdout + rules.stderr).count("SUCCESS") == 3
    alerting = mon1.run("amtool check-config /etc/prometheus/alertmanager.yml")
    assert alerting.rc == 0, alerting.stdout + alerting.stderr


def test_a_stopped_api_alerts_the_receiver_and_resolves():
    """Stop app2's api container: InstanceDown reaches the lab's webhook receiver; start it:
    the alert resolves. The watchdog leaves a stopped container alone (it restarts running,
    unhealthy ones), and so does Docker's restart policy after `docker stop`."""
    mon1 = lab_host("mon1")
    api = docker_on("app2", "ps", "--filter", "label=com.docker.compose.service=api",
                    "--format", "{{.Names}}").splitlines()[0]  # fmt: skip
    started = time.time()
    docker_on("app2", "stop", api)
    try:
        fired_at, fired = wait_for_notification(mon1, "app2", "firing", started)
        assert fired["labels"]["severity"] == "critical"
        assert fired["annotations"]["summary"] == "api on app2 is down"
    finally:
        restarted = time.time()
        docker_on("app2", "start", api)
    resolved_at, _ = wait_for_notification(mon1, "app2", "resolved", restarted)
    print(
        f"\napi stopped -> alert at the receiver: {fired_at - started:.1f} s;"
        f" api started -> resolved at the receiver: {resolved_at - restarted:.1f} s"
    )
