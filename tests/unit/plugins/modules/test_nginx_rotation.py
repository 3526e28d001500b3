"""slipway.ops.nginx_rotation run as Ansible runs it (a process of its own), twice at once
against one balancer: the hosts of a batch (serial > 1) drain together. The balancer is a
scripted control location that loads the files as Nginx's does, slowly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
NAMES = ("app1", "app2", "app3")
# Nginx takes a while to load the files; a second change lands meanwhile.
LOAD_SECONDS = 0.5


@pytest.fixture
def balancer(tmp_path):
    """A control location on 127.0.0.1 that loads drained.json on POST (after
    LOAD_SECONDS) and answers with what it holds; the state dir and the URL."""
    held: dict = {"drained": []}

    class Control(BaseHTTPRequestHandler):
        def do_POST(self):
            time.sleep(LOAD_SECONDS)
            held["drained"] = json.loads((tmp_path / "drained.json").read_text())
            self.do_GET()

        def do_GET(self):
            body = json.dumps(
                {
                    "generation": 1,
                    "backends": [
                        {"name": n, "drained": n in held["drained"], "weight": 100, "in_flight": 0}
                        for n in NAMES
                    ],
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (tmp_path / "backends.json").write_text(
        json.dumps(
            {"backends": [{"name": n, "address": f"10.0.0.{i}:8000"} for i, n in enumerate(NAMES)]}
        )
    )
    (tmp_path / "drained.json").write_text("[]\n")
    yield tmp_path, f"http://127.0.0.1:{server.server_port}/slipway/rotation"
    server.shutdown()


def start_drain(state_dir: Path, url: str, backend: str, **more) -> subprocess.Popen:
    args = {
        "backend": backend,
        "state": "drained",
        "backends_file": str(state_dir / "backends.json"),
        "drained_file": str(state_dir / "drained.json"),
        "weights_file": str(state_dir / "weights.json"),
        "control_url": url,
        **more,
    }
    args_file = state_dir / f"args-{backend}.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    module = ROOT / "plugins" / "modules" / "nginx_rotation.py"
    # The imports this test process has (the checkout's collections/, or ansible-test's tree).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen(
        [sys.executable, str(module), str(args_file)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_hosts_drained_at_once_both_leave_rotation(balancer):
    """Unlocked, the second drain wrote its list while the balancer loaded the first's: the
    first saw a list it had not asked for, failed, and put back the files, undoing the
    second. Locked, one change waits for the other and both land."""
    state_dir, url = balancer
    procs = [start_drain(state_dir, url, name) for name in ("app1", "app2")]
    outputs = [p.communicate(timeout=60) for p in procs]
    results = [
        json.loads(out or json.dumps({"failed": True, "stderr": err})) for out, err in outputs
    ]
    for result in results:
        assert not result.get("failed"), result
    assert json.loads((state_dir / "drained.json").read_text()) == ["app1", "app2"]
    # One went first and drained its host alone; the other found it drained and added its own.
    assert sorted(len(r["drained"]) for r in results) == [1, 2], results


@pytest.mark.parametrize(
    ("backend", "drained", "failure", "expected"),
    [
        (
            "app9",
            [],
            "unknown",
            "app9 is not a backend of this load balancer (its backends: app1, app2, app3)",
        ),
        (
            "app3",
            ["app1", "app2"],
            "last",
            "Draining app3 would leave no backend in rotation (drained already: app1, app2)",
        ),
    ],
)
def test_a_refusal_says_what_failed_and_the_callers_fix(
    balancer, backend, drained, failure, expected
):
    """The module's message says what failed and that nothing changed; `fixes` adds the
    caller's fix (the role's variables), so that one task both changes and explains."""
    state_dir, url = balancer
    (state_dir / "drained.json").write_text(json.dumps(drained))
    fixes = {failure: "Do the caller's thing.", "control": "Not this one."}
    out, err = start_drain(state_dir, url, backend, fixes=fixes).communicate(timeout=60)
    result = json.loads(out or json.dumps({"stderr": err}))
    assert result.get("failed"), result
    assert result["failure"] == failure, result
    assert result["msg"] == f"{expected}. Nothing was changed. Do the caller's thing.", result
    assert json.loads((state_dir / "drained.json").read_text()) == drained
