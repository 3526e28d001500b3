"""The load balancer: TLS a scanner finds no fault in, the headers, the status
page, and a drain and undrain under continuous load that drop no request.

Tests run in file order: the drain (module fixture) before the tests that
switch TLS modes, and those last. Results go to .cache/molecule-nginx_tls/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra

SCENARIO = Path(__file__).resolve().parent.parent
PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", SCENARIO.parent.parent))
INVENTORY = os.environ.get("MOLECULE_INVENTORY_FILE", "")
sys.path.insert(0, str(PROJECT))
from tests.certs import self_signed  # noqa: E402 - the checkout's test helpers

RESULTS = PROJECT / ".cache" / "molecule-nginx_tls"
UPSTREAM = "/etc/nginx/slipway/upstream.conf"
ROTATION = "curl -sS http://127.0.0.1:8081/slipway/rotation"
BACKEND_LOG = "/var/log/slipway-test-backend.jsonl"
RELEASE = "/run/slipway-test-release"
CURL = "curl -sS --cacert /root/slipway-ca.crt"


def instance(name: str):
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=INVENTORY)


@pytest.fixture(scope="module")
def lb():
    return instance("nginx-tls-lb")


@pytest.fixture(scope="module")
def app1():
    return instance("nginx-tls-app1")


@pytest.fixture(scope="module")
def app2():
    return instance("nginx-tls-app2")


def rotation(lb) -> dict[str, dict]:
    """The balancer's live state per backend (drained, weight, in_flight)."""
    return {b["name"]: b for b in json.loads(lb.check_output(ROTATION))["backends"]}


def nginx_processes(lb) -> tuple[str, str]:
    """The master's pid and its workers': a reload changes the workers."""
    master = lb.file("/run/nginx.pid").content_string.strip()
    return master, " ".join(sorted(lb.check_output(f"ps -o pid= --ppid {master}").split()))


def playbook_in_background(name: str, *extra: str) -> subprocess.Popen:
    """Start one of the scenario's playbooks against the molecule instances."""
    args = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", INVENTORY, name, *extra]
    env = os.environ | {"ANSIBLE_NOCOLOR": "true", "ANSIBLE_FORCE_COLOR": "false"}
    return subprocess.Popen(
        args, cwd=SCENARIO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def playbook(name: str, *extra: str) -> subprocess.CompletedProcess:
    """Run one of the scenario's playbooks; stdout and stderr together."""
    process = playbook_in_background(name, *extra)
    out, _ = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, out, "")


def now(host) -> float:
    """The hosts share the machine's clock."""
    return float(host.check_output("date +%s.%N"))


