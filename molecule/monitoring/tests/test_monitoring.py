"""The monitoring host: its services, their checked configurations, targets up, alerts delivered."""

from __future__ import annotations

import json
import time
import uuid

import pytest

SERVICES = [
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-pushgateway",
    "prometheus-blackbox-exporter",
    "prometheus-node-exporter",
    "slipway-alert-webhook",
]
RECEIVED = "/var/lib/slipway-alerts/alerts.jsonl"
TEXTFILE = "/var/lib/prometheus/node-exporter"


def get_json(host, url: str, data: str | None = None) -> dict:
    """GET (or POST data as JSON) from the instance itself: its Python, no curl needed."""
    code = (
        "import json, sys, urllib.request as u; "
        "d = sys.argv[2].encode() if len(sys.argv) > 2 else None; "
        "r = u.Request(sys.argv[1], data=d, headers={'Content-Type': 'application/json'}); "
        "print(u.urlopen(r, timeout=10).read().decode() or '{}')"
    )
    args = [url] + ([data] if data is not None else [])
    quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in args)
    return json.loads(host.check_output(f'python3 -c "{code}" {quoted}'))


def wait_for(predicate, timeout: float = 90, every: float = 2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


@pytest.mark.parametrize("service", SERVICES)
def test_service_runs_and_starts_at_boot(host, service):
    unit = host.service(service)
    assert unit.is_running
    assert unit.is_enabled


def test_prometheus_config_passes_promtool(host):
    out = host.run("promtool check config /etc/prometheus/prometheus.yml")
    assert out.rc == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout + out.stderr


def test_alert_rules_pass_their_unit_tests_on_the_host(host):
    out = host.run("cd /usr/share/slipway/monitoring/rule-tests && promtool test rules *_test.yml")
    assert out.rc == 0, out.stdout + out.stderr
    assert (out.stdout + out.stderr).count("SUCCESS") == 3


def test_alertmanager_config_passes_amtool(host):
    out = host.run("amtool check-config /etc/prometheus/alertmanager.yml")
    assert out.rc == 0, out.stdout + out.stderr
    assert "- 3 receivers" in out.stdout
    # The receivers' URLs may hold tokens: not world-readable.
    assert host.file("/etc/prometheus/alertmanager.yml").mode == 0o640


def test_level_and_overrides_reach_prometheus(host):
    flags = host.file("/etc/default/prometheus").content_string
    assert "--storage.tsdb.retention.time=7d" in flags  # the minimal level
    config = host.file("/etc/prometheus/prometheus.yml").content_string
    assert "scrape_interval: 5s" in config
    assert 'environment: "molecule"' in config


def test_every_target_is_up(host):
    def targets():
        data = get_json(host, "http://127.0.0.1:9090/api/v1/targets")["data"]["activeTargets"]
        healthy = all(t["health"] == "up" for t in data)
        return data if healthy and len(data) >= 6 else None

    data = wait_for(targets) or get_json(host, "http://127.0.0.1:9090/api/v1/targets")
    jobs = {t["labels"]["job"]: t for t in data} if isinstance(data, list) else {}
    assert {"prometheus", "alertmanager", "pushgateway", "blackbox_exporter", "node",
            "blackbox_http_2xx"} <= set(jobs), data  # fmt: skip
    # The file_sd target carries its inventory name, not its address.
    assert jobs["node"]["labels"]["instance"] == host.check_output("hostname")


def test_textfile_metrics_are_exported(host):
    """What the platform's timers write (app watchdog, backups) reaches Prometheus."""
    host.run_expect(
        [0],
        f"printf 'slipway_molecule_probe 42\\n' > {TEXTFILE}/.probe.tmp && "
        f"mv {TEXTFILE}/.probe.tmp {TEXTFILE}/molecule_probe.prom",
    )

    def seen():
        result = get_json(host, "http://127.0.0.1:9090/api/v1/query?query=slipway_molecule_probe")
        return result["data"]["result"]

    try:
        result = wait_for(seen, timeout=60)
        assert result, "the textfile metric never reached Prometheus"
        assert result[0]["value"][1] == "42"
    finally:
        host.run(f"rm -f {TEXTFILE}/molecule_probe.prom")


def test_a_critical_alert_reaches_both_webhook_receivers(host):
    """Posted to Alertmanager's API: every receiver takes a critical alert."""
    probe = f"molecule-{uuid.uuid4().hex[:8]}"
    alerts = [
        {"labels": {"alertname": "MoleculeProbe", "probe": probe, "severity": "critical"},
         "annotations": {"summary": "a test alert"}},
    ]  # fmt: skip
    get_json(host, "http://127.0.0.1:9093/api/v2/alerts", json.dumps(alerts))

    def notifications():
        if not host.file(RECEIVED).exists:
            return []
        lines = host.file(RECEIVED).content_string.splitlines()
        return [json.loads(line) for line in lines if probe in line]

    got = wait_for(lambda: len(notifications()) >= 2 and notifications(), timeout=60)
    assert got, "no notification reached the receiver"
    first = got[0]["payload"]
    assert first["status"] == "firing"
    assert first["alerts"][0]["labels"]["probe"] == probe
    assert {n["payload"]["receiver"] for n in got} == {"lab-webhook", "critical-only"}


def test_pushgateway_keeps_pushed_labels(host):
    """The audit callback pushes with its own job and instance: honor_labels keeps them."""
    body = "slipway_molecule_push 1\n"
    host.run_expect(
        [0],
        'python3 -c "import urllib.request as u; u.urlopen(u.Request('
        "'http://127.0.0.1:9091/metrics/job/slipway_audit/instance/controller1', "
        f"data=b'{body.strip()}\\n', method='PUT'), timeout=10)\"",
    )

    def seen():
        query = "http://127.0.0.1:9090/api/v1/query?query=slipway_molecule_push"
        return get_json(host, query)["data"]["result"]

    result = wait_for(seen, timeout=60)
    assert result, "the pushed metric never reached Prometheus"
    assert result[0]["metric"]["instance"] == "controller1"
    assert result[0]["metric"]["job"] == "slipway_audit"
