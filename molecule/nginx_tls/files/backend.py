#!/usr/bin/env python3
"""A test backend for the nginx_tls scenario: answers every request with JSON
naming this backend (BACKEND_NAME), the request id and forwarding headers it
got; `?delay=S` makes it answer after S seconds. Each request is logged, with
its start and end times, to /var/log/slipway-test-backend.jsonl. `?hold=1`
holds the answer until the file /run/slipway-test-release exists (at most
300 s): a request the test keeps in flight for as long as it needs."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

NAME = os.environ.get("BACKEND_NAME", "backend")
LOG = "/var/log/slipway-test-backend.jsonl"
RELEASE = "/run/slipway-test-release"
_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the app server

    def _answer(self) -> None:
        start = time.time()
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        query = parse_qs(url.query)
        delay = float(query.get("delay", ["0"])[0])
        if delay:
            time.sleep(delay)
        if query.get("hold"):
            while not os.path.exists(RELEASE) and time.time() - start < 300:
                time.sleep(0.1)
        body = json.dumps(
            {
                "backend": NAME,
                "method": self.command,
                "path": url.path,
                "request_id": self.headers.get("X-Request-ID", ""),
                "x_forwarded_for": self.headers.get("X-Forwarded-For", ""),
                "x_forwarded_proto": self.headers.get("X-Forwarded-Proto", ""),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-ID", self.headers.get("X-Request-ID", ""))
        self.end_headers()
        self.wfile.write(body)
        entry = {"start": start, "end": time.time(), "method": self.command, "path": url.path}
        with _lock, open(LOG, "a") as log:
            log.write(json.dumps(entry) + "\n")

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:  # the JSON log above is enough
        pass


if __name__ == "__main__":
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()  # noqa: S104