def save(name: str, text: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(text)


# ---- TLS ---------------------------------------------------------------------
def test_testssl_finds_no_old_protocol_no_weak_cipher_and_hsts(app1):
    """Debian's testssl.sh, from another host on the network."""
    app1.run("rm -f /root/testssl.json")
    scan = app1.run(
        "testssl --quiet --color 0 --warnings off --protocols --std --headers"
        " --jsonfile /root/testssl.json nginx-tls-lb:443"
    )
    save("testssl.txt", scan.stdout)
    print(scan.stdout)
    found = {f["id"]: f for f in json.loads(app1.file("/root/testssl.json").content_string)}
    for protocol in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert found[protocol]["finding"] == "not offered", found[protocol]
    assert found["TLS1_2"]["finding"] == "offered"
    assert found["TLS1_3"]["finding"].startswith("offered")
    # testssl 3.0 (Debian 12) has AVERAGE and STRONG; 3.2 (Debian 13) names
    # them OBSOLETED and splits STRONG by forward secrecy (only _FS offered).
    modern = "cipherlist_OBSOLETED" in found
    weak = ["NULL", "aNULL", "EXPORT", "LOW", "3DES_IDEA"]
    weak += ["OBSOLETED", "STRONG_NOFS"] if modern else ["AVERAGE"]
    for category in weak:
        assert found[f"cipherlist_{category}"]["finding"] == "not offered", category
    assert found["cipherlist_STRONG_FS" if modern else "cipherlist_STRONG"]["finding"] == "offered"
    assert found["HSTS_time"]["severity"] == "OK", found["HSTS_time"]
    assert found["HSTS_time"]["finding"].startswith("730 days")


def test_tls_port_speaks_http2_and_the_configuration_has_no_warning(lb):
    # Debian 12's Nginx (1.22) takes HTTP/2 as a listen parameter, 13's (1.26)
    # as the http2 directive and warns on the old form: either way h2 answers.
    # grep -a: s_client also prints what the server sent, and an HTTP/2 server's
    # first frame is binary, which testinfra cannot decode (a clean clone failed so).
    alpn = lb.check_output(
        "openssl s_client -alpn h2 -connect 127.0.0.1:443 -servername nginx-tls-lb"
        " </dev/null 2>&1 | grep -a '^ALPN protocol'"
    )
    assert "ALPN protocol: h2" in alpn
    check = lb.run("nginx -t")
    assert check.rc == 0, check.stderr
    assert "[warn]" not in check.stderr, check.stderr


def test_http_redirects_to_https_keeping_the_method(lb):
    headers = lb.check_output("curl -sS -o /dev/null -D - -X POST http://127.0.0.1/agents?x=1")
    assert headers.startswith("HTTP/1.1 308")
    assert "Location: https://127.0.0.1/agents?x=1" in headers


def test_headers_request_id_and_forwarding(lb):
    out = lb.check_output(f"{CURL} -D - -H 'X-Request-ID: trace-42' https://127.0.0.1/probe")
    head, body = out.split("\r\n\r\n", 1)
    lines = head.lower().splitlines()
    assert "strict-transport-security: max-age=63072000; includesubdomains" in lines
    assert "x-content-type-options: nosniff" in lines
    assert "x-frame-options: deny" in lines
    # Once, although the backend echoes it too.
    assert [line for line in lines if line.startswith("x-request-id")] == ["x-request-id: trace-42"]
    answer = json.loads(body)
    assert answer["request_id"] == "trace-42"
    assert answer["x_forwarded_for"] == "127.0.0.1"
    assert answer["x_forwarded_proto"] == "https"
    # An id the app would refuse is replaced by Nginx's own.
    bad = json.loads(lb.check_output(f"{CURL} -H 'X-Request-ID: a b;c' https://127.0.0.1/probe"))
    assert len(bad["request_id"]) == 32
    assert all(c in "0123456789abcdef" for c in bad["request_id"])


def test_access_log_is_json_with_upstream_timings(lb):
    lb.check_output(f"{CURL} -o /dev/null -H 'X-Request-ID: logged-1' https://127.0.0.1/logged")
    last = json.loads(lb.check_output("tail -n 1 /var/log/nginx/access.log"))
    assert last["request_id"] == "logged-1"
    assert last["status"] == 200
    assert last["upstream_addr"].endswith(":8000")
    assert float(last["upstream_response_time"]) >= 0
    assert last["ssl_protocol"] in ("TLSv1.2", "TLSv1.3")


def test_status_page_answers_localhost_only(lb, app1):
    assert "Active connections" in lb.check_output("curl -sS http://127.0.0.1:8081/stub_status")
    other = app1.check_output(
        "curl -s -o /dev/null -w '%{http_code}' http://nginx-tls-lb:8081/stub_status"
    )
    assert other == "403"


def test_check_mode_on_a_converged_host_changes_nothing(lb):
    before = master_and_config(lb)
    result = playbook("converge.yml", "--check", "--diff")
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.search(r"nginx-tls-lb\s+: ok=\d+\s+changed=0\s", result.stdout), result.stdout[-2000:]
    assert master_and_config(lb) == before


# ---- Drain and undrain under load ---------------------------------------------
@pytest.fixture(scope="module")
def drain_run(lb, app1, app2):
    """Continuous load through the lb while app2 is drained, the role converged
    again, and app2 undrained; returns the timeline, the load client's summary
    and each backend's request log.

    Held requests are in flight on both backends when the drain starts; they are
    released only once the balancer holds app2 drained, so they are still
    running then, and the drain must wait for them before it returns."""
    for app in (app1, app2):
        app.run_expect([0], f": > {BACKEND_LOG} && rm -f {RELEASE}")
    lb.run("rm -f /root/load.stop /root/load.json")
    lb.run_expect(
        [0],
        "systemd-run --unit slipway-load --collect /usr/bin/python3 /usr/local/bin/slipway-load"
        " --ca /root/slipway-ca.crt --stop-file /root/load.stop --out /root/load.json"
        " --rate 40 --workers 8 --slow-at 3 --slow-count 8 --max-seconds 600",
    )
    time.sleep(5)
    processes = {"before": nginx_processes(lb)}
    t = {"drain_called": now(lb)}
    drain = playbook_in_background(
        "drain.yml", "-e", "app_host=nginx-tls-app2", "-e", "action=drain"
    )
    for _ in range(1200):
        if rotation(lb)["nginx-tls-app2"]["drained"]:
            break
        time.sleep(0.25)
    t["rotation_changed"] = now(lb)
    held = rotation(lb)["nginx-tls-app2"]["in_flight"]
    time.sleep(2)
    t["released"] = now(lb)
    for app in (app1, app2):
        app.run_expect([0], f"touch {RELEASE}")
    drain_out, _ = drain.communicate(timeout=600)
    t["drain_returned"] = now(lb)
    processes["drained"] = nginx_processes(lb)
    time.sleep(3)
    converge = playbook("converge.yml")
    t["converge_returned"] = now(lb)
    after_converge = rotation(lb)
    time.sleep(2)
    processes["before_undrain"] = nginx_processes(lb)
    t["undrain_called"] = now(lb)
    undrain = playbook("drain.yml", "-e", "app_host=nginx-tls-app2", "-e", "action=undrain")
    t["undrain_returned"] = now(lb)
    processes["undrained"] = nginx_processes(lb)
    time.sleep(5)
    lb.run_expect([0], "touch /root/load.stop")
    for _ in range(60):
        if lb.file("/root/load.json").exists:
            break
        time.sleep(1)
    summary = json.loads(lb.file("/root/load.json").content_string)
    logs = {
        name: [json.loads(line) for line in app.file(BACKEND_LOG).content_string.splitlines()]
        for name, app in (("nginx-tls-app1", app1), ("nginx-tls-app2", app2))
    }
    report = {k: v for k, v in summary.items() if k != "records"} | {"timeline": t}
    save("drain.json", json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "slow"}, indent=2))
    return {
        "drain": subprocess.CompletedProcess(drain.args, drain.returncode, drain_out, ""),
        "converge": converge,
        "undrain": undrain,
        "t": t,
        "summary": summary,
        "logs": logs,
        "after_converge": after_converge,
        "held_at_drain": held,
        "processes": processes,
    }


