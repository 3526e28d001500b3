"""The monitoring role's files, checked on the controller with the tools the role installs.

promtool and amtool come from Debian's packages (scripts/ensure-monitoring-tools,
which `make unit` runs): the alert rules pass their unit tests with the role's
`for:` windows and with the lab's shorter ones, the generated configurations
load, and every dashboard is valid JSON whose panels use the provisioned
datasource and whose every PromQL expression parses. Grafana itself cannot be
installed here (its apt repository is out of reach): these checks are what
stands for it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run

ROLE = ROOT / "roles/monitoring"
TOOLS = ROOT / ".cache/monitoring-tools/bin"
ROLE_VARS = yaml.safe_load((ROLE / "vars/main.yml").read_text())
DASHBOARDS = sorted((ROLE / "files/dashboards").glob("*.json"))


def tool(name: str) -> str:
    found = TOOLS / name if (TOOLS / name).exists() else shutil.which(name)
    if not found:
        pytest.skip(
            f"{name} is not installed: run scripts/ensure-monitoring-tools (make unit does)"
        )
    return str(found)


def check(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# What the tests render, and which use the role's [[ ]] delimiters (its task says so).
TEMPLATES = {
    "etc/prometheus/rules/slipway.rules.yml.j2": True,
    "etc/prometheus/alertmanager.yml.j2": False,
    "etc/prometheus/prometheus.yml.j2": False,
    "etc/default/prometheus.j2": False,
    "etc/grafana/provisioning/datasources/slipway.yml.j2": False,
    "etc/grafana/provisioning/dashboards/slipway.yml.j2": False,
}
_RENDERED: dict[str, dict[str, str]] = {}


def render(template: str, **overrides) -> str:
    """A role template as the role renders it (render_monitoring.yml: Ansible's template
    module, the role's defaults and vars), on a host named mon1, with `overrides` as
    extra vars. Every template is rendered at once per set of overrides."""
    key = json.dumps(overrides, sort_keys=True)
    if key not in _RENDERED:
        with tempfile.TemporaryDirectory() as out:
            extra = Path(out) / "extra.json"
            listing = [{"src": src, "square": square} for src, square in TEMPLATES.items()]
            extra.write_text(
                json.dumps({**overrides, "render_dest": out, "render_templates": listing})
            )
            playbook = Path(__file__).with_name("render_monitoring.yml")
            done = run(
                ["ansible-playbook", "-i", "mon1,", "-c", "local", str(playbook), "-e", f"@{extra}"]
            )
            assert done.returncode == 0, done.stdout[-3000:]
            _RENDERED[key] = {
                src: (Path(out) / src.replace("/", "__")).read_text() for src in TEMPLATES
            }
    return _RENDERED[key][template]


def rules_beside_tests(tmp_path: Path, **overrides) -> Path:
    """The rendered rules and the role's rule tests in one directory, as the role lays them out."""
    text = render("etc/prometheus/rules/slipway.rules.yml.j2", **overrides)
    (tmp_path / "slipway.rules.yml").write_text(text)
    for test in (ROLE / "files/rule-tests").glob("*_test.yml"):
        shutil.copy(test, tmp_path)
    return tmp_path


# ---- Alert rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "alert_for",
    [{}, {"InstanceDown": "15s", "ProbeFailed": "15s"}],
    ids=["role-defaults", "lab-windows"],
)
def test_alert_rules_pass_their_unit_tests(tmp_path, alert_for):
    promtool = tool("promtool")
    directory = rules_beside_tests(tmp_path, monitoring_alert_for=alert_for)
    check(promtool, "check", "rules", "slipway.rules.yml", cwd=directory)
    tests = sorted(p.name for p in directory.glob("*_test.yml"))
    out = check(promtool, "test", "rules", *tests, cwd=directory)
    assert out.count("SUCCESS") == len(tests), out


def test_the_role_installs_every_rule_test_it_holds():
    """The role lists its rule tests one by one (one module run for them all): a test added
    to files/rule-tests but not to the task would never run on the host."""
    task = next(
        t
        for t in yaml.safe_load((ROLE / "tasks/prometheus.yml").read_text())
        if "install the rules' unit tests" in t["name"]
    )
    listed = {
        Path(entry["path"]).name
        for entry in task["slipway.ops.config_files"]["files"]
        if "rule-tests/" in entry.get("content", "")
    }
    assert listed == {p.name for p in (ROLE / "files/rule-tests").glob("*_test.yml")}


