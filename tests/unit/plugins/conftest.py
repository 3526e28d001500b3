"""Plugin tests import the collection as Ansible does: ansible_collections.slipway.ops.

collections/ansible_collections/slipway/ops links back to this checkout.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import ROOT, free_port

if str(ROOT / "collections") not in sys.path:
    sys.path.insert(0, str(ROOT / "collections"))


class SilentPeer:
    """Accepts connections, reads what a client sends, never answers.

    It records how long each client held its connection open, and closes it
    after HOLD seconds: a client with no timeout fails its test's bound instead
    of hanging it.
    """

    HOLD = 30.0

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.held: list[float] = []
        self._open = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with self._lock:
                self._open += 1
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn):
        start = time.monotonic()
        conn.settimeout(self.HOLD)
        with contextlib.suppress(OSError), conn:
            while conn.recv(4096):
                pass
        with self._lock:
            self.held.append(time.monotonic() - start)
            self._open -= 1

    def close(self):
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.server.close()

    def connections(self, settle: float = 2.0) -> list[float]:
        """Each closed connection's seconds, once none is open (or settle has passed)."""
        deadline = time.monotonic() + settle
        while self._open and time.monotonic() < deadline:
            time.sleep(0.05)
        with self._lock:
            return list(self.held)


@pytest.fixture
def silent_peer():
    peer = SilentPeer()
    yield peer
    peer.close()


@pytest.fixture
def silent_gateway(silent_peer):
    """The SilentPeer's URL."""
    return silent_peer.url


@pytest.fixture
def closed_port():
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def gateway():
    """A stand-in Pushgateway that records each PUT."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self):
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            received.append((self.path, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


class ScriptedTarget:
    """An HTTP target on 127.0.0.1 whose answers a test scripts (the health gate's tests).

    Each GET takes the next step of the script and the last step repeats. A step
    is (status, body) or (status, body, delay in seconds); the step "close"
    drops the connection without answering. die() closes the listening socket
    (connection refused from then on); die(after_hits=n) does so once the n-th
    request is answered: a point in the client's own sequence, which no clock and
    no load on the machine can move.
    """

    def __init__(self):
        self.steps: list = [(200, '{"status": "ok"}')]
        self.hits: list[tuple[str, dict]] = []
        self.die_after_hits = 0
        self._lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                with target._lock:
                    target.hits.append((self.path, dict(self.headers)))
                    step = target.steps[min(len(target.hits), len(target.steps)) - 1]
                if step == "close":
                    self.close_connection = True
                    return
                status, body, *delay = step
                if delay:
                    time.sleep(delay[0])
                payload = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()
                if target.die_after_hits and len(target.hits) == target.die_after_hits:
                    threading.Thread(target=target.die, daemon=True).start()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str = "/ready") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, *steps) -> ScriptedTarget:
        with self._lock:
            self.steps = list(steps)
            self.hits = []
        return self

    def die(self, after_hits: int = 0) -> None:
        if after_hits:
            self.die_after_hits = after_hits
            return
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target():
    """A ScriptedTarget, closed at the end of the test."""
    scripted = ScriptedTarget()
    yield scripted
    with contextlib.suppress(OSError):
        scripted.server.shutdown()
        scripted.server.server_close()


# ---- Containers for the health gate's container watch --------------------------
SOCKET = "/var/run/docker.sock"
# The lab's base image: local, small, and it has python3.
IMAGE = os.environ.get("SLIPWAY_TEST_GATE_IMAGE", "local/debian-systemd:12")

# Tests against the real Docker Engine carry the `engine` marker: `make unit`
# leaves them out (a fresh machine has no engine yet), `make engine-test` runs
# them after `make lab`, which starts the engine and builds IMAGE. There a
# missing engine or image fails the test; it is never skipped.
needs_docker = pytest.mark.engine


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


class Containers:
    """Containers one test starts, all labelled with its own uuid."""

    def __init__(self):
        self.label = {"slipway.test.gate": uuid.uuid4().hex}
        self.ids: list[str] = []

    def run(self, name: str, *options: str, command: str = "sleep 300") -> str:
        label = "slipway.test.gate=" + self.label["slipway.test.gate"]
        full = f"slipway-test-gate-{name}-{self.label['slipway.test.gate'][:8]}"
        cid = docker(
            "run", "--detach", "--name", full, "--label", label, "--network", "none",
            "--stop-timeout", "1", *options, IMAGE, "sh", "-c", command,
        )  # fmt: skip
        self.ids.append(cid)
        return full

    def remove(self) -> None:
        for cid in self.ids:
            with contextlib.suppress(subprocess.CalledProcessError):
                docker("rm", "--force", "--volumes", cid)


@pytest.fixture(scope="session")
def engine() -> str:
    """The Docker Engine's socket, once the engine answers and holds IMAGE."""
    try:
        image = docker("images", "--quiet", IMAGE)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.fail(
            f"no Docker Engine answers at {SOCKET} ({exc}). Hint: `make engine-test` "
            "starts one (scripts/ensure-docker) before these tests."
        )
    if not image:
        pytest.fail(f"the image {IMAGE} is not on this Docker Engine. Hint: `make lab` builds it.")
    return SOCKET


@pytest.fixture
def containers(engine):
    started = Containers()
    yield started
    started.remove()