def test_drain_undrain_and_converge_succeed(drain_run):
    for step in ("drain", "converge", "undrain"):
        result = drain_run[step]
        assert result.returncode == 0, f"{step}:\n{result.stdout[-3000:]}"


def test_no_request_fails_under_load(drain_run):
    summary = drain_run["summary"]
    assert summary["requests"] > 1000
    assert summary["post_requests"] > 200
    assert summary["failures"] == 0, summary["failure_samples"]
    assert summary["request_id_mismatches"] == 0


def test_drained_backend_gets_no_new_request(drain_run):
    t = drain_run["t"]
    late = [
        r
        for r in drain_run["logs"]["nginx-tls-app2"]
        if t["drain_returned"] < r["start"] < t["undrain_called"]
    ]
    assert late == []
    # Meanwhile app1 served everything, the converge included.
    served = [
        r
        for r in drain_run["logs"]["nginx-tls-app1"]
        if t["drain_returned"] < r["start"] < t["undrain_called"]
    ]
    assert len(served) > 100


def test_drain_and_undrain_do_not_reload_nginx(drain_run):
    """A reload closes the clients' idle keep-alive connections: the rotation changes
    in the running workers instead, and no kept-alive GET had to be sent again."""
    processes = drain_run["processes"]
    assert processes["drained"] == processes["before"]
    assert processes["undrained"] == processes["before_undrain"]
    assert drain_run["summary"]["retried_on_closed_keepalive"] == 0


def test_drain_survives_a_converge(drain_run):
    assert drain_run["after_converge"]["nginx-tls-app2"]["drained"] is True
    assert drain_run["after_converge"]["nginx-tls-app1"]["drained"] is False


def test_requests_in_flight_on_the_drained_backend_complete(drain_run):
    t = drain_run["t"]
    slow = [r for r in drain_run["summary"]["slow"] if r.get("backend") == "nginx-tls-app2"]
    assert slow, drain_run["summary"]["slow"]
    for record in slow:
        assert record["status"] == 200
        # In flight when the balancer took app2 out; the drain returned only
        # once they were done.
        assert record["start"] < t["rotation_changed"] < t["released"] < record["end"]
        assert record["end"] <= t["drain_returned"]
    # The balancer counted them.
    assert drain_run["held_at_drain"] >= len(slow)


def test_undrained_backend_serves_again(drain_run):
    t = drain_run["t"]
    back = [r for r in drain_run["logs"]["nginx-tls-app2"] if r["start"] > t["undrain_returned"]]
    assert len(back) > 20


def test_a_drain_the_balancer_cannot_take_changes_nothing(lb):
    """Nginx is stopped: the drain fails naming the control, the state files are
    put back, and Nginx started again has every backend in rotation."""
    drained_before = lb.file("/var/lib/slipway/nginx_tls/drained.json").content_string
    lb.run_expect([0], "systemctl stop nginx")
    try:
        result = playbook("drain.yml", "-e", "app_host=nginx-tls-app2", "-e", "action=drain")
    finally:
        lb.run_expect([0], "systemctl start nginx")
    squeezed = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert "The state files were put back and Nginx serves as before" in squeezed, squeezed[-2000:]
    assert lb.file("/var/lib/slipway/nginx_tls/drained.json").content_string == drained_before
    assert not any(b["drained"] for b in rotation(lb).values())
    assert lb.run(f"{CURL} -o /dev/null https://127.0.0.1/still").rc == 0