def test_every_alert_the_issue_names_has_a_rule():
    text = render("etc/prometheus/rules/slipway.rules.yml.j2")
    alerts = {rule["alert"] for group in yaml.safe_load(text)["groups"] for rule in group["rules"]}
    assert {
        "InstanceDown",
        "ApiErrorRateHigh",
        "ApiLatencyP95High",
        "HostCpuHigh",
        "HostMemoryLow",
        "HostDiskFull",
        "WorkerHeartbeatLate",
        "NoLiveWorkers",
        "QueueDepthHigh",
        "QueueOldestTaskOld",
        "DeployFailed",
        "RollbackHappened",
        "BackupStale",
        "RestoreDrillFailed",
        "TlsCertificateExpiring",
        "WatchdogRestartedContainers",
    } <= alerts
    # Every `for:` the role sets is one an operator can override by name.
    assert set(ROLE_VARS["__monitoring_alert_for_defaults"]) <= alerts


def test_api_latency_alert_uses_the_seeds_two_second_threshold():
    text = render("etc/prometheus/rules/slipway.rules.yml.j2")
    rule = next(
        r
        for g in yaml.safe_load(text)["groups"]
        for r in g["rules"]
        if r.get("alert") == "ApiLatencyP95High"
    )
    assert rule["expr"].startswith("histogram_quantile(0.95,")
    assert rule["expr"].endswith("> 2")


# ---- Prometheus, Alertmanager -------------------------------------------------------------

RECEIVERS = [
    {"name": "ops-webhook", "type": "webhook", "url": "https://hooks.example.com/t0ken"},
    {"name": "ops-mail", "type": "email", "to": "ops@example.com", "severities": ["critical"]},
    {
        "name": "ops-slack",
        "type": "slack",
        "api_url": "https://hooks.slack.example/services/T/B/x",
        "channel": "#ops",
        "send_resolved": False,
    },
]


def test_alertmanager_config_with_every_receiver_type_passes_amtool(tmp_path):
    amtool = tool("amtool")
    text = render(
        "etc/prometheus/alertmanager.yml.j2",
        monitoring_alert_receivers=RECEIVERS,
        monitoring_smtp_smarthost="smtp.example.com:587",
        monitoring_smtp_from="alerts@example.com",
        monitoring_smtp_auth_username="alerts",
        monitoring_smtp_auth_password="s3cret-password",  # noqa: S106
    )
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    out = check(amtool, "check-config", str(path))
    assert "- 4 receivers" in out, out
    config = yaml.safe_load(text)
    routes = config["route"]["routes"]
    assert [r["receiver"] for r in routes] == ["ops-webhook", "ops-mail", "ops-slack"]
    assert all(r["continue"] for r in routes)
    assert routes[1]["matchers"] == ['severity=~"critical"']


def test_alertmanager_config_without_receivers_passes_amtool(tmp_path):
    path = tmp_path / "alertmanager.yml"
    path.write_text(render("etc/prometheus/alertmanager.yml.j2"))
    check(tool("amtool"), "check-config", str(path))


def test_prometheus_config_from_the_inventory_passes_promtool(tmp_path):
    text = render(
        "etc/prometheus/prometheus.yml.j2",
        monitoring_environment="production",
        monitoring_scrape_jobs=[
            {"job": "node", "hosts": ["app1", "db1"], "port": 9100},
            {"job": "api", "hosts": ["app1"], "port": 8000, "path": "/metrics"},
        ],
        monitoring_blackbox_targets=[{"name": "lb1", "url": "https://10.0.0.11/health"}],
    )
    # Absolute paths outside /etc here: point them at the test's directory.
    text = text.replace("/etc/prometheus", str(tmp_path))
    path = tmp_path / "prometheus.yml"
    path.write_text(text)
    check(tool("promtool"), "check", "config", "--syntax-only", str(path))
    config = yaml.safe_load(text)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"prometheus", "alertmanager", "pushgateway", "node", "api", "blackbox_http_2xx"} <= set(
        jobs
    )
    assert jobs["pushgateway"]["honor_labels"] is True
    assert config["global"]["scrape_interval"] == "30s"  # the standard level
    assert config["global"]["external_labels"] == {"environment": "production"}