# ---- Bad input, other TLS modes (these change the lb: keep them last) --------
def master_and_config(lb) -> tuple[str, str]:
    pid = lb.file("/run/nginx.pid").content_string.strip()
    sums = lb.check_output(
        "cat /etc/nginx/nginx.conf /etc/nginx/sites-available/slipway.conf"
        f" {UPSTREAM} /etc/nginx/slipway/tls/server.crt | sha256sum"
    )
    return pid, sums


def provided(cert: str, key: str) -> dict:
    return {
        "nginx_tls_mode": "provided",
        "nginx_tls_certificate": cert,
        "nginx_tls_private_key": key,
    }


def served_fingerprint(lb) -> str:
    out = lb.check_output(
        "openssl s_client -connect 127.0.0.1:443 -servername nginx-tls-lb </dev/null 2>/dev/null"
        " | openssl x509 -noout -fingerprint -sha256"
    )
    return out.split("=", 1)[1].strip()


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("mismatch", "does not match nginx_tls_private_key"),
        ("expired", "expired on"),
        ("empty", "nginx_tls_upstreams is empty"),
    ],
)
def test_bad_input_fails_preflight_and_leaves_nginx_untouched(lb, tmp_path, case, expected):
    before = master_and_config(lb)
    cert, key, _ = self_signed(days=-1 if case == "expired" else 30)
    if case == "mismatch":
        key = self_signed()[1]
    extra = {"nginx_tls_upstreams": []} if case == "empty" else provided(cert, key)
    (tmp_path / "vars.json").write_text(json.dumps(extra))
    result = playbook("converge.yml", "-e", f"@{tmp_path / 'vars.json'}")
    assert result.returncode != 0
    assert expected in " ".join(result.stdout.split()), result.stdout[-3000:]
    assert re.search(r"nginx-tls-lb\s+: ok=\d+\s+changed=0\s", result.stdout), result.stdout[-2000:]
    assert master_and_config(lb) == before
    assert lb.run(f"{CURL} -o /dev/null https://127.0.0.1/still").rc == 0


def test_provided_mode_serves_the_given_certificate(lb, tmp_path):
    cert, key, fingerprint = self_signed()
    (tmp_path / "vars.json").write_text(json.dumps(provided(cert, key)))
    result = playbook("converge.yml", "-e", f"@{tmp_path / 'vars.json'}")
    assert result.returncode == 0, result.stdout[-3000:]
    assert served_fingerprint(lb) == fingerprint
    assert lb.file("/etc/nginx/slipway/tls/server.key").mode == 0o600


def test_acme_mode_serves_challenges_and_installs_renewals(lb, tmp_path):
    """What can be checked without Let's Encrypt: certbot and its timer, the
    HTTP-01 webroot served on port 80, and the deploy hook installing a new
    certificate and reloading Nginx."""
    (tmp_path / "vars.json").write_text(
        json.dumps(
            {
                "nginx_tls_mode": "acme",
                "nginx_tls_acme_email": "ops@example.com",
                "nginx_tls_server_names": ["lb.example.com"],
                "nginx_tls_acme_issue": False,
            }
        )
    )
    result = playbook("converge.yml", "-e", f"@{tmp_path / 'vars.json'}")
    assert result.returncode == 0, result.stdout[-3000:]
    assert lb.package("certbot").is_installed
    assert lb.service("certbot.timer").is_enabled
    webroot = "/var/www/slipway-acme/.well-known/acme-challenge"
    lb.run_expect([0], f"echo token-body > {webroot}/probe-token")
    challenge = lb.check_output("curl -sS http://127.0.0.1/.well-known/acme-challenge/probe-token")
    assert challenge == "token-body"
    assert "ssl_stapling on;" in lb.file("/etc/nginx/sites-available/slipway.conf").content_string
    # certbot runs the hook with RENEWED_LINEAGE after an issuance or renewal.
    cert, key, fingerprint = self_signed()
    lineage = "/root/fake-lineage"
    lb.run_expect([0], f"mkdir -p {lineage}")
    lb.run_expect([0], f"cat > {lineage}/fullchain.pem <<'EOF'\n{cert}EOF")
    lb.run_expect([0], f"cat > {lineage}/privkey.pem <<'EOF'\n{key}EOF")
    lb.run_expect([0], f"RENEWED_LINEAGE={lineage} /usr/local/lib/slipway/nginx-tls-acme-deploy")
    for _ in range(20):
        if served_fingerprint(lb) == fingerprint:
            break
        time.sleep(0.5)
    assert served_fingerprint(lb) == fingerprint