@pytest.mark.parametrize(
    ("level", "expected"),
    [("minimal", ("60s", "7d")), ("standard", ("30s", "15d")), ("comprehensive", ("15s", "30d"))],
)
def test_monitoring_level_sets_intervals_and_retention(level, expected):
    config = yaml.safe_load(render("etc/prometheus/prometheus.yml.j2", monitoring_level=level))
    assert config["global"]["scrape_interval"] == expected[0]
    assert config["global"]["evaluation_interval"] == expected[0]
    flags = render("etc/default/prometheus.j2", monitoring_level=level)
    assert f"--storage.tsdb.retention.time={expected[1]}" in flags


# ---- Grafana ---------------------------------------------------------------------------------


def provisioned_uid() -> str:
    text = render("etc/grafana/provisioning/datasources/slipway.yml.j2")
    (datasource,) = yaml.safe_load(text)["datasources"]
    assert datasource["type"] == "prometheus"
    return datasource["uid"]


def panels(dashboard: dict) -> list[dict]:
    """Every panel, those inside rows included."""
    found = []
    for panel in dashboard.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def test_dashboards_are_the_four_the_platform_needs():
    titles = {json.loads(p.read_text())["title"] for p in DASHBOARDS}
    assert titles == {
        "Slipway: platform overview",
        "Slipway: deploys",
        "Slipway: agents and tasks",
        "Slipway: PostgreSQL",
    }


def test_dashboards_have_unique_uids_and_panel_ids():
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids)), uids
    for path in DASHBOARDS:
        ids = [panel["id"] for panel in panels(json.loads(path.read_text()))]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"


def test_every_panel_uses_the_provisioned_datasource():
    uid = provisioned_uid()
    for path in DASHBOARDS:
        for panel in panels(json.loads(path.read_text())):
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": uid}, (path.name, panel)
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == uid, (path.name, panel["title"])


def test_every_dashboard_expression_parses(tmp_path):
    """Each expr as a recording rule: promtool check rules parses all of them."""
    rules = []
    for path in DASHBOARDS:
        for panel in panels(json.loads(path.read_text())):
            for target in panel.get("targets", []):
                # Grafana's own variables are not PromQL: give them a value.
                expr = target["expr"].replace("$__rate_interval", "5m").replace("$__range", "1h")
                rules.append({"record": f"dashboard:check:{len(rules)}", "expr": expr})
    assert len(rules) > 40
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    out = check(tool("promtool"), "check", "rules", str(path))
    assert f"SUCCESS: {len(rules)} rules found" in out, out


def test_dashboards_provider_points_at_where_the_role_copies_them():
    text = render("etc/grafana/provisioning/dashboards/slipway.yml.j2")
    (provider,) = yaml.safe_load(text)["providers"]
    assert provider["type"] == "file"
    grafana_tasks = (ROLE / "tasks/grafana.yml").read_text()
    assert f"dest: {provider['options']['path']}/" in grafana_tasks


# ---- The lab's webhook receiver -----------------------------------------------------------------


def test_webhook_receiver_records_each_notification(tmp_path):
    import importlib.util
    import threading
    import urllib.request
    from http.server import ThreadingHTTPServer

    spec = importlib.util.spec_from_file_location(
        "receiver", ROLE / "files/usr/local/libexec/slipway/alert_webhook_receiver.py"
    )
    receiver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(receiver)
    log = tmp_path / "alerts.jsonl"
    server = ThreadingHTTPServer(("127.0.0.1", 0), receiver.handler_for(str(log)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    try:
        body = json.dumps({"status": "firing", "alerts": [{"labels": {"alertname": "X"}}]})
        request = urllib.request.Request(url, data=body.encode(), method="POST")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (a local test URL)
            assert response.status == 200
        with urllib.request.urlopen(url, timeout=5) as response:
            assert json.load(response) == {"recorded": 1}
    finally:
        server.shutdown()
    (line,) = log.read_text().splitlines()
    record = json.loads(line)
    assert record["payload"]["alerts"][0]["labels"]["alertname"] == "X"
    assert record["received_at"] > 0
    assert os.stat(log).st_size > 0
